#!/usr/bin/env bash
# The bf16 Hopper matmul on the H200 in one device call (after a pack; run from the folder holding
# the pack as gpu/ and cublas_matmuls.py): MatmulBench --bf16 (every tile on GPT-2's five forward shapes
# and fc's two backward layouts, checked, timed), then cuBLAS bf16 beside it on the same GPU, then the
# GPU test of every layout (CudaWgmmaBf16Test).   Usage: OUT=/some/dir bash bf16-matmul-check.sh
set -uo pipefail
DIR=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp}
FINAL=$OUT; OUT=$(mktemp -d)   # everything here; the logs worth keeping are copied to $FINAL at the end
export CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-0} KILN_CACHE=${KILN_CACHE:-/tmp/kc} PYTHONUNBUFFERED=1
R="bash $DIR/gpu/run.sh"
T0=$(date +%s); t() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.used --format=csv,noheader
( time timeout ${BENCH_S:-100} $R kiln.runtime.cuda.MatmulBench --bf16 "$OUT/kiln-bf16.txt" ) > "$OUT/bench.txt" 2> "$OUT/bench.err"
t "bench rc=$?"; cat "$OUT/bench.txt"; grep -vE "WARNING|^$" "$OUT/bench.err" | tail -12
[ -s "$OUT/kiln-bf16.txt" ] && timeout 30 python3 "$DIR/cublas_matmuls.py" --precision bf16 --kiln "$OUT/kiln-bf16.txt" | tee "$OUT/side.txt"
t side
( time timeout ${TEST_S:-60} $R test --include-tag gpu --include-classname '.*CudaWgmmaBf16Test' --include-classname '.*CudaWgmmaTest' ) > "$OUT/tests.log" 2>&1
t "tests rc=$?"; grep -E "tests (successful|failed|skipped)|✘|expected|Exception" "$OUT/tests.log" | head -20
# the same side by side again (kernels cached): the run-to-run spread of both columns
if [ -n "${AGAIN:-}" ]; then
  ( timeout ${AGAIN_S:-35} $R kiln.runtime.cuda.MatmulBench --bf16 "$OUT/kiln-bf16-2.txt" ) > "$OUT/bench2.txt" 2> "$OUT/bench2.err"
  t "bench again rc=$?"; cat "$OUT/bench2.txt"
  [ -s "$OUT/kiln-bf16-2.txt" ] && timeout 30 python3 "$DIR/cublas_matmuls.py" --precision bf16 --kiln "$OUT/kiln-bf16-2.txt" | tee "$OUT/side2.txt"
  t "side again"
fi
cp "$OUT/tests.log" "$OUT/bench.err" "$FINAL/" 2>/dev/null; cp "$OUT"/kiln-bf16*.txt "$FINAL/" 2>/dev/null; true
