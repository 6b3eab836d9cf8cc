#!/usr/bin/env bash
# Branch attnfast on a 2-GPU CUDA machine, run from the repo root with the pack in .dev-attnfast (gpu/ from
# /work/briefs/pack.sh, cubins/ from scripts/attnbf16/build.sh, attnbf16/ = scripts/attnbf16, this script as
# check.sh). Logs under $OUT. GPU 0: the gpt2-d12 bf16 bench at B=32 with --profile (time per kernel).
# GPU 1 at the same time: the direct kernel check against PyTorch SDPA with timings (attnbf16/check.py
# --time: the wgmma and mma.sync builds, PyTorch's flash and cuDNN backends), then the gpu-tagged tests
# TESTS names (default: CudaAttentionTest's bf16 cases, which need no fixtures).
set -uo pipefail
cd .dev-attnfast
export PYTHONUNBUFFERED=1
LIMIT=${LIMIT:-170}   # seconds for the whole script (the call's limit, less the tail)
TESTS=${TESTS:---include-classname .*CudaAttentionTest --include-methodname .*bf16.*}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/machine.txt 2>&1
(CUDA_VISIBLE_DEVICES=0 timeout $((LIMIT - 5)) bash gpu/run.sh kiln.cli.Main bench --device cuda --model gpt2-d12 --batch 32 --seq 1024 \
   --precision bf16 --steps 10 --warmup 2 --profile > $OUT/profile.txt 2>&1; echo "rc $?" >> $OUT/profile.txt) &
BENCH=$!
export CUDA_VISIBLE_DEVICES=1
timeout 80 python3 attnbf16/check.py cubins --time > $OUT/direct.txt 2>&1; echo "rc $?" >> $OUT/direct.txt
set -f   # the patterns in TESTS are not globs
timeout $((LIMIT - SECONDS)) bash gpu/run.sh test --include-tag gpu $TESTS > $OUT/tests.txt 2>&1; echo "rc $?" >> $OUT/tests.txt
wait $BENCH
cat $OUT/direct.txt | tail -n 60
grep -E "tests (successful|failed)|rc |✘|MethodSource|Exception" $OUT/tests.txt | head -20
grep -E "attention|dyy|bench:|rc " $OUT/profile.txt | tail -n 14
