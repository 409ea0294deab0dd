//! Hand-made raw exports for the reference project: rows of typed cells written as Parquet
//! with exactly the schemas `pipelines.yaml` declares (the contract of raw-exports.md).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use sha2::Digest;

use super::{TestProject, micros};

/// A raw cell: text, timestamp (RFC 3339), money in cents, date, boolean, integer, null.
#[derive(Clone, Copy, Debug)]
pub enum V<'a> {
    S(&'a str),
    T(&'a str),
    M(i128),
    D(&'a str),
    B(bool),
    I(i64),
    N,
}
use V::*;

/// Lowercase hex SHA-256, as the pipeline hashes identifiers.
pub fn sha(s: &str) -> String {
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

fn days(date: &str) -> i32 {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("date");
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    (d - epoch).num_days() as i32
}

/// The declared columns of a raw export: (name, type, nullable).
pub fn schema_of(table: &str) -> Vec<(&'static str, DataType, bool)> {
    use DataType::{Boolean, Date32, Int32, Int64, Utf8};
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let money = DataType::Decimal128(12, 2);
    match table {
        "crm_contacts" => vec![
            ("contact_id", Utf8, false),
            ("source_system", Utf8, false),
            ("email", Utf8, true),
            ("phone", Utf8, true),
            ("first_name", Utf8, true),
            ("last_name", Utf8, true),
            ("birth_date", Date32, true),
            ("street_address", Utf8, true),
            ("postal_code", Utf8, true),
            ("city", Utf8, true),
            ("country", Utf8, true),
            ("loyalty_card_id", Utf8, true),
            ("consent_marketing", Boolean, true),
            ("consent_updated_at", ts.clone(), true),
            ("created_at", ts.clone(), false),
            ("updated_at", ts, false),
        ],
        "web_events" => vec![
            ("event_id", Utf8, false),
            ("event_ts", ts, false),
            ("anonymous_id", Utf8, false),
            ("session_id", Utf8, false),
            ("user_id", Utf8, true),
            ("email_sha256", Utf8, true),
            ("event_type", Utf8, false),
            ("page_url", Utf8, true),
            ("referrer", Utf8, true),
            ("utm_source", Utf8, true),
            ("utm_medium", Utf8, true),
            ("utm_campaign", Utf8, true),
            ("device_type", Utf8, true),
            ("order_id", Utf8, true),
            ("revenue", money, true),
            ("currency", Utf8, true),
            ("user_agent", Utf8, true),
        ],
        "ad_interactions" => vec![
            ("interaction_id", Utf8, false),
            ("interaction_ts", ts, false),
            ("channel", Utf8, false),
            ("campaign_id", Utf8, false),
            ("interaction_type", Utf8, false),
            ("anonymous_id", Utf8, true),
            ("email_sha256", Utf8, true),
            ("phone_sha256", Utf8, true),
            ("dwell_seconds", Int32, true),
        ],
        "orders" => vec![
            ("order_id", Utf8, false),
            ("order_ts", ts, false),
            ("customer_id", Utf8, true),
            ("email", Utf8, true),
            ("anonymous_id", Utf8, true),
            ("amount", money, false),
            ("currency", Utf8, false),
            ("status", Utf8, false),
        ],
        "pos_transactions" => vec![
            ("transaction_id", Utf8, false),
            ("transaction_ts", ts, false),
            ("store_id", Utf8, false),
            ("loyalty_card_id", Utf8, true),
            ("receipt_email", Utf8, true),
            ("phone", Utf8, true),
            ("amount", money, false),
            ("currency", Utf8, false),
        ],
        "purchase_registrations" => vec![
            ("registration_id", Utf8, false),
            ("registered_at", ts, false),
            ("email", Utf8, false),
            ("purchase_date", Date32, false),
            ("retailer", Utf8, false),
            ("product_sku", Utf8, false),
            ("amount", money, true),
            ("incentive", Utf8, false),
        ],
        "campaign_spend" => vec![
            ("spend_date", Date32, false),
            ("channel", Utf8, false),
            ("campaign_id", Utf8, false),
            ("campaign_name", Utf8, false),
            ("spend", money, false),
            ("currency", Utf8, false),
            ("impressions", Int64, true),
            ("clicks", Int64, true),
        ],
        "suppression_list" => vec![
            ("identifier_type", Utf8, false),
            ("identifier_value", Utf8, false),
            ("requested_at", ts, false),
        ],
        other => panic!("no raw export named {other}"),
    }
}

/// Writes `rows` of raw export `table` to `raw/<table>/[export_date=<date>/]part-0.parquet`.
/// A cell of the wrong kind for its column is a bug in the test and panics.
pub fn write_raw(p: &TestProject, table: &str, export_date: Option<&str>, rows: &[Vec<V>]) {
    let schema = schema_of(table);
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (i, (name, ty, _)) in schema.iter().enumerate() {
        let cells = rows.iter().map(|r| {
            assert_eq!(r.len(), schema.len(), "{table}: row width");
            r[i]
        });
        let wrong = |c: V| -> ! { panic!("{table}.{name}: {c:?} does not fit {ty}") };
        let col: ArrayRef = match ty {
            DataType::Utf8 => Arc::new(
                cells
                    .map(|c| match c {
                        S(s) => Some(s),
                        N => None,
                        c => wrong(c),
                    })
                    .collect::<StringArray>(),
            ),
            DataType::Date32 => Arc::new(
                cells
                    .map(|c| match c {
                        D(d) => Some(days(d)),
                        N => None,
                        c => wrong(c),
                    })
                    .collect::<Date32Array>(),
            ),
            DataType::Timestamp(..) => Arc::new(
                cells
                    .map(|c| match c {
                        T(t) => Some(micros(t)),
                        N => None,
                        c => wrong(c),
                    })
                    .collect::<TimestampMicrosecondArray>()
                    .with_timezone("UTC"),
            ),
            DataType::Decimal128(..) => Arc::new(
                cells
                    .map(|c| match c {
                        M(v) => Some(v),
                        N => None,
                        c => wrong(c),
                    })
                    .collect::<Decimal128Array>()
                    .with_precision_and_scale(12, 2)
                    .expect("decimal"),
            ),
            DataType::Boolean => Arc::new(
                cells
                    .map(|c| match c {
                        B(b) => Some(b),
                        N => None,
                        c => wrong(c),
                    })
                    .collect::<BooleanArray>(),
            ),
            DataType::Int32 => Arc::new(
                cells
                    .map(|c| match c {
                        I(v) => Some(v as i32),
                        N => None,
                        c => wrong(c),
                    })
                    .collect::<Int32Array>(),
            ),
            DataType::Int64 => Arc::new(
                cells
                    .map(|c| match c {
                        I(v) => Some(v),
                        N => None,
                        c => wrong(c),
                    })
                    .collect::<Int64Array>(),
            ),
            other => panic!("unsupported type {other}"),
        };
        cols.push(col);
    }
    let fields: Vec<Field> = schema
        .iter()
        .map(|(n, t, nullable)| Field::new(*n, t.clone(), *nullable))
        .collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("batch");
    let rel = match export_date {
        Some(d) => format!("raw/{table}/export_date={d}/part-0.parquet"),
        None => format!("raw/{table}/part-0.parquet"),
    };
    p.write_parquet(&rel, &batch);
}
