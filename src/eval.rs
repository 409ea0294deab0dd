//! Scores pipeline outputs against the generator's ground truth.
//!
//! * Identity: pairwise precision, recall and F1 of the warehouse's `bridge_identity`
//!   clustering over the truth records that carry a person (`identifiable = true`, bots
//!   excluded). Truth `table` values map to `bridge_identity.identifier_type` as
//!   `crm_contacts` → `contact_id`, `cookies` → `anonymous_id`, `orders` → `order_id`,
//!   `pos_transactions` → `transaction_id`, `purchase_registrations` → `registration_id`;
//!   identity models must write those records into `bridge_identity` under those types.
//!   A record absent from `bridge_identity` is its own singleton cluster. Pairs are counted
//!   through the contingency table (Σ n·(n−1)/2 per cluster and per (true, predicted) cell),
//!   never enumerated, so it scales to millions of records.
//! * Attribution: for each model of `rpt_attribution_channel`, Spearman's rank correlation
//!   (average ranks for ties) between the channel credit `share` and the planted
//!   `_truth/channel_effect.lift`, over the channels of the truth (a channel the model does
//!   not report has share 0).
//!
//! `truth` locations are the generator's output root (the folder holding `_truth/`);
//! `warehouse` locations are the curated root (holding `bridge_identity/`, …). Tables are
//! read from every `.parquet` file below their folder, Hive subfolders included.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use arrow::error::ArrowError;
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::arrow::ProjectionMask;
// `ParquetObjectReader` is deprecated in parquet 59 in favour of hand-written readers; it is
// still the simplest correct reader over any `ObjectStore`, which is all eval needs.
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use parquet::errors::ParquetError;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("object store error: {0}")]
    Store(#[from] object_store::Error),
    #[error("parquet error: {0}")]
    Parquet(#[from] ParquetError),
    #[error("arrow error: {0}")]
    Arrow(#[from] ArrowError),
    #[error("no parquet files under {0}")]
    NoData(String),
    #[error("{table}: missing column {column}")]
    MissingColumn { table: String, column: String },
    #[error("{table}: null in column {column}")]
    NullValue { table: String, column: String },
}

/// Pairwise clustering scores.
#[derive(Clone, Debug, PartialEq)]
pub struct IdentityScores {
    /// Truth records evaluated (identifiable, not bots).
    pub records: u64,
    /// Of those, records with no row in `bridge_identity` (scored as singletons) although
    /// other records of their person have one.
    pub missing_records: u64,
    /// Persons none of whose records is in `bridge_identity`: erased on request (the
    /// suppression list) and left out of every score, since leaving them out is correct.
    pub erased_persons: u64,
    pub true_clusters: u64,
    pub predicted_clusters: u64,
    pub true_pairs: u64,
    pub predicted_pairs: u64,
    pub true_positive_pairs: u64,
    /// tp / predicted pairs (1 when nothing is predicted together).
    pub precision: f64,
    /// tp / true pairs (1 when no two records share a person).
    pub recall: f64,
    pub f1: f64,
    /// Evaluated records in the largest predicted cluster: a giant cluster betrays shared
    /// identifiers (family phones, company inboxes, public cookies) used as keys.
    pub largest_predicted_cluster: u64,
    pub largest_true_cluster: u64,
}

impl IdentityScores {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "records": self.records,
            "missing_records": self.missing_records,
            "erased_persons": self.erased_persons,
            "true_clusters": self.true_clusters,
            "predicted_clusters": self.predicted_clusters,
            "true_pairs": self.true_pairs,
            "predicted_pairs": self.predicted_pairs,
            "true_positive_pairs": self.true_positive_pairs,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "largest_predicted_cluster": self.largest_predicted_cluster,
            "largest_true_cluster": self.largest_true_cluster,
        })
    }
}

/// Per-model rank agreement with the planted lifts.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelScore {
    pub model: String,
    /// Spearman's rho of the credit shares against the lifts, in [-1, 1]; NaN when undefined
    /// (constant shares or lifts).
    pub spearman: f64,
    /// Spearman's rho of the conversions credited per touch against the lifts: the planted
    /// lift is per touch, so this compares like with like, whatever each channel's volume.
    pub spearman_per_touch: f64,
    /// Credit share per truth channel, in truth order.
    pub shares: Vec<(String, f64)>,
    /// Conversions credited per touch, per truth channel, in truth order (0 without touches).
    pub per_touch: Vec<(String, f64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AttributionScores {
    /// Models in name order.
    pub per_model: Vec<ModelScore>,
    /// Planted lift per channel.
    pub truth: Vec<(String, f64)>,
}

impl AttributionScores {
    pub fn to_json(&self) -> serde_json::Value {
        let num = |v: f64| {
            serde_json::Number::from_f64(v)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null)
        };
        serde_json::json!({
            "truth": self.truth.iter().map(|(c, l)| serde_json::json!({"channel": c, "lift": num(*l)})).collect::<Vec<_>>(),
            "models": self.per_model.iter().map(|m| serde_json::json!({
                "model": m.model,
                "spearman": num(m.spearman),
                "spearman_per_touch": num(m.spearman_per_touch),
                "shares": m.shares.iter().map(|(c, s)| serde_json::json!({"channel": c, "share": num(*s)})).collect::<Vec<_>>(),
                "per_touch": m.per_touch.iter().map(|(c, s)| serde_json::json!({"channel": c, "conversions_per_touch": num(*s)})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
}

/// The `bridge_identity.identifier_type` under which records of a truth table appear.
pub fn identifier_type_of(truth_table: &str) -> Option<&'static str> {
    match truth_table {
        "crm_contacts" => Some("contact_id"),
        "cookies" => Some("anonymous_id"),
        "orders" => Some("order_id"),
        "pos_transactions" => Some("transaction_id"),
        "purchase_registrations" => Some("registration_id"),
        _ => None,
    }
}

fn key_hash(kind: &str, value: &str) -> u64 {
    // SipHash with fixed zero keys: stable within a run, and 64 bits make collisions
    // negligible for tens of millions of keys.
    let mut h = DefaultHasher::new();
    kind.hash(&mut h);
    value.hash(&mut h);
    h.finish()
}

/// Interns strings to dense ids without keeping the strings.
#[derive(Default)]
struct Interner {
    ids: HashMap<u64, u32>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        let n = self.ids.len() as u32;
        *self.ids.entry(key_hash("", s)).or_insert(n)
    }
}

fn c2(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Pair counts and scores from (true cluster, predicted cluster) labels of each record.
pub fn pair_scores(labels: impl IntoIterator<Item = (u64, u64)>) -> IdentityScores {
    let mut truth: HashMap<u64, u64> = HashMap::new();
    let mut pred: HashMap<u64, u64> = HashMap::new();
    let mut cells: HashMap<(u64, u64), u64> = HashMap::new();
    let mut records = 0u64;
    for (t, p) in labels {
        records += 1;
        *truth.entry(t).or_default() += 1;
        *pred.entry(p).or_default() += 1;
        *cells.entry((t, p)).or_default() += 1;
    }
    let true_pairs: u64 = truth.values().map(|n| c2(*n)).sum();
    let predicted_pairs: u64 = pred.values().map(|n| c2(*n)).sum();
    let tp: u64 = cells.values().map(|n| c2(*n)).sum();
    let precision = if predicted_pairs == 0 {
        1.0
    } else {
        tp as f64 / predicted_pairs as f64
    };
    let recall = if true_pairs == 0 {
        1.0
    } else {
        tp as f64 / true_pairs as f64
    };
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    IdentityScores {
        records,
        missing_records: 0,
        erased_persons: 0,
        true_clusters: truth.len() as u64,
        predicted_clusters: pred.len() as u64,
        true_pairs,
        predicted_pairs,
        true_positive_pairs: tp,
        precision,
        recall,
        f1,
        largest_predicted_cluster: pred.values().copied().max().unwrap_or(0),
        largest_true_cluster: truth.values().copied().max().unwrap_or(0),
    }
}

/// Average ranks (1-based), ties sharing the mean of their positions.
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in &order[i..=j] {
            ranks[*k] = avg;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman's rho: Pearson correlation of average ranks (exact with ties). NaN when either
/// side is constant or fewer than two values are given.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    if x.len() != y.len() || x.len() < 2 {
        return f64::NAN;
    }
    let rx = average_ranks(x);
    let ry = average_ranks(y);
    let n = x.len() as f64;
    let mx = rx.iter().sum::<f64>() / n;
    let my = ry.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        return f64::NAN;
    }
    sxy / (sxx * syy).sqrt()
}

fn join(root: &Path, folder: &str) -> Path {
    let mut p = root.clone();
    for part in folder.split('/').filter(|s| !s.is_empty()) {
        p = p.join(part);
    }
    p
}

/// Reads the named columns of every Parquet file of the table at `dir`, in path order, handing
/// each batch (columns in the order asked) to `f`.
async fn scan(
    store: &Arc<dyn ObjectStore>,
    dir: &Path,
    columns: &[&str],
    mut f: impl FnMut(&RecordBatch) -> Result<(), EvalError>,
) -> Result<(), EvalError> {
    // The same files DataFusion would read for this table (hidden and staging folders skipped).
    let files = crate::catalog::list_parquet(store, dir).await?;
    if files.is_empty() {
        return Err(EvalError::NoData(dir.to_string()));
    }
    for meta in files {
        #[allow(deprecated)]
        let reader = ParquetObjectReader::new(store.clone(), meta.location.clone())
            .with_file_size(meta.size);
        let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
        let schema = builder.schema().clone();
        let mut indices = Vec::new();
        for c in columns {
            let i = schema.index_of(c).map_err(|_| EvalError::MissingColumn {
                table: meta.location.to_string(),
                column: c.to_string(),
            })?;
            indices.push(i);
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), indices.iter().copied());
        let mut stream = builder.with_projection(mask).build()?;
        while let Some(batch) = stream.try_next().await? {
            let cols = columns
                .iter()
                .map(|c| {
                    batch
                        .column_by_name(c)
                        .cloned()
                        .ok_or_else(|| EvalError::MissingColumn {
                            table: meta.location.to_string(),
                            column: c.to_string(),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let fields: Vec<_> = columns
                .iter()
                .zip(&cols)
                .map(|(n, c)| arrow::datatypes::Field::new(*n, c.data_type().clone(), true))
                .collect();
            let ordered =
                RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), cols)?;
            f(&ordered)?;
        }
    }
    Ok(())
}

fn strings(batch: &RecordBatch, i: usize) -> Result<arrow::array::StringArray, EvalError> {
    let col = cast(batch.column(i), &DataType::Utf8)?;
    Ok(col.as_string::<i32>().clone())
}

fn floats(batch: &RecordBatch, i: usize) -> Result<arrow::array::Float64Array, EvalError> {
    let col = cast(batch.column(i), &DataType::Float64)?;
    Ok(col.as_primitive::<Float64Type>().clone())
}

/// Pairwise identity scores of the warehouse's `bridge_identity` against the truth.
pub async fn eval_identity(
    truth: (Arc<dyn ObjectStore>, Path),
    warehouse: (Arc<dyn ObjectStore>, Path),
) -> Result<IdentityScores, EvalError> {
    // Predicted cluster of every record key the bridge knows.
    let mut persons = Interner::default();
    let mut predicted: HashMap<u64, u32> = HashMap::new();
    let wanted = [
        "contact_id",
        "anonymous_id",
        "order_id",
        "transaction_id",
        "registration_id",
    ];
    let bridge = join(&warehouse.1, "bridge_identity");
    scan(
        &warehouse.0,
        &bridge,
        &["identifier_type", "identifier_value", "person_id"],
        |b| {
            let (kinds, values, ids) = (strings(b, 0)?, strings(b, 1)?, strings(b, 2)?);
            for i in 0..b.num_rows() {
                if kinds.is_null(i) || values.is_null(i) || ids.is_null(i) {
                    continue;
                }
                let kind = kinds.value(i);
                if !wanted.contains(&kind) {
                    continue;
                }
                let person = persons.id(ids.value(i));
                predicted.insert(key_hash(kind, values.value(i)), person);
            }
            Ok(())
        },
    )
    .await?;

    let mut true_persons = Interner::default();
    // (true person, predicted person if the bridge has the record)
    let mut found: Vec<(u64, Option<u32>)> = Vec::new();
    let truth_dir = join(&truth.1, "_truth/record_person");
    scan(
        &truth.0,
        &truth_dir,
        &["table", "record_id", "person_id", "identifiable"],
        |b| {
            let (tables, ids, people) = (strings(b, 0)?, strings(b, 1)?, strings(b, 2)?);
            let ident = cast(b.column(3), &DataType::Boolean)?;
            let ident = ident.as_boolean();
            for i in 0..b.num_rows() {
                if tables.is_null(i) || ids.is_null(i) || people.is_null(i) {
                    return Err(EvalError::NullValue {
                        table: "_truth/record_person".into(),
                        column: "table/record_id/person_id".into(),
                    });
                }
                let person = people.value(i);
                if ident.is_null(i) || !ident.value(i) || person.starts_with("bot-") {
                    continue;
                }
                let Some(kind) = identifier_type_of(tables.value(i)) else {
                    continue;
                };
                let t = true_persons.id(person) as u64;
                found.push((t, predicted.get(&key_hash(kind, ids.value(i))).copied()));
            }
            Ok(())
        },
    )
    .await?;
    // A person with no record left in the bridge was erased on purpose; any other record
    // missing from the bridge is a miss and counts as a singleton.
    let mut present: HashMap<u64, bool> = HashMap::new();
    for (t, p) in &found {
        *present.entry(*t).or_default() |= p.is_some();
    }
    // An empty bridge is a failed pipeline, not everybody erased.
    let any_found = present.values().any(|v| *v);
    if !any_found {
        present.values_mut().for_each(|v| *v = true);
    }
    let erased = present.values().filter(|v| !**v).count() as u64;
    let mut missing = 0u64;
    let mut next_singleton = u32::MAX as u64 + 1;
    let labels: Vec<(u64, u64)> = found
        .into_iter()
        .filter(|(t, _)| present.get(t).copied().unwrap_or(false))
        .map(|(t, p)| match p {
            Some(p) => (t, p as u64),
            None => {
                missing += 1;
                next_singleton += 1;
                (t, next_singleton)
            }
        })
        .collect();
    let mut scores = pair_scores(labels);
    scores.erased_persons = erased;
    scores.missing_records = missing;
    Ok(scores)
}

/// Rank agreement between the planted lifts and each model's channel credit: its shares, and
/// its conversions per touch.
pub async fn eval_attribution(
    truth: (Arc<dyn ObjectStore>, Path),
    warehouse: (Arc<dyn ObjectStore>, Path),
) -> Result<AttributionScores, EvalError> {
    let mut lifts: Vec<(String, f64)> = Vec::new();
    scan(
        &truth.0,
        &join(&truth.1, "_truth/channel_effect"),
        &["channel", "lift"],
        |b| {
            let (ch, lift) = (strings(b, 0)?, floats(b, 1)?);
            for i in 0..b.num_rows() {
                if ch.is_null(i) || lift.is_null(i) {
                    continue;
                }
                lifts.push((ch.value(i).to_string(), lift.value(i)));
            }
            Ok(())
        },
    )
    .await?;
    // model -> channel -> (share, conversions per touch)
    let mut credit: HashMap<String, HashMap<String, (f64, f64)>> = HashMap::new();
    scan(
        &warehouse.0,
        &join(&warehouse.1, "rpt_attribution_channel"),
        &["channel", "model", "share", "conversions_per_touch"],
        |b| {
            let (ch, model) = (strings(b, 0)?, strings(b, 1)?);
            let (share, per_touch) = (floats(b, 2)?, floats(b, 3)?);
            for i in 0..b.num_rows() {
                if ch.is_null(i) || model.is_null(i) || share.is_null(i) {
                    continue;
                }
                let c = credit
                    .entry(model.value(i).to_string())
                    .or_default()
                    .entry(ch.value(i).to_string())
                    .or_default();
                c.0 += share.value(i);
                if per_touch.is_valid(i) {
                    c.1 += per_touch.value(i);
                }
            }
            Ok(())
        },
    )
    .await?;
    let truth_values: Vec<f64> = lifts.iter().map(|l| l.1).collect();
    let mut models: Vec<_> = credit.into_iter().collect();
    models.sort_by(|a, b| a.0.cmp(&b.0));
    let per_model = models
        .into_iter()
        .map(|(model, by_channel)| {
            let of = |pick: fn(&(f64, f64)) -> f64| -> Vec<(String, f64)> {
                lifts
                    .iter()
                    .map(|(c, _)| (c.clone(), by_channel.get(c).map(pick).unwrap_or(0.0)))
                    .collect()
            };
            let (shares, per_touch) = (of(|c| c.0), of(|c| c.1));
            let rho = |v: &[(String, f64)]| {
                spearman(&truth_values, &v.iter().map(|x| x.1).collect::<Vec<_>>())
            };
            ModelScore {
                model,
                spearman: rho(&shares),
                spearman_per_touch: rho(&per_touch),
                shares,
                per_touch,
            }
        })
        .collect();
    Ok(AttributionScores {
        per_model,
        truth: lifts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties() {
        assert_eq!(
            average_ranks(&[10.0, 20.0, 20.0, 5.0]),
            vec![2.0, 3.5, 3.5, 1.0]
        );
    }

    #[test]
    fn spearman_hand_computed() {
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 30.0, 40.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // ranks x = 1 2 3 4 5, y = 2 1 4 3 5: d² = 1+1+1+1+0 = 4, rho = 1 - 6·4/(5·24) = 0.8
        let r = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 1.0, 4.0, 3.0, 5.0]);
        assert!((r - 0.8).abs() < 1e-12, "{r}");
        // With ties: x ranks 1 2 3, y = [1, 1, 2] ranks 1.5 1.5 3 → Pearson = 0.8660254
        let r = spearman(&[1.0, 2.0, 3.0], &[1.0, 1.0, 2.0]);
        assert!((r - 0.75f64.sqrt()).abs() < 1e-9, "{r}");
        assert!(spearman(&[1.0, 2.0], &[3.0, 3.0]).is_nan());
    }

    #[test]
    fn pair_counting_hand_computed() {
        // Truth: A = {1,2,3}, B = {4,5}. Predicted: X = {1,2}, Y = {3,4,5}.
        // true pairs = 3 + 1 = 4; predicted = 1 + 3 = 4; tp: (A,X)=1, (A,Y)=0, (B,Y)=1 → 2.
        let s = pair_scores([(0, 10), (0, 10), (0, 11), (1, 11), (1, 11)]);
        assert_eq!(s.records, 5);
        assert_eq!(s.true_pairs, 4);
        assert_eq!(s.predicted_pairs, 4);
        assert_eq!(s.true_positive_pairs, 2);
        assert!((s.precision - 0.5).abs() < 1e-12);
        assert!((s.recall - 0.5).abs() < 1e-12);
        assert!((s.f1 - 0.5).abs() < 1e-12);
        assert_eq!(s.largest_predicted_cluster, 3);
    }

    #[test]
    fn all_singletons_is_perfect_precision_zero_recall() {
        let s = pair_scores([(0, 1), (0, 2), (1, 3)]);
        assert_eq!(s.true_pairs, 1);
        assert_eq!(s.predicted_pairs, 0);
        assert_eq!(s.precision, 1.0);
        assert_eq!(s.recall, 0.0);
        assert_eq!(s.f1, 0.0);
    }
}
