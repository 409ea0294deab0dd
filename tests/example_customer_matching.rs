//! The example project `examples/customer_matching`: two customer lists of another shape than
//! the reference pipeline's (one name field, birth date, address; no e-mail or phone) linked
//! one-to-one with parcours's record-linkage functions. The test writes two lists drawn from
//! one synthetic population (typos, swapped names, day and month swapped, missing values,
//! people who moved, and namesakes who are other people), runs the project, and scores the
//! links against the truth it planted.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use common::TestProject;

const FIRST: &[&str] = &[
    "Jean", "Marie", "Pierre", "Sophie", "Luc", "Claire", "Hugo", "Emma", "Louis", "Alice", "Paul",
    "Julie", "Marc", "Léa", "Anne", "Thomas", "Chloé", "Nicolas", "Camille", "Éric",
];
const LAST: &[&str] = &[
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefebvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "Andre",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Legrand",
];
const STREETS: &[&str] = &[
    "rue de la Paix",
    "avenue Foch",
    "boulevard Voltaire",
    "rue Nationale",
    "place Bellecour",
    "chemin des Vignes",
    "rue du Moulin",
    "allée des Tilleuls",
];

/// xorshift64*: a few lines, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

struct Person {
    first: &'static str,
    last: &'static str,
    birth: i32,
    street_no: u64,
    street: &'static str,
    postal: String,
}

fn person(r: &mut Rng) -> Person {
    Person {
        first: FIRST[r.below(FIRST.len() as u64) as usize],
        last: LAST[r.below(LAST.len() as u64) as usize],
        birth: -7000 + r.below(20_000) as i32,
        street_no: 1 + r.below(120),
        street: STREETS[r.below(STREETS.len() as u64) as usize],
        postal: format!("{:05}", 10_000 + r.below(40) * 1000),
    }
}

/// A typo: two neighbouring letters swapped, or one dropped.
fn typo(s: &str, r: &mut Rng) -> String {
    let mut c: Vec<char> = s.chars().collect();
    if c.len() < 4 {
        return s.to_string();
    }
    let i = 1 + r.below(c.len() as u64 - 2) as usize;
    if r.chance(0.5) {
        c.swap(i, i + 1);
    } else {
        c.remove(i);
    }
    c.into_iter().collect()
}

/// Day and month swapped, when the day can be a month.
fn transposed(days: i32) -> i32 {
    use chrono::Datelike;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    let d = epoch + chrono::Duration::days(i64::from(days));
    match chrono::NaiveDate::from_ymd_opt(d.year(), d.day(), d.month()) {
        Some(t) if d.day() <= 12 && d.day() != d.month() => (t - epoch).num_days() as i32,
        _ => days,
    }
}

type Row = (
    String,
    &'static str,
    Option<String>,
    Option<i32>,
    Option<String>,
    Option<String>,
);

/// One list's record of `p`, as the list's system typed it.
fn record(id: String, list: &'static str, p: &Person, r: &mut Rng, noisy: bool) -> Row {
    let (mut first, mut last) = (p.first.to_string(), p.last.to_string());
    if noisy && r.chance(0.15) {
        last = typo(&last, r);
    }
    if noisy && r.chance(0.05) {
        first = typo(&first, r);
    }
    let name = if noisy && r.chance(0.2) {
        format!("{} {}", last.to_uppercase(), first)
    } else {
        format!("{first} {last}")
    };
    let mut birth = Some(p.birth);
    if noisy && r.chance(0.05) {
        birth = Some(transposed(p.birth));
    }
    if noisy && r.chance(0.1) {
        birth = None;
    }
    let (mut address, mut postal) = (
        Some(format!("{} {}", p.street_no, p.street)),
        Some(p.postal.clone()),
    );
    if noisy && r.chance(0.1) {
        // moved
        address = Some(format!(
            "{} {}",
            1 + r.below(120),
            STREETS[r.below(8) as usize]
        ));
        postal = Some(format!("{:05}", 10_000 + r.below(40) * 1000));
    } else if noisy && r.chance(0.15) {
        address = None;
        postal = None;
    } else if noisy && r.chance(0.1) {
        address = address.map(|a| a.replace("rue", "r.").replace("avenue", "av."));
    }
    (id, list, Some(name), birth, address, postal)
}

fn write_customers(p: &TestProject, rows: &[Row]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("list", DataType::Utf8, false),
        Field::new("full_name", DataType::Utf8, true),
        Field::new("birth_date", DataType::Date32, true),
        Field::new("address", DataType::Utf8, true),
        Field::new("postal_code", DataType::Utf8, true),
    ]));
    let s = |f: &dyn Fn(&Row) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let cols: Vec<ArrayRef> = vec![
        s(&|r| Some(r.0.clone())),
        s(&|r| Some(r.1.to_string())),
        s(&|r| r.2.clone()),
        Arc::new(rows.iter().map(|r| r.3).collect::<Date32Array>()),
        s(&|r| r.4.clone()),
        s(&|r| r.5.clone()),
    ];
    let batch = RecordBatch::try_new(schema, cols).expect("batch");
    p.write_parquet("raw/customers/part-0.parquet", &batch);
}

fn example_project() -> TestProject {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/customer_matching");
    for rel in [
        "pipelines.yaml",
        "sql/stg_customers.sql",
        "sql/customer_pairs.sql",
        "sql/match_parameters.sql",
        "sql/customer_links.sql",
    ] {
        let to = dir.path().join(rel);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(src.join(rel), to).expect("copy");
    }
    TestProject { dir }
}

#[test]
fn links_two_lists_one_to_one_without_labels() {
    let p = example_project();
    let mut r = Rng(0x5EED_1234_ABCD_0001);
    // 600 persons: list a holds 500 of them, list b 350 of those (re-typed) and 100 others
    let persons: Vec<Person> = (0..600).map(|_| person(&mut r)).collect();
    let mut rows = Vec::new();
    let mut truth = BTreeSet::new();
    for (i, q) in persons.iter().enumerate().take(500) {
        rows.push(record(format!("A{i}"), "a", q, &mut r, false));
    }
    for (i, q) in persons.iter().enumerate().skip(150) {
        rows.push(record(format!("B{i}"), "b", q, &mut r, true));
        if i < 500 {
            truth.insert((format!("A{i}"), format!("B{i}")));
        }
    }
    write_customers(&p, &rows);
    let out = p.run(&["run"]);
    assert_eq!(out.code, 0, "{}", out.all());

    let fit = p.query_text(
        "select fit['converged'] as converged, fit['lambda'] > 0 as learnt from match_parameters",
    );
    assert!(fit.contains("| true      | true   |"), "{fit}");
    let links: Vec<(String, String)> = p
        .query_rows("select left_id, right_id from customer_links")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    // link-only and one-to-one: a record of a to one of b, each at most once
    let mut left = BTreeMap::new();
    let mut right = BTreeMap::new();
    for (a, b) in &links {
        assert!(a.starts_with('A') && b.starts_with('B'), "{a} {b}");
        *left.entry(a).or_insert(0) += 1;
        *right.entry(b).or_insert(0) += 1;
    }
    assert!(left.values().chain(right.values()).all(|n| *n == 1));
    let correct = links.iter().filter(|l| truth.contains(*l)).count();
    let precision = correct as f64 / links.len().max(1) as f64;
    let recall = correct as f64 / truth.len() as f64;
    assert!(
        precision >= 0.97 && recall >= 0.9,
        "precision {precision:.4}, recall {recall:.4} ({} links, {} true)",
        links.len(),
        truth.len()
    );
}
