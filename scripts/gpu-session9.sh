#!/usr/bin/env bash
# Session 9's first call on nvidia-h200-x2: the gpu-tagged tests over main as session 8 left it (Session.ifFits, the dkdv
# kernels' shared opening, slimtests' wgmma test helpers had not run on a GPU), and whether the GELU and dGELU epilogues are
# worth fusing now that bf16 epilogues are cheap (epicheap). Run from the project root, the pack in $PACK/gpu:
#   OUT=$OUT PACK=.dev-s9 BUDGET_S=420 bash scripts/gpu-session9.sh
# GPU 0: the fixtures, every gpu-tagged test but the two-GPU class. GPU 1 at the same time: kiln's bench (gpt2-d12 bf16
# B=32) by default and with every epilogue fused (KILN_EPILOGUE=1), then each with --profile. Then both GPUs:
# DataParallelGpuTest.
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s9}
BUDGET_S=${BUDGET_S:-420}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"   # t, left, run
R="bash $PACK/gpu/run.sh"
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader > "$OUT/times.txt"
B="kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024 --warmup 3 --batch 32 --precision bf16"
$R -version > /dev/null 2>&1
(
  export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
  run 60 bench.txt $R $B --steps 30
  KILN_EPILOGUE=1 run 60 bench.txt $R $B --steps 30
  run 60 bench.txt $R $B --steps 30
  KILN_EPILOGUE=1 run 60 bench.txt $R $B --steps 30
  run 50 profile.txt $R $B --steps 3 --profile
  KILN_EPILOGUE=1 run 50 profile-epi1.txt $R $B --steps 3 --profile
) &
L1=$!
export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
[ -d build/fixtures/odd ] || { bash reference/fixtures.sh > /dev/null 2>&1; t "fixtures rc=$?"; }
run 220 tests.txt $R test --include-tag gpu --exclude-classname '.*DataParallelGpuTest' --details=tree
wait $L1
unset CUDA_VISIBLE_DEVICES
run 60 multi.txt $R test --include-tag gpu --include-classname '.*DataParallelGpuTest' --details=tree
t done
cat "$OUT/times.txt"
grep -E "tests (found|successful|failed)" "$OUT/tests.txt" "$OUT/multi.txt"
grep -hE "^### |^bench: (--|data|[0-9].*ms/step)" "$OUT/bench.txt"
