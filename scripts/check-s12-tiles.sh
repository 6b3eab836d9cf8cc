#!/usr/bin/env bash
# Session 12, one H200: three-consumer bf16 tiles (192 x 192, 192 x 128). The wgmma bf16 GPU tests (every tile of the space
# against the CPU), the B=32 bench untuned, `kiln tune` at that shape (every variant's time in tune.txt), the bench with its
# winners, PyTorch 2.11 torch.compile bf16 in the same call, and a --profile with the winners.
#   OUT=$OUT PACK=.dev-s12 BUDGET_S=420 bash scripts/check-s12-tiles.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s12}
BUDGET_S=${BUDGET_S:-420}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
run 150 tests.txt $R test --include-tag gpu --include-classname '.*(CudaWgmmaBf16.*|WgmmaBf16.*)Test' --details=tree
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 100 tune.txt $K tune --device cuda --model gpt2-d12 --seq 1024 --batch 32 --precision bf16
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 90 bench.txt python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --warmup 3 --precision bf16
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 40 profile.txt $R $B --steps 3 --batch 32 --precision bf16 --profile
cp /tmp/kc0/tuning.json "$OUT/" 2>/dev/null
t done
cat "$OUT/times.txt"
grep -E "tests (successful|failed)|✘" "$OUT/tests.txt" | head -20
grep -E "consumers=3|winner|→|->" "$OUT/tune.txt" | head -60
tail -5 "$OUT/tune.txt"
grep -hE "^### |ms/step|tok/s" "$OUT/bench.txt"
grep -E "wgmma_bf16" "$OUT/profile.txt" | head -20
