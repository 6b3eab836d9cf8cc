#!/usr/bin/env bash
# Session 11, one H200: untuned bf16-C matmuls on WgmmaBf16.WIDE (128 x 256, 3 stages, unsplit) where N % 256 == 0 and the
# tiles make four rounds (default) against the 128 x 192 default everywhere (KILN_WGMMA_BF16_WIDE=0): B=32 benches in turns,
# PyTorch 2.11 torch.compile bf16 in the same call, CudaVerifyTest, a --profile of each, B=16.
#   OUT=$OUT PACK=.dev-s11 BUDGET_S=240 bash scripts/check-s11-wide.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s11}
BUDGET_S=${BUDGET_S:-240}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
$R -version > /dev/null 2>&1
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt env KILN_WGMMA_BF16_WIDE=0 $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt env KILN_WGMMA_BF16_WIDE=0 $R $B --steps 30 --batch 32 --precision bf16
run 90 bench.txt python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --precision bf16
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt $R $B --steps 30 --batch 16 --precision bf16
run 30 profile.txt $R $B --steps 3 --batch 32 --precision bf16 --profile
bash reference/fixtures.sh > /dev/null 2>&1; t "fixtures rc=$?"
run 70 tests.txt $R test --include-tag gpu --include-classname '.*CudaVerifyTest' --details=tree
t done
cat "$OUT/times.txt"
grep -hE "tests (found|successful|failed)" "$OUT/tests.txt"
grep -hE "^### |ms/step|tok/s" "$OUT/bench.txt"
grep -hE "wgmma_bf16" "$OUT/profile.txt" | cut -c1-90
