//! Comparing a model's rows with the expected ones, and showing the difference. Rows match as
//! a multiset (order does not matter, a row expected twice must come twice); only the columns
//! the expected rows name are compared; floats are equal within the test's tolerance. A failure
//! is printed side by side: expected on the left, actual on the right, each differing cell
//! between `»` and `«`.

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::scalar::ScalarValue;

/// One row of the compared columns: its values and how they print.
#[derive(Debug, Clone)]
pub struct Row {
    pub values: Vec<ScalarValue>,
    pub text: Vec<String>,
}

/// The compared columns of `batch`, in the order of `columns`.
pub fn rows_of(batch: &RecordBatch, columns: &[String]) -> Result<Vec<Row>, String> {
    let opts = FormatOptions::default().with_null("null");
    let mut arrays = Vec::new();
    for c in columns {
        let i = batch
            .schema()
            .index_of(c)
            .map_err(|_| format!("no column `{c}`"))?;
        arrays.push(batch.column(i).clone());
    }
    let formatters: Vec<ArrayFormatter> = arrays
        .iter()
        .map(|a| ArrayFormatter::try_new(a.as_ref(), &opts))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        let mut values = Vec::with_capacity(arrays.len());
        let mut text = Vec::with_capacity(arrays.len());
        for (a, f) in arrays.iter().zip(&formatters) {
            values.push(ScalarValue::try_from_array(a.as_ref(), r).map_err(|e| e.to_string())?);
            text.push(f.value(r).to_string());
        }
        out.push(Row { values, text });
    }
    Ok(out)
}

/// Whether two cells are equal: nulls equal nulls, floats within `tolerance` (NaN equals NaN).
pub fn cell_eq(a: &ScalarValue, b: &ScalarValue, tolerance: f64) -> bool {
    if a.is_null() && b.is_null() {
        return true;
    }
    if a.is_null() || b.is_null() {
        return false;
    }
    let float = |v: &ScalarValue| match v {
        ScalarValue::Float64(Some(x)) => Some(*x),
        ScalarValue::Float32(Some(x)) => Some(f64::from(*x)),
        ScalarValue::Float16(Some(x)) => Some(f64::from(*x)),
        _ => None,
    };
    match (float(a), float(b)) {
        (Some(x), Some(y)) => (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= tolerance,
        _ => a == b,
    }
}

fn row_eq(a: &Row, b: &Row, tolerance: f64) -> bool {
    a.values
        .iter()
        .zip(&b.values)
        .all(|(x, y)| cell_eq(x, y, tolerance))
}

/// The outcome of a comparison: indices into the expected and actual rows.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Expected rows found, with the actual row each matched.
    pub matched: Vec<(usize, usize)>,
    /// Expected rows not found, each paired with the closest unmatched actual row if any.
    pub differing: Vec<(usize, Option<usize>)>,
    /// Actual rows nobody expected (after pairing).
    pub unexpected: Vec<usize>,
}

impl Comparison {
    pub fn passed(&self) -> bool {
        self.differing.is_empty() && self.unexpected.is_empty()
    }
}

pub fn compare(expected: &[Row], actual: &[Row], tolerance: f64) -> Comparison {
    let mut used = vec![false; actual.len()];
    let mut c = Comparison::default();
    let mut missing = Vec::new();
    for (i, e) in expected.iter().enumerate() {
        match (0..actual.len()).find(|j| !used[*j] && row_eq(e, &actual[*j], tolerance)) {
            Some(j) => {
                used[j] = true;
                c.matched.push((i, j));
            }
            None => missing.push(i),
        }
    }
    // Pair each missing row with the unmatched actual row sharing most cells, so the output
    // shows which cells differ rather than two unrelated lists.
    for i in missing {
        let best = (0..actual.len())
            .filter(|j| !used[*j])
            .map(|j| {
                let same = expected[i]
                    .values
                    .iter()
                    .zip(&actual[j].values)
                    .filter(|(x, y)| cell_eq(x, y, tolerance))
                    .count();
                (same, std::cmp::Reverse(j))
            })
            .max()
            .filter(|(same, _)| *same > 0)
            .map(|(_, std::cmp::Reverse(j))| j);
        if let Some(j) = best {
            used[j] = true;
        }
        c.differing.push((i, best));
    }
    c.unexpected = (0..actual.len()).filter(|j| !used[*j]).collect();
    c
}

/// At most this many rows of each kind are printed.
const MAX_ROWS: usize = 50;

/// The side-by-side table of a failed comparison.
pub fn render(
    columns: &[String],
    expected: &[Row],
    actual: &[Row],
    c: &Comparison,
    tolerance: f64,
) -> String {
    let mark = |s: &str| format!("»{s}«");
    // (status, left cells, right cells)
    type Line<'a> = (&'a str, Option<Vec<String>>, Option<Vec<String>>);
    let mut lines: Vec<Line> = Vec::new();
    for (i, j) in c.matched.iter().take(MAX_ROWS) {
        lines.push((
            "=",
            Some(expected[*i].text.clone()),
            Some(actual[*j].text.clone()),
        ));
    }
    for (i, j) in c.differing.iter().take(MAX_ROWS) {
        match j {
            Some(j) => {
                let (mut l, mut r) = (expected[*i].text.clone(), actual[*j].text.clone());
                for k in 0..columns.len() {
                    if !cell_eq(&expected[*i].values[k], &actual[*j].values[k], tolerance) {
                        l[k] = mark(&l[k]);
                        r[k] = mark(&r[k]);
                    }
                }
                lines.push(("≠", Some(l), Some(r)));
            }
            None => lines.push(("-", Some(expected[*i].text.clone()), None)),
        }
    }
    for j in c.unexpected.iter().take(MAX_ROWS) {
        lines.push(("+", None, Some(actual[*j].text.clone())));
    }
    let width = |k: usize| {
        lines
            .iter()
            .flat_map(|(_, l, r)| {
                [l.as_ref(), r.as_ref()]
                    .into_iter()
                    .flatten()
                    .map(move |cells| cells[k].chars().count())
            })
            .chain([columns[k].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..columns.len()).map(width).collect();
    let side = |cells: Option<&Vec<String>>, empty: &str| -> String {
        match cells {
            Some(cells) => cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| pad(c, *w))
                .collect::<Vec<_>>()
                .join(" | "),
            None => pad(
                empty,
                widths.iter().sum::<usize>() + 3 * widths.len().saturating_sub(1),
            ),
        }
    };
    let header: Vec<String> = columns.to_vec();
    let left_width = widths.iter().sum::<usize>() + 3 * widths.len().saturating_sub(1);
    let mut out = String::new();
    out.push_str(&format!(
        "     {} ‖ {}\n",
        pad("expected", left_width),
        "actual"
    ));
    out.push_str(&format!(
        "     {} ‖ {}\n",
        side(Some(&header), ""),
        side(Some(&header), "")
    ));
    for (status, l, r) in &lines {
        out.push_str(&format!(
            "  {status}  {} ‖ {}\n",
            side(l.as_ref(), "(not expected)"),
            side(r.as_ref(), "(missing)").trim_end()
        ));
    }
    let hidden = c.matched.len().saturating_sub(MAX_ROWS)
        + c.differing.len().saturating_sub(MAX_ROWS)
        + c.unexpected.len().saturating_sub(MAX_ROWS);
    if hidden > 0 {
        out.push_str(&format!("  … and {hidden} more rows\n"));
    }
    out
}

fn pad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n >= width {
        s.to_string()
    } else {
        format!("{s}{}", " ".repeat(width - n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[ScalarValue]) -> Row {
        Row {
            values: cells.to_vec(),
            text: cells.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn s(v: &str) -> ScalarValue {
        ScalarValue::Utf8(Some(v.into()))
    }

    fn f(v: f64) -> ScalarValue {
        ScalarValue::Float64(Some(v))
    }

    #[test]
    fn order_does_not_matter_but_multiplicity_does() {
        let e = vec![row(&[s("a"), f(1.0)]), row(&[s("b"), f(2.0)])];
        let a = vec![row(&[s("b"), f(2.0)]), row(&[s("a"), f(1.0)])];
        assert!(compare(&e, &a, 0.0).passed());
        let twice = vec![row(&[s("a"), f(1.0)]), row(&[s("a"), f(1.0)])];
        let once = vec![row(&[s("a"), f(1.0)])];
        let c = compare(&twice, &once, 0.0);
        assert!(!c.passed());
        assert_eq!(c.differing, vec![(1, None)]);
    }

    #[test]
    fn floats_within_tolerance_and_nulls_equal() {
        assert!(cell_eq(&f(0.1 + 0.2), &f(0.3), 1e-9));
        assert!(!cell_eq(&f(0.31), &f(0.3), 1e-9));
        assert!(cell_eq(
            &ScalarValue::Float64(None),
            &ScalarValue::Float64(None),
            0.0
        ));
        assert!(!cell_eq(&ScalarValue::Float64(None), &f(0.0), 1.0));
        assert!(cell_eq(&f(f64::NAN), &f(f64::NAN), 0.0));
    }

    #[test]
    fn failures_pair_rows_and_mark_differing_cells() {
        let cols = vec!["id".to_string(), "credit".to_string()];
        let e = vec![
            row(&[s("a"), f(1.0)]),
            row(&[s("b"), f(0.5)]),
            row(&[s("c"), f(1.0)]),
        ];
        let a = vec![
            row(&[s("a"), f(1.0)]),
            row(&[s("b"), f(0.25)]),
            row(&[s("d"), f(2.0)]),
        ];
        let c = compare(&e, &a, 1e-9);
        assert_eq!(c.matched, vec![(0, 0)]);
        assert_eq!(c.differing, vec![(1, Some(1)), (2, None)]);
        assert_eq!(c.unexpected, vec![2]);
        let text = render(&cols, &e, &a, &c, 1e-9);
        assert!(text.contains("»0.5«") && text.contains("»0.25«"), "{text}");
        assert!(
            text.contains("(missing)") && text.contains("(not expected)"),
            "{text}"
        );
        let b_line = text.lines().find(|l| l.contains("»0.5«")).unwrap();
        assert!(
            b_line.trim_start().starts_with('≠') && !b_line.contains("»b«"),
            "{text}"
        );
    }
}
