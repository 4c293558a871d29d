#!/usr/bin/env bash
# Sourced by the other scripts: installs what building Quire needs on Debian,
# idempotently (a C toolchain from apt, a Rust toolchain when there is none recent
# enough), and points every build at one shared target directory outside the clone.
set -euo pipefail

min_rust_minor=89 # Rust 1.89: std file locks

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

rust_is_recent() {
    command -v cargo >/dev/null 2>&1 || return 1
    local minor
    minor=$(cargo --version | sed -E 's/^cargo 1\.([0-9]+).*/\1/')
    [ "${minor:-0}" -ge "$min_rust_minor" ] && cargo fmt --version >/dev/null 2>&1 \
        && cargo clippy --version >/dev/null 2>&1
}

# strace: a test checks that Quire connects to nothing but local sockets.
# cmake, libclang-dev: the llama.cpp runtime builds llama.cpp from source and binds it with bindgen.
apt_install build-essential pkg-config ca-certificates curl git python3 python3-pip strace \
    cmake libclang-dev

[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
if ! rust_is_recent; then
    if command -v rustup >/dev/null 2>&1; then
        rustup toolchain install stable --profile minimal --component clippy,rustfmt
        rustup default stable
    else
        echo "Installing the Rust toolchain with rustup"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
            | sh -s -- -y --profile minimal --component clippy,rustfmt
    fi
    . "$HOME/.cargo/env"
fi

# Model files live outside the clone; scripts/fetch-models.sh puts them here.
export QUIRE_MODELS_DIR="${QUIRE_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/quire/models}"

# One build directory for every checkout and for CI, so rebuilds are incremental.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/quire/target}"
mkdir -p "$CARGO_TARGET_DIR"
