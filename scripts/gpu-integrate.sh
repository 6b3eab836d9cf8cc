#!/usr/bin/env bash
# One device call on nvidia-h200-x2 after merging a session's branches (run from the project root with
# the pack in .gpu, output under $OUT). Two lanes at once:
#   GPU 0: fixtures, the gpu-tagged tests, bench tf32 untuned with and without the row kernels and
#          epilogues (KILN_ROWS=0 KILN_EPILOGUE=0), and, when
#          the build has --precision bf16, bf16 verify of the fixtures and a bf16 bench;
#   GPU 1: tune tf32, then bench tuned (its own KILN_CACHE, so lane 0's benches stay untuned), then
#          verify of a 124M state at T=1024 (tf32).
# Then both GPUs: bench --gpus 2 --zero 1 with the tuned cache.
set -u
export NCCL_NVLS_ENABLE=0
export KILN_NCCL=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib", "libnccl.so.2"))')
K="bash .gpu/run.sh kiln.cli.Main"
B="bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 --steps 30"
T=$OUT/times.txt
t0=$(date +%s)
stamp() { echo "$1 rc=$2 $(( $(date +%s)-t0 ))s" >> $T; }
nvidia-smi -L > $T
export KILN_CACHE=/tmp/kc0

lane1() {
  export CUDA_VISIBLE_DEVICES=1 KILN_CACHE=/tmp/kc1
  timeout 200 $K tune --device cuda --model gpt2-d12 --batch 8 --seq 1024 --precision tf32 > $OUT/tune.txt 2>&1; stamp tune $?
  timeout 60 $K $B --precision tf32 > $OUT/bench-tuned.txt 2>&1; stamp bench-tuned $?
  d=/tmp/kiln-d12-T1024
  python3 reference/gpt2_reference.py --layers 12 --heads 12 --channels 768 --max-seq 1024 --batch 4 --seq 1024 --seed 3 \
      --out $d --device cuda --dtype float64 > /dev/null 2>&1; stamp ref124m $?
  timeout 90 $K verify --device cuda --precision tf32 --model $d/model.bin --state $d/state.bin --losses $d/losses.txt > $OUT/verify-124m-tf32.txt 2>&1; stamp verify124m $?
}
lane1 &
L1=$!
bash reference/fixtures.sh > $OUT/fixtures.txt 2>&1; stamp fixtures $?

export CUDA_VISIBLE_DEVICES=0
timeout 150 bash .gpu/run.sh test --include-tag gpu --exclude-classname '.*DataParallelGpuTest' --details=tree > $OUT/gpu-tests.txt 2>&1; stamp gpu-tests $?
timeout 60 $K $B --precision tf32 > $OUT/bench-untuned.txt 2>&1; stamp bench-untuned $?
KILN_ROWS=0 KILN_EPILOGUE=0 timeout 60 $K $B --precision tf32 > $OUT/bench-untuned-off.txt 2>&1; stamp bench-untuned-off $?
if $K verify --help 2>&1 | grep -q bf16; then
  for f in tiny llama-tiny; do
    x=build/fixtures/$f
    timeout 40 $K verify --device cuda --precision bf16 --model $x/model.bin --state $x/state.bin --losses $x/losses.txt >> $OUT/verify-bf16.txt 2>&1
    stamp verify-bf16-$f $?
  done
  timeout 60 $K bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 --steps 5 --precision bf16 > $OUT/bench-bf16.txt 2>&1; stamp bench-bf16 $?
fi
unset CUDA_VISIBLE_DEVICES
wait $L1
export KILN_CACHE=/tmp/kc1
timeout 70 $K $B --precision tf32 --gpus 2 --zero 1 > $OUT/bench-2gpu-zero.txt 2>&1; stamp bench-2gpu-zero $?
