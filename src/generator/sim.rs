//! The day-by-day simulation: for one chunk of persons (and bots) and one day, draws ad
//! exposures, touches, web sessions, leads and purchases, and fills the row structs of every
//! table, with the truth rows that go with them.
//!
//! Each person carries a small [`PersonState`] from day to day (adstock per channel, which of
//! their records exist, a pending purchase, which cookies were seen or tied to a login), so
//! memory is O(persons) and everything else is recomputed from (seed, person, day).
//! Randomness for a person-day comes from its own stream, so the output does not depend on
//! how persons are split across threads.

use std::sync::atomic::{AtomicBool, Ordering};

use super::GeneratorParams;
use super::campaigns::{
    CH_AFFILIATE, CH_DISPLAY, CH_EMAIL, CH_PAID_SEARCH, CH_PAID_SOCIAL, CH_SMS, CHANNELS, Plan, UTM,
};
use super::persons::{
    EmailQuality, PhoneQuality, Profile, SYS_CRM, SYS_ECO, SYS_LOY, SYS_NWS, SYSTEMS,
    contact_id_of, render_email, render_names, render_phone, render_street,
};
use super::rng::{Rng, mix64, stream_id};
use super::tables::{AdRow, CrmRow, OrderRow, PosRow, RegRow, TruthRow, WebRow};

pub const DAY_US: i64 = 86_400_000_000;
const NONE_DAY: u16 = u16::MAX;

/// Id namespaces: every opaque id is `mix64(seed ^ mix64(tag << 58 ^ counter))`, a bijection
/// of a unique counter, so ids never collide within or across tables.
const TAG_COOKIE: u64 = 1;
const TAG_EVENT: u64 = 2;
const TAG_SESSION: u64 = 3;
const TAG_AD: u64 = 4;
const TAG_ORDER: u64 = 5;
const TAG_POS: u64 = 6;
const TAG_REG: u64 = 7;
const TAG_PUBLIC: u64 = 8;

/// The identifiers a truth record carries, as bits: `identifiable` is decided once the
/// window is over, as "carries one that another record of the same person also carries"
/// (raw-exports.md: "ties it to its person elsewhere").
pub const KEY_EMAIL: u16 = 1;
pub const KEY_PHONE: u16 = 1 << 1;
pub const KEY_CARD: u16 = 1 << 2;
pub const KEY_ACCOUNT: u16 = 1 << 3;
pub const KEY_NAME_BIRTH: u16 = 1 << 4;
pub const KEY_NAME_ADDRESS: u16 = 1 << 5;
/// Cookie `j` of the person: carried by the cookie itself and by the orders placed from it;
/// a tie only when the cookie was seen with a login.
pub const fn key_cookie(j: u8) -> u16 {
    1 << (6 + j)
}

/// Truth tables of the records written at the end of the window (cookies are written from
/// the person state instead).
pub const TRUTH_CONTACT: u8 = 0;
pub const TRUTH_ORDER: u8 = 4;
pub const TRUTH_POS: u8 = 5;
pub const TRUTH_REG: u8 = 6;

/// A truth record whose `identifiable` waits for the end of the window (16 bytes): the
/// id's opaque number, the person as an offset inside its chunk, the identifiers it carries
/// and its table (`TRUTH_CONTACT + source system` for contacts).
#[derive(Clone, Copy, Debug)]
pub struct HeldTruth {
    pub id: u64,
    pub local: u32,
    pub keys: u16,
    pub table: u8,
}

/// The identifiers among `flags` whose condition holds.
fn key_bits(flags: &[(bool, u16)]) -> u16 {
    flags
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |keys, (_, key)| keys | key)
}

impl HeldTruth {
    /// The truth row, once `ties` ([`PersonState::ties`]) is known.
    pub fn row(&self, person: u64, ties: u16) -> TruthRow {
        let (table, record_id) = match self.table {
            t if t < TRUTH_ORDER => ("crm_contacts", contact_id_of(t as usize, self.id)),
            TRUTH_ORDER => ("orders", hex16(self.id)),
            TRUTH_POS => ("pos_transactions", hex16(self.id)),
            _ => ("purchase_registrations", hex16(self.id)),
        };
        TruthRow {
            table,
            record_id,
            person_id: person_id(person),
            identifiable: self.keys & ties != 0,
        }
    }
}

const KIND_ONLINE: u8 = 0;
const KIND_STORE: u8 = 1;
const KIND_THIRD_PARTY: u8 = 2;

const SITE: &str = "https://www.maison-parcours.fr";
const CATEGORIES: &[&str] = &[
    "cuisine",
    "jardin",
    "salon",
    "chambre",
    "salle-de-bain",
    "bureau",
    "enfants",
    "deco",
];
const RETAILERS: &[&str] = &[
    "Fnac",
    "Darty",
    "Boulanger",
    "Amazon",
    "Cdiscount",
    "Carrefour",
    "Auchan",
    "MediaMarkt",
];
const INCENTIVES: &[&str] = &["warranty_extension", "prize_draw", "content_download"];
const DEVICES: [&str; 3] = ["desktop", "mobile", "tablet"];
const USER_AGENTS: [&[&str]; 3] = [
    &[
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    ],
    &[
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
    ],
    &[
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    ],
];
/// Bot user agents: every bot event carries one of these.
pub const BOT_USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "python-requests/2.31.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0 Safari/537.36",
    "curl/8.5.0",
];
/// Share of the day's traffic per hour (UTC), for realistic timestamps.
const HOURS: [f64; 24] = [
    0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 1.0, 1.5, 1.8, 2.0, 2.1, 2.2, 2.0, 2.0, 2.0, 2.1, 2.3, 2.6,
    2.9, 3.0, 2.6, 1.6, 0.8,
];

pub fn opaque(seed: u64, tag: u64, counter: u64) -> u64 {
    mix64(seed ^ mix64((tag << 58) ^ counter))
}

pub fn person_id(index: u64) -> String {
    format!("p-{index:08}")
}

pub fn cookie_id(seed: u64, person: u64, j: u8) -> String {
    hex_id(opaque(seed, TAG_COOKIE, (person << 3) | j as u64))
}

pub fn public_cookie_id(seed: u64, k: u64) -> String {
    hex_id(opaque(seed, TAG_PUBLIC, k))
}

fn hex16(v: u64) -> String {
    format!("{v:016x}")
}

fn hex_id(v: u64) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}",
        v >> 32,
        (v >> 16) & 0xffff,
        v & 0xffff
    )
}

/// Everything the simulation needs that does not change during a run.
pub struct World {
    pub seed: u64,
    pub params: GeneratorParams,
    pub days: u32,
    /// Days since 1970-01-01 of the first day of the window.
    pub day0: i32,
    pub n_persons: u64,
    pub n_bots: u64,
    pub n_public: u64,
    pub plan: Plan,
    pub decay: f32,
    pub public_seen: Vec<AtomicBool>,
    /// [`super::persons::name_email_suffixes`]: empty unless the world has name e-mails.
    pub name_email_suffixes: Vec<Option<u32>>,
}

impl World {
    /// Person `idx` as every writer must see them: the profile, with the number that keeps
    /// a name e-mail unique.
    pub fn profile(&self, idx: u64) -> Profile {
        let mut p = Profile::new(self.seed, idx, self.n_persons, &self.params, self.days);
        p.name_email_suffix = self
            .name_email_suffixes
            .get(idx as usize)
            .copied()
            .flatten();
        p
    }

    pub fn day_start(&self, day: u32) -> i64 {
        (self.day0 as i64 + day as i64) * DAY_US
    }

    pub fn clamp_to_day(&self, day: u32, ts: i64) -> i64 {
        let start = self.day_start(day);
        ts.clamp(start, start + DAY_US - 1)
    }

    fn time_in_day(&self, day: u32, r: &mut Rng, store_hours: bool) -> i64 {
        let hour = if store_hours {
            r.range(8, 18)
        } else {
            r.weighted(&HOURS) as i64
        };
        self.day_start(day) + hour * 3_600_000_000 + r.below(3_600_000_000) as i64
    }
}

/// What one person carries from one day to the next.
#[derive(Clone, Debug)]
pub struct PersonState {
    pub adstock: [f32; 6],
    pub activity: f32,
    /// Day each contact record (per source system) first exists; `0` also for records made
    /// before the window, flagged in `pre`.
    pub contact_day: [u16; 4],
    pub upd_day: [u16; 4],
    pub pending_day: u16,
    pub pending_kind: u8,
    pub pre: u8,
    pub social: bool,
    pub consent: bool,
    pub n_cookies: u8,
    pub cookie_seen: u8,
    /// Cookies seen on a logged-in or sign-up visit (they carry the account).
    pub cookie_login: u8,
    /// Cookies seen with the person's hashed e-mail (web events or an ad platform's match).
    pub cookie_email: u8,
    /// Identifiers ([`KEY_EMAIL`]…) carried by at least one record of the person so far, and
    /// by at least two.
    pub key_seen: u16,
    pub key_shared: u16,
    pub initialised: bool,
}

impl Default for PersonState {
    fn default() -> Self {
        PersonState {
            adstock: [0.0; 6],
            activity: 1.0,
            contact_day: [NONE_DAY; 4],
            upd_day: [NONE_DAY; 4],
            pending_day: NONE_DAY,
            pending_kind: 0,
            pre: 0,
            social: false,
            consent: false,
            n_cookies: 1,
            cookie_seen: 0,
            cookie_login: 0,
            cookie_email: 0,
            key_seen: 0,
            key_shared: 0,
            initialised: false,
        }
    }
}

impl PersonState {
    /// Counts a record carrying `keys` (saturating at two per identifier).
    pub fn carry(&mut self, keys: u16) {
        self.key_shared |= self.key_seen & keys;
        self.key_seen |= keys;
    }
    /// The identifiers two records of the person or more carry and that tie a record to the
    /// person: a cookie only counts once it was seen with a login (raw-exports.md: "cookie
    /// seen with a login"), so an order and the anonymous cookie it came from tie nothing.
    pub fn ties(&self) -> u16 {
        let mut ties = self.key_shared;
        for j in 0..8u8 {
            if self.cookie_login & (1 << j) == 0 {
                ties &= !key_cookie(j);
            }
        }
        ties
    }
    /// The identifiers a cookie record carries, known once the window is over.
    pub fn cookie_keys(&self, j: u8) -> u16 {
        let bit = 1u8 << j;
        key_cookie(j)
            | key_bits(&[
                (self.cookie_login & bit != 0, KEY_ACCOUNT),
                (self.cookie_email & bit != 0, KEY_EMAIL),
            ])
    }
    pub fn has(&self, sys: usize, day: u32) -> bool {
        self.contact_day[sys] != NONE_DAY && self.contact_day[sys] as u32 <= day
    }
}

/// A row held back for a later export partition (late arrival, duplicate export, or an event
/// that happens some days after the decision that caused it).
pub enum Deferred {
    Web(WebRow),
    Ad(AdRow),
    Order(OrderRow, HeldTruth),
    Pos(PosRow, HeldTruth),
    Reg(RegRow, HeldTruth),
}

/// Rows produced by one chunk for one export day.
#[derive(Default)]
pub struct DayOut {
    pub crm: Vec<CrmRow>,
    pub web: Vec<WebRow>,
    pub ad: Vec<AdRow>,
    pub orders: Vec<OrderRow>,
    pub pos: Vec<PosRow>,
    pub regs: Vec<RegRow>,
    pub truth: Vec<HeldTruth>,
    /// Per campaign: impressions and clicks on this day.
    pub campaign_counts: Vec<(i64, i64)>,
    /// Sessions from organic search and organic social on this day.
    pub organic: [i64; 2],
}

/// One chunk's persistent state: its persons and its queue of held-back rows.
pub struct Chunk {
    pub first: u64,
    pub states: Vec<PersonState>,
    pub deferred: Vec<(u32, Deferred)>,
    /// Truth records of the chunk's persons, in the order they were exported, until the
    /// window is over and `identifiable` can be decided.
    pub held: Vec<HeldTruth>,
}

/// Per person-day scratch: the profile and hashes are built at most once, and only when a
/// row needs them.
struct Ctx<'a> {
    w: &'a World,
    idx: u64,
    /// `idx` inside the chunk.
    local: u32,
    day: u32,
    profile: Option<Profile>,
    email_hash: Option<String>,
    phone_hash: Option<String>,
    seq: u64,
}

impl<'a> Ctx<'a> {
    fn profile(&mut self) -> &Profile {
        let (w, idx) = (self.w, self.idx);
        self.profile.get_or_insert_with(|| w.profile(idx))
    }
    fn email_hash(&mut self) -> String {
        if self.email_hash.is_none() {
            let seed = self.w.seed;
            let h = self.profile().email_sha256(seed);
            self.email_hash = Some(h);
        }
        self.email_hash.clone().unwrap_or_default()
    }
    fn phone_hash(&mut self) -> String {
        if self.phone_hash.is_none() {
            let seed = self.w.seed;
            let h = self.profile().phone_sha256(seed);
            self.phone_hash = Some(h);
        }
        self.phone_hash.clone().unwrap_or_default()
    }
    /// A unique id for this person-day, in the 16-hex-digit form.
    fn next(&mut self, tag: u64) -> String {
        hex16(self.next_number(tag))
    }
    /// The number behind [`Ctx::next`]'s id.
    fn next_number(&mut self, tag: u64) -> u64 {
        self.seq += 1;
        opaque(
            self.w.seed,
            tag,
            (self.idx << 30) | ((self.day as u64) << 18) | self.seq,
        )
    }
}

impl Chunk {
    pub fn new(first: u64, len: usize) -> Self {
        Chunk {
            first,
            states: vec![PersonState::default(); len],
            deferred: Vec::new(),
            held: Vec::new(),
        }
    }

    /// Simulates one day for every agent of the chunk.
    pub fn run_day(&mut self, w: &World, day: u32) -> DayOut {
        let mut out = DayOut {
            campaign_counts: vec![(0, 0); w.plan.campaigns.len()],
            ..Default::default()
        };
        // Rows held back for today go first, in the order they were held back.
        let mut keep = Vec::with_capacity(self.deferred.len());
        for (d, row) in self.deferred.drain(..) {
            if d != day {
                keep.push((d, row));
                continue;
            }
            match row {
                Deferred::Web(r) => out.web.push(r),
                Deferred::Ad(r) => out.ad.push(r),
                Deferred::Order(r, t) => {
                    out.orders.push(r);
                    out.truth.push(t);
                }
                Deferred::Pos(r, t) => {
                    out.pos.push(r);
                    out.truth.push(t);
                }
                Deferred::Reg(r, t) => {
                    out.regs.push(r);
                    out.truth.push(t);
                }
            }
        }
        self.deferred = keep;
        for i in 0..self.states.len() {
            let idx = self.first + i as u64;
            let mut ctx = Ctx {
                w,
                idx,
                // A chunk holds at most CHUNK_PERSONS agents.
                local: i as u32,
                day,
                profile: None,
                email_hash: None,
                phone_hash: None,
                seq: 0,
            };
            if idx < w.n_persons {
                person_day(&mut ctx, &mut self.states[i], &mut out, &mut self.deferred);
            } else {
                bot_day(&mut ctx, &mut self.states[i], &mut out);
            }
        }
        self.held.append(&mut out.truth);
        out
    }

    /// Ends the window: the chunk's truth rows, contacts, orders, till tickets and
    /// registrations in export order, then each person's cookies. A record is identifiable
    /// when it carries an identifier that another record of its person also carries. The
    /// held records are released as the rows are taken.
    pub fn truth_rows(&mut self, w: &World) -> impl Iterator<Item = TruthRow> + '_ {
        let (seed, n_persons, first) = (w.seed, w.n_persons, self.first);
        // Every cookie record counts among its person's identifiers.
        for (i, st) in self.states.iter_mut().enumerate() {
            if first + (i as u64) < n_persons {
                let seen = st.cookie_seen;
                for j in (0..8u8).filter(|j| seen & (1 << j) != 0) {
                    st.carry(st.cookie_keys(j));
                }
            }
        }
        let states = &self.states;
        let records = std::mem::take(&mut self.held)
            .into_iter()
            .map(move |h| h.row(first + h.local as u64, states[h.local as usize].ties()));
        let cookies = states.iter().enumerate().flat_map(move |(i, st)| {
            let idx = first + i as u64;
            (0..8u8)
                .filter(move |j| st.cookie_seen & (1 << j) != 0)
                .map(move |j| {
                    let (person, identifiable) = if idx < n_persons {
                        (person_id(idx), st.cookie_keys(j) & st.ties() != 0)
                    } else {
                        (format!("bot-{}", idx - n_persons), false)
                    };
                    TruthRow {
                        table: "cookies",
                        record_id: cookie_id(seed, idx, j),
                        person_id: person,
                        identifiable,
                    }
                })
        });
        records.chain(cookies)
    }
}

fn init_state(ctx: &mut Ctx, st: &mut PersonState) {
    let w = ctx.w;
    let p = ctx.profile().clone();
    st.activity = p.activity as f32;
    st.social = p.social_user;
    st.consent = p.consent;
    st.n_cookies = p.n_cookies.min(8);
    for sys in 0..4 {
        if p.member[sys] {
            st.contact_day[sys] = 0;
            st.pre |= 1 << sys;
        } else if let Some(d) = p.in_window_created[sys] {
            st.contact_day[sys] = d as u16;
        }
        if st.contact_day[sys] != NONE_DAY {
            st.upd_day[sys] = update_day(w, ctx.idx, sys, st.contact_day[sys] as u32);
        }
    }
    st.initialised = true;
}

fn update_day(w: &World, idx: u64, sys: usize, created: u32) -> u16 {
    let mut r = Rng::new(w.seed, stream_id("update"), idx, sys as u64);
    if created + 1 < w.days && r.chance(w.params.crm_update_share) {
        (created + 1 + r.below((w.days - created - 1) as u64) as u32) as u16
    } else {
        NONE_DAY
    }
}

/// The day a cookie starts being used: people get new devices and clear cookies.
fn cookie_start(w: &World, idx: u64, j: u8) -> u32 {
    if j == 0 {
        return 0;
    }
    let mut r = Rng::new(w.seed, stream_id("cookie"), idx, j as u64);
    if r.chance(0.5) {
        0
    } else {
        r.below(w.days as u64) as u32
    }
}

fn device_of(w: &World, idx: u64, j: u8) -> usize {
    let mut r = Rng::new(w.seed, stream_id("device"), idx, j as u64);
    r.weighted(&[0.45, 0.45, 0.10])
}

fn pick_cookie(w: &World, idx: u64, st: &PersonState, day: u32, r: &mut Rng) -> u8 {
    let active: Vec<u8> = (0..st.n_cookies)
        .filter(|j| cookie_start(w, idx, *j) <= day)
        .collect();
    if active.is_empty() {
        return 0;
    }
    // The newest device is the one mostly used.
    if r.chance(0.6) {
        active[active.len() - 1]
    } else {
        *r.pick(&active)
    }
}

fn amount_cents(r: &mut Rng, median: f64) -> i128 {
    let v = median * (0.7 * r.normal()).exp();
    ((v.clamp(1.0, 5000.0)) * 100.0).round() as i128
}

fn person_day(
    ctx: &mut Ctx,
    st: &mut PersonState,
    out: &mut DayOut,
    defer: &mut Vec<(u32, Deferred)>,
) {
    let w = ctx.w;
    let day = ctx.day;
    let params = &w.params;
    if !st.initialised {
        init_state(ctx, st);
    }
    let mut r = Rng::new(w.seed, stream_id("day"), ctx.idx, day as u64);
    for a in &mut st.adstock {
        *a *= w.decay;
    }
    contacts_today(ctx, st, out);

    let intent = st.pending_day != NONE_DAY;
    let act = st.activity as f64;

    // Ad exposures and touches.
    let email_reach =
        st.has(SYS_NWS, day) || (st.consent && (st.has(SYS_CRM, day) || st.has(SYS_ECO, day)));
    let sms_reach = st.consent && (st.has(SYS_CRM, day) || st.has(SYS_LOY, day));
    for ch in 0..CHANNELS.len() {
        let reach = match ch {
            CH_PAID_SOCIAL => st.social,
            CH_EMAIL => email_reach,
            CH_SMS => sms_reach,
            _ => true,
        };
        if !reach {
            continue;
        }
        let exposure = (0.5 + 0.5 * act).min(3.0);
        let n = r.poisson(params.impressions_per_day[ch] * exposure);
        for _ in 0..n {
            ad_exposure(ctx, st, out, defer, &mut r, ch, intent);
        }
    }

    // Organic sessions: more of them while a purchase is on the person's mind.
    let boost = if intent { params.intent_boost } else { 1.0 };
    let n_sessions = r.poisson(params.organic_sessions_per_day * act * boost);
    for _ in 0..n_sessions {
        let source = match r.weighted(&[0.45, 0.40, 0.15]) {
            0 => Source::OrganicSearch,
            1 => Source::Direct,
            _ => Source::OrganicSocial,
        };
        match source {
            Source::OrganicSearch => out.organic[0] += 1,
            Source::OrganicSocial => out.organic[1] += 1,
            _ => {}
        }
        let ts = w.time_in_day(day, &mut r, false);
        session(ctx, st, out, defer, &mut r, ts, source, SessionGoal::Browse);
    }

    // Conversions: a decision drawn from the adstock, executed after a short delay.
    let touch_hazard: f64 = (0..6).map(|c| params.lift[c] * st.adstock[c] as f64).sum();
    if st.pending_day as u32 == day {
        let kind = st.pending_kind;
        st.pending_day = NONE_DAY;
        convert(ctx, st, out, defer, &mut r, kind);
    } else if st.pending_day == NONE_DAY {
        let hazard = params.base_purchase_rate * act + touch_hazard;
        if r.chance(hazard) {
            let p = ctx.profile();
            let kind = r.weighted(&p.venue) as u8;
            let delay = r.below(params.max_purchase_delay_days as u64 + 1) as u32;
            if delay == 0 {
                convert(ctx, st, out, defer, &mut r, kind);
            } else if day + delay < w.days {
                st.pending_day = (day + delay) as u16;
                st.pending_kind = kind;
            }
        }
    }
    let lead_hazard = params.base_lead_rate * act + params.lead_touch_factor * touch_hazard;
    if r.chance(lead_hazard) {
        let goal = if !st.has(SYS_ECO, day) {
            Some(SessionGoal::Signup)
        } else if !st.has(SYS_NWS, day) {
            Some(SessionGoal::Newsletter)
        } else {
            None
        };
        if let Some(goal) = goal {
            let ts = w.time_in_day(day, &mut r, false);
            session(ctx, st, out, defer, &mut r, ts, Source::Direct, goal);
        }
    }
}

fn bot_day(ctx: &mut Ctx, st: &mut PersonState, out: &mut DayOut) {
    let w = ctx.w;
    let day = ctx.day;
    let mut r = Rng::new(w.seed, stream_id("bot"), ctx.idx, day as u64);
    let k = ctx.idx - w.n_persons;
    let ua = BOT_USER_AGENTS[(k % BOT_USER_AGENTS.len() as u64) as usize];
    let n = r.poisson(w.params.bot_events_per_day);
    if n == 0 {
        return;
    }
    st.cookie_seen |= 1;
    let anon = cookie_id(w.seed, ctx.idx, 0);
    let session_id = ctx.next(TAG_SESSION);
    let mut ts = w.time_in_day(day, &mut r, false);
    for _ in 0..n {
        ts += r.below(5_000_000) as i64;
        let page = format!("{SITE}/c/{}", r.pick(CATEGORIES));
        out.web.push(WebRow {
            event_id: ctx.next(TAG_EVENT),
            event_ts: w.clamp_to_day(day, ts),
            anonymous_id: anon.clone(),
            session_id: session_id.clone(),
            user_id: None,
            email_sha256: None,
            event_type: "page_view",
            page_url: Some(page),
            referrer: None,
            utm_source: None,
            utm_medium: None,
            utm_campaign: None,
            device_type: Some("desktop"),
            order_id: None,
            revenue: None,
            currency: None,
            user_agent: Some(ua),
        });
    }
}

/// Emits this day's `crm_contacts` rows: the initial load on day 0, records created today,
/// and records updated today (re-exported with a later `updated_at`).
fn contacts_today(ctx: &mut Ctx, st: &mut PersonState, out: &mut DayOut) {
    let w = ctx.w;
    let day = ctx.day;
    for sys in 0..4 {
        let created = st.contact_day[sys];
        if created == NONE_DAY {
            continue;
        }
        // E-commerce and newsletter records made during the window are emitted by the
        // sign-up events themselves.
        let in_window = st.pre & (1 << sys) == 0;
        if created as u32 == day && (!in_window || sys == SYS_CRM || sys == SYS_LOY) {
            let mut r = Rng::new(w.seed, stream_id("created"), ctx.idx, sys as u64);
            let ts = if in_window {
                w.time_in_day(day, &mut r, true)
            } else {
                w.day_start(0) - r.range(1, 1800) * DAY_US - r.below(DAY_US as u64) as i64
            };
            emit_contact(ctx, st, out, sys, ts);
        }
        if st.upd_day[sys] as u32 == day && st.upd_day[sys] != NONE_DAY {
            let mut r = Rng::new(w.seed, stream_id("updated"), ctx.idx, sys as u64);
            let ts = w.time_in_day(day, &mut r, true);
            let created_at = contact_created_at(w, ctx.idx, sys, st);
            let (row, _) = render_contact(ctx, sys, 1, created_at, ts);
            out.crm.push(row);
        }
    }
}

fn contact_created_at(w: &World, idx: u64, sys: usize, st: &PersonState) -> i64 {
    let mut r = Rng::new(w.seed, stream_id("created"), idx, sys as u64);
    if st.pre & (1 << sys) != 0 {
        w.day_start(0) - r.range(1, 1800) * DAY_US - r.below(DAY_US as u64) as i64
    } else if sys == SYS_CRM || sys == SYS_LOY {
        w.time_in_day(st.contact_day[sys] as u32, &mut r, true)
    } else {
        // Sign-up created records: the creation time is kept with the first export only;
        // updates report the start of the creation day, which is all the pipeline needs.
        w.day_start(st.contact_day[sys] as u32)
    }
}

fn emit_contact(
    ctx: &mut Ctx,
    st: &mut PersonState,
    out: &mut DayOut,
    sys: usize,
    created_at: i64,
) {
    let (row, keys0) = render_contact(ctx, sys, 0, created_at, created_at);
    let mut keys = keys0;
    if st.upd_day[sys] != NONE_DAY {
        // The newest version wins downstream, so the truth follows the final version.
        let (_, keys1) = render_contact(ctx, sys, 1, created_at, created_at);
        keys = keys1;
    }
    st.carry(keys);
    let seed = ctx.w.seed;
    out.truth.push(HeldTruth {
        table: TRUTH_CONTACT + sys as u8,
        id: ctx.profile().contact_number(seed, sys),
        local: ctx.local,
        keys,
    });
    out.crm.push(row);
}

/// One version of one contact record, and the identifiers it carries.
fn render_contact(
    ctx: &mut Ctx,
    sys: usize,
    version: u64,
    created_at: i64,
    updated_at: i64,
) -> (CrmRow, u16) {
    let w = ctx.w;
    let seed = w.seed;
    let params = &w.params;
    let p = ctx.profile().clone();
    // Names and birth date come from the version-0 stream so an update keeps them;
    // contact details are re-rendered (corrected, re-typed, consent changed).
    let mut r0 = Rng::new(seed, stream_id("contact"), p.index, sys as u64);
    let mut rv = Rng::new(
        seed,
        stream_id("contact-v"),
        p.index,
        (sys as u64) << 8 | version,
    );
    let (p_email, p_phone, p_birth, p_addr, p_names) = match sys {
        SYS_CRM => (0.85, 0.7, 0.5, 0.8, 1.0),
        SYS_ECO => (1.0, 0.5, 0.2, 0.7, 0.95),
        SYS_LOY => (0.6, 0.85, 0.6, 0.6, 1.0),
        _ => (1.0, 0.05, 0.0, 0.0, 0.4),
    };
    let names = if r0.chance(p_names) {
        Some(render_names(&p, &mut r0, params))
    } else {
        None
    };
    let birth = if r0.chance(p_birth) {
        Some(p.birth_days)
    } else {
        None
    };
    let (email, eq) = if rv.chance(p_email * params.contact_email_share) {
        let (e, q) = render_email(&p, seed, &mut rv, params);
        (Some(e), Some(q))
    } else {
        (None, None)
    };
    let (phone, pq) = if rv.chance(p_phone * params.contact_phone_share) {
        let (ph, q) = render_phone(&p, seed, &mut rv, params);
        (Some(ph), Some(q))
    } else {
        (None, None)
    };
    let street = if rv.chance(p_addr) {
        Some(render_street(&p, &mut rv, params))
    } else {
        None
    };
    let (postal, city) = p.postal_city();
    let has_addr = street.is_some();
    let consent = if sys == SYS_NWS {
        Some(true)
    } else if rv.chance(0.2) {
        None
    } else if rv.chance(0.9) {
        Some(p.consent)
    } else {
        Some(!p.consent)
    };
    let consent_at = consent.map(|_| created_at.max(updated_at - rv.below(DAY_US as u64) as i64));
    let loyalty = if sys == SYS_LOY {
        Some(p.loyalty_card(seed))
    } else {
        None
    };
    let (first_name, last_name) = match names {
        Some((f, l)) => (Some(f), Some(l)),
        None => (None, None),
    };
    // What can tie the record to its person: a personal e-mail or mobile (not a shared inbox,
    // a typo or the family landline), a loyalty card, the e-commerce account, the name with
    // a birth date or with an address.
    let keys = key_bits(&[
        (eq == Some(EmailQuality::Personal), KEY_EMAIL),
        (pq == Some(PhoneQuality::Personal), KEY_PHONE),
        (loyalty.is_some(), KEY_CARD),
        (sys == SYS_ECO, KEY_ACCOUNT),
        (first_name.is_some() && birth.is_some(), KEY_NAME_BIRTH),
        (first_name.is_some() && has_addr, KEY_NAME_ADDRESS),
    ]);
    let row = CrmRow {
        contact_id: p.contact_id(seed, sys),
        source_system: SYSTEMS[sys].0,
        email,
        phone,
        first_name,
        last_name,
        birth_date: birth,
        street_address: street,
        postal_code: has_addr.then(|| postal.to_string()),
        city: has_addr.then(|| city.to_string()),
        country: (!rv.chance(0.05)).then(|| p.country.code.to_string()),
        loyalty_card_id: loyalty,
        consent_marketing: consent,
        consent_updated_at: consent_at,
        created_at,
        updated_at,
    };
    (row, keys)
}

fn ad_exposure(
    ctx: &mut Ctx,
    st: &mut PersonState,
    out: &mut DayOut,
    defer: &mut Vec<(u32, Deferred)>,
    r: &mut Rng,
    ch: usize,
    intent: bool,
) {
    let w = ctx.w;
    let day = ctx.day;
    let params = &w.params;
    let camp = w.plan.pick(ch, day, r);
    let campaign_id = w.plan.campaigns[camp].id.clone();
    let mut ts = w.time_in_day(day, r, false);
    let cookie = pick_cookie(w, ctx.idx, st, day, r);
    // Which identifier each platform reports.
    let (anon, email, phone) = match ch {
        CH_EMAIL => (None, Some(ctx.email_hash()), None),
        CH_SMS => (None, None, Some(ctx.phone_hash())),
        CH_PAID_SOCIAL => (
            r.chance(0.4).then_some(cookie),
            if r.chance(0.3) {
                Some(ctx.email_hash())
            } else {
                None
            },
            None,
        ),
        _ => (
            r.chance(params.cookie_match_share).then_some(cookie),
            None,
            None,
        ),
    };
    if let Some(j) = anon {
        st.cookie_seen |= 1 << j;
        // The platform reports the cookie together with the e-mail it matched.
        if email.is_some() {
            st.cookie_email |= 1 << j;
        }
    }
    let ad = AdIds {
        ch,
        campaign_id,
        anon_id: anon.map(|j| cookie_id(w.seed, ctx.idx, j)),
        email,
        phone,
    };
    let push =
        |ctx: &mut Ctx,
         r: &mut Rng,
         out: &mut DayOut,
         defer: &mut Vec<(u32, Deferred)>,
         kind: &'static str,
         ts: i64,
         dwell: Option<i32>| { push_ad(ctx, r, out, defer, &ad, kind, ts, dwell) };
    push(ctx, r, out, defer, "impression", ts, None);
    out.campaign_counts[camp].0 += 1;
    if !r.chance(params.engage_rate[ch]) {
        return;
    }
    // An engaged interaction is a touch: it raises the conversion hazard by the channel lift.
    st.adstock[ch] += 1.0;
    let dwell_factor = if intent { params.intent_boost } else { 1.0 };
    let dwell = |r: &mut Rng, mean: f64| Some((r.exp(mean * dwell_factor) as i32).max(1));
    ts += 1_000_000 + r.below(120_000_000) as i64;
    let clicked = match ch {
        CH_PAID_SEARCH | CH_AFFILIATE | CH_SMS => true,
        CH_DISPLAY => {
            if r.chance(0.5) {
                let d = dwell(r, 8.0);
                push(ctx, r, out, defer, "view", ts, d);
                false
            } else {
                true
            }
        }
        CH_EMAIL => {
            let d = dwell(r, 25.0);
            push(ctx, r, out, defer, "open", ts, d);
            ts += 5_000_000 + r.below(60_000_000) as i64;
            r.chance(0.3)
        }
        _ => {
            let d = dwell(r, 12.0);
            push(ctx, r, out, defer, "view", ts, d);
            // Likes, shares and comments grow while a purchase is on the person's mind.
            let social_p = if intent { 0.45 } else { 0.12 };
            for kind in ["like", "share", "comment"] {
                if r.chance(social_p) {
                    ts += 1_000_000 + r.below(30_000_000) as i64;
                    push(ctx, r, out, defer, kind, ts, None);
                }
            }
            r.chance(0.35)
        }
    };
    if clicked {
        ts += 500_000 + r.below(5_000_000) as i64;
        push(ctx, r, out, defer, "click", ts, None);
        out.campaign_counts[camp].1 += 1;
        session(
            ctx,
            st,
            out,
            defer,
            r,
            ts + 1_000_000,
            Source::Campaign(ch, camp),
            SessionGoal::Browse,
        );
    }
}

struct AdIds {
    ch: usize,
    campaign_id: String,
    anon_id: Option<String>,
    email: Option<String>,
    phone: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn push_ad(
    ctx: &mut Ctx,
    r: &mut Rng,
    out: &mut DayOut,
    defer: &mut Vec<(u32, Deferred)>,
    ad: &AdIds,
    kind: &'static str,
    ts: i64,
    dwell: Option<i32>,
) {
    let w = ctx.w;
    let day = ctx.day;
    let row = AdRow {
        interaction_id: ctx.next(TAG_AD),
        interaction_ts: w.clamp_to_day(day, ts),
        channel: CHANNELS[ad.ch],
        campaign_id: ad.campaign_id.clone(),
        interaction_type: kind,
        anonymous_id: ad.anon_id.clone(),
        email_sha256: ad.email.clone(),
        phone_sha256: ad.phone.clone(),
        dwell_seconds: dwell,
    };
    if r.chance(w.params.late_row_share) && day + 1 < w.days {
        let lag = 1 + r.below(2) as u32;
        defer.push(((day + lag).min(w.days - 1), Deferred::Ad(row)));
    } else {
        out.ad.push(row);
    }
}

#[derive(Clone, Copy)]
enum Source {
    Campaign(usize, usize),
    OrganicSearch,
    OrganicSocial,
    Direct,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SessionGoal {
    Browse,
    Purchase,
    StoreVisit,
    Signup,
    Newsletter,
}

/// Emits the web events of one visit and returns the cookie index used (if personal).
#[allow(clippy::too_many_arguments)]
fn session(
    ctx: &mut Ctx,
    st: &mut PersonState,
    out: &mut DayOut,
    defer: &mut Vec<(u32, Deferred)>,
    r: &mut Rng,
    start_ts: i64,
    source: Source,
    goal: SessionGoal,
) -> Option<(u8, String)> {
    let w = ctx.w;
    let day = ctx.day;
    let params = &w.params;
    let public = goal == SessionGoal::Browse && r.chance(params.public_cookie_share);
    let (cookie, anon) = if public {
        let k = r.below(w.n_public);
        if let Some(flag) = w.public_seen.get(k as usize) {
            flag.store(true, Ordering::Relaxed);
        }
        (None, public_cookie_id(w.seed, k))
    } else {
        let j = pick_cookie(w, ctx.idx, st, day, r);
        st.cookie_seen |= 1 << j;
        (Some(j), cookie_id(w.seed, ctx.idx, j))
    };
    let device = match cookie {
        Some(j) => device_of(w, ctx.idx, j),
        None => 0,
    };
    let ua = *r.pick(USER_AGENTS[device]);
    let session_id = ctx.next(TAG_SESSION);
    let logged_in = st.has(SYS_ECO, day) && r.chance(params.login_share);
    let user_id = if logged_in {
        Some(ctx.profile().contact_id(w.seed, SYS_ECO))
    } else {
        None
    };
    let currency = ctx.profile().country.currency;
    if logged_in && let Some(j) = cookie {
        st.cookie_login |= 1 << j;
    }
    let (landing_qs, referrer, utm) = match source {
        Source::Campaign(ch, camp) => {
            let (src, med) = UTM[ch];
            let cid = w.plan.campaigns[camp].id.clone();
            let referrer = match ch {
                CH_PAID_SEARCH => Some("https://www.google.com/".to_string()),
                CH_PAID_SOCIAL => Some("https://l.facebook.com/".to_string()),
                CH_DISPLAY => Some("https://ads.criteo.com/".to_string()),
                CH_AFFILIATE => Some("https://www.awin1.com/".to_string()),
                _ => None,
            };
            (
                format!("?utm_source={src}&utm_medium={med}&utm_campaign={cid}"),
                referrer,
                Some((src, med, cid)),
            )
        }
        Source::OrganicSearch => (
            String::new(),
            Some(
                r.pick(&[
                    "https://www.google.com/",
                    "https://www.google.fr/",
                    "https://www.bing.com/",
                    "https://www.qwant.com/",
                ])
                .to_string(),
            ),
            None,
        ),
        Source::OrganicSocial => (
            String::new(),
            Some(
                r.pick(&[
                    "https://www.facebook.com/",
                    "https://www.instagram.com/",
                    "https://www.pinterest.fr/",
                ])
                .to_string(),
            ),
            None,
        ),
        Source::Direct => (String::new(), None, None),
    };
    let mut pages: Vec<(&'static str, String)> = Vec::new();
    let landing = match goal {
        SessionGoal::Signup => "/account/signup".to_string(),
        SessionGoal::Newsletter => "/newsletter".to_string(),
        _ if r.chance(0.4) => "/".to_string(),
        _ => format!("/c/{}", r.pick(CATEGORIES)),
    };
    pages.push(("page_view", format!("{SITE}{landing}{landing_qs}")));
    let extra = r.poisson(params.events_per_session - 1.0).min(15);
    for _ in 0..extra {
        let t = r.weighted(&[0.45, 0.4, 0.1, 0.05]);
        let (kind, path) = match t {
            0 => ("page_view", format!("/c/{}", r.pick(CATEGORIES))),
            1 => ("product_view", format!("/p/SKU-{:05}", r.below(5000))),
            2 => ("add_to_cart", "/cart".to_string()),
            _ => ("store_locator", "/magasins".to_string()),
        };
        pages.push((kind, format!("{SITE}{path}")));
    }
    let mut order: Option<(u64, i128)> = None;
    match goal {
        SessionGoal::Purchase => {
            pages.push(("product_view", format!("{SITE}/p/SKU-{:05}", r.below(5000))));
            pages.push(("add_to_cart", format!("{SITE}/cart")));
            let number = ctx.next_number(TAG_ORDER);
            let amount = amount_cents(r, params.order_median_eur);
            order = Some((number, amount));
            pages.push(("purchase", format!("{SITE}/checkout/confirmation")));
        }
        SessionGoal::StoreVisit => pages.push(("store_locator", format!("{SITE}/magasins"))),
        SessionGoal::Signup => pages.push(("signup", format!("{SITE}/account/welcome"))),
        SessionGoal::Newsletter => {
            pages.push(("newsletter_subscribe", format!("{SITE}/newsletter/merci")))
        }
        SessionGoal::Browse => {}
    }
    let mut ts = start_ts;
    let mut prev_url: Option<String> = None;
    let mut signup_user: Option<String> = None;
    // A tracked purchase event names the order on this cookie.
    let mut purchase_tracked = false;
    if goal == SessionGoal::Signup {
        signup_user = Some(ctx.profile().contact_id(w.seed, SYS_ECO));
    }
    let n_pages = pages.len();
    for (i, (kind, url)) in pages.into_iter().enumerate() {
        if i > 0 {
            ts += 2_000_000 + r.exp(40_000_000.0) as i64;
        }
        let is_purchase = kind == "purchase";
        // The purchase event is lost to ad blockers now and then: the order still exists.
        if is_purchase && !r.chance(params.purchase_tracked_share) {
            continue;
        }
        let email_sha = match kind {
            "signup" | "newsletter_subscribe" => Some(ctx.email_hash()),
            _ if i == 0 && logged_in => Some(ctx.email_hash()),
            _ => None,
        };
        if let Some(j) = cookie {
            if email_sha.is_some() {
                st.cookie_email |= 1 << j;
            }
            if kind == "signup" && signup_user.is_some() {
                st.cookie_login |= 1 << j;
            }
        }
        purchase_tracked |= is_purchase;
        let row = WebRow {
            event_id: ctx.next(TAG_EVENT),
            event_ts: ts,
            anonymous_id: anon.clone(),
            session_id: session_id.clone(),
            user_id: if kind == "signup" {
                signup_user.clone()
            } else {
                user_id.clone()
            },
            email_sha256: email_sha,
            event_type: kind,
            page_url: Some(url.clone()),
            referrer: if i == 0 {
                referrer.clone()
            } else {
                prev_url.clone()
            },
            utm_source: if i == 0 {
                utm.as_ref().map(|u| u.0)
            } else {
                None
            },
            utm_medium: if i == 0 {
                utm.as_ref().map(|u| u.1)
            } else {
                None
            },
            utm_campaign: if i == 0 {
                utm.as_ref().map(|u| u.2.clone())
            } else {
                None
            },
            device_type: Some(DEVICES[device]),
            order_id: if is_purchase {
                order.map(|o| hex16(o.0))
            } else {
                None
            },
            revenue: if is_purchase {
                order.map(|o| o.1)
            } else {
                None
            },
            currency: if is_purchase { Some(currency) } else { None },
            user_agent: Some(ua),
        };
        prev_url = Some(url);
        push_web(w, day, r, row, out, defer);
        let _ = n_pages;
    }
    if goal == SessionGoal::Signup {
        st.contact_day[SYS_ECO] = day as u16;
        st.upd_day[SYS_ECO] = update_day(w, ctx.idx, SYS_ECO, day);
        emit_contact(ctx, st, out, SYS_ECO, ts);
    }
    if goal == SessionGoal::Newsletter {
        st.contact_day[SYS_NWS] = day as u16;
        st.upd_day[SYS_NWS] = update_day(w, ctx.idx, SYS_NWS, day);
        emit_contact(ctx, st, out, SYS_NWS, ts);
    }
    if let Some((number, amount)) = order {
        emit_order(
            ctx,
            st,
            out,
            defer,
            r,
            ts,
            number,
            amount,
            cookie.map(|j| (j, anon.clone())),
            purchase_tracked,
        );
    }
    cookie.map(|j| (j, anon))
}

fn push_web(
    w: &World,
    day: u32,
    r: &mut Rng,
    mut row: WebRow,
    out: &mut DayOut,
    defer: &mut Vec<(u32, Deferred)>,
) {
    let params = &w.params;
    // A visit that runs past midnight is cut at the end of its day: every row belongs to
    // the partition of the day it was generated for, or a later one.
    row.event_ts = w.clamp_to_day(day, row.event_ts);
    let x = r.f64();
    if x < params.duplicate_event_share {
        // Exported twice: again in the next partition, or twice in today's file at the end
        // of the window.
        if day + 1 < w.days {
            defer.push((day + 1, Deferred::Web(row.clone())));
        } else {
            out.web.push(row.clone());
        }
        out.web.push(row);
    } else if x < params.duplicate_event_share + params.late_row_share && day + 1 < w.days {
        let lag = 1 + r.below(2) as u32;
        defer.push(((day + lag).min(w.days - 1), Deferred::Web(row)));
    } else {
        out.web.push(row);
    }
}

#[allow(clippy::too_many_arguments)]
fn emit_order(
    ctx: &mut Ctx,
    st: &mut PersonState,
    out: &mut DayOut,
    defer: &mut Vec<(u32, Deferred)>,
    r: &mut Rng,
    ts: i64,
    number: u64,
    amount: i128,
    cookie: Option<(u8, String)>,
    purchase_tracked: bool,
) {
    let w = ctx.w;
    let day = ctx.day;
    let params = &w.params;
    let seed = w.seed;
    let has_account = st.has(SYS_ECO, day);
    let customer_id = if has_account && !r.chance(params.guest_checkout_share) {
        Some(ctx.profile().contact_id(seed, SYS_ECO))
    } else {
        None
    };
    let p = ctx.profile().clone();
    let (email, eq) = render_email(&p, seed, r, params);
    // the cookie ties the order when the order names it or its tracked purchase event does
    let mut cookie_key = 0;
    if let (true, Some((j, _))) = (purchase_tracked, &cookie) {
        cookie_key = key_cookie(*j);
    }
    let anon = match cookie {
        Some((j, id)) if r.chance(0.85) => {
            cookie_key = key_cookie(j);
            Some(id)
        }
        _ => None,
    };
    let status = match r.weighted(&[
        1.0 - params.cancelled_share - params.returned_share,
        params.cancelled_share,
        params.returned_share,
    ]) {
        0 => "completed",
        1 => "cancelled",
        _ => "returned",
    };
    let keys = cookie_key
        | key_bits(&[
            (customer_id.is_some(), KEY_ACCOUNT),
            (eq == EmailQuality::Personal, KEY_EMAIL),
        ]);
    st.carry(keys);
    let row = OrderRow {
        order_id: hex16(number),
        order_ts: w.clamp_to_day(day, ts),
        customer_id,
        email: Some(email),
        anonymous_id: anon,
        amount,
        currency: p.country.currency,
        status,
    };
    let truth = HeldTruth {
        table: TRUTH_ORDER,
        id: number,
        local: ctx.local,
        keys,
    };
    if r.chance(params.late_row_share) && day + 1 < w.days {
        let lag = 1 + r.below(3) as u32;
        defer.push(((day + lag).min(w.days - 1), Deferred::Order(row, truth)));
    } else {
        out.orders.push(row);
        out.truth.push(truth);
    }
}

fn convert(
    ctx: &mut Ctx,
    st: &mut PersonState,
    out: &mut DayOut,
    defer: &mut Vec<(u32, Deferred)>,
    r: &mut Rng,
    kind: u8,
) {
    let w = ctx.w;
    let day = ctx.day;
    let params = &w.params;
    let seed = w.seed;
    match kind {
        KIND_ONLINE => {
            let ts = w.time_in_day(day, r, false);
            let source = if r.chance(0.6) {
                Source::Direct
            } else {
                Source::OrganicSearch
            };
            session(ctx, st, out, defer, r, ts, source, SessionGoal::Purchase);
        }
        KIND_STORE => {
            if r.chance(0.15) {
                let ts = w.time_in_day(day, r, true) - 3_600_000_000;
                session(
                    ctx,
                    st,
                    out,
                    defer,
                    r,
                    ts,
                    Source::Direct,
                    SessionGoal::StoreVisit,
                );
            }
            let p = ctx.profile().clone();
            let ts = w.time_in_day(day, r, true);
            let store = if r.chance(0.85) {
                p.home_store
            } else {
                r.below(40) as u32
            };
            let card = (st.has(SYS_LOY, day) && r.chance(params.loyalty_scan_share))
                .then(|| p.loyalty_card(seed));
            let (receipt, eq) = if r.chance(params.ereceipt_share) {
                let (e, q) = render_email(&p, seed, r, params);
                (Some(e), Some(q))
            } else {
                (None, None)
            };
            let (phone, pq) = if r.chance(params.till_phone_share) {
                let (ph, q) = render_phone(&p, seed, r, params);
                (Some(ph), Some(q))
            } else {
                (None, None)
            };
            let keys = key_bits(&[
                (card.is_some(), KEY_CARD),
                (eq == Some(EmailQuality::Personal), KEY_EMAIL),
                (pq == Some(PhoneQuality::Personal), KEY_PHONE),
            ]);
            st.carry(keys);
            let amount = amount_cents(r, params.store_ticket_median_eur);
            let tx = ctx.next_number(TAG_POS);
            let row = PosRow {
                transaction_id: hex16(tx),
                transaction_ts: ts,
                store_id: format!("ST-{store:03}"),
                loyalty_card_id: card.clone(),
                receipt_email: receipt.clone(),
                phone: phone.clone(),
                amount,
                currency: p.country.currency,
            };
            let truth = HeldTruth {
                table: TRUTH_POS,
                id: tx,
                local: ctx.local,
                keys,
            };
            if r.chance(params.late_row_share) && day + 1 < w.days {
                defer.push((day + 1, Deferred::Pos(row, truth)));
            } else {
                out.pos.push(row);
                out.truth.push(truth);
            }
            // A refund at the till some days later: same customer, negative amount.
            if r.chance(params.refund_share) {
                let lag = 1 + r.below(10) as u32;
                if day + lag < w.days {
                    let rts = w.time_in_day(day + lag, r, true);
                    let rtx = ctx.next_number(TAG_POS);
                    st.carry(keys);
                    let refund = PosRow {
                        transaction_id: hex16(rtx),
                        transaction_ts: rts,
                        store_id: format!("ST-{store:03}"),
                        loyalty_card_id: card,
                        receipt_email: receipt,
                        phone,
                        amount: -(amount.min(amount_cents(r, params.store_ticket_median_eur))),
                        currency: p.country.currency,
                    };
                    let t = HeldTruth {
                        table: TRUTH_POS,
                        id: rtx,
                        local: ctx.local,
                        keys,
                    };
                    defer.push((day + lag, Deferred::Pos(refund, t)));
                }
            }
        }
        _ => {
            if !r.chance(params.registration_share) {
                return;
            }
            let lag = r.below(10) as u32;
            if day + lag >= w.days {
                return;
            }
            let p = ctx.profile().clone();
            let (email, eq) = render_email(&p, seed, r, params);
            let reg_ts = w.time_in_day(day + lag, r, false);
            let id = ctx.next_number(TAG_REG);
            let row = RegRow {
                registration_id: hex16(id),
                registered_at: reg_ts,
                email,
                purchase_date: w.day0 + day as i32,
                retailer: RETAILERS[r.below(RETAILERS.len() as u64) as usize],
                product_sku: format!("SKU-{:05}", r.below(5000)),
                amount: r
                    .chance(0.8)
                    .then(|| amount_cents(r, params.order_median_eur * 2.0)),
                incentive: INCENTIVES[r.below(INCENTIVES.len() as u64) as usize],
            };
            let keys = key_bits(&[(eq == EmailQuality::Personal, KEY_EMAIL)]);
            st.carry(keys);
            let truth = HeldTruth {
                table: TRUTH_REG,
                id,
                local: ctx.local,
                keys,
            };
            if lag == 0 {
                out.regs.push(row);
                out.truth.push(truth);
            } else {
                defer.push((day + lag, Deferred::Reg(row, truth)));
            }
        }
    }
    let _ = KIND_THIRD_PARTY;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identifier_ties_once_two_records_carry_it() {
        let mut st = PersonState::default();
        st.carry(KEY_EMAIL | KEY_PHONE);
        assert_eq!(st.ties(), 0, "one record ties nothing");
        st.carry(KEY_PHONE | KEY_CARD);
        assert_eq!(st.ties(), KEY_PHONE);
        st.carry(KEY_CARD);
        assert_eq!(st.ties(), KEY_PHONE | KEY_CARD);
    }

    #[test]
    fn a_cookie_ties_only_once_seen_with_a_login() {
        let mut st = PersonState::default();
        // an order placed from cookie 2, and the cookie itself
        st.carry(key_cookie(2));
        st.carry(st.cookie_keys(2));
        assert_eq!(
            st.ties(),
            0,
            "an anonymous cookie and its order tie nothing"
        );
        st.cookie_login |= 1 << 2;
        assert_eq!(st.ties(), key_cookie(2));
        assert_eq!(st.cookie_keys(2), key_cookie(2) | KEY_ACCOUNT);
    }
}
