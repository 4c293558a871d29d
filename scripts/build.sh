#!/usr/bin/env bash
# Sourced by demo.sh and test.sh after setup: builds the whole workspace (the engine,
# the `quire` command, the desktop app and every test) in one way, with the same
# packages, features and profile, so whichever of the two runs second reuses the
# first one's build and compiles nothing again.
cargo build --locked --workspace --all-targets
