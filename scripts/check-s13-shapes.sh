#!/usr/bin/env bash
# Session 13, one H200: the untuned tiles measured faster for three GPT-2 shapes at B=32 (CudaLowering.measuredBf16) against
# KILN_WGMMA_BF16_SHAPES=0 (the default tile everywhere), B=32 benches in turns, PyTorch in the same call, a --profile.
#   OUT=$OUT PACK=.dev-s13 BUDGET_S=200 bash scripts/check-s13-shapes.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s13}
BUDGET_S=${BUDGET_S:-200}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
run 60 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 50 bench.txt env KILN_WGMMA_BF16_SHAPES=0 $R $B --steps 30 --batch 32 --precision bf16
run 30 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 30 bench.txt env KILN_WGMMA_BF16_SHAPES=0 $R $B --steps 30 --batch 32 --precision bf16
run 70 bench.txt python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --warmup 3 --precision bf16
run 25 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 20 profile.txt $R $B --steps 3 --batch 32 --precision bf16 --profile
t done
cat "$OUT/times.txt"
grep -hE "^### |ms/step|tok/s" "$OUT/bench.txt"
grep -E "step [0-9]|wgmma_bf16 (head.logits|dlogits/grads.wte|dr1/dh\*.fc.gelu)" "$OUT/profile.txt" | head
