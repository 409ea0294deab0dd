//! `parcours scheduler` and `parcours executor`: Ballista's scheduler and executor processes,
//! built from this crate so that every parcours SQL function is registered on them (functions
//! travel by name in a distributed plan), the scheduler plans with parcours's optimizer rules,
//! and both open object stores from their own environment. Both stop gracefully on SIGTERM or
//! Ctrl-C: the executor tells the scheduler it is leaving, so no new task goes to it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::registry::FunctionRegistry;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::SessionConfig;

use super::codec::Codec;
use super::stores::EnvStores;
use crate::error::{Error, Result};

/// How tasks reach executors. Pull is the default: under Ballista 55's push scheduling, a task
/// cancelled because an executor was lost never gives its slot back to the executor that
/// survives (the slot is refunded from the task's stage, which the loss rolled back), so after a
/// lost executor the cluster waits forever on slots it believes busy. An executor that pulls
/// counts its own free slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheduling {
    Pull,
    Push,
}

impl Scheduling {
    fn policy(self) -> TaskSchedulingPolicy {
        match self {
            Scheduling::Pull => TaskSchedulingPolicy::PullStaged,
            Scheduling::Push => TaskSchedulingPolicy::PushStaged,
        }
    }
}

/// How the scheduler is started.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    pub bind_host: String,
    pub external_host: Option<String>,
    pub port: u16,
    /// Seconds without a heartbeat after which an executor counts as lost and its tasks are
    /// scheduled again elsewhere.
    pub executor_timeout_s: u64,
    /// How many times a task may fail (an executor lost with it included) before its job fails.
    pub task_max_failures: usize,
    pub scheduling: Scheduling,
}

/// How an executor is started.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    pub bind_host: String,
    pub external_host: Option<String>,
    /// Arrow Flight port (shuffle and results); the gRPC port is the next one.
    pub port: u16,
    pub scheduler_host: String,
    pub scheduler_port: u16,
    /// Tasks run at once (default: the cores).
    pub concurrent_tasks: Option<usize>,
    /// Shuffle files and spills (default: a temporary folder).
    pub work_dir: Option<PathBuf>,
    /// The executor's memory pool, shared by its task slots (default: Ballista's fraction of
    /// the host's memory).
    pub memory_limit: Option<u64>,
    pub heartbeat_s: u64,
    pub scheduling: Scheduling,
}

/// A runtime like the client's: stores from the environment, no cached listings (a night
/// replaces folders it listed earlier), spills under `spill_dir`.
fn runtime(spill_dir: Option<&PathBuf>) -> datafusion::error::Result<Arc<RuntimeEnv>> {
    let b = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(EnvStores::default()))
        .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0));
    crate::session::spilling(b, spill_dir.map(PathBuf::as_path)).build_arc()
}

/// The scheduler's session for each job: parcours's functions and optimizer rules (the plan
/// arrives unoptimized for the parts the scheduler rewrites), over the client's settings.
fn scheduler_session(
    config: SessionConfig,
) -> datafusion::error::Result<datafusion::execution::SessionState> {
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime(None)?)
        .with_default_features()
        .with_optimizer_rules(crate::session::optimizer_rules())
        .build();
    for udf in crate::functions::scalar_udfs() {
        state.register_udf(Arc::new(udf))?;
    }
    for udaf in crate::functions::aggregate_udfs() {
        state.register_udaf(Arc::new(udaf))?;
    }
    for udwf in super::ignore_nulls::functions() {
        state.register_udwf(udwf)?;
    }
    Ok(state)
}

fn ballista_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Cluster(format!("{what}: {e}"))
}

/// Runs the scheduler until SIGTERM or Ctrl-C.
pub async fn scheduler(o: SchedulerOptions) -> Result<()> {
    let addr: SocketAddr = format!("{}:{}", o.bind_host, o.port)
        .parse()
        .map_err(|e| Error::Usage(format!("--bind-host {}: {e}", o.bind_host)))?;
    let mut config = SchedulerConfig {
        bind_host: o.bind_host.clone(),
        bind_port: o.port,
        external_host: o
            .external_host
            .clone()
            .unwrap_or_else(|| o.bind_host.clone()),
        executor_timeout_seconds: o.executor_timeout_s,
        // Expiry is checked at least twice per timeout, so a lost executor is noticed in time.
        expire_dead_executor_interval_seconds: (o.executor_timeout_s / 3).max(1),
        no_executors_grace_period_seconds: o.executor_timeout_s,
        task_max_failures: o.task_max_failures,
        scheduling_policy: o.scheduling.policy(),
        override_logical_codec: Some(Arc::new(Codec::default())),
        ..Default::default()
    }
    .with_override_config_producer(Arc::new(SessionConfig::new_with_ballista))
    .with_override_session_builder(Arc::new(scheduler_session));
    config.finished_job_data_clean_up_interval_seconds = 60;
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| ballista_err("cannot start the scheduler", e))?;
    tracing::info!(event = "scheduler_start", address = %addr, "scheduler listening on {addr}");
    tokio::select! {
        r = start_server(cluster, addr, Arc::new(config)) => r.map_err(|e| ballista_err(&format!("scheduler on {addr}"), e)),
        _ = shutdown_signal() => {
            tracing::info!(event = "scheduler_stop", "scheduler stopping on signal");
            Ok(())
        }
    }
}

/// SIGTERM (what orchestrators and Kubernetes send) or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs an executor until SIGTERM or Ctrl-C (Ballista's executor handles both itself).
pub async fn executor(o: ExecutorOptions) -> Result<()> {
    // Ballista's default registry lacks DataFusion's nested functions (make_array, unnest's
    // helpers, array_*), which every parcours session has.
    let mut registry = BallistaFunctionRegistry::default();
    for f in datafusion::functions_nested::all_default_nested_functions() {
        registry.scalar_functions.insert(f.name().to_string(), f);
    }
    for udf in crate::functions::scalar_udfs() {
        registry
            .scalar_functions
            .insert(udf.name().to_string(), Arc::new(udf));
    }
    for udaf in crate::functions::aggregate_udfs() {
        registry
            .aggregate_functions
            .insert(udaf.name().to_string(), Arc::new(udaf));
    }
    for udwf in super::ignore_nulls::functions() {
        registry
            .window_functions
            .insert(udwf.name().to_string(), udwf);
    }
    if let Some(dir) = &o.work_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::Usage(format!(
                "cannot create the work folder {}: {e}",
                dir.display()
            ))
        })?;
    }
    let spill = o.work_dir.clone();
    let config = ExecutorProcessConfig {
        bind_host: o.bind_host.clone(),
        external_host: o.external_host.clone(),
        port: o.port,
        grpc_port: o.port.saturating_add(1),
        scheduler_host: o.scheduler_host.clone(),
        scheduler_port: o.scheduler_port,
        vcores: o.concurrent_tasks.unwrap_or(0),
        work_dir: o.work_dir.as_ref().map(|d| d.display().to_string()),
        memory_pool_size: o.memory_limit,
        executor_heartbeat_interval_seconds: o.heartbeat_s,
        task_scheduling_policy: o.scheduling.policy(),
        override_function_registry: Some(Arc::new(registry)),
        override_runtime_producer: Some(Arc::new(move |_| runtime(spill.as_ref()))),
        override_logical_codec: Some(Arc::new(Codec::default())),
        print_thread_info: false,
        ..Default::default()
    };
    tracing::info!(event = "executor_start", port = o.port, scheduler = %format!("{}:{}", o.scheduler_host, o.scheduler_port), "executor starting");
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| ballista_err("executor", e))
}
