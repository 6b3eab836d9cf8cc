#!/usr/bin/env bash
# Device check of "light epilogues on bf16" (issue 13, branch epicheap; kiln.codegen.Epilogue.Mode.AUTO fuses bias and
# residual adds into the bf16 wgmma matmuls): one H200, from the repo root, pack in $DEV/gpu; logs under $OUT; within
# BUDGET_S. GPT-2 124M bf16 B=32 T=1024: KILN_EPILOGUE=0 (no epilogue: the reference) then the default (light epilogues
# fused), one after the other; the fixtures and the gpu tests of the bf16 kernels (CudaVerifyTest, CudaWgmmaBf16*Test);
# the default with --profile, then KILN_EPILOGUE=0 with --profile; if time is left, the SASS of the qkv + bias kernel and
# a short Nsight Compute look at the epilogue launches of one B=8 step. AB=1: only the benches (bare, default, twice), then
# the default's profile.
set -uo pipefail
OUT=${OUT:-/tmp/check-epicheap}; mkdir -p "$OUT"; D=${DEV:-.dev-epicheap}; BUDGET_S=${BUDGET_S:-190}
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
export PATH=$PATH:/usr/local/cuda/bin KILN_CACHE=/tmp/kc-epicheap DROP='WARNING: Using incubator'
B="bash $D/gpu/run.sh kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024 --steps 20 --warmup 3 --batch 32 --precision bf16"
if [ "${AB:-0}" = 1 ]; then
  # the second call: only the A/B, twice over, then the default's profile
  for r in 1 2; do KILN_EPILOGUE=0 run 45 bench.txt $B; run 45 bench.txt $B; done
  run 30 profile.txt $B --profile
  cat "$OUT/times.txt"; grep -E "^### |ms/step|launches with an epilogue" "$OUT/bench.txt"
  exit 0
fi
KILN_EPILOGUE=0 run 45 bench.txt $B
run 45 bench.txt $B
run 40 tests.txt bash reference/fixtures.sh
run 70 tests.txt bash "$D/gpu/run.sh" test --include-tag gpu --include-classname '.*(CudaVerifyTest|CudaWgmmaBf16.*Test)'
run 30 profile.txt $B --profile
KILN_EPILOGUE=0 run 30 profile.txt $B --profile
if command -v cuobjdump >/dev/null || [ -x /usr/local/cuda/bin/cuobjdump ]; then
  G=${GEN:-generated/cuda/gpt2-bf16-sm90}; K=$G/$(grep -o 'k_wgmma_bf16_[0-9a-f]*` h0.attn.qkv.r1+' $G/INDEX.md | cut -d'`' -f1)
  run 20 sass.txt bash -c "nvcc -cubin -arch=sm_90a -w -o /tmp/qkv.cubin $K.cu && cuobjdump -sass /tmp/qkv.cubin > $OUT/qkv.sass; wc -l $OUT/qkv.sass"
fi
MIN_LEFT_S=25 run 40 ncu.txt ncu --clock-control none --graph-profiling node -k regex:wgmma_bf16 --launch-count 12 \
  --section SpeedOfLight --section WarpStateStats --csv --page details \
  bash $D/gpu/run.sh kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024 --steps 1 --warmup 0 --batch 8 --precision bf16
cat "$OUT/times.txt"; grep -E "^### |ms/step|launches with an epilogue" "$OUT/bench.txt"
grep -E "tests (found|successful|failed)|✘" "$OUT/tests.txt" | head
