#!/usr/bin/env bash
# Measures the desktop app's memory while it waits for the first question: it
# indexes the bundled example library once, is started again (nothing new to
# index), settles for 30 s, and its resident memory is read from /proc, split
# into private (anonymous) memory and shared-library pages, with the largest
# mappings. Runs under Xvfb; needs what scripts/test.sh installs and a build
# (scripts/build.sh).
#
#   bash scripts/bench-idle-memory.sh [APP]     # APP: default the built quire-desktop
set -euo pipefail
cd "$(dirname "$0")/.."
app=${1:-${CARGO_TARGET_DIR:-$HOME/.cache/quire/target}/debug/quire-desktop}
models=${QUIRE_MODELS_DIR:-$HOME/.cache/quire/models}
work=$(mktemp -d)
trap 'kill "${pid:-}" "${xvfb:-}" 2>/dev/null; rm -rf "$work"' EXIT
display=":$((50 + RANDOM % 40))"
Xvfb "$display" -screen 0 1280x860x24 -nolisten tcp 2>/dev/null &
xvfb=$!
sleep 1
start() {
    DISPLAY=$display QUIRE_DATA_DIR="$work/data" QUIRE_MODELS_DIR="$models" XDG_CONFIG_HOME="$work/config" \
        "$app" examples/library >"$work/app.log" 2>&1 &
    pid=$!
}
start
sleep 45 # indexes the examples (the embedder loads for that)
kill "$pid"; wait "$pid" 2>/dev/null || true
start
sleep 30
echo "quire-desktop idle, before the first question ($(basename "$app")):"
grep -E "^(VmRSS|RssAnon|RssFile)" "/proc/$pid/status"
python3 - "$pid" <<'PY'
import collections, re, sys
rss = collections.Counter()
name = None
for line in open(f"/proc/{sys.argv[1]}/smaps"):
    if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
        fields = line.split()
        name = fields[5] if len(fields) > 5 else "[anonymous]"
    elif line.startswith("Rss:"):
        rss[name] += int(line.split()[1])
print("largest mappings:")
for name, kb in rss.most_common(8):
    print(f"  {kb / 1024:6.1f} MB  {name}")
PY
