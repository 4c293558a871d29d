#!/usr/bin/env bash
# Builds llama.cpp's CUDA back end as one more run-time module (libggml-cuda.so), beside
# the CPU kernel modules Quire already loads, from the very llama.cpp source Quire is built
# with (the llama-cpp-sys-2 crate in Cargo.lock), with the CUDA toolkit from NVIDIA's PyPI
# wheels (pinned versions, sha256-checked). Opt-in and outside CI: it needs no GPU to build,
# but compiling ggml's CUDA kernels takes long (about an hour per architecture on 2 cores).
#
# Output: the module, the CUDA runtime and cuBLAS it needs, and a stamp naming the ggml
# version it was built from, in one folder (default ~/.cache/quire/gpu/cuda), which Quire
# looks in at start (engine/src/llm/gpu.rs). It needs an NVIDIA driver of the 580 series or
# newer (CUDA 13) at run time; without one Quire says so and runs on the CPU.
#
# Usage: scripts/build-cuda-module.sh [OUTPUT_DIR]
#   QUIRE_CUDA_ARCHS     the GPU architectures, as CMake names them
#                        (default "80-real;86-real;89-real;90": Ampere, RTX 30, RTX 40, Hopper,
#                        plus PTX that newer GPUs compile at first use)
#   QUIRE_CUDA_JOBS      parallel compile jobs (default: all cores)
#   QUIRE_CUDA_HOME      a CUDA 13 toolkit already installed (bin/nvcc), instead of the wheels
#   QUIRE_LLAMA_CPP_SRC  the llama.cpp tree, instead of llama-cpp-sys-2's (a machine without
#                        Rust: scripts/gpu-measure.sh carries it)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

cache="${XDG_CACHE_HOME:-$HOME/.cache}/quire"
out_dir="${1:-$cache/gpu/cuda}"
archs="${QUIRE_CUDA_ARCHS:-80-real;86-real;89-real;90}"
jobs="${QUIRE_CUDA_JOBS:-$(nproc)}"
root="$cache/cuda-build"
downloads="$cache/downloads/cuda"

# CUDA 13.0 update 2. Each wheel puts its part under nvidia/cu13/{bin,include,lib,nvvm}.
wheels=(
    "nvidia-cuda-nvcc==13.0.88 56fe502eb77625a12f25172caa3cdddb4e4c8ba2c8c17dba44b164761b380f03"
    "nvidia-cuda-crt==13.0.88 2c8043c7c9e02492716426e9919fc78d2c5b3b2a7a768a88e952676b08aa55a4"
    "nvidia-nvvm==13.0.88 c5f41ffeb6466944a026dfa5317d7d85355c119bbec279205d22f1869d1054e0"
    "nvidia-cuda-runtime==13.0.96 7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548"
    "nvidia-cuda-cccl==13.0.85 e0da7ad981f3a8aff08241b5bfc1af868742a63e2762f53a5171c492ef242649"
    "nvidia-cublas==13.1.0.3 ee8722c1f0145ab246bccb9e452153b5e0515fd094c3678df50b2a0888b8b171"
)

say() { echo "build-cuda-module: $*" >&2; }

if [ -z "${QUIRE_CUDA_HOME:-}" ] && [ -n "${QUIRE_LLAMA_CPP_SRC:-}" ] && ! command -v patchelf >/dev/null; then
    say "patchelf is needed to point the module at the CUDA libraries beside it (apt install patchelf)"
    exit 1
fi
if [ -n "${QUIRE_LLAMA_CPP_SRC:-}" ]; then
    src="$QUIRE_LLAMA_CPP_SRC"
    sys_version=$(cat "$src/.llama-cpp-sys-2-version" 2>/dev/null || echo unknown)
else
    source scripts/setup.sh
    apt_install patchelf
    # The llama.cpp tree Quire links: llama-cpp-sys-2's, at the version Cargo.lock names.
    sys_manifest=$(cargo metadata --format-version 1 --locked 2>/dev/null | python3 -c '
import json, sys
meta = json.load(sys.stdin)
print(next(p["manifest_path"] for p in meta["packages"] if p["name"] == "llama-cpp-sys-2"))')
    sys_dir=$(dirname "$sys_manifest")
    sys_version=$(basename "$sys_dir" | sed 's/^llama-cpp-sys-2-//')
    src="$sys_dir/llama.cpp"
fi
[ -f "$src/ggml/src/ggml-cuda/CMakeLists.txt" ] || { say "no ggml-cuda sources in $src"; exit 1; }
ggml_version=$(sed -nE 's/^set\(GGML_VERSION_(MAJOR|MINOR|PATCH) ([0-9]+)\)/\2/p' "$src/ggml/CMakeLists.txt" | paste -sd.)
say "llama.cpp from llama-cpp-sys-2 $sys_version (ggml $ggml_version); architectures $archs"

# The toolkit: one installed (QUIRE_CUDA_HOME), or assembled from the wheels into one prefix.
toolkit="${QUIRE_CUDA_HOME:-$root/toolkit}"
toolkit_stamp="$toolkit/.wheels"
wanted=$(printf '%s\n' "${wheels[@]}")
if [ -z "${QUIRE_CUDA_HOME:-}" ] && { [ ! -f "$toolkit_stamp" ] || [ "$(cat "$toolkit_stamp")" != "$wanted" ]; }; then
    mkdir -p "$downloads"
    rm -rf "$toolkit" && mkdir -p "$toolkit"
    for entry in "${wheels[@]}"; do
        read -r requirement sha256 <<<"$entry"
        name=${requirement%%==*} version=${requirement##*==}
        file=$(ls "$downloads"/"${name//-/_}"-"$version"-*.whl 2>/dev/null | head -n 1 || true)
        if [ -z "$file" ]; then
            say "downloading $requirement"
            pip download --quiet --no-deps --only-binary=:all: -d "$downloads" "$requirement" >&2
            file=$(ls "$downloads"/"${name//-/_}"-"$version"-*.whl | head -n 1)
        fi
        actual=$(sha256sum "$file" | cut -d' ' -f1)
        if [ "$actual" != "$sha256" ]; then
            rm -f "$file"
            say "$requirement: sha256 mismatch (got $actual); removed, run again"
            exit 1
        fi
        python3 -m zipfile -e "$file" "$toolkit/unpacked"
    done
    mv "$toolkit/unpacked/nvidia/cu13"/* "$toolkit/"
    rm -rf "$toolkit/unpacked"
    chmod +x "$toolkit"/bin/* "$toolkit"/nvvm/bin/*
    # The wheels carry only the versioned names; the linker looks for the plain ones.
    for lib in cudart cublas cublasLt nvvm; do
        versioned=$(ls "$toolkit/lib/lib$lib.so."* | head -n 1)
        ln -sf "$(basename "$versioned")" "$toolkit/lib/lib$lib.so"
    done
    # nvcc looks for lib64 and libnvvm under nvvm/ as a toolkit installs them.
    ln -sfn lib "$toolkit/lib64"
    mkdir -p "$toolkit/nvvm/lib64"
    ln -sf ../../lib/libnvvm.so "$toolkit/nvvm/lib64/libnvvm.so"
    echo "$wanted" >"$toolkit_stamp"
fi
"$toolkit/bin/nvcc" --version | tail -n 2 >&2

# cmake (3.24 or newer, for lists of CUDA architectures) and ninja: the machine's, or from PyPI.
tools="$root/tools"
cmake_version=$(cmake --version 2>/dev/null | sed -nE '1s/.* ([0-9]+\.[0-9]+).*/\1/p')
if command -v ninja >/dev/null && [ -n "$cmake_version" ] \
    && [ "$(printf '%s\n3.24\n' "$cmake_version" | sort -V | head -n 1)" = "3.24" ]; then
    tools="$(dirname "$(command -v cmake)")/.."
elif [ ! -x "$tools/bin/cmake" ] || [ ! -x "$tools/bin/ninja" ]; then
    python3 -m venv "$tools"
    "$tools/bin/python" -m pip install --quiet --only-binary=:all: "cmake==3.31.6" "ninja==1.11.1.4" >&2
fi

# As llama-cpp-sys-2 configures ggml (shared libraries, back ends as modules), with only the
# CUDA back end built. No VMM: the module then needs no libcuda.so at link time and loads
# without a driver, so Quire can say that the driver is what is missing.
build="$root/build-$sys_version"
PATH="$tools/bin:$toolkit/bin:$PATH" cmake -S "$src" -B "$build" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=ON -DGGML_BACKEND_DL=ON -DGGML_NATIVE=OFF -DGGML_CPU=OFF \
    -DGGML_CUDA=ON -DGGML_CUDA_NO_VMM=ON -DGGML_CUDA_NCCL=OFF \
    -DCMAKE_CUDA_COMPILER="$toolkit/bin/nvcc" -DCUDAToolkit_ROOT="$toolkit" \
    -DCMAKE_CUDA_ARCHITECTURES="$archs" \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_COMMON=OFF -DLLAMA_CURL=OFF >&2
started=$(date +%s)
PATH="$tools/bin:$toolkit/bin:$PATH" cmake --build "$build" --target ggml-cuda -j "$jobs" >&2
say "compiled in $(( $(date +%s) - started )) s"

module=$(find "$build" -name 'libggml-cuda.so' -type f | head -n 1)
[ -n "$module" ] || { say "the build made no libggml-cuda.so"; exit 1; }
mkdir -p "$out_dir"
cp -L "$module" "$out_dir/libggml-cuda.so"
strip --strip-unneeded "$out_dir/libggml-cuda.so"
if [ -z "${QUIRE_CUDA_HOME:-}" ]; then
    # The CUDA libraries beside it; libggml-base is the one Quire has already loaded.
    for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13; do
        cp -L "$toolkit/lib/$lib" "$out_dir/$lib"
    done
    patchelf --set-rpath '$ORIGIN' "$out_dir/libggml-cuda.so"
else
    say "it uses the CUDA runtime and cuBLAS of $toolkit from the system's library path"
fi
cat >"$out_dir/quire-gpu-module.txt" <<EOF
ggml_version=$ggml_version
llama_cpp_sys_2=$sys_version
cuda=$("$toolkit/bin/nvcc" --version | sed -nE 's/.*release ([0-9.]+).*/\1/p')
architectures=$archs
EOF
say "module: $out_dir/libggml-cuda.so ($(du -h "$out_dir/libggml-cuda.so" | cut -f1)); with the CUDA libraries: $(du -sh "$out_dir" | cut -f1)"
echo "$out_dir"
