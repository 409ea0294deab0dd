//! Progress display and log output. On a terminal a progress bar shows models done and running;
//! log lines are printed above it. Elsewhere (cron, Airflow, CI) there is no bar, only log
//! lines on stderr — text or JSON, one event per line.

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};

use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

static BAR: OnceLock<Mutex<Option<ProgressBar>>> = OnceLock::new();
static BAR_ALLOWED: OnceLock<bool> = OnceLock::new();

fn bar_slot() -> &'static Mutex<Option<ProgressBar>> {
    BAR.get_or_init(|| Mutex::new(None))
}

/// Sets up `tracing` on stderr. `verbosity` is `-v` count minus `-q` count.
pub fn init_logging(format: LogFormat, verbosity: i8) {
    let level = match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let deps = if verbosity >= 2 { level } else { "warn" };
    let filter = EnvFilter::try_from_env("PARCOURS_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{deps},parcours={level}")));
    let _ = BAR_ALLOWED
        .set(format == LogFormat::Text && verbosity >= 0 && std::io::stderr().is_terminal());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(BarAwareStderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.with_target(false).compact().try_init(),
    };
}

/// A progress bar for `total` models, shown only on a terminal.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(total: u64) -> Progress {
        if !BAR_ALLOWED.get().copied().unwrap_or(false) {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} models  {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        if let Ok(mut slot) = bar_slot().lock() {
            *slot = Some(bar.clone());
        }
        Progress { bar: Some(bar) }
    }

    pub fn start(&self, model: &str) {
        if let Some(b) = &self.bar {
            b.set_message(format!("running {model}"));
        }
    }

    pub fn done(&self, _model: &str, _status: &str) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
            if let Ok(mut slot) = bar_slot().lock() {
                *slot = None;
            }
        }
    }
}

/// Writes each log line to stderr, above the progress bar when one is drawn.
#[derive(Clone, Copy)]
struct BarAwareStderr;

struct LineWriter {
    buf: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let bar = bar_slot().lock().ok().and_then(|b| b.clone());
        let write = || {
            let _ = std::io::stderr().lock().write_all(&buf);
        };
        match bar {
            Some(b) => b.suspend(write),
            None => write(),
        }
    }
}

impl<'a> MakeWriter<'a> for BarAwareStderr {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter { buf: Vec::new() }
    }
}
