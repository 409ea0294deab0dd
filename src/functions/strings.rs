//! Plumbing shared by the string UDFs: reading any Arrow string encoding
//! (Utf8, LargeUtf8, Utf8View, dictionaries, NULL) as `Option<&str>`, and a
//! generic [`ScalarUDFImpl`] that lifts a plain `fn(&str) -> Option<String>`
//! (or a two-argument variant) to a SQL function returning Utf8.
//!
//! Parquet files written by different tools hand us different string
//! encodings; funnelling them all through [`StrCol`] keeps every kernel a
//! plain Rust function that can be unit-tested without Arrow.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, LargeStringArray, StringArray, StringBuilder, StringViewArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// A column of strings whatever its physical encoding.
pub(crate) enum StrCol {
    Utf8(StringArray),
    Large(LargeStringArray),
    View(StringViewArray),
    /// A column of the `Null` type (e.g. a literal `NULL` that was not
    /// coerced): every row is null.
    AllNull(usize),
}

impl StrCol {
    /// Wraps `array`, casting encodings we do not read natively (dictionaries,
    /// …) to Utf8 rather than failing, since the caller's intent is clear.
    pub(crate) fn new(array: &ArrayRef) -> Result<Self> {
        Ok(match array.data_type() {
            DataType::Utf8 => StrCol::Utf8(array.as_string::<i32>().clone()),
            DataType::LargeUtf8 => StrCol::Large(array.as_string::<i64>().clone()),
            DataType::Utf8View => StrCol::View(array.as_string_view().clone()),
            DataType::Null => StrCol::AllNull(array.len()),
            _ => {
                let casted = cast(array, &DataType::Utf8)?;
                StrCol::Utf8(casted.as_string::<i32>().clone())
            }
        })
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            StrCol::Utf8(a) => a.len(),
            StrCol::Large(a) => a.len(),
            StrCol::View(a) => a.len(),
            StrCol::AllNull(n) => *n,
        }
    }

    /// Row `i`, or `None` when it is null or out of range.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&str> {
        if i >= self.len() {
            return None;
        }
        match self {
            StrCol::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            StrCol::Large(a) => a.is_valid(i).then(|| a.value(i)),
            StrCol::View(a) => a.is_valid(i).then(|| a.value(i)),
            StrCol::AllNull(_) => None,
        }
    }
}

/// Reads a scalar argument as an optional string (`None` for SQL NULL).
pub(crate) fn scalar_str(value: &ScalarValue) -> Result<Option<String>> {
    match value {
        ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => {
            Ok(v.clone())
        }
        ScalarValue::Dictionary(_, inner) => scalar_str(inner),
        v if v.is_null() => Ok(None),
        other => exec_err!("expected a string argument, got {}", other.data_type()),
    }
}

/// The kernels a [`StringUdf`] can wrap.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StrKernel {
    /// `f(x)`; a NULL input gives NULL without calling `f`.
    Unary(fn(&str) -> Option<String>),
    /// `f(x, y)`; NULL `x` gives NULL, NULL `y` is passed as `None`.
    WithOptionalArg(fn(&str, Option<&str>) -> Option<String>),
}

impl StrKernel {
    fn arity(&self) -> usize {
        match self {
            StrKernel::Unary(_) => 1,
            StrKernel::WithOptionalArg(_) => 2,
        }
    }

    fn apply(&self, x: Option<&str>, y: Option<&str>) -> Option<String> {
        let x = x?;
        match self {
            StrKernel::Unary(f) => f(x),
            StrKernel::WithOptionalArg(f) => f(x, y),
        }
    }
}

/// A scalar UDF taking one or two strings and returning Utf8.
#[derive(Debug)]
pub(crate) struct StringUdf {
    name: &'static str,
    signature: Signature,
    kernel: StrKernel,
}

// Identity is the SQL name: two kernels never share a name, and comparing
// function pointers is unreliable in Rust.
impl PartialEq for StringUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.signature == other.signature
    }
}

impl Eq for StringUdf {}

impl Hash for StringUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.signature.hash(state);
    }
}

impl StringUdf {
    pub(crate) fn unary(name: &'static str, f: fn(&str) -> Option<String>) -> Self {
        Self::new(name, StrKernel::Unary(f))
    }

    pub(crate) fn with_optional_arg(
        name: &'static str,
        f: fn(&str, Option<&str>) -> Option<String>,
    ) -> Self {
        Self::new(name, StrKernel::WithOptionalArg(f))
    }

    fn new(name: &'static str, kernel: StrKernel) -> Self {
        Self {
            name,
            // `string(n)` accepts Utf8/LargeUtf8/Utf8View/dictionaries and
            // coerces a bare NULL to Utf8, which is what Parquet inputs need.
            signature: Signature::string(kernel.arity(), Volatility::Immutable),
            kernel,
        }
    }
}

impl ScalarUDFImpl for StringUdf {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arity = self.kernel.arity();
        if args.args.len() != arity {
            return exec_err!(
                "{} expects {arity} argument(s), got {}",
                self.name,
                args.args.len()
            );
        }
        // Constant folding and literal-only queries: stay scalar.
        if args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)))
        {
            let mut values = Vec::with_capacity(arity);
            for a in &args.args {
                if let ColumnarValue::Scalar(s) = a {
                    values.push(scalar_str(s)?);
                }
            }
            let x = values.first().and_then(|v| v.as_deref());
            let y = values.get(1).and_then(|v| v.as_deref());
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(
                self.kernel.apply(x, y),
            )));
        }
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let cols = arrays.iter().map(StrCol::new).collect::<Result<Vec<_>>>()?;
        let n = args.number_rows;
        let mut out = StringBuilder::with_capacity(n, n * 16);
        for i in 0..n {
            let x = cols.first().and_then(|c| c.get(i));
            let y = cols.get(1).and_then(|c| c.get(i));
            out.append_option(self.kernel.apply(x, y));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}
