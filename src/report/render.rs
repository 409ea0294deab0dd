//! What commands print on stdout: the run summary with failing test rows, the model list, and
//! the lineage graph as Mermaid or DOT. Logs go to stderr; this is the result.

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
