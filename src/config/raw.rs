//! The raw shape of `pipelines.yaml`, exactly as serde reads it.
//!
//! Every struct denies unknown fields so that a typo is an error with a line number (serde_norway
//! reports `line N column M`), never a silently ignored setting. Nothing here is validated beyond
//! its YAML type: [`super::load`] turns these into the domain types.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProject {
    /// A name for logs and artifacts.
    pub name: Option<String>,
    /// Folders (relative to the project) searched recursively for model `.sql` files.
    #[serde(default)]
    pub model_paths: Option<Vec<String>>,
    /// Folders searched for singular data tests (`.sql` files whose rows are failures).
    #[serde(default)]
    pub test_paths: Option<Vec<String>>,
    /// Where `run_results.json` and `manifest.json` go (relative to the project).
    pub target_path: Option<String>,
    #[serde(default)]
    pub storage: BTreeMap<String, RawStorage>,
    #[serde(default)]
    pub sources: BTreeMap<String, RawSource>,
    #[serde(default)]
    pub models: BTreeMap<String, RawModel>,
    #[serde(default)]
    pub pipelines: BTreeMap<String, RawPipeline>,
    #[serde(default)]
    pub vars: BTreeMap<String, serde_norway::Value>,
    #[serde(default)]
    pub execution: Option<RawExecution>,
    /// Folders (relative to the project) whose `*.yml`/`*.yaml` files declare unit tests.
    #[serde(default)]
    pub unit_test_paths: Option<Vec<String>>,
    /// Model unit tests declared in this file (see `super::unit_tests`).
    #[serde(default)]
    pub unit_tests: Vec<super::unit_tests::RawUnitTest>,
    /// What `parcours docs` adds to the site: charts, trend settings.
    pub docs: Option<super::docs::RawDocs>,
}

/// A storage root: a URL, or a URL with non-secret options and HTTP settings.
#[derive(Debug)]
pub enum RawStorage {
    Url(String),
    Full(RawStorageFull),
}

/// Written by hand rather than `#[serde(untagged)]`: an untagged enum reports any mistake in
/// the map form as "did not match any variant", hiding which key was wrong. Here a string is
/// a URL and anything else must be a [`RawStorageFull`], whose own error names the key.
impl<'de> Deserialize<'de> for RawStorage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        match serde_norway::Value::deserialize(d)? {
            serde_norway::Value::String(url) => Ok(RawStorage::Url(url)),
            other => RawStorageFull::deserialize(other)
                .map(RawStorage::Full)
                .map_err(|e| D::Error::custom(format!("storage root: {e}"))),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorageFull {
    pub url: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// How HTTP back-ends (s3, gs, az) retry a failed request.
    pub retry: Option<RawRetry>,
    /// Longest time for one HTTP request, connection to last byte (`30s`).
    pub timeout: Option<String>,
    /// Longest time to open a connection (`5s`).
    pub connect_timeout: Option<String>,
}

/// object_store's `RetryConfig`; every field defaults to object_store's own default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// Retries of one request after its first try; 0 turns retrying off.
    pub max_retries: Option<usize>,
    /// No retry starts later than this after the first try (`3m`).
    pub retry_timeout: Option<String>,
    /// The first wait before a retry (`100ms`).
    pub init_backoff: Option<String>,
    /// The longest wait between two tries (`15s`).
    pub max_backoff: Option<String>,
    /// Each wait is drawn up to `backoff_base` times the previous one.
    pub backoff_base: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub storage: String,
    pub path: String,
    #[serde(default)]
    pub format: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub partitions: Vec<RawPartition>,
    /// Declared columns: name → type (`utf8`, `int64`, `decimal(12,2)`, `timestamp(us, UTC)`,
    /// … optionally followed by `not null`).
    #[serde(default)]
    pub schema: Option<BTreeMap<String, String>>,
    /// An absent folder reads as an empty table of the declared schema (state a pipeline
    /// keeps from run to run, such as the previous version of a published table).
    #[serde(default)]
    pub optional: bool,
    /// The date partition that says when a file was exported: a run reads only the files
    /// exported on or before its run date. Default: the first `date` partition; `false`: off.
    #[serde(default)]
    pub as_of: Option<RawAsOf>,
    /// Columns holding personal data, and what kind: `email: email`, `first_name: name`. The
    /// PII audit follows them to every published column (see `crate::lineage::pii`).
    #[serde(default)]
    pub pii: BTreeMap<String, PiiKind>,
}

/// The kinds of personal data a source column can be declared to hold.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    Email,
    Phone,
    Name,
    Address,
    BirthDate,
}

impl PiiKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Phone => "phone",
            PiiKind::Name => "name",
            PiiKind::Address => "address",
            PiiKind::BirthDate => "birth_date",
        }
    }
}

/// `as_of: export_date` (a partition column) or `as_of: false`.
#[derive(Debug, Clone, PartialEq)]
pub enum RawAsOf {
    Column(String),
    Off,
}

/// Written by hand so that a wrong value is reported, at its own line, as what `as_of`
/// accepts, not as "did not match any variant".
impl<'de> Deserialize<'de> for RawAsOf {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AsOf;
        impl serde::de::Visitor<'_> for AsOf {
            type Value = RawAsOf;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the name of a date partition column, or `false`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawAsOf, E> {
                Ok(RawAsOf::Column(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<RawAsOf, E> {
                if v {
                    Err(E::custom(
                        "`true` is the default; name the partition column, or write `false`",
                    ))
                } else {
                    Ok(RawAsOf::Off)
                }
            }
        }
        d.deserialize_any(AsOf)
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawPartition {
    Name(String),
    Typed(RawPartitionTyped),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPartitionTyped {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Materialization {
    View,
    Table,
    Partitioned,
    /// Written to the run's staging area for the models and tests of this run, never
    /// published, removed when the run ends: intermediate results too big to recompute as a
    /// view, or holding records that must not outlive the run (erased persons).
    Ephemeral,
}

/// How a model's joins run. `hash` (the default) holds each join's build side in memory,
/// which DataFusion cannot spill; `sort_merge` sorts both sides instead, spilling to the temp
/// folder, for models whose joins outgrow the memory pool at scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Joins {
    #[default]
    Hash,
    SortMerge,
}

/// How a `table` or `partitioned` model's published versions are recorded. `parquet` (the
/// default): plain Parquet files and parcours's commit record. `delta`: a Delta Lake table,
/// whose transaction log every Delta reader follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableFormat {
    #[default]
    Parquet,
    Delta,
}

impl TableFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            TableFormat::Parquet => "parquet",
            TableFormat::Delta => "delta",
        }
    }
}

impl Materialization {
    pub fn as_str(self) -> &'static str {
        match self {
            Materialization::View => "view",
            Materialization::Table => "table",
            Materialization::Partitioned => "partitioned",
            Materialization::Ephemeral => "ephemeral",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub materialization: Option<Materialization>,
    pub partition_by: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub enabled: Option<bool>,
    #[serde(default)]
    pub columns: BTreeMap<String, RawColumn>,
    #[serde(default)]
    pub tests: Vec<RawTest>,
    /// `true`: the model's rows depend on all history (identity graph, Markov chain), so every
    /// run recomputes it whole. `false`: it does not, even if it reads a model that does.
    /// Absent: inherited from the models it reads.
    pub full_history: Option<bool>,
    /// `hash` or `sort_merge`; see [`Joins`].
    pub joins: Option<Joins>,
    /// `parquet` or `delta`; see [`TableFormat`].
    pub format: Option<TableFormat>,
    /// How long a Delta table keeps the files its newer versions replaced (`168h`), so that a
    /// reader still reading the previous version is not broken mid-query.
    pub vacuum_retention: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawColumn {
    pub description: Option<String>,
    #[serde(default)]
    pub tests: Vec<RawTest>,
    /// The column holds no personal data although the PII audit traces some to it: the
    /// reason, for reviewers (an e-mail's domain alone, a count).
    pub allow_pii: Option<String>,
}

/// A test is either its bare name (`- not_null`) or a one-key map (`- accepted_values: {...}`).
/// The arguments stay YAML values here and are checked key by key in [`super::tests`].
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawTest {
    Name(String),
    WithArgs(BTreeMap<String, serde_norway::Value>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    pub description: Option<String>,
    #[serde(default)]
    pub select: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExecution {
    /// Models run at once (default: the number of cores).
    pub threads: Option<usize>,
    /// DataFusion partitions per query (default: the number of cores).
    pub target_partitions: Option<usize>,
    /// Memory pool limit, e.g. `4GiB`, `512MiB` (default: unbounded).
    pub memory_limit: Option<String>,
    /// Where operators spill when the memory limit is reached.
    pub temp_dir: Option<String>,
    /// How long a run's warehouse lease lasts without renewal (`60s`); a run that dies leaves
    /// the warehouse to the next one after this long.
    pub lease_ttl: Option<String>,
    /// How long `run` waits for another run's lease (`10m`; default: no wait, exit 5).
    pub wait_for_lease: Option<String>,
    /// How many days late a row may be exported: night D rewrites the partitions from
    /// D - late_arrival_days to D of every model that reads `{{ window_start }}` (default 0).
    pub late_arrival_days: Option<u32>,
    /// DataFusion session options by their full name (`datafusion.execution.batch_size: 16384`),
    /// applied after parcours's own defaults.
    #[serde(default)]
    pub datafusion: BTreeMap<String, serde_norway::Value>,
    /// Where the models' queries run: `local` (the default) or
    /// `{ballista: {scheduler: df://host:50050}}`.
    pub engine: Option<RawEngine>,
}

/// `engine: local` or `engine: {ballista: {scheduler: df://host:port}}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawEngine {
    Name(String),
    Ballista { ballista: RawBallista },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBallista {
    pub scheduler: String,
}
