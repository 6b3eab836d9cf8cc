#!/usr/bin/env bash
# Device check of branch membound (issue 13: sibling column sums in one launch, the classifier forward's exps as exp2f and
# four vectors in flight, two items a thread in the vector maps). Run on the device machine (nvidia-h200-x2) from the repo
# root with the pack in $DEV/gpu (/work/briefs/pack.sh's .gpu; DEV defaults to .dev-membound); logs under $OUT.
# GPU 0: the fixtures, the gpu-tagged tests that read them (CudaVerifyTest fp32/tf32/bf16, CudaAttentionTest), `verify
# --precision bf16` on the tiny and odd fixtures, then the 124M verify at T=1024 against PyTorch's own bf16 losses. GPU 1 at
# the same time: every other gpu-tagged test but DataParallelGpuTest (CudaColumnReduceTest, ...), then GPT-2 124M bf16 B=32
# T=1024, this branch against main ($D/main: main's classes at the branch point, run with this pack's runtime and jars): bench,
# --profile, profiles with KILN_MAP_TANH=libm and KILN_ONLINE_UNROLL=2 and 1, then both benches again. Within BUDGET seconds (default 190).
set -uo pipefail
OUT=${OUT:-/tmp/check-membound}; mkdir -p "$OUT"
D=${DEV:-.dev-membound}
END=$(( $(date +%s) + ${BUDGET:-185} ))
T0=$(date +%s)
left() { local l=$(( END - $(date +%s) )); [ "$l" -gt 5 ] && echo "$l" || echo 5; }
t() { echo "[$(( $(date +%s) - T0 )) s] $*" >> "$OUT/times.txt"; }
export NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1
bash "$D/gpu/run.sh" -version > "$OUT/java.txt" 2>&1   # unpacks the runtime once
nvidia-smi --query-gpu=index,name,driver_version --format=csv > "$OUT/gpus.txt" 2>&1
B="kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024 --warmup 3 --batch 32 --precision bf16"
V='.*(CudaVerifyTest|CudaAttentionTest)'   # the gpu-tagged tests that read build/fixtures
(
  export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
  timeout "$(left)" bash reference/fixtures.sh > "$OUT/fixtures.log" 2>&1; t "fixtures rc=$?"
  timeout "$(left)" bash "$D/gpu/run.sh" test --include-tag gpu --include-classname "$V" --details=tree > "$OUT/tests-fixtures.log" 2>&1
  t "gpu tests on the fixtures rc=$?"
  for f in tiny odd; do
    timeout "$(left)" bash "$D/gpu/run.sh" kiln.cli.Main verify --device cuda --precision bf16 --model build/fixtures/$f/model.bin \
      --state build/fixtures/$f/state.bin --losses build/fixtures/$f/losses.txt > "$OUT/verify-$f.log" 2>&1; t "verify bf16 $f rc=$?"
  done
  S=/tmp/membound-torch-bf16
  timeout "$(left)" python3 reference/gpt2_reference.py --layers 12 --heads 12 --channels 768 --max-seq 1024 --batch 4 --seq 1024 \
    --seed 3 --device cuda --out $S --dtype float32 --autocast bf16 > "$OUT/ref.log" 2>&1; t "reference rc=$?"
  timeout "$(left)" bash "$D/gpu/run.sh" kiln.cli.Main verify --device cuda --precision bf16 --model $S/model.bin --state $S/state.bin \
    --losses $S/losses.txt > "$OUT/verify-124m.log" 2>&1; t "verify 124M bf16 rc=$?"
) &
(
  # the other gpu-tagged tests; then main's classes ($D/main, the pack of main at the branch point) and this branch's, one
  # kernel cache: only the kernels that differ compile twice
  export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
  timeout "$(left)" bash "$D/gpu/run.sh" test --include-tag gpu --exclude-classname '.*DataParallelGpuTest' --exclude-classname "$V" \
    --details=tree > "$OUT/tests.log" 2>&1; t "gpu tests rc=$?"
  M="bash $D/main/run.sh"
  timeout "$(left)" bash "$D/gpu/run.sh" $B --steps 20 > "$OUT/bench-a.log" 2>&1; t "bench membound rc=$?"
  [ -d "$D/main" ] && { timeout "$(left)" $M $B --steps 20 > "$OUT/bench-main-a.log" 2>&1; t "bench main rc=$?"; }
  timeout "$(left)" bash "$D/gpu/run.sh" $B --steps 3 --profile > "$OUT/profile.log" 2>&1; t "profile rc=$?"
  [ -d "$D/main" ] && { timeout "$(left)" $M $B --steps 3 --profile > "$OUT/profile-main.log" 2>&1; t "profile main rc=$?"; }
  KILN_MAP_TANH=libm timeout "$(left)" bash "$D/gpu/run.sh" $B --steps 3 --profile > "$OUT/profile-tanhf.log" 2>&1; t "profile KILN_MAP_TANH=libm rc=$?"
  for u in 2 1; do
    KILN_ONLINE_UNROLL=$u timeout "$(left)" bash "$D/gpu/run.sh" $B --steps 3 --profile > "$OUT/profile-unroll$u.log" 2>&1
    t "profile KILN_ONLINE_UNROLL=$u rc=$?"
  done
  timeout "$(left)" bash "$D/gpu/run.sh" $B --steps 20 > "$OUT/bench-b.log" 2>&1; t "bench membound rc=$?"
  [ -d "$D/main" ] && { timeout "$(left)" $M $B --steps 20 > "$OUT/bench-main-b.log" 2>&1; t "bench main rc=$?"; }
) &
wait
cat "$OUT/times.txt"
grep -hE "tests (found|successful|failed|skipped)|✘" "$OUT"/tests*.log | head -20
for f in "$OUT"/bench-*.log "$OUT"/verify-*.log; do echo "== $(basename $f)"; grep -E "^bench: [0-9]|verify: (OK|FAIL)|Exception" "$f" | head -3; done
for f in "$OUT"/profile*.log; do echo "== $(basename $f)"; grep -E "colreduce d.*ln|row head|map h|map dgelu|map adam|^bench: [0-9]" "$f" | head -8; done
# keep what comes back few: one file of everything
for f in "$OUT"/*.log; do echo "##### $(basename $f)"; grep -vE "^train|incubator" "$f" | tail -60; done > "$OUT/all.txt" 2>&1
