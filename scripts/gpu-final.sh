#!/usr/bin/env bash
# The session's last device call on nvidia-h200-x2, after merging bf16loss (the residual gradients fp32) and bf16zero
# (bf16 with ZeRO-1). Run from a folder holding the pack as gpu/ with reference/ and scripts/ beside it:
#   OUT=$OUT bash scripts/gpu-final.sh
# GPU 1: the 124M T=1024 loss table of scripts/check-bf16loss.sh (fp64 | PyTorch bf16 autocast | kiln bf16 | kiln tf32).
# GPU 0 meanwhile: the one-GPU side of the bf16 ZeRO-1 parity (gpt2-tiny) and the one-GPU bf16 B=32 bench.
# Then both GPUs: the bf16 parity runs (--gpus 2, --zero 1, --zero 1 resumed), bench --gpus 2 --zero 1 and --gpus 2 at
# bf16 B=32, DataParallelGpuTest, and the fix's cost (bench bf16 B=8 with KILN_BF16_DRES=bf16 against the default).
set -uo pipefail
OUT=${OUT:-/tmp}
BUDGET_S=${BUDGET_S:-400}
export KILN_CACHE=/tmp/kc
K="bash gpu/run.sh kiln.cli.Main"
DROP='^train .*%'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"   # t, left, run
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader > "$OUT/times.txt"
C="train --device cuda --model gpt2-tiny --seq 64 --steps 10 --warmup 2 --precision bf16 --val-every 0 --val-batches 2 --sample-tokens 0"
BN="bench --device cuda --model gpt2-d12 --batch 32 --seq 1024 --steps 30 --precision bf16"

( export CUDA_VISIBLE_DEVICES=1; NO_BENCH=1 OUT=$OUT/loss bash scripts/check-bf16loss.sh > /dev/null 2>&1; t "check-bf16loss rc=$?" ) &
L=$!
export CUDA_VISIBLE_DEVICES=0
run 60 parity.txt $K $C --checkpoint-every 0 --gpus 1 --batch 8 --out /tmp/b1
run 120 bench.txt $K $BN --gpus 1
wait $L
unset CUDA_VISIBLE_DEVICES
zero_parity
run 60 bench.txt $K $BN --gpus 2 --zero 1
run 50 bench.txt $K $BN --gpus 2
run 90 tests.txt bash gpu/run.sh test --include-tag gpu --include-classname '.*DataParallelGpuTest' --details=tree
export CUDA_VISIBLE_DEVICES=0
for m in fp32 bf16; do
  KILN_BF16_DRES=$m run 50 bench.txt $K bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 --steps 30 --precision bf16
done
cp "$OUT/loss/losses.txt" "$OUT/loss-table.txt" 2>/dev/null
tar czf "$OUT/loss.tgz" -C "$OUT" loss 2>/dev/null && rm -rf "$OUT/loss"
t done
