#!/usr/bin/env bash
# Device check of branch lnfold (issue 13): row groups that start at an element map (RowFusion.Builder.startMap: the bias
# and residual adds fold into the next layernorm's row kernel, the residual gradient's first term into the layernorm
# backward's). One H200, from the repo root, pack in $DEV/gpu; logs under $OUT; within BUDGET_S. GPT-2 124M bf16 B=32
# T=1024: the default, KILN_ROW_MAPS=0 (the groups before), the default again, the default with --profile; then the
# fixtures and the GPU tests of the row, column-reduce and verify paths.
set -uo pipefail
OUT=${OUT:-/tmp/check-lnfold}; mkdir -p "$OUT"; D=${DEV:-.dev-lnfold}; BUDGET_S=${BUDGET_S:-190}
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
export KILN_CACHE=/tmp/kc-lnfold DROP='WARNING: Using incubator'
bash "$D/gpu/run.sh" -version > "$OUT/java.txt" 2>&1
B="bash $D/gpu/run.sh kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024 --steps 20 --warmup 3 --batch 32 --precision bf16"
run 40 bench.txt $B
KILN_ROW_MAPS=0 run 40 bench.txt $B
run 30 bench.txt $B
run 30 profile.txt $B --profile
run 60 tests.txt bash reference/fixtures.sh
run 120 tests.txt bash "$D/gpu/run.sh" test --include-tag gpu --include-classname '.*(CudaVerifyTest|CudaTest|CudaColumnReduceTest)'
cat "$OUT/times.txt"; grep -E "^### |ms/step" "$OUT/bench.txt"
grep -E "tests (found|successful|failed)|✘" "$OUT/tests.txt" | head
