#!/usr/bin/env bash
# The graph at scale, end to end: generates snapshots (bench/gen_snapshot.py) of 300/1,200,
# 1,000/5,000 and 5,000/25,000 services/edges, random DAGs and layered, and opens each in the
# real main window offscreen (bench_graph_e2e), one process per snapshot. Prints one line per
# snapshot; docs/benchmarks.md has the table.
# Usage: bench/graph_scale.sh [--timeout S] [--frames N] [--updates N] [--sizes "300:1200 ..."]
#        [--shapes "random layered"] [--dir DIR] [--group-by none|namespace|tier|app|auto]
# Environment: BUILD (default build/release), BENCH (default $BUILD/bin/bench_graph_e2e).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD:-$root/build/release}"
bench="${BENCH:-$build/bin/bench_graph_e2e}"
timeout=120 frames=60 updates=5 group_by=none dir="${TMPDIR:-/tmp}/meshdeck-graph-scale"
sizes="300:1200 1000:5000 5000:25000" shapes="random layered"
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) timeout="$2"; shift 2 ;;
    --frames) frames="$2"; shift 2 ;;
    --updates) updates="$2"; shift 2 ;;
    --sizes) sizes="$2"; shift 2 ;;
    --shapes) shapes="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --group-by) group_by="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$dir"
export QT_QPA_PLATFORM=offscreen
for shape in $shapes; do
  for size in $sizes; do
    n="${size%%:*}" m="${size##*:}"
    file="$dir/$shape-$n-$m.json"
    [ -f "$file" ] || python3 "$root/bench/gen_snapshot.py" --services "$n" --edges "$m" \
      --shape "$shape" -o "$file"
    label="$shape $n/$m"
    [ "$group_by" = none ] || label="$label by $group_by"
    "$bench" "$file" --label "$label" --timeout "$timeout" \
      --frames "$frames" --updates "$updates" --group-by "$group_by" 2>/dev/null || true
  done
done
