//! `parcours docs`: a static, self-contained HTML site of the project (the model graph, a page
//! per model and source), of the last run (timeline, tests, warnings, trends against the runs
//! the warehouse keeps) and of the charts `docs.charts` declares over published tables. One
//! file, `index.html`, with its data, script and style inline: it opens from disk or any
//! static host and makes no request.
//!
//! [`data`] builds what the pages show, [`charts`] queries the chart values, [`history`] keeps
//! and reads the run summaries, [`html`] writes the page.

pub mod charts;
pub mod data;
pub mod history;
pub mod html;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::project::Project;
use crate::storage::Storage;

/// Where the site goes: `docs.path`, else `<target_path>/site`.
pub fn site_dir(project: &Project) -> PathBuf {
    match &project.config.docs.path {
        Some(p) => project.config.project_dir.join(p),
        None => project.config.target_path.join("site"),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, notes: &mut Vec<String>) -> Option<T> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            notes.push(format!("{} could not be read: {e}", path.display()));
            return None;
        }
    };
    match serde_json::from_slice(&text) {
        Ok(v) => Some(v),
        Err(e) => {
            notes.push(format!(
                "{} is not valid JSON ({e}); it was left out",
                path.display()
            ));
            None
        }
    }
}

/// Builds the site's data: the project, the run artifacts under `target/`, the warehouse's
/// run summaries and charts. Storage that cannot be read costs the trends and charts (a note
/// says so), not the site.
pub async fn collect(project: &Project) -> Result<data::Site> {
    let mut notes = Vec::new();
    let target = &project.config.target_path;
    let manifest: Option<serde_json::Value> = read_json(&target.join("manifest.json"), &mut notes);
    let run: Option<data::RunFile> = read_json(&target.join("run_results.json"), &mut notes);
    if run.is_none() {
        notes.push(format!(
            "no {} yet: run `parcours run` for the run page and the graph's colours",
            target.join("run_results.json").display()
        ));
    }
    let mut templates = BTreeMap::new();
    for (name, m) in &project.graph.models {
        if let Ok(text) = std::fs::read_to_string(project.config.project_dir.join(&m.path)) {
            templates.insert(name.clone(), text);
        }
    }
    let mut history = Vec::new();
    let mut charts = Vec::new();
    let mut published_schemas = BTreeMap::new();
    match Storage::resolve(&project.config, &project.storage_overrides)
        .and_then(|s| s.warehouse().cloned())
    {
        Ok(wh) => {
            match history::load(&wh, project.config.docs.history_runs).await {
                Ok(h) => history = h,
                Err(e) => notes.push(format!("earlier runs could not be read: {e}")),
            }
            // Column types of the tables the manifest does not describe (a partial run).
            for (name, m) in &project.graph.models {
                let described = manifest
                    .as_ref()
                    .and_then(|v| v.get("models")?.get(name)?.get("schema"))
                    .is_some_and(|s| !s.is_null());
                if described || !m.settings.is_published() {
                    continue;
                }
                if let Ok(Some(rec)) = crate::publish::read_published(&wh, name).await {
                    let mut cols: Vec<(String, String, bool)> = rec
                        .schema
                        .iter()
                        .map(|c| (c.name.clone(), c.data_type.clone(), c.nullable))
                        .collect();
                    if let (Some(p), Some(t)) = (&rec.partition_by, &rec.partition_type) {
                        cols.push((p.clone(), t.clone(), true));
                    }
                    published_schemas.insert(name.clone(), cols);
                }
            }
            if !project.config.docs.charts.is_empty() {
                let storage = Storage::resolve(&project.config, &project.storage_overrides)?;
                let ctx = crate::session::build(&storage, &project.config.execution)?;
                charts = charts::render_all(&ctx, &wh, project).await;
            }
        }
        Err(e) => notes.push(format!(
            "the warehouse is not reachable ({e}): no trends or charts"
        )),
    }
    Ok(data::build(
        project,
        data::Inputs {
            manifest: manifest.as_ref(),
            run: run.as_ref(),
            history: &history,
            templates: &templates,
            published_schemas: &published_schemas,
            charts,
            notes,
            generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        },
    ))
}

/// Writes `index.html` into the site folder; returns its path.
pub async fn write(project: &Project) -> Result<PathBuf> {
    let site = collect(project).await?;
    let dir = site_dir(project);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::Usage(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join("index.html");
    let tmp = dir.join(format!(".index.html.{}.tmp", std::process::id()));
    std::fs::write(&tmp, html::render(&site))
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| Error::Usage(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}
