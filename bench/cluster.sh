#!/usr/bin/env bash
# The reference pipeline on the local engine and on a Ballista cluster (one scheduler and N
# executors on this machine), in turn on the same generated data: wall time, peak RSS of every
# process, and the bytes the executors wrote as shuffle files. On one machine the cluster
# shares the cores the local engine has, so this measures its overhead, not a gain.
# Builds nothing: pass a release binary.
#   bench/cluster.sh BIN OUT_ROOT [SCALES...]   (default scales: 1 3; env EXECUTORS=2,
#   TASKS=cores/EXECUTORS, EXECUTOR_MEMORY=2GiB)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=$(realpath "${1:?usage: bench/cluster.sh BIN OUT_ROOT [SCALES...]}")
OUT_ROOT=${2:?usage: bench/cluster.sh BIN OUT_ROOT [SCALES...]}
shift 2
SCALES=("$@")
if [ ${#SCALES[@]} -eq 0 ]; then SCALES=(1 3); fi
EXECUTORS=${EXECUTORS:-2}
CORES=$(nproc)
TASKS=${TASKS:-$(( CORES / EXECUTORS > 0 ? CORES / EXECUTORS : 1 ))}
EXECUTOR_MEMORY=${EXECUTOR_MEMORY:-2GiB}
mkdir -p "$OUT_ROOT"
OUT_ROOT=$(realpath "$OUT_ROOT")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

echo "| scale | engine | wall time | peak RSS client | peak RSS scheduler | peak RSS executors | shuffle written |"
echo "|---:|---|---:|---:|---:|---:|---:|"
for S in "${SCALES[@]}"; do
  RAW="$OUT_ROOT/scale-$S"
  if [ ! -f "$OUT_ROOT/report-$S.json" ]; then
    rm -rf "$RAW"
    "$BIN" generate --out "$RAW" --scale "$S" --seed 42 --days 90 --end-date 2026-10-31 \
      > "$OUT_ROOT/report-$S.json"
  fi
  # Local engine.
  rm -rf "$OUT_ROOT/wh-local-$S"
  /usr/bin/time -f "%e %M" -o "$OUT_ROOT/time-local-$S" "$BIN" run --date 2026-10-31 \
    --storage "raw=$RAW" --storage "warehouse=$OUT_ROOT/wh-local-$S" -q > /dev/null 2>"$OUT_ROOT/local-$S.log" || true
  read -r WALL RSS < "$OUT_ROOT/time-local-$S"
  echo "| $S | local | ${WALL} s | $(( RSS / 1024 )) MiB | | | |"

  # The cluster: every process under GNU time, which reports its peak RSS when it exits.
  C="$OUT_ROOT/cluster-$S"; rm -rf "$C" "$OUT_ROOT/wh-cluster-$S"; mkdir -p "$C"
  SP=$(free_port)
  /usr/bin/time -f "%M" -o "$C/rss-scheduler" "$BIN" scheduler --port "$SP" -q 2>"$C/scheduler.log" &
  SCHED=$!
  wait_port "$SP"
  EXECS=()
  for i in $(seq "$EXECUTORS"); do
    EP=$(free_port)
    /usr/bin/time -f "%M" -o "$C/rss-executor-$i" "$BIN" executor --scheduler "df://127.0.0.1:$SP" \
      --port "$EP" --concurrent-tasks "$TASKS" --work-dir "$C/work-$i" --memory-limit "$EXECUTOR_MEMORY" -q \
      2>"$C/executor-$i.log" &
    EXECS+=($!)
    wait_port "$EP"
  done
  sleep 2
  # Shuffle files are removed a minute after each job: sample the work folders while it runs.
  ( while :; do du -sb "$C"/work-* 2>/dev/null | awk '{s+=$1} END {print s+0}'; sleep 1; done ) > "$C/shuffle" &
  SAMPLER=$!
  /usr/bin/time -f "%e %M" -o "$C/time-client" "$BIN" run --date 2026-10-31 --cluster "df://127.0.0.1:$SP" \
    --storage "raw=$RAW" --storage "warehouse=$OUT_ROOT/wh-cluster-$S" -q > /dev/null 2>"$C/client.log" || true
  kill "$SAMPLER" 2>/dev/null || true
  for p in "${EXECS[@]}"; do pkill -TERM -P "$p" 2>/dev/null || true; done
  for p in "${EXECS[@]}"; do wait "$p" 2>/dev/null || true; done
  pkill -TERM -P "$SCHED" 2>/dev/null || true; wait "$SCHED" 2>/dev/null || true
  read -r CWALL CRSS < "$C/time-client"
  SRSS=$(tail -1 "$C/rss-scheduler" 2>/dev/null || echo 0)
  ERSS=$(for i in $(seq "$EXECUTORS"); do tail -1 "$C/rss-executor-$i" 2>/dev/null || echo 0; done | awk '{printf "%s%d MiB", (NR>1?" / ":""), $1/1024}')
  SHUF=$(sort -n "$C/shuffle" | tail -1)
  echo "| $S | ballista, $EXECUTORS executors × $TASKS tasks | ${CWALL} s | $(( CRSS / 1024 )) MiB | $(( SRSS / 1024 )) MiB | $ERSS | $(( ${SHUF:-0} / 1048576 )) MiB peak on disk |"
  # Which tables' files differ byte for byte. Executors split a table into other files than the
  # local engine does, so this is no verdict on the rows: tests/cluster.rs compares those.
  python3 - "$OUT_ROOT/wh-local-$S" "$OUT_ROOT/wh-cluster-$S" <<'PY' >&2
import hashlib, json, os, sys
def tables(root):
    out = {}
    for t in sorted(os.listdir(root)):
        c = os.path.join(root, t, "_parcours_commit.json")
        if t.startswith("_") or not os.path.exists(c):
            continue
        rec = json.load(open(c))
        out[t] = sorted(hashlib.sha256(open(os.path.join(root, t, f["path"]), "rb").read()).hexdigest() for f in rec["files"])
    return out
a, b = tables(sys.argv[1]), tables(sys.argv[2])
diff = [t for t in sorted(set(a) | set(b)) if a.get(t) != b.get(t)]
print(f"tables: local {len(a)}, cluster {len(b)}; files not byte-identical: {diff or 'none'}")
PY
done
