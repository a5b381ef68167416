#!/usr/bin/env bash
# Builds the fuzz preset (clang 14, libFuzzer, ASan + UBSan; the fuzz targets only) and runs
# fuzz targets. Seeds and known crash inputs come from tests/fuzz/<target>/corpus; what a run
# finds goes to build/fuzz/work/<target>/ (new inputs) and build/fuzz/crashes/<target>/
# (crashes, hangs, leaks), never into the repository. See docs/fuzzing.md.
# Usage: scripts/fuzz.sh TARGET [SECONDS]   fuzz one target (default 60 s)
#        scripts/fuzz.sh TARGET FILE...     run the target once on each FILE (reproduce a crash)
#        scripts/fuzz.sh --all SECONDS      replay every corpus file of every target (a known
#                                           crash fails the run), then fuzz each for SECONDS
# Exits non-zero when any input crashed, hung, leaked or ran out of memory.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
targets=(proxy_http1 proxy_h1_parser proxy_h1_response proxy_http2 proxy_http2_client proxy_config policy_parser demo_scenario snapshot_reader telemetry_report csr)

usage() {
  sed -n '/^# Usage/,/^# Exits/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
[ $# -ge 1 ] || usage

# What the fuzz preset needs beyond scripts/setup.sh's list: clang 14 and its libFuzzer runtime.
"$root/scripts/setup.sh" clang-14 libclang-rt-14-dev

cd "$root"
export CCACHE_BASEDIR="$root"
export CCACHE_NOHASHDIR=1
build="$root/build/fuzz"
if [ ! -f "$build/build.ninja" ]; then
  cmake --preset fuzz >/dev/null
fi
start=$(date +%s)
if ! cmake --build --preset fuzz --target fuzzers >"$build/build.log" 2>&1; then
  tail -40 "$build/build.log" >&2
  echo "meshdeck fuzz: build failed (log: build/fuzz/build.log)" >&2
  exit 1
fi
echo "meshdeck fuzz: fuzzers built in $(( $(date +%s) - start )) s"

# Quiet libFuzzer options shared by every run: a hang is an input that takes over 10 s.
common_opts=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

binary() {
  local bin="$build/fuzzers/$1_fuzzer"
  [ -x "$bin" ] || { echo "meshdeck fuzz: no fuzzer $1 (known: ${targets[*]})" >&2; exit 2; }
  echo "$bin"
}

# Runs the target once on every file of its corpus, crash inputs included.
replay() {
  local t="$1" bin files
  bin="$(binary "$t")"
  mapfile -t files < <(find "$root/tests/fuzz/$t/corpus" -type f | sort)
  [ ${#files[@]} -gt 0 ] || return 0
  mkdir -p "$build/crashes/$t"
  if "$bin" "${common_opts[@]}" -artifact_prefix="$build/crashes/$t/" "${files[@]}" \
      >"$build/replay-$t.log" 2>&1; then
    echo "meshdeck fuzz: $t: replayed ${#files[@]} corpus files, no crash"
  else
    echo "meshdeck fuzz: $t: CRASH replaying the corpus (log: build/fuzz/replay-$t.log):" >&2
    grep -E '^Running: |^==[0-9]+==ERROR|^SUMMARY|^[a-z_0-9]+: ' "$build/replay-$t.log" | tail -6 >&2
    return 1
  fi
}

# Fuzzes the target for $2 seconds from its seeds (the corpus without the recorded crash
# inputs, which would stop the run at once) plus what earlier runs found.
fuzz() {
  local t="$1" seconds="$2" bin work dict=()
  bin="$(binary "$t")"
  work="$build/work/$t"
  mkdir -p "$work" "$build/crashes/$t"
  find "$root/tests/fuzz/$t/corpus" -type f ! -name 'crash-*' ! -name 'timeout-*' \
    ! -name 'oom-*' ! -name 'leak-*' -exec cp -n -t "$work" {} +
  [ -f "$root/tests/fuzz/$t/$t.dict" ] && dict=(-dict="$root/tests/fuzz/$t/$t.dict")
  local log="$build/fuzz-$t.log"
  local status=0
  "$bin" "${common_opts[@]}" "${dict[@]}" -max_total_time="$seconds" \
    -artifact_prefix="$build/crashes/$t/" "$work" >"$log" 2>&1 || status=$?
  local execs rate
  execs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -ao 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  if [ "$status" -eq 0 ]; then
    echo "meshdeck fuzz: $t: ${seconds} s, ${execs:-0} runs, ${rate:-0} exec/s, no crash"
  else
    echo "meshdeck fuzz: $t: CRASH after ${execs:-?} runs (log: build/fuzz/fuzz-$t.log):" >&2
    grep -E '^==[0-9]+==ERROR|^SUMMARY|artifact_prefix|Test unit written|^[a-z_0-9]+: ' \
      "$log" | tail -6 >&2
  fi
  return "$status"
}

if [ "$1" = "--all" ]; then
  [ $# -eq 2 ] && [[ "$2" =~ ^[0-9]+$ ]] || usage
  start=$(date +%s)
  failed=()
  for t in "${targets[@]}"; do replay "$t" || failed+=("$t (corpus)"); done
  for t in "${targets[@]}"; do fuzz "$t" "$2" || failed+=("$t"); done
  echo "meshdeck fuzz: all targets in $(( $(date +%s) - start )) s"
  if [ ${#failed[@]} -gt 0 ]; then
    echo "meshdeck fuzz: FAILED: ${failed[*]}" >&2
    exit 1
  fi
  exit 0
fi

t="$1"
shift
if [ $# -ge 1 ] && [ -f "$1" ]; then
  exec "$(binary "$t")" "${common_opts[@]}" "$@"
fi
seconds="${1:-60}"
[[ "$seconds" =~ ^[0-9]+$ ]] || usage
fuzz "$t" "$seconds"
