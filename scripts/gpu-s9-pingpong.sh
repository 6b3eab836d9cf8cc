#!/usr/bin/env bash
# Session 9: do ping-pong tiles hide the GELU and dGELU epilogues that the cooperative DEFAULT tile exposes? Run from the
# project root on nvidia-h200-x2, the pack in $PACK/gpu:  OUT=$OUT PACK=.dev-s9 BUDGET_S=300 bash scripts/gpu-s9-pingpong.sh
# Each lane: bench --profile (gpt2-d12 bf16 B=32) with every bf16 matmul on one tile (KILN_WGMMA_BF16_TILE), every epilogue
# fused (KILN_EPILOGUE=1) and, for the first tile, also the default epilogue policy.
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s9}
BUDGET_S=${BUDGET_S:-300}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"   # t, left, run
R="bash $PACK/gpu/run.sh"
B="kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024 --warmup 3 --batch 32 --precision bf16"
P64x256="bm=64 bn=256 stages=4 consumers=2 pingpong=1 group=16 tmastore=1"
P128="bm=128 bn=128 stages=5 consumers=2 pingpong=1 group=16 tmastore=1"
P64x192="bm=64 bn=192 stages=5 consumers=2 pingpong=1 group=16 tmastore=1"
$R -version > /dev/null 2>&1
(
  export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
  KILN_EPILOGUE=1 KILN_WGMMA_BF16_TILE="$P128" run 70 p128-epi1.txt $R $B --steps 3 --profile
  KILN_EPILOGUE=1 KILN_WGMMA_BF16_TILE="$P64x192" run 70 p64x192-epi1.txt $R $B --steps 3 --profile
  KILN_EPILOGUE=1 KILN_WGMMA_BF16_TILE="$P64x192" run 40 bench.txt $R $B --steps 20
) &
L1=$!
export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
KILN_EPILOGUE=1 KILN_WGMMA_BF16_TILE="$P64x256" run 70 p64x256-epi1.txt $R $B --steps 3 --profile
KILN_WGMMA_BF16_TILE="$P64x256" run 70 p64x256-auto.txt $R $B --steps 3 --profile
KILN_EPILOGUE=1 KILN_WGMMA_BF16_TILE="$P64x256" run 40 bench.txt $R $B --steps 20
wait $L1
t done
cat "$OUT/times.txt"
grep -hE "^### |^bench: (--|data|[0-9].*ms/step)" "$OUT/bench.txt"
