#!/usr/bin/env bash
# Branch `epi2` (bf16 wgmma matmuls: an epilogue warpgroup, KILN_EPI_WG=1, takes each finished tile from the consumers as
# bf16 and runs the epilogue while they go on to the next main loop; the default, 0, is the path before) on the H200, in one
# call: the reference fixtures written in the background while the benches run (B=32 plain and --profile, for the default
# and for $CHECK_ENV, default KILN_EPI_WG=1), then verify at bf16 through the CLI on VERIFY and the gpu-tagged tests (classes
# matching TEST_CLASSES, default CudaVerify and CudaWgmmaBf16) under $CHECK_ENV, in the time left (TOTAL_S). Run on the
# device from a folder holding this branch's pack as gpu/ with reference/ beside it (FIXTURES=0: another process writes
# build/fixtures; GPU=n: the device to use; TESTS=0: no tests):
#   cd .dev-epi2 && OUT=/some/dir TOTAL_S=260 bash gpu/check-epi2.sh     (the script copied into the pack's gpu/)
set -uo pipefail
OUT=${OUT:-/tmp}
export CUDA_VISIBLE_DEVICES=${GPU:-0} NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1
R="bash gpu/run.sh"
CHECK=${CHECK_ENV:-KILN_EPI_WG=1}
T0=$(date +%s); TOTAL=${TOTAL_S:-260}
t() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
left() { local l=$(( TOTAL - ($(date +%s) - T0) )); [ $l -lt $1 ] && echo $l || echo $1; }
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader
if [ "${FIXTURES:-1}" = 0 ] || [ -d build/fixtures/odd ]; then FPID=; elif [ -d ../build/fixtures/odd ] && [ ! -e build ]; then ln -s ../build build; FPID=; else
  ( timeout 100 bash reference/fixtures.sh > "$OUT/fixtures.log" 2>&1; echo "fixtures rc=$?" >> "$OUT/fixtures.log" ) & FPID=$!; fi
B="kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024 --precision bf16 --steps ${STEPS:-20} --warmup 3"
SEL="ms/step|wgmma_bf16 (dr1/dh\*\.fc\.gelu|h\*\.(fc|fcproj|attproj|attn\.qkv)\.out\.r1|h\*\.attn\.qkv)"
for v in KILN_EPI_WG=0 "$CHECK"; do
  env "$v" timeout "$(left 60)" $R $B --batch 32 > "$OUT/bench-b32-$v.log" 2>&1; t "bench B=32 $v rc=$?"
  grep -E "ms/step|rror|xception" "$OUT/bench-b32-$v.log" | head -3
  env "$v" timeout "$(left 60)" $R $B --batch 32 --profile > "$OUT/bench-b32-profile-$v.log" 2>&1; t "bench B=32 --profile $v rc=$?"
  grep -E "$SEL" "$OUT/bench-b32-profile-$v.log" | head -8
done
[ -n "$FPID" ] && { wait $FPID; t "$(tail -1 "$OUT/fixtures.log")"; }
for f in ${VERIFY:-tiny odd}; do
  F=build/fixtures/$f
  [ "$(left 40)" -ge 25 ] || { t "verify $f skipped (time)"; continue; }
  env "$CHECK" timeout "$(left 40)" $R kiln.cli.Main verify --device cuda --model $F/model.bin --state $F/state.bin --losses $F/losses.txt \
    --precision bf16 > "$OUT/verify-$f.log" 2>&1
  t "verify $f bf16 $CHECK rc=$?"; grep -E "OK|FAIL|rror|xception" "$OUT/verify-$f.log" | head -4
done
L=$(left 400)
if [ "${TESTS:-1}" = 1 ] && [ "$L" -gt 20 ]; then
  env "$CHECK" timeout "$L" $R test --include-tag gpu --include-classname "${TEST_CLASSES:-.*(CudaVerify|CudaWgmmaBf16).*}" \
    --include-methodname "${TEST_METHODS:-.*}" > "$OUT/tests.log" 2>&1
  t "tests $CHECK rc=$?"; grep -E "tests (successful|failed|skipped|aborted)|✘" "$OUT/tests.log" | head -40
fi
