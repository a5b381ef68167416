#!/usr/bin/env bash
# Installs missing packages, builds, and starts the Meshdeck desktop app with the bundled
# storefront demo mesh. Extra arguments go to the app (e.g. --connect HOST:PORT).
# Without a display (no $DISPLAY or $WAYLAND_DISPLAY), the app runs under Xvfb.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/build.sh" release
app="$root/build/release/bin/meshdeck"
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--demo storefront)
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "meshdeck: no display found, running under xvfb-run"
  exec xvfb-run -a -s "-screen 0 1600x1000x24" "$app" "${args[@]}"
fi
exec "$app" "${args[@]}"
