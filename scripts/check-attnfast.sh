#!/usr/bin/env bash
# Branch attnfast on a 2-GPU CUDA machine, run from the repo root with the pack in .dev-attnfast (gpu/ from
# /work/briefs/pack.sh, cubins/ from scripts/attnbf16/build.sh, attnbf16/ = scripts/attnbf16, reference/ =
# the repo's reference/, this script as check.sh). Logs under $OUT.
# MODE=profile (first call): GPU 0 the gpt2-d12 bf16 bench at B=32 with --profile (time per kernel); GPU 1 at
#   the same time the direct kernel check against PyTorch SDPA with timings (attnbf16/check.py --time: the
#   wgmma and mma.sync builds, PyTorch's flash and cuDNN backends), then CudaAttentionTest's bf16 cases.
# MODE=verify (default): GPU 0 the PyTorch fixtures, then CudaVerifyTest's bf16 cases; GPU 1 check.py --time,
#   CudaAttentionTest's bf16 cases, then (while time is left) the bf16 bench at B=32 without --profile.
set -uo pipefail
cd .dev-attnfast
export PYTHONUNBUFFERED=1
MODE=${MODE:-verify}
LIMIT=${LIMIT:-170}   # seconds for the whole script (the call's limit, less the tail)
BENCH="kiln.cli.Main bench --device cuda --model gpt2-d12 --batch 32 --seq 1024 --precision bf16 --steps 10 --warmup 2"
set -f   # the test patterns below are not globs
ATTN="--include-classname .*CudaAttentionTest --include-methodname .*bf16.*"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/machine.txt 2>&1
if [ "$MODE" = profile ]; then
  (CUDA_VISIBLE_DEVICES=0 timeout $((LIMIT - 5)) bash gpu/run.sh $BENCH --profile > $OUT/profile.txt 2>&1; echo "rc $?" >> $OUT/profile.txt) &
else
  (export CUDA_VISIBLE_DEVICES=0; timeout 80 bash reference/fixtures.sh > $OUT/fixtures.txt 2>&1; echo "rc $?" >> $OUT/fixtures.txt
   timeout $((LIMIT - SECONDS)) bash gpu/run.sh test --include-tag gpu --include-classname .*CudaVerifyTest --include-methodname .*matchesPyTorchInBf16 \
     > $OUT/verify.txt 2>&1; echo "rc $?" >> $OUT/verify.txt) &
fi
BG=$!
export CUDA_VISIBLE_DEVICES=1
timeout 80 python3 attnbf16/check.py cubins --time > $OUT/direct.txt 2>&1; echo "rc $?" >> $OUT/direct.txt
timeout $((LIMIT - SECONDS)) bash gpu/run.sh test --include-tag gpu $ATTN > $OUT/tests.txt 2>&1; echo "rc $?" >> $OUT/tests.txt
if [ "$MODE" != profile ] && [ $((LIMIT - SECONDS)) -gt 20 ]; then
  timeout $((LIMIT - SECONDS)) bash gpu/run.sh $BENCH > $OUT/bench.txt 2>&1; echo "rc $?" >> $OUT/bench.txt
fi
wait $BG
grep -E "^[a-z].*:|FAIL|PASS|^  [a-zP].*[0-9]$|rc " $OUT/direct.txt | tail -n 60
for f in tests verify; do [ -f $OUT/$f.txt ] && grep -E "tests (successful|failed)|rc |✘" $OUT/$f.txt | head -12; done
[ -f $OUT/fixtures.txt ] && tail -n 3 $OUT/fixtures.txt
grep -E "attention|dyy|bench:|rc " $OUT/profile.txt $OUT/bench.txt 2>/dev/null | tail -n 14
