#!/usr/bin/env bash
# Session 14, one H200: every bf16 matmul launch of one B=32 training step under Nsight Compute (gpu__time_duration, clocks
# and caches as the step leaves them) with the default tiles, with no fused epilogues, and with every matmul on one tile of
# the tuner's space (KILN_WGMMA_BF16_TILE): which tile each launch runs fastest on inside the step. Summarise locally:
#   python3 scripts/ncu_tiles.py $OUT/*.csv
#   OUT=$OUT PACK=.dev-s14 BUDGET_S=330 bash scripts/check-s14-tiles.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s14}
BUDGET_S=${BUDGET_S:-330}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
N="$NCU --profile-from-start off --graph-profiling node --clock-control none --cache-control none -k regex:wgmma_bf16 --metrics gpu__time_duration.sum --csv --page raw"
S="$R $B --steps 1 --batch 32 --precision bf16 --cuda-profiler-range"
one() { local name=$1; shift; run 60 ncu.txt env "$@" $N --log-file $OUT/$name.csv $S; }
one default KILN_X=0
one epi0 KILN_EPILOGUE=0
one square3 KILN_WGMMA_BF16_TILE="bm=192 bn=192 stages=3 consumers=3 group=16 tmastore=1"
one tall3 KILN_WGMMA_BF16_TILE="bm=192 bn=128 stages=4 consumers=3 group=16 tmastore=1"
one wide KILN_WGMMA_BF16_TILE="bm=128 bn=256 stages=3 consumers=2 group=16 tmastore=1"
one clustered KILN_WGMMA_BF16_TILE="bm=128 bn=192 stages=4 consumers=2 group=16 tmastore=1 cluster=2"
one tall256 KILN_WGMMA_BF16_TILE="bm=256 bn=128 stages=3 consumers=2 group=16 tmastore=1"
one noshapes KILN_WGMMA_BF16_SHAPES=0
t done
cat "$OUT/times.txt"
