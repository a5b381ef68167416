#!/usr/bin/env bash
# proxy_cpu_split.sh: where a meshdeck-proxy's CPU goes under closed-loop load, user space or
# the kernel: utime and stime of the proxy (/proc/PID/stat) over a --duration run of
# `meshdeck-load --max --connections 32` through it to an nginx that answers "hello", per
# request. --baseline-bin measures a second binary the same way, right after.
#
#   bench/proxy_cpu_split.sh [--bin-dir DIR] [--proxy-bin PATH] [--baseline-bin PATH] [--duration 5]
set -euo pipefail
bench_name=proxy_cpu_split
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="" proxy_bin="" baseline_bin="" duration=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --proxy-bin) proxy_bin="$2"; shift 2 ;;
    --baseline-bin) baseline_bin="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "$bench_name: unknown option $1" >&2; exit 2 ;;
  esac
done
source "$root/bench/lib/common.sh"
bench_find_binaries
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2> /dev/null || true; wait 2> /dev/null || true; rm -rf "$work"' EXIT
backend=$(free_port) front=$(free_port)
cat > "$work/nginx.conf" << N
worker_processes 1; daemon off; pid $work/nginx.pid; error_log $work/error.log;
events {} http { access_log off; server { listen 127.0.0.1:$backend; location / { return 200 "hello"; } } }
N
nginx -c "$work/nginx.conf" -p "$work" & pids+=($!)
wait_http "$backend"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
measure() {  # measure NAME BINARY
  "$2" --listen "127.0.0.1:$front" --upstream "127.0.0.1:$backend" --workers 1 --log-level warn &
  local px=$!
  wait_http "$front"
  "$bin_dir/meshdeck-load" --url "http://127.0.0.1:$front/" --max --connections 32 --duration 1s > /dev/null
  local u0 s0 u1 s1 n
  read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$px/stat")
  n=$("$bin_dir/meshdeck-load" --url "http://127.0.0.1:$front/" --max --connections 32 \
        --duration "${duration}s" | awk '$1 == "completed" {print $2}')
  read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$px/stat")
  kill "$px"; wait "$px" 2> /dev/null || true
  awk -v name="$1" -v u=$(( u1 - u0 )) -v s=$(( s1 - s0 )) -v n="$n" -v c="$clk_tck" 'BEGIN{
    printf "%s: %d requests; user %.2f us/request, kernel %.2f us/request (user %.0f %%)\n",
      name, n, u / c * 1e6 / n, s / c * 1e6 / n, 100 * u / (u + s)}'
}
measure meshdeck "$proxy_bin"
[[ -n "$baseline_bin" ]] && measure meshdeck-base "$baseline_bin"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
