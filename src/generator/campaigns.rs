//! The marketing plan: paid channels, their campaigns (about sixty, independent of scale),
//! when each runs, how the platforms price them, and the UTM tags their links carry. Also the
//! two organic pseudo-campaigns (`seo`, `social_organic`) that appear in `campaign_spend` at
//! zero cost.

use super::rng::{Rng, stream_id};

/// Paid channels in the order used by every per-channel array of the generator.
pub const CHANNELS: [&str; 6] = [
    "paid_search",
    "display",
    "paid_social",
    "email",
    "sms",
    "affiliate",
];
pub const CH_PAID_SEARCH: usize = 0;
pub const CH_DISPLAY: usize = 1;
pub const CH_PAID_SOCIAL: usize = 2;
pub const CH_EMAIL: usize = 3;
pub const CH_SMS: usize = 4;
pub const CH_AFFILIATE: usize = 5;

/// Campaigns per paid channel (58 in all, plus the two organic ones).
const PER_CHANNEL: [usize; 6] = [12, 10, 12, 12, 6, 6];

/// Cost model of each channel: (price per thousand impressions, price per click). E-mail and
/// SMS "impressions" are sends.
const PRICING: [(f64, f64); 6] = [
    (0.0, 0.65),
    (3.5, 0.0),
    (6.0, 0.0),
    (1.5, 0.0),
    (45.0, 0.0),
    (0.0, 0.40),
];

pub const UTM: [(&str, &str); 6] = [
    ("google", "cpc"),
    ("criteo", "display"),
    ("facebook", "paid_social"),
    ("newsletter", "email"),
    ("sms", "sms"),
    ("awin", "affiliate"),
];

const THEMES: &[&str] = &[
    "Rentrée",
    "Black Friday",
    "Soldes",
    "Nouveautés",
    "Fidélité",
    "Marque",
    "Noël",
    "Printemps",
    "Déstockage",
    "Fête des mères",
];

pub struct Campaign {
    pub id: String,
    pub name: String,
    pub channel: usize,
    pub start_day: u32,
    pub end_day: u32,
    pub cpm: f64,
    pub cpc: f64,
}

pub struct Plan {
    pub campaigns: Vec<Campaign>,
    /// For each channel and day, the campaigns running then (never empty: the first
    /// campaign of each channel is always on).
    by_channel_day: Vec<Vec<Vec<u16>>>,
}

pub const SEO_CAMPAIGN: &str = "seo";
pub const SOCIAL_ORGANIC_CAMPAIGN: &str = "social_organic";

impl Plan {
    pub fn new(seed: u64, days: u32) -> Self {
        let mut campaigns = Vec::new();
        let mut serial = 1u32;
        for (ch, count) in PER_CHANNEL.iter().enumerate() {
            for k in 0..*count {
                let mut r = Rng::new(seed, stream_id("campaign"), ch as u64, k as u64);
                let (start, end) = if k == 0 {
                    (0, days.saturating_sub(1))
                } else {
                    let len = (14 + r.below(47) as u32).min(days.max(1));
                    let start = r.below((days - len + 1).max(1) as u64) as u32;
                    (start, (start + len).saturating_sub(1))
                };
                let theme = if k == 0 { "Always on" } else { *r.pick(THEMES) };
                let jitter = 0.8 + 0.4 * r.f64();
                campaigns.push(Campaign {
                    id: format!("cmp-{serial:04}"),
                    name: format!("{theme} - {} #{}", CHANNELS[ch], k + 1),
                    channel: ch,
                    start_day: start,
                    end_day: end,
                    cpm: PRICING[ch].0 * jitter,
                    cpc: PRICING[ch].1 * jitter,
                });
                serial += 1;
            }
        }
        let mut by_channel_day = vec![vec![Vec::new(); days as usize]; CHANNELS.len()];
        for (i, c) in campaigns.iter().enumerate() {
            for d in c.start_day..=c.end_day.min(days.saturating_sub(1)) {
                by_channel_day[c.channel][d as usize].push(i as u16);
            }
        }
        Plan {
            campaigns,
            by_channel_day,
        }
    }

    pub fn pick(&self, channel: usize, day: u32, r: &mut Rng) -> usize {
        let list = &self.by_channel_day[channel][day as usize];
        if list.is_empty() {
            return 0;
        }
        *r.pick(list) as usize
    }
}
