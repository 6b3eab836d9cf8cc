#!/usr/bin/env bash
# dwte over transposed copies chunked along M on an H200 (docs/perf.md "dwte over transposed copies chunked
# along M"): the GPU tests of the copies, bench with KILN_WGMMA_MCHUNK=0 (dwte on mma.sync) and with the
# default (dwte chunked along M), a profile's wte line, verify at T=1024 with float64 reference gradients.
# Run from the device root (it has reference/) with this branch's pack at .gpu (PACK=dir to change it):
#   OUT=/some/dir bash scripts/dwte-check.sh
# Logs land in $OUT (tests.log, ref.log, bench.log, profile.log, verify.log); the lines to read are echoed.
set -uo pipefail
ROOT=$(pwd)
: "${OUT:?set OUT to a folder for the logs}"
export CUDA_VISIBLE_DEVICES=0 NCCL_NVLS_ENABLE=0 KILN_CACHE=/tmp/kc PYTHONUNBUFFERED=1
R="bash $ROOT/${PACK:-.gpu}/run.sh"
B="kiln.cli.Main bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 --steps 30 --precision tf32"
T0=$(date +%s); t() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader
# the float64 reference state in the background while the tests run (skipped when already there)
if [ -f /tmp/d12/state.bin ]; then
  echo "reference: /tmp/d12/state.bin exists, not regenerated" > "$OUT/ref.log"; REF=
else
  ( cd "$ROOT" && timeout 150 python3 reference/gpt2_reference.py --layers 12 --heads 12 --channels 768 --max-seq 1024 --batch 4 --seq 1024 \
      --seed 3 --out /tmp/d12 --device cuda --dtype float64 ) > "$OUT/ref.log" 2>&1 &
  REF=$!
fi
( time timeout 120 $R test --include-tag gpu --include-classname '.*CudaWgmmaRowChunkTest' --include-classname '.*CudaWgmmaTransposeTest' ) \
    > "$OUT/tests.log" 2>&1
t "tests rc=$?"; grep -E "tests (successful|failed|skipped)|✘|Error|expected" "$OUT/tests.log" | head -20
if [ -n "$REF" ]; then wait $REF; t "reference rc=$?"; fi; tail -2 "$OUT/ref.log"
( time KILN_WGMMA_MCHUNK=0 timeout 100 $R $B ) > "$OUT/bench.log" 2>&1; t "off (KILN_WGMMA_MCHUNK=0)"
grep -E "^bench: (cuda|min|[0-9])|on sm_90a wgmma|Exception|rror" "$OUT/bench.log" | tail -4
( time timeout 80 $R $B ) > "$OUT/bench-on.log" 2>&1; t "on (default)"
grep -E "^bench: (cuda|min|[0-9])|on sm_90a wgmma|Exception|rror" "$OUT/bench-on.log" | tail -4
( time timeout 60 $R $B --profile ) > "$OUT/profile.log" 2>&1; t profile
grep -E "grads\.wte" "$OUT/profile.log"; grep -E "ms .*(mma|wgmma)" "$OUT/profile.log" | head -6
( time timeout 120 $R kiln.cli.Main verify --device cuda --precision tf32 --model /tmp/d12/model.bin --state /tmp/d12/state.bin \
    --losses /tmp/d12/losses.txt ) > "$OUT/verify.log" 2>&1; t "verify rc=$?"; grep -vE "^WARNING" "$OUT/verify.log" | tail -12
