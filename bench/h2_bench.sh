#!/usr/bin/env bash
# HTTP/2 benchmark: h2load (nghttp2-client) with HTTP/2 prior knowledge (h2c) through
# meshdeck-proxy and HAProxy side by side in one run, each with one worker thread on loopback,
# both speaking HTTP/1.1 to the same nginx backend, or with --h2-upstream HTTP/2 on both sides
# (meshdeck --upstream-protocol http2, HAProxy `proto h2`, nginx `listen ... http2`). See
# docs/benchmarks.md.
#
# Usage: bench/h2_bench.sh [--proxy-bin PATH] [--baseline-bin PATH] [--duration SECONDS]
#                          [--rounds N] [--out FILE] [--h2-upstream]
#   --proxy-bin     the meshdeck-proxy binary (default: build/release/bin/meshdeck-proxy)
#   --baseline-bin  a second meshdeck-proxy (e.g. one built from main) measured in the same
#                   rounds as target "baseline", for an A/B beside HAProxy
#   --duration   seconds of each measured run (default 5)
#   --rounds     repetitions, interleaved over the targets; medians reported (default 3)
#   --out        also write the markdown report to FILE
#   --rt         run every benchmark process SCHED_FIFO (chrt -f 20)
#
# Measures, per target:
#   1. Memory per idle HTTP/2 connection: VmRSS with 200 open, idle h2c connections (preface
#      and SETTINGS exchanged) minus VmRSS before, divided by 200.
#   2. Saturated: h2load -t1 -c16 -m4 (64 streams at once, as wrk -c64 in proxy_bench.sh) and
#      -m32 (512 streams at once: more than the upstream pool's 64 idle connections, so
#      upstream connections churn) for the duration; requests/s, and CPU µs per request from
#      the proxy's utime+stime over the run.
#   3. Fixed rate: h2load -c16 -m1 --rps 62 (≈ 1000 req/s), per-request times from its
#      --log-file: p50 and p99, and CPU µs per request; the same straight to the backend
#      (h2load --h1 for an HTTP/1.1 one) each round gives the "added" p99 (path minus direct).
# Placement: the proxy under test on CPU 0; backend and h2load on CPU 1.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir=""
proxy_bin=""
baseline_bin=""
duration=5
rounds=3
out_file=""
prio=()
h2_upstream=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --proxy-bin) proxy_bin="$2"; shift 2 ;;
    --baseline-bin) baseline_bin="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --out) out_file="$2"; shift 2 ;;
    --rt) prio=(chrt -f 20); shift ;;
    --h2-upstream) h2_upstream=1; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "h2_bench: unknown argument $1" >&2; exit 2 ;;
  esac
done

bench_name=h2_bench
source "$root/bench/lib/common.sh"
[[ -n "$proxy_bin" ]] || proxy_bin="$root/build/release/bin/meshdeck-proxy"
[[ -x "$proxy_bin" ]] || bench_fail "no meshdeck-proxy at '$proxy_bin' (--proxy-bin)"
[[ -z "$baseline_bin" || -x "$baseline_bin" ]] ||
  bench_fail "no meshdeck-proxy at '$baseline_bin' (--baseline-bin)"
bench_require_tools haproxy nginx h2load taskset curl
[[ -x /usr/bin/python3 ]] && /usr/bin/python3 -c 'import h2' 2> /dev/null ||
  bench_fail "Debian's python3-h2 is not installed (scripts/setup.sh)"
md_upstream=(); hap_server_proto=""; upstream_label="HTTP/1.1"
if [[ $h2_upstream == 1 ]]; then
  bench_start_backend h2c
  md_upstream=(--upstream-protocol http2); hap_server_proto=" proto h2"; upstream_label="HTTP/2 (h2c)"
else
  bench_start_backend
fi

targets="meshdeck haproxy"
[[ -n "$baseline_bin" ]] && targets="meshdeck baseline haproxy"
declare -A port_of pid_of
for name in $targets; do
  port=$(free_port)
  case "$name" in
    meshdeck|baseline)
      bin="$proxy_bin"
      [[ "$name" == baseline ]] && bin="$baseline_bin"
      "${prio[@]}" taskset -c 0 "$bin" --listen "127.0.0.1:$port" \
        --upstream "127.0.0.1:$backend_port" --workers 1 "${md_upstream[@]}" > "$work/$name.log" 2>&1 &
      ;;
    haproxy)
      cat > "$work/haproxy.cfg" << CONF
global
  nbthread 1
  maxconn 4096
$(haproxy_defaults)
frontend bench
  bind 127.0.0.1:$port proto h2
  default_backend backend
backend backend
  server b1 127.0.0.1:$backend_port$hap_server_proto
CONF
      "${prio[@]}" taskset -c 0 haproxy -db -f "$work/haproxy.cfg" > "$work/haproxy.log" 2>&1 &
      ;;
  esac
  pids+=($!)
  pid_of[$name]=$!
  port_of[$name]=$port
  for _ in $(seq 1 100); do
    h2load -n1 -c1 "http://127.0.0.1:$port/" 2> /dev/null | grep -q "1 succeeded" && break
    sleep 0.05
  done
done

# 1: memory per idle HTTP/2 connection.
for name in $targets; do
  echo "h2_bench: idle connections on $name" >&2
  pid=${pid_of[$name]}
  before=$(rss_kb "$pid")
  /usr/bin/python3 - "${port_of[$name]}" "$pid" > "$work/$name.idle" << 'PY'
import socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
conns = []
for _ in range(200):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(preface)
    conns.append(s)
for s in conns:
    s.settimeout(5)
    s.recv(4096)  # the proxy's SETTINGS
time.sleep(1)
print(next(l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:")))
for s in conns:
    s.close()
PY
  echo "$before" > "$work/$name.rss_before"
done

# 2 and 3: rounds over the targets.
rps_per_client=62
direct_h1=(--h1)
[[ $h2_upstream == 1 ]] && direct_h1=()
for round in $(seq 1 "$rounds"); do
  echo "h2_bench: round $round/$rounds: direct" >&2
  "${prio[@]}" taskset -c 1 h2load "${direct_h1[@]}" -t1 -c16 -m1 --rps "$rps_per_client" -D "$duration" \
    --log-file "$work/direct-fixed-$round.log" "http://127.0.0.1:$backend_port/" > "$work/direct-fixed-$round.txt"
  for name in $targets; do
    echo "h2_bench: round $round/$rounds: $name" >&2
    pid=${pid_of[$name]}
    url="http://127.0.0.1:${port_of[$name]}/"
    for m in 4 32; do
      t0=$(ticks_of "$pid")
      "${prio[@]}" taskset -c 1 h2load -t1 -c16 -m$m -D "$duration" "$url" > "$work/$name-sat$m-$round.txt"
      t1=$(ticks_of "$pid")
      echo $((t1 - t0)) > "$work/$name-sat$m-$round.ticks"
      sleep 1
    done
    t0=$(ticks_of "$pid")
    "${prio[@]}" taskset -c 1 h2load -t1 -c16 -m1 --rps "$rps_per_client" -D "$duration" \
      --log-file "$work/$name-fixed-$round.log" "$url" > "$work/$name-fixed-$round.txt"
    t1=$(ticks_of "$pid")
    echo $((t1 - t0)) > "$work/$name-fixed-$round.ticks"
  done
done

python3 - "$work" "$clk_tck" "$rounds" "$upstream_label" $targets << 'PY' | tee "${out_file:-/dev/null}"
import re, statistics, sys
work, tck, rounds, upstream, names = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5:]

def h2load_result(path):
    text = open(path).read()
    done = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", text).group(1))
    ok = int(re.search(r"(\d+) succeeded", text).group(1))
    secs = float(re.search(r"finished in ([\d.]+)s", text).group(1))
    return done, ok, secs

def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0

direct_p99 = statistics.median(
    percentile([int(l.split("\t")[2]) for l in open(f"{work}/direct-fixed-{r}.log") if l.strip()], 0.99)
    for r in range(1, rounds + 1))
rows = {}
for name in names:
    sat, sat_cpu, p50, p99, fixed_cpu, errors = [], [], [], [], [], 0
    sat32, sat32_cpu = [], []
    for r in range(1, rounds + 1):
        for m, rates, cpus in ((4, sat, sat_cpu), (32, sat32, sat32_cpu)):
            done, ok, secs = h2load_result(f"{work}/{name}-sat{m}-{r}.txt")
            rates.append(ok / secs)
            errors += done - ok
            cpus.append(int(open(f"{work}/{name}-sat{m}-{r}.ticks").read()) / tck * 1e6 / max(1, ok))
        done, ok, secs = h2load_result(f"{work}/{name}-fixed-{r}.txt")
        errors += done - ok
        times = [int(l.split("\t")[2]) for l in open(f"{work}/{name}-fixed-{r}.log") if l.strip()]
        p50.append(percentile(times, 0.50))
        p99.append(percentile(times, 0.99))
        fixed_cpu.append(int(open(f"{work}/{name}-fixed-{r}.ticks").read()) / tck * 1e6 / max(1, ok))
    before = int(open(f"{work}/{name}.rss_before").read())
    idle = int(open(f"{work}/{name}.idle").read())
    rows[name] = {"sat": statistics.median(sat), "sat_all": sat,
                  "sat32": statistics.median(sat32), "sat32_cpu": statistics.median(sat32_cpu),
                  "sat_cpu": statistics.median(sat_cpu), "fixed_cpu": statistics.median(fixed_cpu),
                  "p50": statistics.median(p50), "p99": statistics.median(p99),
                  "kb_per_conn": (idle - before) / 200, "errors": errors}

print(f"Medians of {rounds} rounds. h2c prior knowledge downstream, {upstream} to one nginx backend.")
print("Saturated: h2load -t1 -c16 -m4 (64 streams) and -m32 (512 streams). Fixed: h2load -c16 -m1 --rps 62 (≈ 1000 req/s).")
print()
print(f"Direct to the backend at the fixed rate: p99 {direct_p99:.0f} µs (added p99 = p99 - this).")
print()
print("| target | saturated req/s, 64 streams | CPU µs/req | saturated req/s, 512 streams | CPU µs/req | p50 @1000 rps (µs) | p99 @1000 rps (µs) | added p99 (µs) | CPU µs/req @1000 rps | KiB per idle h2 connection | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, r in rows.items():
    print(f"| {name} | {r['sat']:.0f} | {r['sat_cpu']:.1f} | {r['sat32']:.0f} | {r['sat32_cpu']:.1f} | "
          f"{r['p50']:.0f} | {r['p99']:.0f} | {r['p99'] - direct_p99:.0f} | "
          f"{r['fixed_cpu']:.1f} | {r['kb_per_conn']:.1f} | {r['errors']} |")
print()
for name, r in rows.items():
    print(f"- {name}: saturated req/s per round: " + ", ".join(f"{s:.0f}" for s in r["sat_all"]))
hap = rows.get("haproxy")
ratio = lambda a, b: "—" if not b else f"{a / b:.2f}×"
if hap and any(n in rows for n in ("meshdeck", "baseline")):
    print()
    print("| vs HAProxy | throughput, 64 streams | CPU µs/req, 64 streams | throughput, 512 streams | CPU µs/req, 512 streams | p99 @1000 rps | CPU µs/req @1000 rps | memory per idle connection |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in ("meshdeck", "baseline"):
        md = rows.get(name)
        if not md:
            continue
        print(f"| {name} | {ratio(md['sat'], hap['sat'])} | {ratio(md['sat_cpu'], hap['sat_cpu'])} | "
              f"{ratio(md['sat32'], hap['sat32'])} | {ratio(md['sat32_cpu'], hap['sat32_cpu'])} | "
              f"{ratio(md['p99'], hap['p99'])} | {ratio(md['fixed_cpu'], hap['fixed_cpu'])} | "
              f"{ratio(md['kb_per_conn'], hap['kb_per_conn'])} |")
PY
