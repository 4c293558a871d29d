#!/usr/bin/env bash
# Builds Quire, indexes the example library it ships and searches it. Uses its
# own data directory, so a real library is never touched.
# Usage: scripts/demo.sh ["your search"]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh

cargo build --locked --bin quire
quire="$CARGO_TARGET_DIR/debug/quire"
data="${XDG_CACHE_HOME:-$HOME/.cache}/quire/demo-library"
query="${1:-when should tomatoes be planted out}"

"$quire" --data-dir "$data" index examples/library
echo
echo "\$ quire search \"$query\""
"$quire" --data-dir "$data" search --limit 3 "$query"
"$quire" --data-dir "$data" status
