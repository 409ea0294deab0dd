//! Fixture rows as Arrow batches of a table's real column types. Inline YAML rows go through
//! Arrow's JSON decoder (so `"2026-11-21"` reads as a date and `[a, b]` as a list); CSV fields
//! are read as text and cast; a Parquet fixture's columns are cast to the declared types. A
//! column the rows do not give is null. Every column is made nullable: a test gives only the
//! columns that matter to it.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, new_null_array};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::util::display::FormatOptions;

use crate::config::datatype::display;
use crate::config::unit_tests::Rows;

/// `schema` with every field nullable.
pub fn nullable(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<Field>>(),
    ))
}

/// The closest column name, for "did you mean".
fn suggest(name: &str, schema: &Schema) -> String {
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    crate::graph::suggest(name, names.iter())
}

fn columns_list(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows as one batch of `schema` (made nullable), and the columns the rows name (the keys of
/// inline rows, a CSV header, a Parquet file's columns). `Err` is a message for the test's
/// file:line.
pub async fn batch(rows: &Rows, schema: &Schema) -> Result<(RecordBatch, Vec<String>), String> {
    let schema = nullable(schema);
    match rows {
        Rows::Inline(rows) => {
            let mut named: Vec<String> = Vec::new();
            for r in rows {
                for k in r.keys() {
                    if !named.contains(k) {
                        named.push(k.clone());
                    }
                }
            }
            Ok((inline(rows, &schema)?, named))
        }
        Rows::Csv(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let named = parse_csv(&text)?
                .first()
                .map(|(_, h)| h.iter().map(|c| c.trim().to_string()).collect())
                .unwrap_or_default();
            let b = csv(&text, &schema).map_err(|m| format!("{}: {m}", path.display()))?;
            Ok((b, named))
        }
        Rows::Parquet(path) => {
            let named = parquet_schema(path)
                .map_err(|m| format!("{}: {m}", path.display()))?
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            let b = parquet(path, &schema)
                .await
                .map_err(|m| format!("{}: {m}", path.display()))?;
            Ok((b, named))
        }
    }
}

/// Inline rows through Arrow's JSON decoder; a failure is pinned to its row and column by
/// decoding that row's cells one at a time.
pub fn inline(
    rows: &[serde_json::Map<String, serde_json::Value>],
    schema: &SchemaRef,
) -> Result<RecordBatch, String> {
    for (i, row) in rows.iter().enumerate() {
        for key in row.keys() {
            if schema.field_with_name(key).is_err() {
                return Err(format!(
                    "row {}: no column `{key}`{} (columns: {})",
                    i + 1,
                    suggest(key, schema),
                    columns_list(schema)
                ));
            }
        }
    }
    match decode(rows, schema) {
        Ok(b) => Ok(b),
        Err(whole) => {
            for (i, row) in rows.iter().enumerate() {
                for (key, value) in row {
                    let Ok(field) = schema.field_with_name(key) else {
                        continue;
                    };
                    let one = Arc::new(Schema::new(vec![field.clone()]));
                    let mut cell = serde_json::Map::new();
                    cell.insert(key.clone(), value.clone());
                    if let Err(e) = decode(std::slice::from_ref(&cell), &one) {
                        return Err(format!(
                            "row {}: column `{key}` is `{}`, and {value} does not read as one ({})",
                            i + 1,
                            display(field.data_type()),
                            clean(&e)
                        ));
                    }
                }
            }
            Err(whole)
        }
    }
}

fn clean(e: &str) -> String {
    e.trim_start_matches("Json error: ")
        .trim_start_matches("Parser error: ")
        .to_string()
}

fn decode(
    rows: &[serde_json::Map<String, serde_json::Value>],
    schema: &SchemaRef,
) -> Result<RecordBatch, String> {
    let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.len().max(1))
        .build_decoder()
        .map_err(|e| e.to_string())?;
    decoder.serialize(rows).map_err(|e| clean(&e.to_string()))?;
    Ok(decoder
        .flush()
        .map_err(|e| clean(&e.to_string()))?
        .unwrap_or_else(|| RecordBatch::new_empty(schema.clone())))
}

/// A CSV fixture: a header row of column names, then one line per row (RFC 4180 quoting; an
/// empty field is null). Each field is cast from text to its column's type.
pub fn csv(text: &str, schema: &SchemaRef) -> Result<RecordBatch, String> {
    let records = parse_csv(text)?;
    let Some((header, body)) = records.split_first() else {
        return Ok(RecordBatch::new_empty(schema.clone()));
    };
    for name in &header.1 {
        if schema.field_with_name(name.trim()).is_err() {
            return Err(format!(
                "line {}: no column `{}`{} (columns: {})",
                header.0,
                name.trim(),
                suggest(name.trim(), schema),
                columns_list(schema)
            ));
        }
    }
    for (line, fields) in body {
        if fields.len() != header.1.len() {
            return Err(format!(
                "line {line}: {} fields, but the header names {} columns",
                fields.len(),
                header.1.len()
            ));
        }
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let at = header.1.iter().position(|h| h.trim() == field.name());
        let Some(at) = at else {
            columns.push(new_null_array(field.data_type(), body.len()));
            continue;
        };
        let text: StringArray = body
            .iter()
            .map(|(_, f)| Some(f[at].as_str()).filter(|s| !s.is_empty()))
            .collect();
        let strict = CastOptions {
            safe: false,
            format_options: FormatOptions::default(),
        };
        let array = cast_with_options(&text, field.data_type(), &strict).map_err(|_| {
            // find the failing line for the message
            for (line, f) in body {
                let one = StringArray::from(vec![Some(f[at].as_str()).filter(|s| !s.is_empty())]);
                if let Err(e) = cast_with_options(&one, field.data_type(), &strict) {
                    return format!(
                        "line {line}: column `{}` is `{}`, and `{}` does not read as one ({})",
                        field.name(),
                        display(field.data_type()),
                        f[at],
                        clean(&e.to_string())
                    );
                }
            }
            format!(
                "column `{}` does not read as `{}`",
                field.name(),
                display(field.data_type())
            )
        })?;
        columns.push(array);
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())
}

/// RFC 4180 records with the line each starts on; blank lines are skipped.
fn parse_csv(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut start = 1;
    let mut quoted = false;
    let mut any = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                quoted = true;
                any = true;
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                any = true;
            }
            '\r' => {}
            '\n' => {
                if any || !field.is_empty() {
                    record.push(std::mem::take(&mut field));
                    out.push((start, std::mem::take(&mut record)));
                }
                any = false;
                line += 1;
                start = line;
            }
            _ => {
                field.push(c);
                any = true;
            }
        }
    }
    if quoted {
        return Err(format!("line {start}: a quoted field is not closed"));
    }
    if any || !field.is_empty() {
        record.push(field);
        out.push((start, record));
    }
    Ok(out)
}

/// A Parquet fixture: its columns cast to the table's types, missing ones null.
async fn parquet(path: &std::path::Path, schema: &SchemaRef) -> Result<RecordBatch, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| format!("not a readable Parquet file ({e})"))?
        .build()
        .map_err(|e| e.to_string())?;
    let batches: Vec<RecordBatch> = reader
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read ({e})"))?;
    let file_schema = match batches.first() {
        Some(b) => b.schema(),
        None => return Ok(RecordBatch::new_empty(schema.clone())),
    };
    let all = arrow::compute::concat_batches(&file_schema, &batches).map_err(|e| e.to_string())?;
    for f in file_schema.fields() {
        if schema.field_with_name(f.name()).is_err() {
            return Err(format!(
                "no column `{}`{} (columns: {})",
                f.name(),
                suggest(f.name(), schema),
                columns_list(schema)
            ));
        }
    }
    let mut columns: Vec<ArrayRef> = Vec::new();
    for field in schema.fields() {
        match file_schema.index_of(field.name()) {
            Ok(i) => {
                let col = all.column(i);
                let cast = cast_with_options(
                    col,
                    field.data_type(),
                    &CastOptions {
                        safe: false,
                        format_options: FormatOptions::default(),
                    },
                )
                .map_err(|e| {
                    format!(
                        "column `{}` is `{}` in the file and `{}` in the table ({})",
                        field.name(),
                        display(col.data_type()),
                        display(field.data_type()),
                        clean(&e.to_string())
                    )
                })?;
                columns.push(cast);
            }
            Err(_) => columns.push(new_null_array(field.data_type(), all.num_rows())),
        }
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())
}

/// The schema of a Parquet fixture (for a source that declares none).
pub fn parquet_schema(path: &std::path::Path) -> Result<SchemaRef, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| format!("not a readable Parquet file ({e})"))?;
    Ok(builder.schema().clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Date32Type, Int64Type, TimeUnit};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
            Field::new("d", DataType::Date32, true),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("amount", DataType::Decimal128(12, 2), true),
        ]))
    }

    fn rows(json: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn inline_rows_read_as_the_column_types_missing_columns_null() {
        let s = nullable(&schema());
        let b = inline(
            &rows(r#"[{"id": "a", "n": 3, "d": "2026-11-21", "ts": "2026-11-21T10:00:00Z", "amount": 12.5}, {"id": "b"}]"#),
            &s,
        )
        .unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.column(1).as_primitive::<Int64Type>().value(0), 3);
        assert!(b.column(1).is_null(1));
        let days = b.column(2).as_primitive::<Date32Type>().value(0);
        assert_eq!(days, 20778); // 2026-11-21
        assert!(b.column(4).is_null(1));
    }

    #[test]
    fn inline_errors_name_row_and_column() {
        let s = nullable(&schema());
        let e = inline(&rows(r#"[{"id": "a"}, {"id": "b", "n": "many"}]"#), &s).unwrap_err();
        assert!(
            e.contains("row 2") && e.contains("`n`") && e.contains("int64"),
            "{e}"
        );
        let e = inline(&rows(r#"[{"idd": "a"}]"#), &s).unwrap_err();
        assert!(
            e.contains("no column `idd`") && e.contains("did you mean `id`"),
            "{e}"
        );
        let e = inline(&rows(r#"[{"d": "21/11/2026"}]"#), &s).unwrap_err();
        assert!(e.contains("`d`") && e.contains("date"), "{e}");
    }

    #[test]
    fn csv_fields_are_cast_and_empty_is_null() {
        let s = nullable(&schema());
        let b = csv("id,n,amount\na,1,2.50\n\"b, quoted\",,\n", &s).unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.column(0).as_string::<i32>().value(1), "b, quoted");
        assert!(b.column(1).is_null(1));
        let e = csv("id,n\na,x\n", &s).unwrap_err();
        assert!(e.contains("line 2") && e.contains("`n`"), "{e}");
        let e = csv("id,nn\na,1\n", &s).unwrap_err();
        assert!(e.contains("no column `nn`"), "{e}");
        let e = csv("id,n\na\n", &s).unwrap_err();
        assert!(e.contains("1 fields"), "{e}");
    }
}
