#!/usr/bin/env bash
# Session 12's closing call, two H200s (nvidia-h200-x2). GPU 1: every gpu-tagged test but the two-GPU class. GPU 0: B=32
# benches untuned beside PyTorch 2.11 torch.compile bf16, then `kiln tune` (with the tuner's 2 % margin and the
# epilogue rule) and benches with its winners, and B=16. Then both GPUs: the two-GPU tests and bf16 benches at B=32 a GPU,
# plain and --zero 1.
#   OUT=$OUT PACK=.dev-s12 BUDGET_S=520 bash scripts/check-s12-final.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s12}
BUDGET_S=${BUDGET_S:-520}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
bash reference/fixtures.sh > /dev/null 2>&1; t "fixtures rc=$?"
(export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
 run 260 tests.txt $R test --include-tag gpu --exclude-classname '.*DataParallelGpuTest' --details=tree) &
LANE1=$!
(export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
 run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
 run 90 bench.txt python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --warmup 3 --precision bf16
 run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
 run 45 bench.txt $R $B --steps 30 --batch 16 --precision bf16
 run 90 tune.txt $K tune --device cuda --model gpt2-d12 --seq 1024 --batch 32 --precision bf16
 run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
 run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
 cp /tmp/kc0/tuning.json "$OUT/" 2>/dev/null) &
LANE0=$!
wait $LANE0 $LANE1
export KILN_CACHE=/tmp/kc2
run 90 tests2.txt $R test --include-tag gpu --include-classname '.*DataParallelGpuTest' --details=tree
run 60 multi.txt $R $B --steps 20 --batch 32 --precision bf16 --gpus 2
run 50 multi.txt $R $B --steps 20 --batch 32 --precision bf16 --gpus 2 --zero 1
t done
cat "$OUT/times.txt"
grep -hE "tests (found|successful|failed)|✘" "$OUT/tests.txt" "$OUT/tests2.txt" | head -20
grep -hE "^### |ms/step|tok/s" "$OUT/bench.txt" "$OUT/multi.txt"
grep -E "best|one launch" "$OUT/tune.txt" | grep -v "^tune: [0-9]" | tail -18
