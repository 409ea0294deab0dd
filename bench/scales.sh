#!/usr/bin/env bash
# How the reference pipeline's cost grows with its input: generates each scale (90 days, seed 42,
# skipped when OUT_ROOT already holds it), runs the whole pipeline on it with bench/pipeline.sh
# under the project's memory limit, and prints one Markdown row per scale: input rows, wall time,
# rows/s and peak RSS. Builds nothing: pass a release binary.
#   bench/scales.sh target/release/parcours OUT_ROOT [SCALES...]   (default scales: 1 3 10 30)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:?usage: bench/scales.sh BIN OUT_ROOT [SCALES...]}
OUT_ROOT=${2:?usage: bench/scales.sh BIN OUT_ROOT [SCALES...]}
shift 2
SCALES=("$@")
if [ ${#SCALES[@]} -eq 0 ]; then SCALES=(1 3 10 30); fi
mkdir -p "$OUT_ROOT"

echo "| scale | input rows | wall time | rows/s | peak RSS |"
echo "|---:|---:|---:|---:|---:|"
for S in "${SCALES[@]}"; do
  RAW="$OUT_ROOT/scale-$S"
  if [ ! -f "$OUT_ROOT/report-$S.json" ]; then
    rm -rf "$RAW"
    "$BIN" generate --out "$RAW" --scale "$S" --seed 42 --days 90 --end-date 2026-10-31 \
      > "$OUT_ROOT/report-$S.json"
  fi
  STATUS=0
  bench/pipeline.sh "$BIN" "$RAW" "$OUT_ROOT/wh-$S" > "$OUT_ROOT/pipeline-$S.txt" 2>&1 || STATUS=$?
  # e.g. "exit 0; wall 61.2 s; peak RSS 1532 MiB; 6,699,914 input rows, 109,476 rows/s"
  python3 - "$OUT_ROOT/pipeline-$S.txt" "$S" "$STATUS" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"exit (\d+); wall ([\d.]+) s; peak RSS (\d+) MiB(?:; ([\d,]+) input rows, ([\d,]+) rows/s)?", text)
if not m:
    print(f"| {sys.argv[2]} | failed (exit {sys.argv[3]}), see {sys.argv[1]} | | | |")
else:
    code, wall, rss, rows, rps = m.groups()
    note = "" if code == "0" else f" (exit {code})"
    print(f"| {sys.argv[2]} | {rows or '-'} | {float(wall):.1f} s{note} | {rps or '-'} | {rss} MiB |")
PY
done
