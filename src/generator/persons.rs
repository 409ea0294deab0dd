//! Who the synthetic people are: every attribute of a person (names, household, address,
//! e-mail, phones, cookies, system memberships, appetite for shopping) is a pure function of
//! (seed, person index), so any table writer can recompute what it needs without a global
//! in-memory table. Also renders the dirty values that source systems export (typos,
//! nicknames, phone formats, e-mail variants) and the normalisations behind the hashes.

use std::collections::{HashMap, HashSet};

use crate::functions::{normalize_email, sha256_hex};

use super::GeneratorParams;
use super::rng::{Rng, mix64, scramble, stream_id};

/// Largest supported population: e-mail suffixes and phone numbers are bijections on this
/// many bits, which keeps personal identifiers collision-free.
pub const PERSON_BITS: u32 = 26;

#[derive(Debug)]
pub struct Country {
    pub code: &'static str,
    pub weight: f64,
    pub calling_code: &'static str,
    /// National trunk prefix (`0` in France), empty where dialling has none.
    pub trunk: &'static str,
    pub mobile_prefix: &'static str,
    pub landline_prefix: &'static str,
    pub currency: &'static str,
    pub cities: &'static [(&'static str, &'static str)],
}

pub const COUNTRIES: &[Country] = &[
    Country {
        code: "FR",
        weight: 0.80,
        calling_code: "33",
        trunk: "0",
        mobile_prefix: "6",
        landline_prefix: "1",
        currency: "EUR",
        cities: &[
            ("75011", "Paris"),
            ("75015", "Paris"),
            ("69003", "Lyon"),
            ("13008", "Marseille"),
            ("31000", "Toulouse"),
            ("44000", "Nantes"),
            ("59000", "Lille"),
            ("33000", "Bordeaux"),
            ("67000", "Strasbourg"),
            ("35000", "Rennes"),
            ("06000", "Nice"),
            ("34000", "Montpellier"),
        ],
    },
    Country {
        code: "BE",
        weight: 0.04,
        calling_code: "32",
        trunk: "0",
        mobile_prefix: "4",
        landline_prefix: "2",
        currency: "EUR",
        cities: &[("1000", "Bruxelles"), ("4000", "Liège"), ("5000", "Namur")],
    },
    Country {
        code: "CH",
        weight: 0.03,
        calling_code: "41",
        trunk: "0",
        mobile_prefix: "7",
        landline_prefix: "2",
        currency: "CHF",
        cities: &[("1201", "Genève"), ("1003", "Lausanne")],
    },
    Country {
        code: "DE",
        weight: 0.03,
        calling_code: "49",
        trunk: "0",
        mobile_prefix: "151",
        landline_prefix: "30",
        currency: "EUR",
        cities: &[("10115", "Berlin"), ("80331", "München")],
    },
    Country {
        code: "ES",
        weight: 0.03,
        calling_code: "34",
        trunk: "",
        mobile_prefix: "6",
        landline_prefix: "9",
        currency: "EUR",
        cities: &[("28001", "Madrid"), ("08001", "Barcelona")],
    },
    Country {
        code: "IT",
        weight: 0.03,
        calling_code: "39",
        trunk: "",
        mobile_prefix: "33",
        landline_prefix: "02",
        currency: "EUR",
        cities: &[("20121", "Milano"), ("00118", "Roma")],
    },
    Country {
        code: "GB",
        weight: 0.02,
        calling_code: "44",
        trunk: "0",
        mobile_prefix: "7",
        landline_prefix: "20",
        currency: "GBP",
        cities: &[("SW1A 1AA", "London"), ("M1 1AE", "Manchester")],
    },
    Country {
        code: "US",
        weight: 0.02,
        calling_code: "1",
        trunk: "1",
        mobile_prefix: "61",
        landline_prefix: "21",
        currency: "USD",
        cities: &[("10001", "New York"), ("02108", "Boston")],
    },
];

const FIRST_NAMES: &[&str] = &[
    "Marie",
    "Jean",
    "Pierre",
    "Nicolas",
    "Thomas",
    "Julie",
    "Camille",
    "Sophie",
    "Laura",
    "Lucas",
    "Hugo",
    "Louis",
    "Manon",
    "Emma",
    "Alexandre",
    "Catherine",
    "Isabelle",
    "Philippe",
    "Christophe",
    "Nathalie",
    "Sandrine",
    "David",
    "Julien",
    "Antoine",
    "Maxime",
    "Guillaume",
    "Mathieu",
    "Vincent",
    "Laurent",
    "Patrick",
    "Michel",
    "Caroline",
    "Pauline",
    "Sarah",
    "Claire",
    "Hélène",
    "François",
    "Jérôme",
    "Cécile",
    "Stéphane",
    "Frédéric",
    "Agnès",
    "Benoît",
    "Chloé",
    "Léa",
    "Zoé",
    "Noémie",
    "Mélanie",
    "Gaëlle",
    "Loïc",
    "Raphaël",
    "Anaïs",
    "Jérémy",
    "Émilie",
    "Éric",
    "Valérie",
    "Thérèse",
    "André",
    "René",
    "Céline",
    "Sébastien",
    "Clément",
    "Amélie",
    "Margaux",
    "Inès",
    "Théo",
    "Nathan",
    "Arthur",
    "Jules",
    "Adèle",
];

const NICKNAMES: &[(&str, &str)] = &[
    ("Alexandre", "Alex"),
    ("Nicolas", "Nico"),
    ("Catherine", "Cathy"),
    ("Christophe", "Chris"),
    ("Maxime", "Max"),
    ("Frédéric", "Fred"),
    ("Stéphane", "Steph"),
    ("Sébastien", "Seb"),
    ("Philippe", "Phil"),
    ("Isabelle", "Isa"),
    ("Valérie", "Val"),
    ("Benoît", "Ben"),
    ("Caroline", "Caro"),
    ("Thomas", "Tom"),
    ("Mathieu", "Matt"),
    ("Guillaume", "Will"),
    ("Jérémy", "Jerem"),
    ("Nathalie", "Nath"),
    ("Raphaël", "Raph"),
    ("Margaux", "Margot"),
];

const LAST_NAMES: &[&str] = &[
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
    "Lefèvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Lefebvre",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Legrand",
    "Garnier",
    "Faure",
    "Rousseau",
    "Blanc",
    "Guérin",
    "Muller",
    "Henry",
    "Roussel",
    "Nicolas",
    "Perrin",
    "Morin",
    "Mathieu",
    "Clément",
    "Gauthier",
    "Dumont",
    "Lopez",
    "Fontaine",
    "Chevalier",
    "Robin",
    "Masson",
    "Sanchez",
    "Gérard",
    "Nguyen",
    "Boyer",
    "Denis",
    "Lemaire",
    "Duval",
    "Joly",
    "Gautier",
    "Roger",
    "Roche",
    "Roy",
    "Noël",
    "Meyer",
    "Lucas",
    "Meunier",
    "Jean",
    "Pérez",
    "Marchand",
    "Dufour",
    "Blanchard",
    "Barbier",
    "Brun",
    "Dumas",
    "Brunet",
    "Schmitt",
    "Leroux",
    "Colin",
    "Fernandez",
    "Hébert",
    "Bérard",
    "Lacroix",
    "Chauvin",
    "Lemoine",
    "Lévêque",
    "Besnard",
    "Côté",
    "Da Silva",
    "Le Gall",
];

const STREET_TYPES: &[(&str, &str)] = &[
    ("rue", "r."),
    ("avenue", "av."),
    ("boulevard", "bd"),
    ("place", "pl."),
    ("chemin", "ch."),
    ("allée", "all."),
    ("impasse", "imp."),
];

const STREET_NAMES: &[&str] = &[
    "de la République",
    "Victor Hugo",
    "Jean Jaurès",
    "des Lilas",
    "du Général de Gaulle",
    "Pasteur",
    "de la Gare",
    "Gambetta",
    "des Écoles",
    "Émile Zola",
    "de Paris",
    "du Moulin",
    "des Acacias",
    "Voltaire",
    "de l'Église",
    "Saint-Exupéry",
];

const DOMAINS: &[(&str, f64)] = &[
    ("gmail.com", 0.34),
    ("orange.fr", 0.14),
    ("hotmail.com", 0.10),
    ("yahoo.fr", 0.08),
    ("free.fr", 0.08),
    ("outlook.com", 0.07),
    ("sfr.fr", 0.06),
    ("laposte.net", 0.05),
    ("wanadoo.fr", 0.04),
    ("icloud.com", 0.04),
];

const DOMAIN_TYPOS: &[(&str, &str)] = &[
    ("gmail.com", "gmial.com"),
    ("gmail.com", "gmail.fr"),
    ("gmail.com", "gmail.con"),
    ("orange.fr", "ornage.fr"),
    ("hotmail.com", "hotmial.com"),
    ("hotmail.com", "hotmail.fr"),
    ("yahoo.fr", "yaho.fr"),
    ("free.fr", "fre.fr"),
    ("outlook.com", "outlok.com"),
    ("sfr.fr", "srf.fr"),
    ("laposte.net", "laposte.fr"),
    ("wanadoo.fr", "wanado.fr"),
    ("icloud.com", "iclound.com"),
];

const INVALID_EMAILS: &[&str] = &[
    "n/a",
    "none",
    "-",
    "pas d'email",
    "test@test.com",
    "noemail@noemail.com",
    "xx@",
    "@gmail.com",
    "jean.dupont@",
    "refus",
];

const COMPANY_WORDS: &[&str] = &[
    "atelier",
    "conseil",
    "batiment",
    "boulangerie",
    "cabinet",
    "garage",
    "pharmacie",
    "agence",
    "studio",
    "transports",
];

const SHARED_LOCALS: &[&str] = &["contact", "info", "accueil", "compta"];

/// One resident of the synthetic world. Cheap to build (no allocation besides what callers
/// render), so writers rebuild it whenever a row needs it.
#[derive(Clone, Debug)]
pub struct Profile {
    pub index: u64,
    pub country: &'static Country,
    pub first: &'static str,
    pub last: &'static str,
    /// Days since 1970-01-01.
    pub birth_days: i32,
    pub email_style: u8,
    /// Whether the local part is made of the names only (`name_email_share`).
    pub name_email: bool,
    /// For a name e-mail, the number after `prenom.nom` (None: none), chosen by
    /// [`name_email_suffixes`] so that no two persons share an address.
    pub name_email_suffix: Option<u32>,
    pub email_domain: &'static str,
    /// Company whose shared inbox (`contact@…`) this person uses in some records.
    pub company: Option<u64>,
    pub household_head: u64,
    pub household_size: u8,
    pub street_no: u32,
    pub street_type: usize,
    pub street_name: usize,
    pub city: usize,
    pub activity: f64,
    pub n_cookies: u8,
    pub social_user: bool,
    pub consent: bool,
    /// Prior weights of the three purchase venues: online, store, third-party retailer.
    pub venue: [f64; 3],
    pub home_store: u32,
    /// Pre-window memberships, indexed like [`SYSTEMS`].
    pub member: [bool; 4],
    /// Day (within the window) on which a loyalty or CRM record is created, when it is
    /// created during the window rather than before it.
    pub in_window_created: [Option<u32>; 4],
}

/// Source systems in `crm_contacts`, with their id prefixes.
pub const SYSTEMS: [(&str, &str); 4] = [
    ("crm", "CRM-"),
    ("ecommerce", "ECO-"),
    ("loyalty", "LOY-"),
    ("newsletter", "NWS-"),
];
pub const SYS_CRM: usize = 0;
pub const SYS_ECO: usize = 1;
pub const SYS_LOY: usize = 2;
pub const SYS_NWS: usize = 3;

const HOUSEHOLD_BLOCK: u64 = 4;
/// Household layouts of a block of four consecutive persons, and how often each occurs:
/// about a third of persons share a home (and so an address and a landline) with others.
const HOUSEHOLD_PATTERNS: &[(&[u8], f64)] = &[
    (&[1, 1, 1, 1], 0.55),
    (&[2, 1, 1], 0.20),
    (&[2, 2], 0.10),
    (&[3, 1], 0.08),
    (&[4], 0.07),
];

fn household_of(seed: u64, index: u64) -> (u64, u8) {
    let block = index / HOUSEHOLD_BLOCK;
    let mut rng = Rng::new(seed, stream_id("household"), block, 0);
    let weights: Vec<f64> = HOUSEHOLD_PATTERNS.iter().map(|p| p.1).collect();
    let pattern = HOUSEHOLD_PATTERNS[rng.weighted(&weights)].0;
    let mut start = block * HOUSEHOLD_BLOCK;
    for size in pattern {
        if index < start + *size as u64 {
            return (start, *size);
        }
        start += *size as u64;
    }
    (index, 1)
}

impl Profile {
    pub fn new(seed: u64, index: u64, n_persons: u64, params: &GeneratorParams, days: u32) -> Self {
        let (head, size) = household_of(seed, index);
        // Where the household lives is drawn from the head's stream so members agree.
        let mut home = Rng::new(seed, stream_id("home"), head, 0);
        let cw: Vec<f64> = COUNTRIES.iter().map(|c| c.weight).collect();
        let country = &COUNTRIES[home.weighted(&cw)];
        let family_last = *home.pick(LAST_NAMES);
        let street_no = home.range(1, 180) as u32;
        let street_type = home.below(STREET_TYPES.len() as u64) as usize;
        let street_name = home.below(STREET_NAMES.len() as u64) as usize;
        let city = home.below(country.cities.len() as u64) as usize;

        let mut r = Rng::new(seed, stream_id("person"), index, 0);
        let first = *r.pick(FIRST_NAMES);
        let last = if size > 1 && r.chance(0.8) {
            family_last
        } else {
            *r.pick(LAST_NAMES)
        };
        let birth_days = r.range(-7300, 13500) as i32; // 1950 .. 2006
        let email_style = r.below(5) as u8;
        // a stream of its own, drawn only when asked, so the default world is unchanged
        let name_email = params.name_email_share > 0.0
            && Rng::new(seed, stream_id("name-email"), index, 0).chance(params.name_email_share);
        let dw: Vec<f64> = DOMAINS.iter().map(|d| d.1).collect();
        let email_domain = DOMAINS[r.weighted(&dw)].0;
        let n_companies = (n_persons / 200).max(1);
        let company = if r.chance(params.shared_inbox_person_share) {
            Some(r.below(n_companies))
        } else {
            None
        };
        // Heavy-tailed appetite: most people are quiet, a few are very active.
        let activity = (0.6 * r.normal() - 0.18).exp().min(8.0);
        let n_cookies = 1 + r.poisson((params.cookies_per_person - 1.0).max(0.0)).min(6) as u8;
        let social_user = r.chance(0.6);
        let consent = r.chance(0.65);
        let venue_online = 0.15 + 0.45 * r.f64();
        let venue_third = 0.05 + 0.1 * r.f64();
        let venue = [venue_online, 1.0 - venue_online - venue_third, venue_third];
        let home_store = r.below(40) as u32;
        let member = [
            r.chance(params.crm_share),
            r.chance(params.ecommerce_share),
            r.chance(params.loyalty_share),
            r.chance(params.newsletter_share),
        ];
        let mut in_window_created = [None; 4];
        for (sys, slot) in in_window_created.iter_mut().enumerate() {
            // E-commerce and newsletter records created in the window come from sign-up
            // events (journey state); CRM and loyalty ones are scheduled here.
            if (sys == SYS_CRM || sys == SYS_LOY) && !member[sys] && r.chance(0.08) && days > 1 {
                *slot = Some(1 + r.below(days as u64 - 1) as u32);
            }
        }
        Profile {
            index,
            country,
            first,
            last,
            birth_days,
            email_style,
            name_email,
            name_email_suffix: None,
            email_domain,
            company,
            household_head: head,
            household_size: size,
            street_no,
            street_type,
            street_name,
            city,
            activity,
            n_cookies,
            social_user,
            consent,
            venue,
            home_store,
            member,
            in_window_created,
        }
    }

    /// The person's own, clean e-mail address (unique per person).
    pub fn email(&self, seed: u64) -> String {
        let n = scramble(self.index, PERSON_BITS, seed) % 10_000_000;
        let f = ascii_slug(self.first);
        let l = ascii_slug(self.last);
        let local = match self.email_style {
            _ if self.name_email => match self.name_email_suffix {
                None => format!("{f}.{l}"),
                Some(k) => format!("{f}.{l}{k:02}"),
            },
            0 => format!("{f}.{l}{n}"),
            1 => format!("{f}{l}{n}"),
            2 => format!("{}{l}{n}", &f[..1.min(f.len())]),
            3 => format!("{f}_{l}.{n}"),
            _ => format!("{l}.{f}{n}"),
        };
        format!("{local}@{}", self.email_domain)
    }

    /// The name e-mail's local part before any number is added: what namesakes compete for.
    fn name_email_key(&self) -> (String, &'static str) {
        (
            format!("{}.{}", ascii_slug(self.first), ascii_slug(self.last)),
            self.email_domain,
        )
    }

    pub fn email_sha256(&self, seed: u64) -> String {
        sha256_hex(&normalize_email(&self.email(seed)).unwrap_or_default())
    }

    /// National significant number of the personal mobile: unique per person.
    pub fn mobile_nsn(&self, seed: u64) -> String {
        let n = scramble(self.index, PERSON_BITS, seed.rotate_left(13)) % 100_000_000;
        nanp_valid(
            self.country,
            format!("{}{:08}", self.country.mobile_prefix, n),
        )
    }

    /// The household landline, shared by everyone living there.
    pub fn landline_nsn(&self, seed: u64) -> String {
        let n = scramble(self.household_head, PERSON_BITS, seed.rotate_left(29)) % 100_000_000;
        nanp_valid(
            self.country,
            format!("{}{:08}", self.country.landline_prefix, n),
        )
    }

    pub fn phone_e164(&self, seed: u64) -> String {
        format!("+{}{}", self.country.calling_code, self.mobile_nsn(seed))
    }

    pub fn phone_sha256(&self, seed: u64) -> String {
        sha256_hex(&self.phone_e164(seed))
    }

    pub fn loyalty_card(&self, seed: u64) -> String {
        let n = scramble(self.index, PERSON_BITS, seed.rotate_left(41));
        format!("LC{:010}", n * 37 % 10_000_000_000)
    }

    pub fn contact_id(&self, seed: u64, system: usize) -> String {
        contact_id_of(system, self.contact_number(seed, system))
    }

    /// The 48-bit number behind [`Profile::contact_id`].
    pub fn contact_number(&self, seed: u64, system: usize) -> u64 {
        mix64(seed ^ mix64(((system as u64 + 1) << 56) | self.index)) >> 16
    }

    pub fn postal_city(&self) -> (&'static str, &'static str) {
        self.country.cities[self.city]
    }

    /// Whether this person is in a home shared with others (then address and landline are
    /// not personal identifiers).
    pub fn shares_home(&self) -> bool {
        self.household_size > 1
    }
}

/// Every name e-mail's number after `prenom.nom` ([`Profile::name_email_suffix`]), by person
/// index, as a mail provider hands addresses out: one person in four asks for the bare
/// `prenom.nom`, the others for `prenom.nom` and two digits of their own; whoever finds the
/// address taken by an earlier person (by index) at the same provider gets the next free
/// number. So addresses are unique per person, and namesakes at different providers often
/// share a local part made of the names (the profile's point), without a systematic one.
/// `None` for persons without a name e-mail, and empty when the world has none (the default),
/// so other worlds pay nothing.
pub fn name_email_suffixes(
    seed: u64,
    n_persons: u64,
    params: &GeneratorParams,
    days: u32,
) -> Vec<Option<u32>> {
    if params.name_email_share <= 0.0 {
        return Vec::new();
    }
    // per `prenom.nom` and provider, the numbers given out (u32::MAX: the bare address)
    let mut taken: HashMap<(String, &'static str), HashSet<u32>> = HashMap::new();
    (0..n_persons)
        .map(|idx| {
            let p = Profile::new(seed, idx, n_persons, params, days);
            if !p.name_email {
                return None;
            }
            let n = scramble(idx, PERSON_BITS, seed) % 10_000_000;
            let used = taken.entry(p.name_email_key()).or_default();
            let mut want = if n.is_multiple_of(4) {
                u32::MAX
            } else {
                (n % 100) as u32
            };
            if want == u32::MAX && !used.insert(want) {
                want = (n % 100) as u32;
            }
            if want != u32::MAX {
                while !used.insert(want) {
                    want += 1;
                }
            }
            (want != u32::MAX).then_some(want)
        })
        .collect()
}

pub fn contact_id_of(system: usize, number: u64) -> String {
    format!("{}{number:012X}", SYSTEMS[system].1)
}

/// Lowercase ASCII with accents, spaces and apostrophes removed, as people type e-mails.
pub fn ascii_slug(s: &str) -> String {
    drop_accents(s)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

pub fn drop_accents(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'É' | 'È' | 'Ê' => 'E',
            'à' | 'â' | 'ä' => 'a',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            other => other,
        })
        .collect()
}

/// The normalisation behind every `email_sha256`: trim, lowercase, drop a `+tag` from the
/// local part, drop dots from gmail local parts. `None` when it is not an address.
/// North American numbers have a 3-digit area code and a 3-digit exchange that both start with
/// 2–9; a real normaliser rejects anything else, so the generator never invents one.
fn nanp_valid(country: &Country, nsn: String) -> String {
    if country.calling_code != "1" {
        return nsn;
    }
    nsn.char_indices()
        .map(|(i, c)| match (i, c) {
            (3, '0') => '2',
            (3, '1') => '3',
            _ => c,
        })
        .collect()
}

/// What an exported e-mail value is, which decides whether it identifies its person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailQuality {
    /// The person's own address, possibly with cosmetic noise that normalisation removes.
    Personal,
    /// Own address with a typo in the domain: fuzzy matching may save it, exact cannot.
    Typo,
    /// Shared company inbox (`contact@…`), used by many persons.
    Shared,
    Invalid,
}

/// Renders an e-mail as a source system or a checkout form would export it.
pub fn render_email(
    p: &Profile,
    seed: u64,
    r: &mut Rng,
    params: &GeneratorParams,
) -> (String, EmailQuality) {
    if let Some(company) = p.company
        && r.chance(params.shared_inbox_use)
    {
        let word = COMPANY_WORDS[(company % COMPANY_WORDS.len() as u64) as usize];
        return (
            format!("{}@{}-{}.fr", r.pick(SHARED_LOCALS), word, company),
            EmailQuality::Shared,
        );
    }
    let x = r.f64();
    if x < params.email_invalid_share {
        return (r.pick(INVALID_EMAILS).to_string(), EmailQuality::Invalid);
    }
    let clean = p.email(seed);
    if x < params.email_invalid_share + params.email_typo_share {
        let typos: Vec<&str> = DOMAIN_TYPOS
            .iter()
            .filter(|(d, _)| *d == p.email_domain)
            .map(|(_, t)| *t)
            .collect();
        if let (Some(local), false) = (clean.split('@').next(), typos.is_empty()) {
            return (format!("{local}@{}", r.pick(&typos)), EmailQuality::Typo);
        }
    }
    if !r.chance(params.email_cosmetic_share) {
        return (clean, EmailQuality::Personal);
    }
    let (local, domain) = clean.split_once('@').unwrap_or((&clean, ""));
    let out = match r.below(5) {
        0 => {
            let mut cs = local.chars();
            let head: String = cs
                .next()
                .map(|c| c.to_uppercase().collect())
                .unwrap_or_default();
            format!("{head}{}@{domain}", cs.as_str())
        }
        1 => format!("{}@{}", local.to_uppercase(), domain.to_uppercase()),
        2 => format!("  {local}@{domain} "),
        3 => format!(
            "{local}+{}@{domain}",
            r.pick(&["promo", "shop", "news", "2024"])
        ),
        _ => {
            if domain == "gmail.com" {
                let stripped = local.replace('.', "");
                let cut = 1 + r.below(stripped.len().saturating_sub(1).max(1) as u64) as usize;
                let cut = cut.min(stripped.len());
                format!("{}.{}@{domain}", &stripped[..cut], &stripped[cut..])
            } else {
                format!("{local}@{domain}\t")
            }
        }
    };
    (out, EmailQuality::Personal)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhoneQuality {
    Personal,
    /// Household landline: shared by the family.
    Family,
    Invalid,
}

/// Formats a national significant number the way people and systems type it.
pub fn format_phone(country: &Country, nsn: &str, style: u64) -> String {
    let cc = country.calling_code;
    let national = format!("{}{}", country.trunk, nsn);
    if country.code == "US" {
        let (a, rest) = nsn.split_at(3.min(nsn.len()));
        let (b, c) = rest.split_at(3.min(rest.len()));
        return match style % 4 {
            0 => format!("({a}) {b}-{c}"),
            1 => format!("{a}-{b}-{c}"),
            2 => format!("+1 {a} {b} {c}"),
            _ => format!("+1{nsn}"),
        };
    }
    match style % 6 {
        0 => pairs(&national),
        1 => national,
        2 => pairs(&national).replace(' ', "."),
        3 => format!("+{cc} {}", lead_then_pairs(nsn)),
        4 => format!("+{cc}{nsn}"),
        _ => format!("00{cc}{nsn}"),
    }
}

fn pairs(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    chars
        .chunks(2)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

fn lead_then_pairs(nsn: &str) -> String {
    if nsn.len() % 2 == 1 {
        let (a, b) = nsn.split_at(1);
        format!("{a} {}", pairs(b))
    } else {
        pairs(nsn)
    }
}

pub fn render_phone(
    p: &Profile,
    seed: u64,
    r: &mut Rng,
    params: &GeneratorParams,
) -> (String, PhoneQuality) {
    if r.chance(params.phone_invalid_share) {
        let bad = ["0000000000", "123", "06", "+33", "0612"];
        return (r.pick(&bad).to_string(), PhoneQuality::Invalid);
    }
    let style = r.next_u64();
    if p.shares_home() && r.chance(params.family_phone_share) {
        return (
            format_phone(p.country, &p.landline_nsn(seed), style),
            PhoneQuality::Family,
        );
    }
    (
        format_phone(p.country, &p.mobile_nsn(seed), style),
        PhoneQuality::Personal,
    )
}

/// A typo at edit distance 1 or 2 (substitution, deletion, doubling or transposition).
pub fn typo(s: &str, r: &mut Rng) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let edits = 1 + r.below(2);
    for _ in 0..edits {
        if chars.len() < 3 {
            break;
        }
        let i = 1 + r.below(chars.len() as u64 - 2) as usize;
        match r.below(4) {
            0 => chars[i] = *r.pick(&['a', 'e', 'i', 'n', 'r', 's', 't', 'l']),
            1 => {
                chars.remove(i);
            }
            2 => chars.insert(i, chars[i]),
            _ => chars.swap(i, i - 1),
        }
    }
    chars.into_iter().collect()
}

pub fn nickname(first: &str) -> Option<&'static str> {
    NICKNAMES.iter().find(|(f, _)| *f == first).map(|(_, n)| *n)
}

/// Renders (first_name, last_name) with the noise of manual entry.
pub fn render_names(p: &Profile, r: &mut Rng, params: &GeneratorParams) -> (String, String) {
    let mut first = p.first.to_string();
    let mut last = p.last.to_string();
    if r.chance(params.nickname_share)
        && let Some(n) = nickname(p.first)
    {
        first = n.to_string();
    }
    if r.chance(params.accent_drop_share) {
        first = drop_accents(&first);
        last = drop_accents(&last);
    }
    if r.chance(params.name_typo_share) {
        if r.chance(0.5) {
            first = typo(&first, r);
        } else {
            last = typo(&last, r);
        }
    }
    match r.below(10) {
        0 | 1 => last = last.to_uppercase(),
        2 => {
            first = first.to_lowercase();
            last = last.to_lowercase();
        }
        _ => {}
    }
    if r.chance(params.name_swap_share) {
        std::mem::swap(&mut first, &mut last);
    }
    (first, last)
}

/// Free-text street address: abbreviations, missing numbers, typos.
pub fn render_street(p: &Profile, r: &mut Rng, params: &GeneratorParams) -> String {
    let (full, abbr) = STREET_TYPES[p.street_type];
    let kind = if r.chance(0.35) { abbr } else { full };
    let mut name = STREET_NAMES[p.street_name].to_string();
    if r.chance(params.name_typo_share) {
        name = typo(&name, r);
    }
    let kind = if r.chance(0.1) {
        kind.to_uppercase()
    } else {
        kind.to_string()
    };
    if r.chance(0.08) {
        format!("{kind} {name}")
    } else if r.chance(0.1) {
        format!("{}, {kind} {name}", p.street_no)
    } else {
        format!("{} {kind} {name}", p.street_no)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_normalisation_removes_cosmetics() {
        assert_eq!(
            normalize_email("  Jean.Martin+promo@GMail.com ").as_deref(),
            Some("jeanmartin@gmail.com")
        );
        assert_eq!(
            normalize_email("a.b+x@orange.fr").as_deref(),
            Some("a.b@orange.fr")
        );
        assert_eq!(normalize_email("n/a"), None);
        assert_eq!(normalize_email("xx@"), None);
    }

    #[test]
    fn name_emails_are_unique_per_person_even_between_namesakes() {
        let params = GeneratorParams {
            name_email_share: 1.0,
            ..GeneratorParams::default()
        };
        let n = 20_000;
        let suffixes = name_email_suffixes(9, n, &params, 30);
        let mut addresses = HashSet::new();
        let mut names_at_provider = HashMap::new();
        for idx in 0..n {
            let mut p = Profile::new(9, idx, n, &params, 30);
            p.name_email_suffix = suffixes[idx as usize];
            let e = normalize_email(&p.email(9)).unwrap_or_default();
            assert!(addresses.insert(e.clone()), "{e} given twice");
            *names_at_provider.entry(p.name_email_key()).or_insert(0) += 1;
        }
        // the test means something only if namesakes compete for an address
        let crowded = names_at_provider.values().filter(|c| **c > 1).count();
        assert!(crowded > 100, "{crowded}");
        // and a bare prenom.nom is common: local parts made of the names alone
        let bare = suffixes.iter().filter(|s| s.is_none()).count();
        assert!(bare > n as usize / 10, "{bare}");
    }

    #[test]
    fn every_personal_rendering_hashes_to_the_person() {
        let params = GeneratorParams::default();
        for idx in 0..200 {
            let p = Profile::new(9, idx, 1000, &params, 30);
            let want = p.email_sha256(9);
            let mut r = Rng::new(9, 1, idx, 0);
            for _ in 0..20 {
                let (e, q) = render_email(&p, 9, &mut r, &params);
                if q == EmailQuality::Personal {
                    let got = sha256_hex(&normalize_email(&e).unwrap_or_default());
                    assert_eq!(got, want, "{e}");
                }
            }
        }
    }

    /// The pipeline's `normalize_phone` must turn every personal rendering back into the E.164
    /// number the truth hashes: generator and pipeline agree by construction.
    #[test]
    fn every_personal_phone_normalizes_to_the_person() {
        let params = GeneratorParams::default();
        let mut checked = 0;
        for idx in 0..300 {
            let p = Profile::new(9, idx, 1000, &params, 30);
            let want = p.phone_e164(9);
            let mut r = Rng::new(9, 2, idx, 0);
            for _ in 0..20 {
                let (ph, q) = render_phone(&p, 9, &mut r, &params);
                if q == PhoneQuality::Personal {
                    let got = crate::functions::normalize_phone(&ph, p.country.code);
                    assert_eq!(
                        got.as_deref(),
                        Some(want.as_str()),
                        "{ph} ({})",
                        p.country.code
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 1000, "{checked}");
    }

    #[test]
    fn phone_formats() {
        let fr = &COUNTRIES[0];
        assert_eq!(format_phone(fr, "612345678", 0), "06 12 34 56 78");
        assert_eq!(format_phone(fr, "612345678", 3), "+33 6 12 34 56 78");
        assert_eq!(format_phone(fr, "612345678", 5), "0033612345678");
        let us = COUNTRIES
            .iter()
            .find(|c| c.code == "US")
            .map(|c| c as *const Country);
        let us = COUNTRIES.iter().find(|c| Some(*c as *const Country) == us);
        if let Some(us) = us {
            assert_eq!(format_phone(us, "6123456789", 0), "(612) 345-6789");
        }
    }

    #[test]
    fn households_are_consistent() {
        for idx in 0..400u64 {
            let (head, size) = household_of(3, idx);
            assert!(head <= idx && idx < head + size as u64);
            assert_eq!(household_of(3, head), (head, size));
        }
    }

    #[test]
    fn typos_stay_close() {
        let mut r = Rng::new(1, 2, 3, 4);
        for _ in 0..100 {
            let t = typo("Dubois", &mut r);
            assert!((t.chars().count() as i64 - 6).abs() <= 2, "{t}");
        }
    }
}
