#!/usr/bin/env bash
# Proxy benchmark: the same backend and the same load, direct and through meshdeck-proxy,
# HAProxy and nginx, each with one worker thread on loopback. See docs/benchmarks.md.
#
# Usage: bench/proxy_bench.sh [--bin-dir DIR] [--proxy-bin PATH] [--duration SECONDS]
#                             [--targets "direct meshdeck haproxy nginx"] [--out FILE]
#   --targets    any of direct, meshdeck, meshdeck-tap (meshdeck-proxy with a tap of every
#                request open at 100 events/s: --tap-bench 100, docs/tap.md), haproxy, nginx,
#                floor (bench/relay_floor.cpp: a byte relay that reads no HTTP, one read and
#                one write per direction; the most req/s and the least added latency any proxy
#                can show on this harness), haproxy-busy (HAProxy with its busy-polling
#                directive: it spins instead of sleeping, which shows how much of the added
#                latency is the wake-up of an idle CPU), meshdeck-busy (meshdeck-proxy
#                --busy-poll, the same). A busy target would take CPU 0 from the others, so it
#                is stopped (SIGSTOP) except while it is measured. Not with --rt.
#   --bin-dir    where meshdeck-load is (default: build/release/bin, then any build/*/bin)
#   --proxy-bin  the meshdeck-proxy binary (default: next to meshdeck-load)
#   --baseline-bin  a second meshdeck-proxy binary (e.g. built from main), measured in the same
#                run as target meshdeck-base (add it to --targets; it is added by default
#                when this option is given)
#   --wrk-connections  connections of the saturated wrk run (default 64)
#   --duration   seconds of each measured run (default 5)
#   --rounds     how many times each measurement is repeated, interleaved over the targets;
#                the report gives the median (default 3)
#   --out        also write the markdown report to FILE
#   --rt         run every benchmark process SCHED_FIFO (chrt -f 20; needs root or
#                CAP_SYS_NICE) so that other jobs on a shared machine do not perturb it
#   --latency-only  only 4 below (no memory, no saturated runs), e.g. with --rounds 10 for
#                the added p99, whose tail moves a lot from one run to the next: each round's
#                added p99 and its ratio to HAProxy's in the same round are listed
#
# All targets run side by side (idle ones cost nothing). It measures:
#   1. RSS idle: VmRSS after start and one request.
#   2. RSS under load: the largest VmRSS seen during a 5 s open-loop run at 2000 req/s over
#      100 connections.
#   3. Saturated throughput: wrk, closed loop, 1 thread, 64 connections; CPU us per request
#      from the proxy's utime+stime (/proc/PID/stat) over the run divided by wrk's requests.
#   4. Latency at a fixed 1000 req/s over 16 connections (meshdeck-load, open loop, latency
#      from the scheduled send time); "added" = this target's median p50/p99 minus direct's.
#      CPU us per request again, at this realistic rate.
# 3 and 4 run in rounds, each round visiting every target in turn, so that a disturbance of
# the machine hits one round of every target rather than all of one target; medians are
# reported.
# Placement on the 2 cores: the proxy under test is pinned to CPU 0; the backend and the load
# generators share CPU 1, the same for every target.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir=""
proxy_bin=""
duration=5
rounds=3
targets="direct meshdeck haproxy nginx"
out_file=""
prio=()
baseline_bin=""
wrk_connections=64
targets_given=""
latency_only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --proxy-bin) proxy_bin="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --targets) targets="$2"; targets_given=1; shift 2 ;;
    --out) out_file="$2"; shift 2 ;;
    --rt) prio=(chrt -f 20); shift ;;
    --latency-only) latency_only=1; shift ;;
    --baseline-bin) baseline_bin="$2"; shift 2 ;;
    --wrk-connections) wrk_connections="$2"; shift 2 ;;
    -h|--help) sed -n '2,45p' "$0"; exit 0 ;;
    *) echo "proxy_bench: unknown argument $1" >&2; exit 2 ;;
  esac
done

if [[ -n "$baseline_bin" && -z "$targets_given" ]]; then
  targets="direct meshdeck meshdeck-base haproxy nginx"
fi
if [[ ${#prio[@]} -gt 0 && " $targets " == *"-busy "* ]]; then
  # A real-time process that never sleeps would starve everything else on CPU 0, the kernel's
  # softirq thread included.
  echo "proxy_bench: the -busy targets cannot run with --rt" >&2
  exit 2
fi
bench_name=proxy_bench
source "$root/bench/lib/common.sh"
bench_find_binaries
bench_require_tools haproxy nginx wrk taskset python3 curl
for name in $targets; do
  case "$name" in
    direct | meshdeck | meshdeck-base | meshdeck-busy | meshdeck-tap | floor | haproxy | haproxy-busy | nginx) ;;
    *) bench_fail "unknown target '$name' (--help lists them)" ;;
  esac
done
if [[ " $targets " == *" meshdeck"* && ! -x "$proxy_bin" ]]; then
  bench_fail "no meshdeck-proxy at '$proxy_bin' (--proxy-bin)"
fi
if [[ " $targets " == *" meshdeck-base "* && ! -x "$baseline_bin" ]]; then
  bench_fail "no baseline meshdeck-proxy at '$baseline_bin' (--baseline-bin)"
fi
bench_start_backend

start_target() {  # name port -> sets target_pid
  local name="$1" port="$2"
  case "$name" in
    meshdeck)
      "${prio[@]}" taskset -c 0 "$proxy_bin" --listen "127.0.0.1:$port" --upstream "127.0.0.1:$backend_port" \
        --workers 1 > "$work/meshdeck.log" 2>&1 &
      ;;
    meshdeck-base)
      "${prio[@]}" taskset -c 0 "$baseline_bin" --listen "127.0.0.1:$port" --upstream "127.0.0.1:$backend_port" \
        --workers 1 > "$work/meshdeck-base.log" 2>&1 &
      ;;
    meshdeck-busy)
      "${prio[@]}" taskset -c 0 "$proxy_bin" --listen "127.0.0.1:$port" --upstream "127.0.0.1:$backend_port" \
        --workers 1 --busy-poll > "$work/meshdeck-busy.log" 2>&1 &
      ;;
    meshdeck-tap)
      "${prio[@]}" taskset -c 0 "$proxy_bin" --listen "127.0.0.1:$port" --upstream "127.0.0.1:$backend_port" \
        --workers 1 --tap-bench 100 > "$work/meshdeck-tap.log" 2>&1 &
      ;;
    floor)
      [[ -x "$bin_dir/relay_floor" ]] || bench_fail "no relay_floor in '$bin_dir' (build target relay_floor)"
      "${prio[@]}" taskset -c 0 "$bin_dir/relay_floor" --listen "127.0.0.1:$port" \
        --upstream "127.0.0.1:$backend_port" > "$work/floor.log" 2>&1 &
      ;;
    haproxy)
      haproxy_config "$port" "$backend_port" > "$work/haproxy.cfg"
      "${prio[@]}" taskset -c 0 haproxy -db -f "$work/haproxy.cfg" > "$work/haproxy.log" 2>&1 &
      ;;
    haproxy-busy)
      haproxy_config "$port" "$backend_port" | sed 's/^global$/global\n  busy-polling/' \
        > "$work/haproxy-busy.cfg"
      "${prio[@]}" taskset -c 0 haproxy -db -f "$work/haproxy-busy.cfg" > "$work/haproxy-busy.log" 2>&1 &
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
  park "$name" "$target_pid"
}

# A busy-polling target spins on CPU 0 even when idle: it is kept stopped except while it is
# measured (wake before, park after), so that it takes nothing from the others.
park() { [[ "$1" != *-busy ]] || kill -STOP "$2"; }
wake() { [[ "$1" != *-busy ]] || kill -CONT "$2"; }

declare -A port_of pid_of
for name in $targets; do
  if [[ "$name" == direct ]]; then
    port_of[$name]=$backend_port
    pid_of[$name]=""
  else
    port=$(free_port)
    start_target "$name" "$port"
    port_of[$name]=$port
    pid_of[$name]=$target_pid
  fi
done

# 1 and 2: memory.
for name in $targets; do
  [[ -z "$latency_only" ]] || break
  pid=${pid_of[$name]}
  [[ -n "$pid" ]] || continue
  echo "proxy_bench: memory of $name" >&2
  wake "$name" "$pid"
  url="http://127.0.0.1:${port_of[$name]}/"
  curl -s -o /dev/null "$url"
  sleep 0.5
  rss_kb "$pid" > "$work/$name.rss_idle"
  "${prio[@]}" taskset -c 1 "$load_bin" --url "$url" --rate 2000 --connections 100 --duration 5s \
    --json > "$work/$name-100conn.json" &
  load_pid=$!
  peak=0
  while kill -0 "$load_pid" 2> /dev/null; do
    r=$(rss_kb "$pid"); (( r > peak )) && peak=$r
    sleep 0.25
  done
  wait "$load_pid"
  echo "$peak" > "$work/$name.rss_load"
  park "$name" "$pid"
done

# 3 and 4: rounds over the targets.
for round in $(seq 1 "$rounds"); do
  for name in $targets; do
    echo "proxy_bench: round $round/$rounds: $name" >&2
    pid=${pid_of[$name]}
    url="http://127.0.0.1:${port_of[$name]}/"
    wake "$name" "$pid"
    if [[ -z "$latency_only" ]]; then
      t0=$(ticks_of "$pid")
      "${prio[@]}" taskset -c 1 wrk -t1 -c"$wrk_connections" -d"${duration}s" "$url" > "$work/$name-wrk-$round.txt"
      t1=$(ticks_of "$pid")
      echo $((t1 - t0)) > "$work/$name-wrk-$round.ticks"
      sleep 1  # let the saturation run's connections close before measuring latency
    fi
    t0=$(ticks_of "$pid")
    "${prio[@]}" taskset -c 1 "$load_bin" --url "$url" --rate 1000 --connections 16 \
      --duration "${duration}s" --json > "$work/$name-1000-$round.json"
    t1=$(ticks_of "$pid")
    echo $((t1 - t0)) > "$work/$name-1000-$round.ticks"
    park "$name" "$pid"
  done
done

PYTHONPATH="$root/bench/lib" WRK_CONNECTIONS="$wrk_connections" LATENCY_ONLY="$latency_only" python3 - "$work" "$clk_tck" "$rounds" $targets << 'PY' | tee "${out_file:-/dev/null}"
import json, os, statistics, sys
from benchlib import read, wrk_result, load_result
work, tck, rounds, names = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
latency_only = bool(os.environ.get("LATENCY_ONLY"))

rows = {}
for name in names:
    sat, sat_cpu, p50, p99, fixed_cpu, errors = [], [], [], [], [], 0
    for r in range(1, rounds + 1):
        if read(f"{work}/{name}-wrk-{r}.txt") is not None:
            total, rate, wrk_errors = wrk_result(f"{work}/{name}-wrk-{r}.txt")
            sat.append(rate)
            errors += wrk_errors
            ticks = int(read(f"{work}/{name}-wrk-{r}.ticks"))
            sat_cpu.append(ticks / tck * 1e6 / total)
        fixed = load_result(f"{work}/{name}-1000-{r}.json")
        p50.append(fixed["latency_us"]["p50"])
        p99.append(fixed["latency_us"]["p99"])
        errors += fixed["errors"]["total"]
        ticks = int(read(f"{work}/{name}-1000-{r}.ticks"))
        fixed_cpu.append(ticks / tck * 1e6 / max(1, fixed["completed"]))
    conn = read(f"{work}/{name}-100conn.json")
    if conn:
        errors += json.loads(conn)["errors"]["total"]
    proxy = name != "direct"
    rows[name] = {
        "sat": statistics.median(sat) if sat else None, "sat_all": sat,
        "p50": statistics.median(p50), "p99": statistics.median(p99), "p99_all": p99,
        "sat_cpu": statistics.median(sat_cpu) if proxy and sat_cpu else None,
        "fixed_cpu": statistics.median(fixed_cpu) if proxy else None,
        "rss_idle": int(read(f"{work}/{name}.rss_idle", "0")) / 1024 or None,
        "rss_load": int(read(f"{work}/{name}.rss_load", "0")) / 1024 or None,
        "errors": errors,
    }

direct = rows.get("direct")
hap = rows.get("haproxy")
def added(name, q):
    if not direct or name == "direct": return None
    return rows[name][q] - direct[q]
def f(v, fmt="{:.0f}"):
    return "—" if v is None else fmt.format(v)
def ratio(a, b):
    return "—" if a is None or b in (None, 0) else "{:.2f}×".format(a / b)

print(f"Medians of {rounds} rounds. Saturated: wrk -t1 -c{os.environ['WRK_CONNECTIONS']}. Latency: meshdeck-load at 1000 req/s over 16 connections.")
print()
print("| target | saturated req/s | p50 @1000 rps (µs) | p99 @1000 rps (µs) | added p50 (µs) | added p99 (µs) | CPU µs/req @1000 rps | CPU µs/req saturated | RSS idle (MB) | RSS 100 conns (MB) | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, r in rows.items():
    print(f"| {name} | {f(r['sat'])} | {r['p50']:.0f} | {r['p99']:.0f} | {f(added(name,'p50'))} | "
          f"{f(added(name,'p99'))} | {f(r['fixed_cpu'],'{:.1f}')} | {f(r['sat_cpu'],'{:.1f}')} | "
          f"{f(r['rss_idle'],'{:.1f}')} | {f(r['rss_load'],'{:.1f}')} | {r['errors']} |")
print()
print("Every round (saturated req/s; p99 µs @1000 rps):" if not latency_only else "p99 µs @1000 rps of every round:")
print()
for name, r in rows.items():
    sat_all = ", ".join(f"{s:.0f}" for s in r["sat_all"])
    print(f"- {name}: " + (sat_all + "; " if sat_all else "") +
          ", ".join(f"{p:.0f}" for p in r["p99_all"]))
if hap:
    print()
    print("| vs HAProxy | throughput | added p50 | added p99 | CPU µs/req @1000 rps | CPU µs/req saturated | RSS idle | RSS 100 conns |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        if name in ("direct", "haproxy"): continue
        print(f"| {name} | {ratio(r['sat'], hap['sat'])} | {ratio(added(name,'p50'), added('haproxy','p50'))} | "
              f"{ratio(added(name,'p99'), added('haproxy','p99'))} | "
              f"{ratio(r['fixed_cpu'], hap['fixed_cpu'])} | {ratio(r['sat_cpu'], hap['sat_cpu'])} | "
              f"{ratio(r['rss_idle'], hap['rss_idle'])} | {ratio(r['rss_load'], hap['rss_load'])} |")
if direct and rounds > 1:
    # The tail moves from one run to the next, with the machine: each round's added p99 set
    # against HAProxy's of the same round (the targets of a round run within seconds).
    print()
    print("Added p99 of every round (µs; in brackets, against HAProxy's of the same round):")
    print()
    for name, r in rows.items():
        if name == "direct": continue
        parts = []
        for i in range(rounds):
            a = r["p99_all"][i] - direct["p99_all"][i]
            h = hap["p99_all"][i] - direct["p99_all"][i] if hap else None
            parts.append(f"{a:.0f}" + (f" ({a / h:.2f}×)" if h and name != "haproxy" else ""))
        line = f"- {name}: " + ", ".join(parts)
        if hap and name != "haproxy":
            ratios = sorted((r["p99_all"][i] - direct["p99_all"][i]) /
                            (hap["p99_all"][i] - direct["p99_all"][i]) for i in range(rounds)
                            if hap["p99_all"][i] != direct["p99_all"][i])
            if ratios:
                line += (f"; median {statistics.median(ratios):.2f}×, "
                         f"{sum(x <= 0.8 for x in ratios)} of {len(ratios)} rounds ≤ 0.8×")
        print(line)
PY
