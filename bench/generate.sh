#!/usr/bin/env bash
# Benchmarks `parcours generate` at scales 0.1, 1 and 10 (90 days, seed 42).
# Builds nothing: pass the path of a release binary. Needs GNU time (/usr/bin/time -v).
#   ./bench-generate.sh target/release/parcours [OUT_ROOT] [SCALES...]
# Prints, per scale: rows, wall time, rows/s and peak RSS; keeps logs under OUT_ROOT.
set -euo pipefail

BIN=${1:?usage: bench-generate.sh PATH_TO_RELEASE_BINARY [OUT_ROOT] [SCALES...]}
OUT_ROOT=${2:-$(mktemp -d -t parcours-bench-XXXXXX)}
shift $(( $# >= 2 ? 2 : 1 ))
SCALES=("$@")
if [ ${#SCALES[@]} -eq 0 ]; then SCALES=(0.1 1 10); fi

[ -x "$BIN" ] || { echo "not an executable: $BIN" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time (GNU time) is required" >&2; exit 2; }
mkdir -p "$OUT_ROOT"

printf '%-7s %12s %10s %12s %12s %10s\n' scale rows wall_s rows_per_s peak_rss_mb out_mb
for S in "${SCALES[@]}"; do
  DIR="$OUT_ROOT/scale-$S"
  rm -rf "$DIR"
  mkdir -p "$DIR"
  REPORT="$OUT_ROOT/report-$S.json"
  TIMELOG="$OUT_ROOT/time-$S.log"
  /usr/bin/time -v -o "$TIMELOG" \
    "$BIN" generate --out "$DIR" --scale "$S" --seed 42 --days 90 --end-date 2026-10-31 \
    > "$REPORT"
  # The CLI prints the GenerateReport as JSON; sum the rows of every table.
  ROWS=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(sum(t["rows"] for t in r["tables"]))' "$REPORT" 2>/dev/null \
    || grep -o '"rows": *[0-9]*' "$REPORT" | grep -o '[0-9]*$' | paste -sd+ | bc)
  WALL=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$TIMELOG" \
    | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  RSS_KB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$TIMELOG")
  OUT_MB=$(du -sm "$DIR" | cut -f1)
  awk -v s="$S" -v r="$ROWS" -v w="$WALL" -v k="$RSS_KB" -v o="$OUT_MB" \
    'BEGIN { printf "%-7s %12d %10.1f %12.0f %12.1f %10d\n", s, r, w, (w > 0 ? r / w : 0), k / 1024, o }'
done
echo "reports and GNU time logs: $OUT_ROOT" >&2
