#!/usr/bin/env bash
# Stages a minimal root file system for one image: the given programs, every shared library
# they load (ldd, the dynamic loader included), /etc/passwd and /etc/group with the non-root
# user 65532 ("meshdeck"), and an empty /tmp. Used by scripts/build-images.sh.
# Usage: rootfs.sh ROOT PROGRAM... [--extra-libs DIR] [--link PATH=TARGET]
#   PROGRAM goes to ROOT/usr/bin; DIR is a folder of plugins (e.g. the xtables extensions
#   iptables loads with dlopen), copied whole with their own libraries; --link makes ROOT/PATH a
#   symbolic link to TARGET (a multi-call program under the names it answers to).
set -euo pipefail
root="$1"
shift
programs=()
extra_dirs=()
links=()
while [ $# -gt 0 ]; do
  case "$1" in
    --extra-libs)
      extra_dirs+=("$2")
      shift 2
      ;;
    --link)
      links+=("$2")
      shift 2
      ;;
    *)
      programs+=("$1")
      shift
      ;;
  esac
done
mkdir -p "$root/usr/bin" "$root/etc" "$root/tmp" "$root/var/lib/meshdeck"
chmod 1777 "$root/tmp"

# Copies a file to the same path under $root (following symlinks), keeping the link name too.
copy_path() {
  local path="$1" real
  real="$(readlink -f "$path")"
  mkdir -p "$root$(dirname "$real")"
  cp -n "$real" "$root$real" 2>/dev/null || true
  if [ "$real" != "$path" ]; then
    mkdir -p "$root$(dirname "$path")"
    [ -e "$root$path" ] || ln -s "$real" "$root$path"
  fi
}
copy_libraries_of() {
  local lib
  # ldd prints "name => /path (addr)" and the loader as "/lib64/ld-linux... (addr)".
  for lib in $(ldd "$1" 2>/dev/null | awk '/=> \// { print $3 } /^\t\// { print $1 }'); do
    copy_path "$lib"
  done
}

for program in "${programs[@]}"; do
  [ -x "$program" ] || {
    echo "rootfs.sh: $program is not an executable" >&2
    exit 1
  }
  install -m 0755 "$(readlink -f "$program")" "$root/usr/bin/$(basename "$program")"
  # The release build keeps its debug information; the image does not need it.
  if command -v strip >/dev/null && [ -w "$root/usr/bin/$(basename "$program")" ]; then
    strip --strip-unneeded "$root/usr/bin/$(basename "$program")"
  fi
  copy_libraries_of "$program"
done
for dir in "${extra_dirs[@]}"; do
  mkdir -p "$root$dir"
  for plugin in "$dir"/*.so; do
    copy_path "$plugin"
    copy_libraries_of "$plugin"
  done
done
for link in "${links[@]}"; do
  mkdir -p "$root$(dirname "${link%%=*}")"
  ln -sf "${link#*=}" "$root${link%%=*}"
done
cat >"$root/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/sbin/nologin
meshdeck:x:65532:65532:meshdeck:/var/lib/meshdeck:/sbin/nologin
PASSWD
cat >"$root/etc/group" <<GROUP
root:x:0:
meshdeck:x:65532:
GROUP
chown 65532:65532 "$root/var/lib/meshdeck"
