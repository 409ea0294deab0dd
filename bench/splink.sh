#!/usr/bin/env bash
# Identity matching against Splink on the same contact records: generates a world (skipped when
# WORK already holds it), runs the reference pipeline on it, then bench/splink/compare.py runs
# Splink 5 (DuckDB) on its crm_contacts and scores both against the generator's truth.
#   bench/splink.sh BIN WORK [SCALE [PROFILE]]   (default scale 1, profile default)
# Builds nothing; installs Splink into .venv-splink (needs python3 and its package index once).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:?usage: bench/splink.sh BIN WORK [SCALE [PROFILE]]}
WORK=${2:?usage: bench/splink.sh BIN WORK [SCALE [PROFILE]]}
SCALE=${3:-1}
PROFILE=${4:-default}
[ -x "$BIN" ] || { echo "not an executable: $BIN" >&2; exit 2; }
if [ ! -x .venv-splink/bin/python ]; then
  python3 -m venv .venv-splink
  .venv-splink/bin/pip install -q splink==5.0.0 duckdb==2.0.1 pandas pyarrow
fi
RAW="$WORK/raw-$SCALE-$PROFILE"
if [ ! -d "$RAW/crm_contacts" ]; then
  rm -rf "$RAW"
  "$BIN" generate --out "$RAW" --scale "$SCALE" --seed 42 --days 90 --end-date 2026-10-31 \
    --profile "$PROFILE" > /dev/null
fi
WH="$WORK/wh-$SCALE-$PROFILE"
rm -rf "$WH"
"$BIN" -q run --date 2026-10-31 --storage raw="$RAW" --storage warehouse="$WH" > /dev/null
.venv-splink/bin/python bench/splink/compare.py "$RAW" "$WH" --run-results target/run_results.json
