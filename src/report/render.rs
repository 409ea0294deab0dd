//! What commands print on stdout: the run summary with failing test rows, the model list, the
//! lineage graph as Mermaid or DOT, and `show`'s table of rows. Logs go to stderr; this is the
//! result.

use std::fmt::Write as _;

use crate::config::Materialization;
use crate::graph::Graph;
use crate::run::datatest::{TestOutcome, TestStatus};
use crate::run::{RunReport, status_word};

fn mat(m: Materialization) -> &'static str {
    m.as_str()
}

/// The model graph as plain `upstream -> model` lines, sources first.
pub fn edges_text(g: &Graph, selected: &std::collections::BTreeSet<String>) -> String {
    let mut s = String::new();
    for name in g.order.iter().filter(|n| selected.contains(*n)) {
        let m = &g.models[name];
        for d in m.sources.iter().chain(m.models.iter()) {
            let _ = writeln!(s, "{d} -> {name}");
        }
    }
    s
}

pub fn run_summary(r: &RunReport) -> String {
    let mut s = String::new();
    if !r.unit_tests.is_empty() {
        let unit = crate::unit_test::UnitReport {
            outcomes: r.unit_tests.clone(),
        };
        if unit.success() {
            // one line: the passing tests are listed by `parcours test --unit`
            s.push_str(unit.render().lines().last().unwrap_or_default());
            s.push('\n');
        } else {
            s.push_str(&unit.render());
            s.push_str(
                "nothing was run or published: a unit test failed (`--skip-unit` runs anyway)\n",
            );
        }
    }
    let width = r
        .results
        .iter()
        .map(|m| m.model.len())
        .max()
        .unwrap_or(5)
        .max(5);
    if !r.results.is_empty() {
        let _ = writeln!(
            s,
            "{:<width$}  {:<11}  {:<11}  {:>12}  {:>8}",
            "model", "kind", "status", "rows", "seconds"
        );
    }
    for m in &r.results {
        let rows = m.rows.map(group).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "{:<width$}  {:<11}  {:<11}  {:>12}  {:>8.2}",
            m.model,
            mat(m.materialization),
            status_word(m.status),
            rows,
            m.duration_s
        );
        if let Some(e) = &m.error {
            for line in e.lines() {
                let _ = writeln!(s, "    {line}");
            }
        }
        for t in m.tests.iter().filter(|t| t.status != TestStatus::Pass) {
            test_lines(&mut s, t);
        }
    }
    for t in &r.singular_tests {
        if t.status != TestStatus::Pass {
            test_lines(&mut s, t);
        }
    }
    let count =
        |f: &dyn Fn(&crate::run::ModelResult) -> bool| r.results.iter().filter(|m| f(m)).count();
    let tests_run: usize =
        r.results.iter().map(|m| m.tests.len()).sum::<usize>() + r.singular_tests.len();
    let tests_failed: usize = r
        .results
        .iter()
        .flat_map(|m| &m.tests)
        .chain(&r.singular_tests)
        .filter(|t| t.blocks())
        .count();
    let _ = writeln!(
        s,
        "{}: {} ok, {} failed, {} skipped; {} tests, {} failing; {:.2}s (run {})",
        if r.success { "Done" } else { "FAILED" },
        count(&|m| m.ok()),
        count(&|m| !m.ok() && m.status != crate::run::ModelStatus::Skipped),
        count(&|m| m.status == crate::run::ModelStatus::Skipped),
        tests_run,
        tests_failed,
        r.elapsed_s,
        r.run_id
    );
    s
}

fn test_lines(s: &mut String, t: &TestOutcome) {
    let word = match t.status {
        TestStatus::Pass => "pass",
        TestStatus::Warn => "WARN",
        TestStatus::Fail => "FAIL",
        TestStatus::Error => "ERROR",
    };
    let on = t
        .model
        .as_deref()
        .map(|m| format!(" on {m}"))
        .unwrap_or_default();
    match &t.message {
        Some(msg) => {
            let _ = writeln!(s, "  {word} {}{on}: {msg}", t.name);
        }
        None => {
            let _ = writeln!(
                s,
                "  {word} {}{on}: {} failing rows; first {}:",
                t.name,
                group(t.failures),
                crate::run::datatest::SAMPLE_ROWS
            );
        }
    }
    if let Some(sample) = &t.sample {
        for line in sample.lines() {
            let _ = writeln!(s, "      {line}");
        }
    }
}

/// 1234567 → "1,234,567".
pub fn group(n: u64) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn list_text(g: &Graph, selected: &std::collections::BTreeSet<String>) -> String {
    let mut s = String::new();
    let width = g.models.keys().map(String::len).max().unwrap_or(5).max(5);
    let _ = writeln!(
        s,
        "{:<width$}  {:<11}  {:<36}  depends on",
        "model", "kind", "path"
    );
    for name in g.order.iter().filter(|n| selected.contains(*n)) {
        let m = &g.models[name];
        let deps: Vec<&String> = m.depends_on().collect();
        let deps = if deps.is_empty() {
            "-".to_string()
        } else {
            deps.iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            s,
            "{:<width$}  {:<11}  {:<36}  {deps}",
            name,
            mat(m.settings.materialization),
            m.path
        );
    }
    s
}

pub fn list_json(g: &Graph, selected: &std::collections::BTreeSet<String>) -> serde_json::Value {
    let models: Vec<serde_json::Value> = g
        .order
        .iter()
        .filter(|n| selected.contains(*n))
        .map(|name| {
            let m = &g.models[name];
            serde_json::json!({
                "name": name,
                "path": m.path,
                "materialization": m.settings.materialization,
                "partition_by": m.settings.partition_by,
                // recomputed whole every run, and because of which model (itself or upstream)
                "full_history": m.full_history(),
                "full_history_from": m.full_history_from,
                // reads {{ window_start }}: a night rewrites only its late-arrival window
                "windowed": m.is_windowed(),
                "tags": m.settings.tags,
                "depends_on": { "models": m.models, "sources": m.sources },
                "description": m.settings.description,
            })
        })
        .collect();
    serde_json::json!({ "models": models })
}

fn sources_of(
    g: &Graph,
    selected: &std::collections::BTreeSet<String>,
) -> std::collections::BTreeSet<String> {
    selected
        .iter()
        .flat_map(|n| g.models[n].sources.iter().cloned())
        .collect()
}

pub fn mermaid(g: &Graph, selected: &std::collections::BTreeSet<String>) -> String {
    let mut s = String::from("flowchart LR\n");
    for src in sources_of(g, selected) {
        let _ = writeln!(s, "    src_{src}[({src})]");
    }
    for name in g.order.iter().filter(|n| selected.contains(*n)) {
        let m = &g.models[name];
        let shape = match m.settings.materialization {
            Materialization::View | Materialization::Ephemeral => format!("{name}[/{name}/]"),
            _ => format!("{name}[{name}]"),
        };
        let _ = writeln!(s, "    {shape}");
    }
    for name in g.order.iter().filter(|n| selected.contains(*n)) {
        let m = &g.models[name];
        for src in &m.sources {
            let _ = writeln!(s, "    src_{src} --> {name}");
        }
        for d in m.models.iter().filter(|d| selected.contains(*d)) {
            let _ = writeln!(s, "    {d} --> {name}");
        }
    }
    s
}

pub fn dot(g: &Graph, selected: &std::collections::BTreeSet<String>) -> String {
    let mut s = String::from("digraph parcours {\n    rankdir=LR;\n    node [shape=box];\n");
    for src in sources_of(g, selected) {
        let _ = writeln!(s, "    \"source.{src}\" [label=\"{src}\", shape=cylinder];");
    }
    for name in g.order.iter().filter(|n| selected.contains(*n)) {
        let m = &g.models[name];
        let style = if matches!(
            m.settings.materialization,
            Materialization::View | Materialization::Ephemeral
        ) {
            ", style=dashed"
        } else {
            ""
        };
        let _ = writeln!(s, "    \"{name}\" [label=\"{name}\"{style}];");
    }
    for name in g.order.iter().filter(|n| selected.contains(*n)) {
        let m = &g.models[name];
        for src in &m.sources {
            let _ = writeln!(s, "    \"source.{src}\" -> \"{name}\";");
        }
        for d in m.models.iter().filter(|d| selected.contains(*d)) {
            let _ = writeln!(s, "    \"{d}\" -> \"{name}\";");
        }
    }
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod unit {
    #[test]
    fn groups_thousands() {
        assert_eq!(super::group(0), "0");
        assert_eq!(super::group(1234567), "1,234,567");
        assert_eq!(super::group(100), "100");
    }
}

/// `show`'s table: a header with the column names even when there are no rows, floats at
/// six significant digits (a credit of `0.30000000000000004` reads `0.3`; the exact value is in
/// the table), and a last line counting the rows shown.
pub fn rows_table(
    schema: &arrow::datatypes::SchemaRef,
    batches: &[arrow::record_batch::RecordBatch],
) -> Result<String, arrow::error::ArrowError> {
    use arrow::array::{Array, ArrayRef, AsArray, StringArray};
    use arrow::datatypes::{DataType, Field, Float32Type, Float64Type, Schema};
    use std::sync::Arc;

    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Float32 | DataType::Float64 => {
                Field::new(f.name(), DataType::Utf8, f.is_nullable())
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    let shown = Arc::new(Schema::new(fields));
    let mut out = vec![arrow::record_batch::RecordBatch::new_empty(shown.clone())];
    let mut rows = 0;
    for b in batches.iter().filter(|b| b.num_rows() > 0) {
        rows += b.num_rows();
        let columns: Vec<ArrayRef> = b
            .columns()
            .iter()
            .map(|c| -> ArrayRef {
                let text = |i: usize, v: f64| (!c.is_null(i)).then(|| readable_float(v));
                match c.data_type() {
                    DataType::Float64 => {
                        let a = c.as_primitive::<Float64Type>();
                        Arc::new(
                            (0..a.len())
                                .map(|i| text(i, a.value(i)))
                                .collect::<StringArray>(),
                        )
                    }
                    DataType::Float32 => {
                        let a = c.as_primitive::<Float32Type>();
                        Arc::new(
                            (0..a.len())
                                .map(|i| text(i, f64::from(a.value(i))))
                                .collect::<StringArray>(),
                        )
                    }
                    _ => c.clone(),
                }
            })
            .collect();
        out.push(arrow::record_batch::RecordBatch::try_new(
            shown.clone(),
            columns,
        )?);
    }
    let table = arrow::util::pretty::pretty_format_batches(&out)?;
    Ok(format!(
        "{table}\n{} row{}\n",
        group(rows as u64),
        if rows == 1 { "" } else { "s" }
    ))
}

/// A float rounded to six significant digits and written in its shortest form; very large or
/// very small magnitudes in scientific notation.
pub fn readable_float(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let rounded: f64 = format!("{v:.5e}").parse().unwrap_or(v);
    let magnitude = rounded.abs();
    if rounded != 0.0 && !(1e-6..1e15).contains(&magnitude) {
        format!("{rounded:e}")
    } else {
        rounded.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_at_six_significant_digits() {
        assert_eq!(readable_float(0.1 + 0.2), "0.3");
        assert_eq!(readable_float(2.0 / 3.0), "0.666667");
        assert_eq!(readable_float(1234567.891), "1234570");
        assert_eq!(readable_float(42.0), "42");
        assert_eq!(readable_float(-0.000123456789), "-0.000123457");
        assert_eq!(readable_float(1.5e-9), "1.5e-9");
        assert_eq!(readable_float(6.02e23), "6.02e23");
        assert_eq!(readable_float(0.0), "0");
        assert_eq!(readable_float(f64::NAN), "NaN");
        assert_eq!(readable_float(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn an_empty_result_keeps_its_header() {
        use arrow::datatypes::{DataType, Field, Schema};
        let schema = std::sync::Arc::new(Schema::new(vec![
            Field::new("channel", DataType::Utf8, true),
            Field::new("share", DataType::Float64, true),
        ]));
        let text = rows_table(&schema, &[]).expect("table");
        assert!(text.contains("| channel | share |"), "{text}");
        assert!(text.ends_with("0 rows\n"), "{text}");
    }

    #[test]
    fn floats_and_nulls_in_a_table() {
        use arrow::array::{Float64Array, StringArray};
        use arrow::datatypes::{DataType, Field, Schema};
        use std::sync::Arc;
        let schema = Arc::new(Schema::new(vec![
            Field::new("channel", DataType::Utf8, true),
            Field::new("share", DataType::Float64, true),
        ]));
        let batch = arrow::record_batch::RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some("email"), Some("sms")])),
                Arc::new(Float64Array::from(vec![Some(0.1 + 0.2), None])),
            ],
        )
        .expect("batch");
        let text = rows_table(&schema, &[batch]).expect("table");
        assert!(text.contains("| email   | 0.3   |"), "{text}");
        assert!(!text.contains("0.30000000000000004"), "{text}");
        assert!(text.ends_with("2 rows\n"), "{text}");
    }
}
