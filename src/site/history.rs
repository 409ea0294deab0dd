//! The runs the warehouse remembers: each `parcours run` leaves a small summary (per model:
//! status, rows, bytes, duration) at `<warehouse>/_parcours/runs/<run_id>.json`, so the site's
//! trends and row-count flags compare tonight with earlier nights wherever the site is built,
//! not only on the machine that ran them. Commit records say what a table is now; these say
//! what each run did.

use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::PutPayload;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::run::{RunReport, status_word};
use crate::storage::StorageRoot;

pub const RUNS_DIR: &str = "_parcours/runs";

/// One model in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelPoint {
    pub model: String,
    /// `ok`, `warn`, `error`, `test failed` or `skipped`.
    pub status: String,
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
    pub duration_s: f64,
    /// Which partitions a partitioned model rewrote (`all`, a window, `returned`): rows are
    /// compared only between runs that rewrote the same kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions_rewritten: Option<String>,
}

/// What one run did, as kept in the warehouse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_id: String,
    pub run_date: String,
    pub started_at: String,
    pub elapsed_s: f64,
    pub success: bool,
    pub models: Vec<ModelPoint>,
}

pub fn summary_of(report: &RunReport) -> RunSummary {
    RunSummary {
        run_id: report.run_id.clone(),
        run_date: report.run_date.clone(),
        started_at: report.started_at.clone(),
        elapsed_s: report.elapsed_s,
        success: report.success,
        models: report
            .results
            .iter()
            .map(|m| ModelPoint {
                model: m.model.clone(),
                status: status_word(m.status).to_string(),
                rows: m.rows,
                bytes: m.bytes,
                duration_s: m.duration_s,
                partitions_rewritten: m.partitions_rewritten.clone(),
            })
            .collect(),
    }
}

/// Keeps `report`'s summary in the warehouse (one small PUT).
pub async fn record(wh: &StorageRoot, report: &RunReport) -> Result<()> {
    let path = wh.path(&format!("{RUNS_DIR}/{}.json", report.run_id));
    let body =
        serde_json::to_vec(&summary_of(report)).map_err(|e| Error::Internal(e.to_string()))?;
    wh.store
        .put(&path, PutPayload::from(body))
        .await
        .map_err(|e| Error::storage(&wh.name, format!("cannot write {path}: {e}")))?;
    Ok(())
}

/// The last `limit` runs the warehouse keeps, oldest first. Run ids start with their start
/// time, so the file names sort in time order. A summary that does not read is skipped with a
/// warning: it costs a trend point, not the site.
pub async fn load(wh: &StorageRoot, limit: usize) -> Result<Vec<RunSummary>> {
    let prefix = wh.path(RUNS_DIR);
    let mut files: Vec<object_store::ObjectMeta> = wh
        .store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| Error::storage(&wh.name, format!("cannot list {prefix}: {e}")))?;
    files.retain(|m| m.location.as_ref().ends_with(".json"));
    files.sort_by(|a, b| a.location.cmp(&b.location));
    let skip = files.len().saturating_sub(limit);
    let mut runs = Vec::new();
    for m in files.into_iter().skip(skip) {
        let read = async {
            let bytes = wh.store.get(&m.location).await?.bytes().await?;
            Ok::<_, object_store::Error>(bytes)
        };
        match read.await {
            Ok(bytes) => match serde_json::from_slice::<RunSummary>(&bytes) {
                Ok(r) => runs.push(r),
                Err(e) => {
                    tracing::warn!(file = %m.location, error = %e, "not a run summary; left out of the trends")
                }
            },
            Err(e) => {
                tracing::warn!(file = %m.location, error = %e, "run summary unreadable; left out of the trends")
            }
        }
    }
    Ok(runs)
}
