#!/usr/bin/env bash
# The OCI images (scripts/build-images.sh) build here with buildah, in a store of their own that
# is removed afterwards, and their root file systems run as the images say: as uid 65532 with
# the root read-only (a bind mount remounted read-only, then chroot). Not through podman: its
# runtime (crun) cannot start a container on this kind of machine (docs/kubernetes.md, "Tested
# here"). Checks: every binary answers --version; meshdeck-proxy-init finds iptables-restore and
# iptables-save in its image; the control plane starts with nothing writable but /tmp and its
# state volume, and writes its CA there as uid 65532.
# Usage: images_test.sh SOURCE_DIR BIN_DIR
set -euo pipefail
src="$1"
bin="$2"
fail() {
  echo "images_test: FAIL: $*" >&2
  exit 1
}
[ "$(id -u)" -eq 0 ] || fail "needs root (buildah's store, chroot)"
command -v buildah >/dev/null || fail "buildah is not installed (scripts/setup.sh installs it)"
work="$(mktemp -d /tmp/meshdeck-images.XXXXXX)"
export MESHDECK_IMAGE_STORE="$work/store"
store=(--storage-driver vfs --root "$work/store/root" --runroot "$work/store/run")
containers=()
cleanup() {
  for c in "${containers[@]}"; do buildah "${store[@]}" rm "$c" >/dev/null 2>&1 || true; done
  buildah "${store[@]}" rmi --all --force >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

"$src/scripts/build-images.sh" --no-build --bin-dir "$bin" || fail "scripts/build-images.sh failed"
version="$(grep -m1 -oE 'VERSION [0-9]+\.[0-9]+\.[0-9]+' "$src/CMakeLists.txt" | cut -d' ' -f2)"

# Runs $2... inside image $1's root, read-only, as the image's user (or $AS), with $VOLUME (a
# host folder) mounted writable at /var/lib/meshdeck when set, in the foreground; with $TIMEOUT
# it is sent SIGTERM after that many seconds (and SIGKILL 5 s later).
run_in() {
  local image="meshdeck/$1:$version" ctr mnt user
  shift
  ctr="$(buildah "${store[@]}" from "$image")"
  containers+=("$ctr")
  mnt="$(buildah "${store[@]}" mount "$ctr")"
  user="${AS:-$(buildah "${store[@]}" inspect --format '{{.OCIv1.Config.User}}' "$image")}"
  TIMEOUT="${TIMEOUT:-}" unshare --mount --fork -- bash -c '
    set -e
    mnt="$1"; user="$2"; volume="$3"; shift 3
    mount --bind "$mnt" "$mnt"
    mount -o remount,bind,ro "$mnt"
    [ -z "$volume" ] || mount --bind "$volume" "$mnt/var/lib/meshdeck"
    mount -t tmpfs tmpfs "$mnt/tmp"
    limit=()
    [ -z "$TIMEOUT" ] || limit=(timeout -k 5 "$TIMEOUT")
    exec "${limit[@]}" chroot --userspec="$user" "$mnt" "$@"' run_in "$mnt" "$user" "${VOLUME:-}" "$@"
}

[ "$(buildah "${store[@]}" inspect --format '{{.OCIv1.Config.User}}' \
  "meshdeck/meshdeck-proxy:$version")" = "65532:65532" ] || fail "the proxy image is not user 65532"
for pair in meshdeck-controlplane:meshdeck-controlplane meshdeck-controlplane:meshdeckctl \
  meshdeck-proxy:meshdeck-proxy meshdeck-demo:meshdeck-demo-service; do
  out="$(run_in "${pair%%:*}" "/usr/bin/${pair#*:}" --version 2>&1)" ||
    fail "${pair#*:} --version in ${pair%%:*}: $out"
  [ "$out" = "$version" ] || fail "${pair#*:} --version in ${pair%%:*} said '$out'"
done
run_in meshdeck-demo /usr/bin/meshdeck-load --help >/dev/null || fail "meshdeck-load in meshdeck-demo"
run_in meshdeck-proxy /usr/bin/meshdeck-proxy-init --dry-run | grep -q MESHDECK_OUTPUT ||
  fail "meshdeck-proxy-init --dry-run in meshdeck-proxy"
AS=0:0 run_in meshdeck-proxy /usr/sbin/iptables-restore --version | grep -q nf_tables ||
  fail "iptables-restore (nft) is not usable in meshdeck-proxy"
AS=0:0 run_in meshdeck-proxy /usr/sbin/iptables-save --version | grep -q nf_tables ||
  fail "iptables-save (nft) is not usable in meshdeck-proxy"

# The control plane: state on a volume owned by 65532, the root read-only. It runs for 5 s
# (`timeout` outside the image: the image has none), then its CA must be in the volume.
volume="$work/state"
mkdir -p "$volume"
chown 65532:65532 "$volume"
TIMEOUT=5 VOLUME="$volume" run_in meshdeck-controlplane /usr/bin/meshdeck-controlplane \
  --state-dir /var/lib/meshdeck --listen 127.0.0.1:0 --metrics-listen off \
  >"$work/controlplane.log" 2>&1 || true
written=0
[ -n "$(find "$volume" -name '*.pem' -print -quit)" ] && written=1
[ "$written" = 1 ] || fail "the control plane wrote no CA into its state volume: $(cat "$work/controlplane.log")"
[ "$(stat -c %u "$(find "$volume" -name '*.pem' -print -quit)")" = 65532 ] ||
  fail "the control plane's state is not owned by uid 65532"
echo "images_test: 1 passed, 0 failed"
