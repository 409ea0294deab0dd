//! Shapley-value multi-touch attribution, as the aggregate SQL function
//! `shapley_channel_weights(channels, converted [, max_channels [, variant
//! [, weight [, value]]]])`: for each distinct set of channels seen on a
//! converting journey, the share of that conversion's credit each channel of
//! the set earns. Two games are offered (`variant`): `'rate'` (the default,
//! described first) and `'simplified'`, the simplified Shapley value of Zhao
//! et al. (2018), described below.
//!
//! The rate game. Journeys are grouped by their exact set of distinct channels
//! (order and repeats ignored). The characteristic function of a coalition
//! `T` is its observed conversion rate, `v(T) = conversions(T) /
//! journeys(T)`. A coalition never observed takes the best value of the
//! coalitions one channel smaller, themselves observed or fallen back the
//! same way (the empty coalition: 0 when unobserved). An observed coalition
//! keeps its own rate even when a subset of it converts better, so this is
//! not always the best rate of every observed subset; the sampled estimate
//! beyond `max_channels` uses that simpler rule instead (it cannot afford
//! the recursion), so the two can differ on such games. Adding channels is assumed
//! not to hurt, and nothing is invented beyond what was seen. `v(∅)` is the
//! rate of journeys without any channel when there are some, else 0. A
//! conversion whose journey touched `S` is credited by the Shapley values of
//! `v` restricted to the subsets of `S`:
//!
//! `φ_i = Σ_{T ⊆ S∖{i}} |T|!(|S|−|T|−1)!/|S|! · (v(T∪{i}) − v(T))`
//!
//! and channel `i` receives `max(φ_i, 0) / Σ_j max(φ_j, 0)` (an equal split
//! when no channel adds anything). Values below 1e-12 count as 0, so
//! rounding noise cannot pick a winner.
//!
//! The simplified game (`'simplified'`). Zhao, Mahboobi and Bagheri (2018),
//! "Shapley Value Methods for Attribution Modeling in Online Advertising"
//! (arXiv:1804.05327), take `v(S) = Σ_{T ⊆ S} R(T)`, `R(T)` the conversions of
//! journeys whose channel set is exactly `T`. `v` is a sum of unanimity
//! games `R(T)·u_T`, and the Shapley value of `u_T` gives `1/|T|` to each
//! member of `T`, hence their closed form `φ_i = Σ_{T ∋ i} R(T) / |T|`
//! (their simplified Shapley value). Per channel set this is an equal split:
//! the weight of each channel of `S` is `1/|S|`, and `Σ_S R(S)·weight(S, i)`
//! is exactly `φ_i`. Non-converting journeys play no part in it.
//!
//! Why both: counts grow with reach, so under the simplified game a channel
//! present on many journeys collects credit even when journeys with it
//! convert no better than journeys without it; it rewards frequent channels,
//! not effective ones. Rates measure the lift a channel brings to the
//! coalitions it joins ("incremental" Shapley). The simplified game is the
//! one other tools report, so it is here to compare with them.
//!
//! Weights and values. A row may stand for `weight` identical journeys; with
//! a `value` (the conversion value of the row's journeys), the rate game's
//! `v(T)` is the value per journey of `T` instead of the conversion rate
//! (the simplified game's split does not depend on it).
//!
//! Cost. Sets of at most `max_channels` channels (default 12, at most 20)
//! are computed exactly over the `2^|S|` subsets as bitmasks. Larger sets
//! are estimated by Monte-Carlo over [`PERMUTATIONS`] random orderings of
//! the set from a fixed seed, so results are deterministic: along each
//! ordering a channel earns its marginal contribution `v(prefix ∪ {i}) −
//! v(prefix)`, whose average over all orderings is exactly `φ_i`. The
//! standard error is about `σ/√2000`; the weights still sum to 1.
//!
//! Memory is one counter pair per distinct channel set; the partial state
//! merges associatively (see `markov.rs` for the shared plumbing).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{HashMap, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

use super::markov::{
    Journeys, KeyKind, coerce_journey_args, item_field, literal_arg, single_list, utf8_array,
};

/// Default `max_channels`: 2^12 subsets per set is instant.
pub const DEFAULT_MAX_CHANNELS: usize = 12;

/// Highest `max_channels` accepted: 2^20 values (8 MiB) and 20·2^20 terms
/// per distinct set are still reasonable; beyond, sampling is the only
/// sensible option.
pub const MAX_EXACT_CHANNELS: usize = 20;

/// Random orderings drawn per set above `max_channels`.
pub const PERMUTATIONS: usize = 2000;

/// The games `variant` names, in the order of [`ShapleyVariant`].
pub const VARIANTS: &[&str] = &["rate", "simplified"];

/// Which characteristic function the Shapley values are taken of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapleyVariant {
    /// `v(T)` = conversion rate (or value per journey) of journeys whose set
    /// is `T`.
    Rate,
    /// Zhao et al.'s `v(S) = Σ_{T ⊆ S} conversions(T)`.
    Simplified,
}

impl ShapleyVariant {
    fn from_index(i: usize) -> Self {
        if i == 1 { Self::Simplified } else { Self::Rate }
    }
}

/// Seed of the orderings, reset for every set so each set's estimate is
/// independent of the other sets and of partitioning.
const SEED: u64 = 0x5EED_A77B_0C1A_7E5D;

/// Shapley values at or below this are "no contribution".
const EPSILON: f64 = 1e-12;

/// Observed conversion rates by channel set (sorted channel ids).
type Rates = HashMap<Vec<u32>, f64>;

/// `v(T)` for every `T ⊆ set`, indexed by bitmask over `set`'s positions.
fn exact_values(set: &[u32], rates: &Rates) -> Vec<f64> {
    let n = set.len();
    let mut v = vec![0.0; 1 << n];
    let mut key = Vec::with_capacity(n);
    let bits = |mask: usize| (0..n).filter(move |&i| mask >> i & 1 == 1);
    for mask in 0..v.len() {
        key.clear();
        key.extend(bits(mask).map(|i| set[i]));
        v[mask] = match rates.get(key.as_slice()) {
            Some(&rate) => rate,
            // Proper subsets have smaller masks, so their values (observed or
            // themselves fallen back) are known: take the best of the subsets
            // one element smaller (see the module documentation).
            None => bits(mask).map(|i| v[mask ^ (1 << i)]).fold(0.0, f64::max),
        };
    }
    v
}

/// Exact Shapley values of the game `v` over `n` players.
fn exact_shapley(v: &[f64], n: usize) -> Vec<f64> {
    // |T|!(n−|T|−1)!/n! = 1 / (n · C(n−1, |T|)).
    let mut weight = Vec::with_capacity(n);
    let mut binomial = 1.0;
    for t in 0..n {
        weight.push(1.0 / (n as f64 * binomial));
        binomial = binomial * (n - 1 - t) as f64 / (t + 1) as f64;
    }
    let mut phi = vec![0.0; n];
    for (mask, &value) in v.iter().enumerate() {
        let w = weight
            .get(mask.count_ones() as usize)
            .copied()
            .unwrap_or(0.0);
        for (i, p) in phi.iter_mut().enumerate() {
            if mask >> i & 1 == 0 {
                *p += w * (v[mask | 1 << i] - value);
            }
        }
    }
    phi
}

/// SplitMix64: a few lines, good enough to shuffle, and its sequence will
/// not change under us the way a library generator's may.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..bound` (the bias is below 2^-40 for any set
    /// size we meet).
    fn below(&mut self, bound: usize) -> usize {
        ((u128::from(self.next()) * bound as u128) >> 64) as usize
    }
}

/// Monte-Carlo Shapley values for a set too large to enumerate.
fn sampled_shapley(set: &[u32], rates: &Rates) -> Vec<f64> {
    let n = set.len();
    let words = n.div_ceil(64);
    let to_bits = |members: &[u32]| -> Option<Vec<u64>> {
        let mut bits = vec![0u64; words];
        for m in members {
            let i = set.binary_search(m).ok()?;
            bits[i / 64] |= 1 << (i % 64);
        }
        Some(bits)
    };
    // Observed coalitions inside the set, as bitsets over its positions.
    let observed: Vec<(Vec<u64>, f64)> = rates
        .iter()
        .filter_map(|(members, &rate)| Some((to_bits(members)?, rate)))
        .collect();
    let subset = |a: &[u64], b: &[u64]| a.iter().zip(b).all(|(x, y)| x & !y == 0);
    let mut cache: HashMap<Vec<u64>, f64> = HashMap::default();
    let mut value = |t: &[u64]| -> f64 {
        if let Some(&v) = cache.get(t) {
            return v;
        }
        let mut best = 0.0;
        let mut exact = None;
        for (u, rate) in &observed {
            if u.as_slice() == t {
                exact = Some(*rate);
                break;
            }
            if subset(u, t) {
                best = f64::max(best, *rate);
            }
        }
        let v = exact.unwrap_or(best);
        cache.insert(t.to_vec(), v);
        v
    };

    let mut rng = SplitMix64(SEED);
    let mut order: Vec<usize> = (0..n).collect();
    let mut phi = vec![0.0; n];
    let mut t = vec![0u64; words];
    let empty = value(&t);
    for _ in 0..PERMUTATIONS {
        for i in (1..n).rev() {
            order.swap(i, rng.below(i + 1));
        }
        t.iter_mut().for_each(|w| *w = 0);
        let mut prev = empty;
        for &i in &order {
            t[i / 64] |= 1 << (i % 64);
            let cur = value(&t);
            phi[i] += cur - prev;
            prev = cur;
        }
    }
    phi.iter_mut().for_each(|p| *p /= PERMUTATIONS as f64);
    phi
}

/// Credit shares from Shapley values: positive parts normalised, or an
/// equal split when no channel contributes.
fn normalise(phi: &[f64]) -> Vec<f64> {
    let positive: Vec<f64> = phi
        .iter()
        .map(|&p| if p > EPSILON { p } else { 0.0 })
        .collect();
    let total: f64 = positive.iter().sum();
    if total > 0.0 {
        positive.iter().map(|p| p / total).collect()
    } else {
        vec![1.0 / phi.len() as f64; phi.len()]
    }
}

/// Shapley credit shares, for use outside SQL: one `(channel_set, channel,
/// weight)` per channel of every distinct channel set with at least one
/// conversion, sorted by `channel_set` then `channel` (byte order).
///
/// Each entry of `sets` is a journey's channels (order and repeats
/// ignored) with its number of conversions and of journeys. Entries with
/// the same set add up; an empty set gives `v(∅)`. `channel_set` is the
/// sorted distinct channels joined by `,` (channel names should therefore
/// not contain commas). Sets larger than `max_channels` (`0..=20`) are
/// sampled; see the module documentation.
pub fn shapley_weights(
    sets: &[(Vec<&str>, u64, u64)],
    max_channels: usize,
) -> Result<Vec<(String, String, f64)>> {
    let sets: Vec<(Vec<&str>, u64, u64, f64)> = sets
        .iter()
        .map(|(s, c, j)| (s.clone(), *c, *j, 0.0))
        .collect();
    shapley_weights_with(&sets, max_channels, ShapleyVariant::Rate, false)
}

/// [`shapley_weights`] with a choice of game and, when `use_value`, the
/// fourth member of each entry (the total value of its conversions, `≥ 0`)
/// in place of the conversion count in the rate game.
pub fn shapley_weights_with(
    sets: &[(Vec<&str>, u64, u64, f64)],
    max_channels: usize,
    variant: ShapleyVariant,
    use_value: bool,
) -> Result<Vec<(String, String, f64)>> {
    if max_channels > MAX_EXACT_CHANNELS {
        return plan_err!(
            "shapley_channel_weights: max_channels must be at most {MAX_EXACT_CHANNELS}, got {max_channels}"
        );
    }
    // Ids in name order: a sorted id list is then a sorted name list.
    let names: Vec<&str> = sets
        .iter()
        .flat_map(|s| s.0.iter().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut merged: BTreeMap<Vec<u32>, (u64, u64, f64)> = BTreeMap::new();
    for (set, conversions, journeys, value) in sets {
        if !(value.is_finite() && *value >= 0.0) {
            return exec_err!(
                "shapley_channel_weights: a conversion value must be a finite number >= 0, got {value}"
            );
        }
        if conversions > journeys {
            return exec_err!(
                "shapley_channel_weights: {conversions} conversions out of {journeys} journeys"
            );
        }
        let mut key: Vec<u32> = set
            .iter()
            .filter_map(|c| names.binary_search(c).ok())
            .map(|i| i as u32)
            .collect();
        key.sort_unstable();
        key.dedup();
        let e = merged.entry(key).or_default();
        e.0 = e.0.saturating_add(*conversions);
        e.1 = e.1.saturating_add(*journeys);
        e.2 += value;
    }
    let rates: Rates = merged
        .iter()
        .filter(|(_, (_, journeys, _))| *journeys > 0)
        .map(|(set, &(c, j, v))| {
            let gained = if use_value { v } else { c as f64 };
            (set.clone(), gained / j as f64)
        })
        .collect();

    let mut out = Vec::new();
    for (set, &(conversions, _, _)) in &merged {
        if conversions == 0 || set.is_empty() {
            continue;
        }
        let phi = if variant == ShapleyVariant::Simplified {
            // R(S)·u_S gives each member 1/|S| of it (module documentation)
            vec![1.0; set.len()]
        } else if set.len() <= max_channels {
            exact_shapley(&exact_values(set, &rates), set.len())
        } else {
            sampled_shapley(set, &rates)
        };
        let label = set
            .iter()
            .map(|&i| names[i as usize])
            .collect::<Vec<_>>()
            .join(",");
        for (&i, w) in set.iter().zip(normalise(&phi)) {
            out.push((label.clone(), names[i as usize].to_string(), w));
        }
    }
    // Sorting ids sorts sets as name tuples; the label order can differ
    // (',' sorts before most characters), and the label is the output key.
    out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    Ok(out)
}

/// The aggregate `shapley_channel_weights(channels, converted [,
/// max_channels [, variant [, weight [, value]]]])`.
///
/// Input: one row per customer journey, converted or not, or per group of
/// identical ones. `channels` is the list of channels it touched
/// (`List`/`LargeList` of any string type; order, repeats and NULL elements
/// are ignored; an empty list is a journey without channel, a NULL list is
/// skipped); `converted` is Boolean (NULL = not converted; a number is
/// refused at planning); `max_channels` is an optional integer literal
/// `0..=20` (default 12), the largest set computed exactly; `variant` the
/// string literal `'rate'` (default) or `'simplified'` (see the module
/// documentation); `weight` the number of identical journeys of the row
/// (whole, ≥ 0, NULL = 0, default 1); `value` their total conversion value
/// when converted.
///
/// Output: `List<Struct<channel_set: Utf8, channel: Utf8, weight:
/// Float64>>`, one entry per channel of each distinct non-empty set seen on
/// a converting journey, sorted by `channel_set` then `channel`; weights
/// sum to 1 within a set. Join it back to journeys with
///
/// ```sql
/// with w as (select unnest(shapley_channel_weights(channels, converted)) as w from journeys)
/// select j.journey_id, w['channel'] as channel, w['weight'] as credit
/// from journeys j
/// join w on w['channel_set'] = array_to_string(array_sort(array_distinct(j.channels)), ',')
/// where j.converted;
/// ```
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ShapleyChannelWeights {
    signature: Signature,
}

impl Default for ShapleyChannelWeights {
    fn default() -> Self {
        Self::new()
    }
}

impl ShapleyChannelWeights {
    pub(crate) const NAME: &'static str = "shapley_channel_weights";

    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn struct_fields() -> Fields {
        Fields::from(vec![
            Field::new("channel_set", DataType::Utf8, false),
            Field::new("channel", DataType::Utf8, false),
            Field::new("weight", DataType::Float64, false),
        ])
    }

    fn item_field() -> FieldRef {
        item_field(DataType::Struct(Self::struct_fields()))
    }

    /// `List<Struct<channel_set: Utf8, channel: Utf8, weight: Float64>>`.
    pub fn output_type() -> DataType {
        DataType::List(Self::item_field())
    }
}

impl AggregateUDFImpl for ShapleyChannelWeights {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(Self::output_type())
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let max_channels = literal_arg(&acc_args, Self::NAME, 2)?;
        let variant = ShapleyVariant::from_index(literal_arg(&acc_args, Self::NAME, 3)?);
        let use_value = acc_args.exprs.len() > 5;
        Ok(Box::new(ShapleyAccumulator::new(
            max_channels,
            variant,
            use_value,
        )))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(Journeys::state_fields(args.name, "non_conversions"))
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_journey_args(Self::NAME, arg_types, &[DataType::Int64, DataType::Utf8])
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
}

#[derive(Debug)]
struct ShapleyAccumulator {
    journeys: Journeys,
    max_channels: usize,
    variant: ShapleyVariant,
    use_value: bool,
}

impl ShapleyAccumulator {
    fn new(max_channels: usize, variant: ShapleyVariant, use_value: bool) -> Self {
        Self {
            journeys: Journeys::new(ShapleyChannelWeights::NAME, KeyKind::Set, true),
            max_channels,
            variant,
            use_value,
        }
    }
}

impl Accumulator for ShapleyAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [channels, converted, rest @ ..] = values else {
            return exec_err!(
                "shapley_channel_weights expects (channels, converted [, max_channels [, variant \
                 [, weight [, value]]]])"
            );
        };
        self.journeys
            .update(channels, converted, rest.get(2), rest.get(3))
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let sets: Vec<(Vec<&str>, u64, u64, f64)> = self
            .journeys
            .entries()
            .map(|(s, c)| {
                let journeys = c.conversions.saturating_add(c.others);
                (s, c.conversions, journeys, c.value())
            })
            .collect();
        let weights = shapley_weights_with(&sets, self.max_channels, self.variant, self.use_value)?;
        let set_bytes = weights.iter().map(|w| w.0.len()).sum();
        let channel_bytes = weights.iter().map(|w| w.1.len()).sum();
        let name = ShapleyChannelWeights::NAME;
        let labels = utf8_array(name, weights.iter().map(|w| w.0.as_str()), set_bytes)?;
        let channels = utf8_array(name, weights.iter().map(|w| w.1.as_str()), channel_bytes)?;
        let values: Float64Array = weights.iter().map(|w| w.2).collect();
        let entries = StructArray::try_new(
            ShapleyChannelWeights::struct_fields(),
            vec![labels, channels, Arc::new(values)],
            None,
        )?;
        single_list(ShapleyChannelWeights::item_field(), Arc::new(entries))
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.journeys.size() - size_of::<Journeys>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.journeys.state()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.journeys.merge(states)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray, BooleanArray, ListBuilder, StringBuilder};
    use datafusion::arrow::datatypes::Float64Type;

    fn weights(sets: &[(&[&str], u64, u64)], max_channels: usize) -> Vec<(String, String, f64)> {
        let sets: Vec<(Vec<&str>, u64, u64)> =
            sets.iter().map(|(s, c, j)| (s.to_vec(), *c, *j)).collect();
        match shapley_weights(&sets, max_channels) {
            Ok(w) => w,
            Err(e) => panic!("shapley_weights failed: {e}"),
        }
    }

    fn assert_weights(got: &[(String, String, f64)], expected: &[(&str, &str, f64)]) {
        assert_eq!(got.len(), expected.len(), "{got:?} vs {expected:?}");
        for (g, e) in got.iter().zip(expected) {
            assert_eq!((g.0.as_str(), g.1.as_str()), (e.0, e.1), "{got:?}");
            assert!((g.2 - e.2).abs() < 1e-12, "{g:?} != {e:?}");
        }
    }

    #[test]
    fn two_channels_by_hand() {
        // v(∅) = 0 (no channel-less journeys), v(A) = 1/5 = 0.2,
        // v(B) = 1/10 = 0.1, v(A,B) = 2/5 = 0.4.
        // φ_A = ½(v(A) − v(∅)) + ½(v(AB) − v(B)) = 0.1 + 0.15 = 0.25,
        // φ_B = ½(v(B) − v(∅)) + ½(v(AB) − v(A)) = 0.05 + 0.1 = 0.15,
        // weights 0.25/0.4 = 0.625 and 0.15/0.4 = 0.375. Single-channel sets
        // take all their credit.
        let sets: &[(&[&str], u64, u64)] =
            &[(&["A"], 1, 5), (&["B"], 1, 10), (&["B", "A", "A"], 2, 5)];
        assert_weights(
            &weights(sets, DEFAULT_MAX_CHANNELS),
            &[
                ("A", "A", 1.0),
                ("A,B", "A", 0.625),
                ("A,B", "B", 0.375),
                ("B", "B", 1.0),
            ],
        );
        let rates: Rates = [(vec![0], 0.2), (vec![1], 0.1), (vec![0, 1], 0.4)]
            .into_iter()
            .collect();
        let v = exact_values(&[0, 1], &rates);
        let phi = exact_shapley(&v, 2);
        assert!(
            (phi[0] - 0.25).abs() < 1e-12 && (phi[1] - 0.15).abs() < 1e-12,
            "{phi:?}"
        );
    }

    #[test]
    fn missing_coalitions_fall_back_to_best_observed_subset() {
        // Observed: v(A) = 0.2, v(B) = 0.1, v(A,B,C) = 0.5; v(∅) = 0.
        // Fallbacks: v(C) = 0 (no observed subset), v(A,B) = max(0.2, 0.1) =
        // 0.2, v(A,C) = 0.2, v(B,C) = 0.1.
        // Shapley weights for 3 players: |T| = 0 → 1/3, 1 → 1/6, 2 → 1/3.
        // φ_A = 1/3·0.2 + 1/6·(0.2 − 0.1) + 1/6·(0.2 − 0) + 1/3·(0.5 − 0.1) = 0.25
        // φ_B = 1/3·0.1 + 1/6·(0.2 − 0.2) + 1/6·(0.1 − 0) + 1/3·(0.5 − 0.2) = 0.15
        // φ_C = 1/3·0   + 1/6·(0.2 − 0.2) + 1/6·(0.1 − 0.1) + 1/3·(0.5 − 0.2) = 0.1
        // Sum 0.5 = v(A,B,C) − v(∅); weights 0.5, 0.3, 0.2.
        let sets: &[(&[&str], u64, u64)] =
            &[(&["A"], 1, 5), (&["B"], 1, 10), (&["C", "A", "B"], 1, 2)];
        assert_weights(
            &weights(sets, DEFAULT_MAX_CHANNELS),
            &[
                ("A", "A", 1.0),
                ("A,B,C", "A", 0.5),
                ("A,B,C", "B", 0.3),
                ("A,B,C", "C", 0.2),
                ("B", "B", 1.0),
            ],
        );
    }

    #[test]
    fn negative_contributions_are_clipped() {
        // v(A) = 0.5, v(B) = 0.1, v(A,B) = 0.2:
        // φ_A = ½·0.5 + ½(0.2 − 0.1) = 0.3, φ_B = ½·0.1 + ½(0.2 − 0.5) = −0.1,
        // so A takes the whole A,B conversion.
        let sets: &[(&[&str], u64, u64)] = &[(&["A"], 1, 2), (&["B"], 1, 10), (&["A", "B"], 1, 5)];
        let got = weights(sets, DEFAULT_MAX_CHANNELS);
        assert_weights(&got[1..3], &[("A,B", "A", 1.0), ("A,B", "B", 0.0)]);

        // v(∅) = 0.5 from channel-less journeys, v(A) = v(B) = v(A,B) = 0.1:
        // φ_A = φ_B = ½(0.1 − 0.5) + ½(0.1 − 0.1) = −0.2; nobody adds
        // anything, so the conversion is split equally. Unconverted sets
        // (here {C}) get no entry.
        let sets: &[(&[&str], u64, u64)] = &[
            (&[], 1, 2),
            (&["A"], 1, 10),
            (&["B"], 1, 10),
            (&["A", "B"], 1, 10),
            (&["C"], 0, 3),
        ];
        assert_weights(
            &weights(sets, DEFAULT_MAX_CHANNELS),
            &[
                ("A", "A", 1.0),
                ("A,B", "A", 0.5),
                ("A,B", "B", 0.5),
                ("B", "B", 1.0),
            ],
        );
    }

    #[test]
    fn symmetric_three_channels() {
        // Every single 0.1, every pair 0.2, the triple 0.6: by symmetry
        // φ = 0.6/3 = 0.2 each, i.e. 1/3·0.1 + 2·1/6·(0.2 − 0.1) +
        // 1/3·(0.6 − 0.2) = 0.2; weights 1/3.
        let sets: &[(&[&str], u64, u64)] = &[
            (&["x"], 1, 10),
            (&["y"], 1, 10),
            (&["z"], 1, 10),
            (&["x", "y"], 2, 10),
            (&["x", "z"], 2, 10),
            (&["y", "z"], 2, 10),
            (&["x", "y", "z"], 3, 5),
        ];
        let got = weights(sets, DEFAULT_MAX_CHANNELS);
        let triple: Vec<_> = got.iter().filter(|w| w.0 == "x,y,z").collect();
        assert_eq!(triple.len(), 3);
        for w in triple {
            assert!((w.2 - 1.0 / 3.0).abs() < 1e-12, "{w:?}");
        }
    }

    /// Eight channels with rates for every set of at most two channels, a
    /// few larger sets and the full set.
    fn rich_game() -> Vec<(Vec<&'static str>, u64, u64)> {
        const CH: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let mut sets = Vec::new();
        for (i, &x) in CH.iter().enumerate() {
            sets.push((vec![x], 1 + i as u64 % 3, 40));
            for (j, &y) in CH.iter().enumerate().skip(i + 1) {
                sets.push((vec![x, y], 2 + ((i * j) % 5) as u64, 40));
            }
        }
        sets.push((vec!["a", "b", "c"], 9, 40));
        sets.push((vec!["d", "e", "f", "g"], 12, 40));
        sets.push((CH.to_vec(), 20, 40));
        sets
    }

    /// Every ordering of `0..n`, for brute-force Shapley values.
    fn permutations(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![Vec::new()];
        }
        let mut out = Vec::new();
        for p in permutations(n - 1) {
            for at in 0..=p.len() {
                let mut q = p.clone();
                q.insert(at, n - 1);
                out.push(q);
            }
        }
        out
    }

    /// Shapley values by their definition: the average over every ordering of the players of
    /// each one's marginal contribution `v(before ∪ {i}) − v(before)`.
    fn brute_force_shapley(n: usize, v: impl Fn(&BTreeSet<usize>) -> f64) -> Vec<f64> {
        let orders = permutations(n);
        let mut phi = vec![0.0; n];
        for order in &orders {
            let mut before = BTreeSet::new();
            for &i in order {
                let without = v(&before);
                before.insert(i);
                phi[i] += v(&before) - without;
            }
        }
        phi.iter().map(|p| p / orders.len() as f64).collect()
    }

    /// Journeys over five channels: (set, conversions, journeys, value).
    fn random_sets(seed: u64) -> Vec<(Vec<&'static str>, u64, u64, f64)> {
        const CH: [&str; 5] = ["a", "b", "c", "d", "e"];
        let mut state = seed;
        let mut next = move |bound: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % bound
        };
        (0..25)
            .map(|_| {
                let set: Vec<&str> = CH.iter().copied().filter(|_| next(2) == 1).collect();
                let journeys = 1 + next(20);
                let conversions = next(journeys + 1);
                let value = conversions as f64 * (1.0 + next(50) as f64);
                (set, conversions, journeys, value)
            })
            .collect()
    }

    #[test]
    fn simplified_variant_equals_brute_force_shapley_of_zhaos_game() -> Result<()> {
        const CH: [&str; 5] = ["a", "b", "c", "d", "e"];
        for seed in 1..=4 {
            let sets = random_sets(seed);
            let weights = shapley_weights_with(&sets, 12, ShapleyVariant::Simplified, false)?;
            // R(T): conversions of journeys whose channel set is exactly T
            let mut r: BTreeMap<BTreeSet<usize>, f64> = BTreeMap::new();
            for (set, conversions, ..) in &sets {
                let t = set
                    .iter()
                    .map(|c| CH.iter().position(|x| x == c).unwrap_or(0))
                    .collect();
                *r.entry(t).or_default() += *conversions as f64;
            }
            // v(S) = Σ_{T ⊆ S} R(T), over all five channels at once
            let v = |s: &BTreeSet<usize>| -> f64 {
                r.iter()
                    .filter(|(t, _)| t.is_subset(s))
                    .map(|(_, c)| c)
                    .sum()
            };
            let phi = brute_force_shapley(CH.len(), v);
            // the per-set weights, times each set's conversions, add up to φ
            let mut credited = [0.0; 5];
            for (label, channel, weight) in &weights {
                let conversions: u64 = sets
                    .iter()
                    .filter(|s| {
                        let mut names = s.0.clone();
                        names.sort_unstable();
                        names.join(",") == *label
                    })
                    .map(|s| s.1)
                    .sum();
                let i = CH.iter().position(|x| x == channel).unwrap_or(0);
                credited[i] += conversions as f64 * weight;
            }
            for i in 0..CH.len() {
                assert!(
                    (credited[i] - phi[i]).abs() < 1e-9,
                    "seed {seed} {}: {} vs {}",
                    CH[i],
                    credited[i],
                    phi[i]
                );
            }
            assert!(phi.iter().sum::<f64>() > 0.0);
        }
        Ok(())
    }

    #[test]
    fn rate_variant_equals_brute_force_shapley_per_set() -> Result<()> {
        for seed in 1..=4 {
            let sets = random_sets(seed);
            for use_value in [false, true] {
                let weights = shapley_weights_with(&sets, 12, ShapleyVariant::Rate, use_value)?;
                // observed value per journey by exact set
                let mut seen: BTreeMap<BTreeSet<&str>, (f64, f64)> = BTreeMap::new();
                for (set, conversions, journeys, value) in &sets {
                    let e = seen.entry(set.iter().copied().collect()).or_default();
                    e.0 += if use_value {
                        *value
                    } else {
                        *conversions as f64
                    };
                    e.1 += *journeys as f64;
                }
                let labels: BTreeSet<&String> = weights.iter().map(|w| &w.0).collect();
                assert!(!labels.is_empty());
                for label in labels {
                    let members: Vec<&str> = label.split(',').collect();
                    // v(T): its observed rate, else the best v of the coalitions one
                    // channel smaller, else (the empty coalition) 0
                    fn value(
                        t: &BTreeSet<usize>,
                        members: &[&str],
                        seen: &BTreeMap<BTreeSet<&str>, (f64, f64)>,
                    ) -> f64 {
                        let names: BTreeSet<&str> = t.iter().map(|&i| members[i]).collect();
                        if let Some((g, j)) = seen.get(&names) {
                            return g / j;
                        }
                        t.iter()
                            .map(|i| {
                                let mut smaller = t.clone();
                                smaller.remove(i);
                                value(&smaller, members, seen)
                            })
                            .fold(0.0, f64::max)
                    }
                    let v = |t: &BTreeSet<usize>| value(t, &members, &seen);
                    let phi = brute_force_shapley(members.len(), v);
                    let positive: Vec<f64> = phi.iter().map(|p| p.max(0.0)).collect();
                    let total: f64 = positive.iter().sum();
                    for (i, m) in members.iter().enumerate() {
                        let want = if total > EPSILON {
                            positive[i] / total
                        } else {
                            1.0 / members.len() as f64
                        };
                        let got = weights
                            .iter()
                            .find(|w| &w.0 == label && w.1 == *m)
                            .map(|w| w.2);
                        assert!(
                            got.is_some_and(|g| (g - want).abs() < 1e-9),
                            "seed {seed} value {use_value} {label} {m}: {got:?} vs {want}"
                        );
                    }
                }
            }
        }
        Ok(())
    }

    #[test]
    fn large_sets_are_sampled_close_to_exact() {
        let sets = rich_game();
        let exact = shapley_weights(&sets, DEFAULT_MAX_CHANNELS);
        let sampled = shapley_weights(&sets, 4);
        let (Ok(exact), Ok(sampled)) = (exact, sampled) else {
            panic!("shapley_weights failed");
        };
        let full = |w: &[(String, String, f64)]| -> Vec<(String, f64)> {
            w.iter()
                .filter(|x| x.0 == "a,b,c,d,e,f,g,h")
                .map(|x| (x.1.clone(), x.2))
                .collect()
        };
        let (e, s) = (full(&exact), full(&sampled));
        assert_eq!(e.len(), 8);
        assert!((s.iter().map(|x| x.1).sum::<f64>() - 1.0).abs() < 1e-12);
        for (x, y) in e.iter().zip(&s) {
            assert_eq!(x.0, y.0);
            // Observed errors are below 0.005 with the fixed seed.
            assert!((x.1 - y.1).abs() < 0.01, "{x:?} vs {y:?}");
        }
        // Sets within the limit are identical either way, and sampling is
        // deterministic.
        let small = |w: &[(String, String, f64)]| -> Vec<(String, String, f64)> {
            w.iter().filter(|x| x.0.len() <= 7).cloned().collect()
        };
        assert_eq!(small(&exact), small(&sampled));
        assert_eq!(shapley_weights(&sets, 4).ok(), Some(sampled));
    }

    #[test]
    fn arguments_are_checked() {
        assert!(shapley_weights(&[(vec!["a"], 1, 1)], MAX_EXACT_CHANNELS + 1).is_err());
        assert!(shapley_weights(&[(vec!["a"], 3, 1)], 12).is_err());
        assert!(weights(&[], 12).is_empty());
    }

    fn batch(rows: &[(Option<&[&str]>, Option<bool>)]) -> Vec<ArrayRef> {
        let mut lists = ListBuilder::new(StringBuilder::new());
        for (set, _) in rows {
            match set {
                Some(s) => {
                    for c in s.iter() {
                        lists.values().append_value(c);
                    }
                    lists.append(true);
                }
                None => lists.append(false),
            }
        }
        let converted: BooleanArray = rows.iter().map(|r| r.1).collect();
        vec![Arc::new(lists.finish()), Arc::new(converted)]
    }

    fn weights_of(acc: &mut ShapleyAccumulator) -> Result<Vec<(String, String, f64)>> {
        let value = acc.evaluate()?.to_array()?;
        let entries = value.as_list::<i32>().value(0);
        let entries = entries.as_struct();
        let (sets, channels) = (
            entries.column(0).as_string::<i32>(),
            entries.column(1).as_string::<i32>(),
        );
        let weights = entries.column(2).as_primitive::<Float64Type>();
        Ok((0..entries.len())
            .map(|i| {
                (
                    sets.value(i).to_string(),
                    channels.value(i).to_string(),
                    weights.value(i),
                )
            })
            .collect())
    }

    #[test]
    fn accumulator_counts_journeys_per_set() -> Result<()> {
        // Same game as `two_channels_by_hand`, one row per journey: {A} 1/5,
        // {B} 1/10, {A,B} 2/5 (written in any order, with repeats).
        let mut rows: Vec<(Option<&[&str]>, Option<bool>)> = Vec::new();
        rows.push((Some(&["A"]), Some(true)));
        rows.extend([(Some(&["A", "A"][..]), None); 4]);
        rows.push((Some(&["B"]), Some(true)));
        rows.extend([(Some(&["B"][..]), Some(false)); 9]);
        rows.extend([(Some(&["B", "A"][..]), Some(true)); 2]);
        rows.extend([(Some(&["A", "B", "A"][..]), Some(false)); 3]);
        rows.push((None, Some(true)));
        let mut acc = ShapleyAccumulator::new(DEFAULT_MAX_CHANNELS, ShapleyVariant::Rate, false);
        acc.update_batch(&batch(&rows))?;
        assert_weights(
            &weights_of(&mut acc)?,
            &[
                ("A", "A", 1.0),
                ("A,B", "A", 0.625),
                ("A,B", "B", 0.375),
                ("B", "B", 1.0),
            ],
        );
        Ok(())
    }

    #[test]
    fn state_merge_equals_single_pass() -> Result<()> {
        let part1: &[(Option<&[&str]>, Option<bool>)] = &[
            (Some(&["a", "b"]), Some(true)),
            (Some(&["b"]), Some(false)),
            (Some(&[]), Some(true)),
            (Some(&["c", "a"]), Some(true)),
        ];
        let part2: &[(Option<&[&str]>, Option<bool>)] = &[
            (Some(&["a", "c"]), Some(false)),
            (Some(&["b", "a", "b"]), Some(false)),
            (Some(&["b"]), Some(true)),
            (Some(&[]), None),
            (Some(&["a"]), Some(true)),
        ];
        let mut whole = ShapleyAccumulator::new(DEFAULT_MAX_CHANNELS, ShapleyVariant::Rate, false);
        whole.update_batch(&batch(part1))?;
        whole.update_batch(&batch(part2))?;

        let mut partials = Vec::new();
        for part in [part2, part1] {
            let mut acc =
                ShapleyAccumulator::new(DEFAULT_MAX_CHANNELS, ShapleyVariant::Rate, false);
            acc.update_batch(&batch(part))?;
            partials.push(acc.state()?);
        }
        let mut columns = Vec::new();
        for col in 0..5 {
            let scalars = partials.iter().map(|s| s[col].clone());
            columns.push(ScalarValue::iter_to_array(scalars)?);
        }
        let mut merged = ShapleyAccumulator::new(DEFAULT_MAX_CHANNELS, ShapleyVariant::Rate, false);
        merged.merge_batch(&columns)?;
        let expected = whole.evaluate()?;
        assert_eq!(merged.evaluate()?, expected);
        assert!(!weights_of(&mut whole)?.is_empty());
        Ok(())
    }
}
