#!/usr/bin/env bash
# Session 11, one H200: B=32 bf16 bench untuned, `kiln tune` at that shape, the bench with its winners (twice), and PyTorch
# 2.11 torch.compile bf16 in the same call.
#   OUT=$OUT PACK=.dev-s11 BUDGET_S=200 bash scripts/check-s11-tune.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s11}
BUDGET_S=${BUDGET_S:-200}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
$R -version > /dev/null 2>&1
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 90 tune.txt $K tune --device cuda --model gpt2-d12 --seq 1024 --batch 32 --precision bf16
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 90 bench.txt python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --precision bf16
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
cp /tmp/kc0/tuning.json "$OUT/" 2>/dev/null
t done
cat "$OUT/times.txt"
tail -5 "$OUT/tune.txt"
grep -hE "^### |ms/step|tok/s" "$OUT/bench.txt"
