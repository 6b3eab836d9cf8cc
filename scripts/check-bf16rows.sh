#!/usr/bin/env bash
# Device check of branch bf16rows (bf16 row and map kernels): run on the device machine from the repo root with the
# pack in .dev-bf16rows/gpu (/work/briefs/pack.sh's .gpu); logs under $OUT. Within BUDGET seconds (default 190):
#   GPU 0: bench bf16 (30 steps), bench tf32 (the control, ~50 ms), bench bf16 --profile (3 steps)
#   GPU 1: CudaVerifyTest#matchesPyTorchInBf16 once the fixtures are written (PyTorch on the CPU meanwhile),
#          bench bf16 with KILN_ROWS=0 (10 steps), bench tf32 with KILN_MAP_FLOAT4=0 (fp32 maps one element a thread, as on main), KILN_ROWS=0 --profile (3 steps)
set -uo pipefail
OUT=${OUT:-/tmp/check-bf16rows}; mkdir -p "$OUT"
D=${DEV:-.dev-bf16rows}
END=$(( $(date +%s) + ${BUDGET:-190} ))
left() { local l=$(( END - $(date +%s) )); [ "$l" -gt 5 ] && echo "$l" || echo 5; }
bench() { timeout "$(left)" bash "$D/gpu/run.sh" kiln.cli.Main bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 "$@"; }
# the bf16 verify cases alone (run.sh's test mode scans every class): the JUnit console on the pack's classpath
verify() {
  local H=$D/gpu CP
  [ -f build/fixtures/llama-odd/state.bin ] || { echo "no fixtures"; return 1; }
  CP=$(ls -d "$H"/classes/*/ | tr '\n' ':')$(ls "$H"/lib/*.jar | grep -v -E '/(junit-|opentest4j|apiguardian)' | tr '\n' ':')
  timeout "$(left)" /tmp/gpu-pack-jre/bin/java -Xmx32g --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector \
    -jar "$H/junit-console.jar" execute --class-path "$CP" --details=tree \
    --select-method 'kiln.runtime.CudaVerifyTest#matchesPyTorchInBf16(java.lang.String)'
}
bash "$D/gpu/run.sh" -version > "$OUT/java.txt" 2>&1   # unpacks the runtime once, before the parallel runs
nvidia-smi --query-gpu=index,name,driver_version,clocks.sm,clocks.mem --format=csv > "$OUT/gpus.txt" 2>&1
( bash reference/fixtures.sh > "$OUT/fixtures.log" 2>&1 ) &
FIX=$!
( export CUDA_VISIBLE_DEVICES=0
  bench --steps 30 --precision bf16 > "$OUT/gpu0-bf16.log" 2>&1
  bench --steps 30 --precision tf32 > "$OUT/gpu0-tf32.log" 2>&1
  bench --steps 3 --precision bf16 --profile > "$OUT/gpu0-bf16-profile.log" 2>&1 ) &
G0=$!
( export CUDA_VISIBLE_DEVICES=1
  wait_fix() { while kill -0 "$FIX" 2>/dev/null; do sleep 1; done; }
  wait_fix
  verify > "$OUT/gpu1-verify-bf16.log" 2>&1
  KILN_ROWS=0 bench --steps 10 --precision bf16 > "$OUT/gpu1-bf16-rows0.log" 2>&1
  KILN_MAP_FLOAT4=0 bench --steps 30 --precision tf32 > "$OUT/gpu1-tf32-scalar-maps.log" 2>&1
  KILN_ROWS=0 bench --steps 3 --precision bf16 --profile > "$OUT/gpu1-bf16-rows0-profile.log" 2>&1 ) &
G1=$!
wait $G0 $G1 $FIX
for f in "$OUT"/*.log; do echo "== $f"; grep -E "bench: [0-9]|bench: min|Tests (successful|failed)|tests (successful|failed)|fixtures: .*written|FAILED|Exception" "$f" | head -8; done
