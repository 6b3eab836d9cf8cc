#!/usr/bin/env bash
# Session 13's closing call, one H200: the forward's 128-key build beside variants in the direct harness (FAB_GROUP 8 / 96,
# POLY 1, 2 blocks an SM; interleaved rounds), then kiln (untuned, then after `kiln tune`) and PyTorch 2.11 torch.compile bf16
# in turns at B=32, and kiln at B=16.
#   OUT=$OUT PACK=.dev-s13 BUDGET_S=420 bash scripts/check-s13-final.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s13}
BUDGET_S=${BUDGET_S:-420}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
P="python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --warmup 3 --precision bf16"
run 70 attn.txt python3 scripts/attnbf16/check.py $PACK/cubins --time
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 90 bench.txt $P
run 40 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 110 tune.txt $K tune --device cuda --model gpt2-d12 --seq 1024 --batch 32 --precision bf16
echo "### tuned from here" >> "$OUT/bench.txt"
run 40 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 60 bench.txt $P
run 40 bench.txt $R $B --steps 30 --batch 32 --precision bf16
mv /tmp/kc0/tuning.json /tmp/tuning.json 2>/dev/null
echo "### untuned again" >> "$OUT/bench.txt"
run 40 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 30 bench.txt $R $B --steps 30 --batch 16 --precision bf16
cp /tmp/tuning.json "$OUT/" 2>/dev/null
t done
cat "$OUT/times.txt"
grep -E "PASS|FAIL" "$OUT/attn.txt" | tail -1
sed -n '/interleaved rounds/,/^$/p' "$OUT/attn.txt" | head -20
grep -hE "^### |ms/step|tok/s" "$OUT/bench.txt"
tail -3 "$OUT/tune.txt"
