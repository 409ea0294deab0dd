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
    /// Storage failed: the warehouse is not reachable or not writable.
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

    /// Everything else: a DataFusion, Arrow or Parquet failure outside a model.
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
            Error::Config { .. } | Error::Usage(_) => exit::CONFIG,
            Error::SourceData { .. } => exit::SOURCE_DATA,
            Error::Storage { .. } => exit::STORAGE,
            Error::Locked(_) => exit::LOCKED,
            Error::Internal(_) => exit::INTERNAL,
        }
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Error::Internal(e.to_string())
    }
}
