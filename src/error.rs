//! The library's error type and the exit code each kind of failure maps to.
//!
//! Every error names where the problem is (file, line, model, source, object) and, where one
//! exists, the fix. The CLI prints the message and exits with [`Error::exit_code`]; the exit
//! codes are part of the public contract (README, "Exit codes") because orchestrators branch on
//! them.

use std::path::PathBuf;

/// Process exit codes, documented in the README.
pub mod exit {
    /// Every selected model ran and every `error` test passed.
    pub const SUCCESS: u8 = 0;
    /// A model or an `error`-severity data test failed; other models still ran.
    pub const MODEL_FAILED: u8 = 1;
    /// Bad configuration, SQL or command-line usage: nothing was run or written.
    pub const CONFIG: u8 = 2;
    /// A source is missing, unreadable, corrupt or its schema drifted: nothing was run or written.
    pub const SOURCE_DATA: u8 = 3;
    /// Storage failed: the warehouse is not reachable or not writable; or the cluster's
    /// scheduler is not reachable.
    pub const STORAGE: u8 = 4;
    /// Another run holds the warehouse.
    pub const LOCKED: u8 = 5;
    /// An internal error (a bug): please report it.
    pub const INTERNAL: u8 = 70;
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration problem located in a file (and, when known, a line).
    #[error("{}: {message}", location(file, *line))]
    Config {
        file: PathBuf,
        line: Option<usize>,
        message: String,
    },

    /// Usage errors that clap cannot see (a malformed `--var`, an unknown selector…).
    #[error("{0}")]
    Usage(String),

    /// A source's data cannot be used as declared.
    #[error("source `{source_name}`: {message}")]
    SourceData {
        source_name: String,
        message: String,
    },

    /// The object store refused or failed an operation.
    #[error("storage `{root}`: {message}")]
    Storage { root: String, message: String },

    /// The warehouse is held by another run.
    #[error("{0}")]
    Locked(String),

    /// A query the engine refused to plan (unknown column, wrong argument type, a literal
    /// argument out of range): the SQL is wrong. `validate` finds these in models before a run;
    /// one met later names what it was planning.
    #[error("{0}")]
    Sql(String),

    /// A query that failed on the data while it ran: a cast or function refused a value, the
    /// memory limit was reached. The model (or command) fails; nothing of it is published.
    #[error("{0}")]
    Execution(String),

    /// The memory limit was reached by an operator that could not spill (a hash join's build
    /// side, a merge's buffers). The runner retries such a model once with sort-merge joins.
    #[error("{0}")]
    OutOfMemory(String),

    /// The Ballista cluster cannot be reached or refused to start (its address is in the
    /// message).
    #[error("cluster: {0}")]
    Cluster(String),

    /// A bug: an invariant of parcours or of the engine broke (DataFusion's own internal
    /// errors, a panicked task, a failed serialisation). Please report it.
    #[error("internal error: {0}")]
    Internal(String),
}

fn location(file: &std::path::Path, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{}:{line}", file.display()),
        None => file.display().to_string(),
    }
}

impl Error {
    pub fn config(
        file: impl Into<PathBuf>,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Error::Config {
            file: file.into(),
            line,
            message: message.into(),
        }
    }

    pub fn source_data(source: impl Into<String>, message: impl Into<String>) -> Self {
        Error::SourceData {
            source_name: source.into(),
            message: message.into(),
        }
    }

    pub fn storage(root: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Storage {
            root: root.into(),
            message: message.to_string(),
        }
    }

    /// The process exit code for this error (see [`exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config { .. } | Error::Usage(_) | Error::Sql(_) => exit::CONFIG,
            Error::Execution(_) | Error::OutOfMemory(_) => exit::MODEL_FAILED,
            Error::SourceData { .. } => exit::SOURCE_DATA,
            Error::Storage { .. } | Error::Cluster(_) => exit::STORAGE,
            Error::Locked(_) => exit::LOCKED,
            Error::Internal(_) => exit::INTERNAL,
        }
    }
}

impl Error {
    /// A DataFusion failure classified by its root cause, prefixed with `context` (what was
    /// being planned or run). Only the engine's internal errors and panicked tasks are bugs;
    /// planning errors are the SQL's; the rest (values a cast or function refused, the memory
    /// limit, storage read while executing) fail what was running.
    pub fn query(context: &str, e: &datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as D;
        let message = e.strip_backtrace();
        let text = if context.is_empty() {
            message
        } else {
            format!("{context}: {message}")
        };
        match e.find_root() {
            D::Internal(_) | D::ExecutionJoin(_) => Error::Internal(text),
            D::Plan(_)
            | D::SQL(..)
            | D::SchemaError(..)
            | D::Configuration(_)
            | D::NotImplemented(_)
            | D::Substrait(_) => Error::Sql(text),
            D::ResourcesExhausted(_) => Error::OutOfMemory(text),
            D::Collection(errors) if !errors.is_empty() => {
                // classified by the first error, reported whole
                match Error::query("", &errors[0]) {
                    Error::Internal(_) => Error::Internal(text),
                    Error::Sql(_) => Error::Sql(text),
                    Error::OutOfMemory(_) => Error::OutOfMemory(text),
                    _ => Error::Execution(text),
                }
            }
            _ => Error::Execution(text),
        }
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Error::query("", &e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::error::DataFusionError as D;

    #[test]
    fn only_engine_bugs_are_internal() {
        let code = |e: D| Error::query("model `m`", &e).exit_code();
        assert_eq!(code(D::Internal("broken invariant".into())), exit::INTERNAL);
        assert_eq!(code(D::Plan("no column x".into())), exit::CONFIG);
        assert_eq!(code(D::NotImplemented("LATERAL".into())), exit::CONFIG);
        assert_eq!(
            code(D::Execution("Cast error: 'abc' is not an Int32".into())),
            exit::MODEL_FAILED
        );
        assert_eq!(
            code(D::ResourcesExhausted("pool full".into())),
            exit::MODEL_FAILED
        );
        // the runner retries a model out of memory with joins that spill
        let full = D::Context(
            "sorting".into(),
            Box::new(D::ResourcesExhausted("pool full".into())),
        );
        assert!(matches!(
            Error::query("model `m`", &full),
            Error::OutOfMemory(_)
        ));
        // the root cause decides, through context wrappers
        let wrapped = D::Context(
            "writing".into(),
            Box::new(D::Plan("order must be between 1 and 4".into())),
        );
        assert_eq!(code(wrapped), exit::CONFIG);
        let shared = D::Shared(std::sync::Arc::new(D::Internal("x".into())));
        assert_eq!(code(shared), exit::INTERNAL);
        let e = Error::query("model `m` (sql/m.sql)", &D::Execution("bad value".into()));
        assert_eq!(
            e.to_string(),
            "model `m` (sql/m.sql): Execution error: bad value"
        );
    }
}
