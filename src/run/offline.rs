//! Planning without data: every source of declared schema becomes an empty table of that
//! schema, and every model an empty table of its planned output, in graph order. This is what
//! column lineage and unit tests need: the plans and output schemas of models, on a machine
//! that may have no storage configured at all. A source without a declared schema is the one
//! thing that needs storage: its files' footers are read, as `validate` does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

use crate::catalog;
use crate::config::Execution;
use crate::error::{Error, Result};
use crate::project::Project;
use crate::storage::Storage;

/// A session where `models` and their ancestors are planned against empty tables.
pub struct Offline {
    pub ctx: SessionContext,
    /// Output schema of every planned model, and the schema of every registered source.
    pub schemas: BTreeMap<String, SchemaRef>,
    /// Every planned model's logical plan, for column lineage.
    pub plans: BTreeMap<String, LogicalPlan>,
}

/// Plans `models` and every model they read, from the declared source schemas.
pub async fn plan(project: &Project, models: &BTreeSet<String>) -> Result<Offline> {
    let g = &project.graph;
    let mut needed = models.clone();
    for m in models {
        needed.extend(g.ancestors(m));
    }
    let sources: BTreeSet<&String> = needed
        .iter()
        .flat_map(|m| g.models[m].sources.iter())
        .collect();
    let undeclared: Vec<&String> = sources
        .iter()
        .copied()
        .filter(|s| project.config.sources[*s].schema.is_none())
        .collect();
    // Storage only when a source's columns are known from its files alone.
    let storage = if undeclared.is_empty() {
        Storage {
            roots: BTreeMap::new(),
        }
    } else {
        Storage::resolve(&project.config, &project.storage_overrides)?
    };
    let exec = Execution {
        target_partitions: project.config.execution.target_partitions,
        ..Execution::default()
    };
    let ctx = crate::session::build(&storage, &exec)?;
    let mut schemas = BTreeMap::new();
    let mut plans = BTreeMap::new();
    for name in sources {
        let spec = &project.config.sources[name];
        let schema = match &spec.schema {
            Some(declared) => catalog::schema_of_declared(spec, declared),
            None => {
                let root = storage.get(&spec.storage).map_err(|e| {
                    project.config.error(
                        &["sources", name],
                        format!(
                            "source `{name}` has no declared `schema:`, so its columns come from its files, and storage `{}` cannot be read ({e}); declare sources.{name}.schema to plan without storage",
                            spec.storage
                        ),
                    )
                })?;
                catalog::register_source(&ctx, spec, root, project.run_date)
                    .await?
                    .schema
            }
        };
        ctx.deregister_table(name.as_str())?;
        ctx.register_table(
            name.as_str(),
            Arc::new(MemTable::try_new(schema.clone(), vec![vec![]])?),
        )?;
        schemas.insert(name.clone(), schema);
    }
    for name in g.order.iter().filter(|n| needed.contains(*n)) {
        let df = super::plan(&ctx, &g.models[name]).await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        ctx.register_table(
            name.as_str(),
            Arc::new(MemTable::try_new(schema.clone(), vec![vec![]])?),
        )?;
        schemas.insert(name.clone(), schema);
        plans.insert(name.clone(), df.logical_plan().clone());
    }
    Ok(Offline {
        ctx,
        schemas,
        plans,
    })
}

impl Offline {
    pub fn schema(&self, name: &str) -> Result<&SchemaRef> {
        self.schemas
            .get(name)
            .ok_or_else(|| Error::Internal(format!("`{name}` was not planned")))
    }
}
