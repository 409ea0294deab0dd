//! Command-line interface: argument definitions (clap) and one function per command. Each
//! command returns the exit code it wants; errors carry theirs ([`crate::Error::exit_code`]).
//! The commands' bodies live in one file per family: [`run`] (nights and backfills), [`inspect`]
//! (compile, validate, list, show, lineage, functions), [`unit`] (test: data and unit tests) and
//! [`generate`] (generate, eval).

#[cfg(feature = "cluster")]
mod cluster;
mod generate;
mod inspect;
mod run;
mod unit;

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::{Error, Result};
use crate::progress::LogFormat;
use crate::project::{Project, ProjectOptions};

#[derive(Debug, Parser)]
#[command(
    name = "parcours",
    version,
    about = "SQL models over Parquet in object storage, run by Apache DataFusion."
)]
pub struct Cli {
    /// The project folder (holds pipelines.yaml and sql/).
    #[arg(long, global = true, default_value = ".", env = "PARCOURS_PROJECT_DIR")]
    pub project_dir: PathBuf,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less log output (-q warnings only, -qq errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    pub fn verbosity(&self) -> i8 {
        (self.verbose.min(10) as i8) - (self.quiet.min(10) as i8)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the selected models: build, test, publish.
    Run(RunArgs),
    /// Run the data tests of the selected models against their published tables, or (--unit)
    /// their unit tests, in memory.
    Test(TestArgs),
    /// Print each selected model's resolved SQL and output schema, without running it.
    Compile(SelectCmd),
    /// Check configuration, SQL, references and schemas against the sources; write nothing.
    Validate(SelectCmd),
    /// Print the first rows of a model, computed from its SQL over the published upstream tables.
    Show(ShowArgs),
    /// List models with their materialization and dependencies.
    List(ListArgs),
    /// Print the model graph, a column's lineage (--column) or the PII audit (--pii).
    Lineage(LineageArgs),
    /// Write realistic raw exports (and their ground truth) to a folder or bucket.
    Generate(GenerateArgs),
    /// Score curated outputs against the generator's ground truth.
    Eval(EvalArgs),
    /// Document the SQL functions parcours adds (all, or one by name).
    Functions(FunctionsArgs),
    /// Write the project's static HTML site (graph, model pages, last run, charts) to
    /// target/site/index.html.
    Docs(DocsArgs),
    /// Start a Ballista scheduler with every parcours function (for `--cluster`).
    #[cfg(feature = "cluster")]
    Scheduler(cluster::SchedulerArgs),
    /// Start a Ballista executor with every parcours function, attached to a scheduler.
    #[cfg(feature = "cluster")]
    Executor(cluster::ExecutorArgs),
}

#[derive(Debug, Args)]
pub struct DocsArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FunctionsFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct FunctionsArgs {
    /// One function's name; default: every function.
    pub name: Option<String>,
    #[arg(long, value_enum, default_value_t = FunctionsFormat::Text)]
    pub format: FunctionsFormat,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Where to write: a folder or a storage URL (s3://bucket/raw, …).
    #[arg(long, value_name = "URL")]
    pub out: String,
    /// 1.0 = 100,000 persons; any positive number (0.01 for tests, 10 or 100 for benchmarks).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Length of the window in days.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// Last export day of the window. Default: yesterday (UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub end_date: Option<NaiveDate>,
    /// The world to generate: `default` (the realistic mix of the benchmarks), or
    /// `contract-edges` (that world dirtier, plus every value and export shape the raw-exports
    /// contract allows; see README, "Generating test data"), `no-contact-keys` (contacts
    /// without e-mail or phone) or `name-emails` (e-mail local parts made of the names).
    #[arg(long, value_enum, default_value_t = GenerateProfile::Default)]
    pub profile: GenerateProfile,
    /// A YAML or JSON file of behaviour parameters (names as in `--param`), applied over the
    /// profile's.
    #[arg(long, value_name = "FILE")]
    pub params: Option<PathBuf>,
    /// Override one behaviour parameter, e.g. bot_share=0.01 or lift=[0.03,0.003,0.016,0.022,0.007,0.011]. Repeatable.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = key_value)]
    pub param: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenerateProfile {
    Default,
    ContractEdges,
    NoContactKeys,
    NameEmails,
}

impl GenerateProfile {
    pub fn profile(self) -> crate::generator::Profile {
        match self {
            GenerateProfile::Default => crate::generator::Profile::Default,
            GenerateProfile::ContractEdges => crate::generator::Profile::ContractEdges,
            GenerateProfile::NoContactKeys => crate::generator::Profile::NoContactKeys,
            GenerateProfile::NameEmails => crate::generator::Profile::NameEmails,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EvalKind {
    /// Pairwise precision, recall and F1 of `bridge_identity` against the true persons.
    Identity,
    /// Spearman correlation of each model's channel credit with the planted lifts.
    Attribution,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    pub kind: EvalKind,
    /// The generator's output root (the folder holding `_truth/`).
    #[arg(long, value_name = "URL")]
    pub truth: String,
    /// The curated warehouse root.
    #[arg(long, value_name = "URL")]
    pub warehouse: String,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ProjectArgs {
    /// Override a storage root: NAME=URL (e.g. warehouse=s3://bucket/wh). Repeatable.
    #[arg(long = "storage", value_name = "NAME=URL", value_parser = key_value)]
    pub storage: Vec<(String, String)>,
    /// Override a declared var: KEY=VALUE, parsed as the var's type. Repeatable.
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = key_value)]
    pub vars: Vec<(String, String)>,
    /// The run's logical date ({{ run_date }}), YYYY-MM-DD. Default: today (UTC); for `show`
    /// and `test`, the run date of the last published run.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<NaiveDate>,
    /// Bound DataFusion's memory pool (e.g. 4GiB); overrides execution.memory_limit.
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// Where spilling operators write beyond the memory limit; overrides execution.temp_dir.
    #[arg(long, value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,
    /// Run the queries on the Ballista cluster whose scheduler is at this address
    /// (df://host:50050); overrides execution.engine.
    #[arg(long, value_name = "df://HOST:PORT", env = "PARCOURS_CLUSTER")]
    pub cluster: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct SelectArgs {
    /// Models to include: name, name+, +name, tag:x, path:sql/identity. Repeatable.
    #[arg(short, long, value_name = "SELECTOR")]
    pub select: Vec<String>,
    /// Models to leave out (same syntax). Repeatable.
    #[arg(long, value_name = "SELECTOR")]
    pub exclude: Vec<String>,
    /// A named pipeline from pipelines.yaml (its select and exclude lists).
    #[arg(long, value_name = "NAME")]
    pub pipeline: Option<String>,
}

#[derive(Debug, Args)]
pub struct SelectCmd {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub select: SelectArgs,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Run the selected models' unit tests (in memory, on their fixture rows; no storage is
    /// read) instead of the data tests.
    #[arg(long)]
    pub unit: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Do not run the selected models' unit tests first.
    #[arg(long)]
    pub skip_unit: bool,
    /// Models run at once (default: execution.threads, else the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// When another run holds the warehouse, wait this long for it (e.g. 10m) instead of
    /// exiting with code 5; overrides execution.wait_for_lease.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub wait_for_lease: Option<std::time::Duration>,
    /// Backfill: run every night from this date to --end, in order, each a complete run with
    /// its own run date; stops at the first night that fails.
    #[arg(
        long,
        value_name = "YYYY-MM-DD",
        requires = "end",
        conflicts_with = "date"
    )]
    pub start: Option<NaiveDate>,
    /// The last night of a backfill (with --start).
    #[arg(
        long,
        value_name = "YYYY-MM-DD",
        requires = "start",
        conflicts_with = "date"
    )]
    pub end: Option<NaiveDate>,
    /// Rebuild the partitioned models that read {{ window_start }} from all history, replacing
    /// every partition, instead of only their late-arrival window (with --start: the first night).
    #[arg(long)]
    pub full_refresh: bool,
    /// Write the HTML site (`parcours docs`) once the models have run, whether they succeeded
    /// or failed; `docs.after_run: true` in pipelines.yaml does it for every run.
    #[arg(long)]
    pub docs: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The model to show.
    pub model: String,
    /// Rows to print.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[command(flatten)]
    pub project: ProjectArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LineageFormat {
    Text,
    Mermaid,
    Dot,
}

#[derive(Debug, Args)]
pub struct LineageArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Default: mermaid for the model graph, text for --column and --pii.
    #[arg(long, value_enum)]
    pub format: Option<LineageFormat>,
    /// One column's lineage: what it is derived from (upstream) and what reads it (downstream).
    #[arg(long, value_name = "MODEL.COLUMN", conflicts_with = "pii")]
    pub column: Option<String>,
    /// The PII audit: every published column derived from a source column declared `pii:`,
    /// with what protects it; exit code 2 when one is unprotected.
    #[arg(long)]
    pub pii: bool,
    /// `--storage NAME=URL`, for sources without a declared schema (their files are read).
    #[command(flatten)]
    pub project: ProjectArgs,
}

fn duration(s: &str) -> std::result::Result<std::time::Duration, String> {
    crate::config::parse_duration(s)
        .ok_or_else(|| format!("`{s}` is not a duration; write e.g. 30s, 10m or 1h"))
}

fn key_value(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, found `{s}`")),
    }
}

fn open(dir: &std::path::Path, p: &ProjectArgs) -> Result<Project> {
    let mut project = Project::open(&ProjectOptions {
        project_dir: dir.to_path_buf(),
        storage: p.storage.clone(),
        vars: p.vars.clone(),
        run_date: p.date,
    })?;
    let exec = &mut project.config.execution;
    if let Some(limit) = &p.memory_limit {
        exec.memory_limit = Some(crate::config::parse_bytes(limit).ok_or_else(|| {
            Error::Usage(format!(
                "--memory-limit `{limit}` is not a size; write e.g. 4GiB or 512MiB"
            ))
        })?);
    }
    if let Some(dir) = &p.temp_dir {
        exec.temp_dir = Some(dir.clone());
    }
    if let Some(address) = &p.cluster {
        exec.engine = crate::config::Engine::Ballista {
            scheduler: crate::config::parse_scheduler(address)
                .map_err(|m| Error::Usage(format!("--cluster {m}")))?,
        };
    }
    Ok(project)
}

/// Opens the project for `show` and `test`, which read published tables: without `--date`,
/// at the run date of the last run that published any of the project's tables (its commit
/// records say), so a reporting-window model shows what that night computed rather than
/// today's empty window; today (UTC) when no table records one. Says which date it used.
async fn open_at_last_run(dir: &std::path::Path, p: &ProjectArgs) -> Result<Project> {
    let project = open(dir, p)?;
    if p.date.is_some() {
        return Ok(project);
    }
    let storage = crate::storage::Storage::resolve(&project.config, &project.storage_overrides)?;
    let wh = storage.warehouse()?;
    let tables = project
        .graph
        .models
        .iter()
        .filter(|(_, m)| m.settings.is_published())
        .map(|(n, _)| n.as_str());
    match crate::publish::last_run(wh, tables).await? {
        Some((date, run_id, committed_at)) => {
            tracing::info!(event = "default_date", run_date = %date, run_id = %run_id, committed_at = %committed_at, "no --date: using {date}, the run date of the last published run {run_id}");
            let mut dated = p.clone();
            dated.date = Some(date);
            open(dir, &dated)
        }
        None => {
            tracing::info!(event = "default_date", run_date = %project.run_date, "no --date and no published run records its date: using today, {}", project.run_date);
            Ok(project)
        }
    }
}

fn selection(project: &Project, s: &SelectArgs) -> Result<BTreeSet<String>> {
    let (mut select, mut exclude) = (s.select.clone(), s.exclude.clone());
    if let Some(name) = &s.pipeline {
        let p = project.config.pipelines.get(name).ok_or_else(|| {
            Error::Usage(format!(
                "no pipeline `{name}` in {} (declared: {})",
                project.config.file.display(),
                project
                    .config
                    .pipelines
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        select.extend(p.select.iter().cloned());
        exclude.extend(p.exclude.iter().cloned());
    }
    project.graph.select(&select, &exclude)
}

/// Runs a parsed command line; returns the process exit code.
pub async fn execute(cli: Cli) -> Result<u8> {
    let dir = cli.project_dir.clone();
    match cli.command {
        Command::Run(a) => run::run(&dir, &a).await,
        Command::Test(a) => unit::test(&dir, &a).await,
        Command::Compile(a) => inspect::compile(&dir, &a).await,
        Command::Validate(a) => inspect::validate(&dir, &a).await,
        Command::List(a) => inspect::list(&dir, &a),
        Command::Show(a) => inspect::show(&dir, &a).await,
        Command::Lineage(a) => inspect::lineage(&dir, &a).await,
        Command::Functions(a) => inspect::functions(&a),
        Command::Docs(a) => run::docs(&dir, &a).await,
        Command::Generate(a) => generate::generate(a).await,
        Command::Eval(a) => generate::eval(a).await,
        #[cfg(feature = "cluster")]
        Command::Scheduler(a) => cluster::scheduler(a).await,
        #[cfg(feature = "cluster")]
        Command::Executor(a) => cluster::executor(a).await,
    }
}
