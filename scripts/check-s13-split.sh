#!/usr/bin/env bash
# Session 13, one H200: long rows split over thread-block clusters (CudaRows.split: on sm_90 the bf16 classifier's 50,304-logit
# rows in 7 blocks a row, each part in registers). The fixtures (reference/fixtures.sh), CudaVerifyTest on the GPU (every
# precision and fixture, and bf16 with every splittable row kernel in 3 blocks a row), B=32 benches in turns: the default and
# KILN_ROW_SPLIT=1 (a block a row, as before); PyTorch in the same call; a --profile of both; the 124M bf16 verify against
# PyTorch's bf16 losses (the classifier split by the default rule). (Its first run, on commit e7d0712: streamed parts, 4 a row.)
#   OUT=$OUT PACK=.dev-s13 BUDGET_S=560 bash scripts/check-s13-split.sh   (needs the split rows: commit eb9dc4b, removed after)
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s13}
BUDGET_S=${BUDGET_S:-560}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
run 150 fixtures.txt bash reference/fixtures.sh
run 200 tests.txt $R test --include-tag gpu --include-classname '.*CudaVerifyTest' --details=tree
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt env KILN_ROW_SPLIT=1 $R $B --steps 30 --batch 32 --precision bf16
run 40 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 40 bench.txt env KILN_ROW_SPLIT=1 $R $B --steps 30 --batch 32 --precision bf16
run 40 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 90 bench.txt python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --warmup 3 --precision bf16
run 35 profile.txt $R $B --steps 3 --batch 32 --precision bf16 --profile
run 35 profile.txt env KILN_ROW_SPLIT=1 $R $B --steps 3 --batch 32 --precision bf16 --profile
verify_124m
t done
cat "$OUT/times.txt"
tail -3 "$OUT/fixtures.txt"
grep -E "tests (successful|failed)|✘" "$OUT/tests.txt" | head -20
grep -hE "^### |ms/step|tok/s" "$OUT/bench.txt"
grep -E "^### | row head|steps? ?[0-9]+:" "$OUT/profile.txt" | head -20
grep -E "OK|FAIL|loss|step" "$OUT/verify.txt" | tail -25
