#!/usr/bin/env bash
# Sourced after scripts/setup.sh by what builds or tests the desktop app: the
# WebKitGTK and tray libraries Tauri links against, Xvfb, WebKitWebDriver and
# xdotool for the window tests, tauri-driver, and the front end built into ui/dist
# (the app embeds it at compile time). Idempotent: only what is missing is installed.

apt_install libwebkit2gtk-4.1-dev libxdo-dev libayatana-appindicator3-dev librsvg2-dev \
    xvfb webkit2gtk-driver xdotool
if ! command -v node >/dev/null 2>&1; then
    apt_install nodejs npm
fi

if ! command -v tauri-driver >/dev/null 2>&1; then
    echo "Installing tauri-driver"
    # Its own target directory: it must not take Quire's build lock or evict its cache.
    CARGO_TARGET_DIR="$HOME/.cache/quire/tools-target" cargo install tauri-driver --locked --version "^2"
fi

(
    cd ui
    # Install only when the lock file changed since the last install. `npm install`
    # rather than `npm ci`: the lock holds only this platform's optional packages
    # (rollup's native parts), which `npm ci` refuses; install keeps the locked versions.
    stamp=node_modules/.quire-lock-hash
    hash=$(sha256sum package-lock.json | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
        npm install --no-fund --no-audit --loglevel=error
        echo "$hash" > "$stamp"
    fi
    npm run --silent build >/dev/null
)
