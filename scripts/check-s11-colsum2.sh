#!/usr/bin/env bash
# Session 11, one H200, after the column sums' _sum kernel went from 8 to 32 runs a column (8 loads in flight): B=32 benches
# of the default (norm rows and the GELU gradient's rows with their column sums), KILN_ROW_COLSUM=norms (the norms' only),
# =0 (none), KILN_COLSUM_BLOCKS=528 and 2112 (the grid cap), the default again, and a --profile run of the default.
#   OUT=$OUT PACK=.dev-s11 BUDGET_S=150 bash scripts/check-s11-colsum2.sh
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
run 45 bench.txt env KILN_ROW_COLSUM=norms $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt env KILN_ROW_COLSUM=0 $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt env KILN_COLSUM_BLOCKS=528 $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt env KILN_COLSUM_BLOCKS=2112 $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 30 profile.txt $R $B --steps 3 --batch 32 --precision bf16 --profile
run 30 profile1.txt env KILN_ROW_COLSUM=norms $R $B --steps 3 --batch 32 --precision bf16 --profile
t done
cat "$OUT/times.txt"
grep -hE "^### |ms/step" "$OUT/bench.txt"
grep -hE "row dout|row dgelu|colreduce|map dgelu" "$OUT/profile.txt" "$OUT/profile1.txt" | cut -c1-100
