//! End-to-end tests of `parcours run`, `test`, `compile`, `list`, `lineage` and `validate` on the
//! `shop` fixture, through the real binary and real Parquet on the local file system.

mod common;

use common::fixture;
use sha2::Digest;

fn sha(s: &str) -> String {
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("json")
}

#[test]
fn run_publishes_tables_tests_and_artifacts() {
    let p = fixture("shop");
    p.write_shop_raw();
    let out = p.run(&["run", "--date", "2026-11-21"]);
    assert_eq!(out.code, 0, "{}", out.all());
    // c3 has no customer row: the `warn` relationships test reports it, and still publishes.
    assert!(
        out.stdout.contains("WARN relationships(customer_id -> dim_customer.customer_id) on fct_orders: 1 failing rows"),
        "{}",
        out.stdout
    );

    let expected = format!(
        "+-------------+------------------------------------------------------------------+---------+--------+\n\
         | customer_id | email_sha256                                                     | country | orders |\n\
         +-------------+------------------------------------------------------------------+---------+--------+\n\
         | c1          | {} | FR      | 2      |\n\
         | c2          | {} | BE      | 1      |\n\
         +-------------+------------------------------------------------------------------+---------+--------+",
        sha("alice@example.com"),
        sha("bob@example.com")
    );
    assert_eq!(p.query_text("select customer_id, email_sha256, country, orders from dim_customer order by customer_id"), expected);
    // Only the run date's orders are in the partitioned table; revenue counts completed orders.
    assert_eq!(
        p.query_text("select order_id from fct_orders"),
        "+----------+\n| order_id |\n+----------+\n| o4       |\n+----------+"
    );
    assert_eq!(
        p.query_text("select cast(revenue as varchar) as r from agg_daily_revenue"),
        "+------+\n| r    |\n+------+\n| 7.25 |\n+------+"
    );

    // No raw e-mail reaches a published file.
    for table in ["dim_customer", "fct_orders", "agg_daily_revenue"] {
        for f in p.table_files(table) {
            let bytes =
                std::fs::read(p.path().join("warehouse").join(table).join(&f)).expect("read");
            assert!(
                !String::from_utf8_lossy(&bytes)
                    .to_lowercase()
                    .contains("example.com"),
                "{table}/{f}"
            );
        }
    }

    // Commit record: what the table is now.
    let record = json(&p.read_file("warehouse/dim_customer/_parcours_commit.json"));
    assert_eq!(record["rows"], 2);
    assert_eq!(record["materialization"], "table");
    let files = record["files"].as_array().expect("files");
    assert_eq!(files.len(), 1, "a small table is one file");
    let listed: Vec<String> = files
        .iter()
        .map(|f| f["path"].as_str().expect("path").to_string())
        .collect();
    let mut on_disk = p.table_files("dim_customer");
    on_disk.retain(|f| f.ends_with(".parquet"));
    assert_eq!(listed, on_disk);
    assert!(
        record["schema"]
            .as_array()
            .expect("schema")
            .iter()
            .any(|c| c["name"] == "email_sha256")
    );

    // Artifacts.
    let results = json(&p.read_file("target/run_results.json"));
    let statuses: Vec<(String, String)> = results["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["model"].as_str().expect("m").to_string(),
                r["status"].as_str().expect("s").to_string(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("stg_customers".to_string(), "success".to_string()),
            ("stg_orders".into(), "success".into()),
            ("dim_customer".into(), "success".into()),
            ("fct_orders".into(), "warn".into()),
            ("agg_daily_revenue".into(), "success".into()),
        ]
    );
    assert_eq!(results["results"][2]["rows"], 2);
    assert!(results["results"][2]["bytes"].as_u64().expect("bytes") > 0);
    let manifest = json(&p.read_file("target/manifest.json"));
    assert_eq!(
        manifest["models"]["agg_daily_revenue"]["depends_on"]["models"],
        serde_json::json!(["fct_orders"])
    );
    assert_eq!(
        manifest["models"]["stg_orders"]["depends_on"]["sources"],
        serde_json::json!(["orders"])
    );
    assert!(
        manifest["models"]["dim_customer"]["schema"]
            .as_array()
            .is_some_and(|s| s.len() == 4)
    );

    // Staging is cleaned up.
    let staging = p.path().join("warehouse/_parcours/staging");
    let leftovers = std::fs::read_dir(&staging)
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    e.path()
                        .read_dir()
                        .map(|mut r| r.next().is_some())
                        .unwrap_or(true)
                })
                .count()
        })
        .unwrap_or(0);
    assert_eq!(leftovers, 0, "staging leftovers in {}", staging.display());
}

#[test]
fn partitioned_runs_replace_only_their_partitions() {
    let p = fixture("shop");
    p.write_shop_raw();
    for d in ["2026-11-19", "2026-11-20", "2026-11-21"] {
        let out = p.run(&["run", "--select", "+fct_orders", "--date", d]);
        assert_eq!(out.code, 0, "{}", out.all());
    }
    let before = p.table_files("fct_orders");
    let parts: Vec<&String> = before.iter().filter(|f| f.ends_with(".parquet")).collect();
    assert_eq!(parts.len(), 3, "{before:?}");
    assert!(parts[0].starts_with("order_date=2026-11-19/"), "{before:?}");
    assert_eq!(
        p.query_text("select count(*) as n from fct_orders"),
        "+---+\n| n |\n+---+\n| 4 |\n+---+"
    );

    // A late order for the 20th arrives in a second file of the 20th's export (a run reads the
    // exports as of its date, so a later export would not reach a rerun of the 20th); rerunning
    // the 20th rewrites that day only.
    p.write_orders_file(
        "2026-11-20",
        "part-1.parquet",
        &[("o5", "2026-11-20T23:00:00Z", Some("c2"), 100, "completed")],
    );
    let out = p.run(&["run", "--select", "+fct_orders", "--date", "2026-11-20"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let after = p.table_files("fct_orders");
    let day = |files: &[String], d: &str| {
        files
            .iter()
            .filter(|f| f.starts_with(&format!("order_date={d}/")))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(day(&before, "2026-11-19"), day(&after, "2026-11-19"));
    assert_eq!(day(&before, "2026-11-21"), day(&after, "2026-11-21"));
    assert_ne!(day(&before, "2026-11-20"), day(&after, "2026-11-20"));
    assert_eq!(
        p.query_text("select order_date, count(*) as n from fct_orders group by order_date order by order_date"),
        "+------------+---+\n| order_date | n |\n+------------+---+\n| 2026-11-19 | 1 |\n| 2026-11-20 | 3 |\n| 2026-11-21 | 1 |\n+------------+---+"
    );
    let record = json(&p.read_file("warehouse/fct_orders/_parcours_commit.json"));
    assert_eq!(record["rows"], 5);
    assert_eq!(
        record["replaced_partitions"],
        serde_json::json!(["order_date=2026-11-20"])
    );
    assert_eq!(record["partition_type"], "date");

    // The same date twice gives the same rows: no duplicates.
    let out = p.run(&["run", "--select", "+fct_orders", "--date", "2026-11-20"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        p.query_text("select count(*) as n from fct_orders"),
        "+---+\n| n |\n+---+\n| 5 |\n+---+"
    );
}

#[test]
fn a_partitioned_table_first_published_empty_still_reads() {
    let p = fixture("shop");
    p.write_shop_raw();
    // No order on the 25th: the first publish of fct_orders holds no file at all.
    let out = p.run(&["run", "--select", "+fct_orders", "--date", "2026-11-25"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let record = json(&p.read_file("warehouse/fct_orders/_parcours_commit.json"));
    assert_eq!(record["rows"], 0);
    assert_eq!(record["files"], serde_json::json!([]));
    // Its tests read the published (empty) table, columns and all.
    let out = p.run(&["run", "--select", "+dim_customer", "--date", "2026-11-25"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = p.run(&["test", "--select", "fct_orders", "--date", "2026-11-25"]);
    assert_eq!(out.code, 0, "{}", out.all());
    // A later night adds its partition.
    let out = p.run(&["run", "--select", "+fct_orders", "--date", "2026-11-19"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        p.query_text("select count(*) as n from fct_orders"),
        "+---+\n| n |\n+---+\n| 1 |\n+---+"
    );
}

#[test]
fn failing_error_test_blocks_publish_and_skips_descendants() {
    let p = fixture("shop");
    p.write_shop_raw();
    assert_eq!(p.run(&["run", "--date", "2026-11-20"]).code, 0);
    let before = p.table_files("fct_orders");
    let revenue_before = p.table_files("agg_daily_revenue");

    // o2 exported again in a second file of its export with another amount:
    // `unique(order_id)` fails.
    p.write_orders_file(
        "2026-11-20",
        "part-1.parquet",
        &[("o2", "2026-11-20T09:30:00Z", Some("c2"), 2100, "completed")],
    );
    let out = p.run(&["run", "--date", "2026-11-20"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout
            .contains("FAIL unique(order_id) on fct_orders: 1 failing rows"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("| o2       | 2           |"),
        "the failing rows are shown:\n{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("skipped: upstream `fct_orders` did not succeed"),
        "{}",
        out.stdout
    );
    assert_eq!(
        p.table_files("fct_orders"),
        before,
        "the failed model is not published"
    );
    assert_eq!(
        p.table_files("agg_daily_revenue"),
        revenue_before,
        "descendants are not run"
    );
    let results = json(&p.read_file("target/run_results.json"));
    let status = |m: &str| {
        results["results"]
            .as_array()
            .expect("r")
            .iter()
            .find(|r| r["model"] == m)
            .map(|r| r["status"].clone())
    };
    assert_eq!(status("fct_orders"), Some("test_failed".into()));
    assert_eq!(status("agg_daily_revenue"), Some("skipped".into()));
    assert_eq!(
        status("dim_customer"),
        Some("success".into()),
        "independent models still run"
    );
}

#[test]
fn runtime_failure_keeps_the_previous_version() {
    let p = fixture("shop");
    p.write_shop_raw();
    assert_eq!(p.run(&["run", "--date", "2026-11-21"]).code, 0);
    let before = p.table_files("dim_customer");
    let record_before = p.read_file("warehouse/dim_customer/_parcours_commit.json");

    let out = p.run(&[
        "run",
        "--date",
        "2026-11-21",
        "--var",
        "fail_on_purpose=true",
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stdout.contains("dim_customer"), "{}", out.stdout);
    assert!(
        out.all().contains("Cannot cast string 'completed'"),
        "{}",
        out.all()
    );
    assert_eq!(p.table_files("dim_customer"), before);
    assert_eq!(
        p.read_file("warehouse/dim_customer/_parcours_commit.json"),
        record_before
    );
    let results = json(&p.read_file("target/run_results.json"));
    assert_eq!(results["success"], false);
    let errors: Vec<&str> = results["results"]
        .as_array()
        .expect("r")
        .iter()
        .filter(|r| r["status"] == "error")
        .filter_map(|r| r["error"].as_str())
        .collect();
    assert!(!errors.is_empty(), "{results}");
    // a value the data holds is the model's failure, named with its file, not a bug (exit 70)
    for e in &errors {
        assert!(!e.contains("internal error"), "{e}");
        assert!(e.starts_with("model `") && e.contains("(sql/"), "{e}");
    }
}

#[test]
fn selectors_pipelines_and_list() {
    let p = fixture("shop");
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["list", "--output", "json"];
        a.extend_from_slice(args);
        let out = p.run(&a);
        assert_eq!(out.code, 0, "{}", out.all());
        json(&out.stdout)["models"]
            .as_array()
            .expect("models")
            .iter()
            .map(|m| m["name"].as_str().expect("name").to_string())
            .collect()
    };
    assert_eq!(
        names(&["--select", "stg_orders+"]),
        [
            "stg_orders",
            "dim_customer",
            "fct_orders",
            "agg_daily_revenue"
        ]
    );
    assert_eq!(
        names(&["--select", "+agg_daily_revenue"]),
        ["stg_orders", "fct_orders", "agg_daily_revenue"]
    );
    assert_eq!(
        names(&["--select", "tag:staging"]),
        ["stg_customers", "stg_orders"]
    );
    assert_eq!(
        names(&["--select", "path:sql/marts"]),
        ["dim_customer", "fct_orders", "agg_daily_revenue"]
    );
    assert_eq!(
        names(&["--select", "path:sql/marts", "--exclude", "fct_orders+"]),
        ["dim_customer"]
    );
    assert_eq!(
        names(&["--pipeline", "nightly"]),
        ["stg_orders", "fct_orders", "agg_daily_revenue"]
    );
    let out = p.run(&["list", "--select", "dim_custmer"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("did you mean `dim_customer`"),
        "{}",
        out.stderr
    );
    let out = p.run(&["list", "--pipeline", "weekly"]);
    assert_eq!(out.code, 2);
    insta::assert_snapshot!("list_text", p.run(&["list"]).stdout);
}

#[test]
fn lineage_as_mermaid_and_dot() {
    let p = fixture("shop");
    insta::assert_snapshot!("lineage_mermaid", p.run(&["lineage"]).stdout);
    insta::assert_snapshot!("lineage_dot", p.run(&["lineage", "--format", "dot"]).stdout);
}

#[test]
fn compile_prints_resolved_sql_and_schema() {
    let p = fixture("shop");
    p.write_shop_raw();
    let out = p.run(&["compile", "--select", "fct_orders", "--date", "2026-11-20"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("where order_date = DATE '2026-11-20'"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("--   amount decimal(12,2)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("--   order_date date"),
        "{}",
        out.stdout
    );
    assert!(
        !p.path().join("warehouse").exists(),
        "compile writes nothing to the warehouse"
    );
}

#[test]
fn validate_checks_everything_and_writes_nothing() {
    let p = fixture("shop");
    p.write_shop_raw();
    let out = p.run(&["validate"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .starts_with("ok: 5 models, 2 sources, 1 singular tests"),
        "{}",
        out.stdout
    );
    assert!(!p.path().join("warehouse").exists());
}

#[test]
fn test_command_reads_published_tables() {
    let p = fixture("shop");
    p.write_shop_raw();
    let out = p.run(&["test"]);
    assert_eq!(out.code, 2, "nothing published yet: {}", out.all());
    assert!(
        out.stderr.contains("has never been published"),
        "{}",
        out.stderr
    );
    assert_eq!(p.run(&["run", "--date", "2026-11-21"]).code, 0);
    let out = p.run(&["test", "--date", "2026-11-21"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("WARN relationships"), "{}", out.stdout);
    // A lower ceiling makes the singular test find the 20.50 order.
    let out = p.run(&["test", "--var", "max_order_amount=5"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout
            .contains("FAIL no_huge_orders (data_tests/no_huge_orders.sql): 1 failing rows"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("| o4       | 7.25   |"),
        "{}",
        out.stdout
    );
}

#[test]
fn json_logs_have_one_event_per_model() {
    let p = fixture("shop");
    p.write_shop_raw();
    let out = p.run(&["--log-format", "json", "run", "--date", "2026-11-21"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let events: Vec<serde_json::Value> = out.stderr.lines().map(json).collect();
    let ends: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "model_end")
        .collect();
    assert_eq!(ends.len(), 5, "{}", out.stderr);
    let dim = ends
        .iter()
        .find(|e| e["model"] == "dim_customer")
        .expect("dim_customer end");
    assert_eq!(dim["rows"], 2);
    assert!(dim["duration_ms"].is_u64());
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "model_start")
            .count(),
        5
    );
}

#[test]
fn vars_are_typed() {
    let p = fixture("shop");
    p.write_shop_raw();
    let out = p.run(&["compile", "--var", "min_amount=1; drop table x"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("`min_amount` is a integer")
            || out.stderr.contains("is not an integer"),
        "{}",
        out.stderr
    );
    let out = p.run(&["compile", "--var", "nope=1"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("`nope` is not declared"),
        "{}",
        out.stderr
    );
    let out = p.run(&[
        "compile",
        "--select",
        "stg_orders",
        "--var",
        "min_amount=10",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("where amount >= 10"), "{}", out.stdout);
}

#[test]
fn thread_count_does_not_change_results() {
    let mut outputs = Vec::new();
    for threads in ["1", "4"] {
        let p = fixture("shop");
        p.write_shop_raw();
        let out = p.run(&["run", "--date", "2026-11-21", "--threads", threads]);
        assert_eq!(out.code, 0, "{}", out.all());
        outputs.push([
            p.query_text("select * from dim_customer order by customer_id"),
            p.query_text("select * from fct_orders order by order_id"),
            p.query_text("select * from agg_daily_revenue order by order_date"),
        ]);
    }
    assert_eq!(outputs[0], outputs[1]);
}

#[test]
fn hidden_and_non_partition_folders_are_not_source_files() {
    let p = fixture("shop");
    p.write_shop_raw();
    // A Spark-style `_temporary` folder and a stray copy outside the partition folders.
    std::fs::create_dir_all(p.path().join("raw/orders/_temporary")).expect("mkdir");
    std::fs::write(
        p.path().join("raw/orders/_temporary/part-9.parquet"),
        b"half written",
    )
    .expect("write");
    std::fs::create_dir_all(p.path().join("raw/orders/backup")).expect("mkdir");
    std::fs::write(p.path().join("raw/orders/backup/old.parquet"), b"not read").expect("write");
    let out = p.run(&["run", "--date", "2026-11-21"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let manifest = json(&p.read_file("target/manifest.json"));
    assert_eq!(manifest["sources"]["orders"]["files"], 3);
}

#[test]
fn memory_limit_flag_is_checked_and_applied() {
    let p = fixture("shop");
    p.write_shop_raw();
    let out = p.run(&["run", "--memory-limit", "lots"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("--memory-limit `lots` is not a size"),
        "{}",
        out.stderr
    );
    // A tiny pool is enforced: DataFusion refuses to run rather than exceed it.
    let out = p.run(&[
        "run",
        "--date",
        "2026-11-21",
        "--memory-limit",
        "1KiB",
        "--temp-dir",
        "spill",
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.all().contains("Resources exhausted"), "{}", out.all());
    let out = p.run(&["run", "--date", "2026-11-21", "--memory-limit", "256MiB"]);
    assert_eq!(out.code, 0, "{}", out.all());
}

#[test]
fn a_join_too_big_for_the_pool_is_retried_with_sort_merge_joins() {
    let p = fixture("shop");
    p.write_shop_raw();
    // A hash join whose build side (four million keys) does not fit a 64 MiB pool; sorted and
    // merged instead, the same join spills and completes.
    p.write_file(
        "sql/marts/big_join.sql",
        "with keys as (select x * 1000 + y as k from (select unnest(range(0, 4000)) as x) \
         cross join (select unnest(range(0, 1000)) as y)) \
         select count(*) as n from keys a join keys b on a.k = b.k",
    );
    let args = [
        "run",
        "--select",
        "big_join",
        "--date",
        "2026-11-21",
        "--memory-limit",
        "64MiB",
        "--temp-dir",
        "spill",
        "--log-format",
        "json",
    ];
    let out = p.run(&args);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains("retrying with sort-merge joins"),
        "{}",
        out.stderr
    );
    assert_eq!(
        p.query_text("select n from big_join"),
        "+---------+\n| n       |\n+---------+\n| 4000000 |\n+---------+"
    );
    // Declared up front, the model skips the failing first try.
    let yaml = p.read_file("pipelines.yaml").replace(
        "  fct_orders:\n",
        "  big_join:\n    joins: sort_merge\n  fct_orders:\n",
    );
    p.write_file("pipelines.yaml", &yaml);
    let out = p.run(&args);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!out.stderr.contains("retrying"), "{}", out.stderr);
}

#[test]
fn show_and_test_default_to_the_last_run_date() {
    let p = fixture("shop");
    p.write_shop_raw();
    let out = p.run(&["run", "--date", "2026-11-21"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let record = json(&p.read_file("warehouse/fct_orders/_parcours_commit.json"));
    assert_eq!(record["run_date"], "2026-11-21");

    // No --date: the date of the last published run, said on stderr; the night's one order.
    let out = p.run(&["show", "fct_orders"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr
            .contains("no --date: using 2026-11-21, the run date of the last published run"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("| o4 "), "{}", out.stdout);
    assert!(out.stdout.ends_with("1 row\n"), "{}", out.stdout);

    // A day without orders: the header still names the columns, and says 0 rows.
    let out = p.run(&["show", "fct_orders", "--date", "2026-11-25"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!out.stderr.contains("no --date"), "{}", out.stderr);
    let header = out.stdout.lines().nth(1).unwrap_or_default().to_string();
    for column in [
        "order_id",
        "order_ts",
        "customer_id",
        "amount",
        "status",
        "order_date",
    ] {
        assert!(header.contains(column), "{}", out.stdout);
    }
    assert!(out.stdout.ends_with("0 rows\n"), "{}", out.stdout);

    // Floats at a readable precision.
    p.write_file(
        "sql/marts/float_check.sql",
        "select 0.1 + 0.2 as share, cast(2 as double) / 3 as third, cast(null as double) as nothing\n",
    );
    let out = p.run(&["show", "float_check"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("| 0.3   | 0.666667 |"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("0.30000000000000004"),
        "{}",
        out.stdout
    );

    // `test` too runs at the last run's date.
    std::fs::remove_file(p.path().join("sql/marts/float_check.sql")).expect("rm");
    let out = p.run(&["test"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains("no --date: using 2026-11-21"),
        "{}",
        out.stderr
    );
    let results = json(&p.read_file("target/run_results.json"));
    assert_eq!(results["run_date"], "2026-11-21");
}
