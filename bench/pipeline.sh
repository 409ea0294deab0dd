#!/usr/bin/env bash
# Benchmarks the reference pipeline on generated raw exports: wall time, peak RSS, input rows/s,
# and per model its duration, rows and the process's RSS while it ran (sampled every second).
# Builds nothing: pass a release binary and a folder written by `parcours generate`.
#   bench/pipeline.sh target/release/parcours RAW_DIR [WAREHOUSE_DIR] [-- extra `run` args]
# e.g. bench/pipeline.sh target/release/parcours /tmp/scale-10 /tmp/wh-10 -- --memory-limit 4GiB
# Needs GNU time (/usr/bin/time) and python3. The warehouse is emptied first.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:?usage: bench/pipeline.sh BIN RAW_DIR [WAREHOUSE_DIR] [-- run args]}
RAW=${2:?usage: bench/pipeline.sh BIN RAW_DIR [WAREHOUSE_DIR] [-- run args]}
WH=${3:-$(mktemp -d -t parcours-wh-XXXXXX)}
shift $(( $# >= 3 ? 3 : 2 ))
[ "${1:-}" = "--" ] && shift
[ -x "$BIN" ] || { echo "not an executable: $BIN" >&2; exit 2; }
[ -f "$RAW/_truth/record_person/part-0.parquet" ] || [ -d "$RAW/web_events" ] \
  || { echo "not a generated raw folder: $RAW" >&2; exit 2; }

OUT=$(mktemp -d -t parcours-bench-XXXXXX)
rm -rf "$WH"
mkdir -p "$WH"

# The date the generator ends on is the run date (bench/generate.sh uses 2026-10-31).
DATE=${PARCOURS_BENCH_DATE:-2026-10-31}
/usr/bin/time -f "%e %M" -o "$OUT/time" \
  "$BIN" run --storage "raw=$RAW" --storage "warehouse=$WH" --date "$DATE" \
  --log-format json "$@" > "$OUT/stdout" 2> "$OUT/log.jsonl" &
TIME_PID=$!
# RSS of the parcours process once a second: which models drive the peak.
(
  while kill -0 "$TIME_PID" 2>/dev/null; do
    PID=$(pgrep -P "$TIME_PID" | head -1 || true)
    [ -n "$PID" ] && echo "$(date +%s.%N) $(awk '/VmRSS/ {print $2}' "/proc/$PID/status" 2>/dev/null || echo 0)"
    sleep 1
  done
) > "$OUT/rss" &
SAMPLER=$!
STATUS=0
wait "$TIME_PID" || STATUS=$?
wait "$SAMPLER" || true

python3 - "$OUT" "$RAW" "$STATUS" <<'EOF'
import json, sys, os, datetime
out, raw, status = sys.argv[1], sys.argv[2], int(sys.argv[3])
wall, rss_kb = open(f"{out}/time").read().split()[-2:]
samples = []
for line in open(f"{out}/rss"):
    parts = line.split()
    if len(parts) == 2:  # the last sample may catch the process exiting
        samples.append((float(parts[0]), int(parts[1])))
spans, starts, rows = {}, {}, {}
for line in open(f"{out}/log.jsonl"):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    f = ev.get("fields", ev)
    ts = datetime.datetime.fromisoformat(ev["timestamp"].replace("Z", "+00:00")).timestamp()
    if f.get("event") == "model_start":
        starts[f["model"]] = ts
    elif f.get("event") == "model_end" and f["model"] in starts:
        spans[f["model"]] = (starts[f["model"]], ts, f.get("status"))
        rows[f["model"]] = f.get("rows")
# Input rows: the generator's report beside the raw folder, when there is one.
input_rows = None
for cand in (f"{raw}/../report-{os.path.basename(raw).removeprefix('scale-')}.json",):
    if os.path.exists(cand):
        input_rows = sum(t["rows"] for t in json.load(open(cand))["tables"] if not t["name"].startswith("_truth"))
print(f"exit {status}; wall {float(wall):.1f} s; peak RSS {int(rss_kb) / 1024:.0f} MiB"
      + (f"; {input_rows:,} input rows, {input_rows / float(wall):,.0f} rows/s" if input_rows else ""))
print(f"{'model':34} {'status':8} {'rows':>12} {'seconds':>9} {'peak RSS MiB':>13}")
for model, (a, b, st) in sorted(spans.items(), key=lambda kv: kv[1][0]):
    if b - a < 0.05:
        continue  # views: registered, not executed
    peak = max((kb for t, kb in samples if a <= t <= b + 1), default=0)
    r = rows.get(model)
    print(f"{model:34} {st or '':8} {r if r is not None else '-':>12} {b - a:9.1f} {peak / 1024:13.0f}")
EOF
grep -h '"level":"ERROR"' "$OUT/log.jsonl" | head -5 >&2 || true
echo "logs: $OUT; warehouse: $WH" >&2
exit "$STATUS"
