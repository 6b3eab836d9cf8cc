#!/usr/bin/env bash
# One nvidia-h200-x2 call for branch attngqa (grouped-query flash attention), run from a folder holding
# the pack (gpu/ or .gpu/), reference/ and scripts/; logs under $OUT (about 80 s wall). Two lanes at once:
#   GPU 1: bench gpt2-d12, gemma-d12, llama-d12 (B=8, T=1024, 30 steps, tf32, untuned);
#   GPU 0: the reference fixtures (PyTorch, CPU), then CudaVerifyTest (six fixtures, fp32/tf32/bf16)
#          and CudaAttentionTest (the extern against the CPU definition at HS 128 and 40).
set -u
P=gpu; [ -d gpu ] || P=.gpu
K="bash $P/run.sh kiln.cli.Main"
T=$OUT/times.txt
t0=$(date +%s)
stamp() { echo "$1 rc=$2 $(( $(date +%s)-t0 ))s" >> $T; }
nvidia-smi -L > $T
date -u >> $T

benches() {
  export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
  for m in gpt2-d12 gemma-d12 llama-d12; do
    timeout 75 $K bench --device cuda --model $m --batch 8 --seq 1024 --steps 30 --precision tf32 > $OUT/bench-$m.txt 2>&1
    stamp bench-$m $?
  done
}
benches &
LB=$!
export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
timeout 70 bash reference/fixtures.sh > $OUT/fixtures.txt 2>&1; stamp fixtures $?
timeout 150 bash $P/run.sh test --include-classname '.*(CudaAttentionTest|CudaVerifyTest)' \
  --details=tree > $OUT/gpu-tests.txt 2>&1; stamp gpu-tests $?
wait $LB
