//! The shipped reference pipeline over several nights of `parcours generate --profile
//! contract-edges`: every value and export shape the raw-exports contract allows (dirty
//! e-mails and phones of every listed form, every interaction type on every channel with and
//! without dwell, bots that are plain HTTP clients, non-Latin and very long strings, nulls in
//! every nullable column, a night with no export of a table, an empty table whose backlog
//! arrives late, re-exported and duplicated rows, a suppression list partitioned by export
//! date). Every night must exit 0 with every data test passing and every table published; no
//! clear e-mail, phone or name may reach a curated table, and erased persons leave them all.
//! The last night is then run again, and again with other thread and partition counts: every
//! published file must come out byte for byte the same.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use common::{TestProject, reference_project};
use parcours::functions::{normalize_email, normalize_name, normalize_phone, sha256_hex};

const NIGHTS: [&str; 5] = [
    "2026-10-27",
    "2026-10-28",
    "2026-10-29",
    "2026-10-30",
    "2026-10-31",
];

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("json")
}

/// One night of the reference pipeline; asserts it succeeded with every test passing.
fn run_night(p: &TestProject, date: &str, extra: &[&str]) {
    let mut args = vec![
        "run",
        "--date",
        date,
        "--storage",
        "raw=raw",
        "--storage",
        "warehouse=warehouse",
    ];
    args.extend_from_slice(extra);
    let out = p.run(&args);
    assert_eq!(out.code, 0, "night {date}:\n{}", out.all());
    let results = json(&p.read_file("target/run_results.json"));
    assert_eq!(results["success"], true, "night {date}: {results}");
    for m in results["results"].as_array().expect("results") {
        assert_eq!(m["status"], "success", "night {date}: {m}");
        for t in m["tests"].as_array().expect("tests") {
            assert_eq!(t["status"], "pass", "night {date}: {} {t}", m["model"]);
        }
    }
    let singular = results["singular_tests"].as_array().expect("singular");
    assert!(singular.len() >= 5, "{singular:?}");
    for t in singular {
        assert_eq!(t["status"], "pass", "night {date}: {t}");
    }
}

/// Published (table or partitioned) models of the reference project.
fn published_models(p: &TestProject) -> Vec<String> {
    let out = p.run(&["list", "--output", "json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    json(&out.stdout)["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter(|m| {
            m["enabled"] != false
                && matches!(
                    m["materialization"].as_str(),
                    Some("table") | Some("partitioned")
                )
        })
        .map(|m| m["name"].as_str().expect("name").to_string())
        .collect()
}

/// Every string cell of every published table, with where it is.
fn curated_strings(p: &TestProject, tables: &[String]) -> Vec<(String, String, String)> {
    let mut cells = Vec::new();
    for t in tables {
        for batch in p.query(&format!("select * from {t}")) {
            for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
                let text = match col.data_type() {
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                        arrow::compute::cast(col, &DataType::Utf8).expect("cast")
                    }
                    _ => continue,
                };
                let s = text.as_string::<i32>();
                for i in 0..s.len() {
                    if !s.is_null(i) {
                        cells.push((t.clone(), field.name().clone(), s.value(i).to_string()));
                    }
                }
            }
        }
    }
    cells
}

/// The raw exports' string columns that carry PII, read back from the generated Parquet.
fn raw_pii(raw: &Path) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let ctx = datafusion::prelude::SessionContext::new();
        for table in ["crm_contacts", "orders", "pos_transactions", "purchase_registrations"] {
            let opts = datafusion::prelude::ParquetReadOptions::default()
                .table_partition_cols(vec![("export_date".to_string(), DataType::Utf8)]);
            ctx.register_parquet(table, raw.join(table).to_string_lossy().as_ref(), opts)
                .await
                .expect("register raw");
        }
        let strings = |sql: &'static str| {
            let ctx = ctx.clone();
            async move {
                let mut out = BTreeSet::new();
                for b in ctx.sql(sql).await.expect("sql").collect().await.expect("collect") {
                    let col = arrow::compute::cast(b.column(0), &DataType::Utf8).expect("cast");
                    let s = col.as_string::<i32>();
                    for i in 0..s.len() {
                        if !s.is_null(i) {
                            out.insert(s.value(i).to_string());
                        }
                    }
                }
                out
            }
        };
        let emails = strings(
            "select email from crm_contacts union select email from orders \
             union select receipt_email from pos_transactions union select email from purchase_registrations",
        )
        .await;
        let phones = strings(
            "select phone from crm_contacts union select phone from pos_transactions",
        )
        .await;
        let names = strings(
            "select first_name from crm_contacts union select last_name from crm_contacts",
        )
        .await;
        (emails, phones, names)
    })
}

#[test]
fn every_contract_valid_night_runs_clean() {
    let p = reference_project();
    p.generate_contract_edges("raw");
    let raw = p.path().join("raw");
    // The export shapes the profile promises: a night with no spend export, one with no ad
    // export, an empty registrations table until its backlog arrives, and a suppression list
    // partitioned by export date.
    assert!(!raw.join("campaign_spend/export_date=2026-10-28").exists());
    assert!(raw.join("campaign_spend/export_date=2026-10-29").exists());
    assert!(!raw.join("ad_interactions/export_date=2026-10-30").exists());
    assert!(
        raw.join("purchase_registrations/export_date=2026-10-28/part-0.parquet")
            .exists()
    );
    assert!(raw.join("suppression_list/export_date=2026-10-22").is_dir());
    assert!(!raw.join("suppression_list/part-0.parquet").exists());

    let tables = published_models(&p);
    assert!(tables.len() >= 20, "{tables:?}");
    for (i, night) in NIGHTS.iter().enumerate() {
        run_night(&p, night, &[]);
        if i == 0 {
            for t in &tables {
                assert!(
                    p.path()
                        .join("warehouse")
                        .join(t)
                        .join("_parcours_commit.json")
                        .exists(),
                    "{t} was not published on the first night"
                );
            }
        }
    }
    // the registrations that were held back arrived and were read
    let registered = p.query_rows(
        "select count(*) from fct_conversion where conversion_type = 'registered_purchase'",
    );
    assert_ne!(
        registered[0][0], "0",
        "no registration reached fct_conversion"
    );

    // E-mails with spaces inside, initials and dirty phones resolve to one person; a shared
    // inbox does not merge two colleagues.
    let person = |node: &str| -> String {
        let (t, v) = node.split_once(':').expect("node");
        let rows = p.query_rows(&format!(
            "select person_id from bridge_identity where identifier_type = '{t}' and identifier_value = '{v}'"
        ));
        assert_eq!(rows.len(), 1, "{node}: {rows:?}");
        rows[0][0].clone()
    };
    let jean = person("contact_id:CRM-EDGE00");
    assert_eq!(
        person("contact_id:LOY-EDGE00"),
        jean,
        "JF and Jean-François"
    );
    assert_eq!(
        person("contact_id:ECO-EDGE00"),
        jean,
        "an address with inner spaces"
    );
    assert_eq!(
        person("order_id:ORD-EDGE-0-9"),
        jean,
        "a checkout e-mail in capitals"
    );
    assert_ne!(
        person("contact_id:CRM-EDGE08"),
        person("contact_id:ECO-EDGE09"),
        "a shared inbox merged two people"
    );

    // Plain HTTP clients and crawlers are bots: none of their sessions is a touch, even the
    // one on a person's cookie.
    let bot_touches = p.query_rows(
        "select count(*) from fct_touchpoint where touchpoint_id like 'web:s-edge-bot-%'",
    );
    assert_eq!(bot_touches[0][0], "0");
    let jean_sessions = p.query_rows(&format!(
        "select count(*) from fct_touchpoint where person_id = '{jean}' and source = 'web'"
    ));
    assert_ne!(jean_sessions[0][0], "0", "Jean's own sessions are touches");

    // A week made only of views without dwell is engagement, published and scored.
    let views_only = p.query_rows(
        "select count(*), min(engagement_score) from fct_engagement \
         where views > 0 and opens + clicks + likes_shares_comments + sessions = 0 and dwell_seconds = 0",
    );
    assert_ne!(views_only[0][0], "0", "no views-only week: {views_only:?}");
    assert!(
        views_only[0][1].parse::<f64>().expect("score") >= 1.0,
        "{views_only:?}"
    );

    // One channel vocabulary: the organic spend rows of campaign_spend (seo, social_organic)
    // are organic_search and organic_social everywhere.
    for (table, column) in [
        ("agg_campaign_daily", "channel"),
        ("agg_channel_performance", "channel"),
        ("fct_touchpoint", "channel"),
        ("rpt_attribution_channel", "channel"),
        ("fct_attribution", "channel"),
    ] {
        let raw_names = p.query_rows(&format!(
            "select count(*) from {table} where {column} in ('seo', 'social_organic')"
        ));
        assert_eq!(
            raw_names[0][0], "0",
            "{table}.{column} uses a raw channel name"
        );
    }
    let organic = p.query_rows(
        "select count(*) from agg_channel_performance where channel = 'organic_search' and campaign_id = 'seo'",
    );
    assert_ne!(
        organic[0][0], "0",
        "the seo spend rows do not line up with organic_search"
    );

    // Privacy: no raw e-mail, phone or name (as exported or normalised) in any curated cell.
    let (emails, phones, names) = raw_pii(&raw);
    assert!(emails.len() > 100 && phones.len() > 100 && names.len() > 50);
    let mut forbidden_equal: BTreeSet<String> = BTreeSet::new();
    let mut forbidden_inside: BTreeSet<String> = BTreeSet::new();
    for e in &emails {
        if let Some(n) = normalize_email(e) {
            forbidden_inside.insert(n);
        }
        if e.trim().len() >= 6 && e.contains('@') {
            forbidden_inside.insert(e.trim().to_lowercase());
        }
    }
    for ph in &phones {
        for country in ["FR", "BE", "CH", "DE", "ES", "IT", "GB", "US"] {
            if let Some(n) = normalize_phone(ph, country) {
                forbidden_equal.insert(n);
            }
        }
        if ph.chars().filter(char::is_ascii_digit).count() >= 6 {
            forbidden_equal.insert(ph.trim().to_string());
        }
    }
    for n in &names {
        // short names are words anything could contain ("Luc", "Ma"): compared whole
        if n.trim().chars().count() >= 3 {
            forbidden_equal.insert(n.trim().to_lowercase());
        }
        if let Some(k) = normalize_name(n).filter(|k| k.chars().count() >= 3) {
            forbidden_equal.insert(k);
        }
    }
    let cells = curated_strings(&p, &tables);
    assert!(cells.len() > 1000, "{}", cells.len());
    for (table, column, value) in &cells {
        let low = value.to_lowercase();
        assert!(
            !forbidden_equal.contains(&low) && !forbidden_equal.contains(value.trim()),
            "{table}.{column} holds a raw phone or name: {value:?}"
        );
        assert!(
            !forbidden_inside.iter().any(|e| low.contains(e.as_str())),
            "{table}.{column} holds a raw e-mail: {value:?}"
        );
    }

    // Erasure: the three erased edge persons (by e-mail hash, contact id, phone hash) and
    // every record of theirs left every curated table.
    let erased_records = [
        "CRM-EDGE16",
        "ECO-EDGE16",
        "ck-edge-16",
        "ORD-EDGE-16-",
        "LOY-EDGE17",
        "TX-EDGE-17-",
        "CRM-EDGE18",
        "ad-edge-18-",
        "ad-edge-16-",
    ];
    for (table, column, value) in &cells {
        for r in erased_records {
            assert!(
                !value.contains(r),
                "{table}.{column} still holds {value:?} of an erased person"
            );
        }
    }
    let hashes = [
        normalize_email("zoe.erased@example.com").map(|e| sha256_hex(&e)),
        normalize_phone("06 99 88 77 66", "FR").map(|e| sha256_hex(&e)),
    ];
    for h in hashes.iter().flatten() {
        assert!(
            !cells.iter().any(|(_, _, v)| v == h),
            "an erased identifier hash is still published"
        );
    }

    // Reproducible: the last night again, then with one thread and one partition, then with
    // three threads and seven partitions, publishes the same bytes.
    let before = p.file_digests(&tables);
    assert!(before.len() >= tables.len(), "{}", before.len());
    run_night(&p, "2026-10-31", &[]);
    common::assert_same_files("rerun", &before, &p.file_digests(&tables));
    let config = p.read_file("pipelines.yaml");
    for (threads, partitions) in [("1", 1), ("3", 7)] {
        p.write_file(
            "pipelines.yaml",
            &config.replacen(
                "execution:\n",
                &format!("execution:\n  target_partitions: {partitions}\n"),
                1,
            ),
        );
        run_night(&p, "2026-10-31", &["--threads", threads]);
        common::assert_same_files(
            &format!("{threads} threads, {partitions} partitions"),
            &before,
            &p.file_digests(&tables),
        );
    }
}
