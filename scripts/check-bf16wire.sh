#!/usr/bin/env bash
# Branch bf16wire on nvidia-h200-x2 (the bf16 wgmma matmul wired into --precision bf16): run on the device from a folder
# holding this branch's pack as gpu/ with reference/ beside it (the tests read build/fixtures/ from the working directory):
#   OUT=/some/dir bash scripts/check-bf16wire.sh
# At most 8 files under $OUT (what the device tool returns). Steps past BUDGET_S seconds are skipped.
# GPU 0: bench bf16 B=8 (30 steps), --profile, the ping-pong tile for comparison, kiln tune --precision bf16, then bench tuned
#        at B=8 and B=16;
# GPU 1: the fixtures, CudaVerifyTest (every fixture at fp32, tf32, bf16), CudaWgmmaBf16Test and CudaTunerTest, then a 124M
#        state at T=1024 from PyTorch (float64) and verify at bf16, with the bf16 wgmma tile and without (KILN_WGMMA_BF16=0).
set -uo pipefail
OUT=${OUT:-/tmp}
BUDGET_S=${BUDGET_S:-220}
R="bash gpu/run.sh"
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"   # t, left, run
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader > "$OUT/times.txt"
B="kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024"
lane0() {
  export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
  run 70 bench.txt $R $B --batch 8 --steps 30 --precision bf16
  run 25 profile.txt $R $B --batch 8 --steps 3 --precision bf16 --profile
  KILN_WGMMA_BF16_TILE="bm=128 bn=128 stages=5 consumers=2 pingpong=1 group=16 tmastore=1" \
    run 40 pingpong.txt $R $B --batch 8 --steps 3 --precision bf16 --profile
  run 110 tune.txt $R kiln.cli.Main tune --device cuda --model gpt2-d12 --batch 8 --seq 1024 --precision bf16
  run 30 bench.txt $R $B --batch 8 --steps 30 --precision bf16
  run 30 bench.txt $R $B --batch 16 --steps 20 --precision bf16
}
lane0 &
L0=$!
export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
bash reference/fixtures.sh > /dev/null 2>&1; t "fixtures rc=$?"
run 110 tests.txt $R test --include-tag gpu --include-classname '.*(CudaVerifyTest|CudaWgmmaBf16Test|CudaTunerTest)' --details=tree
d=/tmp/kiln-d12-T1024
python3 reference/gpt2_reference.py --layers 12 --heads 12 --channels 768 --max-seq 1024 --batch 4 --seq 1024 --seed 3 \
    --out $d --device cuda --dtype float64 > /dev/null 2>&1; t "ref124m rc=$?"
V="kiln.cli.Main verify --device cuda --precision bf16 --model $d/model.bin --state $d/state.bin --losses $d/losses.txt"
run 50 verify.txt $R $V
KILN_WGMMA_BF16=0 run 60 verify.txt $R $V
wait $L0
t done
