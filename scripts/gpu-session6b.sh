#!/usr/bin/env bash
# Session 6's second call on nvidia-h200-x2: the pipeline refactor (issue 18) merged over the speed branches, on the GPU.
# Run from the project root with the pack in $PACK/gpu (default .dev-s6), logs under $OUT:
#   OUT=$OUT bash scripts/gpu-session6b.sh
# GPU 0: the gpu-tagged tests (all but the two-GPU class), then Nsight Compute's speed-of-light and memory sections on the
#        first 70 bf16 wgmma launches of one gpt2-d12 B=8 step (forward order: qkv, attproj, fc, fcproj per layer, the head,
#        then the backward), to see where the fused epilogues' time goes.
# GPU 1: bench gpt2-d12 bf16 B=32 with --recompute gelu (default) and none, tf32 B=8 (against the first call's figures).
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s6}
BUDGET_S=${BUDGET_S:-300}
R="bash $PACK/gpu/run.sh"
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"   # t, left, run
B="kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024 --steps 30 --warmup 3"
( export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
  run 100 bench.txt $R $B --batch 32 --precision bf16
  run 60 bench.txt $R $B --batch 32 --precision bf16 --recompute none
  run 50 bench.txt $R $B --batch 8 --precision tf32 ) &
L=$!
export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
bash reference/fixtures.sh > /dev/null 2>&1; t "fixtures rc=$?"
run 170 tests.txt $R test --include-tag gpu --exclude-classname '.*DataParallelGpuTest' --details=tree
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
run 150 ncu.txt $NCU --clock-control none --graph-profiling node -k regex:wgmma_bf16 --launch-count 70 \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --csv --page details \
    $R kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024 --batch 8 --precision bf16 --steps 1 --warmup 0
wait $L
t done
