//! End-to-end tests of column lineage (`parcours lineage --column`, `manifest.json`) and of the
//! PII audit (`parcours lineage --pii`, `parcours validate`), through the real binary, on the
//! `shop` fixture and the reference pipeline.

mod common;

use common::{fixture, reference_project};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("json")
}

/// The upstream dependencies of `model.column` in a manifest, as `table.column how` strings.
fn upstream(manifest: &serde_json::Value, model: &str, column: &str) -> Vec<String> {
    manifest["models"][model]["lineage"][column]
        .as_array()
        .unwrap_or_else(|| panic!("no lineage for {model}.{column}: {manifest}"))
        .iter()
        .map(|d| {
            format!(
                "{}.{} {}",
                d["table"].as_str().unwrap(),
                d["column"].as_str().unwrap(),
                d["how"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn manifest_holds_each_columns_lineage_read_from_the_plans() {
    let p = fixture("shop");
    p.write_shop_raw();
    let out = p.run(&["compile", "--date", "2026-11-21"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let m = json(&p.read_file("target/manifest.json"));

    // a hash of a source column, through a view
    let email = &m["models"]["stg_customers"]["lineage"]["email_sha256"][0];
    assert_eq!(email["table"], "customers");
    assert_eq!(email["column"], "email");
    assert_eq!(email["how"], "transform");
    let functions: Vec<&str> = email["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for f in ["sha256", "lower", "btrim", "encode"] {
        assert!(functions.contains(&f), "{functions:?}");
    }
    assert_eq!(email["protected_by"]["kind"], "hash");
    assert_eq!(email["protected_by"]["by"], "sha256");

    // passed through, with the join and group keys as filter-only inputs
    let up = upstream(&m, "dim_customer", "email_sha256");
    assert!(
        up.contains(&"stg_customers.email_sha256 passthrough".to_string()),
        "{up:?}"
    );
    assert!(
        up.contains(&"stg_orders.customer_id filter".to_string()),
        "{up:?}"
    );
    assert!(
        !up.iter().any(|u| u.starts_with("stg_orders.amount")),
        "{up:?}"
    );

    // an aggregate: count(o.order_id), protected (a count names nobody)
    let orders = &m["models"]["dim_customer"]["lineage"]["orders"];
    let agg = orders
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["column"] == "order_id")
        .expect("orders from order_id");
    assert_eq!(agg["how"], "aggregate");
    assert_eq!(agg["protected_by"]["by"], "count");

    // a where clause is a filter dependency of every column of the model
    let up = upstream(&m, "agg_daily_revenue", "revenue");
    assert!(
        up.contains(&"fct_orders.amount aggregate".to_string()),
        "{up:?}"
    );
    assert!(
        up.contains(&"fct_orders.status filter".to_string()),
        "{up:?}"
    );
    assert!(
        up.contains(&"fct_orders.order_date filter".to_string()),
        "{up:?}"
    );
    let up = upstream(&m, "agg_daily_revenue", "order_date");
    assert!(
        up.contains(&"fct_orders.order_date passthrough".to_string()),
        "{up:?}"
    );
    // a var in a filter reads no column: stg_orders' filter is on amount and status only
    let up = upstream(&m, "stg_orders", "order_id");
    assert!(
        up.contains(&"orders.order_id passthrough".to_string()),
        "{up:?}"
    );
    assert!(up.contains(&"orders.amount filter".to_string()), "{up:?}");
}

#[test]
fn lineage_column_prints_upstream_and_downstream() {
    let p = fixture("shop");
    // no data at all: lineage is planned from the declared source schemas
    let out = p.run(&["lineage", "--column", "stg_customers.email_sha256"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let text = out.stdout;
    assert!(
        text.starts_with("stg_customers.email_sha256\nupstream:\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "← customers.email (transform: btrim, encode, lower, sha256; hashed by sha256)"
        ),
        "{text}"
    );
    let down = text.split("downstream:").nth(1).unwrap();
    assert!(
        down.contains("→ dim_customer.email_sha256 (passthrough"),
        "{text}"
    );

    // from a source column: only downstream, followed through the models
    let out = p.run(&["lineage", "--column", "orders.amount"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .contains("  → stg_orders.amount (passthrough; filter)\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("  → stg_orders.order_id (filter)\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("    → fct_orders.amount (passthrough)\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("      → agg_daily_revenue.revenue (aggregate: sum)\n"),
        "{}",
        out.stdout
    );

    let out = p.run(&[
        "lineage",
        "--column",
        "agg_daily_revenue.revenue",
        "--format",
        "mermaid",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.starts_with("graph LR\n"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("fct_orders__amount -->|aggregate: sum| agg_daily_revenue__revenue"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("fct_orders__status -.->|filter| agg_daily_revenue__revenue"),
        "{}",
        out.stdout
    );

    let out = p.run(&[
        "lineage",
        "--column",
        "agg_daily_revenue.revenue",
        "--format",
        "dot",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.starts_with("digraph lineage {"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("\"stg_orders.amount\" -> \"fct_orders.amount\" [label=\"passthrough\"];"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("style=dashed"), "{}", out.stdout);

    // mistakes are usage errors with a suggestion
    let out = p.run(&["lineage", "--column", "dim_customer.emial_sha256"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("did you mean `email_sha256`"),
        "{}",
        out.stderr
    );
    let out = p.run(&["lineage", "--column", "dim_custmer.email_sha256"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("did you mean `dim_customer`"),
        "{}",
        out.stderr
    );
    let out = p.run(&["lineage", "--column", "dim_customer"]);
    assert_eq!(out.code, 2, "{}", out.all());
}

/// The shop fixture with the customers' e-mail declared personal data.
fn shop_with_pii() -> common::TestProject {
    let p = fixture("shop");
    let yaml = p.read_file("pipelines.yaml").replace(
        "      country: utf8\n",
        "      country: utf8\n    pii:\n      email: email\n",
    );
    p.write_file("pipelines.yaml", &yaml);
    p
}

#[test]
fn pii_audit_passes_hashes_and_refuses_a_raw_email() {
    let p = shop_with_pii();
    p.write_shop_raw();
    let out = p.run(&["lineage", "--pii"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("customers.email (email):"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("dim_customer.email_sha256"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("ok: hashed by sha256"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("0 unprotected"), "{}", out.stdout);
    let out = p.run(&["validate", "--date", "2026-11-21"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("PII audit: 1 declared columns"),
        "{}",
        out.stdout
    );

    // a published model that keeps the address in clear, through a view and a CTE
    p.write_file(
        "sql/marts/customer_contacts.sql",
        "with c as (select customer_id, lower(email) as contact from customers)\nselect customer_id, contact from c\n",
    );
    let out = p.run(&["validate", "--date", "2026-11-21"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("customers.email (email) reaches customer_contacts.contact through customers.email → customer_contacts.contact"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("sql/marts/customer_contacts.sql"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("allow_pii"), "{}", out.stderr);
    let out = p.run(&["lineage", "--pii"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stdout.contains("customer_contacts.contact") && out.stdout.contains("UNPROTECTED"),
        "{}",
        out.stdout
    );

    // a count of addresses is no address; a boolean test neither
    p.write_file(
        "sql/marts/customer_contacts.sql",
        "select customer_id, count(distinct email) as emails, bool_or(email is not null) as reachable from customers group by customer_id\n",
    );
    let out = p.run(&["validate", "--date", "2026-11-21"]);
    assert_eq!(out.code, 0, "{}", out.all());

    // hashed in one reference, raw in the other: the raw one leaks
    p.write_file(
        "sql/marts/customer_contacts.sql",
        "select customer_id, sha256_hex(email) || email as key from customers\n",
    );
    let out = p.run(&["validate", "--date", "2026-11-21"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("customer_contacts.key"),
        "{}",
        out.stderr
    );

    // the domain alone, declared free of personal data with a reason
    p.write_file(
        "sql/marts/customer_contacts.sql",
        "select customer_id, split_part(email, '@', 2) as domain from customers\n",
    );
    let out = p.run(&["validate", "--date", "2026-11-21"]);
    assert_eq!(out.code, 2, "{}", out.all());
    let yaml = p.read_file("pipelines.yaml").replace(
        "models:\n  defaults:",
        "models:\n  customer_contacts:\n    columns:\n      domain:\n        allow_pii: a mail provider's domain names nobody\n  defaults:",
    );
    p.write_file("pipelines.yaml", &yaml);
    let out = p.run(&["validate", "--date", "2026-11-21"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = p.run(&["lineage", "--pii"]);
    assert!(
        out.stdout
            .contains("allowed: a mail provider's domain names nobody"),
        "{}",
        out.stdout
    );

    // an allowance on a column the model does not return is a mistake, not a pass
    let yaml = p
        .read_file("pipelines.yaml")
        .replace("      domain:\n", "      domian:\n");
    p.write_file("pipelines.yaml", &yaml);
    let out = p.run(&["validate", "--date", "2026-11-21"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("returns no column `domian`"),
        "{}",
        out.stderr
    );
}

#[test]
fn pii_declarations_are_checked() {
    let p = fixture("shop");
    let yaml = p.read_file("pipelines.yaml");
    p.write_file(
        "pipelines.yaml",
        &yaml.replace(
            "      country: utf8\n",
            "      country: utf8\n    pii:\n      emial: email\n",
        ),
    );
    let out = p.run(&["lineage", "--pii"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("pipelines.yaml:")
            && out.stderr.contains("`emial`")
            && out.stderr.contains("did you mean `email`"),
        "{}",
        out.stderr
    );
    p.write_file(
        "pipelines.yaml",
        &yaml.replace(
            "      country: utf8\n",
            "      country: utf8\n    pii:\n      email: e-mail\n",
        ),
    );
    let out = p.run(&["lineage", "--pii"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("unknown variant `e-mail`"),
        "{}",
        out.stderr
    );
}

#[test]
fn reference_pipeline_declares_its_pii_and_passes_the_audit() {
    let p = reference_project();
    let out = p.run(&["lineage", "--pii"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("0 unprotected"), "{}", out.stdout);
    assert!(
        out.stdout.contains("crm_contacts.email (email):"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("dim_person.email_sha256"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("audience_export.email_sha256"),
        "{}",
        out.stdout
    );

    // a published model that keeps the raw e-mail of the newest CRM records
    p.write_file(
        "sql/marts/rpt_contact_emails.sql",
        "-- a leak, on purpose\nselect contact_id, trim(email) as email from stg_crm_contacts_latest\n",
    );
    let out = p.run(&["lineage", "--pii"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stdout.contains("rpt_contact_emails.email") && out.stdout.contains("UNPROTECTED"),
        "{}",
        out.stdout
    );
    // validate reads the sources' files: generate a small sample first
    p.generate_raw(3, 7);
    let out = p.run(&["validate", "--date", "2026-10-31"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains(
            "crm_contacts.email (email) reaches rpt_contact_emails.email through crm_contacts.email → stg_crm_contacts_latest.email → rpt_contact_emails.email"
        ),
        "{}",
        out.stderr
    );
    std::fs::remove_file(p.path().join("sql/marts/rpt_contact_emails.sql")).unwrap();
    let out = p.run(&["validate", "--date", "2026-10-31"]);
    assert_eq!(out.code, 0, "{}", out.all());
}
