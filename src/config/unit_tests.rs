//! Model unit tests as declared in YAML: under `unit_tests:` in `pipelines.yaml`, or in the
//! `*.yml`/`*.yaml` files of the `unit_test_paths` folders (each a `unit_tests:` list). Raw
//! serde types first, then validation into [`UnitTestSpec`]: vars typed as declared, dates
//! parsed, fixture paths resolved against the declaring file's folder, and every test located
//! by file and line for its messages. Whether the given inputs match what the model reads is
//! checked by the runner ([`crate::unit_test`]), which knows the model graph.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;

use super::{VarValue, locate, parse_date};
use crate::error::{Error, Result};

/// A unit test file: `unit_tests: [...]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUnitTestFile {
    #[serde(default)]
    pub unit_tests: Vec<RawUnitTest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUnitTest {
    /// Unique across the project.
    pub name: String,
    /// The model under test.
    pub model: String,
    pub description: Option<String>,
    /// Rows for each model or source the model reads.
    #[serde(default)]
    pub given: BTreeMap<String, RawRows>,
    /// The rows the model must return (order does not matter; only the columns named here are
    /// compared).
    pub expect: RawRows,
    /// Overrides of declared vars for this test.
    #[serde(default)]
    pub vars: BTreeMap<String, serde_norway::Value>,
    /// `{{ run_date }}` for this test (default: the command's run date).
    pub run_date: Option<String>,
    /// `{{ window_start }}` for this test (default: as a nightly run of `run_date` has it).
    pub window_start: Option<String>,
    /// Largest absolute difference between two floats that still counts as equal.
    pub tolerance: Option<f64>,
}

/// Rows: a YAML list of `{column: value}` maps, or `{rows: [...]}`, `{csv: file}`,
/// `{parquet: file}`.
#[derive(Debug)]
pub enum RawRows {
    Rows(Vec<serde_norway::Value>),
    File(RawRowsFile),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRowsFile {
    pub rows: Option<Vec<serde_norway::Value>>,
    pub csv: Option<String>,
    pub parquet: Option<String>,
}

/// By hand, so that a mistake in the map form names the key instead of "did not match any
/// variant".
impl<'de> Deserialize<'de> for RawRows {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        match serde_norway::Value::deserialize(d)? {
            serde_norway::Value::Sequence(rows) => Ok(RawRows::Rows(rows)),
            serde_norway::Value::Null => Ok(RawRows::Rows(Vec::new())),
            other => RawRowsFile::deserialize(other).map(RawRows::File).map_err(|e| {
                D::Error::custom(format!(
                    "rows are a list of {{column: value}} maps, or {{rows: [...]}}, {{csv: FILE}} or {{parquet: FILE}}: {e}"
                ))
            }),
        }
    }
}

/// A validated unit test.
#[derive(Debug, Clone)]
pub struct UnitTestSpec {
    pub name: String,
    pub model: String,
    pub description: Option<String>,
    /// The file declaring it, and the line of its `name:`.
    pub file: PathBuf,
    pub line: Option<usize>,
    pub given: Vec<Given>,
    pub expect: Rows,
    pub expect_line: Option<usize>,
    pub vars: BTreeMap<String, VarValue>,
    pub run_date: Option<NaiveDate>,
    pub window_start: Option<NaiveDate>,
    pub tolerance: f64,
}

impl UnitTestSpec {
    /// `file:line` for messages.
    pub fn location(&self) -> String {
        location(&self.file, self.line)
    }
}

pub fn location(file: &Path, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{}:{l}", file.display()),
        None => file.display().to_string(),
    }
}

/// Rows given to, or expected from, a model.
#[derive(Debug, Clone)]
pub struct Given {
    /// The model or source it stands for.
    pub input: String,
    pub rows: Rows,
    pub line: Option<usize>,
}

#[derive(Debug, Clone)]
pub enum Rows {
    /// One JSON object per row (YAML values as JSON, so Arrow's JSON decoder reads them as the
    /// column's type: strings for dates and timestamps, lists and maps for nested types).
    Inline(Vec<serde_json::Map<String, serde_json::Value>>),
    Csv(PathBuf),
    Parquet(PathBuf),
}

/// The default float tolerance: equal up to rounding, not up to a business difference.
pub const DEFAULT_TOLERANCE: f64 = 1e-9;

/// Validates the tests of one file: `file` as messages name it, `dir` the folder its fixture
/// paths are relative to, `prefix` where the list sits in it (`["unit_tests"]`).
pub fn validate(
    file: &Path,
    dir: &Path,
    text: &str,
    raw: Vec<RawUnitTest>,
    vars: &BTreeMap<String, VarValue>,
    prefix: &[&str],
) -> Result<Vec<UnitTestSpec>> {
    let mut out: Vec<UnitTestSpec> = Vec::new();
    for t in raw {
        let line = locate_test(text, prefix, &t.name);
        let err = |at: Option<usize>, msg: String| {
            Error::config(file, at.or(line), format!("unit test `{}`: {msg}", t.name))
        };
        if t.name.trim().is_empty() {
            return Err(err(line, "a unit test needs a non-empty `name`".into()));
        }
        if let Some(other) = out.iter().find(|o| o.name == t.name) {
            return Err(err(
                line,
                format!(
                    "a second test of this name (the first is at {})",
                    other.location()
                ),
            ));
        }
        let from = line.unwrap_or(1);
        let sub = |path: &[&str]| -> Option<usize> {
            let rest: String = text.lines().skip(from - 1).collect::<Vec<_>>().join("\n");
            locate(&rest, path).map(|l| l + from - 1)
        };
        let mut test_vars = BTreeMap::new();
        for (k, v) in &t.vars {
            let at = sub(&["vars", k]);
            let declared = vars.get(k).ok_or_else(|| {
                err(
                    at,
                    format!(
                        "var `{k}` is not declared under `vars:` in pipelines.yaml (declared: {})",
                        if vars.is_empty() {
                            "none".to_string()
                        } else {
                            vars.keys().cloned().collect::<Vec<_>>().join(", ")
                        }
                    ),
                )
            })?;
            let value = VarValue::from_yaml(v)
                .and_then(|value| coerce(declared, value))
                .ok_or_else(|| {
                    err(
                        at,
                        format!(
                            "var `{k}` is {}; `{}` is not",
                            super::article(declared.type_name()),
                            serde_norway::to_string(v).unwrap_or_default().trim()
                        ),
                    )
                })?;
            test_vars.insert(k.clone(), value);
        }
        let date = |key: &str, v: &Option<String>| -> Result<Option<NaiveDate>> {
            match v {
                None => Ok(None),
                Some(s) => parse_date(s.trim()).map(Some).ok_or_else(|| {
                    err(
                        sub(&[key]),
                        format!("{key} `{s}` is not a date (YYYY-MM-DD)"),
                    )
                }),
            }
        };
        let run_date = date("run_date", &t.run_date)?;
        let window_start = date("window_start", &t.window_start)?;
        let tolerance = t.tolerance.unwrap_or(DEFAULT_TOLERANCE);
        if !(tolerance.is_finite() && tolerance >= 0.0) {
            return Err(err(
                sub(&["tolerance"]),
                format!("tolerance {tolerance} must be a number ≥ 0"),
            ));
        }
        let mut given = Vec::new();
        for (input, rows) in t.given {
            let at = sub(&["given", &input]);
            let rows = rows_of(rows, dir).map_err(|m| err(at, format!("given `{input}`: {m}")))?;
            given.push(Given {
                input,
                rows,
                line: at,
            });
        }
        let expect_line = sub(&["expect"]);
        let expect =
            rows_of(t.expect, dir).map_err(|m| err(expect_line, format!("expect: {m}")))?;
        out.push(UnitTestSpec {
            name: t.name,
            model: t.model,
            description: t.description,
            file: file.to_path_buf(),
            line,
            given,
            expect,
            expect_line,
            vars: test_vars,
            run_date,
            window_start,
            tolerance,
        });
    }
    Ok(out)
}

/// A YAML value for a var of `declared`'s type: an integer may stand for a float.
fn coerce(declared: &VarValue, value: VarValue) -> Option<VarValue> {
    match (declared, value) {
        (VarValue::Float(_), VarValue::Int(i)) => Some(VarValue::Float(i as f64)),
        (VarValue::Str(_), VarValue::Date(d)) => {
            Some(VarValue::Str(d.format("%Y-%m-%d").to_string()))
        }
        (d, v) if std::mem::discriminant(d) == std::mem::discriminant(&v) => Some(v),
        _ => None,
    }
}

fn rows_of(raw: RawRows, dir: &Path) -> std::result::Result<Rows, String> {
    let inline = |rows: Vec<serde_norway::Value>| -> std::result::Result<Rows, String> {
        let mut out = Vec::with_capacity(rows.len());
        for (i, r) in rows.into_iter().enumerate() {
            match yaml_to_json(&r) {
                serde_json::Value::Object(map) => out.push(map),
                serde_json::Value::Null => out.push(serde_json::Map::new()),
                _ => {
                    return Err(format!("row {} is not a {{column: value}} map", i + 1));
                }
            }
        }
        Ok(Rows::Inline(out))
    };
    match raw {
        RawRows::Rows(rows) => inline(rows),
        RawRows::File(f) => match (f.rows, f.csv, f.parquet) {
            (Some(rows), None, None) => inline(rows),
            (None, Some(csv), None) => Ok(Rows::Csv(dir.join(csv))),
            (None, None, Some(pq)) => Ok(Rows::Parquet(dir.join(pq))),
            _ => Err("give exactly one of `rows`, `csv` and `parquet`".into()),
        },
    }
}

/// A YAML value as JSON. Keys become strings; a float that JSON cannot hold (NaN, ∞) becomes
/// its text, which Arrow's decoder parses back for a float column.
pub fn yaml_to_json(v: &serde_norway::Value) -> serde_json::Value {
    use serde_json::Value as J;
    use serde_norway::Value as Y;
    match v {
        Y::Null => J::Null,
        Y::Bool(b) => J::Bool(*b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                J::from(i)
            } else if let Some(u) = n.as_u64() {
                J::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(J::Number)
                    .unwrap_or_else(|| J::String(f.to_string()))
            }
        }
        Y::String(s) => J::String(s.clone()),
        Y::Sequence(items) => J::Array(items.iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => J::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s.clone(),
                        other => serde_norway::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => yaml_to_json(&t.value),
    }
}

/// The line of `- name: <name>` inside the list at `prefix` (or anywhere, failing that).
fn locate_test(text: &str, prefix: &[&str], name: &str) -> Option<usize> {
    let start = locate(text, prefix).unwrap_or(1);
    let wanted = [
        format!("name: {name}"),
        format!("name: \"{name}\""),
        format!("name: '{name}'"),
    ];
    text.lines()
        .enumerate()
        .skip(start - 1)
        .find(|(_, l)| {
            let t = l.trim_start().trim_start_matches("- ").trim_end();
            wanted.iter().any(|w| t == w)
        })
        .map(|(i, _)| i + 1)
}

/// Reads and validates every unit test file under `paths` (relative to `project_dir`), in
/// file-name order.
pub fn load(
    project_dir: &Path,
    paths: &[String],
    vars: &BTreeMap<String, VarValue>,
) -> Result<Vec<UnitTestSpec>> {
    let mut files = Vec::new();
    for p in paths {
        let dir = project_dir.join(p);
        if dir.is_dir() {
            collect(&dir, &mut files)?;
        }
    }
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f)
            .map_err(|e| Error::config(&f, None, format!("cannot read: {e}")))?;
        let rel = f.strip_prefix(project_dir).unwrap_or(&f).to_path_buf();
        let raw: RawUnitTestFile = serde_norway::from_str(&text)
            .map_err(|e| Error::config(&rel, e.location().map(|l| l.line()), e.to_string()))?;
        // Fixture paths are relative to the file; messages name it relative to the project.
        let dir = f.parent().unwrap_or(project_dir);
        out.extend(validate(
            &rel,
            dir,
            &text,
            raw.unit_tests,
            vars,
            &["unit_tests"],
        )?);
    }
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::config(dir, None, format!("cannot list: {e}")))?;
    for e in entries {
        let e = e.map_err(|e| Error::config(dir, None, format!("cannot list: {e}")))?;
        let p = e.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("yml") | Some("yaml")
        ) {
            out.push(p);
        }
    }
    Ok(())
}
