//! `pipelines.yaml`: parsing into raw serde types, then validation into domain types.
//!
//! Parsing ([`raw`]) catches unknown keys and wrong YAML types with serde's line numbers.
//! Validation (this file) catches what serde cannot see — a source naming an undeclared storage
//! root, an unknown data type, a bad test argument — and locates the offending key in the file
//! with [`locate`] so every message still carries `file:line`.

pub mod datatype;
pub mod docs;
pub mod raw;
pub mod tests;
pub mod unit_tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::datatypes::DataType;
use chrono::NaiveDate;

use crate::error::{Error, Result};
pub use raw::{Joins, Materialization, PiiKind, TableFormat};
pub use tests::{Severity, TestKind, TestSpec};

/// The file name looked up in the project directory.
pub const CONFIG_FILE: &str = "pipelines.yaml";

/// A validated `pipelines.yaml`.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub project_dir: PathBuf,
    pub name: String,
    pub model_paths: Vec<String>,
    pub test_paths: Vec<String>,
    pub target_path: PathBuf,
    pub storage: BTreeMap<String, StorageSpec>,
    pub sources: BTreeMap<String, SourceSpec>,
    pub model_defaults: ModelSettings,
    /// Per-model settings, before defaults are applied (see [`Config::model_settings`]).
    pub models: BTreeMap<String, ModelSettings>,
    pub pipelines: BTreeMap<String, Pipeline>,
    pub vars: BTreeMap<String, VarValue>,
    pub execution: Execution,
    /// Folders searched for unit test files (`unit_tests/` by default).
    pub unit_test_paths: Vec<String>,
    /// Unit tests declared in `pipelines.yaml` itself; those of `unit_test_paths` are read by
    /// [`unit_tests::load`].
    pub unit_tests: Vec<unit_tests::UnitTestSpec>,
    /// What `parcours docs` adds to the site (`docs:`).
    pub docs: docs::Docs,
    text: String,
}

#[derive(Debug, Clone, Default)]
pub struct StorageSpec {
    pub url: String,
    pub options: BTreeMap<String, String>,
    /// Retry and timeout settings of the HTTP back-ends; local and memory roots ignore them.
    pub http: HttpSettings,
}

/// How an HTTP back-end (S3, GCS, Azure) retries and times out; `None` keeps object_store's
/// default (10 retries within 3 minutes, backoff from 100 ms to 15 s, 30 s per request, 5 s to
/// connect).
#[derive(Debug, Clone, Default)]
pub struct HttpSettings {
    pub retry: Option<object_store::RetryConfig>,
    pub timeout: Option<Duration>,
    pub connect_timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub name: String,
    pub storage: String,
    pub path: String,
    pub description: Option<String>,
    /// Hive partition columns, outermost first.
    pub partitions: Vec<(String, DataType)>,
    pub schema: Option<Vec<DeclaredColumn>>,
    /// No files yet is not an error: the source reads as an empty table of `schema`.
    pub optional: bool,
    /// The `date` partition column that says when a file was exported: a run reads only the
    /// files of partitions on or before its run date, so a backfill of night D sees the world
    /// as it was on D. `None`: every file is read.
    pub as_of: Option<String>,
    /// Columns declared personal data, for the PII audit.
    pub pii: BTreeMap<String, PiiKind>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredColumn {
    pub name: String,
    pub data_type: DataType,
    pub nullable: bool,
}

#[derive(Debug, Clone)]
pub struct ModelSettings {
    pub materialization: Materialization,
    pub partition_by: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub columns: BTreeMap<String, Option<String>>,
    /// Columns declared free of personal data (`allow_pii: <reason>`), for the PII audit.
    pub allow_pii: BTreeMap<String, String>,
    pub tests: Vec<TestSpec>,
    /// Declared `full_history`: `Some(true)` needs all history, `Some(false)` opts out of what
    /// it would inherit, `None` inherits from the models it reads (see [`crate::graph`]).
    pub full_history: Option<bool>,
    pub joins: Joins,
    /// How a published model's versions are recorded: plain Parquet or a Delta Lake table.
    pub format: TableFormat,
    /// A Delta table keeps the files a newer version replaced for this long (vacuum).
    pub vacuum_retention: Duration,
}

/// Delta Lake's own default for `delta.deletedFileRetentionDuration`: one week.
pub const DEFAULT_VACUUM_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

impl ModelSettings {
    /// Whether the model is written to the warehouse as a table (not a view or ephemeral).
    pub fn is_published(&self) -> bool {
        matches!(
            self.materialization,
            Materialization::Table | Materialization::Partitioned
        )
    }
}

impl Default for ModelSettings {
    fn default() -> Self {
        ModelSettings {
            materialization: Materialization::Table,
            partition_by: None,
            description: None,
            tags: Vec::new(),
            enabled: true,
            columns: BTreeMap::new(),
            allow_pii: BTreeMap::new(),
            tests: Vec::new(),
            full_history: None,
            joins: Joins::Hash,
            format: TableFormat::Parquet,
            vacuum_retention: DEFAULT_VACUUM_RETENTION,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    pub description: Option<String>,
    pub select: Vec<String>,
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Execution {
    pub threads: Option<usize>,
    pub target_partitions: Option<usize>,
    pub memory_limit: Option<u64>,
    pub temp_dir: Option<PathBuf>,
    /// The warehouse lease's time to live (default [`crate::run::lease::DEFAULT_TTL`]).
    pub lease_ttl: Option<Duration>,
    /// How long `run` waits for another run's lease (default: not at all).
    pub wait_for_lease: Option<Duration>,
    /// Days a row may arrive late: night D rewrites partitions D - late_arrival_days ..= D of
    /// the models that read `{{ window_start }}`.
    pub late_arrival_days: u32,
    /// DataFusion options (`datafusion.…` = value), checked against DataFusion's own list.
    pub datafusion: Vec<(String, String)>,
    /// Where the queries run.
    pub engine: Engine,
}

/// Where a run's queries execute. Everything else (storage, publishing, tests, the lease)
/// happens in the `parcours run` process either way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Engine {
    /// In this process.
    #[default]
    Local,
    /// On an Apache DataFusion Ballista cluster: its scheduler's address, `df://host:port`.
    Ballista { scheduler: String },
}

impl Engine {
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Local => "local",
            Engine::Ballista { .. } => "ballista",
        }
    }
}

/// Checks a scheduler address: `df://host:port` (the port defaults to 50050).
pub fn parse_scheduler(text: &str) -> std::result::Result<String, String> {
    // `host:port` is what operators type for a gRPC peer; it means the same as df://host:port
    let full = if text.contains("://") {
        text.to_string()
    } else {
        format!("df://{text}")
    };
    let url = url::Url::parse(&full)
        .map_err(|e| format!("`{text}` is not an address ({e}); write df://host:50050"))?;
    if url.scheme() != "df" {
        return Err(format!(
            "`{text}`: a scheduler address starts with df://, e.g. df://host:50050"
        ));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("`{text}` names no host; write df://host:50050"))?;
    if !url.path().trim_matches('/').is_empty() {
        return Err(format!(
            "`{text}`: a scheduler address has no path; write df://host:50050"
        ));
    }
    Ok(format!("df://{host}:{}", url.port().unwrap_or(50050)))
}

/// A typed variable. In SQL it becomes a literal of its type, never pasted text.
#[derive(Debug, Clone, PartialEq)]
pub enum VarValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Date(NaiveDate),
}

impl VarValue {
    pub fn type_name(&self) -> &'static str {
        match self {
            VarValue::Int(_) => "integer",
            VarValue::Float(_) => "float",
            VarValue::Bool(_) => "boolean",
            VarValue::Str(_) => "string",
            VarValue::Date(_) => "date",
        }
    }

    /// The value as a SQL literal of its own type (strings quoted with `'` doubled).
    pub fn to_sql(&self) -> String {
        match self {
            VarValue::Int(i) => i.to_string(),
            VarValue::Float(f) => {
                let s = f.to_string();
                if s.contains(['.', 'e', 'E']) || !f.is_finite() {
                    s
                } else {
                    format!("{s}.0")
                }
            }
            VarValue::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
            VarValue::Str(s) => format!("'{}'", s.replace('\'', "''")),
            VarValue::Date(d) => format!("DATE '{}'", d.format("%Y-%m-%d")),
        }
    }

    /// Reads a YAML scalar: integers, floats, booleans, `YYYY-MM-DD` dates and strings.
    pub fn from_yaml(value: &serde_norway::Value) -> Option<VarValue> {
        use serde_norway::Value;
        match value {
            Value::Bool(b) => Some(VarValue::Bool(*b)),
            Value::Number(n) => n
                .as_i64()
                .map(VarValue::Int)
                .or_else(|| n.as_f64().map(VarValue::Float)),
            Value::String(s) => Some(
                parse_date(s)
                    .map(VarValue::Date)
                    .unwrap_or_else(|| VarValue::Str(s.clone())),
            ),
            _ => None,
        }
    }

    /// Parses a command-line override as the declared variable's type.
    pub fn parse_as(&self, text: &str) -> std::result::Result<VarValue, String> {
        let bad = |what: &str| format!("`{text}` is not {what}");
        Ok(match self {
            VarValue::Int(_) => VarValue::Int(text.trim().parse().map_err(|_| bad("an integer"))?),
            VarValue::Float(_) => {
                VarValue::Float(text.trim().parse().map_err(|_| bad("a number"))?)
            }
            VarValue::Bool(_) => VarValue::Bool(match text.trim() {
                "true" | "TRUE" | "True" | "1" | "yes" => true,
                "false" | "FALSE" | "False" | "0" | "no" => false,
                _ => return Err(bad("a boolean (true/false)")),
            }),
            VarValue::Str(_) => VarValue::Str(text.to_string()),
            VarValue::Date(_) => {
                VarValue::Date(parse_date(text.trim()).ok_or_else(|| bad("a date (YYYY-MM-DD)"))?)
            }
        })
    }
}

impl std::fmt::Display for VarValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VarValue::Str(s) => write!(f, "{s}"),
            VarValue::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            other => write!(f, "{}", other.to_sql()),
        }
    }
}

/// `a integer` → `an integer`: the article for a type name in messages.
pub fn article(word: &str) -> String {
    let an = word.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {word}", if an { "an" } else { "a" })
}

pub fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

impl Config {
    /// Reads and validates `<project_dir>/pipelines.yaml`.
    pub fn load(project_dir: &Path) -> Result<Config> {
        let file = project_dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&file).map_err(|e| {
            Error::config(
                &file,
                None,
                format!("cannot read the project file ({e}); run parcours in a project folder or pass --project-dir"),
            )
        })?;
        let mut config = Config::parse(project_dir, file, text)?;
        let from_files = unit_tests::load(project_dir, &config.unit_test_paths, &config.vars)?;
        for t in from_files {
            if let Some(first) = config.unit_tests.iter().find(|o| o.name == t.name) {
                return Err(Error::config(
                    &t.file,
                    t.line,
                    format!(
                        "unit test `{}`: a second test of this name (the first is at {})",
                        t.name,
                        first.location()
                    ),
                ));
            }
            config.unit_tests.push(t);
        }
        Ok(config)
    }

    /// Validates configuration text as if it were read from `file`.
    pub fn parse(project_dir: &Path, file: PathBuf, text: String) -> Result<Config> {
        let raw: raw::RawProject = serde_norway::from_str(&text).map_err(|e| {
            let mut line = e.location().map(|l| l.line());
            let mut msg = e.to_string();
            if let Some((head, rest)) = msg.split_once("storage root: ") {
                // The map form is read from a YAML value, which has no positions: serde points
                // at the `storage:` block, so find the offending key below it instead.
                let field = rest
                    .strip_prefix("unknown field `")
                    .and_then(|r| r.split('`').next());
                if let Some(at) = field.and_then(|f| locate(&text, &["storage", f])) {
                    line = Some(at);
                }
                let rest = rest.split(" at line ").next().unwrap_or(rest);
                msg = format!("{head}{rest} (a storage root is a URL string or {{url: ..., options: {{...}}, retry: {{...}}, timeout: ..., connect_timeout: ...}})");
            } else if msg.contains("untagged enum RawTest") {
                msg = format!("{msg} (a test is a name like `not_null` or a one-key map like `accepted_values: {{values: [...]}}`)");
            } else if msg.contains("untagged enum RawPartition") {
                msg = format!("{msg} (a partition is a column name or {{name: ..., type: date}})");
            }
            Error::config(&file, line, msg)
        })?;
        let v = Validator {
            file: &file,
            text: &text,
        };
        v.validate(project_dir, raw, &text)
    }

    /// The settings of `model`, with the defaults applied.
    pub fn model_settings(&self, model: &str) -> ModelSettings {
        self.models
            .get(model)
            .cloned()
            .unwrap_or_else(|| self.model_defaults.clone())
    }

    /// The line of a key path in the configuration file, for messages.
    pub fn line_of(&self, path: &[&str]) -> Option<usize> {
        locate(&self.text, path)
    }

    pub fn error(&self, path: &[&str], message: impl Into<String>) -> Error {
        Error::config(&self.file, self.line_of(path), message)
    }
}

struct Validator<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Validator<'_> {
    fn err(&self, path: &[&str], message: impl Into<String>) -> Error {
        Error::config(self.file, locate(self.text, path), message)
    }

    fn validate(&self, project_dir: &Path, raw: raw::RawProject, text: &str) -> Result<Config> {
        let mut storage = BTreeMap::new();
        for (name, spec) in raw.storage {
            let spec = match spec {
                raw::RawStorage::Url(url) => StorageSpec {
                    url,
                    ..StorageSpec::default()
                },
                raw::RawStorage::Full(full) => {
                    let http = self.http_settings(&name, &full)?;
                    StorageSpec {
                        url: full.url,
                        options: full.options,
                        http,
                    }
                }
            };
            for key in spec.options.keys() {
                let k = key.to_ascii_lowercase();
                if k.contains("secret")
                    || k.contains("password")
                    || k.contains("token")
                    || k.contains("access_key")
                    || k.contains("account_key")
                    || k.contains("sas")
                {
                    return Err(self.err(&["storage", &name, "options", key], format!(
                        "storage `{name}`: option `{key}` is a credential; credentials come from the environment (AWS_*, GOOGLE_*, AZURE_* variables), never from pipelines.yaml"
                    )));
                }
            }
            storage.insert(name, spec);
        }

        let mut sources = BTreeMap::new();
        for (name, src) in raw.sources {
            // With no `storage:` at all, the project is only planned (unit tests, lineage, the
            // PII audit): a command that reads a source says then that its root is missing.
            if !storage.is_empty() && !storage.contains_key(&src.storage) {
                return Err(self.err(&["sources", &name, "storage"], format!(
                    "source `{name}` uses storage `{}`, which is not declared under `storage:` (declared: {})",
                    src.storage, join_keys(&storage)
                )));
            }
            if let Some(format) = &src.format
                && format != "parquet"
            {
                return Err(self.err(
                    &["sources", &name, "format"],
                    format!("source `{name}`: format `{format}` is not supported (only `parquet`)"),
                ));
            }
            let mut partitions = Vec::new();
            for p in src.partitions {
                let (pname, ty) = match p {
                    raw::RawPartition::Name(n) => (n, DataType::Utf8),
                    raw::RawPartition::Typed(t) => {
                        let ty = datatype::parse_partition_type(&t.data_type).map_err(|m| {
                            self.err(
                                &["sources", &name, "partitions"],
                                format!("source `{name}`, partition `{}`: {m}", t.name),
                            )
                        })?;
                        (t.name, ty)
                    }
                };
                partitions.push((pname, ty));
            }
            let schema = match src.schema {
                None => None,
                Some(cols) => {
                    let mut out = Vec::new();
                    for (col, ty) in cols {
                        let (data_type, nullable) = datatype::parse_declared(&ty).map_err(|m| {
                            self.err(
                                &["sources", &name, "schema", &col],
                                format!("source `{name}`, column `{col}`: {m}"),
                            )
                        })?;
                        out.push(DeclaredColumn {
                            name: col,
                            data_type,
                            nullable,
                        });
                    }
                    Some(out)
                }
            };
            let as_of = self.as_of(&name, src.as_of, &partitions)?;
            for col in src.pii.keys() {
                let known = schema
                    .as_ref()
                    .is_none_or(|s| s.iter().any(|c| &c.name == col))
                    || partitions.iter().any(|(p, _)| p == col);
                if !known {
                    return Err(self.err(
                        &["sources", &name, "pii", col],
                        format!(
                            "source `{name}`: pii names column `{col}`, which is not in its declared schema{}",
                            crate::graph::suggest(col, schema.iter().flatten().map(|c| &c.name))
                        ),
                    ));
                }
            }
            if src.optional && schema.is_none() {
                return Err(self.err(
                    &["sources", &name, "optional"],
                    format!("source `{name}` is optional, so it needs a declared `schema:` to read as an empty table before its first files exist"),
                ));
            }
            sources.insert(
                name.clone(),
                SourceSpec {
                    name,
                    storage: src.storage,
                    path: src.path,
                    description: src.description,
                    partitions,
                    schema,
                    optional: src.optional,
                    as_of,
                    pii: src.pii,
                },
            );
        }

        let mut models = raw.models;
        let defaults_raw = models.remove("defaults").unwrap_or_default();
        let model_defaults =
            self.model_settings("defaults", defaults_raw, &ModelSettings::default())?;
        let mut model_settings = BTreeMap::new();
        for (name, m) in models {
            let s = self.model_settings(&name, m, &model_defaults)?;
            model_settings.insert(name, s);
        }

        let mut vars = BTreeMap::new();
        for (name, value) in raw.vars {
            let v = VarValue::from_yaml(&value).ok_or_else(|| {
                self.err(&["vars", &name], format!(
                    "var `{name}` must be a scalar (integer, float, boolean, string or YYYY-MM-DD date)"
                ))
            })?;
            vars.insert(name, v);
        }

        let pipelines = raw
            .pipelines
            .into_iter()
            .map(|(name, p)| {
                (
                    name,
                    Pipeline {
                        description: p.description,
                        select: p.select,
                        exclude: p.exclude,
                    },
                )
            })
            .collect();

        let exec = raw.execution.unwrap_or_default();
        let memory_limit = match &exec.memory_limit {
            None => None,
            Some(s) => Some(parse_bytes(s).ok_or_else(|| {
                self.err(&["execution", "memory_limit"], format!(
                    "memory_limit `{s}` is not a size; write e.g. `4GiB`, `512MiB` or a number of bytes"
                ))
            })?),
        };
        let lease_ttl = match &exec.lease_ttl {
            None => None,
            Some(s) => {
                let ttl = self.duration(&["execution", "lease_ttl"], "lease_ttl", s)?;
                if ttl < crate::run::lease::MIN_TTL {
                    return Err(self.err(&["execution", "lease_ttl"], format!(
                        "lease_ttl `{s}` is too short: the lease is renewed every third of it, so it must be at least {}s",
                        crate::run::lease::MIN_TTL.as_secs()
                    )));
                }
                Some(ttl)
            }
        };
        let wait_for_lease = match &exec.wait_for_lease {
            None => None,
            Some(s) => {
                Some(self.duration(&["execution", "wait_for_lease"], "wait_for_lease", s)?)
            }
        };
        let late_arrival_days = exec.late_arrival_days.unwrap_or(0);
        if late_arrival_days > MAX_LATE_ARRIVAL_DAYS {
            return Err(self.err(&["execution", "late_arrival_days"], format!(
                "late_arrival_days {late_arrival_days} is more than {MAX_LATE_ARRIVAL_DAYS}; rows that late are history: rebuild it with `parcours run --full-refresh`"
            )));
        }
        let mut datafusion = Vec::new();
        for (key, value) in &exec.datafusion {
            let path = ["execution", "datafusion", key.as_str()];
            let value = match value {
                serde_norway::Value::String(s) => s.clone(),
                serde_norway::Value::Number(n) => n.to_string(),
                serde_norway::Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(self.err(
                        &path,
                        format!("execution.datafusion `{key}` must be a string, number or boolean"),
                    ));
                }
            };
            // Checked here, against a throw-away copy, so a typo fails `validate` with its line
            // instead of the night's run.
            let mut options = datafusion::config::ConfigOptions::new();
            if let Err(e) = options.set(key, &value) {
                return Err(self.err(&path, format!(
                    "execution.datafusion `{key}: {value}` is not a DataFusion option DataFusion accepts ({e}); see https://datafusion.apache.org/user-guide/configs.html"
                )));
            }
            datafusion.push((key.clone(), value));
        }
        let engine = match &exec.engine {
            None => Engine::Local,
            Some(raw::RawEngine::Name(n)) if n == "local" => Engine::Local,
            Some(raw::RawEngine::Name(n)) => {
                return Err(self.err(&["execution", "engine"], format!(
                    "execution.engine `{n}` is not an engine; write `local` or `{{ballista: {{scheduler: df://host:50050}}}}`"
                )));
            }
            Some(raw::RawEngine::Ballista { ballista }) => Engine::Ballista {
                scheduler: parse_scheduler(&ballista.scheduler).map_err(|m| {
                    self.err(
                        &["execution", "engine"],
                        format!("execution.engine.ballista.scheduler {m}"),
                    )
                })?,
            },
        };
        if exec.threads == Some(0) || exec.target_partitions == Some(0) {
            return Err(self.err(
                &["execution"],
                "threads and target_partitions must be at least 1",
            ));
        }

        let docs = docs::validate(self.file, self.text, raw.docs)?;
        let unit_tests = unit_tests::validate(
            self.file,
            self.file.parent().unwrap_or(project_dir),
            self.text,
            raw.unit_tests,
            &vars,
            &["unit_tests"],
        )?;

        Ok(Config {
            file: self.file.to_path_buf(),
            project_dir: project_dir.to_path_buf(),
            name: raw.name.unwrap_or_else(|| "parcours".to_string()),
            model_paths: raw.model_paths.unwrap_or_else(|| vec!["sql".to_string()]),
            test_paths: raw
                .test_paths
                .unwrap_or_else(|| vec!["data_tests".to_string()]),
            target_path: project_dir.join(raw.target_path.unwrap_or_else(|| "target".to_string())),
            storage,
            sources,
            model_defaults,
            models: model_settings,
            pipelines,
            vars,
            execution: Execution {
                threads: exec.threads,
                target_partitions: exec.target_partitions,
                memory_limit,
                temp_dir: exec.temp_dir.map(|d| project_dir.join(d)),
                lease_ttl,
                wait_for_lease,
                late_arrival_days,
                datafusion,
                engine,
            },
            unit_test_paths: raw
                .unit_test_paths
                .unwrap_or_else(|| vec!["unit_tests".to_string()]),
            unit_tests,
            docs,
            text: text.to_string(),
        })
    }

    /// Resolves a source's `as_of`: a declared `date` partition column, the first one by default,
    /// or none when switched off or when the source has no date partition.
    fn as_of(
        &self,
        source: &str,
        raw: Option<raw::RawAsOf>,
        partitions: &[(String, DataType)],
    ) -> Result<Option<String>> {
        let first_date = || {
            partitions
                .iter()
                .find(|(_, t)| *t == DataType::Date32)
                .map(|(c, _)| c.clone())
        };
        match raw {
            None => Ok(first_date()),
            Some(raw::RawAsOf::Off) => Ok(None),
            Some(raw::RawAsOf::Column(col)) => match partitions.iter().find(|(c, _)| *c == col) {
                Some((_, DataType::Date32)) => Ok(Some(col)),
                Some((_, ty)) => Err(self.err(&["sources", source, "as_of"], format!(
                    "source `{source}`: as_of `{col}` is a `{}` partition; it must be declared `{{name: {col}, type: date}}` under `partitions:`",
                    datatype::display(ty)
                ))),
                None => Err(self.err(&["sources", source, "as_of"], format!(
                    "source `{source}`: as_of `{col}` is not one of its partitions ({}); name a `date` partition, or write `as_of: false` to read every file",
                    if partitions.is_empty() {
                        "it declares none".to_string()
                    } else {
                        partitions.iter().map(|(c, _)| format!("`{c}`")).collect::<Vec<_>>().join(", ")
                    }
                ))),
            },
        }
    }

    /// A duration setting, or an error at its line.
    fn duration(&self, path: &[&str], key: &str, text: &str) -> Result<Duration> {
        parse_duration(text).ok_or_else(|| {
            self.err(
                path,
                format!(
                    "{key} `{text}` is not a duration; write e.g. `500ms`, `30s`, `5m` or `1h`"
                ),
            )
        })
    }

    /// Checks a storage root's `retry`, `timeout` and `connect_timeout` and builds object_store's
    /// settings from them.
    fn http_settings(&self, name: &str, full: &raw::RawStorageFull) -> Result<HttpSettings> {
        let has_any =
            full.retry.is_some() || full.timeout.is_some() || full.connect_timeout.is_some();
        let scheme = full
            .url
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase());
        if has_any
            && !matches!(
                scheme.as_deref(),
                Some("s3" | "s3a" | "gs" | "az" | "abfs" | "abfss")
            )
        {
            let key = if full.retry.is_some() {
                "retry"
            } else if full.timeout.is_some() {
                "timeout"
            } else {
                "connect_timeout"
            };
            return Err(self.err(&["storage", name, key], format!(
                "storage `{name}`: `{key}` applies to HTTP back-ends (s3://, gs://, az://); `{}` is not one, so remove it",
                full.url
            )));
        }
        for key in ["timeout", "connect_timeout"] {
            if full.options.contains_key(key) {
                return Err(self.err(&["storage", name, "options", key], format!(
                    "storage `{name}`: set `{key}` once, as `{key}:` beside `url:`, not under `options:`"
                )));
            }
        }
        let positive = |key: &str, text: &Option<String>| -> Result<Option<Duration>> {
            let Some(text) = text else { return Ok(None) };
            let d = self.duration(&["storage", name, key], key, text)?;
            if d.is_zero() {
                return Err(self.err(
                    &["storage", name, key],
                    format!("storage `{name}`: {key} must be longer than 0"),
                ));
            }
            Ok(Some(d))
        };
        let timeout = positive("timeout", &full.timeout)?;
        let connect_timeout = positive("connect_timeout", &full.connect_timeout)?;
        let retry = match &full.retry {
            None => None,
            Some(r) => {
                let at = |key: &str| -> Vec<String> {
                    ["storage", name, "retry", key]
                        .iter()
                        .map(|s| s.to_string())
                        .collect()
                };
                let err = |key: &str, msg: String| {
                    let p = at(key);
                    let p: Vec<&str> = p.iter().map(String::as_str).collect();
                    self.err(&p, format!("storage `{name}`, retry.{key}: {msg}"))
                };
                let dur = |key: &str, text: &Option<String>| -> Result<Option<Duration>> {
                    match text {
                        None => Ok(None),
                        Some(t) => parse_duration(t).map(Some).ok_or_else(|| {
                            err(
                                key,
                                format!(
                                    "`{t}` is not a duration; write e.g. `500ms`, `30s` or `5m`"
                                ),
                            )
                        }),
                    }
                };
                let mut c = object_store::RetryConfig::default();
                if let Some(n) = r.max_retries {
                    if n > MAX_RETRIES {
                        return Err(err(
                            "max_retries",
                            format!(
                                "{n} is more than {MAX_RETRIES}; bound the time spent retrying with `retry_timeout` instead"
                            ),
                        ));
                    }
                    c.max_retries = n;
                }
                if let Some(d) = dur("retry_timeout", &r.retry_timeout)? {
                    c.retry_timeout = d;
                }
                if let Some(d) = dur("init_backoff", &r.init_backoff)? {
                    c.backoff.init_backoff = d;
                }
                if let Some(d) = dur("max_backoff", &r.max_backoff)? {
                    c.backoff.max_backoff = d;
                }
                if let Some(b) = r.backoff_base {
                    if !(b.is_finite() && b >= 1.0) {
                        return Err(err(
                            "backoff_base",
                            format!(
                                "{b} must be a number of at least 1 (each wait is up to this many times the previous one)"
                            ),
                        ));
                    }
                    c.backoff.base = b;
                }
                if c.backoff.max_backoff < c.backoff.init_backoff {
                    return Err(err(
                        "max_backoff",
                        format!(
                            "{:?} is shorter than init_backoff {:?}",
                            c.backoff.max_backoff, c.backoff.init_backoff
                        ),
                    ));
                }
                Some(c)
            }
        };
        Ok(HttpSettings {
            retry,
            timeout,
            connect_timeout,
        })
    }

    fn model_settings(
        &self,
        name: &str,
        m: raw::RawModel,
        defaults: &ModelSettings,
    ) -> Result<ModelSettings> {
        let path = |rest: &[&'static str]| -> Vec<String> {
            let mut v = vec!["models".to_string(), name.to_string()];
            v.extend(rest.iter().map(|s| s.to_string()));
            v
        };
        let materialization = m.materialization.unwrap_or(defaults.materialization);
        let partition_by = m.partition_by.or_else(|| {
            (materialization == Materialization::Partitioned)
                .then(|| defaults.partition_by.clone())
                .flatten()
        });
        if materialization == Materialization::Partitioned
            && partition_by.is_none()
            && name != "defaults"
        {
            let p = path(&["materialization"]);
            let p: Vec<&str> = p.iter().map(String::as_str).collect();
            return Err(self.err(&p, format!(
                "model `{name}` is `partitioned` but has no `partition_by` (name the date column to partition by)"
            )));
        }
        if materialization != Materialization::Partitioned
            && partition_by.is_some()
            && name != "defaults"
        {
            let p = path(&["partition_by"]);
            let p: Vec<&str> = p.iter().map(String::as_str).collect();
            return Err(self.err(&p, format!(
                "model `{name}` sets `partition_by` but its materialization is not `partitioned`"
            )));
        }
        let format = m.format.unwrap_or(defaults.format);
        if m.format.is_some()
            && !matches!(
                materialization,
                Materialization::Table | Materialization::Partitioned
            )
            && name != "defaults"
        {
            let p = path(&["format"]);
            let p: Vec<&str> = p.iter().map(String::as_str).collect();
            return Err(self.err(&p, format!(
                "model `{name}` is a `{}`, which is never published, so `format` does not apply (it is for `table` and `partitioned` models)",
                materialization.as_str()
            )));
        }
        let vacuum_retention = match &m.vacuum_retention {
            None => defaults.vacuum_retention,
            Some(text) => {
                let p = path(&["vacuum_retention"]);
                let p: Vec<&str> = p.iter().map(String::as_str).collect();
                if format != TableFormat::Delta && name != "defaults" {
                    return Err(self.err(&p, format!(
                        "model `{name}` sets `vacuum_retention` but is not `format: delta`; Parquet tables delete what a new version replaced as soon as it is published"
                    )));
                }
                parse_duration(text).ok_or_else(|| {
                    self.err(&p, format!(
                        "model `{name}`: vacuum_retention `{text}` is not a duration such as `168h`, `30m` or `0s`"
                    ))
                })?
            }
        };
        let mut tests_out = defaults.tests.clone();
        for (i, t) in m.tests.into_iter().enumerate() {
            let spec = tests::parse_test(t, None).map_err(|msg| {
                let p = path(&["tests"]);
                let p: Vec<&str> = p.iter().map(String::as_str).collect();
                self.err(&p, format!("model `{name}`, test #{}: {msg}", i + 1))
            })?;
            tests_out.push(spec);
        }
        let mut columns = BTreeMap::new();
        let mut allow_pii = BTreeMap::new();
        for (col, c) in m.columns {
            for (i, t) in c.tests.into_iter().enumerate() {
                let spec = tests::parse_test(t, Some(&col)).map_err(|msg| {
                    let mut p = path(&["columns"]);
                    p.push(col.clone());
                    p.push("tests".to_string());
                    let p: Vec<&str> = p.iter().map(String::as_str).collect();
                    self.err(
                        &p,
                        format!("model `{name}`, column `{col}`, test #{}: {msg}", i + 1),
                    )
                })?;
                tests_out.push(spec);
            }
            if let Some(reason) = c.allow_pii {
                if reason.trim().is_empty() {
                    let mut p = path(&["columns"]);
                    p.push(col.clone());
                    p.push("allow_pii".to_string());
                    let p: Vec<&str> = p.iter().map(String::as_str).collect();
                    return Err(self.err(&p, format!(
                        "model `{name}`, column `{col}`: allow_pii needs the reason the column holds no personal data"
                    )));
                }
                allow_pii.insert(col.clone(), reason);
            }
            columns.insert(col, c.description);
        }
        let mut tags = defaults.tags.clone();
        tags.extend(m.tags);
        Ok(ModelSettings {
            materialization,
            partition_by,
            description: m.description,
            tags,
            enabled: m.enabled.unwrap_or(defaults.enabled),
            columns,
            allow_pii,
            tests: tests_out,
            full_history: m.full_history.or(defaults.full_history),
            joins: m.joins.unwrap_or(defaults.joins),
            format,
            vacuum_retention,
        })
    }
}

fn join_keys<V>(m: &BTreeMap<String, V>) -> String {
    if m.is_empty() {
        return "none".to_string();
    }
    m.keys()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The longest `execution.late_arrival_days`: ten years.
pub const MAX_LATE_ARRIVAL_DAYS: u32 = 3650;

/// The most retries a storage root may ask for: beyond this, `retry_timeout` is the better bound.
pub const MAX_RETRIES: usize = 1000;

/// Parses `500ms`, `30s`, `1.5s`, `5m`, `1h` (or a bare `0`) into a duration.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => num / 1000.0,
        "s" => num,
        "m" | "min" => num * 60.0,
        "h" => num * 3600.0,
        _ => return None,
    };
    // A week is far beyond any sensible timeout and keeps the conversion finite.
    (secs.is_finite() && (0.0..=7.0 * 86400.0).contains(&secs))
        .then(|| Duration::from_secs_f64(secs))
}

/// Parses `4GiB`, `512MiB`, `2G`, `100M`, `1024` into bytes.
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024.0f64.powi(4),
        _ => return None,
    };
    let bytes = num * mult;
    (bytes.is_finite() && bytes >= 1.0).then_some(bytes as u64)
}

/// Finds the line (1-based) of a key path such as `["models", "dim_person", "tests"]` in YAML
/// text: each segment is looked for, in order, below the previous one and more indented.
/// Returns the deepest segment found, so a message points as close to the problem as it can.
pub fn locate(text: &str, path: &[&str]) -> Option<usize> {
    let mut found = None;
    let mut seg = 0;
    let mut min_indent: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        if seg >= path.len() {
            break;
        }
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        let key_part = trimmed.trim_start_matches("- ");
        let key = path[seg];
        let matches = [
            format!("{key}:"),
            format!("\"{key}\":"),
            format!("'{key}':"),
        ]
        .iter()
        .any(|k| key_part.starts_with(k.as_str()));
        if matches && min_indent.is_none_or(|m| indent > m) {
            found = Some(i + 1);
            min_indent = Some(indent);
            seg += 1;
        }
    }
    found
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn locate_finds_nested_keys() {
        let text = "storage:\n  raw: ./x\nmodels:\n  a:\n    tests:\n      - not_null\n  b:\n    tests: []\n";
        assert_eq!(locate(text, &["models", "b", "tests"]), Some(8));
        assert_eq!(locate(text, &["models", "a"]), Some(4));
        assert_eq!(locate(text, &["models", "zzz"]), Some(3));
    }

    #[test]
    fn format_and_vacuum_retention() {
        let parse =
            |yaml: &str| Config::parse(Path::new("."), "pipelines.yaml".into(), yaml.to_string());
        let ok = parse("models:\n  defaults:\n    format: delta\n    vacuum_retention: 36h\n  a:\n    materialization: partitioned\n    partition_by: d\n  b:\n    format: parquet\n  v:\n    materialization: view\n").unwrap();
        let a = ok.model_settings("a");
        assert_eq!(a.format, TableFormat::Delta);
        assert_eq!(a.vacuum_retention, Duration::from_secs(36 * 3600));
        assert!(a.is_published());
        assert_eq!(ok.model_settings("b").format, TableFormat::Parquet);
        assert!(!ok.model_settings("v").is_published());
        assert_eq!(ok.model_settings("unlisted").format, TableFormat::Delta);
        let plain = parse("models:\n  a: {}\n").unwrap().model_settings("a");
        assert_eq!(plain.format, TableFormat::Parquet);
        assert_eq!(plain.vacuum_retention, DEFAULT_VACUUM_RETENTION);

        let err = parse("models:\n  v:\n    materialization: view\n    format: delta\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pipelines.yaml:4") && err.contains("`format` does not apply"),
            "{err}"
        );
        let err = parse("models:\n  a:\n    vacuum_retention: 1h\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not `format: delta`"), "{err}");
        let err = parse("models:\n  a:\n    format: delta\n    vacuum_retention: soon\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pipelines.yaml:4") && err.contains("`soon`"),
            "{err}"
        );
        let err = parse("models:\n  a:\n    format: iceberg\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("iceberg") && err.contains("delta"), "{err}");
    }

    #[test]
    fn engines_are_checked_where_they_are_written() {
        let parse =
            |yaml: &str| Config::parse(Path::new("."), "pipelines.yaml".into(), yaml.to_string());
        assert_eq!(
            parse("models: {}\n").unwrap().execution.engine,
            Engine::Local
        );
        assert_eq!(
            parse("execution:\n  engine: local\n")
                .unwrap()
                .execution
                .engine,
            Engine::Local
        );
        let on =
            parse("execution:\n  engine:\n    ballista:\n      scheduler: df://sched\n").unwrap();
        assert_eq!(
            on.execution.engine,
            Engine::Ballista {
                scheduler: "df://sched:50050".into()
            }
        );
        let err = parse("execution:\n  threads: 2\n  engine: spark\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pipelines.yaml:3") && err.contains("`spark`"),
            "{err}"
        );
        let err = parse("execution:\n  engine:\n    ballista:\n      scheduler: http://x:1\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pipelines.yaml:2") && err.contains("df://"),
            "{err}"
        );

        assert_eq!(parse_scheduler("df://h:7").unwrap(), "df://h:7");
        assert_eq!(parse_scheduler("h:7").unwrap(), "df://h:7");
        assert_eq!(parse_scheduler("10.0.0.5").unwrap(), "df://10.0.0.5:50050");
        assert!(
            parse_scheduler("df://h:7/jobs")
                .unwrap_err()
                .contains("no path")
        );
        assert!(parse_scheduler("df://:7").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("30"), None);
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("-1s"), None);
    }

    #[test]
    fn retry_settings_are_checked_where_they_are_written() {
        let parse =
            |yaml: &str| Config::parse(Path::new("."), "pipelines.yaml".into(), yaml.to_string());
        let ok = parse("storage:\n  warehouse:\n    url: s3://b/wh\n    timeout: 2s\n    retry:\n      max_retries: 3\n      init_backoff: 10ms\n      max_backoff: 1s\n      backoff_base: 3\n").unwrap();
        let http = &ok.storage["warehouse"].http;
        let retry = http.retry.as_ref().unwrap();
        assert_eq!(retry.max_retries, 3);
        assert_eq!(retry.backoff.init_backoff, Duration::from_millis(10));
        assert_eq!(
            retry.retry_timeout,
            object_store::RetryConfig::default().retry_timeout
        );
        assert_eq!(http.timeout, Some(Duration::from_secs(2)));

        let err =
            parse("storage:\n  warehouse:\n    url: s3://b/wh\n    retry:\n      max_retry: 3\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("pipelines.yaml:5")
                && err.contains("unknown field `max_retry`")
                && err.contains("max_retries"),
            "{err}"
        );
        let err = parse(
            "storage:\n  warehouse:\n    url: s3://b/wh\n    retry:\n      init_backoff: soon\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("pipelines.yaml:5")
                && err.contains("retry.init_backoff")
                && err.contains("`soon`"),
            "{err}"
        );
        let err = parse("storage:\n  warehouse:\n    url: s3://b/wh\n    retry: {init_backoff: 2s, max_backoff: 1s}\n").unwrap_err().to_string();
        assert!(err.contains("shorter than init_backoff"), "{err}");
        let err = parse("storage:\n  warehouse:\n    url: ./wh\n    timeout: 2s\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pipelines.yaml:4") && err.contains("HTTP back-ends"),
            "{err}"
        );
        let err = parse("execution:\n  lease_ttl: 100ms\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pipelines.yaml:2") && err.contains("too short"),
            "{err}"
        );
    }

    #[test]
    fn datafusion_options_are_checked_where_they_are_written() {
        let parse =
            |yaml: &str| Config::parse(Path::new("."), "pipelines.yaml".into(), yaml.to_string());
        let ok = parse("execution:\n  datafusion:\n    datafusion.execution.batch_size: 16384\n    datafusion.optimizer.prefer_hash_join: false\n").unwrap();
        assert_eq!(
            ok.execution.datafusion,
            vec![
                (
                    "datafusion.execution.batch_size".to_string(),
                    "16384".to_string()
                ),
                (
                    "datafusion.optimizer.prefer_hash_join".to_string(),
                    "false".to_string()
                ),
            ]
        );
        let err = parse(
            "execution:\n  threads: 2\n  datafusion:\n    datafusion.execution.batch_sise: 10\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("pipelines.yaml:4") && err.contains("batch_sise"),
            "{err}"
        );
        let err = parse("execution:\n  datafusion:\n    datafusion.execution.batch_size: many\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pipelines.yaml:3") && err.contains("many"),
            "{err}"
        );
        let err = parse("execution:\n  datafusion:\n    datafusion.execution.batch_size: [1]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("string, number or boolean"), "{err}");
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("4GiB"), Some(4 * 1024 * 1024 * 1024));
        assert_eq!(parse_bytes("512 MiB"), Some(512 * 1024 * 1024));
        assert_eq!(parse_bytes("1000"), Some(1000));
        assert_eq!(parse_bytes("lots"), None);
    }

    #[test]
    fn var_literals_are_typed() {
        assert_eq!(VarValue::Str("it's".into()).to_sql(), "'it''s'");
        assert_eq!(VarValue::Float(7.0).to_sql(), "7.0");
        assert_eq!(VarValue::Int(30).to_sql(), "30");
        let d = VarValue::Date(NaiveDate::from_ymd_opt(2026, 1, 2).unwrap());
        assert_eq!(d.to_sql(), "DATE '2026-01-02'");
        assert!(VarValue::Int(1).parse_as("1; DROP TABLE x").is_err());
        assert_eq!(
            VarValue::Bool(false).parse_as("true"),
            Ok(VarValue::Bool(true))
        );
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let text =
            "storage:\n  raw: ./raw\nmodels:\n  a:\n    materialisation: table\n".to_string();
        let err = Config::parse(Path::new("."), "pipelines.yaml".into(), text).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("pipelines.yaml:5"), "{msg}");
        assert!(msg.contains("materialisation"), "{msg}");
        assert_eq!(err.exit_code(), crate::error::exit::CONFIG);
    }

    #[test]
    fn credentials_in_yaml_are_refused() {
        let text =
            "storage:\n  raw:\n    url: s3://b/raw\n    options:\n      aws_secret_access_key: x\n"
                .to_string();
        let err = Config::parse(Path::new("."), "pipelines.yaml".into(), text).unwrap_err();
        assert!(err.to_string().contains("credential"), "{err}");
    }
}
