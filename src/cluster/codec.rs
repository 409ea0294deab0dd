//! How a model's logical plan travels to the scheduler when it reads an empty table. parcours
//! stands in an in-memory table with no rows for an optional source that has no files yet and
//! for a published table with no files (a partitioned model whose query returned nothing);
//! DataFusion's plan serialisation knows no in-memory tables, so without this codec such a
//! night would fail on the cluster while it succeeds locally. Every other node goes to
//! Ballista's own codec unchanged.

use std::sync::Arc;

use ballista_core::serde::BallistaLogicalExtensionCodec;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion_proto::logical_plan::LogicalExtensionCodec;

/// What an empty table is encoded as: its schema travels beside it in the plan.
const EMPTY_TABLE: &[u8] = b"parcours:empty-table:v1";

#[derive(Debug, Default)]
pub struct Codec {
    inner: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for Codec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        if buf == EMPTY_TABLE {
            return Ok(Arc::new(MemTable::try_new(schema, vec![vec![]])?));
        }
        self.inner
            .try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(mem) = node.downcast_ref::<MemTable>() {
            let empty = mem.batches.iter().all(|p| {
                p.try_read()
                    .is_ok_and(|b| b.iter().all(|b| b.num_rows() == 0))
            });
            if !empty {
                return Err(DataFusionError::Plan(format!(
                    "`{table_ref}` is an in-memory table with rows, which cannot be sent to a cluster"
                )));
            }
            buf.extend_from_slice(EMPTY_TABLE);
            return Ok(());
        }
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::prelude::SessionContext;

    #[test]
    fn an_empty_table_round_trips_with_its_schema() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, false),
        ]));
        let table = Arc::new(MemTable::try_new(schema.clone(), vec![vec![]]).unwrap());
        let codec = Codec::default();
        let mut buf = Vec::new();
        codec
            .try_encode_table_provider(&TableReference::bare("t"), table, &mut buf)
            .unwrap();
        let ctx = SessionContext::new().task_ctx();
        let back = codec
            .try_decode_table_provider(&buf, &TableReference::bare("t"), schema.clone(), &ctx)
            .unwrap();
        assert_eq!(back.schema(), schema);
        assert!(back.downcast_ref::<MemTable>().is_some());
    }

    #[test]
    fn a_table_with_rows_is_refused_by_name() {
        use datafusion::arrow::array::Int64Array;
        use datafusion::arrow::record_batch::RecordBatch;
        let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1]))])
            .unwrap();
        let table = Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap());
        let err = Codec::default()
            .try_encode_table_provider(&TableReference::bare("lookup"), table, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("`lookup`"), "{err}");
    }
}
