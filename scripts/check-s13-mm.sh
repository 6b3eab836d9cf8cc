#!/usr/bin/env bash
# Session 13, one H200: kiln's bf16 wgmma tiles beside cuBLAS at GPT-2's step size (B·T = 32768, MatmulBench --bf16 --bt
# 32768; fc_k8 is fc at 8x the depth, so fc's rate against fc_k8's shows a tile's fixed cost), then Nsight Compute on the
# default tile's fc launch and on cuBLAS's fc launch (pipe utilization, warp stalls).
#   OUT=$OUT PACK=.dev-s13 BUDGET_S=480 [TILES=6,7,9,10,12,13] bash scripts/check-s13-mm.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s13}
BUDGET_S=${BUDGET_S:-480}
TILES=${TILES:-6,7,8,9,10,12,13,14}
DROP='^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
run 240 mm.txt $R kiln.runtime.cuda.MatmulBench --bf16 --bt 32768 --tiles "$TILES" "$OUT/kiln-bf16.txt"
run 90 mm.txt python3 scripts/cublas_matmuls.py --precision bf16 --bt 32768 --kiln "$OUT/kiln-bf16.txt"
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
S="--section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats --section SchedulerStats --section MemoryWorkloadAnalysis"
# fc is the third shape: 72 launches a shape with one tile (check + 35 bf16 C, check + 35 fp32 C)
run 120 ncu-kiln.txt $NCU --clock-control none -k regex:wgmma_bf16 --launch-skip 150 --launch-count 1 $S $R kiln.runtime.cuda.MatmulBench --bf16 --bt 32768 --tiles 6 /tmp/k6.txt
# cuBLAS: 35 launches a shape, fc the third
run 90 ncu-cublas.txt $NCU --clock-control none -k regex:nvjet --launch-skip 80 --launch-count 1 $S python3 scripts/cublas_matmuls.py --precision bf16 --bt 32768
t done
cat "$OUT/times.txt"
grep -vE "^\[|^WARNING" "$OUT/mm.txt" | grep -E "^#|^[a-z_]+ " | head -40
for f in ncu-kiln ncu-cublas; do echo "=== $f"; grep -E "Duration|  [A-Za-z]+ Kernel|nvjet|wgmma_bf16|Throughput|Pipe|Issue|Warp Cycles|Eligible|Active Warps|No Eligible|Stall|Executed Ipc|L2 Hit|SM Busy|Registers" "$OUT/$f.txt" | head -45; done
