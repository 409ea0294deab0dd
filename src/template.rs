//! The one template syntax of SQL models: `{{ var("name") }}` and built-ins like `{{ run_date }}`.
//!
//! Each placeholder becomes a SQL literal of the variable's type (`30`, `7.0`, `'FR'`,
//! `DATE '2026-11-21'`), quoted by us; text is never pasted into SQL unchecked. Anything else
//! between `{{` and `}}` is an error with its line and column.

use std::collections::BTreeMap;

use crate::config::VarValue;

/// The built-in placeholders, documented in the README.
pub const BUILTINS: &[&str] = &["run_date", "window_start", "run_id", "run_started_at"];

/// `{{ window_start }}` when a model is computed from all history (a first build, a
/// `--full-refresh`, a full-history model): a date before any export, yet one that every
/// timestamp unit can still represent (nanoseconds start in 1677), so comparing it with a
/// timestamp column never overflows.
pub const HISTORY_START: &str = "DATE '1900-01-01'";

/// Whether `text` has the placeholder `{{ name }}` (spaces inside the braces ignored).
pub fn uses(text: &str, name: &str) -> bool {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return false;
        };
        if after[..end].trim() == name {
            return true;
        }
        rest = &after[end + 2..];
    }
    false
}

#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Values available to templates.
#[derive(Debug, Clone, Default)]
pub struct TemplateContext {
    pub vars: BTreeMap<String, VarValue>,
    /// Built-ins, rendered with their own literal syntax (e.g. `TIMESTAMP '…'`).
    pub builtins: BTreeMap<String, String>,
}

pub fn render(text: &str, ctx: &TemplateContext) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let err = |msg: String| {
            let (line, column) = line_col(text, offset + start);
            TemplateError {
                line,
                column,
                message: msg,
            }
        };
        let end = after
            .find("}}")
            .ok_or_else(|| err("`{{` is never closed by `}}`".into()))?;
        let expr = after[..end].trim();
        out.push_str(&eval(expr, ctx).map_err(err)?);
        let consumed = start + 2 + end + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

fn eval(expr: &str, ctx: &TemplateContext) -> Result<String, String> {
    if let Some(inner) = expr.strip_prefix("var(").and_then(|s| s.strip_suffix(')')) {
        let inner = inner.trim();
        let name = inner
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
            .ok_or_else(|| format!("write var(\"name\"), found var({inner})"))?;
        return ctx.vars.get(name).map(VarValue::to_sql).ok_or_else(|| {
            format!(
                "unknown var `{name}`; declare it under `vars:` in pipelines.yaml (declared: {})",
                if ctx.vars.is_empty() {
                    "none".to_string()
                } else {
                    ctx.vars.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            )
        });
    }
    if let Some(v) = ctx.builtins.get(expr) {
        return Ok(v.clone());
    }
    Err(format!(
        "unknown placeholder `{{{{ {expr} }}}}`; use {{{{ var(\"name\") }}}} or one of {}",
        BUILTINS.join(", ")
    ))
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, byte: usize) -> (usize, usize) {
    let before = &text[..byte.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

#[cfg(test)]
mod unit {
    use super::*;

    fn ctx() -> TemplateContext {
        let mut c = TemplateContext::default();
        c.vars.insert("days".into(), VarValue::Int(30));
        c.vars.insert("country".into(), VarValue::Str("F'R".into()));
        c.builtins
            .insert("run_date".into(), "DATE '2026-11-21'".into());
        c
    }

    #[test]
    fn substitutes_typed_literals() {
        let s = render(
            "select {{ var(\"days\") }}, {{var('country')}} where d = {{ run_date }}",
            &ctx(),
        )
        .unwrap();
        assert_eq!(s, "select 30, 'F''R' where d = DATE '2026-11-21'");
    }

    #[test]
    fn errors_carry_line_and_column() {
        let e = render("select 1\nfrom t where x = {{ var(\"nope\") }}", &ctx()).unwrap_err();
        assert_eq!((e.line, e.column), (2, 18));
        assert!(e.message.contains("unknown var `nope`"));
        let e = render("select {{ 1 + 1 }}", &ctx()).unwrap_err();
        assert!(e.message.contains("unknown placeholder"));
        assert!(render("select {{ run_date", &ctx()).is_err());
    }

    #[test]
    fn finds_a_placeholder() {
        assert!(uses(
            "where d >= {{window_start}} and d <= {{ run_date }}",
            "window_start"
        ));
        assert!(uses(
            "where d >= {{ run_date }} and d >= {{ window_start }}",
            "window_start"
        ));
        assert!(!uses(
            "-- window_start\nselect {{ run_date }}",
            "window_start"
        ));
        assert!(!uses("select {{ window_start", "window_start"));
    }
}
