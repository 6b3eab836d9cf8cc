#!/usr/bin/env bash
# Session 13, one H200: bf16 tiles with the overlapped store (two accumulator sets; a tile's C stored while the tensor cores
# take the next tile's first stage). The wgmma bf16 GPU tests (every tile of the space, the overlap tiles included), the
# tiles beside the default at B·T = 32768 (MatmulBench), then B=32 benches in turns: the default, every bf16 matmul on
# 128x192 overlap, on 128x128 overlap; PyTorch in the same call; a --profile of the better overlap tile.
#   OUT=$OUT PACK=.dev-s13 BUDGET_S=540 bash scripts/check-s13-ovl.sh   (needs the overlap knob: commit d39b10b, removed after)
set -uo pipefail
OUT=${OUT:-/tmp}
PACK=${PACK:-.dev-s13}
BUDGET_S=${BUDGET_S:-540}
DROP='^train .*%\|^WARNING: Using incubator'
. "$(dirname "${BASH_SOURCE[0]}")/device-lib.sh"
pack_commands
export KILN_CACHE=/tmp/kc0
O192="KILN_WGMMA_BF16_TILE=bm=128 bn=192 stages=4 consumers=2 group=16 tmastore=1 overlap=1"
O128="KILN_WGMMA_BF16_TILE=bm=128 bn=128 stages=6 consumers=2 group=16 tmastore=1 overlap=1"
run 150 tests.txt $R test --include-tag gpu --include-classname '.*CudaWgmmaBf16.*Test' --details=tree
run 120 mm.txt $R kiln.runtime.cuda.MatmulBench --bf16 --bt 32768 --tiles 6,7,15,16 "$OUT/kiln-bf16.txt"
run 50 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 60 bench.txt env "$O192" $R $B --steps 30 --batch 32 --precision bf16
run 60 bench.txt env "$O128" $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt env "$O192" $R $B --steps 30 --batch 32 --precision bf16
run 45 bench.txt env "$O128" $R $B --steps 30 --batch 32 --precision bf16
run 90 bench.txt python3 reference/torch_gpu_bench.py --batch 32 --seq 1024 --steps 30 --warmup 3 --precision bf16
run 40 profile.txt env "$O192" $R $B --steps 3 --batch 32 --precision bf16 --profile
run 40 profile.txt env "$O128" $R $B --steps 3 --batch 32 --precision bf16 --profile
t done
cat "$OUT/times.txt"
grep -E "tests (successful|failed)|✘" "$OUT/tests.txt" | head -20
grep -E "^#|^[a-z_0-9]+ " "$OUT/mm.txt" | head -20
grep -hE "^### |ms/step|tok/s" "$OUT/bench.txt"
grep -E "^### |wgmma_bf16" "$OUT/profile.txt" | head -40
