//! Reading Delta tables in the tests as any Delta reader does: the snapshot comes from
//! delta-rs's own log replay (`deltalake-core`, not parcours's reader), and exactly the files
//! it lists are read, each with its partition value from the log.

#![allow(dead_code)]

use std::sync::Arc;

use deltalake_core::DeltaTable;
use deltalake_core::logstore::{StorageConfig, default_logstore};
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt};

/// A table's content: one line per row, `partition value|cell|cell…`, sorted.
pub type Rows = Vec<String>;

/// One active file of a snapshot.
#[derive(Debug, Clone)]
pub struct LiveFile {
    pub path: String,
    pub partition: Option<String>,
    pub rows: Option<usize>,
    pub size: i64,
}

/// What a Delta reader sees of a table: its version and its files.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub version: u64,
    pub partition_columns: Vec<String>,
    pub files: Vec<LiveFile>,
    pub configuration: std::collections::HashMap<String, String>,
}

/// A Delta table on `store` (rooted at the bucket or `/`) at `url` (`table_path` inside the
/// store), optionally at an older `version`.
pub struct Table {
    pub store: Arc<dyn ObjectStore>,
    pub url: url::Url,
    pub path: Path,
}

impl Table {
    /// A table in a local folder.
    pub fn local(dir: &std::path::Path) -> Table {
        let url = url::Url::from_directory_path(dir).expect("url");
        Table {
            store: Arc::new(object_store::local::LocalFileSystem::new()),
            path: Path::from_url_path(url.path()).expect("path"),
            url,
        }
    }

    /// `table` below `prefix` of a bucket store whose URL is `bucket_url` (`s3://lake/`).
    pub fn in_bucket(
        store: Arc<dyn ObjectStore>,
        bucket_url: &str,
        prefix: &str,
        table: &str,
    ) -> Table {
        let rel = format!("{prefix}/{table}").trim_matches('/').to_string();
        Table {
            store,
            url: url::Url::parse(&format!("{bucket_url}{rel}/")).expect("url"),
            path: Path::from(rel),
        }
    }

    async fn load(&self, version: Option<u64>) -> Result<DeltaTable, String> {
        let prefixed: Arc<dyn ObjectStore> =
            Arc::new(PrefixStore::new(self.store.clone(), self.path.clone()));
        let log = default_logstore(
            prefixed,
            self.store.clone(),
            &self.url,
            &StorageConfig::default(),
        );
        let mut t = DeltaTable::new(log);
        match version {
            None => t.load().await,
            Some(v) => t.load_version(v).await,
        }
        .map_err(|e| format!("{}: {e}", self.url))?;
        Ok(t)
    }

    pub async fn snapshot(&self, version: Option<u64>) -> Result<Snapshot, String> {
        let t = self.load(version).await?;
        let state = t.snapshot().map_err(|e| e.to_string())?;
        let partition_columns = state.metadata().partition_columns().to_vec();
        let mut files: Vec<LiveFile> = state
            .log_data()
            .iter()
            .map(|f| LiveFile {
                path: f.path().to_string(),
                partition: partition_columns
                    .first()
                    .and_then(|c| f.partition_values_map().get(c).cloned().flatten()),
                rows: f.num_records(),
                size: f.size(),
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Snapshot {
            version: state.version(),
            partition_columns,
            files,
            configuration: state.metadata().configuration().clone(),
        })
    }

    /// The rows of the snapshot: every listed file must exist and hold the rows its `add`
    /// action gives.
    pub async fn rows(&self, version: Option<u64>) -> Result<Rows, String> {
        let snap = self.snapshot(version).await?;
        let mut rows = Vec::new();
        for f in &snap.files {
            let location = f.path.split('/').fold(self.path.clone(), |p, s| p.join(s));
            let bytes = self
                .store
                .get(&location)
                .await
                .map_err(|e| format!("{}, listed by version {}: {e}", f.path, snap.version))?
                .bytes()
                .await
                .map_err(|e| format!("{}: {e}", f.path))?;
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
                    .and_then(|b| b.build())
                    .map_err(|e| format!("{} is not readable Parquet: {e}", f.path))?;
            let mut n = 0;
            for batch in reader {
                let batch = batch.map_err(|e| format!("{}: {e}", f.path))?;
                n += batch.num_rows();
                let partition = f.partition.clone().unwrap_or_default();
                for row in crate::common::sql::render(std::slice::from_ref(&batch)).expect("render")
                {
                    let cells: Vec<String> = row
                        .into_iter()
                        .map(|c| c.unwrap_or_else(|| "∅".to_string()))
                        .collect();
                    rows.push(format!("{partition}|{}", cells.join("|")));
                }
            }
            if f.rows.is_some_and(|r| r != n) {
                return Err(format!(
                    "{} holds {n} rows, its add action says {:?}",
                    f.path, f.rows
                ));
            }
        }
        rows.sort();
        Ok(rows)
    }
}

/// The actions of every commit of a local table, oldest first, as JSON values.
pub fn log_entries(table_dir: &std::path::Path) -> Vec<Vec<serde_json::Value>> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(table_dir.join("_delta_log"))
        .expect("_delta_log")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .expect("commit")
                .lines()
                .map(|l| serde_json::from_str(l).expect("action"))
                .collect()
        })
        .collect()
}

/// The paths of the actions of kind `kind` (`add`, `remove`) in one commit.
pub fn paths_of(commit: &[serde_json::Value], kind: &str) -> Vec<String> {
    let mut v: Vec<String> = commit
        .iter()
        .filter_map(|a| a[kind]["path"].as_str().map(str::to_string))
        .collect();
    v.sort();
    v
}

/// Blocks on `f` in a fresh runtime (the end-to-end tests are synchronous).
pub fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().expect("runtime").block_on(f)
}
