#!/usr/bin/env bash
# Device check of branch clsfuse (issue 13: the classifier's forward and backward as one row kernel in a training step,
# Session.STEP). Run on the device machine (nvidia-h200-x2) from the repo root with this branch's pack in $DEV/gpu
# (/work/briefs/pack.sh's .gpu; DEV defaults to .dev-clsfuse) and main's classes at the branch point in $DEV/main (run with
# this pack's runtime and jars by $DEV/main/run.sh); logs under $OUT. Within BUDGET seconds (default 185).
# GPU 0: GPT-2 124M bf16 B=32 T=1024, this branch: bench, --profile, profiles with KILN_ROW_CACHE=0 (the second read of a row
#        from global memory) and KILN_ONLINE_UNROLL=2, the bench again; then the fixtures and the gpu-tagged CudaVerifyTest
#        (fp32, tf32, bf16 on every fixture).
# GPU 1: main's bench and --profile, this branch's benches with KILN_ROW_CACHE=0 and KILN_ROW_JOIN=0 (forward and backward
#        apart, as main), main's bench again; then the 124M reference at T=1024 and kiln's bf16 verify against PyTorch's own
#        bf16 losses. Each lane its own kernel cache.
set -uo pipefail
OUT=${OUT:-/tmp/check-clsfuse}; mkdir -p "$OUT"
D=${DEV:-.dev-clsfuse}
END=$(( $(date +%s) + ${BUDGET:-185} ))
T0=$(date +%s)
left() { local l=$(( END - $(date +%s) )); [ "$l" -gt 5 ] && echo "$l" || echo 5; }
t() { echo "[$(( $(date +%s) - T0 )) s] $*" >> "$OUT/times.txt"; }
export PYTHONUNBUFFERED=1
bash "$D/gpu/run.sh" -version > "$OUT/java.txt" 2>&1   # unpacks the runtime once
nvidia-smi --query-gpu=index,name,driver_version --format=csv > "$OUT/gpus.txt" 2>&1
B="kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024 --warmup 3 --batch 32 --precision bf16"
G="bash $D/gpu/run.sh"
M="bash $D/main/run.sh"
V='.*CudaVerifyTest'
S=/tmp/clsfuse-torch-bf16
(
  export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
  timeout "$(left)" $G $B --steps 30 > "$OUT/bench-clsfuse.log" 2>&1; t "bench clsfuse rc=$?"
  timeout "$(left)" $G $B --steps 3 --profile > "$OUT/profile-clsfuse.log" 2>&1; t "profile clsfuse rc=$?"
  KILN_ROW_CACHE=0 timeout "$(left)" $G $B --steps 3 --profile > "$OUT/profile-nocache.log" 2>&1; t "profile KILN_ROW_CACHE=0 rc=$?"
  KILN_ONLINE_UNROLL=2 timeout "$(left)" $G $B --steps 3 --profile > "$OUT/profile-unroll2.log" 2>&1; t "profile KILN_ONLINE_UNROLL=2 rc=$?"
  timeout "$(left)" $G $B --steps 30 > "$OUT/bench-clsfuse-b.log" 2>&1; t "bench clsfuse rc=$?"
  [ -d build/fixtures/odd ] || { timeout "$(left)" bash reference/fixtures.sh > "$OUT/fixtures.log" 2>&1; t "fixtures rc=$?"; }
  timeout "$(left)" $G test --include-tag gpu --include-classname "$V" --details=tree > "$OUT/tests.log" 2>&1; t "CudaVerifyTest rc=$?"
) &
(
  export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
  timeout "$(left)" $M $B --steps 30 > "$OUT/bench-main.log" 2>&1; t "bench main rc=$?"
  timeout "$(left)" $M $B --steps 3 --profile > "$OUT/profile-main.log" 2>&1; t "profile main rc=$?"
  KILN_ROW_CACHE=0 timeout "$(left)" $G $B --steps 30 > "$OUT/bench-nocache.log" 2>&1; t "bench KILN_ROW_CACHE=0 rc=$?"
  KILN_ROW_JOIN=0 timeout "$(left)" $G $B --steps 30 > "$OUT/bench-nojoin.log" 2>&1; t "bench KILN_ROW_JOIN=0 rc=$?"
  timeout "$(left)" $M $B --steps 30 > "$OUT/bench-main-b.log" 2>&1; t "bench main rc=$?"
  timeout "$(left)" python3 reference/gpt2_reference.py --layers 12 --heads 12 --channels 768 --max-seq 1024 --batch 4 --seq 1024 \
    --seed 3 --device cuda --out $S --dtype float32 --autocast bf16 > "$OUT/ref.log" 2>&1; t "reference rc=$?"
  timeout "$(left)" $G kiln.cli.Main verify --device cuda --precision bf16 --model $S/model.bin --state $S/state.bin \
    --losses $S/losses.txt > "$OUT/verify-124m.log" 2>&1; t "verify 124M bf16 rc=$?"
) &
wait
cat "$OUT/times.txt"
for f in "$OUT"/bench-*.log; do echo "== $(basename $f)"; grep -E "^bench: [0-9]|arena [0-9]|Exception|rror" "$f" | head -4; done
for f in "$OUT"/profile*.log; do echo "== $(basename $f)"; grep -E "row head|row dr1/dhead|map dhead|map dloss|reduce head|map head|^step 3" "$f" | head -8; done
grep -hE "tests (found|successful|failed|skipped)|✘" "$OUT"/tests.log | head -20
tail -14 "$OUT/verify-124m.log"
