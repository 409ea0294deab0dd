//! Incremental runs and backfills (issue 6), through the real binary. The reference pipeline run
//! as consecutive nights must publish the same curated tables as one run over the same period;
//! a night reads the exports as they were on its date and rewrites only its late-arrival window;
//! rerunning a night changes nothing. The shop fixture covers the edges: a window partition
//! that lost its rows, a run before the first export, backfill arguments and config errors.

mod common;

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float32Type, Float64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use common::{TestProject, fixture, reference_project};

const END: &str = "2026-10-31";
/// The first of the nightly runs; the generated exports start on 2026-10-12.
const FIRST_NIGHT: &str = "2026-10-26";

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("json")
}

/// `parcours run` on the reference project into `p/warehouse`, reading `raw`; must succeed.
fn run(p: &TestProject, raw: &str, args: &[&str]) -> common::Output {
    let raw = format!("raw={raw}");
    let mut all = vec!["run", "--storage", &raw, "--storage", "warehouse=warehouse"];
    all.extend_from_slice(args);
    let out = p.run(&all);
    assert_eq!(out.code, 0, "{}", out.all());
    out
}

/// Published tables of `p/warehouse`: folders with a commit record.
fn tables(p: &TestProject) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(p.path().join("warehouse"))
        .expect("warehouse")
        .flatten()
        .filter(|e| e.path().join("_parcours_commit.json").exists())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    out.sort();
    out
}

/// person_id -> the person's smallest record (`type:value`) in bridge_identity.
fn person_keys(p: &TestProject) -> BTreeMap<String, String> {
    p.query_rows(
        "select person_id, min(identifier_type || ':' || identifier_value) from bridge_identity group by person_id",
    )
    .into_iter()
    .map(|r| (r[0].clone(), r[1].clone()))
    .collect()
}

/// A table's rows as sorted text lines. Doubles keep 9 significant digits: a nightly build and
/// a single run compute some doubles from differently grouped inputs (a night's partial
/// window), which may differ in the last bits; reruns are compared byte for byte instead.
/// `persons` renames person ids (see the test).
fn rows(p: &TestProject, table: &str, persons: Option<&BTreeMap<String, String>>) -> Vec<String> {
    let mut out = Vec::new();
    for batch in p.query(&format!("select * from {table}")) {
        let schema = batch.schema();
        let mut cells: Vec<Vec<String>> = vec![Vec::new(); batch.num_rows()];
        for (field, col) in schema.fields().iter().zip(batch.columns()) {
            let formatter = ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default())
                .expect("formatter");
            for (row, line) in cells.iter_mut().enumerate() {
                let text = if col.is_null(row) {
                    "∅".to_string()
                } else {
                    match col.data_type() {
                        DataType::Float64 => {
                            format!("{:.8e}", col.as_primitive::<Float64Type>().value(row))
                        }
                        DataType::Float32 => {
                            format!("{:.6e}", col.as_primitive::<Float32Type>().value(row))
                        }
                        _ => formatter.value(row).to_string(),
                    }
                };
                let text = match persons {
                    Some(m) if field.name() == "person_id" => m
                        .get(&text)
                        .cloned()
                        .unwrap_or_else(|| format!("{text} (not in bridge_identity)")),
                    _ => text,
                };
                line.push(format!("{}={text}", field.name()));
            }
        }
        out.extend(cells.into_iter().map(|c| c.join(" ")));
    }
    out.sort();
    out
}

/// Panics with a few rows of each side when two row lists differ as multisets.
fn assert_same_rows(what: &str, a: &[String], b: &[String]) {
    if a == b {
        return;
    }
    let only = |x: &[String], y: &[String]| -> Vec<String> {
        let mut y = y.to_vec();
        x.iter()
            .filter(|r| match y.iter().position(|s| s == *r) {
                Some(i) => {
                    y.swap_remove(i);
                    false
                }
                None => true,
            })
            .take(5)
            .cloned()
            .collect()
    };
    panic!(
        "{what}: {} rows vs {}\nonly in the first (up to 5):\n  {}\nonly in the second (up to 5):\n  {}",
        a.len(),
        b.len(),
        only(a, b).join("\n  "),
        only(b, a).join("\n  ")
    );
}

fn rewritten(results: &serde_json::Value, model: &str) -> String {
    results["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["model"] == model)
        .and_then(|r| r["partitions_rewritten"].as_str())
        .unwrap_or_else(|| panic!("{model} has no partitions_rewritten in {results}"))
        .to_string()
}

#[test]
fn nightly_increments_match_one_run_over_the_same_period() {
    // W1: a first night, then five more as a backfill: each a complete run with its run date.
    let nightly = reference_project();
    nightly.generate_raw(20, 42);
    let raw = nightly.path().join("data/raw");
    let raw = raw.to_str().expect("utf-8 path");
    run(&nightly, raw, &["--date", FIRST_NIGHT]);

    // The first night saw the exports up to its date only, though later ones are on disk.
    assert_eq!(
        nightly.query_rows("select cast(max(export_date) as varchar) from rpt_export_quality"),
        vec![vec![FIRST_NIGHT.to_string()]]
    );
    let manifest = json(&nightly.read_file("target/manifest.json"));
    assert_eq!(manifest["sources"]["web_events"]["as_of"], "export_date");
    assert_eq!(manifest["sources"]["web_events"]["later_files"], 5);
    // An incremental mart's first build covers all history.
    let results = json(&nightly.read_file("target/run_results.json"));
    assert_eq!(rewritten(&results, "agg_campaign_daily"), "all");
    let first_night_campaigns = rows(&nightly, "agg_campaign_daily", None);

    let out = run(&nightly, raw, &["--start", "2026-10-27", "--end", END]);
    let nights: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("2026-"))
        .collect();
    assert_eq!(nights.len(), 5, "one line per night:\n{}", out.stdout);
    assert!(nights.iter().all(|l| l.contains("Done:")), "{}", out.stdout);
    // run_results.json is the last night's: the marts rewrote its late-arrival window (three
    // days, execution.late_arrival_days), the full-history models their whole table, and the
    // identity log its own night.
    let results = json(&nightly.read_file("target/run_results.json"));
    assert_eq!(results["run_date"], END);
    assert_eq!(results["window_start"], "2026-10-28");
    assert_eq!(
        rewritten(&results, "agg_daily_sales"),
        "2026-10-28..2026-10-31"
    );
    assert_eq!(rewritten(&results, "fct_attribution"), "all");
    // a log that forgets erased persons: rewritten whole
    assert_eq!(rewritten(&results, "identity_history"), "all");
    // Late rows did arrive after the first night for days it had already published, and a
    // later night's window took them in: the comparison below is not vacuous.
    let now: Vec<String> = rows(&nightly, "agg_campaign_daily", None)
        .into_iter()
        .filter(|r| r.ends_with(&format!(" date={FIRST_NIGHT}")) || r.ends_with(" date=2026-10-25"))
        .collect();
    assert!(
        now.iter().any(|r| !first_night_campaigns.contains(r)),
        "no late row changed 2026-10-25/26"
    );

    // W2: one run at the end date on a new warehouse, which builds everything from all history.
    let single = reference_project();
    run(&single, raw, &["--date", END]);

    // Every curated table, row for row. Person ids legitimately differ: ids are stable, so a
    // person first seen on an early night keeps that night's id (and a merge keeps the older
    // id), while the single run names everyone tonight. Each id is therefore replaced by the
    // person's smallest record in its own warehouse's bridge_identity, which compares persons
    // as sets of records. identity_history is a log of what each night did and has no
    // single-run equivalent. Everything else must match exactly.
    let names = tables(&nightly);
    assert_eq!(names, tables(&single));
    assert!(names.len() >= 15, "{names:?}");
    let (ids_nightly, ids_single) = (person_keys(&nightly), person_keys(&single));
    for t in names.iter().filter(|t| *t != "identity_history") {
        assert_same_rows(
            &format!("{t}: nightly vs single run"),
            &rows(&nightly, t, Some(&ids_nightly)),
            &rows(&single, t, Some(&ids_single)),
        );
    }

    // Idempotent: the last night again changes no row of any table (ids included), so nothing
    // was duplicated either.
    let before: Vec<Vec<String>> = names.iter().map(|t| rows(&nightly, t, None)).collect();
    let before_files = nightly.file_digests(&names);
    run(&nightly, raw, &["--date", END]);
    for (t, b) in names.iter().zip(&before) {
        assert_same_rows(&format!("{t}: rerun"), b, &rows(&nightly, t, None));
    }
    // ... and byte for byte, every file of every table (a checksum diff of the warehouse sees
    // nothing), also with one thread and one DataFusion partition, and with three threads and
    // seven partitions: the row order and every float's last bit do not depend on them.
    common::assert_same_files("rerun", &before_files, &nightly.file_digests(&names));
    let config = nightly.read_file("pipelines.yaml");
    for (threads, partitions) in [("1", 1), ("3", 7)] {
        nightly.write_file(
            "pipelines.yaml",
            &config.replacen(
                "execution:\n",
                &format!("execution:\n  target_partitions: {partitions}\n"),
                1,
            ),
        );
        run(&nightly, raw, &["--date", END, "--threads", threads]);
        common::assert_same_files(
            &format!("rerun with {threads} threads and {partitions} partitions"),
            &before_files,
            &nightly.file_digests(&names),
        );
    }
    nightly.write_file("pipelines.yaml", &config);

    // --full-refresh rebuilds the marts from all history: the same tables once more.
    run(&nightly, raw, &["--date", END, "--full-refresh"]);
    let results = json(&nightly.read_file("target/run_results.json"));
    assert_eq!(results["full_refresh"], true);
    assert_eq!(rewritten(&results, "agg_daily_sales"), "all");
    for (t, b) in names.iter().zip(&before) {
        assert_same_rows(&format!("{t}: full refresh"), b, &rows(&nightly, t, None));
    }
}

#[test]
fn list_shows_which_models_need_all_history() {
    let p = reference_project();
    let out = p.run(&["list", "--output", "json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let list = json(&out.stdout);
    let model = |name: &str| -> serde_json::Value {
        list["models"]
            .as_array()
            .expect("models")
            .iter()
            .find(|m| m["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} not listed"))
    };
    for declared in [
        "bridge_identity",
        "int_markov_removal_effects",
        "int_shapley_weights",
        "int_attribution_touch_effects",
    ] {
        assert_eq!(model(declared)["full_history"], true, "{declared}");
        assert_eq!(model(declared)["full_history_from"], declared);
    }
    // inherited through the person ids it reads
    assert_eq!(model("fct_attribution")["full_history"], true);
    assert!(model("fct_attribution")["full_history_from"].is_string());
    // the log rewrites itself whole (erasure reaches old nights); the sales mart is
    // incremental over its window
    assert_eq!(model("identity_history")["full_history"], true);
    assert_eq!(model("agg_daily_sales")["full_history"], false);
    assert_eq!(model("agg_daily_sales")["windowed"], true);
}

/// The shop fixture with a windowed mart: orders per day, one late-arrival day.
fn windowed_shop() -> TestProject {
    let p = fixture("shop");
    let config = p.read_file("pipelines.yaml").replace(
        "models:\n  defaults:",
        "execution:\n  late_arrival_days: 1\nmodels:\n  agg_orders:\n    materialization: partitioned\n    partition_by: order_date\n  defaults:",
    );
    p.write_file("pipelines.yaml", &config);
    p.write_file(
        "sql/marts/agg_orders.sql",
        "select order_date, count(*) as orders\nfrom stg_orders\nwhere order_date >= {{ window_start }} and order_date <= {{ run_date }}\ngroup by order_date\n",
    );
    p.write_shop_raw();
    p
}

fn partitions(p: &TestProject, table: &str) -> Vec<String> {
    let mut dirs: Vec<String> = p
        .table_files(table)
        .into_iter()
        .filter_map(|f| f.split_once('/').map(|(d, _)| d.to_string()))
        .collect();
    dirs.dedup();
    dirs
}

#[test]
fn a_night_owns_its_window_and_reads_exports_as_of_its_date() {
    let p = windowed_shop();
    // A later export is never opened, not even by a query reading every order: a corrupt file
    // there would otherwise fail each run below.
    p.write_file(
        "raw/orders/export_date=2026-11-22/part-0.parquet",
        "not Parquet",
    );
    // As of 2026-11-19 only the first export exists: c1 has one order, not two.
    let out = p.run(&["run", "--date", "2026-11-19", "--select", "dim_customer"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        p.query_rows("select customer_id, orders from dim_customer order by customer_id"),
        vec![
            vec!["c1".to_string(), "1".into()],
            vec!["c2".into(), "0".into()]
        ]
    );

    let out = p.run(&["run", "--date", "2026-11-20", "--select", "agg_orders"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        partitions(&p, "agg_orders"),
        ["order_date=2026-11-19", "order_date=2026-11-20"]
    );
    // The 2026-11-20 export is withdrawn. The next night's window (11-20..11-21) no longer has
    // rows for 11-20, so that partition goes; 11-19 is before the window and stays.
    std::fs::remove_dir_all(p.path().join("raw/orders/export_date=2026-11-20")).expect("rm");
    let out = p.run(&["run", "--date", "2026-11-21", "--select", "agg_orders"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        partitions(&p, "agg_orders"),
        ["order_date=2026-11-19", "order_date=2026-11-21"]
    );
    let record = json(&p.read_file("warehouse/agg_orders/_parcours_commit.json"));
    assert_eq!(
        record["replaced_partitions"],
        serde_json::json!(["order_date=2026-11-20", "order_date=2026-11-21"])
    );

    // Before the first export there is nothing to read: exit 3, saying why.
    let out = p.run(&["run", "--date", "2026-11-18"]);
    assert_eq!(out.code, 3, "{}", out.all());
    assert!(
        out.stderr
            .contains("no Parquet files exported on or before the run date 2026-11-18"),
        "{}",
        out.stderr
    );
}

#[test]
fn backfill_runs_each_night_and_stops_at_the_first_failure() {
    let p = fixture("shop");
    p.write_shop_raw();
    let out = p.run(&[
        "run",
        "--select",
        "+fct_orders",
        "--start",
        "2026-11-19",
        "--end",
        "2026-11-21",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let nights: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(nights.len(), 3, "{}", out.stdout);
    assert!(nights[0].starts_with("2026-11-19  Done:"), "{}", out.stdout);
    assert_eq!(
        partitions(&p, "fct_orders"),
        [
            "order_date=2026-11-19",
            "order_date=2026-11-20",
            "order_date=2026-11-21"
        ]
    );
    assert_eq!(
        json(&p.read_file("target/run_results.json"))["run_date"],
        "2026-11-21"
    );

    // The first night has no export yet: the backfill stops there with its exit code.
    let out = p.run(&["run", "--start", "2026-11-18", "--end", "2026-11-21"]);
    assert_eq!(out.code, 3, "{}", out.all());
    assert!(
        out.stderr
            .contains("backfill stopped at 2026-11-18 (night 1 of 4)"),
        "{}",
        out.stderr
    );

    for (args, says) in [
        (
            vec!["--start", "2026-11-21", "--end", "2026-11-19"],
            "is after --end",
        ),
        (
            vec![
                "--start",
                "2026-11-19",
                "--end",
                "2026-11-21",
                "--date",
                "2026-11-20",
            ],
            "cannot be used with",
        ),
        (vec!["--start", "2026-11-19"], "--end"),
        (vec!["--end", "2026-11-19"], "--start"),
    ] {
        let mut all = vec!["run"];
        all.extend(args.iter().copied());
        let out = p.run(&all);
        assert_eq!(out.code, 2, "{args:?}: {}", out.all());
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn history_settings_are_checked_where_they_are_written() {
    let p = fixture("shop");
    p.write_shop_raw();
    let original = p.read_file("pipelines.yaml");
    let line_of =
        |text: &str, needle: &str| text.lines().position(|l| l.contains(needle)).expect("line") + 1;
    for (from, to, says) in [
        (
            "      - {name: export_date, type: date}\n",
            "      - {name: export_date, type: date}\n    as_of: customer_id\n",
            "as_of `customer_id` is not one of its partitions (`export_date`)",
        ),
        (
            "      - {name: export_date, type: date}\n",
            "      - export_date\n    as_of: export_date\n",
            "as_of `export_date` is a `utf8` partition",
        ),
        (
            "      - {name: export_date, type: date}\n",
            "      - {name: export_date, type: date}\n    as_of: 3\n",
            "expected the name of a date partition column, or `false`",
        ),
        (
            "  stg_orders:\n    materialization: view\n",
            "  stg_orders:\n    materialization: view\n    full_history: sometimes\n",
            "full_history",
        ),
    ] {
        let text = original.replacen(from, to, 1);
        assert_ne!(text, original);
        p.write_file("pipelines.yaml", &text);
        let out = p.run(&["validate"]);
        assert_eq!(out.code, 2, "{}", out.all());
        let key = to.lines().last().expect("key").trim();
        let at = format!("pipelines.yaml:{}", line_of(&text, key));
        assert!(
            out.stderr.contains(&at) && out.stderr.contains(says),
            "{at} / {says}: {}",
            out.stderr
        );
    }

    let text = original.replace(
        "models:\n",
        "execution:\n  late_arrival_days: 100000\nmodels:\n",
    );
    p.write_file("pipelines.yaml", &text);
    let out = p.run(&["validate"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .contains("late_arrival_days 100000 is more than 3650"),
        "{}",
        out.stderr
    );

    // `as_of: false` reads every export, even those after the run date.
    p.write_file(
        "pipelines.yaml",
        &original.replacen(
            "      - {name: export_date, type: date}\n",
            "      - {name: export_date, type: date}\n    as_of: false\n",
            1,
        ),
    );
    let out = p.run(&["run", "--date", "2026-11-19", "--select", "dim_customer"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        p.query_rows("select orders from dim_customer where customer_id = 'c1'"),
        vec![vec!["2".to_string()]]
    );
}
