//! `parcours docs` end to end: the reference pipeline runs two nights on generated data, the
//! second with `--docs`, and the site it writes is checked twice: its embedded data (graph
//! laid out left to right, the run's timeline, trends over both nights, every reference chart
//! drawn, a chart with a wrong column reported as not available) and its text (no raw e-mail,
//! phone or name of the generated exports appears in it); then `tests/site/check_site.py`
//! loads it from a file:// URL in headless Chromium and checks the page a reader sees: no
//! console error, no request, the graph's nodes, the charts' marks, a click on a node opening
//! its model page; it saves screenshots under the cargo target's temp folder.
//!
//! The Python comes from `PARCOURS_BROWSER_PYTHON`, which `scripts/test.sh` points at the
//! `.venv-browser` it installs Selenium into (Chromium and chromedriver from Debian).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use common::reference_project;

fn python() -> PathBuf {
    let python = std::env::var_os("PARCOURS_BROWSER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-browser/bin/python")
        });
    assert!(
        python.exists(),
        "no Python with Selenium at {}; run scripts/test.sh (it installs Chromium, chromedriver and Selenium)",
        python.display()
    );
    python
}

/// The JSON the page is drawn from.
fn site_data(html: &str) -> serde_json::Value {
    let start =
        html.find("id=\"site-data\">").expect("a site-data script") + "id=\"site-data\">".len();
    let end = start + html[start..].find("</script>").expect("its end");
    serde_json::from_str(&html[start..end]).expect("site data is JSON")
}

/// Every text value of `columns` in the Parquet files under `dir`.
fn raw_values(dir: &Path, columns: &[&str]) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("raw folder") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "parquet") {
                continue;
            }
            let file = std::fs::File::open(&p).expect("open");
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .expect("parquet")
                    .build()
                    .expect("reader");
            for batch in reader {
                let batch = batch.expect("batch");
                let cols: Vec<Vec<Option<String>>> = columns
                    .iter()
                    .map(|c| {
                        let a = batch.column_by_name(c).expect("raw column");
                        let a = arrow::compute::cast(a, &DataType::Utf8).expect("cast");
                        let a = a.as_string::<i32>();
                        (0..a.len())
                            .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
                            .collect()
                    })
                    .collect();
                for r in 0..batch.num_rows() {
                    rows.push(cols.iter().map(|c| c[r].clone()).collect());
                }
            }
        }
    }
    rows
}

/// Raw personal values of the generated exports: e-mails, phones and full names.
fn personal_values(raw: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut keep = |v: &Option<String>| {
        if let Some(v) = v {
            let v = v.trim();
            // short values ("FR", "06") are not anyone's
            if v.len() >= 8 {
                out.insert(v.to_lowercase());
            }
        }
    };
    for row in raw_values(
        &raw.join("crm_contacts"),
        &["email", "phone", "first_name", "last_name"],
    ) {
        keep(&row[0]);
        keep(&row[1]);
        if let (Some(f), Some(l)) = (&row[2], &row[3]) {
            keep(&Some(format!("{} {}", f.trim(), l.trim())));
        }
    }
    for row in raw_values(&raw.join("orders"), &["email"]) {
        keep(&row[0]);
    }
    for row in raw_values(&raw.join("pos_transactions"), &["receipt_email", "phone"]) {
        keep(&row[0]);
        keep(&row[1]);
    }
    out
}

/// Where `needle` occurs in `hay` as a whole value: not inside a longer word or number (a
/// junk phone `0000000000` is not in the float `4.938000000000001`).
fn find_token(hay: &str, needle: &str) -> Option<usize> {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
    hay.match_indices(needle).map(|(i, _)| i).find(|&i| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        let edge = |c: Option<char>, inner: Option<char>| !(word(c) && word(inner));
        edge(before, needle.chars().next()) && edge(after, needle.chars().next_back())
    })
}

#[test]
fn the_site_shows_the_project_the_run_and_the_answers_in_a_real_browser() {
    let p = reference_project();
    // a chart whose column does not exist: a note on the page, not a failed command
    let mut config = p.read_file("pipelines.yaml");
    config.push_str("    - name: broken\n      title: A chart over a column that does not exist\n      table: rpt_attribution_channel\n      kind: bar\n      x: channel\n      y: no_such_column\n");
    p.write_file("pipelines.yaml", &config);
    p.generate_raw(14, 7);
    let out = p.run(&["run", "--date", "2026-10-30"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = p.run(&["run", "--date", "2026-10-31", "--docs"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let index = p.path().join("target/site/index.html");
    let html = std::fs::read_to_string(&index).expect("run --docs wrote the site");
    assert!(
        html.len() < 3_000_000,
        "the site is {} bytes: too heavy",
        html.len()
    );
    // no request leaves the page: no external script, style, font or image
    for needle in ["src=\"http", "href=\"http", "url(http", "@import", "<link "] {
        assert!(!html.contains(needle), "the site references `{needle}`");
    }

    let data = site_data(&html);
    let nodes = data["nodes"].as_array().unwrap();
    let column = |id: &str| {
        nodes
            .iter()
            .find(|n| n["id"] == id)
            .map(|n| n["column"].as_u64().unwrap())
            .unwrap()
    };
    for e in data["edges"].as_array().unwrap() {
        let (a, b) = (e["from"].as_str().unwrap(), e["to"].as_str().unwrap());
        assert!(
            column(a) < column(b),
            "edge {a} -> {b} does not point right"
        );
    }
    assert!(
        nodes
            .iter()
            .filter(|n| n["kind"] == "source")
            .all(|n| n["column"] == 0)
    );
    assert!(
        nodes
            .iter()
            .filter(|n| n["kind"] == "model")
            .all(|n| n["status"] == "ok"),
        "every model ran ok"
    );
    let run = &data["run"];
    assert_eq!(run["run_date"], "2026-10-31");
    assert_eq!(run["exit_code"], 0);
    let results = run["models"].as_array().unwrap().len();
    assert_eq!(run["gantt"].as_array().unwrap().len(), results);
    assert!(!run["critical_path"].as_array().unwrap().is_empty());
    let history = run["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "both nights are kept in the warehouse");
    assert_eq!(history[0]["run_date"], "2026-10-30");
    let bridge = nodes.iter().find(|n| n["id"] == "bridge_identity").unwrap();
    assert_eq!(bridge["trend"].as_array().unwrap().len(), 2);
    // every model that wrote rows both nights is compared with the first night, except the
    // windowed ones, whose first night was a full build and second a window
    for m in run["models"].as_array().unwrap() {
        let node = nodes.iter().find(|n| n["id"] == m["model"]).unwrap();
        if m["rows"].is_u64() && node["windowed"] == false {
            assert!(m["previous_rows"].is_u64(), "{m}");
        }
    }

    let charts = data["charts"].as_array().unwrap();
    for c in charts {
        let name = c["name"].as_str().unwrap();
        if name == "broken" {
            let why = c["unavailable"].as_str().unwrap();
            assert!(why.contains("no column `no_such_column`"), "{why}");
        } else {
            assert!(
                c["unavailable"].is_null(),
                "chart {name} not drawn: {}",
                c["unavailable"]
            );
            assert!(!c["categories"].as_array().unwrap().is_empty(), "{name}");
        }
    }
    assert_eq!(charts.len(), 13);

    // no personal data on any page
    let lower = html.to_lowercase();
    let personal = personal_values(&p.path().join("data/raw"));
    assert!(personal.len() > 100, "{} raw values read", personal.len());
    // The project's own text (its SQL, config and tests) may quote a sample value, as a comment
    // on a mistyped address does, or the generator's junk placeholders: those are the author's
    // words, shown as SQL on the model pages, not a person's data.
    let mut own = String::new();
    for folder in ["sql", "data_tests", "unit_tests"] {
        let mut stack = vec![p.path().join(folder)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                    own.push_str(&text.to_lowercase());
                }
            }
        }
    }
    own.push_str(&p.read_file("pipelines.yaml").to_lowercase());
    let leaked: Vec<String> = personal
        .iter()
        .filter(|v| !own.contains(v.as_str()))
        .filter_map(|v| {
            let at = find_token(&lower, v)?;
            let from = lower.floor_char_boundary(at.saturating_sub(120));
            let to = lower.ceil_char_boundary((at + v.len() + 60).min(lower.len()));
            Some(format!("{v} in …{}…", &html[from..to]))
        })
        .collect();
    assert!(
        leaked.is_empty(),
        "raw personal values in the site: {leaked:#?}"
    );

    // the page itself, in Chromium
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("site-shots");
    let _ = std::fs::remove_dir_all(&shots);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/site/check_site.py");
    let o = Command::new(python())
        .arg(script)
        .arg(&index)
        .arg(&shots)
        .output()
        .expect("run check_site.py");
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&report).expect("a JSON report");
    assert_eq!(report["nodes_drawn"], nodes.len());
    for c in charts.iter().filter(|c| c["unavailable"].is_null()) {
        let marks = report["charts"][c["name"].as_str().unwrap()]
            .as_u64()
            .unwrap();
        assert!(marks > 0, "{}", c["name"]);
    }
    for shot in ["1-graph.png", "3-model.png", "4-run.png", "5-charts.png"] {
        assert!(shots.join(shot).is_file(), "no screenshot {shot}");
    }
}

#[test]
fn docs_before_any_run_writes_the_project_pages_and_says_what_is_missing() {
    let p = reference_project();
    let out = p.run(&["docs"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let index = p.path().join("target/site/index.html");
    assert_eq!(out.stdout.trim(), index.display().to_string());
    let data = site_data(&std::fs::read_to_string(&index).unwrap());
    assert!(data["run"].is_null());
    assert!(
        data["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("run_results.json")),
        "{}",
        data["notes"]
    );
    let nodes = data["nodes"].as_array().unwrap();
    assert!(
        nodes
            .iter()
            .filter(|n| n["kind"] == "model")
            .all(|n| n["status"] == "not_run")
    );
    let fs = nodes
        .iter()
        .find(|n| n["id"] == "rpt_identity_fs_parameters")
        .unwrap();
    assert!(
        fs["template"]
            .as_str()
            .unwrap()
            .contains("fellegi_sunter_em(")
    );
    for c in data["charts"].as_array().unwrap() {
        let why = c["unavailable"].as_str().unwrap();
        assert!(why.contains("has not been published"), "{why}");
    }

    // a mistake in a chart spec is a configuration error with its line, exit code 2
    let mut config = p.read_file("pipelines.yaml");
    config.push_str("    - name: pie\n      title: Pie\n      table: rpt_attribution_channel\n      kind: pie\n      x: channel\n      y: share\n");
    let line = config.lines().count() - 2;
    p.write_file("pipelines.yaml", &config);
    let out = p.run(&["docs"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains(&format!("pipelines.yaml:{line}")) && out.stderr.contains("pie"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_privacy_check_finds_a_value_and_only_a_whole_one() {
    let page = r#"{"sample":"| jean.martin@example.fr | 06 12 34 56 78 |","n":4.938000000000001}"#;
    assert!(find_token(page, "jean.martin@example.fr").is_some());
    assert!(find_token(page, "06 12 34 56 78").is_some());
    assert!(find_token(page, "0000000000").is_none());
    assert!(find_token(page, "martin@example.f").is_none());
}
