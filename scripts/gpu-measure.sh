#!/usr/bin/env bash
# GPU against CPU in one run on a machine with an NVIDIA GPU (driver 580 or newer): prompt
# and generation tokens/s and time to first token for a 1,400-token RAG prompt with a model
# of the default chat model's architecture and size, on the GPU and on the CPU alone, and how
# many of the first greedy tokens the two agree on (`quire bench generate`, which measures the
# CPU twin of each run whenever there is a GPU).
#
# Two steps, since such a machine may have CUDA but no Rust, and reach no network:
#   scripts/gpu-measure.sh bundle [ARCHS]
#       here: packs .gpu-bundle/ (under 64 MiB): Quire and llama.cpp's libraries laid out as
#       the package installs them, the CUDA module built for ARCHS (default 90-real, Hopper;
#       about 80 minutes on 2 cores the first time, cached after), the default chat model's
#       header (vocabulary, template, tensor shapes) and the `gguf` wheel;
#       QUIRE_GPU_BUNDLE_MODULE names a folder with a module already built instead
#   scripts/gpu-measure.sh run OUT_DIR
#       there, from the repository root with .gpu-bundle beside it: fills the model's tensors
#       with random weights (speed does not depend on their values), puts the module where the
#       package would, and measures; writes OUT_DIR/{nvidia-smi.txt,status.txt,gpu-bench.txt}.
#       Without a GPU it measures the CPU alone and says why (a dry run of the bundle).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bundle="$here/.gpu-bundle"
say() { echo "gpu-measure: $*" >&2; }

bundle_step() {
    local archs="${1:-90-real}"
    source scripts/setup.sh
    apt_install patchelf xz-utils
    local cache="${XDG_CACHE_HOME:-$HOME/.cache}/quire"
    local module_dir="${QUIRE_GPU_BUNDLE_MODULE:-$cache/gpu/cuda-${archs//[^0-9a-z]/_}}"
    if [ ! -f "$module_dir/libggml-cuda.so" ]; then
        QUIRE_CUDA_ARCHS="$archs" scripts/build-cuda-module.sh "$module_dir" >/dev/null
    fi
    cargo build --locked --bin quire
    bash scripts/fetch-models.sh >/dev/null

    rm -rf "$bundle" && mkdir -p "$bundle/stage/quire/bin" "$bundle/stage/quire/lib/quire/gpu"
    local binary="$CARGO_TARGET_DIR/debug/quire"
    local stage="$bundle/stage/quire"
    strip -o "$stage/bin/quire" "$binary"
    patchelf --force-rpath --set-rpath '$ORIGIN/../lib/quire' "$stage/bin/quire"
    local library
    for library in $(ldd "$binary" | awk '/lib(llama|ggml)[^ ]*\.so/ { print $3 }'); do
        cp -L "$library" "$stage/lib/quire/$(basename "$library")"
    done
    cp -L "$(dirname "$(ldd "$binary" | awk '/libllama/ { print $3 }')")"/../backends/libggml-cpu-*.so \
        "$stage/lib/quire/"
    # Only the module and its stamp: the machine has its own CUDA runtime and cuBLAS.
    cp "$module_dir/libggml-cuda.so" "$module_dir/quire-gpu-module.txt" "$stage/lib/quire/gpu/"
    strip --strip-unneeded "$stage"/lib/quire/*.so*
    tar -C "$bundle/stage" -cJf "$bundle/quire.tar.xz" quire
    rm -rf "$bundle/stage"

    local venv="$cache/gguf-venv" wheels="$bundle/wheels"
    mkdir -p "$wheels"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$wheels" "gguf==0.19.0"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet "$wheels"/gguf-*.whl numpy pyyaml tqdm requests
    fi
    "$venv/bin/python" scripts/random_gguf.py header \
        "$QUIRE_MODELS_DIR/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" "$bundle/model-header.gguf"
    say "$bundle: $(du -sh "$bundle" | cut -f1) ($(ls "$bundle" | tr '\n' ' '))"
}

run_step() {
    local out="${1:?run needs an output folder}"
    local work="${TMPDIR:-/tmp}/quire-gpu-measure"
    mkdir -p "$out" && rm -rf "$work" && mkdir -p "$work"
    [ -f "$bundle/quire.tar.xz" ] || { say "no $bundle/quire.tar.xz: run 'scripts/gpu-measure.sh bundle' first"; exit 1; }
    tar -C "$work" -xJf "$bundle/quire.tar.xz"
    local quire="$work/quire/bin/quire"
    (nvidia-smi || echo "no nvidia-smi: no NVIDIA driver here") >"$out/nvidia-smi.txt" 2>&1

    python3 -m pip install --quiet --no-index --no-deps --no-compile --target "$work/site" "$bundle"/wheels/*.whl
    PYTHONPATH="$work/site" python3 scripts/random_gguf.py fill "$bundle/model-header.gguf" "$work/model.gguf"

    # The machine's CUDA runtime and cuBLAS, for the module (the package's extra carries its own).
    local cuda_libs
    cuda_libs=$(python3 -c 'import nvidia, os; print(":".join(os.path.join(p, "cu13", "lib") for p in nvidia.__path__))' 2>/dev/null || true)
    export LD_LIBRARY_PATH="${cuda_libs:+$cuda_libs:}/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export QUIRE_DATA_DIR="$work/data" XDG_CACHE_HOME="$work/cache"
    "$quire" status | tee "$out/status.txt"
    "$quire" bench generate --model "$work/model.gguf" --prompt-tokens 1400 --generate-tokens 128 \
        --only llama.cpp | tee "$out/gpu-bench.txt"
}

case "${1:-}" in
    bundle) shift; bundle_step "$@" ;;
    run) shift; run_step "$@" ;;
    *) echo "usage: scripts/gpu-measure.sh bundle [ARCHS] | run OUT_DIR" >&2; exit 2 ;;
esac
