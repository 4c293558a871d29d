#!/usr/bin/env bash
# Measures every embedder Quire offers, one after the other in this one run, and
# prints the README's table: retrieval quality on a BEIR benchmark (`quire eval`,
# hybrid and vector nDCG@10, hybrid recall@100; the index is cached per embedder, so
# a second run only queries), index size, query p95, and indexing speed and peak
# memory on the benchmark's first documents (`quire bench index`, a fresh library each).
# Usage: scripts/bench-embedders.sh [BENCHMARK] [DOCUMENTS]
#   (default: ../shared/bench/nfcorpus, 300 documents for the speed columns)
# QUIRE_BENCH_SPEED_ONLY: labels' numbers (0-3, space-separated) whose quality is not
#   measured (their index would take too long on this machine); their row gives speed only.
# Run it on an otherwise idle machine: the speed columns are wall-clock.
set -euo pipefail
cd "$(dirname "$0")/.."
benchmark="${1:-../shared/bench/nfcorpus}"
documents="${2:-300}"
. scripts/setup.sh
bash scripts/fetch-models.sh embedder nomic >/dev/null
# QUIRE_BIN: a quire binary already built (the build is skipped).
if [ -n "${QUIRE_BIN:-}" ]; then
    quire="$QUIRE_BIN"
else
    . scripts/build.sh
    quire="$CARGO_TARGET_DIR/debug/quire"
fi
models_dir="${QUIRE_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/quire/models}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# QUIRE_BENCH_KEEP: a folder to keep each measurement's JSON in.
keep="${QUIRE_BENCH_KEEP:-}"

# label | embedder | int8
choices=(
    "MiniLM-L6-v2, candle F32|all-MiniLM-L6-v2|false"
    "MiniLM-L6-v2, llama.cpp int8|all-MiniLM-L6-v2|true"
    "nomic-embed-text-v1.5, llama.cpp F16|nomic-embed-text-v1.5.f16.gguf|false"
    "nomic-embed-text-v1.5, llama.cpp int8|nomic-embed-text-v1.5.f16.gguf|true"
)
for index in "${!choices[@]}"; do
    IFS='|' read -r label embedder int8 <<<"${choices[$index]}"
    data="$work/$index"
    mkdir -p "$data"
    printf 'models_dir = "%s"\nembedder = "%s"\nembedder_int8 = %s\n' "$models_dir" "$embedder" "$int8" >"$data/config.toml"
    echo "== $label" >&2
    if [[ " ${QUIRE_BENCH_SPEED_ONLY:-} " == *" $index "* ]]; then
        echo '{}' >"$work/$index.eval.json"
    else
        "$quire" --data-dir "$data" eval "$benchmark" --mode all --json >"$work/$index.eval.json"
    fi
    "$quire" --data-dir "$data" bench index "$benchmark" --limit "$documents" --json >"$work/$index.speed.json"
    printf '%s\n' "$label" >"$work/$index.label"
    if [ -n "$keep" ]; then
        mkdir -p "$keep" && cp "$work/$index".* "$keep/"
    fi
done

python3 - "$work" "${#choices[@]}" <<'PY'
import json, sys
work, count = sys.argv[1], int(sys.argv[2])
print("| embedder | hybrid nDCG@10 | vector nDCG@10 | hybrid recall@100 | query p95 | passages/s | peak memory | index size |")
print("|---|---|---|---|---|---|---|---|")
for i in range(count):
    label = open(f"{work}/{i}.label").read().strip()
    evaluation = json.load(open(f"{work}/{i}.eval.json"))
    speed = json.load(open(f"{work}/{i}.speed.json"))
    rss = speed.get("peak_rss_bytes") or 0
    speed_columns = f"{speed['files']['chunks_per_sec']:.1f} | {rss / 1e6:.0f} MB"
    if not evaluation:
        print(f"| {label} | not measured | not measured | not measured | not measured | {speed_columns} | not measured |")
        continue
    mode = {r["mode"]: r for r in evaluation["results"]}
    hybrid, vector = mode["hybrid"], mode["vector"]
    print(f"| {label} | {hybrid['ndcg_at_10']:.4f} | {vector['ndcg_at_10']:.4f} | {hybrid['recall_at_100']:.4f} "
          f"| {hybrid['latency_p95_ms']:.0f} ms | {speed_columns} | {evaluation['index_bytes'] / 1e6:.0f} MB |")
PY
