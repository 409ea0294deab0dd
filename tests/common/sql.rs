//! A bare DataFusion session with parcours's functions, for SQL-level tests of the UDFs.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::prelude::{SessionConfig, SessionContext};
use parcours::functions::{aggregate_udfs, scalar_udfs};

/// A session with every parcours scalar and aggregate function registered.
pub fn context(target_partitions: usize) -> SessionContext {
    let config = SessionConfig::new().with_target_partitions(target_partitions);
    let ctx = SessionContext::new_with_config(config);
    for udf in scalar_udfs() {
        ctx.register_udf(udf);
    }
    for udaf in aggregate_udfs() {
        ctx.register_udaf(udaf);
    }
    ctx
}

/// Runs `sql` and returns every cell rendered as an optional string.
pub async fn rows(ctx: &SessionContext, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
    render(&ctx.sql(sql).await?.collect().await?)
}

/// Every cell of `batches` as an optional string (None for null), row by row.
pub fn render(batches: &[RecordBatch]) -> Result<Vec<Vec<Option<String>>>> {
    let mut out = Vec::new();
    for batch in batches {
        let columns: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| cast(c, &DataType::Utf8))
            .collect::<std::result::Result<_, _>>()?;
        for row in 0..batch.num_rows() {
            out.push(
                columns
                    .iter()
                    .map(|c| {
                        let c = c.as_string::<i32>();
                        c.is_valid(row).then(|| c.value(row).to_string())
                    })
                    .collect(),
            );
        }
    }
    Ok(out)
}
