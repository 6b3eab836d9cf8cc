#!/usr/bin/env bash
# Issue 12's Hopper matmul inside kiln, on the H200 (after a pack: bash gpu/run.sh or .gpu/run.sh):
#  1. the GPU tests of the wgmma path (CudaWgmmaTest: every tile vs a double product, the misaligned
#     fallback) and the tuner's (CudaTunerTest, with KILN_WGMMA=1 so the wgmma tiles are in its space);
#  2. MatmulBench: GPT-2's five forward shapes through the tuner (mma default, wgmma default, best), then
#     scripts/cublas_matmuls.py sets the best beside cuBLAS TF32 in one table;
#  3. bench at TF32 with the wgmma path off (today's default) and on (KILN_WGMMA=1), then on with --profile.
# Usage, from the directory holding the pack (PACK=gpu or .gpu) and cublas_matmuls.py:
#   OUT=/some/dir PACK=gpu bash hopper-check.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.gpu}
SCRIPTS=${SCRIPTS:-$(cd "$(dirname "$0")" && pwd)}
export CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-0} NCCL_NVLS_ENABLE=0 KILN_CACHE=${KILN_CACHE:-/tmp/kiln-cache}
M="bash $PACK/run.sh kiln.cli.Main"
B="bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 --steps 30 --precision tf32"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
( time timeout 100 bash $PACK/run.sh test --include-tag gpu --include-classname '.*CudaWgmmaTest' ) > "$OUT/test-wgmma.log" 2>&1
grep -E "tests (successful|failed|skipped)|✘|Exception" "$OUT/test-wgmma.log" | head -20
( time timeout 120 bash $PACK/run.sh kiln.runtime.cuda.MatmulBench "$OUT/kiln-matmuls.txt" ) > "$OUT/matmul.txt" 2> "$OUT/matmul.err"
cat "$OUT/matmul.txt"; grep -vE "WARNING|^tune: [0-9]+/" "$OUT/matmul.err" | tail -15
[ -f "$OUT/kiln-matmuls.txt" ] && timeout 60 python3 "$SCRIPTS/cublas_matmuls.py" --kiln "$OUT/kiln-matmuls.txt" | tee "$OUT/side.txt"
( time KILN_WGMMA=0 timeout 90 $M $B ) > "$OUT/bench-mma.txt" 2>&1; grep -E "^bench|real" "$OUT/bench-mma.txt"
( time KILN_WGMMA=1 timeout 90 $M $B ) > "$OUT/bench-wgmma.txt" 2>&1; grep -E "^bench|real" "$OUT/bench-wgmma.txt"
( time KILN_WGMMA=1 timeout 90 $M $B --profile ) > "$OUT/bench-wgmma-profile.txt" 2>&1; grep -E "wgmma|mma " "$OUT/bench-wgmma-profile.txt" | head -12
( time KILN_WGMMA=1 timeout 120 bash $PACK/run.sh test --include-tag gpu --include-classname '.*CudaTunerTest' ) > "$OUT/test-tuner.log" 2>&1
grep -E "tests (successful|failed|skipped)|✘" "$OUT/test-tuner.log" | head
