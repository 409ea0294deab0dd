//! Running the same models on an Apache DataFusion Ballista cluster. The `parcours run` process
//! stays the client: it reads the project, plans every model, holds the lease, runs the tests
//! and commits; only the queries (a model's plan, its staged write included) go to the
//! scheduler, which splits them into stages for the executors. Executors read sources and write
//! the staged Parquet files straight to the object store, so a model's output never passes
//! through the client, and the client publishes exactly as it does locally.
//!
//! Functions travel by name, so the scheduler and executors are parcours's own processes
//! ([`processes`]) with every function registered. A plan that cannot travel (a table function,
//! an in-memory table with rows) is refused by [`check_plan`] when the model is planned, before
//! anything runs.

mod codec;
mod ignore_nulls;
pub mod processes;
mod stores;

use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::OptimizerRule;
use datafusion::prelude::SessionConfig;
use datafusion_proto::logical_plan::AsLogicalPlan;
use datafusion_proto::protobuf::LogicalPlanNode;

use crate::error::{Error, Result};

/// How long the client waits for the scheduler's port before giving up: an unreachable
/// scheduler should fail the night at once, not after gRPC's minutes of retries.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The client's session settings for a cluster: plans are encoded with parcours's codec.
pub fn client_config(config: SessionConfig) -> SessionConfig {
    config
        .upgrade_for_ballista()
        .with_ballista_logical_extension_codec(Arc::new(codec::Codec::default()))
        // Ballista 55's adaptive planner re-plans a stage once its inputs are shuffled and loses
        // the constant columns DataFusion dropped from a sort (a one-row cross join's count):
        // the re-planned stage fails its sanity check and the job never ends. The static planner
        // runs every reference model.
        .with_ballista_adaptive_query_planner(false)
}

/// The client's logical optimizer rules: its plan travels to the scheduler as protobuf, and the
/// columns DataFusion's leaf-expression extraction invents (`__datafusion_extracted_N`) come back
/// with a different qualifier, which fails the scheduler's decoding. The scheduler optimises the
/// decoded plan again with every rule, in one process. A last rule carries `IGNORE NULLS` in a
/// window function's name, which the plan's trip to the executors would otherwise lose.
pub fn client_rules(
    rules: Vec<Arc<dyn OptimizerRule + Send + Sync>>,
) -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    const NO_ROUND_TRIP: [&str; 2] = ["extract_leaf_expressions", "push_down_leaf_projections"];
    let mut rules: Vec<Arc<dyn OptimizerRule + Send + Sync>> = rules
        .into_iter()
        .filter(|r| !NO_ROUND_TRIP.contains(&r.name()))
        .collect();
    rules.push(Arc::new(ignore_nulls::CarryIgnoreNulls));
    rules
}

/// Makes `state` plan on the cluster whose scheduler is `scheduler` (`df://host:port`).
pub fn client_state(state: SessionState, scheduler: &str) -> Result<SessionState> {
    let (host, port) = host_port(scheduler)?;
    state
        .upgrade_for_ballista(format!("http://{host}:{port}"))
        .map_err(|e| Error::Cluster(format!("cannot prepare a session for {scheduler}: {e}")))
}

fn host_port(scheduler: &str) -> Result<(String, u16)> {
    let url = url::Url::parse(scheduler)
        .map_err(|e| Error::Usage(format!("scheduler address `{scheduler}`: {e}")))?;
    let host = url
        .host_str()
        .ok_or_else(|| Error::Usage(format!("scheduler address `{scheduler}` names no host")))?;
    Ok((host.to_string(), url.port().unwrap_or(50050)))
}

/// Fails at once, with the address, when nothing listens on the scheduler's port.
pub fn ensure_reachable(scheduler: &str) -> Result<()> {
    let (host, port) = host_port(scheduler)?;
    let unreachable = |why: String| {
        Error::Cluster(format!(
            "the scheduler at {scheduler} is not reachable: {why}; start it (`parcours scheduler --port {port}`) or fix execution.engine / --cluster"
        ))
    };
    let addrs: Vec<_> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| unreachable(format!("cannot resolve {host}: {e}")))?
        .collect();
    let mut last = String::from("no address");
    for addr in addrs {
        match std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(unreachable(last))
}

/// The scheduler's job behind an executed plan: Ballista's client plan is one
/// `DistributedQueryExec`, which learns its job id once the query is accepted.
pub fn job_of(plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>) -> Option<String> {
    plan.downcast_ref::<ballista_core::execution_plans::DistributedQueryExec<LogicalPlanNode>>()
        .and_then(|d| d.job_id())
        .map(|id| id.to_string())
}

/// How a finished job ran: its stages and their tasks (one per partition), as the scheduler
/// reports them. This only feeds the log, so a scheduler that cannot say is not an error.
pub async fn job_shape(scheduler: &str, job_id: &str) -> std::result::Result<(u32, u32), String> {
    use ballista_core::serde::protobuf::GetJobMetricsParams;
    use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
    let (host, port) = host_port(scheduler).map_err(|e| e.to_string())?;
    let ask = async {
        let mut client = SchedulerGrpcClient::connect(format!("http://{host}:{port}"))
            .await
            .map_err(|e| e.to_string())?;
        let metrics = client
            .get_job_metrics(GetJobMetricsParams {
                job_id: job_id.to_string(),
            })
            .await
            .map_err(|e| e.message().to_string())?
            .into_inner();
        let tasks = metrics.stages.iter().map(|s| s.partitions).sum();
        Ok((metrics.stages.len() as u32, tasks))
    };
    tokio::time::timeout(CONNECT_TIMEOUT, ask)
        .await
        .map_err(|_| "no answer in 5 s".to_string())?
}

/// Refuses a plan that cannot be sent to the scheduler, with the reason: DataFusion's plan
/// encoding is what the cluster receives, so encoding it here finds the problem at `validate`.
pub fn check_plan(plan: &LogicalPlan) -> std::result::Result<(), String> {
    let codec = codec::Codec::default();
    LogicalPlanNode::try_from_logical_plan(plan, &codec)
        .map(|_| ())
        .map_err(|e| e.strip_backtrace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_scheduler_fails_fast_with_its_address() {
        // A port nothing listens on: bind one, then free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("df://127.0.0.1:{port}");
        let started = std::time::Instant::now();
        let err = ensure_reachable(&address).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(6));
        assert_eq!(err.exit_code(), crate::error::exit::STORAGE);
        assert!(err.to_string().contains(&address), "{err}");
    }

    #[tokio::test]
    async fn a_table_function_is_refused_before_the_run() {
        use datafusion::prelude::SessionContext;
        let ctx = SessionContext::new();
        let plan = ctx
            .sql("select * from generate_series(1, 3)")
            .await
            .unwrap()
            .into_unoptimized_plan();
        let err = check_plan(&plan).unwrap_err();
        assert!(!err.is_empty());
        let ok = ctx
            .sql("select 1 as x")
            .await
            .unwrap()
            .into_unoptimized_plan();
        check_plan(&ok).unwrap();
    }
}
