#!/usr/bin/env bash
# Session 12, one H200: where the B=32 bf16 step goes in kiln and in PyTorch torch.compile, side by side (kernel lists).
#   OUT=$OUT PACK=.dev-s12 BUDGET_S=200 bash scripts/check-s12-profiles.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s12}
BUDGET_S=${BUDGET_S:-200}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
run 90 torch.txt python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 20 --warmup 3 --precision bf16 --profile 80
run 60 profile.txt $R $B --steps 5 --batch 32 --precision bf16 --profile
t done
cat "$OUT/times.txt"
grep -vE "^\s*$" "$OUT/torch.txt" | head -n 100
grep -E "ms " "$OUT/profile.txt" | head -n 80
