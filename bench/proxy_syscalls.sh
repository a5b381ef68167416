#!/usr/bin/env bash
# System calls per proxied request: meshdeck-proxy (one worker, CPU 0) in front of the nginx
# backend of proxy_bench.sh, with a second binary (e.g. built from main, or with another Asio
# back end: docs/io-uring.md) measured the same way in the same run.
#
# Usage: bench/proxy_syscalls.sh [--bin-dir DIR] [--proxy-bin PATH] [--baseline-bin PATH]
#                                [--duration SECONDS] [--rt]
#   --bin-dir       where meshdeck-load is (default: build/release/bin, then any build/*/bin)
#   --proxy-bin     the meshdeck-proxy binary (default: next to meshdeck-load)
#   --baseline-bin  a second meshdeck-proxy binary, reported as meshdeck-base
#   --duration      seconds of each measured run (default 5)
#   --rt            run every process SCHED_FIFO (chrt -f 20), as proxy_bench.sh --rt
#
# For each binary, after a 1 s warm-up:
#   1. all system calls of the proxy's threads (perf stat -e raw_syscalls:sys_enter, which does
#      not slow the process down) per request, at 1000 req/s over 16 connections and closed
#      loop (--max) over 32 connections;
#   2. the same fixed-rate run under `strace -c -f`: which system calls, per request (ptrace
#      slows every call, so the counts, not the times, are the figure), and the receives that
#      failed (EAGAIN: nothing to read yet) per request.
# Requests are meshdeck-load's completed ones; the few calls an idle worker makes between the
# start of the counter and the start of the load are included.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir=""
proxy_bin=""
baseline_bin=""
duration=5
prio=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --proxy-bin) proxy_bin="$2"; shift 2 ;;
    --baseline-bin) baseline_bin="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --rt) prio=(chrt -f 20); shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "proxy_syscalls: unknown argument $1" >&2; exit 2 ;;
  esac
done

bench_name=proxy_syscalls
source "$root/bench/lib/common.sh"
bench_find_binaries
bench_require_tools perf strace nginx taskset python3 curl
[[ -x "$proxy_bin" ]] || bench_fail "no meshdeck-proxy at '$proxy_bin' (--proxy-bin)"
targets="meshdeck"
if [[ -n "$baseline_bin" ]]; then
  [[ -x "$baseline_bin" ]] || bench_fail "no baseline meshdeck-proxy at '$baseline_bin'"
  targets="meshdeck-base meshdeck"
fi
bench_start_backend

for name in $targets; do
  bin="$proxy_bin"
  [[ "$name" == meshdeck-base ]] && bin="$baseline_bin"
  port=$(free_port)
  "${prio[@]}" taskset -c 0 "$bin" --listen "127.0.0.1:$port" --upstream "127.0.0.1:$backend_port" \
    --workers 1 > "$work/$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_http "$port"
  url="http://127.0.0.1:$port/"
  load() {  # file seconds load-args...
    local file="$1" seconds="$2"
    shift 2
    "${prio[@]}" taskset -c 1 "$load_bin" --url "$url" --duration "${seconds}s" "$@" --json > "$file"
  }
  echo "proxy_syscalls: $name" >&2
  load "$work/$name-warm.json" 1 --max --connections 16
  for run in rate max; do
    args=(--rate 1000 --connections 16)
    [[ "$run" == max ]] && args=(--max --connections 32)
    perf stat -x, -e raw_syscalls:sys_enter -p "$pid" -o "$work/$name-$run.perf" &
    perf_pid=$!
    sleep 0.5
    load "$work/$name-$run.json" "$duration" "${args[@]}"
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
  done
  strace -c -f -p "$pid" -o "$work/$name-strace.txt" 2> /dev/null &
  strace_pid=$!
  sleep 0.5
  load "$work/$name-strace.json" "$duration" --rate 1000 --connections 16
  kill -INT "$strace_pid"
  wait "$strace_pid" || true
done

python3 - "$work" $targets << 'PY'
import json, sys
work, names = sys.argv[1], sys.argv[2:]
def completed(path):
    return json.load(open(path))["completed"]
def perf_count(path):
    for line in open(path):
        f = line.strip().split(",")
        if len(f) > 2 and f[2].startswith("raw_syscalls:sys_enter"):
            return int(f[0])
    raise SystemExit(f"no count in {path}")
def strace_calls(path):
    calls, errors = {}, {}
    for line in open(path):
        f = line.split()
        # % time, seconds, usecs/call, calls, [errors,] syscall
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            calls[f[-1]] = int(f[3])
            errors[f[-1]] = int(f[4]) if len(f) >= 6 else 0
    return calls, errors
print("| binary | syscalls/request, 1000 req/s, 16 conn | req/s closed loop, 32 conn | syscalls/request there |")
print("|---|---:|---:|---:|")
for n in names:
    rate = perf_count(f"{work}/{n}-rate.perf") / completed(f"{work}/{n}-rate.json")
    mx = json.load(open(f"{work}/{n}-max.json"))
    per_max = perf_count(f"{work}/{n}-max.perf") / mx["completed"]
    rps = mx["achieved_rate"]
    print(f"| {n} | {rate:.2f} | {rps:.0f} | {per_max:.2f} |")
print()
for n in names:
    (calls, errors), req = strace_calls(f"{work}/{n}-strace.txt"), completed(f"{work}/{n}-strace.json")
    top = sorted(calls.items(), key=lambda kv: -kv[1])
    mix = ", ".join(f"{k} {v / req:.2f}" for k, v in top if v / req >= 0.01)
    # Receives that found nothing (EAGAIN): issue 20's "reads that wait without a failed receive".
    failed = errors.get("recvfrom", 0) + errors.get("recvmsg", 0)
    print(f"{n} under strace -c -f ({req} requests at 1000 req/s): {sum(calls.values()) / req:.2f} "
          f"calls/request: {mix}; failed receives {failed / req:.2f}/request")
PY
