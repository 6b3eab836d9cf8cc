#!/usr/bin/env bash
# Session 9's integration call on nvidia-h200-x2 (issue 13), after merging this session's speed work. Run from the project
# root with the pack in $PACK/gpu (default .dev-s9), logs under $OUT (at most 8 files come back):
#   OUT=$OUT PACK=.dev-s9 BUDGET_S=270 bash scripts/gpu-session9.sh
# GPU 0: the fixtures, every gpu-tagged test but the two-GPU class, kiln's bench (gpt2-d12 bf16 B=32, a --profile run, B=16).
# GPU 1 at the same time: PyTorch's bench (bf16 B=32), kiln's B=32 bench again right after it, then the 124M state at
#        T=1024 and verify at bf16 against PyTorch's own bf16 losses.
# Then both GPUs: DataParallelGpuTest.
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s9}
BUDGET_S=${BUDGET_S:-270}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"   # t, left, run, pack_commands, verify_124m, lane0
pack_commands
$R -version > /dev/null 2>&1   # unpacks the runtime once, before the lanes

lane1() {
  export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
  run 90 torch.txt python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --precision bf16
  run 60 bench1.txt $R $B --steps 30 --batch 32 --precision bf16
  verify_124m
}
[ -d build/fixtures/odd ] || { bash reference/fixtures.sh > /dev/null 2>&1; t "fixtures rc=$?"; }
lane1 &
L1=$!
lane0 3
wait $L1
unset CUDA_VISIBLE_DEVICES
run 70 parity.txt $R test --include-tag gpu --include-classname '.*DataParallelGpuTest' --details=tree
t done
cat "$OUT/times.txt"
grep -E "tests (found|successful|failed)" "$OUT/tests.txt" "$OUT/parity.txt"
grep -hE "^### |ms/step|tok/s" "$OUT/bench.txt" "$OUT/bench1.txt" "$OUT/torch.txt"
grep -E "verify: |OK|FAIL" "$OUT/verify.txt" | tail -3
