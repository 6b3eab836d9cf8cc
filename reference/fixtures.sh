#!/usr/bin/env bash
# Writes the PyTorch reference fixtures into build/fixtures/<name>/ (reference/README.md says what
# each file holds): GPT-2 ones from gpt2_reference.py, Llama ones from llama_reference.py.
# Idempotent: a fixture whose files all exist and whose config.txt matches the wanted config (and
# the current script that writes it) is skipped. Each fixture is written to a temp dir and renamed
# into place, so a killed run never leaves half a fixture.
# Python: $KILN_PYTHON, else /usr/bin/python3 if it has torch, else python3.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GPT2_SCRIPT="$ROOT/reference/gpt2_reference.py"
LLAMA_SCRIPT="$ROOT/reference/llama_reference.py"
OUTDIR="$ROOT/build/fixtures"
FILES=(model.bin state.bin losses.txt checksums.txt config.txt)

# name: layers heads channels max_seq batch seq seed
FIXTURES=(
  "tiny  2 4 64 64 4 32 1"
  "odd   3 3 96 48 3 37 2"
)

# name: layers heads kv_heads channels ffn max_seq batch seq seed theta eps
# theta and eps are spelled as Python's repr(float) prints them, since config.txt records them so.
LLAMA_FIXTURES=(
  "llama-tiny 2 4 2 64 128 64 4 32 4 10000.0  1e-05"
  "llama-odd  2 6 3 96 160 48 3 37 5 500000.0 1e-05"
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
gpt2_config() {
  printf 'layers %s\nheads %s\nchannels %s\nmax_seq %s\nvocab 50257\npadded_vocab 50304\nbatch %s\nseq %s\nseed %s\ndtype float64\nsteps 10\nscript_sha256 %s\n' \
    "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$GPT2_SHA"
}

llama_config() {
  printf 'layers %s\nheads %s\nkv_heads %s\nchannels %s\nffn %s\nmax_seq %s\nvocab 50257\npadded_vocab 50304\ntheta %s\neps %s\nbatch %s\nseq %s\nseed %s\ndtype float64\nsteps 10\nscript_sha256 %s\n' \
    "$1" "$2" "$3" "$4" "$5" "$6" "${10}" "${11}" "$7" "$8" "$9" "$LLAMA_SHA"
}

# up_to_date DIR WANTED_CONFIG
up_to_date() {
  local dir=$1 wanted=$2 f
  for f in "${FILES[@]}"; do [ -f "$dir/$f" ] || return 1; done
  [ "$(grep -vE '^(torch_version|device) ' "$dir/config.txt")" = "$wanted" ]
}

TMP= CHILD=
cleanup() {
  if [ -n "$CHILD" ]; then kill "$CHILD" 2>/dev/null || true; wait "$CHILD" 2>/dev/null || true; fi
  if [ -n "$TMP" ]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs a command in the background, so that a signal reaches the trap (and the child) at once.
run_child() {
  "$@" &
  CHILD=$!
  wait "$CHILD"
  CHILD=
}

# build NAME WANTED_CONFIG DESCRIPTION SCRIPT ARGS...: writes build/fixtures/NAME unless up to date.
build() {
  local name=$1 wanted=$2 desc=$3 script=$4; shift 4
  local dest="$OUTDIR/$name"
  if up_to_date "$dest" "$wanted"; then
    echo "fixtures: $name up to date, skipped ($dest)"
    return
  fi
  find_python
  TMP=$(mktemp -d "$OUTDIR/.tmp-$name.XXXXXX")
  run_child "$PYTHON" "$script" "$@" --dtype float64 --device cpu --steps 10 --out "$TMP" >/dev/null
  chmod 755 "$TMP"
  rm -rf "$dest"
  if ! mv -T "$TMP" "$dest" 2>/dev/null; then  # another run placed it in the meantime
    up_to_date "$dest" "$wanted" || { echo "fixtures: could not place $dest" >&2; exit 1; }
  fi
  TMP=
  echo "fixtures: $name written ($dest, $desc, first/last loss $(head -1 "$dest/losses.txt")/$(tail -1 "$dest/losses.txt"))"
}

GPT2_SHA=$(sha256sum "$GPT2_SCRIPT" | cut -d' ' -f1)
LLAMA_SHA=$(sha256sum "$LLAMA_SCRIPT" | cut -d' ' -f1)
mkdir -p "$OUTDIR"
# temp dirs left by a SIGKILLed run (a live run's is younger than this)
find "$OUTDIR" -maxdepth 1 -name '.tmp-*' -mmin +30 -exec rm -rf {} +
for spec in "${FIXTURES[@]}"; do
  read -r name L NH C maxT B T seed <<<"$spec"
  build "$name" "$(gpt2_config "$L" "$NH" "$C" "$maxT" "$B" "$T" "$seed")" \
    "L=$L NH=$NH C=$C maxT=$maxT B=$B T=$T seed=$seed" "$GPT2_SCRIPT" \
    --layers "$L" --heads "$NH" --channels "$C" --max-seq "$maxT" --batch "$B" --seq "$T" --seed "$seed"
done
LLAMA_CHECKED=
for spec in "${LLAMA_FIXTURES[@]}"; do
  read -r name L NH NKV C FF maxT B T seed theta eps <<<"$spec"
  wanted=$(llama_config "$L" "$NH" "$NKV" "$C" "$FF" "$maxT" "$B" "$T" "$seed" "$theta" "$eps")
  if [ -z "$LLAMA_CHECKED" ] && ! up_to_date "$OUTDIR/$name" "$wanted"; then
    find_python  # RoPE and attention against independent forms, once, before writing any Llama fixture
    run_child "$PYTHON" "$LLAMA_SCRIPT" --self-test >/dev/null
    LLAMA_CHECKED=1
  fi
  build "$name" "$wanted" \
    "L=$L NH=$NH NKV=$NKV C=$C FF=$FF maxT=$maxT B=$B T=$T seed=$seed theta=$theta eps=$eps" "$LLAMA_SCRIPT" \
    --layers "$L" --heads "$NH" --kv-heads "$NKV" --channels "$C" --ffn "$FF" --max-seq "$maxT" \
    --batch "$B" --seq "$T" --seed "$seed" --theta "$theta" --eps "$eps"
done
