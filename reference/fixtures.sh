#!/usr/bin/env bash
# Writes the PyTorch reference fixtures into build/fixtures/<name>/ (reference/README.md says what
# each file holds). Idempotent: a fixture whose files all exist and whose config.txt matches the
# wanted config (and the current gpt2_reference.py) is skipped. Each fixture is written to a temp
# dir and renamed into place, so a killed run never leaves half a fixture.
# Python: $KILN_PYTHON, else /usr/bin/python3 if it has torch, else python3.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRIPT="$ROOT/reference/gpt2_reference.py"
OUTDIR="$ROOT/build/fixtures"
FILES=(model.bin state.bin losses.txt checksums.txt config.txt)

# name: layers heads channels max_seq batch seq seed
FIXTURES=(
  "tiny  2 4 64 64 4 32 1"
  "odd   3 3 96 48 3 37 2"
)

PYTHON=
find_python() {
  [ -n "$PYTHON" ] && return
  local p
  for p in ${KILN_PYTHON:-} /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch, numpy' >/dev/null 2>&1; then
      PYTHON=$p; return
    fi
    [ -n "${KILN_PYTHON:-}" ] && break  # an explicit choice is not second-guessed
  done
  echo "fixtures: no python with torch and numpy${KILN_PYTHON:+ (KILN_PYTHON=$KILN_PYTHON)}; run: apt-get install -y python3-torch libopenblas0-pthread" >&2
  exit 1
}

# The config.txt lines that must match; torch_version and device may differ between machines.
wanted_config() {
  printf 'layers %s\nheads %s\nchannels %s\nmax_seq %s\nvocab 50257\npadded_vocab 50304\nbatch %s\nseq %s\nseed %s\ndtype float64\nsteps 10\nscript_sha256 %s\n' \
    "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$SHA"
}

up_to_date() {
  local dir=$1 f; shift
  for f in "${FILES[@]}"; do [ -f "$dir/$f" ] || return 1; done
  [ "$(grep -vE '^(torch_version|device) ' "$dir/config.txt")" = "$(wanted_config "$@")" ]
}

TMP= CHILD=
cleanup() {
  if [ -n "$CHILD" ]; then kill "$CHILD" 2>/dev/null || true; wait "$CHILD" 2>/dev/null || true; fi
  if [ -n "$TMP" ]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
SHA=$(sha256sum "$SCRIPT" | cut -d' ' -f1)
mkdir -p "$OUTDIR"
# temp dirs left by a SIGKILLed run (a live run's is younger than this)
find "$OUTDIR" -maxdepth 1 -name '.tmp-*' -mmin +30 -exec rm -rf {} +
for spec in "${FIXTURES[@]}"; do
  read -r name L NH C maxT B T seed <<<"$spec"
  dest="$OUTDIR/$name"
  if up_to_date "$dest" "$L" "$NH" "$C" "$maxT" "$B" "$T" "$seed"; then
    echo "fixtures: $name up to date, skipped ($dest)"
    continue
  fi
  find_python
  TMP=$(mktemp -d "$OUTDIR/.tmp-$name.XXXXXX")
  # in the background, so that a signal reaches the trap (and the child) at once
  "$PYTHON" "$SCRIPT" --layers "$L" --heads "$NH" --channels "$C" --max-seq "$maxT" \
    --batch "$B" --seq "$T" --seed "$seed" --dtype float64 --device cpu --steps 10 --out "$TMP" >/dev/null &
  CHILD=$!
  wait "$CHILD"
  CHILD=
  chmod 755 "$TMP"
  rm -rf "$dest"
  if ! mv -T "$TMP" "$dest" 2>/dev/null; then  # another run placed it in the meantime
    up_to_date "$dest" "$L" "$NH" "$C" "$maxT" "$B" "$T" "$seed" || { echo "fixtures: could not place $dest" >&2; exit 1; }
  fi
  TMP=
  echo "fixtures: $name written ($dest, L=$L NH=$NH C=$C maxT=$maxT B=$B T=$T seed=$seed, first/last loss $(head -1 "$dest/losses.txt")/$(tail -1 "$dest/losses.txt"))"
done
