//! Synthetic raw exports with ground truth, following `raw-exports.md` exactly: a retailer's
//! CRM, e-commerce, web analytics, ad platforms, tills and registration form, for a
//! population of `100_000 × scale` persons over `days` days ending on `end_date`.
//!
//! # Layout under the output prefix
//!
//! ```text
//! crm_contacts/export_date=YYYY-MM-DD/part-0.parquet        (one file per table and day,
//! web_events/…  ad_interactions/…  orders/…                   even when it has no rows, so
//! pos_transactions/…  purchase_registrations/…                every partition exists)
//! campaign_spend/export_date=YYYY-MM-DD/part-0.parquet      (rows of spend_date = that day)
//! suppression_list/part-0.parquet                           (unpartitioned: one full list)
//! _truth/record_person/part-0.parquet                       (never read by the pipeline)
//! _truth/channel_effect/part-0.parquet
//! ```
//!
//! The first `crm_contacts` partition is the initial load: every record created before the
//! window. Later partitions hold records created or updated that day (an updated record is
//! exported again with the same `contact_id` and a later `updated_at`).
//!
//! # Conventions the identity and attribution models must follow
//!
//! * `email_sha256` = lowercase hex SHA-256 of the e-mail trimmed, lowercased, with any
//!   `+tag` removed from the local part and, for `gmail.com`/`googlemail.com`, dots removed
//!   from the local part. `phone_sha256` = SHA-256 of the E.164 form (`+33612345678`).
//! * Web logins: on a logged-in session every event carries `user_id` (the `ECO-` contact id)
//!   and the first event also carries `email_sha256` (the contract has no `login` event).
//! * Ground truth `_truth/record_person.table` is one of `crm_contacts`, `orders`,
//!   `pos_transactions`, `purchase_registrations`, `cookies`; `crate::eval` matches them to
//!   `bridge_identity` rows with `identifier_type` `contact_id`, `order_id`, `transaction_id`,
//!   `registration_id`, `anonymous_id` respectively, so the identity models must put every
//!   record (not only identifiers) into `bridge_identity` under those types.
//! * Persons are `p-NNNNNNNN`; bots are `bot-N`; a public computer's cookie is `public-N`
//!   (`identifiable = false`: it belongs to no single person).
//! * `identifiable` follows raw-exports.md ("carries something that ties it to its person
//!   elsewhere") literally: a record is identifiable when it carries one of its person's
//!   identifiers that *another record of the same person* also carries. The identifiers are
//!   the personal e-mail (not a company inbox, a typo or junk), the personal mobile (not the
//!   household landline), the loyalty card, the e-commerce account (ECO contact, an order's
//!   `customer_id`, a cookie's login or sign-up), each cookie seen with a login (the cookie
//!   itself, the orders that name it or whose tracked purchase event it carries; an
//!   anonymous cookie ties nothing), and on contacts the name with a birth date or with an
//!   address. A cookie also carries the e-mail of a login, sign-up or
//!   ad-platform match. This is only known when the window is over, so truth rows are held
//!   (16 bytes each) and written last.
//! * `_truth/channel_effect.lift`: the planted increase of the daily purchase probability
//!   caused by one *touch* of the channel (any non-impression ad interaction: click, open,
//!   view, like, share, comment), decaying with half-life [`GeneratorParams::half_life_days`].
//!   Touch volumes per channel are of the same order, so credit shares should rank like the
//!   lifts.
//!
//! # Row counts (seed 42, 90 days ending 2026-10-31, default parameters; measured)
//!
//! | table | scale 1 (100k persons) | scale 10 |
//! |---|---:|---:|
//! | crm_contacts | 163,694 | 1,634,142 |
//! | web_events | 3,324,696 | 33,182,289 |
//! | ad_interactions | 2,132,526 | 21,293,218 |
//! | orders | 142,916 | 1,427,824 |
//! | pos_transactions | 209,443 | 2,090,132 |
//! | purchase_registrations | 15,252 | 151,085 |
//! | campaign_spend (58 campaigns + `seo`, `social_organic`) | 2,785 | 2,785 |
//! | suppression_list | 502 | 4,916 |
//! | _truth/record_person | 708,094 | 7,074,188 |
//! | _truth/channel_effect | 6 | 6 |
//!
//! Counts grow linearly with `scale` (campaigns do not). About 200 bots per 100k persons
//! produce ~3% of web events; 1% of web events are exported twice; 2% of events, ad
//! interactions, orders and till rows arrive one to three partitions late.
//!
//! # How it runs
//!
//! Persons are split into fixed chunks of [`CHUNK_PERSONS`]; each day every chunk is
//! simulated (in parallel, on scoped threads) and its rows become Arrow batches that are
//! streamed to one writer task per table (Parquet, zstd, statistics on). Memory is the
//! per-person state (~70 bytes), 16 bytes per held truth record (about 5 per person over
//! 90 days) and a day's rows of a few chunks; the output is identical whatever the number of
//! threads.

mod campaigns;
pub mod edges;
mod persons;
mod rng;
mod sim;
mod tables;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use tokio::sync::mpsc;

pub use tables::Table;

use campaigns::{CHANNELS, Plan, SEO_CAMPAIGN, SOCIAL_ORGANIC_CAMPAIGN};
use rng::{Rng, stream_id};
use sim::{Chunk, DAY_US, DayOut, World};
use tables::{SpendRow, SuppressionRow, TruthRow};

/// Persons per simulation chunk: fixes batch boundaries (and so the bytes written)
/// independently of the machine.
pub const CHUNK_PERSONS: usize = 32_768;
/// Persons at scale 1.
pub const PERSONS_PER_SCALE: f64 = 100_000.0;
const ROW_GROUP_ROWS: usize = 131_072;
const CHANNEL_CAPACITY: usize = 8;

/// Behaviour of the synthetic world. Every share is a probability in `[0, 1]`; rates are
/// expected counts per person and day. Defaults are tuned to the row counts in the module
/// documentation. Every field can be set from the command line (`--param name=value`) or a
/// YAML/JSON file (`--params file`); unknown names are refused.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeneratorParams {
    /// Mean number of cookies/devices per person (at least one). Default 2.2.
    pub cookies_per_person: f64,
    /// Share of persons with a CRM (`CRM-`) record before the window. Default 0.40.
    pub crm_share: f64,
    /// Share of persons with an e-commerce account (`ECO-`) before the window; others may
    /// sign up during it. Default 0.30.
    pub ecommerce_share: f64,
    /// Share of persons in the loyalty programme (`LOY-`, with a card) before the window.
    /// Default 0.25.
    pub loyalty_share: f64,
    /// Share of persons subscribed to the newsletter (`NWS-`) before the window. Default 0.12.
    pub newsletter_share: f64,
    /// Share of contact records updated (re-exported with a later `updated_at`) during the
    /// window. Default 0.12.
    pub crm_update_share: f64,
    /// Share of exported personal e-mails with cosmetic noise that normalisation removes
    /// (case, spaces, `+tag`, gmail dots). Default 0.25.
    pub email_cosmetic_share: f64,
    /// Share of exported e-mails with a typo in the domain. Default 0.03.
    pub email_typo_share: f64,
    /// Share of exported e-mails that are not addresses (`n/a`, `xx@`, …). Default 0.02.
    pub email_invalid_share: f64,
    /// Share of persons working in a small company whose shared inbox (`contact@…`,
    /// `info@…`) they give in some records. Default 0.03.
    pub shared_inbox_person_share: f64,
    /// For those persons, share of their records that carry the shared inbox. Default 0.5.
    pub shared_inbox_use: f64,
    /// For persons living with others, share of records giving the household landline
    /// (shared by the family) instead of their mobile. Default 0.3.
    pub family_phone_share: f64,
    /// Share of exported phone values that are garbage. Default 0.02.
    pub phone_invalid_share: f64,
    /// Share of name and street renderings with a typo at edit distance 1–2. Default 0.05.
    pub name_typo_share: f64,
    /// Share of records with first and last name swapped. Default 0.02.
    pub name_swap_share: f64,
    /// Share of records using a nickname where one exists (Alexandre → Alex). Default 0.15.
    pub nickname_share: f64,
    /// Share of records with accents dropped (Hélène → Helene). Default 0.3.
    pub accent_drop_share: f64,
    /// Ad impressions (e-mail and SMS: sends) per reachable person and day, per channel in
    /// the order paid_search, display, paid_social, email, sms, affiliate.
    /// Default [0.03, 0.04, 0.05, 0.08, 0.04, 0.03].
    pub impressions_per_day: [f64; 6],
    /// Share of impressions that become a touch (click, open, view, …), per channel.
    /// Default [0.35, 0.15, 0.2, 0.22, 0.2, 0.3].
    pub engage_rate: [f64; 6],
    /// Share of cookie-based ad interactions where the platform reports the cookie.
    /// Default 0.7.
    pub cookie_match_share: f64,
    /// Planted lift of one touch on the daily purchase probability, per channel (same order
    /// as `impressions_per_day`); written to `_truth/channel_effect`.
    /// Default [0.030, 0.003, 0.016, 0.022, 0.007, 0.011].
    pub lift: [f64; 6],
    /// Half-life in days of a touch's effect. Default 7.
    pub half_life_days: f64,
    /// Daily purchase probability of an average person without any touch. Default 0.04.
    pub base_purchase_rate: f64,
    /// A purchase happens 0..=this many days after the decision; engagement rises
    /// meanwhile. Default 3.
    pub max_purchase_delay_days: u32,
    /// Multiplier of sessions, dwell time and social reactions while a purchase is pending.
    /// Default 2.5.
    pub intent_boost: f64,
    /// Daily probability of a lead (sign-up or newsletter subscription) without touches.
    /// Default 0.0015.
    pub base_lead_rate: f64,
    /// Lead hazard added per unit of purchase touch hazard. Default 0.3.
    pub lead_touch_factor: f64,
    /// Organic (search, direct, social) sessions per person and day. Default 0.03.
    pub organic_sessions_per_day: f64,
    /// Mean events per session. Default 3.5.
    pub events_per_session: f64,
    /// Share of sessions of account holders that are logged in. Default 0.35.
    pub login_share: f64,
    /// Share of browsing sessions on a public computer (cookie shared by many). Default 0.003.
    pub public_cookie_share: f64,
    /// Bots per person. Default 0.002.
    pub bot_share: f64,
    /// Mean page views per bot and day. Default 5.
    pub bot_events_per_day: f64,
    /// Share of web events exported twice. Default 0.01.
    pub duplicate_event_share: f64,
    /// Share of web events, ad interactions, orders and till rows that arrive in a later
    /// `export_date` partition. Default 0.02.
    pub late_row_share: f64,
    /// Share of orders whose `purchase` web event is tracked. Default 0.9.
    pub purchase_tracked_share: f64,
    /// Share of orders of account holders placed as guest. Default 0.15.
    pub guest_checkout_share: f64,
    /// Share of orders cancelled. Default 0.04.
    pub cancelled_share: f64,
    /// Share of orders returned. Default 0.06.
    pub returned_share: f64,
    /// Share of store purchases refunded later (a negative till row). Default 0.05.
    pub refund_share: f64,
    /// Share of store purchases of loyalty members where the card is scanned. Default 0.75.
    pub loyalty_scan_share: f64,
    /// Share of store purchases with an e-receipt e-mail. Default 0.25.
    pub ereceipt_share: f64,
    /// Share of store purchases where a phone is given at the till. Default 0.1.
    pub till_phone_share: f64,
    /// Share of third-party retailer purchases registered online. Default 0.42.
    pub registration_share: f64,
    /// Median online order, EUR. Default 55.
    pub order_median_eur: f64,
    /// Median store ticket, EUR. Default 35.
    pub store_ticket_median_eur: f64,
    /// Share of persons with an erasure request in `suppression_list`. Default 0.005.
    pub suppression_share: f64,
    /// Share of contact records' chances of giving an e-mail (1 = each source system's usual
    /// rate, 0 = contacts carry no e-mail). Default 1.
    pub contact_email_share: f64,
    /// Share of contact records' chances of giving a phone, as above. Default 1.
    pub contact_phone_share: f64,
    /// Share of persons whose e-mail local part is made of their names only (`prenom.nom`,
    /// or with a two-digit number when the name is taken), as many mailbox providers suggest;
    /// the others' local parts end with a personal number. Default 0.
    pub name_email_share: f64,
}

impl Default for GeneratorParams {
    fn default() -> Self {
        GeneratorParams {
            cookies_per_person: 2.2,
            crm_share: 0.40,
            ecommerce_share: 0.30,
            loyalty_share: 0.25,
            newsletter_share: 0.12,
            crm_update_share: 0.12,
            email_cosmetic_share: 0.25,
            email_typo_share: 0.03,
            email_invalid_share: 0.02,
            shared_inbox_person_share: 0.03,
            shared_inbox_use: 0.5,
            family_phone_share: 0.3,
            phone_invalid_share: 0.02,
            name_typo_share: 0.05,
            name_swap_share: 0.02,
            nickname_share: 0.15,
            accent_drop_share: 0.3,
            impressions_per_day: [0.03, 0.04, 0.05, 0.08, 0.04, 0.03],
            engage_rate: [0.35, 0.15, 0.2, 0.22, 0.2, 0.3],
            cookie_match_share: 0.7,
            lift: [0.030, 0.003, 0.016, 0.022, 0.007, 0.011],
            half_life_days: 7.0,
            base_purchase_rate: 0.04,
            max_purchase_delay_days: 3,
            intent_boost: 2.5,
            base_lead_rate: 0.0015,
            lead_touch_factor: 0.3,
            organic_sessions_per_day: 0.03,
            events_per_session: 3.5,
            login_share: 0.35,
            public_cookie_share: 0.003,
            bot_share: 0.002,
            bot_events_per_day: 5.0,
            duplicate_event_share: 0.01,
            late_row_share: 0.02,
            purchase_tracked_share: 0.9,
            guest_checkout_share: 0.15,
            cancelled_share: 0.04,
            returned_share: 0.06,
            refund_share: 0.05,
            loyalty_scan_share: 0.75,
            ereceipt_share: 0.25,
            till_phone_share: 0.1,
            registration_share: 0.42,
            order_median_eur: 55.0,
            store_ticket_median_eur: 35.0,
            suppression_share: 0.005,
            contact_email_share: 1.0,
            contact_phone_share: 1.0,
            name_email_share: 0.0,
        }
    }
}

impl GeneratorParams {
    fn validate(&self) -> Result<(), GenerateError> {
        let shares = [
            ("crm_share", self.crm_share),
            ("ecommerce_share", self.ecommerce_share),
            ("loyalty_share", self.loyalty_share),
            ("newsletter_share", self.newsletter_share),
            ("crm_update_share", self.crm_update_share),
            ("email_cosmetic_share", self.email_cosmetic_share),
            ("email_typo_share", self.email_typo_share),
            ("email_invalid_share", self.email_invalid_share),
            ("shared_inbox_person_share", self.shared_inbox_person_share),
            ("shared_inbox_use", self.shared_inbox_use),
            ("family_phone_share", self.family_phone_share),
            ("phone_invalid_share", self.phone_invalid_share),
            ("name_typo_share", self.name_typo_share),
            ("name_swap_share", self.name_swap_share),
            ("nickname_share", self.nickname_share),
            ("accent_drop_share", self.accent_drop_share),
            ("cookie_match_share", self.cookie_match_share),
            ("login_share", self.login_share),
            ("public_cookie_share", self.public_cookie_share),
            ("duplicate_event_share", self.duplicate_event_share),
            ("late_row_share", self.late_row_share),
            ("purchase_tracked_share", self.purchase_tracked_share),
            ("guest_checkout_share", self.guest_checkout_share),
            ("cancelled_share", self.cancelled_share),
            ("returned_share", self.returned_share),
            ("refund_share", self.refund_share),
            ("loyalty_scan_share", self.loyalty_scan_share),
            ("ereceipt_share", self.ereceipt_share),
            ("till_phone_share", self.till_phone_share),
            ("registration_share", self.registration_share),
            ("suppression_share", self.suppression_share),
            ("contact_email_share", self.contact_email_share),
            ("contact_phone_share", self.contact_phone_share),
            ("name_email_share", self.name_email_share),
        ];
        for (name, v) in shares
            .into_iter()
            .chain(self.engage_rate.iter().map(|v| ("engage_rate", *v)))
        {
            if !(0.0..=1.0).contains(&v) {
                return Err(GenerateError::InvalidOptions(format!(
                    "{name} must be within [0, 1], got {v}"
                )));
            }
        }
        let rates = [
            ("cookies_per_person", self.cookies_per_person),
            ("half_life_days", self.half_life_days),
            ("base_purchase_rate", self.base_purchase_rate),
            ("intent_boost", self.intent_boost),
            ("base_lead_rate", self.base_lead_rate),
            ("lead_touch_factor", self.lead_touch_factor),
            ("organic_sessions_per_day", self.organic_sessions_per_day),
            ("events_per_session", self.events_per_session),
            ("bot_share", self.bot_share),
            ("bot_events_per_day", self.bot_events_per_day),
            ("order_median_eur", self.order_median_eur),
            ("store_ticket_median_eur", self.store_ticket_median_eur),
        ];
        for (name, v) in rates
            .into_iter()
            .chain(
                self.impressions_per_day
                    .iter()
                    .map(|v| ("impressions_per_day", *v)),
            )
            .chain(self.lift.iter().map(|v| ("lift", *v)))
        {
            if !v.is_finite() || v < 0.0 {
                return Err(GenerateError::InvalidOptions(format!(
                    "{name} must be a finite non-negative number, got {v}"
                )));
            }
        }
        if self.half_life_days <= 0.0 || self.events_per_session < 1.0 {
            return Err(GenerateError::InvalidOptions(
                "half_life_days must be > 0 and events_per_session >= 1".into(),
            ));
        }
        if self.duplicate_event_share + self.late_row_share > 1.0
            || self.email_invalid_share + self.email_typo_share > 1.0
            || self.cancelled_share + self.returned_share > 1.0
        {
            return Err(GenerateError::InvalidOptions(
                "shares drawn from one roll must sum to at most 1".into(),
            ));
        }
        Ok(())
    }
}

/// Which world to generate: the realistic default, or that world with every value and shape
/// the contract allows added on top ([`edges`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Profile {
    /// The realistic mix the benchmarks and quality figures use.
    #[default]
    Default,
    /// The default world, dirtier ([`Profile::params`]), plus the edge cases of [`edges`].
    ContractEdges,
    /// The default world whose contact records carry no e-mail and no phone: identity must
    /// rest on names, birth dates and addresses.
    NoContactKeys,
    /// The default world where e-mail local parts are the person's names (`prenom.nom`):
    /// a local part that agrees repeats the names instead of adding evidence.
    NameEmails,
}

impl Profile {
    /// The behaviour parameters the profile starts from (`--param` and `--params` apply on
    /// top): for `contract-edges`, more of every kind of dirt, duplicate, late row and bot.
    pub fn params(self) -> GeneratorParams {
        let d = GeneratorParams::default();
        match self {
            Profile::Default => d,
            Profile::NoContactKeys => GeneratorParams {
                contact_email_share: 0.0,
                contact_phone_share: 0.0,
                ..d
            },
            Profile::NameEmails => GeneratorParams {
                name_email_share: 1.0,
                ..d
            },
            Profile::ContractEdges => GeneratorParams {
                crm_update_share: 0.3,
                email_cosmetic_share: 0.5,
                email_typo_share: 0.08,
                email_invalid_share: 0.08,
                shared_inbox_person_share: 0.08,
                family_phone_share: 0.5,
                phone_invalid_share: 0.08,
                name_typo_share: 0.15,
                name_swap_share: 0.08,
                nickname_share: 0.3,
                accent_drop_share: 0.5,
                public_cookie_share: 0.01,
                bot_share: 0.01,
                duplicate_event_share: 0.05,
                late_row_share: 0.08,
                guest_checkout_share: 0.3,
                cancelled_share: 0.15,
                returned_share: 0.15,
                refund_share: 0.15,
                suppression_share: 0.02,
                ..d
            },
        }
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    /// 1.0 = 100,000 persons; any positive float.
    pub scale: f64,
    pub seed: u64,
    /// Length of the window in days (1..=4000).
    pub days: u32,
    /// Last day of the window (its last `export_date`).
    pub end_date: NaiveDate,
    pub params: GeneratorParams,
    /// The default world, or with the contract's edge cases added.
    pub profile: Profile,
}

impl GenerateOptions {
    /// Defaults: scale 1, seed 42, 90 days ending `end_date`.
    pub fn new(scale: f64, seed: u64, days: u32, end_date: NaiveDate) -> Self {
        GenerateOptions {
            scale,
            seed,
            days,
            end_date,
            params: GeneratorParams::default(),
            profile: Profile::Default,
        }
    }
}

/// What was written for one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableReport {
    /// Folder under the prefix, e.g. `web_events` or `_truth/record_person`.
    pub name: String,
    pub rows: u64,
    pub files: u64,
    pub bytes: u64,
}

impl TableReport {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "rows": self.rows,
            "files": self.files,
            "bytes": self.bytes,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerateReport {
    pub persons: u64,
    pub bots: u64,
    pub days: u32,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub tables: Vec<TableReport>,
}

impl GenerateReport {
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    pub fn total_bytes(&self) -> u64 {
        self.tables.iter().map(|t| t.bytes).sum()
    }

    pub fn table(&self, name: &str) -> Option<&TableReport> {
        self.tables.iter().find(|t| t.name == name)
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "persons": self.persons,
            "bots": self.bots,
            "days": self.days,
            "start_date": self.start_date.to_string(),
            "end_date": self.end_date.to_string(),
            "total_rows": self.total_rows(),
            "total_bytes": self.total_bytes(),
            "tables": self.tables.iter().map(TableReport::to_json).collect::<Vec<_>>(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("invalid generate options: {0}")]
    InvalidOptions(String),
    #[error("object store error: {0}")]
    Store(#[from] object_store::Error),
    #[error("parquet error: {0}")]
    Parquet(#[from] ParquetError),
    #[error("arrow error: {0}")]
    Arrow(#[from] ArrowError),
    #[error("generator task failed: {0}")]
    Task(String),
}

enum Msg {
    Open(String),
    Batch(RecordBatch),
}

/// Writes the synthetic raw exports and ground truth under `prefix` in `store`.
pub async fn generate(
    opts: &GenerateOptions,
    store: Arc<dyn ObjectStore>,
    prefix: &Path,
) -> Result<GenerateReport, GenerateError> {
    opts.params.validate()?;
    if !opts.scale.is_finite() || opts.scale <= 0.0 {
        return Err(GenerateError::InvalidOptions(format!(
            "scale must be a positive number, got {}",
            opts.scale
        )));
    }
    if opts.days == 0 || opts.days > 4000 {
        return Err(GenerateError::InvalidOptions(format!(
            "days must be within 1..=4000, got {}",
            opts.days
        )));
    }
    let n_persons = (PERSONS_PER_SCALE * opts.scale).round().max(1.0) as u64;
    let n_bots = if opts.params.bot_share > 0.0 {
        ((n_persons as f64 * opts.params.bot_share).round() as u64).max(1)
    } else {
        0
    };
    if n_persons + n_bots >= 1 << persons::PERSON_BITS {
        return Err(GenerateError::InvalidOptions(format!(
            "scale {} is too large: at most {} persons are supported",
            opts.scale,
            (1u64 << persons::PERSON_BITS) - n_bots - 1
        )));
    }
    let start_date = opts
        .end_date
        .checked_sub_days(chrono::Days::new(opts.days as u64 - 1))
        .ok_or_else(|| GenerateError::InvalidOptions("window starts before year -262144".into()))?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)
        .ok_or_else(|| GenerateError::Task("epoch date".into()))?;
    let day0 = i32::try_from((start_date - epoch).num_days())
        .map_err(|_| GenerateError::InvalidOptions("date out of range".into()))?;
    let n_public = (n_persons / 20_000).max(1);
    let world = Arc::new(World {
        seed: opts.seed,
        params: opts.params.clone(),
        days: opts.days,
        day0,
        n_persons,
        n_bots,
        n_public,
        plan: Plan::new(opts.seed, opts.days),
        decay: (0.5f64).powf(1.0 / opts.params.half_life_days) as f32,
        public_seen: (0..n_public).map(|_| AtomicBool::new(false)).collect(),
        name_email_suffixes: persons::name_email_suffixes(
            opts.seed,
            n_persons,
            &opts.params,
            opts.days,
        ),
    });

    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();

    let mut senders = Vec::new();
    let mut writers = Vec::new();
    for table in Table::ALL {
        let (tx, rx) = mpsc::channel::<Msg>(CHANNEL_CAPACITY);
        senders.push(tx);
        let mut base = prefix.clone();
        for part in table.folder().split('/') {
            base = base.join(part);
        }
        writers.push(tokio::spawn(write_table(
            store.clone(),
            base,
            table,
            rx,
            props.clone(),
        )));
    }

    let dates: Vec<String> = (0..opts.days)
        .map(|d| {
            start_date
                .checked_add_days(chrono::Days::new(d as u64))
                .map(|x| x.to_string())
                .unwrap_or_default()
        })
        .collect();
    let producer_world = world.clone();
    let profile = opts.profile;
    let producer =
        tokio::task::spawn_blocking(move || produce(&producer_world, &senders, &dates, profile));
    let produced = producer
        .await
        .map_err(|e| GenerateError::Task(e.to_string()));

    let mut tables = Vec::new();
    let mut first_err = None;
    for (table, handle) in Table::ALL.iter().zip(writers) {
        match handle.await {
            Ok(Ok(report)) => tables.push(report),
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(GenerateError::Task(format!("{table:?}: {e}")));
            }
        }
    }
    // A writer error is the root cause of a producer's "channel closed".
    if let Some(e) = first_err {
        return Err(e);
    }
    produced??;
    Ok(GenerateReport {
        persons: n_persons,
        bots: n_bots,
        days: opts.days,
        start_date,
        end_date: opts.end_date,
        tables,
    })
}

async fn write_table(
    store: Arc<dyn ObjectStore>,
    base: Path,
    table: Table,
    mut rx: mpsc::Receiver<Msg>,
    props: WriterProperties,
) -> Result<TableReport, GenerateError> {
    let mut report = TableReport {
        name: table.folder().to_string(),
        rows: 0,
        files: 0,
        bytes: 0,
    };
    let mut current: Option<AsyncArrowWriter<BufWriter>> = None;
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Open(partition) => {
                if let Some(w) = current.take() {
                    report.bytes += close(w).await?;
                }
                let dir = if partition.is_empty() {
                    base.clone()
                } else {
                    base.clone().join(format!("export_date={partition}"))
                };
                let path = dir.join("part-0.parquet");
                current = Some(AsyncArrowWriter::try_new(
                    BufWriter::new(store.clone(), path),
                    table.schema(),
                    Some(props.clone()),
                )?);
                report.files += 1;
            }
            Msg::Batch(batch) => {
                report.rows += batch.num_rows() as u64;
                match current.as_mut() {
                    Some(w) => w.write(&batch).await?,
                    None => return Err(GenerateError::Task("batch before open".into())),
                }
            }
        }
    }
    if let Some(w) = current.take() {
        report.bytes += close(w).await?;
    }
    Ok(report)
}

async fn close(mut w: AsyncArrowWriter<BufWriter>) -> Result<u64, GenerateError> {
    w.finish().await?;
    Ok(w.bytes_written() as u64)
}

fn send(senders: &[mpsc::Sender<Msg>], table: Table, msg: Msg) -> Result<(), GenerateError> {
    let i = Table::ALL.iter().position(|t| *t == table).unwrap_or(0);
    senders[i]
        .blocking_send(msg)
        .map_err(|_| GenerateError::Task(format!("writer of {} stopped", table.folder())))
}

fn send_rows<T>(
    senders: &[mpsc::Sender<Msg>],
    table: Table,
    rows: &[T],
    to_batch: fn(&[T]) -> Result<RecordBatch, ArrowError>,
) -> Result<(), GenerateError> {
    if rows.is_empty() {
        return Ok(());
    }
    send(senders, table, Msg::Batch(to_batch(rows)?))
}

/// A chunk's rows for one day, converted on the worker thread.
struct DayBatches {
    batches: Vec<(Table, RecordBatch)>,
    campaign_counts: Vec<(i64, i64)>,
    organic: [i64; 2],
}

fn to_batches(out: DayOut) -> Result<DayBatches, ArrowError> {
    let mut batches = Vec::new();
    let mut add = |t: Table, b: Option<RecordBatch>| {
        if let Some(b) = b {
            batches.push((t, b));
        }
    };
    add(Table::CrmContacts, nonempty(&out.crm, tables::crm_batch)?);
    add(Table::WebEvents, nonempty(&out.web, tables::web_batch)?);
    add(Table::AdInteractions, nonempty(&out.ad, tables::ad_batch)?);
    add(Table::Orders, nonempty(&out.orders, tables::order_batch)?);
    add(
        Table::PosTransactions,
        nonempty(&out.pos, tables::pos_batch)?,
    );
    add(
        Table::PurchaseRegistrations,
        nonempty(&out.regs, tables::reg_batch)?,
    );
    Ok(DayBatches {
        batches,
        campaign_counts: out.campaign_counts,
        organic: out.organic,
    })
}

fn nonempty<T>(
    rows: &[T],
    f: fn(&[T]) -> Result<RecordBatch, ArrowError>,
) -> Result<Option<RecordBatch>, ArrowError> {
    if rows.is_empty() {
        Ok(None)
    } else {
        f(rows).map(Some)
    }
}

/// Sends a table's batch of the night, or holds it back when the profile does not export the
/// table tonight (an empty file or no folder): it goes out with the next night's export.
fn emit(
    senders: &[mpsc::Sender<Msg>],
    held: &mut std::collections::BTreeMap<Table, Vec<RecordBatch>>,
    export: edges::Export,
    table: Table,
    batch: RecordBatch,
) -> Result<(), GenerateError> {
    if export == edges::Export::Normal {
        send(senders, table, Msg::Batch(batch))
    } else {
        held.entry(table).or_default().push(batch);
        Ok(())
    }
}

/// The simulation loop, on a blocking thread: day by day, chunk by chunk.
fn produce(
    world: &World,
    senders: &[mpsc::Sender<Msg>],
    dates: &[String],
    profile: Profile,
) -> Result<(), GenerateError> {
    let n_agents = (world.n_persons + world.n_bots) as usize;
    let mut chunks: Vec<Chunk> = (0..n_agents)
        .step_by(CHUNK_PERSONS)
        .map(|first| Chunk::new(first as u64, CHUNK_PERSONS.min(n_agents - first)))
        .collect();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let edgy = profile == Profile::ContractEdges;
    let export = |table: Table, day: u32| {
        if edgy {
            edges::export(table, day, world.days)
        } else {
            edges::Export::Normal
        }
    };
    let mut held = std::collections::BTreeMap::new();
    for table in [
        Table::SuppressionList,
        Table::TruthRecordPerson,
        Table::TruthChannelEffect,
    ] {
        // contract-edges writes the suppression list partitioned by export date (below)
        if !(edgy && table == Table::SuppressionList) {
            send(senders, table, Msg::Open(String::new()))?;
        }
    }
    for (day, date) in dates.iter().enumerate() {
        let day = day as u32;
        for table in Table::ALL.iter().filter(|t| t.partitioned()) {
            match export(*table, day) {
                edges::Export::Absent => {}
                edges::Export::Empty => send(senders, *table, Msg::Open(date.clone()))?,
                edges::Export::Normal => {
                    send(senders, *table, Msg::Open(date.clone()))?;
                    for batch in held.remove(table).unwrap_or_default() {
                        send(senders, *table, Msg::Batch(batch))?;
                    }
                }
            }
        }
        let mut counts = vec![(0i64, 0i64); world.plan.campaigns.len()];
        let mut organic = [0i64; 2];
        for wave in chunks.chunks_mut(workers) {
            let results: Vec<Result<DayBatches, GenerateError>> = std::thread::scope(|s| {
                let handles: Vec<_> = wave
                    .iter_mut()
                    .map(|chunk| {
                        s.spawn(move || {
                            to_batches(chunk.run_day(world, day)).map_err(GenerateError::from)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err(GenerateError::Task("worker panicked".into())))
                    })
                    .collect()
            });
            for result in results {
                let day_batches = result?;
                for (table, batch) in day_batches.batches {
                    emit(senders, &mut held, export(table, day), table, batch)?;
                }
                for (acc, c) in counts.iter_mut().zip(&day_batches.campaign_counts) {
                    acc.0 += c.0;
                    acc.1 += c.1;
                }
                organic[0] += day_batches.organic[0];
                organic[1] += day_batches.organic[1];
            }
        }
        let spend = spend_rows(world, day, &counts, organic);
        if !spend.is_empty() {
            let t = Table::CampaignSpend;
            emit(
                senders,
                &mut held,
                export(t, day),
                t,
                tables::spend_batch(&spend)?,
            )?;
        }
        if edgy {
            let e = edges::day_rows(world.day0, day, world.days);
            let batches = [
                (Table::CrmContacts, nonempty(&e.crm, tables::crm_batch)?),
                (Table::WebEvents, nonempty(&e.web, tables::web_batch)?),
                (Table::AdInteractions, nonempty(&e.ad, tables::ad_batch)?),
                (Table::Orders, nonempty(&e.orders, tables::order_batch)?),
                (Table::PosTransactions, nonempty(&e.pos, tables::pos_batch)?),
                (
                    Table::PurchaseRegistrations,
                    nonempty(&e.regs, tables::reg_batch)?,
                ),
                (
                    Table::CampaignSpend,
                    nonempty(&e.spend, tables::spend_batch)?,
                ),
            ];
            for (table, batch) in batches {
                if let Some(batch) = batch {
                    emit(senders, &mut held, export(table, day), table, batch)?;
                }
            }
        }
    }
    if !held.is_empty() {
        return Err(GenerateError::Task(
            "rows held back for a later export outlived the window".into(),
        ));
    }

    // Truth waits for the end of the window: only then is it known which identifiers of a
    // person two of its records carry, and which cookies were seen with a login.
    let mut truth = Vec::new();
    for chunk in &mut chunks {
        for row in chunk.truth_rows(world) {
            truth.push(row);
            if truth.len() >= ROW_GROUP_ROWS / 2 {
                send_rows(
                    senders,
                    Table::TruthRecordPerson,
                    &truth,
                    tables::truth_batch,
                )?;
                truth.clear();
            }
        }
    }
    for (k, seen) in world.public_seen.iter().enumerate() {
        if seen.load(Ordering::Relaxed) {
            truth.push(TruthRow {
                table: "cookies",
                record_id: sim::public_cookie_id(world.seed, k as u64),
                person_id: format!("public-{k}"),
                identifiable: false,
            });
        }
    }
    if edgy {
        truth.extend(edges::truth_rows(world.days));
    }
    send_rows(
        senders,
        Table::TruthRecordPerson,
        &truth,
        tables::truth_batch,
    )?;

    let mut supp = Vec::new();
    let mut by_day: Vec<Vec<SuppressionRow>> = vec![Vec::new(); if edgy { dates.len() } else { 0 }];
    for chunk in &chunks {
        for (i, st) in chunk.states.iter().enumerate() {
            let idx = chunk.first + i as u64;
            if idx >= world.n_persons {
                break;
            }
            if let Some(row) = suppression_row(world, idx, st) {
                if edgy {
                    let day = ((row.requested_at - world.day_start(0)) / DAY_US)
                        .clamp(0, dates.len() as i64 - 1);
                    by_day[day as usize].push(row);
                } else {
                    supp.push(row);
                }
            }
        }
        if supp.len() >= ROW_GROUP_ROWS / 2 {
            send_rows(
                senders,
                Table::SuppressionList,
                &supp,
                tables::suppression_batch,
            )?;
            supp.clear();
        }
    }
    if edgy {
        // one folder per night, each with the requests made that day (maybe none)
        for (day, row) in edges::suppression_rows(world.day0, world.days) {
            by_day[day as usize].push(row);
        }
        for (date, rows) in dates.iter().zip(&by_day) {
            send(senders, Table::SuppressionList, Msg::Open(date.clone()))?;
            send_rows(
                senders,
                Table::SuppressionList,
                rows,
                tables::suppression_batch,
            )?;
        }
    } else {
        send_rows(
            senders,
            Table::SuppressionList,
            &supp,
            tables::suppression_batch,
        )?;
    }

    let effects: Vec<(&str, f64)> = CHANNELS
        .iter()
        .zip(world.params.lift.iter())
        .map(|(c, l)| (*c, *l))
        .collect();
    send_rows(
        senders,
        Table::TruthChannelEffect,
        &effects,
        tables::channel_effect_batch,
    )?;
    Ok(())
}

fn spend_rows(world: &World, day: u32, counts: &[(i64, i64)], organic: [i64; 2]) -> Vec<SpendRow> {
    let date = world.day0 + day as i32;
    let mut rows = Vec::new();
    for (i, c) in world.plan.campaigns.iter().enumerate() {
        let (imps, clicks) = counts[i];
        if (day < c.start_day || day > c.end_day) && imps == 0 {
            continue;
        }
        let spend = imps as f64 / 1000.0 * c.cpm + clicks as f64 * c.cpc;
        rows.push(SpendRow {
            spend_date: date,
            channel: CHANNELS[c.channel],
            campaign_id: c.id.clone(),
            campaign_name: c.name.clone(),
            spend: (spend * 100.0).round() as i128,
            currency: "EUR",
            impressions: Some(imps),
            clicks: Some(clicks),
        });
    }
    for (k, (id, name)) in [
        (SEO_CAMPAIGN, "Organic search"),
        (SOCIAL_ORGANIC_CAMPAIGN, "Organic social"),
    ]
    .into_iter()
    .enumerate()
    {
        rows.push(SpendRow {
            spend_date: date,
            channel: id,
            campaign_id: id.to_string(),
            campaign_name: name.to_string(),
            spend: 0,
            currency: "EUR",
            impressions: None,
            clicks: Some(organic[k]),
        });
    }
    rows
}

fn suppression_row(world: &World, idx: u64, st: &sim::PersonState) -> Option<SuppressionRow> {
    let mut r = Rng::new(world.seed, stream_id("suppress"), idx, 0);
    if !r.chance(world.params.suppression_share) {
        return None;
    }
    let p = world.profile(idx);
    let requested_at = world.day_start(0) + r.below(world.days as u64 * DAY_US as u64) as i64;
    let known: Vec<usize> = (0..4).filter(|s| st.has(*s, world.days)).collect();
    let (identifier_type, identifier_value) = match r.weighted(&[0.5, 0.25, 0.25]) {
        1 => ("phone_sha256", p.phone_sha256(world.seed)),
        2 if !known.is_empty() => ("contact_id", p.contact_id(world.seed, *r.pick(&known))),
        _ => ("email_sha256", p.email_sha256(world.seed)),
    };
    Some(SuppressionRow {
        identifier_type,
        identifier_value,
        requested_at,
    })
}
