#!/usr/bin/env bash
# Writes the PyTorch reference fixtures listed in reference/fixtures.txt into build/fixtures/<name>/
# (reference/README.md says what each file holds). Idempotent: a fixture whose files all exist and
# whose fixture.txt records the same script, arguments and sha256 of the script and of
# reference_common.py is skipped. A script that takes --self-test runs it once before its first
# fixture is written. Each fixture is written to a temp dir and renamed into place, so a killed run
# never leaves half a fixture. Python: $KILN_PYTHON, else /usr/bin/python3 if it has torch, else python3.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REF="$ROOT/reference"
OUTDIR="$ROOT/build/fixtures"
FILES=(model.bin state.bin losses.txt checksums.txt config.txt fixture.txt)

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

# up_to_date DIR WANTED_STAMP
up_to_date() {
  local dir=$1 wanted=$2 f
  for f in "${FILES[@]}"; do [ -f "$dir/$f" ] || return 1; done
  [ "$(cat "$dir/fixture.txt")" = "$wanted" ]
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

COMMON_SHA=$(sha256sum "$REF/reference_common.py" | cut -d' ' -f1)
SELF_TESTED=" "
mkdir -p "$OUTDIR"
# temp dirs left by a SIGKILLed run (a live run's is younger than this)
find "$OUTDIR" -maxdepth 1 -name '.tmp-*' -mmin +30 -exec rm -rf {} +
while read -r name script args; do
  case "$name" in ''|'#'*) continue ;; esac
  [ -f "$REF/$script" ] || { echo "fixtures: $name: no script reference/$script (reference/fixtures.txt)" >&2; exit 1; }
  wanted=$(printf 'script %s\nargs %s\nscript_sha256 %s\ncommon_sha256 %s\n' "$script" "$args" \
    "$(sha256sum "$REF/$script" | cut -d' ' -f1)" "$COMMON_SHA")
  dest="$OUTDIR/$name"
  if up_to_date "$dest" "$wanted"; then
    echo "fixtures: $name up to date, skipped ($dest)"
    continue
  fi
  find_python
  if [[ "$SELF_TESTED" != *" $script "* ]] && grep -q -- '--self-test' "$REF/$script"; then
    run_child "$PYTHON" "$REF/$script" --self-test >/dev/null  # the script's own checks, once, before its first fixture
    SELF_TESTED="$SELF_TESTED$script "
  fi
  TMP=$(mktemp -d "$OUTDIR/.tmp-$name.XXXXXX")
  # shellcheck disable=SC2086  # args are words
  run_child "$PYTHON" "$REF/$script" $args --dtype float64 --device cpu --steps 10 --out "$TMP" >/dev/null
  printf '%s\n' "$wanted" >"$TMP/fixture.txt"
  chmod 755 "$TMP"
  rm -rf "$dest"
  if ! mv -T "$TMP" "$dest" 2>/dev/null; then  # another run placed it in the meantime
    up_to_date "$dest" "$wanted" || { echo "fixtures: could not place $dest" >&2; exit 1; }
  fi
  TMP=
  echo "fixtures: $name written ($dest, $script $args, first/last loss $(head -1 "$dest/losses.txt")/$(tail -1 "$dest/losses.txt"))"
done <"$REF/fixtures.txt"
