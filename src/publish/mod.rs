//! Writing a model's result and making it visible.
//!
//! A model is written under the warehouse's hidden staging area
//! (`<warehouse>/_parcours/staging/<run_id>/<table>/`), every file's footer is read back and the
//! row counts are checked against what DataFusion reported, and only then are the files moved
//! into `<warehouse>/<table>/` under new names and the commit record
//! `<table>/_parcours_commit.json` is replaced in a single PUT. Obsolete files go last. A model
//! that fails, or a run that dies before the commit record is written, leaves the previous
//! version and its record untouched; leftovers are swept by the next run ([`sweep_staging`]).
//! A partitioned table keeps the published partitions that the new result does not replace
//! ([`Replace`]).
//!
//! On local folders a table is published by one atomic directory exchange (Linux
//! `renameat2(RENAME_EXCHANGE)`), so a reader listing the folder sees the old or the new files,
//! never a mix. Object stores have no such operation: there the commit record is the atomic
//! switch, and a reader that globs the folder may see both versions for the moment between the
//! moves and the deletions (see README, "Atomic publishing").
//!
//! A `format: delta` model is staged and tested the same way and then published as one Delta
//! Lake commit ([`delta`]): there the Delta log is the table's only record, and
//! [`read_published`] reads either kind of table as the same [`CommitRecord`] view.

pub mod delta;
pub mod local;

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use chrono::NaiveDate;
use datafusion::config::TableParquetOptions;
use datafusion::datasource::file_format::format_as_file_type;
use datafusion::datasource::file_format::parquet::ParquetFormatFactory;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::prelude::DataFrame;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::catalog::{list_parquet, read_footer};
use crate::config::datatype::display;
use crate::config::{Materialization, ModelSettings, TableFormat};
use crate::error::{Error, Result};
use crate::storage::StorageRoot;

pub const COMMIT_FILE: &str = "_parcours_commit.json";
pub const STAGING: &str = "_parcours/staging";
/// The folder value Hive-style writers (DataFusion, Spark) give a null partition value.
pub const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    pub nullable: bool,
}

pub fn columns_of(schema: &SchemaRef) -> Vec<ColumnInfo> {
    schema
        .fields()
        .iter()
        .map(|f| ColumnInfo {
            name: f.name().clone(),
            data_type: display(f.data_type()),
            nullable: f.is_nullable(),
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    /// Relative to the table folder, e.g. `conversion_date=2026-11-21/part-….parquet`.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    /// The partition value a Delta log gives the file (`Some(None)`: null). Parquet tables keep
    /// it in the folder name only, so it is `None` for them and never written.
    #[serde(default, skip_serializing)]
    pub partition_value: Option<Option<String>>,
}

/// The small JSON record published beside each Parquet table: what the table is now. A Delta
/// table has no such file; its snapshot is read into this same shape ([`delta::read`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommitRecord {
    pub format_version: u32,
    pub table: String,
    pub run_id: String,
    /// The logical date (`--date`) of the run that published this version: what `show` and
    /// `test` default to. Absent in records written before it was recorded, and in the view
    /// of a Delta table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_date: Option<String>,
    pub committed_at: String,
    pub materialization: Materialization,
    pub partition_by: Option<String>,
    /// Type of the partition column (`date`, `utf8`, …) so readers can rebuild it from folder names.
    pub partition_type: Option<String>,
    pub rows: u64,
    pub bytes: u64,
    /// Columns stored in the files (the partition column lives in folder names).
    pub schema: Vec<ColumnInfo>,
    pub files: Vec<FileEntry>,
    /// Partitions this run replaced (partitioned tables only).
    pub replaced_partitions: Vec<String>,
    /// Where this view of the table was read from: this record, or a Delta log.
    #[serde(default, skip_serializing)]
    pub format: TableFormat,
    /// The Delta version this view describes (Delta tables only).
    #[serde(default, skip_serializing)]
    pub delta_version: Option<u64>,
}

/// A model's result written to staging and checked.
#[derive(Debug)]
pub struct Staged {
    pub table: String,
    pub run_id: String,
    pub prefix: Path,
    pub url: url::Url,
    /// (path relative to the staging folder, rows, bytes)
    pub files: Vec<FileEntry>,
    pub rows: u64,
    pub bytes: u64,
    pub schema: SchemaRef,
    pub partition: Option<(String, DataType)>,
    /// Which published partitions this result replaces (partitioned tables only).
    pub replace: Replace,
    /// The run's logical date, recorded in the commit record.
    pub run_date: Option<NaiveDate>,
    /// The cluster job that wrote the files (`None` on the local engine).
    pub job: Option<String>,
}

/// The partitions of a partitioned table that a publish replaces. Partitions the new result
/// has are always replaced; these say which others go as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Only the partitions the result has: a model that writes what it computed and keeps the
    /// rest (a log such as identity_history, one partition per night).
    Returned,
    /// Every partition whose date is in `start ..= end`, even one the result no longer has:
    /// a windowed model's night owns its window.
    Window { start: NaiveDate, end: NaiveDate },
    /// The whole table: a full-history model, a first build or a `--full-refresh`.
    All,
}

/// Parquet settings for a staged file: the session's Parquet options (zstd, page statistics and
/// 1 Mi-row row groups by default, see [`crate::session`], which `execution.datafusion` may
/// change), stamped with parcours's name. Nothing run-specific goes into a file (the run id is in
/// the commit record and the file names), so the same rows make the same bytes on every run. An
/// ephemeral table lives only until the run ends, so it is written with lz4, faster to write than
/// zstd for a larger file.
pub fn writer_options(
    session: &datafusion::prelude::SessionContext,
    ephemeral: bool,
) -> TableParquetOptions {
    let mut o = session.state().default_table_options().parquet;
    if ephemeral {
        o.global.compression = Some("lz4_raw".into());
    }
    o.global.created_by = format!("parcours {}", env!("CARGO_PKG_VERSION"));
    o
}

/// Streams `df` into the staging folder of `table` and verifies what landed there.
pub async fn stage(
    df: DataFrame,
    root: &StorageRoot,
    table: &str,
    run_id: &str,
    partition: Option<(String, DataType)>,
    options: TableParquetOptions,
) -> Result<Staged> {
    let rel = format!("{STAGING}/{run_id}/{table}");
    let url = root.folder_url(&rel)?;
    let prefix = root.path(&rel);
    let full_schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    // What `DataFrame::write_parquet` does, with the physical plan kept: on a cluster it names
    // the scheduler's job, which the run log describes.
    let writing =
        |e: datafusion::error::DataFusionError| Error::query(&format!("writing `{table}`"), &e);
    let (state, plan) = df.into_parts();
    let format = Arc::new(ParquetFormatFactory::new_with_options(options));
    let partition_by = partition.iter().map(|(c, _)| c.clone()).collect();
    let plan = LogicalPlanBuilder::copy_to(
        plan,
        url.to_string(),
        format_as_file_type(format),
        Default::default(),
        partition_by,
    )
    .and_then(|b| b.build())
    .map_err(writing)?;
    let physical = state.create_physical_plan(&plan).await.map_err(writing)?;
    let counts = datafusion::physical_plan::collect(Arc::clone(&physical), state.task_ctx())
        .await
        .map_err(writing)?;
    #[cfg(feature = "cluster")]
    let job = crate::cluster::job_of(&physical);
    #[cfg(not(feature = "cluster"))]
    let job = None;
    let reported: u64 = counts
        .iter()
        .filter_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow::array::UInt64Array>()
        })
        .map(|a| a.iter().flatten().sum::<u64>())
        .sum();

    let file_schema: SchemaRef = match &partition {
        Some((col, _)) => Arc::new(arrow::datatypes::Schema::new(
            full_schema
                .fields()
                .iter()
                .filter(|f| f.name() != col)
                .cloned()
                .collect::<Vec<_>>(),
        )),
        None => full_schema.clone(),
    };

    let mut metas = list_parquet(&root.store, &prefix)
        .await
        .map_err(|e| Error::storage(&root.name, format!("cannot list staging {url}: {e}")))?;
    if metas.is_empty() && partition.is_none() {
        // An empty result still publishes a file, so readers see the table and its columns.
        write_empty(
            &root.store,
            &prefix.clone().join("part-0.parquet"),
            &file_schema,
        )
        .await?;
        metas = list_parquet(&root.store, &prefix)
            .await
            .map_err(|e| Error::storage(&root.name, e))?;
    }
    let mut files = Vec::new();
    let mut rows = 0;
    let mut bytes = 0;
    for m in &metas {
        let facts = read_footer(root.store.clone(), m).await.map_err(|e| {
            Error::storage(
                &root.name,
                format!("staged file {} does not read back: {e}", m.location),
            )
        })?;
        let rel_path: Vec<String> = m
            .location
            .prefix_match(&prefix)
            .map(|p| p.map(|s| s.as_ref().to_string()).collect())
            .unwrap_or_default();
        rows += facts.rows;
        bytes += facts.size;
        files.push(FileEntry {
            path: rel_path.join("/"),
            rows: facts.rows,
            bytes: facts.size,
            partition_value: None,
        });
    }
    if rows != reported {
        return Err(Error::storage(
            &root.name,
            format!(
                "`{table}`: DataFusion wrote {reported} rows but the staged files hold {rows}; not publishing"
            ),
        ));
    }
    tracing::debug!(event = "staged", model = %table, files = files.len(), rows, bytes, "staged and read back");
    Ok(Staged {
        table: table.to_string(),
        run_id: run_id.to_string(),
        prefix,
        url,
        files,
        rows,
        bytes,
        schema: file_schema,
        partition,
        replace: Replace::Returned,
        run_date: None,
        job,
    })
}

async fn write_empty(store: &Arc<dyn ObjectStore>, path: &Path, schema: &SchemaRef) -> Result<()> {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .set_created_by(format!("parcours {}", env!("CARGO_PKG_VERSION")))
        .build();
    let writer = object_store::buffered::BufWriter::new(store.clone(), path.clone());
    let w = parquet::arrow::AsyncArrowWriter::try_new(writer, schema.clone(), Some(props))
        .map_err(|e| Error::Internal(e.to_string()))?;
    w.close()
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(())
}

/// Reads the current commit record of `table`, if it was ever published.
pub async fn read_commit(root: &StorageRoot, table: &str) -> Result<Option<CommitRecord>> {
    let path = root.path(&format!("{table}/{COMMIT_FILE}"));
    match root.store.get(&path).await {
        Ok(r) => {
            let bytes = r.bytes().await.map_err(|e| Error::storage(&root.name, e))?;
            let rec = serde_json::from_slice(&bytes).map_err(|e| {
                Error::storage(&root.name, format!("{path} is not a parcours commit record ({e}); delete it to republish the table"))
            })?;
            Ok(Some(rec))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(Error::storage(
            &root.name,
            format!("cannot read {path}: {e}"),
        )),
    }
}

/// What `table` is now, whichever way it is published: a Delta log, when the table folder
/// has one, wins over a commit record (a conversion to Delta removes the record only after
/// its first commit), else the commit record, else `None` (never published).
pub async fn read_published(root: &StorageRoot, table: &str) -> Result<Option<CommitRecord>> {
    if let Some(record) = delta::read(root, table).await? {
        return Ok(Some(record));
    }
    read_commit(root, table).await
}

/// The last run that published one of `tables` and recorded its date: `(run_date, run_id,
/// committed_at)` of the newest commit record (one read per table, all at once). Delta tables
/// and records older than the `run_date` field do not count.
pub async fn last_run(
    root: &StorageRoot,
    tables: impl Iterator<Item = &str>,
) -> Result<Option<(NaiveDate, String, String)>> {
    let records = futures::future::try_join_all(tables.map(|t| read_commit(root, t))).await?;
    Ok(records
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let date = crate::config::parse_date(r.run_date.as_deref()?)?;
            Some((date, r.run_id, r.committed_at))
        })
        // committed_at is RFC 3339 in UTC with millisecond precision: text order is time order
        .max_by(|a, b| a.2.cmp(&b.2).then_with(|| a.0.cmp(&b.0))))
}

/// The first of `models` whose settings say `format: parquet` but whose published table is a
/// Delta table (one listing request per model, all at once).
pub async fn delta_now_parquet<'a>(
    root: &StorageRoot,
    models: impl Iterator<Item = (&'a str, &'a ModelSettings)>,
) -> Result<Option<String>> {
    let parquet: Vec<&str> = models
        .filter(|(_, s)| s.is_published() && s.format == TableFormat::Parquet)
        .map(|(n, _)| n)
        .collect();
    let found =
        futures::future::try_join_all(parquet.iter().map(|n| delta::exists(root, n))).await?;
    Ok(parquet
        .into_iter()
        .zip(found)
        .find(|(_, d)| *d)
        .map(|(n, _)| n.to_string()))
}

/// The error for a table published as Delta whose model now says `format: parquet`.
pub fn format_switch_error(root: &StorageRoot, table: &str) -> String {
    format!(
        "model `{table}` is `format: parquet`, but the table published at {} is a Delta table; parcours does not turn a Delta table back into plain Parquet, because its history and every reader that follows its log would be lost. Set `format: delta` on the model again, or move the table folder away and run again to publish plain Parquet",
        root.url
            .join(&format!("{table}/"))
            .map(|u| u.to_string())
            .unwrap_or_default()
    )
}

/// Makes `staged` the current version of its table and returns the new commit record (for a
/// Delta table, the view of the new snapshot).
pub async fn publish(
    root: &StorageRoot,
    staged: Staged,
    settings: &ModelSettings,
) -> Result<CommitRecord> {
    let table = staged.table.clone();
    let previous = read_published(root, &table).await?;
    if settings.format == TableFormat::Parquet
        && previous
            .as_ref()
            .is_some_and(|p| p.format == TableFormat::Delta)
    {
        return Err(Error::Usage(format_switch_error(root, &table)));
    }
    let (record, moves) = next_version(root, &staged, previous.as_ref(), settings.materialization);
    tracing::debug!(event = "publishing", model = %table, files = record.files.len(), format = settings.format.as_str(), "swapping in the new version");
    match settings.format {
        TableFormat::Delta => {
            delta::publish(
                root,
                &staged,
                record,
                &moves,
                previous.as_ref(),
                settings.vacuum_retention,
            )
            .await
        }
        TableFormat::Parquet => {
            if let Some(dir) = root.local_dir() {
                crate::publish::local::publish(&dir, &staged, &record, &moves_rel(&moves, root))
                    .await?;
            } else {
                publish_object_store(root, &record, &moves).await?;
            }
            Ok(record)
        }
    }
}

/// The version `staged` makes of its table, and the (staged object, final object) moves that
/// put its files in place. New files get names carrying the run id, so they never collide with
/// files readers may be reading. A partitioned table keeps the published partitions the run
/// does not replace ([`Replace`]).
fn next_version(
    root: &StorageRoot,
    staged: &Staged,
    previous: Option<&CommitRecord>,
    materialization: Materialization,
) -> (CommitRecord, Vec<(Path, Path)>) {
    let table = staged.table.clone();
    let part_col = staged.partition.as_ref().map(|(c, _)| c.clone());

    let mut new_files = Vec::new();
    let mut moves = Vec::new();
    let mut replaced: BTreeSet<String> = BTreeSet::new();
    for (i, f) in staged.files.iter().enumerate() {
        let dir = f.path.rsplit_once('/').map(|(d, _)| d.to_string());
        if let Some(d) = &dir {
            replaced.insert(d.clone());
        }
        let name = format!("part-{}-{i:05}.parquet", staged.run_id);
        let rel = match &dir {
            Some(d) => format!("{d}/{name}"),
            None => name,
        };
        moves.push((
            staged.prefix.clone().join_rel(&f.path),
            root.path(&format!("{table}/{rel}")),
        ));
        new_files.push(FileEntry {
            path: rel,
            rows: f.rows,
            bytes: f.bytes,
            partition_value: None,
        });
    }

    // Partitions not recomputed by this run are kept as they are.
    let mut kept = Vec::new();
    if materialization == Materialization::Partitioned
        && let Some(prev) = previous
        && prev.partition_by == part_col
    {
        for f in &prev.files {
            let dir = f
                .path
                .rsplit_once('/')
                .map(|(d, _)| d.to_string())
                .unwrap_or_default();
            if replaced.contains(&dir) {
                continue;
            }
            let owned = match staged.replace {
                Replace::Returned => false,
                Replace::All => true,
                Replace::Window { start, end } => {
                    partition_date(&dir).is_some_and(|d| start <= d && d <= end)
                }
            };
            if owned {
                // replaced by nothing: the partition no longer has rows
                replaced.insert(dir);
            } else {
                kept.push(f.clone());
            }
        }
    }
    let mut files = kept;
    files.extend(new_files);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let record = CommitRecord {
        format_version: 1,
        table: table.clone(),
        run_id: staged.run_id.clone(),
        run_date: staged.run_date.map(|d| d.to_string()),
        committed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        materialization,
        partition_by: part_col,
        partition_type: staged.partition.as_ref().map(|(_, t)| display(t)),
        rows: files.iter().map(|f| f.rows).sum(),
        bytes: files.iter().map(|f| f.bytes).sum(),
        schema: columns_of(&staged.schema),
        files,
        replaced_partitions: replaced.into_iter().collect(),
        format: TableFormat::Parquet,
        delta_version: None,
    };
    (record, moves)
}

fn moves_rel(moves: &[(Path, Path)], root: &StorageRoot) -> Vec<(String, String)> {
    let strip = |p: &Path| {
        p.prefix_match(&root.prefix)
            .map(|it| {
                it.map(|s| s.as_ref().to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_default()
    };
    moves.iter().map(|(a, b)| (strip(a), strip(b))).collect()
}

async fn publish_object_store(
    root: &StorageRoot,
    record: &CommitRecord,
    moves: &[(Path, Path)],
) -> Result<()> {
    let table = &record.table;
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::storage(&root.name, format!("publishing `{table}`: {what}: {e}"))
    };
    futures::stream::iter(moves.iter().cloned().map(|(from, to)| {
        let store = root.store.clone();
        async move { store.copy(&from, &to).await.map_err(|e| (from, to, e)) }
    }))
    .buffer_unordered(8)
    .try_collect::<Vec<()>>()
    .await
    .map_err(|(from, to, e)| fail(&format!("copy {from} -> {to}"), &e))?;
    tracing::debug!(event = "copied", model = %table, files = moves.len(), "new files in place, commit record next");
    let body = serde_json::to_vec_pretty(record).map_err(|e| Error::Internal(e.to_string()))?;
    let commit_path = root.path(&format!("{table}/{COMMIT_FILE}"));
    root.store
        .put(&commit_path, PutPayload::from(body))
        .await
        .map_err(|e| fail("commit record", &e))?;
    tracing::debug!(event = "committed", model = %table, run_id = %record.run_id, "commit record replaced");

    // Everything in the table folder that the record does not list is now obsolete, including
    // files a crashed run left behind.
    let keep: BTreeSet<Path> = record
        .files
        .iter()
        .map(|f| root.path(&format!("{table}/{}", f.path)))
        .collect();
    let table_prefix = root.path(table);
    let obsolete: Vec<Path> = root
        .store
        .list(Some(&table_prefix))
        .map_ok(|m| m.location)
        .try_filter(|p| futures::future::ready(!keep.contains(p) && *p != commit_path))
        .try_collect()
        .await
        .map_err(|e| fail("listing", &e))?;
    delete_all(&root.store, obsolete)
        .await
        .map_err(|e| fail("deleting obsolete files", &e))?;
    let staged: Vec<Path> = moves.iter().map(|(from, _)| from.clone()).collect();
    delete_all(&root.store, staged)
        .await
        .map_err(|e| fail("cleaning staging", &e))?;
    tracing::debug!(event = "cleaned", model = %table, "obsolete and staged files deleted");
    Ok(())
}

pub async fn delete_all(
    store: &Arc<dyn ObjectStore>,
    paths: Vec<Path>,
) -> object_store::Result<()> {
    futures::stream::iter(paths.into_iter().map(|p| {
        let store = store.clone();
        async move {
            match store.delete(&p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        }
    }))
    .buffer_unordered(16)
    .try_collect::<Vec<()>>()
    .await
    .map(|_| ())
}

/// Removes a staged result that will not be published.
pub async fn discard(root: &StorageRoot, staged: &Staged) {
    discard_table(root, &staged.run_id, &staged.table).await;
}

/// Removes whatever this run staged for `table` (a write that failed half-way included).
pub async fn discard_table(root: &StorageRoot, run_id: &str, table: &str) {
    let prefix = root.path(&format!("{STAGING}/{run_id}/{table}"));
    let paths: Vec<Path> = match root
        .store
        .list(Some(&prefix))
        .map_ok(|m| m.location)
        .try_collect()
        .await
    {
        Ok(p) => p,
        Err(_) => return,
    };
    let _ = delete_all(&root.store, paths).await;
    if let Some(dir) = root.local_dir() {
        let _ = std::fs::remove_dir_all(dir.join(format!("{STAGING}/{run_id}/{table}")));
    }
}

/// Deletes staging leftovers of earlier runs (crashed or killed); returns how many objects went.
pub async fn sweep_staging(root: &StorageRoot, current_run: &str) -> Result<usize> {
    let prefix = root.path(STAGING);
    let current = root.path(&format!("{STAGING}/{current_run}"));
    let paths: Vec<Path> = root
        .store
        .list(Some(&prefix))
        .map_ok(|m| m.location)
        .try_filter(|p| futures::future::ready(p.prefix_match(&current).is_none()))
        .try_collect()
        .await
        .map_err(|e| Error::storage(&root.name, format!("cannot list {prefix}: {e}")))?;
    let n = paths.len();
    delete_all(&root.store, paths)
        .await
        .map_err(|e| Error::storage(&root.name, e))?;
    if let Some(dir) = root.local_dir()
        && let Ok(entries) = std::fs::read_dir(dir.join(STAGING))
    {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy() != current_run {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(n)
}

/// Removes everything this run staged (ephemeral tables, what failed models left behind);
/// best effort, as the next run's sweep catches what remains.
pub async fn clear_run_staging(root: &StorageRoot, run_id: &str) {
    let prefix = root.path(&format!("{STAGING}/{run_id}"));
    if let Ok(paths) = root
        .store
        .list(Some(&prefix))
        .map_ok(|m| m.location)
        .try_collect::<Vec<Path>>()
        .await
    {
        let _ = delete_all(&root.store, paths).await;
    }
    if let Some(dir) = root.local_dir() {
        let _ = std::fs::remove_dir_all(dir.join(format!("{STAGING}/{run_id}")));
    }
}

/// Writes a tiny object and deletes it: fails early, before any model runs, when the warehouse
/// is not writable. It lives in the run's staging folder, so that a run killed between the
/// write and the delete leaves it where the next run's [`sweep_staging`] removes it.
pub async fn probe_writable(root: &StorageRoot, run_id: &str) -> Result<()> {
    let path = root.path(&format!("{STAGING}/{run_id}/_probe"));
    root.store
        .put(&path, PutPayload::from_static(b"parcours write probe"))
        .await
        .map_err(|e| {
            Error::storage(
                &root.name,
                format!("the warehouse {} is not writable: {e}", root.url),
            )
        })?;
    let _ = root.store.delete(&path).await;
    if let Some(dir) = root.local_dir() {
        // Only if empty: a run that fails before it stages anything leaves no folder behind.
        let _ = std::fs::remove_dir(dir.join(format!("{STAGING}/{run_id}")));
    }
    Ok(())
}

/// `Path::join` for a `/`-separated relative path.
trait JoinRel {
    fn join_rel(self, rel: &str) -> Path;
}

impl JoinRel for Path {
    fn join_rel(self, rel: &str) -> Path {
        rel.split('/')
            .filter(|s| !s.is_empty())
            .fold(self, |p, s| p.join(s))
    }
}

/// The date of a partition folder name such as `date=2026-11-21`, if it is one.
pub fn partition_date(dir: &str) -> Option<NaiveDate> {
    let (_, value) = dir.rsplit('/').next()?.split_once('=')?;
    crate::config::parse_date(value)
}

/// Keeps the partition type map used by readers of published tables.
/// The table's schema as readers see it (file columns, then the partition column), rebuilt
/// from the commit record: a table published with no file at all still has its columns.
pub fn schema_of(record: &CommitRecord) -> Option<SchemaRef> {
    let mut fields = Vec::new();
    for c in &record.schema {
        let t = crate::config::datatype::parse_type(&c.data_type).ok()?;
        fields.push(arrow::datatypes::Field::new(&c.name, t, c.nullable));
    }
    for (name, t) in partition_of(record) {
        fields.push(arrow::datatypes::Field::new(name, t, true));
    }
    Some(Arc::new(arrow::datatypes::Schema::new(fields)))
}

pub fn partition_of(record: &CommitRecord) -> Vec<(String, DataType)> {
    match (&record.partition_by, &record.partition_type) {
        (Some(c), Some(t)) => vec![(
            c.clone(),
            crate::config::datatype::parse_type(t).unwrap_or(DataType::Utf8),
        )],
        _ => Vec::new(),
    }
}
