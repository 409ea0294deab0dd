//! `parcours scheduler` and `parcours executor`: the flags operators expect (each also read from
//! a `PARCOURS_…` variable, as container images are configured), turned into the processes'
//! options.

use std::path::PathBuf;

use clap::Args;

use crate::cluster::processes::{self, ExecutorOptions, SchedulerOptions, Scheduling};
use crate::error::{Error, Result, exit};

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on (0.0.0.0 for every interface).
    #[arg(long, default_value = "127.0.0.1", env = "PARCOURS_BIND_HOST")]
    pub bind_host: String,
    /// The host name executors and clients reach this scheduler by (default: --bind-host).
    #[arg(long, env = "PARCOURS_EXTERNAL_HOST")]
    pub external_host: Option<String>,
    /// gRPC port: clients use df://HOST:PORT.
    #[arg(long, default_value_t = 50050, env = "PARCOURS_PORT")]
    pub port: u16,
    /// Seconds without a heartbeat before an executor is lost and its tasks run elsewhere.
    #[arg(long, default_value_t = 60, env = "PARCOURS_EXECUTOR_TIMEOUT")]
    pub executor_timeout: u64,
    /// Failures of one task (a lost executor included) before its query fails.
    #[arg(long, default_value_t = 4, env = "PARCOURS_TASK_MAX_FAILURES")]
    pub task_max_failures: usize,
    /// How tasks reach executors: `pull` (executors ask for work) or `push`; the executors must
    /// be started with the same.
    #[arg(long, value_enum, default_value_t = Scheduling::Pull, env = "PARCOURS_SCHEDULING")]
    pub scheduling: Scheduling,
}

#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// Scheduler address, df://HOST:PORT.
    #[arg(
        long,
        default_value = "df://127.0.0.1:50050",
        env = "PARCOURS_SCHEDULER"
    )]
    pub scheduler: String,
    /// Address to listen on (0.0.0.0 for every interface).
    #[arg(long, default_value = "127.0.0.1", env = "PARCOURS_BIND_HOST")]
    pub bind_host: String,
    /// The host name the scheduler, other executors and clients reach this one by.
    #[arg(long, env = "PARCOURS_EXTERNAL_HOST")]
    pub external_host: Option<String>,
    /// Arrow Flight port (shuffle reads, results); the gRPC port is PORT + 1.
    #[arg(long, default_value_t = 50051, env = "PARCOURS_PORT")]
    pub port: u16,
    /// Tasks run at once (default: the number of cores).
    #[arg(long, env = "PARCOURS_CONCURRENT_TASKS")]
    pub concurrent_tasks: Option<usize>,
    /// Folder for shuffle files and spills (default: a temporary folder).
    #[arg(long, env = "PARCOURS_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    /// Memory pool shared by the task slots (e.g. 8GiB); beyond it operators spill to --work-dir.
    #[arg(long, value_name = "SIZE", env = "PARCOURS_MEMORY_LIMIT")]
    pub memory_limit: Option<String>,
    /// Seconds between heartbeats to the scheduler.
    #[arg(long, default_value_t = 10, env = "PARCOURS_HEARTBEAT")]
    pub heartbeat: u64,
    /// How tasks reach this executor: the scheduler's --scheduling.
    #[arg(long, value_enum, default_value_t = Scheduling::Pull, env = "PARCOURS_SCHEDULING")]
    pub scheduling: Scheduling,
}

pub(super) async fn scheduler(a: SchedulerArgs) -> Result<u8> {
    processes::scheduler(SchedulerOptions {
        bind_host: a.bind_host,
        external_host: a.external_host,
        port: a.port,
        executor_timeout_s: a.executor_timeout.max(1),
        task_max_failures: a.task_max_failures.max(1),
        scheduling: a.scheduling,
    })
    .await?;
    Ok(exit::SUCCESS)
}

pub(super) async fn executor(a: ExecutorArgs) -> Result<u8> {
    let scheduler = crate::config::parse_scheduler(&a.scheduler)
        .map_err(|m| Error::Usage(format!("--scheduler {m}")))?;
    let url = url::Url::parse(&scheduler).map_err(|e| Error::Usage(e.to_string()))?;
    let memory_limit = match &a.memory_limit {
        None => None,
        Some(s) => Some(crate::config::parse_bytes(s).ok_or_else(|| {
            Error::Usage(format!(
                "--memory-limit `{s}` is not a size; write e.g. 8GiB"
            ))
        })?),
    };
    processes::executor(ExecutorOptions {
        bind_host: a.bind_host,
        external_host: a.external_host,
        port: a.port,
        scheduler_host: url.host_str().unwrap_or("127.0.0.1").to_string(),
        scheduler_port: url.port().unwrap_or(50050),
        concurrent_tasks: a.concurrent_tasks,
        work_dir: a.work_dir,
        memory_limit,
        heartbeat_s: a.heartbeat.max(1),
        scheduling: a.scheduling,
    })
    .await?;
    Ok(exit::SUCCESS)
}
