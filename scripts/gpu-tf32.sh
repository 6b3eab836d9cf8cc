#!/usr/bin/env bash
# Issue 8 checks on the CUDA machine (after ../shared/gpu/pack.sh): the GPU tests, verify of the 124M
# state at TF32, bench fp32 and tf32, then tune --device cuda --precision tf32 and the bench again.
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
export NCCL_NVLS_ENABLE=0
OUT=${OUT:-/tmp}
bash reference/fixtures.sh > /dev/null
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  bash .gpu/run.sh test --include-tag gpu --details=tree ${TEST_SELECT:-} > "$OUT/gpu-tests.log" 2>&1
  grep -E 'verify: (cuda|OK|FAIL)|tune: .*best|tests (successful|failed|skipped|aborted)|✘' "$OUT/gpu-tests.log" | tail -${TEST_TAIL:-60}
fi
M="bash .gpu/run.sh kiln.cli.Main"
for T in ${VERIFY_SEQS:-1024}; do
  d=/tmp/kiln-d12-T$T
  [ -f $d/state.bin ] || python3 reference/gpt2_reference.py --layers 12 --heads 12 --channels 768 --max-seq 1024 \
      --batch 4 --seq $T --seed 3 --out $d --device cuda --dtype float64 > /dev/null
  for P in ${VERIFY_PRECISIONS:-tf32}; do $M verify --device cuda --precision $P --model $d/model.bin --state $d/state.bin --losses $d/losses.txt 2>&1 | grep -v WARNING; done
done
B="bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 --steps ${BENCH_STEPS:-10}"
for P in ${PRECISIONS:-fp32 tf32}; do $M $B --precision $P 2>&1 | grep -E '^bench:'; done
if [ "${TUNE:-1}" = 1 ]; then
  $M tune --device cuda --model gpt2-d12 --batch 8 --seq 1024 --precision tf32 > "$OUT/tune.log" 2>&1
  grep -vE 'WARNING|^tune: [0-9]+/' "$OUT/tune.log" | tail -40
  $M $B --precision tf32 2>&1 | grep -E '^bench: ([0-9]|min|cuda)'
  $M $B --precision tf32 --profile 2>&1 | grep -vE 'WARNING|^step ([2-9]|[1-2][0-9]):'
fi
