#!/usr/bin/env bash
# Session 11's closing call, one H200: every gpu-tagged test but the two-GPU class (default: residual adds in the norms'
# rows, column sums off), CudaVerifyTest again with KILN_ROW_COLSUM=1 (the sums in the rows, opt-in), the 124M bf16 verify
# at T=1024, then B=32 benches of kiln (twice) beside PyTorch 2.11 torch.compile bf16 in the same call, and B=16.
#   OUT=$OUT PACK=.dev-s11 BUDGET_S=420 bash scripts/check-s11-final.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s11}
BUDGET_S=${BUDGET_S:-420}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
$R -version > /dev/null 2>&1
bash reference/fixtures.sh > /dev/null 2>&1; t "fixtures rc=$?"
run 200 tests.txt $R test --include-tag gpu --exclude-classname '.*DataParallelGpuTest' --details=tree
run 70 tests1.txt env KILN_ROW_COLSUM=1 $R test --include-tag gpu --include-classname '.*CudaVerifyTest' --details=tree
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 90 bench.txt python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --precision bf16
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt $R $B --steps 30 --batch 16 --precision bf16
verify_124m
t done
cat "$OUT/times.txt"
grep -hE "tests (found|successful|failed)" "$OUT/tests.txt" "$OUT/tests1.txt"
grep -hE "^### |ms/step|tok/s" "$OUT/bench.txt"
grep -E "verify:|OK|FAIL" "$OUT/verify.txt" | tail -5
