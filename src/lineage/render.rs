//! `parcours lineage --column model.column`: the column's upstream and downstream as text,
//! Mermaid or DOT. Value dependencies (passthrough, transform, aggregate) are followed all the
//! way; a filter-only input is shown where it is read, not followed further (its own inputs
//! decide rows of rows, which would drown the picture).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{ColumnId, Dependency, Lineage};

fn describe(d: &Dependency) -> String {
    let mut s = d.how.as_str().to_string();
    if !d.functions.is_empty() {
        let _ = write!(s, ": {}", d.functions.join(", "));
    }
    if let Some(p) = &d.protected_by {
        let _ = write!(s, "; {p}");
    }
    s
}

/// Upstream (indented, deepest last) and downstream of `id`.
pub fn text(lineage: &Lineage, id: &ColumnId) -> String {
    let mut out = format!("{id}\n");
    out.push_str("upstream:\n");
    let mut seen = BTreeSet::new();
    let before = out.len();
    up_tree(lineage, id, 1, &mut seen, &mut out);
    if out.len() == before {
        out.push_str("  (none: a constant, or a source column)\n");
    }
    out.push_str("downstream:\n");
    let mut seen = BTreeSet::new();
    let before = out.len();
    down_tree(lineage, id, 1, &mut seen, &mut out);
    if out.len() == before {
        out.push_str("  (none)\n");
    }
    out
}

fn up_tree(
    lineage: &Lineage,
    id: &ColumnId,
    depth: usize,
    seen: &mut BTreeSet<ColumnId>,
    out: &mut String,
) {
    let Some(col) = lineage.column(id) else {
        return;
    };
    if !seen.insert(id.clone()) {
        return;
    }
    for d in &col.upstream {
        let up = ColumnId::new(&d.table, &d.column);
        let again = seen.contains(&up) && lineage.column(&up).is_some();
        let _ = writeln!(
            out,
            "{}← {up} ({}){}",
            "  ".repeat(depth),
            describe(d),
            if again { " (see above)" } else { "" }
        );
        if d.how.carries_value() && !again {
            up_tree(lineage, &up, depth + 1, seen, out);
        }
    }
}

fn down_tree(
    lineage: &Lineage,
    id: &ColumnId,
    depth: usize,
    seen: &mut BTreeSet<ColumnId>,
    out: &mut String,
) {
    if !seen.insert(id.clone()) {
        return;
    }
    for (reader, d) in lineage.readers(id) {
        let again = seen.contains(&reader);
        let _ = writeln!(
            out,
            "{}→ {reader} ({}){}",
            "  ".repeat(depth),
            describe(d),
            if again { " (see above)" } else { "" }
        );
        if d.how.carries_value() && !again {
            down_tree(lineage, &reader, depth + 1, seen, out);
        }
    }
}

/// Every edge of the column's picture: (from, to, dependency).
fn edges(lineage: &Lineage, id: &ColumnId) -> Vec<(ColumnId, ColumnId, Dependency)> {
    let mut out = Vec::new();
    for (c, deps) in lineage.upstream_closure(id) {
        for d in deps {
            out.push((ColumnId::new(&d.table, &d.column), c.clone(), d));
        }
    }
    out.extend(lineage.downstream_closure(id));
    out.sort();
    out.dedup();
    out
}

fn node_id(c: &ColumnId) -> String {
    format!("{}__{}", c.table, c.column)
        .chars()
        .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' })
        .collect()
}

pub fn mermaid(lineage: &Lineage, id: &ColumnId) -> String {
    let mut out = String::from("graph LR\n");
    let edges = edges(lineage, id);
    let mut nodes: BTreeSet<ColumnId> = BTreeSet::from([id.clone()]);
    for (a, b, _) in &edges {
        nodes.insert(a.clone());
        nodes.insert(b.clone());
    }
    for n in &nodes {
        let _ = writeln!(out, "  {}[\"{n}\"]", node_id(n));
    }
    for (a, b, d) in &edges {
        let arrow = if d.how.carries_value() { "-->" } else { "-.->" };
        let _ = writeln!(
            out,
            "  {} {arrow}|{}| {}",
            node_id(a),
            describe(d).replace('"', "'").replace('|', "/"),
            node_id(b)
        );
    }
    let _ = writeln!(out, "  style {} stroke-width:3px", node_id(id));
    out
}

pub fn dot(lineage: &Lineage, id: &ColumnId) -> String {
    let mut out = String::from("digraph lineage {\n  rankdir=LR;\n  node [shape=box];\n");
    let edges = edges(lineage, id);
    let _ = writeln!(out, "  \"{id}\" [penwidth=3];");
    for (a, b, d) in &edges {
        let style = if d.how.carries_value() {
            ""
        } else {
            ", style=dashed"
        };
        let _ = writeln!(
            out,
            "  \"{a}\" -> \"{b}\" [label=\"{}\"{style}];",
            describe(d).replace('"', "'")
        );
    }
    out.push_str("}\n");
    out
}
