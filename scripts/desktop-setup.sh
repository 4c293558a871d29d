#!/usr/bin/env bash
# Sourced after scripts/setup.sh by what builds the desktop app: the WebKitGTK and
# tray libraries Tauri links against, and the front end built into ui/dist (the app
# embeds it at compile time). Idempotent: only what is missing is installed.

apt_install libwebkit2gtk-4.1-dev libxdo-dev libayatana-appindicator3-dev librsvg2-dev
if ! command -v node >/dev/null 2>&1; then
    apt_install nodejs npm
fi

(
    cd ui
    # Install only when the lock file changed since the last install; `npm ci` installs
    # exactly what the lock says and never rewrites it.
    stamp=node_modules/.quire-lock-hash
    hash=$(sha256sum package-lock.json | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
        npm ci --no-fund --no-audit --loglevel=error
        echo "$hash" > "$stamp"
    fi
    npm run --silent build >/dev/null
)
