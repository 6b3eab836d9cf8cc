#!/usr/bin/env bash
# Session 9: part-warp rows (attention's dyy) and add inlining on nvidia-h200-x2. From the project root, the pack in $PACK/gpu:
#   OUT=$OUT PACK=.dev-s9 BUDGET_S=260 bash scripts/gpu-s9-rows.sh
# GPU 0: the fixtures, then every gpu-tagged test but the two-GPU class. GPU 1 at the same time: bench gpt2-d12 bf16 B=32
# (default, KILN_EPI_TANH=libm, default again), once with --profile, then the 124M bf16 verify against PyTorch.
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s9}
BUDGET_S=${BUDGET_S:-260}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"   # t, left, run
R="bash $PACK/gpu/run.sh"
B="kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024 --warmup 3 --batch 32 --precision bf16"
$R -version > /dev/null 2>&1
(
  export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
  run 60 bench.txt $R $B --steps 30
  KILN_EPI_TANH=libm run 50 bench.txt $R $B --steps 30
  run 40 bench.txt $R $B --steps 30
  run 40 profile.txt $R $B --steps 3 --profile
  K="$R kiln.cli.Main"
  verify_124m
) &
L1=$!
export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
[ -d build/fixtures/odd ] || { bash reference/fixtures.sh > /dev/null 2>&1; t "fixtures rc=$?"; }
run 200 tests.txt $R test --include-tag gpu --exclude-classname '.*DataParallelGpuTest' --details=tree
wait $L1
t done
cat "$OUT/times.txt"
grep -E "tests (found|successful|failed)" "$OUT/tests.txt"
grep -hE "^### |^bench: (--|data|[0-9].*ms/step)" "$OUT/bench.txt"
grep -E "dyy|ms/step|map|wgmma_bf16 h" "$OUT/profile.txt"
grep -E "verify|OK|FAIL|loss" "$OUT/verify.txt" | tail -14
