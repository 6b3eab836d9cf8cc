#!/usr/bin/env bash
# Branch bf16wire on nvidia-h200-x2 (the bf16 wgmma matmul wired into --precision bf16): run on the device from a folder
# holding this branch's pack as gpu/ with reference/ beside it (the tests read build/fixtures/ from the working directory):
#   OUT=/some/dir bash scripts/check-bf16wire.sh
# GPU 1: the fixtures, CudaVerifyTest (every fixture at fp32, tf32 and bf16) and CudaWgmmaBf16Test, then a 124M state at
#        T=1024 from PyTorch (float64) and verify at bf16;
# GPU 0 at the same time: bench bf16 B=8 and B=16, tf32 B=8 (the control), then bf16 B=8 --profile (time per kernel).
set -uo pipefail
OUT=${OUT:-/tmp}
export NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1
R="bash gpu/run.sh"
T0=$(date +%s); t() { echo "[$(( $(date +%s) - T0 )) s] $*" >> "$OUT/times.txt"; }
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader > "$OUT/times.txt"
B="kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024"
lane0() {
  export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
  timeout "${BENCH_S:-75}" $R $B --batch 8 --steps 30 --precision bf16 > "$OUT/bench-bf16-b8.txt" 2>&1; t "bench bf16 B=8 rc=$?"
  timeout "${BENCH_S:-60}" $R $B --batch 16 --steps 30 --precision bf16 > "$OUT/bench-bf16-b16.txt" 2>&1; t "bench bf16 B=16 rc=$?"
  timeout "${BENCH_S:-50}" $R $B --batch 8 --steps 30 --precision tf32 > "$OUT/bench-tf32-b8.txt" 2>&1; t "bench tf32 B=8 rc=$?"
  timeout "${PROFILE_S:-30}" $R $B --batch 8 --steps 3 --precision bf16 --profile > "$OUT/bench-bf16-b8-profile.txt" 2>&1; t "bench bf16 B=8 profile rc=$?"
}
lane0 &
L0=$!
export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
bash reference/fixtures.sh > "$OUT/fixtures.txt" 2>&1; t "fixtures rc=$?"
timeout "${TEST_S:-110}" $R test --include-tag gpu --include-classname '.*(CudaVerifyTest|CudaWgmmaBf16Test)' --details=tree > "$OUT/tests.txt" 2>&1
t "tests rc=$?"
d=/tmp/kiln-d12-T1024
python3 reference/gpt2_reference.py --layers 12 --heads 12 --channels 768 --max-seq 1024 --batch 4 --seq 1024 --seed 3 \
    --out $d --device cuda --dtype float64 > "$OUT/ref124m.txt" 2>&1; t "ref124m rc=$?"
timeout "${VERIFY_S:-60}" $R kiln.cli.Main verify --device cuda --precision bf16 --model $d/model.bin --state $d/state.bin --losses $d/losses.txt \
    > "$OUT/verify-124m-bf16.txt" 2>&1; t "verify 124m bf16 rc=$?"
wait $L0
t done
