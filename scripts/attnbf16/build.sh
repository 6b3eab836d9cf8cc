#!/usr/bin/env bash
# Builds the cubins check.py loads (on any machine with nvcc; no GPU needed): fab<HS>.cubin for HS 64 (wgmma) and 128,
# fab64_mma.cubin (HS 64 on the mma.sync kernels, FAB_NO_WGMMA), and fab64_w*.cubin: other HS 64 wgmma builds that
# check.py checks on small cases and times beside the default (w<fwd><dq><dkv>: warpgroups a block of each kernel;
# w1dq4: dq at one warpgroup, 4 blocks an SM; wf*: forward variants, with FAB_FWD_SWEEP=1).
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
build fab64_w1dq4 -DHS=64 -DFAB_DQ_WGS=1 -DFAB_DQ_MIN_BLOCKS=4
# FAB_FWD_SWEEP=1: also forward variants fab64_wf* (key tile FAB_FWD_BN, FAB_FWD_POLY exponentials of 8 on the FMA pipe,
# FAB_FWD_OVL P V under the next S; g*: FAB_GROUP, the heads whose blocks run together, in all three kernels; s0: the tile
# loads as a loop over chunks, FAB_STRIDED 0; s0g0: both as in the first attnfwd call), checked and
# timed like the others
if [ -n "${FAB_FWD_SWEEP:-}" ]; then
  for v in "64:-DFAB_FWD_POLY=0" "64p4:-DFAB_FWD_POLY=4" "64o:-DFAB_FWD_OVL=1 -DFAB_FWD_POLY=0" "64op2:-DFAB_FWD_OVL=1 -DFAB_FWD_POLY=2" \
           "128:-DFAB_FWD_BN=128 -DFAB_FWD_POLY=0" "128p2:-DFAB_FWD_BN=128 -DFAB_FWD_POLY=2" "g0:-DFAB_GROUP=0" "g8:-DFAB_GROUP=8" \
           "g96:-DFAB_GROUP=96" "s0:-DFAB_STRIDED=0" "s0g0:-DFAB_STRIDED=0 -DFAB_GROUP=0"; do
    # shellcheck disable=SC2086
    build "fab64_wf${v%%:*}" -DHS=64 ${v#*:}
  done
fi
# FAB_BASE=<commit>: also that commit's HS 64 kernels as fab64_wbase (a baseline timed in the same call)
if [ -n "${FAB_BASE:-}" ]; then
  mkdir -p "$TMP/base"
  git -C "$ROOT" show "$FAB_BASE:templates/cuda/flash_attention_bf16.cuh" > "$TMP/base/flash_attention_bf16.cuh"
  git -C "$ROOT" show "$FAB_BASE:scripts/attnbf16/harness.cu" > "$TMP/base/harness.cu"
  "$NVCC" -cubin -arch=sm_90a -DFAB -DHS=64 -I"$TMP/base" -o "$OUT/fab64_wbase.cubin" "$TMP/base/harness.cu"
fi
