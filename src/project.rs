//! A project opened for one command: its configuration, variables after `--var` overrides, the
//! run date and id, and the model graph with every template resolved. Opening reads only local
//! files; nothing touches storage until a command needs data.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};

use crate::config::{Config, VarValue};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::template::TemplateContext;

/// Options shared by every command that opens a project.
#[derive(Debug, Clone, Default)]
pub struct ProjectOptions {
    pub project_dir: PathBuf,
    /// `--storage NAME=URL` overrides.
    pub storage: Vec<(String, String)>,
    /// `--var key=value` overrides.
    pub vars: Vec<(String, String)>,
    /// `--date`: the logical date of the run (default: today, UTC).
    pub run_date: Option<NaiveDate>,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub config: Config,
    pub graph: Graph,
    pub vars: BTreeMap<String, VarValue>,
    pub run_id: String,
    pub run_date: NaiveDate,
    /// The first day a windowed model rewrites: `run_date - execution.late_arrival_days`.
    pub window_start: NaiveDate,
    /// `run --full-refresh`: rebuild windowed models from all history instead of their window.
    pub full_refresh: bool,
    /// `run --skip-unit`: do not run the selected models' unit tests first.
    pub skip_unit: bool,
    pub started_at: DateTime<Utc>,
    pub storage_overrides: Vec<(String, String)>,
}

impl Project {
    pub fn open(opts: &ProjectOptions) -> Result<Project> {
        let config = Config::load(&opts.project_dir)?;
        let mut vars = config.vars.clone();
        for (k, v) in &opts.vars {
            let declared = vars.get(k).ok_or_else(|| {
                Error::Usage(format!(
                    "--var {k}=…: `{k}` is not declared under `vars:` in {} (declared: {})",
                    config.file.display(),
                    if vars.is_empty() {
                        "none".to_string()
                    } else {
                        vars.keys().cloned().collect::<Vec<_>>().join(", ")
                    }
                ))
            })?;
            let value = declared.parse_as(v).map_err(|m| {
                Error::Usage(format!(
                    "--var {k}: {m}; `{k}` is a {}",
                    declared.type_name()
                ))
            })?;
            vars.insert(k.clone(), value);
        }
        let started_at = Utc::now();
        let run_date = opts.run_date.unwrap_or_else(|| started_at.date_naive());
        let run_id = format!(
            "{}-{:04x}",
            started_at
                .format("%Y%m%dT%H%M%S%.3fZ")
                .to_string()
                .replace('.', ""),
            rand::random::<u16>()
        );
        let window_start = run_date
            .checked_sub_days(chrono::Days::new(config.execution.late_arrival_days.into()))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--date {run_date}: minus execution.late_arrival_days is before any representable date"
                ))
            })?;
        let ctx = template_context(&vars, run_date, window_start, &run_id, started_at);
        let graph = Graph::load(&config, &ctx)?;
        Ok(Project {
            config,
            graph,
            vars,
            run_id,
            run_date,
            window_start,
            full_refresh: false,
            skip_unit: false,
            started_at,
            storage_overrides: opts.storage.clone(),
        })
    }
}

pub fn template_context(
    vars: &BTreeMap<String, VarValue>,
    run_date: NaiveDate,
    window_start: NaiveDate,
    run_id: &str,
    started: DateTime<Utc>,
) -> TemplateContext {
    let mut builtins = BTreeMap::new();
    builtins.insert("run_date".to_string(), VarValue::Date(run_date).to_sql());
    builtins.insert(
        "window_start".to_string(),
        VarValue::Date(window_start).to_sql(),
    );
    builtins.insert(
        "run_id".to_string(),
        VarValue::Str(run_id.to_string()).to_sql(),
    );
    builtins.insert(
        "run_started_at".to_string(),
        format!("TIMESTAMP '{}'", started.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
    );
    TemplateContext {
        vars: vars.clone(),
        builtins,
    }
}
