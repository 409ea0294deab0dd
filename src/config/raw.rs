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
}

/// A storage root: a URL, or a URL with non-secret options.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawStorage {
    Url(String),
    Full(RawStorageFull),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorageFull {
    pub url: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawColumn {
    pub description: Option<String>,
    #[serde(default)]
    pub tests: Vec<RawTest>,
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
}
