//! The one place that builds a DataFusion session: object stores, UDFs, memory pool, spilling and
//! the write options every published table shares. The CLI, the tests and the Ballista client
//! start from here, and the Ballista scheduler takes its optimizer rules from here, so they all
//! speak the same SQL dialect and plan it the same way.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

mod unnest_keys;

use crate::config::{Engine, Execution};
use crate::error::{Error, Result};
use crate::storage::Storage;

/// Builds the session for a project's storage roots and execution settings.
pub fn build(storage: &Storage, exec: &Execution) -> Result<SessionContext> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let config = SessionConfig::new()
        .with_target_partitions(exec.target_partitions.unwrap_or(cores))
        .with_information_schema(true)
        // A small table is one file, not one per core: readers prefer few, larger files.
        .set_usize("datafusion.execution.minimum_parallel_output_files", 1)
        .set_bool("datafusion.execution.parquet.pushdown_filters", true)
        // Utf8View batches report the whole shared page buffers they point into, so a few
        // concurrent sorts exhaust the memory pool on small data; plain Utf8 is accounted exactly.
        .set_bool(
            "datafusion.execution.parquet.schema_force_view_types",
            false,
        )
        .set_bool("datafusion.execution.keep_partition_by_columns", false)
        // How every published file is written (publish::writer_options): small, with page
        // statistics readers prune on, and few large row groups.
        .set_str("datafusion.execution.parquet.compression", "zstd(3)")
        .set_str("datafusion.execution.parquet.statistics_enabled", "page")
        .set_usize(
            "datafusion.execution.parquet.max_row_group_size",
            1024 * 1024,
        );

    // Sort-merge joins could spill, but they sort aggregate and window outputs, which arrive
    // as one large batch each that the sorter must reserve whole: under a memory limit they
    // fail where a hash join (whose build side is accounted in the pool) succeeds.
    let mut config = config.set_bool("datafusion.optimizer.prefer_hash_join", true);
    // The project's own DataFusion options come last: they override the defaults above.
    for (key, value) in &exec.datafusion {
        config.options_mut().set(key, value)?;
    }

    // A run replaces folders it may have listed earlier (a model reading the previous version
    // of a table it republishes): a cached listing would name files that no longer exist.
    let mut runtime = RuntimeEnvBuilder::new()
        .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0));
    if let Some(limit) = exec.memory_limit {
        // When the pool runs out, the error names the operators holding the most memory: that
        // says which model's join or aggregate to rewrite, or how far to raise the limit.
        let top = NonZeroUsize::new(5).unwrap_or(NonZeroUsize::MIN);
        runtime = runtime.with_memory_pool(Arc::new(TrackConsumersPool::new(
            FairSpillPool::new(limit as usize),
            top,
        )));
    }
    if let Some(dir) = &exec.temp_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::Usage(format!(
                "cannot create the spill folder {}: {e}",
                dir.display()
            ))
        })?;
    }
    let runtime = spilling(runtime, exec.temp_dir.as_deref()).build_arc()?;
    for root in storage.roots.values() {
        runtime.register_object_store(&root.store_url(), root.store.clone());
    }

    #[cfg(feature = "cluster")]
    let config = match &exec.engine {
        Engine::Ballista { .. } => crate::cluster::client_config(config),
        Engine::Local => config,
    };
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_optimizer_rules(match &exec.engine {
            Engine::Local => optimizer_rules(),
            #[cfg(feature = "cluster")]
            Engine::Ballista { .. } => crate::cluster::client_rules(optimizer_rules()),
            #[cfg(not(feature = "cluster"))]
            Engine::Ballista { .. } => optimizer_rules(),
        })
        .build();
    let state = match &exec.engine {
        Engine::Local => state,
        #[cfg(feature = "cluster")]
        Engine::Ballista { scheduler } => crate::cluster::client_state(state, scheduler)?,
        #[cfg(not(feature = "cluster"))]
        Engine::Ballista { .. } => {
            return Err(Error::Usage(
                "execution.engine is ballista, but this parcours was built without the `cluster` feature".into(),
            ));
        }
    };
    // Functions are registered last: making a state Ballista's resets its function list.
    let ctx = SessionContext::new_with_state(state);
    for udf in crate::functions::scalar_udfs() {
        ctx.register_udf(udf);
    }
    for udaf in crate::functions::aggregate_udfs() {
        ctx.register_udaf(udaf);
    }
    Ok(ctx)
}

/// How many sorted runs one pass of a spilled sort's merge reads at once.
///
/// DataFusion's default sets no bound: a sort's final merge reserves a batch of every run it
/// spilled, as memory the pool cannot take back, so the more the sort spilled the less the rest of
/// the plan keeps. At scale 10 under a 4 GiB pool, `fct_attribution`'s merge held 2 GB and the
/// next allocation failed the night. With a bound the merge takes several passes over the spill
/// files instead, each holding at most this many runs' batches.
pub const SPILL_MERGE_FAN_IN: usize = 16;

/// Where and how sorts, joins and aggregates spill: into `dir` (the OS temp folder when
/// `None`), merging at most [`SPILL_MERGE_FAN_IN`] runs a pass. The local engine and the
/// cluster's executors both spill this way.
pub fn spilling(runtime: RuntimeEnvBuilder, dir: Option<&Path>) -> RuntimeEnvBuilder {
    let runtime = match dir {
        Some(dir) => runtime.with_disk_manager_builder(
            DiskManagerBuilder::default()
                .with_mode(DiskManagerMode::Directories(vec![dir.to_path_buf()])),
        ),
        None => runtime,
    };
    runtime.with_max_spill_merge_fan_in(SPILL_MERGE_FAN_IN)
}

/// DataFusion's optimizer rules with parcours's guards among them (see `unnest_keys`).
pub fn optimizer_rules() -> Vec<Arc<dyn datafusion::optimizer::OptimizerRule + Send + Sync>> {
    unnest_keys::optimizer_rules()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::MemoryPool;
    use futures::StreamExt;

    /// Sorts two million rows under a 4 MiB pool, which spills dozens of sorted runs, and
    /// returns the most the pool held while the merge streamed its output, with the row count.
    async fn merge_peak(bounded: bool) -> (usize, usize) {
        let pool: Arc<dyn MemoryPool> = Arc::new(FairSpillPool::new(4 << 20));
        let runtime = RuntimeEnvBuilder::new().with_memory_pool(pool.clone());
        let runtime = if bounded {
            spilling(runtime, None)
        } else {
            runtime
        };
        let config = SessionConfig::new()
            .with_target_partitions(1)
            .with_batch_size(1024)
            .with_sort_spill_reservation_bytes(1 << 20);
        let ctx = SessionContext::new_with_config_rt(config, runtime.build_arc().unwrap());
        let df = ctx
            .sql(
                "select value * 7919 % 2000003 as k, concat('customer-', value) as s \
                 from range(2000000) order by k",
            )
            .await
            .unwrap();
        let mut stream = df.execute_stream().await.unwrap();
        let (mut peak, mut rows) = (0, 0);
        while let Some(batch) = stream.next().await {
            rows += batch.unwrap().num_rows();
            peak = peak.max(pool.reserved());
        }
        (peak, rows)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_spilled_sort_merges_a_bounded_number_of_runs_at_once() {
        let (unbounded, rows) = merge_peak(false).await;
        let (bounded, same_rows) = merge_peak(true).await;
        assert_eq!((rows, same_rows), (2_000_000, 2_000_000));
        // Unbounded, the final merge holds a batch of every run, here the whole pool (4.0 of
        // 4 MiB); bounded, of at most SPILL_MERGE_FAN_IN runs (0.7 MiB).
        assert!(
            bounded * 3 < unbounded * 2,
            "bounded merge held {bounded} bytes, unbounded {unbounded}"
        );
    }
}
