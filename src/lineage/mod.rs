//! Column-level lineage: for every column of every model, the upstream model and source columns
//! it is derived from and how (passed through, transformed, aggregated, or used only to filter
//! or join rows). It is read from each model's DataFusion logical plan ([`plan`]), planned
//! against empty tables of its upstream schemas, so no data is read. The lineage goes into
//! `target/manifest.json`, `parcours lineage --column` prints it ([`render`]), and the PII
//! audit ([`pii`]) follows personal data through it to the published tables.

pub mod pii;
pub mod plan;
pub mod render;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use datafusion::logical_expr::LogicalPlan;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::project::Project;

/// How an upstream column reaches a column, weakest first: a path's kind is the strongest
/// step on it (a passthrough of an aggregate is an aggregate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    /// The value itself, perhaps renamed.
    Passthrough,
    /// The value through an expression or a function.
    Transform,
    /// The value through an aggregate or window function.
    Aggregate,
    /// Not the value: the column only decides which rows there are (a filter, a join key, a
    /// group key, a window's partition).
    Filter,
}

impl How {
    pub fn as_str(self) -> &'static str {
        match self {
            How::Passthrough => "passthrough",
            How::Transform => "transform",
            How::Aggregate => "aggregate",
            How::Filter => "filter",
        }
    }

    /// Whether the upstream value (or something computed from it) is in the column.
    pub fn carries_value(self) -> bool {
        self != How::Filter
    }
}

/// Why a path carries no personal data even though it starts at some.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtectionKind {
    /// A cryptographic hash ([`plan::HASH_FUNCTIONS`]).
    Hash,
    /// An aggregate that names nobody ([`plan::SAFE_AGGREGATES`]).
    Aggregate,
    /// A true/false answer (`is not null`, `=`, `regexp_like`).
    Predicate,
    /// Only the condition of a `CASE`: it picks a branch, its value is not returned.
    Condition,
    /// A column declared free of personal data with `allow_pii: <reason>`.
    Allowed,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Protection {
    pub kind: ProtectionKind,
    /// The function, operator or aggregate; the reason for `allowed`.
    pub by: String,
}

impl std::fmt::Display for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            ProtectionKind::Hash => write!(f, "hashed by {}", self.by),
            ProtectionKind::Aggregate => write!(f, "aggregated by {}", self.by),
            ProtectionKind::Predicate => write!(f, "reduced to true/false by {}", self.by),
            ProtectionKind::Condition => write!(f, "used only as a CASE condition"),
            ProtectionKind::Allowed => write!(f, "allowed: {}", self.by),
        }
    }
}

/// One way a column depends on one upstream column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Dependency {
    /// The upstream model or source.
    pub table: String,
    pub column: String,
    pub how: How,
    /// Functions and operators applied on the way, sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protected_by: Option<Protection>,
}

impl Dependency {
    /// Whether the column is *derived from* this upstream column, as lineage pictures follow
    /// it: its value (or one computed from it) is in the column. A filter, a join key, or a
    /// value only tested (`is null`, a `CASE` condition) decides rows or branches, not values.
    pub fn derives(&self) -> bool {
        self.how.carries_value()
            && !matches!(
                self.protected_by.as_ref().map(|p| p.kind),
                Some(ProtectionKind::Predicate | ProtectionKind::Condition)
            )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnLineage {
    pub name: String,
    pub upstream: Vec<Dependency>,
}

/// The lineage of a set of models, each with its columns in output order.
#[derive(Debug, Clone, Default)]
pub struct Lineage {
    pub models: BTreeMap<String, Vec<ColumnLineage>>,
    /// Each source's columns, as the models saw them.
    pub sources: BTreeMap<String, Vec<String>>,
}

/// A column of a model or a source: `table.column`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ColumnId {
    pub table: String,
    pub column: String,
}

impl std::fmt::Display for ColumnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.table, self.column)
    }
}

impl ColumnId {
    pub fn new(table: &str, column: &str) -> ColumnId {
        ColumnId {
            table: table.to_string(),
            column: column.to_string(),
        }
    }
}

/// Computes the lineage of the models in `plans` from their logical plans, each planned
/// against empty tables of its inputs (as `validate`, `compile`, `run` and
/// [`crate::run::offline`] plan them), so each plan stops at its direct inputs.
pub fn compute(project: &Project, plans: &BTreeMap<String, LogicalPlan>) -> Result<Lineage> {
    let g = &project.graph;
    let tables: BTreeSet<String> = g
        .models
        .keys()
        .chain(project.config.sources.keys())
        .cloned()
        .collect();
    let mut lineage = Lineage::default();
    for (name, plan) in plans {
        if !g.models.contains_key(name) {
            continue;
        }
        let deps = plan::columns(plan, &tables);
        let schema = plan.schema();
        if deps.len() != schema.fields().len() {
            return Err(Error::Internal(format!(
                "lineage of `{name}`: {} columns traced for {} in its schema",
                deps.len(),
                schema.fields().len()
            )));
        }
        let mut columns = Vec::new();
        for (field, d) in schema.fields().iter().zip(deps) {
            let mut upstream = Vec::new();
            for (origin, flows) in d {
                let is_source = project.config.sources.contains_key(&origin.table);
                if !is_source && !g.models.contains_key(&origin.table) {
                    continue;
                }
                if is_source {
                    let cols = lineage.sources.entry(origin.table.clone()).or_default();
                    if !cols.contains(&origin.column) {
                        cols.push(origin.column.clone());
                    }
                }
                for (flow, functions) in flows {
                    upstream.push(Dependency {
                        table: origin.table.clone(),
                        column: origin.column.clone(),
                        how: flow.how,
                        functions: ordered(functions),
                        protected_by: flow.protected_by,
                    });
                }
            }
            upstream.sort();
            columns.push(ColumnLineage {
                name: field.name().clone(),
                upstream,
            });
        }
        lineage.models.insert(name.clone(), columns);
    }
    Ok(lineage)
}

fn ordered(functions: BTreeSet<String>) -> Vec<String> {
    functions.into_iter().collect()
}

impl Lineage {
    /// The columns of a model, in output order.
    pub fn columns_of(&self, model: &str) -> Option<&[ColumnLineage]> {
        self.models.get(model).map(Vec::as_slice)
    }

    pub fn column(&self, id: &ColumnId) -> Option<&ColumnLineage> {
        self.models
            .get(&id.table)?
            .iter()
            .find(|c| c.name == id.column)
    }

    /// Every model column that reads `id` directly, with how.
    pub fn readers(&self, id: &ColumnId) -> Vec<(ColumnId, &Dependency)> {
        let mut out = Vec::new();
        for (model, cols) in &self.models {
            for c in cols {
                for d in &c.upstream {
                    if d.table == id.table && d.column == id.column {
                        out.push((ColumnId::new(model, &c.name), d));
                    }
                }
            }
        }
        out
    }

    /// The columns whose values `id` is derived from, transitively (other inputs are listed
    /// where they are read but not followed further; see [`Dependency::derives`]).
    pub fn upstream_closure(&self, id: &ColumnId) -> Vec<(ColumnId, Vec<Dependency>)> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let mut queue = VecDeque::from([id.clone()]);
        while let Some(c) = queue.pop_front() {
            if !seen.insert(c.clone()) {
                continue;
            }
            let Some(col) = self.column(&c) else { continue };
            for d in &col.upstream {
                if d.derives() {
                    queue.push_back(ColumnId::new(&d.table, &d.column));
                }
            }
            out.push((c, col.upstream.clone()));
        }
        out
    }

    /// The model columns derived from `id`, transitively, each with the dependency on its
    /// parent in the walk.
    pub fn downstream_closure(&self, id: &ColumnId) -> Vec<(ColumnId, ColumnId, Dependency)> {
        let mut seen = BTreeSet::from([id.clone()]);
        let mut out = Vec::new();
        let mut queue = VecDeque::from([id.clone()]);
        while let Some(c) = queue.pop_front() {
            for (reader, d) in self.readers(&c) {
                out.push((c.clone(), reader.clone(), d.clone()));
                if d.derives() && seen.insert(reader.clone()) {
                    queue.push_back(reader);
                }
            }
        }
        out
    }

    /// The lineage of one model for `manifest.json`: column → its upstream dependencies.
    pub fn manifest_of(&self, model: &str) -> Option<serde_json::Value> {
        let cols = self.models.get(model)?;
        let map: serde_json::Map<String, serde_json::Value> = cols
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    serde_json::to_value(&c.upstream).unwrap_or_default(),
                )
            })
            .collect();
        Some(serde_json::Value::Object(map))
    }
}

/// Parses `model.column` as given to `--column`.
pub fn parse_column(text: &str) -> Result<ColumnId> {
    match text.split_once('.') {
        Some((t, c)) if !t.is_empty() && !c.is_empty() => Ok(ColumnId::new(t, c)),
        _ => Err(Error::Usage(format!(
            "--column `{text}`: write MODEL.COLUMN, e.g. dim_person.email_sha256"
        ))),
    }
}
