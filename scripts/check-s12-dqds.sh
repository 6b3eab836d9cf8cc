#!/usr/bin/env bash
# Session 12, one H200: the dq-from-dS prototype (scripts/attnbf16/dq_from_ds.cuh, build fab64_wds) in the direct harness:
# every build checked against PyTorch's fp32 reference and timed beside the default build and PyTorch's SDPA.
# Cubins from `scripts/attnbf16/build.sh $PACK/cubins` (no Java needed on the device for this one).
#   OUT=$OUT PACK=.dev-s12 BUDGET_S=150 bash scripts/check-s12-dqds.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s12}
BUDGET_S=${BUDGET_S:-150}
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$OUT/times.txt"
run 140 direct.txt python3 scripts/attnbf16/check.py $PACK/cubins --time
t done
cat "$OUT/times.txt"
grep -E "FAIL|PASS|wds|^  kiln|^  PyTorch|^timings|^forward|^  (y|lse|dq|dk|dv) |^gpt2|^ragged|^grouped|^multi" "$OUT/direct.txt" | head -n 90
