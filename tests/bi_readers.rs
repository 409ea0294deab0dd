//! The warehouse as BI tools read it: the reference pipeline runs on generated data, then
//! `tests/bi/check_readers.py` reads every published table with DuckDB and with pyarrow and
//! checks row counts, column types, row-group statistics and file sizes. A second test feeds the
//! script a warehouse with one planted fault per rule, so a script that checks nothing fails.
//!
//! The Python comes from `PARCOURS_BI_PYTHON`, which `scripts/test.sh` points at the `.venv-bi`
//! it installs DuckDB, pyarrow and deltalake into. A third test runs the pipeline with every
//! table in Delta Lake format and reads it with the `deltalake` package too.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, RecordBatch, StringViewArray, TimestampMicrosecondArray, UInt32Array,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use common::{Output, reference_project};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

/// Every table of /work/shared/spec/curated-outputs.md, the contract BI readers depend on.
const CURATED: [&str; 11] = [
    "dim_person",
    "bridge_identity",
    "rpt_onboarding_match_rate",
    "audience_export",
    "fct_touchpoint",
    "fct_conversion",
    "fct_attribution",
    "agg_channel_performance",
    "rpt_attribution_channel",
    "rpt_offline_influence",
    "fct_engagement",
];

fn python() -> PathBuf {
    let python = std::env::var_os("PARCOURS_BI_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-bi/bin/python"));
    assert!(
        python.exists(),
        "no Python with DuckDB and pyarrow at {}; run scripts/test.sh (it installs them into .venv-bi)",
        python.display()
    );
    python
}

fn check_readers(warehouse: &Path, allow: &[&str]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bi/check_readers.py");
    let mut c = Command::new(python());
    c.arg(script).arg(warehouse);
    for a in allow {
        c.arg("--allow").arg(a);
    }
    let o = c.output().expect("run check_readers.py");
    Output {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into(),
        stderr: String::from_utf8_lossy(&o.stderr).into(),
    }
}

#[test]
fn every_curated_table_reads_cleanly_in_duckdb_and_pyarrow() {
    let p = reference_project();
    p.generate_raw(14, 7);
    let out = p.run(&["run", "--date", "2026-10-31"]);
    assert_eq!(out.code, 0, "{}", out.all());

    let out = check_readers(&p.path().join("data/warehouse"), &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    for table in CURATED {
        // One line per table, "ok" only when DuckDB, pyarrow and the commit record agree on
        // the rows and no rule fired (an allowed exception still prints "ok").
        assert!(
            out.stdout
                .lines()
                .any(|l| l.split_whitespace().take(2).eq(["ok", table])),
            "{table} not read cleanly:\n{}",
            out.all()
        );
    }
}

/// The same pipeline with every published model a Delta table (`models.defaults.format:
/// delta`), over two nights so that the tables have replaced files, removed partitions and
/// sources read back from their Delta snapshot (previous_bridge_identity): every curated table
/// reads cleanly with the `deltalake` package, pyarrow on its dataset and DuckDB on exactly the
/// snapshot's files, and a planted lie in a Delta log is reported.
#[test]
fn every_curated_table_reads_cleanly_as_a_delta_table() {
    let p = reference_project();
    let config = p.read_file("pipelines.yaml").replace(
        "models:\n  defaults:\n    materialization: table\n",
        "models:\n  defaults:\n    materialization: table\n    format: delta\n",
    );
    assert!(config.contains("format: delta"));
    p.write_file("pipelines.yaml", &config);
    p.generate_raw(14, 7);
    for date in ["2026-10-30", "2026-10-31"] {
        let out = p.run(&["run", "--date", date]);
        assert_eq!(out.code, 0, "{}", out.all());
    }
    let wh = p.path().join("data/warehouse");
    let out = check_readers(&wh, &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    for table in CURATED {
        assert!(
            wh.join(table).join("_delta_log").is_dir()
                && !wh.join(table).join("_parcours_commit.json").exists(),
            "{table} is not a Delta table"
        );
        assert!(
            out.stdout.lines().any(|l| {
                l.split_whitespace().take(2).eq(["ok", table]) && l.contains("(delta v1)")
            }),
            "{table} not read cleanly as version 1:\n{}",
            out.all()
        );
    }

    // A Delta log whose add action lies about its file's rows.
    let log = wh.join("dim_person/_delta_log/00000000000000000001.json");
    let text = std::fs::read_to_string(&log).expect("log");
    let lied = text
        .lines()
        .map(|l| match l.find("numRecords\\\":") {
            Some(at) if l.starts_with("{\"add\"") => {
                let digits = l[at + 13..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .count();
                format!("{}7{}", &l[..at + 13], &l[at + 13 + digits..])
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(lied, text, "no add action to plant the fault in");
    std::fs::write(&log, lied).expect("write");
    let out = check_readers(&wh, &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("[commit] dim_person:") && out.stdout.contains("the Delta log says 7"),
        "{}",
        out.all()
    );
}

fn write(path: &Path, batch: &RecordBatch, props: Option<WriterProperties>) -> u64 {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let f = std::fs::File::create(path).expect("create");
    let mut w = ArrowWriter::try_new(f, batch.schema(), props).expect("writer");
    w.write(batch).expect("write");
    w.close().expect("close");
    std::fs::metadata(path).expect("size").len()
}

fn commit(dir: &Path, table: &str, partition: Option<&str>, files: &[(&str, u64, u64)]) {
    let rows: u64 = files.iter().map(|f| f.1).sum();
    let record = serde_json::json!({
        "format_version": 1, "table": table, "run_id": "r1",
        "committed_at": "2026-11-21T02:00:00Z",
        "materialization": if partition.is_some() { "partitioned" } else { "table" },
        "partition_by": partition, "partition_type": partition.map(|_| "date"),
        "rows": rows, "bytes": files.iter().map(|f| f.2).sum::<u64>(), "schema": [],
        "files": files.iter().map(|(path, rows, bytes)| serde_json::json!(
            {"path": path, "rows": rows, "bytes": bytes})).collect::<Vec<_>>(),
        "replaced_partitions": [],
    });
    std::fs::write(
        dir.join("_parcours_commit.json"),
        serde_json::to_vec(&record).expect("json"),
    )
    .expect("commit record");
}

#[test]
fn planted_faults_are_each_reported() {
    let wh = tempfile::tempdir().expect("temp dir");
    let bad = wh.path().join("bad");
    let schema = Arc::new(Schema::new(vec![
        Field::new("revenue", DataType::Float64, false),
        Field::new(
            "event_ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("clicks", DataType::UInt32, false),
        Field::new("label", DataType::Utf8View, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::from(vec![1.5, 2.5])),
        Arc::new(TimestampMicrosecondArray::from(vec![0, 1])),
        Arc::new(UInt32Array::from(vec![1, 2])),
        Arc::new(StringViewArray::from(vec!["a", "b"])),
    ];
    let batch = RecordBatch::try_new(schema, cols).expect("batch");
    let no_stats = WriterProperties::builder()
        .set_statistics_enabled(EnabledStatistics::None)
        .build();
    let size = write(&bad.join("part-1.parquet"), &batch, Some(no_stats));
    // A file the commit record does not list: a globbing reader would double-count it.
    write(&bad.join("part-0.parquet"), &batch, None);
    commit(&bad, "bad", None, &[("part-1.parquet", 2, size)]);

    // A partitioned table whose last run returned no row: no file at all.
    let empty = wh.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    commit(&empty, "empty", Some("date"), &[]);

    // Two small files where one would do.
    let split = wh.path().join("split");
    let one = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)])),
        vec![Arc::new(arrow::array::Int64Array::from(vec![1, 2])) as ArrayRef],
    )
    .expect("batch");
    let a = write(&split.join("part-a.parquet"), &one, None);
    let b = write(&split.join("part-b.parquet"), &one, None);
    commit(
        &split,
        "split",
        None,
        &[("part-a.parquet", 2, a), ("part-b.parquet", 2, b)],
    );

    let out = check_readers(wh.path(), &["unsigned:bad.clicks"]);
    assert_eq!(out.code, 1, "{}", out.all());
    for expected in [
        "[money_decimal] bad.revenue",
        "[timestamp_tz] bad.event_ts",
        "[string_encoding] bad.label",
        "[statistics] bad.revenue",
        "[commit] bad: part-0.parquet is in the folder but not in the commit record",
        "[file_size] empty: no data file",
        "[file_size] split: the table folder holds 2 files",
        "allowed: [unsigned] bad.clicks",
    ] {
        assert!(
            out.stdout.contains(expected),
            "missing {expected}:\n{}",
            out.all()
        );
    }
    assert!(
        !out.stdout.contains("  [unsigned]"),
        "allowed yet reported:\n{}",
        out.all()
    );
}
