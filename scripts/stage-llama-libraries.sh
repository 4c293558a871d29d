#!/usr/bin/env bash
# Tauri's beforeBundleCommand (src-tauri/tauri.conf.json): puts llama.cpp's shared
# libraries and its CPU kernels (one libggml-cpu-*.so per instruction-set level) where
# the .deb takes them from, src-tauri/llama-libraries/ -> /usr/lib/quire, and points the
# app binary there (its build-tree rpath names this machine's cargo output directory).
# Needs patchelf (apt install patchelf).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
profile=release
if [ "${TAURI_ENV_DEBUG:-false}" = "true" ]; then
    profile=debug
fi
target_dir=${CARGO_TARGET_DIR:-$here/target}
if [ -n "${TAURI_ENV_TARGET_TRIPLE:-}" ] && [ -d "$target_dir/$TAURI_ENV_TARGET_TRIPLE/$profile" ]; then
    binary=$target_dir/$TAURI_ENV_TARGET_TRIPLE/$profile/quire-desktop
else
    binary=$target_dir/$profile/quire-desktop
fi
stage=$here/src-tauri/llama-libraries

if ! command -v patchelf >/dev/null 2>&1; then
    echo "stage-llama-libraries: patchelf is needed to package Quire (apt install patchelf)" >&2
    exit 1
fi
if [ ! -x "$binary" ]; then
    echo "stage-llama-libraries: no app binary at $binary" >&2
    exit 1
fi

# The libraries the binary resolves now (through its build-tree rpath), by their sonames.
mapfile -t libraries < <(ldd "$binary" | awk '/lib(llama|ggml)[^ ]*\.so/ { print $3 }')
if [ "${#libraries[@]}" -eq 0 ] || printf '%s\n' "${libraries[@]}" | grep -qv '^/'; then
    echo "stage-llama-libraries: $binary does not resolve llama.cpp's libraries:" >&2
    ldd "$binary" | grep -E 'lib(llama|ggml)' >&2 || true
    exit 1
fi
kernels_dir=$(dirname "$(dirname "${libraries[0]}")")/backends
if ! compgen -G "$kernels_dir/libggml-cpu-*.so" >/dev/null; then
    echo "stage-llama-libraries: no CPU kernels (libggml-cpu-*.so) in $kernels_dir" >&2
    exit 1
fi

rm -rf "$stage"
mkdir -p "$stage"
for library in "${libraries[@]}"; do
    cp -L "$library" "$stage/$(basename "$library")"
done
cp -L "$kernels_dir"/libggml-cpu-*.so "$stage/"
strip --strip-unneeded "$stage"/*.so*

# Installed as /usr/bin/quire-desktop beside /usr/lib/quire.
patchelf --force-rpath --set-rpath '$ORIGIN/../lib/quire' "$binary"
echo "stage-llama-libraries: $(ls "$stage" | wc -l) libraries staged ($(du -sh "$stage" | cut -f1)), $binary looks in \$ORIGIN/../lib/quire"
