#!/usr/bin/env bash
# Device check of branch pipeline (issue 18: one lowering pipeline, one Work type, one tuner frame): run on the device
# machine (one H200) from the repo root with the pack in .dev-pipeline/gpu (/work/briefs/pack.sh's .gpu); logs under $OUT.
# Within BUDGET seconds (default 300): the GPU tests that run the reshaped code (CudaExecutor's plan over Work, CudaTuner's
# measurement inside Tuner.search, CudaLowering as Lowering's backend), then benches that must match main's figures
# (docs/perf.md "The last call": bf16 B=8 27.5 ms, tf32 B=8 48.1 ms) and a short tune at tf32 (the tuner's table).
set -uo pipefail
OUT=${OUT:-/tmp/check-pipeline}; mkdir -p "$OUT"
D=${DEV:-.dev-pipeline}
END=$(( $(date +%s) + ${BUDGET:-300} ))
left() { local l=$(( END - $(date +%s) )); [ "$l" -gt 5 ] && echo "$l" || echo 5; }
K() { timeout "$(left)" bash "$D/gpu/run.sh" kiln.cli.Main "$@"; }
bash "$D/gpu/run.sh" -version > "$OUT/java.txt" 2>&1   # unpacks the runtime once
nvidia-smi --query-gpu=index,name,driver_version --format=csv > "$OUT/gpus.txt" 2>&1
timeout "$(left)" bash reference/fixtures.sh > "$OUT/fixtures.log" 2>&1   # CudaVerifyTest compares with PyTorch's files
timeout "$(left)" bash "$D/gpu/run.sh" test --include-tag gpu \
  --include-classname '.*(CudaVerifyTest|CudaTunerTest|CudaWgmmaTest|CudaWgmmaRowChunkTest|CudaColumnReduceTest|CudaWgmmaBf16Test)' \
  --details=tree > "$OUT/tests.log" 2>&1
K bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 --steps 20 --precision bf16 > "$OUT/bench-bf16.log" 2>&1
K bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 --steps 20 --precision tf32 > "$OUT/bench-tf32.log" 2>&1
KILN_CACHE=/tmp/kiln-tune-check K tune --device cuda --model gpt2-tiny --batch 4 --seq 64 --precision tf32 > "$OUT/tune-tf32.log" 2>&1
for f in "$OUT"/*.log; do echo "== $f"; grep -E "bench: [0-9]|bench: min|tune: .* winners|one launch of each|tests (successful|failed)|FAILED|Exception" "$f" | head -8; done
