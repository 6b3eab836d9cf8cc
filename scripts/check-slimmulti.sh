#!/usr/bin/env bash
# Branch slimmulti (issue 18, the multi-GPU code made shorter) on nvidia-h200-x2: what scripts/gpu-zero.sh does not
# already cover. Run from the project root after gpu-zero.sh, with the pack in $PACK/gpu (default .dev-slimmulti), output
# under $OUT:   OUT=$OUT PACK=.dev-slimmulti bash scripts/check-slimmulti.sh
# - parity.txt: KILN_BUCKET_MB=0 now runs as one bucket (the whole block) on the communication stream instead of a
#   separate all-reduce / reduce-scatter path: 10 gpt2-tiny fp32 steps, --gpus 2 at B=4, plain and --zero 1, against
#   --gpus 1 at B=8 (step, loss, norm side by side; expected within 1e-5 as in gpu-zero.sh).
# - resume.txt: reading AdamW's m and v of an in-process --zero 1 run now all-gathers the shards through NCCL (the path
#   two processes always took): --gpus 2 --zero 1 with 1 MB buckets saves ckpt_5, then resumes on --gpus 1 and on
#   --gpus 2 --zero 1; steps 6..10 of both against the uninterrupted run.
# - tests.txt: NcclSingleRankTest (its init now passes the timeout explicitly) and DataParallelGpuTest.
# times.txt: each step's exit status and the seconds.
set -u
cd "${PACK:-.dev-slimmulti}"
export NCCL_NVLS_ENABLE=0
export KILN_NCCL=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib", "libnccl.so.2"))')
K="bash gpu/run.sh kiln.cli.Main"
T=$OUT/times.txt; P=$OUT/parity.txt; R=$OUT/resume.txt
nvidia-smi -L > $T; date -u >> $T
t0=$(date +%s)
run() { f=$1; name=$2; shift 2; echo "=== $name: $*" >> $f; timeout 60 "$@" > /tmp/$name.out 2>&1; echo "$name rc=$? $(( $(date +%s)-t0 ))s" >> $T
  tr '\r' '\n' < /tmp/$name.out | grep -v "^train .*%" >> $f; }
C="train --device cuda --model gpt2-tiny --seq 64 --steps 10 --warmup 2 --precision fp32 --val-every 0 --val-batches 2 --sample-tokens 0"
rm -rf /tmp/s1 /tmp/s2 /tmp/sz /tmp/sk /tmp/sk1 /tmp/sk2
run $P s1 $K $C --checkpoint-every 0 --gpus 1 --batch 8 --out /tmp/s1
KILN_BUCKET_MB=0 run $P s2 $K $C --checkpoint-every 0 --gpus 2 --batch 4 --out /tmp/s2
KILN_BUCKET_MB=0 run $P sz $K $C --checkpoint-every 0 --gpus 2 --batch 4 --zero 1 --out /tmp/sz
echo "=== step, loss, norm: 1 GPU B=8 | 2 GPUs B=4, KILN_BUCKET_MB=0 | the same with --zero 1" >> $P
paste -d'|' <(cut -d, -f1,2,5 /tmp/s1/log.csv 2>&1) <(cut -d, -f1,2,5 /tmp/s2/log.csv 2>&1) <(cut -d, -f1,2,5 /tmp/sz/log.csv 2>&1) >> $P
KILN_BUCKET_MB=1 run $R sk $K $C --checkpoint-every 5 --gpus 2 --batch 4 --zero 1 --out /tmp/sk
run $R sk1 $K train --resume /tmp/sk/ckpt_5 --steps 10 --precision fp32 --gpus 1 --out /tmp/sk1
KILN_BUCKET_MB=1 run $R sk2 $K train --resume /tmp/sk/ckpt_5 --steps 10 --precision fp32 --gpus 2 --zero 1 --out /tmp/sk2
echo "=== step, loss, norm: --gpus 2 --zero 1 uninterrupted | resumed from ckpt_5 on --gpus 1 | on --gpus 2 --zero 1" >> $R
paste -d'|' <(cut -d, -f1,2,5 /tmp/sk/log.csv 2>&1) <(cut -d, -f1,2,5 /tmp/sk1/log.csv 2>&1) <(cut -d, -f1,2,5 /tmp/sk2/log.csv 2>&1) >> $R
ls -l /tmp/sk/ckpt_5 >> $R 2>&1
timeout 90 bash gpu/run.sh test --include-classname '.*(NcclSingleRankTest|DataParallelGpuTest)' > $OUT/tests.txt 2>&1
echo "tests rc=$? $(( $(date +%s)-t0 ))s" >> $T
