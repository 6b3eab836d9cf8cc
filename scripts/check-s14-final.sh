#!/usr/bin/env bash
# Session 14, one H200: the second sweep's rules (raster groups of 8 on the 192 x 192 and 128 x 256 measured tiles) against
# the first ($PACK/old: the same jars, the first rules), B=32 benches in turns with PyTorch 2.11 torch.compile bf16 in the
# same call; the matmul launches of one step under Nsight Compute; then every gpu-tagged test and the 124M bf16
# verify.
#   OUT=$OUT PACK=.dev-s14 BUDGET_S=560 bash scripts/check-s14-final.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s14}
BUDGET_S=${BUDGET_S:-560}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
O="bash $PACK/old/run.sh"
P="python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --warmup 3 --precision bf16"
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
N="$NCU --profile-from-start off --graph-profiling node --clock-control none --cache-control none -k regex:wgmma_bf16 --metrics gpu__time_duration.sum --csv --page raw"
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt $O $B --steps 30 --batch 32 --precision bf16
run 40 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 40 bench.txt $O $B --steps 30 --batch 32 --precision bf16
run 80 bench.txt $P
run 40 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 40 bench.txt $O $B --steps 30 --batch 32 --precision bf16
run 30 bench.txt $R $B --steps 30 --batch 16 --precision bf16
run 50 ncu.txt $N --log-file $OUT/new.csv $R $B --steps 1 --batch 32 --precision bf16 --cuda-profiler-range
run 100 fixtures.txt bash reference/fixtures.sh
run 260 tests.txt $R test --include-tag gpu
K="$R kiln.cli.Main"
verify_124m
t done
cat "$OUT/times.txt"
grep -hE "^### |ms/step|tok/s" "$OUT/bench.txt"
grep -E "tests (successful|failed)|containers failed" "$OUT/tests.txt"
grep -E "FAIL|OK|loss" "$OUT/verify.txt" | tail -14
