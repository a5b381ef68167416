#!/usr/bin/env bash
# CI checks beyond scripts/test.sh (which .ci/run calls first):
#   1. the headless preset's programs build (MESHDECK_BUILD_UI=OFF): the core needs no Qt
#      Widgets. Only the programs and benchmarks: the tests are built (and run) by the release
#      and dev trees, and building them a third time doubled this step's cost;
#   2. the unit-labelled tests under ASan + UBSan (dev preset), building only their targets
#      (the unit_tests aggregate target, cmake/MeshdeckTest.cmake).
# Usage: scripts/ci-extra.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CCACHE_BASEDIR="$root"
export CCACHE_NOHASHDIR=1

step() {  # step NAME COMMAND...: runs and times one step
  local name="$1" start
  shift
  start=$(date +%s)
  echo "ci-extra: $name"
  "$@"
  echo "ci-extra: $name took $(( $(date +%s) - start )) s"
}

headless_targets=(meshdeck-controlplane meshdeck-proxy meshdeck-proxy-init meshdeckctl
  meshdeck-demo-service meshdeck-load cp_convergence cp_ingest bench_histogram h1_parser_bench
  h1_response_bench history_cost)
step "headless build" scripts/build.sh headless --target "${headless_targets[@]}"
# The dev tree is configured here, not through scripts/build.sh, which would build every target.
dev_unit() {
  [ -f build/dev/build.ninja ] || cmake --preset dev >/dev/null
  cmake --build --preset dev --target unit_tests
  ctest --preset dev -L unit --parallel 2
}
step "unit tests under ASan/UBSan" dev_unit
