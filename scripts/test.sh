#!/usr/bin/env bash
# Runs Quire's whole test suite: formatting, lints, unit and integration tests of
# the engine and the desktop app (its window tests drive the real app under Xvfb).
# The tests make their documents themselves and use the real models (both
# embedders, MiniLM and nomic, and the small SmolLM2 generator), fetched once and
# hash-checked by scripts/fetch-models.sh; nothing is fetched while tests run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
. scripts/desktop-setup.sh
. scripts/window-test-setup.sh
bash scripts/fetch-models.sh embedder nomic smollm2 >/dev/null

cargo fmt --all --check
# The windows' own tests: Markdown rendering, what answers may and may not create.
(cd ui && npm test --silent)
. scripts/build.sh
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace
