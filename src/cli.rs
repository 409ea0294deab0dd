//! Command-line interface: argument definitions (clap) and one function per command. Each
//! command returns the exit code it wants; errors carry theirs ([`crate::Error::exit_code`]).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::{Error, Result, exit};
use crate::progress::LogFormat;
use crate::project::{Project, ProjectOptions};
use crate::runner::{self, Mode};

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
    /// Run the data tests of the selected models against their published tables.
    Test(SelectCmd),
    /// Print each selected model's resolved SQL and output schema, without running it.
    Compile(SelectCmd),
    /// Check configuration, SQL, references and schemas against the sources; write nothing.
    Validate(SelectCmd),
    /// Print the first rows of a model, computed from its SQL over the published upstream tables.
    Show(ShowArgs),
    /// List models with their materialization and dependencies.
    List(ListArgs),
    /// Print the model graph as Mermaid or DOT.
    Lineage(LineageArgs),
    /// Write realistic raw exports (and their ground truth) to a folder or bucket.
    Generate(GenerateArgs),
    /// Score curated outputs against the generator's ground truth.
    Eval(EvalArgs),
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
    /// A YAML or JSON file of behaviour parameters (names as in `--param`).
    #[arg(long, value_name = "FILE")]
    pub params: Option<PathBuf>,
    /// Override one behaviour parameter, e.g. bot_share=0.01 or lift=[0.03,0.003,0.016,0.022,0.007,0.011]. Repeatable.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = key_value)]
    pub param: Vec<(String, String)>,
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
    /// The run's logical date ({{ run_date }}), YYYY-MM-DD. Default: today (UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<NaiveDate>,
    /// Bound DataFusion's memory pool (e.g. 4GiB); overrides execution.memory_limit.
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// Where spilling operators write beyond the memory limit; overrides execution.temp_dir.
    #[arg(long, value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,
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
pub struct RunArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub select: SelectArgs,
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

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LineageFormat {
    Mermaid,
    Dot,
}

#[derive(Debug, Args)]
pub struct LineageArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[arg(long, value_enum, default_value_t = LineageFormat::Mermaid)]
    pub format: LineageFormat,
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
    Ok(project)
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
        Command::Run(a) => run(&dir, &a).await,
        Command::Test(a) => {
            let project = open(&dir, &a.project)?;
            let selected = selection(&project, &a.select)?;
            let report = runner::test(&project, &selected).await?;
            print!("{}", crate::render::run_summary(&report));
            Ok(report.exit_code())
        }
        Command::Compile(a) => {
            let project = open(&dir, &a.project)?;
            let selected = selection(&project, &a.select)?;
            let prepared = runner::prepare(&project, &selected, Mode::Plan).await?;
            for name in project.graph.order.iter().filter(|n| selected.contains(*n)) {
                let m = &project.graph.models[name];
                println!(
                    "-- {name} ({}, {})",
                    m.path,
                    m.settings.materialization.as_str()
                );
                println!("{}", m.sql.trim_end());
                if let Some(schema) = prepared.schemas.get(name) {
                    println!("-- output schema:");
                    for f in schema.fields() {
                        println!(
                            "--   {} {}{}",
                            f.name(),
                            crate::config::datatype::display(f.data_type()),
                            if f.is_nullable() { "" } else { " not null" }
                        );
                    }
                }
                println!();
            }
            crate::artifacts::write_manifest(&project, &prepared)?;
            Ok(exit::SUCCESS)
        }
        Command::Validate(a) => {
            let project = open(&dir, &a.project)?;
            let selected = selection(&project, &a.select)?;
            let prepared = runner::prepare(&project, &selected, Mode::Plan).await?;
            println!(
                "ok: {} models, {} sources, {} singular tests checked in {}",
                selected.len(),
                prepared.sources.len(),
                runner::singular_tests_for(&project, &selected).len(),
                project.config.file.display()
            );
            Ok(exit::SUCCESS)
        }
        Command::List(a) => {
            let project = open(&dir, &ProjectArgs::default())?;
            let selected = selection(&project, &a.select)?;
            match a.output {
                OutputFormat::Text => {
                    print!("{}", crate::render::list_text(&project.graph, &selected))
                }
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&crate::render::list_json(
                        &project.graph,
                        &selected
                    ))
                    .map_err(|e| Error::Internal(e.to_string()))?
                ),
            }
            Ok(exit::SUCCESS)
        }
        Command::Show(a) => {
            let project = open(&dir, &a.project)?;
            let selected = project.graph.select(std::slice::from_ref(&a.model), &[])?;
            let prepared = runner::prepare(&project, &selected, Mode::Run).await?;
            // show computes the model (and its selected ancestors) without writing anything
            let chain: Vec<String> = project
                .graph
                .order
                .iter()
                .filter(|n| selected.contains(*n))
                .cloned()
                .collect();
            runner::register_views(&prepared.ctx, &project, &chain).await?;
            let df = prepared
                .ctx
                .table(a.model.as_str())
                .await?
                .limit(0, Some(a.limit))?;
            let batches = df
                .collect()
                .await
                .map_err(|e| Error::Internal(format!("{}: {e}", a.model)))?;
            let table = arrow::util::pretty::pretty_format_batches(&batches)
                .map_err(|e| Error::Internal(e.to_string()))?;
            println!("{table}");
            Ok(exit::SUCCESS)
        }
        Command::Generate(a) => generate(a).await,
        Command::Eval(a) => eval(a).await,
        Command::Lineage(a) => {
            let project = open(&dir, &ProjectArgs::default())?;
            let selected = selection(&project, &a.select)?;
            match a.format {
                LineageFormat::Mermaid => {
                    print!("{}", crate::render::mermaid(&project.graph, &selected))
                }
                LineageFormat::Dot => print!("{}", crate::render::dot(&project.graph, &selected)),
            }
            Ok(exit::SUCCESS)
        }
    }
}

/// `parcours run`: one night (`--date`), or every night of `--start ..= --end` in order.
async fn run(dir: &std::path::Path, a: &RunArgs) -> Result<u8> {
    let nights: Vec<Option<NaiveDate>> = match (a.start, a.end) {
        (Some(start), Some(end)) => {
            if start > end {
                return Err(Error::Usage(format!(
                    "--start {start} is after --end {end}; a backfill runs the nights from --start to --end"
                )));
            }
            start
                .iter_days()
                .take_while(|d| *d <= end)
                .map(Some)
                .collect()
        }
        // clap requires both together; this keeps a library caller honest too
        (Some(_), None) | (None, Some(_)) => {
            return Err(Error::Usage("--start and --end go together".into()));
        }
        (None, None) => vec![a.project.date],
    };
    let backfill = a.start.is_some();
    let count = nights.len();
    for (i, night) in nights.into_iter().enumerate() {
        let started = std::time::Instant::now();
        let mut args = a.project.clone();
        args.date = night;
        let mut project = open(dir, &args)?;
        if let Some(wait) = a.wait_for_lease {
            project.config.execution.wait_for_lease = Some(wait);
        }
        // A backfill rebuilds once, then its later nights build on that as nightly runs do.
        project.full_refresh = a.full_refresh && i == 0;
        let selected = selection(&project, &a.select)?;
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let threads = a
            .threads
            .or(project.config.execution.threads)
            .unwrap_or(cores)
            .max(1);
        let run_date = project.run_date;
        tracing::info!(event = "run_start", run_id = %project.run_id, run_date = %run_date, full_refresh = project.full_refresh, models = selected.len(), "run");
        let outcome = runner::run(Arc::new(project), selected, threads).await;
        let code = match &outcome {
            Ok(report) => report.exit_code(),
            Err(e) => e.exit_code(),
        };
        if backfill {
            tracing::info!(
                event = "night_end", run_date = %run_date, night = i + 1, nights = count,
                exit_code = code, seconds = started.elapsed().as_secs_f64(), "night done"
            );
        }
        // Through the logger, so that --log-format json keeps one object per line.
        let stopped = || {
            if backfill {
                tracing::error!(
                    event = "backfill_stopped", run_date = %run_date, exit_code = code,
                    "backfill stopped at {run_date} (night {} of {count}); fix it and resume with --start {run_date}",
                    i + 1
                );
            }
        };
        let report = outcome.inspect_err(|_| stopped())?;
        let summary = crate::render::run_summary(&report);
        if !backfill || code != exit::SUCCESS {
            print!("{summary}");
        } else {
            // One line per night; run_results.json holds the last night's details.
            println!("{run_date}  {}", summary.lines().last().unwrap_or_default());
        }
        if code != exit::SUCCESS {
            stopped();
            return Ok(code);
        }
    }
    Ok(exit::SUCCESS)
}

/// A storage URL or path given on the command line, relative to the current folder.
fn location(name: &str, url: &str) -> Result<crate::storage::StorageRoot> {
    let cwd =
        std::env::current_dir().map_err(|e| Error::Usage(format!("no current folder: {e}")))?;
    let spec = crate::config::StorageSpec {
        url: url.to_string(),
        ..Default::default()
    };
    crate::storage::StorageRoot::resolve(name, &spec, &cwd)
}

fn generator_params(a: &GenerateArgs) -> Result<crate::generator::GeneratorParams> {
    let mut value = match &a.params {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Error::Usage(format!("--params {}: {e}", file.display())))?;
            let v: serde_json::Value = serde_norway::from_str(&text)
                .map_err(|e| Error::config(file, e.location().map(|l| l.line()), e.to_string()))?;
            v
        }
        None => serde_json::to_value(crate::generator::GeneratorParams::default())
            .map_err(|e| Error::Internal(e.to_string()))?,
    };
    let defaults = serde_json::to_value(crate::generator::GeneratorParams::default())
        .map_err(|e| Error::Internal(e.to_string()))?;
    for (k, v) in &a.param {
        if defaults.get(k).is_none() {
            let known: Vec<&String> = defaults
                .as_object()
                .map(|o| o.keys().collect())
                .unwrap_or_default();
            return Err(Error::Usage(format!(
                "--param {k}: unknown parameter{}",
                crate::graph::suggest(k, known.into_iter())
            )));
        }
        let parsed: serde_json::Value = serde_json::from_str(v).map_err(|_| {
            Error::Usage(format!(
                "--param {k}={v}: the value must be a number, a boolean or a [list]"
            ))
        })?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert(k.clone(), parsed);
        }
    }
    serde_json::from_value(value).map_err(|e| Error::Usage(format!("generator parameters: {e}")))
}

async fn generate(a: GenerateArgs) -> Result<u8> {
    let root = location("out", &a.out)?;
    let end_date = a
        .end_date
        .unwrap_or_else(|| chrono::Utc::now().date_naive() - chrono::Days::new(1));
    let mut opts = crate::generator::GenerateOptions::new(a.scale, a.seed, a.days, end_date);
    opts.params = generator_params(&a)?;
    let started = std::time::Instant::now();
    tracing::info!(event = "generate_start", out = %root.url, scale = a.scale, seed = a.seed, days = a.days, end_date = %end_date, "generating");
    let report = crate::generator::generate(&opts, root.store.clone(), &root.prefix)
        .await
        .map_err(|e| match e {
            crate::generator::GenerateError::InvalidOptions(m) => Error::Usage(m),
            other => Error::storage("out", other),
        })?;
    let elapsed = started.elapsed().as_secs_f64();
    tracing::info!(
        event = "generate_end",
        rows = report.total_rows(),
        bytes = report.total_bytes(),
        seconds = elapsed,
        rows_per_s = (report.total_rows() as f64 / elapsed.max(1e-9)) as u64,
        "generated"
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&report.to_json())
            .map_err(|e| Error::Internal(e.to_string()))?
    );
    Ok(exit::SUCCESS)
}

async fn eval(a: EvalArgs) -> Result<u8> {
    let truth = location("truth", &a.truth)?;
    let wh = location("warehouse", &a.warehouse)?;
    let pair = |r: &crate::storage::StorageRoot| (r.store.clone(), r.prefix.clone());
    let fail = |e: crate::eval::EvalError| Error::source_data("eval", e.to_string());
    let (json, text) = match a.kind {
        EvalKind::Identity => {
            let s = crate::eval::eval_identity(pair(&truth), pair(&wh))
                .await
                .map_err(fail)?;
            let text = format!(
                "identity: {} records ({} missing from the bridge; {} erased persons left out), {} true pairs, {} predicted pairs\nprecision {:.4}  recall {:.4}  F1 {:.4}\nlargest predicted cluster {} (largest true {})\n",
                s.records,
                s.missing_records,
                s.erased_persons,
                s.true_pairs,
                s.predicted_pairs,
                s.precision,
                s.recall,
                s.f1,
                s.largest_predicted_cluster,
                s.largest_true_cluster
            );
            (s.to_json(), text)
        }
        EvalKind::Attribution => {
            let s = crate::eval::eval_attribution(pair(&truth), pair(&wh))
                .await
                .map_err(fail)?;
            let mut text = String::from("model               spearman vs planted lift\n");
            for m in &s.per_model {
                text.push_str(&format!("{:<20}{:>8.3}\n", m.model, m.spearman));
            }
            (s.to_json(), text)
        }
    };
    match a.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json).map_err(|e| Error::Internal(e.to_string()))?
        ),
        OutputFormat::Text => print!("{text}"),
    }
    Ok(exit::SUCCESS)
}
