#!/usr/bin/env bash
# Instructions per proxied request: meshdeck-proxy under callgrind in front of the nginx backend
# of proxy_bench.sh (docs/benchmarks.md, "Instructions per request"; docs/h1-codec.md, "Profile").
#
# Usage: bench/proxy_callgrind.sh [--bin-dir DIR] [--proxy-bin PATH] [--out DIR] [-- LOAD ARGS...]
#   --bin-dir    where meshdeck-load is (default: build/release/bin, then any build/*/bin)
#   --proxy-bin  the meshdeck-proxy binary (default: next to meshdeck-load)
#   --out        where the callgrind dumps go (default: a temporary folder, kept)
#   LOAD ARGS    extra meshdeck-load options (e.g. --header 'X-A: b', --body-size 100)
#
# Steps: the proxy (one worker) under valgrind --tool=callgrind; a 1 s warm-up of
# `meshdeck-load --max --connections 16`; callgrind_control -z; run A (2 s); dump; run B (6 s);
# dump. Prints Ir per request of each run and of the difference (Ir_B - Ir_A) / (N_B - N_A),
# which cancels what does not scale with requests. callgrind counts instructions, not time, so
# the figure does not depend on the machine's load.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir=""
proxy_bin=""
out=""
load_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --proxy-bin) proxy_bin="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --) shift; load_args=("$@"); break ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "proxy_callgrind: unknown argument $1" >&2; exit 2 ;;
  esac
done

prio=()
bench_name=proxy_callgrind
source "$root/bench/lib/common.sh"
bench_find_binaries
bench_require_tools valgrind callgrind_control nginx curl python3
[[ -x "$proxy_bin" ]] || bench_fail "no meshdeck-proxy at '$proxy_bin' (--proxy-bin)"
[[ -n "$out" ]] || out="$(mktemp -d /tmp/proxy_callgrind.XXXXXX)"
mkdir -p "$out"
rm -f "$out"/callgrind.out.*
bench_start_backend

port=$(free_port)
valgrind --tool=callgrind --compress-strings=no --callgrind-out-file="$out/callgrind.out.%p" \
  "$proxy_bin" --listen "127.0.0.1:$port" --upstream "127.0.0.1:$backend_port" --workers 1 \
  --log-level warn > "$out/proxy.log" 2>&1 &
vg_pid=$!
pids+=("$vg_pid")
for _ in $(seq 1 120); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.5
done
url="http://127.0.0.1:$port/"
run_load() {  # duration file
  "$load_bin" --url "$url" --max --connections 16 --duration "$1" "${load_args[@]}" --json > "$2"
}
run_load 1s "$out/warm.json"
callgrind_control -z "$vg_pid" > /dev/null
run_load 2s "$out/a.json"
callgrind_control -d "$vg_pid" > /dev/null
run_load 6s "$out/b.json"
callgrind_control -d "$vg_pid" > /dev/null

python3 - "$out" "$vg_pid" << 'PY'
import json, sys
out, pid = sys.argv[1], sys.argv[2]
def ir(part):
    for line in open(f"{out}/callgrind.out.{pid}.{part}"):
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"no totals in dump {part}")
def n(name):
    return json.load(open(f"{out}/{name}.json"))["completed"]
ir_a, ir_b, n_a, n_b = ir(1), ir(2), n("a"), n("b")
print(f"run A: {n_a} requests, {ir_a} Ir, {ir_a / n_a:.0f} Ir/request")
print(f"run B: {n_b} requests, {ir_b} Ir, {ir_b / n_b:.0f} Ir/request")
print(f"difference: {(ir_b - ir_a) / (n_b - n_a):.0f} Ir/request")
print(f"dumps: {out}/callgrind.out.{pid}.1 (run A), .2 (run B): callgrind_annotate them")
PY
