#!/usr/bin/env bash
# Device check of branch slimdup (issue 18: the flash-attention .cuh files' repeated blocks as shared device functions
# and macros). Locally every generated attention kernel compiled (nvcc -arch=sm_90a) to the same registers and spills
# but llama-tf32's forward (208 -> 206 registers); this runs the kernels. One H200, from the repo root, pack in
# $DEV/gpu; logs under $OUT; within BUDGET_S: the fixtures, then the gpu tests that run attention (CudaAttentionTest:
# fp32/TF32 at HS 128, 40, 32, 64 with grouped- and multi-query heads, the wide dkdv kernel and the cluster paths, and
# the bf16 kernels; CudaVerifyTest: GPT-2, Llama and Gemma end to end at fp32, tf32 and bf16; FlashBf16*), then one
# profiled GPT-2 124M bf16 B=32 bench for the attention kernels' times (before: fwd 3.5, dq 3.8, dkdv 5.4 ms a step).
set -uo pipefail
OUT=${OUT:-/tmp/check-slimdup}; mkdir -p "$OUT"; D=${DEV:-.dev-s8}; BUDGET_S=${BUDGET_S:-320}
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
export KILN_CACHE=/tmp/kc-slimdup DROP='WARNING: Using incubator'
run 90 tests.txt bash reference/fixtures.sh
run 170 tests.txt bash "$D/gpu/run.sh" test --include-tag gpu --include-classname '.*(CudaAttention.*|CudaVerifyTest|FlashBf16.*)'
run 60 profile.txt bash "$D/gpu/run.sh" kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024 --steps 10 --warmup 3 \
  --batch 32 --precision bf16 --profile
cat "$OUT/times.txt"
grep -E "tests (found|successful|failed)|✘" "$OUT/tests.txt" | head
grep -E "ms/step|attention" "$OUT/profile.txt" | head -8
