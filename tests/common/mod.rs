//! Shared helpers for the end-to-end tests: a copy of a fixture project in a temp folder, raw
//! Parquet written with arrow, the real `parcours` binary, and readers for what it published.

#![allow(dead_code)]

pub mod raw;
pub mod sql;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Decimal128Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

pub struct TestProject {
    pub dir: tempfile::TempDir,
}

pub fn fixture(name: &str) -> TestProject {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    copy_dir(&src, dir.path());
    TestProject { dir }
}

/// A temp copy of the repository's own reference project (`pipelines.yaml`, `sql/`,
/// `data_tests/`, `unit_tests/`).
pub fn reference_project() -> TestProject {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("pipelines.yaml"),
        dir.path().join("pipelines.yaml"),
    )
    .expect("copy config");
    for folder in ["sql", "data_tests", "unit_tests"] {
        copy_dir(&root.join(folder), &dir.path().join(folder));
    }
    TestProject { dir }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read fixture") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).expect("copy");
        }
    }
}

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_parcours"));
    c.env_remove("PARCOURS_LOG");
    c
}

impl TestProject {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    /// Generates `days` days of sample exports at scale 0.01, ending on 2026-10-31, into
    /// `data/raw` of this project, and asserts it worked.
    pub fn generate_raw(&self, days: u32, seed: u64) {
        self.generate_into("data/raw", days, seed, &[]);
    }

    /// As [`Self::generate_raw`], into `out` (a folder of this project or a bucket URL), with
    /// `env` (a bucket's credentials) set for the generator.
    pub fn generate_into(&self, out: &str, days: u32, seed: u64, env: &[(&str, &str)]) {
        let (days, seed) = (days.to_string(), seed.to_string());
        self.generate(
            &[
                "--out",
                out,
                "--scale",
                "0.01",
                "--days",
                &days,
                "--end-date",
                "2026-10-31",
                "--seed",
                &seed,
            ],
            env,
        );
    }

    /// The world of every value and export shape the raw contract allows, small (scale 0.005,
    /// 10 days to 2026-10-31, seed 11), as the contract-edge suites generate it into `out`.
    pub fn generate_contract_edges(&self, out: &str) {
        self.generate(
            &[
                "--profile",
                "contract-edges",
                "--out",
                out,
                "--scale",
                "0.005",
                "--days",
                "10",
                "--end-date",
                "2026-10-31",
                "--seed",
                "11",
            ],
            &[],
        );
    }

    /// `parcours generate ARGS` in the project folder, asserting that it succeeded.
    fn generate(&self, args: &[&str], env: &[(&str, &str)]) {
        let mut c = bin();
        c.current_dir(self.path()).arg("generate").args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().expect("generate");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = bin();
        c.arg("--project-dir").arg(self.path()).args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().expect("run parcours");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn write_file(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    pub fn read_file(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).expect("read")
    }

    /// Writes the shop's standard raw data: three export days of orders and one customer file.
    pub fn write_shop_raw(&self) {
        self.write_orders(
            "2026-11-19",
            &[("o1", "2026-11-19T10:00:00Z", Some("c1"), 1000, "completed")],
        );
        self.write_orders(
            "2026-11-20",
            &[
                ("o2", "2026-11-20T09:30:00Z", Some("c2"), 2050, "completed"),
                ("o3", "2026-11-20T18:00:00Z", Some("c1"), 500, "cancelled"),
            ],
        );
        self.write_orders(
            "2026-11-21",
            &[("o4", "2026-11-21T08:00:00Z", Some("c3"), 725, "completed")],
        );
        self.write_customers(&[
            ("c1", Some(" Alice@Example.com "), Some("fr")),
            ("c2", Some("bob@example.com"), Some("be")),
        ]);
    }

    /// `rows`: (order_id, order_ts, customer_id, amount in cents, status).
    pub fn write_orders(&self, export_date: &str, rows: &[(&str, &str, Option<&str>, i128, &str)]) {
        self.write_orders_file(export_date, "part-0.parquet", rows);
    }

    /// [`Self::write_orders`] into a file of its own: a second delivery of an export day.
    pub fn write_orders_file(
        &self,
        export_date: &str,
        file: &str,
        rows: &[(&str, &str, Option<&str>, i128, &str)],
    ) {
        let ts: Vec<i64> = rows.iter().map(|r| micros(r.1)).collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("order_id", DataType::Utf8, false),
            Field::new(
                "order_ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("customer_id", DataType::Utf8, true),
            Field::new("amount", DataType::Decimal128(12, 2), false),
            Field::new("status", DataType::Utf8, false),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
            Arc::new(
                Decimal128Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>())
                    .with_precision_and_scale(12, 2)
                    .expect("decimal"),
            ),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.4).collect::<Vec<_>>(),
            )),
        ];
        let batch = RecordBatch::try_new(schema, cols).expect("batch");
        self.write_parquet(
            &format!("raw/orders/export_date={export_date}/{file}"),
            &batch,
        );
    }

    pub fn write_customers(&self, rows: &[(&str, Option<&str>, Option<&str>)]) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("email", DataType::Utf8, true),
            Field::new("country", DataType::Utf8, true),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
        ];
        let batch = RecordBatch::try_new(schema, cols).expect("batch");
        self.write_parquet("raw/customers/part-0.parquet", &batch);
    }

    pub fn write_parquet(&self, rel: &str, batch: &RecordBatch) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        let f = std::fs::File::create(p).expect("create");
        let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).expect("writer");
        w.write(batch).expect("write");
        w.close().expect("close");
    }

    /// The SHA-256 of every file of the published `tables` in `warehouse/`, by table folder
    /// and partition, in file-name order (names carry the run id; the contents must not).
    pub fn file_digests(
        &self,
        tables: &[String],
    ) -> std::collections::BTreeMap<String, Vec<String>> {
        use sha2::Digest;
        let mut out: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
        for t in tables {
            let record: serde_json::Value = serde_json::from_str(
                &self.read_file(&format!("warehouse/{t}/_parcours_commit.json")),
            )
            .expect("commit record");
            for f in record["files"].as_array().expect("files") {
                let rel = f["path"].as_str().expect("path");
                let dir = rel.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                let bytes = std::fs::read(self.path().join("warehouse").join(t).join(rel))
                    .expect("published file");
                out.entry(format!("{t}/{dir}"))
                    .or_default()
                    .push((rel.to_string(), hex::encode(sha2::Sha256::digest(&bytes))));
            }
        }
        out.into_iter()
            .map(|(k, mut v)| {
                v.sort();
                (k, v.into_iter().map(|(_, h)| h).collect())
            })
            .collect()
    }

    /// Every visible file of a published table, relative to the table folder, sorted.
    pub fn table_files(&self, table: &str) -> Vec<String> {
        let root = self.path().join("warehouse").join(table);
        let mut out = Vec::new();
        walk(&root, &root, &mut out);
        out.sort();
        out
    }

    /// Runs a query over every published table with DataFusion, partition columns included
    /// (named by each table's commit record), as a BI tool reading the Hive folders would.
    pub fn query(&self, sql: &str) -> Vec<RecordBatch> {
        let wh = self.path().join("warehouse");
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let ctx = datafusion::prelude::SessionContext::new();
            for entry in std::fs::read_dir(&wh).expect("warehouse").flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                let commit = entry.path().join("_parcours_commit.json");
                if name.starts_with('_') || !commit.exists() {
                    continue;
                }
                let record: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(commit).expect("commit"))
                        .expect("json");
                let mut opts = datafusion::prelude::ParquetReadOptions::default();
                if let Some(column) = record["partition_by"].as_str() {
                    opts = opts.table_partition_cols(vec![(column.to_string(), DataType::Date32)]);
                }
                ctx.register_parquet(&name, entry.path().to_string_lossy().as_ref(), opts)
                    .await
                    .expect("register");
            }
            ctx.sql(sql)
                .await
                .expect("sql")
                .collect()
                .await
                .expect("collect")
        })
    }

    /// A query's rows, every cell rendered as text ("" for null).
    pub fn query_rows(&self, sql: &str) -> Vec<Vec<String>> {
        sql::render(&self.query(sql))
            .expect("render")
            .into_iter()
            .map(|row| row.into_iter().map(Option::unwrap_or_default).collect())
            .collect()
    }

    /// A query's result as text lines (pretty table), for exact comparisons.
    pub fn query_text(&self, sql: &str) -> String {
        arrow::util::pretty::pretty_format_batches(&self.query(sql))
            .expect("format")
            .to_string()
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p: PathBuf = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.push(
                p.strip_prefix(root)
                    .expect("prefix")
                    .to_string_lossy()
                    .to_string(),
            );
        }
    }
}

pub fn micros(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("timestamp")
        .timestamp_micros()
}

/// Panics naming the table folders whose files differ between two [`TestProject::file_digests`].
pub fn assert_same_files(
    what: &str,
    a: &std::collections::BTreeMap<String, Vec<String>>,
    b: &std::collections::BTreeMap<String, Vec<String>>,
) {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let differing: Vec<&String> = keys
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .collect();
    assert!(
        differing.is_empty(),
        "{what}: the files differ in {differing:?}"
    );
}
