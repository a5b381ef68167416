#!/usr/bin/env bash
# Fails when a tracked .cpp/.h file differs from what clang-format (Debian's 14, the version the
# tree is formatted with: another major version formats differently) makes of it.
# Usage: check_format.sh SOURCE_DIR [CLANG_FORMAT]
#        check_format.sh --self-test [CLANG_FORMAT]
set -euo pipefail
root="${1:?usage: check_format.sh SOURCE_DIR [CLANG_FORMAT]}"
clang_format="${2:-$(command -v clang-format-14 || command -v clang-format || true)}"
if [ -z "$clang_format" ] || ! "$clang_format" --version | grep -q 'version 14\.'; then
  echo "check_format: clang-format 14 not found (Debian package clang-format-14)" >&2
  exit 1
fi

check() {  # check DIR: dry run over DIR's .cpp/.h files (git's list when DIR is a checkout)
  local dir="$1"
  cd "$dir"
  local files
  if git rev-parse --show-toplevel >/dev/null 2>&1 && [ "$(git rev-parse --show-toplevel)" = "$(pwd -P)" ]; then
    files="$(git ls-files -- '*.cpp' '*.h')"
  else
    files="$(find . \( -name build -o -name '.*' -a ! -name . \) -prune -o -type f \( -name '*.cpp' -o -name '*.h' \) -print)"
  fi
  # Generated sources stay in build trees; never check one even if it lands in the source tree.
  files="$(grep -Ev '(^|/)build[^/]*/|\.pb\.(h|cc)$|_autogen/|^\./\.' <<<"$files" || true)"
  [ -n "$files" ] || { echo "check_format: no files under $dir" >&2; return 1; }
  echo "check_format: $(wc -l <<<"$files") files in $dir"
  xargs -d '\n' -P 2 -n 40 "$clang_format" --dry-run --Werror --style=file <<<"$files"
}

# Self-test first, every run: the check must fail on a badly formatted file and pass on a
# formatted one, so that it cannot pass by checking nothing.
self_test() {
  local tmp
  tmp="$(mktemp -d)"
  trap "rm -rf '$tmp'" EXIT
  printf -- '---\nBasedOnStyle: Google\nColumnLimit: 100\n...\n' >"$tmp/.clang-format"
  printf 'int f() { return 1; }\n' >"$tmp/good.cpp"
  (check "$tmp" >/dev/null 2>&1) || { echo "check_format self-test FAILED: a formatted file fails"; exit 1; }
  printf 'int   f( ){return 1;}\n' >"$tmp/bad.h"
  if (check "$tmp" >/dev/null 2>&1); then
    echo "check_format self-test FAILED: a badly formatted file passes"
    exit 1
  fi
  echo "check_format self-test: a badly formatted file fails, a formatted one passes"
}
self_test
[ "$root" = "--self-test" ] && exit 0
check "$root"
