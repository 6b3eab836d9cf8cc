#!/usr/bin/env bash
# kiln's CPU path against PyTorch (Debian's 1.13 with OpenBLAS) in one run, side by side:
#   1. `kiln bench` of a GPT-2 training step with a per-matmul table (ms and GFLOP/s per distinct shape);
#   2. reference/torch_cpu_bench.py: torch.matmul on the same shapes and layouts, then a PyTorch
#      GPT-2 training step (fp32, AdamW) of the same size;
#   3. a table of both, and the step ratio.
# Usage: scripts/cpu-vs-torch.sh [--model gpt2-d12] [--batch 4] [--seq 64] [--steps 6] [--threads N]
# Python: $KILN_PYTHON, else /usr/bin/python3 (it needs torch).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODEL=gpt2-d12 BATCH=4 SEQ=64 STEPS=6 THREADS=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --model) MODEL=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --seq) SEQ=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    *) echo "cpu-vs-torch: unknown argument $1 (expected --model, --batch, --seq, --steps, --threads)" >&2; exit 2 ;;
  esac
done
case "$MODEL" in
  gpt2-tiny) L=2 NH=4 C=128 ;;
  gpt2-d6) L=6 NH=6 C=384 ;;
  gpt2-d12) L=12 NH=12 C=768 ;;
  gpt2-d24) L=24 NH=16 C=1024 ;;
  *) echo "cpu-vs-torch: --model $MODEL: expected gpt2-tiny, gpt2-d6, gpt2-d12 or gpt2-d24" >&2; exit 2 ;;
esac
PY=${KILN_PYTHON:-/usr/bin/python3}
export OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS   # the same core count for both sides
if ! "$PY" -c 'import torch' >/dev/null 2>&1; then
  echo "cpu-vs-torch: $PY has no torch; run: apt-get install -y python3-torch libopenblas0-pthread (or set KILN_PYTHON)" >&2
  exit 1
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "== kiln: ./kiln bench --device cpu --model $MODEL --batch $BATCH --seq $SEQ --steps $STEPS --threads $THREADS --matmul-table"
"$ROOT/kiln" bench --device cpu --model "$MODEL" --batch "$BATCH" --seq "$SEQ" --steps "$STEPS" --warmup 2 --threads "$THREADS" \
  --matmul-table "$WORK/matmuls.txt" 2>&1 | grep -v '^step\|^  ' | tee "$WORK/kiln.txt"
KILN_MS=$(sed -n 's/^bench: \([0-9.]*\) ms\/step.*/\1/p' "$WORK/kiln.txt")
echo "== torch: reference/torch_cpu_bench.py (same matmul shapes, then a GPT-2 L=$L NH=$NH C=$C step at B=$BATCH T=$SEQ)"
"$PY" "$ROOT/reference/torch_cpu_bench.py" --shapes "$WORK/matmuls.txt" --layers "$L" --heads "$NH" --channels "$C" \
  --batch "$BATCH" --seq "$SEQ" --steps "$STEPS" --threads "$THREADS" | tee "$WORK/torch.txt"
TORCH_MS=$(sed -n 's/^torch step: .*median \([0-9.]*\) ms.*/\1/p' "$WORK/torch.txt")
echo "== step: kiln $KILN_MS ms (profiled: one clock read per launch), torch $TORCH_MS ms;" \
  "kiln is $(awk -v k="$KILN_MS" -v t="$TORCH_MS" 'BEGIN { printf "%.2f", t / k }')x PyTorch's step rate"
