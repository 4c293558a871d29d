#!/usr/bin/env bash
# Runs every fuzz target for a while (default 10 minutes each), one after another.
# The working corpus grows under ~/.cache/quire/fuzz-corpus; the seeds in
# fuzz/corpus stay small. Crashes land in fuzz/artifacts/<target>/.
# Needs: rustup's nightly toolchain and `cargo install cargo-fuzz`.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(chunk extract_text extract_markdown extract_html extract_docx extract_pdf draw_pdf_page
    extract_epub extract_pptx extract_odt extract_odp extract_xlsx extract_xls extract_ods extract_rtf)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/quire/fuzz-target}
for target in "${targets[@]}"; do
    work="$HOME/.cache/quire/fuzz-corpus/$target"
    mkdir -p "$work"
    echo "== $target for ${seconds}s"
    seeds="corpus/$target"
    [ "$target" = draw_pdf_page ] && seeds=corpus/extract_pdf # the same PDFs, drawn
    cargo +nightly fuzz run --fuzz-dir . -O "$target" "$work" "$seeds" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 || true
done
