#!/usr/bin/env bash
# Checks examples/airflow/parcours_dag.py with real Apache Airflow.
#
# Responsible for: installing a pinned Airflow into .venv-airflow the first time, then, with a
# throw-away AIRFLOW_HOME (nothing is written in the repository), checking that the DAG imports
# with no error, has the expected tasks and order, schedules `--date` on the last complete
# export day, passes `--date {{ ds }}`, the storage Variables and the Connection's credentials
# to parcours, and that Airflow retries or fails each exit code as the DAG's header says. The
# tasks run a fake `parcours` that records its arguments, so no build is needed.
#
# With PARCOURS_BIN=target/release/parcours (or any built binary) it also runs the DAG with
# that binary on this repository's project over freshly generated sample data, in a temporary
# warehouse, which checks the DAG's selectors against pipelines.yaml.
#
# Usage: scripts/check-airflow.sh     (AIRFLOW_PYTHON=python3.12 picks the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

# Another version (AIRFLOW_VERSION=2.11.2 checks the DAG under Airflow 2) installs without the
# constraints below, which are for 3.3.2 only.
AIRFLOW_VERSION=${AIRFLOW_VERSION:-3.3.2}
venv=.venv-airflow
python=${AIRFLOW_PYTHON:-$(command -v python3.11 || command -v python3)}

# Airflow publishes its tested dependency set as a constraints file on GitHub, which is not
# reachable from every machine; these are the versions that resolved from PyPI on Python 3.11
# and passed this check. Without them, a new release of any dependency can break the install.
constraints="a2wsgi==1.10.10 aiosmtplib==5.1.3 aiosqlite==0.22.1 alembic==1.20.1
annotated-doc==0.0.7 annotated-types==0.8.0 anyio==4.16.0 apache-airflow==3.3.2
apache-airflow-core==3.3.2 apache-airflow-providers-common-compat==1.23.0
apache-airflow-providers-common-io==1.11.0 apache-airflow-providers-common-sql==2.4.0
apache-airflow-providers-smtp==3.2.0 apache-airflow-providers-standard==1.21.0
apache-airflow-task-sdk==1.3.2 argcomplete==3.7.2 arrow==1.4.0 asgiref==3.13.0 attrs==26.1.0
babel==2.18.0 cachetools==8.0.1 cadwyn==7.0.0 certifi==2026.10.18 cffi==2.1.1
charset-normalizer==3.5.2 click==8.5.1 colorlog==6.12.0 cron_descriptor==2.2.1 croniter==7.0.0
cryptography==50.0.2 Deprecated==1.3.1 dill==0.4.1 dnspython==2.9.2 email-validator==2.4.0
fastapi==0.136.3 fastapi-cli==0.0.34 fsspec==2026.9.0 googleapis-common-protos==1.76.0
greenback==1.3.0 greenlet==3.5.6 grpcio==1.85.1 h11==0.16.0 httpcore==1.0.9 httptools==0.9.0
httpx==0.28.1 idna==3.20 importlib_metadata==10.2.0 isoduration==20.11.0 itsdangerous==2.2.0
Jinja2==3.1.6 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 lazy-importer==0.1.0
lazy-object-proxy==1.13.0 libcst==1.9.0 linkify-it-py==2.2.0 lockfile==0.12.2 Mako==1.4.3
markdown-it-py==4.3.0 MarkupSafe==3.0.4 mdurl==0.1.2 methodtools==0.4.7 more-itertools==11.2.1
msgspec==0.22.0 natsort==8.4.0 opentelemetry-api==1.45.2
opentelemetry-exporter-http-transport==0.66b2 opentelemetry-exporter-otlp==1.45.2
opentelemetry-exporter-otlp-common==0.66b2 opentelemetry-exporter-otlp-proto-common==1.45.2
opentelemetry-exporter-otlp-proto-grpc==1.45.2 opentelemetry-exporter-otlp-proto-http==1.45.2
opentelemetry-proto==1.45.2 opentelemetry-sdk==1.45.2 opentelemetry-semantic-conventions==0.66b2
outcome==1.3.0.post0 packaging==26.3 pathlib_abc==0.5.2 pathspec==1.1.1 pendulum==3.3.0
pluggy==1.7.0 protobuf==7.36.2 psutil==7.2.2 pycparser==3.12 pydantic==2.14.3
pydantic-extra-types==2.11.1 pydantic-settings==2.16.3 pydantic_core==2.50.4 Pygments==2.21.0
pygtrie==2.6.2 PyJWT==2.15.1 python-daemon==3.1.2 python-dateutil==4.0.0 python-dotenv==1.2.4
python-multipart==0.0.34 python-slugify==9.2.0 PyYAML==6.0.3 referencing==0.37.0
requests==2.34.2 rich==15.0.0 rich-argparse==1.8.0 rich-toolkit==0.20.6 rpds-py==2026.9.1
setproctitle==1.3.8 shellingham==1.5.4 six==1.17.0 sniffio==1.3.1 SQLAlchemy==2.1.9
sqlparse==0.6.1 starlette==1.10.0 structlog==26.1.0 svcs==26.2.0 tabulate==0.10.0
tenacity==9.2.1 termcolor==3.3.0 text-unidecode==1.3 typer==0.29.2 typing-inspection==0.4.5
typing_extensions==4.16.0 tzdata==2026.6 universal_pathlib==0.3.10 urllib3==2.8.0
uuid6==2025.0.1 uvicorn==0.54.0 uvloop==0.23.0 watchfiles==1.3.0 websockets==17.4
wirerope==1.0.0 wrapt==2.5.2 zipp==4.1.2"

if ! "$venv/bin/python" -c "import airflow, sys; sys.exit(airflow.__version__ != '$AIRFLOW_VERSION')" 2>/dev/null; then
    echo "check-airflow: installing apache-airflow==$AIRFLOW_VERSION into $venv (once)"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    tr ' ' '\n' <<<"$constraints" >"$venv/constraints.txt"
    [ "$AIRFLOW_VERSION" = 3.3.2 ] || : >"$venv/constraints.txt"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        -c "$venv/constraints.txt" "apache-airflow==$AIRFLOW_VERSION"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export AIRFLOW_HOME=$work/airflow
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export PYTHONDONTWRITEBYTECODE=1
export AIRFLOW__CORE__DAGS_FOLDER=$repo/examples/airflow
export CHECK_WORK=$work CHECK_REPO=$repo PARCOURS_BIN=${PARCOURS_BIN:-}
if [ -n "$PARCOURS_BIN" ]; then
    PARCOURS_BIN=$(realpath "$PARCOURS_BIN")
fi

if ! "$venv/bin/airflow" db migrate >"$work/migrate.log" 2>&1; then
    cat "$work/migrate.log" >&2
    exit 1
fi

# Airflow logs every task step; the check's own lines go to fd 3, the rest to a file shown
# only when something fails.
exec 3>&1
if ! "$venv/bin/python" - >"$work/check.log" 2>&1 <<'PY'; then
"""The checks; each prints one line on success and raises on the first wrong thing."""
import json
import os
import stat
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import airflow

out = os.fdopen(3, "w", buffering=1)
work = Path(os.environ["CHECK_WORK"])
repo = Path(os.environ["CHECK_REPO"])
dag_file = repo / "examples/airflow/parcours_dag.py"

try:
    from airflow.dag_processing.dagbag import DagBag  # Airflow 3
except ImportError:
    from airflow.models.dagbag import DagBag
try:  # Airflow 2's DagRun notes reference the FAB users table; dag.test needs it mapped.
    import airflow.providers.fab.auth_manager.models  # noqa: F401
except ImportError:
    pass

bag = DagBag(dag_folder=str(dag_file))
assert not bag.import_errors, f"import errors: {bag.import_errors}"
dag = bag.get_dag("parcours_nightly")
assert dag is not None, f"no DAG parcours_nightly in {dag_file}; found {list(bag.dag_ids)}"
assert set(dag.task_ids) == {"identity", "attribution_marts", "data_tests"}, dag.task_ids
edges = {(t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids}
assert edges == {("identity", "attribution_marts"), ("attribution_marts", "data_tests")}, edges
for t in dag.tasks:
    assert t.retries >= 1, (t.task_id, t.retries)
# The scheduler reads the serialized DAG: its backoff must double the delay (True or >= 2).
from airflow.serialization import serialized_objects as so

S = getattr(so, "DagSerialization", None) or so.SerializedDAG
for t in S.from_dict(S.to_dict(dag)).tasks:
    b = t.retry_exponential_backoff
    assert b is True or b >= 2, (t.task_id, b)
assert dag.max_active_runs == 1
print("DagBag: imports with no error; identity >> attribution_marts >> data_tests", file=out)

# The run that starts at 02:00 on 2026-11-22 must process 2026-11-21, the last full export day.
from airflow.timetables.base import DataInterval, TimeRestriction

timetable = dag.timetable
try:
    from airflow.serialization.encoders import coerce_to_core_timetable

    timetable = coerce_to_core_timetable(timetable)
except ImportError:
    pass
utc = timezone.utc
info = timetable.next_dagrun_info(
    last_automated_data_interval=DataInterval(
        datetime(2026, 11, 20, 2, tzinfo=utc), datetime(2026, 11, 21, 2, tzinfo=utc)
    ),
    restriction=TimeRestriction(earliest=None, latest=None, catchup=True),
)
assert info.run_after == datetime(2026, 11, 22, 2, tzinfo=utc), info
logical = info.data_interval.start
assert logical.date().isoformat() == "2026-11-21", info
print("schedule: the run starting 2026-11-22T02:00Z has logical date 2026-11-21", file=out)

# A fake parcours: records its argv and the storage environment, and exits as FAKE_EXITS says
# ({"token in argv": [exit code of 1st matching call, of 2nd, …]}, 0 once the list runs out).
calls = work / "calls.jsonl"
fake = work / "bin/parcours"
fake.parent.mkdir()
fake.write_text(f"""#!{sys.executable}
import json, os, sys
argv = sys.argv[1:]
env = {{k: v for k, v in os.environ.items() if k.startswith("AWS_")}}
with open({str(calls)!r}, "a") as f:
    f.write(json.dumps({{"argv": argv, "env": env}}) + "\\n")
print(json.dumps({{"level": "INFO", "event": "run_start"}}), file=sys.stderr)
for token, codes in json.loads(os.environ.get("FAKE_EXITS", "{{}}")).items():
    if token in argv:
        n = sum(token in json.loads(l)["argv"] for l in open({str(calls)!r}))
        sys.exit(codes[n - 1] if n <= len(codes) else 0)
""")
fake.chmod(fake.stat().st_mode | stat.S_IXUSR)

secret = "not-in-argv-Zk29"
variables = work / "variables.json"
variables.write_text(json.dumps({
    "parcours_bin": str(fake),
    "parcours_project_dir": "/srv/shop",
    "parcours_warehouse_url": "s3://curated/warehouse",
}))
connections = work / "connections.json"
connections.write_text(json.dumps({
    "parcours_storage": {
        "conn_type": "aws",
        "login": "AKIAEXAMPLE",
        "password": secret,
        "extra": {"region_name": "eu-west-3"},
    }
}))


def state(s):
    return str(getattr(s, "value", s))


def states(tis):
    return {k: state(v.state) for k, v in tis.items()}


def run(logical_date, fake_exits=None, tweak=None):
    """Runs the whole DAG once in this process with dag.test; returns ({task: ti}, calls)."""
    calls.unlink(missing_ok=True)
    os.environ["FAKE_EXITS"] = json.dumps(fake_exits or {})
    d = DagBag(dag_folder=str(dag_file)).get_dag("parcours_nightly")
    if tweak:
        tweak(d)
    date_arg = "execution_date" if airflow.__version__ < "3" else "logical_date"
    dr = d.test(
        **{date_arg: logical_date},
        variable_file_path=str(variables),
        conn_file_path=str(connections),
    )
    tis = {ti.task_id: ti for ti in dr.get_task_instances()}
    made = [json.loads(l) for l in calls.read_text().splitlines()] if calls.exists() else []
    return dr, tis, made


# 1. Everything succeeds: each task's command line, in order, with the date and the Variables.
dr, tis, made = run(logical)
assert state(dr.state) == "success", dr.state
common = ["--project-dir", "/srv/shop", "--log-format", "json"]
storage = ["--storage", "warehouse=s3://curated/warehouse"]
expected = [
    common + ["run"] + storage + ["--date", "2026-11-21", "--select", "+tag:identity"],
    common + ["run"] + storage
    + ["--date", "2026-11-21", "--pipeline", "nightly", "--exclude", "tag:identity"],
    common + ["test"] + storage + ["--date", "2026-11-21"],
]
got = [c["argv"] for c in made]
assert got == expected, "command lines:\n" + "\n".join(map(str, got))
for c in made:
    assert c["env"].get("AWS_ACCESS_KEY_ID") == "AKIAEXAMPLE", c["env"]
    assert c["env"].get("AWS_SECRET_ACCESS_KEY") == secret, c["env"]
    assert c["env"].get("AWS_REGION") == "eu-west-3", c["env"]
    assert secret not in " ".join(c["argv"])
print("dag.test: 3 tasks ran in order with --date 2026-11-21 --log-format json, the storage "
      "Variables, and the Connection's credentials in the environment only", file=out)


# 2. A configuration error (exit 2) is not retried, and nothing downstream runs.
dr, tis, made = run(datetime(2026, 11, 10, 2, tzinfo=utc), {"+tag:identity": [2]})
s = states(tis)
assert s == {"identity": "failed", "attribution_marts": "upstream_failed",
             "data_tests": "upstream_failed"}, s
assert len(made) == 1, f"exit 2 was retried: {len(made)} calls"
print("exit 2 (config): identity failed after 1 try, downstream upstream_failed", file=out)

# 3. A model failure (exit 1) in attribution_marts is not retried either.
dr, tis, made = run(datetime(2026, 11, 11, 2, tzinfo=utc), {"--pipeline": [1]})
s = states(tis)
assert s == {"identity": "success", "attribution_marts": "failed",
             "data_tests": "upstream_failed"}, s
assert len(made) == 2, f"exit 1 was retried: {len(made)} calls"
print("exit 1 (model failed): attribution_marts failed after 1 try, data_tests not run",
      file=out)


# 4. Storage (exit 4), then a locked warehouse (exit 5), then success: retried, and the DAG
#    goes on. The delay is cut to 0 so the check does not wait 5 minutes.
def no_delay(d):
    for t in d.tasks:
        t.retry_delay = timedelta(0)
        t.retry_exponential_backoff = False


dr, tis, made = run(datetime(2026, 11, 12, 2, tzinfo=utc), {"+tag:identity": [4, 5]}, no_delay)
s = states(tis)
assert s == {"identity": "success", "attribution_marts": "success",
             "data_tests": "success"}, s
assert sum("+tag:identity" in c["argv"] for c in made) == 3, [c["argv"] for c in made]
print("exit 4 then 5 (storage, locked): identity retried twice, then the DAG succeeded",
      file=out)

# 5. The mapping for every code, including those the runs above do not reach.
sys.path.insert(0, str(dag_file.parent))
import parcours_dag as m

for code, retried in [(1, False), (2, False), (3, True), (4, True), (5, True), (70, False),
                      (-9, True), (137, True)]:
    try:
        m.raise_for_exit_code(code)
        raise AssertionError(f"exit {code} did not fail the task")
    except m.AirflowFailException:
        assert not retried, f"exit {code} should be retried"
    except m.AirflowException:
        assert retried, f"exit {code} should fail without retrying"
m.raise_for_exit_code(0)
print("exit codes: 3, 4, 5 and signals retried; 1, 2, 70 fail at once", file=out)

# 6. Optional: the real binary on this project, over generated sample data.
real = os.environ.get("PARCOURS_BIN")
if real:
    import shutil
    import subprocess

    # A copy, so that target/ (artifacts, spill) is written under the temporary folder.
    project = work / "project"
    project.mkdir()
    for part in ("pipelines.yaml", "sql", "data_tests"):
        copy = shutil.copytree if (repo / part).is_dir() else shutil.copy
        copy(repo / part, project / part)
    raw, wh = work / "raw", work / "warehouse"
    subprocess.run([real, "-q", "generate", "--out", str(raw), "--scale", "0.01",
                    "--end-date", "2026-11-21"], check=True, stdout=subprocess.DEVNULL)
    variables.write_text(json.dumps({
        "parcours_bin": real,
        "parcours_project_dir": str(project),
        "parcours_raw_url": str(raw),
        "parcours_warehouse_url": str(wh),
    }))
    connections.write_text("{}")
    dr, tis, _ = run(logical)
    s = states(tis)
    assert s == {"identity": "success", "attribution_marts": "success",
                 "data_tests": "success"}, s
    assert (wh / "bridge_identity/_parcours_commit.json").exists()
    assert (wh / "agg_channel_performance/_parcours_commit.json").exists()
    print(f"real run: {real} ran the 3 tasks on generated data for 2026-11-21", file=out)
PY
    echo "check-airflow: FAILED; Airflow's output:" >&2
    tail -n 80 "$work/check.log" >&2
    exit 1
fi
echo "check-airflow: ok (apache-airflow $AIRFLOW_VERSION)"
