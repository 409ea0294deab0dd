//! Data tests: each declared test becomes a query whose rows are failures; a singular test is
//! such a query written by hand. A test passes when its query returns no row; otherwise the
//! number of failing rows and the first few are reported.

use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::config::{Severity, TestKind, TestSpec};
use crate::graph::SingularTest;

/// How many failing rows a report shows.
pub const SAMPLE_ROWS: usize = 5;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum TestStatus {
    Pass,
    Warn,
    Fail,
    /// The test query itself could not run (bad expression, missing column…).
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestOutcome {
    pub name: String,
    pub model: Option<String>,
    pub severity: Severity,
    pub status: TestStatus,
    pub failures: u64,
    /// The first failing rows, formatted as a table.
    pub sample: Option<String>,
    pub message: Option<String>,
    pub sql: String,
}

impl TestOutcome {
    /// Whether this outcome stops the model from being published.
    pub fn blocks(&self) -> bool {
        matches!(self.status, TestStatus::Fail | TestStatus::Error)
    }
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The query whose rows are the failures of `spec` on table `table`.
pub fn failing_rows_sql(table: &str, spec: &TestSpec) -> String {
    let t = ident(table);
    let col = spec.column.as_deref().map(ident).unwrap_or_default();
    match &spec.kind {
        TestKind::NotNull => format!("SELECT * FROM {t} WHERE {col} IS NULL"),
        TestKind::Unique { columns } => {
            let cols = columns
                .iter()
                .map(|c| ident(c))
                .collect::<Vec<_>>()
                .join(", ");
            let not_null = columns
                .iter()
                .map(|c| format!("{} IS NOT NULL", ident(c)))
                .collect::<Vec<_>>()
                .join(" AND ");
            format!(
                "SELECT {cols}, count(*) AS occurrences FROM {t} WHERE {not_null} GROUP BY {cols} HAVING count(*) > 1"
            )
        }
        TestKind::AcceptedValues { values } => {
            let list = values
                .iter()
                .map(|v| v.to_sql())
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "SELECT {col} AS value, count(*) AS occurrences FROM {t} WHERE {col} IS NOT NULL AND {col} NOT IN ({list}) GROUP BY {col}"
            )
        }
        TestKind::Relationships { to, field } => format!(
            "SELECT c.{col} AS value, count(*) AS occurrences FROM {t} c WHERE c.{col} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {} p WHERE p.{} = c.{col}) GROUP BY c.{col}",
            ident(to),
            ident(field)
        ),
        TestKind::Expression { sql } => {
            format!("SELECT * FROM {t} WHERE NOT coalesce(({sql}), false)")
        }
        TestKind::RowCount { min, max } => {
            let mut cond = Vec::new();
            if let Some(min) = min {
                cond.push(format!("row_count < {min}"));
            }
            if let Some(max) = max {
                cond.push(format!("row_count > {max}"));
            }
            format!(
                "SELECT row_count FROM (SELECT count(*) AS row_count FROM {t}) WHERE {}",
                cond.join(" OR ")
            )
        }
    }
}

/// Runs every test of one model against `table` (the model's name, or its staged copy).
pub async fn run_model_tests(
    ctx: &SessionContext,
    model: &str,
    table: &str,
    specs: &[TestSpec],
) -> Vec<TestOutcome> {
    let mut out = Vec::new();
    for spec in specs {
        let sql = failing_rows_sql(table, spec);
        out.push(evaluate(ctx, spec.name(), Some(model), spec.severity, sql).await);
    }
    out
}

pub async fn run_singular(ctx: &SessionContext, test: &SingularTest) -> TestOutcome {
    evaluate(
        ctx,
        format!("{} ({})", test.name, test.path),
        None,
        Severity::Error,
        test.sql.clone(),
    )
    .await
}

async fn evaluate(
    ctx: &SessionContext,
    name: String,
    model: Option<&str>,
    severity: Severity,
    sql: String,
) -> TestOutcome {
    let mut outcome = TestOutcome {
        name,
        model: model.map(str::to_string),
        severity,
        status: TestStatus::Pass,
        failures: 0,
        sample: None,
        message: None,
        sql: sql.clone(),
    };
    match count_and_sample(ctx, &sql).await {
        Ok((0, _)) => {}
        Ok((n, sample)) => {
            outcome.failures = n;
            outcome.sample = Some(sample);
            outcome.status = match severity {
                Severity::Warn => TestStatus::Warn,
                Severity::Error => TestStatus::Fail,
            };
        }
        Err(e) => {
            // A test that cannot run is as serious as the test: a `warn` test only warns.
            outcome.status = match severity {
                Severity::Warn => TestStatus::Warn,
                Severity::Error => TestStatus::Error,
            };
            outcome.message = Some(e.to_string());
        }
    }
    outcome
}

async fn count_and_sample(
    ctx: &SessionContext,
    sql: &str,
) -> datafusion::error::Result<(u64, String)> {
    let count_sql = format!("SELECT count(*) AS n FROM ({sql}) AS failures");
    let batches = ctx.sql(&count_sql).await?.collect().await?;
    let n = batches
        .first()
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .map(|a| a.value(0))
        })
        .unwrap_or(0)
        .max(0) as u64;
    if n == 0 {
        return Ok((0, String::new()));
    }
    let sample = ctx
        .sql(sql)
        .await?
        .limit(0, Some(SAMPLE_ROWS))?
        .collect()
        .await?;
    let text = arrow::util::pretty::pretty_format_batches(&sample)
        .map(|t| t.to_string())
        .unwrap_or_default();
    Ok((n, text))
}

#[cfg(test)]
mod unit {
    use super::*;
    use crate::config::VarValue;

    fn spec(kind: TestKind, column: Option<&str>) -> TestSpec {
        TestSpec {
            kind,
            column: column.map(str::to_string),
            severity: Severity::Error,
        }
    }

    #[tokio::test]
    async fn each_kind_finds_its_failures() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t AS VALUES (1, 'a'), (2, 'b'), (2, 'z'), (NULL, 'a')")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        ctx.sql("CREATE TABLE p AS VALUES (1), (2)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let cases = vec![
            (spec(TestKind::NotNull, Some("column1")), 1),
            (
                spec(
                    TestKind::Unique {
                        columns: vec!["column1".into()],
                    },
                    Some("column1"),
                ),
                1,
            ),
            (
                spec(
                    TestKind::AcceptedValues {
                        values: vec![VarValue::Str("a".into()), VarValue::Str("b".into())],
                    },
                    Some("column2"),
                ),
                1,
            ),
            (
                spec(
                    TestKind::Relationships {
                        to: "p".into(),
                        field: "column1".into(),
                    },
                    Some("column1"),
                ),
                0,
            ),
            (
                spec(
                    TestKind::Relationships {
                        to: "t".into(),
                        field: "column1".into(),
                    },
                    Some("column1"),
                ),
                0,
            ),
            (
                spec(
                    TestKind::Expression {
                        sql: "column1 >= 2".into(),
                    },
                    None,
                ),
                2,
            ),
            (
                spec(
                    TestKind::RowCount {
                        min: Some(5),
                        max: None,
                    },
                    None,
                ),
                1,
            ),
            (
                spec(
                    TestKind::RowCount {
                        min: Some(1),
                        max: Some(4),
                    },
                    None,
                ),
                0,
            ),
        ];
        for (s, expected) in cases {
            let out = run_model_tests(&ctx, "t", "t", std::slice::from_ref(&s)).await;
            assert_eq!(out[0].failures, expected, "{}: {:?}", s.name(), out[0]);
            assert_eq!(out[0].blocks(), expected > 0, "{}", s.name());
        }
        let broken = spec(
            TestKind::Expression {
                sql: "no_such_column > 0".into(),
            },
            None,
        );
        let out = run_model_tests(&ctx, "t", "t", &[broken]).await;
        assert_eq!(out[0].status, TestStatus::Error);
    }
}
