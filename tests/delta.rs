//! `format: delta` on a local warehouse: every published version is one Delta commit, a
//! partitioned model's commit replaces exactly the partitions it computed, data tests run
//! before the commit, replaced files stay readable for `vacuum_retention`, parcours's own
//! readers follow the Delta snapshot, and a switch of format is a migration (to Delta) or an
//! error with its fix (back to Parquet). Tables are read back with delta-rs's own log replay
//! (tests/common/delta.rs), not parcours's reader.

mod common;
#[path = "common/delta.rs"]
mod delta;

use common::TestProject;
use delta::{Table, block, log_entries, paths_of};

/// The shop fixture with every published model a Delta table (the models default).
fn delta_shop(extra_defaults: &str) -> TestProject {
    let p = common::fixture("shop");
    p.write_shop_raw();
    let config = p.read_file("pipelines.yaml").replace(
        "  defaults:\n    materialization: table\n",
        &format!("  defaults:\n    materialization: table\n    format: delta\n{extra_defaults}"),
    );
    assert!(config.contains("format: delta"));
    p.write_file("pipelines.yaml", &config);
    p
}

fn run(p: &TestProject, args: &[&str]) {
    let out = p.run(args);
    assert_eq!(out.code, 0, "{args:?}:\n{}", out.all());
}

fn table(p: &TestProject, name: &str) -> Table {
    Table::local(&p.path().join("warehouse").join(name))
}

/// Data files in a table folder, the Delta log aside.
fn data_files(p: &TestProject, name: &str) -> Vec<String> {
    p.table_files(name)
        .into_iter()
        .filter(|f| !f.starts_with("_delta_log"))
        .collect()
}

#[test]
fn each_run_is_one_delta_commit_replacing_exactly_its_partitions() {
    let p = delta_shop("");
    run(&p, &["run", "--date", "2026-11-20"]);
    run(&p, &["run", "--date", "2026-11-21"]);
    run(&p, &["run", "--date", "2026-11-21"]);

    let wh = p.path().join("warehouse");
    for t in ["fct_orders", "dim_customer", "agg_daily_revenue"] {
        assert!(
            !wh.join(t).join("_parcours_commit.json").exists(),
            "{t}: a Delta table has no commit record beside its log"
        );
        assert_eq!(log_entries(&wh.join(t)).len(), 3, "{t}: one commit per run");
    }

    // Night 2 adds its partition and removes nothing; the rerun of night 2 replaces that
    // partition, file for file, in one commit, and leaves night 1's alone.
    let log = log_entries(&wh.join("fct_orders"));
    let adds = |c: usize| paths_of(&log[c], "add");
    let removes = |c: usize| paths_of(&log[c], "remove");
    assert_eq!(adds(0).len(), 1);
    assert!(
        adds(0)[0].starts_with("order_date=2026-11-20/part-"),
        "{:?}",
        adds(0)
    );
    assert!(adds(1).len() == 1 && adds(1)[0].starts_with("order_date=2026-11-21/"));
    assert!(removes(1).is_empty(), "{:?}", removes(1));
    assert_eq!(removes(2), adds(1), "the rerun removes what night 2 added");
    assert!(adds(2).len() == 1 && adds(2)[0].starts_with("order_date=2026-11-21/"));
    assert_ne!(adds(2), adds(1), "new files get new names");
    let commit_info = log[2]
        .iter()
        .find_map(|a| a.get("commitInfo"))
        .expect("commitInfo");
    assert_eq!(commit_info["parcours"]["materialization"], "partitioned");
    assert!(
        commit_info["parcours"]["run_id"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );

    // What a Delta reader sees: night 1's orders and night 2's, once each.
    let rows = block(table(&p, "fct_orders").rows(None)).expect("fct_orders");
    let ids: Vec<&str> = rows.iter().map(|r| r.split('|').nth(1).unwrap()).collect();
    assert_eq!(ids, ["o2", "o3", "o4"], "{rows:?}");
    assert!(rows[0].starts_with("2026-11-20|") && rows[2].starts_with("2026-11-21|"));
    let snap = block(table(&p, "fct_orders").snapshot(None)).expect("snapshot");
    assert_eq!(snap.partition_columns, ["order_date"]);
    assert_eq!(
        snap.configuration["delta.deletedFileRetentionDuration"],
        "interval 604800 seconds"
    );

    // A table replaces its one file each run; the replaced ones stay for a week, and the
    // first version still reads whole (time travel), with the customers of that night.
    let snap = block(table(&p, "dim_customer").snapshot(None)).expect("snapshot");
    assert_eq!(snap.version, 2);
    assert_eq!(snap.files.len(), 1);
    assert_eq!(data_files(&p, "dim_customer").len(), 3);
    let first = block(table(&p, "dim_customer").rows(Some(0))).expect("version 0");
    assert_eq!(first.len(), 2, "{first:?}");

    // parcours's own readers follow the snapshot: the data tests pass on the published
    // tables, which a reader of every file in the folder would see three times over.
    run(&p, &["test", "--date", "2026-11-21"]);
}

#[test]
fn vacuum_deletes_replaced_files_after_the_retention() {
    let p = delta_shop("    vacuum_retention: 0s\n");
    run(&p, &["run", "--date", "2026-11-20"]);
    run(&p, &["run", "--date", "2026-11-21"]);
    let snap = block(table(&p, "dim_customer").snapshot(None)).expect("snapshot");
    assert_eq!(
        snap.configuration["delta.deletedFileRetentionDuration"],
        "interval 0 seconds"
    );
    let live: Vec<&str> = snap.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        data_files(&p, "dim_customer"),
        live,
        "only the live file stays"
    );
    // The version before is gone with its files: a reader asking for it fails, it does not
    // get an incomplete table.
    assert!(block(table(&p, "dim_customer").rows(Some(0))).is_err());
    // A partition this run did not touch keeps its file.
    assert_eq!(data_files(&p, "fct_orders").len(), 2);

    // A retention change is written to the table on its next commit.
    let config = p
        .read_file("pipelines.yaml")
        .replace("vacuum_retention: 0s", "vacuum_retention: 36h");
    p.write_file("pipelines.yaml", &config);
    run(&p, &["run", "--date", "2026-11-21"]);
    let snap = block(table(&p, "dim_customer").snapshot(None)).expect("snapshot");
    assert_eq!(
        snap.configuration["delta.deletedFileRetentionDuration"],
        "interval 129600 seconds"
    );
    assert_eq!(data_files(&p, "dim_customer").len(), 2);
}

#[test]
fn a_failing_data_test_commits_nothing() {
    let p = delta_shop("    vacuum_retention: 0s\n");
    run(&p, &["run", "--date", "2026-11-20"]);
    let before = log_entries(&p.path().join("warehouse/fct_orders")).len();
    let files_before = p.table_files("fct_orders");
    // Night 2 exports an order whose status fails `accepted_values`.
    p.write_orders(
        "2026-11-21",
        &[("o9", "2026-11-21T08:00:00Z", Some("c1"), 100, "lost")],
    );
    let out = p.run(&["run", "--date", "2026-11-21"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.all().contains("accepted_values"), "{}", out.all());
    assert_eq!(
        log_entries(&p.path().join("warehouse/fct_orders")).len(),
        before,
        "no new version"
    );
    assert_eq!(
        p.table_files("fct_orders"),
        files_before,
        "no file of the failed model reached the table folder"
    );
    let rows = block(table(&p, "fct_orders").rows(None)).expect("fct_orders");
    assert_eq!(rows.len(), 2, "{rows:?}");
}

#[test]
fn a_source_on_a_published_delta_table_reads_its_snapshot() {
    let p = delta_shop("");
    // Yesterday's customers, read back the way previous_bridge_identity is in the reference
    // pipeline: a source on the warehouse folder of a published table.
    let config = p.read_file("pipelines.yaml").replace(
        "sources:\n",
        "sources:\n  previous_customers:\n    storage: warehouse\n    path: dim_customer\n    optional: true\n    schema:\n      customer_id: utf8 not null\n      orders: int64 not null\n",
    );
    p.write_file("pipelines.yaml", &config);
    p.write_file(
        "sql/marts/customer_history.sql",
        "select count(*) as customers, coalesce(sum(orders), 0) as orders from previous_customers\n",
    );
    run(&p, &["run", "--date", "2026-11-20"]);
    run(&p, &["run", "--date", "2026-11-21"]);
    run(&p, &["run", "--date", "2026-11-21"]);
    // The folder holds three versions of dim_customer; the source reads the one the snapshot
    // lists, so the count is one version's.
    assert_eq!(data_files(&p, "dim_customer").len(), 3);
    let rows = block(table(&p, "customer_history").rows(None)).expect("history");
    assert_eq!(rows, ["|2|3"], "{rows:?}");
}

#[test]
fn parquet_tables_convert_to_delta_and_delta_never_turns_back() {
    let p = common::fixture("shop");
    p.write_shop_raw();
    run(&p, &["run", "--date", "2026-11-20"]);
    let wh = p.path().join("warehouse");
    assert!(wh.join("fct_orders/_parcours_commit.json").exists());

    let parquet = p.read_file("pipelines.yaml");
    let delta = parquet.replace(
        "  defaults:\n    materialization: table\n",
        "  defaults:\n    materialization: table\n    format: delta\n",
    );
    p.write_file("pipelines.yaml", &delta);
    let out = p.run(&["-v", "run", "--date", "2026-11-21"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains("converted from plain Parquet"),
        "{}",
        out.stderr
    );

    // Version 0 of the converted table lists the Parquet table's kept partition too.
    assert!(!wh.join("fct_orders/_parcours_commit.json").exists());
    let log = log_entries(&wh.join("fct_orders"));
    assert_eq!(log.len(), 1);
    let adds = paths_of(&log[0], "add");
    assert_eq!(adds.len(), 2, "{adds:?}");
    let rows = block(table(&p, "fct_orders").rows(None)).expect("fct_orders");
    assert_eq!(rows.len(), 3, "{rows:?}");
    // The Parquet version that the conversion replaced was never in the Delta log: gone.
    assert_eq!(data_files(&p, "dim_customer").len(), 1);
    run(&p, &["test", "--date", "2026-11-21"]);

    // Back to Parquet: refused before anything runs, with the fix, and the table is as it was.
    p.write_file("pipelines.yaml", &parquet);
    let out = p.run(&["run", "--date", "2026-11-21"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("is a Delta table") && out.stderr.contains("Set `format: delta`"),
        "{}",
        out.stderr
    );
    assert_eq!(log_entries(&wh.join("fct_orders")).len(), 1);
}

#[test]
fn columns_delta_cannot_store_are_reported_by_validate() {
    let p = delta_shop("");
    p.write_file(
        "sql/marts/stamped.sql",
        "select customer_id, now() as loaded_at from stg_customers\n",
    );
    let out = p.run(&["validate"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("stamped")
            && out.stderr.contains("`loaded_at`")
            && out.stderr.contains(
                r#"arrow_cast(loaded_at, 'Timestamp(Microsecond, Some("UTC"))') as loaded_at"#
            ),
        "{}",
        out.stderr
    );
    // The fix the message gives works.
    p.write_file(
        "sql/marts/stamped.sql",
        "select customer_id, arrow_cast(now(), 'Timestamp(Microsecond, Some(\"UTC\"))') as loaded_at from stg_customers\n",
    );
    let out = p.run(&["validate"]);
    assert_eq!(out.code, 0, "{}", out.all());
    // `format` only applies to published models.
    let config = p.read_file("pipelines.yaml").replace(
        "  stg_orders:\n    materialization: view\n",
        "  stg_orders:\n    materialization: view\n    format: delta\n",
    );
    p.write_file("pipelines.yaml", &config);
    std::fs::remove_file(p.path().join("sql/marts/stamped.sql")).expect("rm");
    let out = p.run(&["validate"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("`format` does not apply"),
        "{}",
        out.stderr
    );
}
