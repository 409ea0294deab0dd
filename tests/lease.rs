//! One writer per warehouse, with real processes: while one `parcours run` holds the warehouse
//! lease, a second one is refused (exit 5, naming the holder) or waits for it
//! (`--wait-for-lease`); a lease whose run died or stopped renewing is taken over, and the run
//! that lost it publishes nothing more; the lease is released after success and after failure.
//! On a local warehouse and on S3 (moto on loopback, conditional PUTs).
//!
//! The first run is made to hold the lease deterministically by freezing it (SIGSTOP) once its
//! log says a slow model started, and thawing it (SIGCONT) later: no test hook in the binary.
//! The slow model is a real query (a cross join summing 5·10^7 rows), so the freeze always lands
//! while the run is computing, before that model is published.

mod common;
#[path = "common/s3.rs"]
mod s3;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::TestProject;
use object_store::ObjectStoreExt;

const SLOW_SQL: &str = "-- Deliberately slow: a cross join of 5·10^7 rows, summed.
with d as (select * from (values (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) as t(x))
select sum(a.x + b.x * 10 + c.x * 100 + e.x * 1000 + f.x * 10000 + g.x * 100000 + h.x) as s
from d a, d b, d c, d e, d f, d g, (select x from d where x < 5) h
";

const TABLES: [&str; 3] = ["fct_orders", "dim_customer", "agg_daily_revenue"];
/// A date the shop's raw data has orders for.
const DATE: &str = "2026-11-21";

fn slow_project(execution: &str) -> TestProject {
    let p = common::fixture("shop");
    p.write_shop_raw();
    p.write_file("sql/marts/slow_sum.sql", SLOW_SQL);
    if !execution.is_empty() {
        let config = p.read_file("pipelines.yaml");
        p.write_file(
            "pipelines.yaml",
            &format!("{config}\nexecution:\n{execution}"),
        );
    }
    p
}

/// A run in the background with JSON logs on a pipe, so the test can follow its events.
struct Background {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStderr>>,
    log: String,
}

impl Drop for Background {
    fn drop(&mut self) {
        // A frozen child must be thawed to die; a reaped one must not be signalled (its pid may
        // belong to another process by now).
        if matches!(self.child.try_wait(), Ok(None)) {
            // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGCONT) };
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill({}, {sig})", child.id());
}

impl Background {
    fn start(p: &TestProject, args: &[&str], env: &[(&str, &str)]) -> Background {
        let mut child = common::bin()
            .arg("--project-dir")
            .arg(p.path())
            .args(["--log-format", "json"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start parcours");
        let lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        Background {
            child,
            lines,
            log: String::new(),
        }
    }

    /// Reads the log until `event` (for `model`, when given); returns that line.
    fn wait_for(&mut self, event: &str, model: Option<&str>) -> serde_json::Value {
        for line in self.lines.by_ref() {
            let line = line.expect("stderr");
            self.log.push_str(&line);
            self.log.push('\n');
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && v["event"] == event
                && model.is_none_or(|m| v["model"] == m)
            {
                return v;
            }
        }
        panic!("the run ended before `{event}`:\n{}", self.log);
    }

    /// Freezes the run once its slow model started: it holds the lease and stops renewing it.
    fn freeze_in_slow_model(&mut self) -> String {
        let start = self.wait_for("run_start", None);
        self.wait_for("model_start", Some("slow_sum"));
        signal(&self.child, libc::SIGSTOP);
        start["run_id"].as_str().expect("run id").to_string()
    }

    fn thaw(&self) {
        signal(&self.child, libc::SIGCONT);
    }

    /// Waits for the run to end; returns its exit code and its whole log.
    fn finish(mut self) -> (i32, String) {
        for line in self.lines.by_ref() {
            let line = line.expect("stderr");
            self.log.push_str(&line);
            self.log.push('\n');
        }
        let status = self.child.wait().expect("wait");
        (status.code().unwrap_or(-1), std::mem::take(&mut self.log))
    }
}

fn local_lease(p: &TestProject) -> serde_json::Value {
    serde_json::from_str(&p.read_file("warehouse/_parcours/lease.json")).expect("lease json")
}

fn local_commit_run_id(p: &TestProject, table: &str) -> Option<String> {
    let path = p
        .path()
        .join(format!("warehouse/{table}/_parcours_commit.json"));
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).expect("commit json");
    v["run_id"].as_str().map(str::to_string)
}

fn run_id_of(out: &common::Output) -> String {
    // The summary's last line ends with `(run <id>)`.
    out.stdout
        .rsplit("(run ")
        .next()
        .and_then(|s| s.split(')').next())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_second_run_is_refused_while_the_first_holds_the_lease() {
    let p = slow_project("");
    let mut first = Background::start(&p, &["run", "--date", DATE], &[]);
    let holder = first.freeze_in_slow_model();
    let lease = local_lease(&p);
    assert_eq!(lease["run_id"], holder.as_str());
    assert!(lease["released_at"].is_null(), "{lease}");

    let t = Instant::now();
    let second = p.run(&["run", "--date", DATE]);
    assert_eq!(second.code, 5, "{}", second.all());
    for needle in [
        "the warehouse is in use",
        holder.as_str(),
        "_parcours/lease.json",
        "--wait-for-lease",
        lease["expires_at"].as_str().expect("expires"),
    ] {
        assert!(
            second.stderr.contains(needle),
            "no `{needle}` in: {}",
            second.stderr
        );
    }
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "refused at once, not after a wait"
    );
    // Refused before reading or writing anything: the first run's tables are untouched.
    for table in TABLES {
        let id = local_commit_run_id(&p, table);
        assert!(
            id.is_none() || id.as_deref() == Some(holder.as_str()),
            "{table}: {id:?}"
        );
    }

    first.thaw();
    let (code, log) = first.finish();
    assert_eq!(code, 0, "{log}");
    let lease = local_lease(&p);
    assert!(
        lease["released_at"].is_string(),
        "released after success: {lease}"
    );
    for table in TABLES.iter().chain(&["slow_sum"]) {
        assert_eq!(
            local_commit_run_id(&p, table).as_deref(),
            Some(holder.as_str())
        );
    }
    let third = p.run(&["run", "--date", DATE, "--exclude", "slow_sum"]);
    assert_eq!(
        third.code,
        0,
        "a released lease is free at once: {}",
        third.all()
    );
}

#[test]
fn a_waiting_run_starts_when_the_lease_is_released() {
    let p = slow_project("");
    let mut first = Background::start(&p, &["run", "--date", DATE], &[]);
    let holder = first.freeze_in_slow_model();
    let mut second = Background::start(
        &p,
        &[
            "run",
            "--date",
            DATE,
            "--exclude",
            "slow_sum",
            "--wait-for-lease",
            "2m",
        ],
        &[],
    );
    let waiting = second.wait_for("lease_wait", None);
    assert_eq!(waiting["holder"], holder.as_str());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        second.child.try_wait().expect("try_wait").is_none(),
        "the second run waits while the first is frozen"
    );
    first.thaw();
    let (code, log) = first.finish();
    assert_eq!(code, 0, "{log}");
    let (code, log) = second.finish();
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("lease_acquired"), "{log}");
    // The second run published after the first: its records are the current ones.
    let ours = local_lease(&p)["run_id"]
        .as_str()
        .expect("run id")
        .to_string();
    assert_ne!(ours, holder);
    for table in TABLES {
        assert_eq!(
            local_commit_run_id(&p, table).as_deref(),
            Some(ours.as_str())
        );
    }
    assert_eq!(
        local_commit_run_id(&p, "slow_sum").as_deref(),
        Some(holder.as_str())
    );
}

/// Run 1 stops renewing (frozen); after its lease expires, run 2 takes it over and publishes;
/// run 1, thawed, finds the lease gone and publishes nothing more (exit 5).
fn stale_lease_is_taken_over(
    p: &TestProject,
    args: &[&str],
    env: &[(&str, &str)],
    ttl: Duration,
    lease: impl Fn() -> serde_json::Value,
    commit_run_id: impl Fn(&str) -> Option<String>,
) {
    let mut run1_args = vec!["run", "--date", DATE, "--threads", "1"];
    run1_args.extend_from_slice(args);
    let mut first = Background::start(p, &run1_args, env);
    let holder = first.freeze_in_slow_model();
    let frozen_at = Instant::now();

    // Still live: refused.
    let mut a = vec!["run", "--date", DATE, "--exclude", "slow_sum"];
    a.extend_from_slice(args);
    let refused = p.run_env(&a, env);
    assert!(
        frozen_at.elapsed() < ttl / 2,
        "the refusal came too late to prove anything; the machine is overloaded"
    );
    assert_eq!(refused.code, 5, "{}", refused.all());
    assert!(refused.stderr.contains(&holder), "{}", refused.stderr);

    // Expired: taken over.
    std::thread::sleep((ttl + Duration::from_millis(500)).saturating_sub(frozen_at.elapsed()));
    let second = p.run_env(&a, env);
    assert_eq!(second.code, 0, "{}", second.all());
    assert!(
        second.stderr.contains("took over the warehouse lease") && second.stderr.contains(&holder),
        "{}",
        second.stderr
    );
    let taker = run_id_of(&second);
    assert_eq!(lease()["run_id"], taker.as_str());
    assert!(lease()["released_at"].is_string());

    first.thaw();
    let (code, log) = first.finish();
    assert_eq!(code, 5, "the run that lost its lease fails:\n{log}");
    assert!(
        log.contains("no longer holds the lease") && log.contains("publishes nothing more"),
        "{log}"
    );
    // Its slow model was never published, and every other table is the taker's.
    assert_eq!(commit_run_id("slow_sum"), None);
    for table in TABLES {
        assert_eq!(
            commit_run_id(table).as_deref(),
            Some(taker.as_str()),
            "{table}"
        );
    }
    // The lease still names the taker, released: the loser did not touch it.
    assert_eq!(lease()["run_id"], taker.as_str());
}

#[test]
fn a_stale_lease_is_taken_over_and_its_holder_publishes_nothing_more() {
    let ttl = Duration::from_secs(4);
    let p = slow_project("  lease_ttl: 4s\n");
    stale_lease_is_taken_over(
        &p,
        &[],
        &[],
        ttl,
        || local_lease(&p),
        |t| local_commit_run_id(&p, t),
    );
}

#[test]
fn a_killed_run_on_this_machine_does_not_hold_up_the_next() {
    let p = slow_project("");
    let mut first = Background::start(&p, &["run", "--date", DATE], &[]);
    let holder = first.freeze_in_slow_model();
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("wait");
    let lease = local_lease(&p);
    assert!(
        lease["released_at"].is_null(),
        "a killed run releases nothing"
    );

    let t = Instant::now();
    let next = p.run(&["run", "--date", DATE, "--exclude", "slow_sum"]);
    assert_eq!(next.code, 0, "{}", next.all());
    assert!(
        next.stderr.contains("no longer runs on this machine") && next.stderr.contains(&holder),
        "{}",
        next.stderr
    );
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "no wait for the 60 s expiry"
    );
}

#[test]
fn the_lease_is_released_after_failures() {
    let p = common::fixture("shop");
    p.write_shop_raw();
    // A model fails (exit 1).
    let out = p.run(&["run", "--date", DATE, "--var", "fail_on_purpose=true"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let lease = local_lease(&p);
    assert_eq!(lease["run_id"], run_id_of(&out).as_str());
    assert!(lease["released_at"].is_string(), "{lease}");

    // A source is missing (exit 3): found after the lease was taken, released all the same.
    std::fs::remove_dir_all(p.path().join("raw/customers")).expect("rm");
    let out = p.run(&["run", "--date", DATE]);
    assert_eq!(out.code, 3, "{}", out.all());
    let lease = local_lease(&p);
    assert!(lease["released_at"].is_string(), "{lease}");
    p.write_shop_raw();
    let out = p.run(&["run", "--date", DATE]);
    assert_eq!(out.code, 0, "{}", out.all());
}

fn foreign_lease(expires_in_s: i64) -> String {
    let now = chrono::Utc::now();
    let at = |s: i64| {
        (now + chrono::Duration::seconds(s)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    serde_json::json!({
        "format_version": 1, "run_id": "20261121T020000000Z-beef", "host": "etl-7", "pid": 4242,
        "acquired_at": at(-600), "renewed_at": at(expires_in_s - 60),
        "expires_at": at(expires_in_s), "released_at": null
    })
    .to_string()
}

#[test]
fn another_machines_lease_holds_until_it_expires() {
    let p = common::fixture("shop");
    p.write_shop_raw();
    p.write_file("warehouse/_parcours/lease.json", &foreign_lease(600));
    let out = p.run(&["run", "--date", DATE]);
    assert_eq!(out.code, 5, "{}", out.all());
    assert!(
        out.stderr
            .contains("run 20261121T020000000Z-beef (host etl-7, pid 4242)"),
        "{}",
        out.stderr
    );
    let out = p.run(&["run", "--date", DATE, "--wait-for-lease", "1s"]);
    assert_eq!(out.code, 5, "{}", out.all());
    assert!(out.stderr.contains("waited"), "{}", out.stderr);

    p.write_file("warehouse/_parcours/lease.json", &foreign_lease(-1));
    let out = p.run(&["run", "--date", DATE]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains("took over the warehouse lease"),
        "{}",
        out.stderr
    );

    p.write_file("warehouse/_parcours/lease.json", "{not json");
    let out = p.run(&["run", "--date", DATE]);
    assert_eq!(out.code, 5, "{}", out.all());
    assert!(
        out.stderr.contains("delete it and run again"),
        "{}",
        out.stderr
    );
}

#[test]
fn s3_runs_take_turns_through_conditional_puts() {
    let moto = s3::Moto::start();
    moto.create_bucket("lake");
    let store = moto.store("lake");
    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let get = |path: &str| -> Option<serde_json::Value> {
        rt.block_on(async {
            match store.get(&object_store::path::Path::from(path)).await {
                Ok(r) => {
                    Some(serde_json::from_slice(&r.bytes().await.expect("bytes")).expect("json"))
                }
                Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => panic!("{path}: {e}"),
            }
        })
    };

    let ttl = Duration::from_secs(5);
    let p = slow_project("  lease_ttl: 5s\n");
    stale_lease_is_taken_over(
        &p,
        &["--storage", "warehouse=s3://lake/curated"],
        &env,
        ttl,
        || get("curated/_parcours/lease.json").expect("lease"),
        |t| {
            get(&format!("curated/{t}/_parcours_commit.json"))
                .map(|v| v["run_id"].as_str().expect("run id").to_string())
        },
    );
    assert!(
        !p.path().join("warehouse").exists(),
        "nothing was written locally"
    );
}
