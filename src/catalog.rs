//! The catalog: which tables a query can name. Sources are registered from their storage roots
//! after every file's Parquet footer has been read and checked against the declared schema, so a
//! missing folder, a corrupt file or a drifted column is reported by name before any model runs.
//! A source with an `as_of` partition is read as of the run date: files exported later are
//! neither checked nor read, so a backfill of night D sees the exports as they were on D.
//! Published models are registered from the warehouse.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::NaiveDate;
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionContext, ident, lit};
use datafusion::scalar::ScalarValue;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use url::Url;

use crate::config::datatype::{compatible, display};
use crate::config::{DeclaredColumn, SourceSpec};
use crate::error::{Error, Result};
use crate::storage::StorageRoot;

/// What the footer check learnt about a source.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub name: String,
    pub url: Url,
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
    pub schema: SchemaRef,
    /// Files left out because their `as_of` partition is after the run date.
    pub later_files: usize,
}

/// One Parquet file's footer facts.
#[derive(Debug, Clone)]
pub struct FileFacts {
    pub path: Path,
    pub size: u64,
    pub rows: u64,
    pub schema: SchemaRef,
}

/// Lists the Parquet files a table at `prefix` consists of, the way DataFusion reads them: files
/// directly in the folder or inside Hive `name=value` folders. Hidden files and folders (`_x`,
/// `.x`) are skipped, so staging areas and `_SUCCESS` markers never count.
pub async fn list_parquet(
    store: &Arc<dyn ObjectStore>,
    prefix: &Path,
) -> object_store::Result<Vec<ObjectMeta>> {
    let mut files: Vec<ObjectMeta> = store
        .list(Some(prefix))
        .try_filter(|m| {
            let rel: Vec<String> = m
                .location
                .prefix_match(prefix)
                .map(|p| p.map(|s| s.as_ref().to_string()).collect())
                .unwrap_or_default();
            let hidden = rel.iter().any(|s| s.starts_with('_') || s.starts_with('.'));
            let in_partitions = rel.iter().rev().skip(1).all(|dir| dir.contains('='));
            futures::future::ready(
                !hidden && in_partitions && m.location.as_ref().ends_with(".parquet"),
            )
        })
        .try_collect()
        .await?;
    files.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(files)
}

/// Bytes fetched from the end of a file in one request: enough for most footers.
const FOOTER_GUESS: u64 = 64 * 1024;

/// Reads one file's footer (one ranged GET, two for very wide files); `Err` is a human message.
pub async fn read_footer(
    store: Arc<dyn ObjectStore>,
    meta: &ObjectMeta,
) -> std::result::Result<FileFacts, String> {
    let size = meta.size;
    if size < 12 {
        return Err(format!("{size} bytes is too small for Parquet"));
    }
    let start = size.saturating_sub(FOOTER_GUESS);
    let tail = store
        .get_range(&meta.location, start..size)
        .await
        .map_err(|e| e.to_string())?;
    let n = tail.len();
    if &tail[n - 4..] != b"PAR1" {
        return Err("no Parquet magic bytes at the end (truncated or not Parquet)".into());
    }
    let len = u32::from_le_bytes([tail[n - 8], tail[n - 7], tail[n - 6], tail[n - 5]]) as u64;
    if len + 8 > size {
        return Err(format!("footer length {len} exceeds the file size {size}"));
    }
    let footer = if len + 8 <= n as u64 {
        tail.slice(n - 8 - len as usize..n - 8)
    } else {
        store
            .get_range(&meta.location, size - 8 - len..size - 8)
            .await
            .map_err(|e| e.to_string())?
    };
    let md = parquet::file::metadata::ParquetMetaDataReader::decode_metadata(&footer)
        .map_err(|e| e.to_string())?;
    let fm = md.file_metadata();
    let schema =
        parquet::arrow::parquet_to_arrow_schema(fm.schema_descr(), fm.key_value_metadata())
            .map_err(|e| e.to_string())?;
    Ok(FileFacts {
        path: meta.location.clone(),
        size,
        rows: fm.num_rows().max(0) as u64,
        schema: Arc::new(schema),
    })
}

/// Checks and registers `spec` as a table named after the source, as of `run_date`.
pub async fn register_source(
    ctx: &SessionContext,
    spec: &SourceSpec,
    root: &StorageRoot,
    run_date: NaiveDate,
) -> Result<SourceInfo> {
    let name = &spec.name;
    let url = root.folder_url(&spec.path)?;
    let prefix = root.path(&spec.path);
    let mut files = list_parquet(&root.store, &prefix)
        .await
        .map_err(|e| Error::storage(&root.name, format!("cannot list {url}: {e}")))?;
    // A folder parcours publishes (last night's bridge, another project's table): only the
    // files its Delta snapshot or commit record lists are live; others are a crashed run's
    // leftovers or, in a Delta table, earlier versions kept for their readers. A Delta log
    // that does not read is an error: listing the folder would mix its versions.
    if let Some(record) = crate::publish::delta::read(root, &spec.path).await? {
        return register_published_source(ctx, spec, url, &record).await;
    }
    if let Ok(Some(record)) = crate::publish::read_commit(root, &spec.path).await {
        return register_published_source(ctx, spec, url, &record).await;
    }
    let mut later_files = 0;
    if let Some(col) = &spec.as_of {
        let mut kept = Vec::with_capacity(files.len());
        for m in files {
            let value = relative_segments(&m.location, &prefix)
                .into_iter()
                .find_map(|seg| seg.strip_prefix(&format!("{col}=")).map(str::to_string));
            match value {
                // check_partitions names a file outside the partition folders below
                None => kept.push(m),
                Some(v) => match crate::config::parse_date(&v) {
                    Some(d) if d <= run_date => kept.push(m),
                    Some(_) => later_files += 1,
                    None => {
                        return Err(Error::source_data(
                            name,
                            format!(
                                "file {} is in the folder `{col}={v}`, which is not a date (YYYY-MM-DD); `{col}` is the source's as_of partition, so rename the folder or set `as_of: false` on sources.{name}",
                                display_url(root, &m.location)
                            ),
                        ));
                    }
                },
            }
        }
        files = kept;
    }
    if files.is_empty()
        && spec.optional
        && let Some(declared) = &spec.schema
    {
        return register_empty(ctx, spec, declared, url);
    }
    if files.is_empty() && later_files > 0 {
        let col = spec.as_of.as_deref().unwrap_or_default();
        return Err(Error::source_data(
            name,
            format!(
                "no Parquet files exported on or before the run date {run_date} under {url}: all {later_files} are in later `{col}=` folders; run a later --date, or set `as_of: false` on sources.{name} if `{col}` is not an export date"
            ),
        ));
    }
    if files.is_empty() {
        return Err(Error::source_data(
            name,
            format!(
                "no Parquet files under {url} (storage `{}`, path `{}`); check the path in pipelines.yaml, the --storage override, or that the export ran",
                root.name, spec.path
            ),
        ));
    }

    // Footers are read through DataFusion's Parquet format so they land in its metadata cache:
    // the check below and the later scans share one read per file.
    let state = ctx.state();
    let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
    let facts: Vec<FileFacts> = futures::stream::iter(files.iter().map(|m| {
        let (store, state, format) = (root.store.clone(), &state, &format);
        async move {
            let bad = |e: &dyn std::fmt::Display| {
                Error::source_data(
                    name,
                    format!(
                        "{} is not a readable Parquet file ({e}); remove or re-export it",
                        display_url(root, &m.location)
                    ),
                )
            };
            let schema = format
                .infer_schema(state, &store, std::slice::from_ref(m))
                .await
                .map_err(|e| bad(&e))?;
            let stats = format
                .infer_stats(state, &store, schema.clone(), m)
                .await
                .map_err(|e| bad(&e))?;
            let rows = stats.num_rows.get_value().copied().unwrap_or(0) as u64;
            Ok::<_, Error>(FileFacts {
                path: m.location.clone(),
                size: m.size,
                rows,
                schema,
            })
        }
    }))
    .buffer_unordered(16)
    .try_collect()
    .await?;

    for f in &facts {
        check_partitions(spec, root, &prefix, f)?;
        if let Some(declared) = &spec.schema {
            for col in declared {
                match f.schema.field_with_name(&col.name) {
                    Err(_) => {
                        return Err(Error::source_data(
                            name,
                            format!(
                                "file {} has no column `{}` declared in sources.{name}.schema; the export dropped or renamed it (columns found: {})",
                                display_url(root, &f.path),
                                col.name,
                                f.schema
                                    .fields()
                                    .iter()
                                    .map(|x| x.name().as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                    Ok(field) if !compatible(&col.data_type, field.data_type()) => {
                        return Err(Error::source_data(
                            name,
                            format!(
                                "column `{}` is declared `{}` but file {} has `{}`: the export's type drifted; fix the export or change sources.{name}.schema.{} in pipelines.yaml",
                                col.name,
                                display(&col.data_type),
                                display_url(root, &f.path),
                                display(field.data_type()),
                                col.name
                            ),
                        ));
                    }
                    Ok(_) => {}
                }
            }
        }
    }

    let options = listing_options(ctx, spec.partitions.clone());
    let table_url = ListingTableUrl::parse(url.as_str())?;
    let mut sorted: Vec<&FileFacts> = facts.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let inferred = Schema::try_merge(sorted.iter().map(|f| f.schema.as_ref().clone())).map_err(|e| {
        Error::source_data(name, format!(
            "the files' schemas do not agree ({e}); declare `schema:` for this source to pin the expected types"
        ))
    })?;
    let inferred = Arc::new(inferred);
    let schema = match &spec.schema {
        None => inferred,
        Some(declared) => {
            let fields: Vec<Field> = declared
                .iter()
                .filter_map(|c| inferred.field_with_name(&c.name).ok().cloned())
                .collect();
            Arc::new(Schema::new(fields))
        }
    };
    let config = ListingTableConfig::new(table_url)
        .with_listing_options(options)
        .with_schema(schema.clone());
    let table: Arc<dyn TableProvider> = Arc::new(ListingTable::try_new(config)?);
    // The listing table lists every folder when scanned; the filter on the partition column
    // prunes the later ones before any of their files is opened.
    let table = match &spec.as_of {
        Some(col) => {
            let day = ScalarValue::Date32(Some(days_since_epoch(run_date)));
            ctx.read_table(table)?
                .filter(ident(col).lt_eq(lit(day)))?
                .into_view()
        }
        None => table,
    };
    ctx.deregister_table(name.as_str())?;
    ctx.register_table(name.as_str(), table)?;
    Ok(SourceInfo {
        name: name.clone(),
        url,
        files: facts.len(),
        rows: facts.iter().map(|f| f.rows).sum(),
        bytes: facts.iter().map(|f| f.size).sum(),
        schema,
        later_files,
    })
}

/// A source that is a table parcours published: read through its commit record (see
/// [`register_published`]), its declared columns checked against the record's.
async fn register_published_source(
    ctx: &SessionContext,
    spec: &SourceSpec,
    url: Url,
    record: &crate::publish::CommitRecord,
) -> Result<SourceInfo> {
    let name = &spec.name;
    register_published(ctx, name, &url, record).await?;
    let schema: SchemaRef = Arc::new(ctx.table(name.as_str()).await?.schema().as_arrow().clone());
    for col in spec.schema.iter().flatten() {
        match schema.field_with_name(&col.name) {
            Ok(f) if compatible(&col.data_type, f.data_type()) => {}
            Ok(f) => {
                return Err(Error::source_data(
                    name,
                    format!(
                        "column `{}` is declared `{}` but the table published at {url} has `{}`; change sources.{name}.schema.{} in pipelines.yaml",
                        col.name,
                        display(&col.data_type),
                        display(f.data_type()),
                        col.name
                    ),
                ));
            }
            Err(_) => {
                return Err(Error::source_data(
                    name,
                    format!(
                        "the table published at {url} has no column `{}` declared in sources.{name}.schema",
                        col.name
                    ),
                ));
            }
        }
    }
    Ok(SourceInfo {
        name: name.clone(),
        url,
        files: record.files.len(),
        rows: record.rows,
        bytes: record.bytes,
        schema,
        later_files: 0,
    })
}

/// Arrow's `Date32` value of a date.
fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::default()).num_days() as i32
}

/// The path segments of `p` below `prefix` (folders, then the file name).
fn relative_segments(p: &Path, prefix: &Path) -> Vec<String> {
    p.prefix_match(prefix)
        .map(|it| it.map(|s| s.as_ref().to_string()).collect())
        .unwrap_or_default()
}

fn check_partitions(
    spec: &SourceSpec,
    root: &StorageRoot,
    prefix: &Path,
    f: &FileFacts,
) -> Result<()> {
    let rel = relative_segments(&f.path, prefix);
    for (col, _) in &spec.partitions {
        if !rel.iter().any(|seg| seg.starts_with(&format!("{col}="))) {
            return Err(Error::source_data(
                &spec.name,
                format!(
                    "file {} is not inside a `{col}=…` folder, but the source declares the Hive partition `{col}`",
                    display_url(root, &f.path)
                ),
            ));
        }
    }
    Ok(())
}

/// Listing options for Parquet folders with the session's Parquet settings (so that, like
/// sources, published and staged tables read strings as plain Utf8, which the memory pool
/// accounts exactly).
pub fn listing_options(
    ctx: &SessionContext,
    partitions: Vec<(String, DataType)>,
) -> ListingOptions {
    let format = ParquetFormat::default().with_options(ctx.state().table_options().parquet.clone());
    ListingOptions::new(Arc::new(format))
        .with_file_extension(".parquet")
        .with_table_partition_cols(partitions)
}

/// The columns a query sees for a source of declared schema: the declared columns, then the
/// partition columns not declared among them (as a listing table puts them).
pub fn schema_of_declared(spec: &SourceSpec, declared: &[DeclaredColumn]) -> SchemaRef {
    let mut fields: Vec<Field> = declared
        .iter()
        .map(|c| Field::new(&c.name, c.data_type.clone(), c.nullable))
        .collect();
    for (name, ty) in &spec.partitions {
        if !declared.iter().any(|c| &c.name == name) {
            fields.push(Field::new(name, ty.clone(), true));
        }
    }
    Arc::new(Schema::new(fields))
}

/// An optional source with no files yet: an empty table of its declared columns (partition
/// columns last, as a listing table would put them).
fn register_empty(
    ctx: &SessionContext,
    spec: &SourceSpec,
    declared: &[DeclaredColumn],
    url: Url,
) -> Result<SourceInfo> {
    let schema = schema_of_declared(spec, declared);
    let table = MemTable::try_new(schema.clone(), vec![vec![]])?;
    ctx.deregister_table(spec.name.as_str())?;
    ctx.register_table(spec.name.as_str(), Arc::new(table))?;
    tracing::info!(source = %spec.name, "optional source has no files yet: read as empty");
    Ok(SourceInfo {
        name: spec.name.clone(),
        url,
        files: 0,
        rows: 0,
        bytes: 0,
        schema,
        later_files: 0,
    })
}

/// Registers the folder at `url` as table `name` (a run's staged models).
pub async fn register_folder(
    ctx: &SessionContext,
    name: &str,
    url: &Url,
    partitions: Vec<(String, DataType)>,
) -> Result<()> {
    let options = listing_options(ctx, partitions);
    let table_url = ListingTableUrl::parse(url.as_str())?;
    let schema = options.infer_schema(&ctx.state(), &table_url).await?;
    let config = ListingTableConfig::new(table_url)
        .with_listing_options(options)
        .with_schema(schema);
    let table = ListingTable::try_new(config)?;
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(table))?;
    Ok(())
}

/// Registers a published table from its commit record's file list, not from a listing of its
/// folder: on object stores a run killed between copying its files and deleting the old ones
/// leaves both versions in the folder, and only the record says which one is live. A
/// partitioned table is the union of its partitions, each with its value as a constant column
/// (filters on it prune whole partitions).
pub async fn register_published(
    ctx: &SessionContext,
    name: &str,
    table_url: &Url,
    record: &crate::publish::CommitRecord,
) -> Result<()> {
    let partitions = crate::publish::partition_of(record);
    if record.files.is_empty() {
        let schema = crate::publish::schema_of(record).ok_or_else(|| {
            Error::Internal(format!(
                "the commit record of `{name}` has an unknown column type"
            ))
        })?;
        ctx.deregister_table(name)?;
        ctx.register_batch(name, arrow::record_batch::RecordBatch::new_empty(schema))?;
        return Ok(());
    }
    // Files grouped by partition folder ("" when not partitioned), in a stable order.
    type Group<'a> = (Option<&'a Option<String>>, Vec<ListingTableUrl>);
    let mut groups: std::collections::BTreeMap<&str, Group> = Default::default();
    for f in &record.files {
        let dir = f.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let url = table_url
            .join(&f.path)
            .map_err(|e| Error::Internal(format!("bad file path `{}` in `{name}`: {e}", f.path)))?;
        let group = groups.entry(dir).or_default();
        group.0 = group.0.or(f.partition_value.as_ref());
        group.1.push(ListingTableUrl::parse(url.as_str())?);
    }
    let options = listing_options(ctx, Vec::new());
    let state = ctx.state();
    let mut frames = Vec::new();
    let mut file_schema: Option<SchemaRef> = None;
    for (dir, (logged, urls)) in groups {
        let schema = match &file_schema {
            Some(s) => s.clone(),
            None => {
                let s = options.infer_schema(&state, &urls[0]).await?;
                file_schema = Some(s.clone());
                s
            }
        };
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options.clone())
            .with_schema(schema);
        let mut df = ctx.read_table(Arc::new(ListingTable::try_new(config)?))?;
        for (col, t) in &partitions {
            // A Delta log gives the value itself; a Parquet table's folder name holds it.
            let text = match logged {
                Some(v) => v.clone(),
                None => {
                    let value = dir
                        .split('/')
                        .find_map(|seg| seg.strip_prefix(&format!("{col}=")))
                        .ok_or_else(|| {
                            Error::Internal(format!(
                                "`{name}`: file folder `{dir}` names no `{col}=` partition"
                            ))
                        })?;
                    (value != crate::publish::HIVE_NULL).then(|| value.to_string())
                }
            };
            let value = match text {
                Some(v) => ScalarValue::try_from_string(v, t)?,
                None => ScalarValue::try_from(t)?,
            };
            df = df.with_column(col, lit(value))?;
        }
        frames.push(df);
    }
    let mut frames = frames.into_iter();
    let mut all = frames
        .next()
        .ok_or_else(|| Error::Internal(format!("`{name}` lists no file")))?;
    for df in frames {
        all = all.union(df)?;
    }
    ctx.deregister_table(name)?;
    ctx.register_table(name, all.into_view())?;
    Ok(())
}

/// A file's location as a URL of its storage root, for messages.
fn display_url(root: &StorageRoot, p: &Path) -> String {
    let rel = p
        .as_ref()
        .strip_prefix(root.prefix.as_ref())
        .unwrap_or(p.as_ref())
        .trim_start_matches('/');
    root.url
        .join(rel)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| p.to_string())
}
