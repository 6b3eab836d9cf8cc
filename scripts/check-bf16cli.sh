#!/usr/bin/env bash
# The bf16cli branch on one H200 (issue 13's CLI pieces), one device call of at most BUDGET_S (default 115) seconds. Run from
# the project root with the pack in $PACK/gpu (default .dev-bf16cli), logs under $OUT:
#   OUT=$OUT bash scripts/check-bf16cli.sh
# bench.txt: gpt2-d12 B=8 T=1024 with the new defaults (expect "--precision bf16, --recompute gelu"), then --recompute none:
#   the "MB peak" and arena lines of the two show the memory GELU recompute saves (predicted: 12 layers x 8*1024*3072 bf16
#   values = 604 MB less with gelu), and the ms/step what it costs.
# train.txt: gpt2-tiny, 10 steps on random tokens, default precision (bf16 on CUDA), --recompute gelu then none: the two
#   logs' losses side by side (on CUDA the recomputed GELU is a separate kernel, so equal to about bf16 rounding, not
#   necessarily bit for bit; the CPU test RecomputePolicyTest checks bit-identity).
# export.txt: the gelu run exported as llm.c v5 (bf16), its header read back, and `sample --device cuda` from the v5 file.
# times.txt: each step's exit status and the seconds. Steps that would pass the budget are skipped (in this order: the
# benches matter most; the CPU suite checks the rest).
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-bf16cli}
BUDGET_S=${BUDGET_S:-115}
K="bash $PACK/gpu/run.sh kiln.cli.Main"
DROP='^train .*%\|^WARNING'
MIN_LEFT_S=8
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"   # t, left, run
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader > "$OUT/times.txt"; date -u >> "$OUT/times.txt"

B="bench --device cuda --model gpt2-d12 --batch 8 --seq 1024 --steps 8 --warmup 2"
run 45 bench.txt $K $B
run 30 bench.txt $K $B --recompute none
grep -E "^bench: (--precision|arena|[0-9.]+ ms/step)|^kiln:" "$OUT/bench.txt" > "$OUT/bench-summary.txt"

D=/tmp/bf16cli-data; W=/tmp/bf16cli-runs; rm -rf "$W"; mkdir -p "$D" "$W"
python3 - "$D" <<'PY'
import random, struct, sys
random.seed(3)
for name, n in (("train_000000.bin", 20000), ("val_000000.bin", 2000)):
    with open(f"{sys.argv[1]}/{name}", "wb") as f:
        f.write(struct.pack("<256i", 20240520, 1, n, *([0] * 253)))
        f.write(struct.pack(f"<{n}H", *[random.randrange(50257) for _ in range(n)]))
PY
C="train --device cuda --model gpt2-tiny --batch 8 --seq 64 --steps 10 --warmup 2 --val-every 0 --val-batches 2 --sample-tokens 0 --data $D"
run 25 train.txt $K $C --out "$W/gelu" --recompute gelu
run 10 export.txt $K export --checkpoint "$W/gelu" --out "$W/gelu_v5.bin" --dtype bf16
[ -f "$W/gelu_v5.bin" ] && python3 -c "import struct,sys; h=struct.unpack('<8i', open(sys.argv[1],'rb').read(32)); print('v5 header', h)" "$W/gelu_v5.bin" >> "$OUT/export.txt"
run 20 train.txt $K $C --out "$W/none" --recompute none
[ -f "$W/gelu/log.csv" ] && [ -f "$W/none/log.csv" ] && paste -d, "$W/gelu/log.csv" "$W/none/log.csv" | cut -d, -f1,2,5,8,9,12 \
  | sed '1s/.*/step,loss_gelu,norm_gelu,step,loss_none,norm_none/' >> "$OUT/train.txt"
run 15 export.txt $K sample --device cuda --checkpoint "$W/gelu_v5.bin" --tokens 8 --prompt "It was"
t "done"
