#!/usr/bin/env bash
# System calls per request under wrk, meshdeck-proxy beside HAProxy: the kernel's share of the
# difference between them (docs/benchmarks.md, "Where the plain harness's gap is").
#
# Usage: bench/proxy_syscalls_wrk.sh [--bin-dir DIR] [--proxy-bin PATH] [--baseline-bin PATH]
#                                    [--connections N] [--duration SECONDS] [--rounds N] [--rt]
#   --connections  wrk's connections (default 32: the plain harness of issue 20)
#   --rounds       how many times each target is measured, interleaved (default 2)
#   --rt           run every process SCHED_FIFO (chrt -f 20), as proxy_bench.sh --rt
#
# Each target (one worker on CPU 0; nginx backend and wrk -t1 on CPU 1, as proxy_bench.sh)
# gets a 1 s warm-up, then a --duration run of wrk while `perf stat` counts the target's
# epoll_wait, receives (recvfrom/recvmsg/read: the proxy uses recvfrom, the floor
# read), sends (sendmsg/sendto/write) and all system calls (tracepoints: no ptrace, the process
# runs at full speed). Prints requests/s and calls per request; more than 2 receives per request
# are receives that found nothing (EAGAIN). Targets: meshdeck, meshdeck-base (--baseline-bin),
# HAProxy, and "floor" (bench/relay_floor.cpp, a byte relay reading no HTTP) when it is built.
# Then the harness's side, from /proc/stat and /proc/interrupts over the same run: how busy
# CPU 0 (the target) and CPU 1 (wrk and the backend) were, and context switches (whole machine)
# and rescheduling IPIs to CPU 1 per request: a target that leaves CPU 0 idle while CPU 1 is
# full is not what limits req/s.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="" proxy_bin="" baseline_bin="" connections=32 duration=5 rounds=2
prio=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --proxy-bin) proxy_bin="$2"; shift 2 ;;
    --baseline-bin) baseline_bin="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --rt) prio=(chrt -f 20); shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "proxy_syscalls_wrk: unknown argument $1" >&2; exit 2 ;;
  esac
done
bench_name=proxy_syscalls_wrk
source "$root/bench/lib/common.sh"
bench_find_binaries
bench_require_tools perf wrk haproxy nginx taskset curl
[[ -x "$proxy_bin" ]] || bench_fail "no meshdeck-proxy at '$proxy_bin' (--proxy-bin)"
bench_start_backend

declare -A port_of pid_of
start() {  # name command...
  local name="$1"
  shift
  "${prio[@]}" taskset -c 0 "$@" > "$work/$name.log" 2>&1 &
  pid_of[$name]=$!
  pids+=($!)
}
targets="meshdeck"
port_of[meshdeck]=$(free_port)
start meshdeck "$proxy_bin" --listen "127.0.0.1:${port_of[meshdeck]}" \
  --upstream "127.0.0.1:$backend_port" --workers 1
if [[ -n "$baseline_bin" ]]; then
  targets+=" meshdeck-base"
  port_of[meshdeck-base]=$(free_port)
  start meshdeck-base "$baseline_bin" --listen "127.0.0.1:${port_of[meshdeck-base]}" \
    --upstream "127.0.0.1:$backend_port" --workers 1
fi
targets+=" haproxy"
port_of[haproxy]=$(free_port)
haproxy_config "${port_of[haproxy]}" "$backend_port" > "$work/haproxy.cfg"
start haproxy haproxy -db -f "$work/haproxy.cfg"
# The floor (bench/relay_floor.cpp): a byte relay that reads no HTTP. Its row is what the
# harness gives a proxy that does nothing but one read and one write per direction.
if [[ -x "$bin_dir/relay_floor" ]]; then
  targets+=" floor"
  port_of[floor]=$(free_port)
  start floor "$bin_dir/relay_floor" --listen "127.0.0.1:${port_of[floor]}" \
    --upstream "127.0.0.1:$backend_port"
fi
for name in $targets; do wait_http "${port_of[$name]}"; done

events=syscalls:sys_enter_epoll_wait,syscalls:sys_enter_recvfrom,syscalls:sys_enter_recvmsg
events+=,syscalls:sys_enter_sendmsg,syscalls:sys_enter_read,syscalls:sys_enter_write
events+=,syscalls:sys_enter_sendto,raw_syscalls:sys_enter
# The harness's side (no tracing): busy share of CPU 0 (the target) and CPU 1 (wrk and the
# backend) from /proc/stat, context switches of the whole machine and rescheduling IPIs that
# CPU 1 received, per request.
cpu_sample() {
  awk '/^cpu0 /{b0=$2+$3+$4+$7+$8; i0=$5+$6} /^cpu1 /{b1=$2+$3+$4+$7+$8; i1=$5+$6}
       /^ctxt /{c=$2} END{print b0, i0, b1, i1, c}' /proc/stat
  awk '$1 == "RES:" {print $3}' /proc/interrupts
}
echo "| target | round | req/s | epoll_wait | receives (recvfrom, recvmsg, read) | sends (sendmsg, sendto, write) | all system calls | CPU 0 busy | CPU 1 busy | context switches | IPIs to CPU 1 |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for round in $(seq 1 "$rounds"); do
  for name in $targets; do
    url="http://127.0.0.1:${port_of[$name]}/"
    "${prio[@]}" taskset -c 1 wrk -t1 -c"$connections" -d1s "$url" > /dev/null
    perf stat -x, -e "$events" -p "${pid_of[$name]}" -o "$work/$name-$round.perf" \
      -- sleep "$((duration + 1))" &
    perf_pid=$!
    sleep 0.3
    cpu_sample > "$work/$name-$round.cpu-before"
    "${prio[@]}" taskset -c 1 wrk -t1 -c"$connections" -d"${duration}s" "$url" \
      > "$work/$name-$round.wrk"
    cpu_sample > "$work/$name-$round.cpu-after"
    wait "$perf_pid"
    awk -v name="$name" -v round="$round" '
      FNR == NR { if ($0 ~ /requests in/) req = $1; if ($1 == "Requests/sec:") rps = $2; next }
      { split($0, f, ","); c[f[3]] = f[1] }
      END {
        split(before, x, " "); split(after, y, " ")
        busy0 = y[1] - x[1]; idle0 = y[2] - x[2]; busy1 = y[3] - x[3]; idle1 = y[4] - x[4]
        printf "| %s | %d | %.0f | %.2f | %.2f | %.2f | %.2f | %.0f %% | %.0f %% | %.2f | %.3f |\n",
          name, round, rps,
          c["syscalls:sys_enter_epoll_wait"] / req,
          (c["syscalls:sys_enter_recvfrom"] + c["syscalls:sys_enter_recvmsg"] + c["syscalls:sys_enter_read"]) / req,
          (c["syscalls:sys_enter_sendmsg"] + c["syscalls:sys_enter_sendto"] + c["syscalls:sys_enter_write"]) / req,
          c["raw_syscalls:sys_enter"] / req,
          100 * busy0 / (busy0 + idle0), 100 * busy1 / (busy1 + idle1),
          (y[5] - x[5]) / req, (y[6] - x[6]) / req
      }' before="$(tr '\n' ' ' < "$work/$name-$round.cpu-before")" \
         after="$(tr '\n' ' ' < "$work/$name-$round.cpu-after")" \
         "$work/$name-$round.wrk" "$work/$name-$round.perf"
  done
done
