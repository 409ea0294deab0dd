#!/usr/bin/env bash
# Identity quality against its ceiling: runs the identity models of the reference pipeline on
# generated raw exports (with their two evidence tables published in a scratch warehouse),
# scores them with `parcours eval identity`, then asks bench/identity-ceiling/ how far that
# evidence could go at best and which records it cannot reach.
#   bench/identity-ceiling.sh target/release/parcours RAW_DIR [WORK_DIR]
# Builds nothing; needs python3. WORK_DIR (emptied) keeps the scratch project and warehouse.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:?usage: bench/identity-ceiling.sh BIN RAW_DIR [WORK_DIR]}
RAW=$(cd "${2:?usage: bench/identity-ceiling.sh BIN RAW_DIR [WORK_DIR]}" && pwd)
WORK=${3:-$(mktemp -d -t parcours-ceiling-XXXXXX)}
[ -x "$BIN" ] || { echo "not an executable: $BIN" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
rm -rf "$WORK"
mkdir -p "$WORK/project"
cp -r pipelines.yaml sql "$WORK/project/"
# The two evidence models are ephemeral in the pipeline; publish them here.
python3 - "$WORK/project/pipelines.yaml" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path).read()
for model in ("int_identity_edges", "int_identity_pair_comparisons"):
    block = re.search(rf"\n  {model}:\n((?:    .*\n|\s*\n)*)", text)
    if not block or "materialization:" not in block.group(1):
        sys.exit(f"{model}: no materialization line in pipelines.yaml")
    new = re.sub(r"materialization: \w+", "materialization: table", block.group(1), count=1)
    text = text[: block.start(1)] + new + text[block.end(1):]
open(path, "w").write(text)
PY
DATE=${PARCOURS_BENCH_DATE:-2026-10-31}
"$BIN" --project-dir "$WORK/project" -q run --storage "raw=$RAW" \
  --storage "warehouse=$WORK/wh" --date "$DATE" --select +bridge_identity > "$WORK/run.txt"
"$BIN" eval identity --truth "$RAW" --warehouse "$WORK/wh"
for view in ceiling islands; do
  "$BIN" --project-dir bench/identity-ceiling -q show "$view" --limit 25 \
    --storage "truth=$RAW/_truth" --storage "wh=$WORK/wh"
done
