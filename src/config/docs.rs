//! The `docs:` block of `pipelines.yaml`: what `parcours docs` adds to the site beyond the
//! project and run pages. A chart is a small declarative spec over one published table
//! (`table`, `x`, `y`, `series`, `kind`), validated here so that a typo fails `validate` with
//! its line instead of leaving an empty chart; whether the table and its columns exist is only
//! known against the warehouse, so that is checked when the site is written (a missing one
//! renders a "not available" note, see `crate::site::charts`).

use serde::Deserialize;

use super::locate;
use crate::error::{Error, Result};

/// `docs:` as serde reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDocs {
    /// Write the site after every `parcours run` (as `run --docs` does).
    pub after_run: Option<bool>,
    /// Where the site goes, relative to the project (default: `<target_path>/site`).
    pub path: Option<String>,
    /// A model whose row count moved by more than this share of the previous run's is
    /// flagged on the run page (default 0.5: half again or half as many rows).
    pub row_change_warn: Option<f64>,
    /// How many earlier runs the trends show (default 30).
    pub history_runs: Option<usize>,
    #[serde(default)]
    pub charts: Vec<RawChart>,
}

/// One chart, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChart {
    pub name: String,
    pub title: String,
    /// What the chart shows, in a sentence for its reader.
    pub description: Option<String>,
    pub table: String,
    pub kind: ChartKind,
    /// The category (bar), ordered axis (line) or value (histogram without `count_by`): a
    /// column, or a SQL expression over the table's columns.
    pub x: Option<String>,
    /// One value or several (each its own series): a column, aggregated with `agg`, or an
    /// aggregate SQL expression (`sum(revenue) / sum(spend)`).
    pub y: Option<OneOrMany>,
    /// Labels for the `y` values, in their order (default: the text of each).
    #[serde(default)]
    pub labels: Vec<String>,
    /// A column (or expression) whose values split each `y` into series.
    pub series: Option<String>,
    /// How a bare `y` column is aggregated per `x` (and series): default `sum`.
    pub agg: Option<Agg>,
    /// A SQL condition rows must meet.
    pub filter: Option<String>,
    /// Histogram of group sizes: rows are counted per value of this column (or expression),
    /// and the histogram shows how many groups have each size.
    pub count_by: Option<String>,
    /// How values are printed: `number` (default) or `percent` (0.25 prints as 25 %).
    pub format: Option<ValueFormat>,
    /// Most `x` categories drawn (default 40); the rest are counted in a note.
    pub max_categories: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    /// Bars per `x` category, grouped by series.
    Bar,
    /// One line per series over an ordered `x` (dates, weeks, numbers).
    Line,
    /// How many rows (or `count_by` groups) fall into each bin of a numeric value.
    Histogram,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Agg {
    Sum,
    Mean,
    Min,
    Max,
    Count,
}

impl Agg {
    pub fn sql(self) -> &'static str {
        match self {
            Agg::Sum => "sum",
            Agg::Mean => "avg",
            Agg::Min => "min",
            Agg::Max => "max",
            Agg::Count => "count",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueFormat {
    #[default]
    Number,
    Percent,
}

/// A validated chart.
#[derive(Debug, Clone)]
pub struct ChartSpec {
    pub name: String,
    pub title: String,
    pub description: Option<String>,
    pub table: String,
    pub kind: ChartKind,
    pub x: Option<String>,
    pub y: Vec<String>,
    pub labels: Vec<String>,
    pub series: Option<String>,
    pub agg: Agg,
    pub filter: Option<String>,
    pub count_by: Option<String>,
    pub format: ValueFormat,
    pub max_categories: usize,
}

/// `docs:` once validated.
#[derive(Debug, Clone)]
pub struct Docs {
    pub after_run: bool,
    pub path: Option<String>,
    pub row_change_warn: f64,
    pub history_runs: usize,
    pub charts: Vec<ChartSpec>,
}

pub const DEFAULT_ROW_CHANGE_WARN: f64 = 0.5;
pub const DEFAULT_HISTORY_RUNS: usize = 30;
pub const DEFAULT_MAX_CATEGORIES: usize = 40;

impl Default for Docs {
    fn default() -> Self {
        Docs {
            after_run: false,
            path: None,
            row_change_warn: DEFAULT_ROW_CHANGE_WARN,
            history_runs: DEFAULT_HISTORY_RUNS,
            charts: Vec::new(),
        }
    }
}

/// The line of chart `name` (its `name:` entry under `docs:`), for messages.
fn chart_line(text: &str, name: &str) -> Option<usize> {
    let docs = locate(text, &["docs"])?;
    text.lines()
        .enumerate()
        .skip(docs)
        .find(|(_, l)| {
            let t = l.trim_start().trim_start_matches("- ").trim();
            t.strip_prefix("name:")
                .is_some_and(|v| v.trim().trim_matches(['"', '\'']) == name)
        })
        .map(|(i, _)| i + 1)
        .or(locate(text, &["docs", "charts"]))
}

/// Checks `docs:`; `text` is the configuration file's text, for line numbers.
pub fn validate(file: &std::path::Path, text: &str, raw: Option<RawDocs>) -> Result<Docs> {
    let Some(raw) = raw else {
        return Ok(Docs::default());
    };
    let err_at = |path: &[&str], m: String| Error::config(file, locate(text, path), m);
    let row_change_warn = raw.row_change_warn.unwrap_or(DEFAULT_ROW_CHANGE_WARN);
    if !(row_change_warn.is_finite() && row_change_warn > 0.0) {
        return Err(err_at(
            &["docs", "row_change_warn"],
            format!(
                "docs.row_change_warn {row_change_warn} must be a positive share, e.g. 0.5 (a row count that moved by more than half is flagged)"
            ),
        ));
    }
    let history_runs = raw.history_runs.unwrap_or(DEFAULT_HISTORY_RUNS);
    if history_runs == 0 {
        return Err(err_at(
            &["docs", "history_runs"],
            "docs.history_runs must be at least 1".into(),
        ));
    }
    let mut charts: Vec<ChartSpec> = Vec::new();
    for c in raw.charts {
        let line = chart_line(text, &c.name);
        let err = |m: String| Error::config(file, line, format!("docs chart `{}`: {m}", c.name));
        let valid_name = !c.name.is_empty()
            && c.name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-');
        if !valid_name {
            return Err(err(
                "a chart name is letters, digits, `_` and `-` (it names the chart's anchor)".into(),
            ));
        }
        if charts.iter().any(|o| o.name == c.name) {
            return Err(err("a second chart of this name".into()));
        }
        let y = match c.y {
            None => Vec::new(),
            Some(OneOrMany::One(s)) => vec![s],
            Some(OneOrMany::Many(v)) => v,
        };
        if y.iter().any(|e| e.trim().is_empty()) {
            return Err(err("an empty `y`".into()));
        }
        match c.kind {
            ChartKind::Histogram => {
                if c.x.is_none() == c.count_by.is_none() {
                    return Err(err("a histogram takes `x` (the value binned) or `count_by` (rows are counted per value, and the sizes binned), one of them".into()));
                }
                if !y.is_empty() || c.series.is_some() {
                    return Err(err(
                        "a histogram counts rows: it takes no `y` or `series`".into()
                    ));
                }
            }
            ChartKind::Bar | ChartKind::Line => {
                if c.x.is_none() || y.is_empty() {
                    return Err(err(format!(
                        "a {} chart needs `x` and `y`",
                        if c.kind == ChartKind::Bar {
                            "bar"
                        } else {
                            "line"
                        }
                    )));
                }
                if c.count_by.is_some() {
                    return Err(err("`count_by` is for histograms".into()));
                }
                if y.len() > 1 && c.series.is_some() {
                    return Err(err(
                        "several `y` values are the series already: drop `series`, or keep one `y`"
                            .into(),
                    ));
                }
            }
        }
        if !c.labels.is_empty() && c.labels.len() != y.len() {
            return Err(err(format!(
                "{} labels for {} `y` values: give one label per value, in order",
                c.labels.len(),
                y.len()
            )));
        }
        let max_categories = c.max_categories.unwrap_or(DEFAULT_MAX_CATEGORIES);
        if max_categories == 0 {
            return Err(err("max_categories must be at least 1".into()));
        }
        charts.push(ChartSpec {
            name: c.name,
            title: c.title,
            description: c.description,
            table: c.table,
            kind: c.kind,
            x: c.x,
            y,
            labels: c.labels,
            series: c.series,
            agg: c.agg.unwrap_or(Agg::Sum),
            filter: c.filter,
            count_by: c.count_by,
            format: c.format.unwrap_or_default(),
            max_categories,
        });
    }
    Ok(Docs {
        after_run: raw.after_run.unwrap_or(false),
        path: raw.path,
        row_change_warn,
        history_runs,
        charts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Docs> {
        #[derive(Deserialize)]
        struct W {
            docs: Option<RawDocs>,
        }
        let w: W = serde_norway::from_str(yaml).map_err(|e| Error::Usage(e.to_string()))?;
        validate(std::path::Path::new("pipelines.yaml"), yaml, w.docs)
    }

    #[test]
    fn a_chart_spec_reads_with_its_defaults() {
        let d = parse(
            "docs:\n  charts:\n    - name: share\n      title: Share\n      table: t\n      kind: bar\n      x: channel\n      y: share\n      series: model\n",
        )
        .unwrap();
        assert_eq!(d.row_change_warn, DEFAULT_ROW_CHANGE_WARN);
        let c = &d.charts[0];
        assert_eq!(
            (c.kind, c.agg, c.y.clone()),
            (ChartKind::Bar, Agg::Sum, vec!["share".to_string()])
        );
        assert_eq!(c.series.as_deref(), Some("model"));
    }

    #[test]
    fn mistakes_name_the_chart_and_its_line() {
        let yaml = "docs:\n  charts:\n    - name: a\n      title: A\n      table: t\n      kind: bar\n      x: c\n      y: v\n    - name: b\n      title: B\n      table: t\n      kind: histogram\n      x: c\n      y: v\n";
        let e = parse(yaml).unwrap_err().to_string();
        assert!(e.contains("chart `b`") && e.contains(":9"), "{e}");
        assert!(e.contains("no `y`"), "{e}");
        // an unknown key is serde's error, with its line
        let e = parse("docs:\n  charts:\n    - name: a\n      titel: A\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("titel") && e.contains("line 4"), "{e}");
        let e = parse("docs:\n  charts:\n    - name: a\n      title: A\n      table: t\n      kind: pie\n      x: c\n      y: v\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pie"), "{e}");
    }

    #[test]
    fn inconsistent_specs_are_refused() {
        let base = "docs:\n  charts:\n    - name: a\n      title: A\n      table: t\n";
        for (extra, why) in [
            ("      kind: bar\n      y: v\n", "needs `x` and `y`"),
            (
                "      kind: bar\n      x: c\n      y: [v, w]\n      series: s\n",
                "drop `series`",
            ),
            (
                "      kind: line\n      x: c\n      y: [v, w]\n      labels: [one]\n",
                "1 labels for 2",
            ),
            ("      kind: histogram\n", "one of them"),
            (
                "      kind: histogram\n      x: c\n      count_by: k\n",
                "one of them",
            ),
        ] {
            let e = parse(&format!("{base}{extra}")).unwrap_err().to_string();
            assert!(e.contains(why), "{extra}: {e}");
        }
        let e = parse("docs:\n  row_change_warn: 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("positive share") && e.contains(":2"), "{e}");
    }
}
