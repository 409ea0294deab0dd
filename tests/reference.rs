//! The shipped reference project (`pipelines.yaml`, `sql/`, `data_tests/` at the repository
//! root) on data from `parcours generate`, through the real binary: locally, with generator
//! parameters, and with the raw exports written to and read from the S3 test server.

mod common;
#[path = "common/s3.rs"]
mod s3;

use common::{Output, TestProject, reference_project};

fn generate(p: &TestProject, out: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec![
        "generate",
        "--out",
        out,
        "--scale",
        "0.01",
        "--days",
        "14",
        "--end-date",
        "2026-10-31",
        "--seed",
        "7",
    ];
    args.extend_from_slice(extra);
    let mut c = common::bin();
    c.current_dir(p.path()).args(&args);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().expect("run");
    Output {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into(),
        stderr: String::from_utf8_lossy(&o.stderr).into(),
    }
}

fn rows_of(report: &str, table: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(report).expect("report json");
    v["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["name"] == table)
        .and_then(|t| t["rows"].as_u64())
        .expect("rows")
}

#[test]
fn reference_pipeline_runs_on_generated_data() {
    let p = reference_project();
    let out = generate(&p, "data/raw", &[], &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    let orders = rows_of(&out.stdout, "orders");
    assert!(orders > 0);

    let out = p.run(&["run", "--date", "2026-10-31"]);
    assert_eq!(out.code, 0, "{}", out.all());
    for table in [
        "agg_daily_sales",
        "agg_campaign_daily",
        "rpt_export_quality",
    ] {
        assert!(
            p.path()
                .join("data/warehouse")
                .join(table)
                .join("_parcours_commit.json")
                .exists(),
            "{table}"
        );
    }
    // 14 days of exports, lookback 30: every day has online and store sales.
    let record: serde_json::Value =
        serde_json::from_str(&p.read_file("data/warehouse/agg_daily_sales/_parcours_commit.json"))
            .expect("json");
    assert_eq!(record["rows"], 28, "{record}");
    let results: serde_json::Value =
        serde_json::from_str(&p.read_file("target/run_results.json")).expect("json");
    assert_eq!(results["success"], true);
    // Singular tests: online revenue equals the orders; no suppressed identifier is published.
    let singular = results["singular_tests"]
        .as_array()
        .expect("singular tests");
    assert!(singular.len() >= 3, "{singular:?}");
    assert!(
        singular.iter().all(|t| t["status"] == "pass"),
        "{singular:?}"
    );
    assert_eq!(p.run(&["test", "--date", "2026-10-31"]).code, 0);

    // Identity resolution against the generator's truth (a regression guard, not the target).
    let out = common::bin()
        .current_dir(p.path())
        .args([
            "eval",
            "identity",
            "--truth",
            "data/raw",
            "--warehouse",
            "data/warehouse",
            "--output",
            "json",
        ])
        .output()
        .expect("eval");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scores: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let (precision, recall) = (
        scores["precision"].as_f64().expect("p"),
        scores["recall"].as_f64().expect("r"),
    );
    assert!(precision > 0.95 && recall > 0.8, "{scores}");
}

#[test]
fn generator_parameters_from_the_command_line() {
    let p = reference_project();
    let base = generate(&p, "a", &[], &[]);
    assert_eq!(base.code, 0, "{}", base.all());
    let more_bots = generate(&p, "b", &["--param", "bot_share=0.05"], &[]);
    assert_eq!(more_bots.code, 0, "{}", more_bots.all());
    assert!(rows_of(&more_bots.stdout, "web_events") > rows_of(&base.stdout, "web_events"));

    let out = generate(&p, "c", &["--param", "bot_shar=0.05"], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("unknown parameter; did you mean `bot_share`?"),
        "{}",
        out.stderr
    );
    let out = generate(&p, "c", &["--scale", "-1"], &[]);
    assert_eq!(out.code, 2, "{}", out.all());
}

#[test]
fn generate_to_s3_then_run_from_s3() {
    let moto = s3::Moto::start();
    moto.create_bucket("exports");
    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = reference_project();
    let out = generate(&p, "s3://exports/raw", &[], &env);
    assert_eq!(out.code, 0, "{}", out.all());
    // Same seed and arguments locally: the same row counts as in the bucket.
    let local = generate(&p, "local", &[], &[]);
    assert_eq!(
        rows_of(&out.stdout, "web_events"),
        rows_of(&local.stdout, "web_events")
    );

    let out = p.run_env(
        &[
            "run",
            "--date",
            "2026-10-31",
            "--storage",
            "raw=s3://exports/raw",
        ],
        &env,
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!out.all().contains(s3::SECRET_KEY));
    assert!(
        p.path()
            .join("data/warehouse/agg_daily_sales/_parcours_commit.json")
            .exists()
    );
}
