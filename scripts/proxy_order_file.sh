#!/usr/bin/env bash
# Writes proxy/link/startup_order.txt: the functions meshdeck-proxy runs from start to idle in
# mesh mode (connected to a control plane, config received, answering the /ready probe), one
# mangled symbol per input section of .text, in the order they first ran. lld places those
# sections together at the front of .text (see meshdeck_link_static_deps). Runs the proxy once
# under valgrind's callgrind (~20 s) and reads the link map the build leaves next to its objects.
#
#   scripts/proxy_order_file.sh [--build-dir build/release] [--out proxy/link/startup_order.txt]
#
# Regenerate after large changes to what the proxy does at start; rebuild meshdeck-proxy after.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build/release" out="$root/proxy/link/startup_order.txt"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "proxy_order_file: unknown option $1" >&2; exit 2 ;;
  esac
done
for tool in valgrind c++filt curl python3; do
  command -v "$tool" > /dev/null || { echo "proxy_order_file: $tool is not installed" >&2; exit 2; }
done
proxy="$build/bin/meshdeck-proxy" cp_bin="$build/bin/meshdeck-controlplane"
map="$build/proxy/meshdeck-proxy.map"
[[ -x "$proxy" && -x "$cp_bin" ]] || { echo "proxy_order_file: build meshdeck-proxy and meshdeck-controlplane in $build" >&2; exit 2; }
[[ -f "$map" ]] || { echo "proxy_order_file: no $map (the link map is written when linking with lld)" >&2; exit 2; }

work="$(mktemp -d /tmp/meshdeck-order.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cp_port=$(port) admin=$(port)
"$cp_bin" --listen "127.0.0.1:$cp_port" --secure-listen "" --state-dir "$work/state" \
  --log-level warn > "$work/cp.log" 2>&1 &
pids+=($!)
sleep 1
# The demo's arguments (controlplane/fleet), as bench/sidecar_memory.sh runs it.
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/callgrind.out" \
  "$proxy" --control-plane "127.0.0.1:$cp_port" --service reviews --version v1 \
  --namespace default --proxy-id reviews-v1-0 --inbound-port "$(port)" --app-port "$(port)" \
  --outbound-port "$(port)" --admin-port "$admin" --workers 1 --drain-timeout 2 \
  --log-level warn > "$work/proxy.log" 2>&1 &
px=$!
pids+=("$px")
ready=no
for _ in $(seq 1 120); do
  if [[ "$(curl -s --max-time 2 "http://127.0.0.1:$admin/ready" || true)" == ready ]]; then ready=yes; break; fi
  sleep 0.5
done
[[ "$ready" == yes ]] || { echo "proxy_order_file: the proxy did not become ready" >&2; cat "$work/proxy.log" >&2; exit 1; }
for _ in 1 2 3; do curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$admin/ready"; sleep 1; done
kill -TERM "$px"
wait "$px" || true

# Executed functions in first-seen order (callgrind names each once, with its id, on first use).
grep -oP '^c?fn=\(\d+\) \K.*' "$work/callgrind.out" | awk '!seen[$0]++' > "$work/ran.txt"
c++filt < "$work/ran.txt" > "$work/ran.demangled"
python3 - "$work/ran.txt" "$work/ran.demangled" "$map" "$out" <<'PY'
import sys
ran, demangled, map_path, out = sys.argv[1:]
names = [l.rstrip('\n') for l in open(ran)]
plain = [l.rstrip('\n') for l in open(demangled)]
# lld's map: output sections at column 0 of the name field, input sections indented 8, symbols 16.
section_of = {}
in_text = False
section = None
for line in open(map_path):
    body = line[49:].rstrip('\n')
    indent = len(body) - len(body.lstrip(' '))
    name = body.strip()
    if not name:
        continue
    if indent == 0:
        in_text = name == '.text'
    elif in_text and indent == 8:
        section = name
    elif in_text and indent == 16:
        section_of.setdefault(name, section)
seen, keep = set(), []
for mangled, demangled_name in zip(names, plain):
    # The map names symbols mangled (the build links with --no-demangle); a map written without
    # it names them demangled by LLVM, which spells lambdas differently from c++filt, so such
    # functions are found only in a mangled map.
    sec = section_of.get(mangled) or section_of.get(demangled_name)
    if sec is None or sec in seen:
        continue
    seen.add(sec)
    keep.append(mangled)
with open(out, 'w') as f:
    f.write('\n'.join(keep) + '\n')
print(f'proxy_order_file: {len(keep)} sections of {len(names)} functions run -> {out}')
PY
