#!/usr/bin/env bash
# Session 14's last call, one H200: kiln (untuned, the measured-in-step tiles) and PyTorch 2.11 torch.compile bf16 in
# alternation, three pairs at B=32, then one pair at B=16.
#   OUT=$OUT PACK=.dev-s14 BUDGET_S=330 bash scripts/check-s14-peer.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s14}
BUDGET_S=${BUDGET_S:-330}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
P="python3 reference/torch_gpu_bench.py --seq 1024 --steps 30 --warmup 3 --precision bf16"
for i in 1 2 3; do
  run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
  run 80 bench.txt $P --batch 32
done
run 30 bench.txt $R $B --steps 30 --batch 16 --precision bf16
run 70 bench.txt $P --batch 16
t done
cat "$OUT/times.txt"
grep -hE "^### |ms/step|tok/s" "$OUT/bench.txt"
