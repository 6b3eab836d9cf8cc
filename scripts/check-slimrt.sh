#!/usr/bin/env bash
# Device check of branch slimrt (issue 18: runtime/cuda restructured: CudaExecutor.launches writes each Work kind's launch
# geometry once and serves the tuner too, Bf16Matmul's two launch paths share one builder, Cuda.medianMs, the tuner's CUDA
# utilities as templates/cuda/tuner_utilities.cu). Run on the device machine (one H200 is enough) from the repo root with
# the pack in .dev-slimrt/gpu (/work/briefs/pack.sh's .gpu); logs under $OUT. Within BUDGET seconds (default 220): the
# bench that must match main's step time (bf16 B=8 T=1024: 23.5 ms in session 6), then the GPU tests that run the reshaped
# code (every launch kind through CudaExecutor.launches, the transposed and row-chunked wgmma copies, split-K, the tuner).
set -uo pipefail
OUT=${OUT:-/tmp/check-slimrt}; mkdir -p "$OUT"
D=${DEV:-.dev-slimrt}
END=$(( $(date +%s) + ${BUDGET:-220} ))
left() { local l=$(( END - $(date +%s) )); [ "$l" -gt 5 ] && echo "$l" || echo 5; }
bash "$D/gpu/run.sh" -version > "$OUT/java.txt" 2>&1   # unpacks the runtime once
nvidia-smi --query-gpu=index,name,driver_version --format=csv > "$OUT/gpus.txt" 2>&1
timeout "$(left)" bash "$D/gpu/run.sh" kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024 --steps 10 --warmup 2 --batch 8 \
  --precision bf16 > "$OUT/bench-bf16.log" 2>&1
timeout "$(left)" bash reference/fixtures.sh > "$OUT/fixtures.log" 2>&1   # CudaVerifyTest compares with PyTorch's files
timeout "$(left)" bash "$D/gpu/run.sh" test --include-tag gpu \
  --include-classname '.*(CudaTest|NvrtcTest|CudaWgmmaTest|CudaWgmmaTransposeTest|CudaWgmmaRowChunkTest|CudaColumnReduceTest|CudaWgmmaBf16Test|CudaWgmmaBf16SplitKTest|CudaTunerTest|CudaVerifyTest)' \
  --details=tree > "$OUT/tests.log" 2>&1
for f in "$OUT"/*.log; do echo "== $f"; grep -E "bench: [0-9]|bench: min|ms/step|tests (successful|failed|skipped)|FAILED|Exception|✘" "$f" | head -12; done
