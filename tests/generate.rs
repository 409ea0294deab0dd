//! Integration tests of the synthetic data generator and the eval scorer, through the library
//! API: schema conformance with `raw-exports.md`, byte-for-byte determinism, the documented
//! shares of dirty values, duplicates, bots and shared identifiers, consistency of spend and
//! ground truth with the exports, and scores on tiny hand-made warehouses.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Date32Type, Decimal128Type, Field, Int64Type, Schema};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use parcours::eval::{eval_attribution, eval_identity};
use parcours::functions::{normalize_email, sha256_hex};
use parcours::generator::{GenerateOptions, GeneratorParams, generate};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const DAYS: u32 = 10;

fn end_date() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap()
}

async fn gen_into(
    dir: &FsPath,
    scale: f64,
    seed: u64,
    days: u32,
) -> parcours::generator::GenerateReport {
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(dir).unwrap());
    let opts = GenerateOptions::new(scale, seed, days, end_date());
    generate(&opts, store, &Path::from("")).await.unwrap()
}

fn parquet_files(dir: &FsPath) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if !dir.exists() {
        return out;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// (export_date partition or "", batch) for every batch of a table.
fn read_table(root: &FsPath, table: &str) -> Vec<(String, RecordBatch)> {
    let mut out = Vec::new();
    for f in parquet_files(&root.join(table)) {
        let part = f
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("export_date="))
            .unwrap_or("")
            .to_string();
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&f).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for b in reader {
            out.push((part.clone(), b.unwrap()));
        }
    }
    out
}

fn strs(b: &RecordBatch, col: &str) -> Vec<Option<String>> {
    let a = b.column_by_name(col).unwrap().as_string::<i32>();
    (0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i).to_string()))
        .collect()
}

fn col_strs(batches: &[(String, RecordBatch)], col: &str) -> Vec<Option<String>> {
    batches.iter().flat_map(|(_, b)| strs(b, col)).collect()
}

fn rows(batches: &[(String, RecordBatch)]) -> usize {
    batches.iter().map(|(_, b)| b.num_rows()).sum()
}

/// The contract, written out independently of the generator's own schema code: the raw
/// exports as the other end-to-end tests write them (`common::raw::schema_of`), plus the truth.
/// (column, type, nullable)
type Columns = Vec<(&'static str, DataType, bool)>;

fn contract() -> Vec<(&'static str, Columns)> {
    use DataType::*;
    let mut tables: Vec<(&'static str, Columns)> = [
        "crm_contacts",
        "web_events",
        "ad_interactions",
        "orders",
        "pos_transactions",
        "purchase_registrations",
        "campaign_spend",
        "suppression_list",
    ]
    .into_iter()
    .map(|t| (t, common::raw::schema_of(t)))
    .collect();
    tables.push((
        "_truth/record_person",
        vec![
            ("table", Utf8, false),
            ("record_id", Utf8, false),
            ("person_id", Utf8, false),
            ("identifiable", Boolean, false),
        ],
    ));
    tables.push((
        "_truth/channel_effect",
        vec![("channel", Utf8, false), ("lift", Float64, false)],
    ));
    tables
}

#[tokio::test]
async fn schemas_and_layout_follow_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let report = gen_into(dir.path(), 0.01, 7, DAYS).await;
    for (table, cols) in contract() {
        let files = parquet_files(&dir.path().join(table));
        let partitioned = !matches!(
            table,
            "suppression_list" | "_truth/record_person" | "_truth/channel_effect"
        );
        let expected_files = if partitioned { DAYS as usize } else { 1 };
        assert_eq!(files.len(), expected_files, "{table}");
        let tr = report.table(table).unwrap();
        assert_eq!(tr.files as usize, expected_files, "{table}");
        assert!(tr.bytes > 0, "{table}");
        let mut total = 0usize;
        for f in &files {
            if partitioned {
                let part = f.parent().unwrap().file_name().unwrap().to_str().unwrap();
                assert!(part.starts_with("export_date=2026-10-"), "{part}");
            }
            let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(f).unwrap()).unwrap();
            total += builder.metadata().file_metadata().num_rows() as usize;
            let schema = builder.schema();
            let got: Vec<(String, DataType, bool)> = schema
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
                .collect();
            let want: Vec<(String, DataType, bool)> = cols
                .iter()
                .map(|(n, t, null)| (n.to_string(), t.clone(), *null))
                .collect();
            assert_eq!(got, want, "{table} in {f:?}");
            // Statistics are on for readers' pruning.
            let md = builder.metadata();
            if md.num_row_groups() > 0 {
                assert!(md.row_group(0).column(0).statistics().is_some(), "{table}");
            }
        }
        assert_eq!(total as u64, tr.rows, "{table}");
    }
    let names: Vec<&str> = report.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.len(), 10);
    let json = report.to_json();
    assert_eq!(json["tables"].as_array().unwrap().len(), 10);
    assert_eq!(json["persons"], 1000);
}

fn file_hashes(root: &FsPath) -> BTreeMap<String, String> {
    parquet_files(root)
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(root).unwrap().to_string_lossy().to_string();
            (rel, sha256_hex_bytes(&std::fs::read(&f).unwrap()))
        })
        .collect()
}

fn sha256_hex_bytes(b: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(b))
}

#[tokio::test]
async fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let ra = gen_into(a.path(), 0.01, 42, 5).await;
    let rb = gen_into(b.path(), 0.01, 42, 5).await;
    gen_into(c.path(), 0.01, 43, 5).await;
    assert_eq!(ra, rb);
    let (ha, hb, hc) = (
        file_hashes(a.path()),
        file_hashes(b.path()),
        file_hashes(c.path()),
    );
    assert_eq!(ha.len(), 7 * 5 + 3);
    assert_eq!(ha, hb);
    assert_ne!(
        ha.get("web_events/export_date=2026-10-31/part-0.parquet"),
        hc.get("web_events/export_date=2026-10-31/part-0.parquet")
    );
}

#[tokio::test]
async fn invalid_options_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let mut opts = GenerateOptions::new(0.0, 1, 5, end_date());
    assert!(
        generate(&opts, store.clone(), &Path::from(""))
            .await
            .is_err()
    );
    opts.scale = f64::NAN;
    assert!(
        generate(&opts, store.clone(), &Path::from(""))
            .await
            .is_err()
    );
    opts.scale = 0.01;
    opts.days = 0;
    assert!(
        generate(&opts, store.clone(), &Path::from(""))
            .await
            .is_err()
    );
    opts.days = 3;
    opts.params = GeneratorParams {
        late_row_share: 1.5,
        ..GeneratorParams::default()
    };
    assert!(
        generate(&opts, store.clone(), &Path::from(""))
            .await
            .is_err()
    );
    opts.scale = 10_000.0;
    opts.params = GeneratorParams::default();
    assert!(generate(&opts, store, &Path::from("")).await.is_err());
}

fn share(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// One generated data set shared by the content checks (scale 0.02 = 2,000 persons).
#[tokio::test]
async fn contents_are_realistic_and_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let report = gen_into(root, 0.02, 11, 20).await;
    let truth = read_table(root, "_truth/record_person");
    let t_table = col_strs(&truth, "table");
    let t_rec = col_strs(&truth, "record_id");
    let t_person = col_strs(&truth, "person_id");
    let t_ident: Vec<bool> = truth
        .iter()
        .flat_map(|(_, b)| {
            let a = b
                .column_by_name("identifiable")
                .unwrap()
                .as_boolean()
                .clone();
            (0..a.len()).map(move |i| a.value(i)).collect::<Vec<_>>()
        })
        .collect();
    let mut person_of: HashMap<(String, String), String> = HashMap::new();
    for i in 0..t_rec.len() {
        let key = (t_table[i].clone().unwrap(), t_rec[i].clone().unwrap());
        assert!(
            person_of
                .insert(key.clone(), t_person[i].clone().unwrap())
                .is_none(),
            "truth record twice: {key:?}"
        );
    }

    // --- crm_contacts
    let crm = read_table(root, "crm_contacts");
    let ids = col_strs(&crm, "contact_id");
    let systems = col_strs(&crm, "source_system");
    let emails = col_strs(&crm, "email");
    let phones = col_strs(&crm, "phone");
    let mut parts_per_id: HashMap<String, HashSet<String>> = HashMap::new();
    let mut k = 0;
    for (part, b) in &crm {
        for _ in 0..b.num_rows() {
            parts_per_id
                .entry(ids[k].clone().unwrap())
                .or_default()
                .insert(part.clone());
            k += 1;
        }
    }
    for (id, sys) in ids.iter().zip(&systems) {
        let (id, sys) = (id.as_deref().unwrap(), sys.as_deref().unwrap());
        let prefix = match sys {
            "crm" => "CRM-",
            "ecommerce" => "ECO-",
            "loyalty" => "LOY-",
            "newsletter" => "NWS-",
            other => panic!("source_system {other}"),
        };
        assert!(id.starts_with(prefix), "{id} {sys}");
        assert!(
            person_of.contains_key(&("crm_contacts".to_string(), id.to_string())),
            "{id} has no truth"
        );
    }
    let distinct = parts_per_id.len();
    let updated = parts_per_id.values().filter(|p| p.len() > 1).count();
    let upd_share = share(updated, distinct);
    assert!(
        (0.03..0.25).contains(&upd_share),
        "crm re-export share {upd_share}"
    );
    let n_email = emails.iter().flatten().count();
    let cosmetic = emails
        .iter()
        .flatten()
        .filter(|e| normalize_email(e).is_some_and(|n| n != **e))
        .count();
    let invalid = emails
        .iter()
        .flatten()
        .filter(|e| normalize_email(e).is_none())
        .count();
    assert!(
        (0.08..0.45).contains(&share(cosmetic, n_email)),
        "cosmetic e-mail share {}",
        share(cosmetic, n_email)
    );
    assert!(
        (0.003..0.06).contains(&share(invalid, n_email)),
        "invalid e-mail share {}",
        share(invalid, n_email)
    );
    // Shared identifiers: company inboxes and household landlines reach several persons.
    let mut persons_by_email: HashMap<String, HashSet<String>> = HashMap::new();
    let mut persons_by_phone: HashMap<String, HashSet<String>> = HashMap::new();
    for i in 0..ids.len() {
        let person = person_of[&("crm_contacts".to_string(), ids[i].clone().unwrap())].clone();
        if let Some(n) = emails[i].as_deref().and_then(normalize_email) {
            persons_by_email
                .entry(n)
                .or_default()
                .insert(person.clone());
        }
        if let Some(p) = &phones[i] {
            let digits: String = p.chars().filter(|c| c.is_ascii_digit()).collect();
            if digits.len() >= 8 {
                persons_by_phone
                    .entry(digits[digits.len() - 8..].to_string())
                    .or_default()
                    .insert(person);
            }
        }
    }
    let shared_emails = persons_by_email
        .iter()
        .filter(|(e, p)| {
            p.len() > 1
                && (e.starts_with("contact@")
                    || e.starts_with("info@")
                    || e.starts_with("accueil@")
                    || e.starts_with("compta@")
                    || e.contains("test"))
        })
        .count();
    assert!(shared_emails >= 1, "no shared inbox");
    assert!(
        persons_by_email.iter().filter(|(_, p)| p.len() > 1).count() < persons_by_email.len() / 10
    );
    let family_phones = persons_by_phone.values().filter(|p| p.len() > 1).count();
    assert!(family_phones >= 3, "family phones {family_phones}");
    let phone_styles = [
        phones.iter().flatten().any(|p| p.starts_with("+33 6")),
        phones.iter().flatten().any(|p| p.starts_with("0033")),
        phones
            .iter()
            .flatten()
            .any(|p| p.starts_with("06 ") || p.starts_with("07 ")),
        phones.iter().flatten().any(|p| p.contains('.')),
    ];
    assert!(phone_styles.iter().all(|x| *x), "{phone_styles:?}");
    let firsts = col_strs(&crm, "first_name");
    assert!(
        firsts
            .iter()
            .flatten()
            .any(|f| f.contains('é') || f.contains('è')),
        "accents"
    );
    assert!(
        firsts.iter().flatten().any(|f| f == "Helene"
            || f == "Francois"
            || f == "Jerome"
            || f == "Cecile"
            || f == "Stephane"
            || f == "Frederic"),
        "dropped accents"
    );

    // --- web_events
    let web = read_table(root, "web_events");
    let ev = col_strs(&web, "event_id");
    let n_web = ev.len();
    let distinct_ev: HashSet<&String> = ev.iter().flatten().collect();
    let dup_share = share(n_web - distinct_ev.len(), n_web);
    assert!(
        (0.002..0.03).contains(&dup_share),
        "duplicate event share {dup_share}"
    );
    let ua = col_strs(&web, "user_agent");
    let anon = col_strs(&web, "anonymous_id");
    let bot_events = anon
        .iter()
        .flatten()
        .filter(|a| {
            person_of
                .get(&("cookies".to_string(), a.to_string()))
                .is_some_and(|p| p.starts_with("bot-"))
        })
        .count();
    let bot_share = share(bot_events, n_web);
    assert!(
        (0.005..0.10).contains(&bot_share),
        "bot event share {bot_share}"
    );
    for (a, u) in anon.iter().zip(&ua) {
        let person = &person_of[&("cookies".to_string(), a.clone().unwrap())];
        let u = u.as_deref().unwrap();
        let bot_ua = u.contains("bot")
            || u.contains("python")
            || u.contains("curl")
            || u.contains("Headless");
        assert_eq!(person.starts_with("bot-"), bot_ua, "{person} {u}");
    }
    assert!(
        person_of.keys().any(|(t, _)| t == "cookies")
            && person_of.values().any(|p| p.starts_with("public-")),
        "no public computer cookie"
    );
    let types = col_strs(&web, "event_type");
    for t in [
        "page_view",
        "product_view",
        "add_to_cart",
        "signup",
        "newsletter_subscribe",
        "purchase",
        "store_locator",
    ] {
        assert!(types.iter().flatten().any(|x| x == t), "no {t} events");
    }
    let sha = col_strs(&web, "email_sha256");
    assert!(sha.iter().flatten().all(|s| is_hex64(s)));
    for (t, s) in types.iter().zip(&sha) {
        if matches!(t.as_deref(), Some("signup") | Some("newsletter_subscribe")) {
            assert!(s.is_some());
        }
    }
    // Every web e-mail hash is the hash of some CRM e-mail normalised (when that e-mail was
    // exported clean enough), proving the documented normalisation.
    let crm_hashes: HashSet<String> = emails
        .iter()
        .flatten()
        .filter_map(|e| normalize_email(e))
        .map(|n| sha256_hex(&n))
        .collect();
    let web_hashes: HashSet<&String> = sha.iter().flatten().collect();
    let matched = web_hashes
        .iter()
        .filter(|h| crm_hashes.contains(**h))
        .count();
    assert!(
        share(matched, web_hashes.len()) > 0.8,
        "web hashes matching crm {}",
        share(matched, web_hashes.len())
    );
    let utm_c = col_strs(&web, "utm_campaign");
    let utm_s = col_strs(&web, "utm_source");
    let refs = col_strs(&web, "referrer");
    assert!(utm_c.iter().flatten().all(|c| c.starts_with("cmp-")));
    assert!(
        utm_c.iter().flatten().count() > 0
            && utm_s.iter().flatten().count() == utm_c.iter().flatten().count()
    );
    assert!(
        refs.iter().flatten().any(|r| r.contains("bing"))
            && refs.iter().flatten().any(|r| r.contains("google"))
    );
    // Late rows: an event exported in a partition after its own date.
    let mut late = 0;
    for (part, b) in &web {
        let t = b
            .column_by_name("event_ts")
            .unwrap()
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        for i in 0..b.num_rows() {
            let d = chrono::DateTime::from_timestamp_micros(t.value(i))
                .unwrap()
                .date_naive()
                .to_string();
            assert!(d <= *part, "event of {d} exported on {part}");
            if d < *part {
                late += 1;
            }
        }
    }
    assert!(
        share(late, n_web) > 0.005,
        "late web share {}",
        share(late, n_web)
    );

    // --- ad_interactions and spend
    let ad = read_table(root, "ad_interactions");
    let ch = col_strs(&ad, "channel");
    let it = col_strs(&ad, "interaction_type");
    for c in [
        "paid_search",
        "display",
        "paid_social",
        "email",
        "sms",
        "affiliate",
    ] {
        assert!(ch.iter().flatten().any(|x| x == c), "no {c}");
    }
    for t in [
        "impression",
        "click",
        "open",
        "view",
        "like",
        "share",
        "comment",
    ] {
        assert!(it.iter().flatten().any(|x| x == t), "no {t}");
    }
    let ad_email = col_strs(&ad, "email_sha256");
    let ad_phone = col_strs(&ad, "phone_sha256");
    for i in 0..ch.len() {
        match ch[i].as_deref() {
            Some("email") => assert!(ad_email[i].is_some()),
            Some("sms") => assert!(ad_phone[i].as_deref().is_some_and(is_hex64)),
            _ => {}
        }
    }
    // SMS hashes are SHA-256 of the E.164 phone: they match some CRM phone rewritten so.
    let crm_e164: HashSet<String> = phones
        .iter()
        .flatten()
        .filter_map(|p| {
            let d: String = p.chars().filter(|c| c.is_ascii_digit()).collect();
            d.strip_prefix("0033")
                .or_else(|| d.strip_prefix("33"))
                .map(|n| n.to_string())
                .or_else(|| d.strip_prefix('0').map(|n| n.to_string()))
        })
        .map(|n| sha256_hex(&format!("+33{n}")))
        .collect();
    let sms: HashSet<&String> = ad_phone.iter().flatten().collect();
    assert!(
        sms.iter().filter(|h| crm_e164.contains(**h)).count() * 2 > sms.len(),
        "sms hashes do not match crm phones"
    );
    let n_imp = it.iter().flatten().filter(|x| *x == "impression").count() as i64;
    let n_clk = it.iter().flatten().filter(|x| *x == "click").count() as i64;
    let spend = read_table(root, "campaign_spend");
    let sp_ch = col_strs(&spend, "channel");
    let mut imp_sum = 0i64;
    let mut clk_sum = 0i64;
    let mut organic_clicks = 0i64;
    let mut k = 0;
    for (part, b) in &spend {
        let imps = b
            .column_by_name("impressions")
            .unwrap()
            .as_primitive::<Int64Type>();
        let clicks = b
            .column_by_name("clicks")
            .unwrap()
            .as_primitive::<Int64Type>();
        let cost = b
            .column_by_name("spend")
            .unwrap()
            .as_primitive::<Decimal128Type>();
        let date = b
            .column_by_name("spend_date")
            .unwrap()
            .as_primitive::<Date32Type>();
        for i in 0..b.num_rows() {
            let d = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
                + chrono::Days::new(date.value(i) as u64);
            assert_eq!(d.to_string(), *part);
            match sp_ch[k].as_deref() {
                Some("seo") | Some("social_organic") => {
                    assert_eq!(cost.value(i), 0);
                    organic_clicks += clicks.value(i);
                }
                _ => {
                    imp_sum += imps.value(i);
                    clk_sum += clicks.value(i);
                    assert!(cost.value(i) >= 0);
                    if imps.value(i) + clicks.value(i) > 0 {
                        assert!(cost.value(i) > 0 || imps.value(i) < 50);
                    }
                }
            }
            k += 1;
        }
    }
    assert_eq!(imp_sum, n_imp);
    assert_eq!(clk_sum, n_clk);
    assert!(organic_clicks > 0);
    let campaigns: HashSet<String> = col_strs(&spend, "campaign_id")
        .into_iter()
        .flatten()
        .collect();
    assert!(
        (50..=62).contains(&campaigns.len()),
        "{} campaigns",
        campaigns.len()
    );

    // --- orders, tills, registrations
    let orders = read_table(root, "orders");
    let status = col_strs(&orders, "status");
    let cust = col_strs(&orders, "customer_id");
    let guest = share(cust.iter().filter(|c| c.is_none()).count(), cust.len());
    assert!((0.2..0.95).contains(&guest), "guest share {guest}");
    for s in ["completed", "cancelled", "returned"] {
        assert!(status.iter().flatten().any(|x| x == s), "no {s} orders");
    }
    assert!(cust.iter().flatten().all(|c| c.starts_with("ECO-")));
    let purchase_orders: HashSet<String> = types
        .iter()
        .zip(col_strs(&web, "order_id"))
        .filter(|(t, _)| t.as_deref() == Some("purchase"))
        .filter_map(|(_, o)| o)
        .collect();
    let order_ids: HashSet<String> = col_strs(&orders, "order_id")
        .into_iter()
        .flatten()
        .collect();
    assert!(purchase_orders.is_subset(&order_ids));
    assert!(share(purchase_orders.len(), order_ids.len()) > 0.75);
    let pos = read_table(root, "pos_transactions");
    let mut refunds = 0;
    for (_, b) in &pos {
        let a = b
            .column_by_name("amount")
            .unwrap()
            .as_primitive::<Decimal128Type>();
        refunds += (0..a.len()).filter(|i| a.value(*i) < 0).count();
    }
    let refund_share = share(refunds, rows(&pos));
    assert!(
        (0.005..0.12).contains(&refund_share),
        "refund share {refund_share}"
    );
    let regs = read_table(root, "purchase_registrations");
    assert!(rows(&regs) > 0);
    for (table, id) in [
        ("orders", "order_id"),
        ("pos_transactions", "transaction_id"),
        ("purchase_registrations", "registration_id"),
    ] {
        let batches = if table == "orders" {
            &orders
        } else if table == "pos_transactions" {
            &pos
        } else {
            &regs
        };
        for r in col_strs(batches, id).into_iter().flatten() {
            assert!(
                person_of.contains_key(&(table.to_string(), r.clone())),
                "{table} {r} without truth"
            );
        }
    }
    // Truth covers exactly the cookies that appear.
    let mut cookies: HashSet<String> = anon.into_iter().flatten().collect();
    cookies.extend(col_strs(&ad, "anonymous_id").into_iter().flatten());
    let truth_cookies: HashSet<String> = person_of
        .keys()
        .filter(|(t, _)| t == "cookies")
        .map(|(_, r)| r.clone())
        .collect();
    assert_eq!(cookies, truth_cookies);
    // Honest identifiability: most records are identifiable, but not all.
    let ident_share = share(t_ident.iter().filter(|x| **x).count(), t_ident.len());
    assert!(
        (0.4..0.97).contains(&ident_share),
        "identifiable share {ident_share}"
    );

    // `identifiable` = "ties it to its person elsewhere": every identifiable till ticket and
    // registration carries an identifier that another record of its person also carries, and
    // a ticket whose loyalty card another record of its person carries is identifiable.
    let mut carriers: HashMap<String, HashSet<(String, String)>> = HashMap::new();
    let email_key = |e: &str| normalize_email(e).map(|n| format!("e:{}", sha256_hex(&n)));
    let phone_key = |p: &str| {
        let digits: String = p.chars().filter(|c| c.is_ascii_digit()).collect();
        (digits.len() >= 8).then(|| format!("p:{}", &digits[digits.len() - 8..]))
    };
    let mut add = |key: Option<String>, table: &str, record: &str| {
        if let Some(key) = key {
            carriers
                .entry(key)
                .or_default()
                .insert((table.to_string(), record.to_string()));
        }
    };
    let cards = col_strs(&crm, "loyalty_card_id");
    for i in 0..ids.len() {
        let id = ids[i].as_deref().unwrap();
        add(emails[i].as_deref().and_then(email_key), "crm_contacts", id);
        add(phones[i].as_deref().and_then(phone_key), "crm_contacts", id);
        add(
            cards[i].clone().map(|c| format!("c:{c}")),
            "crm_contacts",
            id,
        );
    }
    let orders = read_table(root, "orders");
    for (((id, email), anon), customer) in col_strs(&orders, "order_id")
        .into_iter()
        .zip(col_strs(&orders, "email"))
        .zip(col_strs(&orders, "anonymous_id"))
        .zip(col_strs(&orders, "customer_id"))
    {
        let id = id.unwrap();
        add(email.as_deref().and_then(email_key), "orders", &id);
        add(anon.map(|a| format!("k:{a}")), "orders", &id);
        add(customer.map(|c| format!("a:{c}")), "orders", &id);
    }
    let pos = read_table(root, "pos_transactions");
    let pos_rows: Vec<_> = col_strs(&pos, "transaction_id")
        .into_iter()
        .zip(col_strs(&pos, "loyalty_card_id"))
        .zip(col_strs(&pos, "receipt_email"))
        .zip(col_strs(&pos, "phone"))
        .map(|(((id, card), email), phone)| {
            let keys: Vec<String> = [
                card.map(|c| format!("c:{c}")),
                email.as_deref().and_then(email_key),
                phone.as_deref().and_then(phone_key),
            ]
            .into_iter()
            .flatten()
            .collect();
            (id.unwrap(), keys)
        })
        .collect();
    for (id, keys) in &pos_rows {
        for k in keys {
            add(Some(k.clone()), "pos_transactions", id);
        }
    }
    let regs = read_table(root, "purchase_registrations");
    let reg_rows: Vec<(String, Vec<String>)> = col_strs(&regs, "registration_id")
        .into_iter()
        .zip(col_strs(&regs, "email"))
        .map(|(id, email)| {
            let keys = email.as_deref().and_then(email_key).into_iter().collect();
            (id.unwrap(), keys)
        })
        .collect();
    for (id, keys) in &reg_rows {
        for k in keys {
            add(Some(k.clone()), "purchase_registrations", id);
        }
    }
    // Cookies carry the hashed e-mail of a login, sign-up or an ad platform's match.
    for table in ["web_events", "ad_interactions"] {
        let batches = read_table(root, table);
        for (anon, email) in col_strs(&batches, "anonymous_id")
            .into_iter()
            .zip(col_strs(&batches, "email_sha256"))
        {
            if let (Some(anon), Some(email)) = (anon, email) {
                add(Some(format!("e:{email}")), "cookies", &anon);
            }
        }
    }
    let identifiable: HashSet<(String, String)> = (0..t_rec.len())
        .filter(|i| t_ident[*i])
        .map(|i| (t_table[i].clone().unwrap(), t_rec[i].clone().unwrap()))
        .collect();
    let shared_with_own_person = |table: &str, id: &str, key: &str| {
        let me = (table.to_string(), id.to_string());
        let person = &person_of[&me];
        carriers.get(key).is_some_and(|set| {
            set.iter()
                .any(|r| *r != me && person_of.get(r) == Some(person))
        })
    };
    let mut checked = 0;
    for (table, rows) in [
        ("pos_transactions", &pos_rows),
        ("purchase_registrations", &reg_rows),
    ] {
        for (id, keys) in rows {
            if identifiable.contains(&(table.to_string(), id.clone())) {
                checked += 1;
                assert!(
                    keys.iter().any(|k| shared_with_own_person(table, id, k)),
                    "{table} {id} is identifiable but shares none of {keys:?} with its person"
                );
            } else if let Some(card) = keys.iter().find(|k| k.starts_with("c:")) {
                assert!(
                    !shared_with_own_person(table, id, card),
                    "{table} {id} shares its loyalty card with its person but is not identifiable"
                );
            }
        }
    }
    assert!(
        checked > 100,
        "{checked} identifiable tickets and registrations"
    );

    // --- suppression list and channel effect
    let supp = read_table(root, "suppression_list");
    let n_supp = rows(&supp);
    assert!(
        (1..=40).contains(&n_supp),
        "{n_supp} suppressions for 2000 persons"
    );
    for (t, v) in col_strs(&supp, "identifier_type")
        .into_iter()
        .zip(col_strs(&supp, "identifier_value"))
    {
        let (t, v) = (t.unwrap(), v.unwrap());
        match t.as_str() {
            "email_sha256" | "phone_sha256" => assert!(is_hex64(&v)),
            "contact_id" => assert!(person_of.contains_key(&("crm_contacts".to_string(), v))),
            other => panic!("{other}"),
        }
    }
    let effect = read_table(root, "_truth/channel_effect");
    assert_eq!(rows(&effect), 6);
    let lifts: Vec<f64> = effect[0]
        .1
        .column(1)
        .as_primitive::<arrow::datatypes::Float64Type>()
        .values()
        .to_vec();
    let distinct: HashSet<u64> = lifts.iter().map(|l| l.to_bits()).collect();
    assert_eq!(distinct.len(), 6);
    assert_eq!(report.table("_truth/channel_effect").unwrap().rows, 6);
}

fn write_parquet(root: &FsPath, rel: &str, batch: RecordBatch) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn utf8_batch(cols: &[(&str, Vec<&str>)]) -> RecordBatch {
    let fields: Vec<Field> = cols
        .iter()
        .map(|(n, _)| Field::new(*n, DataType::Utf8, false))
        .collect();
    let arrays: Vec<Arc<dyn Array>> = cols
        .iter()
        .map(|(_, v)| Arc::new(arrow::array::StringArray::from(v.clone())) as Arc<dyn Array>)
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

#[tokio::test]
async fn eval_scores_a_hand_made_warehouse() {
    let truth_dir = tempfile::tempdir().unwrap();
    let wh_dir = tempfile::tempdir().unwrap();
    // Truth: p1 = {CRM-1, ECO-1, cookie a}, p2 = {LOY-2, order o2}, p3 = {cash tx t3 (not
    // identifiable)}, bot-0 = {cookie b}.
    let t = utf8_batch(&[
        (
            "table",
            vec![
                "crm_contacts",
                "crm_contacts",
                "cookies",
                "crm_contacts",
                "orders",
                "pos_transactions",
                "cookies",
            ],
        ),
        (
            "record_id",
            vec!["CRM-1", "ECO-1", "a", "LOY-2", "o2", "t3", "b"],
        ),
        (
            "person_id",
            vec!["p1", "p1", "p1", "p2", "p2", "p3", "bot-0"],
        ),
    ]);
    let ident = arrow::array::BooleanArray::from(vec![true, true, true, true, true, false, false]);
    let mut fields: Vec<Field> = t
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("identifiable", DataType::Boolean, false));
    let mut cols = t.columns().to_vec();
    cols.push(Arc::new(ident));
    let truth = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    write_parquet(
        truth_dir.path(),
        "_truth/record_person/part-0.parquet",
        truth,
    );
    // Prediction: X = {CRM-1, ECO-1, LOY-2} (a wrong merge), Y = {o2}; cookie a missing;
    // an e-mail row that eval ignores. Split over two Hive-style files.
    write_parquet(
        wh_dir.path(),
        "bridge_identity/part=1/part-0.parquet",
        utf8_batch(&[
            (
                "identifier_type",
                vec!["contact_id", "contact_id", "email_sha256"],
            ),
            ("identifier_value", vec!["CRM-1", "ECO-1", "abc"]),
            ("person_id", vec!["X", "X", "X"]),
        ]),
    );
    write_parquet(
        wh_dir.path(),
        "bridge_identity/part=2/part-0.parquet",
        utf8_batch(&[
            ("identifier_type", vec!["contact_id", "order_id"]),
            ("identifier_value", vec!["LOY-2", "o2"]),
            ("person_id", vec!["X", "Y"]),
        ]),
    );
    std::fs::write(wh_dir.path().join("bridge_identity/_SUCCESS"), b"").unwrap();
    let ts: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(truth_dir.path()).unwrap());
    let ws: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(wh_dir.path()).unwrap());
    let s = eval_identity((ts.clone(), Path::from("")), (ws.clone(), Path::from("")))
        .await
        .unwrap();
    // Records: CRM-1, ECO-1, a, LOY-2, o2. True pairs: p1 3 + p2 1 = 4.
    // Predicted: X {CRM-1, ECO-1, LOY-2} = 3 pairs, Y {o2}, a singleton → 3.
    // TP: (p1, X) has CRM-1, ECO-1 → 1.
    assert_eq!(s.records, 5);
    assert_eq!(s.missing_records, 1);
    assert_eq!(s.true_pairs, 4);
    assert_eq!(s.predicted_pairs, 3);
    assert_eq!(s.true_positive_pairs, 1);
    assert!((s.precision - 1.0 / 3.0).abs() < 1e-12);
    assert!((s.recall - 0.25).abs() < 1e-12);
    assert!((s.f1 - 2.0 * (1.0 / 3.0) * 0.25 / (1.0 / 3.0 + 0.25)).abs() < 1e-12);
    assert_eq!(s.largest_predicted_cluster, 3);

    // Attribution: lifts a > b > c; model m1 agrees, m2 is reversed, m3 misses channel c.
    let effect = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("channel", DataType::Utf8, false),
            Field::new("lift", DataType::Float64, false),
        ])),
        vec![
            Arc::new(arrow::array::StringArray::from(vec!["a", "b", "c"])),
            Arc::new(arrow::array::Float64Array::from(vec![0.3, 0.2, 0.1])),
        ],
    )
    .unwrap();
    write_parquet(
        truth_dir.path(),
        "_truth/channel_effect/part-0.parquet",
        effect,
    );
    let rpt = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("channel", DataType::Utf8, false),
            Field::new("model", DataType::Utf8, false),
            Field::new("conversions", DataType::Float64, false),
            Field::new("revenue", DataType::Float64, false),
            Field::new("share", DataType::Float64, false),
            Field::new("conversions_per_touch", DataType::Float64, true),
        ])),
        vec![
            Arc::new(arrow::array::StringArray::from(vec![
                "a", "b", "c", "a", "b", "c", "a", "b", "direct",
            ])),
            Arc::new(arrow::array::StringArray::from(vec![
                "m1", "m1", "m1", "m2", "m2", "m2", "m3", "m3", "m3",
            ])),
            Arc::new(arrow::array::Float64Array::from(vec![1.0; 9])),
            Arc::new(arrow::array::Float64Array::from(vec![1.0; 9])),
            Arc::new(arrow::array::Float64Array::from(vec![
                0.5, 0.3, 0.2, 0.1, 0.3, 0.6, 0.2, 0.1, 0.7,
            ])),
            // per touch, m1 and m2 swap: m1's big shares came from volume, not effect
            Arc::new(arrow::array::Float64Array::from(vec![
                Some(0.1),
                Some(0.2),
                Some(0.3),
                Some(0.3),
                Some(0.2),
                Some(0.1),
                Some(0.2),
                Some(0.1),
                None,
            ])),
        ],
    )
    .unwrap();
    write_parquet(wh_dir.path(), "rpt_attribution_channel/part-0.parquet", rpt);
    let a = eval_attribution((ts, Path::from("")), (ws, Path::from("")))
        .await
        .unwrap();
    assert_eq!(a.truth.len(), 3);
    let by: HashMap<&str, f64> = a
        .per_model
        .iter()
        .map(|m| (m.model.as_str(), m.spearman))
        .collect();
    assert!((by["m1"] - 1.0).abs() < 1e-12);
    assert!((by["m2"] + 1.0).abs() < 1e-12);
    assert!((by["m3"] - 1.0).abs() < 1e-12, "{}", by["m3"]);
    let per_touch: HashMap<&str, f64> = a
        .per_model
        .iter()
        .map(|m| (m.model.as_str(), m.spearman_per_touch))
        .collect();
    assert!((per_touch["m1"] + 1.0).abs() < 1e-12);
    assert!((per_touch["m2"] - 1.0).abs() < 1e-12);
    // `direct` has no touches (null): channel c scores 0 per touch
    assert!((per_touch["m3"] - 1.0).abs() < 1e-12);
    let m3 = a.per_model.iter().find(|m| m.model == "m3").unwrap();
    assert_eq!(
        m3.shares,
        vec![
            ("a".to_string(), 0.2),
            ("b".to_string(), 0.1),
            ("c".to_string(), 0.0)
        ]
    );
}

/// The generator's own truth, used as a perfect `bridge_identity`, scores F1 = 1; treating
/// every record as a singleton scores recall 0.
#[tokio::test]
async fn eval_identity_on_generated_truth() {
    let dir = tempfile::tempdir().unwrap();
    gen_into(dir.path(), 0.01, 5, 5).await;
    let truth = read_table(dir.path(), "_truth/record_person");
    let wh = tempfile::tempdir().unwrap();
    let kinds: Vec<&str> = col_strs(&truth, "table")
        .into_iter()
        .map(|t| match t.as_deref() {
            Some("crm_contacts") => "contact_id",
            Some("cookies") => "anonymous_id",
            Some("orders") => "order_id",
            Some("pos_transactions") => "transaction_id",
            _ => "registration_id",
        })
        .collect();
    let recs = col_strs(&truth, "record_id");
    let people = col_strs(&truth, "person_id");
    let bridge = utf8_batch(&[
        ("identifier_type", kinds.clone()),
        (
            "identifier_value",
            recs.iter().map(|r| r.as_deref().unwrap()).collect(),
        ),
        (
            "person_id",
            people.iter().map(|r| r.as_deref().unwrap()).collect(),
        ),
    ]);
    write_parquet(wh.path(), "bridge_identity/part-0.parquet", bridge);
    let ts: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let ws: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(wh.path()).unwrap());
    let s = eval_identity((ts.clone(), Path::from("")), (ws, Path::from("")))
        .await
        .unwrap();
    assert!(s.records > 500, "{} records", s.records);
    assert!(s.true_pairs > 0);
    assert_eq!(s.true_positive_pairs, s.true_pairs);
    assert_eq!(s.f1, 1.0);
    assert_eq!(s.missing_records, 0);
    assert_eq!(s.erased_persons, 0);

    // A person whose every record left the bridge was erased on purpose: left out, not missed.
    let first = people[0].clone();
    let keep: Vec<usize> = (0..recs.len()).filter(|i| people[*i] != first).collect();
    let kinds2: Vec<&str> = keep.iter().map(|i| kinds[*i]).collect();
    let partial = tempfile::tempdir().unwrap();
    write_parquet(
        partial.path(),
        "bridge_identity/part-0.parquet",
        utf8_batch(&[
            ("identifier_type", kinds2),
            (
                "identifier_value",
                keep.iter().map(|i| recs[*i].as_deref().unwrap()).collect(),
            ),
            (
                "person_id",
                keep.iter()
                    .map(|i| people[*i].as_deref().unwrap())
                    .collect(),
            ),
        ]),
    );
    let ps: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(partial.path()).unwrap());
    let e = eval_identity((ts.clone(), Path::from("")), (ps, Path::from("")))
        .await
        .unwrap();
    assert_eq!(e.erased_persons, 1);
    assert_eq!(e.missing_records, 0);
    assert_eq!(e.f1, 1.0);
    assert!(e.records < s.records);

    let empty = tempfile::tempdir().unwrap();
    write_parquet(
        empty.path(),
        "bridge_identity/part-0.parquet",
        utf8_batch(&[
            ("identifier_type", vec!["x"]),
            ("identifier_value", vec!["y"]),
            ("person_id", vec!["z"]),
        ]),
    );
    let es: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(empty.path()).unwrap());
    let s = eval_identity((ts, Path::from("")), (es, Path::from("")))
        .await
        .unwrap();
    assert_eq!(s.recall, 0.0);
    assert_eq!(s.missing_records, s.records);
}

/// `--profile contract-edges`: the contract's every value and shape, deterministic, and its
/// files still exactly the contract's schemas.
#[tokio::test]
async fn contract_edges_profile_covers_the_contract() {
    use parcours::generator::Profile;
    let gen_edges = |dir: PathBuf| async move {
        let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(&dir).unwrap());
        let mut opts = GenerateOptions::new(0.005, 3, DAYS, end_date());
        opts.profile = Profile::ContractEdges;
        opts.params = Profile::ContractEdges.params();
        generate(&opts, store, &Path::from("")).await.unwrap()
    };
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    gen_edges(a.path().to_path_buf()).await;
    gen_edges(b.path().to_path_buf()).await;
    assert_eq!(
        file_hashes(a.path()),
        file_hashes(b.path()),
        "not deterministic"
    );
    let root = a.path();

    // Schemas are the contract's, file by file.
    for (table, cols) in contract() {
        let want: Vec<(String, DataType, bool)> = cols
            .iter()
            .map(|(n, t, null)| (n.to_string(), t.clone(), *null))
            .collect();
        for f in parquet_files(&root.join(table)) {
            let builder =
                ParquetRecordBatchReaderBuilder::try_new(File::open(&f).unwrap()).unwrap();
            let got: Vec<(String, DataType, bool)> = builder
                .schema()
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
                .collect();
            assert_eq!(got, want, "{f:?}");
        }
    }
    // Every nullable column of every export is null somewhere.
    for (table, cols) in contract().into_iter().filter(|(t, _)| !t.starts_with('_')) {
        let batches = read_table(root, table);
        for (name, _, nullable) in cols.iter().filter(|c| c.2) {
            let nulls: usize = batches
                .iter()
                .map(|(_, b)| b.column_by_name(name).unwrap().null_count())
                .sum();
            assert!(
                nulls > 0,
                "{table}.{name} is never null (nullable: {nullable})"
            );
        }
    }
    // Every interaction type on every channel, with no dwell, zero and some.
    let ad = read_table(root, "ad_interactions");
    let mut seen: HashSet<(String, String, Option<bool>)> = HashSet::new();
    for (_, b) in &ad {
        let (ch, kind) = (strs(b, "channel"), strs(b, "interaction_type"));
        let dwell = b
            .column_by_name("dwell_seconds")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int32Type>();
        for i in 0..b.num_rows() {
            let d = (!dwell.is_null(i)).then(|| dwell.value(i) > 0);
            seen.insert((ch[i].clone().unwrap(), kind[i].clone().unwrap(), d));
        }
    }
    for ch in [
        "paid_search",
        "display",
        "paid_social",
        "email",
        "sms",
        "affiliate",
    ] {
        for kind in [
            "impression",
            "click",
            "open",
            "view",
            "like",
            "share",
            "comment",
        ] {
            for d in [None, Some(false), Some(true)] {
                assert!(
                    seen.contains(&(ch.to_string(), kind.to_string(), d)),
                    "{ch} {kind} {d:?}"
                );
            }
        }
    }
    // Every event type, crawlers and plain HTTP clients among the user agents.
    let web = read_table(root, "web_events");
    let types: HashSet<Option<String>> = col_strs(&web, "event_type").into_iter().collect();
    for t in [
        "page_view",
        "product_view",
        "add_to_cart",
        "signup",
        "newsletter_subscribe",
        "purchase",
        "store_locator",
    ] {
        assert!(types.contains(&Some(t.to_string())), "{t}");
    }
    let agents: HashSet<Option<String>> = col_strs(&web, "user_agent").into_iter().collect();
    for a in [
        "python-requests/2.31.0",
        "curl/8.4.0",
        "Go-http-client/1.1",
        "okhttp/4.12.0",
    ] {
        assert!(agents.contains(&Some(a.to_string())), "{a}");
    }
    // The organic spend channels of the contract, and e-mails with spaces inside.
    let spend: HashSet<Option<String>> = col_strs(&read_table(root, "campaign_spend"), "channel")
        .into_iter()
        .collect();
    assert!(spend.contains(&Some("seo".into())) && spend.contains(&Some("social_organic".into())));
    let emails = col_strs(&read_table(root, "crm_contacts"), "email");
    assert!(
        emails
            .iter()
            .flatten()
            .any(|e| e.trim().contains(' ') && normalize_email(e).is_some())
    );
    // Export shapes: a night without spend, one without ads, registrations empty at first,
    // and the suppression list in export-date folders.
    assert!(!root.join("campaign_spend/export_date=2026-10-28").exists());
    assert!(!root.join("ad_interactions/export_date=2026-10-30").exists());
    let regs = read_table(root, "purchase_registrations");
    assert!(
        regs.iter()
            .all(|(part, b)| part.as_str() >= "2026-10-29" || b.num_rows() == 0)
    );
    assert!(rows(&regs) > 0);
    assert!(!root.join("suppression_list/part-0.parquet").exists());
    assert_eq!(
        parquet_files(&root.join("suppression_list")).len(),
        DAYS as usize
    );
}
