#!/usr/bin/env bash
# Session 14, one H200: every bf16 matmul launch of one B=32 training step under Nsight Compute (gpu__time_duration, clocks
# and caches as the step leaves them) with every matmul on one tile of the tuner's space at a time (KILN_WGMMA_BF16_TILE):
# which tile each launch runs fastest on inside the step. SWEEP=1: the defaults, no fused epilogues, no measured shapes and
# six tiles; SWEEP=2 (after the first sweep's rules): 2-block clusters of 192 x 192 and 128 x 256, 192 x 192 with 4 stages
# from the registers, raster groups of 8 and 32, the default first and last. Summarise locally, the default's CSV first:
#   python3 scripts/ncu_tiles.py $OUT/default.csv $OUT/...csv
#   OUT=$OUT PACK=.dev-s14 BUDGET_S=330 [SWEEP=2] bash scripts/check-s14-tiles.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s14}
BUDGET_S=${BUDGET_S:-330}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
ncu_step -k regex:wgmma_bf16
S="$R $B --steps 1 --batch 32 --precision bf16 --cuda-profiler-range"
one() { local name=$1; shift; run 60 ncu.txt env "$@" $N --log-file $OUT/$name.csv $S; }
if [ "${SWEEP:-1}" = 1 ]; then
  one default KILN_X=0
  one epi0 KILN_EPILOGUE=0
  one square3 KILN_WGMMA_BF16_TILE="bm=192 bn=192 stages=3 consumers=3 group=16 tmastore=1"
  one tall3 KILN_WGMMA_BF16_TILE="bm=192 bn=128 stages=4 consumers=3 group=16 tmastore=1"
  one wide KILN_WGMMA_BF16_TILE="bm=128 bn=256 stages=3 consumers=2 group=16 tmastore=1"
  one clustered KILN_WGMMA_BF16_TILE="bm=128 bn=192 stages=4 consumers=2 group=16 tmastore=1 cluster=2"
  one tall256 KILN_WGMMA_BF16_TILE="bm=256 bn=128 stages=3 consumers=2 group=16 tmastore=1"
  one noshapes KILN_WGMMA_BF16_SHAPES=0
else
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
fi
t done
cat "$OUT/times.txt"
