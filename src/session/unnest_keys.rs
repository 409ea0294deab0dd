//! A guard against a DataFusion 55 planning bug: `Unnest` hands its input's functional
//! dependencies (unique keys) on to its output, though unnesting repeats every other column once
//! per element. After `select distinct channel_set` and an unnest of its channels,
//! `channel_set` is still taken for a key, and two optimizer rules act on that wrong key:
//! `eliminate_duplicated_expr` drops every sort column after it (the published tables' total
//! order, README "Reproducible outputs", lost its later columns), and `optimize_projections`
//! drops the grouping columns it "determines" (wrong groups when the parent does not read them).
//!
//! [`ForgetKeysThroughUnnest`] clears the dependencies an `Unnest` claims and recomputes the
//! schemas above it. [`optimizer_rules`] runs it before each rule that reads dependencies, since
//! rules in between may rebuild an `Unnest` (and its wrong keys) from its input.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{FunctionalDependencies, Result};
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::{Optimizer, OptimizerConfig, OptimizerRule};

/// The rules that read functional dependencies, before each of which the guard runs.
const READS_KEYS: [&str; 4] = [
    "replace_distinct_aggregate",
    "eliminate_join",
    "eliminate_duplicated_expr",
    "optimize_projections",
];

/// DataFusion's default logical optimizer rules with [`ForgetKeysThroughUnnest`] first and
/// before every rule that reads functional dependencies.
pub fn optimizer_rules() -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    let guard: Arc<dyn OptimizerRule + Send + Sync> = Arc::new(ForgetKeysThroughUnnest);
    let mut rules = vec![Arc::clone(&guard)];
    for rule in Optimizer::new().rules {
        if READS_KEYS.contains(&rule.name()) {
            rules.push(Arc::clone(&guard));
        }
        rules.push(rule);
    }
    rules
}

/// Clears the functional dependencies of every `Unnest` and recomputes the schemas above it.
#[derive(Debug, Default)]
pub struct ForgetKeysThroughUnnest;

fn claims_keys(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Unnest(u) if !u.schema.functional_dependencies().is_empty())
}

impl OptimizerRule for ForgetKeysThroughUnnest {
    fn name(&self) -> &str {
        "parcours_forget_keys_through_unnest"
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        if !plan.exists(|p| Ok(claims_keys(p)))? {
            return Ok(Transformed::no(plan));
        }
        plan.transform_up(|node| match node {
            LogicalPlan::Unnest(mut unnest) => {
                if unnest.schema.functional_dependencies().is_empty() {
                    return Ok(Transformed::no(LogicalPlan::Unnest(unnest)));
                }
                let schema = unnest.schema.as_ref().clone();
                unnest.schema =
                    Arc::new(schema.with_functional_dependencies(FunctionalDependencies::empty())?);
                Ok(Transformed::yes(LogicalPlan::Unnest(unnest)))
            }
            // its schema may carry the keys it derived from the unnest's
            other => other.recompute_schema().map(Transformed::yes),
        })
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::execution::session_state::SessionStateBuilder;
    use datafusion::prelude::SessionContext;

    use super::optimizer_rules;

    const DATA: &str = "create table t (b varchar) as values \
        ('a,b,c'), ('b,c'), ('a,b,c'), ('c,a'), ('b,a,a')";
    /// Distinct bags, then their members: `b` is unique before the unnest, not after.
    const MEMBERS: &str = "with s as (select distinct b from t), \
        m as (select b, unnest(string_to_array(b, ',')) as c from s)";

    async fn table(ctx: &SessionContext, sql: &str) -> String {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    async fn both(sql: &str) -> (String, String) {
        let stock = SessionContext::new();
        let state = SessionStateBuilder::new()
            .with_default_features()
            .with_optimizer_rules(optimizer_rules())
            .build();
        let guarded = SessionContext::new_with_state(state);
        for ctx in [&stock, &guarded] {
            ctx.sql(DATA).await.unwrap().collect().await.unwrap();
        }
        (table(&stock, sql).await, table(&guarded, sql).await)
    }

    #[tokio::test]
    async fn a_sort_after_an_unnest_keeps_every_column() {
        let sql = format!("{MEMBERS} select b, c from m order by b, c");
        let (_, guarded) = both(&sql).await;
        let rows: Vec<&str> = guarded
            .lines()
            .filter(|l| l.starts_with("| "))
            .skip(1)
            .collect();
        let mut sorted = rows.clone();
        sorted.sort();
        assert_eq!(rows, sorted, "{guarded}");
        assert_eq!(rows.len(), 10, "{guarded}");
    }

    #[tokio::test]
    async fn grouping_after_an_unnest_keeps_its_columns() {
        // members per bag: grouping by (b, c) first must count distinct members, not 1
        let sql = format!(
            "{MEMBERS}, g as (select b, c from m group by b, c) \
             select b, count(*) as members from g group by b order by b"
        );
        let (stock, guarded) = both(&sql).await;
        // DataFusion alone groups by b only; when this fails, an upgrade fixed the bug and the
        // guard may go
        assert!(stock.contains("| a,b,c | 1       |"), "{stock}");
        assert!(guarded.contains("| a,b,c | 3       |"), "{guarded}");
        assert!(guarded.contains("| b,a,a | 2       |"), "{guarded}");
    }
}
