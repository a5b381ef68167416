#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, test and run Meshdeck.
# Idempotent: silent when everything is present. Needs root (or sudo) only when installing.
# Usage: scripts/setup.sh [EXTRA_PACKAGE...]   (extra packages a single script needs, e.g. the
# fuzz preset's clang-14; installed the same way, under the same lock wait)
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache
  # Qt 6: widgets, charts, svg; Qt Test is part of qt6-base-dev
  qt6-base-dev qt6-charts-dev qt6-svg-dev libqt6opengl6-dev libgl-dev
  # wire contract
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  # Boost 1.81 only (the unversioned libboost-*-dev are 1.74 and conflict)
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  # TLS, YAML, logging, command lines, graph layout
  libssl-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev libgraphviz-dev
  # HTTP/2 codec of the proxy (docs/http2.md)
  libnghttp2-dev
  # the control plane's history store (docs/history.md)
  libsqlite3-dev
  # the sidecar injector's tests apply its JSON patches with nlohmann::json (RFC 6902)
  nlohmann-json3-dev
  # headless display for screenshots and the app on display-less machines
  xvfb xauth
  # benchmark peers and integration-test tools
  haproxy nginx-light wrk openssl procps curl
  # HTTP/2 clients for the proxy's HTTP/2 tests and benchmark (nghttp, h2load; python3-h2)
  nghttp2-client python3-h2 python3-grpcio
  # chaos test: the control plane's wall clock jumps (LD_PRELOAD, that process only)
  faketime libfaketime
  # packaging checks
  dpkg-dev file desktop-file-utils appstream lintian help2man
  # source checks (tests/checks): the formatter the tree is formatted with
  clang-format-14
  # traffic capture test (meshdeck-proxy-init in network namespaces) and the manifests check
  iptables python3-yaml
  # the OCI images (scripts/build-images.sh, images_test)
  buildah
  # the sidecar's link in the order of its start (lld --symbol-ordering-file, proxy/link/)
  lld
)
# kubectl with kustomize (deploy_manifests_test): Debian's kubernetes-client, unless a kubectl
# from another package is already installed (the two own the same /usr/bin/kubectl).
command -v kubectl >/dev/null 2>&1 || packages+=(kubernetes-client)

packages+=("$@")
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "meshdeck setup: installing ${#missing[@]} missing Debian packages: ${missing[*]}"
sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive

# On a freshly booted machine another package manager (unattended-upgrades, cloud-init) may
# hold dpkg's or apt's lock. Wait for it, bounded, and say who holds it; apt itself then waits
# the same bound (DPkg::Lock::Timeout) for any lock taken between the check and the call.
lock_wait_s="${MESHDECK_APT_LOCK_WAIT:-600}"
lock_holders() {
  local fd
  for fd in /proc/[0-9]*/fd/*; do
    case "$(readlink "$fd" 2>/dev/null)" in
      /var/lib/dpkg/lock-frontend | /var/lib/dpkg/lock | /var/lib/apt/lists/lock | \
        /var/cache/apt/archives/lock)
        fd="${fd#/proc/}"
        echo "${fd%%/*}"
        ;;
    esac
  done 2>/dev/null | sort -u
}
waited=0
while holders="$(lock_holders)" && [ -n "$holders" ]; do
  if [ "$waited" -eq 0 ]; then
    names=""
    for pid in $holders; do names+=" $pid ($(cat "/proc/$pid/comm" 2>/dev/null || echo '?'))"; done
    echo "meshdeck setup: waiting up to ${lock_wait_s} s for the package manager lock held by${names}"
  fi
  if [ "$waited" -ge "$lock_wait_s" ]; then
    echo "meshdeck setup: the package manager lock is still held after ${lock_wait_s} s;" \
      "try again when it is free (set MESHDECK_APT_LOCK_WAIT to wait longer)" >&2
    exit 1
  fi
  sleep 2
  waited=$((waited + 2))
done
[ "$waited" -gt 0 ] && echo "meshdeck setup: the lock was released after ${waited} s"
apt_opts=(-o "DPkg::Lock::Timeout=${lock_wait_s}")
"${sudo[@]}" apt-get "${apt_opts[@]}" update -qq
"${sudo[@]}" apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# nginx and haproxy are benchmark peers only: do not leave their system services running.
for svc in nginx haproxy; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    "${sudo[@]}" systemctl stop "$svc" || true
    "${sudo[@]}" systemctl disable "$svc" >/dev/null 2>&1 || true
  fi
done
echo "meshdeck setup: done"
