#!/usr/bin/env bash
# Assembles what scripts/check-attn2.sh needs into DEST/.dev-attn2 (DEST: the checkout `run` sends, e.g. /work/main),
# from this checkout: the pack (/work/briefs/pack.sh → .gpu), the harness cubins (scripts/attnbf16/build.sh, with
# FAB_BASE's kernels as a same-call baseline, default 4e514fb), scripts/attnbf16, reference/ and the check script.
# Then: run with carry [".dev-attn2"] and `OUT=$OUT LIMIT=225 bash .dev-attn2/check.sh` (timeout_s 240).
# Usage: scripts/pack-attn2.sh DEST
set -euo pipefail
DEST=${1:?usage: scripts/pack-attn2.sh DEST}
ROOT=$(cd "$(dirname "$0")/.." && pwd); cd "$ROOT"
bash /work/briefs/pack.sh
D="$DEST/.dev-attn2"
rm -rf "$D"; mkdir -p "$D"
FAB_BASE=${FAB_BASE:-4e514fb} bash scripts/attnbf16/build.sh "$D/cubins"
cp -r .gpu "$D/gpu"; cp -r scripts/attnbf16 "$D/attnbf16"; cp -r reference "$D/reference"; cp scripts/check-attn2.sh "$D/check.sh"
du -sh "$D"
