//! Markov-chain multi-touch attribution, as the aggregate SQL function
//! `markov_removal_effects(path, converted [, order])`, plus the journey
//! plumbing it shares with `shapley_channel_weights` (reading list-of-string
//! columns, counting distinct journeys, the mergeable partial state and the
//! literal-argument checks).
//!
//! The model is the absorbing Markov chain of Anderl et al. (2016), as in R
//! ChannelAttribution's `markov_model`: every journey walks
//! `start → s1 → … → sn → conversion | null`, transition probabilities are
//! the observed transition counts normalised per source state, and the
//! removal effect of a channel is the relative drop of the probability of
//! reaching `conversion` from `start` once every transition into a state
//! containing that channel is redirected to `null`.
//!
//! Choices, where the literature leaves room:
//! - Order `k > 1`: a state is the window of the last (up to) `k` channels,
//!   so the first `k − 1` states of a journey are its shorter prefixes
//!   (`A > B > C` at order 2 visits `(A)`, `(A,B)`, `(B,C)`). A journey
//!   shorter than `k` therefore never reaches a full window, and order 1 is
//!   exactly the classical first-order chain.
//! - Repeated consecutive channels are kept (self-loops), like
//!   ChannelAttribution's default. In a first-order chain they cancel out
//!   of every absorption probability (a state is left with the same odds
//!   whatever its loop weight); at higher orders they make distinct states
//!   such as `(A,A)`.
//! - Journeys without any channel (empty list, NULL list or only NULL
//!   elements) are ignored: they have no channel to credit. A NULL
//!   `converted` counts as not converted.
//!
//! Memory is proportional to the number of distinct journeys (counted, not
//! stored per row). Absorption probabilities are solved exactly per
//! strongly connected component of the chain, in reverse topological order:
//! acyclic parts by substitution, cycles up to [`DENSE_MAX`] states by
//! Gaussian elimination, larger cycles by Gauss–Seidel to [`TOLERANCE`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Float64Array, ListArray, StringBuilder, StructArray,
    UInt32Array, UInt64Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DECIMAL128_MAX_PRECISION, DataType, Decimal128Type, Field, FieldRef, Fields, Float64Type,
    UInt32Type, UInt64Type,
};
use datafusion::common::hash_map::EntryRef;
use datafusion::common::{HashMap, Result, ScalarValue, exec_err, internal_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};
use datafusion::physical_expr::expressions::Literal;

use super::strings::StrCol;

/// Highest Markov order accepted: the number of states grows like
/// `channels^k`, and beyond 4 almost every state is seen once, so the
/// transition probabilities stop being estimates of anything.
pub const MAX_ORDER: usize = 4;

/// Largest strongly connected component solved by Gaussian elimination
/// (`O(m³)`, about 6 Mflop at 256); larger cycles use Gauss–Seidel.
pub const DENSE_MAX: usize = 256;

/// Gauss–Seidel stops when no absorption probability moved by more than
/// this in a sweep.
pub const TOLERANCE: f64 = 1e-13;

/// Gauss–Seidel gives up (with an error rather than a wrong number) after
/// this many sweeps over one component.
const MAX_SWEEPS: usize = 100_000;

// ---------------------------------------------------------------------------
// The Markov model, in plain Rust.
// ---------------------------------------------------------------------------

/// The absorbing chain built from counted journeys. States are indexed
/// `0..n`; `start`, `conversion` and `null` are kept apart because they
/// never need solving.
#[derive(Debug)]
struct Chain {
    /// Channel ids of each state's window.
    states: Vec<Vec<u32>>,
    /// `start → state` probabilities.
    start: Vec<(usize, f64)>,
    /// `state → state` probabilities, self-loops included.
    next: Vec<Vec<(usize, f64)>>,
    /// `state → conversion` probability.
    conversion: Vec<f64>,
    /// `state → conversion` probability times the mean value of those
    /// conversions: the reward whose expectation from `start` is the
    /// expected conversion value of a journey.
    value: Vec<f64>,
    /// Strongly connected components, each listed after every component it
    /// can reach, so solving them in order only needs known values.
    components: Vec<Vec<usize>>,
}

#[derive(Debug, Default)]
struct Outgoing {
    next: BTreeMap<usize, u64>,
    conversions: u64,
    nulls: u64,
    value: f64,
}

/// One distinct journey as the chain reads it: channel ids, conversions,
/// non-conversions, and the total value of its conversions.
type IdPath = (Vec<u32>, u64, u64, f64);

impl Chain {
    /// `paths` hold channel ids with their conversion and null counts and
    /// conversion value; they must be non-empty with a positive total.
    fn build(paths: &[IdPath], order: usize) -> Self {
        let mut index: HashMap<&[u32], usize> = HashMap::default();
        let mut windows: Vec<&[u32]> = Vec::new();
        let mut out: Vec<Outgoing> = Vec::new();
        let mut start: BTreeMap<usize, u64> = BTreeMap::new();
        for (path, conversions, nulls, value) in paths {
            let total = conversions.saturating_add(*nulls);
            let mut prev: Option<usize> = None;
            for j in 0..path.len() {
                let window = &path[(j + 1).saturating_sub(order)..=j];
                let state = *index.entry(window).or_insert_with(|| {
                    windows.push(window);
                    out.push(Outgoing::default());
                    windows.len() - 1
                });
                let edge = match prev {
                    None => start.entry(state).or_default(),
                    Some(p) => out[p].next.entry(state).or_default(),
                };
                *edge = edge.saturating_add(total);
                prev = Some(state);
            }
            if let Some(last) = prev {
                let o = &mut out[last];
                o.conversions = o.conversions.saturating_add(*conversions);
                o.nulls = o.nulls.saturating_add(*nulls);
                o.value += value;
            }
        }

        let normalise = |counts: &BTreeMap<usize, u64>, total: f64| -> Vec<(usize, f64)> {
            counts
                .iter()
                .map(|(&t, &c)| (t, c as f64 / total))
                .collect()
        };
        let start_total = start.values().map(|&c| c as f64).sum::<f64>();
        let mut next = Vec::with_capacity(out.len());
        let mut conversion = Vec::with_capacity(out.len());
        let mut value = Vec::with_capacity(out.len());
        for o in &out {
            let total = o.next.values().map(|&c| c as f64).sum::<f64>()
                + o.conversions as f64
                + o.nulls as f64;
            next.push(normalise(&o.next, total));
            conversion.push(o.conversions as f64 / total);
            value.push(o.value / total);
        }
        let components = strongly_connected(&next);
        Chain {
            states: windows.into_iter().map(<[u32]>::to_vec).collect(),
            start: normalise(&start, start_total),
            next,
            conversion,
            value,
            components,
        }
    }

    /// Probability of absorbing in `conversion` from `start`, states marked
    /// `removed` counting as `null`.
    fn conversion_probability(&self, removed: &[bool], dense_max: usize) -> Result<f64> {
        self.expected(&self.conversion, removed, dense_max)
    }

    /// Expected total of `reward` (earned on the step into `conversion`)
    /// from `start`, states marked `removed` counting as `null`: with
    /// `reward = self.conversion` the conversion probability, with
    /// `self.value` the expected conversion value.
    fn expected(&self, reward: &[f64], removed: &[bool], dense_max: usize) -> Result<f64> {
        let n = self.states.len();
        let mut x = vec![0.0; n];
        // Position of a state in the linear system of the current component.
        let mut pos = vec![usize::MAX; n];
        for component in &self.components {
            let live: Vec<usize> = component.iter().copied().filter(|&s| !removed[s]).collect();
            match live.len() {
                0 => {}
                1 => {
                    let s = live[0];
                    let (diag, rhs) = self.row(reward, s, &x);
                    x[s] = if diag < 1.0 { rhs / (1.0 - diag) } else { 0.0 };
                }
                m if m <= dense_max => {
                    for (i, &s) in live.iter().enumerate() {
                        pos[s] = i;
                    }
                    let solution = self.solve_dense(reward, &live, &pos, &x)?;
                    for (&s, v) in live.iter().zip(solution) {
                        x[s] = v;
                        pos[s] = usize::MAX;
                    }
                }
                _ => self.gauss_seidel(reward, &live, &mut x)?,
            }
        }
        Ok(self.start.iter().map(|&(s, p)| p * x[s]).sum())
    }

    /// `(p(s → s), reward[s] + Σ_{t ≠ s} p(s → t)·x[t])`.
    fn row(&self, reward: &[f64], s: usize, x: &[f64]) -> (f64, f64) {
        let mut diag = 0.0;
        let mut rhs = reward[s];
        for &(t, p) in &self.next[s] {
            if t == s {
                diag += p;
            } else {
                rhs += p * x[t];
            }
        }
        (diag, rhs)
    }

    /// Solves `(I − P) x = b` on the live states of one component, values
    /// outside it (earlier components, removed states) being known.
    fn solve_dense(
        &self,
        reward: &[f64],
        live: &[usize],
        pos: &[usize],
        x: &[f64],
    ) -> Result<Vec<f64>> {
        let m = live.len();
        let mut a = vec![0.0; m * m];
        let mut b = vec![0.0; m];
        for (r, &s) in live.iter().enumerate() {
            a[r * m + r] = 1.0;
            b[r] = reward[s];
            for &(t, p) in &self.next[s] {
                match pos[t] {
                    usize::MAX => b[r] += p * x[t],
                    c => a[r * m + c] -= p,
                }
            }
        }
        gaussian_elimination(&mut a, &mut b, m)?;
        Ok(b)
    }

    fn gauss_seidel(&self, reward: &[f64], live: &[usize], x: &mut [f64]) -> Result<()> {
        // From zero, iterates increase monotonically towards the solution of
        // this non-negative system, so the last change bounds the progress.
        for _ in 0..MAX_SWEEPS {
            let mut delta: f64 = 0.0;
            let mut largest: f64 = 1.0;
            for &s in live {
                let (diag, rhs) = self.row(reward, s, x);
                let v = if diag < 1.0 { rhs / (1.0 - diag) } else { 0.0 };
                delta = delta.max((v - x[s]).abs());
                largest = largest.max(v);
                x[s] = v;
            }
            // Relative to the values once they exceed 1 (conversion values
            // in currency units); probabilities keep the absolute bound.
            if delta < TOLERANCE * largest {
                return Ok(());
            }
        }
        exec_err!(
            "markov_removal_effects: absorption probabilities did not converge after \
             {MAX_SWEEPS} sweeps over {} states (a cycle journeys almost never leave?)",
            live.len()
        )
    }
}

/// In-place Gaussian elimination with partial pivoting on the row-major
/// `m × m` matrix `a`; the solution replaces `b`.
fn gaussian_elimination(a: &mut [f64], b: &mut [f64], m: usize) -> Result<()> {
    for col in 0..m {
        let Some(pivot) =
            (col..m).max_by(|&i, &j| a[i * m + col].abs().total_cmp(&a[j * m + col].abs()))
        else {
            break;
        };
        // `I − P` of a chain whose states all reach absorption is
        // non-singular; a zero pivot means the chain was built wrongly.
        if a[pivot * m + col].abs() < 1e-300 {
            return exec_err!("markov_removal_effects: singular transition system");
        }
        if pivot != col {
            for k in 0..m {
                a.swap(pivot * m + k, col * m + k);
            }
            b.swap(pivot, col);
        }
        let d = a[col * m + col];
        for r in col + 1..m {
            let f = a[r * m + col] / d;
            if f == 0.0 {
                continue;
            }
            for k in col..m {
                a[r * m + k] -= f * a[col * m + k];
            }
            b[r] -= f * b[col];
        }
    }
    for r in (0..m).rev() {
        let mut v = b[r];
        for k in r + 1..m {
            v -= a[r * m + k] * b[k];
        }
        b[r] = v / a[r * m + r];
    }
    Ok(())
}

/// Tarjan's algorithm, iterative so that long chains cannot overflow the
/// stack. Components come out in reverse topological order.
fn strongly_connected(next: &[Vec<(usize, f64)>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = next.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut calls: Vec<(usize, usize)> = Vec::new();
    let mut components = Vec::new();
    let mut counter = 0;
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        index[root] = counter;
        low[root] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root] = true;
        calls.push((root, 0));
        while let Some(top) = calls.last_mut() {
            let v = top.0;
            if let Some(&(w, _)) = next[v].get(top.1) {
                top.1 += 1;
                if index[w] == UNSEEN {
                    index[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}

/// Removal effect of every channel, for use outside SQL: one
/// `(channel, effect)` per channel of any counted journey, sorted by
/// channel (byte order).
///
/// Each entry of `paths` is a journey's channels in time order with the
/// number of times it ended in a conversion and without one. Entries may
/// repeat a journey (their counts add up); empty journeys and journeys
/// counted zero times are ignored. `order` is the Markov order, `1..=4`.
///
/// The effect of `c` is `1 − P_without_c(conversion) / P(conversion)`, in
/// `[0, 1]`; every effect is 0 when nothing converts.
pub fn removal_effects(
    paths: &[(Vec<&str>, u64, u64)],
    order: usize,
) -> Result<Vec<(String, f64)>> {
    let valued: Vec<(Vec<&str>, u64, u64, f64)> = paths
        .iter()
        .map(|(p, c, n)| (p.clone(), *c, *n, 0.0))
        .collect();
    Ok(removal_effects_with(&valued, order, DENSE_MAX, false)?
        .into_iter()
        .map(|(c, e, _)| (c, e))
        .collect())
}

/// Removal effects on the conversion probability and on the expected
/// conversion value: one `(channel, removal_effect, value_removal_effect)`
/// per channel, sorted by channel.
///
/// Like [`removal_effects`], each entry also carrying the total value of
/// its conversions (`≥ 0`; entries of one journey add up, in input order).
/// Reaching `conversion` from a state earns the mean value of the
/// conversions whose journey ended there, and the value effect of `c` is
/// `1 − E_without_c[value] / E[value]` (0 when no value converts).
pub fn value_removal_effects(
    paths: &[(Vec<&str>, u64, u64, f64)],
    order: usize,
) -> Result<Vec<(String, f64, f64)>> {
    Ok(removal_effects_with(paths, order, DENSE_MAX, true)?
        .into_iter()
        .map(|(c, e, v)| (c, e, v.unwrap_or(0.0)))
        .collect())
}

type Effects = Vec<(String, f64, Option<f64>)>;

fn removal_effects_with(
    paths: &[(Vec<&str>, u64, u64, f64)],
    order: usize,
    dense_max: usize,
    with_value: bool,
) -> Result<Effects> {
    if !(1..=MAX_ORDER).contains(&order) {
        return plan_err!(
            "markov_removal_effects: order must be between 1 and {MAX_ORDER}, got {order}"
        );
    }
    if let Some(bad) = paths.iter().find(|p| !(p.3.is_finite() && p.3 >= 0.0)) {
        return exec_err!(
            "markov_removal_effects: a conversion value must be a finite number >= 0, got {}",
            bad.3
        );
    }
    let counted = |p: &&(Vec<&str>, u64, u64, f64)| !p.0.is_empty() && p.1.saturating_add(p.2) > 0;
    // Channel ids follow the name order and journeys are merged in sorted
    // order, so the chain (and the floating-point result, bit for bit) does
    // not depend on how the input was ordered or partitioned.
    let channels: Vec<&str> = paths
        .iter()
        .filter(counted)
        .flat_map(|p| p.0.iter().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let id = |c: &str| channels.binary_search(&c).unwrap_or_default() as u32;
    let mut merged: BTreeMap<Vec<u32>, (u64, u64, f64)> = BTreeMap::new();
    for (path, conversions, nulls, value) in paths.iter().filter(counted) {
        let e = merged
            .entry(path.iter().map(|c| id(c)).collect())
            .or_default();
        e.0 = e.0.saturating_add(*conversions);
        e.1 = e.1.saturating_add(*nulls);
        // a value without a conversion to carry it is no value
        if *conversions > 0 {
            e.2 += value;
        }
    }
    let merged: Vec<IdPath> = merged
        .into_iter()
        .map(|(k, (c, n, v))| (k, c, n, v))
        .collect();

    let chain = Chain::build(&merged, order);
    let mut removed = vec![false; chain.states.len()];
    let base = chain.conversion_probability(&removed, dense_max)?;
    let base_value = if with_value {
        chain.expected(&chain.value, &removed, dense_max)?
    } else {
        0.0
    };
    let mut effects = Vec::with_capacity(channels.len());
    for (c, name) in channels.iter().enumerate() {
        for (flag, state) in removed.iter_mut().zip(&chain.states) {
            *flag = state.contains(&(c as u32));
        }
        // Removing a channel can only lose conversions; clamp rounding.
        let effect = if base > 0.0 {
            let without = chain.conversion_probability(&removed, dense_max)?;
            (1.0 - without / base).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let value_effect = if !with_value {
            None
        } else if base_value > 0.0 {
            let without = chain.expected(&chain.value, &removed, dense_max)?;
            Some((1.0 - without / base_value).clamp(0.0, 1.0))
        } else {
            Some(0.0)
        };
        effects.push((name.to_string(), effect, value_effect));
    }
    Ok(effects)
}

// ---------------------------------------------------------------------------
// Journey plumbing shared with `shapley_channel_weights`.
// ---------------------------------------------------------------------------

/// How a journey's channels form its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyKind {
    /// The channels in time order (Markov paths).
    Sequence,
    /// The distinct channels, order ignored (Shapley coalitions).
    Set,
    /// The channels with their repeats, order ignored (touch counts).
    Bag,
}

/// How many times a distinct journey converted, and did not, and the total
/// value of its conversions in units of [`VALUE_SCALE`]: integers, so that
/// the sum is the same whatever order rows and partial states arrive in.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    pub(super) conversions: u64,
    pub(super) others: u64,
    pub(super) value: i128,
}

/// Conversion values are counted in units of `1 / VALUE_SCALE` (nano-units
/// of the currency): exact sums, far below any currency's precision.
pub(super) const VALUE_SCALE: f64 = 1e9;

/// Decimal scale of the value column of the partial state (`VALUE_SCALE`).
const VALUE_DECIMALS: i8 = 9;

/// Largest journey weight accepted: every whole number up to it is exact in
/// a Float64.
const MAX_WEIGHT: f64 = 9_007_199_254_740_992.0;

impl Counts {
    /// The total value as a number of currency units.
    pub(super) fn value(&self) -> f64 {
        self.value as f64 / VALUE_SCALE
    }
}

/// Distinct journeys with their counts, channels interned to `u32` ids so a
/// journey key is a short integer slice. Ids are local to one accumulator;
/// the partial state carries the names, and merging re-interns them.
#[derive(Debug)]
pub(super) struct Journeys {
    fn_name: &'static str,
    kind: KeyKind,
    ids: HashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
    name_bytes: usize,
    counts: HashMap<Box<[u32]>, Counts>,
    key_len: usize,
    /// Whether a journey without channels is counted (Shapley's `v(∅)`).
    keep_empty: bool,
    scratch: Vec<u32>,
}

impl Journeys {
    pub(super) fn new(fn_name: &'static str, kind: KeyKind, keep_empty: bool) -> Self {
        Self {
            fn_name,
            kind,
            ids: HashMap::default(),
            names: Vec::new(),
            name_bytes: 0,
            counts: HashMap::default(),
            key_len: 0,
            keep_empty,
            scratch: Vec::new(),
        }
    }

    fn intern(&mut self, name: &str) -> Result<u32> {
        if let Some(&id) = self.ids.get(name) {
            return Ok(id);
        }
        let Ok(id) = u32::try_from(self.names.len()) else {
            return exec_err!("{}: more than 2^32 distinct channels", self.fn_name);
        };
        let name: Arc<str> = Arc::from(name);
        self.name_bytes += name.len();
        self.names.push(Arc::clone(&name));
        self.ids.insert(name, id);
        Ok(id)
    }

    /// Counts the journey in `self.scratch`.
    fn add_scratch(&mut self, conversions: u64, others: u64, value: i128) {
        match self.kind {
            KeyKind::Sequence => {}
            KeyKind::Set => {
                self.scratch.sort_unstable();
                self.scratch.dedup();
            }
            KeyKind::Bag => self.scratch.sort_unstable(),
        }
        if self.scratch.is_empty() && !self.keep_empty {
            return;
        }
        let key_len = self.scratch.len();
        let counts = match self.counts.entry_ref(self.scratch.as_slice()) {
            EntryRef::Occupied(e) => e.into_mut(),
            EntryRef::Vacant(v) => {
                self.key_len += key_len;
                v.insert_with_key(Box::from(self.scratch.as_slice()), Counts::default())
            }
        };
        counts.conversions = counts.conversions.saturating_add(conversions);
        counts.others = counts.others.saturating_add(others);
        counts.value = counts.value.saturating_add(value);
    }

    /// Counts `weight` journeys (default 1) per row of `lists` (a list of
    /// strings; NULL rows and NULL elements are skipped), converted when
    /// `converted` is true, worth `value` in all when they converted.
    pub(super) fn update(
        &mut self,
        lists: &ArrayRef,
        converted: &ArrayRef,
        weight: Option<&ArrayRef>,
        value: Option<&ArrayRef>,
    ) -> Result<()> {
        let fn_name = self.fn_name;
        let float = |a: Option<&ArrayRef>| -> Result<Option<Float64Array>> {
            a.map(|a| {
                Ok(cast(a, &DataType::Float64)?
                    .as_primitive::<Float64Type>()
                    .clone())
            })
            .transpose()
        };
        let (weight, value) = (float(weight)?, float(value)?);
        let lists = match lists.data_type() {
            DataType::List(_) => Arc::clone(lists),
            _ => cast(lists, &list_of(DataType::Utf8))?,
        };
        let Some(lists) = lists.as_list_opt::<i32>() else {
            return exec_err!("{}: expected a list of channels", self.fn_name);
        };
        let converted = match converted.data_type() {
            DataType::Boolean => Arc::clone(converted),
            _ => cast(converted, &DataType::Boolean)?,
        };
        let Some(converted) = converted.as_boolean_opt() else {
            return exec_err!("{}: expected a boolean `converted`", self.fn_name);
        };
        let values = StrCol::new(lists.values())?;
        let offsets = lists.value_offsets();
        for row in 0..lists.len() {
            if lists.is_null(row) {
                continue;
            }
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            for j in offsets[row] as usize..offsets[row + 1] as usize {
                if let Some(channel) = values.get(j) {
                    scratch.push(self.intern(channel)?);
                }
            }
            self.scratch = scratch;
            let conv = row < converted.len() && converted.is_valid(row) && converted.value(row);
            let journeys = match &weight {
                None => 1,
                Some(w) if w.is_null(row) => 0,
                Some(w) => {
                    let w = w.value(row);
                    if !((0.0..=MAX_WEIGHT).contains(&w) && w.fract() == 0.0) {
                        return exec_err!(
                            "{fn_name}: a weight is a number of identical journeys, a whole \
                             number >= 0; got {w}"
                        );
                    }
                    w as u64
                }
            };
            let worth = match &value {
                Some(v) if conv && journeys > 0 && v.is_valid(row) => {
                    let v = v.value(row);
                    if !(v.is_finite() && v >= 0.0) {
                        return exec_err!(
                            "{fn_name}: a conversion value must be a finite number >= 0; got {v}"
                        );
                    }
                    (v * VALUE_SCALE).round() as i128
                }
                _ => 0,
            };
            if conv {
                self.add_scratch(journeys, 0, worth);
            } else {
                self.add_scratch(0, journeys, 0);
            }
        }
        Ok(())
    }

    /// Every distinct journey as channel names, with its counts.
    pub(super) fn entries(&self) -> impl Iterator<Item = (Vec<&str>, Counts)> {
        self.counts.iter().map(|(key, &counts)| {
            let names = key.iter().map(|&id| self.names[id as usize].as_ref());
            (names.collect(), counts)
        })
    }

    pub(super) fn size(&self) -> usize {
        size_of::<Self>()
            + self.ids.capacity() * (size_of::<Arc<str>>() + size_of::<u32>() + 1)
            + self.names.capacity() * size_of::<Arc<str>>()
            + self.name_bytes
            + self.counts.capacity() * (size_of::<Box<[u32]>>() + size_of::<Counts>() + 1)
            + self.key_len * size_of::<u32>()
            + self.scratch.capacity() * size_of::<u32>()
    }

    /// The partial state's columns: the channel names, each journey as
    /// positions in that name list, and the two counts per journey.
    pub(super) fn state_fields(name: &str, others: &str) -> Vec<FieldRef> {
        let field =
            |n: &str, t: DataType| Arc::new(Field::new(format_state_name(name, n), t, true));
        vec![
            field("channels", list_of(DataType::Utf8)),
            field("journeys", list_of(list_of(DataType::UInt32))),
            field("conversions", list_of(DataType::UInt64)),
            field(others, list_of(DataType::UInt64)),
            field("value", list_of(value_type())),
        ]
    }

    pub(super) fn state(&self) -> Result<Vec<ScalarValue>> {
        let names = utf8_array(
            self.fn_name,
            self.names.iter().map(|n| n.as_ref()),
            self.name_bytes,
        )?;
        let mut ids = Vec::with_capacity(self.key_len);
        let mut lengths = Vec::with_capacity(self.counts.len());
        let mut conversions = Vec::with_capacity(self.counts.len());
        let mut others = Vec::with_capacity(self.counts.len());
        let mut values = Vec::with_capacity(self.counts.len());
        for (key, counts) in &self.counts {
            ids.extend_from_slice(key);
            lengths.push(key.len());
            conversions.push(counts.conversions);
            others.push(counts.others);
            values.push(counts.value);
        }
        let values = Decimal128Array::from(values)
            .with_precision_and_scale(DECIMAL128_MAX_PRECISION, VALUE_DECIMALS)?;
        let journeys = ListArray::try_new(
            item_field(DataType::UInt32),
            OffsetBuffer::from_lengths(lengths),
            Arc::new(UInt32Array::from(ids)),
            None,
        )?;
        Ok(vec![
            single_list(item_field(DataType::Utf8), names)?,
            single_list(item_field(list_of(DataType::UInt32)), Arc::new(journeys))?,
            single_list(
                item_field(DataType::UInt64),
                Arc::new(UInt64Array::from(conversions)),
            )?,
            single_list(
                item_field(DataType::UInt64),
                Arc::new(UInt64Array::from(others)),
            )?,
            single_list(item_field(value_type()), Arc::new(values))?,
        ])
    }

    pub(super) fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        let fn_name = self.fn_name;
        let [names, journeys, conversions, others, values] = states else {
            return exec_err!("{fn_name}: expected 5 state columns");
        };
        let (Some(names), Some(journeys), Some(conversions), Some(others), Some(values)) = (
            names.as_list_opt::<i32>(),
            journeys.as_list_opt::<i32>(),
            conversions.as_list_opt::<i32>(),
            others.as_list_opt::<i32>(),
            values.as_list_opt::<i32>(),
        ) else {
            return exec_err!("{fn_name}: state columns must be lists");
        };
        let rows = names.len();
        if journeys.len() != rows
            || conversions.len() != rows
            || others.len() != rows
            || values.len() != rows
        {
            return exec_err!("{fn_name}: inconsistent partial state");
        }
        let mut local = Vec::new();
        for row in 0..rows {
            if names.is_null(row) || journeys.is_null(row) {
                continue;
            }
            let row_names = StrCol::new(&names.value(row))?;
            local.clear();
            for i in 0..row_names.len() {
                let Some(name) = row_names.get(i) else {
                    return exec_err!("{fn_name}: null channel in partial state");
                };
                local.push(self.intern(name)?);
            }
            let keys = journeys.value(row);
            let conv = conversions.value(row);
            let oth = others.value(row);
            let val = values.value(row);
            let (Some(keys), Some(conv), Some(oth), Some(val)) = (
                keys.as_list_opt::<i32>(),
                conv.as_primitive_opt::<UInt64Type>(),
                oth.as_primitive_opt::<UInt64Type>(),
                val.as_primitive_opt::<Decimal128Type>(),
            ) else {
                return exec_err!("{fn_name}: bad partial state types");
            };
            let Some(positions) = keys.values().as_primitive_opt::<UInt32Type>() else {
                return exec_err!("{fn_name}: bad partial state types");
            };
            if conv.len() != keys.len() || oth.len() != keys.len() || val.len() != keys.len() {
                return exec_err!("{fn_name}: inconsistent partial state");
            }
            let offsets = keys.value_offsets();
            for k in 0..keys.len() {
                let mut scratch = std::mem::take(&mut self.scratch);
                scratch.clear();
                for j in offsets[k] as usize..offsets[k + 1] as usize {
                    let Some(&id) = positions
                        .is_valid(j)
                        .then(|| positions.value(j) as usize)
                        .and_then(|p| local.get(p))
                    else {
                        return exec_err!("{fn_name}: bad channel position in partial state");
                    };
                    scratch.push(id);
                }
                self.scratch = scratch;
                self.add_scratch(conv.value(k), oth.value(k), val.value(k));
            }
        }
        Ok(())
    }
}

/// The type of a conversion value in the partial state.
fn value_type() -> DataType {
    DataType::Decimal128(DECIMAL128_MAX_PRECISION, VALUE_DECIMALS)
}

/// `List<t>` with the standard nullable item field.
pub(super) fn list_of(t: DataType) -> DataType {
    DataType::List(item_field(t))
}

pub(super) fn item_field(t: DataType) -> FieldRef {
    Arc::new(Field::new_list_field(t, true))
}

/// One list value holding `values`.
pub(super) fn single_list(item: FieldRef, values: ArrayRef) -> Result<ScalarValue> {
    let offsets = OffsetBuffer::from_lengths([values.len()]);
    let list = ListArray::try_new(item, offsets, values, None)?;
    Ok(ScalarValue::List(Arc::new(list)))
}

/// Builds a Utf8 array, refusing rather than panicking when the i32 offsets
/// of Utf8 would overflow.
pub(super) fn utf8_array<'a>(
    fn_name: &str,
    values: impl ExactSizeIterator<Item = &'a str>,
    bytes: usize,
) -> Result<ArrayRef> {
    if bytes > i32::MAX as usize {
        return exec_err!("{fn_name}: {bytes} bytes of channel names exceed the 2 GiB Utf8 limit");
    }
    let mut builder = StringBuilder::with_capacity(values.len(), bytes);
    for v in values {
        builder.append_value(v);
    }
    Ok(Arc::new(builder.finish()))
}

/// Coerces `(channels, converted [, literals… [, weight [, value]]])`: any
/// list of strings (or of integers, compared as decimal strings) to
/// `List<Utf8>`; the flag must be Boolean (a count of conversions there is
/// refused, so it cannot be read as "converted"); each literal parameter to
/// its type in `literals`; the weight and the value, any numbers, to Float64.
pub(super) fn coerce_journey_args(
    fn_name: &str,
    arg_types: &[DataType],
    literals: &[DataType],
) -> Result<Vec<DataType>> {
    let most = 4 + literals.len();
    if !(2..=most).contains(&arg_types.len()) {
        return plan_err!(
            "{fn_name} expects 2 to {most} arguments, got {}",
            arg_types.len()
        );
    }
    let mut out = Vec::with_capacity(arg_types.len());
    let channels = match &arg_types[0] {
        DataType::Null => list_of(DataType::Utf8),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)
            if is_channel_type(f.data_type()) =>
        {
            list_of(DataType::Utf8)
        }
        t => return plan_err!("{fn_name} expects a list of channel names, got {t}"),
    };
    out.push(channels);
    match &arg_types[1] {
        DataType::Boolean | DataType::Null => out.push(DataType::Boolean),
        t => {
            return plan_err!(
                "{fn_name}: `converted` must be a Boolean (whether the row's journeys converted), \
                 got {t}; for a table of paths with counts, pass one row with `true` and the \
                 number of conversions as `weight`, and one with `false` and the number of \
                 non-conversions (see `parcours functions {fn_name}`)"
            );
        }
    }
    for (i, t) in arg_types.iter().enumerate().skip(2) {
        let k = i - 2;
        if let Some(want) = literals.get(k) {
            let ok = match (want, t) {
                (_, DataType::Null) => true,
                (DataType::Int64, t) => t.is_integer(),
                (DataType::Utf8, t) => {
                    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
                }
                _ => false,
            };
            if !ok {
                let kind = if *want == DataType::Int64 {
                    "an integer"
                } else {
                    "a string"
                };
                return plan_err!(
                    "{fn_name}: argument {} must be {kind} literal, got {t}",
                    i + 1
                );
            }
            out.push(want.clone());
        } else {
            let what = if k == literals.len() {
                "weight"
            } else {
                "value"
            };
            if !(t.is_numeric() || *t == DataType::Null) {
                return plan_err!("{fn_name}: the {what} must be a number, got {t}");
            }
            out.push(DataType::Float64);
        }
    }
    Ok(out)
}

fn is_channel_type(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => true,
        DataType::Dictionary(_, v) => is_channel_type(v),
        t => t.is_integer(),
    }
}

/// The integer literal passed as argument `index` of `fn_name` (declared in
/// [`super::literals`]), or its default when the call has fewer arguments; a non-literal, NULL
/// or out-of-range value is a plan error (which `validate` reports before any run).
pub(super) fn literal_arg(args: &AccumulatorArgs, fn_name: &str, index: usize) -> Result<usize> {
    let Some(decl) = super::literals::literal_arg(fn_name, index) else {
        return internal_err!("{fn_name}: argument {index} is not a declared literal");
    };
    let Some(expr) = args.exprs.get(index) else {
        return Ok(decl.default);
    };
    let literal = expr.downcast_ref::<Literal>().map(|l| l.value());
    decl.value(literal)
        .map_err(datafusion::error::DataFusionError::Plan)
}

// ---------------------------------------------------------------------------
// The SQL aggregate.
// ---------------------------------------------------------------------------

/// The aggregate `markov_removal_effects(path, converted [, order [,
/// weight [, value]]])`.
///
/// Input: one row per customer journey, or per group of identical ones.
/// `path` is the list of its touches' channels in time order
/// (`List`/`LargeList` of any string type; integer channel ids are compared
/// as strings); `converted` is Boolean (NULL = not converted; a number is
/// refused at planning); `order` is an optional integer literal, the Markov
/// order `1..=4` (default 1); `weight` the number of identical journeys the
/// row stands for (a whole number ≥ 0, NULL = 0, default 1); `value` the
/// total conversion value of the row's journeys when they converted (≥ 0,
/// NULL = 0, ignored when not converted).
///
/// Output: `List<Struct<channel: Utf8, removal_effect: Float64>>`, one entry
/// per channel of any journey, sorted by channel; with `value`, each entry
/// also has `value_removal_effect` (see [`value_removal_effects`]). An empty
/// input gives an empty list. See the module documentation for the model.
///
/// ```sql
/// select e['channel'], e['removal_effect']
/// from (select unnest(markov_removal_effects(path, converted, 2)) as e from journeys);
/// ```
///
/// Removal effects do not sum to 1; to split conversions, normalise them
/// (`effect / sum(effect) over ()`), as ChannelAttribution does.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MarkovRemovalEffects {
    signature: Signature,
}

impl Default for MarkovRemovalEffects {
    fn default() -> Self {
        Self::new()
    }
}

impl MarkovRemovalEffects {
    pub(crate) const NAME: &'static str = "markov_removal_effects";

    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    /// Position of the `value` argument: its presence adds the value effect.
    const VALUE_ARG: usize = 4;

    fn struct_fields(with_value: bool) -> Fields {
        let mut fields = vec![
            Field::new("channel", DataType::Utf8, false),
            Field::new("removal_effect", DataType::Float64, false),
        ];
        if with_value {
            fields.push(Field::new("value_removal_effect", DataType::Float64, false));
        }
        Fields::from(fields)
    }

    fn item_field(with_value: bool) -> FieldRef {
        item_field(DataType::Struct(Self::struct_fields(with_value)))
    }

    /// `List<Struct<channel: Utf8, removal_effect: Float64>>`, plus
    /// `value_removal_effect: Float64` when a value is given.
    pub fn output_type(with_value: bool) -> DataType {
        DataType::List(Self::item_field(with_value))
    }
}

impl AggregateUDFImpl for MarkovRemovalEffects {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(Self::output_type(arg_types.len() > Self::VALUE_ARG))
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let order = literal_arg(&acc_args, Self::NAME, 2)?;
        let with_value = acc_args.exprs.len() > Self::VALUE_ARG;
        Ok(Box::new(MarkovAccumulator::new(order, with_value)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(Journeys::state_fields(args.name, "nulls"))
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_journey_args(Self::NAME, arg_types, &[DataType::Int64])
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
}

#[derive(Debug)]
struct MarkovAccumulator {
    journeys: Journeys,
    order: usize,
    with_value: bool,
}

impl MarkovAccumulator {
    fn new(order: usize, with_value: bool) -> Self {
        Self {
            journeys: Journeys::new(MarkovRemovalEffects::NAME, KeyKind::Sequence, false),
            order,
            with_value,
        }
    }
}

impl Accumulator for MarkovAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [path, converted, rest @ ..] = values else {
            return exec_err!(
                "markov_removal_effects expects (path, converted [, order [, weight [, value]]])"
            );
        };
        self.journeys
            .update(path, converted, rest.get(1), rest.get(2))
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let paths: Vec<(Vec<&str>, u64, u64, f64)> = self
            .journeys
            .entries()
            .map(|(p, c)| (p, c.conversions, c.others, c.value()))
            .collect();
        let effects = removal_effects_with(&paths, self.order, DENSE_MAX, self.with_value)?;
        let bytes = effects.iter().map(|e| e.0.len()).sum();
        let channels = utf8_array(
            MarkovRemovalEffects::NAME,
            effects.iter().map(|e| e.0.as_str()),
            bytes,
        )?;
        let values: Float64Array = effects.iter().map(|e| e.1).collect();
        let mut columns: Vec<ArrayRef> = vec![channels, Arc::new(values)];
        if self.with_value {
            let worth: Float64Array = effects.iter().map(|e| e.2.unwrap_or(0.0)).collect();
            columns.push(Arc::new(worth));
        }
        let entries = StructArray::try_new(
            MarkovRemovalEffects::struct_fields(self.with_value),
            columns,
            None,
        )?;
        single_list(
            MarkovRemovalEffects::item_field(self.with_value),
            Arc::new(entries),
        )
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
    use datafusion::arrow::array::{BooleanArray, ListBuilder, StringArray};

    fn effects(paths: &[(&[&str], u64, u64)], order: usize) -> Vec<(String, f64)> {
        let paths: Vec<(Vec<&str>, u64, u64)> =
            paths.iter().map(|(p, c, n)| (p.to_vec(), *c, *n)).collect();
        match removal_effects(&paths, order) {
            Ok(e) => e,
            Err(e) => panic!("removal_effects failed: {e}"),
        }
    }

    fn assert_effects(got: &[(String, f64)], expected: &[(&str, f64)]) {
        assert_eq!(got.len(), expected.len(), "{got:?} vs {expected:?}");
        for ((name, value), (want_name, want)) in got.iter().zip(expected) {
            assert_eq!(name, want_name, "{got:?}");
            assert!(
                (value - want).abs() < 1e-12,
                "{name}: {value} != {want} in {got:?}"
            );
        }
    }

    /// P(conversion) of the full chain, for the derivations below.
    fn conversion_probability(paths: &[(&[&str], u64, u64)], order: usize) -> f64 {
        let names: BTreeSet<&str> = paths.iter().flat_map(|p| p.0.iter().copied()).collect();
        let names: Vec<&str> = names.into_iter().collect();
        let ids: Vec<IdPath> = paths
            .iter()
            .map(|(p, c, n)| {
                let key = p
                    .iter()
                    .filter_map(|c| names.binary_search(c).ok())
                    .map(|i| i as u32)
                    .collect();
                (key, *c, *n, 0.0)
            })
            .collect();
        let chain = Chain::build(&ids, order);
        match chain.conversion_probability(&vec![false; chain.states.len()], DENSE_MAX) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn first_order_by_hand() {
        // Journeys: C1→C2→conv, C1→null, C2→conv.
        // Transitions: start→C1 2/3, start→C2 1/3; C1→C2 1/2, C1→null 1/2;
        // C2→conv 1.
        // x(C2) = 1, x(C1) = 1/2, P(conv) = 2/3·1/2 + 1/3·1 = 2/3.
        // Without C1: only start→C2 survives, P = 1/3, effect 1 − (1/3)/(2/3) = 1/2.
        // Without C2: C1 can only reach null, P = 0, effect 1.
        let paths: &[(&[&str], u64, u64)] =
            &[(&["C1", "C2"], 1, 0), (&["C1"], 0, 1), (&["C2"], 1, 0)];
        assert!((conversion_probability(paths, 1) - 2.0 / 3.0).abs() < 1e-12);
        assert_effects(&effects(paths, 1), &[("C1", 0.5), ("C2", 1.0)]);
        // Counts and repeated entries are the same thing.
        let split: &[(&[&str], u64, u64)] = &[
            (&["C2"], 1, 0),
            (&["C1"], 0, 1),
            (&["C1", "C2"], 1, 0),
            (&[], 5, 5),
            (&["C9"], 0, 0),
        ];
        assert_effects(&effects(split, 1), &[("C1", 0.5), ("C2", 1.0)]);
    }

    #[test]
    fn single_channel_and_no_conversion() {
        // One channel carries every conversion: removing it leaves none.
        assert_effects(&effects(&[(&["A"], 3, 7)], 1), &[("A", 1.0)]);
        // P(conv) = 0: every effect is 0 (no division by zero).
        assert_effects(
            &effects(&[(&["A", "B"], 0, 4), (&["B"], 0, 1)], 1),
            &[("A", 0.0), ("B", 0.0)],
        );
        assert!(effects(&[], 1).is_empty());
    }

    #[test]
    fn second_order_separates_contexts() {
        // Journeys: A→B→conv, C→B→null.
        // Order 1: start→A 1/2, start→C 1/2, A→B 1, C→B 1, B→conv 1/2,
        // B→null 1/2. P = 1/2. Without A: P = 1/2·1/2 = 1/4 → 1/2; without B:
        // 0 → 1; without C: 1/4 → 1/2.
        // Order 2: states (A), (A,B), (C), (C,B); (A,B)→conv 1, (C,B)→null 1.
        // P = 1/2. Without A ((A),(A,B) gone): 0 → 1; without B ((A,B),(C,B)
        // gone): 0 → 1; without C: still 1/2 → 0.
        let paths: &[(&[&str], u64, u64)] = &[(&["A", "B"], 1, 0), (&["C", "B"], 0, 1)];
        assert_effects(&effects(paths, 1), &[("A", 0.5), ("B", 1.0), ("C", 0.5)]);
        assert_effects(&effects(paths, 2), &[("A", 1.0), ("B", 1.0), ("C", 0.0)]);
        assert!((conversion_probability(paths, 2) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn higher_order_states_are_prefixes_then_windows() {
        let path = [0u32, 1, 2, 3];
        let chain = Chain::build(&[(path.to_vec(), 1, 0, 0.0)], 3);
        let expected: Vec<Vec<u32>> = vec![vec![0], vec![0, 1], vec![0, 1, 2], vec![1, 2, 3]];
        assert_eq!(chain.states, expected);
        assert_effects(
            &effects(&[(&["a", "b", "c", "d"], 1, 0)], 4),
            &[("a", 1.0), ("b", 1.0), ("c", 1.0), ("d", 1.0)],
        );
    }

    #[test]
    fn self_loop_and_cycle_converge() {
        // Self-loop. Journeys: A→A→B→conv, A→null, B→null.
        // start→A 2/3, start→B 1/3; A→A 1/3, A→B 1/3, A→null 1/3;
        // B→conv 1/2, B→null 1/2.
        // x(B) = 1/2; x(A) = 1/3·x(A) + 1/3·1/2 → x(A) = 1/4.
        // P = 2/3·1/4 + 1/3·1/2 = 1/3.
        // Without A: P = 1/3·1/2 = 1/6 → effect 1/2. Without B: x(A) = 1/3·x(A)
        // → 0, P = 0 → effect 1.
        let looped: &[(&[&str], u64, u64)] =
            &[(&["A", "A", "B"], 1, 0), (&["A"], 0, 1), (&["B"], 0, 1)];
        assert!((conversion_probability(looped, 1) - 1.0 / 3.0).abs() < 1e-12);
        assert_effects(&effects(looped, 1), &[("A", 0.5), ("B", 1.0)]);

        // Two-state cycle. Journeys: A→B→A→conv, B→null.
        // start→A 1/2, start→B 1/2; A→B 1/2, A→conv 1/2; B→A 1/2, B→null 1/2.
        // x(A) = 1/2 + 1/2·x(B), x(B) = 1/2·x(A) → x(A) = 2/3, x(B) = 1/3.
        // P = 1/2·2/3 + 1/2·1/3 = 1/2.
        // Without A: P = 0 → 1. Without B: x(A) = 1/2, P = 1/4 → 1/2.
        let cycle: &[(&[&str], u64, u64)] = &[(&["A", "B", "A"], 1, 0), (&["B"], 0, 1)];
        assert!((conversion_probability(cycle, 1) - 0.5).abs() < 1e-12);
        assert_effects(&effects(cycle, 1), &[("A", 1.0), ("B", 0.5)]);
        // Gauss–Seidel (no dense solve) reaches the same values.
        let paths: Vec<(Vec<&str>, u64, u64, f64)> = cycle
            .iter()
            .map(|(p, c, n)| (p.to_vec(), *c, *n, 0.0))
            .collect();
        match removal_effects_with(&paths, 1, 0, false) {
            Ok(iterative) => {
                let iterative: Vec<(String, f64)> =
                    iterative.into_iter().map(|(c, e, _)| (c, e)).collect();
                assert_effects(&iterative, &[("A", 1.0), ("B", 0.5)])
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn dense_and_iterative_solvers_agree_on_a_large_cycle() {
        // 300 channels on a ring, each journey a stretch of it, so the whole
        // chain is one strongly connected component above DENSE_MAX.
        let names: Vec<String> = (0..300).map(|i| format!("c{i:03}")).collect();
        let mut paths: Vec<(Vec<&str>, u64, u64, f64)> = Vec::new();
        for i in 0..300 {
            let len = 2 + i % 5;
            let path = (0..len)
                .map(|j| names[(i * 7 + j) % 300].as_str())
                .collect();
            paths.push((path, (i % 3 == 0) as u64, 1 + (i % 2) as u64, i as f64));
        }
        let result = |dense_max| match removal_effects_with(&paths, 1, dense_max, true) {
            Ok(e) => e,
            Err(e) => panic!("{e}"),
        };
        let (dense, iterative) = (result(DENSE_MAX * 2), result(0));
        assert_eq!(dense.len(), 300);
        for ((n1, a, va), (n2, b, vb)) in dense.iter().zip(&iterative) {
            assert_eq!(n1, n2);
            assert!((a - b).abs() < 1e-9, "{n1}: {a} vs {b}");
            let (va, vb) = (va.unwrap_or(-1.0), vb.unwrap_or(-2.0));
            assert!((va - vb).abs() < 1e-9, "{n1}: value {va} vs {vb}");
        }
        assert!(dense.iter().any(|(_, e, _)| *e > 0.0 && *e < 1.0));
    }

    #[test]
    fn order_is_checked() {
        assert!(removal_effects(&[(vec!["a"], 1, 0)], 0).is_err());
        assert!(removal_effects(&[(vec!["a"], 1, 0)], 5).is_err());
    }

    fn batch(rows: &[(Option<&[&str]>, Option<bool>)]) -> Vec<ArrayRef> {
        let mut lists = ListBuilder::new(StringBuilder::new());
        for (path, _) in rows {
            match path {
                Some(p) => {
                    for c in p.iter() {
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

    fn effects_of(acc: &mut MarkovAccumulator) -> Result<Vec<(String, f64)>> {
        let value = acc.evaluate()?.to_array()?;
        let list = value.as_list::<i32>();
        let entries = list.value(0);
        let entries = entries.as_struct();
        let names = StrCol::new(entries.column(0))?;
        let effects = entries
            .column(1)
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        Ok((0..entries.len())
            .map(|i| {
                (
                    names.get(i).unwrap_or_default().to_string(),
                    effects.value(i),
                )
            })
            .collect())
    }

    #[test]
    fn accumulator_skips_nulls_and_empty_paths() -> Result<()> {
        let mut acc = MarkovAccumulator::new(1, false);
        acc.update_batch(&batch(&[
            (Some(&["C1", "C2"]), Some(true)),
            (Some(&["C1"]), None),
            (Some(&["C2"]), Some(true)),
            (None, Some(true)),
            (Some(&[]), Some(true)),
        ]))?;
        assert_effects(&effects_of(&mut acc)?, &[("C1", 0.5), ("C2", 1.0)]);
        Ok(())
    }

    #[test]
    fn state_merge_equals_single_pass() -> Result<()> {
        let part1: &[(Option<&[&str]>, Option<bool>)] = &[
            (Some(&["a", "b", "a"]), Some(true)),
            (Some(&["b"]), Some(false)),
            (Some(&["c", "a"]), Some(true)),
        ];
        let part2: &[(Option<&[&str]>, Option<bool>)] = &[
            (Some(&["c"]), Some(false)),
            (Some(&["a", "b", "a"]), Some(false)),
            (Some(&["b", "c"]), Some(true)),
            (Some(&["d"]), None),
        ];
        for order in 1..=3 {
            let mut whole = MarkovAccumulator::new(order, false);
            whole.update_batch(&batch(part1))?;
            whole.update_batch(&batch(part2))?;

            let mut partials = Vec::new();
            for part in [part2, part1] {
                let mut acc = MarkovAccumulator::new(order, false);
                acc.update_batch(&batch(part))?;
                partials.push(acc.state()?);
            }
            let mut columns = Vec::new();
            for col in 0..5 {
                let scalars = partials.iter().map(|s| s[col].clone());
                columns.push(ScalarValue::iter_to_array(scalars)?);
            }
            let mut merged = MarkovAccumulator::new(order, false);
            merged.merge_batch(&columns)?;
            // Bit-identical: the solve does not depend on arrival order.
            assert_eq!(merged.evaluate()?, whole.evaluate()?);
            assert!(merged.size() > 0);
        }
        Ok(())
    }

    /// A batch with a weight and a value column.
    #[allow(clippy::type_complexity)]
    fn weighted_batch(rows: &[(&[&str], bool, Option<f64>, Option<f64>)]) -> Result<Vec<ArrayRef>> {
        let paths: Vec<(Option<&[&str]>, Option<bool>)> =
            rows.iter().map(|r| (Some(r.0), Some(r.1))).collect();
        let mut columns = batch(&paths);
        // the order literal, as DataFusion passes it
        columns.push(ScalarValue::Int64(Some(1)).to_array_of_size(rows.len())?);
        let weights: Float64Array = rows.iter().map(|r| r.2).collect();
        let values: Float64Array = rows.iter().map(|r| r.3).collect();
        columns.push(Arc::new(weights));
        columns.push(Arc::new(values));
        Ok(columns)
    }

    #[test]
    fn aggregated_rows_equal_exploded_rows() -> Result<()> {
        // A path table (path, conversions, value, nulls) and the same journeys one per row.
        let table: &[(&[&str], u64, f64, u64)] = &[
            (&["a", "b"], 3, 7.5, 2),
            (&["b"], 1, 2.0, 4),
            (&["a", "c", "a"], 2, 3.0, 0),
            (&["c"], 0, 0.0, 5),
            (&["b", "a", "b", "c"], 4, 10.0, 1),
        ];
        for order in 1..=3 {
            let mut aggregated = MarkovAccumulator::new(order, true);
            let mut rows = Vec::new();
            for (path, conversions, value, nulls) in table {
                rows.push((*path, true, Some(*conversions as f64), Some(*value)));
                rows.push((*path, false, Some(*nulls as f64), None));
            }
            // a NULL weight is no journey
            rows.push((&["z"], true, None, Some(1.0)));
            aggregated.update_batch(&weighted_batch(&rows)?)?;

            let mut exploded = MarkovAccumulator::new(order, true);
            let mut rows = Vec::new();
            for (path, conversions, value, nulls) in table {
                for _ in 0..*conversions {
                    // values that are exact in binary: the sums are the same
                    rows.push((*path, true, Some(1.0), Some(value / *conversions as f64)));
                }
                for _ in 0..*nulls {
                    rows.push((*path, false, Some(1.0), Some(99.0)));
                }
            }
            exploded.update_batch(&weighted_batch(&rows)?)?;
            assert_eq!(
                aggregated.evaluate()?,
                exploded.evaluate()?,
                "order {order}"
            );

            // Without a value column, the effects are those of the Boolean rows alone.
            let mut plain = MarkovAccumulator::new(order, false);
            let flags: Vec<(Option<&[&str]>, Option<bool>)> =
                rows.iter().map(|r| (Some(r.0), Some(r.1))).collect();
            plain.update_batch(&batch(&flags))?;
            let with_value = effects_of(&mut exploded)?;
            let without = effects_of(&mut plain)?;
            assert_eq!(with_value, without);
        }
        Ok(())
    }

    #[test]
    fn bad_weights_and_values_are_errors() -> Result<()> {
        for (weight, value) in [
            (Some(1.5), Some(1.0)),
            (Some(-1.0), Some(1.0)),
            (Some(f64::NAN), Some(1.0)),
            (Some(1.0), Some(-2.0)),
            (Some(1.0), Some(f64::INFINITY)),
        ] {
            let mut acc = MarkovAccumulator::new(1, true);
            let result = acc.update_batch(&weighted_batch(&[(&["a"], true, weight, value)])?);
            assert!(result.is_err(), "{weight:?} {value:?}");
        }
        Ok(())
    }

    /// Deterministic pseudo-random journeys (a 64-bit LCG), with values.
    fn random_journeys(seed: u64, n: usize) -> Vec<(Vec<&'static str>, u64, u64, f64)> {
        const CHANNELS: [&str; 5] = ["display", "email", "search", "social", "video"];
        let mut state = seed;
        let mut next = move |bound: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % bound
        };
        (0..n)
            .map(|_| {
                let len = 1 + next(5) as usize;
                let path = (0..len).map(|_| CHANNELS[next(5) as usize]).collect();
                let conversions = next(4);
                let nulls = next(6);
                let value = conversions as f64 * (1.0 + next(200) as f64 / 8.0);
                (path, conversions, nulls, value)
            })
            .collect()
    }

    /// Absorption in conversion and expected value, written out directly: every state of
    /// the order-`k` chain is a row of one dense system `x = r + Q x` (no components, no
    /// shortcuts), solved by Gaussian elimination with partial pivoting, removed states
    /// dropped (their inflow goes to null).
    fn exact_solve(
        journeys: &[(Vec<&str>, u64, u64, f64)],
        order: usize,
        removed: Option<&str>,
    ) -> (f64, f64) {
        let mut index: BTreeMap<Vec<&str>, usize> = BTreeMap::new();
        // states of journeys that are counted at least once
        for (path, ..) in journeys.iter().filter(|j| j.1 + j.2 > 0) {
            for j in 0..path.len() {
                let window = path[(j + 1).saturating_sub(order)..=j].to_vec();
                let n = index.len();
                index.entry(window).or_insert(n);
            }
        }
        let n = index.len();
        let mut moves = vec![vec![0.0; n]; n];
        let (mut conv, mut nulls, mut value) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let mut start = vec![0.0; n];
        for (path, c, u, v) in journeys {
            let weight = (c + u) as f64;
            if path.is_empty() || weight == 0.0 {
                continue;
            }
            let states: Vec<usize> = (0..path.len())
                .map(|j| index[&path[(j + 1).saturating_sub(order)..=j].to_vec()])
                .collect();
            start[states[0]] += weight;
            for w in states.windows(2) {
                moves[w[0]][w[1]] += weight;
            }
            let last = states[states.len() - 1];
            conv[last] += *c as f64;
            nulls[last] += *u as f64;
            value[last] += v;
        }
        let mut alive = vec![true; n];
        for (w, &i) in &index {
            alive[i] = removed.is_none_or(|r| !w.contains(&r));
        }
        let live: Vec<usize> = (0..n).filter(|&i| alive[i]).collect();
        let m = live.len();
        let solve = |reward: &[f64]| -> Vec<f64> {
            // rows: [I − Q | r] over live states
            let mut a = vec![vec![0.0; m + 1]; m];
            for (r, &s) in live.iter().enumerate() {
                let total: f64 = moves[s].iter().sum::<f64>() + conv[s] + nulls[s];
                a[r][r] += 1.0;
                for (c, &t) in live.iter().enumerate() {
                    a[r][c] -= moves[s][t] / total;
                }
                a[r][m] = reward[s] / total;
            }
            for col in 0..m {
                let pivot = (col..m)
                    .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
                    .unwrap_or(col);
                a.swap(col, pivot);
                let pivot_row = a[col].clone();
                for (r, row) in a.iter_mut().enumerate() {
                    if r != col {
                        let f = row[col] / pivot_row[col];
                        for (x, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                            *x -= f * p;
                        }
                    }
                }
            }
            (0..m).map(|r| a[r][m] / a[r][r]).collect()
        };
        let (p, e) = (solve(&conv), solve(&value));
        let start_total: f64 = start.iter().sum();
        let mut out = (0.0, 0.0);
        for (r, &s) in live.iter().enumerate() {
            out.0 += start[s] / start_total * p[r];
            out.1 += start[s] / start_total * e[r];
        }
        out
    }

    #[test]
    fn value_weighted_effects_equal_an_exact_linear_solve() -> Result<()> {
        for seed in [1, 2, 3] {
            let journeys = random_journeys(seed, 60);
            for order in 1..=3 {
                let effects = value_removal_effects(&journeys, order)?;
                let (p, e) = exact_solve(&journeys, order, None);
                assert!(p > 0.0 && e > 0.0);
                assert_eq!(effects.len(), 5);
                for (channel, effect, value_effect) in &effects {
                    let (p_without, e_without) = exact_solve(&journeys, order, Some(channel));
                    let (want, want_value) = (1.0 - p_without / p, 1.0 - e_without / e);
                    assert!(
                        (effect - want).abs() < 1e-9,
                        "seed {seed} order {order} {channel}: {effect} vs {want}"
                    );
                    assert!(
                        (value_effect - want_value).abs() < 1e-9,
                        "seed {seed} order {order} {channel}: value {value_effect} vs {want_value}"
                    );
                }
                // the value game is another game: some channel's effect differs
                assert!(effects.iter().any(|e| (e.1 - e.2).abs() > 1e-6));
            }
        }
        Ok(())
    }

    #[test]
    fn corrupt_state_is_an_error_not_a_panic() -> Result<()> {
        let mut acc = MarkovAccumulator::new(1, false);
        acc.update_batch(&batch(&[(Some(&["a"]), Some(true))]))?;
        let mut state: Vec<ArrayRef> = acc
            .state()?
            .iter()
            .map(|s| s.to_array())
            .collect::<Result<_>>()?;
        let names: StringArray = vec![Some("a")].into_iter().collect();
        state[0] = single_list(item_field(DataType::Utf8), Arc::new(names))?.to_array()?;
        let bad = ListArray::try_new(
            item_field(DataType::UInt32),
            OffsetBuffer::from_lengths([1]),
            Arc::new(UInt32Array::from(vec![5])),
            None,
        )?;
        state[1] = single_list(item_field(list_of(DataType::UInt32)), Arc::new(bad))?.to_array()?;
        let mut merged = MarkovAccumulator::new(1, false);
        assert!(merged.merge_batch(&state).is_err());
        assert!(merged.merge_batch(&state[..2]).is_err());
        Ok(())
    }
}
