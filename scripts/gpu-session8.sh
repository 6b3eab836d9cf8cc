#!/usr/bin/env bash
# Session 8's integration call on nvidia-h200-x2, after merging (issue 13) the bf16 epilogue policy, copy elision, lnfold,
# epicheap, the split-model refit from tiles and the CUDA recompute default, and (issue 18) slimmore, slimexec, slimdup and
# the second round (slimcli2, slimdsl, slimcg2). Run from the project root with the pack in $PACK/gpu (default .dev-s8),
# logs under $OUT (at most 8 files come back):   OUT=$OUT PACK=.dev-s8 BUDGET_S=560 bash scripts/gpu-session8.sh
# GPU 0: the fixtures, every gpu-tagged test but the two-GPU class, kiln's bench (gpt2-d12 bf16 B=32, then B=16), a bf16 B=32
#        --profile run.
# GPU 1: PyTorch's bench (bf16 B=32), kiln's B=32 bench with KILN_EPILOGUE=0 and with --recompute gelu (the A/Bs of this
#        session's defaults), then the 124M state at T=1024 and verify at bf16 against PyTorch's own bf16 losses.
# Then both GPUs (runtime/multi and the NCCL binding were cut by slimmore and slimexec): 10 gpt2-tiny bf16 steps on one GPU at
#        B=8, two at B=4 plain and --zero 1 (checkpoint at 5, resumed), and DataParallelGpuTest.
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s8}
BUDGET_S=${BUDGET_S:-560}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"   # t, left, run, pack_commands, verify_124m, lane0, tiny_parity
pack_commands
$R -version > /dev/null 2>&1   # unpacks the runtime once, before the lanes

lane1() {
  export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
  run 90 torch.txt python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --precision bf16
  KILN_EPILOGUE=0 run 60 bench1.txt $R $B --steps 30 --batch 32 --precision bf16
  run 40 bench1.txt $R $B --steps 30 --batch 32 --precision bf16 --recompute gelu
  run 40 bench1.txt $R $B --steps 30 --batch 32 --precision bf16
  verify_124m
}
[ -d build/fixtures/odd ] || { bash reference/fixtures.sh > /dev/null 2>&1; t "fixtures rc=$?"; }
lane1 &
L1=$!
lane0 3
wait $L1
unset CUDA_VISIBLE_DEVICES
tiny_parity
run 90 parity.txt $R test --include-tag gpu --include-classname '.*DataParallelGpuTest' --details=tree
t done
cat "$OUT/times.txt"
grep -E "tests (found|successful|failed)" "$OUT/tests.txt" "$OUT/parity.txt"
grep -hE "^### |ms/step" "$OUT/bench.txt" "$OUT/bench1.txt"
grep -E "verify: |OK|FAIL" "$OUT/verify.txt" | tail -3
