#!/usr/bin/env bash
# Session 11, one H200: bf16 residual adds fused into their matmuls (default) against leading the next norm's resident
# row kernel (KILN_EPI_RESIDUAL=0). Run from the project root with the pack in $PACK/gpu, logs under $OUT:
#   OUT=$OUT PACK=.dev-s11 BUDGET_S=200 bash scripts/check-s11-residual.sh
# B=32 benches alternating (default, =0, default, =0), a --profile run of each, then CudaVerifyTest with =0 (the fixtures
# made first), then B=16 (default).
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s11}
BUDGET_S=${BUDGET_S:-200}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
$R -version > /dev/null 2>&1
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt env KILN_EPI_RESIDUAL=0 $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt env KILN_EPI_RESIDUAL=0 $R $B --steps 30 --batch 32 --precision bf16
run 30 profile.txt $R $B --steps 3 --batch 32 --precision bf16 --profile
run 30 profile0.txt env KILN_EPI_RESIDUAL=0 $R $B --steps 3 --batch 32 --precision bf16 --profile
bash reference/fixtures.sh > /dev/null 2>&1; t "fixtures rc=$?"
run 60 tests.txt env KILN_EPI_RESIDUAL=0 $R test --include-tag gpu --include-classname '.*CudaVerifyTest' --details=tree
run 40 bench.txt $R $B --steps 30 --batch 16 --precision bf16
t done
cat "$OUT/times.txt"
grep -E "tests (found|successful|failed)" "$OUT/tests.txt"
grep -hE "^### |ms/step" "$OUT/bench.txt"
