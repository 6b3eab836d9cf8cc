#!/usr/bin/env bash
# Session 11, one H200: the norms' weight and bias gradients and the residual's bias gradient summed in the norm backward's
# resident row kernel (default, RowFusion COLSUM stages) against column reductions after it (KILN_ROW_COLSUM=0).
# Run from the project root with the pack in $PACK/gpu, logs under $OUT:
#   OUT=$OUT PACK=.dev-s11 BUDGET_S=240 bash scripts/check-s11-colsum.sh
# Every gpu-tagged CudaVerifyTest (fp32, tf32, bf16 on every fixture: the fused sums against PyTorch), B=32 benches in turns,
# a --profile run of each.
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s11}
BUDGET_S=${BUDGET_S:-240}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
$R -version > /dev/null 2>&1
bash reference/fixtures.sh > /dev/null 2>&1; t "fixtures rc=$?"
run 90 tests.txt $R test --include-tag gpu --include-classname '.*CudaVerifyTest' --details=tree
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt env KILN_ROW_COLSUM=0 $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt env KILN_ROW_COLSUM=0 $R $B --steps 30 --batch 32 --precision bf16
run 30 profile.txt $R $B --steps 3 --batch 32 --precision bf16 --profile
run 30 profile0.txt env KILN_ROW_COLSUM=0 $R $B --steps 3 --batch 32 --precision bf16 --profile
t done
cat "$OUT/times.txt"
grep -E "tests (found|successful|failed)" "$OUT/tests.txt"
grep -hE "^### |ms/step" "$OUT/bench.txt"
grep -hE "row dout|colreduce" "$OUT/profile.txt" | cut -c1-120
