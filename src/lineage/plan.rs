//! Column lineage of one model, read from its DataFusion logical plan (never from the SQL text).
//!
//! The plan is walked bottom-up. Every node yields, for each of its output columns, the upstream
//! table columns its values come from ("value" dependencies, each with how it got there and the
//! functions on the way), and, once for the node, the columns that decide which rows exist
//! (filters, join keys, group keys: "row" dependencies). A model column's lineage is its value
//! dependencies plus its plan's row dependencies, the latter counted as `filter`.
//!
//! Along each path from an upstream column to the output, the walker also records whether the
//! value was *protected* on the way: hashed ([`HASH_FUNCTIONS`]), reduced by an aggregate that
//! cannot identify anyone ([`SAFE_AGGREGATES`]), turned into a true/false answer, or used only
//! as a `CASE` condition. The PII audit ([`super::pii`]) follows only unprotected paths as
//! personal data. Protection is per path, not per column: `sha256_hex(email) || email` carries
//! the raw e-mail through its second reference.
//!
//! When a column reference cannot be resolved (a plan shape this walker does not know), the
//! column is taken to depend on every column in scope: lineage may then over-report, never
//! under-report, so the audit stays on the safe side.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use arrow::datatypes::DataType;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, JoinType};
use datafusion::logical_expr::expr::{
    AggregateFunction, Exists, InSubquery, SetComparison, WindowFunction,
};
use datafusion::logical_expr::utils::grouping_set_to_exprlist;
use datafusion::logical_expr::{Distinct, Expr, ExprSchemable, LogicalPlan, Operator, Subquery};

use super::{How, Protection, ProtectionKind};

/// Functions whose result cannot be turned back into their input: their output is not
/// personal data. `md5` is left out on purpose (broken, and short enough to brute-force).
pub const HASH_FUNCTIONS: &[&str] = &["sha256_hex", "sha224", "sha256", "sha384", "sha512"];

/// Aggregates whose result names nobody: a count of e-mails is not an e-mail. `min`, `max`,
/// `first_value`, `array_agg` and the like return one of their inputs and protect nothing.
pub const SAFE_AGGREGATES: &[&str] = &["count", "approx_distinct", "bool_and", "bool_or"];

/// A column of an upstream table (a model or a source).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    pub table: String,
    pub column: String,
}

/// How one path reaches the output: its kind and what protected it, if anything.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Flow {
    pub how: How,
    pub protected_by: Option<Protection>,
}

/// For each upstream column: the distinct ways it reaches a value, each with the functions
/// applied on the way.
pub type Deps = BTreeMap<Origin, BTreeMap<Flow, BTreeSet<String>>>;

/// What a plan node yields: value dependencies per output column, and row dependencies.
#[derive(Debug, Clone, Default)]
struct Node {
    cols: Vec<Deps>,
    rows: Deps,
}

/// The path from a reference to the output: the strongest kind so far, the innermost
/// protection, and the functions applied.
#[derive(Debug, Clone)]
struct Path {
    how: How,
    protected_by: Option<Protection>,
    functions: Vec<String>,
}

impl Path {
    fn root() -> Path {
        Path {
            how: How::Passthrough,
            protected_by: None,
            functions: Vec::new(),
        }
    }

    fn filter() -> Path {
        Path {
            how: How::Filter,
            ..Path::root()
        }
    }

    /// The path through a function or operator called `name`.
    fn through(&self, how: How, name: &str) -> Path {
        let mut p = self.clone();
        p.how = p.how.max(how);
        if p.how != How::Filter && !p.functions.iter().any(|f| f == name) {
            p.functions.push(name.to_string());
        }
        p
    }

    fn protected(mut self, kind: ProtectionKind, by: &str) -> Path {
        self.protected_by = Some(Protection {
            kind,
            by: by.to_string(),
        });
        self
    }
}

fn add(out: &mut Deps, origin: Origin, flow: Flow, functions: impl IntoIterator<Item = String>) {
    let flow = if flow.how == How::Filter {
        // Only values carry data; for a filter the path's details do not matter.
        Flow {
            how: How::Filter,
            protected_by: None,
        }
    } else {
        flow
    };
    let fs = out
        .entry(origin)
        .or_default()
        .entry(flow.clone())
        .or_default();
    if flow.how != How::Filter {
        fs.extend(functions);
    }
}

/// `deps` as seen at the end of `path`: each flow composed with the path.
fn compose(out: &mut Deps, deps: &Deps, path: &Path) {
    for (origin, flows) in deps {
        for (flow, functions) in flows {
            let composed = Flow {
                how: flow.how.max(path.how),
                // the innermost protection counts: it is the one nearest the data
                protected_by: flow.protected_by.clone().or(path.protected_by.clone()),
            };
            add(
                out,
                origin.clone(),
                composed,
                functions
                    .iter()
                    .cloned()
                    .chain(path.functions.iter().cloned()),
            );
        }
    }
}

fn merge(out: &mut Deps, deps: &Deps) {
    compose(out, deps, &Path::root());
}

fn as_filter(deps: &Deps) -> Deps {
    let mut out = Deps::new();
    compose(&mut out, deps, &Path::filter());
    out
}

/// A schema and the dependencies of its columns: what expressions of a node are resolved in.
struct Scope<'a> {
    schema: &'a DFSchema,
    cols: &'a [Deps],
}

/// The lineage of a plan's output columns (in schema order): value and row dependencies merged.
/// `tables` are the names of the project's models and sources: a table registered as a view
/// (a source read as of the run date, a published table, an unselected view) is inlined by
/// DataFusion's planner as its plan under an alias of its name, and that alias is where its
/// lineage stops.
pub fn columns(plan: &LogicalPlan, tables: &BTreeSet<String>) -> Vec<Deps> {
    let mut w = Walker {
        tables,
        ctes: HashMap::new(),
    };
    let node = w.plan(plan, &[]);
    let rows = as_filter(&node.rows);
    node.cols
        .into_iter()
        .map(|mut d| {
            merge(&mut d, &rows);
            d
        })
        .collect()
}

struct Walker<'a> {
    tables: &'a BTreeSet<String>,
    /// Recursive CTEs being walked: their work table reads as their static term.
    ctes: HashMap<String, Node>,
}

/// Each field of `schema` as a column of `table`, passed through.
fn scan_of(table: &str, schema: &DFSchema) -> Vec<Deps> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let mut d = Deps::new();
            add(
                &mut d,
                Origin {
                    table: table.to_string(),
                    column: f.name().clone(),
                },
                Flow {
                    how: How::Passthrough,
                    protected_by: None,
                },
                [],
            );
            d
        })
        .collect()
}

impl Walker<'_> {
    fn plan(&mut self, plan: &LogicalPlan, outer: &[&Scope]) -> Node {
        match plan {
            LogicalPlan::TableScan(scan) => {
                let table = scan.table_name.table().to_string();
                if let Some(cte) = self.ctes.get(&table) {
                    return cte.clone();
                }
                let cols = scan_of(&table, &scan.projected_schema);
                // Unoptimised plans carry no pushed-down filters: the Filter nodes above hold them.
                Node {
                    cols,
                    rows: Deps::new(),
                }
            }
            LogicalPlan::Projection(p) => {
                let input = self.plan(&p.input, outer);
                let scope = Scope {
                    schema: p.input.schema(),
                    cols: &input.cols,
                };
                let rows = input.rows.clone();
                let cols = p
                    .expr
                    .iter()
                    .map(|e| self.value(e, &scope, outer))
                    .collect();
                Node { cols, rows }
            }
            LogicalPlan::Filter(f) => {
                let input = self.plan(&f.input, outer);
                let scope = Scope {
                    schema: f.input.schema(),
                    cols: &input.cols,
                };
                let mut rows = input.rows.clone();
                self.expr(&f.predicate, &scope, outer, &Path::filter(), &mut rows);
                Node {
                    cols: input.cols.clone(),
                    rows,
                }
            }
            LogicalPlan::Join(j) => {
                let left = self.plan(&j.left, outer);
                let right = self.plan(&j.right, outer);
                let mut rows = left.rows.clone();
                merge(&mut rows, &right.rows);
                let ls = Scope {
                    schema: j.left.schema(),
                    cols: &left.cols,
                };
                let rs = Scope {
                    schema: j.right.schema(),
                    cols: &right.cols,
                };
                for (l, r) in &j.on {
                    self.expr(l, &ls, outer, &Path::filter(), &mut rows);
                    self.expr(r, &rs, outer, &Path::filter(), &mut rows);
                }
                let both: Vec<Deps> = left.cols.iter().chain(&right.cols).cloned().collect();
                if let Some(filter) = &j.filter
                    && let Ok(joined) = j.left.schema().join(j.right.schema())
                {
                    let scope = Scope {
                        schema: &joined,
                        cols: &both,
                    };
                    self.expr(filter, &scope, outer, &Path::filter(), &mut rows);
                }
                let cols = match j.join_type {
                    JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full => {
                        both.clone()
                    }
                    JoinType::LeftSemi | JoinType::LeftAnti => left.cols.clone(),
                    JoinType::RightSemi | JoinType::RightAnti => right.cols.clone(),
                    // the mark column says whether a match exists: a row dependency only
                    JoinType::LeftMark => left.cols.iter().cloned().chain([Deps::new()]).collect(),
                    JoinType::RightMark => {
                        right.cols.iter().cloned().chain([Deps::new()]).collect()
                    }
                };
                Node {
                    cols: fit(cols, j.schema.fields().len(), &both),
                    rows,
                }
            }
            LogicalPlan::Aggregate(a) => {
                let input = self.plan(&a.input, outer);
                let scope = Scope {
                    schema: a.input.schema(),
                    cols: &input.cols,
                };
                let mut rows = input.rows.clone();
                let groups: Vec<&Expr> = grouping_set_to_exprlist(&a.group_expr)
                    .unwrap_or_else(|_| a.group_expr.iter().collect());
                let mut cols: Vec<Deps> = Vec::new();
                for g in &groups {
                    let d = self.value(g, &scope, outer);
                    // what is grouped on decides which rows come out
                    merge(&mut rows, &as_filter(&d));
                    cols.push(d);
                }
                let aggs: Vec<Deps> = a
                    .aggr_expr
                    .iter()
                    .map(|e| self.value(e, &scope, outer))
                    .collect();
                // grouping sets add `__grouping_id` after the group columns
                let width = a.schema.fields().len();
                if width == cols.len() + aggs.len() + 1 {
                    cols.push(Deps::new());
                }
                cols.extend(aggs);
                let all = input.cols.clone();
                Node {
                    cols: fit(cols, width, &all),
                    rows,
                }
            }
            LogicalPlan::Window(w) => {
                let input = self.plan(&w.input, outer);
                let scope = Scope {
                    schema: w.input.schema(),
                    cols: &input.cols,
                };
                let rows = input.rows.clone();
                let mut cols = input.cols.clone();
                for e in &w.window_expr {
                    let d = self.value(e, &scope, outer);
                    cols.push(d);
                }
                Node { cols, rows }
            }
            LogicalPlan::Sort(s) => {
                let input = self.plan(&s.input, outer);
                let mut rows = input.rows.clone();
                if s.fetch.is_some() {
                    // a top-N: the sort keys decide which rows survive
                    let scope = Scope {
                        schema: s.input.schema(),
                        cols: &input.cols,
                    };
                    for k in &s.expr {
                        self.expr(&k.expr, &scope, outer, &Path::filter(), &mut rows);
                    }
                }
                Node {
                    cols: input.cols.clone(),
                    rows,
                }
            }
            LogicalPlan::Distinct(Distinct::On(d)) => {
                let input = self.plan(&d.input, outer);
                let scope = Scope {
                    schema: d.input.schema(),
                    cols: &input.cols,
                };
                let mut rows = input.rows.clone();
                for e in &d.on_expr {
                    self.expr(e, &scope, outer, &Path::filter(), &mut rows);
                }
                for s in d.sort_expr.iter().flatten() {
                    self.expr(&s.expr, &scope, outer, &Path::filter(), &mut rows);
                }
                let cols = d
                    .select_expr
                    .iter()
                    .map(|e| self.value(e, &scope, outer))
                    .collect();
                Node { cols, rows }
            }
            LogicalPlan::Union(u) => {
                let mut node = Node {
                    cols: vec![Deps::new(); u.schema.fields().len()],
                    rows: Deps::new(),
                };
                for input in &u.inputs {
                    let n = self.plan(input, outer);
                    merge(&mut node.rows, &n.rows);
                    for (i, d) in n.cols.iter().enumerate().take(node.cols.len()) {
                        merge(&mut node.cols[i], d);
                    }
                }
                node
            }
            LogicalPlan::Unnest(u) => {
                let input = self.plan(&u.input, outer);
                let unnested: BTreeSet<usize> = u
                    .list_type_columns
                    .iter()
                    .map(|(i, _)| *i)
                    .chain(u.struct_type_columns.iter().copied())
                    .collect();
                let cols = u
                    .dependency_indices
                    .iter()
                    .map(|i| {
                        let d = input.cols.get(*i).cloned().unwrap_or_default();
                        if unnested.contains(i) {
                            let mut out = Deps::new();
                            compose(
                                &mut out,
                                &d,
                                &Path::root().through(How::Transform, "unnest"),
                            );
                            out
                        } else {
                            d
                        }
                    })
                    .collect();
                Node {
                    cols: fit(cols, u.schema.fields().len(), &input.cols),
                    rows: input.rows,
                }
            }
            LogicalPlan::Values(v) => {
                let empty = DFSchema::empty();
                let scope = Scope {
                    schema: &empty,
                    cols: &[],
                };
                let mut node = Node {
                    cols: vec![Deps::new(); v.schema.fields().len()],
                    rows: Deps::new(),
                };
                for row in &v.values {
                    for (i, e) in row.iter().enumerate().take(node.cols.len()) {
                        let d = self.value(e, &scope, outer);
                        merge(&mut node.cols[i], &d);
                    }
                }
                node
            }
            LogicalPlan::EmptyRelation(e) => Node {
                cols: vec![Deps::new(); e.schema.fields().len()],
                rows: Deps::new(),
            },
            LogicalPlan::RecursiveQuery(r) => {
                let base = self.plan(&r.static_term, outer);
                self.ctes.insert(r.name.clone(), base.clone());
                let step = self.plan(&r.recursive_term, outer);
                self.ctes.remove(&r.name);
                let mut node = base;
                merge(&mut node.rows, &step.rows);
                for (i, d) in step.cols.iter().enumerate().take(node.cols.len()) {
                    merge(&mut node.cols[i], d);
                }
                node
            }
            // A view of a project table, inlined: the table itself is the origin.
            LogicalPlan::SubqueryAlias(a) if self.tables.contains(a.alias.table()) => Node {
                cols: scan_of(a.alias.table(), &a.schema),
                rows: Deps::new(),
            },
            // Same columns, same order as the single input.
            LogicalPlan::SubqueryAlias(_)
            | LogicalPlan::Limit(_)
            | LogicalPlan::Distinct(Distinct::All(_))
            | LogicalPlan::Repartition(_)
            | LogicalPlan::Subquery(_) => {
                let inputs = plan.inputs();
                match inputs.first() {
                    Some(input) => {
                        let n = self.plan(input, outer);
                        let all = n.cols.clone();
                        Node {
                            cols: fit(n.cols, plan.schema().fields().len(), &all),
                            rows: n.rows,
                        }
                    }
                    None => Node {
                        cols: vec![Deps::new(); plan.schema().fields().len()],
                        rows: Deps::new(),
                    },
                }
            }
            // Anything else (extensions, statements a model cannot contain): every output
            // column depends on every input column, so nothing is missed.
            other => {
                let mut all = Deps::new();
                let mut rows = Deps::new();
                for input in other.inputs() {
                    let n = self.plan(input, outer);
                    for d in &n.cols {
                        compose(
                            &mut all,
                            d,
                            &Path::root().through(How::Transform, "plan node"),
                        );
                    }
                    merge(&mut rows, &n.rows);
                }
                Node {
                    cols: vec![all; other.schema().fields().len()],
                    rows,
                }
            }
        }
    }

    /// The value dependencies of one output expression; subqueries in it add row dependencies.
    /// A filter flow inside a value (a window's PARTITION BY, an aggregate's FILTER, a
    /// subquery's WHERE) is a dependency of that column only, so it stays with the column.
    fn value(&mut self, e: &Expr, scope: &Scope, outer: &[&Scope]) -> Deps {
        let mut out = Deps::new();
        self.expr(e, scope, outer, &Path::root(), &mut out);
        out
    }

    /// Adds what `e` reads, seen at the end of `path`, to `out`.
    fn expr(&mut self, e: &Expr, scope: &Scope, outer: &[&Scope], path: &Path, out: &mut Deps) {
        // A node that answers true or false carries no value of its inputs (`email is not
        // null`, `regexp_like(email, …)`, `a.birth_date = b.birth_date`).
        let path = &if !matches!(
            e,
            Expr::Column(_) | Expr::Alias(_) | Expr::OuterReferenceColumn(..)
        ) && is_boolean(e, scope.schema)
        {
            path.clone()
                .through(How::Transform, &node_name(e))
                .protected(ProtectionKind::Predicate, &node_name(e))
        } else {
            path.clone()
        };
        match e {
            Expr::Alias(a) => self.expr(&a.expr, scope, outer, path, out),
            Expr::Column(c) => self.column(c, scope, outer, path, out),
            Expr::OuterReferenceColumn(_, c) => self.outer_column(c, scope, outer, path, out),
            Expr::Literal(..) | Expr::ScalarVariable(..) | Expr::Placeholder(_) => {}
            Expr::BinaryExpr(b) => {
                let p = if matches!(b.op, Operator::And | Operator::Or) {
                    path.clone()
                } else {
                    path.through(How::Transform, &b.op.to_string())
                };
                self.expr(&b.left, scope, outer, &p, out);
                self.expr(&b.right, scope, outer, &p, out);
            }
            Expr::Cast(c) => self.expr(
                &c.expr,
                scope,
                outer,
                &path.through(How::Transform, "cast"),
                out,
            ),
            Expr::TryCast(c) => self.expr(
                &c.expr,
                scope,
                outer,
                &path.through(How::Transform, "try_cast"),
                out,
            ),
            Expr::ScalarFunction(f) => {
                let name = f.func.name();
                let mut p = path.through(How::Transform, name);
                if HASH_FUNCTIONS.contains(&name) {
                    p = p.protected(ProtectionKind::Hash, name);
                }
                for a in &f.args {
                    self.expr(a, scope, outer, &p, out);
                }
            }
            Expr::AggregateFunction(AggregateFunction { func, params }) => {
                let name = func.name();
                let mut p = path.through(How::Aggregate, name);
                if SAFE_AGGREGATES.contains(&name) {
                    p = p.protected(ProtectionKind::Aggregate, name);
                }
                for a in &params.args {
                    self.expr(a, scope, outer, &p, out);
                }
                if let Some(f) = &params.filter {
                    self.expr(f, scope, outer, &Path::filter(), out);
                }
                for s in &params.order_by {
                    self.expr(&s.expr, scope, outer, &Path::filter(), out);
                }
            }
            Expr::WindowFunction(w) => {
                let WindowFunction { fun, params } = w.as_ref();
                let name = fun.name();
                let mut p = path.through(How::Aggregate, name);
                if SAFE_AGGREGATES.contains(&name) {
                    p = p.protected(ProtectionKind::Aggregate, name);
                }
                for a in &params.args {
                    self.expr(a, scope, outer, &p, out);
                }
                for e in &params.partition_by {
                    self.expr(e, scope, outer, &Path::filter(), out);
                }
                for s in &params.order_by {
                    self.expr(&s.expr, scope, outer, &Path::filter(), out);
                }
                if let Some(f) = &params.filter {
                    self.expr(f, scope, outer, &Path::filter(), out);
                }
            }
            Expr::Case(c) => {
                // Conditions choose a branch; their values never reach the output.
                let cond = path
                    .through(How::Transform, "case")
                    .protected(ProtectionKind::Condition, "case");
                if let Some(base) = &c.expr {
                    self.expr(base, scope, outer, &cond, out);
                }
                let branch = path.through(How::Transform, "case");
                for (w, t) in &c.when_then_expr {
                    self.expr(w, scope, outer, &cond, out);
                    self.expr(t, scope, outer, &branch, out);
                }
                if let Some(e) = &c.else_expr {
                    self.expr(e, scope, outer, &branch, out);
                }
            }
            Expr::ScalarSubquery(s) => {
                let node = self.subquery(s, scope, outer);
                if let Some(first) = node.cols.first() {
                    compose(out, first, &path.through(How::Transform, "subquery"));
                }
                compose(out, &node.rows, &Path::filter());
            }
            Expr::Exists(Exists { subquery, .. }) => {
                let node = self.subquery(subquery, scope, outer);
                compose(out, &node.rows, &Path::filter());
                for d in &node.cols {
                    compose(out, d, &Path::filter());
                }
            }
            Expr::InSubquery(InSubquery { expr, subquery, .. })
            | Expr::SetComparison(SetComparison { expr, subquery, .. }) => {
                self.expr(expr, scope, outer, path, out);
                let node = self.subquery(subquery, scope, outer);
                for d in &node.cols {
                    compose(out, d, path);
                }
                compose(out, &node.rows, &Path::filter());
            }
            // Everything else (LIKE, IN lists, BETWEEN, IS NULL, NOT, negation, unnest,
            // lambdas…): a transformation of what it reads, named after the expression.
            other => {
                let p = path.through(How::Transform, &node_name(other));
                let _ = other.apply_children(|child| {
                    self.expr(child, scope, outer, &p, out);
                    Ok(TreeNodeRecursion::Continue)
                });
            }
        }
    }

    fn subquery(&mut self, s: &Subquery, scope: &Scope, outer: &[&Scope]) -> Node {
        let mut scopes: Vec<&Scope> = Vec::with_capacity(outer.len() + 1);
        scopes.push(scope);
        scopes.extend_from_slice(outer);
        self.plan(&s.subquery, &scopes)
    }

    fn column(&mut self, c: &Column, scope: &Scope, outer: &[&Scope], path: &Path, out: &mut Deps) {
        match index_of(scope.schema, c) {
            Some(i) if i < scope.cols.len() => compose(out, &scope.cols[i], path),
            _ => self.outer_column(c, scope, outer, path, out),
        }
    }

    fn outer_column(
        &mut self,
        c: &Column,
        scope: &Scope,
        outer: &[&Scope],
        path: &Path,
        out: &mut Deps,
    ) {
        for s in outer {
            if let Some(i) = index_of(s.schema, c)
                && i < s.cols.len()
            {
                compose(out, &s.cols[i], path);
                return;
            }
        }
        // Unresolved: depend on everything in scope rather than miss a dependency.
        tracing::debug!(column = %c, "lineage: column not resolved; counting every column in scope");
        for d in scope.cols {
            compose(out, d, &path.through(How::Transform, "unresolved"));
        }
    }
}

fn index_of(schema: &DFSchema, c: &Column) -> Option<usize> {
    schema.maybe_index_of_column(c).or_else(|| {
        // a qualifier the node dropped (an aggregate's output): the name, if it is unique
        let mut hits = schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| f.name() == &c.name)
            .map(|(i, _)| i);
        match (hits.next(), hits.next()) {
            (Some(i), None) => Some(i),
            _ => None,
        }
    })
}

/// `cols`, padded or cut to `width`; padding depends on `fallback` (every input column).
fn fit(mut cols: Vec<Deps>, width: usize, fallback: &[Deps]) -> Vec<Deps> {
    if cols.len() != width {
        let mut all = Deps::new();
        for d in fallback {
            compose(
                &mut all,
                d,
                &Path::root().through(How::Transform, "unresolved"),
            );
        }
        cols.resize(width, all);
    }
    cols
}

fn is_boolean(e: &Expr, schema: &DFSchema) -> bool {
    match e {
        Expr::Exists(_) | Expr::InSubquery(_) | Expr::SetComparison(_) => true,
        Expr::Literal(..) => false,
        _ => matches!(e.get_type(schema), Ok(DataType::Boolean)),
    }
}

/// A short name for an expression node, for the `functions` of a dependency.
fn node_name(e: &Expr) -> String {
    match e {
        Expr::BinaryExpr(b) => b.op.to_string(),
        Expr::ScalarFunction(f) => f.func.name().to_string(),
        Expr::AggregateFunction(f) => f.func.name().to_string(),
        Expr::WindowFunction(w) => w.fun.name().to_string(),
        Expr::Like(l) => match (l.negated, l.case_insensitive) {
            (false, false) => "like",
            (true, false) => "not like",
            (false, true) => "ilike",
            (true, true) => "not ilike",
        }
        .to_string(),
        Expr::SimilarTo(_) => "similar to".into(),
        Expr::Not(_) => "not".into(),
        Expr::IsNull(_) => "is null".into(),
        Expr::IsNotNull(_) => "is not null".into(),
        Expr::IsTrue(_) => "is true".into(),
        Expr::IsFalse(_) => "is false".into(),
        Expr::IsUnknown(_) => "is unknown".into(),
        Expr::IsNotTrue(_) => "is not true".into(),
        Expr::IsNotFalse(_) => "is not false".into(),
        Expr::IsNotUnknown(_) => "is not unknown".into(),
        Expr::Between(_) => "between".into(),
        Expr::InList(_) => "in".into(),
        Expr::Exists(_) => "exists".into(),
        Expr::InSubquery(_) => "in".into(),
        Expr::SetComparison(s) => format!("{} any/all", s.op),
        Expr::Negative(_) => "-".into(),
        Expr::Case(_) => "case".into(),
        Expr::Cast(_) => "cast".into(),
        Expr::TryCast(_) => "try_cast".into(),
        Expr::Unnest(_) => "unnest".into(),
        Expr::ScalarSubquery(_) => "subquery".into(),
        other => other.variant_name().to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;
    use std::sync::Arc;

    /// Plans `sql` over `t(id, email, amount, day)` and `u(id, name)`; returns each output
    /// column's dependencies as `table.column how [protection]` strings.
    async fn lineage(sql: &str) -> Vec<(String, Vec<String>)> {
        let ctx = SessionContext::new();
        for udf in crate::functions::scalar_udfs() {
            ctx.register_udf(udf);
        }
        let t = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("email", DataType::Utf8, true),
            Field::new("amount", DataType::Float64, true),
            Field::new("day", DataType::Date32, true),
        ]));
        let u = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        ctx.register_table("t", Arc::new(MemTable::try_new(t, vec![vec![]]).unwrap()))
            .unwrap();
        ctx.register_table("u", Arc::new(MemTable::try_new(u, vec![vec![]]).unwrap()))
            .unwrap();
        let df = ctx.sql(sql).await.unwrap();
        let plan = df.logical_plan();
        let tables = ["t", "u"].iter().map(|s| s.to_string()).collect();
        let cols = columns(plan, &tables);
        plan.schema()
            .fields()
            .iter()
            .zip(cols)
            .map(|(f, d)| {
                let mut out = Vec::new();
                for (o, flows) in d {
                    for flow in flows.keys() {
                        let p = match &flow.protected_by {
                            Some(p) => format!(" [{:?} {}]", p.kind, p.by),
                            None => String::new(),
                        };
                        out.push(format!("{}.{} {}{p}", o.table, o.column, flow.how.as_str()));
                    }
                }
                (f.name().clone(), out)
            })
            .collect()
    }

    fn of<'a>(cols: &'a [(String, Vec<String>)], name: &str) -> &'a [String] {
        &cols.iter().find(|(n, _)| n == name).unwrap().1
    }

    #[tokio::test]
    async fn passthrough_transform_and_filters() {
        let cols = lineage(
            "select id as key, upper(email) as e, amount * 2 as a2 from t where day > DATE '2026-01-01'",
        )
        .await;
        assert_eq!(of(&cols, "key"), ["t.day filter", "t.id passthrough"]);
        assert_eq!(of(&cols, "e"), ["t.day filter", "t.email transform"]);
        assert_eq!(of(&cols, "a2"), ["t.amount transform", "t.day filter"]);
    }

    #[tokio::test]
    async fn joins_aggregates_and_ctes() {
        let cols = lineage(
            "with x as (select t.id, u.name, t.amount from t join u on u.id = t.id)
             select name, sum(amount) as total, count(distinct id) as n, max(name) as top from x group by name",
        )
        .await;
        let name = of(&cols, "name");
        assert!(name.contains(&"u.name passthrough".to_string()), "{name:?}");
        assert!(
            name.contains(&"t.id filter".to_string()) && name.contains(&"u.id filter".to_string()),
            "{name:?}"
        );
        let total = of(&cols, "total");
        assert!(
            total.contains(&"t.amount aggregate".to_string()),
            "{total:?}"
        );
        assert!(
            total.contains(&"u.name filter".to_string()),
            "group key: {total:?}"
        );
        assert!(of(&cols, "n").contains(&"t.id aggregate [Aggregate count]".to_string()));
        // max returns one of its inputs: no protection
        assert!(of(&cols, "top").contains(&"u.name aggregate".to_string()));
    }

    #[tokio::test]
    async fn protection_is_per_path() {
        let cols = lineage(
            "select sha256_hex(email) as h, sha256_hex(email) || email as mixed,
                    email is not null as has_email,
                    case when email like '%@x.fr' then 'x' else 'other' end as kind,
                    case when amount > 0 then email end as maybe
             from t",
        )
        .await;
        assert_eq!(of(&cols, "h"), ["t.email transform [Hash sha256_hex]"]);
        let mixed = of(&cols, "mixed");
        assert!(
            mixed.contains(&"t.email transform [Hash sha256_hex]".to_string()),
            "{mixed:?}"
        );
        assert!(
            mixed.contains(&"t.email transform".to_string()),
            "{mixed:?}"
        );
        assert_eq!(
            of(&cols, "has_email"),
            ["t.email transform [Predicate is not null]"]
        );
        assert_eq!(of(&cols, "kind"), ["t.email transform [Predicate like]"]);
        let maybe = of(&cols, "maybe");
        assert!(
            maybe.contains(&"t.email transform".to_string()),
            "{maybe:?}"
        );
        assert!(
            maybe.contains(&"t.amount transform [Predicate >]".to_string()),
            "{maybe:?}"
        );
    }

    #[tokio::test]
    async fn windows_unions_unnest_and_subqueries() {
        let cols = lineage(
            "select id, row_number() over (partition by email order by day) as rn,
                    first_value(email) over (partition by id order by day) as first_email
             from t
             union all
             select id, 1, name from u where id in (select id from t where amount > 0)",
        )
        .await;
        let id = of(&cols, "id");
        assert!(
            id.contains(&"t.id passthrough".to_string())
                && id.contains(&"u.id passthrough".to_string()),
            "{id:?}"
        );
        assert!(
            id.contains(&"t.amount filter".to_string()),
            "subquery filter: {id:?}"
        );
        let rn = of(&cols, "rn");
        assert!(
            rn.contains(&"t.email filter".to_string())
                && !rn.iter().any(|d| d.starts_with("t.email aggregate")),
            "{rn:?}"
        );
        let fe = of(&cols, "first_email");
        assert!(
            fe.contains(&"t.email aggregate".to_string())
                && fe.contains(&"u.name passthrough".to_string()),
            "{fe:?}"
        );

        let cols = lineage("select id, unnest(make_array(email, name)) as v from (select t.id, t.email, u.name from t join u on t.id = u.id)").await;
        let v = of(&cols, "v");
        assert!(
            v.contains(&"t.email transform".to_string())
                && v.contains(&"u.name transform".to_string()),
            "{v:?}"
        );

        let cols =
            lineage("select id, (select max(name) from u where u.id = t.id) as n from t").await;
        let n = of(&cols, "n");
        assert!(n.contains(&"u.name aggregate".to_string()), "{n:?}");
        assert!(n.contains(&"t.id filter".to_string()), "correlated: {n:?}");
    }
}
