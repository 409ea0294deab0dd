//! End-to-end tests of model unit tests (`parcours test --unit`, and `parcours run` running them
//! first), through the real binary: on the `shop` fixture (passing, failing, every kind of
//! mistake, CSV and Parquet fixtures, no storage at all) and on the reference pipeline, whose
//! own business-rule tests must pass.

mod common;

use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use common::{fixture, reference_project};

/// The shop's unit tests: dim_customer counts orders per customer and hashes nothing itself.
const SHOP_TESTS: &str = r#"unit_tests:
  - name: orders_per_customer
    model: dim_customer
    given:
      stg_customers:
        - {customer_id: c1, email_sha256: h1, country: FR}
        - {customer_id: c2, country: BE}
      stg_orders:
        - {order_id: o1, customer_id: c1, amount: 10.00}
        - {order_id: o2, customer_id: c1, amount: 5.00}
        - {order_id: o3, customer_id: nobody, amount: 1.00}
    expect:
      - {customer_id: c2, orders: 0}
      - {customer_id: c1, email_sha256: h1, orders: 2}

  - name: only_completed_orders_earn
    model: agg_daily_revenue
    given:
      fct_orders:
        - {order_id: o1, order_date: 2026-11-20, amount: 10.00, status: completed}
        - {order_id: o2, order_date: 2026-11-20, amount: 4.50, status: completed}
        - {order_id: o3, order_date: 2026-11-20, amount: 99.00, status: cancelled}
        - {order_id: o4, order_date: 2026-11-21, amount: 1.00, status: returned}
    expect:
      - {order_date: 2026-11-20, revenue: 14.50, orders: 2}

  - name: the_floor_is_a_var
    model: stg_orders
    vars: {min_amount: 5}
    given:
      orders:
        - {order_id: o1, order_ts: "2026-11-20T23:30:00Z", amount: 10.00, status: completed}
        - {order_id: o2, order_ts: "2026-11-20T10:00:00Z", amount: 4.99, status: completed}
    expect:
      - {order_id: o1, order_date: 2026-11-20}

  - name: one_day_of_orders
    model: fct_orders
    run_date: 2026-11-21
    given:
      stg_orders:
        - {order_id: o1, order_date: 2026-11-20}
        - {order_id: o2, order_date: 2026-11-21}
    expect:
      - {order_id: o2}
"#;

fn shop_with_tests() -> common::TestProject {
    let p = fixture("shop");
    p.write_file("unit_tests/shop.yml", SHOP_TESTS);
    p
}

#[test]
fn unit_tests_pass_in_memory_without_any_storage() {
    let p = shop_with_tests();
    // no storage section at all, and no data: unit tests read nothing
    let yaml = p
        .read_file("pipelines.yaml")
        .replace("storage:\n  raw: ./raw\n  warehouse: ./warehouse\n", "");
    assert!(!yaml.contains("storage:\n"));
    p.write_file("pipelines.yaml", &yaml);
    let out = p.run(&["test", "--unit"]);
    assert_eq!(out.code, 0, "{}", out.all());
    for name in [
        "orders_per_customer",
        "only_completed_orders_earn",
        "the_floor_is_a_var",
        "one_day_of_orders",
    ] {
        assert!(
            out.stdout
                .contains(&format!("unit test pass  {name} (unit_tests/shop.yml:")),
            "{}",
            out.stdout
        );
    }
    assert!(
        out.stdout.contains("unit tests: 4 passed, 0 failed"),
        "{}",
        out.stdout
    );
    assert!(!p.path().join("warehouse").exists());
    // what needs data says what is missing
    let out = p.run(&["run", "--skip-unit"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("no storage root `warehouse`"),
        "{}",
        out.stderr
    );

    // --select picks the tests of the selected models
    let out = p.run(&["test", "--unit", "--select", "dim_customer"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("unit tests: 1 passed, 0 failed"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_failing_unit_test_shows_rows_side_by_side() {
    let p = shop_with_tests();
    let broken = SHOP_TESTS.replace(
        "      - {order_date: 2026-11-20, revenue: 14.50, orders: 2}\n",
        "      - {order_date: 2026-11-20, revenue: 14.00, orders: 2}\n      - {order_date: 2026-11-21, revenue: 1.00, orders: 1}\n",
    );
    p.write_file("unit_tests/shop.yml", &broken);
    let out = p.run(&["test", "--unit"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let text = out.stdout;
    let line = SHOP_TESTS
        .lines()
        .position(|l| l.contains("name: only_completed_orders_earn"))
        .unwrap()
        + 1;
    assert!(
        text.contains(&format!("unit test FAIL  only_completed_orders_earn (unit_tests/shop.yml:{line}, model agg_daily_revenue)")),
        "{text}"
    );
    assert!(
        text.contains(
            "expected 2 rows, the model returned 1: 0 equal, 1 differing, 1 missing, 0 not expected"
        ),
        "{text}"
    );
    // the paired row marks only the differing cell, on both sides
    let pair = text.lines().find(|l| l.contains("»14.00«")).expect(&text);
    assert!(
        pair.contains("»14.50«") && pair.contains("≠") && !pair.contains("»2026"),
        "{text}"
    );
    let missing = text
        .lines()
        .find(|l| l.contains("2026-11-21"))
        .expect(&text);
    assert!(missing.contains("(missing)"), "{text}");
    assert!(text.contains("unit tests: 3 passed, 1 failed"), "{text}");
}

#[test]
fn run_runs_unit_tests_first_and_publishes_nothing_when_one_fails() {
    let p = shop_with_tests();
    p.write_shop_raw();
    let broken = SHOP_TESTS.replace(
        "{customer_id: c2, orders: 0}",
        "{customer_id: c2, orders: 1}",
    );
    p.write_file("unit_tests/shop.yml", &broken);
    let out = p.run(&["run", "--date", "2026-11-21"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("unit test FAIL  orders_per_customer"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("nothing was run or published"),
        "{}",
        out.stdout
    );
    // not one table, not even the models the failing test is not about
    for t in ["fct_orders", "dim_customer", "agg_daily_revenue"] {
        assert!(
            !p.path().join("warehouse").join(t).exists(),
            "{t} was published"
        );
    }
    let results: serde_json::Value =
        serde_json::from_str(&p.read_file("target/run_results.json")).unwrap();
    assert_eq!(results["success"], false);
    let statuses: Vec<&str> = results["unit_tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "fail").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "pass").count(),
        3,
        "{statuses:?}"
    );
    assert!(results["results"].as_array().unwrap().is_empty());

    // a selection that leaves the failing test's model out runs
    let out = p.run(&["run", "--date", "2026-11-21", "--select", "+fct_orders"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("unit tests: 2 passed, 0 failed"),
        "{}",
        out.stdout
    );

    // --skip-unit opts out
    let out = p.run(&["run", "--date", "2026-11-21", "--skip-unit"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!out.stdout.contains("unit test"), "{}", out.stdout);
    assert!(p.path().join("warehouse/dim_customer").exists());
}

/// Writes `test` as the only unit test and returns `test --unit`'s output.
fn only(p: &common::TestProject, test: &str) -> common::Output {
    p.write_file("unit_tests/shop.yml", &format!("unit_tests:\n{test}"));
    p.run(&["test", "--unit"])
}

#[test]
fn mistakes_in_a_unit_test_are_config_errors_with_file_and_line() {
    let p = fixture("shop");
    let cases: &[(&str, &str)] = &[
        (
            "  - name: extra\n    model: agg_daily_revenue\n    given:\n      fct_orders: []\n      stg_orders: []\n    expect: []\n",
            "unit_tests/shop.yml:6: unit test `extra`: given `stg_orders`, which model `agg_daily_revenue` (sql/marts/agg_daily_revenue.sql) does not read; it reads `fct_orders`",
        ),
        (
            "  - name: missing\n    model: dim_customer\n    given:\n      stg_customers: []\n    expect: []\n",
            "unit_tests/shop.yml:2: unit test `missing`: model `dim_customer` reads `stg_orders`, which the test does not give",
        ),
        (
            "  - name: unknown_given_column\n    model: agg_daily_revenue\n    given:\n      fct_orders:\n        - {order_id: o1, amuont: 3}\n    expect: []\n",
            "unit_tests/shop.yml:5: unit test `unknown_given_column`: given `fct_orders`: row 1: no column `amuont`; did you mean `amount`?",
        ),
        (
            "  - name: unknown_expected_column\n    model: agg_daily_revenue\n    given:\n      fct_orders: []\n    expect:\n      - {revenu: 1}\n",
            "unit_tests/shop.yml:6: unit test `unknown_expected_column`: expect: model `agg_daily_revenue` output: row 1: no column `revenu`; did you mean `revenue`?",
        ),
        (
            "  - name: wrong_type\n    model: agg_daily_revenue\n    given:\n      fct_orders:\n        - {order_id: o1}\n        - {order_id: o2, order_date: yesterday}\n    expect: []\n",
            "unit_tests/shop.yml:5: unit test `wrong_type`: given `fct_orders`: row 2: column `order_date` is `date`",
        ),
        (
            "  - name: wrong_expected_type\n    model: agg_daily_revenue\n    given:\n      fct_orders: []\n    expect:\n      - {orders: many}\n",
            "unit_tests/shop.yml:6: unit test `wrong_expected_type`: expect: model `agg_daily_revenue` output: row 1: column `orders` is `int64`",
        ),
        (
            "  - name: no_model\n    model: dim_custmer\n    expect: []\n",
            "unit_tests/shop.yml:2: unit test `no_model`: no model `dim_custmer`; did you mean `dim_customer`?",
        ),
        (
            "  - name: bad_var\n    model: stg_orders\n    vars: {min_amount: lots}\n    given:\n      orders: []\n    expect: []\n",
            "unit_tests/shop.yml:4: unit test `bad_var`: var `min_amount` is an integer; `lots` is not",
        ),
        (
            "  - name: unknown_key\n    model: stg_orders\n    exepct: []\n",
            "unit_tests/shop.yml:4: unit_tests[0]: unknown field `exepct`",
        ),
        (
            "  - name: not_a_date\n    model: fct_orders\n    run_date: tomorrow\n    given:\n      stg_orders: []\n    expect: []\n",
            "unit_tests/shop.yml:4: unit test `not_a_date`: run_date `tomorrow` is not a date",
        ),
    ];
    for (test, message) in cases {
        let out = only(&p, test);
        assert_eq!(out.code, 2, "{test}\n{}", out.all());
        assert!(
            out.stderr.contains(message),
            "{test}\nwanted: {message}\n{}",
            out.stderr
        );
    }
    // two tests of one name, in two files
    p.write_file("unit_tests/a.yml", "unit_tests:\n  - name: twice\n    model: fct_orders\n    given: {stg_orders: []}\n    expect: []\n");
    p.write_file("unit_tests/shop.yml", "unit_tests:\n  - name: twice\n    model: fct_orders\n    given: {stg_orders: []}\n    expect: []\n");
    let out = p.run(&["test", "--unit"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("unit_tests/shop.yml:2: unit test `twice`: a second test of this name (the first is at unit_tests/a.yml:2)"), "{}", out.stderr);
    // validate checks unit tests too, without running them
    std::fs::remove_file(p.path().join("unit_tests/a.yml")).unwrap();
    p.write_shop_raw();
    only(
        &p,
        "  - name: extra\n    model: fct_orders\n    given: {stg_orders: [], orders: []}\n    expect: []\n",
    );
    let out = p.run(&["validate", "--date", "2026-11-21"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .contains("given `orders`, which model `fct_orders`"),
        "{}",
        out.stderr
    );
}

#[test]
fn tests_in_pipelines_yaml_and_csv_and_parquet_fixtures() {
    let p = fixture("shop");
    p.write_file(
        "unit_tests/fixtures/orders.csv",
        "order_id,order_date,amount,status\no1,2026-11-20,10.00,completed\n\"o,2\",2026-11-20,2.50,completed\no3,2026-11-20,7.00,\n",
    );
    p.write_file(
        "unit_tests/fixtures/expected.csv",
        "order_date,revenue,orders\n2026-11-20,12.50,2\n",
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("email", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["c1", "c2"])),
            Arc::new(StringArray::from(vec![Some(" A@x.fr "), None])),
        ],
    )
    .unwrap();
    p.write_parquet("unit_tests/fixtures/customers.parquet", &batch);
    p.write_file(
        "unit_tests/files.yml",
        "unit_tests:\n  - name: from_csv\n    model: agg_daily_revenue\n    given:\n      fct_orders: {csv: fixtures/orders.csv}\n    expect: {csv: fixtures/expected.csv}\n  - name: from_parquet\n    model: stg_customers\n    given:\n      customers: {parquet: fixtures/customers.parquet}\n    expect:\n      - {customer_id: c1, email_sha256: 6cbcc53a3f6e4b3e0f3c43d0b9b4d4f3b1d1f4e1c1e3b4a3a7e0c6d5b2a1f0e9}\n      - {customer_id: c2, email_sha256: null}\n",
    );
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b"a@x.fr"))
    };
    let files = p.read_file("unit_tests/files.yml").replace(
        "6cbcc53a3f6e4b3e0f3c43d0b9b4d4f3b1d1f4e1c1e3b4a3a7e0c6d5b2a1f0e9",
        &sha,
    );
    p.write_file("unit_tests/files.yml", &files);
    // and one in pipelines.yaml itself
    let yaml = p.read_file("pipelines.yaml")
        + "unit_tests:\n  - name: in_the_project_file\n    model: fct_orders\n    run_date: 2026-11-20\n    given:\n      stg_orders: [{order_id: o1, order_date: 2026-11-20}]\n    expect: [{order_id: o1}]\n";
    p.write_file("pipelines.yaml", &yaml);
    let out = p.run(&["test", "--unit"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("unit tests: 3 passed, 0 failed"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("in_the_project_file (pipelines.yaml:")
            || out.stdout.contains("in_the_project_file ("),
        "{}",
        out.stdout
    );

    // a CSV value that does not fit is pinned to its line
    p.write_file(
        "unit_tests/fixtures/orders.csv",
        "order_id,order_date,amount,status\no1,2026-11-20,ten,completed\n",
    );
    let out = p.run(&["test", "--unit"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .contains("orders.csv: line 2: column `amount` is `decimal(12,2)`"),
        "{}",
        out.stderr
    );
}

#[test]
fn reference_pipeline_business_rules_pass() {
    let p = reference_project();
    let out = p.run(&["test", "--unit"]);
    assert_eq!(out.code, 0, "{}", out.all());
    for name in [
        "crm_newest_version_wins",
        "crm_pii_leaves_only_as_hashes",
        "dim_person_survivorship",
        "guard_family_landline_and_shared_inbox",
        "guard_names_disagree_roles_and_public_cookies",
        "channel_grouping_rules",
        "journeys_window_ties_and_view_through",
        "heuristic_models_on_a_journey",
        "roi_ratios_with_zero_denominators",
    ] {
        assert!(
            out.stdout.contains(&format!("unit test pass  {name} (")),
            "{name}\n{}",
            out.stdout
        );
    }
}

#[test]
fn expecting_no_rows_counts_them() {
    let p = fixture("shop");
    let out = only(
        &p,
        "  - name: nothing_completed\n    model: agg_daily_revenue\n    given:\n      fct_orders:\n        - {order_id: o1, order_date: 2026-11-20, amount: 3.00, status: cancelled}\n    expect: []\n",
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let out = only(
        &p,
        "  - name: nothing_completed\n    model: agg_daily_revenue\n    given:\n      fct_orders:\n        - {order_id: o1, order_date: 2026-11-20, amount: 3.00, status: completed}\n    expect: []\n",
    );
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("expected 0 rows, the model returned 1"),
        "{}",
        out.stdout
    );
}
