#!/usr/bin/env bash
# Session 12, one H200: Nsight Compute on the bf16 dkdv kernel alone (scripts/attnbf16/dkdv_once.py, B=32) and on the same
# kernel in a B=32 training step (layer 11's, the first of the backward), to see why the step's runs 0.45 ms a layer where
# the harness's runs 0.40. Cubins from scripts/attnbf16/build.sh in $PACK/cubins.
#   OUT=$OUT PACK=.dev-s12 BUDGET_S=300 bash scripts/check-s12-ncu.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s12}
BUDGET_S=${BUDGET_S:-300}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
t "ncu: ${NCU:-none}"
S="--section SpeedOfLight --section Occupancy --section WarpStateStats --section MemoryWorkloadAnalysis --section LaunchStats"
run 90 harness.txt $NCU --clock-control none -k regex:fab_dkdv --launch-count 1 $S python3 scripts/attnbf16/dkdv_once.py $PACK/cubins 32
run 60 bench.txt $R $B --steps 1 --batch 32 --precision bf16
run 150 step.txt $NCU --clock-control none --graph-profiling node -k regex:attention_bf16_dkdv --launch-count 1 $S $R $B --steps 1 --batch 32 --precision bf16
t done
cat "$OUT/times.txt"
for f in harness step; do echo "=== $f"; grep -E "Duration|DRAM Throughput|L2 Hit|L1/TEX Hit|Achieved Occupancy|Registers Per|Theoretical Occupancy|Compute \(SM\) Throughput|Memory Throughput|Warp Cycles Per Issued|Block Limit|Dynamic Shared|Grid Size|Stall" "$OUT/$f.txt" | head -40; done
