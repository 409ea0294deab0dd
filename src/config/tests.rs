//! Data tests declared in `pipelines.yaml`: their kinds, arguments and severities.
//!
//! A test is written as a bare name (`- not_null`) or a one-key map
//! (`- accepted_values: {values: [a, b], severity: warn}`). Arguments are checked key by key here
//! so an unknown argument is named in the error instead of "did not match any variant".

use std::collections::BTreeMap;

use serde_norway::Value;

use super::VarValue;
use super::raw::RawTest;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TestKind {
    NotNull,
    /// Unique over one column, or over a combination of columns.
    Unique {
        columns: Vec<String>,
    },
    AcceptedValues {
        values: Vec<VarValue>,
    },
    Relationships {
        to: String,
        field: String,
    },
    /// A SQL boolean that must be true on every row (null counts as a failure).
    Expression {
        sql: String,
    },
    RowCount {
        min: Option<u64>,
        max: Option<u64>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct TestSpec {
    pub kind: TestKind,
    /// The column it was declared under, if any.
    pub column: Option<String>,
    pub severity: Severity,
}

impl TestSpec {
    /// A stable, readable name: `not_null(person_id)`, `row_count`, …
    pub fn name(&self) -> String {
        let base = match &self.kind {
            TestKind::NotNull => "not_null",
            TestKind::Unique { .. } => "unique",
            TestKind::AcceptedValues { .. } => "accepted_values",
            TestKind::Relationships { .. } => "relationships",
            TestKind::Expression { .. } => "expression",
            TestKind::RowCount { .. } => "row_count",
        };
        let arg = match &self.kind {
            TestKind::Unique { columns } => Some(columns.join(",")),
            TestKind::Relationships { to, field } => Some(format!(
                "{} -> {to}.{field}",
                self.column.as_deref().unwrap_or("?")
            )),
            TestKind::Expression { sql } => Some(sql.clone()),
            _ => self.column.clone(),
        };
        match arg {
            Some(a) => format!("{base}({a})"),
            None => base.to_string(),
        }
    }
}

const KINDS: &str = "not_null, unique, accepted_values, relationships, expression, row_count";

pub fn parse_test(raw: RawTest, column: Option<&str>) -> Result<TestSpec, String> {
    let (name, args) = match raw {
        RawTest::Name(n) => (n, Value::Null),
        RawTest::WithArgs(map) => {
            if map.len() != 1 {
                return Err(format!(
                    "a test is a one-key map (`- kind: {{...}}`), found keys {}",
                    map.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            map.into_iter().next().ok_or("empty test")?
        }
    };
    let mut args = Args::new(&name, args)?;
    let severity = match args.take("severity") {
        None => Severity::Error,
        Some(Value::String(s)) if s == "warn" => Severity::Warn,
        Some(Value::String(s)) if s == "error" => Severity::Error,
        Some(other) => {
            return Err(format!(
                "severity must be `warn` or `error`, found {}",
                show(&other)
            ));
        }
    };
    let need_column = |kind: &str| -> Result<String, String> {
        column.map(str::to_string).ok_or_else(|| {
            format!("`{kind}` checks a column: declare it under `columns: <name>: tests:`")
        })
    };
    let kind = match name.as_str() {
        "not_null" => {
            need_column("not_null")?;
            TestKind::NotNull
        }
        "unique" => {
            let columns = match args.take("columns") {
                Some(v) => string_list(&v).ok_or("`columns` must be a list of column names")?,
                None => vec![need_column("unique")?],
            };
            TestKind::Unique { columns }
        }
        "accepted_values" => {
            need_column("accepted_values")?;
            let values = match args.take_or_shorthand("values") {
                Some(Value::Sequence(seq)) => seq
                    .iter()
                    .map(|v| {
                        VarValue::from_yaml(v)
                            .ok_or_else(|| format!("value {} is not a scalar", show(v)))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                _ => return Err("`accepted_values` needs `values: [...]`".into()),
            };
            TestKind::AcceptedValues { values }
        }
        "relationships" => {
            need_column("relationships")?;
            let to = args
                .string("to")?
                .ok_or("`relationships` needs `to: <model or source>`")?;
            let field = args
                .string("field")?
                .ok_or("`relationships` needs `field: <column>`")?;
            TestKind::Relationships { to, field }
        }
        "expression" => {
            let sql = match args.take_or_shorthand("sql") {
                Some(Value::String(s)) => s,
                _ => return Err("`expression` needs a SQL boolean, e.g. `expression: \"credit between 0 and 1\"`".into()),
            };
            TestKind::Expression { sql }
        }
        "row_count" => {
            let min = args.uint("min")?;
            let max = args.uint("max")?;
            if min.is_none() && max.is_none() {
                return Err("`row_count` needs `min`, `max` or both".into());
            }
            if let (Some(a), Some(b)) = (min, max)
                && a > b
            {
                return Err(format!("row_count min {a} is above max {b}"));
            }
            TestKind::RowCount { min, max }
        }
        other => return Err(format!("unknown test `{other}` (known: {KINDS})")),
    };
    args.finish()?;
    Ok(TestSpec {
        kind,
        column: column.map(str::to_string),
        severity,
    })
}

/// The arguments of one test, consumed key by key; leftovers are unknown keys.
struct Args {
    kind: String,
    map: BTreeMap<String, Value>,
    shorthand: Option<Value>,
}

impl Args {
    fn new(kind: &str, v: Value) -> Result<Args, String> {
        let mut map = BTreeMap::new();
        let mut shorthand = None;
        match v {
            Value::Null => {}
            Value::Mapping(m) => {
                for (k, v) in m {
                    let Value::String(k) = k else {
                        return Err(format!("`{kind}`: argument names must be strings"));
                    };
                    map.insert(k, v);
                }
            }
            // `expression: "a > 0"` and `accepted_values: [a, b]` are shorthands.
            other => shorthand = Some(other),
        }
        Ok(Args {
            kind: kind.to_string(),
            map,
            shorthand,
        })
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    fn take_or_shorthand(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).or_else(|| self.shorthand.take())
    }

    fn string(&mut self, key: &str) -> Result<Option<String>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(format!("`{key}` must be a string, found {}", show(&other))),
        }
    }

    fn uint(&mut self, key: &str) -> Result<Option<u64>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            Some(other) => Err(format!(
                "`{key}` must be a non-negative integer, found {}",
                show(&other)
            )),
        }
    }

    fn finish(self) -> Result<(), String> {
        if let Some(k) = self.map.keys().next() {
            return Err(format!("unknown key `{k}` for test `{}`", self.kind));
        }
        if self.shorthand.is_some() {
            return Err(format!("test `{}` takes a map of arguments", self.kind));
        }
        Ok(())
    }
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Sequence(s) => s.iter().map(|x| x.as_str().map(str::to_string)).collect(),
        _ => None,
    }
}

fn show(v: &Value) -> String {
    serde_norway::to_string(v)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod unit {
    use super::*;

    fn parse(yaml: &str, col: Option<&str>) -> Result<TestSpec, String> {
        let raw: RawTest = serde_norway::from_str(yaml).map_err(|e| e.to_string())?;
        parse_test(raw, col)
    }

    #[test]
    fn bare_and_map_forms() {
        assert_eq!(
            parse("not_null", Some("a")).unwrap().kind,
            TestKind::NotNull
        );
        let t = parse(
            "accepted_values: {values: [x, 2], severity: warn}",
            Some("a"),
        )
        .unwrap();
        assert_eq!(t.severity, Severity::Warn);
        assert_eq!(
            t.kind,
            TestKind::AcceptedValues {
                values: vec![VarValue::Str("x".into()), VarValue::Int(2)]
            }
        );
        let t = parse("expression: \"a > 0\"", None).unwrap();
        assert_eq!(
            t.kind,
            TestKind::Expression {
                sql: "a > 0".into()
            }
        );
    }

    #[test]
    fn unknown_argument_is_named() {
        let e = parse("row_count: {min: 1, maximum: 3}", None).unwrap_err();
        assert!(e.contains("unknown key `maximum`"), "{e}");
        let e = parse("not_nul", Some("a")).unwrap_err();
        assert!(e.contains("unknown test `not_nul`"), "{e}");
        let e = parse("not_null", None).unwrap_err();
        assert!(e.contains("checks a column"), "{e}");
    }
}
