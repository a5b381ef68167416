# Shared by the proxy benchmarks (bench/proxy_bench.sh, bench/mtls_bench.sh): finding the
# binaries, the scratch folder and its cleanup, free loopback ports, waiting for a server, CPU
# and memory of a process, and the nginx backend every benchmark measures against.
# Source it after setting `bench_name` (prefix of messages and of the scratch folder), `root`,
# `bin_dir` and `proxy_bin` (both may be empty: defaults are looked up) and `prio`.

bench_fail() { echo "$bench_name: $*" >&2; exit 2; }

# meshdeck-load (and by default meshdeck-proxy) from --bin-dir, else build/release/bin, else
# any build/*/bin. Sets load_bin and proxy_bin.
bench_find_binaries() {
  if [[ -z "$bin_dir" ]]; then
    for d in "$root/build/release/bin" "$root"/build/*/bin; do
      if [[ -x "$d/meshdeck-load" ]]; then bin_dir="$d"; break; fi
    done
  fi
  load_bin="$bin_dir/meshdeck-load"
  [[ -x "$load_bin" ]] || bench_fail "no meshdeck-load in '$bin_dir' (--bin-dir)"
  [[ -n "$proxy_bin" ]] || proxy_bin="$bin_dir/meshdeck-proxy"
}

bench_require_tools() {
  for tool in "$@"; do
    command -v "$tool" > /dev/null || bench_fail "$tool is not installed"
  done
}

# The scratch folder (`work`) and the processes started (`pids`), all gone on exit.
work="$(mktemp -d "/tmp/meshdeck-$bench_name.XXXXXX")"
pids=()
bench_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null && kill -CONT "$pid" 2> /dev/null || true; done
  sleep 0.2
  for pid in "${pids[@]}"; do kill -9 "$pid" 2> /dev/null || true; done
  rm -rf "$work"
}
trap bench_cleanup EXIT

# A free loopback TCP port (the kernel's choice), different from every one handed out before.
used_ports=""
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    if [[ " $used_ports " != *" $port "* ]]; then used_ports+=" $port"; echo "$port"; return; fi
  done
  echo "$bench_name: no free port" >&2; exit 1
}

# Waits (at most 5 s) until http://127.0.0.1:$1/ answers (HTTP/2 prior knowledge with "h2c").
wait_http() {
  local h2=()
  [[ "${2:-}" == h2c ]] && h2=(--http2-prior-knowledge)
  for _ in $(seq 1 100); do
    if curl -s "${h2[@]}" -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; then return 0; fi
    sleep 0.05
  done
  echo "$bench_name: nothing answers on port $1" >&2; return 1
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_of() { [[ -n "${1:-}" ]] && cpu_ticks "$1" || echo 0; }  # 0 for "no process"
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
clk_tck=$(getconf CLK_TCK)

# The `defaults` section every HAProxy configuration of the benchmarks shares.
haproxy_defaults() {
  cat << CONF
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  http-reuse always
CONF
}

# The configuration of one HAProxy 2.6 thread listening on $1 in front of the backend on $2,
# as every proxy benchmark runs it.
haproxy_config() {
  cat << CONF
global
  nbthread 1
  maxconn 4096
$(haproxy_defaults)
frontend bench
  bind 127.0.0.1:$1
  default_backend backend
backend backend
  server b1 127.0.0.1:$2
CONF
}

# The backend: one nginx worker on CPU 1 answering every request with 23 bytes; HTTP/2 with
# prior knowledge only (h2c) when called with "h2c". Sets backend_port.
bench_start_backend() {
  local proto="${1:-}" listen_opts=""
  [[ "$proto" == h2c ]] && listen_opts=" http2"
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
    listen 127.0.0.1:$backend_port$listen_opts reuseport backlog=4096;
    location / { default_type text/plain; return 200 "hello from the backend\n"; }
  }
}
CONF
  "${prio[@]}" taskset -c 1 nginx -p "$work" -c "$work/backend.conf" -e "$work/backend-error.log" &
  pids+=($!)
  wait_http "$backend_port" "$proto"
}
