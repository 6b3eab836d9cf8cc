#!/usr/bin/env bash
# Row fusion on an H200 (docs/perf.md, "Row fusion and the fused classifier"): the reference fixtures, every
# gpu-tagged test (SKIP_TESTS=1: none), then the bench untuned with --profile (row kernels on; PROFILE=0: without),
# then, with ROWS_OFF=1, the same with KILN_ROWS=0. Run on the device from a folder holding this branch's pack as gpu/, with generated/, reference/
# and scripts/ beside it (the tests read generated/ and build/fixtures/ from the working directory):
#   OUT=/some/dir bash scripts/rows-check.sh
set -uo pipefail
OUT=${OUT:-/tmp}
export CUDA_VISIBLE_DEVICES=0 NCCL_NVLS_ENABLE=0 KILN_CACHE=/tmp/kc PYTHONUNBUFFERED=1
R="bash gpu/run.sh"
B="kiln.cli.Main bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 --steps 30 --precision tf32"
T0=$(date +%s); t() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  bash reference/fixtures.sh > "$OUT/fixtures.log" 2>&1; t "fixtures rc=$?"
  ( time timeout "${TEST_S:-130}" $R test --include-tag gpu --details=tree ) > "$OUT/tests.log" 2>&1
  t "tests rc=$?"; grep -E "tests (successful|failed|skipped|aborted)|✘" "$OUT/tests.log" | head -30
fi
P=; [ "${PROFILE:-1}" = 1 ] && P=--profile
( time timeout "${BENCH_S:-80}" $R $B $P ) > "$OUT/on.log" 2>&1; t "rows on rc=$?"
grep -E "^bench: |Exception|rror" "$OUT/on.log" | head -8; grep -E "^ +[0-9.]+ ms" "$OUT/on.log" | head -40
if [ "${ROWS_OFF:-0}" = 1 ]; then
  ( time KILN_ROWS=0 timeout "${OFF_S:-60}" $R $B $P ) > "$OUT/off.log" 2>&1; t "rows off rc=$?"
  grep -E "^bench: |Exception|rror" "$OUT/off.log" | head -8; grep -E "^ +[0-9.]+ ms" "$OUT/off.log" | head -40
fi
