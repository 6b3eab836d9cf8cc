#!/usr/bin/env bash
# Session 10's integration call on nvidia-h200-x2 (issue 13: resident rows, residual prefetch, the joined classifier step). Run from the project root with the
# pack in $PACK/gpu (default .dev-s10), logs under $OUT:   OUT=$OUT PACK=.dev-s10 BUDGET_S=260 bash scripts/gpu-session10b.sh
# GPU 0: the fixtures, every gpu-tagged test but the two-GPU class, kiln's bf16 B=32 bench: default, KILN_ROW_JOIN=0,
#        KILN_EPI_PREFETCH=0, default again, then a --profile run.
# GPU 1 at the same time: PyTorch's bench (bf16 B=32), kiln's B=32 bench, the 124M verify at bf16 against PyTorch's losses.
# Then both GPUs: DataParallelGpuTest, the bf16 bench at B=16 a GPU on one and two GPUs (plain and --zero 1), tiny parity.
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s10}
BUDGET_S=${BUDGET_S:-260}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"   # t, left, run, pack_commands, verify_124m, tiny_parity
pack_commands
$R -version > /dev/null 2>&1   # unpacks the runtime once, before the lanes

lane1() {
  export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
  run 90 bench1.txt python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --precision bf16
  run 60 bench1.txt $R $B --steps 30 --batch 32 --precision bf16
  verify_124m
}
lane0() {
  export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
  run 150 tests.txt $R test --include-tag gpu --exclude-classname '.*DataParallelGpuTest' --details=tree
  run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
  run 45 bench.txt env KILN_ROW_JOIN=0 $R $B --steps 30 --batch 32 --precision bf16
  run 45 bench.txt env KILN_EPI_PREFETCH=0 $R $B --steps 30 --batch 32 --precision bf16
  run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
  run 30 profile.txt $R $B --steps 3 --batch 32 --precision bf16 --profile
}
[ -d build/fixtures/odd ] || { bash reference/fixtures.sh > /dev/null 2>&1; t "fixtures rc=$?"; }
lane1 &
L1=$!
lane0
wait $L1
unset CUDA_VISIBLE_DEVICES
export KILN_CACHE=/tmp/kc0
run 60 parity.txt $R test --include-tag gpu --include-classname '.*DataParallelGpuTest' --details=tree
run 40 multi.txt $R $B --steps 20 --batch 16 --precision bf16 --gpus 1
run 50 multi.txt $R $B --steps 20 --batch 16 --precision bf16 --gpus 2
run 50 multi.txt $R $B --steps 20 --batch 16 --precision bf16 --gpus 2 --zero 1
tiny_parity
t done
cat "$OUT/times.txt"
grep -E "tests (found|successful|failed)" "$OUT/tests.txt" "$OUT/parity.txt"
grep -hE "^### |ms/step|tok/s" "$OUT/bench.txt" "$OUT/bench1.txt" "$OUT/multi.txt"
grep -E "verify: |OK|FAIL" "$OUT/verify.txt" | tail -3
