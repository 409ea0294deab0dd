//! The PII audit: every source column declared personal data (`sources.<name>.pii`) is followed
//! through the column lineage to every published column it reaches. A path is safe once it
//! passes a protection (a hash, an aggregate that names nobody, a true/false test, a `CASE`
//! condition) or a column declared free of personal data with `allow_pii: <reason>`. A published
//! column reached by an unprotected path is a violation: `parcours validate` refuses the
//! project (exit 2) and names the source column, the path of models and the curated column.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Serialize;

use super::{ColumnId, Lineage, Protection, ProtectionKind};
use crate::config::PiiKind;
use crate::error::{Error, Result};
use crate::project::Project;

/// A published column that personal data reaches, and how.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The published model and column.
    pub column: String,
    /// The source column declared personal data.
    pub source: String,
    pub pii: PiiKind,
    /// Model columns from the source column to the published one, both included.
    pub path: Vec<String>,
    /// What protects it; `None` is a violation.
    pub protected_by: Option<Protection>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Audit {
    /// Source columns declared personal data, as `source.column`.
    pub declared: Vec<String>,
    pub findings: Vec<Finding>,
}

impl Audit {
    pub fn violations(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.protected_by.is_none())
    }

    /// `Err` (exit 2) naming every violation and the fixes.
    pub fn check(&self, project: &Project) -> Result<()> {
        let bad: Vec<&Finding> = self.violations().collect();
        let Some(first) = bad.first() else {
            return Ok(());
        };
        let mut msg = format!(
            "PII audit: personal data reaches {} published column{} unprotected:",
            bad.len(),
            if bad.len() == 1 { "" } else { "s" }
        );
        for f in &bad {
            msg.push_str(&format!(
                "\n  {} ({}) reaches {} through {}",
                f.source,
                f.pii.as_str(),
                f.column,
                f.path.join(" → ")
            ));
        }
        let (model, column) = first.column.split_once('.').unwrap_or((&first.column, ""));
        msg.push_str(&format!(
            "\nhash the value on the way (sha256_hex(normalize_email(…)), sha256_hex(normalize_phone(…))), aggregate it away, or, if the column holds no personal data, declare it with `models.{model}.columns.{column}.allow_pii: <reason>` in {}",
            project.config.file.display()
        ));
        let path = project
            .graph
            .models
            .get(model)
            .map(|m| std::path::PathBuf::from(&m.path))
            .unwrap_or_else(|| project.config.file.clone());
        Err(Error::config(path, None, msg))
    }
}

/// Follows every declared PII column through `lineage` to the published models in `published`.
pub fn audit(project: &Project, lineage: &Lineage, published: &BTreeSet<String>) -> Result<Audit> {
    check_allowances(project, lineage)?;
    let mut declared = Vec::new();
    // reverse index: an upstream column → the model columns reading its value
    let mut readers: BTreeMap<ColumnId, Vec<(ColumnId, Option<Protection>)>> = BTreeMap::new();
    for (model, cols) in &lineage.models {
        for c in cols {
            for d in c.upstream.iter().filter(|d| d.how.carries_value()) {
                readers
                    .entry(ColumnId::new(&d.table, &d.column))
                    .or_default()
                    .push((ColumnId::new(model, &c.name), d.protected_by.clone()));
            }
        }
    }
    let mut findings = Vec::new();
    for (source, spec) in &project.config.sources {
        for (column, kind) in &spec.pii {
            let start = ColumnId::new(source, column);
            declared.push(start.to_string());
            // Breadth first: the first path found to a column is a shortest one. A column is
            // visited at most twice: reached unprotected, and reached protected.
            let mut seen: BTreeSet<(ColumnId, bool)> = BTreeSet::new();
            let mut queue: VecDeque<(ColumnId, Option<Protection>, Vec<String>)> =
                VecDeque::from([(start.clone(), None, vec![start.to_string()])]);
            while let Some((at, protection, path)) = queue.pop_front() {
                for (reader, flow_protection) in readers.get(&at).into_iter().flatten() {
                    let allowed = allowance(project, reader);
                    let p = protection.clone().or(flow_protection.clone()).or(allowed);
                    if !seen.insert((reader.clone(), p.is_some())) {
                        continue;
                    }
                    let mut next = path.clone();
                    next.push(reader.to_string());
                    if published.contains(&reader.table) {
                        findings.push(Finding {
                            column: reader.to_string(),
                            source: start.to_string(),
                            pii: *kind,
                            path: next.clone(),
                            protected_by: p.clone(),
                        });
                    }
                    queue.push_back((reader.clone(), p, next));
                }
            }
        }
    }
    // One finding per published column, source and protection state: unprotected first.
    findings.sort_by(|a, b| {
        (a.protected_by.is_some(), &a.column, &a.source).cmp(&(
            b.protected_by.is_some(),
            &b.column,
            &b.source,
        ))
    });
    Ok(Audit { declared, findings })
}

fn allowance(project: &Project, c: &ColumnId) -> Option<Protection> {
    let m = project.graph.models.get(&c.table)?;
    m.settings
        .allow_pii
        .get(&c.column)
        .map(|reason| Protection {
            kind: ProtectionKind::Allowed,
            by: reason.clone(),
        })
}

/// An `allow_pii` on a column the model does not return is a typo that would let a leak pass.
fn check_allowances(project: &Project, lineage: &Lineage) -> Result<()> {
    for (model, cols) in &lineage.models {
        let m = &project.graph.models[model];
        for col in m.settings.allow_pii.keys() {
            if !cols.iter().any(|c| &c.name == col) {
                return Err(project.config.error(
                    &["models", model.as_str(), "columns", col.as_str(), "allow_pii"],
                    format!(
                        "models.{model}.columns.{col}.allow_pii: model `{model}` returns no column `{col}` (it returns {})",
                        cols.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The audit as text: each declared column, then every published column it reaches.
pub fn render(audit: &Audit) -> String {
    let mut out = String::new();
    let unprotected = audit.violations().count();
    let published: BTreeSet<&str> = audit.findings.iter().map(|f| f.column.as_str()).collect();
    out.push_str(&format!(
        "PII audit: {} source column{} declared personal data; {} published column{} derived from them; {} unprotected\n",
        audit.declared.len(),
        if audit.declared.len() == 1 { "" } else { "s" },
        published.len(),
        if published.len() == 1 { "" } else { "s" },
        unprotected
    ));
    let mut by_source: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in &audit.findings {
        by_source.entry(&f.source).or_default().push(f);
    }
    for d in &audit.declared {
        let found = by_source.get(d.as_str()).cloned().unwrap_or_default();
        let kind = found.first().map(|f| f.pii.as_str()).unwrap_or("");
        if found.is_empty() {
            out.push_str(&format!("\n{d}: reaches no published column\n"));
            continue;
        }
        out.push_str(&format!("\n{d} ({kind}):\n"));
        for f in found {
            let status = match &f.protected_by {
                Some(p) => format!("ok: {p}"),
                None => "UNPROTECTED".to_string(),
            };
            out.push_str(&format!(
                "  {:<40} {status}\n    via {}\n",
                f.column,
                f.path.join(" → ")
            ));
        }
    }
    out
}
