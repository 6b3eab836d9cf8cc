#!/usr/bin/env bash
# Session 11, one H200: the joined classifier row kernel (logits read twice: the online max+sum pass, then dlogits) with its
# grid capped (KILN_LONG_ROW_BLOCKS: blocks striding over the rows, so the rows in flight stay in L2 for the second pass)
# against a block a row, with KILN_ONLINE_UNROLL 1 and 4; B=32 benches and a --profile of each cap.
#   OUT=$OUT PACK=.dev-s11 BUDGET_S=150 bash scripts/check-s11-longrows.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s11}
BUDGET_S=${BUDGET_S:-150}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
$R -version > /dev/null 2>&1
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
for n in 264 396 528 1056; do
  run 30 profile.txt env KILN_LONG_ROW_BLOCKS=$n $R $B --steps 3 --batch 32 --precision bf16 --profile
done
run 30 profile.txt env KILN_LONG_ROW_BLOCKS=396 KILN_ONLINE_UNROLL=4 $R $B --steps 3 --batch 32 --precision bf16 --profile
run 30 profile.txt env KILN_LONG_ROW_BLOCKS=264 KILN_ONLINE_UNROLL=4 $R $B --steps 3 --batch 32 --precision bf16 --profile
run 30 profile.txt $R $B --steps 3 --batch 32 --precision bf16 --profile
t done
cat "$OUT/times.txt"
grep -hE "^### |ms/step" "$OUT/bench.txt"
grep -hE "^### |row head.max|ms/step" "$OUT/profile.txt" | cut -c1-140
