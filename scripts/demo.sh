#!/usr/bin/env bash
# Builds Quire (the whole workspace, as scripts/test.sh does), fetches its default
# models (once, hash-checked: the embedder and the Qwen2.5-Coder-1.5B chat model),
# indexes the example library it ships, searches it, and answers a question from it
# with cited pages. Uses its own data directory, so a real library is never touched.
# Usage: scripts/demo.sh ["your question"]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
. scripts/desktop-setup.sh
bash scripts/fetch-models.sh embedder qwen-1.5b >/dev/null

# The same build as the test command's (scripts/build.sh), so running both builds once.
. scripts/build.sh
quire="$CARGO_TARGET_DIR/debug/quire"
data="${XDG_CACHE_HOME:-$HOME/.cache}/quire/demo-library"
query="${1:-when is it safe to put young plants outside}"

"$quire" --data-dir "$data" index examples/library
echo
echo "\$ quire search \"$query\""
"$quire" --data-dir "$data" search --limit 3 "$query"
echo
echo "\$ quire ask \"$query\""
"$quire" --data-dir "$data" ask "$query"
