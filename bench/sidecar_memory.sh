#!/usr/bin/env bash
# sidecar_memory.sh: one idle mesh-mode meshdeck-proxy (the demo's arguments: --workers 1, no
# traffic, no TLS) against a headless control plane; --wait seconds after it is ready prints its memory
# from /proc/PID/smaps_rollup (RSS, PSS, private, anonymous, file pages), its threads, and the
# resident memory per mapping of /proc/PID/smaps (file and permissions; anonymous mappings of
# 8 MB are thread stacks, of 132 KB malloc arenas). --proxy-bin runs another meshdeck-proxy
# (a baseline) against the same control plane binary. --sidecars N starts N such sidecars of the
# same binary and reads the first once all are ready: alone, the binary's file pages count as
# its private memory; beside other sidecars they are shared, as in a mesh.
#
#   bench/sidecar_memory.sh [--bin-dir DIR] [--proxy-bin FILE] [--wait 5] [--sidecars 1]
set -euo pipefail
bench_name=sidecar_memory
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="" proxy_bin="" wait_s=5 sidecars=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --wait) wait_s="$2"; shift 2 ;;
    --sidecars) sidecars="$2"; shift 2 ;;
    --proxy-bin) proxy_bin="$(realpath "$2")"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "$bench_name: unknown option $1" >&2; exit 2 ;;
  esac
done
source "$root/bench/lib/common.sh"
# Only the control plane and the proxy run here (no meshdeck-load to look for).
[[ -n "$bin_dir" ]] || bin_dir="$root/build/release/bin"
[[ -x "$bin_dir/meshdeck-controlplane" ]] || bench_fail "no meshdeck-controlplane in '$bin_dir' (--bin-dir)"
[[ -n "$proxy_bin" ]] || proxy_bin="$bin_dir/meshdeck-proxy"
[[ "$sidecars" =~ ^[1-9][0-9]?$ ]] || bench_fail "--sidecars takes 1 to 99"
cp_port=$(free_port)
"$bin_dir/meshdeck-controlplane" --listen "127.0.0.1:$cp_port" --secure-listen "" \
  --state-dir "$work/state" --log-level warn > "$work/cp.log" 2>&1 &
pids+=($!)
sleep 1
# Idle = --wait seconds after every proxy answers /ready (at most 60 s each): a fixed time from
# the start measured a proxy still loading when the machine was busy.
ready=yes px=""
for k in $(seq 0 $((sidecars - 1))); do
  # Ports first: a command substitution on the command line of a background job runs in the
  # job's shell, and on a loaded machine $! would still be that shell when memory is read.
  admin=$(free_port) inbound=$(free_port) app=$(free_port) outbound=$(free_port)
  "$proxy_bin" --control-plane "127.0.0.1:$cp_port" --service reviews --version v1 \
    --namespace default --proxy-id "reviews-v1-$k" --inbound-port "$inbound" \
    --app-port "$app" --outbound-port "$outbound" --admin-port "$admin" \
    --workers 1 --drain-timeout 2 --log-level warn > "$work/proxy-$k.log" 2>&1 &
  pids+=($!)
  [[ -n "$px" ]] || px=$!
  up=no
  for _ in $(seq 1 600); do
    if [[ "$(curl -s --max-time 2 "http://127.0.0.1:$admin/ready" || true)" == ready ]]; then up=yes; break; fi
    sleep 0.1
  done
  [[ "$up" == yes ]] || ready=no
done
sleep "$wait_s"
echo "ready: $ready ($proxy_bin, first of $sidecars); load $(cut -d' ' -f1-3 /proc/loadavg)"
awk '/^Rss:/{r=$2} /^Pss:/{s=$2} /^Private_Clean:/{c=$2} /^Private_Dirty:/{d=$2}
     /^Anonymous:/{a=$2} END{printf "RSS %.1f MB, PSS %.1f MB, private %.1f MB, anonymous %.1f MB, file pages %.1f MB\n",
     r/1000, s/1000, (c+d)/1000, a/1000, (r-a)/1000}' "/proc/$px/smaps_rollup"
echo "threads: $(ls "/proc/$px/task" | wc -l); VmSize: $(awk '/^VmSize:/{print $2, $3}' "/proc/$px/status")"
# Resident kB per mapping kind, largest first ("meshdeck-proxy r-xp 4416 kB", "thread stacks 180 kB").
python3 - "/proc/$px/smaps" <<'PY'
import collections, re, sys
res, name = collections.Counter(), None
for line in open(sys.argv[1]):
    m = re.match(r'([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)', line)
    if m:
        kb = (int(m.group(2), 16) - int(m.group(1), 16)) // 1024
        path = m.group(4).strip()
        if not path:
            name = 'thread stacks' if kb == 8192 else ('malloc arenas' if kb == 132 else 'anonymous, other')
        elif path.startswith('['):
            name = path
        else:
            name = path.rsplit('/', 1)[-1] + ' ' + m.group(3)
    elif line.startswith('Rss:'):
        res[name] += int(line.split()[1])
print('resident by mapping: ' + ', '.join(f'{k} {v} kB' for k, v in res.most_common(14) if v))
PY
