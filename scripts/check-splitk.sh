#!/usr/bin/env bash
# Split-K on the bf16 wgmma kernel (branch splitk) in one device call on an H200 x2, from the folder holding the pack as
# gpu/ and cublas_matmuls.py (.dev-splitk): GPU 0 runs the GPT-2 124M bf16 bench at B=32 with --profile; GPU 1 runs
# MatmulBench --bf16-dw (the four weight gradients at several splits, checked, repeated bit for bit) beside cuBLAS, then
# the gpu-tagged bf16 matmul and tuner tests. GPU 0 then benches again with KILN_WGMMA_SPLITK=0 (the same call's
# baseline). CudaVerify needs build/fixtures (371 MB: not carried), so it is left to the integrator's own run.
# Logs to $OUT (7 files).   Usage: OUT=/dir bash check-splitk.sh
set -uo pipefail
DIR=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp}
export PYTHONUNBUFFERED=1
R="bash $DIR/gpu/run.sh"
T0=$(date +%s); t() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
nvidia-smi --query-gpu=index,name,driver_version,clocks.sm,clocks.max.sm,memory.used --format=csv,noheader > "$OUT/smi.txt"
(
  export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
  timeout ${BENCH_S:-130} $R kiln.cli.Main bench --device cuda --model gpt2-d12 --batch 32 --seq 1024 --precision bf16 --steps 10 --warmup 2 --profile \
    > "$OUT/bench.txt" 2>&1
  echo "bench rc=$? after $(( $(date +%s) - T0 )) s" >> "$OUT/bench.txt"
  KILN_WGMMA_SPLITK=0 timeout ${OFF_S:-60} $R kiln.cli.Main bench --device cuda --model gpt2-d12 --batch 32 --seq 1024 --precision bf16 --steps 10 --warmup 2 \
    --profile > "$OUT/bench-off.txt" 2>&1
  echo "bench (split-K off) rc=$? after $(( $(date +%s) - T0 )) s" >> "$OUT/bench-off.txt"
) &
BENCH=$!
(
  export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
  { timeout ${DW_S:-75} $R kiln.runtime.cuda.MatmulBench --bf16-dw "$OUT/kiln-dw.txt"; echo "matmulbench rc=$?"; } > "$OUT/dw.txt" 2>&1
  { [ -s "$OUT/kiln-dw.txt" ] && timeout 15 python3 "$DIR/cublas_matmuls.py" --dw --kiln "$OUT/kiln-dw.txt"; echo "cublas rc=$?"; } >> "$OUT/dw.txt" 2>&1
  echo "dw done after $(( $(date +%s) - T0 )) s" >> "$OUT/dw.txt"
  # the bf16 matmul tests (split-K's among them), then the tuner's
  timeout ${TEST_S:-35} $R test --include-tag gpu --include-classname '.*CudaWgmmaBf16.*' > "$OUT/tests.txt" 2>&1
  echo "tests rc=$? after $(( $(date +%s) - T0 )) s" >> "$OUT/tests.txt"
  timeout ${TUNER_S:-40} $R test --include-tag gpu --include-classname '.*CudaTuner.*' > "$OUT/tests2.txt" 2>&1
  echo "tests2 rc=$? after $(( $(date +%s) - T0 )) s" >> "$OUT/tests2.txt"
) &
OTHER=$!
wait $BENCH; t "bench done"
wait $OTHER; t "gpu 1 done"
grep -vE "WARNING" "$OUT/dw.txt" | tail -20
grep -E "step 10|tok/s|grads\.(attprojw|qkvw|fcw|fcprojw)|bench.*rc" "$OUT/bench.txt" "$OUT/bench-off.txt" | head -20
grep -E "tests (successful|failed|skipped)|✘|tests2? rc" "$OUT/tests.txt" "$OUT/tests2.txt" | head -30
