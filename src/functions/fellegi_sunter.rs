//! Fellegi–Sunter record linkage without labels: the aggregate
//! `fellegi_sunter_em(levels, role [, total_pairs [, max_iterations]])`, which learns the
//! prior match probability λ and, per comparison level, m = P(level | match) and
//! u = P(level | non-match) by expectation–maximisation, and the scalar
//! `fellegi_sunter_score(levels, parameters)`, which turns a pair's levels into a match weight
//! (bits) and a match probability.
//!
//! The model. A record pair is described by one level per comparison (0 = the values
//! disagree, higher = closer agreement, NULL = a side has no value and the comparison says
//! nothing). Comparisons are independent given the match status, so a pair's likelihood
//! ratio is the product of its levels' `m/u`, and its match weight
//! `log2(λ/(1−λ)) + Σ log2(m/u)`.
//!
//! Rows have a role. `candidate` pairs (the blocked pairs the matcher will score) are the
//! mixture EM fits; `random` pairs (records paired at random: nearly all non-matches) fix u
//! to their level frequencies; `match` pairs (known matches, from deterministic rules) seed m.
//! When `total_pairs` is given (every pair the candidates were drawn from, e.g. n(n−1)/2),
//! pairs outside the candidates are taken as non-matches, so λ is the probability that two
//! records drawn at random match, as in Splink: blocking then explains why candidates agree
//! on their blocking keys, and the weights stay those of the whole population.
//!
//! Determinism. The accumulator keeps only counts of identical (role, level vector) rows: a
//! sufficient statistic whose merge is integer addition, whose size is bounded by the number
//! of distinct level vectors (not of pairs), and which is sorted before iterating, so the
//! floating-point sums run in one order whatever the partitioning or thread count.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Float64Builder, Int8Array, Int64Array,
    ListArray, ListBuilder, StructArray, UInt64Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Int8Type, UInt64Type};
use datafusion::common::hash_map::EntryRef;
use datafusion::common::{HashMap, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};

use super::markov::{item_field, list_of, literal_arg};
use super::strings::StrCol;

/// Default `max_iterations`.
pub const DEFAULT_MAX_ITERATIONS: usize = 100;
/// Highest `max_iterations` accepted.
pub const MAX_ITERATIONS: usize = 10_000;
/// EM stops once no parameter moves more than this between two iterations (m and u in
/// absolute terms, λ relative to itself, as it can be 1e-6).
pub const TOLERANCE: f64 = 1e-6;
/// Highest level accepted (levels are stored in one byte).
pub const MAX_LEVEL: i64 = 100;
/// λ is kept in `[LAMBDA_FLOOR, 1 − LAMBDA_FLOOR]` so that its log-odds stay finite.
const LAMBDA_FLOOR: f64 = 1e-15;

const ROLES: [&str; 3] = ["candidate", "random", "match"];
const CANDIDATE: usize = 0;
const RANDOM: usize = 1;
const MATCH: usize = 2;

/// Counts of one distinct level vector, by role.
type RoleCounts = [u64; 3];

/// The parameters of one comparison level.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelParameters {
    /// 1-based position of the comparison in the level lists.
    pub comparison: usize,
    pub level: usize,
    pub m: f64,
    pub u: f64,
    /// `log2(m / u)`.
    pub match_weight: f64,
    pub candidate_pairs: u64,
    pub random_pairs: u64,
    pub match_pairs: u64,
    /// Σ over candidate pairs at this level of their match probability (last E-step).
    pub expected_matches: f64,
}

/// What `fellegi_sunter_em` learns.
#[derive(Debug, Clone, PartialEq)]
pub struct FsParameters {
    pub lambda: f64,
    /// `log2(λ / (1 − λ))`.
    pub prior_weight: f64,
    pub iterations: usize,
    /// The largest parameter change of the last iteration.
    pub max_change: f64,
    pub converged: bool,
    pub candidate_pairs: u64,
    pub random_pairs: u64,
    pub match_pairs: u64,
    /// The population the candidates were drawn from (`total_pairs`, or the candidates).
    pub total_pairs: f64,
    pub expected_matches: f64,
    /// Comparison by comparison, level by level.
    pub levels: Vec<LevelParameters>,
}

/// EM on counted level vectors: `rows` holds each distinct vector (`None` = missing) with
/// its counts by role (candidate, random, match). See the module documentation.
pub fn estimate(
    rows: &[(Vec<Option<u8>>, RoleCounts)],
    total_pairs: Option<f64>,
    max_iterations: usize,
) -> Result<FsParameters> {
    let width = rows.first().map_or(0, |r| r.0.len());
    if let Some(r) = rows.iter().find(|r| r.0.len() != width) {
        return exec_err!(
            "fellegi_sunter_em: every levels list must have the same length, got {width} and {}",
            r.0.len()
        );
    }
    // Levels per comparison: the highest level seen + 1.
    let mut n_levels = vec![0usize; width];
    for (key, _) in rows {
        for (c, l) in key.iter().enumerate() {
            if let Some(l) = l {
                n_levels[c] = n_levels[c].max(*l as usize + 1);
            }
        }
    }
    let mut counts = vec![vec![[0u64; 3]; 0]; width];
    for (c, n) in n_levels.iter().enumerate() {
        counts[c] = vec![[0u64; 3]; *n];
    }
    let mut totals = [0u64; 3];
    for (key, rc) in rows {
        for r in 0..3 {
            totals[r] += rc[r];
        }
        for (c, l) in key.iter().enumerate() {
            if let Some(l) = l {
                for r in 0..3 {
                    counts[c][*l as usize][r] += rc[r];
                }
            }
        }
    }
    let n_cand = totals[CANDIDATE] as f64;
    let u_fixed = totals[RANDOM] > 0;
    let total = match total_pairs {
        Some(t) if !t.is_finite() || t < n_cand => {
            return exec_err!(
                "fellegi_sunter_em: total_pairs ({t}) must be a number at least the number of candidate pairs ({n_cand})"
            );
        }
        Some(_) if !u_fixed && totals[CANDIDATE] > 0 => {
            return exec_err!(
                "fellegi_sunter_em: with total_pairs, u must come from random pairs (rows with role 'random'); there are none"
            );
        }
        Some(t) => t,
        None => n_cand,
    };
    // Laplace-smoothed frequencies: a level never seen keeps a finite weight.
    let smoothed = |c: usize, r: usize| -> Vec<f64> {
        let n: u64 = counts[c].iter().map(|x| x[r]).sum();
        let l = counts[c].len() as f64;
        counts[c]
            .iter()
            .map(|x| (x[r] as f64 + 1.0) / (n as f64 + l))
            .collect()
    };
    let mut u: Vec<Vec<f64>> = (0..width)
        .map(|c| smoothed(c, if u_fixed { RANDOM } else { CANDIDATE }))
        .collect();
    let mut m: Vec<Vec<f64>> = (0..width)
        .map(|c| {
            let known: u64 = counts[c].iter().map(|x| x[MATCH]).sum();
            if known > 0 {
                smoothed(c, MATCH)
            } else {
                // no known match: a ladder where each level is four times as likely among
                // matches as the one below it (agreement is what matches do)
                let w: Vec<f64> = (0..counts[c].len()).map(|k| 4f64.powi(k as i32)).collect();
                let s: f64 = w.iter().sum();
                w.into_iter().map(|x| x / s).collect()
            }
        })
        .collect();
    let clamp = |x: f64| x.clamp(LAMBDA_FLOOR, 1.0 - LAMBDA_FLOOR);
    let mut lambda = clamp(if n_cand > 0.0 {
        0.5 * n_cand / total
    } else {
        0.0
    });
    let cand_rows: Vec<&(Vec<Option<u8>>, RoleCounts)> =
        rows.iter().filter(|r| r.1[CANDIDATE] > 0).collect();
    // Random pairs drawn from the population of `total_pairs` include matches (about one in
    // n for n records), which would inflate u: with a population, each random pair counts
    // for u with its probability of not being a match.
    let discount = u_fixed && total_pairs.is_some();
    let rand_rows: Vec<&(Vec<Option<u8>>, RoleCounts)> = rows
        .iter()
        .filter(|r| discount && r.1[RANDOM] > 0)
        .collect();
    let mut iterations = 0;
    let mut max_change = 0.0;
    let mut converged = cand_rows.is_empty();
    let mut exp_level: Vec<Vec<f64>> = n_levels.iter().map(|n| vec![0.0; *n]).collect();
    let mut expected = 0.0;
    let weight_of = |key: &[Option<u8>], m: &[Vec<f64>], u: &[Vec<f64>]| -> f64 {
        key.iter()
            .enumerate()
            .filter_map(|(c, l)| l.map(|l| (m[c][l as usize] / u[c][l as usize]).log2()))
            .sum()
    };
    while !converged && iterations < max_iterations {
        iterations += 1;
        // E-step: each candidate vector's match probability, summed by level.
        let prior = (lambda / (1.0 - lambda)).log2();
        let mut e_match: Vec<Vec<f64>> = n_levels.iter().map(|n| vec![0.0; *n]).collect();
        let mut e_non: Vec<Vec<f64>> = n_levels.iter().map(|n| vec![0.0; *n]).collect();
        let mut s = 0.0;
        for (key, rc) in &cand_rows {
            let p = probability(prior + weight_of(key, &m, &u));
            let n = rc[CANDIDATE] as f64;
            s += n * p;
            for (c, l) in key.iter().enumerate() {
                if let Some(l) = l {
                    e_match[c][*l as usize] += n * p;
                    e_non[c][*l as usize] += n * (1.0 - p);
                }
            }
        }
        let mut e_rand: Vec<Vec<f64>> = n_levels.iter().map(|n| vec![0.0; *n]).collect();
        for (key, rc) in &rand_rows {
            let p = probability(prior + weight_of(key, &m, &u));
            let n = rc[RANDOM] as f64;
            for (c, l) in key.iter().enumerate() {
                if let Some(l) = l {
                    e_rand[c][*l as usize] += n * (1.0 - p);
                }
            }
        }
        // M-step.
        let new_lambda = clamp(s / total);
        let mut change = (new_lambda - lambda).abs() / lambda;
        for c in 0..width {
            let update = |e: &[f64], old: &mut Vec<f64>| -> f64 {
                let n: f64 = e.iter().sum();
                if n <= 0.0 {
                    // no candidate pair says anything about this comparison: keep the seed
                    return 0.0;
                }
                let l = e.len() as f64;
                let mut d: f64 = 0.0;
                for (k, x) in old.iter_mut().enumerate() {
                    let v = (e[k] + 1.0) / (n + l);
                    d = d.max((v - *x).abs());
                    *x = v;
                }
                d
            };
            change = change.max(update(&e_match[c], &mut m[c]));
            if !u_fixed {
                change = change.max(update(&e_non[c], &mut u[c]));
            } else if discount {
                change = change.max(update(&e_rand[c], &mut u[c]));
            }
        }
        lambda = new_lambda;
        exp_level = e_match;
        expected = s;
        max_change = change;
        converged = change < TOLERANCE;
    }
    let mut levels = Vec::new();
    for c in 0..width {
        for k in 0..n_levels[c] {
            levels.push(LevelParameters {
                comparison: c + 1,
                level: k,
                m: m[c][k],
                u: u[c][k],
                match_weight: (m[c][k] / u[c][k]).log2(),
                candidate_pairs: counts[c][k][CANDIDATE],
                random_pairs: counts[c][k][RANDOM],
                match_pairs: counts[c][k][MATCH],
                expected_matches: exp_level[c][k],
            });
        }
    }
    Ok(FsParameters {
        lambda,
        prior_weight: (lambda / (1.0 - lambda)).log2(),
        iterations,
        max_change,
        converged,
        candidate_pairs: totals[CANDIDATE],
        random_pairs: totals[RANDOM],
        match_pairs: totals[MATCH],
        total_pairs: total,
        expected_matches: expected,
        levels,
    })
}

/// `2^w / (1 + 2^w)`, computed without overflow.
pub fn probability(weight: f64) -> f64 {
    if weight >= 0.0 {
        1.0 / (1.0 + (-weight).exp2())
    } else {
        let x = weight.exp2();
        x / (1.0 + x)
    }
}

// ---------------------------------------------------------------------------
// The aggregate.
// ---------------------------------------------------------------------------

/// `fellegi_sunter_em(levels, role [, total_pairs [, max_iterations]])`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FellegiSunterEm {
    signature: Signature,
}

impl Default for FellegiSunterEm {
    fn default() -> Self {
        Self::new()
    }
}

fn level_fields() -> Fields {
    Fields::from(vec![
        Field::new("comparison", DataType::Int64, false),
        Field::new("level", DataType::Int64, false),
        Field::new("m", DataType::Float64, false),
        Field::new("u", DataType::Float64, false),
        Field::new("match_weight", DataType::Float64, false),
        Field::new("candidate_pairs", DataType::Int64, false),
        Field::new("random_pairs", DataType::Int64, false),
        Field::new("match_pairs", DataType::Int64, false),
        Field::new("expected_matches", DataType::Float64, false),
    ])
}

fn output_fields() -> Fields {
    Fields::from(vec![
        Field::new("lambda", DataType::Float64, false),
        Field::new("prior_weight", DataType::Float64, false),
        Field::new("iterations", DataType::Int64, false),
        Field::new("max_change", DataType::Float64, false),
        Field::new("converged", DataType::Boolean, false),
        Field::new("candidate_pairs", DataType::Int64, false),
        Field::new("random_pairs", DataType::Int64, false),
        Field::new("match_pairs", DataType::Int64, false),
        Field::new("total_pairs", DataType::Float64, false),
        Field::new("expected_matches", DataType::Float64, false),
        Field::new(
            "parameters",
            DataType::List(item_field(DataType::Struct(level_fields()))),
            false,
        ),
    ])
}

impl FellegiSunterEm {
    pub(crate) const NAME: &'static str = "fellegi_sunter_em";

    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    /// The struct the aggregate returns.
    pub fn output_type() -> DataType {
        DataType::Struct(output_fields())
    }
}

/// `List<Int64>` from any list of integers (or NULLs).
fn coerce_levels(fn_name: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Null => Ok(list_of(DataType::Int64)),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)
            if f.data_type().is_integer() || f.data_type() == &DataType::Null =>
        {
            Ok(list_of(DataType::Int64))
        }
        t => plan_err!("{fn_name} expects a list of integer levels, got {t}"),
    }
}

impl AggregateUDFImpl for FellegiSunterEm {
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
        let max_iterations = literal_arg(&acc_args, Self::NAME, 3)?;
        Ok(Box::new(EmAccumulator {
            max_iterations,
            ..Default::default()
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "width"),
                DataType::Int64,
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "keys"),
                list_of(DataType::Int8),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "counts"),
                list_of(DataType::UInt64),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "total_pairs"),
                DataType::Float64,
                true,
            )),
        ])
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = Self::NAME;
        if !(2..=4).contains(&arg_types.len()) {
            return plan_err!(
                "{name} expects (levels, role [, total_pairs [, max_iterations]]), got {} arguments",
                arg_types.len()
            );
        }
        let mut out = vec![coerce_levels(name, &arg_types[0])?];
        match &arg_types[1] {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
                out.push(DataType::Utf8)
            }
            DataType::Dictionary(_, v) if v.is_string() => out.push(DataType::Utf8),
            t => return plan_err!("{name}: role must be a string, got {t}"),
        }
        if let Some(t) = arg_types.get(2) {
            if !(t.is_numeric() || t == &DataType::Null) {
                return plan_err!("{name}: total_pairs must be a number, got {t}");
            }
            out.push(DataType::Float64);
        }
        if let Some(t) = arg_types.get(3) {
            if !(t.is_integer() || t == &DataType::Null) {
                return plan_err!("{name}: max_iterations must be an integer, got {t}");
            }
            out.push(DataType::Int64);
        }
        Ok(out)
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
}

/// Level vectors (−1 = missing) with their counts by role.
#[derive(Debug, Default)]
struct EmAccumulator {
    max_iterations: usize,
    width: Option<usize>,
    counts: HashMap<Box<[i8]>, RoleCounts>,
    total_pairs: Option<f64>,
    scratch: Vec<i8>,
}

impl EmAccumulator {
    fn check_width(&mut self, w: usize) -> Result<()> {
        match self.width {
            Some(x) if x != w => exec_err!(
                "fellegi_sunter_em: every levels list must have the same length, got {x} and {w}"
            ),
            _ => {
                self.width = Some(w);
                Ok(())
            }
        }
    }

    fn add(&mut self, role: usize, n: u64) {
        let c = match self.counts.entry_ref(self.scratch.as_slice()) {
            EntryRef::Occupied(e) => e.into_mut(),
            EntryRef::Vacant(v) => v.insert_with_key(Box::from(self.scratch.as_slice()), [0; 3]),
        };
        c[role] = c[role].saturating_add(n);
    }

    fn add_total(&mut self, t: f64) {
        self.total_pairs = Some(self.total_pairs.map_or(t, |x| x.max(t)));
    }
}

impl Accumulator for EmAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let name = FellegiSunterEm::NAME;
        let (Some(levels), Some(roles)) = (values.first(), values.get(1)) else {
            return exec_err!("{name} expects (levels, role [, total_pairs [, max_iterations]])");
        };
        let levels = match levels.data_type() {
            DataType::List(f) if f.data_type() == &DataType::Int64 => Arc::clone(levels),
            _ => cast(levels, &list_of(DataType::Int64))?,
        };
        let Some(levels) = levels.as_list_opt::<i32>() else {
            return exec_err!("{name}: levels must be a list of integers");
        };
        let Some(items) = levels
            .values()
            .as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>()
        else {
            return exec_err!("{name}: levels must be a list of integers");
        };
        let roles = StrCol::new(roles)?;
        if let Some(t) = values.get(2) {
            let t = cast(t, &DataType::Float64)?;
            let t = t.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
            if let Some(max) = t.iter().flatten().reduce(f64::max) {
                self.add_total(max);
            }
        }
        let offsets = levels.value_offsets();
        for row in 0..levels.len() {
            if levels.is_null(row) {
                continue;
            }
            let Some(role) = roles.get(row) else {
                continue;
            };
            let Some(r) = ROLES.iter().position(|x| *x == role) else {
                return exec_err!(
                    "{name}: role must be 'candidate', 'random' or 'match', got '{role}'"
                );
            };
            let (lo, hi) = (offsets[row] as usize, offsets[row + 1] as usize);
            self.check_width(hi - lo)?;
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            for j in lo..hi {
                if items.is_null(j) {
                    scratch.push(-1);
                    continue;
                }
                let v = items.value(j);
                if !(0..=MAX_LEVEL).contains(&v) {
                    return exec_err!(
                        "{name}: a level must be between 0 and {MAX_LEVEL} (or NULL), got {v} for comparison {}",
                        j - lo + 1
                    );
                }
                scratch.push(v as i8);
            }
            self.scratch = scratch;
            self.add(r, 1);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        // canonical order: the sums of EM run in key order whatever the merge order
        let sorted: BTreeMap<&[i8], &RoleCounts> =
            self.counts.iter().map(|(k, v)| (k.as_ref(), v)).collect();
        let rows: Vec<(Vec<Option<u8>>, RoleCounts)> = sorted
            .into_iter()
            .map(|(k, v)| {
                let key = k.iter().map(|&l| u8::try_from(l).ok()).collect::<Vec<_>>();
                (key, *v)
            })
            .collect();
        let p = estimate(&rows, self.total_pairs, self.max_iterations)?;
        to_scalar(&p)
    }

    fn size(&self) -> usize {
        size_of::<Self>()
            + self.counts.capacity()
                * (size_of::<Box<[i8]>>() + size_of::<RoleCounts>() + 1 + self.width.unwrap_or(0))
            + self.scratch.capacity()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut keys = Vec::with_capacity(self.counts.len() * self.width.unwrap_or(0));
        let mut counts = Vec::with_capacity(self.counts.len() * 3);
        for (k, c) in &self.counts {
            keys.extend_from_slice(k);
            counts.extend_from_slice(c);
        }
        let list = |item: DataType, values: ArrayRef| -> Result<ScalarValue> {
            let offsets = OffsetBuffer::from_lengths([values.len()]);
            let list = ListArray::try_new(item_field(item), offsets, values, None)?;
            Ok(ScalarValue::List(Arc::new(list)))
        };
        Ok(vec![
            ScalarValue::Int64(self.width.map(|w| w as i64)),
            list(DataType::Int8, Arc::new(Int8Array::from(keys)))?,
            list(DataType::UInt64, Arc::new(UInt64Array::from(counts)))?,
            ScalarValue::Float64(self.total_pairs),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let name = FellegiSunterEm::NAME;
        let [width, keys, counts, total] = states else {
            return exec_err!("{name}: expected 4 state columns");
        };
        let (Some(width), Some(keys), Some(counts), Some(total)) = (
            width.as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>(),
            keys.as_list_opt::<i32>(),
            counts.as_list_opt::<i32>(),
            total.as_primitive_opt::<datafusion::arrow::datatypes::Float64Type>(),
        ) else {
            return exec_err!("{name}: bad partial state types");
        };
        for row in 0..width.len() {
            if total.is_valid(row) {
                self.add_total(total.value(row));
            }
            if width.is_null(row) || keys.is_null(row) || counts.is_null(row) {
                continue;
            }
            let Ok(w) = usize::try_from(width.value(row)) else {
                return exec_err!("{name}: bad partial state width");
            };
            self.check_width(w)?;
            let k = keys.value(row);
            let c = counts.value(row);
            let (Some(k), Some(c)) = (
                k.as_primitive_opt::<Int8Type>(),
                c.as_primitive_opt::<UInt64Type>(),
            ) else {
                return exec_err!("{name}: bad partial state types");
            };
            let n = c.len() / 3;
            if c.len() % 3 != 0 || k.len() != n * w {
                return exec_err!("{name}: inconsistent partial state");
            }
            for i in 0..n {
                self.scratch.clear();
                self.scratch
                    .extend_from_slice(&k.values()[i * w..(i + 1) * w]);
                for r in 0..3 {
                    let v = c.value(i * 3 + r);
                    if v > 0 {
                        self.add(r, v);
                    }
                }
            }
        }
        Ok(())
    }
}

fn to_scalar(p: &FsParameters) -> Result<ScalarValue> {
    let l = &p.levels;
    let int = |f: &dyn Fn(&LevelParameters) -> i64| -> ArrayRef {
        Arc::new(l.iter().map(f).collect::<Int64Array>())
    };
    let float = |f: &dyn Fn(&LevelParameters) -> f64| -> ArrayRef {
        Arc::new(l.iter().map(f).collect::<Float64Array>())
    };
    let entries = StructArray::try_new(
        level_fields(),
        vec![
            int(&|x| x.comparison as i64),
            int(&|x| x.level as i64),
            float(&|x| x.m),
            float(&|x| x.u),
            float(&|x| x.match_weight),
            int(&|x| x.candidate_pairs as i64),
            int(&|x| x.random_pairs as i64),
            int(&|x| x.match_pairs as i64),
            float(&|x| x.expected_matches),
        ],
        None,
    )?;
    let offsets = OffsetBuffer::from_lengths([entries.len()]);
    let list = ListArray::try_new(
        item_field(DataType::Struct(level_fields())),
        offsets,
        Arc::new(entries),
        None,
    )?;
    let one_f = |v: f64| -> ArrayRef { Arc::new(Float64Array::from(vec![v])) };
    let one_i = |v: u64| -> ArrayRef { Arc::new(Int64Array::from(vec![v as i64])) };
    let s = StructArray::try_new(
        output_fields(),
        vec![
            one_f(p.lambda),
            one_f(p.prior_weight),
            one_i(p.iterations as u64),
            one_f(p.max_change),
            Arc::new(BooleanArray::from(vec![p.converged])),
            one_i(p.candidate_pairs),
            one_i(p.random_pairs),
            one_i(p.match_pairs),
            one_f(p.total_pairs),
            one_f(p.expected_matches),
            Arc::new(list),
        ],
        None,
    )?;
    Ok(ScalarValue::Struct(Arc::new(s)))
}

// ---------------------------------------------------------------------------
// The scalar.
// ---------------------------------------------------------------------------

/// `fellegi_sunter_score(levels, parameters)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct FellegiSunterScore {
    signature: Signature,
}

impl FellegiSunterScore {
    pub(crate) const NAME: &'static str = "fellegi_sunter_score";

    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn output_fields() -> Fields {
        Fields::from(vec![
            Field::new("match_weight", DataType::Float64, true),
            Field::new("match_probability", DataType::Float64, true),
            Field::new("comparison_weights", list_of(DataType::Float64), true),
        ])
    }
}

/// Level weights (`[comparison − 1][level]`) and the prior weight, read from one row of a
/// parameters struct (`lambda`, `parameters: List<Struct<comparison, level, match_weight>>`).
#[derive(Debug, Default, PartialEq)]
struct Weights {
    prior: f64,
    table: Vec<Vec<Option<f64>>>,
}

struct ParamCols<'a> {
    lambda: Float64Array,
    list: &'a ListArray,
    comparison: Int64Array,
    level: Int64Array,
    weight: Float64Array,
    valid: Option<datafusion::arrow::buffer::NullBuffer>,
}

impl<'a> ParamCols<'a> {
    fn new(params: &'a StructArray) -> Result<Self> {
        let name = FellegiSunterScore::NAME;
        let field = |s: &'a StructArray, f: &str| -> Result<&'a ArrayRef> {
            match s.column_by_name(f) {
                Some(c) => Ok(c),
                None => exec_err!(
                    "{name}: the parameters must have a field `{f}` (pass the struct fellegi_sunter_em returns)"
                ),
            }
        };
        let lambda = cast(field(params, "lambda")?, &DataType::Float64)?
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
            .clone();
        let Some(list) = field(params, "parameters")?.as_list_opt::<i32>() else {
            return exec_err!("{name}: `parameters` must be a list of structs");
        };
        let Some(entries) = list.values().as_struct_opt() else {
            return exec_err!("{name}: `parameters` must be a list of structs");
        };
        let ints = |f: &str| -> Result<Int64Array> {
            Ok(cast(field(entries, f)?, &DataType::Int64)?
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .clone())
        };
        Ok(Self {
            lambda,
            list,
            comparison: ints("comparison")?,
            level: ints("level")?,
            weight: cast(field(entries, "match_weight")?, &DataType::Float64)?
                .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                .clone(),
            valid: params.nulls().cloned(),
        })
    }

    /// Row `i`'s weights into `out`; false when the row is NULL.
    fn read(&self, i: usize, out: &mut Weights) -> Result<bool> {
        let name = FellegiSunterScore::NAME;
        if self.valid.as_ref().is_some_and(|v| v.is_null(i))
            || self.lambda.is_null(i)
            || self.list.is_null(i)
        {
            return Ok(false);
        }
        let lambda = self.lambda.value(i);
        if !(lambda > 0.0 && lambda < 1.0) {
            return exec_err!("{name}: lambda must be in (0, 1), got {lambda}");
        }
        out.prior = (lambda / (1.0 - lambda)).log2();
        out.table.iter_mut().for_each(|t| t.clear());
        let offsets = self.list.value_offsets();
        for j in offsets[i] as usize..offsets[i + 1] as usize {
            if self.comparison.is_null(j) || self.level.is_null(j) || self.weight.is_null(j) {
                continue;
            }
            let (c, l) = (self.comparison.value(j), self.level.value(j));
            let (Ok(c), Ok(l)) = (usize::try_from(c - 1), usize::try_from(l)) else {
                return exec_err!("{name}: comparison {c} level {l} is out of range");
            };
            if c > 1000 || l > MAX_LEVEL as usize {
                return exec_err!("{name}: comparison {} level {l} is out of range", c + 1);
            }
            if out.table.len() <= c {
                out.table.resize_with(c + 1, Vec::new);
            }
            let t = &mut out.table[c];
            if t.len() <= l {
                t.resize(l + 1, None);
            }
            t[l] = Some(self.weight.value(j));
        }
        Ok(true)
    }
}

impl ScalarUDFImpl for FellegiSunterScore {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let (levels, params, adjust) = match arg_types {
            [l, p] => (l, p, None),
            [l, p, a] => (l, p, Some(a)),
            _ => {
                return plan_err!(
                    "{} expects (levels, parameters [, adjustments]), got {} arguments",
                    Self::NAME,
                    arg_types.len()
                );
            }
        };
        let mut out = vec![coerce_levels(Self::NAME, levels)?];
        match params {
            DataType::Struct(_) => out.push(params.clone()),
            t => {
                return plan_err!(
                    "{}: parameters must be the struct fellegi_sunter_em returns, got {t}",
                    Self::NAME
                );
            }
        }
        match adjust {
            None => {}
            Some(DataType::Null) => out.push(list_of(DataType::Float64)),
            Some(DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _))
                if f.data_type().is_numeric() || f.data_type() == &DataType::Null =>
            {
                out.push(list_of(DataType::Float64))
            }
            Some(t) => {
                return plan_err!(
                    "{}: adjustments must be a list of numbers (bits per comparison), got {t}",
                    Self::NAME
                );
            }
        }
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(Self::output_fields()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = Self::NAME;
        let n = args.number_rows;
        let (levels, params, adjust) = match args.args.as_slice() {
            [l, p] => (l, p, None),
            [l, p, a] => (l, p, Some(a)),
            _ => return exec_err!("{name} expects 2 or 3 arguments"),
        };
        // bits added to each comparison's weight (term-frequency adjustments); NULL adds 0
        let adjust = match adjust {
            Some(a) => Some(cast(&a.to_array(n)?, &list_of(DataType::Float64))?),
            None => None,
        };
        let adjust = match &adjust {
            Some(a) => match a.as_list_opt::<i32>() {
                Some(l) => Some(l),
                None => return exec_err!("{name}: adjustments must be a list of numbers"),
            },
            None => None,
        };
        let adjust_items = adjust.map(|l| {
            l.values()
                .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
        });
        let levels = levels.to_array(n)?;
        let levels = cast(&levels, &list_of(DataType::Int64))?;
        let Some(levels) = levels.as_list_opt::<i32>() else {
            return exec_err!("{name}: levels must be a list of integers");
        };
        let items = levels
            .values()
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        // A literal or constant parameters struct is read once, not once per row.
        let constant = matches!(params, ColumnarValue::Scalar(_));
        let params = params.to_array(if constant { 1 } else { n })?;
        let Some(params) = params.as_struct_opt() else {
            return exec_err!("{name}: parameters must be a struct");
        };
        let cols = ParamCols::new(params)?;
        let mut w = Weights::default();
        let mut have = false;
        if constant {
            have = cols.read(0, &mut w)?;
        }
        let mut weight = Float64Builder::with_capacity(n);
        let mut prob = Float64Builder::with_capacity(n);
        let mut per = ListBuilder::new(Float64Builder::new());
        let offsets = levels.value_offsets();
        for i in 0..n {
            if !constant {
                have = cols.read(i, &mut w)?;
            }
            if !have || levels.is_null(i) {
                weight.append_null();
                prob.append_null();
                per.append_null();
                continue;
            }
            let mut total = w.prior;
            let adj_range = match adjust {
                Some(l) if l.is_valid(i) => {
                    l.value_offsets()[i] as usize..l.value_offsets()[i + 1] as usize
                }
                _ => 0..0,
            };
            for (c, j) in (offsets[i] as usize..offsets[i + 1] as usize).enumerate() {
                if items.is_null(j) {
                    per.values().append_null();
                    continue;
                }
                let bonus = match adjust_items {
                    Some(v) if c < adj_range.len() && v.is_valid(adj_range.start + c) => {
                        v.value(adj_range.start + c)
                    }
                    _ => 0.0,
                };
                let l = items.value(j);
                let x = usize::try_from(l)
                    .ok()
                    .and_then(|l| w.table.get(c).and_then(|t| t.get(l)).copied().flatten());
                let Some(x) = x else {
                    return exec_err!(
                        "{name}: comparison {} has no parameter for level {l}",
                        c + 1
                    );
                };
                total += x + bonus;
                per.values().append_value(x + bonus);
            }
            per.append(true);
            weight.append_value(total);
            prob.append_value(probability(total));
        }
        let out = StructArray::try_new(
            Self::output_fields(),
            vec![
                Arc::new(weight.finish()),
                Arc::new(prob.finish()),
                Arc::new(per.finish()),
            ],
            None,
        )?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An independent EM: every pair one by one (no counting of identical vectors), in
    /// plain loops, from the same starting point and with the same smoothing.
    fn naive_em(
        pairs: &[(Vec<Option<u8>>, usize)],
        total: Option<f64>,
        iterations: usize,
    ) -> (f64, Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let w = pairs[0].0.len();
        let levels: Vec<usize> = (0..w)
            .map(|c| {
                pairs
                    .iter()
                    .filter_map(|p| p.0[c])
                    .max()
                    .map_or(0, |l| l as usize + 1)
            })
            .collect();
        let freq = |role: usize, c: usize| -> Vec<f64> {
            let mut n = vec![0.0; levels[c]];
            for p in pairs.iter().filter(|p| p.1 == role) {
                if let Some(l) = p.0[c] {
                    n[l as usize] += 1.0;
                }
            }
            let s: f64 = n.iter().sum();
            n.iter()
                .map(|x| (x + 1.0) / (s + levels[c] as f64))
                .collect()
        };
        let has_random = pairs.iter().any(|p| p.1 == RANDOM);
        let has_match = pairs.iter().any(|p| p.1 == MATCH);
        let mut u: Vec<Vec<f64>> = (0..w)
            .map(|c| freq(if has_random { RANDOM } else { CANDIDATE }, c))
            .collect();
        let mut m: Vec<Vec<f64>> = (0..w)
            .map(|c| {
                if has_match {
                    freq(MATCH, c)
                } else {
                    let s: f64 = (0..levels[c]).map(|k| 4f64.powi(k as i32)).sum();
                    (0..levels[c]).map(|k| 4f64.powi(k as i32) / s).collect()
                }
            })
            .collect();
        let cands: Vec<&Vec<Option<u8>>> = pairs
            .iter()
            .filter(|p| p.1 == CANDIDATE)
            .map(|p| &p.0)
            .collect();
        let t = total.unwrap_or(cands.len() as f64);
        let mut lambda = 0.5 * cands.len() as f64 / t;
        for _ in 0..iterations {
            let post: Vec<f64> = cands
                .iter()
                .map(|v| {
                    let (mut pm, mut pu) = (lambda, 1.0 - lambda);
                    for (c, l) in v.iter().enumerate() {
                        if let Some(l) = l {
                            pm *= m[c][*l as usize];
                            pu *= u[c][*l as usize];
                        }
                    }
                    pm / (pm + pu)
                })
                .collect();
            // random pairs of a population count for u as non-matches, by probability
            let rand_post: Vec<(&Vec<Option<u8>>, f64)> = pairs
                .iter()
                .filter(|p| p.1 == RANDOM && total.is_some())
                .map(|(v, _)| {
                    let (mut pm, mut pu) = (lambda, 1.0 - lambda);
                    for (c, l) in v.iter().enumerate() {
                        if let Some(l) = l {
                            pm *= m[c][*l as usize];
                            pu *= u[c][*l as usize];
                        }
                    }
                    (v, pm / (pm + pu))
                })
                .collect();
            lambda = post.iter().sum::<f64>() / t;
            for c in 0..w {
                let mut em = vec![0.0; levels[c]];
                let mut eu = vec![0.0; levels[c]];
                for (v, p) in cands.iter().zip(&post) {
                    if let Some(l) = v[c] {
                        em[l as usize] += p;
                        eu[l as usize] += 1.0 - p;
                    }
                }
                let (sm, su): (f64, f64) = (em.iter().sum(), eu.iter().sum());
                let l = levels[c] as f64;
                if sm > 0.0 {
                    m[c] = em.iter().map(|x| (x + 1.0) / (sm + l)).collect();
                }
                if !has_random && su > 0.0 {
                    u[c] = eu.iter().map(|x| (x + 1.0) / (su + l)).collect();
                }
                let mut er = vec![0.0; levels[c]];
                for (v, p) in &rand_post {
                    if let Some(l) = v[c] {
                        er[l as usize] += 1.0 - p;
                    }
                }
                let sr: f64 = er.iter().sum();
                if sr > 0.0 {
                    u[c] = er.iter().map(|x| (x + 1.0) / (sr + l)).collect();
                }
            }
        }
        (lambda, m, u)
    }

    /// Counts identical vectors, as the accumulator does.
    fn counted(pairs: &[(Vec<Option<u8>>, usize)]) -> Vec<(Vec<Option<u8>>, RoleCounts)> {
        let mut map: BTreeMap<Vec<Option<u8>>, RoleCounts> = BTreeMap::new();
        for (v, r) in pairs {
            map.entry(v.clone()).or_default()[*r] += 1;
        }
        map.into_iter().collect()
    }

    /// A small world: 30 matches agreeing mostly, 70 non-matches agreeing rarely, on two
    /// comparisons of 2 and 3 levels (some values missing), plus random and known pairs.
    fn world() -> Vec<(Vec<Option<u8>>, usize)> {
        let mut pairs = Vec::new();
        for i in 0..30u8 {
            let a = if i % 10 == 0 { 0 } else { 1 };
            let b = if i % 7 == 0 {
                None
            } else {
                Some(2 - (i % 5 == 0) as u8)
            };
            pairs.push((vec![Some(a), b], CANDIDATE));
        }
        for i in 0..70u8 {
            let a = (i % 9 == 0) as u8;
            let b = Some(if i % 11 == 0 { 2 } else { (i % 4 == 0) as u8 });
            pairs.push((vec![Some(a), b], CANDIDATE));
        }
        pairs
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn one_iteration_by_hand() {
        // One comparison, two levels, u fixed by random pairs: 1 agree, 3 disagree → u =
        // (2/6, 4/6). No known match: m starts at (1/5, 4/5). λ0 = 0.5.
        // Candidates: 2 agree, 2 disagree.
        // Agree: w = log2((4/5)/(2/6)) = log2(2.4): p = 2.4/3.4 = 12/17.
        // Disagree: ratio (1/5)/(4/6) = 0.3: p = 0.3/1.3 = 3/13.
        // λ1 = (2·12/17 + 2·3/13)/4; m1(agree) = (2·12/17 + 1)/(2·12/17 + 2·3/13 + 2).
        let rows = counted(&[
            (vec![Some(1)], CANDIDATE),
            (vec![Some(1)], CANDIDATE),
            (vec![Some(0)], CANDIDATE),
            (vec![Some(0)], CANDIDATE),
            (vec![Some(1)], RANDOM),
            (vec![Some(0)], RANDOM),
            (vec![Some(0)], RANDOM),
            (vec![Some(0)], RANDOM),
        ]);
        let p = estimate(&rows, None, 1).expect("em");
        let (pa, pd) = (12.0 / 17.0, 3.0 / 13.0);
        assert!(close(p.lambda, (2.0 * pa + 2.0 * pd) / 4.0), "{p:?}");
        let m1 = (2.0 * pa + 1.0) / (2.0 * pa + 2.0 * pd + 2.0);
        assert!(close(p.levels[1].m, m1), "{p:?}");
        assert!(close(p.levels[0].m, 1.0 - m1));
        assert!(close(p.levels[1].u, 2.0 / 6.0));
        assert!(close(p.levels[1].match_weight, (m1 / (2.0 / 6.0)).log2()));
        assert_eq!(p.iterations, 1);
        assert!(!p.converged);
        assert_eq!(
            (p.candidate_pairs, p.random_pairs, p.match_pairs),
            (4, 4, 0)
        );
        assert_eq!(p.levels[1].candidate_pairs, 2);
        assert!(close(p.expected_matches, 2.0 * pa + 2.0 * pd));
    }

    #[test]
    fn agrees_with_an_independent_implementation() {
        let mut pairs = world();
        // u estimated by EM (no random pairs), classic mixture over the candidates
        for iterations in [1, 5, 40] {
            let p = estimate(&counted(&pairs), None, iterations).expect("em");
            let (lambda, m, u) = naive_em(&pairs, None, p.iterations);
            assert!(
                close(p.lambda, lambda),
                "{iterations}: {} {lambda}",
                p.lambda
            );
            for l in &p.levels {
                assert!(close(l.m, m[l.comparison - 1][l.level]), "{l:?}");
                assert!(close(l.u, u[l.comparison - 1][l.level]), "{l:?}");
            }
        }
        // u fixed from random pairs, m seeded from known matches, λ over a population
        for i in 0..200u8 {
            pairs.push((
                vec![Some((i % 40 == 0) as u8), Some((i % 25 == 0) as u8 * 2)],
                RANDOM,
            ));
        }
        for i in 0..10u8 {
            pairs.push((vec![Some(1), Some(if i == 0 { 1 } else { 2 })], MATCH));
        }
        let p = estimate(&counted(&pairs), Some(5000.0), 200).expect("em");
        let (lambda, m, u) = naive_em(&pairs, Some(5000.0), p.iterations);
        assert!(close(p.lambda, lambda));
        for l in &p.levels {
            assert!(close(l.m, m[l.comparison - 1][l.level]), "{l:?}");
            assert!(close(l.u, u[l.comparison - 1][l.level]), "{l:?}");
        }
        assert!(p.converged, "{p:?}");
        assert!(p.max_change < TOLERANCE);
        assert!((p.expected_matches - p.lambda * 5000.0).abs() < 1e-6);
        // each EM iteration raises the penalised log-likelihood (the pairs outside the
        // candidates being non-matches; the +1 smoothing is a Dirichlet prior on m)
        let objective = |iterations: usize| -> f64 {
            let (lambda, m, u) = naive_em(&pairs, Some(5000.0), iterations);
            let mut ll = (5000.0 - 100.0) * (1.0 - lambda).ln();
            for (v, role) in &pairs {
                if *role != CANDIDATE {
                    continue;
                }
                let (mut pm, mut pu) = (lambda, 1.0 - lambda);
                for (c, l) in v.iter().enumerate() {
                    if let Some(l) = l {
                        pm *= m[c][*l as usize];
                        pu *= u[c][*l as usize];
                    }
                }
                ll += (pm + pu).ln();
            }
            ll + m.iter().flatten().map(|x| x.ln()).sum::<f64>()
        };
        let path: Vec<f64> = [1, 2, 3, 5, 10, 50].iter().map(|&i| objective(i)).collect();
        assert!(path.windows(2).all(|w| w[1] >= w[0] - 1e-9), "{path:?}");
    }

    #[test]
    fn a_comparison_without_signal_keeps_its_seed() {
        // comparison 2 is missing on every candidate: its m stays the known matches' share
        let pairs = vec![
            (vec![Some(1), None], CANDIDATE),
            (vec![Some(0), None], CANDIDATE),
            (vec![Some(1), Some(1)], MATCH),
            (vec![Some(0), Some(0)], RANDOM),
        ];
        let p = estimate(&counted(&pairs), None, 10).expect("em");
        let c2: Vec<&LevelParameters> = p.levels.iter().filter(|l| l.comparison == 2).collect();
        assert!(
            close(c2[1].m, 2.0 / 3.0) && close(c2[0].m, 1.0 / 3.0),
            "{c2:?}"
        );
        assert_eq!(c2[0].candidate_pairs + c2[1].candidate_pairs, 0);
    }

    #[test]
    fn bad_input_is_an_error() {
        let e = estimate(
            &[
                (vec![Some(1)], [1, 0, 0]),
                (vec![Some(1), Some(0)], [1, 0, 0]),
            ],
            None,
            5,
        );
        assert!(e.is_err());
        // total_pairs needs random pairs for u, and cannot be below the candidates
        assert!(estimate(&[(vec![Some(1)], [3, 0, 0])], Some(10.0), 5).is_err());
        assert!(estimate(&[(vec![Some(1)], [3, 1, 0])], Some(2.0), 5).is_err());
        // nothing at all: no EM, no panic
        let p = estimate(&[], None, 5).expect("empty");
        assert!(p.levels.is_empty() && p.converged && p.iterations == 0);
    }

    #[test]
    fn probability_is_stable() {
        assert_eq!(probability(0.0), 0.5);
        assert!(close(probability(1.0), 2.0 / 3.0));
        assert!(probability(5000.0) == 1.0 && probability(-5000.0) == 0.0);
    }

    async fn sql(ctx: &datafusion::prelude::SessionContext, q: &str) -> String {
        let batches = ctx
            .sql(q)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .expect("format")
            .to_string()
    }

    fn context(partitions: usize) -> datafusion::prelude::SessionContext {
        let config = datafusion::prelude::SessionConfig::new()
            .with_target_partitions(partitions)
            .with_batch_size(7);
        let ctx = datafusion::prelude::SessionContext::new_with_config(config);
        ctx.register_udaf(datafusion::logical_expr::AggregateUDF::from(
            FellegiSunterEm::new(),
        ));
        ctx.register_udf(datafusion::logical_expr::ScalarUDF::from(
            FellegiSunterScore::new(),
        ));
        ctx
    }

    /// The world as SQL rows, split over many small batches and partitions: the partial
    /// states merge to exactly the single-pass result.
    #[tokio::test]
    async fn sql_result_does_not_depend_on_partitioning() {
        let mut values = Vec::new();
        for (v, r) in world() {
            let l: Vec<String> = v
                .iter()
                .map(|x| x.map_or("null".into(), |x| x.to_string()))
                .collect();
            values.push(format!("(make_array({}), '{}')", l.join(", "), ROLES[r]));
        }
        for i in 0..50 {
            values.push(format!(
                "(make_array({}, 0), 'random')",
                (i % 10 == 0) as u8
            ));
        }
        let q = format!(
            "with pairs as (select * from (values {}) as t(levels, role)), \
             p as (select fellegi_sunter_em(levels, role, 4000, 50) as p from pairs) \
             select round(p.p['lambda'], 12) as lambda, p.p['iterations'] as it, \
             round(sum(s['match_probability']), 9) as expected \
             from p cross join (select fellegi_sunter_score(levels, (select p from p)) as s \
             from pairs where role = 'candidate') group by 1, 2",
            values.join(", ")
        );
        let one = sql(&context(1), &q).await;
        for partitions in [2, 4, 8] {
            assert_eq!(sql(&context(partitions), &q).await, one, "{partitions}");
        }
        assert!(one.contains("| 0.00"), "{one}");
    }

    #[tokio::test]
    async fn score_sums_level_weights_and_the_prior() {
        let ctx = context(1);
        let out = sql(
            &ctx,
            "select s['match_weight'] as w, s['comparison_weights'] as cw from (select \
             fellegi_sunter_score(make_array(1, null, 0), named_struct('lambda', 0.2, \
             'parameters', make_array(named_struct('comparison', 1, 'level', 1, 'match_weight', 3.0), \
             named_struct('comparison', 1, 'level', 0, 'match_weight', -1.0), \
             named_struct('comparison', 3, 'level', 0, 'match_weight', -1.5)))) as s)",
        )
        .await;
        // log2(0.2/0.8) = -2; -2 + 3 - 1.5 = -0.5
        assert!(out.contains("| -0.5 | [3.0, , -1.5] |"), "{out}");
        let err = ctx
            .sql(
                "select fellegi_sunter_score(make_array(2), named_struct('lambda', 0.5, \
                 'parameters', make_array(named_struct('comparison', 1, 'level', 1, 'match_weight', 3.0))))",
            )
            .await
            .expect("plan")
            .collect()
            .await;
        let msg = err.expect_err("unknown level").to_string();
        assert!(
            msg.contains("comparison 1 has no parameter for level 2"),
            "{msg}"
        );
        let role = ctx
            .sql("select fellegi_sunter_em(make_array(1), 'candidat')")
            .await
            .expect("plan")
            .collect()
            .await
            .expect_err("bad role")
            .to_string();
        assert!(
            role.contains("role must be 'candidate', 'random' or 'match'"),
            "{role}"
        );
    }
}
