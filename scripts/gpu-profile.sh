# Where the step goes, kiln beside PyTorch (run from the project root with the pack in $PACK/gpu, output under $OUT):
# GPU 0 runs kiln's per-kernel profiles, GPU 1 PyTorch's, at the same time. One file per GPU.
set -u
PACK=${PACK:-.dev-prof}
K="bash $PACK/gpu/run.sh kiln.cli.Main"
( export CUDA_VISIBLE_DEVICES=0; F=$OUT/prof-kiln.txt
  for a in "gpt2-d12 --batch 32 --precision bf16" "gpt2-d12 --batch 8 --precision bf16" "gemma-d12 --batch 8 --precision tf32" "gpt2-d12 --batch 8 --precision tf32"; do
    echo "=== kiln bench --device cuda --model $a --seq 1024 --steps 5 --warmup 2 --profile" >> $F
    timeout 120 $K bench --device cuda --model $a --seq 1024 --steps 5 --warmup 2 --profile >> $F 2>&1; echo "rc=$?" >> $F
  done ) &
( export CUDA_VISIBLE_DEVICES=1; F=$OUT/prof-torch.txt
  for a in "--batch 32 --precision bf16" "--batch 8 --precision bf16"; do
    echo "=== python3 reference/torch_gpu_bench.py $a --seq 1024 --steps 10 --profile 45" >> $F
    timeout 150 python3 reference/torch_gpu_bench.py $a --seq 1024 --steps 10 --profile 45 >> $F 2>&1; echo "rc=$?" >> $F
  done ) &
wait
