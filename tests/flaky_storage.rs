//! Flaky storage, by fault injection: a proxy (`tests/support/flaky_proxy.py`) between parcours
//! and the moto S3 server answers some requests with 503 or 500, or holds them past the
//! client's timeout. Within the retry budget of `storage.<root>.retry` the run succeeds and
//! publishes exactly what a run on a healthy server does; beyond it, the run fails with a storage
//! error that names the root and the URL (never a credential) and the published tables stay
//! byte for byte what they were.

mod common;
#[path = "common/flaky.rs"]
mod flaky;
#[path = "common/s3.rs"]
mod s3;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestProject;
use flaky::FlakyProxy;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

const TABLES: [&str; 3] = ["fct_orders", "dim_customer", "agg_daily_revenue"];

/// The shop with its warehouse in the bucket `lake`, configured by `settings` (YAML lines
/// indented under the root, e.g. `    retry: {max_retries: 3}`).
fn shop_on_s3(prefix: &str, settings: &str) -> TestProject {
    let p = common::fixture("shop");
    p.write_shop_raw();
    let config = p.read_file("pipelines.yaml").replace(
        "  warehouse: ./warehouse\n",
        &format!("  warehouse:\n    url: s3://lake/{prefix}\n{settings}"),
    );
    assert!(
        config.contains("s3://lake/"),
        "the fixture's warehouse line moved"
    );
    p.write_file("pipelines.yaml", &config);
    p
}

struct Lake {
    moto: s3::Moto,
    store: Arc<dyn ObjectStore>,
    rt: tokio::runtime::Runtime,
}

impl Lake {
    fn start() -> Lake {
        let moto = s3::Moto::start();
        moto.create_bucket("lake");
        let store = moto.store("lake");
        Lake {
            moto,
            store,
            rt: tokio::runtime::Runtime::new().expect("runtime"),
        }
    }

    /// Runs parcours against moto directly (`proxy: None`) or through a proxy.
    fn run(&self, p: &TestProject, args: &[&str], proxy: Option<&FlakyProxy>) -> common::Output {
        let env = match proxy {
            Some(proxy) => proxy.env(&self.moto.env()),
            None => self.moto.env(),
        };
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        p.run_env(args, &env)
    }

    fn proxy(&self, args: &[&str]) -> FlakyProxy {
        FlakyProxy::start(&self.moto.endpoint(), args)
    }

    fn get(&self, path: &str) -> Option<Vec<u8>> {
        self.rt.block_on(async {
            match self.store.get(&Path::from(path)).await {
                Ok(r) => Some(r.bytes().await.expect("bytes").to_vec()),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => panic!("{path}: {e}"),
            }
        })
    }

    /// Every object below `prefix` with its bytes, `_parcours/` (lease, staging) left out.
    fn snapshot(&self, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        let paths: Vec<Path> = self.rt.block_on(async {
            self.store
                .list(Some(&Path::from(prefix)))
                .map_ok(|m| m.location)
                .try_collect()
                .await
                .expect("list")
        });
        paths
            .into_iter()
            .filter(|p| !p.as_ref().contains("/_parcours/"))
            .map(|p| {
                let bytes = self.get(p.as_ref()).expect("listed object");
                (p.to_string(), bytes)
            })
            .collect()
    }

    fn commit(&self, prefix: &str, table: &str) -> Option<serde_json::Value> {
        self.get(&format!("{prefix}/{table}/_parcours_commit.json"))
            .map(|b| serde_json::from_slice(&b).expect("commit json"))
    }

    /// A table as a reader following its commit record sees it: the rows of exactly the files
    /// it lists (each must exist and hold the rows the record says), rendered and sorted.
    fn rows(&self, prefix: &str, table: &str) -> Vec<String> {
        let record = self
            .commit(prefix, table)
            .unwrap_or_else(|| panic!("{prefix}/{table}: no commit record"));
        let mut rows = Vec::new();
        for f in record["files"].as_array().expect("files") {
            let rel = f["path"].as_str().expect("path");
            let key = format!("{prefix}/{table}/{rel}");
            let bytes = self.rt.block_on(async {
                match self.store.get(&Path::from(key.as_str())).await {
                    Ok(r) => r.bytes().await.expect("bytes"),
                    Err(e) => panic!("{key} is listed by the commit record: {e}"),
                }
            });
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
                    .expect("parquet")
                    .build()
                    .expect("reader");
            let mut n = 0;
            for batch in reader {
                let batch = batch.expect("batch");
                n += batch.num_rows();
                let cols: Vec<_> = batch
                    .columns()
                    .iter()
                    .map(|c| {
                        arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8).expect("cast")
                    })
                    .collect();
                for r in 0..batch.num_rows() {
                    let mut line = rel
                        .rsplit_once('/')
                        .map(|(d, _)| d)
                        .unwrap_or("")
                        .to_string();
                    for c in &cols {
                        let c = arrow::array::AsArray::as_string::<i32>(c.as_ref());
                        line.push('|');
                        line.push_str(if arrow::array::Array::is_valid(c, r) {
                            c.value(r)
                        } else {
                            "∅"
                        });
                    }
                    rows.push(line);
                }
            }
            assert_eq!(Some(n as u64), f["rows"].as_u64(), "{table}/{rel}");
        }
        rows.sort();
        rows
    }
}

const QUICK_RETRY: &str = "    retry: {max_retries: 5, init_backoff: 10ms, max_backoff: 100ms}\n";

#[test]
fn server_errors_within_the_retry_budget_are_retried_and_the_output_is_complete() {
    let lake = Lake::start();
    let clean = shop_on_s3("clean", QUICK_RETRY);
    let flaky = shop_on_s3("flaky", QUICK_RETRY);
    // Two runs (two partitions), each through a proxy failing a different way.
    for (date, faults) in [
        ("2026-11-20", ["--fail-every", "3", "--status", "503"]),
        ("2026-11-21", ["--fail-every", "4", "--status", "500"]),
    ] {
        let out = lake.run(&clean, &["run", "--date", date], None);
        assert_eq!(out.code, 0, "{}", out.all());

        let proxy = lake.proxy(&faults);
        let out = lake.run(&flaky, &["run", "--date", date], Some(&proxy));
        assert_eq!(out.code, 0, "{}", out.all());
        assert!(!out.all().contains(s3::SECRET_KEY));
        let stats = proxy.stats();
        assert!(
            stats["faults"].as_u64().expect("faults") >= 5,
            "the proxy injected too few faults to prove anything: {stats}"
        );
    }
    for table in TABLES {
        assert_eq!(
            lake.rows("flaky", table),
            lake.rows("clean", table),
            "{table}: the run that met faults published something else"
        );
    }
    assert_eq!(lake.rows("flaky", "fct_orders").len(), 3);
}

#[test]
fn answers_slower_than_the_timeout_are_retried() {
    let lake = Lake::start();
    let p = shop_on_s3(
        "curated",
        "    timeout: 500ms\n    retry: {max_retries: 3, init_backoff: 10ms, max_backoff: 100ms}\n",
    );
    let delay = 4.0;
    let proxy = lake.proxy(&[
        "--delay",
        &delay.to_string(),
        "--delay-first",
        "3",
        "--delay-match",
        "^GET ",
    ]);
    let t = Instant::now();
    let out = lake.run(&p, &["run", "--date", "2026-11-21"], Some(&proxy));
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(proxy.stats()["delays"], 3);
    // Three answers held 4 s each: only the 500 ms timeout and a retry get through in time.
    assert!(
        t.elapsed() < Duration::from_secs_f64(delay * 2.0),
        "the timeout did not cut the held requests short ({:?})",
        t.elapsed()
    );
    for table in TABLES {
        assert!(!lake.rows("curated", table).is_empty(), "{table}");
    }
}

#[test]
fn persistent_errors_beyond_the_budget_fail_cleanly_and_change_nothing() {
    let lake = Lake::start();
    let p = shop_on_s3(
        "curated",
        "    retry: {max_retries: 2, init_backoff: 10ms, max_backoff: 50ms}\n",
    );
    let out = lake.run(&p, &["run", "--date", "2026-11-20"], None);
    assert_eq!(out.code, 0, "{}", out.all());
    let before = lake.snapshot("curated");
    assert!(before.len() >= 6, "{:?}", before.keys());

    let proxy = lake.proxy(&["--fail-all", "--status", "503"]);
    let t = Instant::now();
    let out = lake.run(&p, &["run", "--date", "2026-11-21"], Some(&proxy));
    assert_eq!(out.code, 4, "{}", out.all());
    for needle in [
        "storage `warehouse`",
        "s3://lake/curated/",
        &format!("{}/lake/curated/", proxy.endpoint()),
        "503",
        "after 2 retries",
    ] {
        assert!(
            out.stderr.contains(needle),
            "no `{needle}` in: {}",
            out.stderr
        );
    }
    assert!(!out.all().contains(s3::SECRET_KEY), "a credential leaked");
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "the budget bounds the failure"
    );
    // One request, first try and two retries, and nothing after it.
    assert_eq!(proxy.stats()["faults"], 3);
    assert_eq!(
        lake.snapshot("curated"),
        before,
        "the failed run changed the warehouse"
    );
}

#[test]
fn a_commit_record_that_cannot_be_written_leaves_the_previous_version() {
    let lake = Lake::start();
    let p = shop_on_s3(
        "curated",
        "    retry: {max_retries: 1, init_backoff: 10ms, max_backoff: 50ms}\n",
    );
    let out = lake.run(&p, &["run", "--date", "2026-11-20"], None);
    assert_eq!(out.code, 0, "{}", out.all());
    let before = lake.snapshot("curated");

    // Everything works except replacing a commit record: the switch to a new version.
    let proxy = lake.proxy(&[
        "--fail-all",
        "--match",
        r"^PUT /lake/curated/[^?]*/_parcours_commit\.json",
    ]);
    let out = lake.run(&p, &["run", "--date", "2026-11-21"], Some(&proxy));
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.all().contains("commit record") && out.all().contains("503"),
        "{}",
        out.all()
    );
    assert!(proxy.stats()["faults"].as_u64().expect("faults") >= 2);
    // Every commit record, and every file it lists, is exactly as before.
    for table in TABLES {
        let key = format!("curated/{table}/_parcours_commit.json");
        assert_eq!(lake.get(&key), before.get(&key).cloned(), "{key}");
        let record = lake.commit("curated", table).expect("record");
        for f in record["files"].as_array().expect("files") {
            let key = format!("curated/{table}/{}", f["path"].as_str().expect("path"));
            assert_eq!(lake.get(&key), before.get(&key).cloned(), "{key}");
        }
    }
    // The lease was released although the run failed.
    let lease: serde_json::Value =
        serde_json::from_slice(&lake.get("curated/_parcours/lease.json").expect("lease"))
            .expect("json");
    assert!(lease["released_at"].is_string(), "{lease}");

    // The next healthy run publishes and removes what the failed one copied in.
    let out = lake.run(&p, &["run", "--date", "2026-11-21"], None);
    assert_eq!(out.code, 0, "{}", out.all());
    for table in TABLES {
        let record = lake.commit("curated", table).expect("record");
        let mut listed: Vec<String> = record["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| format!("curated/{table}/{}", f["path"].as_str().expect("path")))
            .collect();
        listed.push(format!("curated/{table}/_parcours_commit.json"));
        listed.sort();
        let present: Vec<String> = lake
            .snapshot(&format!("curated/{table}"))
            .into_keys()
            .collect();
        assert_eq!(present, listed, "{table}: unlisted files remain");
    }
}
