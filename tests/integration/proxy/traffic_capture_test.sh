#!/usr/bin/env bash
# Traffic capture (docs/kubernetes.md): meshdeck-proxy-init's iptables rules applied inside two
# network namespaces made here, a "pod" (app + sidecar) and a "client", joined by a veth pair.
#   1. Before the rules, a client's request to the app bypasses the sidecar (the control).
#   2. After them, the same request goes client -> sidecar inbound -> app, and the app's own call
#      to http://upstream:9090/ (no proxy configured in the app) goes app -> sidecar outbound ->
#      upstream in the client namespace: the sidecar's counters show each hop exactly once.
#   3. The sidecar's own connections (uid 65532) are not redirected: the uid rule's counter
#      moved, and the outbound listener saw one request per call, not a loop.
#   4. Mesh mode, as in a cluster: a control plane in the client namespace configures a sidecar
#      that announces the pod's IP (--host-address); its inbound listener is bound there and the
#      captured requests reach the app through it.
# Needs root, ip netns, iptables (nft backend is fine), setpriv and curl. It fails, never skips,
# when they are missing. Usage: traffic_capture_test.sh BIN_DIR
set -euo pipefail

bin_dir="${1:-${MESHDECK_BIN_DIR:-}}"
fail() {
  echo "traffic_capture_test: FAIL: $*" >&2
  exit 1
}
[ -n "$bin_dir" ] || fail "usage: $0 BIN_DIR (the build's bin/ folder)"
[ "$(id -u)" -eq 0 ] || fail "needs root (network namespaces and iptables); run it as root"
for tool in ip iptables iptables-restore iptables-save setpriv curl; do
  command -v "$tool" >/dev/null || fail "'$tool' is not installed (scripts/setup.sh installs it)"
done
for b in meshdeck-proxy meshdeck-proxy-init meshdeck-demo-service meshdeck-controlplane; do
  [ -x "$bin_dir/$b" ] || fail "$bin_dir/$b is not built"
done

run_id="$$"
pod="mdcap-pod-$run_id"
client="mdcap-cli-$run_id"
veth_pod="mdp$run_id"
veth_client="mdc$run_id"
pod_ip=10.251.0.1
client_ip=10.251.0.2
sidecar_uid=65532
work="$(mktemp -d /tmp/meshdeck-capture.XXXXXX)"
pids=()  # each is the program itself: `ip netns exec` and setpriv exec, they do not fork

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # Anything still in the test's namespaces was started by this test.
  for ns in "$pod" "$client"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  done
  ip netns del "$pod" 2>/dev/null || true
  ip netns del "$client" 2>/dev/null || true
  ip link del "$veth_pod" 2>/dev/null || true
  rm -rf "/etc/netns/$pod" "$work"
}
trap cleanup EXIT

in_pod() { ip netns exec "$pod" "$@"; }
in_client() { ip netns exec "$client" "$@"; }

# The sidecar runs as an unprivileged uid, so its binary and config must be readable by it.
chmod 755 "$work"
cp "$bin_dir/meshdeck-proxy" "$work/"
chmod 755 "$work/meshdeck-proxy"

ip netns add "$pod" || fail "cannot create a network namespace (ip netns add)"
ip netns add "$client"
ip link add "$veth_pod" type veth peer name "$veth_client"
ip link set "$veth_pod" netns "$pod"
ip link set "$veth_client" netns "$client"
in_pod ip link set lo up
in_client ip link set lo up
in_pod ip addr add "$pod_ip/24" dev "$veth_pod"
in_client ip addr add "$client_ip/24" dev "$veth_client"
in_pod ip link set "$veth_pod" up
in_client ip link set "$veth_client" up
# The pod resolves "upstream" like a cluster DNS would (ip netns exec bind-mounts this file).
mkdir -p "/etc/netns/$pod"
echo "$client_ip upstream" >"/etc/netns/$pod/hosts"

cat >"$work/sidecar.yaml" <<YAML
workload: {service: app, version: v1}
listeners:
  - name: inbound
    address: {host: 0.0.0.0, port: 15006}
    direction: INBOUND
    route_table: inbound
  - name: outbound
    address: {host: 127.0.0.1, port: 15001}
    direction: OUTBOUND
    route_table: outbound
route_tables:
  - name: inbound
    virtual_hosts:
      - {name: local, domains: ["*"], routes: [{name: inbound, destinations: [{cluster: "inbound|local"}]}]}
  - name: outbound
    virtual_hosts:
      - {name: upstream, domains: [upstream], routes: [{name: upstream, destinations: [{cluster: upstream}]}]}
clusters:
  - name: "inbound|local"
    endpoints: [{address: {host: 127.0.0.1, port: 8080}}]
  - name: upstream
    endpoints: [{address: {host: $client_ip, port: 9090}}]
YAML
chmod 644 "$work/sidecar.yaml"

# Waits (bounded: 100 x 0.1 s) until `curl` of $2 in namespace $1 answers 200.
wait_ready() {
  local ns="$1" url="$2" i
  for i in $(seq 1 100); do
    if ip netns exec "$ns" curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  fail "$url in $ns did not answer"
}

ip netns exec "$client" "$bin_dir/meshdeck-demo-service" --name upstream --listen "$client_ip:9090" \
  --log-level warn >"$work/upstream.log" 2>&1 &
pids+=($!)
# The app calls http://upstream:9090/ on every request, knowing nothing of any proxy.
ip netns exec "$pod" "$bin_dir/meshdeck-demo-service" --name app --listen 0.0.0.0:8080 \
  --call http://upstream:9090/ --log-level warn >"$work/app.log" 2>&1 &
pids+=($!)
ip netns exec "$pod" setpriv --reuid "$sidecar_uid" --regid "$sidecar_uid" --clear-groups \
  "$work/meshdeck-proxy" --config "$work/sidecar.yaml" --admin 127.0.0.1:15000 --workers 1 \
  --log-level warn >"$work/sidecar.log" 2>&1 &
pids+=($!)
wait_ready "$client" "http://$client_ip:9090/_demo/health"
wait_ready "$pod" "http://127.0.0.1:8080/_demo/health"
wait_ready "$pod" "http://127.0.0.1:15000/ready"

# The value of a Prometheus sample of the sidecar's /stats (0 when absent).
stat() {
  in_pod curl -fsS --max-time 2 http://127.0.0.1:15000/stats |
    awk -v want="$1" 'index($0, want " ") == 1 { print $2; found = 1 } END { if (!found) print 0 }'
}
inbound_ok='meshdeck_listener_requests_total{listener="inbound",class="2xx"}'
outbound_ok='meshdeck_listener_requests_total{listener="outbound",class="2xx"}'

# 1. The control: no rules yet, the client reaches the app directly and the app's call to
#    upstream goes out directly; the sidecar sees nothing.
in_client curl -fsS --max-time 5 -o /dev/null "http://$pod_ip:8080/" ||
  fail "without capture, the client cannot reach the app at $pod_ip:8080"
[ "$(stat "$inbound_ok")" = 0 ] || fail "the sidecar saw inbound traffic before any rule"
[ "$(stat "$outbound_ok")" = 0 ] || fail "the sidecar saw outbound traffic before any rule"

# 2. The rules, as the init container applies them.
in_pod "$bin_dir/meshdeck-proxy-init" --proxy-uid "$sidecar_uid" --inbound-port 15006 \
  --outbound-port 15001 --exclude-inbound-ports 15000 ||
  fail "meshdeck-proxy-init could not apply its rules"
in_pod iptables-save -t nat | grep -q -- "-A OUTPUT -p tcp -j MESHDECK_OUTPUT" ||
  fail "the rules are not in the pod's nat table"
# Applying again changes nothing (an init container restarted in the same namespace).
in_pod "$bin_dir/meshdeck-proxy-init" --proxy-uid "$sidecar_uid" | grep -q "already present" ||
  fail "a second run did not see the rules already present"

calls=3
for i in $(seq 1 "$calls"); do
  body="$(in_client curl -fsS --max-time 5 "http://$pod_ip:8080/call-$i")" ||
    fail "with capture, the client's request $i to the app failed"
  echo "$body" | grep -q upstream || fail "the app's answer does not show its call to upstream: $body"
done
inbound="$(stat "$inbound_ok")"
outbound="$(stat "$outbound_ok")"
echo "sidecar counters: inbound 2xx $inbound, outbound 2xx $outbound (after $calls calls)"
[ "$inbound" = "$calls" ] || fail "inbound: the sidecar saw $inbound requests, expected $calls"
# 3. Exactly one outbound request per call: the sidecar's own upstream connection was not
#    redirected into itself (a loop would count many).
[ "$outbound" = "$calls" ] || fail "outbound: the sidecar saw $outbound requests, expected $calls"
uid_hits="$(in_pod iptables -t nat -L MESHDECK_OUTPUT -v -n -x |
  awk '/owner UID match/ { print $1 }')"
[ -n "$uid_hits" ] && [ "$uid_hits" -gt 0 ] ||
  fail "the sidecar's own connections never met the uid rule (packets: '${uid_hits}')"
# The nat table sees the first packet of each connection: the app's calls came through
# between one (a kept-alive connection) and $calls connections.
redirected="$(in_pod iptables -t nat -L MESHDECK_REDIRECT -v -n -x |
  awk '/redir ports 15001/ { print $1 }')"
[ -n "$redirected" ] && [ "$redirected" -ge 1 ] && [ "$redirected" -le "$calls" ] ||
  fail "the app's outbound connections redirected: '$redirected', expected 1 to $calls"

# 4. Mesh mode. The static sidecar stops; a control plane in the client namespace (reached by
#    the sidecar's own connection, which the uid rule leaves alone) configures a new one.
sidecar_pid="${pids[2]}"
kill -9 "$sidecar_pid"
wait "$sidecar_pid" 2>/dev/null || true
mkdir -p "$work/cp"
ip netns exec "$client" "$bin_dir/meshdeck-controlplane" --listen "$client_ip:15010" --secure-listen "" \
  --metrics-listen off --state-dir "$work/cp" --log-level warn >"$work/cp.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  in_client bash -c "exec 3<>/dev/tcp/$client_ip/15010" 2>/dev/null && break
  sleep 0.1
done
ip netns exec "$pod" setpriv --reuid "$sidecar_uid" --regid "$sidecar_uid" --clear-groups \
  "$work/meshdeck-proxy" --control-plane "$client_ip:15010" --service app --host-address "$pod_ip" \
  --inbound-port 15006 --app-port 8080 --outbound-port 15001 --admin-port 15000 --workers 1 \
  --log-level warn >"$work/mesh-sidecar.log" 2>&1 &
pids+=($!)
wait_ready "$pod" "http://127.0.0.1:15000/ready"
in_pod ss -ltn | grep -q "$pod_ip:15006" ||
  fail "the mesh-mode sidecar's inbound listener is not bound to $pod_ip:15006: $(in_pod ss -ltnp; cat "$work/mesh-sidecar.log" "$work/cp.log")"
mesh_ok=0
for i in 1 2; do
  # The app's own call to upstream finds no route in this mesh (no upstream service is
  # registered): only the inbound hop is checked here, on the app's health path.
  in_client curl -fsS --max-time 5 -o /dev/null "http://$pod_ip:8080/_demo/health" ||
    fail "mesh mode: the client's request $i to the app failed ($(cat "$work/mesh-sidecar.log"))"
  mesh_ok=$((mesh_ok + 1))
done
inbound="$(stat "$inbound_ok")"
[ "$inbound" = "$mesh_ok" ] ||
  fail "mesh mode: the sidecar's inbound listener saw $inbound requests, expected $mesh_ok"
echo "mesh mode: inbound 2xx $inbound through the listener on $pod_ip:15006"
echo "traffic_capture_test: 1 passed, 0 failed"
