#!/usr/bin/env bash
# bf16 with ZeRO-1 (issues 13 + 14) on nvidia-h200-x2, one device call. Run from a folder holding the pack as gpu/ with
# reference/ beside it (as scripts/gpu-integrate.sh):
#   OUT=$OUT bash scripts/check-bf16zero.sh
# parity.txt: 10 gpt2-tiny steps at bf16, --gpus 1 --batch 8 against --gpus 2 --batch 4 (plain, then --zero 1), the logs'
#   step, loss and norm side by side; then the --zero 1 run resumed from its step-5 checkpoint (steps 6..10 again).
# bench.txt: gpt2-d12 bf16 B=32 per GPU T=1024, 30 steps: one GPU (run on GPU 1 while GPU 0 does the parity reference),
#   --gpus 2 --zero 1, then --gpus 2 (plain) if the budget allows. tests.txt: DataParallelGpuTest, if the budget allows.
# times.txt: each step's exit status and the seconds. BUDGET_S (default 280) bounds the whole call.
set -uo pipefail
OUT=${OUT:-/tmp}
BUDGET_S=${BUDGET_S:-280}
K="bash gpu/run.sh kiln.cli.Main"
DROP='^train .*%'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"   # t, left, run
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader > "$OUT/times.txt"; date -u >> "$OUT/times.txt"
C="train --device cuda --model gpt2-tiny --seq 64 --steps 10 --warmup 2 --precision bf16 --val-every 0 --val-batches 2 --sample-tokens 0"
BN="bench --device cuda --model gpt2-d12 --batch 32 --seq 1024 --steps 30 --precision bf16"

# GPU 1 compiles the d12 bf16 kernels (the one-GPU bench, the baseline of the scaling) while GPU 0 runs the parity reference
( CUDA_VISIBLE_DEVICES=1 run 120 bench.txt $K $BN --gpus 1 ) &
L=$!
CUDA_VISIBLE_DEVICES=0 run 60 parity.txt $K $C --checkpoint-every 0 --gpus 1 --batch 8 --out /tmp/b1
wait $L
zero_parity
run 90 bench.txt $K $BN --gpus 2 --zero 1
run 70 bench.txt $K $BN --gpus 2
# the API-level twin (DataParallelGpuTest: fp32 plain and ZeRO-1, and bf16 ZeRO-1 against one GPU at 2B), if time is left
run 90 tests.txt bash gpu/run.sh test --include-tag gpu --include-classname '.*DataParallelGpuTest' --details=tree
t "done"
