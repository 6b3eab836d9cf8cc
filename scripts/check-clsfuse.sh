#!/usr/bin/env bash
# Device check of branch clsfuse (issue 13: the classifier's forward and backward as one row kernel in a training step,
# Session.STEP). Run on the device machine (nvidia-h200-x2) from the repo root with this branch's pack in $DEV/gpu
# (/work/briefs/pack.sh's .gpu; DEV defaults to .dev-clsfuse) and main's classes at the branch point in $DEV/main (run with
# this pack's runtime and jars by $DEV/main/run.sh); logs under $OUT. Within BUDGET seconds (default 185).
# GPU 0: GPT-2 124M bf16 B=32 T=1024, --profile runs of this branch, of it with KILN_ROW_CACHE=0 (the second read of a row from
#        global memory) and of main, then benches of the three, twice, in turns (one GPU, one kernel cache).
# GPU 1: the fixtures, every gpu-tagged test but DataParallelGpuTest (CudaVerifyTest fp32/tf32/bf16 on every fixture among
#        them), then the 124M reference at T=1024 and kiln's bf16 verify against PyTorch's own bf16 losses.
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
S=/tmp/clsfuse-torch-bf16
(
  # every comparison on one GPU: GPU 0 and GPU 1 differed by ~2 ms a step in call 1
  export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
  for run in clsfuse nocache main; do
    case $run in clsfuse) c="$G";; nocache) c="env KILN_ROW_CACHE=0 $G";; main) c="$M";; esac
    timeout "$(left)" $c $B --steps 3 --profile > "$OUT/profile-$run.log" 2>&1; t "profile $run rc=$?"
  done
  for round in a b; do
    for run in clsfuse main nocache; do
      case $run in clsfuse) c="$G";; nocache) c="env KILN_ROW_CACHE=0 $G";; main) c="$M";; esac
      timeout "$(left)" $c $B --steps 30 > "$OUT/bench-$run-$round.log" 2>&1; t "bench $run rc=$?"
    done
  done
) &
(
  export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
  [ -d build/fixtures/odd ] || { timeout "$(left)" bash reference/fixtures.sh > "$OUT/fixtures.log" 2>&1; t "fixtures rc=$?"; }
  timeout "$(left)" $G test --include-tag gpu --exclude-classname '.*DataParallelGpuTest' --details=tree > "$OUT/tests.log" 2>&1; t "gpu tests rc=$?"
  timeout "$(left)" python3 reference/gpt2_reference.py --layers 12 --heads 12 --channels 768 --max-seq 1024 --batch 4 --seq 1024 \
    --seed 3 --device cuda --out $S --dtype float32 --autocast bf16 > "$OUT/ref.log" 2>&1; t "reference rc=$?"
  timeout "$(left)" $G kiln.cli.Main verify --device cuda --precision bf16 --model $S/model.bin --state $S/state.bin \
    --losses $S/losses.txt > "$OUT/verify-124m.log" 2>&1; t "verify 124M bf16 rc=$?"
) &
wait
cat "$OUT/times.txt"
for f in "$OUT"/bench-*.log; do echo "== $(basename $f) $(grep -E '^bench: [0-9]' $f) $(grep -E '^step [1-3]:' $f | awk '{print $NF}' | tr '\n' ' ')"; grep -E "Exception|rror" "$f" | head -2; done
for f in "$OUT"/profile*.log; do echo "== $(basename $f)"; grep -E "row head|row dr1/dhead|^step 3" "$f" | head -4; done
grep -hE "tests (found|successful|failed|skipped)|✘" "$OUT"/tests.log | head -20
tail -12 "$OUT/verify-124m.log"
