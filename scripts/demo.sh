#!/usr/bin/env bash
# Builds Quire, fetches its embedding model (once, hash-checked), indexes the
# example library it ships and searches it by keywords and meaning. Uses its
# own data directory, so a real library is never touched.
# Usage: scripts/demo.sh ["your search"]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
bash scripts/fetch-models.sh embedder >/dev/null

cargo build --locked --bin quire
quire="$CARGO_TARGET_DIR/debug/quire"
data="${XDG_CACHE_HOME:-$HOME/.cache}/quire/demo-library"
query="${1:-when is it safe to put young plants outside}"

"$quire" --data-dir "$data" index examples/library
echo
echo "\$ quire search \"$query\""
"$quire" --data-dir "$data" search --limit 3 "$query"
"$quire" --data-dir "$data" status
