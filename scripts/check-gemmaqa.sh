#!/usr/bin/env bash
# One nvidia-h200-x2 call for branch gemmaqa (issue 16: the multi-query dkdv summing its group across a
# thread-block cluster). Run from the repository root with the pack at $P (default .dev-gemmaqa/gpu);
# logs under $OUT; stops itself by BUDGET_S (default 145 s). Two lanes at once:
#   GPU 1: bench (B=8, T=1024, tf32, untuned, 20 steps) gemma-d12, gpt2-d12, gemma-d12 with
#          KILN_ATTN_CLUSTER=0 KILN_ATTN_DQ_WIDE=0 (the kernels before: partials, register dq), gemma-d12 with
#          KILN_ATTN_DQ_WIDE=0 (the cluster alone), llama-d12, then a gemma-d12 profile;
#   GPU 0: CudaAttentionTest (the extern against the CPU definition; the cluster at G = 8, 4, 3, 2; if it fails,
#          again without the smem dq, then without the cluster too) while reference/fixtures.sh writes the
#          fixtures, then CudaVerifyTest (six fixtures, fp32/tf32/bf16).
set -uo pipefail
OUT=${OUT:-/tmp/gemmaqa}
P=${P:-.dev-gemmaqa/gpu}
BUDGET_S=${BUDGET_S:-145}
mkdir -p "$OUT"
MIN_LEFT_S=5
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"   # t, left, run
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$OUT/times.txt"
date -u >> "$OUT/times.txt"
K="bash $P/run.sh kiln.cli.Main"
bash $P/run.sh -version > "$OUT/java.txt" 2>&1  # unpacks the runtime once, before the two lanes start
B="bench --device cuda --batch 8 --seq 1024 --precision tf32 --steps 20 --warmup 3"

(
  export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
  run 60 bench.txt $K $B --model gemma-d12
  run 50 bench.txt $K $B --model gpt2-d12
  KILN_ATTN_CLUSTER=0 KILN_ATTN_DQ_WIDE=0 run 25 bench.txt $K $B --model gemma-d12
  KILN_ATTN_DQ_WIDE=0 run 20 bench.txt $K $B --model gemma-d12
  run 45 bench.txt $K $B --model llama-d12
  run 20 profile.txt $K bench --device cuda --batch 8 --seq 1024 --precision tf32 --steps 5 --warmup 2 --profile --model gemma-d12
) &
L=$!
export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
( run 80 fixtures.txt bash reference/fixtures.sh ) &
F=$!
TESTS="bash $P/run.sh test --include-tag gpu --include-classname"
run 70 tests.txt $TESTS '.*CudaAttentionTest' || {
  # which change: the register dq at HS > 64, then the partials too
  KILN_ATTN_DQ_WIDE=0 run 40 tests.txt $TESTS '.*CudaAttentionTest' \
    || KILN_ATTN_DQ_WIDE=0 KILN_ATTN_CLUSTER=0 run 40 tests.txt $TESTS '.*CudaAttentionTest'
}
wait $F
run 100 tests.txt $TESTS '.*CudaVerifyTest'
wait $L
grep -h "ms/step\|^bench: gemma\|^bench: gpt2\|^bench: llama\|### " "$OUT/bench.txt" > "$OUT/summary.txt" 2>/dev/null
grep -h "tests successful\|tests failed\|tests skipped" "$OUT/tests.txt" >> "$OUT/summary.txt" 2>/dev/null
t done
