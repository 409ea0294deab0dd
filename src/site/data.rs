//! The data every page of the site is drawn from, as plain serde structs: the model graph laid
//! out left to right, one entry per model and source (docs, SQL, columns, tests, last result,
//! trend), the last run (timeline, tests, warnings, comparison with earlier runs) and the
//! charts. It is built from the project, `target/manifest.json`, `target/run_results.json` and
//! the run summaries the warehouse keeps ([`super::history`]); the HTML is only a view of it,
//! so what a page shows is unit-tested here.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::charts::ChartView;
use super::history::RunSummary;
use crate::project::Project;

/// `target/run_results.json`, read back: only what the site shows, each field optional so
/// that a file written by an older parcours still reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RunFile {
    pub run_id: String,
    pub command: String,
    pub run_date: String,
    pub window_start: String,
    pub full_refresh: bool,
    pub started_at: String,
    pub elapsed_s: f64,
    pub success: bool,
    pub results: Vec<ResultFile>,
    pub singular_tests: Vec<TestFile>,
    pub unit_tests: Vec<UnitFile>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ResultFile {
    pub model: String,
    /// `success`, `warn`, `error`, `test_failed` or `skipped`.
    pub status: String,
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
    pub files: Option<u64>,
    pub duration_s: f64,
    pub started_at: Option<String>,
    pub error: Option<String>,
    pub tests: Vec<TestFile>,
    pub partitions_rewritten: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TestFile {
    pub name: String,
    pub model: Option<String>,
    pub severity: String,
    /// `pass`, `warn`, `fail` or `error`.
    pub status: String,
    pub failures: u64,
    /// The first failing rows, as a text table.
    pub sample: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UnitFile {
    pub name: String,
    pub model: String,
    pub status: String,
    pub message: Option<String>,
}

/// The whole site.
#[derive(Debug, Clone, Serialize)]
pub struct Site {
    pub project: String,
    pub parcours_version: String,
    pub generated_at: String,
    /// Model folders (`staging`, `identity`, …), in the order their first model appears left
    /// to right: the legend of the graph's outline colours.
    pub layers: Vec<String>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// Number of graph columns (sources are column 0).
    pub columns: usize,
    pub run: Option<RunPage>,
    pub charts: Vec<ChartView>,
    /// What the site could not show, and why (no run yet, no warehouse, …).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Model,
    Source,
}

/// A node's colour: the last run's outcome for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Warned,
    Failed,
    Skipped,
    /// Not part of the last run (not selected, or no run yet).
    NotRun,
    /// Sources are read, not run.
    Source,
}

impl Status {
    fn of(run_status: &str) -> Status {
        match run_status {
            "success" => Status::Ok,
            "warn" => Status::Warned,
            "error" | "test_failed" => Status::Failed,
            "skipped" => Status::Skipped,
            _ => Status::NotRun,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub id: String,
    pub kind: NodeKind,
    /// The model's folder (`identity` for `sql/identity/x.sql`); `source` for sources.
    pub layer: String,
    /// Left to right: sources 0, then one more than the farthest input.
    pub column: usize,
    /// Top to bottom within the column.
    pub row: usize,
    pub status: Status,
    pub path: String,
    pub tags: Vec<String>,
    pub description: Option<String>,
    pub materialization: Option<String>,
    pub partition_by: Option<String>,
    pub full_history: bool,
    /// The model whose `full_history: true` this one inherits (itself when declared here).
    pub full_history_from: Option<String>,
    pub windowed: bool,
    pub format: Option<String>,
    pub columns: Vec<ColumnView>,
    /// The SQL a nightly run executes, every template resolved.
    pub sql: Option<String>,
    /// The SQL as written, templates unresolved.
    pub template: Option<String>,
    pub upstream: Vec<String>,
    pub downstream: Vec<String>,
    /// Declared tests (their names), with the last run's outcome in `result`.
    pub tests: Vec<String>,
    pub result: Option<ModelRun>,
    /// Rows and duration in the runs the warehouse keeps, oldest first.
    pub trend: Vec<TrendPoint>,
    /// Set when the rows moved by more than `docs.row_change_warn` since the previous run.
    pub row_flag: Option<String>,
    /// Sources only: files and rows the last run's footer check found (manifest.json).
    pub source_files: Option<u64>,
    pub source_rows: Option<u64>,
    pub storage: Option<String>,
    pub partitions: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnView {
    pub name: String,
    pub data_type: Option<String>,
    pub nullable: Option<bool>,
    pub doc: Option<String>,
    pub tests: Vec<String>,
    /// A source column's declared kind of personal data.
    pub pii: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelRun {
    pub status: String,
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
    pub files: Option<u64>,
    pub duration_s: f64,
    pub error: Option<String>,
    pub partitions_rewritten: Option<String>,
    pub tests: Vec<TestFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    pub run_id: String,
    pub run_date: String,
    pub rows: Option<u64>,
    pub duration_s: f64,
    pub status: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunPage {
    pub run_id: String,
    pub command: String,
    pub run_date: String,
    pub window_start: String,
    pub full_refresh: bool,
    pub started_at: String,
    pub elapsed_s: f64,
    pub success: bool,
    pub exit_code: u8,
    pub counts: BTreeMap<String, usize>,
    pub gantt: Vec<GanttBar>,
    /// The chain of models that set the run's length: from the model that finished last back
    /// through, at each step, the input that finished last.
    pub critical_path: Vec<String>,
    pub models: Vec<RunRow>,
    pub tests: Vec<TestFile>,
    pub unit_tests: Vec<UnitFile>,
    pub warnings: Vec<String>,
    pub row_change_warn: f64,
    /// Earlier runs the warehouse keeps, oldest first (this one included when kept).
    pub history: Vec<HistoryRun>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GanttBar {
    pub model: String,
    /// Seconds after the run started.
    pub start_s: f64,
    pub end_s: f64,
    pub status: Status,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub model: String,
    pub status: Status,
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
    pub duration_s: f64,
    pub previous_rows: Option<u64>,
    /// The model's seconds in the newest earlier kept run it ran in.
    pub previous_duration_s: Option<f64>,
    pub row_flag: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryRun {
    pub run_id: String,
    pub run_date: String,
    pub started_at: String,
    pub elapsed_s: f64,
    pub success: bool,
    pub failed: usize,
    pub rows: u64,
}

/// The layer a model's file is in: its folder's name.
fn layer_of(path: &str) -> String {
    path.rsplit('/')
        .nth(1)
        .filter(|d| !d.is_empty())
        .unwrap_or("models")
        .to_string()
}

/// Left-to-right layout: each source in column 0, each model one column right of its
/// farthest input (column 1 when it reads nothing), so every edge points right. Within a column, nodes are ordered by the mean
/// row of their inputs (two sweeps, ties by layer then name), which keeps related nodes near
/// each other and the result the same for the same project. `nodes` is `(id, layer)` in
/// dependency order (inputs first); an input not in it counts as a source.
pub fn layout(
    nodes: &[(String, String)],
    inputs: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, (usize, usize)> {
    let mut column: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, _) in nodes {
        // a model that reads nothing (a table of values) is still a model: column 1 at least
        let c = match inputs.get(id) {
            None => 0,
            Some(ins) => ins
                .iter()
                .map(|i| column.get(i.as_str()).map_or(1, |c| c + 1))
                .max()
                .unwrap_or(1)
                .max(1),
        };
        column.insert(id, c);
    }
    let layer: BTreeMap<&str, &str> = nodes
        .iter()
        .map(|(id, l)| (id.as_str(), l.as_str()))
        .collect();
    let width = column.values().max().map_or(0, |m| m + 1);
    let mut cols: Vec<Vec<&str>> = vec![Vec::new(); width];
    for (id, _) in nodes {
        cols[column[id.as_str()]].push(id);
    }
    for c in &mut cols {
        c.sort_by(|a, b| layer[a].cmp(layer[b]).then(a.cmp(b)));
    }
    let mut row: BTreeMap<&str, f64> = BTreeMap::new();
    for c in &cols {
        for (i, id) in c.iter().enumerate() {
            row.insert(id, i as f64);
        }
    }
    for _ in 0..2 {
        for c in cols.iter_mut().skip(1) {
            let key = |id: &str| -> f64 {
                let ins: Vec<f64> = inputs
                    .get(id)
                    .into_iter()
                    .flatten()
                    .filter_map(|i| row.get(i.as_str()).copied())
                    .collect();
                if ins.is_empty() {
                    f64::MAX
                } else {
                    ins.iter().sum::<f64>() / ins.len() as f64
                }
            };
            let mut keyed: Vec<(f64, &str)> = c.iter().map(|id| (key(id), *id)).collect();
            keyed.sort_by(|a, b| {
                a.0.total_cmp(&b.0)
                    .then(layer[a.1].cmp(layer[b.1]))
                    .then(a.1.cmp(b.1))
            });
            *c = keyed.into_iter().map(|(_, id)| id).collect();
            // the next column is sorted against this column's new rows
            for (i, id) in c.iter().enumerate() {
                row.insert(id, i as f64);
            }
        }
    }
    let mut out = BTreeMap::new();
    for (ci, c) in cols.iter().enumerate() {
        for (ri, id) in c.iter().enumerate() {
            out.insert(id.to_string(), (ci, ri));
        }
    }
    out
}

/// Seconds between two RFC 3339 instants (`b - a`), if both read.
fn seconds_between(a: &str, b: &str) -> Option<f64> {
    let a = chrono::DateTime::parse_from_rfc3339(a).ok()?;
    let b = chrono::DateTime::parse_from_rfc3339(b).ok()?;
    Some((b - a).num_microseconds()? as f64 / 1e6)
}

/// The timeline: one bar per model that ran, from its start to start + duration.
pub fn gantt(run: &RunFile) -> Vec<GanttBar> {
    let mut bars: Vec<GanttBar> = run
        .results
        .iter()
        .filter_map(|r| {
            let start = seconds_between(&run.started_at, r.started_at.as_deref()?)?.max(0.0);
            Some(GanttBar {
                model: r.model.clone(),
                start_s: start,
                end_s: start + r.duration_s.max(0.0),
                status: Status::of(&r.status),
            })
        })
        .collect();
    bars.sort_by(|a, b| a.start_s.total_cmp(&b.start_s).then(a.model.cmp(&b.model)));
    bars
}

/// See [`RunPage::critical_path`]; first model first.
pub fn critical_path(bars: &[GanttBar], inputs: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let end: BTreeMap<&str, f64> = bars.iter().map(|b| (b.model.as_str(), b.end_s)).collect();
    let last = |names: &mut dyn Iterator<Item = &str>| -> Option<String> {
        names
            .filter_map(|n| end.get(n).map(|e| (n, *e)))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(a.0)))
            .map(|(n, _)| n.to_string())
    };
    let mut path = Vec::new();
    let mut at = last(&mut bars.iter().map(|b| b.model.as_str()));
    while let Some(m) = at {
        if path.contains(&m) {
            break;
        }
        at = last(&mut inputs.get(&m).into_iter().flatten().map(String::as_str));
        path.push(m);
    }
    path.reverse();
    path
}

/// A model's rows and duration over the kept runs, oldest first.
pub fn trend(history: &[RunSummary], model: &str) -> Vec<TrendPoint> {
    history
        .iter()
        .filter_map(|r| {
            let p = r.models.iter().find(|p| p.model == model)?;
            Some(TrendPoint {
                run_id: r.run_id.clone(),
                run_date: r.run_date.clone(),
                rows: p.rows,
                duration_s: p.duration_s,
                status: p.status.clone(),
            })
        })
        .collect()
}

/// What a partitioned model's rows count: the whole table (`all`), a late-arrival window
/// (`D1..D2`) or the partitions it returned. Rows of one kind are not comparable with another
/// (a first full build against the next night's window would always look like a collapse).
fn rewrite_kind(p: Option<&str>) -> &'static str {
    match p {
        None => "table",
        Some("all") => "all",
        Some(w) if w.contains("..") => "window",
        Some(_) => "returned",
    }
}

/// The rows of `model` in the newest kept run before `run_id` that recorded some, of a run
/// that rewrote the same kind of partitions (`rewritten`). `history` is oldest first; when it
/// does not hold `run_id` (the summary was not kept), every kept run is earlier.
pub fn previous_rows(
    history: &[RunSummary],
    run_id: &str,
    model: &str,
    rewritten: Option<&str>,
) -> Option<u64> {
    let before = history
        .iter()
        .position(|r| r.run_id == run_id)
        .unwrap_or(history.len());
    let kind = rewrite_kind(rewritten);
    history[..before].iter().rev().find_map(|r| {
        let p = r.models.iter().find(|p| p.model == model)?;
        if rewrite_kind(p.partitions_rewritten.as_deref()) != kind {
            return None;
        }
        p.rows
    })
}

/// The seconds `model` took in the newest kept run before `run_id` that ran it.
pub fn previous_duration(history: &[RunSummary], run_id: &str, model: &str) -> Option<f64> {
    let before = history
        .iter()
        .position(|r| r.run_id == run_id)
        .unwrap_or(history.len());
    history[..before].iter().rev().find_map(|r| {
        let p = r.models.iter().find(|p| p.model == model)?;
        (p.status != "skipped").then_some(p.duration_s)
    })
}

/// Why a row count is flagged, when it moved by more than `share` of the previous one.
pub fn row_flag(previous: Option<u64>, now: Option<u64>, share: f64) -> Option<String> {
    let (prev, now) = (previous?, now?);
    if prev == 0 {
        return (now > 0).then(|| format!("{now} rows, after 0 in the previous run"));
    }
    let change = (now as f64 - prev as f64) / prev as f64;
    (change.abs() > share).then(|| {
        format!(
            "{now} rows, {:+.0} % against {prev} in the previous run (flagged beyond ±{:.0} %)",
            change * 100.0,
            share * 100.0
        )
    })
}

fn manifest_columns(
    manifest: Option<&Value>,
    kind: &str,
    name: &str,
) -> Vec<(String, String, bool)> {
    manifest
        .and_then(|m| m.get(kind)?.get(name)?.get("schema")?.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|c| {
            Some((
                c.get("name")?.as_str()?.to_string(),
                c.get("type")?.as_str()?.to_string(),
                c.get("nullable").and_then(Value::as_bool).unwrap_or(true),
            ))
        })
        .collect()
}

fn manifest_number(manifest: Option<&Value>, source: &str, key: &str) -> Option<u64> {
    manifest?.get("sources")?.get(source)?.get(key)?.as_u64()
}

/// What [`build`] reads besides the project.
pub struct Inputs<'a> {
    pub manifest: Option<&'a Value>,
    pub run: Option<&'a RunFile>,
    pub history: &'a [RunSummary],
    /// Each model's SQL file as written (templates unresolved), by model name.
    pub templates: &'a BTreeMap<String, String>,
    /// Column types of published tables from their commit records, for models the manifest
    /// has no schema of.
    pub published_schemas: &'a BTreeMap<String, Vec<(String, String, bool)>>,
    pub charts: Vec<ChartView>,
    pub notes: Vec<String>,
    pub generated_at: String,
}

pub fn build(project: &Project, inputs: Inputs<'_>) -> Site {
    let g = &project.graph;
    let config = &project.config;
    let share = config.docs.row_change_warn;
    let results: BTreeMap<&str, &ResultFile> = inputs
        .run
        .map(|r| r.results.iter().map(|m| (m.model.as_str(), m)).collect())
        .unwrap_or_default();
    let run_id = inputs.run.map(|r| r.run_id.as_str()).unwrap_or_default();

    // sources first, then models in dependency order
    let mut order: Vec<(String, String)> = config
        .sources
        .keys()
        .map(|s| (s.clone(), "source".to_string()))
        .collect();
    order.extend(
        g.order
            .iter()
            .map(|n| (n.clone(), layer_of(&g.models[n].path))),
    );
    let inputs_of: BTreeMap<String, Vec<String>> = g
        .models
        .iter()
        .map(|(n, m)| (n.clone(), m.depends_on().cloned().collect()))
        .collect();
    let at = layout(&order, &inputs_of);
    let mut layers: Vec<String> = Vec::new();
    let mut by_column: Vec<&(String, String)> =
        order.iter().filter(|(_, l)| l != "source").collect();
    by_column.sort_by_key(|(id, _)| at[id]);
    for (_, l) in by_column {
        if !layers.contains(l) {
            layers.push(l.clone());
        }
    }

    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for (name, s) in &config.sources {
        let (column, row) = at[name];
        let schema = manifest_columns(inputs.manifest, "sources", name);
        // the files' own column order when the last run read them, else the declared schema
        let mut columns: Vec<ColumnView> = match &s.schema {
            Some(declared) if schema.is_empty() => declared
                .iter()
                .map(|c| ColumnView {
                    name: c.name.clone(),
                    data_type: Some(crate::config::datatype::display(&c.data_type)),
                    nullable: Some(c.nullable),
                    doc: None,
                    tests: Vec::new(),
                    pii: None,
                })
                .collect(),
            _ => schema
                .iter()
                .map(|(n, t, nl)| ColumnView {
                    name: n.clone(),
                    data_type: Some(t.clone()),
                    nullable: Some(*nl),
                    doc: None,
                    tests: Vec::new(),
                    pii: None,
                })
                .collect(),
        };
        for c in &mut columns {
            c.pii = s.pii.get(&c.name).map(|k| k.as_str().to_string());
        }
        nodes.push(Node {
            id: name.clone(),
            kind: NodeKind::Source,
            layer: "source".into(),
            column,
            row,
            status: Status::Source,
            path: s.path.clone(),
            tags: Vec::new(),
            description: s.description.clone(),
            materialization: None,
            partition_by: None,
            full_history: false,
            full_history_from: None,
            windowed: false,
            format: None,
            columns,
            sql: None,
            template: None,
            upstream: Vec::new(),
            downstream: g
                .models
                .iter()
                .filter(|(_, m)| m.sources.contains(name))
                .map(|(n, _)| n.clone())
                .collect(),
            tests: Vec::new(),
            result: None,
            trend: Vec::new(),
            row_flag: None,
            source_files: manifest_number(inputs.manifest, name, "files"),
            source_rows: manifest_number(inputs.manifest, name, "rows"),
            storage: Some(s.storage.clone()),
            partitions: s
                .partitions
                .iter()
                .map(|(c, t)| format!("{c} ({})", crate::config::datatype::display(t)))
                .collect(),
        });
    }
    for name in &g.order {
        let m = &g.models[name];
        let (column, row) = at[name];
        for d in m.depends_on() {
            edges.push(Edge {
                from: d.clone(),
                to: name.clone(),
            });
        }
        let mut schema = manifest_columns(inputs.manifest, "models", name);
        if schema.is_empty() {
            schema = inputs
                .published_schemas
                .get(name)
                .cloned()
                .unwrap_or_default();
        }
        let tests_of = |col: &str| -> Vec<String> {
            m.settings
                .tests
                .iter()
                .filter(|t| t.column.as_deref() == Some(col))
                .map(|t| t.name())
                .collect()
        };
        let mut columns: Vec<ColumnView> = schema
            .iter()
            .map(|(n, t, nl)| ColumnView {
                name: n.clone(),
                data_type: Some(t.clone()),
                nullable: Some(*nl),
                doc: m.settings.columns.get(n).cloned().flatten(),
                tests: tests_of(n),
                pii: None,
            })
            .collect();
        // documented columns the schema does not show (no run yet) still get their docs
        for (c, doc) in &m.settings.columns {
            if !columns.iter().any(|v| &v.name == c) {
                columns.push(ColumnView {
                    name: c.clone(),
                    data_type: None,
                    nullable: None,
                    doc: doc.clone(),
                    tests: tests_of(c),
                    pii: None,
                });
            }
        }
        let result = results.get(name.as_str()).map(|r| ModelRun {
            status: r.status.clone(),
            rows: r.rows,
            bytes: r.bytes,
            files: r.files,
            duration_s: r.duration_s,
            error: r.error.clone(),
            partitions_rewritten: r.partitions_rewritten.clone(),
            tests: r.tests.clone(),
        });
        let flag = results.get(name.as_str()).and_then(|r| {
            row_flag(
                previous_rows(
                    inputs.history,
                    run_id,
                    name,
                    r.partitions_rewritten.as_deref(),
                ),
                r.rows,
                share,
            )
        });
        nodes.push(Node {
            id: name.clone(),
            kind: NodeKind::Model,
            layer: layer_of(&m.path),
            column,
            row,
            status: results
                .get(name.as_str())
                .map_or(Status::NotRun, |r| Status::of(&r.status)),
            path: m.path.clone(),
            tags: m.settings.tags.clone(),
            description: m.settings.description.clone(),
            materialization: Some(m.settings.materialization.as_str().to_string()),
            partition_by: m.settings.partition_by.clone(),
            full_history: m.full_history(),
            full_history_from: m.full_history_from.clone(),
            windowed: m.is_windowed(),
            format: m
                .settings
                .is_published()
                .then(|| format!("{:?}", m.settings.format).to_lowercase()),
            columns,
            sql: Some(m.sql.clone()),
            template: inputs.templates.get(name).cloned(),
            upstream: m.depends_on().cloned().collect(),
            downstream: g
                .children
                .get(name)
                .map(|c| c.iter().cloned().collect())
                .unwrap_or_default(),
            tests: m.settings.tests.iter().map(|t| t.name()).collect(),
            result,
            trend: trend(inputs.history, name),
            row_flag: flag,
            source_files: None,
            source_rows: None,
            storage: None,
            partitions: Vec::new(),
        });
    }

    let run = inputs
        .run
        .map(|r| run_page(r, &nodes, &inputs_of, inputs.history, share));
    Site {
        project: config.name.clone(),
        parcours_version: env!("CARGO_PKG_VERSION").to_string(),
        generated_at: inputs.generated_at,
        layers,
        columns: nodes.iter().map(|n| n.column + 1).max().unwrap_or(0),
        nodes,
        edges,
        run,
        charts: inputs.charts,
        notes: inputs.notes,
    }
}

fn run_page(
    r: &RunFile,
    nodes: &[Node],
    inputs_of: &BTreeMap<String, Vec<String>>,
    history: &[RunSummary],
    share: f64,
) -> RunPage {
    let bars = gantt(r);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for m in &r.results {
        *counts.entry(m.status.clone()).or_default() += 1;
    }
    let models: Vec<RunRow> = r
        .results
        .iter()
        .map(|m| {
            let previous = previous_rows(
                history,
                &r.run_id,
                &m.model,
                m.partitions_rewritten.as_deref(),
            );
            RunRow {
                model: m.model.clone(),
                status: Status::of(&m.status),
                rows: m.rows,
                bytes: m.bytes,
                duration_s: m.duration_s,
                previous_rows: previous,
                previous_duration_s: previous_duration(history, &r.run_id, &m.model),
                row_flag: row_flag(previous, m.rows, share),
            }
        })
        .collect();
    let mut tests: Vec<TestFile> = r.results.iter().flat_map(|m| m.tests.clone()).collect();
    tests.extend(r.singular_tests.iter().cloned());
    // what did not pass first, in run order otherwise
    tests.sort_by_key(|t| t.status == "pass");
    let mut warnings = Vec::new();
    for m in &r.results {
        if m.status == "warn" {
            warnings.push(format!("{}: published with failing `warn` tests", m.model));
        }
        if let Some(e) = &m.error
            && m.status != "skipped"
        {
            warnings.push(format!(
                "{}: {}",
                m.model,
                e.lines().next().unwrap_or_default()
            ));
        }
    }
    for t in &tests {
        if t.status != "pass" {
            warnings.push(format!(
                "{}test {} ({}): {} failing rows{}",
                t.model
                    .as_deref()
                    .map(|m| format!("{m}: "))
                    .unwrap_or_default(),
                t.name,
                t.status,
                t.failures,
                t.message
                    .as_deref()
                    .map(|m| format!(", {m}"))
                    .unwrap_or_default()
            ));
        }
    }
    for row in &models {
        if let Some(f) = &row.row_flag {
            warnings.push(format!("{}: {f}", row.model));
        }
    }
    let known: BTreeSet<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    let history = history
        .iter()
        .map(|h| HistoryRun {
            run_id: h.run_id.clone(),
            run_date: h.run_date.clone(),
            started_at: h.started_at.clone(),
            elapsed_s: h.elapsed_s,
            success: h.success,
            failed: h
                .models
                .iter()
                .filter(|m| matches!(m.status.as_str(), "error" | "test failed"))
                .count(),
            rows: h
                .models
                .iter()
                .filter(|m| known.contains(m.model.as_str()))
                .filter_map(|m| m.rows)
                .sum(),
        })
        .collect();
    RunPage {
        run_id: r.run_id.clone(),
        command: r.command.clone(),
        run_date: r.run_date.clone(),
        window_start: r.window_start.clone(),
        full_refresh: r.full_refresh,
        started_at: r.started_at.clone(),
        elapsed_s: r.elapsed_s,
        success: r.success,
        exit_code: if r.success {
            crate::error::exit::SUCCESS
        } else {
            crate::error::exit::MODEL_FAILED
        },
        counts,
        critical_path: critical_path(&bars, inputs_of),
        gantt: bars,
        models,
        tests,
        unit_tests: r.unit_tests.clone(),
        warnings,
        row_change_warn: share,
        history,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::ProjectOptions;
    use crate::site::history::ModelPoint;

    fn ins(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    fn nodes(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn the_layout_puts_every_model_right_of_its_inputs() {
        let n = nodes(&[
            ("src_a", "source"),
            ("src_b", "source"),
            ("stg_b", "staging"),
            ("stg_a", "staging"),
            ("int_ab", "identity"),
            ("mart", "marts"),
            ("values", "staging"),
        ]);
        let i = ins(&[
            ("stg_a", &["src_a"]),
            ("stg_b", &["src_b"]),
            ("int_ab", &["stg_a", "stg_b"]),
            // reads a staging model and a model two columns away: the farthest input wins
            ("mart", &["int_ab", "stg_a"]),
            ("values", &[]),
        ]);
        let at = layout(&n, &i);
        assert_eq!(at["src_a"], (0, 0));
        assert_eq!(at["src_b"], (0, 1));
        assert_eq!(at["stg_a"].0, 1);
        assert_eq!(at["int_ab"].0, 2);
        assert_eq!(at["mart"], (3, 0));
        assert_eq!(at["values"].0, 1);
        for (to, from) in &i {
            for f in from {
                assert!(at[f].0 < at[to].0, "{f} -> {to}");
            }
        }
        // same input, same layout
        assert_eq!(layout(&n, &i), at);
    }

    #[test]
    fn rows_follow_the_inputs_rows() {
        // z_stg reads the first source, a_stg the second: by name a_stg would come first, but
        // ordering by the inputs' rows keeps the edges from crossing
        let n = nodes(&[
            ("s1", "source"),
            ("s2", "source"),
            ("a_stg", "staging"),
            ("z_stg", "staging"),
        ]);
        let i = ins(&[("a_stg", &["s2"]), ("z_stg", &["s1"])]);
        let at = layout(&n, &i);
        assert_eq!(at["z_stg"], (1, 0));
        assert_eq!(at["a_stg"], (1, 1));
    }

    fn run_file() -> RunFile {
        let result = |model: &str, status: &str, start: &str, d: f64| ResultFile {
            model: model.into(),
            status: status.into(),
            rows: Some(10),
            duration_s: d,
            started_at: Some(start.into()),
            ..Default::default()
        };
        RunFile {
            run_id: "r2".into(),
            started_at: "2026-11-01T02:00:00Z".into(),
            elapsed_s: 9.0,
            success: false,
            results: vec![
                result("a", "success", "2026-11-01T02:00:01Z", 2.0),
                result("b", "success", "2026-11-01T02:00:01.500Z", 4.0),
                result("c", "test_failed", "2026-11-01T02:00:05.500Z", 3.0),
                ResultFile {
                    model: "d".into(),
                    status: "skipped".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn the_timeline_is_each_models_start_and_end_and_its_critical_path() {
        let bars = gantt(&run_file());
        // d was skipped: it has no start and no bar
        assert_eq!(
            bars.iter().map(|b| b.model.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!((bars[1].start_s, bars[1].end_s), (1.5, 5.5));
        assert_eq!(bars[2].status, Status::Failed);
        // c waited for a (ends 3.0) and b (ends 5.5): b set the pace
        let i = ins(&[("c", &["a", "b"]), ("b", &["src"])]);
        assert_eq!(critical_path(&bars, &i), ["b", "c"]);
    }

    fn summary(id: &str, rows: Option<u64>) -> RunSummary {
        RunSummary {
            run_id: id.into(),
            run_date: format!("d-{id}"),
            started_at: String::new(),
            elapsed_s: 1.0,
            success: true,
            models: vec![ModelPoint {
                model: "m".into(),
                status: "ok".into(),
                rows,
                bytes: None,
                duration_s: 1.0,
                partitions_rewritten: None,
            }],
        }
    }

    #[test]
    fn row_counts_are_compared_with_the_previous_kept_run() {
        let h = vec![
            summary("r0", Some(100)),
            summary("r1", None),
            summary("r2", Some(10)),
        ];
        // r1 recorded no rows (the model failed): r0 is the comparison
        assert_eq!(previous_rows(&h, "r2", "m", None), Some(100));
        assert_eq!(previous_rows(&h, "r0", "m", None), None);
        // a run not kept (its summary could not be written) compares with the newest kept
        assert_eq!(previous_rows(&h, "r9", "m", None), Some(10));
        // a night's window is compared with earlier windows, not with a full build
        let mut p = vec![summary("r0", Some(1000)), summary("r1", Some(40))];
        p[0].models[0].partitions_rewritten = Some("all".into());
        p[1].models[0].partitions_rewritten = Some("2026-10-27..2026-10-30".into());
        let window = Some("2026-10-28..2026-10-31");
        assert_eq!(previous_rows(&p, "r2", "m", window), Some(40));
        assert_eq!(previous_rows(&p[..1], "r2", "m", window), None);
        assert_eq!(previous_rows(&p, "r2", "m", Some("all")), Some(1000));
        assert_eq!(trend(&h, "m").len(), 3);
        assert_eq!(previous_duration(&h, "r2", "m"), Some(1.0));
        assert_eq!(previous_duration(&h, "r0", "m"), None);
        assert!(trend(&h, "other").is_empty());
        assert_eq!(row_flag(Some(100), Some(150), 0.5), None);
        let up = row_flag(Some(100), Some(151), 0.5).unwrap();
        assert!(up.contains("+51 %"), "{up}");
        assert!(
            row_flag(Some(100), Some(40), 0.5)
                .unwrap()
                .contains("-60 %")
        );
        assert!(row_flag(Some(0), Some(3), 0.5).unwrap().contains("after 0"));
        assert_eq!(row_flag(Some(0), Some(0), 0.5), None);
        assert_eq!(row_flag(None, Some(3), 0.5), None);
    }

    fn project(dir: &std::path::Path) -> Project {
        std::fs::create_dir_all(dir.join("sql/staging")).unwrap();
        std::fs::create_dir_all(dir.join("sql/marts")).unwrap();
        std::fs::write(
            dir.join("pipelines.yaml"),
            "name: tiny\nstorage:\n  raw: ./raw\n  warehouse: ./wh\nsources:\n  orders:\n    storage: raw\n    path: orders\n    schema:\n      order_id: utf8 not null\n      email: utf8\n    pii:\n      email: email\nmodels:\n  stg_orders:\n    description: Orders, cleaned.\n    tags: [shop]\n    columns:\n      order_id:\n        description: The order.\n        tests: [not_null]\n  daily:\n    full_history: true\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("sql/staging/stg_orders.sql"),
            "select order_id from orders where {{ run_date }} > date '2000-01-01'",
        )
        .unwrap();
        std::fs::write(
            dir.join("sql/marts/daily.sql"),
            "select count(*) as n from stg_orders",
        )
        .unwrap();
        Project::open(&ProjectOptions {
            project_dir: dir.to_path_buf(),
            run_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 1),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn the_site_data_joins_the_project_with_its_last_run() {
        let dir = tempfile::tempdir().unwrap();
        let p = project(dir.path());
        let run = RunFile {
            run_id: "r2".into(),
            started_at: "2026-11-01T02:00:00Z".into(),
            success: true,
            results: vec![
                ResultFile {
                    model: "stg_orders".into(),
                    status: "warn".into(),
                    rows: Some(30),
                    started_at: Some("2026-11-01T02:00:00Z".into()),
                    duration_s: 1.0,
                    ..Default::default()
                },
                ResultFile {
                    model: "daily".into(),
                    status: "success".into(),
                    rows: Some(1),
                    started_at: Some("2026-11-01T02:00:01Z".into()),
                    duration_s: 1.0,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let mut h = vec![summary("r1", Some(10))];
        h[0].models[0].model = "stg_orders".into();
        let templates = BTreeMap::from([(
            "stg_orders".to_string(),
            "select order_id from orders where {{ run_date }} > date '2000-01-01'".to_string(),
        )]);
        let site = build(
            &p,
            Inputs {
                manifest: None,
                run: Some(&run),
                history: &h,
                templates: &templates,
                published_schemas: &BTreeMap::new(),
                charts: Vec::new(),
                notes: Vec::new(),
                generated_at: "now".into(),
            },
        );
        let node = |id: &str| site.nodes.iter().find(|n| n.id == id).unwrap();
        let src = node("orders");
        assert_eq!(
            (src.kind, src.column, src.status),
            (NodeKind::Source, 0, Status::Source)
        );
        let email = src.columns.iter().find(|c| c.name == "email").unwrap();
        assert_eq!(email.pii.as_deref(), Some("email"));
        let stg = node("stg_orders");
        assert_eq!(
            (stg.column, stg.status, stg.layer.as_str()),
            (1, Status::Warned, "staging")
        );
        assert_eq!(stg.columns[0].doc.as_deref(), Some("The order."));
        assert_eq!(stg.columns[0].tests, ["not_null(order_id)"]);
        assert!(
            stg.sql.as_deref().unwrap().contains("DATE '2026-11-01'"),
            "{:?}",
            stg.sql
        );
        assert!(stg.template.as_deref().unwrap().contains("{{ run_date }}"));
        assert_eq!(stg.downstream, ["daily"]);
        // 30 rows after 10: flagged at the default 50 %
        assert!(stg.row_flag.as_deref().unwrap().contains("+200 %"));
        let daily = node("daily");
        assert_eq!((daily.column, daily.full_history), (2, true));
        assert_eq!(daily.status, Status::Ok);
        assert_eq!(site.layers, ["staging", "marts"]);
        assert_eq!(site.edges.len(), 2);
        let page = site.run.unwrap();
        assert_eq!(page.gantt.len(), 2);
        assert_eq!(page.critical_path, ["stg_orders", "daily"]);
        assert!(
            page.warnings
                .iter()
                .any(|w| w.contains("stg_orders: published with failing"))
        );
        assert!(page.warnings.iter().any(|w| w.contains("+200 %")));
        assert_eq!(page.counts["warn"], 1);
    }
}
