# What the device-call scripts (gpu-final.sh, gpu-integrate.sh, gpu-session6*.sh, check-*.sh) share: the environment of
# an NCCL run, a step log and a budget, and two steps more than one of them takes. Source it where the budget starts,
# with OUT and BUDGET_S set (read at each call):
#   . "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
# It exports NCCL_NVLS_ENABLE=0 (no NVLink multicast), PYTHONUNBUFFERED=1 and KILN_NCCL (the pip wheel's libnccl).
# t MESSAGE: appends "[<seconds since sourcing> s] MESSAGE" to $OUT/times.txt.
# left: the seconds of BUDGET_S left.
# run SECONDS FILE CMD...: runs CMD for at most SECONDS and never past the budget, appending "### CMD" and its output to
#   $OUT/FILE and "CMD rc=<status>" to times.txt; returns CMD's status. Skipped (status 1, "skipped CMD" in times.txt)
#   when fewer than MIN_LEFT_S (default 10) seconds are left. With DROP set (a grep pattern), carriage returns become
#   newlines and the lines DROP matches are left out (progress bars, the JDK's incubator notice).
export NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1
export KILN_NCCL=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib", "libnccl.so.2"))' 2>/dev/null)
T0=$(date +%s)
t() { echo "[$(( $(date +%s) - T0 )) s] $*" >> "$OUT/times.txt"; }
left() { echo $(( BUDGET_S - ($(date +%s) - T0) )); }
run() {
  local s=$1 f=$2 rc; shift 2
  local l; l=$(left); [ "$l" -lt "${MIN_LEFT_S:-10}" ] && { t "skipped $*"; return 1; }
  [ "$s" -gt "$l" ] && s=$l
  echo "### $*" >> "$OUT/$f"
  if [ -n "${DROP:-}" ]; then
    timeout "$s" "$@" 2>&1 | tr '\r' '\n' | grep -v "$DROP" >> "$OUT/$f"; rc=${PIPESTATUS[0]}
  else
    timeout "$s" "$@" >> "$OUT/$f" 2>&1; rc=$?
  fi
  t "$* rc=$rc"; return $rc
}

# reference_124m: the 124M GPT-2 state at T=1024, B=4 from PyTorch on the GPU, float64 into $d, and PyTorch's own
# bf16-autocast losses from the same state into $a; both loss columns side by side in verify.txt.
reference_124m() {
  d=/tmp/kiln-d12-T1024 a=/tmp/torch-bf16-T1024
  local S="--layers 12 --heads 12 --channels 768 --max-seq 1024 --batch 4 --seq 1024 --seed 3 --device cuda"
  run 60 verify.txt python3 reference/gpt2_reference.py $S --out $d --dtype float64
  run 40 verify.txt python3 reference/gpt2_reference.py $S --out $a --dtype float32 --autocast bf16
  echo "### losses: float64 reference | PyTorch bf16 autocast" >> "$OUT/verify.txt"
  paste $d/losses.txt $a/losses.txt >> "$OUT/verify.txt" 2>&1
}

# zero_parity: after the one-GPU run `$K $C ... --batch 8 --out /tmp/b1`, the same 10 steps on two GPUs at B=4 (plain,
# then --zero 1 with a checkpoint at step 5, then resumed from it) and the four logs' step, loss and norm side by side
# in parity.txt.
zero_parity() {
  run 60 parity.txt $K $C --checkpoint-every 0 --gpus 2 --batch 4 --out /tmp/b2
  run 60 parity.txt $K $C --checkpoint-every 5 --gpus 2 --batch 4 --zero 1 --out /tmp/bz
  run 60 parity.txt $K train --resume /tmp/bz/ckpt_5 --steps 10 --precision bf16 --gpus 2 --zero 1 --out /tmp/bzr
  {
    echo "### step, loss, norm: 1 GPU B=8 | 2 GPUs B=4 | 2 GPUs B=4 --zero 1 | --zero 1 resumed from ckpt_5"
    paste -d'|' <(cut -d, -f1,2,5 /tmp/b1/log.csv 2>&1) <(cut -d, -f1,2,5 /tmp/b2/log.csv 2>&1) \
        <(cut -d, -f1,2,5 /tmp/bz/log.csv 2>&1) <(cut -d, -f1,2,5 /tmp/bzr/log.csv 2>&1)
  } >> "$OUT/parity.txt"
}

# verify_124m: reference_124m, then kiln's bf16 verify of that state against PyTorch's own bf16 losses (K: the kiln command).
verify_124m() {
  reference_124m
  run 60 verify.txt $K verify --device cuda --precision bf16 --model $d/model.bin --state $d/state.bin --losses $a/losses.txt
}

# lane0 [PROFILE_STEPS]: on GPU 0 (KILN_CACHE=/tmp/kc0) every gpu-tagged test but the two-GPU class, then kiln's bf16 bench of
# gpt2-d12 at B=32, a --profile run (PROFILE_STEPS steps, default 2) and B=16 (R: the pack's run.sh; B: the bench command).
lane0() {
  export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
  run 230 tests.txt $R test --include-tag gpu --exclude-classname '.*DataParallelGpuTest' --details=tree
  run 70 bench.txt $R $B --steps 30 --batch 32 --precision bf16
  run 30 profile.txt $R $B --steps "${1:-2}" --batch 32 --precision bf16 --profile
  run 45 bench.txt $R $B --steps 30 --batch 16 --precision bf16
}

# tiny_parity: 10 gpt2-tiny bf16 steps on one GPU at B=8 (C, set here, holds the train options), then zero_parity.
tiny_parity() {
  C="train --device cuda --model gpt2-tiny --seq 64 --steps 10 --warmup 2 --precision bf16 --val-every 0 --val-batches 2 --sample-tokens 0"
  run 40 parity.txt $K $C --checkpoint-every 0 --gpus 1 --batch 8 --out /tmp/b1
  zero_parity
}

# pack_commands: R (the pack's run.sh under $PACK/gpu), K (kiln's CLI through it) and B (the bench of gpt2-d12 at T=1024),
# and the GPUs' names, driver and memory in use as the first lines of times.txt.
pack_commands() {
  R="bash $PACK/gpu/run.sh"
  K="$R kiln.cli.Main"
  B="kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024 --warmup 3"
  nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader > "$OUT/times.txt"
}

# ncu_step [FILTER...]: N, the Nsight Compute command that times every kernel (or those FILTER, e.g. -k regex:wgmma_bf16,
# selects) of the launches inside the program's profiler range (`bench --cuda-profiler-range`, `torch_gpu_bench.py
# --cuda-profiler-step`), with the clocks and caches as the step leaves them, one CSV row a kernel (add --log-file FILE).
# scripts/ncu_step.py and ncu_tiles.py read the CSVs.
ncu_step() {
  local ncu; ncu=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
  N="$ncu --profile-from-start off --graph-profiling node --clock-control none --cache-control none $* --metrics gpu__time_duration.sum --csv --page raw"
}
