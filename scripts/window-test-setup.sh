#!/usr/bin/env bash
# Sourced by test.sh: what the window tests drive the real app with. Xvfb,
# WebKitWebDriver and xdotool from Debian, and tauri-driver. Idempotent.

apt_install xvfb webkit2gtk-driver xdotool
if ! command -v tauri-driver >/dev/null 2>&1; then
    echo "Installing tauri-driver"
    # Its own target directory: it must not take Quire's build lock or evict its cache.
    CARGO_TARGET_DIR="$HOME/.cache/quire/tools-target" cargo install tauri-driver --locked --version "^2"
fi
