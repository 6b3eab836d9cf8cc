#!/usr/bin/env bash
# Issue 14 checks on a machine with two GPUs (after ../shared/gpu/pack.sh; run from the project root):
# the GPU tests of DataParallel, CLI parity (--gpus 2 at B per GPU vs --gpus 1 at 2B, fp32, 10 steps,
# twice for reproducibility), the bench pair (gpt2-d12, B=8 per GPU, T=1024, tf32) and the --gpus
# refusals. Logs go to $OUT (default /tmp). Numbers of 2026-11-30: docs/perf.md, "Two GPUs (H200 x2)".
set -u
OUT=${OUT:-/tmp}
export NCCL_NVLS_ENABLE=0
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}
export KILN_NCCL=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib", "libnccl.so.2"))')
R="bash ${PACK:-.gpu}/run.sh"
M="kiln.cli.Main"
{ nvidia-smi -L; nvidia-smi topo -m; echo "KILN_NCCL=$KILN_NCCL"; date -u; } > "$OUT/env.txt" 2>&1

# 1. GPU tests of this branch's code (DataParallel over NCCL, one-rank NCCL, --gpus checks)
timeout 60 $R test --include-classname '.*(DataParallelGpuTest|NcclSingleRankTest|GpusOptionTest)' > "$OUT/tests.log" 2>&1
echo "tests rc=$?" >> "$OUT/tests.log"

# 2. CLI parity: 10 fp32 steps, --gpus 2 --batch 4 (per GPU) vs --gpus 1 --batch 8
COMMON="train --device cuda --model gpt2-tiny --seq 64 --steps 10 --warmup 2 --precision fp32 --val-every 0 --val-batches 2 --checkpoint-every 0 --sample-tokens 0 --force"
{ echo "== gpus 1, batch 8"; timeout 40 $R $M $COMMON --gpus 1 --batch 8 --out /tmp/p1; echo "rc=$?";
  echo "== gpus 2, batch 4 per GPU"; timeout 40 $R $M $COMMON --gpus 2 --batch 4 --out /tmp/p2; echo "rc=$?";
  echo "== gpus 2 again (reproducible?)"; timeout 30 $R $M $COMMON --gpus 2 --batch 4 --out /tmp/p3; echo "rc=$?"; } > "$OUT/train.log" 2>&1
python3 - > "$OUT/parity.txt" 2>&1 <<'PY'
import csv
def rows(p):
    with open(p) as f: return list(csv.DictReader(f))
a, b = rows('/tmp/p1/log.csv'), rows('/tmp/p2/log.csv')
print("step  loss(--gpus 1 -b 8)  loss(--gpus 2 -b 4)  |diff|  norm1  norm2")
worst = 0
for x, y in zip(a, b):
    d = abs(float(x['loss']) - float(y['loss'])); worst = max(worst, d)
    print(x['step'], x['loss'], y['loss'], "%.3e" % d, x['grad_norm'], y['grad_norm'], x['val_loss'], y['val_loss'])
print("rows", len(a), len(b), "max |loss diff| %.3e" % worst)
try:
    c = rows('/tmp/p3/log.csv')
    same = [(x['loss'], x['grad_norm']) for x in b] == [(x['loss'], x['grad_norm']) for x in c]
    print("second --gpus 2 run: losses and norms identical to the first (6 decimals):", same)
except Exception as e:
    print("no second run:", e)
PY

# 3. scaling: same per-GPU batch, tf32
B="bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 --steps 30 --precision tf32"
timeout 40 $R $M $B --gpus 1 > "$OUT/bench1.log" 2>&1; echo "rc=$?" >> "$OUT/bench1.log"
timeout 50 $R $M $B --gpus 2 > "$OUT/bench2.log" 2>&1; rc=$?; echo "rc=$rc" >> "$OUT/bench2.log"
if [ $rc != 0 ]; then echo "== again without CUDA graphs" >> "$OUT/bench2.log"; KILN_CUDA_GRAPHS=0 timeout 40 $R $M $B --gpus 2 >> "$OUT/bench2.log" 2>&1; echo "rc=$?" >> "$OUT/bench2.log"; fi

# 4. argument checks (one line each)
{ echo "== --gpus 3"; timeout 15 $R $M bench --device cuda --gpus 3; echo "rc=$?";
  echo "== --gpus 2 --device cpu"; timeout 15 $R $M bench --device cpu --gpus 2; echo "rc=$?"; } > "$OUT/checks.log" 2>&1

