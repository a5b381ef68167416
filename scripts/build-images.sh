#!/usr/bin/env bash
# Builds the OCI images of Meshdeck with buildah, offline, from the release binaries
# (packaging/oci/README.md): FROM scratch, a root with only the binaries and the libraries they
# load, user 65532, made to run with a read-only root file system.
#   meshdeck/meshdeck-controlplane:VERSION   meshdeck-controlplane, meshdeckctl
#   meshdeck/meshdeck-proxy:VERSION          meshdeck-proxy, meshdeck-proxy-init and iptables
#   meshdeck/meshdeck-demo:VERSION           meshdeck-demo-service, meshdeck-load
# Usage: scripts/build-images.sh [--no-build] [--bin-dir DIR] [--archive DIR]
#   --no-build     use the binaries as they are (default: build the release preset's first)
#   --bin-dir DIR  take the binaries from DIR (default: build/release/bin)
#   --archive DIR  also write each image as DIR/<name>.tar (oci-archive), for `kind load
#                  image-archive`, `ctr images import` or `podman load`
# Needs root and buildah (Debian: buildah). Storage: buildah's default store with the vfs driver
# (works inside containers and VMs alike); MESHDECK_IMAGE_DRIVER picks another driver and
# MESHDECK_IMAGE_STORE=DIR a store of its own (DIR/root, DIR/run; the images test uses one).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build=1
archive=""
bin="$root/build/release/bin"
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --archive)
      archive="$2"
      shift
      ;;
    --bin-dir)
      bin="$2"
      shift
      ;;
    *)
      echo "usage: $0 [--no-build] [--bin-dir DIR] [--archive DIR]" >&2
      exit 2
      ;;
  esac
  shift
done
command -v buildah >/dev/null || {
  echo "build-images: buildah is not installed (apt-get install buildah)" >&2
  exit 1
}
if [ "$build" = 1 ]; then
  "$root/scripts/build.sh" release --target meshdeck-controlplane meshdeckctl meshdeck-proxy \
    meshdeck-proxy-init meshdeck-demo-service meshdeck-load
fi
version="$(grep -m1 -oE 'VERSION [0-9]+\.[0-9]+\.[0-9]+' "$root/CMakeLists.txt" | cut -d' ' -f2)"
store=(--storage-driver "${MESHDECK_IMAGE_DRIVER:-vfs}")
if [ -n "${MESHDECK_IMAGE_STORE:-}" ]; then
  store+=(--root "$MESHDECK_IMAGE_STORE/root" --runroot "$MESHDECK_IMAGE_STORE/run")
fi
buildah() { command buildah "${store[@]}" "$@"; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# image NAME ENTRYPOINT PORTS... -- ROOTFS_ARGS...
image() {
  local name="$1" entrypoint="$2"
  shift 2
  local ports=()
  while [ "$1" != "--" ]; do
    ports+=("$1")
    shift
  done
  shift
  local rootfs="$work/$name"
  "$root/packaging/oci/rootfs.sh" "$rootfs" "$@"
  local ctr
  ctr="$(buildah from scratch)"
  buildah copy --quiet "$ctr" "$rootfs" / >/dev/null
  local config=(--user 65532:65532 --workingdir /var/lib/meshdeck
    --entrypoint "[\"/usr/bin/$entrypoint\"]" --cmd ""
    --env PATH=/usr/bin:/usr/sbin
    --label org.opencontainers.image.title="$name"
    --label org.opencontainers.image.version="$version"
    --label org.opencontainers.image.source="https://meshdeck.io"
    --volume /var/lib/meshdeck)
  for port in "${ports[@]}"; do config+=(--port "$port"); done
  buildah config "${config[@]}" "$ctr"
  buildah commit --quiet --rm "$ctr" "meshdeck/$name:$version" >/dev/null
  echo "build-images: meshdeck/$name:$version ($(du -sh "$rootfs" | cut -f1) root)"
  if [ -n "$archive" ]; then
    mkdir -p "$archive"
    rm -f "$archive/$name.tar"
    buildah push --quiet "meshdeck/$name:$version" "oci-archive:$archive/$name.tar:meshdeck/$name:$version"
  fi
}

image meshdeck-controlplane meshdeck-controlplane 15010 15012 15014 15017 -- \
  "$bin/meshdeck-controlplane" "$bin/meshdeckctl"
# iptables (nft backend) for the init container: xtables-nft-multi under the names the init
# program calls, and the match/target extensions it loads with dlopen.
xtables_multi="$(readlink -f "$(command -v iptables-restore)")"
xtables_ext="$(dirname "$(ldd "$xtables_multi" | awk '/libxtables/ { print $3 }')")/xtables"
image meshdeck-proxy meshdeck-proxy 15001 15006 15000 -- \
  "$bin/meshdeck-proxy" "$bin/meshdeck-proxy-init" "$xtables_multi" --extra-libs "$xtables_ext" \
  --link /usr/sbin/iptables=/usr/bin/xtables-nft-multi \
  --link /usr/sbin/iptables-restore=/usr/bin/xtables-nft-multi \
  --link /usr/sbin/iptables-save=/usr/bin/xtables-nft-multi
image meshdeck-demo meshdeck-demo-service 8080 -- \
  "$bin/meshdeck-demo-service" "$bin/meshdeck-load"
