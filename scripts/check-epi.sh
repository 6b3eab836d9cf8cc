#!/usr/bin/env bash
# Branch `epi` (bf16 matmul epilogues over element pairs, inputs gathered first, kiln_tanh) on the H200, in one call:
# the reference fixtures written in the background while the benches run (B=32 with --profile, B=8; then B=32 --profile
# with each codegen knob in VARIANTS, e.g. "KILN_EPI_ROWS=1 KILN_EPI_TANH=libm"), then verify at bf16 through the CLI
# on VERIFY, then the bf16 GPU tests (CudaVerifyTest, CudaWgmmaBf16Test; methods matching TEST_METHODS) in the time
# left (TOTAL_S). Run on the device from a folder holding this branch's pack as gpu/ with reference/ beside it:
#   cd .dev-epi && OUT=/some/dir TOTAL_S=170 bash scripts/check-epi.sh
set -uo pipefail
OUT=${OUT:-/tmp}
export CUDA_VISIBLE_DEVICES=0 NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1
R="bash gpu/run.sh"
T0=$(date +%s); TOTAL=${TOTAL_S:-170}
t() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
left() { local l=$(( TOTAL - ($(date +%s) - T0) )); [ $l -lt $1 ] && echo $l || echo $1; }
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader
if [ -d ../build/fixtures/odd ] && [ ! -e build ]; then ln -s ../build build; FPID=; else
  ( timeout 100 bash reference/fixtures.sh > "$OUT/fixtures.log" 2>&1; echo "fixtures rc=$?" >> "$OUT/fixtures.log" ) & FPID=$!; fi
B="kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024 --precision bf16 --steps 10 --warmup 2"
timeout "$(left 70)" $R $B --batch 32 --profile > "$OUT/bench-b32.log" 2>&1; t "bench B=32 --profile rc=$?"
grep -E "ms/step|wgmma_bf16|compil" "$OUT/bench-b32.log" | head -20
timeout "$(left 30)" $R $B --batch 8 > "$OUT/bench-b8.log" 2>&1; t "bench B=8 rc=$?"
grep -E "ms/step" "$OUT/bench-b8.log"
for v in ${VARIANTS:-}; do
  [ "$(left 40)" -ge 30 ] || { t "variant $v skipped (time)"; continue; }
  env "$v" timeout "$(left 40)" $R $B --batch 32 --profile > "$OUT/bench-b32-$v.log" 2>&1; t "bench B=32 --profile $v rc=$?"
  grep -E "ms/step|wgmma_bf16 (dr1/dh\*\.fc\.gelu|h\*\.(fc|fcproj|attproj|attn\.qkv)\.out\.r1|h\*\.attn\.qkv)" "$OUT/bench-b32-$v.log" | head -8
done
[ -n "$FPID" ] && { wait $FPID; t "$(tail -1 "$OUT/fixtures.log")"; }
for f in ${VERIFY:-tiny}; do
  F=build/fixtures/$f
  [ "$(left 40)" -ge 25 ] || { t "verify $f skipped (time)"; continue; }
  timeout "$(left 40)" $R kiln.cli.Main verify --device cuda --model $F/model.bin --state $F/state.bin --losses $F/losses.txt \
    --precision bf16 > "$OUT/verify-$f.log" 2>&1
  t "verify $f bf16 rc=$?"; grep -E "OK|FAIL|rror|xception|launches with an epilogue" "$OUT/verify-$f.log" | sed 's/.*matmul launches tuned.*; \([0-9]* matmul launches with an epilogue\).*/\1/' | head -4
done
L=$(left 300)
if [ "${TESTS:-1}" = 1 ] && [ "$L" -gt 20 ]; then
  timeout "$L" $R test --include-tag gpu --include-classname '.*(CudaVerify|CudaWgmmaBf16).*' \
    --include-methodname "${TEST_METHODS:-.*}" > "$OUT/tests.log" 2>&1
  t "tests rc=$?"; grep -E "tests (successful|failed|skipped|aborted)|✘|✔" "$OUT/tests.log" | head -40
fi
