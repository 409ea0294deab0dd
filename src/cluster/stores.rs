//! Object stores on the cluster's own processes. The scheduler lists a model's input folders and
//! the executors read and write them, each with credentials from its own environment (`AWS_*`,
//! `GOOGLE_*`, `AZURE_*`, as the client does): a store is opened the first time a URL of its
//! bucket is met, by the same builder code as the client's storage roots, and kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreRegistry;
use object_store::ObjectStore;
use url::Url;

/// Opens each bucket's store from the environment on first use.
#[derive(Debug, Default)]
pub struct EnvStores {
    stores: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

/// `scheme://host:port`: one store serves every path of a bucket.
fn bucket_key(url: &Url) -> String {
    format!(
        "{}://{}",
        url.scheme(),
        &url[url::Position::BeforeHost..url::Position::AfterPort]
    )
}

impl EnvStores {
    fn open(url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if url.scheme() == "memory" {
            // An in-memory root lives in the client process: no other process can see it.
            return Err(DataFusionError::Configuration(format!(
                "`{url}` is an in-memory storage root, which a cluster cannot reach; use a folder or a bucket"
            )));
        }
        let spec = crate::config::StorageSpec {
            url: url.to_string(),
            ..Default::default()
        };
        crate::storage::build_store("cluster", url, &spec)
            .map_err(|e| DataFusionError::External(Box::new(e)))
    }
}

impl ObjectStoreRegistry for EnvStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        stores.insert(bucket_key(url), store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        stores.remove(&bucket_key(url)).ok_or_else(|| {
            DataFusionError::Configuration(format!("no object store is open for `{url}`"))
        })
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let key = bucket_key(url);
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = stores.get(&key) {
            return Ok(store.clone());
        }
        let store = Self::open(url)?;
        stores.insert(key, store.clone());
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::path::Path;
    use object_store::{ObjectStoreExt, PutPayload};

    #[tokio::test]
    async fn a_local_folder_opens_once_and_reads_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let url = Url::from_directory_path(dir.path()).unwrap();
        let stores = EnvStores::default();
        let a = stores.get_store(&url).unwrap();
        let b = stores
            .get_store(&url.join("sub/file.parquet").unwrap())
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b), "one store per bucket, not per path");
        let path = Path::from_absolute_path(dir.path().join("x.txt")).unwrap();
        a.put(&path, PutPayload::from_static(b"hi")).await.unwrap();
        assert_eq!(std::fs::read(dir.path().join("x.txt")).unwrap(), b"hi");
    }

    #[test]
    fn an_in_memory_root_is_refused_with_the_reason() {
        let err = EnvStores::default()
            .get_store(&Url::parse("memory://wh/").unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("in-memory storage root"), "{err}");
    }
}
