#!/usr/bin/env bash
# Session 12, one H200: the folded index decode (CudaRenderer.decode). Every gpu-tagged test but the two-GPU class, then B=32
# benches beside PyTorch 2.11 torch.compile bf16, and a --profile (the GELU and dGELU maps' rows are what moved).
#   OUT=$OUT PACK=.dev-s12 BUDGET_S=420 bash scripts/check-s12-decode.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s12}
BUDGET_S=${BUDGET_S:-420}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
bash reference/fixtures.sh > /dev/null 2>&1; t "fixtures rc=$?"
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 90 bench.txt python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --warmup 3 --precision bf16
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 40 profile.txt $R $B --steps 5 --batch 32 --precision bf16 --profile
run 220 tests.txt $R test --include-tag gpu --exclude-classname '.*DataParallelGpuTest' --details=tree
t done
cat "$OUT/times.txt"
grep -hE "tests (found|successful|failed)|✘" "$OUT/tests.txt" | head -12
grep -hE "^### |ms/step|tok/s" "$OUT/bench.txt"
grep -E "map |row |colreduce" "$OUT/profile.txt" | head -14
