#!/usr/bin/env bash
# Session 6's integration call on nvidia-h200-x2, after merging epi, splitk, attnfast, gemmaqa, bf16cli (and pipeline).
# Run from the project root with the pack in $PACK/gpu (default .dev-s6), logs under $OUT (at most 8 files come back):
#   OUT=$OUT bash scripts/gpu-session6.sh
# GPU 0: the fixtures, the gpu-tagged tests (all but the two-GPU class), kiln's benches (gpt2-d12 bf16 at B=32 and 8,
#        tf32 at B=8, llama-d12 and gemma-d12 tf32 at B=8), a bf16 B=32 --profile step.
# GPU 1: PyTorch's side (reference/torch_gpu_bench.py at bf16 B=32 and 8, tf32 B=8), the 124M state at T=1024 (float64)
#        and PyTorch's bf16-autocast run on it, kiln verify at tf32 and bf16 (bf16 twice: the losses against the float64
#        run and against PyTorch's bf16 run), then scripts/check-bf16cli.sh (recompute memory, export v5, sample).
# Then both GPUs: bench --gpus 2 at bf16 B=32.
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s6}
BUDGET_S=${BUDGET_S:-480}
R="bash $PACK/gpu/run.sh"
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"   # t, left, run
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader > "$OUT/times.txt"
B="kiln.cli.Main bench --device cuda --seq 1024 --steps 30 --warmup 3"

lane1() {
  export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
  run 100 torch.txt python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --precision bf16
  reference_124m   # sets d and a
  run 60 verify.txt $R kiln.cli.Main verify --device cuda --precision tf32 --model $d/model.bin --state $d/state.bin --losses $d/losses.txt
  run 60 verify.txt $R kiln.cli.Main verify --device cuda --precision bf16 --model $d/model.bin --state $d/state.bin --losses $d/losses.txt
  echo "### the same bf16 verify, its 10 losses against PyTorch's own bf16 autocast run from the same state" >> "$OUT/verify.txt"
  run 60 verify.txt $R kiln.cli.Main verify --device cuda --precision bf16 --model $d/model.bin --state $d/state.bin --losses $a/losses.txt
  run 45 torch.txt python3 reference/torch_gpu_bench.py --batch 8 --seq 1024 --steps 30 --precision bf16
  run 50 torch.txt python3 reference/torch_gpu_bench.py --batch 8 --seq 1024 --steps 30 --precision tf32
  mkdir -p /tmp/cli && OUT=/tmp/cli PACK=$PACK BUDGET_S=$(( $(left) > 100 ? 100 : $(left) )) bash scripts/check-bf16cli.sh > /dev/null 2>&1
  t "check-bf16cli rc=$?"
  for f in /tmp/cli/*.txt; do echo "### $f"; cat "$f"; done > "$OUT/bf16cli.txt" 2>&1
}
lane1 &
L1=$!

export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
bash reference/fixtures.sh > /dev/null 2>&1; t "fixtures rc=$?"
run 200 tests.txt $R test --include-tag gpu --exclude-classname '.*DataParallelGpuTest' --details=tree
run 100 bench.txt $R $B --model gpt2-d12 --batch 32 --precision bf16
run 45 bench.txt $R $B --model gpt2-d12 --batch 8 --precision tf32
run 45 bench.txt $R $B --model gemma-d12 --batch 8 --precision tf32
run 45 bench.txt $R $B --model llama-d12 --batch 8 --precision tf32
run 30 bench.txt $R $B --model gpt2-d12 --batch 8 --precision bf16
run 30 profile.txt $R kiln.cli.Main bench --device cuda --seq 1024 --steps 2 --warmup 1 --model gpt2-d12 --batch 32 --precision bf16 --profile
wait $L1
unset CUDA_VISIBLE_DEVICES
export KILN_CACHE=/tmp/kc0
run 70 bench.txt $R $B --model gpt2-d12 --batch 32 --precision bf16 --gpus 2
t done
