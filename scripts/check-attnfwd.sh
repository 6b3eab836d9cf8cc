#!/usr/bin/env bash
# Branch attnfwd (the bf16 wgmma forward: raw-score softmax, exponentials partly on the FMA pipe, key tiles of 64 or
# 128, P V under the next S) on a 2-GPU CUDA machine, run from the repo root with the pack in .dev-attnfwd: gpu/ from
# /work/briefs/pack.sh, cubins/ from FAB_BASE=<main's commit> FAB_FWD_SWEEP=1 scripts/attnbf16/build.sh, attnbf16/ =
# scripts/attnbf16, reference/ = the repo's reference/, this script as check.sh. Logs under $OUT.
# GPU 1: the direct kernel check against PyTorch with timings (attnbf16/check.py --time: every cubin, the forward
#   variants and main's kernels (wbase) included; PyTorch's flash and cuDNN SDPA), then kiln's bench of gpt2-d12 bf16
#   B=32 (--profile: time per kernel; then without), then ncu on main's and this build's forward (NCU=1, the default).
# GPU 0: the PyTorch fixtures, CudaAttentionTest + FlashBf16Test, then CudaVerifyTest's bf16 cases.
set -uo pipefail
cd .dev-attnfwd
export PYTHONUNBUFFERED=1
LIMIT=${LIMIT:-190}   # seconds for the whole script
NCU=${NCU:-1}
BENCH="kiln.cli.Main bench --device cuda --model gpt2-d12 --batch 32 --seq 1024 --precision bf16 --warmup 3"
set -f   # the test patterns below are not globs
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/machine.txt 2>&1
(export CUDA_VISIBLE_DEVICES=0 KILN_CACHE=/tmp/kc0
 timeout 70 bash reference/fixtures.sh > $OUT/fixtures.txt 2>&1; echo "rc $? at $SECONDS s" >> $OUT/fixtures.txt
 timeout $((LIMIT - SECONDS - 50)) bash gpu/run.sh test --include-tag gpu --include-classname '.*(CudaAttentionTest|FlashBf16Test)' \
   > $OUT/tests.txt 2>&1; echo "rc $? at $SECONDS s" >> $OUT/tests.txt
 timeout $((LIMIT - SECONDS)) bash gpu/run.sh test --include-tag gpu --include-classname .*CudaVerifyTest --include-methodname .*matchesPyTorchInBf16 \
   > $OUT/verify.txt 2>&1; echo "rc $? at $SECONDS s" >> $OUT/verify.txt) &
BG=$!
export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
timeout 100 python3 attnbf16/check.py cubins --time > $OUT/direct.txt 2>&1; echo "rc $? at $SECONDS s" >> $OUT/direct.txt
timeout $((LIMIT - SECONDS - 30)) bash gpu/run.sh $BENCH --steps 3 --profile > $OUT/profile.txt 2>&1; echo "rc $? at $SECONDS s" >> $OUT/profile.txt
[ $((LIMIT - SECONDS)) -gt 25 ] && { timeout $((LIMIT - SECONDS - 10)) bash gpu/run.sh $BENCH --steps 20 > $OUT/bench.txt 2>&1; echo "rc $? at $SECONDS s" >> $OUT/bench.txt; }
if [ "$NCU" = 1 ]; then   # at ncu's locked clocks: durations comparable across builds
  for c in "" wbase wf64 wfg0; do
    f=cubins/fab64${c:+_$c}.cubin
    [ -f $f ] && [ $((LIMIT - SECONDS)) -gt 15 ] || continue
    (cd attnbf16 && timeout $((LIMIT - SECONDS - 5)) ncu --kernel-name fab_fwd --launch-skip 2 --launch-count 1 --section SpeedOfLight \
      --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section InstructionStats --section Occupancy \
      python3 fwd_once.py ../$f) > $OUT/ncu${c:+_$c}.txt 2>&1
    echo "rc $? at $SECONDS s" >> $OUT/ncu${c:+_$c}.txt
  done
fi
wait $BG
cuobjdump -sass -fun fab_fwd cubins/fab64.cubin > $OUT/sass_fwd.txt 2>&1
grep -E "FAIL|PASS|^  kiln|^  PyTorch|^timings|^forward|rc " $OUT/direct.txt | tail -n 90
for f in fixtures tests verify; do [ -f $OUT/$f.txt ] && grep -E "tests (successful|failed)|rc |✘" $OUT/$f.txt | head -12; done
grep -E "attention|median|ms/step|rc " $OUT/profile.txt 2>/dev/null | tail -n 8
grep -E "median|ms/step|rc " $OUT/bench.txt 2>/dev/null | tail -n 3
for c in "" _wbase _wf64 _wfg0; do echo "ncu$c"; grep -E "Duration|DRAM Throughput|L2 Cache Throughput|L2 Hit Rate|Issue Slots|Executed Instructions  |Achieved Occupancy|highest-utilized|rc " $OUT/ncu$c.txt 2>/dev/null | head -12; done
