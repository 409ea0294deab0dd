//! String similarity for fuzzy matching of names: Jaro and Jaro–Winkler,
//! and the `jaro_winkler(a, b)` SQL function.
//!
//! Comparison is on Unicode scalar values and case-sensitive, so callers
//! compare normalised values (`jaro_winkler(normalize_name(a),
//! normalize_name(b))`).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Builder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::strings::{StrCol, scalar_str};

/// Winkler's prefix scale.
const PREFIX_SCALE: f64 = 0.1;
/// Longest common prefix that earns a bonus.
const MAX_PREFIX: usize = 4;
/// Winkler only boosts pairs that are already similar.
const BOOST_THRESHOLD: f64 = 0.7;

/// Jaro similarity in `[0, 1]`: two empty strings are identical (1.0), an
/// empty and a non-empty string share nothing (0.0).
pub fn jaro(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    jaro_chars(&a, &b)
}

fn jaro_chars(a: &[char], b: &[char]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let window = (a.len().max(b.len()) / 2).saturating_sub(1);
    let mut b_used = vec![false; b.len()];
    let mut a_matched = Vec::with_capacity(a.len());
    for (i, &ca) in a.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(b.len());
        for j in lo..hi {
            if !b_used[j] && b[j] == ca {
                b_used[j] = true;
                a_matched.push(ca);
                break;
            }
        }
    }
    let m = a_matched.len();
    if m == 0 {
        return 0.0;
    }
    let b_matched = b
        .iter()
        .zip(&b_used)
        .filter_map(|(&c, &used)| used.then_some(c));
    let half_transpositions = a_matched
        .iter()
        .zip(b_matched)
        .filter(|(x, y)| *x != y)
        .count();
    let m = m as f64;
    let t = (half_transpositions / 2) as f64;
    (m / a.len() as f64 + m / b.len() as f64 + (m - t) / m) / 3.0
}

/// Jaro–Winkler similarity in `[0, 1]`: the Jaro similarity `j`, boosted
/// by `l * 0.1 * (1 - j)` where `l` is the length of the common prefix
/// (at most 4), applied only when `j > 0.7` (Winkler's threshold, as in
/// most libraries). Case-sensitive; compare normalised strings.
///
/// ```sql
/// select jaro_winkler('martha', 'marhta');   -- 0.9611…
/// select jaro_winkler(normalize_name(a.last_name), normalize_name(b.last_name)) > 0.92
/// select jaro_winkler('x', null);            -- NULL
/// ```
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let j = jaro_chars(&a, &b);
    if j <= BOOST_THRESHOLD {
        return j;
    }
    let prefix = a
        .iter()
        .zip(&b)
        .take(MAX_PREFIX)
        .take_while(|(x, y)| x == y)
        .count();
    (j + prefix as f64 * PREFIX_SCALE * (1.0 - j)).min(1.0)
}

/// `jaro_winkler(a, b)`: Float64, NULL if either argument is NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct JaroWinklerUdf {
    signature: Signature,
}

impl JaroWinklerUdf {
    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::string(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for JaroWinklerUdf {
    fn name(&self) -> &str {
        "jaro_winkler"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [a, b] = args.args.as_slice() else {
            return exec_err!("jaro_winkler expects 2 arguments, got {}", args.args.len());
        };
        if let (ColumnarValue::Scalar(a), ColumnarValue::Scalar(b)) = (a, b) {
            let v = match (scalar_str(a)?, scalar_str(b)?) {
                (Some(a), Some(b)) => Some(jaro_winkler(&a, &b)),
                _ => None,
            };
            return Ok(ColumnarValue::Scalar(ScalarValue::Float64(v)));
        }
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (a, b) = (StrCol::new(&arrays[0])?, StrCol::new(&arrays[1])?);
        let n = args.number_rows;
        let mut out = Float64Builder::with_capacity(n);
        for i in 0..n {
            match (a.get(i), b.get(i)) {
                (Some(x), Some(y)) => out.append_value(jaro_winkler(x, y)),
                _ => out.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(x: f64, y: f64) -> bool {
        (x - y).abs() < 1e-3
    }

    #[test]
    fn classic_jaro_values() {
        // Winkler (1990) / Wikipedia examples.
        assert!(close(jaro("MARTHA", "MARHTA"), 0.944));
        assert!(close(jaro("DIXON", "DICKSONX"), 0.767));
        assert!(close(jaro("DWAYNE", "DUANE"), 0.822));
        assert!(close(jaro("CRATE", "TRACE"), 0.733));
    }

    #[test]
    fn classic_jaro_winkler_values() {
        assert!(close(jaro_winkler("MARTHA", "MARHTA"), 0.961));
        assert!(close(jaro_winkler("DIXON", "DICKSONX"), 0.813));
        assert!(close(jaro_winkler("DWAYNE", "DUANE"), 0.840));
    }

    #[test]
    fn edge_cases() {
        assert_eq!(jaro_winkler("", ""), 1.0);
        assert_eq!(jaro_winkler("abc", ""), 0.0);
        assert_eq!(jaro_winkler("abc", "abc"), 1.0);
        assert_eq!(jaro_winkler("abc", "xyz"), 0.0);
        assert_eq!(jaro_winkler("a", "a"), 1.0);
        // Symmetric, and bounded even with long common prefixes.
        let (x, y) = ("dupont-aignan", "dupontaignan");
        assert!(close(jaro_winkler(x, y), jaro_winkler(y, x)));
        assert!(jaro_winkler(x, y) <= 1.0);
        // Unicode is compared per character, not per byte.
        assert!(close(
            jaro_winkler("élodie", "elodie"),
            jaro_winkler("xlodie", "elodie")
        ));
    }
}
