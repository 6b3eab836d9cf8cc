#!/usr/bin/env bash
# Session 14, one H200, after the measured-in-step rules: a second sweep as scripts/check-s14-tiles.sh (every bf16 matmul
# launch of one B=32 step under Nsight Compute, every matmul on one tile at a time): 2-block clusters of the 192 x 192 and
# 128 x 256 tiles, 192 x 192 with 4 stages from the registers, and raster groups of 8 and 32 M tiles; the default (the new
# rules) first and last. Summarise locally: python3 scripts/ncu_tiles.py $OUT/default.csv $OUT/...csv $OUT/default2.csv
#   OUT=$OUT PACK=.dev-s14 BUDGET_S=300 bash scripts/check-s14-tiles2.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s14}
BUDGET_S=${BUDGET_S:-300}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
N="$NCU --profile-from-start off --graph-profiling node --clock-control none --cache-control none -k regex:wgmma_bf16 --metrics gpu__time_duration.sum --csv --page raw"
S="$R $B --steps 1 --batch 32 --precision bf16 --cuda-profiler-range"
one() { local name=$1; shift; run 60 ncu.txt env "$@" $N --log-file $OUT/$name.csv $S; }
one default KILN_X=0
one sq3c2 KILN_WGMMA_BF16_TILE="bm=192 bn=192 stages=3 consumers=3 group=16 tmastore=1 cluster=2"
one widec2 KILN_WGMMA_BF16_TILE="bm=128 bn=256 stages=3 consumers=2 group=16 tmastore=1 cluster=2"
one sq4r KILN_WGMMA_BF16_TILE="bm=192 bn=192 stages=4 consumers=3 group=16"
one g8 KILN_WGMMA_BF16_TILE="bm=128 bn=192 stages=4 consumers=2 group=8 tmastore=1"
one sq3g8 KILN_WGMMA_BF16_TILE="bm=192 bn=192 stages=3 consumers=3 group=8 tmastore=1"
one wideg8 KILN_WGMMA_BF16_TILE="bm=128 bn=256 stages=3 consumers=2 group=8 tmastore=1"
one sq3g32 KILN_WGMMA_BF16_TILE="bm=192 bn=192 stages=3 consumers=3 group=32 tmastore=1"
one wideg32 KILN_WGMMA_BF16_TILE="bm=128 bn=256 stages=3 consumers=2 group=32 tmastore=1"
one default2 KILN_X=0
t done
grep -c . "$OUT"/*.csv
