#!/usr/bin/env bash
# Session 14, one H200: the packed build's tiles against another build's ($PACK/old: its classes, the same jars and JRE
# as $PACK/gpu), B=32 benches in turns with PyTorch 2.11 torch.compile bf16 in the same call; the matmul launches of one
# step under Nsight Compute on the packed build; then GPU tests (TESTS=lowering: CudaWgmmaBf16*, CudaVerifyTest and the
# bf16 lowering's classes; TESTS=all: every gpu-tagged test) and the 124M bf16 verify. Session 14 ran it with session 13's
# rules as the old build (TESTS=lowering, BUDGET_S=500), then with the first sweep's rules (TESTS=all, BUDGET_S=570).
#   OUT=$OUT PACK=.dev-s14 BUDGET_S=500 TESTS=lowering bash scripts/check-s14-shapes.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s14}
BUDGET_S=${BUDGET_S:-480}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
O="bash $PACK/old/run.sh"
P="python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --warmup 3 --precision bf16"
ncu_step -k regex:wgmma_bf16
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt $O $B --steps 30 --batch 32 --precision bf16
run 40 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 40 bench.txt $O $B --steps 30 --batch 32 --precision bf16
run 80 bench.txt $P
run 40 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 40 bench.txt $O $B --steps 30 --batch 32 --precision bf16
run 30 bench.txt $R $B --steps 30 --batch 16 --precision bf16
run 50 ncu.txt $N --log-file $OUT/new.csv $R $B --steps 1 --batch 32 --precision bf16 --cuda-profiler-range
run 100 fixtures.txt bash reference/fixtures.sh
if [ "${TESTS:-lowering}" = all ]; then
  run 260 tests.txt $R test --include-tag gpu
else
  run 150 tests.txt $R test --include-tag gpu --include-classname '.*(CudaWgmmaBf16.*Test|CudaVerifyTest|Bf16SplitKTest|Bf16WgmmaLoweringTest)'
fi
K="$R kiln.cli.Main"
verify_124m
t done
cat "$OUT/times.txt"
grep -hE "^### |ms/step|tok/s" "$OUT/bench.txt"
grep -E "tests (successful|failed)|containers failed" "$OUT/tests.txt"
grep -E "FAIL|OK|loss" "$OUT/verify.txt" | tail -14
