#!/usr/bin/env bash
# Device check of branch rows2 (issue 13: the memory-bound kernels at HBM speed: the column reductions with 16-byte
# loads, the classifier forward's max and sum in one online pass). Run on the device machine (nvidia-h200-x2) from the
# repo root with the pack in $DEV/gpu (/work/briefs/pack.sh's .gpu; DEV defaults to .dev-rows2); logs under $OUT.
# GPU 0: the fixtures, then every gpu-tagged test but DataParallelGpuTest (CudaVerifyTest fp32/tf32/bf16 on the
# fixtures, CudaColumnReduceTest, ...). GPU 1 at the same time: GPT-2 124M bf16 B=32 T=1024 with --profile (per-kernel
# ms) and without, then the 124M verify at T=1024 against PyTorch's own bf16 losses. Within BUDGET seconds (default 220).
set -uo pipefail
OUT=${OUT:-/tmp/check-rows2}; mkdir -p "$OUT"
D=${DEV:-.dev-rows2}
END=$(( $(date +%s) + ${BUDGET:-220} ))
T0=$(date +%s)
left() { local l=$(( END - $(date +%s) )); [ "$l" -gt 5 ] && echo "$l" || echo 5; }
t() { echo "[$(( $(date +%s) - T0 )) s] $*" >> "$OUT/times.txt"; }
export NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1 KILN_CACHE=/tmp/kc-rows2
bash "$D/gpu/run.sh" -version > "$OUT/java.txt" 2>&1   # unpacks the runtime once
nvidia-smi --query-gpu=index,name,driver_version --format=csv > "$OUT/gpus.txt" 2>&1
B="kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024 --steps 20 --warmup 3 --batch 32 --precision bf16"
(
  export CUDA_VISIBLE_DEVICES=0
  timeout "$(left)" bash reference/fixtures.sh > "$OUT/fixtures.log" 2>&1; t "fixtures rc=$?"
  timeout "$(left)" bash "$D/gpu/run.sh" test --include-tag gpu --exclude-classname '.*DataParallelGpuTest' --details=tree \
    > "$OUT/tests.log" 2>&1; t "gpu tests rc=$?"
) &
(
  export CUDA_VISIBLE_DEVICES=1
  timeout "$(left)" bash "$D/gpu/run.sh" $B --profile > "$OUT/bench-b32-profile.log" 2>&1; t "bench B=32 --profile rc=$?"
  timeout "$(left)" bash "$D/gpu/run.sh" $B > "$OUT/bench-b32.log" 2>&1; t "bench B=32 rc=$?"
  S=/tmp/rows2-torch-bf16
  timeout "$(left)" python3 reference/gpt2_reference.py --layers 12 --heads 12 --channels 768 --max-seq 1024 --batch 4 --seq 1024 \
    --seed 3 --device cuda --out $S --dtype float32 --autocast bf16 > "$OUT/ref.log" 2>&1; t "reference rc=$?"
  timeout "$(left)" bash "$D/gpu/run.sh" kiln.cli.Main verify --device cuda --precision bf16 --model $S/model.bin --state $S/state.bin \
    --losses $S/losses.txt > "$OUT/verify-bf16.log" 2>&1; t "verify bf16 rc=$?"
) &
wait
cat "$OUT/times.txt"
grep -E "tests (found|successful|failed)|✘" "$OUT/tests.log" | head -20
for f in "$OUT"/bench-b32*.log "$OUT"/verify-bf16.log; do echo "== $f"; grep -E "^bench: (min|[0-9])|verify: |step 9|Exception" "$f" | head -6; done
grep -E "ms .*(colreduce|row) " "$OUT/bench-b32-profile.log"
