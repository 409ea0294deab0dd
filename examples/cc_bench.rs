//! Benchmark of the `connected_components` aggregate on synthetic identity
//! graphs: `cargo run --release --example cc_bench -- [edges] [nodes]`
//! (defaults: 10M edges over 5M node ids). Reports wall time of the SQL
//! aggregate (partial states + merge), of the plain Rust function, and the
//! process's peak RSS.

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;
use parcours::functions::{aggregate_udfs, connected_components};

/// xorshift64*: deterministic, dependency-free pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn peak_rss_mib() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
        })
        .unwrap_or_else(|| "n/a".to_string())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n_edges = args.first().copied().unwrap_or(10_000_000);
    let n_nodes = args.get(1).copied().unwrap_or(5_000_000).max(8) as u64;

    // Mostly small clusters (households: 4 ids each), plus 1% random links
    // that glue some clusters into larger components.
    let t = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let batch_rows = 1 << 20;
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Utf8, false),
        Field::new("b", DataType::Utf8, true),
    ]));
    let mut batches = Vec::new();
    let mut done = 0;
    while done < n_edges {
        let rows = batch_rows.min(n_edges - done);
        let mut a = Vec::with_capacity(rows);
        let mut b = Vec::with_capacity(rows);
        for _ in 0..rows {
            let x = rng.next() % n_nodes;
            let y = if rng.next().is_multiple_of(100) {
                rng.next() % n_nodes
            } else {
                ((x / 4) * 4 + rng.next() % 4).min(n_nodes - 1)
            };
            a.push(format!("id{x:010}"));
            b.push(format!("id{y:010}"));
        }
        batches.push(RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(a)),
                Arc::new(StringArray::from(b)),
            ],
        )?);
        done += rows;
    }
    println!(
        "generated {n_edges} edges over {n_nodes} ids in {:.2?} (peak RSS {})",
        t.elapsed(),
        peak_rss_mib()
    );

    // Plain Rust, single thread.
    let t = Instant::now();
    let labels = connected_components(batches.iter().flat_map(|batch| {
        let a = batch.column(0).as_any().downcast_ref::<StringArray>();
        let b = batch.column(1).as_any().downcast_ref::<StringArray>();
        a.into_iter()
            .zip(b)
            .flat_map(|(a, b)| a.iter().zip(b.iter()))
            .filter_map(|(a, b)| Some((a?, b)))
    }));
    let elapsed = t.elapsed();
    let components = labels
        .iter()
        .filter(|(node, component)| node == component)
        .count();
    println!(
        "rust fn: {} nodes, {components} components in {:.2?} (peak RSS {})",
        labels.len(),
        elapsed,
        peak_rss_mib()
    );
    drop(labels);

    // SQL aggregate over 4 partitions (partial states, then merge).
    let ctx = SessionContext::new();
    for udaf in aggregate_udfs() {
        ctx.register_udaf(udaf);
    }
    let mut partitions = vec![Vec::new(); 4];
    for (i, batch) in batches.into_iter().enumerate() {
        partitions[i % 4].push(batch);
    }
    ctx.register_table("edges", Arc::new(MemTable::try_new(schema, partitions)?))?;
    let t = Instant::now();
    let out = ctx
        .sql("select connected_components(a, b) as cc from edges")
        .await?
        .collect()
        .await?;
    let rows: usize = out.iter().map(|b| b.num_rows()).sum();
    println!(
        "sql aggregate: {rows} row(s) in {:.2?} (peak RSS {})",
        t.elapsed(),
        peak_rss_mib()
    );
    Ok(())
}
