#!/usr/bin/env bash
# Device check of branch bf16loss (the bf16 loss trajectory, issue 13). Run on the device machine from a folder
# holding the pack as gpu/ with reference/ beside it:
#   OUT=$OUT bash scripts/check-bf16loss.sh
# Writes the 124M GPT-2 state at T=1024, B=4 (float64, PyTorch on the GPU), PyTorch's own bf16-autocast losses on
# the same state, then kiln verify --device cuda --precision bf16 against it (and tf32 as the control); prints one
# loss table (fp64 | PyTorch autocast | kiln bf16 | kiln tf32) and leaves the logs under $OUT (verify.txt).
set -uo pipefail
OUT=${OUT:-/tmp/check-bf16loss}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
d=/tmp/bf16loss-d12-T1024 a=/tmp/bf16loss-torch-bf16
S="--layers 12 --heads 12 --channels 768 --max-seq 1024 --batch 4 --seq 1024 --seed 3 --device cuda"
log="$OUT/verify.txt"; : > "$log"
run() { local s=$1; shift; echo "### $*" >> "$log"; timeout "$s" "$@" >> "$log" 2>&1; echo "### rc=$?" >> "$log"; }
[ -f $d/losses.txt ] || run 120 python3 reference/gpt2_reference.py $S --out $d --dtype float64
[ -f $a/losses.txt ] || run 90 python3 reference/gpt2_reference.py $S --out $a --dtype float32 --autocast bf16
for p in bf16 tf32; do
  run 120 bash gpu/run.sh kiln.cli.Main verify --device cuda --precision $p --model $d/model.bin --state $d/state.bin --losses $d/losses.txt
  # the verify's loss table: "step expected kiln diff ok"
  awk '/^step +expected loss/{on=1; next} on && /^[0-9]+ /{print $3} /^verify:/{on=0}' "$log" | tail -n 10 > "$OUT/kiln-$p.txt"
done
{
  echo "step  fp64 reference  torch bf16 autocast  kiln bf16  kiln tf32"
  paste <(seq 0 9) $d/losses.txt $a/losses.txt "$OUT/kiln-bf16.txt" "$OUT/kiln-tf32.txt"
  grep '^verify:' "$log"
} | tee "$OUT/losses.txt"
# the fix's cost: bf16 bench at B=8 with the residual gradients fp32 (default) and bf16 (the old storage); NO_BENCH=1 skips it
[ "${NO_BENCH:-0}" = 1 ] && exit 0
for m in fp32 bf16; do
  echo "### KILN_BF16_DRES=$m bench bf16 B=8" >> "$OUT/bench.txt"
  KILN_BF16_DRES=$m timeout 120 bash gpu/run.sh kiln.cli.Main bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 --steps 30 \
      --precision bf16 >> "$OUT/bench.txt" 2>&1
done
grep -E '^###|ms/step|tok/s' "$OUT/bench.txt" | tail -n 8
