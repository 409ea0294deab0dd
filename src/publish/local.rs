//! Atomic publishing on local folders.
//!
//! The new version of a table is assembled as a sibling folder on the same file system (staged
//! files renamed in, unchanged partitions hard-linked from the current version, the commit record
//! written), then swapped with the live folder in one `renameat2(RENAME_EXCHANGE)` call. A reader
//! opening files in `<table>/` therefore sees either every old file or every new one.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::publish::{COMMIT_FILE, CommitRecord, Staged};

/// `moves` are (staged path, final path), both relative to the warehouse folder `root`.
pub async fn publish(
    root: &Path,
    staged: &Staged,
    record: &CommitRecord,
    moves: &[(String, String)],
) -> Result<()> {
    let root = root.to_path_buf();
    let record = record.clone();
    let moves = moves.to_vec();
    let run = staged.run_id.clone();
    tokio::task::spawn_blocking(move || swap_in(&root, &record, &moves, &run))
        .await
        .map_err(|e| Error::Internal(format!("publish task: {e}")))?
}

fn swap_in(
    root: &Path,
    record: &CommitRecord,
    moves: &[(String, String)],
    run: &str,
) -> Result<()> {
    let table = &record.table;
    let io = |what: &str, p: &Path, e: std::io::Error| {
        Error::storage(
            "warehouse",
            format!("publishing `{table}`: {what} {}: {e}", p.display()),
        )
    };
    let live = root.join(table);
    let next = root.join(format!("{}/{run}/.next-{table}", crate::publish::STAGING));
    if next.exists() {
        std::fs::remove_dir_all(&next).map_err(|e| io("cannot clear", &next, e))?;
    }
    std::fs::create_dir_all(&next).map_err(|e| io("cannot create", &next, e))?;

    for f in &record.files {
        let dest = next.join(&f.path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io("cannot create", parent, e))?;
        }
        let final_rel = format!("{table}/{}", f.path);
        match moves.iter().find(|(_, to)| *to == final_rel) {
            Some((from, _)) => {
                let src = root.join(from);
                std::fs::rename(&src, &dest).map_err(|e| io("cannot move", &src, e))?;
            }
            None => {
                let src = live.join(&f.path);
                if std::fs::hard_link(&src, &dest).is_err() {
                    std::fs::copy(&src, &dest).map_err(|e| io("cannot keep", &src, e))?;
                }
            }
        }
    }
    let body = serde_json::to_vec_pretty(record).map_err(|e| Error::Internal(e.to_string()))?;
    let commit = next.join(COMMIT_FILE);
    std::fs::write(&commit, body).map_err(|e| io("cannot write", &commit, e))?;
    tracing::debug!(event = "assembled", model = %table, "new version complete beside the live folder");

    if live.exists() {
        exchange(&next, &live).map_err(|e| io("cannot swap in", &live, e))?;
        tracing::debug!(event = "committed", model = %table, run_id = %record.run_id, "folders exchanged");
        // `next` now holds the previous version; readers that opened it keep their handles.
        std::fs::remove_dir_all(&next).map_err(|e| io("cannot remove old version", &next, e))?;
    } else {
        std::fs::rename(&next, &live).map_err(|e| io("cannot create", &live, e))?;
        tracing::debug!(event = "committed", model = %table, run_id = %record.run_id, "first version in place");
    }
    let staging = root.join(format!("{}/{run}/{table}", crate::publish::STAGING));
    let _ = std::fs::remove_dir_all(staging);
    tracing::debug!(event = "cleaned", model = %table, "previous version and staging removed");
    Ok(())
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let cb = CString::new(b.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: both arguments are valid NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    // Some file systems (e.g. older overlayfs) lack RENAME_EXCHANGE: fall back to two renames.
    if err.raw_os_error() == Some(libc::EINVAL) || err.raw_os_error() == Some(libc::ENOSYS) {
        return two_renames(a, b);
    }
    Err(err)
}

#[cfg(not(target_os = "linux"))]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    two_renames(a, b)
}

/// Not atomic: `b` is briefly absent (never mixed). Used where the exchange is unavailable.
fn two_renames(a: &Path, b: &Path) -> std::io::Result<()> {
    let tmp: PathBuf = a.with_extension("old");
    std::fs::rename(b, &tmp)?;
    std::fs::rename(a, b)?;
    std::fs::rename(&tmp, a)
}
