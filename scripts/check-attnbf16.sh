#!/usr/bin/env bash
# Branch attnbf16 on a 2-GPU CUDA machine (run from the repo root, the pack in .dev-attnbf16: gpu/ from
# /work/briefs/pack.sh, cubins/ from scripts/attnbf16/build.sh, attnbf16/ = scripts/attnbf16, reference/).
# Logs under $OUT. GPU 0: the PyTorch fixtures (written here), then CudaVerifyTest's bf16 cases on all of them.
# GPU 1 at the same time: the direct kernel check against PyTorch SDPA with kernel timings (attnbf16/check.py),
# then MODE=bench (default): the gpt2-d12 bf16 bench with and without the bf16 attention (KILN_ATTN_BF16=0);
# MODE=profile: the bf16 bench with --profile (time per kernel).
set -uo pipefail
cd .dev-attnbf16
export PYTHONUNBUFFERED=1
MODE=${MODE:-bench}
LIMIT=${LIMIT:-190}   # seconds for the whole script (the call's limit, less the tail)
BENCH="kiln.cli.Main bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 --precision bf16"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/machine.txt 2>&1
(timeout 75 bash reference/fixtures.sh > $OUT/fixtures.txt 2>&1; echo "rc $?" >> $OUT/fixtures.txt
 CUDA_VISIBLE_DEVICES=0 timeout $((LIMIT - SECONDS)) bash gpu/run.sh test --include-classname '.*CudaVerifyTest' \
   --include-methodname '.*matchesPyTorchInBf16' > $OUT/verify.txt 2>&1; echo "rc $?" >> $OUT/verify.txt) &
VERIFY=$!
export CUDA_VISIBLE_DEVICES=1
timeout 75 python3 attnbf16/check.py cubins --time > $OUT/direct.txt 2>&1; echo "rc $?" >> $OUT/direct.txt
if [ "$MODE" = bench ]; then
  timeout 95 bash gpu/run.sh $BENCH --steps 30 > $OUT/bench.txt 2>&1; echo "rc $?" >> $OUT/bench.txt
  KILN_ATTN_BF16=0 timeout $((LIMIT - SECONDS)) bash gpu/run.sh $BENCH --steps 30 > $OUT/bench-fp32attn.txt 2>&1; echo "rc $?" >> $OUT/bench-fp32attn.txt
else
  timeout $((LIMIT - SECONDS)) bash gpu/run.sh $BENCH --steps 10 --profile > $OUT/profile.txt 2>&1; echo "rc $?" >> $OUT/profile.txt
fi
wait $VERIFY
tail -n 25 $OUT/direct.txt $OUT/verify.txt $OUT/fixtures.txt
grep -E "attention|bench:" $OUT/profile.txt $OUT/bench*.txt 2>/dev/null | tail -n 30
