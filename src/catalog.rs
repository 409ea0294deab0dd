//! The catalog: which tables a query can name. Sources are registered from their storage roots
//! after every file's Parquet footer has been read and checked against the declared schema, so a
//! missing folder, a corrupt file or a drifted column is reported by name before any model runs.
//! Published models are registered from the warehouse.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
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

/// Checks and registers `spec` as a table named after the source.
pub async fn register_source(
    ctx: &SessionContext,
    spec: &SourceSpec,
    root: &StorageRoot,
) -> Result<SourceInfo> {
    let name = &spec.name;
    let url = root.folder_url(&spec.path)?;
    let prefix = root.path(&spec.path);
    let files = list_parquet(&root.store, &prefix)
        .await
        .map_err(|e| Error::storage(&root.name, format!("cannot list {url}: {e}")))?;
    if files.is_empty()
        && spec.optional
        && let Some(declared) = &spec.schema
    {
        return register_empty(ctx, spec, declared, url);
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
    let table = ListingTable::try_new(config)?;
    ctx.deregister_table(name.as_str())?;
    ctx.register_table(name.as_str(), Arc::new(table))?;
    Ok(SourceInfo {
        name: name.clone(),
        url,
        files: facts.len(),
        rows: facts.iter().map(|f| f.rows).sum(),
        bytes: facts.iter().map(|f| f.size).sum(),
        schema,
    })
}

fn check_partitions(
    spec: &SourceSpec,
    root: &StorageRoot,
    prefix: &Path,
    f: &FileFacts,
) -> Result<()> {
    let rel: Vec<String> = f
        .path
        .prefix_match(prefix)
        .map(|p| p.map(|s| s.as_ref().to_string()).collect())
        .unwrap_or_default();
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

/// An optional source with no files yet: an empty table of its declared columns (partition
/// columns last, as a listing table would put them).
fn register_empty(
    ctx: &SessionContext,
    spec: &SourceSpec,
    declared: &[DeclaredColumn],
    url: Url,
) -> Result<SourceInfo> {
    let mut fields: Vec<Field> = declared
        .iter()
        .map(|c| Field::new(&c.name, c.data_type.clone(), c.nullable))
        .collect();
    for (name, ty) in &spec.partitions {
        if !declared.iter().any(|c| &c.name == name) {
            fields.push(Field::new(name, ty.clone(), true));
        }
    }
    let schema: SchemaRef = Arc::new(Schema::new(fields));
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
    })
}

/// Registers the folder at `url` as table `name` (used for published and staged models).
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
