//! The site's charts: each `docs.charts` spec ([`crate::config::docs::ChartSpec`]) becomes one
//! aggregate query over a published table, read through its commit record (or Delta log) with
//! DataFusion, and its result the categories and series the page draws. Only aggregates leave
//! the warehouse: a bar or line is one value per category and series, a histogram one count
//! per bin, so no row of a table reaches the page. A chart that cannot be drawn (its table was
//! never published, a column is missing, the expression does not plan) gets a note saying why,
//! and the site is written anyway.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::config::docs::{Agg, ChartKind, ChartSpec, ValueFormat};
use crate::project::Project;
use crate::storage::StorageRoot;

/// Most series drawn in one chart; more would be unreadable colours.
pub const MAX_SERIES: usize = 12;
/// Most points on a line chart.
pub const MAX_POINTS: usize = 1000;
/// Bins of a histogram whose values are not a short run of integers.
pub const HISTOGRAM_BINS: usize = 20;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SeriesView {
    pub name: String,
    /// One value per category; `None` where the query returned none.
    pub values: Vec<Option<f64>>,
}

/// One chart as the page draws it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChartView {
    pub name: String,
    pub title: String,
    pub description: Option<String>,
    pub table: String,
    pub kind: ChartKind,
    pub format: ValueFormat,
    pub x_label: String,
    pub y_label: String,
    pub categories: Vec<String>,
    pub series: Vec<SeriesView>,
    /// What was left out (categories beyond the limit, …).
    pub note: Option<String>,
    /// Why the chart is not drawn; `None` when it is.
    pub unavailable: Option<String>,
    /// The query the values came from.
    pub sql: String,
}

fn is_column(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A spec's column or expression as SQL: a bare name is quoted (so `date` or `model` are
/// columns, not keywords), anything else is the user's expression in parentheses.
fn expr(s: &str) -> String {
    if is_column(s) {
        ident(s)
    } else {
        format!("({s})")
    }
}

fn y_expr(y: &str, agg: Agg) -> String {
    if is_column(y) {
        format!("{}({})", agg.sql(), ident(y))
    } else {
        format!("({y})")
    }
}

fn filter(spec: &ChartSpec) -> String {
    spec.filter
        .as_ref()
        .map(|f| format!(" WHERE ({f})"))
        .unwrap_or_default()
}

/// The query of a bar or line chart: columns `k` (the x value, for ordering), `x` and `s`
/// (text) and one `y<i>` per value.
pub fn series_sql(spec: &ChartSpec) -> String {
    let x = expr(spec.x.as_deref().unwrap_or_default());
    let s = spec.series.as_deref().map(expr);
    let ys: Vec<String> = spec
        .y
        .iter()
        .enumerate()
        .map(|(i, y)| format!("CAST({} AS DOUBLE) AS \"y{i}\"", y_expr(y, spec.agg)))
        .collect();
    let (s_sel, s_group) = match &s {
        Some(s) => (format!("CAST({s} AS VARCHAR) AS \"s\""), format!(", {s}")),
        None => ("CAST(NULL AS VARCHAR) AS \"s\"".to_string(), String::new()),
    };
    format!(
        "SELECT {x} AS \"k\", CAST({x} AS VARCHAR) AS \"x\", {s_sel}, {} FROM {}{} GROUP BY {x}{s_group} ORDER BY \"k\" NULLS LAST, \"s\" NULLS LAST",
        ys.join(", "),
        ident(&spec.table),
        filter(spec)
    )
}

/// The values a histogram bins: a column or expression, or the row count per `count_by` key.
fn histogram_values_sql(spec: &ChartSpec) -> String {
    match (&spec.count_by, &spec.x) {
        (Some(by), _) => format!(
            "SELECT CAST(count(*) AS DOUBLE) AS \"v\" FROM {}{} GROUP BY {}",
            ident(&spec.table),
            filter(spec),
            expr(by)
        ),
        (None, x) => format!(
            "SELECT CAST({} AS DOUBLE) AS \"v\" FROM {}{}",
            expr(x.as_deref().unwrap_or_default()),
            ident(&spec.table),
            filter(spec)
        ),
    }
}

/// Values a histogram can bin: not null, not NaN, not infinite.
const FINITE: &str = "\"v\" IS NOT NULL AND NOT isnan(\"v\") AND abs(\"v\") < 1e308";

/// Histogram bins: `(label, lower bound)` for a value range. A short run of integers (group
/// sizes, counts) gets one bin per integer, or per block of integers when the run is longer
/// than [`HISTOGRAM_BINS`]; other values get equal-width bins.
pub fn bins(min: f64, max: f64, integers: bool) -> (f64, f64, Vec<String>) {
    if integers {
        let span = (max - min) as u64 + 1;
        let width = span.div_ceil(HISTOGRAM_BINS as u64).max(1);
        let n = span.div_ceil(width);
        let labels = (0..n)
            .map(|i| {
                let lo = min as i64 + (i * width) as i64;
                let hi = lo + width as i64 - 1;
                if width == 1 {
                    lo.to_string()
                } else {
                    format!("{lo}–{hi}")
                }
            })
            .collect();
        (min, width as f64, labels)
    } else {
        let width = if max > min {
            (max - min) / HISTOGRAM_BINS as f64
        } else {
            1.0
        };
        let n = if max > min { HISTOGRAM_BINS } else { 1 };
        let labels = (0..n)
            .map(|i| {
                let lo = min + i as f64 * width;
                format!("{}–{}", short(lo), short(lo + width))
            })
            .collect();
        (min, width, labels)
    }
}

fn short(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(0.01..1e6).contains(&a) {
        format!("{v:.2e}")
    } else if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.2}")
    }
}

/// Collects the rows of a query, every column cast to text or double.
async fn collect(
    ctx: &SessionContext,
    sql: &str,
) -> std::result::Result<Vec<datafusion::arrow::record_batch::RecordBatch>, String> {
    let opts = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let df = ctx
        .sql_with_options(sql, opts)
        .await
        .map_err(|e| e.strip_backtrace())?;
    df.collect().await.map_err(|e| e.strip_backtrace())
}

fn texts(a: &dyn Array) -> std::result::Result<Vec<Option<String>>, String> {
    let a = arrow::compute::cast(a, &DataType::Utf8).map_err(|e| e.to_string())?;
    let a = a.as_string::<i32>();
    Ok((0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
        .collect())
}

fn doubles(a: &dyn Array) -> std::result::Result<Vec<Option<f64>>, String> {
    let a = arrow::compute::cast(a, &DataType::Float64).map_err(|e| e.to_string())?;
    let a = a.as_primitive::<Float64Type>();
    Ok((0..a.len())
        .map(|i| (a.is_valid(i) && a.value(i).is_finite()).then(|| a.value(i)))
        .collect())
}

fn empty_view(spec: &ChartSpec) -> ChartView {
    let y_label = if spec.kind == ChartKind::Histogram {
        if spec.count_by.is_some() {
            "groups".to_string()
        } else {
            "rows".to_string()
        }
    } else if spec.labels.len() == 1 {
        spec.labels[0].clone()
    } else if spec.y.len() == 1 {
        let y = &spec.y[0];
        if is_column(y) {
            format!("{}({y})", spec.agg.sql())
        } else {
            y.clone()
        }
    } else {
        String::new()
    };
    let x_label = match (&spec.count_by, &spec.x) {
        (Some(by), _) => format!("rows per {by}"),
        (None, Some(x)) => x.clone(),
        (None, None) => String::new(),
    };
    ChartView {
        name: spec.name.clone(),
        title: spec.title.clone(),
        description: spec.description.clone(),
        table: spec.table.clone(),
        kind: spec.kind,
        format: spec.format,
        x_label,
        y_label,
        categories: Vec::new(),
        series: Vec::new(),
        note: None,
        unavailable: None,
        sql: String::new(),
    }
}

/// Draws one chart from the tables registered in `ctx`; `columns` are the table's columns.
pub async fn render(ctx: &SessionContext, spec: &ChartSpec, columns: &[String]) -> ChartView {
    let mut view = empty_view(spec);
    // Bare column names are checked against the table first: their message can list what the
    // table has, which DataFusion's does not.
    let named = spec
        .x
        .iter()
        .chain(spec.series.iter())
        .chain(spec.count_by.iter())
        .chain(spec.y.iter())
        .filter(|c| is_column(c));
    for c in named {
        if !columns.iter().any(|k| k == c) {
            view.unavailable = Some(format!(
                "`{}` has no column `{c}` (it has {}); adjust `docs.charts` `{}` in pipelines.yaml",
                spec.table,
                columns.join(", "),
                spec.name
            ));
            return view;
        }
    }
    let outcome = match spec.kind {
        ChartKind::Bar | ChartKind::Line => fill_series(ctx, spec, &mut view).await,
        ChartKind::Histogram => fill_histogram(ctx, spec, &mut view).await,
    };
    if let Err(e) = outcome {
        view.unavailable = Some(format!("the query over `{}` failed: {e}", spec.table));
        view.categories.clear();
        view.series.clear();
    } else if view.categories.is_empty() {
        view.unavailable = Some(format!("`{}` has no rows to chart", spec.table));
    }
    view
}

async fn fill_series(
    ctx: &SessionContext,
    spec: &ChartSpec,
    view: &mut ChartView,
) -> std::result::Result<(), String> {
    let sql = series_sql(spec);
    view.sql = sql.clone();
    let batches = collect(ctx, &sql).await?;
    let limit = match spec.kind {
        ChartKind::Line => MAX_POINTS,
        _ => spec.max_categories,
    };
    let mut categories: Vec<String> = Vec::new();
    let mut series_names: Vec<String> = Vec::new();
    // (series, category) -> one value per y
    let mut cells: BTreeMap<(usize, usize), Vec<Option<f64>>> = BTreeMap::new();
    let mut more_categories = 0usize;
    let mut more_series = 0usize;
    let mut seen_left_out: std::collections::BTreeSet<String> = Default::default();
    let mut seen_series_out: std::collections::BTreeSet<String> = Default::default();
    let multi = spec.y.len() > 1;
    for b in &batches {
        let xs = texts(b.column(1))?;
        let ss = texts(b.column(2))?;
        let ys: Vec<Vec<Option<f64>>> = (0..spec.y.len())
            .map(|i| doubles(b.column(3 + i)))
            .collect::<std::result::Result<_, _>>()?;
        for r in 0..b.num_rows() {
            let x = xs[r].clone().unwrap_or_else(|| "(null)".into());
            let ci = match categories.iter().position(|c| *c == x) {
                Some(i) => i,
                None if categories.len() < limit => {
                    categories.push(x);
                    categories.len() - 1
                }
                None => {
                    if seen_left_out.insert(x) {
                        more_categories += 1;
                    }
                    continue;
                }
            };
            let s = if multi {
                String::new()
            } else {
                ss[r].clone().unwrap_or_else(|| {
                    if spec.series.is_some() {
                        "(null)".into()
                    } else {
                        view.y_label.clone()
                    }
                })
            };
            let si = match series_names.iter().position(|n| *n == s) {
                Some(i) => i,
                None if series_names.len() < MAX_SERIES => {
                    series_names.push(s);
                    series_names.len() - 1
                }
                None => {
                    if seen_series_out.insert(s) {
                        more_series += 1;
                    }
                    continue;
                }
            };
            cells.insert((si, ci), ys.iter().map(|y| y[r]).collect());
        }
    }
    if multi {
        view.series = spec
            .y
            .iter()
            .enumerate()
            .map(|(i, y)| SeriesView {
                name: spec.labels.get(i).cloned().unwrap_or_else(|| y.clone()),
                values: (0..categories.len())
                    .map(|c| cells.get(&(0, c)).and_then(|v| v[i]))
                    .collect(),
            })
            .collect();
    } else {
        // series in name order, whatever order the rows came in
        let mut named: Vec<(usize, String)> = series_names.into_iter().enumerate().collect();
        named.sort_by(|a, b| a.1.cmp(&b.1));
        view.series = named
            .into_iter()
            .map(|(si, name)| SeriesView {
                name,
                values: (0..categories.len())
                    .map(|c| cells.get(&(si, c)).and_then(|v| v[0]))
                    .collect(),
            })
            .collect();
    }
    view.categories = categories;
    let mut notes = Vec::new();
    if more_categories > 0 {
        notes.push(format!(
            "{more_categories} more `{}` values not shown (max_categories: {limit})",
            spec.x.as_deref().unwrap_or_default()
        ));
    }
    if more_series > 0 {
        notes.push(format!(
            "{more_series} more series not shown (at most {MAX_SERIES})"
        ));
    }
    view.note = (!notes.is_empty()).then(|| notes.join("; "));
    Ok(())
}

async fn fill_histogram(
    ctx: &SessionContext,
    spec: &ChartSpec,
    view: &mut ChartView,
) -> std::result::Result<(), String> {
    let values = histogram_values_sql(spec);
    let stats_sql = format!(
        "SELECT min(\"v\"), max(\"v\"), count(\"v\"), sum(CASE WHEN \"v\" <> floor(\"v\") THEN 1 ELSE 0 END) FROM ({values}) WHERE {FINITE}"
    );
    let stats = collect(ctx, &stats_sql).await?;
    let b = stats.first().ok_or("no statistics row")?;
    let min = doubles(b.column(0))?[0];
    let max = doubles(b.column(1))?[0];
    let fractional = doubles(b.column(3))?[0].unwrap_or(0.0) > 0.0;
    let (Some(min), Some(max)) = (min, max) else {
        view.sql = values;
        return Ok(());
    };
    let (lo, width, labels) = bins(min, max, !fractional);
    let last = labels.len() as i64 - 1;
    let sql = format!(
        "SELECT least(CAST(floor((\"v\" - {lo:?}) / {width:?}) AS BIGINT), {last}) AS \"b\", count(*) AS \"n\" FROM ({values}) WHERE {FINITE} GROUP BY 1 ORDER BY 1"
    );
    view.sql = sql.clone();
    let mut counts = vec![Some(0.0); labels.len()];
    for b in collect(ctx, &sql).await? {
        let bins = doubles(b.column(0))?;
        let ns = doubles(b.column(1))?;
        for (bin, n) in bins.into_iter().zip(ns) {
            if let (Some(bin), Some(n)) = (bin, n) {
                let i = (bin.max(0.0) as usize).min(labels.len() - 1);
                counts[i] = Some(counts[i].unwrap_or(0.0) + n);
            }
        }
    }
    view.categories = labels;
    view.series = vec![SeriesView {
        name: view.y_label.clone(),
        values: counts,
    }];
    Ok(())
}

/// Draws every chart of the project, registering each table from the warehouse once.
pub async fn render_all(
    ctx: &SessionContext,
    wh: &StorageRoot,
    project: &Project,
) -> Vec<ChartView> {
    let mut columns_of: BTreeMap<String, std::result::Result<Vec<String>, String>> =
        BTreeMap::new();
    let mut out = Vec::new();
    for spec in &project.config.docs.charts {
        if !columns_of.contains_key(&spec.table) {
            let got = register(ctx, wh, project, &spec.table).await;
            columns_of.insert(spec.table.clone(), got);
        }
        match &columns_of[&spec.table] {
            Ok(cols) => out.push(render(ctx, spec, cols).await),
            Err(why) => {
                let mut v = empty_view(spec);
                v.unavailable = Some(why.clone());
                out.push(v);
            }
        }
    }
    out
}

/// Registers published table `table` and returns its columns, or why it cannot be read.
async fn register(
    ctx: &SessionContext,
    wh: &StorageRoot,
    project: &Project,
    table: &str,
) -> std::result::Result<Vec<String>, String> {
    if let Some(m) = project.graph.models.get(table)
        && !m.settings.is_published()
    {
        return Err(format!(
            "`{table}` is a {} model, not a published table: charts read published tables only",
            m.settings.materialization.as_str()
        ));
    }
    let record = crate::publish::read_published(wh, table)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "`{table}` has not been published to {} yet; run it (`parcours run --select +{table}`)",
                wh.url
            )
        })?;
    let url = wh.folder_url(table).map_err(|e| e.to_string())?;
    crate::catalog::register_published(ctx, table, &url, &record)
        .await
        .map_err(|e| e.to_string())?;
    let df = ctx.table(table).await.map_err(|e| e.strip_backtrace())?;
    Ok(df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use arrow::record_batch::RecordBatch;
    use std::sync::Arc;

    fn spec(kind: ChartKind) -> ChartSpec {
        ChartSpec {
            name: "c".into(),
            title: "C".into(),
            description: None,
            table: "t".into(),
            kind,
            x: Some("channel".into()),
            y: vec!["share".into()],
            labels: Vec::new(),
            series: Some("model".into()),
            agg: Agg::Sum,
            filter: None,
            count_by: None,
            format: ValueFormat::Number,
            max_categories: 40,
        }
    }

    fn ctx() -> SessionContext {
        let ctx = SessionContext::new();
        let schema = Arc::new(Schema::new(vec![
            Field::new("channel", DataType::Utf8, true),
            Field::new("model", DataType::Utf8, false),
            Field::new("share", DataType::Float64, true),
            Field::new("person", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![
                    Some("search"),
                    Some("email"),
                    Some("search"),
                    Some("email"),
                    None,
                ])),
                Arc::new(StringArray::from(vec![
                    "last", "last", "first", "first", "first",
                ])),
                Arc::new(Float64Array::from(vec![0.6, 0.4, 0.3, 0.5, 0.2])),
                Arc::new(Int64Array::from(vec![1, 1, 1, 2, 3])),
            ],
        )
        .unwrap();
        ctx.register_batch("t", batch).unwrap();
        ctx
    }

    fn cols() -> Vec<String> {
        ["channel", "model", "share", "person"]
            .map(String::from)
            .to_vec()
    }

    #[tokio::test]
    async fn a_bar_chart_is_one_value_per_category_and_series() {
        let v = render(&ctx(), &spec(ChartKind::Bar), &cols()).await;
        assert_eq!(v.unavailable, None);
        assert_eq!(v.categories, ["email", "search", "(null)"]);
        assert_eq!(v.series.len(), 2);
        assert_eq!(v.series[0].name, "first");
        assert_eq!(v.series[0].values, [Some(0.5), Some(0.3), Some(0.2)]);
        assert_eq!(v.series[1].values, [Some(0.4), Some(0.6), None]);
    }

    #[tokio::test]
    async fn several_y_values_are_the_series_and_expressions_aggregate() {
        let mut s = spec(ChartKind::Line);
        s.series = None;
        s.x = Some("model".into());
        s.y = vec!["share".into(), "max(share) - min(share)".into()];
        s.labels = vec!["total".into(), "spread".into()];
        let v = render(&ctx(), &s, &cols()).await;
        assert_eq!(v.categories, ["first", "last"]);
        assert_eq!(v.series[0].name, "total");
        let total = v.series[0].values[0].unwrap();
        assert!((total - 1.0).abs() < 1e-12, "{total}");
        let spread = v.series[1].values[1].unwrap();
        assert!((spread - 0.2).abs() < 1e-12, "{spread}");
    }

    #[tokio::test]
    async fn a_missing_column_or_bad_expression_is_a_note_not_an_error() {
        let mut s = spec(ChartKind::Bar);
        s.y = vec!["roas".into()];
        let v = render(&ctx(), &s, &cols()).await;
        let why = v.unavailable.unwrap();
        assert!(
            why.contains("no column `roas`") && why.contains("share"),
            "{why}"
        );
        s.y = vec!["sum(nope) / 2".into()];
        let v = render(&ctx(), &s, &cols()).await;
        assert!(v.unavailable.unwrap().contains("nope"));
        assert!(v.series.is_empty());
    }

    #[tokio::test]
    async fn categories_beyond_the_limit_are_counted_in_a_note() {
        let mut s = spec(ChartKind::Bar);
        s.max_categories = 1;
        let v = render(&ctx(), &s, &cols()).await;
        assert_eq!(v.categories, ["email"]);
        assert!(v.note.unwrap().contains("2 more"));
    }

    #[tokio::test]
    async fn a_histogram_of_group_sizes_counts_groups() {
        let mut s = spec(ChartKind::Histogram);
        s.x = None;
        s.y = Vec::new();
        s.series = None;
        s.count_by = Some("person".into());
        let v = render(&ctx(), &s, &cols()).await;
        // person 1 has 3 rows, persons 2 and 3 one each: sizes 1..=3
        assert_eq!(v.categories, ["1", "2", "3"]);
        assert_eq!(v.series[0].values, [Some(2.0), Some(0.0), Some(1.0)]);
        assert_eq!(v.x_label, "rows per person");
    }

    #[test]
    fn bins_are_integers_when_the_values_are() {
        let (lo, w, l) = bins(1.0, 3.0, true);
        assert_eq!((lo, w, l.len()), (1.0, 1.0, 3));
        let (_, w, l) = bins(1.0, 100.0, true);
        assert_eq!((w, l.len(), l[0].as_str()), (5.0, 20, "1–5"));
        let (_, w, l) = bins(0.0, 1.0, false);
        assert_eq!((w, l.len()), (0.05, 20));
        let (_, _, l) = bins(2.5, 2.5, false);
        assert_eq!(l.len(), 1);
    }
}
