//! Crash safety: `parcours run` is killed with SIGKILL at 30 points of a run, on a local
//! warehouse and on an S3 one (moto on loopback), and at 16 more on S3 with every table in
//! Delta Lake format, read back through its Delta log with delta-rs. After every kill each published table must
//! read, through its commit record as a BI reader following it does, as exactly the previous
//! version (A) or exactly the new one (B): never a mix, never missing, every listed file there
//! with the rows the record gives. On local folders nothing may lie beside the live files even
//! mid-publish. The next run must then succeed, publish B, and leave nothing in the warehouse
//! that no commit record lists: no staging leftovers, no orphan copies, no replaced version.
//!
//! Kill points come in two kinds. Most are the run's own debug log events (`--log-format json
//! -v`: the runner's `model_start`, the publisher's `staged`, `publishing`, `copied` or
//! `assembled`, `committed`, `cleaned`), read from the child's stderr, sometimes plus a delay.
//! Models run one at a time (the fixture sets `execution.threads: 1`), so an event is the same
//! state in every run, but the child goes on for the moment the kill takes to arrive: what it
//! really reached is read back from the pipe, and the assertions allow for it. The others stop
//! the run inside one S3 request, deterministically: the run talks to moto through a [`Relay`]
//! that, when the chosen request starts, lets its headers and part or all of its body through
//! and then freezes every connection until the kill. That is how uploads are cut mid-body and
//! how a commit record can reach the server while the run never hears back.

mod common;
#[path = "common/delta.rs"]
mod delta;
#[path = "common/s3.rs"]
mod s3;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path as FsPath, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use Version::{A, B};
use common::TestProject;

/// The published tables of the fixture.
const TABLES: [&str; 4] = ["fct_events", "dim_customer", "agg_daily", "event_log"];
const COMMIT: &str = "_parcours_commit.json";
const BUCKET: &str = "lake";
/// Run 1 (version A) and run 2 (version B): B recomputes the last three days, keeps the fourth.
const DATE_A: &str = "2026-11-21";
const DATE_B: &str = "2026-11-22";
/// Events per export day: the largest table (event_log) comes to about 4 MB.
const EVENTS_PER_DAY: usize = 30_000;

/// A table's content: one line per row (partition folder first for partitioned tables), sorted.
type Rows = Vec<String>;

/// A small deterministic generator, so the raw data (and every expected table) is reproducible.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One export day of events; `variant` changes amounts and adds rows, as a re-export would.
fn write_events(p: &TestProject, raw: &str, day: &str, variant: u64) {
    let n = EVENTS_PER_DAY + variant as usize * 1_000;
    let start = common::micros(&format!("{day}T00:00:00Z"));
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ start as u64);
    let ids: Vec<String> = (0..n).map(|i| format!("{day}-{i:06}")).collect();
    let ts: Vec<i64> = (0..n).map(|i| start + i as i64 * 2_000_000).collect();
    let customers: Vec<String> = (0..n).map(|i| format!("c{:04}", i % 2_000)).collect();
    let amounts: Vec<i64> = (0..n)
        .map(|i| ((i as u64 * 7 + variant * 13) % 1_000) as i64)
        .collect();
    // Incompressible text, so that the files are as large as their row count suggests.
    let payloads: Vec<String> = (0..n)
        .map(|_| format!("{:016x}{:016x}", rng.next(), rng.next()))
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new(
            "event_ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("amount", DataType::Int64, false),
        Field::new("payload", DataType::Utf8, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
        Arc::new(StringArray::from(customers)),
        Arc::new(Int64Array::from(amounts)),
        Arc::new(StringArray::from(payloads)),
    ];
    let batch = RecordBatch::try_new(schema, cols).expect("batch");
    p.write_parquet(
        &format!("{raw}/events/export_date={day}/part-0.parquet"),
        &batch,
    );
}

fn write_customers(p: &TestProject, raw: &str, count: usize, renamed_country: &str) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("country", DataType::Utf8, true),
    ]));
    let ids: Vec<String> = (0..count).map(|i| format!("c{i:04}")).collect();
    let countries: Vec<Option<&str>> = (0..count)
        .map(|i| match i % 4 {
            0 => Some("FR"),
            1 => Some(renamed_country),
            2 => Some("DE"),
            _ => None,
        })
        .collect();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(StringArray::from(countries)),
    ];
    let batch = RecordBatch::try_new(schema, cols).expect("batch");
    p.write_parquet(&format!("{raw}/customers/part-0.parquet"), &batch);
}

/// Raw data A (`raw_a/`) and B (`raw_b/`): B re-exports the last day with other amounts and
/// more rows, adds a day, adds customers and renames a country.
fn write_raw(p: &TestProject) {
    for day in ["2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21"] {
        write_events(p, "raw_a", day, 0);
        write_events(p, "raw_b", day, u64::from(day == "2026-11-21"));
    }
    write_events(p, "raw_b", "2026-11-22", 2);
    write_customers(p, "raw_a", 2_000, "BE");
    write_customers(p, "raw_b", 2_100, "NL");
}

/// A warehouse root as parcours sees it (`--storage warehouse=…`) and as the test reads it.
struct Warehouse {
    arg: String,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// The folder, for a local warehouse.
    dir: Option<PathBuf>,
    /// Its tables are Delta tables: read through their Delta log, which is their only record.
    delta: bool,
}

impl Warehouse {
    fn local(dir: &FsPath) -> Warehouse {
        std::fs::create_dir_all(dir).expect("mkdir");
        Warehouse {
            arg: format!("warehouse={}", dir.display()),
            store: Arc::new(
                object_store::local::LocalFileSystem::new_with_prefix(dir).expect("local store"),
            ),
            prefix: Path::default(),
            dir: Some(dir.to_path_buf()),
            delta: false,
        }
    }

    fn s3(moto: &s3::Moto, bucket: &str, prefix: &str) -> Warehouse {
        Warehouse {
            arg: format!("warehouse=s3://{bucket}/{prefix}"),
            store: moto.store(bucket),
            prefix: Path::from(prefix),
            dir: None,
            delta: false,
        }
    }

    /// An S3 warehouse of Delta tables.
    fn s3_delta(moto: &s3::Moto, bucket: &str, prefix: &str) -> Warehouse {
        Warehouse {
            delta: true,
            ..Warehouse::s3(moto, bucket, prefix)
        }
    }

    fn delta_table(&self, table: &str) -> delta::Table {
        delta::Table::in_bucket(
            self.store.clone(),
            &format!("s3://{BUCKET}/"),
            self.prefix.as_ref(),
            table,
        )
    }

    fn path(&self, rel: &str) -> Path {
        rel.split('/')
            .filter(|s| !s.is_empty())
            .fold(self.prefix.clone(), |p, s| p.join(s))
    }

    /// Every object below `rel`, relative to it, sorted.
    async fn list(&self, rel: &str) -> Vec<String> {
        let base = self.path(rel);
        let mut out: Vec<String> = self
            .store
            .list(Some(&base))
            .map_ok(|m| {
                m.location
                    .prefix_match(&base)
                    .map(|parts| {
                        parts
                            .map(|s| s.as_ref().to_string())
                            .collect::<Vec<_>>()
                            .join("/")
                    })
                    .unwrap_or_default()
            })
            .try_collect()
            .await
            .expect("list");
        out.sort();
        out
    }

    async fn commit_record(&self, table: &str) -> Option<serde_json::Value> {
        match self
            .store
            .get(&self.path(&format!("{table}/{COMMIT}")))
            .await
        {
            Ok(r) => Some(serde_json::from_slice(&r.bytes().await.expect("bytes")).expect("json")),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("reading the commit record of {table}: {e}"),
        }
    }

    /// The live files of a table as (path in the table folder, partition folder, rows), and
    /// the table's rows: what its commit record lists, or its Delta snapshot (delta-rs's log
    /// replay, each file's partition value from the log).
    async fn live_files(&self, table: &str) -> Result<(Vec<(String, String, u64)>, u64), String> {
        if self.delta {
            let snap = self.delta_table(table).snapshot(None).await?;
            let col = snap.partition_columns.first().cloned();
            let files: Vec<(String, String, u64)> = snap
                .files
                .iter()
                .map(|f| {
                    let partition = match (&col, &f.partition) {
                        (Some(c), Some(v)) => format!("{c}={v}"),
                        _ => String::new(),
                    };
                    (f.path.clone(), partition, f.rows.unwrap_or(0) as u64)
                })
                .collect();
            let total = files.iter().map(|f| f.2).sum();
            return Ok((files, total));
        }
        let record = self
            .commit_record(table)
            .await
            .ok_or_else(|| format!("{table}: no commit record"))?;
        let files = record["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| {
                let rel = f["path"].as_str().expect("path").to_string();
                let partition = rel
                    .rsplit_once('/')
                    .map(|(d, _)| d)
                    .unwrap_or("")
                    .to_string();
                (rel, partition, f["rows"].as_u64().unwrap_or(u64::MAX))
            })
            .collect();
        Ok((files, record["rows"].as_u64().unwrap_or(u64::MAX)))
    }

    /// Reads a table as a BI reader following the commit record (or the Delta log) does:
    /// exactly the files it lists, each of which must exist and hold the rows the record
    /// says. `Err` says what is wrong with the published table.
    async fn read(&self, table: &str) -> Result<Rows, String> {
        let (files, expected) = self.live_files(table).await?;
        let mut rows = Vec::new();
        let mut total = 0;
        for (rel, partition, listed_rows) in &files {
            let bytes = self
                .store
                .get(&self.path(&format!("{table}/{rel}")))
                .await
                .map_err(|e| format!("{table}/{rel}, listed by the commit record: {e}"))?
                .bytes()
                .await
                .map_err(|e| format!("{table}/{rel}: {e}"))?;
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
                    .and_then(|b| b.build())
                    .map_err(|e| format!("{table}/{rel} is not readable Parquet: {e}"))?;
            let mut file_rows = 0;
            for batch in reader {
                let batch = batch.map_err(|e| format!("{table}/{rel}: {e}"))?;
                file_rows += batch.num_rows() as u64;
                rows.extend(render(&batch, partition));
            }
            if file_rows != *listed_rows {
                return Err(format!(
                    "{table}/{rel} holds {file_rows} rows, its commit record says {listed_rows}"
                ));
            }
            total += file_rows;
        }
        if total != expected {
            return Err(format!(
                "{table}: {total} rows in its files, {expected} in its record"
            ));
        }
        rows.sort();
        Ok(rows)
    }

    /// What a table folder holds that is not data: the commit record, or the Delta log.
    fn is_record(&self, rel: &str) -> bool {
        if self.delta {
            rel.starts_with("_delta_log/")
        } else {
            rel == COMMIT
        }
    }

    /// Objects in the table folder that its commit record (or Delta snapshot) does not list
    /// (a crashed run's copies, or the files of the version it replaced).
    async fn orphans(&self, table: &str) -> Vec<String> {
        let (files, _) = self.live_files(table).await.expect("live files");
        let listed: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
        self.list(table)
            .await
            .into_iter()
            .filter(|f| !self.is_record(f) && !listed.contains(&f.as_str()))
            .collect()
    }

    async fn read_all(&self) -> BTreeMap<&'static str, Result<Rows, String>> {
        let mut out = BTreeMap::new();
        for t in TABLES {
            out.insert(t, self.read(t).await);
        }
        out
    }

    /// Copies every object of `from` into this warehouse (version A for one kill point).
    async fn copy_from(&self, from: &Warehouse) {
        for rel in from.list("").await {
            if self.dir.is_none() && from.dir.is_none() {
                // Both in the one test bucket: a server-side copy.
                self.store
                    .copy(&from.path(&rel), &self.path(&rel))
                    .await
                    .expect("copy");
            } else {
                // Bytes, not the local store's hard links: a run must not share inodes with
                // the seed it was copied from.
                let bytes = from
                    .store
                    .get(&from.path(&rel))
                    .await
                    .expect("get")
                    .bytes()
                    .await
                    .expect("bytes");
                self.store
                    .put(&self.path(&rel), bytes.into())
                    .await
                    .expect("put");
            }
        }
    }
}

/// Each row's cells as text, `|`-separated, after the partition folder (`""` for none).
fn render(batch: &RecordBatch, partition: &str) -> Vec<String> {
    let cols: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| arrow::compute::cast(c, &DataType::Utf8).expect("cast"))
        .collect();
    (0..batch.num_rows())
        .map(|row| {
            let mut line = partition.to_string();
            for c in &cols {
                let c = c.as_string::<i32>();
                line.push('|');
                if c.is_valid(row) {
                    line.push_str(c.value(row));
                } else {
                    line.push('∅');
                }
            }
            line
        })
        .collect()
}

/// The crash fixture with every table in Delta format, replaced files vacuumed at once so
/// that the next run must leave nothing but the logs and the live files.
fn delta_fixture() -> TestProject {
    let p = common::fixture("crash");
    let config = p.read_file("pipelines.yaml").replace(
        "  defaults:\n    materialization: table\n",
        "  defaults:\n    materialization: table\n    format: delta\n    vacuum_retention: 0s\n",
    );
    assert!(config.contains("format: delta"));
    p.write_file("pipelines.yaml", &config);
    p
}

/// A copy of the fixture project that runs read the raw data of `raw` from.
struct Fixture {
    project: TestProject,
    /// The folder holding `raw_a/` and `raw_b/`.
    raw: PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Fixture {
    fn args(&self, raw: &str, date: &str, wh: &Warehouse) -> Vec<String> {
        [
            "--project-dir",
            &self.project.path().display().to_string(),
            "--log-format",
            "json",
            "-v",
            "run",
            "--date",
            date,
            "--storage",
            &format!("raw={}", self.raw.join(raw).display()),
            "--storage",
            &wh.arg,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// A complete run; panics with its log when it fails.
    fn run(&self, raw: &str, date: &str, wh: &Warehouse) {
        let out = common::bin()
            .args(self.args(raw, date, wh))
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("run parcours");
        assert!(
            out.status.success(),
            "run into {} failed:\n{}",
            wh.arg,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs B and SIGKILLs it at `point`, its S3 requests going through `relay` when given.
    /// Returns the events the child logged, in order, the request it was stopped in, if any,
    /// and whether the kill ended it (a late point can find the run already finished).
    fn run_killed(&self, wh: &Warehouse, point: &KillPoint, relay: Option<&Relay>) -> Killed {
        let mut cmd = common::bin();
        cmd.args(self.args("raw_b", DATE_B, wh))
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let (tx, rx) = mpsc::channel();
        if let (Some(relay), When::Request { .. }) = (relay, &point.when) {
            cmd.env("AWS_ENDPOINT_URL", relay.endpoint());
            relay.arm(point, &wh.prefix, tx.clone());
        }
        let mut child = cmd.spawn().expect("start parcours");
        // Read stderr on its own thread: a request kill point waits on the relay instead, and
        // what the child wrote before it died is still in the pipe after the kill.
        let stderr = child.stderr.take().expect("stderr");
        let reader = std::thread::spawn(move || {
            let mut events = Vec::new();
            let mut log = String::new();
            for line in BufReader::new(stderr).lines() {
                let line = line.expect("stderr line");
                log.push_str(&line);
                log.push('\n');
                if let Some(ev) = event_of(&line) {
                    events.push(ev.clone());
                    let _ = tx.send(Signal::Event(ev));
                }
            }
            let _ = tx.send(Signal::Exited);
            (events, log)
        });
        let request = loop {
            match rx.recv_timeout(Duration::from_secs(120)) {
                Ok(Signal::Event(ev)) => {
                    if matches!(point.when, When::Event(e) if e == ev) {
                        break None;
                    }
                }
                Ok(Signal::Request(line)) => break Some(line),
                Ok(Signal::Exited) | Err(_) => {
                    let _ = child.kill();
                    let (_, log) = reader.join().expect("stderr reader");
                    panic!("kill point {point} never came; the run logged:\n{log}");
                }
            }
        };
        if point.delay_ms > 0 {
            std::thread::sleep(Duration::from_millis(point.delay_ms));
        }
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        if let Some(relay) = relay {
            relay.disarm();
        }
        let (events, log) = reader.join().expect("stderr reader");
        let killed = status.signal() == Some(libc::SIGKILL);
        assert!(
            killed || status.success(),
            "the run failed by itself ({status}) before the kill at {point}:\n{log}"
        );
        Killed {
            events,
            request,
            killed,
        }
    }
}

/// What a killed run got to.
struct Killed {
    events: Vec<String>,
    /// The request line the relay stopped the run in.
    request: Option<String>,
    killed: bool,
}

enum Signal {
    Event(String),
    Request(String),
    Exited,
}

/// `event:model`, or `event` for run-wide events, of one JSON log line.
fn event_of(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let event = v["event"].as_str()?;
    Some(match v["model"].as_str() {
        Some(m) => format!("{event}:{m}"),
        None => event.to_string(),
    })
}

/// How much of the request a kill point stops in reaches the server.
#[derive(Clone, Copy)]
enum Sent {
    /// The request line and headers: an upload that had just begun.
    Headers,
    /// The headers and this many bytes of the body: an upload cut short.
    Body(usize),
    /// All of it: the server acts on it, the run never hears back.
    All,
}

enum When {
    /// Right after this log event (`event:model`).
    Event(&'static str),
    /// In the first S3 request whose request line starts with `line` and that holds `has`
    /// (in its line, headers or body, e.g. a bulk delete's keys). `{wh}` stands for the
    /// warehouse's `<bucket>/<prefix>`, `{bucket}` and `{key}` for its bucket and key prefix.
    Request {
        line: &'static str,
        has: &'static str,
        sent: Sent,
    },
}

/// Where a run is killed, plus a delay; `expect` is a table's version there when the point
/// pins it down.
struct KillPoint {
    when: When,
    delay_ms: u64,
    expect: Option<(&'static str, Version)>,
}

impl std::fmt::Display for KillPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.when {
            When::Event(e) => write!(f, "{e}")?,
            When::Request { line, has, sent } => {
                write!(f, "{}", line.replace("{wh}/", "").replace("{bucket}", "…"))?;
                if !has.is_empty() {
                    write!(f, " [{}]", has.replace("{key}/", ""))?;
                }
                match sent {
                    Sent::Headers => write!(f, " (headers)")?,
                    Sent::Body(n) => write!(f, " ({} KiB)", n / 1024)?,
                    Sent::All => write!(f, " (all)")?,
                }
            }
        }
        if self.delay_ms > 0 {
            write!(f, " +{}ms", self.delay_ms)?;
        }
        Ok(())
    }
}

const fn at(event: &'static str) -> KillPoint {
    KillPoint {
        when: When::Event(event),
        delay_ms: 0,
        expect: None,
    }
}

const fn after(event: &'static str, delay_ms: u64) -> KillPoint {
    KillPoint {
        when: When::Event(event),
        delay_ms,
        expect: None,
    }
}

const fn request(
    line: &'static str,
    has: &'static str,
    sent: Sent,
    expect: Option<(&'static str, Version)>,
) -> KillPoint {
    KillPoint {
        when: When::Request { line, has, sent },
        delay_ms: 0,
        expect,
    }
}

/// A TCP relay between a parcours run and moto. When a request matching the armed kill point
/// starts, it lets that request's headers and the chosen part of its body through, then
/// freezes every connection both ways: the run is stopped inside that request, with whatever
/// else it had in flight, until the test kills it.
struct Relay {
    port: u16,
    shared: Arc<RelayShared>,
}

#[derive(Default)]
struct RelayShared {
    frozen: AtomicBool,
    armed: Mutex<Option<Armed>>,
}

/// The request the relay waits for.
struct Armed {
    /// How its request line starts.
    line: String,
    /// Text its line, headers or body must hold.
    has: String,
    sent: Sent,
    /// Told the request line once the request is stopped.
    tx: mpsc::Sender<Signal>,
}

impl Relay {
    fn start(upstream: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(RelayShared::default());
        let sh = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (client2, server2) = match (client.try_clone(), server.try_clone()) {
                    (Ok(c), Ok(s)) => (c, s),
                    _ => continue,
                };
                let up = sh.clone();
                std::thread::spawn(move || pump_requests(&up, client, server));
                let down = sh.clone();
                std::thread::spawn(move || pump_responses(&down, server2, client2));
            }
        });
        Relay { port, shared }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn arm(&self, point: &KillPoint, prefix: &Path, tx: mpsc::Sender<Signal>) {
        let When::Request { line, has, sent } = point.when else {
            return;
        };
        let fill = |t: &str| {
            t.replace("{wh}", &format!("{BUCKET}/{prefix}"))
                .replace("{bucket}", BUCKET)
                .replace("{key}", prefix.as_ref())
        };
        *self.shared.armed.lock().expect("relay") = Some(Armed {
            line: fill(line),
            has: fill(has),
            sent,
            tx,
        });
        self.shared.frozen.store(false, Ordering::SeqCst);
    }

    fn disarm(&self) {
        *self.shared.armed.lock().expect("relay") = None;
        self.shared.frozen.store(false, Ordering::SeqCst);
    }
}

enum Found {
    /// Where the armed request starts, how many of its bytes may pass, its request line and
    /// whom to tell once they have.
    Request(usize, usize, String, mpsc::Sender<Signal>),
    /// A request that may be the armed one starts here, but the text it must hold is in body
    /// bytes not read yet.
    Undecided(usize),
}

/// Looks for the armed request in `data`; disarms the relay when found.
fn match_request(sh: &RelayShared, data: &[u8]) -> Option<Found> {
    let mut armed = sh.armed.lock().expect("relay");
    let Armed {
        line: prefix,
        has,
        sent,
        ..
    } = armed.as_ref()?;
    let start = data
        .windows(prefix.len())
        .position(|w| w == prefix.as_bytes())?;
    let rest = &data[start..];
    let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
    let line = String::from_utf8_lossy(&rest[..line_end]).into_owned();
    let headers = rest
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4);
    let body_len: usize = String::from_utf8_lossy(&rest[..headers.unwrap_or(rest.len())])
        .to_ascii_lowercase()
        .split("\r\n")
        .find_map(|h| h.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if !has.is_empty() && !rest.windows(has.len()).any(|w| w == has.as_bytes()) {
        // Small bodies (a bulk delete's keys) come in a read of their own: wait for them.
        let body_read = headers.map_or(0, |h| rest.len() - h);
        return (headers.is_none() || (body_read < body_len && body_len <= 64 * 1024))
            .then_some(Found::Undecided(start));
    }
    let headers = headers.unwrap_or(rest.len());
    let pass = headers
        + match sent {
            Sent::Headers => 0,
            Sent::Body(n) => (*n).min(body_len),
            Sent::All => body_len,
        };
    let tx = armed.take()?.tx;
    Some(Found::Request(start, pass, line, tx))
}

/// Client to server: forwards until the armed request has passed as far as it may, then
/// drops everything.
fn pump_requests(sh: &RelayShared, mut client: TcpStream, mut server: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    // Bytes of a request that may be the armed one, held back until that is known.
    let mut held: Vec<u8> = Vec::new();
    // The armed request's bytes still to pass, its line and whom to tell.
    let mut passing: Option<(usize, String, mpsc::Sender<Signal>)> = None;
    while let Ok(n) = client.read(&mut buf) {
        if n == 0 {
            break;
        }
        held.extend_from_slice(&buf[..n]);
        let data = std::mem::take(&mut held);
        let mut chunk = &data[..];
        if passing.is_none() && !sh.frozen.load(Ordering::SeqCst) {
            match match_request(sh, chunk) {
                Some(Found::Undecided(start)) => {
                    if server.write_all(&chunk[..start]).is_err() {
                        break;
                    }
                    held = chunk[start..].to_vec();
                    continue;
                }
                Some(Found::Request(start, pass, line, tx)) => {
                    if server.write_all(&chunk[..start]).is_err() {
                        break;
                    }
                    chunk = &chunk[start..];
                    passing = Some((pass, line, tx));
                }
                None => {}
            }
        }
        if let Some((left, line, tx)) = passing.take() {
            let k = left.min(chunk.len());
            if server.write_all(&chunk[..k]).is_err() {
                break;
            }
            if left == k {
                sh.frozen.store(true, Ordering::SeqCst);
                let _ = tx.send(Signal::Request(line));
            } else {
                passing = Some((left - k, line, tx));
            }
        } else if !sh.frozen.load(Ordering::SeqCst) && server.write_all(chunk).is_err() {
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Both);
}

/// Server to client: forwards unless frozen.
fn pump_responses(sh: &RelayShared, mut server: TcpStream, mut client: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = server.read(&mut buf) {
        if n == 0 {
            break;
        }
        if !sh.frozen.load(Ordering::SeqCst) && client.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// Local publishing: staged files are assembled into a new folder, which one
/// `renameat2(RENAME_EXCHANGE)` swaps with the live one. The run's last milliseconds are left
/// out: a kill there could find the run already finished.
const LOCAL_POINTS: &[KillPoint] = &[
    at("run_start"),
    at("model_start:dim_customer"),
    at("staged:dim_customer"),
    at("publishing:dim_customer"),
    at("assembled:dim_customer"),
    at("committed:dim_customer"),
    after("model_start:event_log", 100),
    at("staged:event_log"),
    at("assembled:event_log"),
    at("staged:fct_events"),
    at("assembled:fct_events"),
    at("committed:fct_events"),
    at("cleaned:fct_events"),
];

/// Object-store publishing: staged files are uploaded, copied under their new names, then the
/// commit record is replaced and obsolete files are deleted. The request points stop the run
/// inside one S3 request (see [`Relay`]); where that decides a table's version, it is checked.
const S3_POINTS: &[KillPoint] = &[
    at("run_start"),
    request(
        "PUT /{wh}/_parcours/staging/",
        "/dim_customer/",
        Sent::Headers,
        None,
    ),
    at("staged:dim_customer"),
    at("copied:dim_customer"),
    at("committed:dim_customer"),
    after("model_start:event_log", 100),
    // The largest table's staging upload, cut after 1 MiB of about 4.
    request(
        "PUT /{wh}/_parcours/staging/",
        "/event_log/",
        Sent::Body(1 << 20),
        None,
    ),
    // A server-side copy done, unacknowledged.
    request(
        "PUT /{wh}/event_log/part-",
        "",
        Sent::All,
        Some(("event_log", A)),
    ),
    // The commit record's PUT begun but its body never sent, then sent but unacknowledged.
    request(
        "PUT /{wh}/event_log/_parcours_commit.json",
        "",
        Sent::Headers,
        Some(("event_log", A)),
    ),
    request(
        "PUT /{wh}/event_log/_parcours_commit.json",
        "",
        Sent::All,
        Some(("event_log", B)),
    ),
    // The previous version's file deleted (object_store deletes with bulk-delete POSTs).
    request(
        "POST /{bucket}?delete",
        "<Key>{key}/event_log/part-",
        Sent::All,
        Some(("event_log", B)),
    ),
    at("staged:fct_events"),
    request(
        "PUT /{wh}/fct_events/",
        "/part-",
        Sent::All,
        Some(("fct_events", A)),
    ),
    at("committed:fct_events"),
    request(
        "POST /{bucket}?delete",
        "<Key>{key}/fct_events/",
        Sent::All,
        Some(("fct_events", B)),
    ),
    at("copied:agg_daily"),
    at("committed:agg_daily"),
];

/// Delta tables on S3: staged files are uploaded and copied under their new names, then ONE
/// object, the table's next Delta log entry, is created with a conditional put, and files
/// older versions no longer list are vacuumed (at once: the fixture's vacuum_retention is 0s).
/// The log entry's PUT decides the version: begun but not sent, A; sent but never
/// acknowledged, B.
const DELTA_S3_POINTS: &[KillPoint] = &[
    at("run_start"),
    request(
        "PUT /{wh}/_parcours/staging/",
        "/dim_customer/",
        Sent::Headers,
        None,
    ),
    at("staged:dim_customer"),
    at("copied:dim_customer"),
    at("committed:dim_customer"),
    after("model_start:event_log", 100),
    request(
        "PUT /{wh}/_parcours/staging/",
        "/event_log/",
        Sent::Body(1 << 20),
        None,
    ),
    request(
        "PUT /{wh}/event_log/part-",
        "",
        Sent::All,
        Some(("event_log", A)),
    ),
    request(
        "PUT /{wh}/event_log/_delta_log/00000000000000000001.json",
        "",
        Sent::Headers,
        Some(("event_log", A)),
    ),
    request(
        "PUT /{wh}/event_log/_delta_log/00000000000000000001.json",
        "",
        Sent::All,
        Some(("event_log", B)),
    ),
    // Version A's file vacuumed once B is committed.
    request(
        "POST /{bucket}?delete",
        "<Key>{key}/event_log/part-",
        Sent::All,
        Some(("event_log", B)),
    ),
    at("staged:fct_events"),
    request(
        "PUT /{wh}/fct_events/_delta_log/",
        "",
        Sent::Headers,
        Some(("fct_events", A)),
    ),
    at("committed:fct_events"),
    at("copied:agg_daily"),
    at("committed:agg_daily"),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Version {
    A,
    B,
}

struct Expected {
    a: BTreeMap<&'static str, Rows>,
    b: BTreeMap<&'static str, Rows>,
}

/// What one kill point did.
struct Outcome {
    point: String,
    /// The last event the child logged before it died.
    last: String,
    killed: bool,
    /// Each table's version right after the kill, in `TABLES` order.
    versions: Vec<Version>,
    /// Files beside the live ones, which only the commit record tells apart (object stores).
    orphans: usize,
    /// Objects the killed run left under `_parcours/staging`.
    staging: usize,
    /// The S3 request the run was stopped in.
    request: Option<String>,
}

/// Kills run B at every point in a fresh copy of version A, checks what readers see, reruns.
fn kill_at_every_point(
    f: &Fixture,
    backend: &str,
    points: &[KillPoint],
    seed: &Warehouse,
    warehouse: impl Fn(usize) -> Warehouse,
    relay: Option<&Relay>,
    expected: &Expected,
) -> Vec<Outcome> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut outcomes = Vec::new();
    for (i, point) in points.iter().enumerate() {
        let wh = warehouse(i);
        rt.block_on(wh.copy_from(seed));
        let Killed {
            events,
            request,
            killed,
        } = f.run_killed(&wh, point, relay);
        let last = events.last().cloned().unwrap_or_default();
        let at = format!("{backend}, killed at {point} (last event {last})");

        let state = rt.block_on(wh.read_all());
        let mut versions = Vec::new();
        let mut orphans = 0;
        for t in TABLES {
            let rows = state[t]
                .as_ref()
                .unwrap_or_else(|e| panic!("{at}: {t} is not whole: {e}"));
            let version = if *rows == expected.a[t] {
                Version::A
            } else if *rows == expected.b[t] {
                Version::B
            } else {
                panic!(
                    "{at}: {t} is neither version A ({} rows) nor B ({} rows) but {} rows",
                    expected.a[t].len(),
                    expected.b[t].len(),
                    rows.len()
                )
            };
            // The events are logged before the swap starts and once it is done.
            if events.contains(&format!("committed:{t}")) {
                assert_eq!(version, Version::B, "{at}: {t} was committed");
            }
            if !events.contains(&format!("publishing:{t}")) {
                assert_eq!(version, Version::A, "{at}: {t} was never being published");
            }
            if let Some((table, v)) = point.expect
                && table == t
            {
                assert_eq!(version, v, "{at}: {t}");
            }
            let unlisted = rt.block_on(wh.orphans(t));
            // The folder exchange leaves nothing beside the live files, even mid-publish, so a
            // reader that lists the folder sees one version too.
            if wh.dir.is_some() {
                assert!(
                    unlisted.is_empty(),
                    "{at}: {t} has unlisted files {unlisted:?}"
                );
            }
            orphans += unlisted.len();
            versions.push(version);
        }
        let staging = rt.block_on(wh.list("_parcours/staging")).len();

        f.run("raw_b", DATE_B, &wh);
        let state = rt.block_on(wh.read_all());
        for t in TABLES {
            match &state[t] {
                Ok(rows) => assert!(
                    *rows == expected.b[t],
                    "{at}: after the next run, {t} is not version B"
                ),
                Err(e) => panic!("{at}: after the next run, {t} is not whole: {e}"),
            }
        }
        // Nothing but the commit records and the files they list: no staging leftovers, no
        // orphans of the killed run, no version the records no longer name.
        let mut wanted = Vec::new();
        for t in TABLES {
            if !wh.delta {
                wanted.push(format!("{t}/{COMMIT}"));
            }
            let (files, _) = rt.block_on(wh.live_files(t)).expect("live files");
            for (rel, _, _) in files {
                wanted.push(format!("{t}/{rel}"));
            }
        }
        wanted.sort();
        let mut left = rt.block_on(wh.list(""));
        // The warehouse lease (src/run/lease.rs) stays, released, between runs, and so do the
        // run summaries the site's trends read (src/site/history.rs) and each Delta table's
        // log (the fixture's vacuum_retention of 0s vacuums every file the rerun replaced).
        left.retain(|rel| {
            !rel.starts_with("_parcours/lease.")
                && !rel.starts_with("_parcours/runs/")
                && !rel
                    .split_once('/')
                    .is_some_and(|(t, r)| TABLES.contains(&t) && wh.delta && wh.is_record(r))
        });
        assert_eq!(
            left, wanted,
            "{at}: the next run left objects that no commit record lists"
        );
        if let Some(dir) = &wh.dir {
            let staging = dir.join("_parcours/staging");
            let left: Vec<_> = std::fs::read_dir(&staging)
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            assert!(left.is_empty(), "{at}: staging folders left: {left:?}");
        }
        outcomes.push(Outcome {
            point: point.to_string(),
            last,
            killed,
            versions,
            orphans,
            staging,
            request,
        });
    }
    outcomes
}

#[test]
fn killed_runs_leave_every_table_whole() {
    let started = Instant::now();
    let project = common::fixture("crash");
    write_raw(&project);
    let moto = s3::Moto::start();
    moto.create_bucket(BUCKET);
    let relay = Relay::start(moto.port);
    let raw = project.path().to_path_buf();
    // The S3 runs get their own project folder: runs of one project share its `target/`.
    let f_s3 = Fixture {
        project: common::fixture("crash"),
        raw: raw.clone(),
        env: moto.env(),
    };
    // And the Delta runs theirs, with every table in Delta format, vacuumed at once.
    let f_delta = Fixture {
        project: delta_fixture(),
        raw: raw.clone(),
        env: moto.env(),
    };
    let relay_delta = Relay::start(moto.port);
    let f = Fixture {
        project,
        raw,
        env: moto.env(),
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = |name: &str| f.project.path().join(name);

    // Versions A and B as clean runs produce them; every table must differ between the two,
    // or a kill that left the wrong one would go unnoticed.
    let reference = Warehouse::local(&dir("reference"));
    let seed_local = Warehouse::local(&dir("version-a"));
    f.run("raw_a", DATE_A, &reference);
    rt.block_on(seed_local.copy_from(&reference));
    let read = |wh: &Warehouse| -> BTreeMap<&'static str, Rows> {
        rt.block_on(wh.read_all())
            .into_iter()
            .map(|(t, rows)| (t, rows.unwrap_or_else(|e| panic!("{e}"))))
            .collect()
    };
    let a = read(&reference);
    f.run("raw_b", DATE_B, &reference);
    let b = read(&reference);
    for t in TABLES {
        assert!(!a[t].is_empty(), "{t} is empty in version A");
        assert_ne!(a[t], b[t], "{t} is the same in versions A and B");
    }
    let expected = Expected { a, b };
    // Version A on S3 is published by a real run there, and reads the same as on disk.
    let seed_s3 = Warehouse::s3(&moto, BUCKET, "version-a");
    f.run("raw_a", DATE_A, &seed_s3);
    assert!(read(&seed_s3) == expected.a, "version A differs on S3");
    // As Delta tables too, read through their logs: the same rows in either format.
    let seed_delta = Warehouse::s3_delta(&moto, BUCKET, "delta-version-a");
    f_delta.run("raw_a", DATE_A, &seed_delta);
    assert!(read(&seed_delta) == expected.a, "Delta version A differs");
    let delta_b = Warehouse::s3_delta(&moto, BUCKET, "delta-version-b");
    rt.block_on(delta_b.copy_from(&seed_delta));
    f_delta.run("raw_b", DATE_B, &delta_b);
    assert!(read(&delta_b) == expected.b, "Delta version B differs");

    // The back-ends in parallel: each kill point is independent of the others.
    let (local, remote, delta) = std::thread::scope(|s| {
        let local = s.spawn(|| {
            kill_at_every_point(
                &f,
                "local",
                LOCAL_POINTS,
                &seed_local,
                |i| Warehouse::local(&dir(&format!("local-{i}"))),
                None,
                &expected,
            )
        });
        let remote = s.spawn(|| {
            kill_at_every_point(
                &f_s3,
                "s3",
                S3_POINTS,
                &seed_s3,
                |i| Warehouse::s3(&moto, BUCKET, &format!("kill-{i}")),
                Some(&relay),
                &expected,
            )
        });
        let delta = s.spawn(|| {
            kill_at_every_point(
                &f_delta,
                "delta",
                DELTA_S3_POINTS,
                &seed_delta,
                |i| Warehouse::s3_delta(&moto, BUCKET, &format!("delta-kill-{i}")),
                Some(&relay_delta),
                &expected,
            )
        });
        (
            local.join().expect("local kills"),
            remote.join().expect("s3 kills"),
            delta.join().expect("delta kills"),
        )
    });

    // The record of what each kill hit (`cargo test --test crash -- --nocapture`).
    println!(
        "{:<6} {:<50} {:<26} {:<8} orphans staging",
        "store", "kill point", "last event logged", "versions"
    );
    for (backend, outcomes) in [("local", &local), ("s3", &remote), ("delta", &delta)] {
        for o in outcomes.iter() {
            let versions: String = o.versions.iter().map(|v| format!("{v:?}")).collect();
            let last = if o.killed {
                o.last.clone()
            } else {
                "(run finished first)".to_string()
            };
            println!(
                "{backend:<6} {:<50} {last:<26} {versions:<8} {:>7} {:>7}",
                o.point, o.orphans, o.staging
            );
            if let Some(line) = &o.request {
                println!("{:<7}stopped in {line}", "");
            }
        }
        // The kills are spread over the run: some before anything was published, some between
        // two tables' publishing, some with leftovers for the next run to remove.
        let killed: Vec<&Outcome> = outcomes.iter().filter(|o| o.killed).collect();
        assert!(
            killed
                .iter()
                .any(|o| o.versions.iter().all(|v| *v == Version::A)),
            "{backend}: no kill left every table at version A"
        );
        assert!(
            killed
                .iter()
                .any(|o| o.versions.contains(&Version::A) && o.versions.contains(&Version::B)),
            "{backend}: no kill landed between two tables' publishing"
        );
        assert!(
            killed.iter().any(|o| o.staging > 0),
            "{backend}: no kill left staging leftovers"
        );
    }
    assert!(
        remote.iter().any(|o| o.killed && o.orphans > 0),
        "s3: no kill landed between the copies and the deletion of obsolete files"
    );
    assert!(
        delta.iter().any(|o| o.killed && o.orphans > 0),
        "delta: no kill left files that no version lists"
    );
    let kills = local
        .iter()
        .chain(&remote)
        .chain(&delta)
        .filter(|o| o.killed)
        .count();
    assert!(kills >= 30, "only {kills} runs were killed");
    println!(
        "versions: {TABLES:?}; {kills} kills in {:?}",
        started.elapsed()
    );
}

/// After an S3 run is killed between its copies and its commit record, the table folder holds
/// versions A and B at once. `parcours test` and a partial `parcours run` read published tables
/// through their commit records, so they see A alone: `unique(event_id)` holds.
#[test]
fn readers_follow_commit_records_after_a_killed_s3_run() {
    let project = common::fixture("crash");
    write_raw(&project);
    let moto = s3::Moto::start();
    moto.create_bucket(BUCKET);
    let f = Fixture {
        raw: project.path().to_path_buf(),
        project,
        env: moto.env(),
    };
    let wh = Warehouse::s3(&moto, BUCKET, "wh");
    f.run("raw_a", DATE_A, &wh);
    let killed = f.run_killed(&wh, &at("copied:fct_events"), None);
    assert!(killed.killed);
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let env: Vec<(&str, &str)> = f.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let raw = format!("raw={}", f.raw.join("raw_b").display());
    let storage = ["--storage", raw.as_str(), "--storage", wh.arg.as_str()];
    let mut test = vec!["test", "--date", DATE_B];
    test.extend(storage);
    let out = f.project.run_env(&test, &env);
    assert_eq!(
        out.code,
        0,
        "parcours test read a mix of versions:\n{}",
        out.all()
    );
    let mut run = vec!["run", "--select", "agg_daily", "--date", DATE_B];
    run.extend(storage);
    let out = f.project.run_env(&run, &env);
    assert_eq!(out.code, 0, "{}", out.all());
    let agg_after = rt.block_on(wh.read("agg_daily")).expect("agg_daily");
    // agg_daily counts each live event of fct_events once, whichever version the kill left:
    // read as a mix of two versions, a day counted twice its events (the bug this test is for).
    let fct = rt.block_on(wh.read("fct_events")).expect("fct_events");
    let mut live: BTreeMap<String, usize> = BTreeMap::new();
    for row in &fct {
        let day = row
            .split('|')
            .next()
            .and_then(|p| p.split_once('='))
            .map(|(_, d)| d);
        *live.entry(day.expect("partition").to_string()).or_default() += 1;
    }
    let counted: BTreeMap<String, usize> = agg_after
        .iter()
        .map(|r| {
            let f: Vec<&str> = r.split('|').collect();
            (f[1].to_string(), f[2].parse().expect("count"))
        })
        .collect();
    assert_eq!(counted, live);
    let out = f.project.run_env(&test, &env);
    assert_eq!(out.code, 0, "{}", out.all());
}
