//! Model unit tests: a model's SQL run in memory on hand-made rows for each table it reads, its
//! result compared with the expected rows. No storage is touched: input schemas come from the
//! declared source schemas and from the models planned against them ([`crate::run::offline`]).
//!
//! [`prepare`] does everything that can be wrong with a test itself (unknown model, a given
//! input the model does not read or a read input not given, unknown columns, values that do not
//! fit their column's type) and fails with exit code 2 naming the file and line. [`run`]
//! then executes the prepared tests; a model whose rows differ fails its test (exit code 1),
//! shown side by side ([`diff`]).

pub mod diff;
pub mod rows;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::config::unit_tests::{Rows, UnitTestSpec, location};
use crate::config::{Execution, VarValue};
use crate::error::{Error, Result};
use crate::project::{Project, template_context};
use crate::storage::Storage;

/// A test ready to run: its inputs as batches and its model's SQL rendered for it.
pub struct PreparedTest {
    pub spec: UnitTestSpec,
    inputs: Vec<(String, RecordBatch)>,
    sql: String,
    model_path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitStatus {
    Pass,
    /// The model returned other rows than expected.
    Fail,
    /// The model failed on the given rows.
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnitOutcome {
    pub name: String,
    pub model: String,
    /// `file:line` of the test.
    pub location: String,
    pub status: UnitStatus,
    /// What went wrong, with the side-by-side table for a failure.
    pub message: Option<String>,
    pub duration_s: f64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct UnitReport {
    pub outcomes: Vec<UnitOutcome>,
}

impl UnitReport {
    pub fn success(&self) -> bool {
        self.outcomes.iter().all(|o| o.status == UnitStatus::Pass)
    }

    pub fn exit_code(&self) -> u8 {
        if self.success() {
            crate::error::exit::SUCCESS
        } else {
            crate::error::exit::MODEL_FAILED
        }
    }

    /// One line per test, the failures' tables, and a count.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for o in &self.outcomes {
            let word = match o.status {
                UnitStatus::Pass => "pass",
                UnitStatus::Fail => "FAIL",
                UnitStatus::Error => "ERROR",
            };
            s.push_str(&format!(
                "unit test {word:<5} {} ({}, model {})\n",
                o.name, o.location, o.model
            ));
            if let Some(m) = &o.message {
                for line in m.lines() {
                    s.push_str(&format!("    {line}\n"));
                }
            }
        }
        let failed = self
            .outcomes
            .iter()
            .filter(|o| o.status != UnitStatus::Pass)
            .count();
        s.push_str(&format!(
            "unit tests: {} passed, {failed} failed\n",
            self.outcomes.len() - failed
        ));
        s
    }
}

/// The unit tests of the selected models.
pub fn tests_for<'a>(project: &'a Project, selected: &BTreeSet<String>) -> Vec<&'a UnitTestSpec> {
    project
        .config
        .unit_tests
        .iter()
        .filter(|t| selected.contains(&t.model))
        .collect()
}

/// Checks every test of `selected` models and builds its inputs; any problem with a test is an
/// error (exit 2) naming its file and line. Tests of unknown models are errors whatever the
/// selection.
pub async fn prepare(project: &Project, selected: &BTreeSet<String>) -> Result<Vec<PreparedTest>> {
    let g = &project.graph;
    for t in &project.config.unit_tests {
        if !g.models.contains_key(&t.model) {
            return Err(Error::config(
                &t.file,
                t.line,
                format!(
                    "unit test `{}`: no model `{}`{}",
                    t.name,
                    t.model,
                    crate::graph::suggest(&t.model, g.models.keys())
                ),
            ));
        }
    }
    let tests = tests_for(project, selected);
    if tests.is_empty() {
        return Ok(Vec::new());
    }
    // The schemas of the models given as inputs, planned from the declared sources.
    let mut upstream: BTreeSet<String> = BTreeSet::new();
    for t in &tests {
        check_inputs(project, t)?;
        for gv in &t.given {
            if g.models.contains_key(&gv.input) {
                upstream.insert(gv.input.clone());
            }
        }
    }
    let offline = crate::run::offline::plan(project, &upstream).await?;
    let mut out = Vec::new();
    for t in tests {
        let err = |line: Option<usize>, msg: String| {
            Error::config(
                &t.file,
                line.or(t.line),
                format!("unit test `{}`: {msg}", t.name),
            )
        };
        let mut inputs = Vec::new();
        for gv in &t.given {
            let schema = input_schema(project, &offline.schemas, &gv.input, &gv.rows)
                .map_err(|m| err(gv.line, format!("given `{}`: {m}", gv.input)))?;
            let (batch, _) = rows::batch(&gv.rows, &schema)
                .await
                .map_err(|m| err(gv.line, format!("given `{}`: {m}", gv.input)))?;
            inputs.push((gv.input.clone(), batch));
        }
        let model = &g.models[&t.model];
        let sql = render_sql(project, t)?;
        out.push(PreparedTest {
            spec: t.clone(),
            inputs,
            sql,
            model_path: model.path.clone(),
        });
    }
    // Plan each test's model on its inputs, so a broken expectation (an unknown column, a value
    // of the wrong type) is reported now, before anything runs.
    for p in &out {
        let ctx = p.session()?;
        let df = p.plan(&ctx).await?;
        let schema: Schema = df.schema().as_arrow().clone();
        p.expected(&schema).await?;
    }
    Ok(out)
}

/// A given input the model does not read, or a read input not given.
fn check_inputs(project: &Project, t: &UnitTestSpec) -> Result<()> {
    let model = &project.graph.models[&t.model];
    let reads: BTreeSet<&String> = model.depends_on().collect();
    for gv in &t.given {
        if !reads.contains(&gv.input) {
            return Err(Error::config(
                &t.file,
                gv.line.or(t.line),
                format!(
                    "unit test `{}`: given `{}`, which model `{}` ({}) does not read; it reads {}",
                    t.name,
                    gv.input,
                    t.model,
                    model.path,
                    list(&reads)
                ),
            ));
        }
    }
    let given: BTreeSet<&String> = t.given.iter().map(|g| &g.input).collect();
    let missing: Vec<&&String> = reads.iter().filter(|r| !given.contains(**r)).collect();
    if !missing.is_empty() {
        return Err(Error::config(
            &t.file,
            t.line,
            format!(
                "unit test `{}`: model `{}` reads {}, which the test does not give; add `given: {{{}: []}}` for an empty input",
                t.name,
                t.model,
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                missing[0]
            ),
        ));
    }
    Ok(())
}

fn list(names: &BTreeSet<&String>) -> String {
    if names.is_empty() {
        return "no table".into();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The columns of a given input: a model's planned output, a source's declared schema, or, for
/// a source without one, the Parquet fixture's own columns.
fn input_schema(
    project: &Project,
    planned: &BTreeMap<String, SchemaRef>,
    input: &str,
    rows: &Rows,
) -> std::result::Result<SchemaRef, String> {
    if let Some(s) = planned.get(input) {
        return Ok(s.clone());
    }
    let spec = project
        .config
        .sources
        .get(input)
        .ok_or_else(|| format!("`{input}` is neither a model nor a source"))?;
    match (&spec.schema, rows) {
        (Some(declared), _) => Ok(crate::catalog::schema_of_declared(spec, declared)),
        (None, Rows::Parquet(path)) => {
            rows::parquet_schema(path).map_err(|m| format!("{}: {m}", path.display()))
        }
        (None, _) => Err(format!(
            "source `{input}` declares no `schema:`, so its column types are unknown; declare sources.{input}.schema in pipelines.yaml or give a Parquet fixture"
        )),
    }
}

/// The model's SQL with the test's vars, run date and window start.
fn render_sql(project: &Project, t: &UnitTestSpec) -> Result<String> {
    let model = &project.graph.models[&t.model];
    let mut vars: BTreeMap<String, VarValue> = project.vars.clone();
    vars.extend(t.vars.clone());
    let run_date = t.run_date.unwrap_or(project.run_date);
    let window_start = t.window_start.unwrap_or_else(|| {
        run_date
            .checked_sub_days(chrono::Days::new(
                project.config.execution.late_arrival_days.into(),
            ))
            .unwrap_or(run_date)
    });
    let mut ctx = template_context(
        &vars,
        run_date,
        window_start,
        "unit-test",
        project.started_at,
    );
    // As a nightly run has it: a full-history model reads all history unless the test says
    // otherwise.
    if model.full_history() && t.window_start.is_none() {
        ctx.builtins.insert(
            "window_start".into(),
            crate::template::HISTORY_START.to_string(),
        );
    }
    crate::graph::render_model(&project.config, model, &ctx)
}

impl PreparedTest {
    fn session(&self) -> Result<SessionContext> {
        let storage = Storage {
            roots: BTreeMap::new(),
        };
        // One partition: the rows are few, and a test reads the same way every time.
        let exec = Execution {
            target_partitions: Some(1),
            ..Execution::default()
        };
        let ctx = crate::session::build(&storage, &exec)?;
        for (name, batch) in &self.inputs {
            let table = MemTable::try_new(batch.schema(), vec![vec![batch.clone()]])?;
            ctx.register_table(name.as_str(), Arc::new(table))?;
        }
        Ok(ctx)
    }

    async fn plan(&self, ctx: &SessionContext) -> Result<datafusion::prelude::DataFrame> {
        let model = crate::graph::Model {
            name: self.spec.model.clone(),
            path: self.model_path.clone(),
            sql: self.sql.clone(),
            sql_full: None,
            full_history_from: None,
            models: Vec::new(),
            sources: Vec::new(),
            settings: Default::default(),
        };
        crate::run::plan(ctx, &model).await
    }

    /// The expected rows as a batch of the model's output types, and the compared columns.
    async fn expected(&self, output: &Schema) -> Result<(Vec<String>, RecordBatch)> {
        let t = &self.spec;
        let err = |msg: String| {
            Error::config(
                &t.file,
                t.expect_line.or(t.line),
                format!("unit test `{}`: expect: {msg}", t.name),
            )
        };
        let (batch, named) = rows::batch(&t.expect, output)
            .await
            .map_err(|m| err(format!("model `{}` output: {m}", t.model)))?;
        // Only the columns the expectation names are compared, in the output's order.
        let columns: Vec<String> = output
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|c| named.contains(c))
            .collect();
        Ok((columns, batch))
    }

    /// Runs the model on the given rows and compares.
    pub async fn run(&self) -> UnitOutcome {
        let start = Instant::now();
        let t = &self.spec;
        let mut outcome = UnitOutcome {
            name: t.name.clone(),
            model: t.model.clone(),
            location: location(&t.file, t.line),
            status: UnitStatus::Pass,
            message: None,
            duration_s: 0.0,
        };
        match self.execute().await {
            Ok(None) => {}
            Ok(Some(diff)) => {
                outcome.status = UnitStatus::Fail;
                outcome.message = Some(diff);
            }
            Err(e) => {
                outcome.status = UnitStatus::Error;
                outcome.message = Some(e);
            }
        }
        outcome.duration_s = start.elapsed().as_secs_f64();
        outcome
    }

    /// `Ok(None)`: passed; `Ok(Some(table))`: rows differ; `Err`: the model failed.
    async fn execute(&self) -> std::result::Result<Option<String>, String> {
        let t = &self.spec;
        let ctx = self.session().map_err(|e| e.to_string())?;
        let df = self.plan(&ctx).await.map_err(|e| e.to_string())?;
        let planned: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df
            .collect()
            .await
            .map_err(|e| format!("model `{}` failed on the given rows: {e}", t.model))?;
        // The batches' own types: DataFusion's plan can announce a decimal's precision
        // differently from what execution produces, and cells compare by type.
        let output = batches.first().map(|b| b.schema()).unwrap_or(planned);
        let actual =
            arrow::compute::concat_batches(&output, &batches).map_err(|e| e.to_string())?;
        let (columns, expected) = self.expected(&output).await.map_err(|e| e.to_string())?;
        let exp_rows = diff::rows_of(&expected, &columns)?;
        let act_rows = diff::rows_of(&actual, &columns)?;
        let c = diff::compare(&exp_rows, &act_rows, t.tolerance);
        if c.passed() {
            return Ok(None);
        }
        if columns.is_empty() {
            // `expect: []`, or rows naming no column: only the number of rows is compared
            return Ok(Some(format!(
                "expected {} rows, the model returned {}",
                exp_rows.len(),
                act_rows.len()
            )));
        }
        let paired = c.differing.iter().filter(|(_, j)| j.is_some()).count();
        let mut msg = format!(
            "expected {} rows, the model returned {}: {} equal, {paired} differing, {} missing, {} not expected\n",
            exp_rows.len(),
            act_rows.len(),
            c.matched.len(),
            c.differing.len() - paired,
            c.unexpected.len()
        );
        msg.push_str(&diff::render(
            &columns,
            &exp_rows,
            &act_rows,
            &c,
            t.tolerance,
        ));
        Ok(Some(msg))
    }
}

/// Prepares and runs the unit tests of `selected`; a test's own mistake is an `Err` (exit 2)
/// before any test runs.
pub async fn run(project: &Project, selected: &BTreeSet<String>) -> Result<UnitReport> {
    let prepared = prepare(project, selected).await?;
    let mut report = UnitReport::default();
    for p in &prepared {
        let o = p.run().await;
        match o.status {
            UnitStatus::Pass => {
                tracing::debug!(event = "unit_test", test = %o.name, status = "pass")
            }
            _ => {
                tracing::error!(event = "unit_test", test = %o.name, model = %o.model, location = %o.location, status = ?o.status, "unit test failed")
            }
        }
        report.outcomes.push(o);
    }
    Ok(report)
}
