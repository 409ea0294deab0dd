//! Bad input: every case gives a message that says what and where, a non-zero exit code, and
//! leaves published tables as they were.

mod common;

use common::{TestProject, fixture};

/// A project that has been run once, so there is a published version to protect.
fn published() -> (TestProject, Vec<String>) {
    let p = fixture("shop");
    p.write_shop_raw();
    let out = p.run(&["run", "--date", "2026-11-21"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let files = p.table_files("dim_customer");
    (p, files)
}

#[test]
fn unknown_yaml_key_names_file_line_and_key() {
    let p = fixture("shop");
    let cfg = p.read_file("pipelines.yaml").replace(
        "  stg_orders:\n    materialization: view",
        "  stg_orders:\n    materialisation: view",
    );
    p.write_file("pipelines.yaml", &cfg);
    let out = p.run(&["validate"]);
    assert_eq!(out.code, 2, "{}", out.all());
    let line = cfg
        .lines()
        .position(|l| l.contains("materialisation"))
        .expect("line")
        + 1;
    assert!(
        out.stderr.contains(&format!("pipelines.yaml:{line}")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("unknown field `materialisation`"),
        "{}",
        out.stderr
    );
}

#[test]
fn wrong_type_and_bad_test_arguments_are_located() {
    let p = fixture("shop");
    let cfg = p.read_file("pipelines.yaml").replace(
        "      - row_count: {min: 1}",
        "      - row_count: {min: 1, maxi: 3}",
    );
    p.write_file("pipelines.yaml", &cfg);
    let out = p.run(&["list"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("unknown key `maxi` for test `row_count`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("model `agg_daily_revenue`"),
        "{}",
        out.stderr
    );

    let cfg = p
        .read_file("pipelines.yaml")
        .replace("    tags: [marts]", "    tags: marts");
    p.write_file("pipelines.yaml", &cfg.replace("maxi: 3", "max: 3"));
    let out = p.run(&["list"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("pipelines.yaml:"), "{}", out.stderr);
    assert!(out.stderr.contains("tags"), "{}", out.stderr);
}

#[test]
fn sql_syntax_error_names_file_line_and_column() {
    let p = fixture("shop");
    p.write_file(
        "sql/marts/dim_customer.sql",
        "select customer_id\nfrom stg_customers\nwhere and country = 'FR'\n",
    );
    let out = p.run(&["run"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .contains("sql/marts/dim_customer.sql:3: column 11: SQL syntax error"),
        "{}",
        out.stderr
    );
}

#[test]
fn cycles_unknown_tables_and_duplicate_names() {
    let p = fixture("shop");
    p.write_file(
        "sql/staging/stg_customers.sql",
        "select * from dim_customer\n",
    );
    let out = p.run(&["list"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("dependency cycle"), "{}", out.stderr);
    assert!(
        out.stderr.contains("sql/marts/dim_customer.sql")
            && out.stderr.contains("sql/staging/stg_customers.sql"),
        "{}",
        out.stderr
    );

    let p = fixture("shop");
    p.write_file("sql/staging/stg_customers.sql", "select * from custmers\n");
    let out = p.run(&["list"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("sql/staging/stg_customers.sql"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("reads `custmers`") && out.stderr.contains("did you mean `customers`"),
        "{}",
        out.stderr
    );

    let p = fixture("shop");
    p.write_file("sql/marts/stg_orders.sql", "select 1 as x\n");
    let out = p.run(&["list"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("two models are named `stg_orders`: sql/marts/stg_orders.sql and sql/staging/stg_orders.sql"), "{}", out.stderr);
}

#[test]
fn missing_source_path() {
    let p = fixture("shop");
    p.write_customers(&[("c1", None, None)]);
    let out = p.run(&["run"]);
    assert_eq!(out.code, 3, "{}", out.all());
    assert!(
        out.stderr
            .contains("source `orders`: no Parquet files under file://"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("raw/orders/"), "{}", out.stderr);
    assert!(!p.path().join("warehouse/dim_customer").exists());
}

#[test]
fn corrupt_parquet_file_is_named_and_nothing_is_damaged() {
    let (p, before) = published();
    let bad = "raw/orders/export_date=2026-11-20/part-0.parquet";
    let bytes = std::fs::read(p.path().join(bad)).expect("read");
    std::fs::write(p.path().join(bad), &bytes[..bytes.len() / 2]).expect("truncate");
    let out = p.run(&["run", "--date", "2026-11-21"]);
    assert_eq!(out.code, 3, "{}", out.all());
    assert!(
        out.stderr
            .contains("export_date=2026-11-20/part-0.parquet is not a readable Parquet file"),
        "{}",
        out.stderr
    );
    assert_eq!(p.table_files("dim_customer"), before);
}

#[test]
fn drifted_column_type_is_reported_against_the_declared_schema() {
    let (p, before) = published();
    use arrow::array::{Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;
    let schema = Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Utf8, false),
        Field::new(
            "order_ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("customer_id", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, false),
        Field::new("status", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["o9"])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![common::micros("2026-11-22T10:00:00Z")])
                    .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(vec![Some("c1")])),
            Arc::new(Float64Array::from(vec![9.99])),
            Arc::new(StringArray::from(vec!["completed"])),
        ],
    )
    .expect("batch");
    p.write_parquet("raw/orders/export_date=2026-11-22/part-0.parquet", &batch);
    let out = p.run(&["run", "--date", "2026-11-22"]);
    assert_eq!(out.code, 3, "{}", out.all());
    assert!(
        out.stderr
            .contains("column `amount` is declared `decimal(12,2)` but file"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("export_date=2026-11-22/part-0.parquet has `float64`"),
        "{}",
        out.stderr
    );
    assert_eq!(p.table_files("dim_customer"), before);
}

#[test]
fn model_reading_a_missing_column_names_the_model() {
    let (p, before) = published();
    p.write_file(
        "sql/marts/dim_customer.sql",
        "select customer_id, loyalty_tier from stg_customers\n",
    );
    let out = p.run(&["run", "--date", "2026-11-21"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .contains("sql/marts/dim_customer.sql: model `dim_customer`"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("loyalty_tier"), "{}", out.stderr);
    assert_eq!(p.table_files("dim_customer"), before, "nothing ran");
}

#[test]
fn unwritable_warehouse_fails_before_any_model_runs() {
    let p = fixture("shop");
    p.write_shop_raw();
    // A regular file where a folder should be: not writable even for root.
    p.write_file("blocker", "not a folder");
    let out = p.run(&["run", "--storage", "warehouse=./blocker/wh"]);
    assert_eq!(out.code, 4, "{}", out.all());
    assert!(
        out.stderr
            .contains("storage `warehouse`: the warehouse file://"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("is not writable"), "{}", out.stderr);
    let out = p.run(&["run", "--storage", "lake=./x"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("no storage root `lake`"),
        "{}",
        out.stderr
    );
}

#[test]
fn usage_errors_exit_2() {
    let p = fixture("shop");
    let out = p.run(&["run", "--storage", "no-equals-sign"]);
    assert_eq!(out.code, 2);
    let out = p.run(&["frobnicate"]);
    assert_eq!(out.code, 2);
    let empty = tempfile::tempdir().expect("tmp");
    let out = common::bin()
        .arg("--project-dir")
        .arg(empty.path())
        .arg("list")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("pipelines.yaml: cannot read the project file")
    );
}

#[test]
fn literal_arguments_are_checked_before_anything_runs() {
    // The reference project's Markov order is a var; 5 is out of range, and validate, compile
    // and run say so with the file and line of the call, exit 2, before any model runs.
    let p = common::reference_project();
    p.generate_raw(3, 5);
    let sql = p.read_file("sql/attribution/int_markov_removal_effects.sql");
    let line = sql
        .lines()
        .position(|l| l.contains("markov_removal_effects("))
        .expect("call")
        + 1;
    for command in ["validate", "compile", "run"] {
        let out = p.run(&[command, "--date", "2026-10-31", "--var", "markov_order=5"]);
        assert_eq!(out.code, 2, "{command}: {}", out.all());
        assert!(
            out.stderr.contains(&format!(
                "sql/attribution/int_markov_removal_effects.sql:{line}: model `int_markov_removal_effects`: markov_removal_effects: order must be an integer literal between 1 and 4, got 5"
            )),
            "{command}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("internal error"), "{}", out.stderr);
    }
    let published: Vec<String> = std::fs::read_dir(p.path().join("data/warehouse"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().join("_parcours_commit.json").exists())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    assert!(published.is_empty(), "published: {published:?}");

    // A column where a literal is required.
    p.write_file(
        "sql/attribution/int_shapley_weights.sql",
        "select w['channel_set'] as channel_set, w['channel'] as channel, w['weight'] as weight\nfrom (\n    select unnest(shapley_channel_weights(path, converted,\n        cardinality(path))) as w\n    from int_attribution_paths\n)\n",
    );
    let out = p.run(&["validate", "--date", "2026-10-31"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains(
            "sql/attribution/int_shapley_weights.sql:3: model `int_shapley_weights`: shapley_channel_weights: max_channels must be an integer literal between 0 and 20, got an expression that is not a literal"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn a_count_where_converted_is_expected_is_refused_at_validate() {
    // `markov_removal_effects(path, total_conversions)` would read every count above 0 as
    // "converted": validate refuses the type, at the call's file and line, exit 2.
    let p = common::reference_project();
    p.generate_raw(3, 5);
    p.write_file(
        "sql/attribution/int_markov_removal_effects.sql",
        "select e['channel'] as channel, e['removal_effect'] as removal_effect\nfrom (\n    select unnest(markov_removal_effects(path,\n        cast(converted as int))) as e\n    from int_attribution_paths\n)\n",
    );
    let out = p.run(&["validate", "--date", "2026-10-31"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains(
            "sql/attribution/int_markov_removal_effects.sql:3: model `int_markov_removal_effects`"
        ) && out
            .stderr
            .contains("markov_removal_effects: `converted` must be a Boolean"),
        "{}",
        out.stderr
    );
}
