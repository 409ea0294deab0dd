//! DataFusion functions (UDFs and UDAFs) callable from every SQL model.

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

/// Every scalar function parcours adds to the SQL dialect.
pub fn scalar_udfs() -> Vec<ScalarUDF> {
    Vec::new()
}

/// Every aggregate function parcours adds to the SQL dialect.
pub fn aggregate_udfs() -> Vec<AggregateUDF> {
    Vec::new()
}
