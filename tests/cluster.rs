//! The reference pipeline on a real Ballista cluster: one `parcours scheduler` and two
//! `parcours executor` processes on loopback, started and stopped by each test. Every published
//! table must hold the local engine's rows, value for value; an executor killed in the middle of a
//! night must not tear a table; an unreachable scheduler fails at once with exit 4.

#![cfg(feature = "cluster")]

mod common;
#[path = "common/s3.rs"]
mod s3;

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Output, TestProject, reference_project};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Two free ports in a row (an executor's Flight port and, next to it, its gRPC port).
fn free_port_pair() -> u16 {
    loop {
        let p = free_port();
        if p < u16::MAX && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not open port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A scheduler and its executors, killed when dropped.
struct Cluster {
    scheduler: Child,
    executors: Vec<Child>,
    port: u16,
    _work: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self
            .executors
            .iter_mut()
            .chain(std::iter::once(&mut self.scheduler))
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Cluster {
    fn start(executors: usize, env: &[(&str, &str)]) -> Cluster {
        let work = tempfile::tempdir().expect("work dir");
        let port = free_port();
        let spawn = |args: &[String], log: &str| {
            let mut c = common::bin();
            c.args(args)
                .env("PARCOURS_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(work.path().join(log)).expect("log"));
            for (k, v) in env {
                c.env(k, v);
            }
            c.spawn().expect("start a cluster process")
        };
        let scheduler = spawn(
            &[
                "scheduler".into(),
                "--port".into(),
                port.to_string(),
                // Lost executors are noticed within seconds, not the default minute.
                "--executor-timeout".into(),
                "6".into(),
            ],
            "scheduler.log",
        );
        wait_for_port(port, "the scheduler");
        let mut children = Vec::new();
        for i in 0..executors {
            let flight = free_port_pair();
            let dir = work.path().join(format!("executor-{i}"));
            children.push(spawn(
                &[
                    "executor".into(),
                    "--scheduler".into(),
                    format!("df://127.0.0.1:{port}"),
                    "--port".into(),
                    flight.to_string(),
                    "--concurrent-tasks".into(),
                    "2".into(),
                    "--work-dir".into(),
                    dir.display().to_string(),
                    "--memory-limit".into(),
                    "1GiB".into(),
                    "--heartbeat".into(),
                    "1".into(),
                ],
                &format!("executor-{i}.log"),
            ));
            wait_for_port(flight, "an executor");
        }
        // Registration is the executor's first call once its services are up.
        std::thread::sleep(Duration::from_secs(2));
        Cluster {
            scheduler,
            executors: children,
            port,
            _work: work,
        }
    }

    fn address(&self) -> String {
        format!("df://127.0.0.1:{}", self.port)
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(self._work.path())
            .expect("logs")
            .flatten()
        {
            if e.path().extension().is_some_and(|x| x == "log") {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(20).collect();
                out.push_str(&format!("--- {}\n", e.file_name().to_string_lossy()));
                for l in tail.into_iter().rev() {
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
        out
    }
}

fn run(p: &TestProject, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec!["--log-format", "json", "run", "--date", "2026-10-31"];
    args.extend_from_slice(extra);
    p.run_env(&args, env)
}

/// Every row of a Parquet file, each rendered as text, prefixed with its partition folder.
/// Files may split differently on a cluster (executors write their own partitions), so tables
/// are compared as sorted rows, every value of every column but the run id, which names the
/// run and so differs between any two (`identity_history` logs it).
fn file_rows<T: parquet::file::reader::ChunkReader + 'static>(dir: &str, data: T) -> Vec<String> {
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(data)
        .expect("a published file is Parquet")
        .build()
        .expect("reader");
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.expect("batch");
        let columns: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .zip(batch.schema().fields())
            .filter(|(_, f)| f.name() != "run_id")
            .map(|(c, _)| ArrayFormatter::try_new(c.as_ref(), &options).expect("formatter"))
            .collect();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = columns.iter().map(|c| c.value(row).to_string()).collect();
            rows.push(format!("{dir} | {}", cells.join(" | ")));
        }
    }
    rows
}

/// Every published table of a local warehouse folder: table → its sorted rows.
fn local_tables(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("warehouse").flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let commit = e.path().join("_parcours_commit.json");
        if name.starts_with('_') || !commit.exists() {
            continue;
        }
        let record: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(commit).expect("commit")).expect("json");
        let mut rows = Vec::new();
        for f in record["files"].as_array().expect("files") {
            let rel = f["path"].as_str().expect("path");
            let data =
                std::fs::File::open(e.path().join(rel)).expect("every file a commit names exists");
            let dir = rel.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            rows.extend(file_rows(dir, data));
        }
        rows.sort();
        out.insert(name, rows);
    }
    out
}

fn assert_same_tables(
    local: &BTreeMap<String, Vec<String>>,
    cluster: &BTreeMap<String, Vec<String>>,
) {
    assert!(
        local.len() > 20,
        "the reference pipeline published {} tables",
        local.len()
    );
    let names: Vec<&String> = local.keys().collect();
    assert_eq!(names, cluster.keys().collect::<Vec<_>>(), "the same tables");
    let differing: Vec<&String> = local
        .keys()
        .filter(|t| local.get(*t) != cluster.get(*t))
        .collect();
    assert!(
        differing.is_empty(),
        "tables that differ from the local engine's: {differing:?}"
    );
}

#[test]
fn the_reference_pipeline_on_a_cluster_publishes_what_the_local_engine_does() {
    let p = reference_project();
    p.generate_into("data/raw", 14, 7, &[]);
    let local = run(&p, &[], &[]);
    assert_eq!(local.code, 0, "{}", local.all());

    let cluster = Cluster::start(2, &[]);
    let out = run(
        &p,
        &[
            "--cluster",
            &cluster.address(),
            "--storage",
            "warehouse=data/wh-cluster",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.all(), cluster.logs());
    assert_same_tables(
        &local_tables(&p.path().join("data/warehouse")),
        &local_tables(&p.path().join("data/wh-cluster")),
    );
    // The log and the run results say where each model ran.
    let ends: Vec<serde_json::Value> = out
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["event"] == "model_end")
        .collect();
    assert!(!ends.is_empty());
    assert!(ends.iter().all(|v| v["engine"] == "ballista"), "{ends:?}");
    // ... and how the job that wrote a model ran: at least one task per stage. Ballista 55's
    // metrics answer fails for some jobs (its stage metrics do not match the stage's
    // operators), so a model may lack the counts, but most have them.
    let written: Vec<&serde_json::Value> = ends.iter().filter(|v| v["rows"].is_u64()).collect();
    let counted: Vec<&&serde_json::Value> =
        written.iter().filter(|v| v["stages"].is_u64()).collect();
    assert!(counted.len() * 2 > written.len(), "{written:?}");
    for v in &counted {
        assert!(v["stages"].as_u64() >= Some(1), "{v}");
        assert!(v["tasks"].as_u64() >= v["stages"].as_u64(), "{v}");
    }
    let results: serde_json::Value =
        serde_json::from_str(&p.read_file("target/run_results.json")).expect("json");
    assert_eq!(results["engine"], format!("ballista {}", cluster.address()));
    assert_eq!(results["success"], true);
    let models = results["results"].as_array().expect("results");
    // More than one stage somewhere: the joins and aggregates were split across executors.
    assert!(
        models.iter().any(|m| m["stages"].as_u64() > Some(1)),
        "{models:?}"
    );
}

/// Every value and export shape the raw contract allows (nulls in every nullable column, every
/// interaction type on every channel, dirty e-mails and phones of every form, a night without
/// an export), over two incremental nights: the cluster publishes the local engine's rows.
#[test]
fn contract_edge_data_over_two_nights_gives_the_local_engine_s_rows() {
    let p = reference_project();
    p.generate_contract_edges("data/raw");
    let cluster = Cluster::start(2, &[]);
    for night in ["2026-10-30", "2026-10-31"] {
        let local = p.run_env(
            &[
                "run",
                "--date",
                night,
                "--storage",
                "warehouse=data/wh-local",
            ],
            &[],
        );
        assert_eq!(local.code, 0, "{night}: {}", local.all());
        let remote = p.run_env(
            &[
                "run",
                "--date",
                night,
                "--cluster",
                &cluster.address(),
                "--storage",
                "warehouse=data/wh-cluster",
            ],
            &[],
        );
        assert_eq!(
            remote.code,
            0,
            "{night}: {}\n{}",
            remote.all(),
            cluster.logs()
        );
    }
    assert_same_tables(
        &local_tables(&p.path().join("data/wh-local")),
        &local_tables(&p.path().join("data/wh-cluster")),
    );
}

/// Every table under `prefix` in a bucket: table → its sorted rows.
async fn bucket_tables(
    store: &std::sync::Arc<dyn object_store::ObjectStore>,
    prefix: &str,
) -> BTreeMap<String, Vec<String>> {
    use object_store::path::Path as P;
    let objects: Vec<String> = store
        .list(Some(&P::from(prefix)))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .expect("list");
    let mut out = BTreeMap::new();
    for commit in objects
        .iter()
        .filter(|o| o.ends_with("/_parcours_commit.json"))
    {
        let table_dir = commit.trim_end_matches("/_parcours_commit.json");
        let table = table_dir.rsplit('/').next().unwrap().to_string();
        if table.starts_with('_') {
            continue;
        }
        let bytes = store
            .get(&P::from(commit.as_str()))
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        let record: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        let mut rows = Vec::new();
        for f in record["files"].as_array().expect("files") {
            let rel = f["path"].as_str().expect("path");
            let data = store
                .get(&P::from(format!("{table_dir}/{rel}")))
                .await
                .expect("every file a commit names exists")
                .bytes()
                .await
                .expect("bytes");
            let dir = rel.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            rows.extend(file_rows(dir, data));
        }
        rows.sort();
        out.insert(table, rows);
    }
    out
}

#[test]
fn on_s3_the_executors_read_and_write_the_bucket_with_their_own_credentials() {
    let moto = s3::Moto::start();
    moto.create_bucket("lake");
    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = reference_project();
    p.generate_into("s3://lake/raw", 14, 7, &env);
    let raw = ["--storage", "raw=s3://lake/raw"];
    let mut args = raw.to_vec();
    args.extend(["--storage", "warehouse=s3://lake/wh-local"]);
    let local = run(&p, &args, &env);
    assert_eq!(local.code, 0, "{}", local.all());

    let cluster = Cluster::start(2, &env);
    let address = cluster.address();
    let mut args = raw.to_vec();
    args.extend([
        "--storage",
        "warehouse=s3://lake/wh-cluster",
        "--cluster",
        &address,
    ]);
    let out = run(&p, &args, &env);
    assert_eq!(out.code, 0, "{}\n{}", out.all(), cluster.logs());
    assert!(!out.all().contains(s3::SECRET_KEY), "the secret key leaked");
    assert!(
        !cluster.logs().contains(s3::SECRET_KEY),
        "the secret key leaked into a cluster log"
    );

    let store = moto.store("lake");
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let (a, b) = rt.block_on(async {
        (
            bucket_tables(&store, "wh-local").await,
            bucket_tables(&store, "wh-cluster").await,
        )
    });
    assert_same_tables(&a, &b);
}

#[test]
fn an_executor_killed_mid_run_tears_no_table_and_the_next_night_succeeds() {
    let p = reference_project();
    p.generate_into("data/raw", 14, 7, &[]);
    let local = run(&p, &["--storage", "warehouse=data/wh-local"], &[]);
    assert_eq!(local.code, 0, "{}", local.all());

    let mut cluster = Cluster::start(2, &[]);
    let address = cluster.address();
    let mut child = common::bin()
        .arg("--project-dir")
        .arg(p.path())
        .args(["run", "--date", "2026-10-31", "--cluster", &address])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(p.path().join("run.log")).expect("log"))
        .spawn()
        .expect("start the run");
    // Kill one executor once the night is well under way: some tables published, most not.
    let first_commit = Instant::now() + Duration::from_secs(300);
    loop {
        let published = std::fs::read_dir(p.path().join("data/warehouse"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().join("_parcours_commit.json").exists())
                    .count()
            })
            .unwrap_or(0);
        if published >= 3 || child.try_wait().expect("poll").is_some() {
            break;
        }
        assert!(Instant::now() < first_commit, "the run published nothing");
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut victim = cluster.executors.remove(0);
    victim.kill().expect("SIGKILL an executor");
    victim.wait().expect("reap");
    // A night that never ends is the failure this test exists to catch: bound the wait.
    let deadline = Instant::now() + Duration::from_secs(600);
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the run did not end within 10 minutes of the kill\n{}\n{}",
                p.read_file("run.log"),
                cluster.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let code = status.code().unwrap_or(-1);
    let stderr = p.read_file("run.log");
    // Either Ballista ran the lost tasks on the other executor, or the failed models say so;
    // a model never fails silently and the process never panics.
    assert!(
        code == 0 || code == 1,
        "exit {code}: {stderr}\n{}",
        cluster.logs()
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Whatever failed, every table that is published is whole: each file its commit names is
    // there (local_tables reads every one).
    let after_kill = local_tables(&p.path().join("data/warehouse"));
    assert!(!after_kill.is_empty());

    // The next night, on the one executor left, succeeds and equals the local engine's.
    let again = run(&p, &["--cluster", &address], &[]);
    assert_eq!(again.code, 0, "{}\n{}", again.all(), cluster.logs());
    assert_same_tables(
        &local_tables(&p.path().join("data/wh-local")),
        &local_tables(&p.path().join("data/warehouse")),
    );
}

#[test]
fn an_unreachable_scheduler_fails_at_once_with_exit_4_and_its_address() {
    let p = reference_project();
    let address = format!("df://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let out = run(&p, &["--cluster", &address], &[]);
    assert_eq!(out.code, 4, "{}", out.all());
    assert!(out.stderr.contains(&address), "{}", out.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    // Nothing was leased or written.
    assert!(!p.path().join("data/warehouse/_parcours").exists());
}

#[test]
fn a_bad_engine_is_a_configuration_error_with_its_line() {
    let p = reference_project();
    let yaml = p.read_file("pipelines.yaml").replace(
        "execution:\n",
        "execution:\n  engine: {ballista: {scheduler: http://host:50050}}\n",
    );
    p.write_file("pipelines.yaml", &yaml);
    let out = p.run(&["validate"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("pipelines.yaml:"), "{}", out.stderr);
    assert!(out.stderr.contains("df://"), "{}", out.stderr);
}
