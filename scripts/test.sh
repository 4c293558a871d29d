#!/usr/bin/env bash
# Runs Quire's whole test suite: formatting, lints, unit and integration tests.
# The tests make their documents themselves; nothing is fetched at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh

cargo fmt --all --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
