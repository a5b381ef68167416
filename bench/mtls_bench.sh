#!/usr/bin/env bash
# Mutual TLS benchmark: the cost of mTLS between two sidecars. The same backend and the same
# fixed-rate load through these paths:
#   direct      load → backend
#   plain-pair  load → meshdeck-proxy (client side) → meshdeck-proxy (server side) → backend
#   mtls-pair   the same pair with mutual TLS 1.3 between the two proxies (SPIFFE ids checked)
#   mtls-pair-base  the mtls-pair with the --baseline-bin binary (both proxies), for an A/B
#   mtls-pair-h2    the mtls-pair speaking HTTP/2 between the two proxies (the client side's
#                   --upstream-protocol http2: the 64 client connections become streams on one
#                   TLS connection); the path the mesh takes by default between sidecars over
#                   mutual TLS (Cluster.hop_http2; docs/http2.md, "The sidecar hop as HTTP/2")
#   haproxy     load → haproxy (client side, TLS 1.3 with a client certificate) →
#               haproxy (server side, TLS 1.3, client certificate required) → backend
# See docs/benchmarks.md.
#
# Usage: bench/mtls_bench.sh [--bin-dir DIR] [--proxy-bin PATH] [--baseline-bin PATH]
#                            [--duration SECONDS] [--rounds N] [--rate RPS] [--connections N]
#                            [--targets "direct plain-pair mtls-pair mtls-pair-base
#                                        mtls-pair-h2 haproxy"]
#                            [--out FILE] [--rt]
#   --bin-dir      where meshdeck-load is (default: build/release/bin, then any build/*/bin)
#   --proxy-bin    the meshdeck-proxy binary (default: next to meshdeck-load)
#   --baseline-bin a second meshdeck-proxy binary (e.g. built from main), measured in the same
#                  rounds as target mtls-pair-base (added by default when this option is given)
#   --duration     seconds of each measured run (default 10)
#   --rounds       repetitions, interleaved over the paths; medians reported (default 3)
#   --rate         fixed request rate (default 1000)
#   --connections  connections of the load generator (default 16)
#   --out          also write the markdown report to FILE
#   --rt           run every process SCHED_FIFO (chrt -f 20; needs CAP_SYS_NICE)
#
# Measured per path: p50/p99 at the fixed rate (meshdeck-load, open loop, latency from the
# scheduled send time) and "added" p50/p99 = path minus direct; CPU µs per request of each
# proxy (utime+stime from /proc/PID/stat over the run / requests completed), at the fixed rate
# (where wake-ups dominate) and saturated (wrk -t1 -c64, closed loop: the cost of a request
# itself, the figure the goal of <= 40 µs per proxy is about); TLS handshakes
# full vs resumed on the client-side proxy over the whole benchmark (meshdeck: /stats cluster
# events; HAProxy: "show info" SslBackendKeyRate is a rate, so the session reuse percentage of
# the server side's frontend is reported instead).
# Placement on the 2 cores: both proxies of a pair on CPU 0; backend and load on CPU 1.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir=""
proxy_bin=""
baseline_bin=""
targets_given=""
duration=10
rounds=3
rate=1000
connections=16
out_file=""
prio=()
targets="direct plain-pair mtls-pair haproxy"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --proxy-bin) proxy_bin="$2"; shift 2 ;;
    --baseline-bin) baseline_bin="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --targets) targets="$2"; targets_given=1; shift 2 ;;
    --out) out_file="$2"; shift 2 ;;
    --rt) prio=(chrt -f 20); shift ;;
    -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
    *) echo "mtls_bench: unknown argument $1" >&2; exit 2 ;;
  esac
done

if [[ -n "$baseline_bin" && -z "$targets_given" ]]; then
  targets="direct plain-pair mtls-pair mtls-pair-base haproxy"
fi
bench_name=mtls_bench
source "$root/bench/lib/common.sh"
bench_find_binaries
[[ -x "$proxy_bin" ]] || bench_fail "no meshdeck-proxy at '$proxy_bin' (--proxy-bin)"
if [[ " $targets " == *" mtls-pair-base "* && ! -x "$baseline_bin" ]]; then
  bench_fail "no baseline meshdeck-proxy at '$baseline_bin' (--baseline-bin)"
fi
bench_require_tools haproxy nginx openssl taskset python3 curl wrk

# Certificates: one CA, one leaf per side with a SPIFFE URI SAN (P-256, like the mesh CA).
td="spiffe://meshdeck.local/ns/default/sa"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=bench root" \
  -days 2 -keyout "$work/ca.key" -out "$work/ca.pem" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2> /dev/null
for svc in client server; do
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$svc" \
    -keyout "$work/$svc.key" -out "$work/$svc.csr" 2> /dev/null
  printf 'subjectAltName=URI:%s/%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n' \
    "$td" "$svc" > "$work/$svc.ext"
  openssl x509 -req -in "$work/$svc.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
    -CAcreateserial -days 1 -extfile "$work/$svc.ext" -out "$work/$svc.crt" 2> /dev/null
  cat "$work/$svc.crt" "$work/$svc.key" > "$work/$svc.pem"  # HAProxy wants both in one file
done

bench_start_backend

declare -A entry_port client_pid server_pid client_admin server_admin
admin_of() {  # port file -> admin port
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$1"
}
start_meshdeck() {  # name listen-port upstream-port admin-port extra-args... -> sets started_pid
  local name="$1" port="$2" upstream="$3" admin="$4" bin="$proxy_bin"; shift 4
  [[ "$name" == mtls-pair-base-* ]] && bin="$baseline_bin"
  "${prio[@]}" taskset -c 0 "$bin" --listen "127.0.0.1:$port" --upstream "127.0.0.1:$upstream" \
    --workers 1 --admin "127.0.0.1:$admin" --log-level warn "$@" > "$work/$name.log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
}

for name in $targets; do
  case "$name" in
    direct)
      entry_port[$name]=$backend_port ;;
    plain-pair|mtls-pair|mtls-pair-base|mtls-pair-h2)
      in_port=$(free_port); out_port=$(free_port); in_admin=$(free_port); out_admin=$(free_port)
      tls_in=(); tls_out=()
      if [[ "$name" == mtls-pair* ]]; then
        tls_in=(--tls-cert "$work/server.crt" --tls-key "$work/server.key" --tls-trust "$work/ca.pem"
                --listen-tls-mode strict)
        tls_out=(--tls-cert "$work/client.crt" --tls-key "$work/client.key" --tls-trust "$work/ca.pem"
                 --upstream-tls --upstream-identity "$td/server")
        [[ "$name" == mtls-pair-h2 ]] && tls_out+=(--upstream-protocol http2)
      fi
      start_meshdeck "$name-server" "$in_port" "$backend_port" "$in_admin" "${tls_in[@]}"
      server_pid[$name]=$started_pid
      start_meshdeck "$name-client" "$out_port" "$in_port" "$out_admin" "${tls_out[@]}"
      client_pid[$name]=$started_pid
      client_admin[$name]=$out_admin; server_admin[$name]=$in_admin
      entry_port[$name]=$out_port
      wait_http "$out_port" ;;
    haproxy)
      in_port=$(free_port); out_port=$(free_port)
      cat > "$work/haproxy-server.cfg" << CONF
global
  nbthread 1
  maxconn 4096
  stats socket $work/haproxy-server.sock
  ssl-default-bind-options ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.3
$(haproxy_defaults)
frontend mesh
  bind 127.0.0.1:$in_port ssl crt $work/server.pem ca-file $work/ca.pem verify required
  default_backend app
backend app
  server b1 127.0.0.1:$backend_port
CONF
      cat > "$work/haproxy-client.cfg" << CONF
global
  nbthread 1
  maxconn 4096
  stats socket $work/haproxy-client.sock
  ssl-default-server-options ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.3
$(haproxy_defaults)
frontend app
  bind 127.0.0.1:$out_port
  default_backend mesh
backend mesh
  server s1 127.0.0.1:$in_port ssl crt $work/client.pem ca-file $work/ca.pem verify required
CONF
      "${prio[@]}" taskset -c 0 haproxy -db -f "$work/haproxy-server.cfg" > "$work/haproxy-server.log" 2>&1 &
      server_pid[$name]=$!; pids+=($!)
      "${prio[@]}" taskset -c 0 haproxy -db -f "$work/haproxy-client.cfg" > "$work/haproxy-client.log" 2>&1 &
      client_pid[$name]=$!; pids+=($!)
      entry_port[$name]=$out_port
      wait_http "$out_port" ;;
    *) echo "mtls_bench: unknown target $name" >&2; exit 2 ;;
  esac
done

for round in $(seq 1 "$rounds"); do
  for name in $targets; do
    echo "mtls_bench: round $round/$rounds: $name" >&2
    url="http://127.0.0.1:${entry_port[$name]}/"
    c0=$(ticks_of "${client_pid[$name]:-}"); s0=$(ticks_of "${server_pid[$name]:-}")
    "${prio[@]}" taskset -c 1 "$load_bin" --url "$url" --rate "$rate" --connections "$connections" \
      --duration "${duration}s" --json > "$work/$name-$round.json"
    c1=$(ticks_of "${client_pid[$name]:-}"); s1=$(ticks_of "${server_pid[$name]:-}")
    echo "$((c1 - c0)) $((s1 - s0))" > "$work/$name-$round.ticks"
    sleep 1
    c0=$(ticks_of "${client_pid[$name]:-}"); s0=$(ticks_of "${server_pid[$name]:-}")
    "${prio[@]}" taskset -c 1 wrk -t1 -c64 -d"${duration}s" "$url" > "$work/$name-wrk-$round.txt"
    c1=$(ticks_of "${client_pid[$name]:-}"); s1=$(ticks_of "${server_pid[$name]:-}")
    echo "$((c1 - c0)) $((s1 - s0))" > "$work/$name-wrk-$round.ticks"
    sleep 1
  done
done

# TLS handshakes over the whole benchmark.
for name in $targets; do
  case "$name" in
    mtls-pair|mtls-pair-base|mtls-pair-h2)
      curl -s "http://127.0.0.1:${client_admin[$name]}/stats" > "$work/$name-client.stats"
      curl -s "http://127.0.0.1:${server_admin[$name]}/stats" > "$work/$name-server.stats" ;;
    haproxy)
      for side in client server; do
        python3 - "$work/haproxy-$side.sock" > "$work/$name-$side.info" << 'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"show info\n")
data = b""
while chunk := s.recv(65536): data += chunk
print(data.decode())
PY
      done ;;
  esac
done

PYTHONPATH="$root/bench/lib" python3 - "$work" "$clk_tck" "$rounds" "$rate" "$connections" "$duration" $targets << 'PY' | tee "${out_file:-/dev/null}"
import re, statistics, sys
from benchlib import read, wrk_result, load_result
work, tck, rounds, rate, conns, dur, names = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7:]
def stat(text, series):
    m = re.search("^" + re.escape(series) + r" (\S+)$", text, re.M)
    return int(float(m.group(1))) if m else 0
def info(text, key):
    m = re.search("^" + key + r": (\S+)$", text, re.M)
    return m.group(1) if m else "?"
rows = {}
for n in names:
    p50, p99, ccpu, scpu, errors, done = [], [], [], [], 0, 0
    sat, sat_ccpu, sat_scpu = [], [], []
    for r in range(1, rounds + 1):
        j = load_result(f"{work}/{n}-{r}.json")
        p50.append(j["latency_us"]["p50"]); p99.append(j["latency_us"]["p99"])
        errors += j["errors"]["total"]; done += j["completed"]
        c, s = (int(x) for x in read(f"{work}/{n}-{r}.ticks").split())
        ccpu.append(c / tck * 1e6 / max(1, j["completed"])); scpu.append(s / tck * 1e6 / max(1, j["completed"]))
        total, sat_rate, wrk_errors = wrk_result(f"{work}/{n}-wrk-{r}.txt")
        sat.append(sat_rate)
        errors += wrk_errors
        c, s = (int(x) for x in read(f"{work}/{n}-wrk-{r}.ticks").split())
        sat_ccpu.append(c / tck * 1e6 / max(1, total)); sat_scpu.append(s / tck * 1e6 / max(1, total))
    hs = "—"
    if n.startswith("mtls-pair"):
        c = read(f"{work}/{n}-client.stats", ""); s = read(f"{work}/{n}-server.stats", "")
        full = stat(c, 'meshdeck_cluster_events_total{cluster="upstream",event="tls_handshake"}')
        res = stat(c, 'meshdeck_cluster_events_total{cluster="upstream",event="tls_resumed"}')
        reused = stat(c, 'meshdeck_cluster_events_total{cluster="upstream",event="reused"}')
        sfull = stat(s, 'meshdeck_listener_tls_handshakes_total{listener="main",resumed="false"}')
        sres = stat(s, 'meshdeck_listener_tls_handshakes_total{listener="main",resumed="true"}')
        hs = f"client: {full} full / {res} resumed, {reused} pooled reuses; server: {sfull} full / {sres} resumed"
    elif n == "haproxy":
        s = read(f"{work}/{n}-server.info", "")
        hs = f"server: {info(s, 'SslFrontendSessionReuse_pct')} % frontend session reuse, max key rate {info(s, 'SslFrontendMaxKeyRate')}/s"
    rows[n] = dict(p50=statistics.median(p50), p99=statistics.median(p99), p99_all=p99,
                   ccpu=statistics.median(ccpu), scpu=statistics.median(scpu), errors=errors, done=done, hs=hs,
                   sat=statistics.median(sat), sat_ccpu=statistics.median(sat_ccpu), sat_scpu=statistics.median(sat_scpu))
d = rows.get("direct")
print(f"Medians of {rounds} rounds of {dur} s at {rate} req/s over {conns} connections (meshdeck-load, open loop).")
print()
print("| path | p50 (µs) | p99 (µs) | added p50 (µs) | added p99 (µs) | CPU µs/req client-side proxy | CPU µs/req server-side proxy | errors | TLS handshakes |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
for n, r in rows.items():
    direct = n == "direct"
    add = lambda q: "—" if direct or not d else f"{r[q] - d[q]:.0f}"
    cpu = lambda v: "—" if direct else f"{v:.1f}"
    print(f"| {n} | {r['p50']:.0f} | {r['p99']:.0f} | {add('p50')} | {add('p99')} | {cpu(r['ccpu'])} | {cpu(r['scpu'])} | {r['errors']} | {r['hs']} |")
print()
print(f"Saturated (wrk -t1 -c64, {dur} s per round, medians; both proxies of a pair share CPU 0):")
print()
print("| path | req/s | CPU µs/req client-side proxy | CPU µs/req server-side proxy | req/s vs plain-pair | CPU/req vs haproxy (client / server) |")
print("|---|---:|---:|---:|---:|---:|")
plain = rows.get("plain-pair")
hap = rows.get("haproxy")
for n, r in rows.items():
    direct = n == "direct"
    cpu = lambda v: "—" if direct else f"{v:.1f}"
    ratio = "—" if direct or not plain else f"{r['sat'] / plain['sat']:.2f}"
    vs = "—" if direct or not hap or not hap["sat_ccpu"] or not hap["sat_scpu"] else f"{r['sat_ccpu'] / hap['sat_ccpu']:.2f} / {r['sat_scpu'] / hap['sat_scpu']:.2f}"
    print(f"| {n} | {r['sat']:.0f} | {cpu(r['sat_ccpu'])} | {cpu(r['sat_scpu'])} | {ratio} | {vs} |")
print()
print("p99 of every round (µs): " + "; ".join(f"{n}: " + ", ".join(f"{p:.0f}" for p in r["p99_all"]) for n, r in rows.items()))
PY
