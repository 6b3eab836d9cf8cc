#!/usr/bin/env bash
# bf16 storage after the merge with main (epilogue fusion, row kernels, ZeRO-1) on one H200: the reference fixtures,
# verify at --precision bf16 on tiny / odd / llama-tiny / llama-odd / gemma-mqa / gemma-gqa through the CLI, the
# GPU tests (CudaVerifyTest, whose matchesPyTorchInBf16 is bf16's; FULL_TESTS=1: every gpu-tagged test), then a short bf16 bench, with
# the epilogue pass on and (EPI_OFF=1) off, and the one-line refusal of --zero 1 with bf16. Run on the device from a
# folder holding this branch's pack as gpu/, with generated/, reference/ and scripts/ beside it (the tests read
# generated/ and build/fixtures/ from the working directory):
#   OUT=/some/dir bash scripts/bf16-gpu-check.sh
set -uo pipefail
OUT=${OUT:-/tmp}
export CUDA_VISIBLE_DEVICES=0 NCCL_NVLS_ENABLE=0 KILN_CACHE=/tmp/kc PYTHONUNBUFFERED=1
R="bash gpu/run.sh"
T0=$(date +%s); t() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader
bash reference/fixtures.sh > "$OUT/fixtures.log" 2>&1; t "fixtures rc=$?"
# verify at bf16 through the CLI (Verify.Tolerances.BF16: 2e-2 logits, 5e-2 gradients, 1e-2 losses)
for f in tiny odd llama-tiny llama-odd gemma-mqa gemma-gqa; do
  F=build/fixtures/$f
  ( time timeout "${VERIFY_S:-60}" $R kiln.cli.Main verify --device cuda --model $F/model.bin --state $F/state.bin \
      --losses $F/losses.txt --precision bf16 ) > "$OUT/verify-$f.log" 2>&1
  t "verify $f bf16 rc=$?"; grep -E "max rel|OK|FAIL|rror|xception" "$OUT/verify-$f.log" | head -12
done
# the GPU tests: CudaVerifyTest (fp32, tf32 and the bf16 matchesPyTorchInBf16 on four fixtures), or (FULL_TESTS=1) every gpu-tagged test
if [ "${FULL_TESTS:-0}" = 1 ]; then SEL=(--include-tag gpu); else SEL=(--include-tag gpu --include-classname '.*CudaVerifyTest'); fi
( time timeout "${TEST_S:-150}" $R test "${SEL[@]}" --details=tree ) > "$OUT/tests.log" 2>&1
t "tests rc=$?"; grep -E "tests (successful|failed|skipped|aborted)|✘" "$OUT/tests.log" | head -30
# a short bf16 bench (SIMT matmuls with epilogues, row kernels only over fp32 tensors): untuned, --profile
B="kiln.cli.Main bench --device cuda --model gpt2-d12 --batch 4 --seq 1024 --steps 5 --warmup 2 --precision bf16"
( time timeout "${BENCH_S:-120}" $R $B --profile ) > "$OUT/bench.log" 2>&1; t "bench bf16 rc=$?"
grep -E "^bench: |ms/step|tok/s|MB|epilogue|Exception|rror" "$OUT/bench.log" | head -12
if [ "${EPI_OFF:-0}" = 1 ]; then
  ( time KILN_EPILOGUE=0 timeout "${OFF_S:-120}" $R $B ) > "$OUT/bench-epi-off.log" 2>&1; t "bench bf16 KILN_EPILOGUE=0 rc=$?"
  grep -E "^bench: |ms/step|tok/s|MB|Exception|rror" "$OUT/bench-epi-off.log" | head -8
fi
# ZeRO-1 with bf16 is refused with one line (no GPU work; needs no second GPU)
$R kiln.cli.Main bench --device cuda --model gpt2-tiny --gpus 2 --zero 1 --precision bf16 > "$OUT/zero-bf16.log" 2>&1
t "zero+bf16 rc=$? (expected 1)"; head -3 "$OUT/zero-bf16.log"
