#!/usr/bin/env bash
# Proxy benchmark: the same backend and the same load, direct and through meshdeck-proxy,
# HAProxy and nginx, each with one worker thread on loopback. See docs/benchmarks.md.
#
# Usage: bench/proxy_bench.sh [--bin-dir DIR] [--proxy-bin PATH] [--duration SECONDS]
#                             [--targets "direct meshdeck haproxy nginx"] [--out FILE]
#   --bin-dir    where meshdeck-load is (default: build/release/bin, then any build/*/bin)
#   --proxy-bin  the meshdeck-proxy binary (default: next to meshdeck-load)
#   --duration   seconds of each measured run (default 10)
#   --out        also write the markdown report to FILE
#   --rt         run every benchmark process SCHED_FIFO (chrt -f 20; needs root or
#                CAP_SYS_NICE) so that other jobs on a shared machine do not perturb it
#
# Per target it measures, in this order:
#   1. RSS idle: VmRSS after start and one request.
#   2. RSS under load: the largest VmRSS seen during a 5 s open-loop run at 2000 req/s over
#      100 connections.
#   3. Saturated throughput: wrk, closed loop, 1 thread, 64 connections; CPU us per request
#      from the proxy's utime+stime (/proc/PID/stat) over the run divided by wrk's requests.
#   4. Latency at a fixed 1000 req/s over 16 connections (meshdeck-load, open loop, latency
#      from the scheduled send time); "added" = this target's p50/p99 minus direct's. CPU us per
#      request again, at this realistic rate.
# Placement on the 2 cores: the proxy under test is pinned to CPU 0; the backend and the load
# generators share CPU 1, the same for every target.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir=""
proxy_bin=""
duration=10
targets="direct meshdeck haproxy nginx"
out_file=""
prio=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --proxy-bin) proxy_bin="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --targets) targets="$2"; shift 2 ;;
    --out) out_file="$2"; shift 2 ;;
    --rt) prio=(chrt -f 20); shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "proxy_bench: unknown argument $1" >&2; exit 2 ;;
  esac
done

if [[ -z "$bin_dir" ]]; then
  for d in "$root/build/release/bin" "$root"/build/*/bin; do
    if [[ -x "$d/meshdeck-load" ]]; then bin_dir="$d"; break; fi
  done
fi
load_bin="$bin_dir/meshdeck-load"
[[ -x "$load_bin" ]] || { echo "proxy_bench: no meshdeck-load in '$bin_dir' (--bin-dir)" >&2; exit 2; }
[[ -n "$proxy_bin" ]] || proxy_bin="$bin_dir/meshdeck-proxy"
for tool in haproxy nginx wrk taskset python3; do
  command -v "$tool" > /dev/null || { echo "proxy_bench: $tool is not installed" >&2; exit 2; }
done
if [[ " $targets " == *" meshdeck "* && ! -x "$proxy_bin" ]]; then
  echo "proxy_bench: no meshdeck-proxy at '$proxy_bin' (--proxy-bin)" >&2; exit 2
fi

work="$(mktemp -d /tmp/meshdeck-proxy-bench.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
  sleep 0.2
  for pid in "${pids[@]}"; do kill -9 "$pid" 2> /dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# A free loopback TCP port (the kernel's choice), different from every one handed out before.
used_ports=""
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    if [[ " $used_ports " != *" $port "* ]]; then used_ports+=" $port"; echo "$port"; return; fi
  done
  echo "proxy_bench: no free port" >&2; exit 1
}

# Waits (at most 5 s) until http://127.0.0.1:$1/ answers.
wait_http() {
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; then return 0; fi
    sleep 0.05
  done
  echo "proxy_bench: nothing answers on port $1" >&2; return 1
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
clk_tck=$(getconf CLK_TCK)

backend_port=$(free_port)
cat > "$work/backend.conf" << CONF
daemon off;
master_process off;
worker_processes 1;
pid $work/backend.pid;
error_log $work/backend-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:$backend_port reuseport backlog=4096;
    location / { default_type text/plain; return 200 "hello from the backend\n"; }
  }
}
CONF
"${prio[@]}" taskset -c 1 nginx -p "$work" -c "$work/backend.conf" -e "$work/backend-error.log" &
pids+=($!)
wait_http "$backend_port"

start_target() {  # name port -> sets target_pid
  local name="$1" port="$2"
  case "$name" in
    meshdeck)
      "${prio[@]}" taskset -c 0 "$proxy_bin" --listen "127.0.0.1:$port" --upstream "127.0.0.1:$backend_port" \
        --workers 1 > "$work/meshdeck.log" 2>&1 &
      ;;
    haproxy)
      cat > "$work/haproxy.cfg" << CONF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  http-reuse always
frontend bench
  bind 127.0.0.1:$port
  default_backend backend
backend backend
  server b1 127.0.0.1:$backend_port
CONF
      "${prio[@]}" taskset -c 0 haproxy -db -f "$work/haproxy.cfg" > "$work/haproxy.log" 2>&1 &
      ;;
    nginx)
      cat > "$work/nginx.conf" << CONF
daemon off;
master_process off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  upstream backend {
    server 127.0.0.1:$backend_port;
    keepalive 128;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:$port backlog=4096;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
      "${prio[@]}" taskset -c 0 nginx -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" &
      ;;
  esac
  target_pid=$!
  pids+=("$target_pid")
  wait_http "$port"
}

results="$work/results.jsonl"
: > "$results"
for name in $targets; do
  echo "proxy_bench: measuring $name" >&2
  target_pid=""
  if [[ "$name" == direct ]]; then
    port=$backend_port
  else
    port=$(free_port)
    start_target "$name" "$port"
  fi
  url="http://127.0.0.1:$port/"
  rss_idle=""; rss_load=""
  if [[ -n "$target_pid" ]]; then
    curl -s -o /dev/null "$url"
    sleep 0.5
    rss_idle=$(rss_kb "$target_pid")
    "${prio[@]}" taskset -c 1 "$load_bin" --url "$url" --rate 2000 --connections 100 --duration 5s --json \
      > "$work/$name-100conn.json" &
    load_pid=$!
    rss_load=$rss_idle
    while kill -0 "$load_pid" 2> /dev/null; do
      r=$(rss_kb "$target_pid"); (( r > rss_load )) && rss_load=$r
      sleep 0.25
    done
    wait "$load_pid"
  fi

  # Saturation, closed loop.
  t0=$([[ -n "$target_pid" ]] && cpu_ticks "$target_pid" || echo 0)
  "${prio[@]}" taskset -c 1 wrk -t1 -c64 -d"${duration}s" --latency "$url" > "$work/$name-wrk.txt"
  t1=$([[ -n "$target_pid" ]] && cpu_ticks "$target_pid" || echo 0)
  sat_ticks=$((t1 - t0))

  # Fixed 1000 req/s over 16 connections.
  t0=$([[ -n "$target_pid" ]] && cpu_ticks "$target_pid" || echo 0)
  "${prio[@]}" taskset -c 1 "$load_bin" --url "$url" --rate 1000 --connections 16 --duration "${duration}s" \
    --json > "$work/$name-1000.json"
  t1=$([[ -n "$target_pid" ]] && cpu_ticks "$target_pid" || echo 0)
  fixed_ticks=$((t1 - t0))

  python3 - "$name" "$work/$name-wrk.txt" "$work/$name-1000.json" "$sat_ticks" "$fixed_ticks" \
    "$clk_tck" "${rss_idle:-0}" "${rss_load:-0}" "$work/$name-100conn.json" >> "$results" << 'PY'
import json, re, sys
name, wrk_file, fixed_file, sat_ticks, fixed_ticks, tck, rss_idle, rss_load, conn_file = sys.argv[1:]
wrk = open(wrk_file).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
total = int(re.search(r"(\d+) requests in", wrk).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk)
sock_err = re.search(r"Socket errors: (.*)", wrk)
fixed = json.load(open(fixed_file))
try:
    conn = json.load(open(conn_file))
except (OSError, ValueError):
    conn = None
tck = float(tck)
print(json.dumps({
    "name": name,
    "sat_rps": rps,
    "sat_errors": (int(non2xx.group(1)) if non2xx else 0),
    "sat_socket_errors": sock_err.group(1) if sock_err else "",
    "sat_cpu_us": (int(sat_ticks) / tck * 1e6 / total) if total and name != "direct" else None,
    "fixed": fixed,
    "fixed_cpu_us": (int(fixed_ticks) / tck * 1e6 / fixed["completed"])
        if fixed["completed"] and name != "direct" else None,
    "rss_idle_kb": int(rss_idle) or None,
    "rss_load_kb": int(rss_load) or None,
    "conn100_errors": conn["errors"]["total"] if conn else None,
}))
PY
  if [[ -n "$target_pid" ]]; then
    kill "$target_pid" 2> /dev/null || true
    wait "$target_pid" 2> /dev/null || true
  fi
done

python3 - "$results" << 'PY' | tee "${out_file:-/dev/null}"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {r["name"]: r for r in rows}
direct = by.get("direct")
hap = by.get("haproxy")
def added(r, q):
    if not direct or r["name"] == "direct": return None
    return r["fixed"]["latency_us"][q] - direct["fixed"]["latency_us"][q]
def f(v, fmt="{:.0f}"):
    return "—" if v is None else fmt.format(v)
def ratio(a, b, fmt="{:.2f}×"):
    return "—" if a is None or b in (None, 0) else fmt.format(a / b)
print("| target | saturated req/s | p50 @1000 rps (µs) | p99 @1000 rps (µs) | added p50 (µs) | added p99 (µs) | CPU µs/req @1000 rps | CPU µs/req saturated | RSS idle (MB) | RSS 100 conns (MB) | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    lat = r["fixed"]["latency_us"]
    errs = r["sat_errors"] + r["fixed"]["errors"]["total"] + (r["conn100_errors"] or 0)
    print(f"| {r['name']} | {r['sat_rps']:.0f} | {lat['p50']:.0f} | {lat['p99']:.0f} | "
          f"{f(added(r,'p50'))} | {f(added(r,'p99'))} | {f(r['fixed_cpu_us'],'{:.1f}')} | "
          f"{f(r['sat_cpu_us'],'{:.1f}')} | "
          f"{f(r['rss_idle_kb'] and r['rss_idle_kb']/1024,'{:.1f}')} | "
          f"{f(r['rss_load_kb'] and r['rss_load_kb']/1024,'{:.1f}')} | {errs} |")
if hap:
    print()
    print("| vs HAProxy | throughput | added p99 | CPU µs/req @1000 rps | CPU µs/req saturated | RSS idle | RSS 100 conns |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if r["name"] in ("direct", "haproxy"): continue
        print(f"| {r['name']} | {ratio(r['sat_rps'], hap['sat_rps'])} | "
              f"{ratio(added(r,'p99'), added(hap,'p99'))} | {ratio(r['fixed_cpu_us'], hap['fixed_cpu_us'])} | "
              f"{ratio(r['sat_cpu_us'], hap['sat_cpu_us'])} | {ratio(r['rss_idle_kb'], hap['rss_idle_kb'])} | "
              f"{ratio(r['rss_load_kb'], hap['rss_load_kb'])} |")
PY
