#!/usr/bin/env bash
# demo_start.sh: a bundled demo (or a DemoMesh file) started headless by meshdeck-controlplane;
# reports the time to the first complete graph, the CPU the sidecars used until then, the
# configs pushed, and memory by PSS and RSS (/proc/PID/smaps_rollup) of the control plane and
# every process of its fleet, in all and per sidecar: at the moment the first complete graph is
# logged (the sum of /proc/PID/smaps_rollup Pss over the control plane or app and every
# process under it) and again --settle seconds later. While the fleet comes up, the process
# tree's PSS is sampled every --sample seconds. --ports FIRST-LAST gives the fleet its own
# loopback ports (meshdeck-controlplane --demo-ports; default 21000-32000), so that two demos
# run at the same time do not take each other's.
#
# --window: the same demo the way a user meets it, in the desktop app (`meshdeck --demo NAME`,
# QT_QPA_PLATFORM=offscreen): the time is that of the line the app writes when its window has
# painted the first complete graph; the window is saved as a PNG (--shot, default
# demo-start-window.png in the current folder) --shot-after seconds after start, then the app quits.
#
#   bench/demo_start.sh [--bin-dir DIR] [--demo large] [--duration 12s] [--settle 5] [--sample 20]
#                       [--ports FIRST-LAST] [--window [--shot FILE] [--shot-after 25]]
set -euo pipefail
bench_name=demo_start
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="" proxy_bin="" demo=large duration=12s settle=5 sample=20
window=0 shot="$PWD/demo-start-window.png" shot_after=25 ports=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --demo) demo="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --settle) settle="$2"; shift 2 ;;
    --sample) sample="$2"; shift 2 ;;
    --window) window=1; shift ;;
    --ports) ports="$2"; shift 2 ;;
    --shot) shot="$(realpath -m "$2")"; shift 2 ;;
    --shot-after) shot_after="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "$bench_name: unknown option $1" >&2; exit 2 ;;
  esac
done
source "$root/bench/lib/common.sh"
bench_find_binaries
[[ -x "$bin_dir/meshdeck-demo-service" ]] || bench_fail "no meshdeck-demo-service in $bin_dir"

# Every process of the tree under $1 (the control plane's fleet: sidecars, apps, load), from one
# `ps` (a pgrep per process scanned /proc 1,060 times for the 1,000-service demo: minutes under
# load, and the loop sees the log only between samples).
tree() {
  ps -e -o pid=,ppid= | awk -v root="$1" '{kids[$2] = kids[$2] " " $1}
    END{n = split(root, todo); for (i = 1; i <= n; i++) {p = todo[i]; print p;
        m = split(kids[p], k, " "); for (j = 1; j <= m; j++) todo[++n] = k[j]}}'
}
# "PSS-kB RSS-kB count" summed over the pids on stdin.
# One cat for all: each smaps_rollup starts with its "[rollup]" line; a process gone meanwhile
# is skipped.
mem_sum() {
  sed 's|.*|/proc/&/smaps_rollup|' | xargs cat 2> /dev/null |
    awk '/\[rollup\]/{n++} /^Rss:/{r+=$2} /^Pss:/{s+=$2} END{printf "%d %d %d\n", s, r, n}' || true
}

(( window )) && [[ -n "$ports" ]] && bench_fail "--ports is for the headless run (the app has no --demo-ports)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
if (( window )); then
  [[ -x "$bin_dir/meshdeck" ]] || bench_fail "no meshdeck (the desktop app) in $bin_dir"
  # The app's own settings and state stay in the scratch folder.
  XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data" XDG_STATE_HOME="$work/state" \
    QT_QPA_PLATFORM=offscreen "$bin_dir/meshdeck" --demo "$demo" --state-dir "$work/cp-state" \
    --screenshot "$shot" \
    --screenshot-after "$shot_after" > "$work/run.log" 2>&1 &
else
  "$bin_dir/meshdeck-controlplane" --listen 127.0.0.1:0 --state-dir "$work/state" --demo "$demo" \
    --duration "$duration" ${ports:+--demo-ports "$ports"} > "$work/run.log" 2>&1 &
fi
cp=$!
pids+=("$cp")
start=$(date +%s)
next_sample=$sample
done_re="first complete graph\|did not come up\|no traffic yet\|cannot start"
(( window )) && done_re="first complete graph in the window\|meshdeck: [^d]"
while ! grep -q "$done_re" "$work/run.log"; do
  kill -0 "$cp" 2> /dev/null || break
  sleep 0.1
  t=$(( $(date +%s) - start ))
  if (( t >= next_sample )); then
    read -r s r n < <(tree "$cp" | mem_sum)
    echo "t=${t}s: $n processes, PSS $((s / 1024)) MiB, sum of RSS $((r / 1024)) MiB;" \
      "started $(grep -c 'fleet: started' "$work/run.log"), ready $(grep -c ' is ready' "$work/run.log");" \
      "load $(cut -d' ' -f1 /proc/loadavg)"
    next_sample=$(( next_sample + sample ))
  fi
done
# The tree's memory at the moment the line was seen (the loop looks every 0.1 s).
graph_s=$(( $(date +%s) - start ))
read -r gs gr gn < <(tree "$cp" | mem_sum)
grep -E "processes running and ready|first complete graph|did not come up|cannot start|meshdeck: " "$work/run.log" \
  | grep -v '^\[20' || true
# A wait that ran out names the edges still without traffic (the first 20 of them).
grep -A 21 "no traffic yet" "$work/run.log" || true
if grep -q "first complete graph" "$work/run.log"; then
  echo "at the first complete graph (seen at ~${graph_s} s): $gn processes, PSS $((gs / 1024)) MiB" \
    "in all, sum of RSS $((gr / 1024)) MiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
  sidecars=$(pgrep -P "$cp" -f "meshdeck-proxy --control-plane" || true)
  # One read of every sidecar's /proc/PID/stat (a sidecar that already exited is left out and
  # counted: with a short --duration the demo may be stopping while this runs).
  read -r ticks read_n < <(printf '/proc/%s/stat\n' $sidecars | xargs cat 2> /dev/null |
    awk '{t += $14 + $15; n++} END{printf "%d %d\n", t, n}' || true)
  (( read_n < $(echo "$sidecars" | wc -w) )) &&
    echo "($(( $(echo "$sidecars" | wc -w) - read_n )) sidecars had exited before their CPU was read)"
  echo "sidecars: $(echo "$sidecars" | wc -w), CPU until the first complete graph:" \
    "$(awk -v t="$ticks" -v c="$clk_tck" 'BEGIN{printf "%.2f", t / c}') s in all;" \
    "control plane $(awk -v c="$clk_tck" '{printf "%.2f", ($14 + $15) / c}' "/proc/$cp/stat") s"
  sleep "$settle"
  if kill -0 "$cp" 2> /dev/null && ! grep -q "stopped:" "$work/run.log"; then
    read -r s r n < <(tree "$cp" | mem_sum)
    echo "memory ${settle} s later: $n processes, PSS $((s / 1024)) MiB in all, sum of RSS $((r / 1024)) MiB"
  else
    # --duration counts from the start: a demo slower to its graph than that has stopped by now.
    echo "memory ${settle} s later: not measured, the demo had already stopped (raise --duration)"
  fi
  for p in $(pgrep -P "$cp" -f "meshdeck-proxy --control-plane" || true); do
    awk '/^Rss:/{r=$2} /^Pss:/{s=$2} /^Private_Clean:/{c=$2} /^Private_Dirty:/{d=$2}
         /^Anonymous:/{a=$2} END{print r, s, c + d, a}' "/proc/$p/smaps_rollup" 2> /dev/null || true
  done | awk '{n++; r+=$1; s+=$2; v+=$3; a+=$4; if ($1>mr) mr=$1; if ($3>mv) mv=$3}
    END{if (n) printf "per sidecar (%d): RSS %.1f MiB (max %.1f), PSS %.1f MiB, private %.1f MiB (max %.1f), anonymous %.1f MiB\n",
        n, r/n/1024, mr/1024, s/n/1024, v/n/1024, mv/1024, a/n/1024}'
fi
wait "$cp" || true
grep "stopped:" "$work/run.log" | sed 's/.*stopped: /control plane at stop: /' || true
grep -E "rejected config|cannot (bind|listen)" "$work/run.log" | head -5 || true
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
