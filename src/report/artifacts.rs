//! Run artifacts under the project's `target/` folder: `manifest.json` (models, dependencies,
//! schemas, column lineage, sources and their declared personal data) and `run_results.json` (per model: status, rows, bytes, duration, error,
//! tests). Orchestrators and BI users read them; their shape is documented in the README.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::project::Project;
use crate::publish::columns_of;
use crate::run::{Prepared, RunReport};

fn write_json(project: &Project, file: &str, value: &Value) -> Result<()> {
    let dir = &project.config.target_path;
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Usage(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join(file);
    // Per process: two runs of one project (say, one waiting for the lease) must not rename
    // each other's half-written file away.
    let tmp = dir.join(format!(".{file}.{}.tmp", std::process::id()));
    let text = serde_json::to_vec_pretty(value).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| Error::Usage(format!("cannot write {}: {e}", path.display())))
}

pub fn manifest(project: &Project, prepared: Option<&Prepared>) -> Value {
    let g = &project.graph;
    // Column lineage of the models planned from their SQL. A failure here is a bug in the
    // lineage walker; it must not fail a run, so the manifest goes without it.
    let lineage = prepared.and_then(|p| match crate::lineage::compute(project, &p.plans) {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!(error = %e, "column lineage left out of the manifest");
            None
        }
    });
    let models: BTreeMap<&String, Value> = g
        .models
        .iter()
        .map(|(name, m)| {
            let schema = prepared.and_then(|p| p.schemas.get(name)).map(columns_of);
            (
                name,
                json!({
                    "path": m.path,
                    "materialization": m.settings.materialization,
                    "partition_by": m.settings.partition_by,
                    "full_history": m.full_history(),
                    "full_history_from": m.full_history_from,
                    "windowed": m.is_windowed(),
                    "description": m.settings.description,
                    "tags": m.settings.tags,
                    "depends_on": { "models": m.models, "sources": m.sources },
                    "children": g.children.get(name).cloned().unwrap_or_default(),
                    "columns": m.settings.columns,
                    "allow_pii": m.settings.allow_pii,
                    "lineage": lineage.as_ref().and_then(|l| l.manifest_of(name)),
                    "tests": m.settings.tests.iter().map(|t| t.name()).collect::<Vec<_>>(),
                    "schema": schema,
                }),
            )
        })
        .collect();
    let sources: BTreeMap<&String, Value> = project
        .config
        .sources
        .iter()
        .map(|(name, s)| {
            let info = prepared.and_then(|p| p.sources.get(name));
            (
                name,
                json!({
                    "storage": s.storage,
                    "path": s.path,
                    "description": s.description,
                    "partitions": s.partitions.iter().map(|(c, t)| json!({"name": c, "type": crate::config::datatype::display(t)})).collect::<Vec<_>>(),
                    "as_of": s.as_of,
                    "pii": s.pii,
                    "url": info.map(|i| i.url.to_string()),
                    "files": info.map(|i| i.files),
                    "later_files": info.map(|i| i.later_files),
                    "rows": info.map(|i| i.rows),
                    "schema": info.map(|i| columns_of(&i.schema)),
                }),
            )
        })
        .collect();
    json!({
        "parcours_version": env!("CARGO_PKG_VERSION"),
        "project": project.config.name,
        "generated_at": chrono::Utc::now().to_rfc3339(),
        "run_id": project.run_id,
        "run_date": project.run_date.to_string(),
        "window_start": project.window_start.to_string(),
        "order": g.order,
        "models": models,
        "sources": sources,
        "singular_tests": g.tests.iter().map(|t| json!({"name": t.name, "path": t.path, "models": t.models, "sources": t.sources})).collect::<Vec<_>>(),
    })
}

pub fn write_manifest(project: &Project, prepared: &Prepared) -> Result<()> {
    write_json(project, "manifest.json", &manifest(project, Some(prepared)))
}

pub fn write_run_results(project: &Project, report: &RunReport) -> Result<()> {
    let value = serde_json::to_value(report).map_err(|e| Error::Internal(e.to_string()))?;
    write_json(project, "run_results.json", &value)
}
