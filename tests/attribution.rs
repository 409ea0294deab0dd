//! Attribution (sql/attribution, the attribution marts) end to end: the repository's own project
//! runs through the real binary on hand-made raw exports of every source, small enough that
//! every credit below is derived by hand.
//!
//! The people (run date 2026-10-31, reporting window 2026-10-02..31, 30-day attribution window):
//! - Alice: e-mail open (10-10), paid-search click (10-12) whose tracked landing one second
//!   later is the same touch, a bot hit on her cookie, a direct visit (10-14 09:00), then an
//!   online order (10-14 09:10). Display impressions (10-11, 10-13) count only when
//!   impressions are switched on.
//! - Bob: two e-mail opens at the same instant, then a registered third-party purchase.
//! - Carol: opens 10 days before the window (09-05), inside it (10-15) and after her order
//!   (10-20, order; 10-25, open): one touch counts.
//! - Dave: a completed order without any touch (plus a cancelled and a returned one).
//! - Léa: an e-mail open, then a store purchase found by her loyalty card, partly refunded.
//! - Rémy: an e-mail open, then a store purchase found by its e-receipt e-mail.
//! - Eve: a direct visit in which she signs up (a lead).
//! - Nina: a paid-search click and no conversion; Zoé: erased (suppression list).
//! - One cash ticket nobody can be identified on.
//!
//! Journeys of the window: Alice e-mail → paid_search → direct, Bob e-mail → e-mail, Carol,
//! Léa, Rémy e-mail, Eve direct (all converting); Carol's early open and Nina's click do not
//! convert.

mod common;

use std::collections::BTreeMap;

use common::TestProject;
use common::raw::V::{B, D, I, M, N, S, T};
use common::raw::{sha, write_raw};

const RUN_DATE: &str = "2026-10-31";

fn crm_contacts(p: &TestProject) {
    let contact = |id, system, email, first, last, card| {
        vec![
            S(id),
            S(system),
            S(email),
            N,
            S(first),
            S(last),
            N,
            N,
            N,
            N,
            S("FR"),
            card,
            B(true),
            T("2026-01-01T00:00:00Z"),
            T("2026-01-01T00:00:00Z"),
            T("2026-01-01T00:00:00Z"),
        ]
    };
    let rows = vec![
        contact("CRM-A", "crm", "alice@example.com", "Alice", "Martin", N),
        contact("CRM-B", "crm", "bob@example.com", "Bob", "Durand", N),
        contact("CRM-C", "crm", "carol@example.com", "Carol", "Petit", N),
        contact("CRM-D", "crm", "dave@example.com", "Dave", "Moreau", N),
        contact(
            "LOY-L",
            "loyalty",
            "lea@example.com",
            "Léa",
            "Fournier",
            S("LC-1"),
        ),
        contact("CRM-R", "crm", "remy@example.com", "Rémy", "Girard", N),
        contact("CRM-E", "crm", "eve@example.com", "Eve", "Bonnet", N),
        contact("CRM-N", "crm", "nina@example.com", "Nina", "Lambert", N),
        contact("CRM-Z", "crm", "zoe@example.com", "Zoé", "Fontaine", N),
    ];
    write_raw(p, "crm_contacts", Some(RUN_DATE), &rows);
}

fn web_events(p: &TestProject) {
    let human = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36";
    let bot = "Mozilla/5.0 (compatible; Googlebot/2.1)";
    let (alice, eve, nina) = (
        sha("alice@example.com"),
        sha("eve@example.com"),
        sha("nina@example.com"),
    );
    let google = S("https://www.google.com/");
    let event = |id, ts, cookie, session, email, kind, referrer, utm, order, agent| {
        let (src, med, camp) = match utm {
            Some((s, m, c)) => (S(s), S(m), S(c)),
            None => (N, N, N),
        };
        vec![
            S(id),
            T(ts),
            S(cookie),
            S(session),
            N,
            email,
            S(kind),
            S("https://www.maison-parcours.fr/"),
            referrer,
            src,
            med,
            camp,
            S("desktop"),
            order,
            N,
            N,
            S(agent),
        ]
    };
    let rows = vec![
        // Alice's paid-search click lands one second later: one touch with the click.
        event(
            "ev-a1",
            "2026-10-12T10:00:01Z",
            "ck-a",
            "s-a1",
            N,
            "page_view",
            google,
            Some(("google", "cpc", "cmp-s")),
            N,
            human,
        ),
        // A bot on Alice's cookie, from a search engine: never a touch.
        event(
            "ev-bot",
            "2026-10-13T03:00:00Z",
            "ck-a",
            "s-bot",
            N,
            "page_view",
            google,
            None,
            N,
            bot,
        ),
        // Plain HTTP clients replaying her tracked link: bots too (bot_pattern), never touches.
        event(
            "ev-bot-py",
            "2026-10-13T04:00:00Z",
            "ck-a",
            "s-bot-py",
            N,
            "page_view",
            N,
            Some(("google", "cpc", "cmp-s")),
            N,
            "python-requests/2.31.0",
        ),
        event(
            "ev-bot-curl",
            "2026-10-13T05:00:00Z",
            "ck-a",
            "s-bot-curl",
            N,
            "page_view",
            N,
            Some(("google", "cpc", "cmp-s")),
            N,
            "curl/8.4.0",
        ),
        // Alice's direct, logged-in visit in which she orders.
        event(
            "ev-a2",
            "2026-10-14T09:00:00Z",
            "ck-a",
            "s-a3",
            S(&alice),
            "page_view",
            N,
            None,
            N,
            human,
        ),
        event(
            "ev-a3",
            "2026-10-14T09:10:00Z",
            "ck-a",
            "s-a3",
            N,
            "purchase",
            N,
            None,
            S("o-a"),
            human,
        ),
        // Eve lands directly and signs up: a lead.
        event(
            "ev-e1",
            "2026-10-25T14:00:00Z",
            "ck-e",
            "s-e",
            N,
            "page_view",
            N,
            None,
            N,
            human,
        ),
        event(
            "ev-e2",
            "2026-10-25T14:01:00Z",
            "ck-e",
            "s-e",
            S(&eve),
            "signup",
            N,
            None,
            N,
            human,
        ),
        // Nina logged in long before the window: it only ties her cookie to her.
        event(
            "ev-n1",
            "2026-07-20T12:00:00Z",
            "ck-n",
            "s-n",
            S(&nina),
            "page_view",
            N,
            None,
            N,
            human,
        ),
    ];
    write_raw(p, "web_events", Some(RUN_DATE), &rows);
}

fn ad_interactions(p: &TestProject) {
    let hash = |who: &str| sha(&format!("{who}@example.com"));
    let (a, b, c, l, r, z) = (
        hash("alice"),
        hash("bob"),
        hash("carol"),
        hash("lea"),
        hash("remy"),
        hash("zoe"),
    );
    let open = |id, ts, campaign, email| {
        vec![
            S(id),
            T(ts),
            S("email"),
            S(campaign),
            S("open"),
            N,
            S(email),
            N,
            I(30),
        ]
    };
    let by_cookie = |id, ts, channel, campaign, kind, cookie| {
        vec![
            S(id),
            T(ts),
            S(channel),
            S(campaign),
            S(kind),
            S(cookie),
            N,
            N,
            N,
        ]
    };
    let rows = vec![
        // The send of Alice's e-mail (an impression), then her open.
        vec![
            S("a-send"),
            T("2026-10-10T09:59:00Z"),
            S("email"),
            S("cmp-e"),
            S("impression"),
            N,
            S(&a),
            N,
            N,
        ],
        open("a-open", "2026-10-10T10:00:00Z", "cmp-e", &a),
        by_cookie(
            "a-imp-old",
            "2026-10-11T10:00:00Z",
            "display",
            "cmp-d",
            "impression",
            "ck-a",
        ),
        by_cookie(
            "a-click",
            "2026-10-12T10:00:00Z",
            "paid_search",
            "cmp-s",
            "click",
            "ck-a",
        ),
        by_cookie(
            "a-imp",
            "2026-10-13T20:00:00Z",
            "display",
            "cmp-d",
            "impression",
            "ck-a",
        ),
        // Bob: two opens at the same instant (different campaigns, so not one touch).
        open("b-1", "2026-10-20T08:00:00Z", "cmp-e1", &b),
        open("b-2", "2026-10-20T08:00:00Z", "cmp-e2", &b),
        open("c-1", "2026-09-05T08:00:00Z", "cmp-e", &c),
        open("c-2", "2026-10-15T08:00:00Z", "cmp-e", &c),
        open("c-3", "2026-10-25T08:00:00Z", "cmp-e", &c),
        open("l-1", "2026-10-18T08:00:00Z", "cmp-e", &l),
        open("r-1", "2026-10-10T08:00:00Z", "cmp-e", &r),
        by_cookie(
            "n-1",
            "2026-09-10T08:00:00Z",
            "paid_search",
            "cmp-s",
            "click",
            "ck-n",
        ),
        open("z-1", "2026-10-15T08:00:00Z", "cmp-e", &z),
        // Nina's week of 10-19: two views of a social ad, the platform reporting no dwell time
        // (null, then 0), and nothing else
        by_cookie(
            "n-v1",
            "2026-10-21T08:00:00Z",
            "paid_social",
            "cmp-p",
            "view",
            "ck-n",
        ),
        {
            let mut v = by_cookie(
                "n-v2",
                "2026-10-22T08:00:00Z",
                "paid_social",
                "cmp-p",
                "view",
                "ck-n",
            );
            v[8] = I(0);
            v
        },
    ];
    write_raw(p, "ad_interactions", Some(RUN_DATE), &rows);
}

fn orders(p: &TestProject) {
    let order = |id, ts, email, cookie, cents, status| {
        vec![
            S(id),
            T(ts),
            N,
            S(email),
            cookie,
            M(cents),
            S("EUR"),
            S(status),
        ]
    };
    let rows = vec![
        order(
            "o-a",
            "2026-10-14T09:10:00Z",
            "Alice@Example.com",
            S("ck-a"),
            10000,
            "completed",
        ),
        order(
            "o-c",
            "2026-10-20T12:00:00Z",
            "carol@example.com",
            N,
            5000,
            "completed",
        ),
        order(
            "o-d",
            "2026-10-05T12:00:00Z",
            "dave@example.com",
            N,
            3000,
            "completed",
        ),
        order(
            "o-d2",
            "2026-10-06T12:00:00Z",
            "dave@example.com",
            N,
            2000,
            "cancelled",
        ),
        order(
            "o-d3",
            "2026-10-07T12:00:00Z",
            "dave@example.com",
            N,
            1500,
            "returned",
        ),
        order(
            "o-z",
            "2026-10-16T12:00:00Z",
            "zoe@example.com",
            N,
            7000,
            "completed",
        ),
    ];
    write_raw(p, "orders", Some(RUN_DATE), &rows);
}

fn pos_transactions(p: &TestProject) {
    let rows = vec![
        // Léa's card; 20 € of it refunded three days later. The tickets' times span whole days
        // (first at midnight, last just before): over a range of times that does not,
        // DataFusion 55 estimates a filter on their day above 100 % and fails ("Selectivity is
        // out of limit"); real exports always span whole days.
        vec![
            S("t-l"),
            T("2026-10-19T11:00:00Z"),
            S("ST-001"),
            S("LC-1"),
            N,
            N,
            M(8000),
            S("EUR"),
        ],
        vec![
            S("t-l-refund"),
            T("2026-10-22T23:59:59.999999Z"),
            S("ST-001"),
            S("LC-1"),
            N,
            N,
            M(-2000),
            S("EUR"),
        ],
        // Rémy asked for an e-receipt (typed with capitals and spaces).
        vec![
            S("t-r"),
            T("2026-10-11T15:00:00Z"),
            S("ST-002"),
            N,
            S(" Remy@Example.com "),
            N,
            M(4000),
            S("EUR"),
        ],
        // Cash, no card, no e-mail: a conversion of nobody we know, with no touch.
        vec![
            S("t-cash"),
            T("2026-10-11T00:00:00Z"),
            S("ST-002"),
            N,
            N,
            N,
            M(2500),
            S("EUR"),
        ],
    ];
    write_raw(p, "pos_transactions", Some(RUN_DATE), &rows);
}

fn purchase_registrations(p: &TestProject) {
    let rows = vec![vec![
        S("r-b"),
        T("2026-10-22T18:00:00Z"),
        S("bob@example.com"),
        D("2026-10-21"),
        S("Fnac"),
        S("SKU-00001"),
        M(20000),
        S("warranty_extension"),
    ]];
    write_raw(p, "purchase_registrations", Some(RUN_DATE), &rows);
}

fn campaign_spend(p: &TestProject) {
    let spend = |date, channel, campaign, cents, impressions, clicks| {
        vec![
            D(date),
            S(channel),
            S(campaign),
            S("test"),
            M(cents),
            S("EUR"),
            I(impressions),
            I(clicks),
        ]
    };
    let rows = vec![
        // Paid search on the day of Alice's order: clicks not reported (0), 12 € spent.
        spend("2026-10-14", "paid_search", "cmp-s", 1200, 100, 0),
        // A campaign that converted nobody.
        spend("2026-10-14", "paid_search", "cmp-x", 500, 50, 5),
        // E-mail costs nothing.
        spend("2026-10-14", "email", "cmp-e", 0, 10, 0),
        // The organic pseudo-campaigns, named by the contract's spend channels.
        spend("2026-10-14", "seo", "seo", 0, 0, 3),
        spend("2026-10-14", " SOCIAL_ORGANIC ", "social_organic", 0, 0, 1),
    ];
    write_raw(p, "campaign_spend", Some(RUN_DATE), &rows);
}

fn suppression_list(p: &TestProject) {
    let zoe = sha("zoe@example.com");
    let rows = vec![vec![S("email_sha256"), S(&zoe), T("2026-10-30T00:00:00Z")]];
    write_raw(p, "suppression_list", None, &rows);
}

fn project() -> TestProject {
    let p = common::reference_project();
    crm_contacts(&p);
    web_events(&p);
    ad_interactions(&p);
    orders(&p);
    pos_transactions(&p);
    purchase_registrations(&p);
    campaign_spend(&p);
    suppression_list(&p);
    p
}

fn run(p: &TestProject, extra: &[&str]) {
    let raw = format!("raw={}", p.path().join("raw").display());
    let wh = format!("warehouse={}", p.path().join("warehouse").display());
    let mut args = vec![
        "run",
        "--date",
        RUN_DATE,
        "--storage",
        &raw,
        "--storage",
        &wh,
    ];
    args.extend_from_slice(extra);
    let out = p.run(&args);
    assert_eq!(out.code, 0, "{}", out.all());
    let results: serde_json::Value =
        serde_json::from_str(&p.read_file("target/run_results.json")).expect("json");
    let singular = results["singular_tests"]
        .as_array()
        .expect("singular tests");
    for name in [
        "attribution_credits_sum_to_one",
        "attribution_revenue_matches_conversions",
        "attribution_no_touch_after_conversion",
        "attribution_touches_within_window",
    ] {
        assert!(
            singular
                .iter()
                .any(|t| t["name"].as_str().is_some_and(|n| n.starts_with(name))
                    && t["status"] == "pass"),
            "{name}: {singular:?}"
        );
    }
}

fn credits(p: &TestProject, conversion: &str) -> BTreeMap<String, Vec<(String, String, f64)>> {
    let mut by_model: BTreeMap<String, Vec<(String, String, f64)>> = BTreeMap::new();
    for r in p.query_rows(&format!(
        "select model, touchpoint_id, channel, credit from fct_attribution
             where conversion_id = '{conversion}' order by model, touchpoint_id"
    )) {
        by_model.entry(r[0].clone()).or_default().push((
            r[1].clone(),
            r[2].clone(),
            r[3].parse().expect("credit"),
        ));
    }
    by_model
}

fn assert_credits(
    got: &BTreeMap<String, Vec<(String, String, f64)>>,
    model: &str,
    expected: &[(&str, f64)],
) {
    let list = got
        .get(model)
        .unwrap_or_else(|| panic!("no {model} rows in {got:?}"));
    let actual: Vec<(&str, f64)> = list.iter().map(|(t, _, c)| (t.as_str(), *c)).collect();
    assert_eq!(actual.len(), expected.len(), "{model}: {actual:?}");
    for ((t, c), (et, ec)) in actual.iter().zip(expected) {
        assert_eq!(t, et, "{model}: {actual:?}");
        assert!((c - ec).abs() < 1e-9, "{model}: {actual:?} vs {expected:?}");
    }
}

const MODELS: [&str; 9] = [
    "first_touch",
    "last_touch",
    "last_non_direct",
    "linear",
    "time_decay",
    "position_based",
    "markov",
    "shapley",
    "data_driven",
];

#[test]
fn attribution_models_on_hand_made_journeys() {
    let p = project();
    run(&p, &[]);

    // Touches: Alice's click and its tracked landing are one touch; the bots (a crawler and two
    // plain HTTP clients), the e-mail send and the impressions are none; Zoé is gone.
    let touches: Vec<String> = p
        .query_rows("select touchpoint_id from fct_touchpoint order by 1")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(
        touches,
        [
            "ad:a-click",
            "ad:a-open",
            "ad:b-1",
            "ad:b-2",
            "ad:c-1",
            "ad:c-2",
            "ad:c-3",
            "ad:l-1",
            "ad:n-1",
            "ad:n-v1",
            "ad:n-v2",
            "ad:r-1",
            "web:s-a3",
            "web:s-e",
        ],
        "{touches:?}"
    );
    assert_eq!(
        p.query_rows(
            "select channel, campaign_id, source from fct_touchpoint
             where touchpoint_id in ('ad:a-click', 'web:s-a3') order by touchpoint_id"
        ),
        [["paid_search", "cmp-s", "ad"], ["direct", "", "web"]]
    );

    // Conversions: types, revenue net of refunds, offline flags; no cancelled, returned or
    // erased person's order.
    assert_eq!(
        p.query_rows(
            "select conversion_id, conversion_type, cast(revenue as varchar), is_offline,
                    cast(conversion_ts as varchar)
             from fct_conversion order by conversion_id"
        ),
        [
            ["ev-e2", "lead", "0.00", "false", "2026-10-25T14:01:00Z"],
            [
                "o-a",
                "online_order",
                "100.00",
                "false",
                "2026-10-14T09:10:00Z"
            ],
            [
                "o-c",
                "online_order",
                "50.00",
                "false",
                "2026-10-20T12:00:00Z"
            ],
            [
                "o-d",
                "online_order",
                "30.00",
                "false",
                "2026-10-05T12:00:00Z"
            ],
            [
                "r-b",
                "registered_purchase",
                "200.00",
                "true",
                "2026-10-21T23:59:59.999999Z"
            ],
            [
                "t-cash",
                "store_purchase",
                "25.00",
                "true",
                "2026-10-11T00:00:00Z"
            ],
            [
                "t-l",
                "store_purchase",
                "60.00",
                "true",
                "2026-10-19T11:00:00Z"
            ],
            [
                "t-r",
                "store_purchase",
                "40.00",
                "true",
                "2026-10-11T15:00:00Z"
            ],
        ]
    );

    // Alice: e-mail open, paid-search click, direct visit, order 10 minutes later.
    let alice = credits(&p, "o-a");
    let (open, click, visit) = ("ad:a-open", "ad:a-click", "web:s-a3");
    assert_credits(&alice, "first_touch", &[(open, 1.0)]);
    assert_credits(&alice, "last_touch", &[(visit, 1.0)]);
    assert_credits(&alice, "last_non_direct", &[(click, 1.0)]);
    assert_credits(
        &alice,
        "linear",
        &[(click, 1.0 / 3.0), (open, 1.0 / 3.0), (visit, 1.0 / 3.0)],
    );
    assert_credits(
        &alice,
        "position_based",
        &[(click, 0.2), (open, 0.4), (visit, 0.4)],
    );
    // Days before the order: 3 d 23 h 10 min, 1 d 23 h 10 min, 10 min; half-life 7 days.
    let w = |d: f64| 0.5f64.powf(d / 7.0);
    let (wo, wc, wv) = (
        w(3.0 + 23.0 / 24.0 + 10.0 / 1440.0),
        w(1.0 + 23.0 / 24.0 + 10.0 / 1440.0),
        w(10.0 / 1440.0),
    );
    let total = wo + wc + wv;
    assert_credits(
        &alice,
        "time_decay",
        &[(click, wc / total), (open, wo / total), (visit, wv / total)],
    );
    // Markov, first order. Journeys: E→S→D, E→E, E, E, E, D converting; E, S not.
    // start→E 6/8, →S 1/8, →D 1/8; E→S 1/7, E→E 1/7, E→conv 4/7, E→null 1/7; S→D 1/2,
    // S→null 1/2; D→conv 1. x(D) = 1, x(S) = 1/2, x(E) = 3/4, P = 3/4.
    // Without E: P = 1/8·1/2 + 1/8 = 3/16, effect 3/4. Without S: x(E) = 2/3, P = 5/8, effect
    // 1/6. Without D: x(S) = 0, x(E) = 2/3, P = 1/2, effect 1/3. Alice's shares: 9/15, 2/15, 4/15.
    assert_credits(
        &alice,
        "markov",
        &[(click, 2.0 / 15.0), (open, 9.0 / 15.0), (visit, 4.0 / 15.0)],
    );
    // Shapley: v(E) = 4/5, v(S) = 0, v(D) = 1, v(D,E,S) = 1; unobserved pairs take their best
    // subset: v(D,E) = v(D,S) = 1, v(E,S) = 4/5. φ_E = 1/3·4/5 + 1/6·4/5 = 0.4, φ_S = 0,
    // φ_D = 1/3 + 1/6·1/5 + 1/6 + 1/3·1/5 = 0.6. The click earns nothing: no row.
    assert_credits(&alice, "shapley", &[(open, 0.4), (visit, 0.6)]);
    // Data-driven: fitted within persons. Only one person here has both a converting and a
    // non-converting journey, and both carry the same channels, so the fit has no evidence:
    // every coefficient stays at the prior's 0 and no touch has a positive effect, and the
    // conversion is split equally, as documented (the split in proportion to positive
    // effects is checked by the fct_attribution and int_attribution_bag_weights unit tests).
    let fit = p.query_rows(
        "select count(*), bool_and(converged), max(strata), max(n_journeys),
                bool_and(std_error > 0), max(abs(coefficient)), max(marginal_effect)
         from rpt_attribution_data_driven",
    );
    assert_eq!(fit, [["3", "true", "1", "2", "true", "0.0", "0.0"]]);
    assert_credits(
        &alice,
        "data_driven",
        &[(click, 1.0 / 3.0), (open, 1.0 / 3.0), (visit, 1.0 / 3.0)],
    );
    // Every model shares the order's 100 € in full, to the micro-euro: attributed revenue is a
    // decimal(18, 6), each touch's share rounded (a linear third is 33.333333).
    for r in p.query_rows(
        "select model, sum(attributed_revenue) from fct_attribution
         where conversion_id = 'o-a' group by model",
    ) {
        assert!(
            (r[1].parse::<f64>().expect("revenue") - 100.0).abs() <= 3.0 * 5e-7,
            "{r:?}"
        );
    }

    // Bob: two opens at the same instant; ties go by touchpoint id.
    let bob = credits(&p, "r-b");
    let (b1, b2) = ("ad:b-1", "ad:b-2");
    assert_credits(&bob, "first_touch", &[(b1, 1.0)]);
    assert_credits(&bob, "last_touch", &[(b2, 1.0)]);
    assert_credits(&bob, "last_non_direct", &[(b2, 1.0)]);
    for model in [
        "linear",
        "time_decay",
        "position_based",
        "markov",
        "shapley",
    ] {
        assert_credits(&bob, model, &[(b1, 0.5), (b2, 0.5)]);
    }

    // Carol: the open of 09-05 is outside the window, the one of 10-25 after the order.
    let carol = credits(&p, "o-c");
    for model in MODELS {
        assert_credits(&carol, model, &[("ad:c-2", 1.0)]);
    }

    // Dave (and the cash ticket): no touch, one direct row per model.
    for conversion in ["o-d", "t-cash"] {
        let got = p.query_rows(&format!(
            "select model, coalesce(touchpoint_id, 'none'), channel, credit
                 from fct_attribution where conversion_id = '{conversion}' order by model"
        ));
        let mut models: Vec<&str> = MODELS.to_vec();
        models.sort();
        let expected: Vec<Vec<String>> = models
            .iter()
            .map(|m| vec![m.to_string(), "none".into(), "direct".into(), "1.0".into()])
            .collect();
        assert_eq!(got, expected, "{conversion}");
    }

    // Offline conversions found through a loyalty card (Léa) and an e-receipt (Rémy).
    for (conversion, touch) in [("t-l", "ad:l-1"), ("t-r", "ad:r-1")] {
        let got = credits(&p, conversion);
        for model in MODELS {
            assert_credits(&got, model, &[(touch, 1.0)]);
        }
    }
    assert_eq!(
        p.query_rows(
            "select cast(offline_revenue as varchar) as revenue,
                    cast(offline_revenue_with_online_touch as varchar) as touched, round(share, 6)
             from rpt_offline_influence order by offline_revenue"
        ),
        // 10-11: Rémy's 40 € of 65 €; 10-19: Léa's 60 €; 10-21: Bob's registered 200 €.
        [
            ["60.000000", "60.000000", "1.0"],
            ["65.000000", "40.000000", "0.615385"],
            ["200.000000", "200.000000", "1.0"],
        ]
    );

    // Eve's lead goes to the direct visit she signed up in.
    let eve = credits(&p, "ev-e2");
    for model in MODELS {
        assert_credits(&eve, model, &[("web:s-e", 1.0)]);
    }

    // The erased person is nowhere.
    for (table, column) in [
        ("fct_touchpoint", "touchpoint_id"),
        ("fct_conversion", "conversion_id"),
        ("fct_attribution", "conversion_id"),
    ] {
        let n = p.query_rows(&format!(
            "select count(*) from {table} where {column} in ('ad:z-1', 'o-z')"
        ));
        assert_eq!(n, [["0"]], "{table}");
    }

    // Channel report over the 8 conversions: shares of each model sum to 1. Under markov, e-mail
    // earns Alice's 9/15, Bob's, Carol's, Léa's and Rémy's conversions; direct Alice's 4/15,
    // Eve's lead, and Dave's and the cash ticket's untouched conversions.
    for r in p.query_rows(
        "select model, sum(share), sum(conversions) from rpt_attribution_channel group by model",
    ) {
        assert!(
            (r[1].parse::<f64>().expect("share") - 1.0).abs() < 1e-9,
            "{r:?}"
        );
        assert!(
            (r[2].parse::<f64>().expect("conversions") - 8.0).abs() < 1e-9,
            "{r:?}"
        );
    }
    let markov: Vec<(String, f64)> = p
        .query_rows(
            "select channel, conversions from rpt_attribution_channel
         where model = 'markov' order by channel",
        )
        .into_iter()
        .map(|r| (r[0].clone(), r[1].parse().expect("conversions")))
        .collect();
    let expected = [
        ("direct", 3.0 + 4.0 / 15.0),
        ("email", 4.0 + 9.0 / 15.0),
        ("paid_search", 2.0 / 15.0),
    ];
    assert_eq!(markov.len(), expected.len(), "{markov:?}");
    for ((channel, got), (want_channel, want)) in markov.iter().zip(expected) {
        assert_eq!(channel, want_channel, "{markov:?}");
        assert!((got - want).abs() < 1e-9, "{markov:?}");
    }
    // ChannelAttribution's normalisation: removal effect / Σ removal effects × the 6 touched
    // conversions (effects E 3/4, S 1/6, D 1/3, see Alice): 3.6, 0.8 and 1.6. Other models'
    // rows leave it null.
    let global = p.query_rows(
        "select channel, markov_global_conversions from rpt_attribution_channel
         where model = 'markov' order by channel",
    );
    let expected = [("direct", 1.6), ("email", 3.6), ("paid_search", 0.8)];
    assert_eq!(global.len(), expected.len(), "{global:?}");
    for (row, (channel, want)) in global.iter().zip(expected) {
        assert_eq!(row[0], channel, "{global:?}");
        let got: f64 = row[1].parse().expect("markov_global_conversions");
        assert!((got - want).abs() < 1e-9, "{global:?}");
    }
    let others = p.query_rows(
        "select count(*) from rpt_attribution_channel
         where model <> 'markov' and markov_global_conversions is not null",
    );
    assert_eq!(others, [["0"]]);

    // ROI on 10-14, the day of Alice's order: paid search spent 12 € and reported no click
    // (cpc null), the campaign that converted nobody has no cpa, e-mail cost nothing (no roas).
    let roi = p.query_rows("select campaign_id, cast(spend as varchar), cast(conversions as varchar),
                cast(cpc as varchar), cast(cpl as varchar), cast(cpa as varchar), cast(roas as varchar)
         from agg_channel_performance
         where date = '2026-10-14' and model = 'last_non_direct' and campaign_id like 'cmp-%'
         order by campaign_id",
    );
    assert_eq!(
        roi,
        [
            ["cmp-e", "0.00", "0.0", "", "", "", ""],
            ["cmp-s", "12.00", "1.0", "", "", "12.0", "8.333333333333334"],
            ["cmp-x", "5.00", "0.0", "1.0", "", "", "0.0"],
        ],
        "{roi:?}"
    );
    let roi = p.query_rows(
        "select campaign_id, cast(spend as varchar), cast(conversions as varchar),
                cast(cpa as varchar), cast(roas as varchar)
         from agg_channel_performance
         where date = '2026-10-14' and model = 'first_touch' and campaign_id = 'cmp-e'",
    );
    assert_eq!(roi, [["cmp-e", "0.00", "1.0", "0.0", ""]], "{roi:?}");

    // One channel vocabulary: campaign_spend's seo and social_organic are the channels the
    // sessions of those pseudo-campaigns touch through.
    for table in ["agg_channel_performance", "agg_campaign_daily"] {
        assert_eq!(
            p.query_rows(&format!(
                "select distinct campaign_id, channel from {table}
                 where campaign_id in ('seo', 'social_organic') order by 1"
            )),
            [
                ["seo", "organic_search"],
                ["social_organic", "organic_social"]
            ],
            "{table}"
        );
    }
    // Nina's views, with no dwell reported, are a week of engagement worth one point each.
    assert_eq!(
        p.query_rows(
            "select opens, views, clicks, dwell_seconds, sessions, engagement_score from fct_engagement
             where week = '2026-10-19' and person_id = (
                 select person_id from bridge_identity where identifier_value = 'CRM-N')"
        ),
        [["0", "2", "0", "0", "0", "2.0"]]
    );

    // Engagement: Alice's week of 10-12 has the click and two sessions (the bot's is not hers),
    // 3·1 + 2·2 = 7; the week before, an open with 30 s of attention, 1 + 30/30 = 2; velocity
    // = 7 − (2 + 0 + 0 + 0)/4.
    assert_eq!(
        p.query_rows(
            "select opens, clicks, sessions, engagement_score, velocity from fct_engagement
             where person_id = (select person_id from fct_conversion where conversion_id = 'o-a')
             order by engagement_score"
        ),
        [["1", "0", "0", "2.0", "2.0"], ["0", "1", "2", "7.0", "6.5"]]
    );
}

#[test]
fn impressions_count_only_within_the_view_through_window() {
    let p = project();
    run(&p, &["--var", "attribution_include_impressions=true"]);
    // The impression 13 h before Alice's order counts, the one of three days before does not;
    // the e-mail send one minute before its open is superseded by the open.
    let alice = credits(&p, "o-a");
    assert_credits(
        &alice,
        "linear",
        &[
            ("ad:a-click", 0.25),
            ("ad:a-imp", 0.25),
            ("ad:a-open", 0.25),
            ("web:s-a3", 0.25),
        ],
    );
    assert_eq!(
        p.query_rows(
            "select touchpoint_id, is_view_through from fct_touchpoint
             where touchpoint_id like 'ad:a-%' order by 1"
        ),
        [
            ["ad:a-click", "false"],
            ["ad:a-imp", "true"],
            ["ad:a-imp-old", "true"],
            ["ad:a-open", "false"],
        ]
    );
}
