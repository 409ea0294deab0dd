//! `parcours lineage --column model.column`: the column's upstream and downstream as text,
//! Mermaid or DOT. The columns a value is derived from are followed all the way; an input that
//! only filters, joins or is tested (`is null`, a `CASE` condition) is shown where it is read,
//! not followed further (its own inputs decide rows of rows, which would drown the picture).

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

/// Upstream (a tree, each input once: `(see above)` where it repeats) and downstream of `id`.
/// Each upstream column is one line with every way it is read; the columns the value is
/// derived from come first, and only they are followed further.
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

/// Dependencies grouped by the column they name, derived-from columns first.
fn grouped<'a>(
    deps: impl Iterator<Item = (ColumnId, &'a Dependency)>,
) -> Vec<(ColumnId, Vec<&'a Dependency>)> {
    let mut groups: Vec<(ColumnId, Vec<&Dependency>)> = Vec::new();
    for (c, d) in deps {
        match groups.iter_mut().find(|(g, _)| *g == c) {
            Some((_, ds)) => ds.push(d),
            None => groups.push((c, vec![d])),
        }
    }
    // stable: alphabetical within each kind
    groups.sort_by_key(|(c, ds)| (!ds.iter().any(|d| d.derives()), c.clone()));
    groups
}

fn line(c: &ColumnId, ds: &[&Dependency]) -> String {
    let hows: Vec<String> = ds.iter().map(|d| describe(d)).collect();
    format!("{c} ({})", hows.join("; "))
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
    let groups = grouped(
        col.upstream
            .iter()
            .map(|d| (ColumnId::new(&d.table, &d.column), d)),
    );
    for (up, ds) in groups {
        let follow = ds.iter().any(|d| d.derives());
        let again = follow && seen.contains(&up) && lineage.column(&up).is_some();
        let _ = writeln!(
            out,
            "{}← {}{}",
            "  ".repeat(depth),
            line(&up, &ds),
            if again { " (see above)" } else { "" }
        );
        if follow && !again {
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
    let readers = lineage.readers(id);
    for (reader, ds) in grouped(readers.into_iter()) {
        let follow = ds.iter().any(|d| d.derives());
        let again = follow && seen.contains(&reader);
        let _ = writeln!(
            out,
            "{}→ {}{}",
            "  ".repeat(depth),
            line(&reader, &ds),
            if again { " (see above)" } else { "" }
        );
        if follow && !again {
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
        let arrow = if d.derives() { "-->" } else { "-.->" };
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
        let style = if d.derives() { "" } else { ", style=dashed" };
        let _ = writeln!(
            out,
            "  \"{a}\" -> \"{b}\" [label=\"{}\"{style}];",
            describe(d).replace('"', "'")
        );
    }
    out.push_str("}\n");
    out
}
