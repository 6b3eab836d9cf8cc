#!/usr/bin/env bash
# Issue 14's bucketed overlap on the two-H200 machine, one call (run from the repo root with the pack in
# .dev-overlap/gpu, output under $OUT): parity of 10 gpt2-tiny steps, --gpus 2 at B=4 (plain and --zero 1,
# 1 MB buckets so the tiny model has many) against --gpus 1 at B=8; then bench gpt2-d12 B=8 T=1024 tf32
# (untuned) on one GPU and on two, with buckets (25 MB, the default) and without (KILN_BUCKET_MB=0).
# PACK: the folder holding run.sh (default .dev-overlap/gpu; the integrator's pack of main: PACK=.gpu).
# VARIANTS=1 adds two-GPU benches of the overlap's knobs (about 8 s each): NCCL_MAX_CTAS=8 (fewer SMs taken
# from the backward), KILN_COMM_PRIORITY=high, KILN_BUCKET_MB=100, and the first two together.
set -u
PACK=${PACK:-.dev-overlap/gpu}
export NCCL_NVLS_ENABLE=0
export KILN_NCCL=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib", "libnccl.so.2"))')
K="bash $PACK/run.sh kiln.cli.Main"
T=$OUT/times.txt; P=$OUT/parity.txt; B=$OUT/bench.txt
nvidia-smi -L > $T; date -u >> $T
t0=$(date +%s)
el() { echo $(( $(date +%s)-t0 )); }
C="train --device cuda --model gpt2-tiny --seq 64 --steps 10 --warmup 2 --precision fp32 --val-every 0 --val-batches 2 --checkpoint-every 0 --sample-tokens 0"
BN="bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 --steps 30 --precision tf32"
par() { name=$1; shift; echo "=== $name: $*" >> $P; timeout 45 "$@" > /tmp/$name.out 2>&1; rc=$?; echo "$name rc=$rc $(el)s" >> $T
  tr '\r' '\n' < /tmp/$name.out | grep -v "^train .*%" >> $P; return $rc; }
ben() { name=$1; lim=$2; shift 2; echo "=== $name: $*" >> $B; timeout $lim "$@" >> $B 2>&1; echo "$name rc=$? $(el)s" >> $T; }
# GPU 1 compiles the d12 kernels (one-GPU bench) while GPU 0 runs the one-GPU parity reference
( CUDA_VISIBLE_DEVICES=1 timeout 80 $K $BN --gpus 1 > $OUT/bench1.txt 2>&1; echo "bench1 rc=$? $(el)s" >> $T ) &
L=$!
CUDA_VISIBLE_DEVICES=0 par p1 $K $C --gpus 1 --batch 8 --out /tmp/p1
wait $L
export KILN_BUCKET_MB=1
if ! par p2 $K $C --gpus 2 --batch 4 --out /tmp/p2; then
  # fallback: the blocking ncclCommInitRank, in case the non-blocking init is what failed
  export KILN_NCCL_BLOCKING_INIT=1; echo "p2 failed: retrying with KILN_NCCL_BLOCKING_INIT=1" >> $T
  par p2b $K $C --gpus 2 --batch 4 --out /tmp/p2b
fi
par pz $K $C --gpus 2 --batch 4 --zero 1 --out /tmp/pz
unset KILN_BUCKET_MB
for d in p1 p2 p2b pz; do [ -f /tmp/$d/log.csv ] && { echo "=== log $d" >> $P; cut -d, -f1,2,5 /tmp/$d/log.csv >> $P; }; done
ben bench2 50 $K $BN --gpus 2
ben bench2z 50 $K $BN --gpus 2 --zero 1
[ $(el) -lt 150 ] && KILN_BUCKET_MB=0 ben bench2-nobuckets 40 $K $BN --gpus 2
[ $(el) -lt 165 ] && KILN_BUCKET_MB=0 ben bench2z-nobuckets 30 $K $BN --gpus 2 --zero 1
if [ "${VARIANTS:-0}" = 1 ]; then
  NCCL_MAX_CTAS=8 ben v-ctas8 40 $K $BN --gpus 2
  KILN_COMM_PRIORITY=high ben v-priority 40 $K $BN --gpus 2
  KILN_BUCKET_MB=100 ben v-bucket100 40 $K $BN --gpus 2
  NCCL_MAX_CTAS=8 KILN_COMM_PRIORITY=high ben v-ctas8-priority 40 $K $BN --gpus 2
  NCCL_MAX_CTAS=8 KILN_COMM_PRIORITY=high ben v-ctas8-priority-zero 40 $K $BN --gpus 2 --zero 1
fi
echo "done $(el)s" >> $T
