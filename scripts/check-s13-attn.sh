#!/usr/bin/env bash
# Session 13, one H200: (1) the bf16 attention forward's variants in the direct harness, interleaved rounds at B=32 (cubins
# from `FAB_FWD_SWEEP=1 scripts/attnbf16/build.sh $PACK/cubins`, less the backward and load-order builds); (2) Nsight Systems
# over a few B=32 steps of kiln and of PyTorch's torch.compile bench, each kernel's summed GPU time (no replay, no event
# around each launch: the two programs' kernels measured alike).
#   OUT=$OUT PACK=.dev-s13 BUDGET_S=400 bash scripts/check-s13-attn.sh   (the H200 machines had no nsys on 2026-12-01)
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s13}
BUDGET_S=${BUDGET_S:-400}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
run 150 attn.txt python3 scripts/attnbf16/check.py $PACK/cubins --time
NSYS=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys /usr/local/cuda/nsight-systems*/bin/nsys 2>/dev/null | head -1)
t "nsys: ${NSYS:-none}"
if [ -n "$NSYS" ]; then
  run 90 nsys.txt $NSYS profile -o /tmp/kiln-prof --force-overwrite true -t cuda $R $B --steps 10 --batch 32 --precision bf16
  run 60 nsys.txt $NSYS stats --report cuda_gpu_kern_sum --format csv -o $OUT/kiln /tmp/kiln-prof.nsys-rep
  run 150 nsys.txt $NSYS profile -o /tmp/torch-prof --force-overwrite true -t cuda python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 10 --warmup 3 --precision bf16
  run 60 nsys.txt $NSYS stats --report cuda_gpu_kern_sum --format csv -o $OUT/torch /tmp/torch-prof.nsys-rep
fi
t done
cat "$OUT/times.txt"
grep -E "PASS|FAIL|interleaved|^  kiln|^  PyTorch|fwd " "$OUT/attn.txt" | head -40
ls $OUT
