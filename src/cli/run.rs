//! `parcours run`: one night, or a backfill of several nights in order, each a complete run.

use std::sync::Arc;

use chrono::NaiveDate;

use super::{DocsArgs, RunArgs, open, open_at_last_run, selection};
use crate::error::{Error, Result, exit};
use crate::run as runner;

/// `parcours run`: one night (`--date`), or every night of `--start ..= --end` in order.
pub(super) async fn run(dir: &std::path::Path, a: &RunArgs) -> Result<u8> {
    let nights: Vec<Option<NaiveDate>> = match (a.start, a.end) {
        (Some(start), Some(end)) => {
            if start > end {
                return Err(Error::Usage(format!(
                    "--start {start} is after --end {end}; a backfill runs the nights from --start to --end"
                )));
            }
            start
                .iter_days()
                .take_while(|d| *d <= end)
                .map(Some)
                .collect()
        }
        // clap requires both together; this keeps a library caller honest too
        (Some(_), None) | (None, Some(_)) => {
            return Err(Error::Usage("--start and --end go together".into()));
        }
        (None, None) => vec![a.project.date],
    };
    let backfill = a.start.is_some();
    let count = nights.len();
    for (i, night) in nights.into_iter().enumerate() {
        let started = std::time::Instant::now();
        let mut args = a.project.clone();
        args.date = night;
        let mut project = open(dir, &args)?;
        if let Some(wait) = a.wait_for_lease {
            project.config.execution.wait_for_lease = Some(wait);
        }
        // A backfill rebuilds once, then its later nights build on that as nightly runs do.
        project.full_refresh = a.full_refresh && i == 0;
        // Unit tests check SQL, not data: once before the first night is enough.
        project.skip_unit = a.skip_unit || i > 0;
        let selected = selection(&project, &a.select)?;
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let threads = a
            .threads
            .or(project.config.execution.threads)
            .unwrap_or(cores)
            .max(1);
        let run_date = project.run_date;
        let project = Arc::new(project);
        let docs = (a.docs || project.config.docs.after_run).then(|| project.clone());
        tracing::info!(event = "run_start", run_id = %project.run_id, run_date = %run_date, full_refresh = project.full_refresh, models = selected.len(), "run");
        let outcome = runner::run(project, selected, threads).await;
        let code = match &outcome {
            Ok(report) => report.exit_code(),
            Err(e) => e.exit_code(),
        };
        if backfill {
            tracing::info!(
                event = "night_end", run_date = %run_date, night = i + 1, nights = count,
                exit_code = code, seconds = started.elapsed().as_secs_f64(), "night done"
            );
        }
        // Through the logger, so that --log-format json keeps one object per line.
        let stopped = || {
            if backfill {
                tracing::error!(
                    event = "backfill_stopped", run_date = %run_date, exit_code = code,
                    "backfill stopped at {run_date} (night {} of {count}); fix it and resume with --start {run_date}",
                    i + 1
                );
            }
        };
        let report = outcome.inspect_err(|_| stopped())?;
        let summary = crate::report::render::run_summary(&report);
        if !backfill || code != exit::SUCCESS {
            print!("{summary}");
        } else {
            // One line per night; run_results.json holds the last night's details.
            println!("{run_date}  {}", summary.lines().last().unwrap_or_default());
        }
        let last = i + 1 == count;
        if let Some(project) = docs.filter(|_| last || code != exit::SUCCESS) {
            write_docs(&project).await;
        }
        if code != exit::SUCCESS {
            stopped();
            return Ok(code);
        }
    }
    Ok(exit::SUCCESS)
}

/// `run --docs`: the site is a view of the run, so failing to write it is a warning, not the
/// run's exit code.
async fn write_docs(project: &crate::project::Project) {
    match crate::site::write(project).await {
        Ok(path) => {
            tracing::info!(event = "docs_written", path = %path.display(), "site written to {}", path.display())
        }
        Err(e) => tracing::warn!(error = %e, "the site was not written"),
    }
}

/// `parcours docs`: the site of the project, its last run and its charts. Without `--date`,
/// the SQL shown resolved is that of the last published run's date.
pub(super) async fn docs(dir: &std::path::Path, a: &DocsArgs) -> Result<u8> {
    // An unreachable warehouse costs the trends and charts (the site says so), not the site.
    let project = match open_at_last_run(dir, &a.project).await {
        Ok(p) => p,
        Err(e @ (crate::error::Error::Storage { .. } | crate::error::Error::Usage(_))) => {
            tracing::warn!(error = %e, "the last run's date could not be read; the SQL is shown for today");
            open(dir, &a.project)?
        }
        Err(e) => return Err(e),
    };
    let path = crate::site::write(&project).await?;
    println!("{}", path.display());
    Ok(exit::SUCCESS)
}
