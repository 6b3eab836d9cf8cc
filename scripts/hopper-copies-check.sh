#!/usr/bin/env bash
# The backward matmuls over transposed copies on an H200 (docs/perf.md): GPU tests, bench with transposed copies off/on, a profile, verify at T=1024.
# Run from the device root (it has reference/), with the pack of this branch at .dev-hopper2/gpu:
#   OUT=/some/dir bash .dev-hopper2/hp2.sh   (this file copied there as hp2.sh)
set -uo pipefail
ROOT=$(pwd)
export CUDA_VISIBLE_DEVICES=0 NCCL_NVLS_ENABLE=0 KILN_CACHE=/tmp/kc PYTHONUNBUFFERED=1
R="bash $ROOT/.dev-hopper2/gpu/run.sh"
B="kiln.cli.Main bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 --steps 30 --precision tf32"
T0=$(date +%s); t() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader
# the float64 reference state in the background while the tests run (they are not timed)
( cd "$ROOT" && timeout 150 python3 reference/gpt2_reference.py --layers 12 --heads 12 --channels 768 --max-seq 1024 --batch 4 --seq 1024 \
    --seed 3 --out /tmp/d12 --device cuda --dtype float64 ) > "$OUT/ref.log" 2>&1 &
REF=$!
( time timeout 120 $R test --include-tag gpu --include-classname '.*CudaWgmmaTransposeTest' --include-classname '.*CudaWgmmaTest' ) > "$OUT/tests.log" 2>&1
t tests; grep -E "tests (successful|failed|skipped)|✘|Error|expected" "$OUT/tests.log" | head -20
wait $REF; t "reference rc=$?"; tail -2 "$OUT/ref.log"
( time KILN_WGMMA_T=0 timeout 100 $R $B ) > "$OUT/bench.log" 2>&1; t off; grep -E "^bench: (cuda|min|[0-9])" "$OUT/bench.log"
( time timeout 80 $R $B ) >> "$OUT/bench.log" 2>&1; t on; grep -E "^bench: (cuda|min|[0-9])|Exception|rror" "$OUT/bench.log" | tail -4
( time timeout 60 $R $B --profile ) > "$OUT/profile.log" 2>&1; t profile; grep -E "ms .*(mma|wgmma)" "$OUT/profile.log" | head -14
( time timeout 120 $R kiln.cli.Main verify --device cuda --precision tf32 --model /tmp/d12/model.bin --state /tmp/d12/state.bin \
    --losses /tmp/d12/losses.txt ) > "$OUT/verify.log" 2>&1; t "verify rc=$?"; grep -vE "^WARNING" "$OUT/verify.log" | tail -12
