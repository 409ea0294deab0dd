//! One writer per warehouse: the lease object `<warehouse>/_parcours/lease.json`.
//!
//! Two runs publishing to the same warehouse at once would sweep each other's staging area and
//! interleave commit records, so `run` takes the warehouse's lease before it reads or writes
//! anything there, renews it from a background task while it works (every third of its time to
//! live), and releases it when it ends, failed or not. A second run finds the lease held and
//! either waits for it (`--wait-for-lease`) or exits with [`exit::LOCKED`](crate::error::exit)
//! and a message naming the holder. A run that dies without releasing leaves a lease that
//! expires after its time to live; the next run takes it over. When the dead run was on the same
//! machine (same boot, same pid namespace, its pid gone or reused), the next run takes over at
//! once: a killed or interrupted run does not hold up a rerun for the whole time to live.
//!
//! Every change to the lease is a compare-and-swap, so two runs can never both win it, even
//! when both find the same stale lease:
//! - On object stores it is object_store's conditional put: [`PutMode::Create`] for a warehouse
//!   that never had a lease, [`PutMode::Update`] with the e-tag/version just read for renewing,
//!   taking over an expired lease and releasing. A losing writer gets `AlreadyExists` or
//!   `Precondition` and reads the lease again. (An S3-compatible server that ignores
//!   `If-None-Match`/`If-Match` cannot give this guarantee; AWS S3, MinIO, R2, GCS and Azure do.)
//! - On a local folder object_store offers `PutMode::Create` (a hard link, which fails if the
//!   name exists) but not `PutMode::Update` (`NotImplemented`), so the swap is done here: under
//!   an exclusive `flock` on `_parcours/lease.lock`, the current bytes are compared with those
//!   last read and the new lease is renamed into place. The lock is held for microseconds and
//!   the kernel drops it if the process dies, so it cannot go stale itself. What remains: a
//!   folder shared by several hosts over a file system whose locks are not shared between
//!   clients (NFSv3 without lockd, some FUSE mounts) gives no mutual exclusion between hosts.
//!
//! A lease records its holder's own clock, so hosts whose clocks disagree by more than a
//! fraction of the time to live could take over a live lease early: keep clocks in sync (NTP)
//! or raise `execution.lease_ttl`. A run checks that it still holds the lease before each
//! publish ([`LeaseCheck::ensure_held`]); if the heartbeat could not renew it in time, or another
//! run took it over, nothing more is published and the run ends with exit code 5. The check and
//! the publish are two steps, so a publish that starts just before the lease runs out still
//! completes; renewing every third of the time to live keeps that far from normal operation.
//!
//! Releasing rewrites the lease as released rather than deleting it: object_store has no
//! conditional delete, and an unconditional one could remove a lease another run had just taken.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::storage::StorageRoot;

/// Where the lease lives, relative to the warehouse root.
pub const LEASE_FILE: &str = "_parcours/lease.json";
/// The local-folder lock that makes the lease's compare-and-swap atomic (see the module doc).
const LOCK_FILE: &str = "_parcours/lease.lock";
/// How long a lease lives without renewal unless `execution.lease_ttl` says otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);
/// Renewal happens every third of the time to live; below this, a slow request could miss it.
pub const MIN_TTL: Duration = Duration::from_secs(1);
/// How often a waiting run looks at the lease again.
const POLL: Duration = Duration::from_secs(1);

/// The lease object's content.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeaseRecord {
    pub format_version: u32,
    pub run_id: String,
    pub host: String,
    pub pid: u32,
    /// Where `pid` means something: the kernel's boot id and pid namespace, and the process's
    /// start time (so a reused pid is not mistaken for the holder). Linux only.
    #[serde(default)]
    pub process: Option<ProcessId>,
    pub acquired_at: String,
    pub renewed_at: String,
    pub expires_at: String,
    /// Set when the holder let go: the lease is free whatever `expires_at` says.
    #[serde(default)]
    pub released_at: Option<String>,
}

/// A process, named so that another process on the same machine can tell whether it still runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProcessId {
    pub boot_id: String,
    pub pid_namespace: String,
    /// Clock ticks since boot when the process started (`/proc/<pid>/stat`, field 22).
    pub start_ticks: u64,
}

impl ProcessId {
    fn of(pid: u32) -> Option<ProcessId> {
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
        let (_, start_ticks) = proc_stat(pid)?;
        Some(ProcessId {
            boot_id: boot_id.trim().to_string(),
            pid_namespace: ns.to_string_lossy().into_owned(),
            start_ticks,
        })
    }
}

/// A process's state letter and start time, from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn plus(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl LeaseRecord {
    fn new(run_id: &str, now: DateTime<Utc>, ttl: Duration) -> Self {
        LeaseRecord {
            format_version: 1,
            run_id: run_id.to_string(),
            host: host_name(),
            pid: std::process::id(),
            process: ProcessId::of(std::process::id()),
            acquired_at: stamp(now),
            renewed_at: stamp(now),
            expires_at: stamp(plus(now, ttl)),
            released_at: None,
        }
    }

    fn expires(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.expires_at)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Written by this very process: run ids are unique, host and pid rule out a clash.
    fn is_mine(&self, run_id: &str) -> bool {
        self.run_id == run_id && self.pid == std::process::id() && self.host == host_name()
    }

    /// True only when the holder provably ran on this machine, in this pid namespace, and is
    /// gone (or a zombie, or its pid now belongs to a later process). Anything uncertain, such
    /// as another machine, another container or no `/proc`, is false: then only expiry frees
    /// the lease.
    fn holder_is_gone(&self) -> bool {
        let (Some(theirs), Some(ours)) = (&self.process, ProcessId::of(std::process::id())) else {
            return false;
        };
        if self.host != host_name()
            || theirs.boot_id != ours.boot_id
            || theirs.pid_namespace != ours.pid_namespace
        {
            return false;
        }
        match proc_stat(self.pid) {
            None => true,
            Some((state, start)) => matches!(state, 'Z' | 'X') || start != theirs.start_ticks,
        }
    }

    fn holder(&self) -> String {
        format!("run {} (host {}, pid {})", self.run_id, self.host, self.pid)
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// What a compare-and-swap compares with: the store's e-tag/version, or on a local folder the
/// bytes last read.
#[derive(Debug, Clone)]
enum Version {
    Object(UpdateVersion),
    Local(Vec<u8>),
}

/// The outcome of a compare-and-swap.
enum Cas {
    Done(Version),
    /// Somebody else changed the lease first: read it again.
    Conflict,
}

enum Backend {
    Object {
        store: Arc<dyn ObjectStore>,
        path: Path,
    },
    Local {
        file: PathBuf,
        lock: PathBuf,
    },
}

impl Backend {
    async fn read(&self) -> std::result::Result<Option<(Vec<u8>, Version)>, String> {
        match self {
            Backend::Object { store, path } => match store.get(path).await {
                Ok(r) => {
                    let version = UpdateVersion {
                        e_tag: r.meta.e_tag.clone(),
                        version: r.meta.version.clone(),
                    };
                    let bytes = r.bytes().await.map_err(|e| e.to_string())?;
                    Ok(Some((bytes.to_vec(), Version::Object(version))))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.to_string()),
            },
            Backend::Local { file, .. } => {
                let file = file.clone();
                blocking(move || match std::fs::read(&file) {
                    Ok(b) => Ok(Some((b.clone(), Version::Local(b)))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e.to_string()),
                })
                .await
            }
        }
    }

    /// Writes `bytes` if the lease is still at `expected` (`None`: if there is no lease yet).
    async fn swap(
        &self,
        expected: Option<&Version>,
        bytes: Vec<u8>,
    ) -> std::result::Result<Cas, String> {
        match self {
            Backend::Object { store, path } => {
                let mode = match expected {
                    None => PutMode::Create,
                    Some(Version::Object(v)) => PutMode::Update(v.clone()),
                    Some(Version::Local(_)) => {
                        return Err("a local version used with an object store".into());
                    }
                };
                match store
                    .put_opts(path, PutPayload::from(bytes.clone()), mode.into())
                    .await
                {
                    Ok(r) if r.e_tag.is_some() || r.version.is_some() => {
                        Ok(Cas::Done(Version::Object(UpdateVersion {
                            e_tag: r.e_tag,
                            version: r.version,
                        })))
                    }
                    // A store that names no version: take the one a read returns, if the read
                    // shows what was just written (else somebody wrote after us).
                    Ok(_) => match self.read().await? {
                        Some((b, v)) if b == bytes => Ok(Cas::Done(v)),
                        _ => Ok(Cas::Conflict),
                    },
                    Err(
                        object_store::Error::AlreadyExists { .. }
                        | object_store::Error::Precondition { .. }
                        | object_store::Error::NotFound { .. },
                    ) => Ok(Cas::Conflict),
                    Err(e @ object_store::Error::NotImplemented { .. }) => Err(format!(
                        "{e}; the warehouse store must support conditional writes for the run lease (for S3, do not set `aws_conditional_put: disabled`)"
                    )),
                    Err(e) => Err(e.to_string()),
                }
            }
            Backend::Local { file, lock } => {
                let (file, lock) = (file.clone(), lock.clone());
                let expected = match expected {
                    None => None,
                    Some(Version::Local(b)) => Some(b.clone()),
                    Some(Version::Object(_)) => {
                        return Err("an object version used with a local folder".into());
                    }
                };
                blocking(move || {
                    local_swap(&file, &lock, expected.as_deref(), &bytes)
                        .map_err(|e| format!("{}: {e}", file.display()))
                })
                .await
            }
        }
    }
}

/// The local compare-and-swap: compare and replace under an exclusive lock on `lock`.
fn local_swap(
    file: &std::path::Path,
    lock: &std::path::Path,
    expected: Option<&[u8]>,
    bytes: &[u8],
) -> std::io::Result<Cas> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let guard = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock)?;
    guard.lock()?;
    let current = match std::fs::read(file) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if current.as_deref() != expected {
        return Ok(Cas::Conflict);
    }
    // Renamed into place so a reader without the lock never sees half a lease.
    let tmp = file.with_extension(format!("json.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, file)?;
    drop(guard);
    Ok(Cas::Done(Version::Local(bytes.to_vec())))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::result::Result<T, String> + Send + 'static,
) -> std::result::Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("lease task failed: {e}"))?
}

/// How a run asks for the lease.
#[derive(Debug, Clone, Copy)]
pub struct LeaseOptions {
    pub ttl: Duration,
    /// How long to wait for another run's lease before giving up (zero: do not wait).
    pub wait: Duration,
}

impl LeaseOptions {
    pub fn from_execution(e: &crate::config::Execution) -> Self {
        LeaseOptions {
            ttl: e.lease_ttl.unwrap_or(DEFAULT_TTL),
            wait: e.wait_for_lease.unwrap_or(Duration::ZERO),
        }
    }
}

struct Inner {
    backend: Backend,
    root: String,
    /// The lease object's URL, for messages.
    url: String,
    run_id: String,
    ttl: Duration,
    /// The lease as last written by this run, and its version. An async mutex: the heartbeat
    /// and the release must not swap at the same time.
    held: tokio::sync::Mutex<(LeaseRecord, Version)>,
    /// When the lease as last written expires; read without waiting by [`LeaseCheck::ensure_held`].
    expires: Mutex<DateTime<Utc>>,
    /// Why the lease was lost, once another run took it over.
    lost: Mutex<Option<String>>,
    /// Why a publish was refused, once one was (the lease was lost or had expired).
    refused: Mutex<Option<String>>,
}

/// The warehouse lease held by this run. Release it with [`Lease::release`].
pub struct Lease {
    inner: Arc<Inner>,
    heartbeat: tokio::task::JoinHandle<()>,
}

/// A cheap handle that model tasks use to check the lease before publishing.
#[derive(Clone)]
pub struct LeaseCheck(Arc<Inner>);

impl Inner {
    fn storage_error(&self, what: &str, e: String) -> Error {
        Error::storage(
            &self.root,
            format!("{what} the run lease {}: {e}", self.url),
        )
    }

    fn lost_error(&self, why: &str) -> Error {
        Error::Locked(format!(
            "run {} no longer holds the lease of the warehouse ({}): {why}; it publishes nothing more. The tables it published before stay; rerun it to publish the rest",
            self.run_id, self.url
        ))
    }

    fn set_lost(&self, why: String) {
        tracing::error!(event = "lease_lost", lease = %self.url, "{why}");
        if let Ok(mut l) = self.lost.lock() {
            l.get_or_insert(why);
        }
    }

    fn lost_reason(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }

    /// Why this run may not publish now, if it may not. An expired lease that nobody took over
    /// becomes valid again when the heartbeat renews it: the compare-and-swap proves that no
    /// other run wrote the lease in between.
    fn why_not_held(&self) -> Option<String> {
        if let Some(why) = self.lost_reason() {
            return Some(why);
        }
        let expires = self
            .expires
            .lock()
            .map(|e| *e)
            .unwrap_or_else(|_| Utc::now());
        (Utc::now() >= expires).then(|| {
            format!(
                "it expired at {} before it could be renewed (storage unreachable, or the process was paused)",
                stamp(expires)
            )
        })
    }

    /// Writes `next` over the lease this run holds. On a conflict, a lease that still carries
    /// this run's id is ours (an earlier write whose answer was lost, then retried): adopt its
    /// version and try again once.
    async fn swap_held(&self, next: LeaseRecord) -> std::result::Result<(), SwapError> {
        let mut held = self.held.lock().await;
        let bytes = encode(&next);
        for _ in 0..2 {
            match self.backend.swap(Some(&held.1), bytes.clone()).await {
                Ok(Cas::Done(v)) => {
                    if let (Ok(mut e), Some(t)) = (self.expires.lock(), next.expires()) {
                        *e = t;
                    }
                    *held = (next, v);
                    return Ok(());
                }
                Ok(Cas::Conflict) => match self.backend.read().await {
                    Ok(Some((b, v))) => match decode(&b) {
                        Ok(cur) if cur.is_mine(&self.run_id) => {
                            held.1 = v;
                        }
                        Ok(cur) => {
                            return Err(SwapError::Lost(format!(
                                "{} took it over at {}",
                                cur.holder(),
                                cur.acquired_at
                            )));
                        }
                        Err(e) => return Err(SwapError::Lost(e)),
                    },
                    Ok(None) => {
                        return Err(SwapError::Lost("the lease object was deleted".into()));
                    }
                    Err(e) => return Err(SwapError::Failed(e)),
                },
                Err(e) => return Err(SwapError::Failed(e)),
            }
        }
        Err(SwapError::Failed(
            "the lease kept changing under this run".into(),
        ))
    }
}

enum SwapError {
    /// Another run holds the lease now.
    Lost(String),
    /// The store failed; the lease may still be ours.
    Failed(String),
}

fn encode(r: &LeaseRecord) -> Vec<u8> {
    // A struct of strings and integers always serializes.
    serde_json::to_vec_pretty(r).unwrap_or_default()
}

fn decode(b: &[u8]) -> std::result::Result<LeaseRecord, String> {
    serde_json::from_slice(b).map_err(|e| format!("the lease object is not a parcours lease ({e})"))
}

impl LeaseCheck {
    /// Ok while this run holds the lease; an [`Error::Locked`] saying why once it does not.
    /// Call it right before publishing: a refusal also makes the whole run end with exit 5.
    pub fn ensure_held(&self) -> Result<()> {
        match self.0.why_not_held() {
            None => Ok(()),
            Some(why) => {
                if let Ok(mut r) = self.0.refused.lock() {
                    r.get_or_insert(why.clone());
                }
                Err(self.0.lost_error(&why))
            }
        }
    }
}

impl Lease {
    /// Takes the lease of `root`, waiting up to `opts.wait` for another run to let go.
    pub async fn acquire(root: &StorageRoot, run_id: &str, opts: LeaseOptions) -> Result<Lease> {
        let backend = match root.local_dir() {
            Some(dir) => Backend::Local {
                file: dir.join(LEASE_FILE),
                lock: dir.join(LOCK_FILE),
            },
            None => Backend::Object {
                store: root.store.clone(),
                path: root.path(LEASE_FILE),
            },
        };
        let url = format!("{}{LEASE_FILE}", root.url);
        let fail = |what: &str, e: String| {
            Error::storage(&root.name, format!("{what} the run lease {url}: {e}"))
        };
        let deadline = tokio::time::Instant::now() + opts.wait;
        let mut waiting = false;
        let (record, version) = loop {
            let now = Utc::now();
            let mine = LeaseRecord::new(run_id, now, opts.ttl);
            let current = backend.read().await.map_err(|e| fail("cannot read", e))?;
            let (expected, took_over) = match &current {
                None => (None, None),
                Some((bytes, version)) => {
                    let cur = decode(bytes).map_err(|e| {
                        Error::Locked(format!(
                            "{url}: {e}; if no parcours run is writing to this warehouse, delete it and run again"
                        ))
                    })?;
                    if cur.is_mine(run_id) {
                        // Our own create, retried after its answer was lost.
                        break (cur, version.clone());
                    }
                    let expires = cur.expires().ok_or_else(|| {
                        Error::Locked(format!(
                            "{url}: `expires_at` `{}` is not a time; if no parcours run is writing to this warehouse, delete it and run again",
                            cur.expires_at
                        ))
                    })?;
                    let gone = cur.released_at.is_none() && expires > now && cur.holder_is_gone();
                    if gone {
                        tracing::warn!(event = "lease_holder_gone", previous = %cur.run_id,
                            "{} no longer runs on this machine; taking over its lease without waiting for it to expire at {}",
                            cur.holder(), cur.expires_at);
                    }
                    if cur.released_at.is_none() && expires > now && !gone {
                        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                        if left.is_zero() {
                            return Err(Error::Locked(held_message(&cur, &url, opts.wait)));
                        }
                        if !waiting {
                            waiting = true;
                            tracing::info!(event = "lease_wait", holder = %cur.run_id, expires_at = %cur.expires_at,
                                "the warehouse is in use by {}; waiting up to {:?} for its lease",
                                cur.holder(), opts.wait);
                        }
                        tokio::time::sleep(left.min(POLL)).await;
                        continue;
                    }
                    (
                        Some(version.clone()),
                        cur.released_at.is_none().then_some(cur),
                    )
                }
            };
            match backend
                .swap(expected.as_ref(), encode(&mine))
                .await
                .map_err(|e| fail("cannot write", e))?
            {
                Cas::Done(v) => {
                    if let Some(stale) = took_over {
                        tracing::warn!(event = "lease_takeover", previous = %stale.run_id, expired_at = %stale.expires_at,
                            "took over the warehouse lease of {}, which that run never released (it died or lost its storage; the lease said it expires at {})",
                            stale.holder(), stale.expires_at);
                    }
                    break (mine, v);
                }
                // Another run got there first; a short pause keeps a contended lease from
                // turning into a busy loop.
                Cas::Conflict => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        tracing::info!(event = "lease_acquired", lease = %url, expires_at = %record.expires_at, "holding the warehouse lease");
        let expires = record.expires().unwrap_or_else(Utc::now);
        let inner = Arc::new(Inner {
            backend,
            root: root.name.clone(),
            url,
            run_id: run_id.to_string(),
            ttl: opts.ttl,
            held: tokio::sync::Mutex::new((record, version)),
            expires: Mutex::new(expires),
            lost: Mutex::new(None),
            refused: Mutex::new(None),
        });
        let heartbeat = tokio::spawn(heartbeat(inner.clone()));
        Ok(Lease { inner, heartbeat })
    }

    pub fn check(&self) -> LeaseCheck {
        LeaseCheck(self.inner.clone())
    }

    /// Stops the heartbeat and lets go of the lease. Returns the error to end the run with when
    /// another run took the lease over, or a publish was refused for want of it. Failing to
    /// release is only logged: the lease then expires by itself.
    pub async fn release(self) -> Option<Error> {
        self.heartbeat.abort();
        let _ = self.heartbeat.await;
        let inner = &self.inner;
        if inner.lost_reason().is_none() {
            let now = Utc::now();
            let mut next = inner.held.lock().await.0.clone();
            next.released_at = Some(stamp(now));
            next.expires_at = stamp(now);
            match inner.swap_held(next).await {
                Ok(()) => {
                    tracing::info!(event = "lease_released", lease = %inner.url, "released the warehouse lease")
                }
                Err(SwapError::Lost(why)) => inner.set_lost(why),
                Err(SwapError::Failed(e)) => {
                    let expires = inner.held.lock().await.0.expires_at.clone();
                    tracing::warn!(event = "lease_release_failed", lease = %inner.url,
                        "{}; it expires by itself at {expires}", inner.storage_error("cannot release", e));
                }
            }
        }
        let why = inner
            .lost_reason()
            .or_else(|| inner.refused.lock().ok().and_then(|r| r.clone()))?;
        Some(inner.lost_error(&why))
    }
}

fn held_message(cur: &LeaseRecord, url: &str, waited: Duration) -> String {
    let waited = if waited.is_zero() {
        "wait for it with `--wait-for-lease 10m` (or `execution.wait_for_lease`)".to_string()
    } else {
        format!("waited {waited:?}; wait longer with `--wait-for-lease`")
    };
    format!(
        "the warehouse is in use: {} holds its lease {url} (acquired {}, expires {} unless renewed); {waited}. If that run is dead, its lease expires at that time and the next run takes over",
        cur.holder(),
        cur.acquired_at,
        cur.expires_at
    )
}

/// Renews the lease every third of its time to live until it is aborted or the lease is lost.
async fn heartbeat(inner: Arc<Inner>) {
    let period = inner.ttl / 3;
    loop {
        tokio::time::sleep(period).await;
        let now = Utc::now();
        let mut next = inner.held.lock().await.0.clone();
        next.renewed_at = stamp(now);
        next.expires_at = stamp(plus(now, inner.ttl));
        // Bounded, so a request stuck in retries cannot outlive the lease unnoticed.
        match tokio::time::timeout(period, inner.swap_held(next)).await {
            Ok(Ok(())) => tracing::debug!(event = "lease_renewed", lease = %inner.url),
            Ok(Err(SwapError::Lost(why))) => {
                inner.set_lost(why);
                return;
            }
            // Keep trying: until another run takes it over, the lease can still be renewed.
            Ok(Err(SwapError::Failed(e))) => renewal_failed(&inner, e),
            Err(_) => renewal_failed(&inner, format!("no answer within {period:?}")),
        }
    }
}

fn renewal_failed(inner: &Inner, e: String) {
    tracing::warn!(event = "lease_renew_failed", lease = %inner.url,
        "{}; trying again in {:?}", inner.storage_error("cannot renew", e), inner.ttl / 3);
}

#[cfg(test)]
mod unit {
    use super::*;
    use crate::config::StorageSpec;

    fn root(url: &str) -> StorageRoot {
        let spec = StorageSpec {
            url: url.into(),
            ..StorageSpec::default()
        };
        StorageRoot::resolve("warehouse", &spec, std::path::Path::new("/")).unwrap()
    }

    const OPTS: LeaseOptions = LeaseOptions {
        ttl: Duration::from_secs(30),
        wait: Duration::ZERO,
    };

    async fn exclusive_then_released(root: StorageRoot) {
        let first = Lease::acquire(&root, "run-a", OPTS).await.unwrap();
        let err = Lease::acquire(&root, "run-b", OPTS).await.err().unwrap();
        assert_eq!(err.exit_code(), crate::error::exit::LOCKED);
        assert!(err.to_string().contains("run run-a"), "{err}");
        assert!(first.check().ensure_held().is_ok());
        let lease = root.url.join(LEASE_FILE).unwrap();
        assert!(err.to_string().contains(lease.as_str()), "{err}");
        assert!(first.release().await.is_none());
        let second = Lease::acquire(&root, "run-b", OPTS).await.unwrap();
        assert!(second.release().await.is_none());
    }

    async fn stale_is_taken_over_once(root: StorageRoot) {
        let short = LeaseOptions {
            ttl: Duration::from_secs(1),
            wait: Duration::ZERO,
        };
        let first = Lease::acquire(&root, "run-a", short).await.unwrap();
        // A dead holder: no heartbeat, no release.
        first.heartbeat.abort();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (b, c) = tokio::join!(
            Lease::acquire(&root, "run-b", OPTS),
            Lease::acquire(&root, "run-c", OPTS)
        );
        assert!(
            b.is_ok() != c.is_ok(),
            "exactly one of two runs takes a stale lease over"
        );
        let err = first.check().ensure_held().unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        for l in [b, c].into_iter().flatten() {
            assert!(l.release().await.is_none());
        }
        let err = first
            .release()
            .await
            .expect("a refused publish fails the run");
        assert!(err.to_string().contains("took it over"), "{err}");
    }

    #[tokio::test]
    async fn memory_lease_is_exclusive() {
        exclusive_then_released(root("memory://lease-unit-1/wh")).await;
        stale_is_taken_over_once(root("memory://lease-unit-2/wh")).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_lease_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}/a/", dir.path().display());
        exclusive_then_released(root(&url)).await;
        let url = format!("file://{}/b/", dir.path().display());
        stale_is_taken_over_once(root(&url)).await;
    }

    #[test]
    fn a_holder_that_exited_on_this_machine_is_gone() {
        if ProcessId::of(std::process::id()).is_none() {
            return; // no /proc: only expiry frees a lease
        }
        let mut alive = LeaseRecord::new("run-a", Utc::now(), OPTS.ttl);
        assert!(!alive.holder_is_gone(), "this very process runs");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let mut dead = LeaseRecord::new("run-b", Utc::now(), OPTS.ttl);
        dead.pid = pid;
        if let Some(p) = dead.process.as_mut() {
            p.start_ticks = proc_stat(pid).map(|(_, t)| t).unwrap_or(0);
        }
        child.wait().unwrap();
        assert!(dead.holder_is_gone(), "an exited process is gone");
        alive.host = "another-machine".into();
        alive.pid = pid;
        assert!(
            !alive.holder_is_gone(),
            "another machine's pid says nothing here"
        );
    }

    #[tokio::test]
    async fn a_lost_lease_is_reported_at_release() {
        let root = root("memory://lease-unit-3/wh");
        let first = Lease::acquire(&root, "run-a", OPTS).await.unwrap();
        // Another run overwrites the lease (as a takeover would).
        let other = LeaseRecord::new("run-z", Utc::now(), OPTS.ttl);
        root.store
            .put(&root.path(LEASE_FILE), PutPayload::from(encode(&other)))
            .await
            .unwrap();
        let err = first.release().await.expect("the lease was lost");
        assert!(err.to_string().contains("run run-z"), "{err}");
    }
}
