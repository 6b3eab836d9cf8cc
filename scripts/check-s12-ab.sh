#!/usr/bin/env bash
# Session 12's last call, one H200: kiln's default B=32 bf16 bench and PyTorch 2.11 torch.compile bf16 in turns (kiln,
# PyTorch, kiln, PyTorch, kiln, PyTorch, kiln), for the same-call ratio with its spread.
#   OUT=$OUT PACK=.dev-s12 BUDGET_S=300 bash scripts/check-s12-ab.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s12}
BUDGET_S=${BUDGET_S:-300}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
run 60 bench.txt $R $B --steps 30 --batch 32 --precision bf16
for i in 1 2 3; do
  run 70 bench.txt python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --warmup 3 --precision bf16
  run 30 bench.txt $R $B --steps 30 --batch 32 --precision bf16
done
t done
cat "$OUT/times.txt"
grep -hE "ms/step" "$OUT/bench.txt"
