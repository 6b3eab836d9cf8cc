#!/usr/bin/env bash
# Session 14, one H200: every kernel of one B=32 bf16 training step under Nsight Compute, kiln's and PyTorch
# torch.compile's (gpu__time_duration only, clocks and caches as the step leaves them), so the two programs' kernels compare
# one by one (the --profile columns do not: kiln's times each launch between events, PyTorch's is CUPTI's). Then a bench
# of each for this machine's step times. Summarise locally: python3 scripts/ncu_step.py $OUT/kiln.csv $OUT/torch.csv
#   OUT=$OUT PACK=.dev-s14 BUDGET_S=400 bash scripts/check-s14-ncu.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s14}
BUDGET_S=${BUDGET_S:-400}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
ncu_step
run 60 bench.txt $R $B --steps 20 --batch 32 --precision bf16
run 150 kiln-ncu.txt $N --log-file $OUT/kiln.csv $R $B --steps 1 --batch 32 --precision bf16 --cuda-profiler-range
run 70 bench.txt python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 20 --warmup 3 --precision bf16
run 150 torch-ncu.txt $N --log-file $OUT/torch.csv python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 2 --warmup 3 --precision bf16 --cuda-profiler-step
t done
cat "$OUT/times.txt"
grep -hE "^### |ms/step|tok/s" "$OUT/bench.txt"
wc -l "$OUT"/*.csv
