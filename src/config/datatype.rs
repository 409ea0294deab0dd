//! Data type names used in `pipelines.yaml` (declared source schemas and partition columns),
//! and the comparison rule between a declared type and the type found in a file.

use arrow::datatypes::{DataType, TimeUnit};

/// Parses `utf8 not null`, `decimal(12,2)`, `timestamp(us, UTC)`… into a type and nullability.
pub fn parse_declared(text: &str) -> Result<(DataType, bool), String> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let (ty, nullable) = match lower.strip_suffix("not null") {
        Some(rest) => (&t[..rest.trim_end().len()], false),
        None => (t, true),
    };
    Ok((parse_type(ty.trim())?, nullable))
}

/// Partition values come from folder names, so only scalar types that parse from text are allowed.
pub fn parse_partition_type(text: &str) -> Result<DataType, String> {
    let ty = parse_type(text)?;
    match ty {
        DataType::Utf8 | DataType::Date32 | DataType::Int32 | DataType::Int64 => Ok(ty),
        other => Err(format!(
            "`{other}` cannot be a partition type (use date, string, int32 or int64)"
        )),
    }
}

pub fn parse_type(text: &str) -> Result<DataType, String> {
    let lower = text.trim().to_ascii_lowercase();
    let (name, args) = match lower.find('(') {
        Some(i) if lower.ends_with(')') => {
            (lower[..i].trim(), Some(&lower[i + 1..lower.len() - 1]))
        }
        _ => (lower.as_str(), None),
    };
    let ty = match (name, args) {
        ("utf8" | "string" | "text" | "varchar", None) => DataType::Utf8,
        ("bool" | "boolean", None) => DataType::Boolean,
        ("int8", None) => DataType::Int8,
        ("int16", None) => DataType::Int16,
        ("int32" | "int" | "integer", None) => DataType::Int32,
        ("int64" | "bigint" | "long", None) => DataType::Int64,
        ("float32" | "float" | "real", None) => DataType::Float32,
        ("float64" | "double", None) => DataType::Float64,
        ("date" | "date32", None) => DataType::Date32,
        ("binary", None) => DataType::Binary,
        ("timestamp", None) => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ("timestamp", Some(a)) => {
            let mut parts = a.split(',').map(str::trim);
            let unit = match parts.next() {
                Some("s") => TimeUnit::Second,
                Some("ms") => TimeUnit::Millisecond,
                Some("us") => TimeUnit::Microsecond,
                Some("ns") => TimeUnit::Nanosecond,
                other => {
                    return Err(format!(
                        "unknown timestamp unit `{}` (use s, ms, us or ns)",
                        other.unwrap_or("")
                    ));
                }
            };
            // Keep the time zone's original case: `UTC`, `Europe/Paris`.
            let tz = text.find(',').map(|i| {
                text[i + 1..]
                    .trim()
                    .trim_end_matches(')')
                    .trim()
                    .to_string()
            });
            DataType::Timestamp(unit, tz.filter(|t| !t.is_empty()).map(Into::into))
        }
        ("decimal" | "decimal128" | "numeric", Some(a)) => {
            let mut parts = a.split(',').map(|p| p.trim().parse::<i64>());
            match (parts.next(), parts.next(), parts.next()) {
                (Some(Ok(p)), Some(Ok(s)), None)
                    if (1..=38).contains(&p) && (0..=p).contains(&s) =>
                {
                    DataType::Decimal128(p as u8, s as i8)
                }
                _ => {
                    return Err(format!(
                        "`{text}` is not a valid decimal; write decimal(precision, scale) with precision 1–38"
                    ));
                }
            }
        }
        _ => {
            return Err(format!(
                "unknown type `{text}`; use one of utf8, boolean, int32, int64, float64, date, timestamp(us, UTC), decimal(p,s), binary"
            ));
        }
    };
    Ok(ty)
}

/// Whether data of type `found` satisfies a declared `expected` type. The string encodings
/// (Utf8, LargeUtf8, Utf8View) and binary encodings are interchangeable; everything else must
/// match exactly, time zone and precision included, because a silent cast would hide drift.
pub fn compatible(expected: &DataType, found: &DataType) -> bool {
    fn norm(t: &DataType) -> DataType {
        match t {
            DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
            DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
            DataType::Dictionary(_, v) => norm(v),
            other => other.clone(),
        }
    }
    norm(expected) == norm(found)
}

/// The short name used in messages and in the manifest.
pub fn display(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "utf8".into(),
        DataType::Timestamp(u, tz) => {
            let unit = match u {
                TimeUnit::Second => "s",
                TimeUnit::Millisecond => "ms",
                TimeUnit::Microsecond => "us",
                TimeUnit::Nanosecond => "ns",
            };
            match tz {
                Some(tz) => format!("timestamp({unit}, {tz})"),
                None => format!("timestamp({unit})"),
            }
        }
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        DataType::Date32 => "date".into(),
        other => other.to_string().to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn parses_contract_types() {
        assert_eq!(parse_declared("utf8 not null"), Ok((DataType::Utf8, false)));
        assert_eq!(
            parse_declared("decimal(12,2)"),
            Ok((DataType::Decimal128(12, 2), true))
        );
        assert_eq!(
            parse_declared("timestamp(us, UTC) NOT NULL"),
            Ok((
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false
            ))
        );
        assert!(parse_type("varchar2").is_err());
        assert!(parse_type("decimal(40,2)").is_err());
    }

    #[test]
    fn string_encodings_are_compatible_but_precision_is_not() {
        assert!(compatible(&DataType::Utf8, &DataType::Utf8View));
        assert!(!compatible(&DataType::Int32, &DataType::Int64));
        assert!(!compatible(
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            &DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
        ));
    }
}
