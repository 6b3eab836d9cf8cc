#!/usr/bin/env bash
# Device check of "epilogues off for bf16 matmuls" (issue 13; kiln.codegen.Epilogue.Mode.AUTO, the default): one H200,
# from the repo root, pack in $DEV/gpu; logs under $OUT; within BUDGET_S. GPT-2 124M bf16 B=32 T=1024: the default,
# KILN_EPILOGUE=1 (every epilogue fused, the path before), the default with --recompute none, the default with
# --profile; then the fixtures and CudaVerifyTest (fp32, tf32, bf16 and bf16 with every epilogue fused) and the bf16
# wgmma tests.
set -uo pipefail
OUT=${OUT:-/tmp/check-epioff}; mkdir -p "$OUT"; D=${DEV:-.dev-s8}; BUDGET_S=${BUDGET_S:-280}
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
export KILN_CACHE=/tmp/kc-s8 DROP='WARNING: Using incubator'
bash "$D/gpu/run.sh" -version > "$OUT/java.txt" 2>&1
B="bash $D/gpu/run.sh kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024 --steps 20 --warmup 3 --batch 32 --precision bf16"
run 60 bench.txt $B
KILN_EPILOGUE=1 run 60 bench.txt $B
run 60 bench.txt $B --recompute none
run 60 profile.txt $B --profile
run 90 tests.txt bash reference/fixtures.sh
run 150 tests.txt bash "$D/gpu/run.sh" test --include-tag gpu --include-classname '.*(CudaVerifyTest|CudaWgmmaBf16.*Test)'
cat "$OUT/times.txt"; grep -E "^### |ms/step" "$OUT/bench.txt"
grep -E "tests (found|successful|failed)|✘" "$OUT/tests.txt" | head
