#!/usr/bin/env bash
# Session 14, one H200: does `kiln tune` (bare matmuls timed alone) still help over the measured-in-step untuned tiles?
# Tune at B=32, then tuned and untuned benches in turns.
#   OUT=$OUT PACK=.dev-s14 BUDGET_S=300 bash scripts/check-s14-tune.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s14}
BUDGET_S=${BUDGET_S:-300}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
run 120 tune.txt $K tune --device cuda --model gpt2-d12 --seq 1024 --batch 32 --precision bf16
cp /tmp/kc0/tuning.json "$OUT/" 2>/dev/null
for i in 1 2; do
  run 40 bench.txt $R $B --steps 30 --batch 32 --precision bf16
  run 40 bench.txt env KILN_CACHE=/tmp/kc-none $R $B --steps 30 --batch 32 --precision bf16
done
t done
cat "$OUT/times.txt"
grep -hE "^### |ms/step|tok/s|tuned" "$OUT/bench.txt"
tail -25 "$OUT/tune.txt"
