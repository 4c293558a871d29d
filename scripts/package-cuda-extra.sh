#!/usr/bin/env bash
# Makes quire-cuda_<version>_amd64.deb, the optional extra that lets the Quire package run
# models on an NVIDIA GPU: llama.cpp's CUDA module with the CUDA runtime and cuBLAS it needs,
# installed in /usr/lib/quire/gpu, where Quire looks at start (engine/src/llm/gpu.rs). It
# depends on the same version of quire, since the module must match its ggml. Kept apart
# from the main package because cuBLAS alone is over half a gigabyte.
# Usage: scripts/package-cuda-extra.sh [MODULE_DIR] [OUTPUT_DIR]
#   MODULE_DIR: what scripts/build-cuda-module.sh made (default ~/.cache/quire/gpu/cuda)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
module_dir="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/quire/gpu/cuda}"
out_dir="${2:-$here}"
version=$(sed -nE 's/^ *"version": "([^"]+)".*/\1/p' "$here/src-tauri/tauri.conf.json" | head -n 1)

for file in libggml-cuda.so quire-gpu-module.txt libcudart.so.13 libcublas.so.13 libcublasLt.so.13; do
    [ -f "$module_dir/$file" ] || {
        echo "package-cuda-extra: no $file in $module_dir; run scripts/build-cuda-module.sh" >&2
        exit 1
    }
done

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/usr/lib/quire/gpu" "$stage/DEBIAN" "$stage/usr/share/doc/quire-cuda"
cp "$module_dir"/{libggml-cuda.so,quire-gpu-module.txt,libcudart.so.13,libcublas.so.13,libcublasLt.so.13} \
    "$stage/usr/lib/quire/gpu/"
cat >"$stage/usr/share/doc/quire-cuda/README" <<EOF
llama.cpp's CUDA back end for Quire, with NVIDIA's CUDA runtime and cuBLAS
(CUDA 13, redistributed under NVIDIA's CUDA Toolkit EULA). Built for:
$(cat "$module_dir/quire-gpu-module.txt")
It needs NVIDIA's driver, 580 or newer. Without it Quire says so (quire status) and runs on the CPU.
EOF
installed_kb=$(du -sk "$stage/usr" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: quire-cuda
Version: $version
Architecture: amd64
Maintainer: Quire
Installed-Size: $installed_kb
Depends: quire (= $version)
Section: utils
Priority: optional
Description: NVIDIA GPU acceleration for Quire
 llama.cpp's CUDA back end, loaded by Quire at start when an NVIDIA driver
 (580 or newer) and GPU are present; models then run on the GPU.
EOF
deb="$out_dir/quire-cuda_${version}_amd64.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "package-cuda-extra: $deb: $(du -h "$deb" | cut -f1) (installed $((installed_kb / 1024)) MiB)" >&2
echo "$deb"
