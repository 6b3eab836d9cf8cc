#!/usr/bin/env bash
# Branch attnbf16 on a 2-GPU CUDA machine (run from the repo root, the pack in .dev-attnbf16: gpu/ from
# /work/briefs/pack.sh, cubins/ from scripts/attnbf16/build.sh, attnbf16/ = scripts/attnbf16, reference/).
# Logs under $OUT. MODE=check (default): GPU 0 the direct kernel check + kernel timings, GPU 1 the gpt2-d12 bf16
# bench with and without the bf16 attention (KILN_ATTN_BF16=0), then CudaVerifyTest's bf16 cases on GPU 0
# over fixtures written here. MODE=bench: the two benches only.
set -uo pipefail
cd .dev-attnbf16
export PYTHONUNBUFFERED=1
MODE=${MODE:-check}
BENCH="kiln.cli.Main bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 --steps 30 --precision bf16"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/machine.txt 2>&1
if [ "$MODE" = check ]; then
  (bash reference/fixtures.sh > $OUT/fixtures.txt 2>&1) &
  FIX=$!
  (CUDA_VISIBLE_DEVICES=0 timeout 90 python3 attnbf16/check.py cubins --time > $OUT/direct.txt 2>&1; echo "rc $?" >> $OUT/direct.txt) &
  DIRECT=$!
fi
(export CUDA_VISIBLE_DEVICES=1
 timeout 100 bash gpu/run.sh $BENCH > $OUT/bench.txt 2>&1; echo "rc $?" >> $OUT/bench.txt
 KILN_ATTN_BF16=0 timeout 80 bash gpu/run.sh $BENCH > $OUT/bench-fp32attn.txt 2>&1; echo "rc $?" >> $OUT/bench-fp32attn.txt) &
BENCHES=$!
if [ "$MODE" = check ]; then
  wait $DIRECT; wait $FIX
  CUDA_VISIBLE_DEVICES=0 timeout 120 bash gpu/run.sh test --select-method 'kiln.runtime.CudaVerifyTest#matchesPyTorchInBf16(java.lang.String)' \
    > $OUT/verify.txt 2>&1; echo "rc $?" >> $OUT/verify.txt
fi
wait $BENCHES
tail -n 40 $OUT/*.txt
