//! SQL-level tests of the parcours functions: every UDF/UDAF is registered on
//! a DataFusion `SessionContext` and exercised through real queries, on all
//! string encodings Parquet can hand us and under several partitionings.

mod common;

use std::sync::Arc;

use common::sql::{context, rows};
use datafusion::arrow::array::{
    Array, Float64Array, LargeStringArray, RecordBatch, StringArray, StringViewArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;
use sha2::{Digest, Sha256};

/// The single value of a one-row, one-column query.
async fn one(ctx: &SessionContext, sql: &str) -> Result<Option<String>> {
    let r = rows(ctx, sql).await?;
    assert_eq!(r.len(), 1, "{sql}: expected one row, got {r:?}");
    Ok(r[0][0].clone())
}

fn sha(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

#[tokio::test]
async fn scalar_functions_on_literals() -> Result<()> {
    let ctx = context(1);
    let cases = [
        (
            "normalize_email('  Jane.Doe+News@GoogleMail.com ')",
            Some("janedoe@gmail.com"),
        ),
        ("normalize_email('not an email')", None),
        ("normalize_email(NULL)", None),
        (
            "meta_email(' John.Smith+x@Gmail.com ')",
            Some("john.smith+x@gmail.com"),
        ),
        (
            "normalize_phone('06 12 34 56 78', 'FR')",
            Some("+33612345678"),
        ),
        (
            "normalize_phone('+1 612-345-6789', NULL)",
            Some("+16123456789"),
        ),
        ("normalize_phone('06 12 34 56 78', NULL)", None),
        ("normalize_phone(NULL, 'FR')", None),
        ("meta_phone('+33612345678')", Some("33612345678")),
        (
            "sha256_hex('abc')",
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ),
        ("sha256_hex(NULL)", None),
        (
            "normalize_name(' Jean-François  Lefèvre ')",
            Some("jean francois lefevre"),
        ),
        ("normalize_name('--')", None),
        ("phonetic_key('Robert')", Some("R163")),
        ("phonetic_key('Lefèvre')", Some("L116")),
    ];
    for (expr, expected) in cases {
        let got = one(&ctx, &format!("select {expr}")).await?;
        assert_eq!(got.as_deref(), expected, "{expr}");
    }
    Ok(())
}

/// A table with the same e-mails in the three string encodings, plus phones
/// and countries (with NULLs).
async fn customers(ctx: &SessionContext) -> Result<()> {
    let emails = vec![
        Some(" Jane.Doe@Gmail.com"),
        Some("bad@"),
        None,
        Some("Bob+crm@Example.FR"),
    ];
    let phones = vec![
        Some("06 12 34 56 78"),
        Some("(612) 345-6789"),
        Some("+44 7700 900123"),
        None,
    ];
    let countries = vec![Some("FR"), Some("US"), None, Some("FR")];
    let schema = Arc::new(Schema::new(vec![
        Field::new("e_utf8", DataType::Utf8, true),
        Field::new("e_large", DataType::LargeUtf8, true),
        Field::new("e_view", DataType::Utf8View, true),
        Field::new("phone", DataType::Utf8View, true),
        Field::new("country", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(emails.clone())),
            Arc::new(LargeStringArray::from(emails.clone())),
            Arc::new(StringViewArray::from(emails)),
            Arc::new(StringViewArray::from(phones)),
            Arc::new(StringArray::from(countries)),
        ],
    )?;
    let table = MemTable::try_new(schema, vec![vec![batch]])?;
    ctx.register_table("customers", Arc::new(table))?;
    Ok(())
}

#[tokio::test]
async fn all_string_encodings_are_accepted() -> Result<()> {
    let ctx = context(2);
    customers(&ctx).await?;
    let got = rows(
        &ctx,
        "select normalize_email(e_utf8), normalize_email(e_large), normalize_email(e_view),
                arrow_typeof(normalize_email(e_large)), arrow_typeof(normalize_email(e_view))
         from customers",
    )
    .await?;
    let expected = [
        Some("janedoe@gmail.com"),
        None,
        None,
        Some("bob@example.fr"),
    ];
    for (row, exp) in got.iter().zip(expected) {
        assert_eq!(row[0].as_deref(), exp);
        assert_eq!(row[1].as_deref(), exp);
        assert_eq!(row[2].as_deref(), exp);
        assert_eq!(row[3].as_deref(), Some("Utf8"));
        assert_eq!(row[4].as_deref(), Some("Utf8"));
    }
    Ok(())
}

#[tokio::test]
async fn phones_use_the_country_column() -> Result<()> {
    let ctx = context(2);
    customers(&ctx).await?;
    let got = rows(
        &ctx,
        "select normalize_phone(phone, country), meta_phone(normalize_phone(phone, country))
         from customers",
    )
    .await?;
    let expected = [
        (Some("+33612345678"), Some("33612345678")),
        (Some("+16123456789"), Some("16123456789")),
        (Some("+447700900123"), Some("447700900123")),
        (None, None),
    ];
    for (row, (e164, meta)) in got.iter().zip(expected) {
        assert_eq!(row[0].as_deref(), e164);
        assert_eq!(row[1].as_deref(), meta);
    }
    // Constant country with a column phone.
    let got = rows(&ctx, "select normalize_phone(phone, 'GB') from customers").await?;
    assert_eq!(got[2][0].as_deref(), Some("+447700900123"));
    Ok(())
}

/// Google Customer Match and Meta Conversions API normalisation examples
/// (from their documentation, as remembered: Google lowercases, trims and
/// drops dots before `@gmail.com`/`@googlemail.com`, phones in E.164 with
/// `+`; Meta lowercases and trims e-mails, phones as digits with the country
/// code, no `+`, no leading zero). Hashes are computed here with `sha2`,
/// independently of the UDF.
#[tokio::test]
async fn ad_platform_hashing_vectors() -> Result<()> {
    let ctx = context(1);
    let cases: [(&str, &str); 8] = [
        // Google Customer Match: e-mail.
        (
            "sha256_hex(normalize_email(' Jane.Doe@Gmail.com '))",
            "janedoe@gmail.com",
        ),
        (
            "sha256_hex(normalize_email('jane.doe@googlemail.com'))",
            "janedoe@gmail.com",
        ),
        (
            "sha256_hex(normalize_email('John.Smith@Example.com'))",
            "john.smith@example.com",
        ),
        // Google Customer Match: phone in E.164.
        (
            "sha256_hex(normalize_phone('+1 (234) 567-8901', 'US'))",
            "+12345678901",
        ),
        (
            "sha256_hex(normalize_phone('06 12 34 56 78', 'FR'))",
            "+33612345678",
        ),
        // Meta: e-mail lowercased and trimmed only.
        (
            "sha256_hex(meta_email(' John_Smith@Gmail.com '))",
            "john_smith@gmail.com",
        ),
        // Meta: phone digits with country code, no `+`.
        (
            "sha256_hex(meta_phone(normalize_phone('+1 (616) 954-78 88', 'US')))",
            "16169547888",
        ),
        (
            "sha256_hex(meta_phone(normalize_phone('06 12 34 56 78', 'FR')))",
            "33612345678",
        ),
    ];
    for (expr, canonical) in cases {
        let got = one(&ctx, &format!("select {expr}")).await?;
        assert_eq!(got, Some(sha(canonical)), "{expr}");
    }
    Ok(())
}

#[tokio::test]
async fn jaro_winkler_in_sql() -> Result<()> {
    let ctx = context(1);
    let batches = ctx
        .sql(
            "select jaro_winkler('MARTHA', 'MARHTA') as a,
                    jaro_winkler(normalize_name('Dwayne'), normalize_name('DUANE')) as b,
                    jaro_winkler('x', NULL) as c,
                    arrow_typeof(jaro_winkler('x', 'y')) as t",
        )
        .await?
        .collect()
        .await?;
    let batch = &batches[0];
    let f = |i: usize| {
        batch
            .column(i)
            .as_any()
            .downcast_ref::<Float64Array>()
            .cloned()
    };
    let (a, b, c) = (f(0), f(1), f(2));
    assert!(a.is_some_and(|a| (a.value(0) - 0.9611).abs() < 1e-3));
    assert!(b.is_some_and(|b| (b.value(0) - 0.84).abs() < 1e-3));
    assert!(c.is_some_and(|c| c.is_null(0)));
    assert_eq!(
        rows(&ctx, "select arrow_typeof(jaro_winkler('x', 'y'))").await?[0][0].as_deref(),
        Some("Float64")
    );

    // On a column (array path) with a NULL.
    let got = rows(
        &ctx,
        "select round(jaro_winkler(a, b), 3) from (values ('dupont', 'dupond'), ('x', NULL)) t(a, b)",
    )
    .await?;
    assert_eq!(got[0][0].as_deref(), Some("0.933"));
    assert_eq!(got[1][0], None);
    Ok(())
}

/// Edges of three components plus a node that only appears with a NULL
/// partner, spread over four partitions (one batch each).
async fn edges(ctx: &SessionContext) -> Result<()> {
    let parts: [&[(&str, Option<&str>)]; 4] = [
        &[("p3", Some("p2")), ("q1", Some("q2"))],
        &[("p2", Some("p1")), ("solo", None)],
        &[("r9", Some("r10")), ("q2", Some("q3"))],
        &[("p4", Some("p3")), ("r10", Some("r9")), ("q3", Some("q1"))],
    ];
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Utf8View, true),
        Field::new("b", DataType::Utf8, true),
    ]));
    let mut partitions = Vec::new();
    for part in parts {
        let a: StringViewArray = part.iter().map(|e| Some(e.0)).collect();
        let b: StringArray = part.iter().map(|e| e.1).collect();
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(a), Arc::new(b)])?;
        partitions.push(vec![batch]);
    }
    ctx.register_table("edges", Arc::new(MemTable::try_new(schema, partitions)?))?;
    Ok(())
}

fn expected_components() -> Vec<Vec<Option<String>>> {
    [
        ("p1", "p1"),
        ("p2", "p1"),
        ("p3", "p1"),
        ("p4", "p1"),
        ("q1", "q1"),
        ("q2", "q1"),
        ("q3", "q1"),
        ("r10", "r10"),
        ("r9", "r10"),
        ("solo", "solo"),
    ]
    .iter()
    .map(|(n, c)| vec![Some(n.to_string()), Some(c.to_string())])
    .collect()
}

#[tokio::test]
async fn connected_components_with_field_access() -> Result<()> {
    for partitions in [1, 4] {
        let ctx = context(partitions);
        edges(&ctx).await?;
        let got = rows(
            &ctx,
            "select c['node'] as node, c['component'] as component
             from (select unnest(connected_components(a, b)) as c from edges)",
        )
        .await?;
        assert_eq!(
            got,
            expected_components(),
            "target_partitions = {partitions}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn connected_components_with_struct_unnest() -> Result<()> {
    let ctx = context(4);
    edges(&ctx).await?;
    let df = ctx
        .sql(
            "select unnest(c)
             from (select unnest(connected_components(a, b)) as c from edges)",
        )
        .await?;
    let names: Vec<String> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["c.node", "c.component"]);
    let got = rows(
        &ctx,
        "select * from (select unnest(c)
             from (select unnest(connected_components(a, b)) as c from edges))",
    )
    .await?;
    assert_eq!(got, expected_components());
    Ok(())
}

#[tokio::test]
async fn connected_components_same_result_for_any_partitioning() -> Result<()> {
    let mut results = Vec::new();
    for partitions in [1, 2, 3, 4, 8] {
        let ctx = context(partitions);
        edges(&ctx).await?;
        // The list value itself (order included) must not depend on the plan.
        let sql = "select connected_components(a, b) from edges";
        results.push(rows(&ctx, sql).await?);
        // The table has four partitions, so partial states are always built
        // and merged, whatever `target_partitions` says.
        let plan = format!("{:?}", rows(&ctx, &format!("explain {sql}")).await?);
        assert!(plan.contains("mode=Partial"), "{plan}");
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
    Ok(())
}

#[tokio::test]
async fn connected_components_per_group_and_on_empty_input() -> Result<()> {
    let ctx = context(4);
    edges(&ctx).await?;
    let got = rows(
        &ctx,
        "select g, count(*) as nodes, count(distinct c['component']) as components
         from (
           select g, unnest(cc) as c
           from (select substr(a, 1, 1) as g, connected_components(a, b) as cc
                 from edges group by substr(a, 1, 1))
         )
         group by g order by g",
    )
    .await?;
    let expected: Vec<Vec<Option<String>>> = [
        ("p", "4", "1"),
        ("q", "3", "1"),
        ("r", "2", "1"),
        ("s", "1", "1"),
    ]
    .iter()
    .map(|(a, b, c)| {
        vec![
            Some(a.to_string()),
            Some(b.to_string()),
            Some(c.to_string()),
        ]
    })
    .collect();
    assert_eq!(got, expected);

    let empty = rows(
        &ctx,
        "select count(*) from (select unnest(connected_components(a, b)) from edges where a = 'none')",
    )
    .await?;
    assert_eq!(empty, vec![vec![Some("0".to_string())]]);
    Ok(())
}

#[tokio::test]
async fn connected_components_accepts_integer_ids() -> Result<()> {
    let ctx = context(2);
    let got = rows(
        &ctx,
        "select c['node'], c['component'] from (
           select unnest(connected_components(a, b)) as c
           from (values (10, 9), (9, 100), (7, NULL)) t(a, b))",
    )
    .await?;
    let expected: Vec<Vec<Option<String>>> = [("10", "10"), ("100", "10"), ("7", "7"), ("9", "10")]
        .iter()
        .map(|(n, c)| vec![Some(n.to_string()), Some(c.to_string())])
        .collect();
    assert_eq!(got, expected);
    Ok(())
}
