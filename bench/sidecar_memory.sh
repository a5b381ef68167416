#!/usr/bin/env bash
# sidecar_memory.sh: one idle mesh-mode meshdeck-proxy (the demo's arguments: --workers 1, no
# traffic, no TLS) against a headless control plane; after --wait seconds prints its memory
# from /proc/PID/smaps_rollup (RSS, PSS, private, anonymous, file pages) and its threads.
#
#   bench/sidecar_memory.sh [--bin-dir DIR] [--wait 6]
set -euo pipefail
bench_name=sidecar_memory
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="" proxy_bin="" wait_s=6
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --wait) wait_s="$2"; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "$bench_name: unknown option $1" >&2; exit 2 ;;
  esac
done
source "$root/bench/lib/common.sh"
bench_find_binaries
cp_port=$(free_port)
"$bin_dir/meshdeck-controlplane" --listen "127.0.0.1:$cp_port" --secure-listen "" \
  --state-dir "$work/state" --log-level warn > "$work/cp.log" 2>&1 &
pids+=($!)
sleep 1
# Ports first: a command substitution on the command line of a background job runs in the job's
# shell, and on a loaded machine $! would still be that shell when memory is read.
admin=$(free_port) inbound=$(free_port) app=$(free_port) outbound=$(free_port)
"$proxy_bin" --control-plane "127.0.0.1:$cp_port" --service reviews --version v1 \
  --namespace default --proxy-id reviews-v1-0 --inbound-port "$inbound" \
  --app-port "$app" --outbound-port "$outbound" --admin-port "$admin" \
  --workers 1 --drain-timeout 2 --log-level warn > "$work/proxy.log" 2>&1 &
px=$!
pids+=("$px")
sleep "$wait_s"
echo "ready: $(curl -s --max-time 2 "http://127.0.0.1:$admin/ready" || echo no)"
awk '/^Rss:/{r=$2} /^Pss:/{s=$2} /^Private_Clean:/{c=$2} /^Private_Dirty:/{d=$2}
     /^Anonymous:/{a=$2} END{printf "RSS %.1f MB, PSS %.1f MB, private %.1f MB, anonymous %.1f MB, file pages %.1f MB\n",
     r/1000, s/1000, (c+d)/1000, a/1000, (r-a)/1000}' "/proc/$px/smaps_rollup"
echo "threads: $(ls "/proc/$px/task" | wc -l); VmSize: $(awk '/^VmSize:/{print $2, $3}' "/proc/$px/status")"
