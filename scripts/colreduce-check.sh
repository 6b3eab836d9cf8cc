#!/usr/bin/env bash
# The split-row column reduction on an H200 (docs/perf.md, "Bias and norm-weight gradients as column
# reductions split along the rows"): its GPU test and CudaVerifyTest, the bench with KILN_COLREDUCE=0
# and =1, then one profile with it on (the reduce and colreduce lines). About 150 s of device time.
# Run from the project root on the device, with this branch's pack at .gpu:
#   OUT=/some/dir bash scripts/colreduce-check.sh
set -uo pipefail
OUT=${OUT:-/tmp}
export CUDA_VISIBLE_DEVICES=0 NCCL_NVLS_ENABLE=0 KILN_CACHE=/tmp/kc PYTHONUNBUFFERED=1
R="bash .gpu/run.sh"
B="kiln.cli.Main bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 --steps 30 --precision tf32"
T0=$(date +%s); t() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader
git log -1 --format='commit %h %s' 2>/dev/null | cut -c1-100
bash reference/fixtures.sh > "$OUT/fixtures.log" 2>&1; t "fixtures rc=$?"
( time timeout 200 $R test --include-tag gpu --details=tree --include-classname '.*CudaColumnReduceTest' \
    --include-classname '.*CudaVerifyTest' ) > "$OUT/tests.log" 2>&1
t "tests rc=$?"; grep -E "verify: (OK|FAIL)|tests (successful|failed|skipped|aborted)|✘|Error|expected" "$OUT/tests.log" | head -30
( time KILN_COLREDUCE=0 timeout 120 $R $B ) > "$OUT/bench-off.log" 2>&1; t "off rc=$?"; grep -E "^bench: (cuda|min|[0-9])|Exception|rror" "$OUT/bench-off.log"
( time KILN_COLREDUCE=1 timeout 90 $R $B ) > "$OUT/bench-on.log" 2>&1; t "on rc=$?"; grep -E "^bench: (cuda|min|[0-9])|Exception|rror" "$OUT/bench-on.log"
( time timeout 90 $R $B --profile ) > "$OUT/profile.log" 2>&1; t "profile rc=$?"
grep -E "^bench: [0-9]" "$OUT/profile.log"; grep -E "ms .*(colreduce|reduce) " "$OUT/profile.log"
