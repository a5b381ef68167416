#!/usr/bin/env bash
# The systemd units of packaging/systemd: `systemd-analyze verify` finds nothing to say (an
# unknown or misspelt key is only a warning there, so any output fails), and each keeps the
# sandbox docs/plain-hosts.md promises. The units are verified with ExecStart pointing at the
# build's binaries (verify checks that the command exists). It first plants a misspelt key and
# fails unless that is reported. Usage: systemd_units_test.sh SOURCE_DIR BIN_DIR
set -euo pipefail
src="$1"
bin="$2"
fail() {
  echo "systemd_units_test: FAIL: $*" >&2
  exit 1
}
command -v systemd-analyze >/dev/null || fail "systemd-analyze is not installed (Debian: systemd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Copies a unit with its binaries replaced by the build's ($1: unit file, $2: copy's name).
staged() {
  sed -e "s|/usr/bin/meshdeck-controlplane|$bin/meshdeck-controlplane|" \
    -e "s|/usr/bin/meshdeck-proxy|$bin/meshdeck-proxy|" "$1" >"$work/$2"
}
verify() {
  (cd "$work" && systemd-analyze verify --man=no "$@" 2>&1) || true
}

staged "$src/packaging/systemd/meshdeck-controlplane.service" meshdeck-controlplane.service
staged "$src/packaging/systemd/meshdeck-proxy@.service" meshdeck-proxy@demo.service
cp "$work/meshdeck-controlplane.service" "$work/planted.service"
sed -i 's/^ProtectHome=yes/ProtectHomee=yes/' "$work/planted.service"
verify ./planted.service | grep -q "Unknown key 'ProtectHomee'" ||
  fail "self-test: a misspelt key was not reported by systemd-analyze verify"

out="$(verify ./meshdeck-controlplane.service ./meshdeck-proxy@demo.service)"
[ -z "$out" ] || fail "systemd-analyze verify: $out"

for unit in meshdeck-controlplane.service meshdeck-proxy@.service; do
  for directive in DynamicUser=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
    PrivateDevices=yes NoNewPrivileges=yes CapabilityBoundingSet= StateDirectory= \
    RestrictAddressFamilies= SystemCallFilter=@system-service RestrictNamespaces=yes \
    MemoryDenyWriteExecute=yes; do
    grep -q "^$directive" "$src/packaging/systemd/$unit" || fail "$unit lacks $directive"
  done
done
grep -q '^Environment="MESHDECK_PROXY_ARGS=--config /etc/meshdeck/proxy/%i.yaml"' \
  "$src/packaging/systemd/meshdeck-proxy@.service" ||
  fail "meshdeck-proxy@.service does not read /etc/meshdeck/proxy/%i.yaml by default"
echo "systemd_units_test: 1 passed, 0 failed"
