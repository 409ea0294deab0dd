#!/usr/bin/env python3
"""Checks parcours's Markov removal effects on ChannelAttribution's own sample against an exact
linear solve written here, independently of parcours, at Markov orders 1 to 3, on conversions and
on conversion value.

The sample (10,000 paths, 12 channels) ships inside the `channelattribution` package on PyPI
(`src/cypack/data/Data.csv`). Unless --data names a copy, the script fetches the source
distribution with `pip download` into a temporary folder (nothing is installed or committed),
converts the CSV to Parquet, runs this example project on it with the parcours binary (the path
table is read as it is, never exploded into journeys), and compares every channel's
`removal_effect` and `value_removal_effect` with the solve. Exit 0 when all agree within the
tolerance (1e-9), 1 otherwise.

Needs Python 3.9+, numpy and pyarrow (`pip install numpy pyarrow`).

    python3 examples/channel_attribution/check.py --parcours target/release/parcours
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
SEPARATOR = " > "


def fetch_sample(workdir: str) -> str:
    """Data.csv from the channelattribution distribution pip downloads (nothing is installed):
    the source archive, or a wheel where one exists for this platform."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", workdir,
         "channelattribution"],
        check=True,
    )
    for archive in sorted(glob.glob(os.path.join(workdir, "[Cc]hannel[Aa]ttribution-*"))):
        if archive.endswith(".tar.gz"):
            with tarfile.open(archive) as tar:
                for m in tar.getmembers():
                    if m.name.endswith("data/Data.csv"):
                        tar.extract(m, workdir)
                        return os.path.join(workdir, m.name)
        elif archive.endswith(".whl"):
            with zipfile.ZipFile(archive) as z:
                for name in z.namelist():
                    if name.endswith("data/Data.csv"):
                        return z.extract(name, workdir)
    sys.exit(f"no data/Data.csv in what pip downloaded into {workdir}")


def read_sample(path: str) -> list[tuple[str, float, float, float]]:
    with open(path, newline="") as f:
        sample = f.read(4096)
        f.seek(0)
        dialect = csv.Sniffer().sniff(sample, delimiters=";,\t")
        rows = []
        for r in csv.DictReader(f, dialect=dialect):
            rows.append((
                r["path"],
                float(r.get("total_conversions") or 0),
                float(r.get("total_conversion_value") or 0),
                float(r.get("total_null") or 0),
            ))
    return rows


def run_parcours(binary: str, rows, workdir: str) -> str:
    project = os.path.join(workdir, "project")
    shutil.copytree(HERE, project, ignore=shutil.ignore_patterns("data", "warehouse", "target"))
    os.makedirs(os.path.join(project, "data", "paths"))
    table = pa.table({
        "path": pa.array([r[0] for r in rows], pa.string()),
        "total_conversions": pa.array([r[1] for r in rows], pa.float64()),
        "total_conversion_value": pa.array([r[2] for r in rows], pa.float64()),
        "total_null": pa.array([r[3] for r in rows], pa.float64()),
    })
    pq.write_table(table, os.path.join(project, "data", "paths", "part-0.parquet"))
    subprocess.run([binary, "--project-dir", project, "run", "--date", "2026-01-01"], check=True)
    return project


def read_table(project: str, name: str) -> list[dict]:
    return ds.dataset(os.path.join(project, "warehouse", name), format="parquet").to_table().to_pylist()


def exact_effects(rows, order: int) -> dict[str, tuple[float, float]]:
    """Removal effects from a dense solve of the absorbing chain, built from the definition:
    states are the windows of the last `order` channels (a journey's first states its shorter
    prefixes), transitions are counted with each path's journeys (conversions + nulls), a path
    ends in conversion `total_conversions` times and in null `total_null` times, and reaching
    conversion from a state earns the mean value of the conversions that ended there."""
    index: dict[tuple, int] = {}
    paths = []
    for path, conv, value, nulls in rows:
        channels = [c for c in path.split(SEPARATOR) if c]
        if not channels or conv + nulls <= 0:
            continue
        states = []
        for j in range(len(channels)):
            window = tuple(channels[max(0, j + 1 - order): j + 1])
            states.append(index.setdefault(window, len(index)))
        paths.append((states, conv, value, nulls))
    n = len(index)
    moves = defaultdict(float)
    out_total = np.zeros(n)
    conv_at = np.zeros(n)
    value_at = np.zeros(n)
    start = np.zeros(n)
    for states, conv, value, nulls in paths:
        weight = conv + nulls
        start[states[0]] += weight
        for a, b in zip(states, states[1:]):
            moves[(a, b)] += weight
            out_total[a] += weight
        last = states[-1]
        out_total[last] += weight
        conv_at[last] += conv
        value_at[last] += value if conv > 0 else 0.0
    windows = [None] * n
    for w, i in index.items():
        windows[i] = w

    def absorbed(removed: str | None) -> tuple[float, float]:
        live = [i for i in range(n) if removed is None or removed not in windows[i]]
        pos = {s: k for k, s in enumerate(live)}
        m = len(live)
        a = np.eye(m)
        for (s, t), w in moves.items():
            if s in pos and t in pos:
                a[pos[s], pos[t]] -= w / out_total[s]
        live_arr = np.array(live, dtype=int)
        rewards = np.stack([conv_at[live_arr] / out_total[live_arr],
                            value_at[live_arr] / out_total[live_arr]], axis=1)
        x = np.linalg.solve(a, rewards)
        p = start[live_arr] / start.sum()
        return float(p @ x[:, 0]), float(p @ x[:, 1])

    base_p, base_v = absorbed(None)
    channels = sorted({c for w in windows for c in w})
    effects = {}
    for c in channels:
        p, v = absorbed(c)
        effects[c] = (1 - p / base_p if base_p > 0 else 0.0, 1 - v / base_v if base_v > 0 else 0.0)
    return effects


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parcours", default=shutil.which("parcours") or "parcours",
                        help="the parcours binary (default: parcours on PATH)")
    parser.add_argument("--data", help="ChannelAttribution's Data.csv (default: pip download it)")
    parser.add_argument("--tolerance", type=float, default=1e-9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        data = args.data or fetch_sample(workdir)
        rows = read_sample(data)
        print(f"{len(rows)} paths from {os.path.basename(data)}")
        project = run_parcours(args.parcours, rows, workdir)
        got = read_table(project, "markov_removal_effects_by_order")
        worst = 0.0
        failures = 0
        for order in (1, 2, 3):
            want = exact_effects(rows, order)
            mine = {r["channel"]: r for r in got if r["markov_order"] == order}
            if set(mine) != set(want):
                print(f"order {order}: channels differ: {sorted(mine)} vs {sorted(want)}")
                failures += 1
                continue
            for c, (effect, value_effect) in want.items():
                for name, a, b in (("removal_effect", mine[c]["removal_effect"], effect),
                                   ("value_removal_effect", mine[c]["value_removal_effect"], value_effect)):
                    diff = abs(a - b)
                    worst = max(worst, diff)
                    if diff > args.tolerance:
                        failures += 1
                        print(f"order {order} {c} {name}: parcours {a!r} vs exact {b!r}")
            print(f"order {order}: {len(want)} channels, largest difference so far {worst:.2e}")
        credit = read_table(project, "markov_credit")
        total = sum(r[1] for r in rows)
        for order in (1, 2, 3):
            s = sum(r["total_conversions"] for r in credit if r["markov_order"] == order)
            if abs(s - total) > 1e-6 * max(1.0, total):
                failures += 1
                print(f"order {order}: markov_credit sums to {s}, not {total}")
        print("OK" if failures == 0 else f"{failures} differences above {args.tolerance}")
        return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
