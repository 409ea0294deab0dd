//! Storage roots: one object_store code path for every back-end.
//!
//! A root is a URL (`s3://`, `gs://`, `az://`, `memory://`, `file://`) or a path relative to the
//! project. Each becomes an [`ObjectStore`] plus a prefix inside it; everything parcours reads or
//! writes goes through that store, so a local folder and a bucket behave the same. Credentials
//! come from the environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`) via the builders' `from_env`, and
//! are never logged: only the URL of a root ever appears in messages. The HTTP back-ends retry
//! failed requests (5xx, 429, timeouts of safe requests) with exponential backoff, as each
//! root's `retry`, `timeout` and `connect_timeout` settings say ([`HttpSettings`]); a request
//! that still fails once that budget is spent surfaces as a storage error naming the root.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ClientConfigKey, ObjectStore};
use url::Url;

use crate::config::{Config, HttpSettings, StorageSpec};
use crate::error::{Error, Result};

/// A named storage root resolved to a store and a prefix inside it.
#[derive(Debug, Clone)]
pub struct StorageRoot {
    pub name: String,
    /// The root as a URL that always ends with `/`.
    pub url: Url,
    pub store: Arc<dyn ObjectStore>,
    /// The root's location inside `store`.
    pub prefix: Path,
}

impl StorageRoot {
    /// Resolves `spec` (URL or project-relative path) for the root called `name`.
    pub fn resolve(name: &str, spec: &StorageSpec, project_dir: &FsPath) -> Result<StorageRoot> {
        let url = parse_location(&spec.url, project_dir)
            .map_err(|m| Error::storage(name, format!("`{}`: {m}", spec.url)))?;
        let store = build_store(name, &url, spec)?;
        let prefix = Path::from_url_path(url.path()).map_err(|e| {
            Error::storage(name, format!("`{url}` is not a valid object path: {e}"))
        })?;
        Ok(StorageRoot {
            name: name.to_string(),
            url,
            store,
            prefix,
        })
    }

    /// The URL of a folder below the root (always ends with `/`).
    pub fn folder_url(&self, rel: &str) -> Result<Url> {
        let rel = rel.trim_matches('/');
        self.url
            .join(&format!("{rel}/"))
            .map_err(|e| Error::storage(&self.name, format!("bad path `{rel}`: {e}")))
    }

    /// The object path of `rel` (a `/`-separated relative path) inside the store.
    pub fn path(&self, rel: &str) -> Path {
        let mut p = self.prefix.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p = p.clone().join(part);
        }
        p
    }

    /// The `scheme://host` part DataFusion keys its object-store registry by.
    pub fn store_url(&self) -> Url {
        let mut u = self.url.clone();
        u.set_path("/");
        u
    }

    /// Where a file URL lives on disk, for local roots.
    pub fn local_dir(&self) -> Option<PathBuf> {
        (self.url.scheme() == "file")
            .then(|| self.url.to_file_path().ok())
            .flatten()
    }
}

/// Every root of a project, after `--storage NAME=URL` overrides.
#[derive(Debug, Clone, Default)]
pub struct Storage {
    pub roots: BTreeMap<String, StorageRoot>,
}

impl Storage {
    pub fn resolve(config: &Config, overrides: &[(String, String)]) -> Result<Storage> {
        let mut specs = config.storage.clone();
        for (name, url) in overrides {
            match specs.get_mut(name) {
                Some(spec) => spec.url = url.clone(),
                None => {
                    return Err(Error::Usage(format!(
                        "--storage {name}=…: no storage root `{name}` in {} (declared: {})",
                        config.file.display(),
                        specs.keys().cloned().collect::<Vec<_>>().join(", ")
                    )));
                }
            }
        }
        let mut roots = BTreeMap::new();
        for (name, spec) in &specs {
            roots.insert(
                name.clone(),
                StorageRoot::resolve(name, spec, &config.project_dir)?,
            );
        }
        Ok(Storage { roots })
    }

    pub fn get(&self, name: &str) -> Result<&StorageRoot> {
        self.roots.get(name).ok_or_else(|| {
            Error::Usage(format!(
                "no storage root `{name}` (declared: {}); add it under `storage:` in pipelines.yaml",
                self.roots.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// The root models are published to: `warehouse`.
    pub fn warehouse(&self) -> Result<&StorageRoot> {
        self.get("warehouse")
    }
}

/// Turns a root given in the configuration into a directory URL.
pub fn parse_location(text: &str, project_dir: &FsPath) -> std::result::Result<Url, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty location".into());
    }
    let url = if text.contains("://") {
        let mut url = Url::parse(text).map_err(|e| e.to_string())?;
        match url.scheme() {
            "s3" | "s3a" | "gs" | "az" | "abfs" | "abfss" | "memory" | "file" => {}
            other => {
                return Err(format!(
                    "unsupported scheme `{other}://` (use s3://, gs://, az://, memory://, file:// or a local path)"
                ));
            }
        }
        if url.scheme() == "s3a" {
            url = Url::parse(&text.replacen("s3a://", "s3://", 1)).map_err(|e| e.to_string())?;
        }
        if url.scheme() != "file" && url.host_str().is_none_or(str::is_empty) {
            if url.scheme() == "memory" {
                url = Url::parse(&format!("memory://default{}", url.path()))
                    .map_err(|e| e.to_string())?;
            } else {
                return Err("the URL names no bucket or container".into());
            }
        }
        url
    } else {
        let p = FsPath::new(text);
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            project_dir.join(p)
        };
        let abs = if abs.is_absolute() {
            abs
        } else {
            std::env::current_dir()
                .map_err(|e| e.to_string())?
                .join(abs)
        };
        Url::from_directory_path(normalize(&abs))
            .map_err(|_| "not a valid directory path".to_string())?
    };
    let mut url = url;
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    Ok(url)
}

/// Removes `.` and `..` components without touching the file system (the folder may not exist yet).
fn normalize(p: &FsPath) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn memory_stores() -> &'static Mutex<HashMap<String, Arc<InMemory>>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    STORES.get_or_init(Default::default)
}

/// `timeout` and `connect_timeout` as the client configuration keys every HTTP builder takes
/// (set through keys, not `with_client_options`, which would drop what `from_env` read).
fn client_keys(http: &HttpSettings) -> Vec<(ClientConfigKey, String)> {
    let ms = |d: &std::time::Duration| format!("{}ms", d.as_millis().max(1));
    let mut keys = Vec::new();
    if let Some(d) = &http.timeout {
        keys.push((ClientConfigKey::Timeout, ms(d)));
    }
    if let Some(d) = &http.connect_timeout {
        keys.push((ClientConfigKey::ConnectTimeout, ms(d)));
    }
    keys
}

pub(crate) fn build_store(
    name: &str,
    url: &Url,
    spec: &StorageSpec,
) -> Result<Arc<dyn ObjectStore>> {
    let options = &spec.options;
    let http = &spec.http;
    let has_http = http.retry.is_some() || http.timeout.is_some() || http.connect_timeout.is_some();
    let bad_option = |k: &str, e: &dyn std::fmt::Display| {
        Error::storage(
            name,
            format!(
                "option `{k}` is not understood by the {} back-end: {e}",
                url.scheme()
            ),
        )
    };
    let fail = |e: object_store::Error| Error::storage(name, format!("cannot open `{url}`: {e}"));
    Ok(match url.scheme() {
        "file" => {
            if !options.is_empty() {
                return Err(Error::storage(name, "local folders take no options"));
            }
            if has_http {
                // Only a `--storage` override can get here (the configuration refuses it), and
                // a local stand-in for a bucket should not need its retry settings removed.
                tracing::debug!(
                    root = name,
                    "retry and timeout settings do not apply to a local folder"
                );
            }
            Arc::new(object_store::local::LocalFileSystem::new())
        }
        "memory" => {
            let host = url.host_str().unwrap_or("default").to_string();
            let mut stores = memory_stores()
                .lock()
                .map_err(|_| Error::Internal("memory store lock poisoned".into()))?;
            stores
                .entry(host)
                .or_insert_with(|| Arc::new(InMemory::new()))
                .clone()
        }
        "s3" => {
            let mut b = object_store::aws::AmazonS3Builder::from_env().with_url(url.as_str());
            if std::env::var("AWS_ENDPOINT_URL")
                .or_else(|_| std::env::var("AWS_ENDPOINT"))
                .is_ok_and(|e| e.starts_with("http://"))
            {
                b = b.with_allow_http(true);
            }
            for (k, v) in options {
                let key: object_store::aws::AmazonS3ConfigKey =
                    k.parse().map_err(|e| bad_option(k, &e))?;
                b = b.with_config(key, v);
            }
            if let Some(r) = &http.retry {
                b = b.with_retry(r.clone());
            }
            for (k, v) in client_keys(http) {
                b = b.with_config(object_store::aws::AmazonS3ConfigKey::Client(k), v);
            }
            Arc::new(b.build().map_err(fail)?)
        }
        "gs" => {
            let mut b =
                object_store::gcp::GoogleCloudStorageBuilder::from_env().with_url(url.as_str());
            for (k, v) in options {
                let key: object_store::gcp::GoogleConfigKey =
                    k.parse().map_err(|e| bad_option(k, &e))?;
                b = b.with_config(key, v);
            }
            if let Some(r) = &http.retry {
                b = b.with_retry(r.clone());
            }
            for (k, v) in client_keys(http) {
                b = b.with_config(object_store::gcp::GoogleConfigKey::Client(k), v);
            }
            Arc::new(b.build().map_err(fail)?)
        }
        "az" | "abfs" | "abfss" => {
            let mut b =
                object_store::azure::MicrosoftAzureBuilder::from_env().with_url(url.as_str());
            for (k, v) in options {
                let key: object_store::azure::AzureConfigKey =
                    k.parse().map_err(|e| bad_option(k, &e))?;
                b = b.with_config(key, v);
            }
            if let Some(r) = &http.retry {
                b = b.with_retry(r.clone());
            }
            for (k, v) in client_keys(http) {
                b = b.with_config(object_store::azure::AzureConfigKey::Client(k), v);
            }
            Arc::new(b.build().map_err(fail)?)
        }
        other => {
            return Err(Error::storage(
                name,
                format!("unsupported scheme `{other}`"),
            ));
        }
    })
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn relative_paths_resolve_against_the_project() {
        let u = parse_location("./data/../data/raw", FsPath::new("/proj")).unwrap();
        assert_eq!(u.as_str(), "file:///proj/data/raw/");
        let u = parse_location("s3://bucket/raw", FsPath::new("/proj")).unwrap();
        assert_eq!(u.as_str(), "s3://bucket/raw/");
        assert!(parse_location("ftp://x/y", FsPath::new("/proj")).is_err());
        assert!(parse_location("s3:///nobucket", FsPath::new("/proj")).is_err());
    }

    #[test]
    fn paths_inside_roots() {
        let spec = StorageSpec {
            url: "memory://unit/wh".into(),
            ..StorageSpec::default()
        };
        let root = StorageRoot::resolve("warehouse", &spec, FsPath::new("/")).unwrap();
        assert_eq!(
            root.path("dim_person/_commit.json").as_ref(),
            "wh/dim_person/_commit.json"
        );
        assert_eq!(
            root.folder_url("dim_person").unwrap().as_str(),
            "memory://unit/wh/dim_person/"
        );
        assert_eq!(root.store_url().as_str(), "memory://unit/");
    }
}
