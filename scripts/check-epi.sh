#!/usr/bin/env bash
# Branch `epi` (bf16 matmul epilogues over element pairs, inputs gathered first) on the H200: verify at bf16 through the
# CLI on VERIFY (default tiny), then the B=32 bench with --profile and the B=8 bench, verify on VERIFY2, the B=32 profile on PP_TILE (if set), then the bf16
# GPU tests (CudaVerifyTest, CudaWgmmaBf16Test; TESTS=0: none) in the time left. Run on the device from a folder holding this branch's pack as
# gpu/ with reference/ beside it (build/fixtures is linked from ../build when the machine has it, else written):
#   cd .dev-epi && OUT=/some/dir TOTAL_S=170 bash scripts/check-epi.sh
set -uo pipefail
OUT=${OUT:-/tmp}
export CUDA_VISIBLE_DEVICES=0 NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1
R="bash gpu/run.sh"
T0=$(date +%s); TOTAL=${TOTAL_S:-170}
t() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
left() { local l=$(( TOTAL - ($(date +%s) - T0) )); [ $l -lt $1 ] && echo $l || echo $1; }
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader
if [ -d ../build/fixtures/odd ] && [ ! -e build ]; then ln -s ../build build; t "fixtures from ../build"; else
  timeout "$(left 60)" bash reference/fixtures.sh > "$OUT/fixtures.log" 2>&1; t "fixtures rc=$?"; fi
verify() {
  for f in "$@"; do
    F=build/fixtures/$f
    [ "$(left 40)" -ge 25 ] || { t "verify $f skipped (time)"; continue; }
    timeout "$(left 40)" $R kiln.cli.Main verify --device cuda --model $F/model.bin --state $F/state.bin --losses $F/losses.txt \
      --precision bf16 > "$OUT/verify-$f.log" 2>&1
    t "verify $f bf16 rc=$?"; grep -E "max rel|OK|FAIL|rror|xception|matmuls" "$OUT/verify-$f.log" | head -8
  done
}
verify ${VERIFY:-tiny}
B="kiln.cli.Main bench --device cuda --model gpt2-d12 --seq 1024 --precision bf16 --steps 10 --warmup 2"
timeout "$(left 80)" $R $B --batch 32 --profile > "$OUT/bench-b32.log" 2>&1; t "bench B=32 --profile rc=$?"
grep -E "ms/step|wgmma_bf16|compil" "$OUT/bench-b32.log" | head -30
timeout "$(left 30)" $R $B --batch 8 > "$OUT/bench-b8.log" 2>&1; t "bench B=8 rc=$?"
grep -E "ms/step" "$OUT/bench-b8.log"
verify ${VERIFY2:-}
# optional: every bf16 matmul on another tile (PP_TILE, e.g. ping-pong), the B=32 profile again
if [ -n "${PP_TILE:-}" ] && [ "$(left 60)" -ge 50 ]; then
  KILN_WGMMA_BF16_TILE="$PP_TILE" timeout "$(left 80)" $R $B --batch 32 --profile > "$OUT/bench-b32-pp.log" 2>&1; t "bench B=32 tile $PP_TILE rc=$?"
  grep -E "ms/step|wgmma_bf16|compil" "$OUT/bench-b32-pp.log" | head -30
fi
L=$(left 200)
if [ "${TESTS:-1}" = 1 ] && [ "$L" -gt 20 ]; then
  timeout "$L" $R test --include-tag gpu --include-classname '.*(CudaVerify|CudaWgmmaBf16).*' > "$OUT/tests.log" 2>&1
  t "tests rc=$?"; grep -E "tests (successful|failed|skipped|aborted)|✘|✔" "$OUT/tests.log" | head -40
fi
