//! Executes a project: prepares the catalog (sources checked, every selected model planned so a
//! bad column fails before anything is written), then runs the selected models in dependency
//! order, independent ones in parallel, testing each before it is published and skipping the
//! descendants of anything that failed. Each partitioned model publishes into the partitions it
//! owns tonight: its late-arrival window, the whole table, or what it returned (`rebuild`).

pub mod datatest;
pub mod lease;
pub mod offline;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::{DataType, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{DataFrame, SessionContext};
use serde::Serialize;
use tokio::task::JoinSet;

use crate::catalog::{self, SourceInfo};
use crate::config::{Joins, Materialization, TableFormat, TestKind};
use crate::error::{Error, Result};
use crate::graph::Model;
use crate::progress::Progress;
use crate::project::Project;
use crate::publish::{self, Replace};
use crate::storage::Storage;
use datatest::{TestOutcome, TestStatus};
use lease::{Lease, LeaseCheck, LeaseOptions};

/// What `prepare` does with models that are needed but not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `run`: unselected upstream tables are read from the warehouse.
    Run,
    /// `test`: every table is read from the warehouse.
    Test,
    /// `compile`/`validate`: everything is planned from the sources; nothing is read from the warehouse.
    Plan,
}

/// A session with every table a command needs registered.
pub struct Prepared {
    pub ctx: SessionContext,
    pub storage: Storage,
    /// Output schema of every planned model.
    pub schemas: BTreeMap<String, SchemaRef>,
    pub sources: BTreeMap<String, SourceInfo>,
    /// The logical plan of every model planned from its SQL (not read from the warehouse),
    /// against empty tables of its inputs: what column lineage is read from.
    pub plans: BTreeMap<String, datafusion::logical_expr::LogicalPlan>,
}

fn sql_options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Plans a model's SQL against the current catalog; errors name the model's file. Literal
/// arguments of parcours's functions (a Markov order) are checked here, against the logical
/// plan, so a bad one stops `validate` instead of failing the model mid-run.
pub async fn plan(ctx: &SessionContext, model: &Model) -> Result<DataFrame> {
    let df = ctx
        .sql_with_options(&model.sql, sql_options())
        .await
        .map_err(|e| {
            let message = format!("model `{}`: {}", model.name, clean_df_error(&e));
            match Error::query("", &e) {
                Error::Internal(_) => {
                    Error::Internal(format!("{} ({}): {message}", model.name, model.path))
                }
                // an argument refused by one of parcours's functions: point at its call
                _ => {
                    let line = crate::functions::docs::FUNCTIONS
                        .iter()
                        .find(|f| message.contains(&format!("{}:", f.name)))
                        .and_then(|f| line_of_call(&model.sql, f.name));
                    Error::config(&model.path, line, message)
                }
            }
        })?;
    if let Err((message, function)) = crate::functions::literals::check_plan(df.logical_plan()) {
        return Err(Error::config(
            &model.path,
            line_of_call(&model.sql, function),
            format!(
                "model `{}`: {message}; write the value itself (or a `{{{{ var(\"…\") }}}}` of the right range) in the call",
                model.name
            ),
        ));
    }
    Ok(df)
}

fn clean_df_error(e: &datafusion::error::DataFusionError) -> String {
    e.strip_backtrace()
        .trim_start_matches("Error during planning: ")
        .to_string()
}

/// The 1-based line of the first call of `function` in `sql` (case-insensitive).
fn line_of_call(sql: &str, function: &str) -> Option<usize> {
    let lower = sql.to_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find(function) {
        let at = from + pos;
        let before = lower[..at].chars().next_back();
        let after = lower[at + function.len()..].trim_start();
        if after.starts_with('(') && !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            return Some(lower[..at].matches('\n').count() + 1);
        }
        from = at + function.len();
    }
    None
}

/// A model's query failure while it ran (or while `show` computed it), classified: see
/// [`Error::query`]. A planning error met only now is still the model's SQL, at its file.
pub fn execution_error(e: &datafusion::error::DataFusionError, model: &Model) -> Error {
    let context = format!("model `{}` ({})", model.name, model.path);
    match Error::query(&context, e) {
        Error::Sql(_) => Error::config(
            &model.path,
            None,
            format!("model `{}`: {}", model.name, clean_df_error(e)),
        ),
        other => other,
    }
}

/// Registers `names` (in graph order) as views over whatever their upstream tables are now.
pub async fn register_views(
    ctx: &SessionContext,
    project: &Project,
    names: &[String],
) -> Result<()> {
    for name in names {
        let df = plan(ctx, &project.graph.models[name]).await?;
        ctx.deregister_table(name.as_str())?;
        ctx.register_table(name.as_str(), df.into_view())?;
    }
    Ok(())
}

/// Tables a set of models and tests needs, in graph order: the selection, its ancestors and the
/// targets of `relationships` tests.
fn needed_models(project: &Project, selected: &BTreeSet<String>) -> BTreeSet<String> {
    let g = &project.graph;
    let mut needed = selected.clone();
    for s in selected {
        needed.extend(g.ancestors(s));
        for t in &g.models[s].settings.tests {
            if let TestKind::Relationships { to, .. } = &t.kind
                && g.models.contains_key(to)
            {
                needed.insert(to.clone());
                needed.extend(g.ancestors(to));
            }
        }
    }
    for t in singular_tests_for(project, selected) {
        for m in &project.graph.tests[t].models {
            needed.insert(m.clone());
            needed.extend(g.ancestors(m));
        }
    }
    needed
}

/// Singular tests that belong to a selection: all of them when every model is selected,
/// otherwise those whose every model is selected (a test that also reads an unselected model
/// would check it against stale or missing data).
pub fn singular_tests_for(project: &Project, selected: &BTreeSet<String>) -> Vec<usize> {
    let all = selected.len() == project.graph.models.len();
    project
        .graph
        .tests
        .iter()
        .enumerate()
        .filter(|(_, t)| {
            all || (!t.models.is_empty() && t.models.iter().all(|m| selected.contains(m)))
        })
        .map(|(i, _)| i)
        .collect()
}

pub async fn prepare(
    project: &Project,
    selected: &BTreeSet<String>,
    mode: Mode,
) -> Result<Prepared> {
    let storage = Storage::resolve(&project.config, &project.storage_overrides)?;
    let ctx = crate::session::build(&storage, &project.config.execution)?;
    let g = &project.graph;
    let needed = needed_models(project, selected);

    // Validate relationships targets up front.
    for s in selected {
        for t in &g.models[s].settings.tests {
            if let TestKind::Relationships { to, .. } = &t.kind
                && !g.models.contains_key(to)
                && !project.config.sources.contains_key(to)
            {
                return Err(project.config.error(&["models", s], format!(
                    "model `{s}`: test `{}` points to `{to}`, which is neither a model nor a source",
                    t.name()
                )));
            }
        }
    }

    // Which models are read from the warehouse instead of being planned from their SQL.
    // Targets of `relationships` tests that nothing else needs are optional: when they were
    // never published, the test reports the missing table instead of the whole run failing.
    let mut optional: BTreeSet<String> = BTreeSet::new();
    if mode == Mode::Run {
        let mut strict = selected.clone();
        for s in selected {
            strict.extend(g.ancestors(s));
        }
        for t in singular_tests_for(project, selected) {
            for m in &g.tests[t].models {
                strict.insert(m.clone());
                strict.extend(g.ancestors(m));
            }
        }
        optional = needed.difference(&strict).cloned().collect();
    }
    let published: BTreeSet<&String> = needed
        .iter()
        .filter(|n| {
            !matches!(
                g.models[*n].settings.materialization,
                Materialization::View | Materialization::Ephemeral
            )
        })
        .filter(|n| match mode {
            Mode::Run => !selected.contains(*n),
            Mode::Test => true,
            Mode::Plan => false,
        })
        .collect();

    let mut source_names: BTreeSet<String> = BTreeSet::new();
    for n in &needed {
        if !published.contains(n) {
            source_names.extend(g.models[n].sources.iter().cloned());
        }
    }
    for i in singular_tests_for(project, selected) {
        source_names.extend(g.tests[i].sources.iter().cloned());
    }
    for s in selected {
        for t in &g.models[s].settings.tests {
            if let TestKind::Relationships { to, .. } = &t.kind
                && project.config.sources.contains_key(to)
            {
                source_names.insert(to.clone());
            }
        }
    }

    let mut sources = BTreeMap::new();
    let registrations = source_names.iter().map(|name| {
        let spec = &project.config.sources[name];
        let ctx = &ctx;
        let storage = &storage;
        async move {
            let root = storage.get(&spec.storage)?;
            catalog::register_source(ctx, spec, root, project.run_date).await
        }
    });
    for info in futures::future::try_join_all(registrations).await? {
        tracing::debug!(source = %info.name, files = info.files, rows = info.rows, "source registered");
        sources.insert(info.name.clone(), info);
    }

    let mut schemas = BTreeMap::new();
    let mut plans = BTreeMap::new();
    let mut planned: Vec<String> = Vec::new();
    for name in g.order.iter().filter(|n| needed.contains(*n)) {
        let model = &g.models[name];
        if published.contains(name) {
            let wh = storage.warehouse()?;
            let record = publish::read_published(wh, name).await?;
            if record.is_none() && optional.contains(name) {
                tracing::warn!(model = %name, "not published yet: tests that look rows up in it will report it missing");
                continue;
            }
            let record = record.ok_or_else(|| {
                let why = if mode == Mode::Test { "tests read published tables" } else { "it is not selected" };
                Error::Usage(format!(
                    "model `{name}` ({}) has never been published to {} and {why}; run it first, e.g. `parcours run --select +{name}`",
                    model.path, wh.url
                ))
            })?;
            catalog::register_published(&ctx, name, &wh.folder_url(name)?, &record).await?;
            let schema: SchemaRef =
                Arc::new(ctx.table(name.as_str()).await?.schema().as_arrow().clone());
            schemas.insert(name.clone(), schema);
        } else {
            let df = plan(&ctx, model).await?;
            #[cfg(feature = "cluster")]
            if let crate::config::Engine::Ballista { scheduler } = &project.config.execution.engine
            {
                crate::cluster::check_plan(df.logical_plan()).map_err(|why| {
                    Error::config(&model.path, None, format!(
                        "model `{name}` cannot run on the cluster at {scheduler}: {why}; table functions and in-memory tables do not travel, so rewrite it with scalar or aggregate functions, or run it with execution.engine: local"
                    ))
                })?;
            }
            if let Some(col) = &model.settings.partition_by
                && df.schema().field_with_unqualified_name(col).is_err()
            {
                return Err(Error::config(
                    &model.path,
                    None,
                    format!(
                        "model `{name}` is partitioned by `{col}`, but its query returns no column `{col}`"
                    ),
                ));
            }
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            if model.settings.format == TableFormat::Delta && model.settings.is_published() {
                publish::delta::check_schema(&schema, model.settings.partition_by.as_deref())
                    .map_err(|m| {
                        Error::config(
                            &model.path,
                            None,
                            format!("model `{name}` (format: delta): {m}"),
                        )
                    })?;
            }
            // Downstream models are checked against an empty table of this schema, not the
            // view itself: inlining every upstream plan into every downstream one makes
            // planning a deep graph quadratic.
            ctx.register_table(
                name.as_str(),
                Arc::new(MemTable::try_new(schema.clone(), vec![vec![]])?),
            )?;
            schemas.insert(name.clone(), schema);
            plans.insert(name.clone(), df.logical_plan().clone());
            planned.push(name.clone());
        }
    }
    // What will not be executed must read real data: in a run, the unselected views and
    // ephemeral tables upstream of the selection; for tests, everything planned.
    let unexecuted: Vec<String> = planned
        .into_iter()
        .filter(|n| match mode {
            Mode::Run => !selected.contains(n),
            Mode::Test => true,
            Mode::Plan => false,
        })
        .collect();
    register_views(&ctx, project, &unexecuted).await?;
    Ok(Prepared {
        ctx,
        storage,
        schemas,
        sources,
        plans,
    })
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ModelStatus {
    Success,
    /// Published, with `warn` tests failing.
    Warn,
    /// The query or the write failed.
    Error,
    /// An `error` test failed: not published.
    TestFailed,
    /// Not run because something upstream failed.
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelResult {
    pub model: String,
    pub path: String,
    pub materialization: Materialization,
    pub status: ModelStatus,
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
    pub files: Option<usize>,
    pub duration_s: f64,
    /// When the model started (RFC 3339, UTC), for the run page's timeline; absent for a
    /// model that did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    pub error: Option<String>,
    pub tests: Vec<TestOutcome>,
    /// A partitioned model's published partitions this run replaced: `all`, a window
    /// `YYYY-MM-DD..YYYY-MM-DD`, or `returned` (those its result has).
    pub partitions_rewritten: Option<String>,
    /// Where the model's queries ran: `local` or `ballista`.
    pub engine: &'static str,
    /// On a cluster: the stages of the job that wrote the model, and their tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stages: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks: Option<u32>,
}

impl ModelResult {
    fn new(m: &Model, status: ModelStatus) -> Self {
        ModelResult {
            model: m.name.clone(),
            path: m.path.clone(),
            materialization: m.settings.materialization,
            status,
            rows: None,
            bytes: None,
            files: None,
            duration_s: 0.0,
            started_at: None,
            error: None,
            tests: Vec::new(),
            partitions_rewritten: None,
            engine: "local",
            stages: None,
            tasks: None,
        }
    }

    pub fn ok(&self) -> bool {
        matches!(self.status, ModelStatus::Success | ModelStatus::Warn)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub command: String,
    pub run_date: String,
    /// The first day windowed models rewrote (`run_date - execution.late_arrival_days`).
    pub window_start: String,
    /// `run --full-refresh`: windowed models were rebuilt from all history.
    pub full_refresh: bool,
    pub started_at: String,
    pub elapsed_s: f64,
    /// Where the queries ran: `local` or `ballista` (with the scheduler's address).
    pub engine: String,
    pub success: bool,
    pub results: Vec<ModelResult>,
    pub singular_tests: Vec<TestOutcome>,
    pub swept_staging_objects: usize,
    /// The selected models' unit tests, run before anything else (`run` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unit_tests: Vec<crate::unit_test::UnitOutcome>,
}

impl RunReport {
    pub fn exit_code(&self) -> u8 {
        if self.success {
            crate::error::exit::SUCCESS
        } else {
            crate::error::exit::MODEL_FAILED
        }
    }
}

/// Runs the selected models. Errors returned here happened before any model ran, except a
/// lost warehouse lease ([`Error::Locked`]), which ends the run once its models are done.
pub async fn run(
    project: Arc<Project>,
    selected: BTreeSet<String>,
    threads: usize,
) -> Result<RunReport> {
    let started = Instant::now();
    // An unreachable cluster fails the night at once, before anything is read or leased.
    #[cfg(feature = "cluster")]
    if let crate::config::Engine::Ballista { scheduler } = &project.config.execution.engine {
        crate::cluster::ensure_reachable(scheduler)?;
        tracing::info!(event = "engine", engine = "ballista", scheduler = %scheduler, "queries run on the cluster at {scheduler}");
    }
    // Unit tests first: a model whose logic is wrong publishes nothing, and neither does
    // anything else, since the night's tables must agree with each other.
    let unit_tests = if project.skip_unit {
        Vec::new()
    } else {
        crate::unit_test::run(&project, &selected).await?.outcomes
    };
    if unit_tests
        .iter()
        .any(|o| o.status != crate::unit_test::UnitStatus::Pass)
    {
        let report = RunReport {
            run_id: project.run_id.clone(),
            command: "run".into(),
            run_date: project.run_date.to_string(),
            window_start: project.window_start.to_string(),
            full_refresh: project.full_refresh,
            started_at: project.started_at.to_rfc3339(),
            elapsed_s: started.elapsed().as_secs_f64(),
            engine: engine_label(&project.config.execution.engine),
            success: false,
            results: Vec::new(),
            singular_tests: Vec::new(),
            swept_staging_objects: 0,
            unit_tests,
        };
        crate::report::artifacts::write_run_results(&project, &report)?;
        return Ok(report);
    }
    let wanted = project.graph.with_ephemeral_upstream(&selected);
    let added: Vec<&String> = wanted.difference(&selected).collect();
    if !added.is_empty() {
        tracing::info!(
            event = "ephemeral_upstream",
            models = ?added,
            "also running the ephemeral models the selection reads"
        );
    }
    let selected = wanted;
    // The lease comes before `prepare`: that reads the published tables this run does not
    // rebuild, and a run still publishing could replace them under it.
    let storage = Storage::resolve(&project.config, &project.storage_overrides)?;
    let wh = storage.warehouse()?;
    publish::probe_writable(wh, &project.run_id).await?;
    let lease = Lease::acquire(
        wh,
        &project.run_id,
        LeaseOptions::from_execution(&project.config.execution),
    )
    .await?;
    let outcome = match run_leased(project.clone(), selected, threads, started, lease.check()).await
    {
        Ok(mut report) => {
            report.unit_tests = unit_tests;
            // Kept in the warehouse for the site's trends; losing it loses a trend point only.
            if let Err(e) = crate::site::history::record(wh, &report).await {
                tracing::warn!(error = %e, "run summary not kept in the warehouse: the site's trends will miss this run");
            }
            crate::report::artifacts::write_run_results(&project, &report).map(|_| report)
        }
        Err(e) => Err(e),
    };
    match lease.release().await {
        Some(lost) => Err(lost),
        None => outcome,
    }
}

/// [`run`] once the warehouse lease is held.
async fn run_leased(
    project: Arc<Project>,
    selected: BTreeSet<String>,
    threads: usize,
    started: Instant,
    lease: LeaseCheck,
) -> Result<RunReport> {
    let prepared = prepare(&project, &selected, Mode::Run).await?;
    crate::report::artifacts::write_manifest(&project, &prepared)?;
    let wh = prepared.storage.warehouse()?.clone();
    let swept = publish::sweep_staging(&wh, &project.run_id).await?;
    if swept > 0 {
        tracing::info!(
            objects = swept,
            "removed staging leftovers of an earlier run"
        );
    }

    let g = &project.graph;
    let order: Vec<String> = g
        .order
        .iter()
        .filter(|n| selected.contains(*n))
        .cloned()
        .collect();
    let progress = Progress::new(order.len() as u64);
    // What each model waits for: selected parents and selected `relationships` targets.
    let waits: BTreeMap<String, BTreeSet<String>> = order
        .iter()
        .map(|n| {
            let m = &g.models[n];
            let mut w: BTreeSet<String> = m
                .models
                .iter()
                .filter(|d| selected.contains(*d))
                .cloned()
                .collect();
            for t in &m.settings.tests {
                if let TestKind::Relationships { to, .. } = &t.kind
                    && selected.contains(to)
                    && to != n
                {
                    w.insert(to.clone());
                }
            }
            (n.clone(), w)
        })
        .collect();

    // A published Delta table is never turned back into plain Parquet: nothing runs.
    let selected_settings = order.iter().map(|n| (n.as_str(), &g.models[n].settings));
    if let Some(name) = publish::delta_now_parquet(&wh, selected_settings).await? {
        return Err(project
            .config
            .error(&["models", &name], publish::format_switch_error(&wh, &name)));
    }

    let mut rebuilds = BTreeMap::new();
    for name in &order {
        let m = &g.models[name];
        if m.settings.materialization == Materialization::Partitioned {
            rebuilds.insert(name.clone(), rebuild(&project, &wh, m).await?);
        }
    }

    let mut results: BTreeMap<String, ModelResult> = BTreeMap::new();
    let mut pending: Vec<String> = order.clone();
    let mut running: JoinSet<ModelResult> = JoinSet::new();
    loop {
        let mut changed = true;
        while changed {
            changed = false;
            let mut i = 0;
            while i < pending.len() {
                let name = pending[i].clone();
                let w = &waits[&name];
                if let Some(bad) = w.iter().find(|d| results.get(*d).is_some_and(|r| !r.ok())) {
                    let mut r = ModelResult::new(&g.models[&name], ModelStatus::Skipped);
                    r.error = Some(format!("skipped: upstream `{bad}` did not succeed"));
                    tracing::warn!(event = "model_skipped", model = %name, upstream = %bad, "skipped");
                    progress.done(&name, "skipped");
                    results.insert(name.clone(), r);
                    pending.remove(i);
                    changed = true;
                } else if w
                    .iter()
                    .all(|d| results.get(d).is_some_and(ModelResult::ok))
                    && running.len() < threads
                {
                    let mut model = g.models[&name].clone();
                    let replace = rebuilds.get(&name).copied().unwrap_or(Replace::Returned);
                    if replace == Replace::All
                        && let Some(full) = model.sql_full.take()
                    {
                        model.sql = full;
                    }
                    let ctx = prepared.ctx.clone();
                    let wh = wh.clone();
                    let run = RunStamp {
                        id: project.run_id.clone(),
                        date: project.run_date,
                        engine: project.config.execution.engine.name(),
                        scheduler: match &project.config.execution.engine {
                            crate::config::Engine::Ballista { scheduler } => {
                                Some(scheduler.clone())
                            }
                            crate::config::Engine::Local => None,
                        },
                    };
                    let lease = lease.clone();
                    progress.start(&name);
                    running.spawn(async move {
                        execute_model(&ctx, &wh, &model, &run, &lease, replace).await
                    });
                    pending.remove(i);
                    changed = true;
                } else {
                    i += 1;
                }
            }
        }
        match running.join_next().await {
            Some(Ok(r)) => {
                progress.done(&r.model, status_word(r.status));
                results.insert(r.model.clone(), r);
            }
            Some(Err(e)) => return Err(Error::Internal(format!("a model task panicked: {e}"))),
            None => break,
        }
    }
    for name in pending {
        let mut r = ModelResult::new(&g.models[&name], ModelStatus::Error);
        r.error = Some("waits on a model that waits on it (a `relationships` test loop)".into());
        results.insert(name, r);
    }
    progress.finish();
    // Ephemeral tables (and anything a failed model left) never outlive their run.
    publish::clear_run_staging(&wh, &project.run_id).await;

    // Singular tests run once every model they read has succeeded.
    let mut singular = Vec::new();
    for i in singular_tests_for(&project, &selected) {
        let t = &g.tests[i];
        if t.models
            .iter()
            .all(|m| !selected.contains(m) || results.get(m).is_some_and(ModelResult::ok))
        {
            let outcome = datatest::run_singular(&prepared.ctx, t).await;
            log_test(&outcome);
            singular.push(outcome);
        }
    }

    let results: Vec<ModelResult> = order.iter().filter_map(|n| results.remove(n)).collect();
    let success = results.iter().all(ModelResult::ok) && singular.iter().all(|t| !t.blocks());
    let report = RunReport {
        run_id: project.run_id.clone(),
        command: "run".into(),
        run_date: project.run_date.to_string(),
        window_start: project.window_start.to_string(),
        full_refresh: project.full_refresh,
        started_at: project.started_at.to_rfc3339(),
        elapsed_s: started.elapsed().as_secs_f64(),
        engine: engine_label(&project.config.execution.engine),
        success,
        results,
        singular_tests: singular,
        swept_staging_objects: swept,
        unit_tests: Vec::new(),
    };
    Ok(report)
}

/// The engine as run_results.json records it.
fn engine_label(engine: &crate::config::Engine) -> String {
    match engine {
        crate::config::Engine::Local => "local".into(),
        crate::config::Engine::Ballista { scheduler } => format!("ballista {scheduler}"),
    }
}

pub fn status_word(s: ModelStatus) -> &'static str {
    match s {
        ModelStatus::Success => "ok",
        ModelStatus::Warn => "warn",
        ModelStatus::Error => "error",
        ModelStatus::TestFailed => "test failed",
        ModelStatus::Skipped => "skipped",
    }
}

fn log_test(t: &TestOutcome) {
    match t.status {
        TestStatus::Pass => tracing::debug!(event = "test", test = %t.name, status = "pass"),
        TestStatus::Warn => {
            tracing::warn!(event = "test", test = %t.name, status = "warn", failures = t.failures, "test failed (warn)")
        }
        TestStatus::Fail => {
            tracing::error!(event = "test", test = %t.name, status = "fail", failures = t.failures, "test failed")
        }
        TestStatus::Error => {
            tracing::error!(event = "test", test = %t.name, status = "error", error = t.message.as_deref().unwrap_or(""), "test could not run")
        }
    }
}

/// Which published partitions a partitioned model replaces tonight (its SQL follows: a full
/// rebuild of a windowed model runs [`Model::sql_full`]).
///
/// - A full-history model is recomputed whole, so it replaces the whole table.
/// - A windowed model (one reading `{{ window_start }}`) owns `window_start ..= run_date`:
///   partitions there are rewritten, or removed when it no longer returns them. Its first
///   build, a build after its `partition_by` changed, and `--full-refresh` rebuild it from all
///   history and replace the whole table.
/// - Any other partitioned model replaces the partitions it returns and keeps the rest.
async fn rebuild(
    project: &Project,
    wh: &crate::storage::StorageRoot,
    model: &Model,
) -> Result<Replace> {
    if model.full_history() {
        return Ok(Replace::All);
    }
    if !model.is_windowed() {
        return Ok(Replace::Returned);
    }
    let full = project.full_refresh
        || publish::read_published(wh, &model.name)
            .await?
            .is_none_or(|c| c.partition_by != model.settings.partition_by);
    Ok(if full {
        Replace::All
    } else {
        Replace::Window {
            start: project.window_start,
            end: project.run_date,
        }
    })
}

fn describe(replace: Replace) -> String {
    match replace {
        Replace::All => "all".into(),
        Replace::Returned => "returned".into(),
        Replace::Window { start, end } => format!("{start}..{end}"),
    }
}

/// Which run a model is published by: its id and logical date, both recorded in the commit.
struct RunStamp {
    id: String,
    date: chrono::NaiveDate,
    engine: &'static str,
    /// The cluster's scheduler, asked how each model's job ran.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    scheduler: Option<String>,
}

async fn execute_model(
    ctx: &SessionContext,
    wh: &crate::storage::StorageRoot,
    model: &Model,
    run: &RunStamp,
    lease: &LeaseCheck,
    replace: Replace,
) -> ModelResult {
    let start = Instant::now();
    let partitioned = model.settings.materialization == Materialization::Partitioned;
    let rewrites = partitioned.then(|| describe(replace));
    tracing::info!(event = "model_start", model = %model.name, materialization = model.settings.materialization.as_str(), partitions = rewrites.as_deref(), engine = run.engine, "start");
    let mut result = ModelResult::new(model, ModelStatus::Success);
    result.engine = run.engine;
    result.started_at =
        Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    result.partitions_rewritten = rewrites.clone();
    let joins = model.settings.joins;
    let mut outcome = match joins {
        Joins::Hash => materialize(ctx, wh, model, run, lease, replace, &mut result).await,
        Joins::SortMerge => {
            let ctx = sort_merge(ctx);
            materialize(&ctx, wh, model, run, lease, replace, &mut result).await
        }
    };
    // A hash join's build side cannot spill: when one outgrows the memory pool, the model is
    // run again with sort-merge joins, which can (`joins: sort_merge` skips the first try).
    if joins == Joins::Hash && matches!(outcome, Err(Error::OutOfMemory(_))) {
        tracing::warn!(model = %model.name, "out of memory with hash joins; retrying with sort-merge joins, which spill (set `joins: sort_merge` on the model to skip the first try)");
        publish::discard_table(wh, &run.id, &model.name).await;
        settle_memory(ctx).await;
        result = ModelResult::new(model, ModelStatus::Success);
        result.engine = run.engine;
        result.partitions_rewritten = rewrites.clone();
        let ctx = sort_merge(ctx);
        outcome = materialize(&ctx, wh, model, run, lease, replace, &mut result).await;
    }
    if let Err(e) = outcome {
        result.status = ModelStatus::Error;
        result.error = Some(e.to_string());
    }
    for t in &result.tests {
        log_test(t);
    }
    result.duration_s = start.elapsed().as_secs_f64();
    match result.status {
        ModelStatus::Success | ModelStatus::Warn => tracing::info!(
            event = "model_end", model = %model.name, status = status_word(result.status), engine = run.engine,
            stages = result.stages, tasks = result.tasks,
            rows = result.rows, bytes = result.bytes, duration_ms = (result.duration_s * 1000.0) as u64, "done"
        ),
        _ => tracing::error!(
            event = "model_end", model = %model.name, status = status_word(result.status), engine = run.engine,
            duration_ms = (result.duration_s * 1000.0) as u64, error = result.error.as_deref().unwrap_or(""), "failed"
        ),
    }
    result
}

/// Waits (up to 5 s) until the memory pool stops shrinking: the failed attempt's operators are
/// cancelled, but their tasks release their reservations only as they wind down.
async fn settle_memory(ctx: &SessionContext) {
    let pool = ctx.runtime_env().memory_pool.clone();
    let mut last = pool.reserved();
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let now = pool.reserved();
        if now >= last {
            return;
        }
        last = now;
    }
}

/// The session with sort-merge joins, for one model's plan; the copied state shares the
/// catalog, so the model still sees (and registers into) the run's tables.
fn sort_merge(ctx: &SessionContext) -> SessionContext {
    let mut state = ctx.state();
    state.config_mut().options_mut().optimizer.prefer_hash_join = false;
    SessionContext::new_with_state(state)
}

async fn materialize(
    ctx: &SessionContext,
    wh: &crate::storage::StorageRoot,
    model: &Model,
    run: &RunStamp,
    lease: &LeaseCheck,
    replace: Replace,
    result: &mut ModelResult,
) -> Result<()> {
    let name = model.name.as_str();
    let settings = &model.settings;
    // Planned again now that upstream tables point at their new data.
    let df = plan(ctx, model).await?;
    if settings.materialization == Materialization::View {
        ctx.deregister_table(name)?;
        ctx.register_table(name, df.into_view())?;
        result.tests = datatest::run_model_tests(ctx, name, name, &settings.tests).await;
        apply_tests(result);
        return Ok(());
    }

    let partition: Option<(String, DataType)> = match &settings.partition_by {
        Some(col) => {
            let field = df.schema().field_with_unqualified_name(col).map_err(|_| {
                Error::config(&model.path, None, format!("model `{name}` is partitioned by `{col}`, but its query returns no column `{col}`"))
            })?;
            Some((col.clone(), field.data_type().clone()))
        }
        None => None,
    };
    let empty_schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let df = if settings.is_published() {
        in_total_order(df, settings.partition_by.as_deref())?
    } else {
        df
    };
    let options =
        publish::writer_options(ctx, settings.materialization == Materialization::Ephemeral);
    let mut staged = publish::stage(df, wh, name, &run.id, partition.clone(), options)
        .await
        .map_err(|e| with_model(e, model))?;
    staged.replace = replace;
    staged.run_date = Some(run.date);
    #[cfg(feature = "cluster")]
    if let (Some(scheduler), Some(job)) = (&run.scheduler, &staged.job) {
        match crate::cluster::job_shape(scheduler, job).await {
            Ok((stages, tasks)) => {
                result.stages = Some(stages);
                result.tasks = Some(tasks);
            }
            Err(why) => {
                tracing::debug!(model = %name, job = %job, "no stage count from the scheduler: {why}")
            }
        }
    }
    if let Replace::Window { start, end } = replace {
        // Computed from a window's worth of input, such partitions are likely partial: the SQL
        // should filter on {{ window_start }}.
        let outside: BTreeSet<&str> = staged
            .files
            .iter()
            .filter_map(|f| f.path.rsplit_once('/').map(|(d, _)| d))
            .filter(|d| publish::partition_date(d).is_some_and(|x| x < start || x > end))
            .collect();
        if !outside.is_empty() {
            tracing::warn!(model = %name, partitions = ?outside, window = %describe(replace), "rows outside the night's window, replaced all the same; filter the model on window_start and run_date");
        }
    }

    // Tests read the staged data under the model's own name: descendants have not started yet.
    ctx.deregister_table(name)?;
    if staged.files.is_empty() {
        ctx.register_batch(
            name,
            arrow::record_batch::RecordBatch::new_empty(empty_schema),
        )?;
    } else {
        catalog::register_folder(
            ctx,
            name,
            &staged.url,
            partition.clone().into_iter().collect(),
        )
        .await?;
    }
    result.tests = datatest::run_model_tests(ctx, name, name, &settings.tests).await;
    apply_tests(result);
    if result.status == ModelStatus::TestFailed {
        publish::discard(wh, &staged).await;
        ctx.deregister_table(name)?;
        return Ok(());
    }
    let files_written = staged.files.len();
    let rows_written = staged.rows;
    let bytes_written = staged.bytes;
    result.rows = Some(rows_written);
    result.bytes = Some(bytes_written);
    result.files = Some(files_written);
    if settings.materialization == Materialization::Ephemeral {
        // Descendants read the staged copy registered above; the run's end removes it.
        return Ok(());
    }
    // Not atomic with the publish itself: a publish that starts just before the lease runs out
    // still completes (see `lease`, which renews well before that).
    lease.ensure_held()?;
    let record = publish::publish(wh, staged, settings).await?;
    catalog::register_published(ctx, name, &wh.folder_url(name)?, &record).await?;
    Ok(())
}

/// A published table's rows in one total order: its partition column first, then every
/// column in turn. The engine's parallel plans hand rows to the writer in an order that
/// depends on scheduling; sorted, the same rows are written as the same files, byte for byte,
/// on a rerun or with another thread count (README, "Reproducible outputs"). Nested and map
/// columns are not compared: rows equal on every other column are nearly always equal.
fn in_total_order(df: DataFrame, partition_by: Option<&str>) -> Result<DataFrame> {
    use datafusion::prelude::ident;
    let comparable = |t: &DataType| {
        !matches!(
            t,
            DataType::List(_)
                | DataType::LargeList(_)
                | DataType::ListView(_)
                | DataType::LargeListView(_)
                | DataType::FixedSizeList(..)
                | DataType::Struct(_)
                | DataType::Map(..)
                | DataType::Union(..)
                | DataType::RunEndEncoded(..)
        )
    };
    let mut keys = Vec::new();
    if let Some(col) = partition_by {
        keys.push(ident(col).sort(true, true));
    }
    for f in df.schema().fields() {
        if Some(f.name().as_str()) != partition_by && comparable(f.data_type()) {
            keys.push(ident(f.name()).sort(true, true));
        }
    }
    if keys.is_empty() {
        return Ok(df);
    }
    Ok(df.sort(keys)?)
}

fn apply_tests(result: &mut ModelResult) {
    if result.tests.iter().any(TestOutcome::blocks) {
        result.status = ModelStatus::TestFailed;
        let failed: Vec<String> = result
            .tests
            .iter()
            .filter(|t| t.blocks())
            .map(|t| t.name.clone())
            .collect();
        result.error = Some(format!("data tests failed: {}", failed.join(", ")));
    } else if result.tests.iter().any(|t| t.status == TestStatus::Warn) {
        result.status = ModelStatus::Warn;
    }
}

fn with_model(e: Error, model: &Model) -> Error {
    match e {
        Error::Internal(m) => Error::Internal(format!("{} ({}): {m}", model.name, model.path)),
        Error::Execution(m) => {
            Error::Execution(format!("model `{}` ({}): {m}", model.name, model.path))
        }
        Error::OutOfMemory(m) => {
            Error::OutOfMemory(format!("model `{}` ({}): {m}", model.name, model.path))
        }
        Error::Sql(m) => Error::config(&model.path, None, format!("model `{}`: {m}", model.name)),
        other => other,
    }
}

/// `parcours test`: runs the declared tests of the selected models against published data, and
/// the singular tests that read them.
pub async fn test(project: &Project, selected: &BTreeSet<String>) -> Result<RunReport> {
    let started = Instant::now();
    let prepared = prepare(project, selected, Mode::Test).await?;
    let g = &project.graph;
    let mut results = Vec::new();
    for name in g.order.iter().filter(|n| selected.contains(*n)) {
        let m = &g.models[name];
        // An ephemeral table exists only inside a run, whose own tests checked it.
        if m.settings.tests.is_empty() || m.settings.materialization == Materialization::Ephemeral {
            continue;
        }
        let t0 = Instant::now();
        let mut r = ModelResult::new(m, ModelStatus::Success);
        r.tests = datatest::run_model_tests(&prepared.ctx, name, name, &m.settings.tests).await;
        for t in &r.tests {
            log_test(t);
        }
        apply_tests(&mut r);
        r.duration_s = t0.elapsed().as_secs_f64();
        results.push(r);
    }
    let mut singular = Vec::new();
    for i in singular_tests_for(project, selected) {
        let outcome = datatest::run_singular(&prepared.ctx, &g.tests[i]).await;
        log_test(&outcome);
        singular.push(outcome);
    }
    let success = results.iter().all(ModelResult::ok) && singular.iter().all(|t| !t.blocks());
    let report = RunReport {
        run_id: project.run_id.clone(),
        command: "test".into(),
        run_date: project.run_date.to_string(),
        window_start: project.window_start.to_string(),
        full_refresh: project.full_refresh,
        started_at: project.started_at.to_rfc3339(),
        elapsed_s: started.elapsed().as_secs_f64(),
        engine: engine_label(&project.config.execution.engine),
        success,
        results,
        singular_tests: singular,
        swept_staging_objects: 0,
        unit_tests: Vec::new(),
    };
    crate::report::artifacts::write_run_results(project, &report)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::line_of_call;

    #[test]
    fn the_line_of_a_call() {
        let sql = "select\n  x_markov_removal_effects(a),\n  markov_removal_effects (path, converted, 5)\nfrom t";
        assert_eq!(line_of_call(sql, "markov_removal_effects"), Some(3));
        assert_eq!(
            line_of_call(
                "select MARKOV_REMOVAL_EFFECTS(p, c)",
                "markov_removal_effects"
            ),
            Some(1)
        );
        assert_eq!(line_of_call("select 1", "markov_removal_effects"), None);
    }
}
