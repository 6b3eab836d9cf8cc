#!/usr/bin/env bash
# Builds the cubins check.py loads (on any machine with nvcc; no GPU needed): fab<HS>.cubin for HS 64 (wgmma) and 128,
# fab64_mma.cubin (HS 64 on the mma.sync kernels, FAB_NO_WGMMA), and fab64_w*.cubin: other HS 64 wgmma builds that
# check.py checks on small cases and times beside the default (warpgroups a block of the forward, dq and dkdv;
# p0: the forward without its intra-warpgroup pipelining; m1: the forward at one block an SM (the pipelined one takes one by default)).
# Usage: [FAB_BASE=<commit>] scripts/attnbf16/build.sh OUTDIR
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd); OUT=${1:?usage: build.sh OUTDIR}
NVCC=${KILN_NVCC:-/usr/local/cuda/bin/nvcc}
mkdir -p "$OUT"
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
cp "$ROOT/templates/cuda/flash_attention_bf16.cuh" "$TMP/"
cp "$HERE/harness.cu" "$TMP/"
build() { local name=$1; shift; "$NVCC" -cubin -arch=sm_90a -DFAB "$@" -I"$TMP" -o "$OUT/$name.cubin" "$TMP/harness.cu"; }
for hs in 64 128; do build fab$hs -DHS=$hs; done
build fab64_mma -DHS=64 -DFAB_NO_WGMMA
build fab64_w111 -DHS=64 -DFAB_WGS=1
build fab64_w111p0 -DHS=64 -DFAB_WGS=1 -DFAB_FWD_PIPE=0
build fab64_w222p0 -DHS=64 -DFAB_FWD_PIPE=0
build fab64_w222p0m1 -DHS=64 -DFAB_FWD_PIPE=0 -DFAB_FWD_MIN_BLOCKS=1
build fab64_w333 -DHS=64 -DFAB_WGS=3
build fab64_w442p0 -DHS=64 -DFAB_FWD_WGS=4 -DFAB_DQ_WGS=4 -DFAB_DKV_WGS=2 -DFAB_FWD_PIPE=0
# FAB_BASE=<commit>: also that commit's HS 64 kernels as fab64_wbase (a baseline timed in the same call)
if [ -n "${FAB_BASE:-}" ]; then
  mkdir -p "$TMP/base"
  git -C "$ROOT" show "$FAB_BASE:templates/cuda/flash_attention_bf16.cuh" > "$TMP/base/flash_attention_bf16.cuh"
  git -C "$ROOT" show "$FAB_BASE:scripts/attnbf16/harness.cu" > "$TMP/base/harness.cu"
  "$NVCC" -cubin -arch=sm_90a -DFAB -DHS=64 -I"$TMP/base" -o "$OUT/fab64_wbase.cubin" "$TMP/base/harness.cu"
fi
