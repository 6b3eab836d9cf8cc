# Issue 14 on the two-H200 machine (run from the project root with the pack in .dev-zero/gpu, output under $OUT): parity (1 GPU, DDP, ZeRO-1, two processes plain and ZeRO-1), kill test, GPU JUnit, benches
set -u
cd ${PACK:-.dev-zero}   # the folder holding the pack (gpu/run.sh)
export NCCL_NVLS_ENABLE=0
export KILN_NCCL=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib", "libnccl.so.2"))')
K="bash gpu/run.sh kiln.cli.Main"
P=$OUT/parity.txt; T=$OUT/times.txt
nvidia-smi -L > $T; date -u >> $T
C="train --device cuda --model gpt2-tiny --seq 64 --steps 10 --warmup 2 --precision fp32 --val-every 0 --val-batches 2 --checkpoint-every 0 --sample-tokens 0"
t0=$(date +%s)
run() { name=$1; shift; echo "=== $name: $*" >> $P; timeout 60 "$@" > /tmp/$name.out 2>&1; echo "$name rc=$? $(( $(date +%s)-t0 ))s" >> $T; tr '\r' '\n' < /tmp/$name.out | grep -v "^train .*%" >> $P; }
run p1 $K $C --gpus 1 --batch 8 --out /tmp/p1
run p2 $K $C --gpus 2 --batch 4 --out /tmp/p2
run pz $K $C --gpus 2 --batch 4 --zero 1 --out /tmp/pz
CUDA_VISIBLE_DEVICES=1 timeout 60 $K $C --gpus 1 --batch 4 --nodes 2 --node-rank 1 --rendezvous tcp:127.0.0.1:29517 --out /tmp/pp > /tmp/pp1.out 2>&1 &
export CUDA_VISIBLE_DEVICES=0; run pp0 $K $C --gpus 1 --batch 4 --nodes 2 --node-rank 0 --rendezvous tcp:127.0.0.1:29517 --out /tmp/pp
unset CUDA_VISIBLE_DEVICES; wait; echo "=== pp1 (node 1)" >> $P; tr '\r' '\n' < /tmp/pp1.out | grep -v "^train .*%" >> $P
mkdir -p /tmp/rdv
CUDA_VISIBLE_DEVICES=1 timeout 60 $K $C --gpus 1 --batch 4 --zero 1 --nodes 2 --node-rank 1 --rendezvous file:/tmp/rdv --out /tmp/ppz > /tmp/ppz1.out 2>&1 &
export CUDA_VISIBLE_DEVICES=0; run ppz0 $K $C --gpus 1 --batch 4 --zero 1 --nodes 2 --node-rank 0 --rendezvous file:/tmp/rdv --out /tmp/ppz
unset CUDA_VISIBLE_DEVICES; wait; echo "=== ppz1 (node 1)" >> $P; tr '\r' '\n' < /tmp/ppz1.out | grep -v "^train .*%" >> $P
for d in p1 p2 pz pp ppz pp/node-1 ppz/node-1; do echo "=== log $d" >> $P; cut -d, -f1,2,5 /tmp/$d/log.csv >> $P 2>&1; done
echo "=== ls /tmp/ppz" >> $P; ls -R /tmp/ppz /tmp/rdv >> $P 2>&1
cmp /tmp/pz/ckpt_10/state.bin /tmp/ppz/ckpt_10/state.bin >> $P 2>&1 && echo "pz and ppz state.bin identical" >> $P
# kill test: two processes; node 1 gets SIGKILL once node 0 is stepping; node 0 must end with one line
KL=$OUT/kill.txt
export KILN_STEP_TIMEOUT_S=15
K2="train --device cuda --model gpt2-tiny --seq 64 --batch 4 --steps 200000 --precision fp32 --val-every 0 --val-batches 2 --checkpoint-every 0 --sample-tokens 0 --gpus 1 --nodes 2 --rendezvous tcp:127.0.0.1:29518"
echo "KILN_STEP_TIMEOUT_S=15; node 0: CUDA_VISIBLE_DEVICES=0 kiln $K2 --node-rank 0 --out /tmp/k0; node 1 the same with 1" >> $KL
CUDA_VISIBLE_DEVICES=1 bash gpu/run.sh kiln.cli.Main $K2 --node-rank 1 --out /tmp/k1 > /tmp/kill1.out 2>&1 &
V=$!
CUDA_VISIBLE_DEVICES=0 timeout 90 bash gpu/run.sh kiln.cli.Main $K2 --node-rank 0 --out /tmp/k0 > /tmp/kill0.out 2>&1 &
S=$!
for i in $(seq 1 60); do sleep 1; [ -f /tmp/k0/log.csv ] && [ $(wc -l < /tmp/k0/log.csv) -gt 200 ] && break; done
echo "steps logged by node 0 before the kill: $(wc -l < /tmp/k0/log.csv)" >> $KL
k=$(date +%s.%N); kill -9 $V; echo "kill -9 node 1 (pid $V) at $(date -u +%T.%N)" >> $KL
wait $S; rc=$?; e=$(date +%s.%N)
echo "node 0 exited rc=$rc at $(date -u +%T.%N), $(python3 -c "print(round($e-$k,1))") s after the kill; steps logged: $(wc -l < /tmp/k0/log.csv)" >> $KL
echo "--- node 0's output (progress bar lines dropped):" >> $KL
tr '\r' '\n' < /tmp/kill0.out | grep -v "^train .*%" | tail -12 >> $KL
echo "kill done $(( $(date +%s)-t0 ))s" >> $T
# benches: gpt2-d12 B=8 T=1024 tf32 (NO_BENCH=1 leaves them out)
B=$OUT/bench.txt
[ "${NO_BENCH:-0}" = 1 ] || for g in "1" "2 --zero 1" "2"; do
  echo "=== bench --gpus $g" >> $B
  timeout 70 $K bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 --precision tf32 --steps 10 --warmup 2 --gpus $g >> $B 2>&1
  echo "bench $g rc=$? $(( $(date +%s)-t0 ))s" >> $T
done
timeout 50 bash gpu/run.sh test --include-classname '.*DataParallelGpuTest' > $OUT/junit.txt 2>&1; echo "junit rc=$? $(( $(date +%s)-t0 ))s" >> $T
