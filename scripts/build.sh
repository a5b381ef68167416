#!/usr/bin/env bash
# Installs missing packages, then configures and builds with a CMake preset (default: release).
# Usage: scripts/build.sh [preset] [extra cmake --build args...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
preset="${1:-release}"
shift || true
"$root/scripts/setup.sh"
cd "$root"
# Let ccache share results between clones of the repository in different folders.
export CCACHE_BASEDIR="$root"
export CCACHE_NOHASHDIR=1
if [ ! -f "build/$preset/build.ninja" ]; then
  cmake --preset "$preset" >/dev/null
fi
start=$(date +%s)
cmake --build --preset "$preset" "$@"
echo "meshdeck build: preset $preset built in $(( $(date +%s) - start )) s"
