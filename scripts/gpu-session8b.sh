#!/usr/bin/env bash
# Session 8's last call on nvidia-h200-x2, after merging the second round of issue-18 branches (slimcli2: one step loop for
# both benches and the multi-GPU bench printing the policy its sessions resolved; slimcg2; slimdsl) over the integrated main
# that gpu-session8.sh checked. Run from the project root with the pack in $PACK/gpu (default .dev-s8), logs under $OUT:
#   OUT=$OUT PACK=.dev-s8 BUDGET_S=300 bash scripts/gpu-session8b.sh
# GPU 0: the fixtures, then every gpu-tagged test but the two-GPU class. GPU 1 at the same time: kiln's bench (gpt2-d12 bf16
# B=32, then B=16). Then both GPUs: DataParallelGpuTest and the two-GPU bench (bf16, 16 a GPU, then --zero 1).
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s8}
BUDGET_S=${BUDGET_S:-300}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"   # t, left, run
R="bash $PACK/gpu/run.sh"
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader > "$OUT/times.txt"
B="kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024 --warmup 3"
$R -version > /dev/null 2>&1
(
  export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
  run 60 bench.txt $R $B --steps 30 --batch 32 --precision bf16
  run 40 bench.txt $R $B --steps 30 --batch 16 --precision bf16
) &
L1=$!
export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
[ -d build/fixtures/odd ] || { bash reference/fixtures.sh > /dev/null 2>&1; t "fixtures rc=$?"; }
run 200 tests.txt $R test --include-tag gpu --exclude-classname '.*DataParallelGpuTest' --details=tree
wait $L1
unset CUDA_VISIBLE_DEVICES
run 60 multi.txt $R test --include-tag gpu --include-classname '.*DataParallelGpuTest' --details=tree
run 45 multi.txt $R $B --steps 20 --batch 32 --precision bf16 --gpus 2
run 45 multi.txt $R $B --steps 20 --batch 32 --precision bf16 --gpus 2 --zero 1
t done
cat "$OUT/times.txt"
grep -E "tests (found|successful|failed)" "$OUT/tests.txt" "$OUT/multi.txt"
grep -hE "^### |^bench: (--|data|[0-9].*ms/step)" "$OUT/bench.txt" "$OUT/multi.txt"
