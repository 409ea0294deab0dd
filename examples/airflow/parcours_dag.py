"""Example Apache Airflow DAG that runs the parcours reference pipeline every night.

Responsible for: scheduling `parcours run` and `parcours test` for one logical date, splitting
the pipeline into tasks that can be cleared and rerun on their own, turning parcours' exit codes
into Airflow's retry or fail-now decisions, and handing storage locations and credentials to
parcours from Airflow Variables and a Connection at run time. Nothing secret lives in this file.

Tasks, in order (every one gets `--date {{ ds }}` and `--log-format json`):

    identity           parcours run  --select +tag:identity
                       staging views and identity resolution; publishes bridge_identity,
                       dim_person, audience_export, …
    attribution_marts  parcours run  --pipeline nightly --exclude tag:identity
                       attribution and marts; reads the bridge_identity that `identity` published
    data_tests         parcours test
                       every enabled model's data tests again, against the published tables

Configuration, all optional, read when a task runs (never while the file is parsed):

    Variable parcours_bin           the binary (default: `parcours` on the worker's PATH)
    Variable parcours_project_dir   the project folder holding pipelines.yaml (default: /opt/parcours)
    Variable parcours_raw_url       overrides the `raw` storage root, e.g. s3://exports/raw
    Variable parcours_warehouse_url overrides the `warehouse` root, e.g. s3://curated/warehouse
    Connection parcours_storage     S3 credentials: login = access key id, password = secret key,
                                    extra {"region_name": …, "endpoint_url": …}. Without it,
                                    parcours uses the worker's own identity (instance role,
                                    workload identity, AWS_* variables in the worker's environment).

Exit codes (README, "Exit codes") and what the task does with them:

    0   success
    1   a model or an `error` data test failed   fail now: the same SQL on the same data fails again
    2   configuration or usage error             fail now: nothing ran; fix pipelines.yaml or the DAG
    3   a source is missing, corrupt or drifted  retry: most often an export that is not there yet
    4   storage unreachable or not writable      retry: usually transient
    5   another run holds the warehouse          retry: it will be released
    70  internal error (a parcours bug)          fail now, and report it
    other (killed by a signal, OOM…)             retry, as Airflow does for any failure

scripts/check-airflow.sh imports and runs it with real Airflow (3.3.2; 2.11.2 with
AIRFLOW_VERSION=2.11.2).
"""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import datetime, timedelta, timezone

# Airflow 3 exports these from its Task SDK, which gained some of them after 3.0; Airflow 2
# from its core.
try:
    from airflow.sdk import DAG, BaseOperator
except ImportError:
    from airflow import DAG
    from airflow.models.baseoperator import BaseOperator
try:
    from airflow.sdk import BaseHook
except ImportError:
    from airflow.hooks.base import BaseHook
try:
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:
    from airflow.timetables.interval import CronDataIntervalTimetable
try:
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
    )
except ImportError:
    from airflow.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
    )

# Retrying these can succeed without anyone changing anything; see the table above.
RETRYABLE_EXIT_CODES = {3, 4, 5}
EXIT_MEANINGS = {
    1: "a model or an error-severity data test failed",
    2: "configuration or usage error: nothing ran",
    3: "a source is missing, unreadable, corrupt or its schema drifted",
    4: "storage failed: the warehouse is unreachable or not writable",
    5: "another run holds the warehouse",
    70: "internal error in parcours (a bug): please report it",
}


def raise_for_exit_code(code: int) -> None:
    """Raises the exception that makes Airflow retry the task, or fail it without retrying."""
    if code == 0:
        return
    meaning = EXIT_MEANINGS.get(code, "unexpected exit status")
    message = f"parcours exited with code {code}: {meaning}"
    if code in RETRYABLE_EXIT_CODES or code not in EXIT_MEANINGS:
        raise AirflowException(message + " (will retry)")
    raise AirflowFailException(message + " (not retried)")


class ParcoursOperator(BaseOperator):
    """Runs one parcours command and maps its exit code (see raise_for_exit_code).

    A subprocess call instead of BashOperator: BashOperator fails every non-zero exit the same
    way, so a configuration error would be retried as often as a storage outage.
    """

    # Rendered at run time, and shown as rendered in the UI: none of them holds a secret.
    template_fields = ("binary", "project_dir", "command", "arguments", "storage")

    def __init__(
        self,
        *,
        command: str,
        arguments: list[str] | None = None,
        storage: dict[str, str] | None = None,
        binary: str = "{{ var.value.get('parcours_bin', 'parcours') }}",
        project_dir: str = "{{ var.value.get('parcours_project_dir', '/opt/parcours') }}",
        storage_conn_id: str = "parcours_storage",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.binary = binary
        self.project_dir = project_dir
        self.command = command
        self.arguments = arguments or []
        self.storage = storage or {}
        self.storage_conn_id = storage_conn_id
        self._process: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        # Roots whose Variable is unset keep the URL in pipelines.yaml.
        overrides = [
            arg
            for name, url in sorted(self.storage.items())
            if url
            for arg in ("--storage", f"{name}={url}")
        ]
        return [
            self.binary,
            "--project-dir",
            self.project_dir,
            "--log-format",
            "json",
            self.command,
            *overrides,
            *self.arguments,
        ]

    def environment(self) -> dict[str, str]:
        """The worker's environment plus the Connection's credentials, which never reach argv,
        templates or logs (parcours reads AWS_* itself and never logs them)."""
        env = dict(os.environ)
        try:
            conn = BaseHook.get_connection(self.storage_conn_id)
        except AirflowNotFoundException:
            self.log.info(
                "no connection %s: parcours uses the worker's own credentials",
                self.storage_conn_id,
            )
            return env
        extra = conn.extra_dejson or {}
        for var, value in (
            ("AWS_ACCESS_KEY_ID", conn.login),
            ("AWS_SECRET_ACCESS_KEY", conn.password),
            ("AWS_SESSION_TOKEN", extra.get("aws_session_token")),
            ("AWS_REGION", extra.get("region_name")),
            ("AWS_ENDPOINT_URL", extra.get("endpoint_url")),
        ):
            if value:
                env[var] = str(value)
        return env

    def execute(self, context) -> None:
        argv = self.argv()
        self.log.info("running %s", " ".join(argv))
        # stderr (the JSON log lines) and stdout (the summary table) are merged so that the task
        # log keeps their order; each JSON line stays whole, for log shippers that parse it.
        self._process = subprocess.Popen(
            argv,
            env=self.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        try:
            for line in self._process.stdout or ():
                self.log.info("%s", line.rstrip("\n"))
            code = self._process.wait()
        finally:
            # A timeout or a "mark failed" interrupts this loop: do not leave parcours running.
            self.on_kill()
        raise_for_exit_code(code)

    def on_kill(self) -> None:
        p = self._process
        if p is None or p.poll() is not None:
            return
        # parcours publishes atomically, so a run stopped half-way leaves the previous tables;
        # the next run sweeps its staging files.
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


STORAGE = {
    "raw": "{{ var.value.get('parcours_raw_url', '') }}",
    "warehouse": "{{ var.value.get('parcours_warehouse_url', '') }}",
}

with DAG(
    dag_id="parcours_nightly",
    description="parcours reference pipeline: identity, attribution, marts, data tests",
    # 02:00 UTC, once the day's exports have landed. With a data-interval timetable, the run that
    # starts on 2026-11-22 covers 2026-11-21 and {{ ds }} is 2026-11-21: the last complete export
    # day, which is what `--date` means. The timetable is explicit because Airflow 3's default
    # for a cron string triggers with ds = the day the run starts.
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    # Runs for earlier dates only when someone asks (`airflow dags backfill`), and one at a time:
    # the warehouse takes one writer, and stable person ids read the previous run's bridge.
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "data-platform",
        # For exit codes 3, 4, 5 and signals only; raise_for_exit_code fails the others at once.
        "retries": 3,
        "retry_delay": timedelta(minutes=5),
        # True, not a number: Airflow 2 accepts only a bool, and Airflow 3 reads True as a
        # multiplier of 2. Delays of about 5-10, 10-20, 20-40 minutes (Airflow adds jitter).
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(hours=1),
        "execution_timeout": timedelta(hours=4),
    },
    tags=["parcours"],
    doc_md=__doc__,
) as dag:
    identity = ParcoursOperator(
        task_id="identity",
        command="run",
        arguments=["--date", "{{ ds }}", "--select", "+tag:identity"],
        storage=STORAGE,
    )
    # Everything else the dashboards read. bridge_identity is not selected here, so it is read as
    # `identity` published it; this task can be cleared and rerun without redoing identity.
    attribution_marts = ParcoursOperator(
        task_id="attribution_marts",
        command="run",
        arguments=[
            "--date",
            "{{ ds }}",
            "--pipeline",
            "nightly",
            "--exclude",
            "tag:identity",
        ],
        storage=STORAGE,
    )
    # `run` already tested each model before publishing it; this checks the published tables
    # together, e.g. relationships between what the two tasks above wrote. No selector: every
    # enabled model, which is what the two tasks published (identity's review reports are not in
    # the `nightly` pipeline). A model no task builds fails here with exit 2, "never published".
    data_tests = ParcoursOperator(
        task_id="data_tests",
        command="test",
        arguments=["--date", "{{ ds }}"],
        storage=STORAGE,
    )

    identity >> attribution_marts >> data_tests
