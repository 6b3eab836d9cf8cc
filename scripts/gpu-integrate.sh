#!/usr/bin/env bash
# One device call on nvidia-h200-x2 after merging a session's branches. Run on the device from a folder holding the
# pack as gpu/ with reference/ beside it (the tests read build/fixtures/ from the working directory):
#   OUT=$OUT bash scripts/gpu-integrate.sh
# At most 8 files come back under $OUT. Steps past BUDGET_S seconds are skipped (times.txt says which).
# GPU 0: the fixtures, the gpu-tagged tests (all but the two-GPU ones), then kiln's benches: gpt2-d12 bf16 at B=8, 16, 32,
#        tf32 at B=8, llama-d12 and gemma-d12 tf32 at B=8, and a bf16 --profile step.
# GPU 1: PyTorch's side of the same benches (reference/torch_gpu_bench.py: torch.compile, flash attention, bf16 autocast
#        at B=32 and B=8, tf32 at B=8), a 124M state at T=1024 (float64) with verify at tf32 and bf16 and PyTorch's own
#        bf16-autocast losses on it, then 150 training steps of gpt2-d12 at bf16 and at tf32 on the bundled corpus.
# Then both GPUs: bench --gpus 2 at bf16 (B=32 per GPU) and tf32 --zero 1 (B=8 per GPU).
set -uo pipefail
OUT=${OUT:-/tmp}
BUDGET_S=${BUDGET_S:-470}
R="bash gpu/run.sh"
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"   # t, left, run
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader > "$OUT/times.txt"
B="kiln.cli.Main bench --device cuda --seq 1024 --steps 30"

lane1() {
  export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
  run 110 torch.txt python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --precision bf16
  run 50 torch.txt python3 reference/torch_gpu_bench.py --batch 8 --seq 1024 --steps 30 --precision bf16
  run 60 torch.txt python3 reference/torch_gpu_bench.py --batch 8 --seq 1024 --steps 30 --precision tf32
  reference_124m   # sets d and a
  for p in tf32 bf16; do
    run 60 verify.txt $R kiln.cli.Main verify --device cuda --precision $p --model $d/model.bin --state $d/state.bin --losses $d/losses.txt
  done
  for p in bf16 tf32; do
    run 70 train.txt $R kiln.cli.Main train --device cuda --model gpt2-d12 --precision $p --batch 8 --seq 1024 --steps 150 \
        --val-every 25 --checkpoint-every 1000 --sample-tokens 0 --out /tmp/run-$p
  done
  mkdir -p /tmp/logs && for p in bf16 tf32; do cp /tmp/run-$p/log.csv /tmp/logs/$p.csv 2>/dev/null; done
  tar czf "$OUT/train-logs.tgz" -C /tmp logs
}
lane1 &
L1=$!

export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
bash reference/fixtures.sh > /dev/null 2>&1; t "fixtures rc=$?"
run 200 tests.txt $R test --include-tag gpu --exclude-classname '.*DataParallelGpuTest' --details=tree
for b in 8 16 32; do run 60 bench.txt $R $B --model gpt2-d12 --batch $b --precision bf16; done
run 40 bench.txt $R $B --model gpt2-d12 --batch 8 --precision tf32
run 50 bench.txt $R $B --model llama-d12 --batch 8 --precision tf32
run 50 bench.txt $R $B --model gemma-d12 --batch 8 --precision tf32
run 30 profile.txt $R kiln.cli.Main bench --device cuda --seq 1024 --steps 3 --model gpt2-d12 --batch 8 --precision bf16 --profile
wait $L1
unset CUDA_VISIBLE_DEVICES
export KILN_CACHE=/tmp/kc0
run 60 multi.txt $R $B --model gpt2-d12 --batch 32 --precision bf16 --gpus 2
run 50 multi.txt $R $B --model gpt2-d12 --batch 8 --precision tf32 --gpus 2 --zero 1
t done
