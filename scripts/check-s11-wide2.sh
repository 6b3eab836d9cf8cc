#!/usr/bin/env bash
# Session 11, one H200: the default (128 x 192 untuned) against KILN_WGMMA_BF16_WIDE=1 on bare bf16-C matmuls only (the
# epilogue launches keep the default tile): B=32 benches in turns, a --profile of each.
#   OUT=$OUT PACK=.dev-s11 BUDGET_S=120 bash scripts/check-s11-wide2.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s11}
BUDGET_S=${BUDGET_S:-120}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
$R -version > /dev/null 2>&1
for i in 1 2 3; do
  run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
  run 45 bench.txt env KILN_WGMMA_BF16_WIDE=1 $R $B --steps 30 --batch 32 --precision bf16
done
run 30 profile.txt $R $B --steps 3 --batch 32 --precision bf16 --profile
run 30 profile1.txt env KILN_WGMMA_BF16_WIDE=1 $R $B --steps 3 --batch 32 --precision bf16 --profile
t done
cat "$OUT/times.txt"
grep -hE "^### |ms/step" "$OUT/bench.txt"
paste <(grep -E "wgmma_bf16" "$OUT/profile.txt" | sort -k4 | cut -c1-80) <(grep -E "wgmma_bf16" "$OUT/profile1.txt" | sort -k4 | cut -c1-16)
