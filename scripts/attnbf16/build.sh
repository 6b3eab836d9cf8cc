#!/usr/bin/env bash
# Builds the cubins check.py loads (on any machine with nvcc; no GPU needed): fab<HS>.cubin for HS 64 (wgmma) and 128,
# fab64_mma.cubin (HS 64 on the mma.sync kernels, FAB_NO_WGMMA),
# fa_simt.cubin and fa_tf32.cubin (the fp32 kernels at HS 64). Usage: scripts/attnbf16/build.sh OUTDIR
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd); OUT=${1:?usage: build.sh OUTDIR}
NVCC=${KILN_NVCC:-/usr/local/cuda/bin/nvcc}
mkdir -p "$OUT"
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
cp "$ROOT/templates/cuda/flash_attention_bf16.cuh" "$TMP/"
sed '1,/-->/d' "$ROOT/templates/cuda/flash_attention.ftl" > "$TMP/flash_attention.cuh"   # the template's FreeMarker comment off
cp "$HERE/harness.cu" "$TMP/"
for hs in 64 128; do "$NVCC" -cubin -arch=sm_90a -DFAB -DHS=$hs -I"$TMP" -o "$OUT/fab$hs.cubin" "$TMP/harness.cu"; done
"$NVCC" -cubin -arch=sm_90a -DFAB -DHS=64 -DFAB_NO_WGMMA -I"$TMP" -o "$OUT/fab64_mma.cubin" "$TMP/harness.cu"
"$NVCC" -cubin -arch=sm_90a -DHS=64 -DFA_TF32=0 -I"$TMP" -o "$OUT/fa_simt.cubin" "$TMP/harness.cu"
"$NVCC" -cubin -arch=sm_90a -DHS=64 -DFA_TF32=1 -I"$TMP" -o "$OUT/fa_tf32.cubin" "$TMP/harness.cu"
