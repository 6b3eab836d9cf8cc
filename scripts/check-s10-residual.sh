#!/usr/bin/env bash
# Session 10: bf16 residual adds fused into their matmuls (default) or led into the next norm's resident row kernel
# (KILN_EPI_RESIDUAL=0). Run from the project root with the pack in $PACK/gpu, logs under $OUT:
#   OUT=$OUT PACK=.dev-s10 BUDGET_S=150 bash scripts/check-s10-residual.sh
# GPU 0: B=32 benches alternating (default, =0, default, =0), then a --profile run with =0.
# GPU 1 at the same time: the fixtures, CudaVerifyTest with KILN_EPI_RESIDUAL=0, then a bench pair (=0, default).
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s10}
BUDGET_S=${BUDGET_S:-150}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
$R -version > /dev/null 2>&1
lane1() {
  export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
  bash reference/fixtures.sh > /dev/null 2>&1; t "fixtures rc=$?"
  run 60 tests.txt env KILN_EPI_RESIDUAL=0 $R test --include-tag gpu --include-classname '.*CudaVerifyTest' --details=tree
  run 40 bench1.txt env KILN_EPI_RESIDUAL=0 $R $B --steps 30 --batch 32 --precision bf16
  run 40 bench1.txt $R $B --steps 30 --batch 32 --precision bf16
}
lane1 &
L1=$!
export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt env KILN_EPI_RESIDUAL=0 $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt env KILN_EPI_RESIDUAL=0 $R $B --steps 30 --batch 32 --precision bf16
run 30 profile.txt env KILN_EPI_RESIDUAL=0 $R $B --steps 3 --batch 32 --precision bf16 --profile
wait $L1
t done
cat "$OUT/times.txt"
grep -E "tests (found|successful|failed)" "$OUT/tests.txt"
grep -hE "^### |ms/step" "$OUT/bench.txt" "$OUT/bench1.txt"
