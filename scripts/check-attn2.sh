#!/usr/bin/env bash
# Branch attn2 (bf16 attention: warpgroups a block per kernel, dq at two) on a 2-GPU CUDA machine,
# run from the repo root with the pack in .dev-attn2: gpu/ from /work/briefs/pack.sh, cubins/ from
# scripts/attnbf16/build.sh, attnbf16/ = scripts/attnbf16, reference/ = the repo's reference/, this script as
# check.sh. Logs under $OUT.
# GPU 0: the gpt2-d12 bf16 bench at B=32 (MODE=profile, the default: first with --profile, time per kernel;
#   then without), then the PyTorch fixtures and CudaVerifyTest's bf16 cases, each while time is left.
# GPU 1: the direct kernel check against PyTorch SDPA with timings (attnbf16/check.py --time: every cubin, the
#   build variants included; PyTorch's flash and cuDNN backends), then CudaAttentionTest (all cases) and FlashBf16Test.
set -uo pipefail
cd .dev-attn2
export PYTHONUNBUFFERED=1
MODE=${MODE:-profile}
LIMIT=${LIMIT:-225}   # seconds for the whole script (the call's limit, less the tail)
BENCH="kiln.cli.Main bench --device cuda --model gpt2-d12 --batch 32 --seq 1024 --precision bf16 --steps 20 --warmup 3"
set -f   # the test patterns below are not globs
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/machine.txt 2>&1
(export CUDA_VISIBLE_DEVICES=0
 if [ "$MODE" = profile ]; then
   timeout $((LIMIT - 100)) bash gpu/run.sh $BENCH --profile > $OUT/profile.txt 2>&1; echo "rc $?" >> $OUT/profile.txt
 fi
 if [ $((LIMIT - SECONDS)) -gt 120 ]; then
   timeout $((LIMIT - SECONDS - 60)) bash gpu/run.sh $BENCH > $OUT/bench.txt 2>&1; echo "rc $?" >> $OUT/bench.txt
 fi
 if [ $((LIMIT - SECONDS)) -gt 60 ]; then
   timeout $((LIMIT - SECONDS - 40)) bash reference/fixtures.sh > $OUT/fixtures.txt 2>&1; echo "rc $?" >> $OUT/fixtures.txt
   timeout $((LIMIT - SECONDS)) bash gpu/run.sh test --include-tag gpu --include-classname .*CudaVerifyTest --include-methodname .*matchesPyTorchInBf16 \
     > $OUT/verify.txt 2>&1; echo "rc $?" >> $OUT/verify.txt
 fi) &
BG=$!
export CUDA_VISIBLE_DEVICES=1
timeout 110 python3 attnbf16/check.py cubins --time > $OUT/direct.txt 2>&1; echo "rc $?" >> $OUT/direct.txt
timeout $((LIMIT - SECONDS)) bash gpu/run.sh test --include-tag gpu --include-classname '.*(CudaAttentionTest|FlashBf16Test)' > $OUT/tests.txt 2>&1
echo "rc $?" >> $OUT/tests.txt
wait $BG
grep -E "FAIL|PASS|dq alone|^  kiln|^  PyTorch|^timings|rc " $OUT/direct.txt | tail -n 60
for f in tests verify; do [ -f $OUT/$f.txt ] && grep -E "tests (successful|failed)|rc |✘" $OUT/$f.txt | head -12; done
[ -f $OUT/fixtures.txt ] && tail -n 2 $OUT/fixtures.txt
grep -E "attention|dyy|median|ms/step|rc " $OUT/profile.txt 2>/dev/null | tail -n 8
grep -E "median|ms/step|rc " $OUT/bench.txt 2>/dev/null | tail -n 3
