#!/usr/bin/env bash
# Sourced by the other scripts: installs what building Quire needs on Debian,
# idempotently (a C toolchain from apt, the Rust toolchain pinned in rust-toolchain.toml
# through rustup), and points every build at one shared target directory outside the clone.
set -euo pipefail

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "Installing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
}

# The project's toolchain, pinned in rust-toolchain.toml; rustup installs it for this
# clone only (the user's default toolchain is not changed).
pinned_toolchain=$(sed -nE 's/^channel = "([^"]+)"/\1/p' rust-toolchain.toml)

# strace: a test checks that Quire connects to nothing but local sockets.
# cmake, libclang-dev: the llama.cpp runtime builds llama.cpp from source and binds it with bindgen.
# tesseract-ocr: reads scanned pages and pictures (a run-time part; Quire says what is
# missing without it, and the OCR tests need it).
apt_install build-essential pkg-config ca-certificates curl git python3 python3-pip strace \
    cmake libclang-dev tesseract-ocr tesseract-ocr-eng

[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
if ! command -v rustup >/dev/null 2>&1; then
    echo "Installing rustup (no default toolchain: the project's own is installed next)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
        | sh -s -- -y --profile minimal --default-toolchain none
    . "$HOME/.cargo/env"
fi
if ! rustup run "$pinned_toolchain" cargo clippy --version >/dev/null 2>&1 \
    || ! rustup run "$pinned_toolchain" cargo fmt --version >/dev/null 2>&1; then
    echo "Installing Rust $pinned_toolchain for this project"
    rustup toolchain install "$pinned_toolchain" --profile minimal --component clippy,rustfmt
fi

# Model files live outside the clone; scripts/fetch-models.sh puts them here.
export QUIRE_MODELS_DIR="${QUIRE_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/quire/models}"

# One build directory for every checkout and for CI, so rebuilds are incremental.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/quire/target}"
mkdir -p "$CARGO_TARGET_DIR"
