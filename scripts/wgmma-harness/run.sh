#!/usr/bin/env bash
# The standalone TF32 wgmma + TMA matmul harness (the kernel matmul_wgmma.cu.ftl was ported from),
# on the GPU machine: builds for sm_90a, checks 9 tiles on edge shapes and GPT-2's forward shapes
# against an fp32 reference, times them (median of 20), then cuBLAS TF32/bf16 through PyTorch.
# Usage (from the repo root on the device): bash scripts/wgmma-harness/run.sh [OUTDIR]
set -uo pipefail
OUT=${1:-${OUT:-/tmp}}
HERE=$(cd "$(dirname "$0")" && pwd)
export PATH=/usr/local/cuda/bin:$PATH
cd "$HERE"
python3 gen.py
nvcc -gencode=arch=compute_90a,code=sm_90a -O3 -Xptxas -v -o /tmp/wg wg.cu -lcuda > "$OUT/build.txt" 2>&1 || { cat "$OUT/build.txt"; exit 1; }
echo "HGMMA instructions: $(cuobjdump --dump-sass /tmp/wg 2>/dev/null | grep -c HGMMA)"
timeout 150 /tmp/wg | tee "$OUT/wg.txt"
timeout 100 python3 ../cublas_matmuls.py --bf16 | tee "$OUT/cublas.txt"
