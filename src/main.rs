//! The `parcours` binary: parse arguments, run the command, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;
use parcours::cli::{Cli, execute};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json_logs = cli.log_format == parcours::progress::LogFormat::Json;
    parcours::progress::init_logging(cli.log_format, cli.verbosity());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(parcours::error::exit::INTERNAL);
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if json_logs {
                tracing::error!(event = "error", exit_code = e.exit_code(), "{e}");
            } else {
                eprintln!("error: {e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
