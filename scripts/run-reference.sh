#!/usr/bin/env bash
# Generates sample raw exports and runs the reference pipeline on them (README, "Set-up").
#   scripts/run-reference.sh [SCALE]     default scale 0.01 (1,000 persons over 90 days)
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-0.01}
BIN=${PARCOURS_BIN:-target/release/parcours}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }
END=2026-10-31

rm -rf data/raw
"$BIN" generate --out data/raw --scale "$SCALE" --seed 42 --days 90 --end-date "$END"
"$BIN" run --date "$END"
echo "curated tables: data/warehouse/ (run details: target/run_results.json)"
