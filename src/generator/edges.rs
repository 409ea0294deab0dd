//! The `contract-edges` profile: everything `raw-exports.md` allows that the realistic default
//! world rarely or never produces, added on top of it so that a pipeline run over it proves the
//! models accept the whole contract, not just the usual mix.
//!
//! What it adds (every row deterministic, ids prefixed `EDGE`/`edge`, so they never collide
//! with the simulation's):
//!
//! * **A cast of edge persons** ([`PERSONS`]): e-mails in every dirty form the contract lists
//!   (case, spaces around and inside, `+tags`, gmail dots, a mistyped domain, shared inboxes,
//!   invalid values), phones in every national and international format, names in Cyrillic,
//!   Chinese and Arabic script, initials (`JF` for Jean-François), very long names, streets and
//!   cities, a contact whose every nullable column is null, contacts re-exported with a later
//!   `updated_at`, an exact duplicate and a stale re-export.
//! * **Ad interactions of every `interaction_type` on every channel, with a null, zero and
//!   positive `dwell_seconds`**, a person whose weeks are only views without dwell, and
//!   interactions carrying no identifier at all.
//! * **Web sessions** of every `event_type`, untagged and tagged (an unknown `utm_medium`
//!   too), all nullable columns null, events exported twice (same file and a later night),
//!   very long URLs, and **bots**: crawlers and plain HTTP clients (`python-requests`, `curl`,
//!   `Wget`, `Go-http-client`, `okhttp`, `libwww-perl`, `Java/`).
//! * Orders of every status with re-exported status changes, other currencies, a zero amount,
//!   the largest `Decimal(12,2)`, a guest order with no identifier; till refunds and cash
//!   tickets; registrations without an amount; spend rows without impressions or clicks and
//!   re-exported days.
//! * **Erasure requests** by e-mail hash, phone hash and contact id for three edge persons.
//! * **Shapes of exports** ([`export`]): `purchase_registrations` is an empty table (files
//!   with no rows) until three nights before the end, when its backlog arrives late;
//!   `campaign_spend` has no export at all four nights before the end and `ad_interactions`
//!   two nights before, their rows arriving the next night; `suppression_list` is written
//!   Hive-partitioned by `export_date` (one folder per night of requests), the other form the
//!   contract's unpartitioned file can take.
//!
//! Truth rows are written for every edge record (`edge-N` persons, `bot-edge-N` bots), so
//! `parcours eval` still reads the output, but the profile is for robustness, not for quality
//! figures: those come from the default profile.

use super::Table;
use super::campaigns::CHANNELS;
use super::tables::{
    AdRow, CrmRow, OrderRow, PosRow, RegRow, SpendRow, SuppressionRow, TruthRow, WebRow,
};
use crate::functions::{normalize_email, normalize_phone, sha256_hex};

/// Microseconds in a second.
const S: i64 = 1_000_000;

/// How a table is exported on one night of the profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Export {
    /// The night's file, with the night's rows (and any held back before).
    Normal,
    /// A file with no rows: the night's rows are held back to the next `Normal` night.
    Empty,
    /// No folder at all for the night: its rows are held back to the next `Normal` night.
    Absent,
}

/// The export of `table` on `day` (0-based) of a `days`-long window. The last night is always
/// `Normal`, so nothing held back is lost; windows shorter than five days get no gaps.
pub fn export(table: Table, day: u32, days: u32) -> Export {
    if days < 5 {
        return Export::Normal;
    }
    match table {
        Table::PurchaseRegistrations if day + 3 < days => Export::Empty,
        Table::CampaignSpend if day + 4 == days => Export::Absent,
        Table::AdInteractions if day + 2 == days => Export::Absent,
        _ => Export::Normal,
    }
}

/// Plain-HTTP clients and crawlers: every one must be recognised as a bot.
pub const BOT_AGENTS: &[&str] = &[
    "python-requests/2.31.0",
    "curl/8.4.0",
    "Wget/1.21.4",
    "Go-http-client/1.1",
    "okhttp/4.12.0",
    "libwww-perl/6.72",
    "Java/17.0.2",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0 Safari/537.36",
];

const HUMAN_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
const INTERACTION_TYPES: [&str; 7] = [
    "impression",
    "click",
    "open",
    "view",
    "like",
    "share",
    "comment",
];
const EVENT_TYPES: [&str; 7] = [
    "page_view",
    "product_view",
    "add_to_cart",
    "signup",
    "newsletter_subscribe",
    "purchase",
    "store_locator",
];

/// One CRM record of an edge person.
struct Contact {
    id: &'static str,
    system: &'static str,
    email: Option<&'static str>,
    phone: Option<&'static str>,
    first: Option<&'static str>,
    last: Option<&'static str>,
    country: Option<&'static str>,
    card: Option<&'static str>,
    /// Whether the record carries something another record of the person shares.
    identifiable: bool,
}

/// An edge person: their records and what they do.
struct Person {
    key: &'static str,
    contacts: &'static [Contact],
    /// Their cookie, when they browse, and whether it is tied to them (a login, a sign-up).
    cookie: Option<(&'static str, bool)>,
}

#[allow(clippy::too_many_arguments)]
const fn c(
    id: &'static str,
    system: &'static str,
    email: Option<&'static str>,
    phone: Option<&'static str>,
    first: Option<&'static str>,
    last: Option<&'static str>,
    country: Option<&'static str>,
    card: Option<&'static str>,
    identifiable: bool,
) -> Contact {
    Contact {
        id,
        system,
        email,
        phone,
        first,
        last,
        country,
        card,
        identifiable,
    }
}

/// The cast. Index in this list = `edge-N`.
const PERSONS: &[Person] = &[
    // 0: spaces inside the address, an e-commerce account, initials at the loyalty desk
    Person {
        key: "edge-0",
        contacts: &[
            c(
                "CRM-EDGE00",
                "crm",
                Some(" Jean François . Dupont @ Orange.FR "),
                Some("06 12 34 56 70"),
                Some("Jean-François"),
                Some("Dupont"),
                Some("FR"),
                None,
                true,
            ),
            c(
                "LOY-EDGE00",
                "loyalty",
                None,
                Some("+33 6 12 34 56 70"),
                Some("JF"),
                Some("DUPONT"),
                Some("FR"),
                Some("LC-EDGE-00"),
                true,
            ),
            c(
                "ECO-EDGE00",
                "ecommerce",
                Some("jeanfrançois.dupont@orange.fr"),
                None,
                Some("jean-francois"),
                Some("dupont"),
                Some("fr"),
                None,
                true,
            ),
        ],
        cookie: Some(("ck-edge-0", true)),
    },
    // 1: +tag, gmail dots, googlemail, 00-international phone; views only, no dwell
    Person {
        key: "edge-1",
        contacts: &[
            c(
                "CRM-EDGE01",
                "crm",
                Some("Marie.Curie+promo@GoogleMail.com"),
                Some("0033611223344"),
                Some("Marie"),
                Some("Curie"),
                Some("FR"),
                None,
                true,
            ),
            c(
                "NWS-EDGE01",
                "newsletter",
                Some("mariecurie@gmail.com"),
                None,
                Some("Marie"),
                Some("Curie"),
                None,
                None,
                true,
            ),
        ],
        cookie: Some(("ck-edge-1", true)),
    },
    // 2: a mistyped provider domain at checkout and on the registration form
    Person {
        key: "edge-2",
        contacts: &[c(
            "CRM-EDGE02",
            "crm",
            Some("paul.martin@gmail.com"),
            None,
            Some("Paul"),
            Some("Martin"),
            Some("FR"),
            None,
            true,
        )],
        cookie: None,
    },
    // 3: Cyrillic script, a German mobile
    Person {
        key: "edge-3",
        contacts: &[
            c(
                "CRM-EDGE03",
                "crm",
                Some("dmitri.ivanov@gmx.com"),
                Some("+49 151 23456789"),
                Some("Дмитрий"),
                Some("Иванов"),
                Some("DE"),
                None,
                true,
            ),
            c(
                "LOY-EDGE03",
                "loyalty",
                Some("DMITRI.IVANOV@GMX.COM"),
                Some("0151 23456789"),
                Some("Иванов"),
                Some("Дмитрий"),
                Some("DE"),
                Some("LC-EDGE-03"),
                true,
            ),
        ],
        cookie: Some(("ck-edge-3", false)),
    },
    // 4: Chinese script, a US number in (NXX) NXX-XXXX form
    Person {
        key: "edge-4",
        contacts: &[
            c(
                "CRM-EDGE04",
                "crm",
                Some("xiaoming.wang@outlook.com"),
                Some("(612) 345-6789"),
                Some("小明"),
                Some("王"),
                Some("US"),
                None,
                true,
            ),
            c(
                "ECO-EDGE04",
                "ecommerce",
                Some("Xiaoming.Wang@Outlook.com"),
                Some("+1 612 345 6789"),
                Some("小明"),
                Some("王"),
                Some("US"),
                None,
                true,
            ),
        ],
        cookie: Some(("ck-edge-4", true)),
    },
    // 5: Arabic script, a Belgian mobile, an upper-case address on e-receipts
    Person {
        key: "edge-5",
        contacts: &[c(
            "CRM-EDGE05",
            "crm",
            Some("MOHAMMED.ALALI@HOTMAIL.FR"),
            Some("0470 12 34 56"),
            Some("محمد"),
            Some("العلي"),
            Some("BE"),
            None,
            true,
        )],
        cookie: None,
    },
    // 6: very long strings (see `long_contact`), a Swiss mobile
    Person {
        key: "edge-6",
        contacts: &[],
        cookie: None,
    },
    // 7: every nullable column null
    Person {
        key: "edge-7",
        contacts: &[c(
            "CRM-EDGE07",
            "crm",
            None,
            None,
            None,
            None,
            None,
            None,
            false,
        )],
        cookie: None,
    },
    // 8, 9: two colleagues giving their company's shared inbox
    Person {
        key: "edge-8",
        contacts: &[c(
            "CRM-EDGE08",
            "crm",
            Some("contact@edge-entreprise.fr"),
            Some("06 20 30 40 50"),
            Some("Luc"),
            Some("Bernard"),
            Some("FR"),
            None,
            false,
        )],
        cookie: None,
    },
    Person {
        key: "edge-9",
        contacts: &[c(
            "ECO-EDGE09",
            "ecommerce",
            Some("Contact@Edge-Entreprise.fr"),
            Some("06 21 31 41 51"),
            Some("Sophie"),
            Some("Leroy"),
            Some("FR"),
            None,
            false,
        )],
        cookie: None,
    },
    // 10..15: values that are not addresses or phone numbers
    Person {
        key: "edge-10",
        contacts: &[c(
            "CRM-EDGE10",
            "crm",
            Some("n/a"),
            Some("123"),
            Some("Anne"),
            Some("Nulle"),
            Some("FR"),
            None,
            false,
        )],
        cookie: None,
    },
    Person {
        key: "edge-11",
        contacts: &[c(
            "NWS-EDGE11",
            "newsletter",
            Some("xx@"),
            Some("+33"),
            Some("Bob"),
            Some("Vide"),
            Some("FR"),
            None,
            false,
        )],
        cookie: None,
    },
    Person {
        key: "edge-12",
        contacts: &[c(
            "CRM-EDGE12",
            "crm",
            Some("@"),
            Some("abc"),
            Some("Chloé"),
            Some("Sans"),
            Some("CH"),
            None,
            false,
        )],
        cookie: None,
    },
    Person {
        key: "edge-13",
        contacts: &[c(
            "CRM-EDGE13",
            "crm",
            Some("jean@localhost"),
            Some(""),
            Some("Jean"),
            Some("Local"),
            Some("IT"),
            None,
            false,
        )],
        cookie: None,
    },
    Person {
        key: "edge-14",
        contacts: &[c(
            "CRM-EDGE14",
            "crm",
            Some(""),
            Some("   "),
            Some("--"),
            Some("'"),
            Some("ES"),
            None,
            false,
        )],
        cookie: None,
    },
    Person {
        key: "edge-15",
        contacts: &[c(
            "LOY-EDGE15",
            "loyalty",
            Some("   "),
            Some("00 00"),
            Some("X"),
            Some("Y"),
            Some("GB"),
            Some("  "),
            false,
        )],
        cookie: None,
    },
    // 16: erased by e-mail hash (after orders, opens and logins)
    Person {
        key: "edge-16",
        contacts: &[
            c(
                "CRM-EDGE16",
                "crm",
                Some("Zoe.Erased@Example.com "),
                Some("06 16 16 16 16"),
                Some("Zoé"),
                Some("Effacée"),
                Some("FR"),
                None,
                true,
            ),
            c(
                "ECO-EDGE16",
                "ecommerce",
                Some("zoe.erased@example.com"),
                None,
                Some("Zoe"),
                Some("Effacee"),
                Some("FR"),
                None,
                true,
            ),
        ],
        cookie: Some(("ck-edge-16", true)),
    },
    // 17: erased by contact id (a loyalty member seen at the tills)
    Person {
        key: "edge-17",
        contacts: &[c(
            "LOY-EDGE17",
            "loyalty",
            Some("hugo.erased@example.org"),
            None,
            Some("Hugo"),
            Some("Effacé"),
            Some("FR"),
            Some(" LC-EDGE-17 "),
            true,
        )],
        cookie: None,
    },
    // 18: erased by phone hash (SMS campaigns)
    Person {
        key: "edge-18",
        contacts: &[c(
            "CRM-EDGE18",
            "crm",
            None,
            Some("06 99 88 77 66"),
            Some("Inès"),
            Some("Effacée"),
            Some("FR"),
            None,
            true,
        )],
        cookie: None,
    },
    // 19: re-exported with a later updated_at, an exact duplicate and a stale copy
    Person {
        key: "edge-19",
        contacts: &[c(
            "CRM-EDGE19",
            "crm",
            Some("claire.old@example.fr"),
            Some("06 19 19 19 19"),
            Some("Claire"),
            Some("Moreau"),
            Some("FR"),
            None,
            true,
        )],
        cookie: None,
    },
];

const P_JEAN: usize = 0;
const P_MARIE: usize = 1;
const P_PAUL: usize = 2;
const P_XIAOMING: usize = 4;
const P_MOHAMMED: usize = 5;
const P_LONG: usize = 6;
const P_ZOE: usize = 16;
const P_HUGO: usize = 17;
const P_CLAIRE: usize = 19;

/// What the profile adds on one day.
#[derive(Default)]
pub struct EdgeDay {
    pub crm: Vec<CrmRow>,
    pub web: Vec<WebRow>,
    pub ad: Vec<AdRow>,
    pub orders: Vec<OrderRow>,
    pub pos: Vec<PosRow>,
    pub regs: Vec<RegRow>,
    pub spend: Vec<SpendRow>,
}

/// Start of `day` (0-based) in microseconds since the epoch, `day0` being the window's first
/// day in days since the epoch.
fn day_start(day0: i32, day: u32) -> i64 {
    (day0 as i64 + day as i64) * 86_400 * S
}

fn email_hash(raw: &str) -> Option<String> {
    normalize_email(raw).map(|e| sha256_hex(&e))
}

fn phone_hash(raw: &str, country: &str) -> Option<String> {
    normalize_phone(raw, country).map(|p| sha256_hex(&p))
}

fn crm_row(k: &Contact, created: i64, updated: i64) -> CrmRow {
    // Jean's records carry a birth date (1900-01-01, the oldest a form accepts) and an
    // abbreviated street; Claire's a plain one; the others leave them out
    let jean = k.id.ends_with("EDGE00");
    let claire = k.id == "CRM-EDGE19";
    let some_if = |yes: bool, v: &str| yes.then(|| v.to_string());
    CrmRow {
        contact_id: k.id.to_string(),
        source_system: k.system,
        email: k.email.map(str::to_string),
        phone: k.phone.map(str::to_string),
        first_name: k.first.map(str::to_string),
        last_name: k.last.map(str::to_string),
        birth_date: if jean {
            Some(-25_567)
        } else if claire {
            Some(5_603)
        } else {
            None
        },
        street_address: some_if(jean, "12, av. Victor-Hugo").or(some_if(claire, "3 rue des Lilas")),
        postal_code: some_if(jean, " 75016 ").or(some_if(claire, "69003")),
        city: some_if(jean, "Paris").or(some_if(claire, "Lyon")),
        country: k.country.map(str::to_string),
        loyalty_card_id: k.card.map(str::to_string),
        // null (unknown, so no consent) on every third record
        consent_marketing: match k.id.len() % 3 {
            0 => None,
            1 => Some(true),
            _ => Some(false),
        },
        consent_updated_at: (!k.id.len().is_multiple_of(3)).then_some(created),
        created_at: created,
        updated_at: updated,
    }
}

/// Person 6: every string as long as a form would ever let through, and longer.
fn long_contact(created: i64) -> CrmRow {
    let first = format!("Maximilien-{}", "Alexandre-".repeat(40));
    let last = "de La Rochefoucauld-Montmorency ".repeat(80);
    CrmRow {
        contact_id: "CRM-EDGE06".to_string(),
        source_system: "crm",
        email: Some(format!("{}@example.com", "a".repeat(64))),
        phone: Some("+41 79 123 45 67".to_string()),
        first_name: Some(first),
        last_name: Some(last),
        birth_date: Some(10_000),
        street_address: Some(format!(
            "1 {}",
            "rue du Faubourg Saint-Honoré, ".repeat(400)
        )),
        postal_code: Some("1204".to_string()),
        city: Some("Genève ".repeat(100)),
        country: Some("CH".to_string()),
        loyalty_card_id: None,
        consent_marketing: None,
        consent_updated_at: None,
        created_at: created,
        updated_at: created,
    }
}

/// The rows the profile adds on `day` of a `days`-long window starting `day0`.
pub fn day_rows(day0: i32, day: u32, days: u32) -> EdgeDay {
    let mut out = EdgeDay::default();
    let t = |secs: i64| day_start(day0, day) + secs * S;
    let date = day0 + day as i32;

    // CRM: the initial load holds every edge contact; the window brings re-exports.
    if day == 0 {
        for p in PERSONS {
            for k in p.contacts {
                out.crm.push(crm_row(k, t(3_600), t(3_600)));
            }
        }
        out.crm.push(long_contact(t(3_600)));
    }
    let claire = &PERSONS[P_CLAIRE].contacts[0];
    if day + 3 == days {
        // Claire's new address, exported twice in the same file (an exact duplicate)
        let mut moved = crm_row(claire, day_start(day0, 0) + 3_600 * S, t(7_200));
        moved.email = Some("Claire.Moreau+nouveau@Example.fr".to_string());
        out.crm.push(moved.clone());
        out.crm.push(moved);
    }
    if day + 2 == days {
        // a stale copy of Claire's first version re-sent later: the newest updated_at wins
        out.crm.push(crm_row(
            claire,
            day_start(day0, 0) + 3_600 * S,
            day_start(day0, 0) + 3_600 * S,
        ));
        // Marie's consent withdrawn, her record re-exported with the same id
        let mut marie = crm_row(
            &PERSONS[P_MARIE].contacts[0],
            day_start(day0, 0) + 3_600 * S,
            t(600),
        );
        marie.consent_marketing = Some(false);
        marie.consent_updated_at = Some(t(600));
        out.crm.push(marie);
    }

    web_rows(&mut out, day, &t);
    ad_rows(&mut out, day, &t);
    sales_rows(&mut out, day, date, &t);

    // spend of the edge campaigns; some platforms report no impressions or clicks
    for (ch, name) in CHANNELS.iter().enumerate() {
        out.spend.push(SpendRow {
            spend_date: date,
            channel: name,
            campaign_id: format!("cmp-edge-{name}"),
            campaign_name: format!("Edge — {name} — Été ☀"),
            spend: 123 * (ch as i128 + 1) + day as i128,
            currency: "EUR",
            impressions: day.is_multiple_of(2).then_some(1_000 + day as i64),
            clicks: (!day.is_multiple_of(3)).then_some(10),
        });
    }
    if day > 0 {
        // a platform re-exports yesterday with corrected figures
        out.spend.push(SpendRow {
            spend_date: date - 1,
            channel: CHANNELS[0],
            campaign_id: format!("cmp-edge-{}", CHANNELS[0]),
            campaign_name: format!("Edge — {} — Été ☀", CHANNELS[0]),
            spend: 999,
            currency: "EUR",
            impressions: None,
            clicks: None,
        });
    }
    out
}

const JEAN_COOKIE: &str = "ck-edge-0";

fn web_rows(out: &mut EdgeDay, day: u32, t: &dyn Fn(i64) -> i64) {
    let long_url = format!(
        "https://www.maison-parcours.fr/produits/{}",
        "chaussures-de-randonnée/".repeat(200)
    );
    let event = |id: String, ts: i64, cookie: &str, session: String, kind: &'static str| WebRow {
        event_id: id,
        event_ts: ts,
        anonymous_id: cookie.to_string(),
        session_id: session,
        user_id: None,
        email_sha256: None,
        event_type: kind,
        page_url: Some("https://www.maison-parcours.fr/".to_string()),
        referrer: None,
        utm_source: None,
        utm_medium: None,
        utm_campaign: None,
        device_type: Some("desktop"),
        order_id: None,
        revenue: None,
        currency: None,
        user_agent: Some(HUMAN_AGENT),
    };
    // Jean: a logged-in session of every event type, landing from a tracked e-mail link
    let session = format!("s-edge-0-{day}");
    for (i, kind) in EVENT_TYPES.iter().enumerate() {
        let mut e = event(
            format!("ev-edge-0-{day}-{i}"),
            t(36_000 + i as i64 * 30),
            JEAN_COOKIE,
            session.clone(),
            kind,
        );
        e.user_id = Some("ECO-EDGE00".to_string());
        if i == 0 {
            e.email_sha256 = email_hash("jeanfrançois.dupont@orange.fr");
            e.utm_source = Some("newsletter");
            e.utm_medium = Some("Email");
            e.utm_campaign = Some(format!("cmp-edge-{}", CHANNELS[3]));
            e.referrer = Some(String::new());
            e.page_url = Some(long_url.clone());
        }
        if *kind == "purchase" {
            e.order_id = Some(format!("ORD-EDGE-0-{day}"));
            e.revenue = Some(4_990);
            e.currency = Some("EUR");
        }
        if *kind == "signup" || *kind == "newsletter_subscribe" {
            e.email_sha256 = email_hash(" JEANFRANÇOIS.DUPONT@ORANGE.FR ");
        }
        out.web.push(e);
    }
    // the landing exported twice in the same file, and again the next night
    out.web
        .push(out.web[out.web.len() - EVENT_TYPES.len()].clone());
    if day > 0 {
        let mut again = event(
            format!("ev-edge-0-{}-1", day - 1),
            t(36_030) - 86_400 * S,
            JEAN_COOKIE,
            format!("s-edge-0-{}", day - 1),
            "product_view",
        );
        again.user_id = Some("ECO-EDGE00".to_string());
        out.web.push(again);
    }
    // Marie signs up and subscribes from an organic search, anonymous first
    let mut m = event(
        format!("ev-edge-1-{day}-0"),
        t(40_000),
        "ck-edge-1",
        format!("s-edge-1-{day}"),
        "page_view",
    );
    m.referrer = Some("https://www.google.fr/search?q=maison+parcours".to_string());
    m.device_type = Some("mobile");
    out.web.push(m);
    let mut m = event(
        format!("ev-edge-1-{day}-1"),
        t(40_060),
        "ck-edge-1",
        format!("s-edge-1-{day}"),
        if day.is_multiple_of(2) {
            "signup"
        } else {
            "newsletter_subscribe"
        },
    );
    m.email_sha256 = email_hash("Marie.Curie@gmail.com");
    m.device_type = Some("tablet");
    out.web.push(m);
    // Xiaoming: an unknown utm_medium, a social referrer, an unknown campaign id
    let mut x = event(
        format!("ev-edge-4-{day}-0"),
        t(50_000),
        "ck-edge-4",
        format!("s-edge-4-{day}"),
        "page_view",
    );
    x.user_id = Some("ECO-EDGE04".to_string());
    x.utm_source = Some("weird-source");
    x.utm_medium = Some("carrier-pigeon");
    x.utm_campaign = Some("cmp-inconnue-é".to_string());
    x.referrer = Some("https://www.facebook.com/".to_string());
    out.web.push(x);
    // Zoé logs in and browses before her erasure
    let mut z = event(
        format!("ev-edge-16-{day}-0"),
        t(52_000),
        "ck-edge-16",
        format!("s-edge-16-{day}"),
        "page_view",
    );
    z.user_id = Some("ECO-EDGE16".to_string());
    z.email_sha256 = email_hash("zoe.erased@example.com");
    out.web.push(z);
    // Dmitri from a referral, on the store locator
    let mut d = event(
        format!("ev-edge-3-{day}-0"),
        t(54_000),
        "ck-edge-3",
        format!("s-edge-3-{day}"),
        "store_locator",
    );
    d.referrer = Some("https://forum.example.de/thread/42".to_string());
    out.web.push(d);
    // an event with every nullable column null (no user agent: not a bot)
    out.web.push(WebRow {
        event_id: format!("ev-edge-null-{day}"),
        event_ts: t(60_000),
        anonymous_id: format!("ck-edge-null-{day}"),
        session_id: format!("s-edge-null-{day}"),
        user_id: None,
        email_sha256: None,
        event_type: "page_view",
        page_url: None,
        referrer: None,
        utm_source: None,
        utm_medium: None,
        utm_campaign: None,
        device_type: None,
        order_id: None,
        revenue: None,
        currency: None,
        user_agent: None,
    });
    // bots: a tracked landing each, on their own cookies; one uses Jean's cookie (a scraper
    // replaying his link), which must not turn him into a bot's touch
    for (b, agent) in BOT_AGENTS.iter().enumerate() {
        let cookie = if b == 0 {
            JEAN_COOKIE.to_string()
        } else {
            format!("ck-edge-bot-{b}")
        };
        for i in 0..3 {
            let mut e = event(
                format!("ev-edge-bot-{b}-{day}-{i}"),
                t(20_000 + b as i64 * 100 + i),
                &cookie,
                format!("s-edge-bot-{b}-{day}"),
                "page_view",
            );
            e.user_agent = Some(*agent);
            e.utm_source = Some("google");
            e.utm_medium = Some("cpc");
            e.utm_campaign = Some(format!("cmp-edge-{}", CHANNELS[0]));
            out.web.push(e);
        }
    }
}

fn ad_rows(out: &mut EdgeDay, day: u32, t: &dyn Fn(i64) -> i64) {
    let jean_email = email_hash("jeanfrançois.dupont@orange.fr");
    let marie_email = email_hash("mariecurie@gmail.com");
    let ines_phone = phone_hash("06 99 88 77 66", "FR");
    let zoe_email = email_hash("zoe.erased@example.com");
    let row = |id: String, ts: i64, channel: &'static str, kind: &'static str| AdRow {
        interaction_id: id,
        interaction_ts: ts,
        channel,
        campaign_id: format!("cmp-edge-{channel}"),
        interaction_type: kind,
        anonymous_id: None,
        email_sha256: None,
        phone_sha256: None,
        dwell_seconds: None,
    };
    // Jean: every interaction type on today's channel (all six every six days), with no
    // dwell reported, zero and 45 seconds
    let ch = day as usize % CHANNELS.len();
    let channel = CHANNELS[ch];
    for (i, kind) in INTERACTION_TYPES.iter().enumerate() {
        for (j, dwell) in [None, Some(0), Some(45)].into_iter().enumerate() {
            let mut a = row(
                format!("ad-edge-0-{day}-{i}-{j}"),
                t(30_000 + (i * 3 + j) as i64 * 400),
                channel,
                kind,
            );
            match channel {
                "email" => a.email_sha256 = jean_email.clone(),
                "sms" => a.phone_sha256 = phone_hash("06 12 34 56 70", "FR"),
                _ => a.anonymous_id = Some("ck-edge-0".to_string()),
            }
            a.dwell_seconds = dwell;
            out.ad.push(a);
        }
    }
    // Marie: only views, never with a dwell time, on the e-mail and social platforms
    for (j, (channel, dwell)) in [("email", None), ("paid_social", Some(0)), ("display", None)]
        .into_iter()
        .enumerate()
    {
        let mut a = row(
            format!("ad-edge-1-{day}-{j}"),
            t(41_000 + j as i64 * 900),
            channel,
            "view",
        );
        if channel == "email" {
            a.email_sha256 = marie_email.clone();
        } else {
            a.anonymous_id = Some("ck-edge-1".to_string());
        }
        a.dwell_seconds = dwell;
        out.ad.push(a);
    }
    // Mohammed: only views, without dwell, and no web visit: weeks made of views alone
    let mohammed = email_hash("mohammed.alali@hotmail.fr");
    for (j, (channel, dwell)) in [("email", None), ("paid_social", Some(0))]
        .into_iter()
        .enumerate()
    {
        let mut a = row(
            format!("ad-edge-5-{day}-{j}"),
            t(42_000 + j as i64 * 600),
            channel,
            "view",
        );
        a.email_sha256 = mohammed.clone();
        a.dwell_seconds = dwell;
        out.ad.push(a);
    }
    // Xiaoming clicks and the platform reports the largest dwell an Int32 holds
    let mut a = row(
        format!("ad-edge-4-{day}"),
        t(42_500),
        "paid_search",
        "click",
    );
    a.anonymous_id = Some("ck-edge-4".to_string());
    a.dwell_seconds = Some(i32::MAX);
    out.ad.push(a);
    // Inès by SMS (phone hash), Zoé by e-mail, before they are erased
    let mut a = row(format!("ad-edge-18-{day}"), t(43_000), "sms", "click");
    a.phone_sha256 = ines_phone;
    out.ad.push(a);
    let mut a = row(format!("ad-edge-16-{day}"), t(44_000), "email", "open");
    a.email_sha256 = zoe_email;
    a.dwell_seconds = Some(12);
    out.ad.push(a);
    // an interaction carrying no identifier, and one on a cookie seen nowhere else
    out.ad.push(row(
        format!("ad-edge-anon-{day}"),
        t(45_000),
        "display",
        "click",
    ));
    let mut a = row(
        format!("ad-edge-stray-{day}"),
        t(45_100),
        "affiliate",
        "like",
    );
    a.anonymous_id = Some(format!("ck-edge-stray-{day}"));
    a.dwell_seconds = Some(-5);
    out.ad.push(a);
}

fn sales_rows(out: &mut EdgeDay, day: u32, date: i32, t: &dyn Fn(i64) -> i64) {
    let statuses = ["completed", "cancelled", "returned"];
    // Jean's tracked order, checkout e-mail typed in capitals with inner spaces
    out.orders.push(OrderRow {
        order_id: format!("ORD-EDGE-0-{day}"),
        order_ts: t(36_200),
        customer_id: Some("ECO-EDGE00".to_string()),
        email: Some(" JEAN FRANÇOIS.DUPONT@ORANGE.FR".to_string()),
        anonymous_id: Some("ck-edge-0".to_string()),
        amount: 4_990,
        currency: "EUR",
        status: statuses[day as usize % 3],
    });
    if day > 0 && (day - 1).is_multiple_of(3) {
        // yesterday's completed order re-exported as returned: the newest status wins
        out.orders.push(OrderRow {
            order_id: format!("ORD-EDGE-0-{}", day - 1),
            order_ts: t(36_200) - 86_400 * S,
            customer_id: Some("ECO-EDGE00".to_string()),
            email: None,
            anonymous_id: Some("ck-edge-0".to_string()),
            amount: 4_990,
            currency: "EUR",
            status: "returned",
        });
    }
    // Paul, a guest with a mistyped domain, in Swiss francs; then the largest amount
    out.orders.push(OrderRow {
        order_id: format!("ORD-EDGE-2-{day}"),
        order_ts: t(46_000),
        customer_id: None,
        email: Some("Paul.Martin@gmial.com".to_string()),
        anonymous_id: None,
        amount: if day.is_multiple_of(4) { 0 } else { 1_250 },
        currency: "CHF",
        status: "completed",
    });
    if day == 1 {
        out.orders.push(OrderRow {
            order_id: "ORD-EDGE-MAX".to_string(),
            order_ts: t(46_500),
            customer_id: Some("ECO-EDGE04".to_string()),
            email: Some("xiaoming.wang@outlook.com".to_string()),
            anonymous_id: Some("ck-edge-4".to_string()),
            amount: 99_999_999_999, // 999,999,999.99: the largest Decimal(12,2)
            currency: "USD",
            status: "completed",
        });
    }
    // Zoé orders before her erasure
    out.orders.push(OrderRow {
        order_id: format!("ORD-EDGE-16-{day}"),
        order_ts: t(52_100),
        customer_id: Some("ECO-EDGE16".to_string()),
        email: Some("zoe.erased@example.com".to_string()),
        anonymous_id: Some("ck-edge-16".to_string()),
        amount: 2_500,
        currency: "EUR",
        status: "completed",
    });
    // a guest order with no identifier at all
    out.orders.push(OrderRow {
        order_id: format!("ORD-EDGE-ANON-{day}"),
        order_ts: t(47_000),
        customer_id: None,
        email: None,
        anonymous_id: None,
        amount: 1_000,
        currency: "EUR",
        status: "completed",
    });

    // tills: Hugo's card with spaces around it, a refund every third day, a cash ticket,
    // Mohammed's e-receipt, Jean's phone in dotted national form
    out.pos.push(PosRow {
        transaction_id: format!("TX-EDGE-17-{day}"),
        transaction_ts: t(39_000),
        store_id: "STORE-ÉDGE".to_string(),
        loyalty_card_id: Some(" LC-EDGE-17 ".to_string()),
        receipt_email: None,
        phone: None,
        amount: if day % 3 == 2 { -1_500 } else { 3_000 },
        currency: "EUR",
    });
    out.pos.push(PosRow {
        transaction_id: format!("TX-EDGE-5-{day}"),
        transaction_ts: t(39_500),
        store_id: "STORE-BXL".to_string(),
        loyalty_card_id: None,
        receipt_email: Some("  mohammed.alali@hotmail.fr".to_string()),
        phone: Some("0470/12.34.56".to_string()),
        amount: 4_200,
        currency: "EUR",
    });
    out.pos.push(PosRow {
        transaction_id: format!("TX-EDGE-0-{day}"),
        transaction_ts: t(39_900),
        store_id: "STORE-PARIS".to_string(),
        loyalty_card_id: None,
        receipt_email: None,
        phone: Some("06.12.34.56.70".to_string()),
        amount: 1_999,
        currency: "EUR",
    });
    out.pos.push(PosRow {
        transaction_id: format!("TX-EDGE-CASH-{day}"),
        transaction_ts: t(40_000),
        store_id: "STORE-PARIS".to_string(),
        loyalty_card_id: None,
        receipt_email: None,
        phone: None,
        amount: 500,
        currency: "EUR",
    });

    // registrations: Paul's address with spaces and a typo, no amount on even days
    let incentives = ["warranty_extension", "prize_draw", "content_download"];
    out.regs.push(RegRow {
        registration_id: format!("REG-EDGE-2-{day}"),
        registered_at: t(48_000),
        email: if day.is_multiple_of(2) {
            "Paul . Martin @ gmail.com".to_string()
        } else {
            "paul.martin@gmial.com".to_string()
        },
        purchase_date: date - 3,
        retailer: "Boulanger",
        product_sku: format!("SKU-ÉDGE-{day:03}"),
        amount: (!day.is_multiple_of(2)).then_some(29_900),
        incentive: incentives[day as usize % 3],
    });
    out.regs.push(RegRow {
        registration_id: format!("REG-EDGE-INVALID-{day}"),
        registered_at: t(48_500),
        email: "pas une adresse".to_string(),
        purchase_date: date,
        retailer: "Darty",
        product_sku: "SKU-0".to_string(),
        amount: Some(0),
        incentive: incentives[(day as usize + 1) % 3],
    });
}

/// The erasure requests of edge persons: by e-mail hash, by contact id and by phone hash,
/// with the day each is requested.
pub fn suppression_rows(day0: i32, days: u32) -> Vec<(u32, SuppressionRow)> {
    let day = |d: u32| d.min(days.saturating_sub(1));
    let at = |d: u32| day_start(day0, day(d)) + 80_000 * S;
    let mut rows = Vec::new();
    if let Some(h) = email_hash("zoe.erased@example.com") {
        rows.push((
            day(2),
            SuppressionRow {
                identifier_type: "email_sha256",
                identifier_value: h,
                requested_at: at(2),
            },
        ));
    }
    rows.push((
        day(3),
        SuppressionRow {
            identifier_type: "contact_id",
            identifier_value: PERSONS[P_HUGO].contacts[0].id.to_string(),
            requested_at: at(3),
        },
    ));
    if let Some(h) = phone_hash("06 99 88 77 66", "FR") {
        rows.push((
            day(days.saturating_sub(2)),
            SuppressionRow {
                identifier_type: "phone_sha256",
                identifier_value: h,
                requested_at: at(days.saturating_sub(2)),
            },
        ));
    }
    rows
}

/// Truth rows of every edge record: contacts, orders, till tickets, registrations, cookies.
pub fn truth_rows(days: u32) -> Vec<TruthRow> {
    let mut rows = Vec::new();
    let truth = |table: &'static str, record: String, person: &str, identifiable: bool| TruthRow {
        table,
        record_id: record,
        person_id: person.to_string(),
        identifiable,
    };
    for p in PERSONS {
        for k in p.contacts {
            rows.push(truth(
                "crm_contacts",
                k.id.to_string(),
                p.key,
                k.identifiable,
            ));
        }
        if let Some((cookie, tied)) = p.cookie {
            rows.push(truth("cookies", cookie.to_string(), p.key, tied));
        }
    }
    rows.push(truth(
        "crm_contacts",
        "CRM-EDGE06".into(),
        PERSONS[P_LONG].key,
        false,
    ));
    for d in 0..days {
        rows.push(truth(
            "orders",
            format!("ORD-EDGE-0-{d}"),
            PERSONS[P_JEAN].key,
            true,
        ));
        rows.push(truth(
            "orders",
            format!("ORD-EDGE-2-{d}"),
            PERSONS[P_PAUL].key,
            true,
        ));
        rows.push(truth(
            "orders",
            format!("ORD-EDGE-16-{d}"),
            PERSONS[P_ZOE].key,
            true,
        ));
        rows.push(truth(
            "orders",
            format!("ORD-EDGE-ANON-{d}"),
            &format!("edge-anon-order-{d}"),
            false,
        ));
        rows.push(truth(
            "pos_transactions",
            format!("TX-EDGE-17-{d}"),
            PERSONS[P_HUGO].key,
            true,
        ));
        rows.push(truth(
            "pos_transactions",
            format!("TX-EDGE-5-{d}"),
            PERSONS[P_MOHAMMED].key,
            true,
        ));
        rows.push(truth(
            "pos_transactions",
            format!("TX-EDGE-0-{d}"),
            PERSONS[P_JEAN].key,
            true,
        ));
        rows.push(truth(
            "pos_transactions",
            format!("TX-EDGE-CASH-{d}"),
            &format!("edge-cash-{d}"),
            false,
        ));
        rows.push(truth(
            "purchase_registrations",
            format!("REG-EDGE-2-{d}"),
            PERSONS[P_PAUL].key,
            true,
        ));
        rows.push(truth(
            "purchase_registrations",
            format!("REG-EDGE-INVALID-{d}"),
            &format!("edge-reg-{d}"),
            false,
        ));
        rows.push(truth(
            "cookies",
            format!("ck-edge-null-{d}"),
            &format!("edge-null-{d}"),
            false,
        ));
        rows.push(truth(
            "cookies",
            format!("ck-edge-stray-{d}"),
            &format!("edge-stray-{d}"),
            false,
        ));
    }
    if days > 1 {
        rows.push(truth(
            "orders",
            "ORD-EDGE-MAX".into(),
            PERSONS[P_XIAOMING].key,
            true,
        ));
    }
    for b in 1..BOT_AGENTS.len() {
        rows.push(truth(
            "cookies",
            format!("ck-edge-bot-{b}"),
            &format!("bot-edge-{b}"),
            false,
        ));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_interaction_type_on_every_channel_with_and_without_dwell() {
        let mut seen = std::collections::BTreeSet::new();
        for day in 0..6 {
            for a in day_rows(20_000, day, 10).ad {
                seen.insert((
                    a.channel,
                    a.interaction_type,
                    a.dwell_seconds.map(|d| d > 0),
                ));
            }
        }
        for ch in CHANNELS {
            for kind in INTERACTION_TYPES {
                for dwell in [None, Some(false), Some(true)] {
                    assert!(seen.contains(&(ch, kind, dwell)), "{ch} {kind} {dwell:?}");
                }
            }
        }
    }

    #[test]
    fn dirty_values_normalise_as_the_contract_says() {
        // the same person's addresses, however typed, are one key
        let keys: std::collections::BTreeSet<Option<String>> = [
            " Jean François . Dupont @ Orange.FR ",
            "jeanfrançois.dupont@orange.fr",
            " JEAN FRANÇOIS.DUPONT@ORANGE.FR",
        ]
        .iter()
        .map(|e| normalize_email(e))
        .collect();
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert_eq!(
            normalize_phone("06 12 34 56 70", "FR"),
            normalize_phone("+33 6 12 34 56 70", "FR")
        );
        assert_eq!(
            normalize_phone("(612) 345-6789", "US").as_deref(),
            Some("+16123456789")
        );
        for junk in ["n/a", "xx@", "@", "jean@localhost", "", "   "] {
            assert_eq!(normalize_email(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn export_shapes_hold_nothing_back_on_the_last_night() {
        for table in Table::ALL {
            assert_eq!(export(table, 9, 10), Export::Normal);
        }
        assert_eq!(export(Table::CampaignSpend, 6, 10), Export::Absent);
        assert_eq!(export(Table::AdInteractions, 8, 10), Export::Absent);
        assert_eq!(export(Table::PurchaseRegistrations, 6, 10), Export::Empty);
        assert_eq!(export(Table::PurchaseRegistrations, 7, 10), Export::Normal);
        assert_eq!(export(Table::CampaignSpend, 0, 3), Export::Normal);
    }
}
