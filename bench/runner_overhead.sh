#!/usr/bin/env bash
# The runner's own overhead (parse, plan, publish, artifacts) on a 50-model project of trivial
# models: a binary tree of tables, each reading its parent. Prints wall times of `list`,
# `validate` and `run` (median of 5) for the project.
#
#   bench/runner_overhead.sh [path/to/parcours]   (default: target/release/parcours)
set -euo pipefail
BIN=$(realpath "${1:-target/release/parcours}")
N=${MODELS:-50}
RUNS=${RUNS:-5}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/sql"
cat > "$dir/pipelines.yaml" <<YAML
storage:
  warehouse: ./warehouse
models:
  defaults:
    materialization: ${MATERIALIZATION:-table}
YAML
echo "select 1 as id, 'root' as label" > "$dir/sql/m000.sql"
for i in $(seq 1 $((N - 1))); do
    parent=$(( (i - 1) / 2 ))
    printf "select id + 1 as id, label || '-%d' as label from m%03d\n" "$i" "$parent" > "$dir/sql/$(printf 'm%03d' "$i").sql"
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() {
    for _ in $(seq "$RUNS"); do
        s=$(date +%s%N)
        "$BIN" --project-dir "$dir" -q "$@" > /dev/null
        e=$(date +%s%N)
        echo $(( (e - s) / 1000000 ))
    done | median
}
echo "models: $N ($(nproc) cores, materialization ${MATERIALIZATION:-table}, median of $RUNS)"
echo "list      $(measure list) ms"
echo "validate  $(measure validate) ms"
echo "run       $(measure run --date 2026-11-21) ms"
