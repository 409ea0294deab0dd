//! The data-driven attribution model's fit, as the aggregate SQL function
//! `logistic_touch_effects(path, converted [, weight])`: a logistic
//! regression of conversion on each channel's touch count in the journey,
//! over converting and non-converting journeys, with every coefficient's
//! standard error and average marginal effect.
//!
//! The model. Journey `i` converts with probability `σ(η_i)`, `η_i = β_0 +
//! Σ_c β_c·n_ic`, where `n_ic` is its number of touches of channel `c`, so
//! `β_c` is the change in log-odds of one more touch of `c`. The fit
//! maximises the log-likelihood minus the ridge penalty `λ/2·Σ_{c≥1} β_c²`
//! ([`RIDGE`] = 1, a unit-variance Gaussian prior on each per-touch log-odds
//! change, negligible against thousands of journeys but keeping every
//! coefficient finite when a channel only ever appears on converting
//! journeys), by Newton's method (iteratively reweighted least squares) from
//! `β = 0` and `β_0` = the log-odds of the overall rate, halving a step that
//! would lower the objective, until no coefficient moves by more than
//! [`STEP_TOLERANCE`] or after [`MAX_ITERATIONS`].
//!
//! Uncertainty. Standard errors are the square roots of the diagonal of the
//! inverse penalised Hessian (Fisher information plus `λ`) at the solution:
//! the Laplace approximation of the posterior under that prior.
//!
//! The effect used for credit. The average marginal effect of one more touch
//! of `c`, `AME_c = Σ_i w_i (σ(η_i + β_c) − σ(η_i)) / Σ_i w_i` over every
//! journey: the average increase in conversion probability it brings (in
//! probability, not log-odds, so channels compare on the scale credit is
//! given in). It has the sign of `β_c`.
//!
//! Determinism. Journeys are counted as bags of channels (order ignored,
//! repeats kept: the touch counts are all the model reads), with integer
//! counts, so partial states merge to the same bags and counts however the
//! input was partitioned; the fit then walks the bags in sorted order, so
//! every floating-point sum is taken in the same order, bit for bit.
//!
//! When there is nothing to fit (no journey, or no conversion, or no
//! non-conversion) the coefficients, errors and effects are NULL and
//! `iterations` is 0.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

use super::markov::{Journeys, KeyKind, coerce_journey_args, item_field, single_list, utf8_array};

/// Ridge penalty on every channel coefficient (not on the intercept).
pub const RIDGE: f64 = 1.0;

/// Newton iterations before the fit gives up (and says `converged = false`).
pub const MAX_ITERATIONS: usize = 100;

/// The fit has converged when no coefficient moved by more than this.
pub const STEP_TOLERANCE: f64 = 1e-10;

/// Step halvings tried before a Newton step is taken as it is.
const MAX_HALVINGS: usize = 40;

/// One channel's estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelEffect {
    pub channel: String,
    /// `β_c`, the change in log-odds of one more touch.
    pub coefficient: Option<f64>,
    pub std_error: Option<f64>,
    /// `AME_c`, the average change in conversion probability of one more touch.
    pub marginal_effect: Option<f64>,
    /// Touches of the channel over every journey fitted.
    pub touches: u64,
}

/// The whole fit.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticFit {
    /// One entry per channel, sorted by channel (byte order).
    pub effects: Vec<ChannelEffect>,
    pub intercept: Option<f64>,
    pub intercept_std_error: Option<f64>,
    /// Journeys fitted (weights included).
    pub journeys: u64,
    pub iterations: usize,
    pub converged: bool,
}

/// A distinct bag: `(channel position, touches)` pairs, conversions, non-conversions.
type Row = (Vec<(usize, f64)>, f64, f64);

/// `ln(1 + e^x)` without overflow.
fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn linear_predictor(beta: &[f64], x: &[(usize, f64)]) -> f64 {
    beta[0] + x.iter().map(|&(c, n)| beta[c + 1] * n).sum::<f64>()
}

/// Penalised log-likelihood.
fn objective(beta: &[f64], rows: &[Row]) -> f64 {
    let mut ll = 0.0;
    for (x, conv, nulls) in rows {
        let eta = linear_predictor(beta, x);
        ll -= conv * softplus(-eta) + nulls * softplus(eta);
    }
    ll - RIDGE / 2.0 * beta[1..].iter().map(|b| b * b).sum::<f64>()
}

/// Gradient and Hessian (of minus the objective, so positive definite) at `beta`, the
/// Hessian row-major `d × d`.
fn derivatives(beta: &[f64], rows: &[Row]) -> (Vec<f64>, Vec<f64>) {
    let d = beta.len();
    let mut g = vec![0.0; d];
    let mut h = vec![0.0; d * d];
    for (x, conv, nulls) in rows {
        let p = sigmoid(linear_predictor(beta, x));
        let n = conv + nulls;
        // d(−ll)/dη and d²(−ll)/dη²
        let r = n * p - conv;
        let w = n * p * (1.0 - p);
        g[0] += r;
        h[0] += w;
        for &(c, v) in x {
            g[c + 1] += r * v;
            h[c + 1] += w * v;
            h[(c + 1) * d] += w * v;
            for &(c2, v2) in x {
                h[(c + 1) * d + c2 + 1] += w * v * v2;
            }
        }
    }
    for k in 1..d {
        g[k] += RIDGE * beta[k];
        h[k * d + k] += RIDGE;
    }
    (g, h)
}

/// Cholesky factor `L` (row-major, lower) of the symmetric positive-definite `a`.
fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            if i == j {
                if s.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// Solves `L Lᵀ x = b`.
fn cholesky_solve(l: &[f64], d: usize, b: &[f64]) -> Vec<f64> {
    let mut y = b.to_vec();
    for i in 0..d {
        for k in 0..i {
            y[i] -= l[i * d + k] * y[k];
        }
        y[i] /= l[i * d + i];
    }
    for i in (0..d).rev() {
        for k in i + 1..d {
            y[i] -= l[k * d + i] * y[k];
        }
        y[i] /= l[i * d + i];
    }
    y
}

/// Fits the model, for use outside SQL. Each entry of `journeys` is a journey's channels
/// (order ignored, repeats counted) with its numbers of conversions and non-conversions;
/// entries may repeat a journey, and empty or zero-count ones are ignored.
pub fn logistic_touch_effects(journeys: &[(Vec<&str>, u64, u64)]) -> Result<LogisticFit> {
    let counted = |j: &&(Vec<&str>, u64, u64)| !j.0.is_empty() && j.1.saturating_add(j.2) > 0;
    let names: Vec<&str> = journeys
        .iter()
        .filter(counted)
        .flat_map(|j| j.0.iter().copied())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let id = |c: &str| names.binary_search(&c).unwrap_or_default();
    // Bags in sorted order: the sums below are taken in one order whatever the input's.
    let mut bags: BTreeMap<Vec<usize>, (u64, u64)> = BTreeMap::new();
    for (channels, conversions, nulls) in journeys.iter().filter(counted) {
        let mut key: Vec<usize> = channels.iter().map(|c| id(c)).collect();
        key.sort_unstable();
        let e = bags.entry(key).or_default();
        e.0 = e.0.saturating_add(*conversions);
        e.1 = e.1.saturating_add(*nulls);
    }
    let mut touches = vec![0u64; names.len()];
    let mut total = (0u64, 0u64);
    let rows: Vec<Row> = bags
        .iter()
        .map(|(key, &(conv, nulls))| {
            total.0 = total.0.saturating_add(conv);
            total.1 = total.1.saturating_add(nulls);
            let mut x: Vec<(usize, f64)> = Vec::new();
            for &c in key {
                touches[c] = touches[c].saturating_add(conv.saturating_add(nulls));
                match x.last_mut() {
                    Some((last, n)) if *last == c => *n += 1.0,
                    _ => x.push((c, 1.0)),
                }
            }
            (x, conv as f64, nulls as f64)
        })
        .collect();
    let journeys_fitted = total.0.saturating_add(total.1);
    let empty_fit = |touches: &[u64]| LogisticFit {
        effects: names
            .iter()
            .zip(touches)
            .map(|(n, &t)| ChannelEffect {
                channel: n.to_string(),
                coefficient: None,
                std_error: None,
                marginal_effect: None,
                touches: t,
            })
            .collect(),
        intercept: None,
        intercept_std_error: None,
        journeys: journeys_fitted,
        iterations: 0,
        converged: false,
    };
    if total.0 == 0 || total.1 == 0 {
        return Ok(empty_fit(&touches));
    }

    let d = names.len() + 1;
    let mut beta = vec![0.0; d];
    beta[0] = (total.0 as f64 / total.1 as f64).ln();
    let mut current = objective(&beta, &rows);
    let mut iterations = 0;
    let mut converged = false;
    while iterations < MAX_ITERATIONS {
        iterations += 1;
        let (g, h) = derivatives(&beta, &rows);
        let Some(l) = cholesky(&h, d) else {
            return exec_err!("logistic_touch_effects: the Hessian is not positive definite");
        };
        let step = cholesky_solve(&l, d, &g);
        let mut scale = 1.0;
        let mut next: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b - s).collect();
        let mut value = objective(&next, &rows);
        for _ in 0..MAX_HALVINGS {
            if value >= current {
                break;
            }
            scale /= 2.0;
            next = beta.iter().zip(&step).map(|(b, s)| b - scale * s).collect();
            value = objective(&next, &rows);
        }
        let moved = beta
            .iter()
            .zip(&next)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        beta = next;
        current = value;
        if moved <= STEP_TOLERANCE {
            converged = true;
            break;
        }
    }

    let (_, h) = derivatives(&beta, &rows);
    let Some(l) = cholesky(&h, d) else {
        return exec_err!("logistic_touch_effects: the Hessian is not positive definite");
    };
    let mut variance = vec![0.0; d];
    for (k, v) in variance.iter_mut().enumerate() {
        let mut unit = vec![0.0; d];
        unit[k] = 1.0;
        *v = cholesky_solve(&l, d, &unit)[k];
    }
    let etas: Vec<f64> = rows.iter().map(|r| linear_predictor(&beta, &r.0)).collect();
    let weight_total: f64 = rows.iter().map(|r| r.1 + r.2).sum();
    let effects = names
        .iter()
        .enumerate()
        .map(|(c, n)| {
            let b = beta[c + 1];
            let ame = rows
                .iter()
                .zip(&etas)
                .map(|(r, &eta)| (r.1 + r.2) * (sigmoid(eta + b) - sigmoid(eta)))
                .sum::<f64>()
                / weight_total;
            ChannelEffect {
                channel: n.to_string(),
                coefficient: Some(b),
                std_error: Some(variance[c + 1].max(0.0).sqrt()),
                marginal_effect: Some(ame),
                touches: touches[c],
            }
        })
        .collect();
    Ok(LogisticFit {
        effects,
        intercept: Some(beta[0]),
        intercept_std_error: Some(variance[0].max(0.0).sqrt()),
        journeys: journeys_fitted,
        iterations,
        converged,
    })
}

/// The aggregate `logistic_touch_effects(path, converted [, weight])`.
///
/// Input: one row per journey (or per `weight` identical ones), converted or not: `path`
/// its channels (order ignored, each touch counted), `converted` Boolean.
///
/// Output: `List<Struct<channel, coefficient, std_error, marginal_effect, touches,
/// n_journeys, intercept, intercept_std_error, iterations, converged>>`, one entry per
/// channel, sorted by channel.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LogisticTouchEffects {
    signature: Signature,
}

impl Default for LogisticTouchEffects {
    fn default() -> Self {
        Self::new()
    }
}

impl LogisticTouchEffects {
    pub(crate) const NAME: &'static str = "logistic_touch_effects";

    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn struct_fields() -> Fields {
        Fields::from(vec![
            Field::new("channel", DataType::Utf8, false),
            Field::new("coefficient", DataType::Float64, true),
            Field::new("std_error", DataType::Float64, true),
            Field::new("marginal_effect", DataType::Float64, true),
            Field::new("touches", DataType::Int64, false),
            Field::new("n_journeys", DataType::Int64, false),
            Field::new("intercept", DataType::Float64, true),
            Field::new("intercept_std_error", DataType::Float64, true),
            Field::new("iterations", DataType::Int64, false),
            Field::new("converged", DataType::Boolean, false),
        ])
    }

    fn item_field() -> FieldRef {
        item_field(DataType::Struct(Self::struct_fields()))
    }
}

impl AggregateUDFImpl for LogisticTouchEffects {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Self::item_field()))
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(LogisticAccumulator {
            journeys: Journeys::new(Self::NAME, KeyKind::Bag, false),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(Journeys::state_fields(args.name, "non_conversions"))
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() > 3 {
            return plan_err!(
                "{} expects 2 or 3 arguments (path, converted [, weight]), got {}",
                Self::NAME,
                arg_types.len()
            );
        }
        coerce_journey_args(Self::NAME, arg_types, &[])
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
}

#[derive(Debug)]
struct LogisticAccumulator {
    journeys: Journeys,
}

impl Accumulator for LogisticAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [path, converted, rest @ ..] = values else {
            return exec_err!("logistic_touch_effects expects (path, converted [, weight])");
        };
        self.journeys.update(path, converted, rest.first(), None)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let journeys: Vec<(Vec<&str>, u64, u64)> = self
            .journeys
            .entries()
            .map(|(p, c)| (p, c.conversions, c.others))
            .collect();
        let fit = logistic_touch_effects(&journeys)?;
        let n = fit.effects.len();
        let bytes = fit.effects.iter().map(|e| e.channel.len()).sum();
        let name = LogisticTouchEffects::NAME;
        let channels = utf8_array(name, fit.effects.iter().map(|e| e.channel.as_str()), bytes)?;
        let floats = |f: &dyn Fn(&ChannelEffect) -> Option<f64>| -> ArrayRef {
            Arc::new(fit.effects.iter().map(f).collect::<Float64Array>())
        };
        let repeat_f = |v: Option<f64>| -> ArrayRef {
            Arc::new(std::iter::repeat_n(v, n).collect::<Float64Array>())
        };
        let touches: Int64Array = fit
            .effects
            .iter()
            .map(|e| i64::try_from(e.touches).unwrap_or(i64::MAX))
            .collect();
        let journeys_fitted = i64::try_from(fit.journeys).unwrap_or(i64::MAX);
        let columns: Vec<ArrayRef> = vec![
            channels,
            floats(&|e| e.coefficient),
            floats(&|e| e.std_error),
            floats(&|e| e.marginal_effect),
            Arc::new(touches),
            Arc::new(Int64Array::from(vec![journeys_fitted; n])),
            repeat_f(fit.intercept),
            repeat_f(fit.intercept_std_error),
            Arc::new(Int64Array::from(vec![
                i64::try_from(fit.iterations)
                    .unwrap_or(i64::MAX);
                n
            ])),
            Arc::new(BooleanArray::from(vec![fit.converged; n])),
        ];
        let entries = StructArray::try_new(LogisticTouchEffects::struct_fields(), columns, None)?;
        single_list(LogisticTouchEffects::item_field(), Arc::new(entries))
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

    fn fit(journeys: &[(Vec<&str>, u64, u64)]) -> LogisticFit {
        match logistic_touch_effects(journeys) {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn two_groups_fit_their_own_log_odds() {
        // Every journey has one touch, of "ad" or of "other": intercept + β_ad and
        // intercept + β_other are then each group's log-odds (the ridge, λ = 1, only decides
        // how the intercept and the coefficients share them, and moves the fitted rates by
        // about 1e-5 at these counts).
        let (n1, c1, n0, c0) = (200_000u64, 30_000u64, 400_000u64, 20_000u64);
        let journeys = vec![(vec!["ad"], c1, n1 - c1), (vec!["other"], c0, n0 - c0)];
        let f = fit(&journeys);
        assert!(f.converged, "{f:?}");
        let logit = |c: u64, n: u64| (c as f64 / (n - c) as f64).ln();
        let (ad, other) = (&f.effects[0], &f.effects[1]);
        let b = |e: &ChannelEffect| e.coefficient.unwrap_or(f64::NAN);
        let intercept = f.intercept.unwrap_or(f64::NAN);
        assert!((intercept + b(ad) - logit(c1, n1)).abs() < 1e-4, "{f:?}");
        assert!((intercept + b(other) - logit(c0, n0)).abs() < 1e-4, "{f:?}");
        assert_eq!(f.journeys, n1 + n0);
        assert_eq!((ad.touches, other.touches), (n1, n0));
        assert!(ad.marginal_effect.unwrap_or(0.0) > other.marginal_effect.unwrap_or(1.0));
    }

    #[test]
    fn standard_error_matches_the_closed_form() {
        // A baseline group without touches would have no channel: give every journey a
        // "base" touch and half of them an "ad" touch too; then β_ad is the log odds ratio.
        let (n1, c1, n0, c0) = (300_000u64, 36_000u64, 300_000u64, 24_000u64);
        let journeys = vec![
            (vec!["base", "ad"], c1, n1 - c1),
            (vec!["base"], c0, n0 - c0),
        ];
        let f = fit(&journeys);
        let p1 = c1 as f64 / n1 as f64;
        let p0 = c0 as f64 / n0 as f64;
        let odds_ratio = (p1 / (1.0 - p1) / (p0 / (1.0 - p0))).ln();
        let se = (1.0 / (n1 as f64 * p1 * (1.0 - p1)) + 1.0 / (n0 as f64 * p0 * (1.0 - p0))).sqrt();
        let ad = &f.effects[0];
        assert_eq!(ad.channel, "ad");
        let b = ad.coefficient.unwrap_or(f64::NAN);
        assert!((b - odds_ratio).abs() < 1e-3, "{b} vs {odds_ratio}");
        let got_se = ad.std_error.unwrap_or(f64::NAN);
        assert!((got_se - se).abs() / se < 1e-2, "{got_se} vs {se}");
        // AME of ad: from the rate without to the rate with, averaged over both groups
        let ame = ad.marginal_effect.unwrap_or(f64::NAN);
        assert!(ame > 0.0 && ame < 2.0 * (p1 - p0), "{ame}");
        assert!(f.converged && f.iterations < 30, "{f:?}");
    }

    #[test]
    fn nothing_to_fit_gives_nulls() {
        let all_converted = fit(&[(vec!["a"], 3, 0), (vec!["b", "a"], 1, 0)]);
        assert_eq!(all_converted.iterations, 0);
        assert!(
            all_converted
                .effects
                .iter()
                .all(|e| e.coefficient.is_none())
        );
        assert_eq!(all_converted.effects.len(), 2);
        assert!(fit(&[]).effects.is_empty());
    }

    #[test]
    fn separated_channel_stays_finite() {
        // "a" is only ever on converting journeys: the MLE is infinite, the ridge keeps it
        // finite and the fit converges.
        let f = fit(&[
            (vec!["a", "b"], 5, 0),
            (vec!["b"], 2, 20),
            (vec!["a"], 3, 0),
        ]);
        assert!(f.converged, "{f:?}");
        let a = f.effects[0].coefficient.unwrap_or(f64::NAN);
        assert!(a.is_finite() && a > 1.0, "{f:?}");
    }

    #[test]
    fn input_order_and_repeats_do_not_matter() {
        let a = fit(&[
            (vec!["x", "y", "x"], 4, 9),
            (vec!["y"], 1, 7),
            (vec!["z", "x"], 2, 2),
        ]);
        let b = fit(&[
            (vec!["z", "x"], 2, 2),
            (vec!["y"], 1, 0),
            (vec!["x", "x", "y"], 4, 9),
            (vec!["y"], 0, 7),
        ]);
        assert_eq!(a, b);
    }

    // -----------------------------------------------------------------------------------
    // Planted lifts: journeys whose conversion is caused by their touches, channel by
    // channel, with reach unrelated to effect. The data-driven credit per touch must rank
    // the channels like the planted lifts, better than last touch and Markov.
    // -----------------------------------------------------------------------------------

    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        fn below(&mut self, n: usize) -> usize {
            ((self.next() * n as f64) as usize).min(n - 1)
        }
    }

    const CHANNELS: [&str; 8] = ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"];

    /// `(lifts, journeys)`: each journey's touches in time order and whether it converted.
    /// A touch of channel `c` adds `lift[c]` to the conversion hazard (additive hazard, as
    /// ad-effect simulators plant it), on top of a base hazard; channels' reach (how often
    /// a touch is theirs) is drawn independently of their lift.
    fn planted(seed: u64) -> (Vec<f64>, Vec<(Vec<&'static str>, bool)>) {
        let mut r = Lcg(seed);
        let lifts: Vec<f64> = (0..8).map(|c| 0.01 + 0.03 * (c as f64 / 7.0)).collect();
        let mut shuffled = lifts.clone();
        for i in (1..8).rev() {
            shuffled.swap(i, r.below(i + 1));
        }
        let reach: Vec<f64> = (0..8).map(|_| 0.2 + r.next()).collect();
        let total_reach: f64 = reach.iter().sum();
        let journeys = (0..30_000)
            .map(|_| {
                let len = 1 + r.below(6);
                let path: Vec<&str> = (0..len)
                    .map(|_| {
                        let mut u = r.next() * total_reach;
                        let mut c = 0;
                        while c < 7 && u >= reach[c] {
                            u -= reach[c];
                            c += 1;
                        }
                        CHANNELS[c]
                    })
                    .collect();
                let hazard = 0.02
                    + path
                        .iter()
                        .map(|p| shuffled[CHANNELS.iter().position(|c| c == p).unwrap_or(0)])
                        .sum::<f64>();
                let converted = r.next() < 1.0 - (-hazard).exp();
                (path, converted)
            })
            .collect();
        (shuffled, journeys)
    }

    fn spearman(a: &[f64], b: &[f64]) -> f64 {
        let ranks = |v: &[f64]| -> Vec<f64> {
            let mut idx: Vec<usize> = (0..v.len()).collect();
            idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
            let mut r = vec![0.0; v.len()];
            for (rank, &i) in idx.iter().enumerate() {
                r[i] = rank as f64;
            }
            r
        };
        let (ra, rb) = (ranks(a), ranks(b));
        let n = a.len() as f64;
        let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y).powi(2)).sum();
        1.0 - 6.0 * d2 / (n * (n * n - 1.0))
    }

    #[test]
    fn data_driven_credit_recovers_planted_lifts() -> Result<()> {
        for seed in [1, 2, 3, 4, 5] {
            let (lifts, journeys) = planted(seed);
            let counted: Vec<(Vec<&str>, u64, u64)> = journeys
                .iter()
                .map(|(p, c)| (p.clone(), u64::from(*c), u64::from(!*c)))
                .collect();
            let f = logistic_touch_effects(&counted)?;
            assert!(f.converged, "seed {seed}: {f:?}");
            let effect: Vec<f64> = f
                .effects
                .iter()
                .map(|e| e.marginal_effect.unwrap_or(0.0).max(0.0))
                .collect();
            let markov = super::super::markov::removal_effects(&counted, 1)?;
            let at = |c: &str| CHANNELS.iter().position(|x| *x == c).unwrap_or(0);
            let mut touches = [0.0; 8];
            let (mut dd, mut last, mut mk, mut lin) = ([0.0; 8], [0.0; 8], [0.0; 8], [0.0; 8]);
            for (path, converted) in &journeys {
                for p in path {
                    touches[at(p)] += 1.0;
                }
                if !converted {
                    continue;
                }
                // data-driven: each touch in proportion to its channel's positive effect
                let total: f64 = path.iter().map(|p| effect[at(p)]).sum();
                for p in path {
                    dd[at(p)] += if total > 0.0 {
                        effect[at(p)] / total
                    } else {
                        1.0 / path.len() as f64
                    };
                }
                last[at(path[path.len() - 1])] += 1.0;
                for p in path {
                    lin[at(p)] += 1.0 / path.len() as f64;
                }
                // markov as fct_attribution splits it: channels by removal effect, then
                // equally over the channel's touches
                let mut distinct: Vec<&str> = path.clone();
                distinct.sort_unstable();
                distinct.dedup();
                let total: f64 = distinct.iter().map(|c| markov[at(c)].1).sum();
                for c in &distinct {
                    mk[at(c)] += markov[at(c)].1 / total;
                }
            }
            let per_touch = |credit: &[f64; 8]| -> Vec<f64> {
                credit.iter().zip(&touches).map(|(c, t)| c / t).collect()
            };
            let (s_dd, s_last, s_mk, s_lin) = (
                spearman(&per_touch(&dd), &lifts),
                spearman(&per_touch(&last), &lifts),
                spearman(&per_touch(&mk), &lifts),
                spearman(&per_touch(&lin), &lifts),
            );
            eprintln!(
                "seed {seed}: Spearman of credit per touch vs planted lift: data_driven {s_dd:.3}, \
                 linear {s_lin:.3}, last_touch {s_last:.3}, markov {s_mk:.3}"
            );
            assert!(
                s_dd >= 0.9 && s_dd > s_last && s_dd > s_mk,
                "seed {seed}: data-driven {s_dd}, last touch {s_last}, markov {s_mk}"
            );
        }
        Ok(())
    }
}
