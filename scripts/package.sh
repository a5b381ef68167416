#!/usr/bin/env bash
# Builds the release preset and the Debian package: build/release/meshdeck_<version>_<arch>.deb
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/build.sh" release
cd "$root/build/release"
cpack -G DEB
ls -l "$root"/build/release/meshdeck_*.deb
