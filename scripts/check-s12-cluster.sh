#!/usr/bin/env bash
# Session 12, one H200: bf16 matmuls in 2-block clusters sharing B through the copy engine's multicast (WgmmaBf16.CLUSTERED,
# cluster=2). The wgmma bf16 GPU tests (every tile, the clustered ones with an odd pair and +=), MatmulBench --bf16 (every
# tile of the space on GPT-2's shapes, checked and timed), then B=32 benches in turns: the default tile against
# KILN_WGMMA_BF16_TILE = CLUSTERED's knobs, PyTorch 2.11 torch.compile bf16 in the same call, and a --profile of each.
#   OUT=$OUT PACK=.dev-s12 BUDGET_S=480 bash scripts/check-s12-cluster.sh
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s12}
BUDGET_S=${BUDGET_S:-480}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
CL="KILN_WGMMA_BF16_TILE=bm=128 bn=192 stages=4 consumers=2 group=16 tmastore=1 cluster=2"
run 150 tests.txt $R test --include-tag gpu --include-classname '.*CudaWgmmaBf16.*Test' --details=tree
run 90 matmul.txt $R kiln.runtime.cuda.MatmulBench --bf16 $OUT/kiln-matmuls-bf16.txt
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 60 bench.txt env "$CL" $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt env "$CL" $R $B --steps 30 --batch 32 --precision bf16
run 90 bench.txt python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --warmup 3 --precision bf16
run 40 profile.txt env "$CL" $R $B --steps 3 --batch 32 --precision bf16 --profile
t done
cat "$OUT/times.txt"
grep -E "tests (successful|failed)|✘" "$OUT/tests.txt" | head -20
grep -vE "^\s*$|WARNING" "$OUT/matmul.txt" | head -n 90
grep -hE "^### |ms/step|tok/s" "$OUT/bench.txt"
grep -E "wgmma_bf16" "$OUT/profile.txt" | head -20
