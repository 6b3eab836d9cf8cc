#!/usr/bin/env bash
# Session 13, one H200: the bf16 attention forward on 128-key tiles by default (FAB_FWD_BN 128, FAB_FWD_POLY 0). The fixtures,
# every gpu-tagged test but the two-GPU class, the direct harness (the default build beside the previous header, fab64_wbase
# from `FAB_BASE=d2fff81 scripts/attnbf16/build.sh $PACK/cubins`), B=32 benches in turns: the default, the previous forward
# through KILN_NVRTC_OPTIONS (same host shared memory), and the classifier's online pass unrolled 2 and 4
# (KILN_ONLINE_UNROLL); PyTorch in the same call; --profile of the default and of the previous forward.
#   OUT=$OUT PACK=.dev-s13 BUDGET_S=480 bash scripts/check-s13-fwd.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s13}
BUDGET_S=${BUDGET_S:-480}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
OLD="KILN_NVRTC_OPTIONS=-DFAB_FWD_BN=64 -DFAB_FWD_POLY=2"
run 100 fixtures.txt bash reference/fixtures.sh
run 230 tests.txt $R test --include-tag gpu --exclude-classname '.*DataParallelGpuTest' --details=tree
run 60 attn.txt python3 scripts/attnbf16/check.py $PACK/cubins --time
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt env "$OLD" $R $B --steps 30 --batch 32 --precision bf16
run 40 bench.txt env KILN_ONLINE_UNROLL=2 $R $B --steps 30 --batch 32 --precision bf16
run 40 bench.txt env KILN_ONLINE_UNROLL=4 $R $B --steps 30 --batch 32 --precision bf16
run 40 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 40 bench.txt env "$OLD" $R $B --steps 30 --batch 32 --precision bf16
run 90 bench.txt python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --warmup 3 --precision bf16
run 30 profile.txt $R $B --steps 3 --batch 32 --precision bf16 --profile
run 30 profile.txt env "$OLD" $R $B --steps 3 --batch 32 --precision bf16 --profile
run 30 profile.txt env KILN_ONLINE_UNROLL=4 $R $B --steps 3 --batch 32 --precision bf16 --profile
t done
cat "$OUT/times.txt"
grep -E "tests (successful|failed)|✘" "$OUT/tests.txt" | head -20
grep -E "PASS|FAIL|interleaved|default build  |wbase  " "$OUT/attn.txt" | head -12
grep -hE "^### |ms/step|tok/s" "$OUT/bench.txt"
grep -E "^### |attention_bf16 h|row head" "$OUT/profile.txt" | head -20
