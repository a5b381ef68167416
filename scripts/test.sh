#!/usr/bin/env bash
# Installs missing packages, builds everything and runs the whole test suite with CTest.
# Usage: scripts/test.sh [preset] [extra ctest args, e.g. -L unit]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
preset="${1:-release}"
shift || true
"$root/scripts/build.sh" "$preset"
cd "$root"
ctest --preset "$preset" --parallel 2 "$@"
