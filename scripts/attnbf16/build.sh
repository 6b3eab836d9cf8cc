#!/usr/bin/env bash
# Builds the cubins check.py loads (on any machine with nvcc; no GPU needed): fab<HS>.cubin for HS 64 (wgmma) and 128,
# fab64_mma.cubin (HS 64 on the mma.sync kernels, FAB_NO_WGMMA). (The fp32 kernels' cubins of the first version
# are gone: their entry points changed since.)
# Usage: scripts/attnbf16/build.sh OUTDIR
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd); OUT=${1:?usage: build.sh OUTDIR}
NVCC=${KILN_NVCC:-/usr/local/cuda/bin/nvcc}
mkdir -p "$OUT"
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
cp "$ROOT/templates/cuda/flash_attention_bf16.cuh" "$TMP/"
cp "$HERE/harness.cu" "$TMP/"
for hs in 64 128; do "$NVCC" -cubin -arch=sm_90a -DFAB -DHS=$hs -I"$TMP" -o "$OUT/fab$hs.cubin" "$TMP/harness.cu"; done
"$NVCC" -cubin -arch=sm_90a -DFAB -DHS=64 -DFAB_NO_WGMMA -I"$TMP" -o "$OUT/fab64_mma.cubin" "$TMP/harness.cu"
