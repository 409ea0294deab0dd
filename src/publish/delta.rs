//! Delta Lake tables (`format: delta`): the table's transaction log `<table>/_delta_log/` is
//! its one record of what the table is. No `_parcours_commit.json` is written beside it.
//!
//! A model is staged and tested exactly as for Parquet tables. Publishing then moves the staged
//! files into the table folder under new names (renamed on local folders, copied on object
//! stores) and writes ONE Delta commit, `_delta_log/<version>.json`, created with a conditional
//! put (put-if-absent): `add` actions for the new files, `remove` actions for every file of the
//! partitions the run replaces (all of them for a `table`), and the table's metadata when its
//! schema changes. That single object is the atomic switch: every Delta reader (Spark, Trino,
//! DuckDB, the `deltalake` package, parcours itself) sees the previous version or the new one.
//! Files a killed run copied but never committed are listed by no version, and no Delta reader
//! opens them; the next publish of the table deletes them.
//!
//! Replaced files are not deleted at once: a reader that planned its query on the previous
//! version may still be reading them. They are vacuumed once they have been out of the table
//! for the model's `vacuum_retention` (one week by default, Delta's own default), which is also
//! written to the table as `delta.deletedFileRetentionDuration` so that other tools' VACUUM keeps
//! the same promise. parcours vacuums after each publish of the table and writes no VACUUM
//! entries to the log.
//!
//! Reading ([`read`]) turns the current snapshot into the same [`CommitRecord`] view the
//! Parquet tables have, so the next run, `parcours test` and sources pointing at a published
//! table read exactly the snapshot's files. Tables that need more of the protocol than plain
//! Parquet files (deletion vectors, column mapping) or that keep files outside their folder
//! are refused with a message rather than read wrongly.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake_core::DeltaTable;
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties, TableReference};
use deltalake_core::kernel::{Action, Add, Metadata, MetadataExt, Protocol, Remove, StructType};
use deltalake_core::logstore::{LogStoreRef, StorageConfig, default_logstore};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectMeta, ObjectStoreExt};

use crate::config::datatype::display;
use crate::config::{Materialization, TableFormat};
use crate::error::{Error, Result};
use crate::publish::{COMMIT_FILE, CommitRecord, FileEntry, Staged, delete_all};
use crate::storage::StorageRoot;

/// The folder of a table's transaction log.
pub const LOG_DIR: &str = "_delta_log";

/// The Delta log store of `table` below `root`, through the root's own object store (so the
/// credentials, endpoints, retries and timeouts of the root apply to the log too).
fn log_store(root: &StorageRoot, table: &str) -> Result<LogStoreRef> {
    let url = root.folder_url(table)?;
    let prefixed: Arc<dyn object_store::ObjectStore> =
        Arc::new(PrefixStore::new(root.store.clone(), root.path(table)));
    Ok(default_logstore(
        prefixed,
        root.store.clone(),
        &url,
        &StorageConfig::default(),
    ))
}

/// Whether a Delta log with at least one entry exists for `table` (one listing request).
pub async fn exists(root: &StorageRoot, table: &str) -> Result<bool> {
    let prefix = root.path(&format!("{table}/{LOG_DIR}"));
    let mut listing = root.store.list(Some(&prefix));
    match listing.next().await {
        None => Ok(false),
        Some(Ok(_)) => Ok(true),
        Some(Err(e)) => Err(Error::storage(
            &root.name,
            format!(
                "cannot list {}: {e}",
                url_of(root, &format!("{table}/{LOG_DIR}/"))
            ),
        )),
    }
}

fn url_of(root: &StorageRoot, rel: &str) -> String {
    root.url
        .join(rel)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| rel.to_string())
}

/// Loads the current snapshot of `table`, if it is a Delta table.
async fn load(root: &StorageRoot, table: &str) -> Result<Option<DeltaTable>> {
    if !exists(root, table).await? {
        return Ok(None);
    }
    let mut t = DeltaTable::new(log_store(root, table)?);
    match t.load().await {
        Ok(()) => Ok(Some(t)),
        Err(e) => Err(Error::storage(
            &root.name,
            format!(
                "the Delta log of `{table}` at {} does not read: {e}",
                url_of(root, &format!("{table}/{LOG_DIR}/"))
            ),
        )),
    }
}

/// The Delta snapshot of `table` as a [`CommitRecord`] view, if `table` is a Delta table.
pub async fn read(root: &StorageRoot, table: &str) -> Result<Option<CommitRecord>> {
    let Some(t) = load(root, table).await? else {
        return Ok(None);
    };
    describe(root, table, &t).await.map(Some)
}

fn unreadable(root: &StorageRoot, table: &str, why: impl std::fmt::Display) -> Error {
    Error::storage(
        &root.name,
        format!(
            "the Delta table `{table}` at {} {why}",
            url_of(root, &format!("{table}/"))
        ),
    )
}

async fn describe(root: &StorageRoot, table: &str, t: &DeltaTable) -> Result<CommitRecord> {
    let state = t
        .snapshot()
        .map_err(|e| unreadable(root, table, format!("has no snapshot: {e}")))?;
    if state
        .metadata()
        .configuration()
        .get("delta.columnMapping.mode")
        .is_some_and(|m| m != "none")
    {
        return Err(unreadable(
            root,
            table,
            "uses column mapping, which parcours does not read; publish it without `delta.columnMapping.mode`",
        ));
    }
    let partitions = state.metadata().partition_columns().to_vec();
    if partitions.len() > 1 {
        return Err(unreadable(
            root,
            table,
            format!(
                "is partitioned by {} columns ({}); parcours reads tables of one partition column",
                partitions.len(),
                partitions.join(", ")
            ),
        ));
    }
    let arrow = state.snapshot().arrow_schema();
    let part_col = partitions.first().cloned();
    let part_type = match &part_col {
        Some(c) => Some(
            arrow
                .field_with_name(c)
                .map_err(|e| unreadable(root, table, e))?
                .data_type()
                .clone(),
        ),
        None => None,
    };
    let mut files = Vec::new();
    for f in state.log_data().iter() {
        if f.deletion_vector_descriptor().is_some() {
            return Err(unreadable(
                root,
                table,
                format!(
                    "has deletion vectors (file {}), which parcours does not read; rewrite the table without them (`delta.enableDeletionVectors = false`, then OPTIMIZE)",
                    f.path()
                ),
            ));
        }
        let path = f.path().to_string();
        if path.contains("://") || path.starts_with('/') {
            return Err(unreadable(
                root,
                table,
                format!(
                    "lists the file {path} outside its folder (a shallow clone); parcours reads files inside the table folder only"
                ),
            ));
        }
        let rows = match f.num_records() {
            Some(n) => n as u64,
            None => footer_rows(root, table, &path, f.size()).await?,
        };
        let partition_value = part_col
            .as_ref()
            .map(|c| f.partition_values_map().get(c).cloned().flatten());
        files.push(FileEntry {
            path,
            rows,
            bytes: f.size().max(0) as u64,
            partition_value,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let file_fields: Vec<Field> = arrow
        .fields()
        .iter()
        .filter(|f| Some(f.name()) != part_col.as_ref())
        .map(|f| f.as_ref().clone())
        .collect();
    let version = state.version();
    let committed_at = state
        .version_timestamp(version)
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    Ok(CommitRecord {
        format_version: 1,
        table: table.to_string(),
        run_id: String::new(),
        run_date: None,
        committed_at,
        materialization: if part_col.is_some() {
            Materialization::Partitioned
        } else {
            Materialization::Table
        },
        partition_by: part_col,
        partition_type: part_type.as_ref().map(display),
        rows: files.iter().map(|f| f.rows).sum(),
        bytes: files.iter().map(|f| f.bytes).sum(),
        schema: crate::publish::columns_of(&Arc::new(Schema::new(file_fields))),
        files,
        replaced_partitions: Vec::new(),
        format: TableFormat::Delta,
        delta_version: Some(version),
    })
}

/// A file whose `add` action carries no row count (another writer's): its footer says.
async fn footer_rows(root: &StorageRoot, table: &str, path: &str, size: i64) -> Result<u64> {
    let location = root.path(&format!("{table}/{path}"));
    let meta = ObjectMeta {
        location,
        last_modified: chrono::Utc::now(),
        size: size.max(0) as u64,
        e_tag: None,
        version: None,
    };
    crate::catalog::read_footer(root.store.clone(), &meta)
        .await
        .map(|f| f.rows)
        .map_err(|e| {
            unreadable(
                root,
                table,
                format!("lists {path}, which does not read: {e}"),
            )
        })
}

/// Why `schema` (the model's result, partition column included) cannot be a Delta table, if it
/// cannot: Delta has fewer types than Arrow, and without column mapping some characters are not
/// allowed in column names. Checked when the model is planned, so `validate` reports it.
pub fn check_schema(
    schema: &SchemaRef,
    partition_by: Option<&str>,
) -> std::result::Result<(), String> {
    for f in schema.fields() {
        let name = f.name();
        if let Some(c) = name.chars().find(|c| " ,;{}()\n\t=".contains(*c)) {
            return Err(format!(
                "column `{name}` has the character {c:?}, which Delta Lake does not allow in a column name (without column mapping); rename it with `as`"
            ));
        }
        let t = f.data_type();
        let fix = |why: &str, expr: String| {
            format!(
                "column `{name}` is `{}`, {why}; convert it in the model's SQL: `{expr} as {name}`",
                display(t)
            )
        };
        let utc = format!("arrow_cast({name}, 'Timestamp(Microsecond, Some(\"UTC\"))')");
        match t {
            DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Float32
            | DataType::Float64
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::Date32
            | DataType::Null => {}
            DataType::Decimal128(p, s) if *p <= 38 && *s >= 0 => {}
            DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => {}
            DataType::Timestamp(_, Some(_)) => {
                return Err(fix("but Delta Lake stores timestamps in microseconds", utc));
            }
            DataType::Timestamp(_, None) => {
                return Err(fix(
                    "a timestamp without a time zone, which Delta Lake stores only with the `timestampNtz` table feature that many readers lack",
                    utc,
                ));
            }
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
                return Err(fix(
                    "but Delta Lake has no unsigned integers",
                    format!("cast({name} as bigint)"),
                ));
            }
            DataType::Date64 => {
                return Err(fix(
                    "but Delta Lake dates are days",
                    format!("cast({name} as date)"),
                ));
            }
            other => {
                return Err(format!(
                    "column `{name}` is `{}`, which parcours does not publish to Delta Lake; cast it to a string, number, boolean, date, decimal or UTC timestamp",
                    display(other)
                ));
            }
        }
        if Some(name.as_str()) == partition_by
            && !matches!(
                t,
                DataType::Utf8
                    | DataType::LargeUtf8
                    | DataType::Utf8View
                    | DataType::Date32
                    | DataType::Int32
                    | DataType::Int64
            )
        {
            return Err(format!(
                "the partition column `{name}` is `{}`; a Delta partition column here is a date, a string or an integer",
                display(t)
            ));
        }
    }
    Ok(())
}

/// The Delta schema of a table: the staged files' columns, then the partition column.
fn table_schema(staged: &Staged) -> Result<StructType> {
    let mut fields: Vec<Field> = staged
        .schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    if let Some((c, t)) = &staged.partition {
        fields.push(Field::new(c, t.clone(), true));
    }
    // Delta has one string and one binary type: the encoding DataFusion chose does not matter.
    let fields: Vec<Field> = fields
        .into_iter()
        .map(|f| match f.data_type() {
            DataType::LargeUtf8 | DataType::Utf8View => f.with_data_type(DataType::Utf8),
            DataType::LargeBinary | DataType::BinaryView => f.with_data_type(DataType::Binary),
            _ => f,
        })
        .collect();
    let schema = Schema::new(fields);
    let delta: StructType = (&schema).try_into_kernel().map_err(|e| {
        Error::Internal(format!(
            "`{}`: no Delta schema for {schema:?}: {e}",
            staged.table
        ))
    })?;
    Ok(delta)
}

fn retention_property(retention: Duration) -> String {
    format!("interval {} seconds", retention.as_secs())
}

const RETENTION_KEY: &str = "delta.deletedFileRetentionDuration";

/// The text of a partition folder's value (`order_date=2026-11-20` → `2026-11-20`), as the
/// Delta log records it: object_store escapes some characters in path segments.
fn folder_value(dir: &str, col: &str) -> Option<String> {
    let seg = dir
        .split('/')
        .find_map(|seg| seg.strip_prefix(&format!("{col}=")))?;
    let value = percent_encoding::percent_decode_str(seg)
        .decode_utf8_lossy()
        .into_owned();
    Some(value)
}

/// What the new version lists for each file: its partition value.
fn partition_values(f: &FileEntry, col: Option<&str>) -> HashMap<String, Option<String>> {
    let mut out = HashMap::new();
    if let Some(col) = col {
        let value = match &f.partition_value {
            Some(v) => v.clone(),
            None => f
                .path
                .rsplit_once('/')
                .and_then(|(dir, _)| folder_value(dir, col))
                .filter(|v| v != crate::publish::HIVE_NULL),
        };
        out.insert(col.to_string(), value);
    }
    out
}

/// Publishes `record`, the new version computed by [`super::next_version`], as one Delta
/// commit. `moves` are (staged object, final object); `previous` is what the table was.
pub async fn publish(
    root: &StorageRoot,
    staged: &Staged,
    mut record: CommitRecord,
    moves: &[(Path, Path)],
    previous: Option<&CommitRecord>,
    retention: Duration,
) -> Result<CommitRecord> {
    let table = record.table.clone();
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::storage(&root.name, format!("publishing `{table}`: {what}: {e}"))
    };
    let log = log_store(root, &table)?;
    let mut current = DeltaTable::new(log.clone());
    let snapshot = match previous.map(|p| p.format) {
        Some(TableFormat::Delta) => {
            current
                .load()
                .await
                .map_err(|e| fail("reading the Delta log", &e))?;
            Some(
                current
                    .snapshot()
                    .map_err(|e| fail("reading the Delta log", &e))?,
            )
        }
        _ => None,
    };

    // The new files go in under their final names; readers of the log do not see them yet.
    let local = root.local_dir().is_some();
    futures::stream::iter(moves.iter().cloned().map(|(from, to)| {
        let store = root.store.clone();
        async move {
            let r = if local {
                store.rename(&from, &to).await
            } else {
                store.copy(&from, &to).await
            };
            r.map_err(|e| (from, to, e))
        }
    }))
    .buffer_unordered(8)
    .try_collect::<Vec<()>>()
    .await
    .map_err(|(from, to, e)| fail(&format!("copy {from} -> {to}"), &e))?;
    tracing::debug!(event = "copied", model = %table, files = moves.len(), "new files in place, Delta commit next");

    let now = chrono::Utc::now().timestamp_millis();
    let part_col = record.partition_by.clone();
    let listed: BTreeSet<&str> = record.files.iter().map(|f| f.path.as_str()).collect();
    let was_delta = snapshot.is_some();
    let before: Vec<&FileEntry> = match previous {
        Some(p) if was_delta => p.files.iter().collect(),
        _ => Vec::new(),
    };
    let before_paths: BTreeSet<&str> = before.iter().map(|f| f.path.as_str()).collect();
    let mut actions = Vec::new();

    let schema = table_schema(staged)?;
    let partition_cols: Vec<String> = part_col.iter().cloned().collect();
    let wanted_retention = retention_property(retention);
    let metadata: Option<Metadata> = match &snapshot {
        None => Some(
            deltalake_core::kernel::new_metadata(
                &schema,
                partition_cols.clone(),
                [(RETENTION_KEY.to_string(), wanted_retention.clone())],
            )
            .map_err(|e| Error::Internal(format!("`{table}`: Delta metadata: {e}")))?,
        ),
        Some(state) => {
            let old = state.metadata();
            let same_schema = state.schema().as_ref() == &schema;
            let same_parts = old.partition_columns() == partition_cols;
            let same_retention = old.configuration().get(RETENTION_KEY) == Some(&wanted_retention);
            let kept = record
                .files
                .iter()
                .any(|f| before_paths.contains(f.path.as_str()));
            if (!same_schema || !same_parts) && kept {
                return Err(Error::Storage {
                    root: root.name.clone(),
                    message: format!(
                        "publishing `{table}`: its columns changed, but the partitions published earlier that this run keeps have the old ones; rebuild the whole table (`parcours run --full-refresh` for a model that reads window_start, or delete the table folder)"
                    ),
                });
            }
            if same_schema && same_parts && same_retention {
                None
            } else {
                let mut m = old.clone();
                if !same_schema || !same_parts {
                    // A schema or partitioning change replaces every file (checked above), so
                    // the table gets the new metadata under its old id.
                    m = deltalake_core::kernel::new_metadata(
                        &schema,
                        partition_cols.clone(),
                        old.configuration().clone(),
                    )
                    .and_then(|n| n.with_table_id(old.id().to_string()))
                    .map_err(|e| Error::Internal(format!("`{table}`: Delta metadata: {e}")))?;
                }
                Some(
                    m.add_config_key(RETENTION_KEY.to_string(), wanted_retention.clone())
                        .map_err(|e| Error::Internal(format!("`{table}`: Delta metadata: {e}")))?,
                )
            }
        }
    };
    if snapshot.is_none() {
        let protocol: Protocol = serde_json::from_value(serde_json::json!({
            "minReaderVersion": 1,
            "minWriterVersion": 2
        }))
        .map_err(|e| Error::Internal(format!("Delta protocol: {e}")))?;
        actions.push(Action::Protocol(protocol));
    }
    if let Some(m) = metadata {
        actions.push(Action::Metadata(m));
    }
    for f in &before {
        if !listed.contains(f.path.as_str()) {
            actions.push(Action::Remove(Remove {
                path: f.path.clone(),
                data_change: true,
                deletion_timestamp: Some(now),
                extended_file_metadata: Some(true),
                partition_values: Some(partition_values(f, part_col.as_deref())),
                size: Some(f.bytes as i64),
                ..Default::default()
            }));
        }
    }
    for f in &record.files {
        if before_paths.contains(f.path.as_str()) {
            continue;
        }
        actions.push(Action::Add(Add {
            path: f.path.clone(),
            partition_values: partition_values(f, part_col.as_deref()),
            size: f.bytes as i64,
            modification_time: now,
            data_change: true,
            stats: Some(serde_json::json!({ "numRecords": f.rows }).to_string()),
            ..Default::default()
        }));
    }

    let predicate = match (&part_col, record.materialization) {
        (Some(col), Materialization::Partitioned) if !record.replaced_partitions.is_empty() => {
            let values: Vec<String> = record
                .replaced_partitions
                .iter()
                .filter_map(|d| folder_value(d, col))
                .map(|v| format!("'{}'", v.replace('\'', "''")))
                .collect();
            Some(format!("{col} IN ({})", values.join(", ")))
        }
        _ => None,
    };
    let operation = DeltaOperation::Write {
        mode: SaveMode::Overwrite,
        partition_by: part_col.clone().map(|c| vec![c]),
        predicate,
    };
    let app: HashMap<String, serde_json::Value> = HashMap::from([(
        "parcours".to_string(),
        serde_json::json!({
            "run_id": record.run_id,
            "run_date": record.run_date,
            "materialization": record.materialization.as_str(),
            "rows": record.rows,
            "replaced_partitions": record.replaced_partitions,
            "version": env!("CARGO_PKG_VERSION"),
        }),
    )]);
    let reference = snapshot.map(|s| s as &dyn TableReference);
    let committed = CommitBuilder::from(CommitProperties::default().with_metadata(app))
        // One writer holds the warehouse lease; a concurrent commit means someone else wrote
        // the table, and replaying this one over theirs could undo it.
        .with_max_retries(0)
        .with_actions(actions)
        .build(reference, log.clone(), operation)
        .await
        .map_err(|e| fail("Delta commit", &e))?;
    let version = committed.version();
    record.delta_version = Some(version);
    record.format = TableFormat::Delta;
    tracing::debug!(event = "committed", model = %table, run_id = %record.run_id, delta_version = version, "Delta log entry written");

    // After the commit nothing below changes what readers see: failures only leave files for
    // the next publish to remove.
    if previous.is_some_and(|p| p.format == TableFormat::Parquet) {
        let commit = root.path(&format!("{table}/{COMMIT_FILE}"));
        if let Err(e) = delete_all(&root.store, vec![commit]).await {
            tracing::warn!(model = %table, "the Parquet commit record stays beside the Delta log, which readers follow: {e}");
        }
        tracing::warn!(event = "converted", model = %table, "converted from plain Parquet to a Delta table: its Parquet commit record is gone and readers must follow the Delta log");
    }
    if !local {
        let staged_paths: Vec<Path> = moves.iter().map(|(from, _)| from.clone()).collect();
        if let Err(e) = delete_all(&root.store, staged_paths).await {
            tracing::warn!(model = %table, "cleaning staging: {e}");
        }
    }
    match vacuum(root, &table, &committed.snapshot(), &log, retention).await {
        Ok(n) => {
            tracing::debug!(event = "cleaned", model = %table, vacuumed = n, "staged files and expired files deleted")
        }
        Err(e) => {
            tracing::warn!(model = %table, "vacuum failed, the next publish tries again: {e}")
        }
    }
    Ok(record)
}

/// A data file parcours wrote: `part-<run_id>-NNNNN.parquet`, the run id being
/// `YYYYMMDDTHHMMSSmmmZ-xxxx`.
fn is_parcours_file(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix("part-")
        .and_then(|r| r.strip_suffix(".parquet"))
    else {
        return false;
    };
    let parts: Vec<&str> = rest.split('-').collect();
    match parts.as_slice() {
        [stamp, hex, n] => {
            stamp.len() == 19
                && stamp.ends_with('Z')
                && stamp.as_bytes()[8] == b'T'
                && hex.chars().all(|c| c.is_ascii_hexdigit())
                && n.len() == 5
                && n.chars().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

/// Deletes the files of `table` that no reader can need any more, and returns how many:
/// - a file a version removed more than `retention` ago;
/// - a file no version lists that parcours wrote (a killed run's copies, or the files of the
///   Parquet table it converted): only this run writes to the table, under the lease;
/// - any other unlisted file older than `retention` (Delta's own VACUUM rule, which spares
///   another writer's files that it has not committed yet).
async fn vacuum(
    root: &StorageRoot,
    table: &str,
    state: &deltalake_core::table::state::DeltaTableState,
    log: &LogStoreRef,
    retention: Duration,
) -> std::result::Result<usize, String> {
    let now = chrono::Utc::now();
    let cutoff = now.timestamp_millis() - retention.as_millis() as i64;
    let active: BTreeSet<String> = state
        .log_data()
        .iter()
        .map(|f| f.path().to_string())
        .collect();
    let mut removed: BTreeMap<String, i64> = BTreeMap::new();
    let mut tombstones = state.all_tombstones(log.as_ref());
    while let Some(t) = tombstones.next().await {
        let t = t.map_err(|e| e.to_string())?;
        let at = t.deletion_timestamp().unwrap_or(0);
        let entry = removed.entry(t.path().to_string()).or_insert(at);
        *entry = (*entry).max(at);
    }
    let prefix = root.path(table);
    let objects: Vec<ObjectMeta> = root
        .store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| e.to_string())?;
    let mut doomed = Vec::new();
    for m in objects {
        let rel: Vec<String> = m
            .location
            .prefix_match(&prefix)
            .map(|p| p.map(|s| s.as_ref().to_string()).collect())
            .unwrap_or_default();
        let Some(name) = rel.last() else { continue };
        // The log, hidden files and anything not Parquet are not vacuum's business.
        if rel.iter().any(|s| s.starts_with('_') || s.starts_with('.'))
            || !name.ends_with(".parquet")
        {
            continue;
        }
        let decoded: Vec<String> = rel
            .iter()
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let path = decoded.join("/");
        if active.contains(&path) {
            continue;
        }
        let expired = match removed.get(&path) {
            Some(at) => *at <= cutoff,
            None => is_parcours_file(name) || m.last_modified.timestamp_millis() < cutoff,
        };
        if expired {
            doomed.push(m.location);
        }
    }
    let n = doomed.len();
    delete_all(&root.store, doomed)
        .await
        .map_err(|e| e.to_string())?;
    Ok(n)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn parcours_file_names() {
        assert!(is_parcours_file(
            "part-20261121T020000123Z-3f2a-00000.parquet"
        ));
        assert!(!is_parcours_file("part-00000-1a2b3c4d-c000.snappy.parquet"));
        assert!(!is_parcours_file("part-0.parquet"));
        assert!(!is_parcours_file(
            "part-20261121T020000123Z-3f2a-00000.parquet.tmp"
        ));
    }

    #[test]
    fn delta_types() {
        let ok = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8View, false),
            Field::new("amount", DataType::Decimal128(12, 2), true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("day", DataType::Date32, true),
        ]));
        assert_eq!(check_schema(&ok, Some("day")), Ok(()));
        let naive = Arc::new(Schema::new(vec![Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            false,
        )]));
        let e = check_schema(&naive, None).unwrap_err();
        assert!(e.contains("`at`") && e.contains("arrow_cast(at, "), "{e}");
        let unsigned = Arc::new(Schema::new(vec![Field::new("n", DataType::UInt32, false)]));
        assert!(
            check_schema(&unsigned, None)
                .unwrap_err()
                .contains("unsigned")
        );
        let spaced = Arc::new(Schema::new(vec![Field::new("a b", DataType::Int64, false)]));
        assert!(check_schema(&spaced, None).unwrap_err().contains("rename"));
        let float_part = Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, false)]));
        assert!(
            check_schema(&float_part, Some("x"))
                .unwrap_err()
                .contains("partition column")
        );
    }

    #[test]
    fn folder_values_are_unescaped() {
        assert_eq!(
            folder_value("order_date=2026-11-20", "order_date").as_deref(),
            Some("2026-11-20")
        );
        assert_eq!(
            folder_value("city=S%C3%A3o%20Paulo", "city").as_deref(),
            Some("São Paulo")
        );
        assert_eq!(folder_value("other=1", "city"), None);
    }
}
