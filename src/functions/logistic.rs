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
//!
//! Within strata. With a 4th argument (a person id), the coefficients are
//! those of a conditional logistic regression: each stratum's conversions are
//! explained among that stratum's own journeys, so what a person brings to all
//! of their journeys (appetite, identified store tickets) cancels out instead
//! of passing for the effect of the channels such people see. The likelihood
//! of a stratum is exact ([`stratum_terms`]; beyond [`MAX_EXACT_CONVERSIONS`],
//! the stratum's own intercept is profiled out); the intercept is refitted over every journey
//! with the coefficients held, so marginal effects stay on the observed scale.
//! The stratum travels through the shared journey state as a marked
//! pseudo-channel ([`STRATUM_MARK`]), so partial states merge as before.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, ListBuilder, StringBuilder,
    StructArray,
};
use datafusion::arrow::compute::cast;
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
    /// Journeys the coefficients were estimated from (weights included): all of them, or
    /// within strata those of the strata with both outcomes.
    pub journeys: u64,
    /// Strata the coefficients were estimated from (0 when the fit is not stratified).
    pub strata: u64,
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

/// Journeys of one stratum as bags: `(channel positions, conversions, non-conversions)`.
type Bags = BTreeMap<Vec<usize>, (u64, u64)>;

/// Channel names in byte order; a bag is keyed by positions in it, sorted, so every sum below
/// is taken in one order whatever the input's.
fn channel_names<'a>(channels: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    channels
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn bag_key(names: &[&str], channels: &[&str]) -> Vec<usize> {
    let mut key: Vec<usize> = channels
        .iter()
        .map(|c| names.binary_search(c).unwrap_or_default())
        .collect();
    key.sort_unstable();
    key
}

/// A bag as the model reads it: `(channel, touches)` pairs.
fn touch_counts(key: &[usize]) -> Vec<(usize, f64)> {
    let mut x: Vec<(usize, f64)> = Vec::new();
    for &c in key {
        match x.last_mut() {
            Some((last, n)) if *last == c => *n += 1.0,
            _ => x.push((c, 1.0)),
        }
    }
    x
}

/// Newton's method with step halving on a concave `objective` whose `derivatives` give the
/// gradient and (positive-definite) Hessian of minus it: `(β, iterations, converged)`.
fn newton(
    mut beta: Vec<f64>,
    objective: impl Fn(&[f64]) -> f64,
    derivatives: impl Fn(&[f64]) -> (Vec<f64>, Vec<f64>),
) -> Result<(Vec<f64>, usize, bool)> {
    let d = beta.len();
    let mut current = objective(&beta);
    let mut iterations = 0;
    while iterations < MAX_ITERATIONS {
        iterations += 1;
        let (g, h) = derivatives(&beta);
        let Some(l) = cholesky(&h, d) else {
            return exec_err!("logistic_touch_effects: the Hessian is not positive definite");
        };
        let step = cholesky_solve(&l, d, &g);
        let mut scale = 1.0;
        let mut next: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b - s).collect();
        let mut value = objective(&next);
        for _ in 0..MAX_HALVINGS {
            if value >= current {
                break;
            }
            scale /= 2.0;
            next = beta.iter().zip(&step).map(|(b, s)| b - scale * s).collect();
            value = objective(&next);
        }
        let moved = beta
            .iter()
            .zip(&next)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        beta = next;
        current = value;
        if moved <= STEP_TOLERANCE {
            return Ok((beta, iterations, true));
        }
    }
    Ok((beta, iterations, false))
}

/// The diagonal of the inverse of the positive-definite `h` (`d × d`).
fn inverse_diagonal(h: &[f64], d: usize) -> Result<Vec<f64>> {
    let Some(l) = cholesky(h, d) else {
        return exec_err!("logistic_touch_effects: the Hessian is not positive definite");
    };
    Ok((0..d)
        .map(|k| {
            let mut unit = vec![0.0; d];
            unit[k] = 1.0;
            cholesky_solve(&l, d, &unit)[k]
        })
        .collect())
}

/// The fit's output once `beta` (intercept first) is known: each channel's coefficient, its
/// standard error (from `variance`, intercept first) and its average marginal effect over
/// `rows`.
#[allow(clippy::too_many_arguments)]
fn finish(
    names: &[&str],
    touches: &[u64],
    rows: &[Row],
    beta: &[f64],
    variance: &[f64],
    journeys: u64,
    iterations: usize,
    converged: bool,
) -> LogisticFit {
    let etas: Vec<f64> = rows.iter().map(|r| linear_predictor(beta, &r.0)).collect();
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
    LogisticFit {
        effects,
        intercept: Some(beta[0]),
        intercept_std_error: Some(variance[0].max(0.0).sqrt()),
        journeys,
        strata: 0,
        iterations,
        converged,
    }
}

/// Nothing to fit: every estimate NULL.
fn empty_fit(names: &[&str], touches: &[u64], journeys: u64) -> LogisticFit {
    LogisticFit {
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
        journeys,
        strata: 0,
        iterations: 0,
        converged: false,
    }
}

/// The pooled bags of `bags` as rows, with the touches per channel and the totals.
fn pooled_rows(bags: &Bags, channels: usize) -> (Vec<Row>, Vec<u64>, (u64, u64)) {
    let mut touches = vec![0u64; channels];
    let mut total = (0u64, 0u64);
    let rows = bags
        .iter()
        .map(|(key, &(conv, nulls))| {
            total.0 = total.0.saturating_add(conv);
            total.1 = total.1.saturating_add(nulls);
            for &c in key {
                touches[c] = touches[c].saturating_add(conv.saturating_add(nulls));
            }
            (touch_counts(key), conv as f64, nulls as f64)
        })
        .collect();
    (rows, touches, total)
}

/// Fits the model, for use outside SQL. Each entry of `journeys` is a journey's channels
/// (order ignored, repeats counted) with its numbers of conversions and non-conversions;
/// entries may repeat a journey, and empty or zero-count ones are ignored.
pub fn logistic_touch_effects(journeys: &[(Vec<&str>, u64, u64)]) -> Result<LogisticFit> {
    let counted = |j: &&(Vec<&str>, u64, u64)| !j.0.is_empty() && j.1.saturating_add(j.2) > 0;
    let names = channel_names(
        journeys
            .iter()
            .filter(counted)
            .flat_map(|j| j.0.iter().copied()),
    );
    let mut bags = Bags::new();
    for (channels, conversions, nulls) in journeys.iter().filter(counted) {
        let e = bags.entry(bag_key(&names, channels)).or_default();
        e.0 = e.0.saturating_add(*conversions);
        e.1 = e.1.saturating_add(*nulls);
    }
    let (rows, touches, total) = pooled_rows(&bags, names.len());
    let journeys_fitted = total.0.saturating_add(total.1);
    if total.0 == 0 || total.1 == 0 {
        return Ok(empty_fit(&names, &touches, journeys_fitted));
    }
    let d = names.len() + 1;
    let mut start = vec![0.0; d];
    start[0] = (total.0 as f64 / total.1 as f64).ln();
    let (beta, iterations, converged) =
        newton(start, |b| objective(b, &rows), |b| derivatives(b, &rows))?;
    let (_, h) = derivatives(&beta, &rows);
    let variance = inverse_diagonal(&h, d)?;
    Ok(finish(
        &names,
        &touches,
        &rows,
        &beta,
        &variance,
        journeys_fitted,
        iterations,
        converged,
    ))
}

/// One bag of a stratum as the conditional likelihood reads it: `(touch counts, conversions,
/// journeys)`.
type StratumBag = (Vec<(usize, f64)>, f64, f64);

/// One stratum's bags, and its conversions.
type Stratum = (Vec<StratumBag>, f64);

/// Conversions in one stratum above which its likelihood is the profiled one of
/// [`profiled_terms`] rather than the exact one, which costs `conversions²` per stratum.
pub const MAX_EXACT_CONVERSIONS: f64 = 64.0;

/// `x·β` of each bag of a stratum (channels only, no intercept).
fn bag_scores(beta: &[f64], bags: &[StratumBag]) -> Vec<f64> {
    bags.iter()
        .map(|b| b.0.iter().map(|&(c, n)| beta[c] * n).sum())
        .collect()
}

/// One stratum's conditional likelihood at `beta` and, when `derivatives`, its gradient and
/// Hessian (of minus it, Hessian row-major `d × d`), added to `g` and `h`.
///
/// Exactly: given that `K` of the stratum's journeys converted, the chance that it was these
/// is `exp(Σ_cases x·β) / e_K`, `e_K` the sum of `exp(S·β)` over every way of picking `K` of
/// its journeys (`S` their summed touches). `e_K` and the first two moments of `S` under
/// that choice are built bag by bag (picking `i` of a bag's `m` journeys), so the gradient
/// is `E[S] − Σ_cases x` and the Hessian `Var(S)`. Beyond [`MAX_EXACT_CONVERSIONS`], the
/// profiled likelihood of [`profiled_terms`].
fn stratum_terms(
    beta: &[f64],
    bags: &[StratumBag],
    conversions: f64,
    derivatives: Option<(&mut [f64], &mut [f64])>,
) -> f64 {
    if conversions > MAX_EXACT_CONVERSIONS {
        return profiled_terms(beta, bags, conversions, derivatives);
    }
    let d = beta.len();
    let v = bag_scores(beta, bags);
    let top = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let cases_xb: f64 = bags.iter().zip(&v).map(|(b, vj)| b.1 * vj).sum();
    let want = derivatives.is_some();
    let k_total = conversions as usize;
    // z[k]: Σ over picks of k journeys of exp(S·β − k·top); m[k], q[k]: the same weighted
    // sums of S and S·Sᵀ
    let mut z = vec![0.0; k_total + 1];
    z[0] = 1.0;
    let mut m = vec![0.0; if want { (k_total + 1) * d } else { 0 }];
    let mut q = vec![0.0; if want { (k_total + 1) * d * d } else { 0 }];
    for ((x, _, journeys), vj) in bags.iter().zip(&v) {
        let w = (vj - top).exp();
        let count = *journeys as usize;
        let (mut nz, mut nm, mut nq) = (vec![0.0; z.len()], vec![0.0; m.len()], vec![0.0; q.len()]);
        for k in 0..=k_total {
            if z[k] == 0.0 && (!want || m[k * d..(k + 1) * d].iter().all(|v| *v == 0.0)) {
                continue;
            }
            // a = C(count, i)·wⁱ
            let mut a = 1.0;
            for i in 0..=count.min(k_total - k) {
                if i > 0 {
                    a *= (count - i + 1) as f64 / i as f64 * w;
                }
                let t = k + i;
                nz[t] += a * z[k];
                if want {
                    let fi = i as f64;
                    for c in 0..d {
                        nm[t * d + c] += a * m[k * d + c];
                    }
                    for &(c, n) in x {
                        nm[t * d + c] += a * fi * n * z[k];
                    }
                    for c in 0..d {
                        for c2 in 0..d {
                            nq[(t * d + c) * d + c2] += a * q[(k * d + c) * d + c2];
                        }
                    }
                    for &(c, n) in x {
                        for c2 in 0..d {
                            let cross = a * fi * n * m[k * d + c2];
                            nq[(t * d + c) * d + c2] += cross;
                            nq[(t * d + c2) * d + c] += cross;
                        }
                        for &(c2, n2) in x {
                            nq[(t * d + c) * d + c2] += a * fi * fi * n * n2 * z[k];
                        }
                    }
                }
            }
        }
        (z, m, q) = (nz, nm, nq);
    }
    let e = z[k_total];
    if let Some((g, h)) = derivatives {
        for (x, conv, _) in bags {
            for &(c, n) in x {
                g[c] -= conv * n;
            }
        }
        let mean: Vec<f64> = (0..d).map(|c| m[k_total * d + c] / e).collect();
        for c in 0..d {
            g[c] += mean[c];
            for c2 in 0..d {
                h[c * d + c2] += q[(k_total * d + c) * d + c2] / e - mean[c] * mean[c2];
            }
        }
    }
    cases_xb - conversions * top - e.ln()
}

/// [`stratum_terms`] for a stratum with many conversions: the stratum's own intercept `α`,
/// profiled out (for each β, the `α` at which the stratum's expected conversions equal its
/// conversions), the unconditional likelihood then. With many journeys in a stratum the
/// incidental intercept is well estimated, and this is what the exact likelihood approaches,
/// at a cost linear in the stratum's bags whatever its weights.
fn profiled_terms(
    beta: &[f64],
    bags: &[StratumBag],
    conversions: f64,
    derivatives: Option<(&mut [f64], &mut [f64])>,
) -> f64 {
    let d = beta.len();
    let v = bag_scores(beta, bags);
    let journeys: f64 = bags.iter().map(|b| b.2).sum();
    // α solves Σ m·σ(α + v) = K; the left side grows with α, so bisection brackets it and
    // Newton steps that stay inside the bracket speed it up
    let expected = |alpha: f64| -> (f64, f64) {
        bags.iter().zip(&v).fold((0.0, 0.0), |(e, w), (b, &vj)| {
            let p = sigmoid(alpha + vj);
            (e + b.2 * p, w + b.2 * p * (1.0 - p))
        })
    };
    let (lo_v, hi_v) = v
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    let rate = (conversions / journeys).clamp(1e-300, 1.0 - 1e-16);
    let logit = (rate / (1.0 - rate)).ln();
    let (mut lo, mut hi) = (logit - hi_v - 1.0, logit - lo_v + 1.0);
    let mut alpha = (lo + hi) / 2.0;
    for _ in 0..200 {
        let (e, w) = expected(alpha);
        if e > conversions {
            hi = alpha;
        } else {
            lo = alpha;
        }
        let newton = alpha - (e - conversions) / w;
        alpha = if w > 0.0 && newton > lo && newton < hi {
            newton
        } else {
            (lo + hi) / 2.0
        };
        if hi - lo <= 1e-13 * (1.0 + alpha.abs()) || (e - conversions).abs() <= 1e-9 * conversions {
            break;
        }
    }
    let ll: f64 = bags
        .iter()
        .zip(&v)
        .map(|(b, &vj)| b.1 * (alpha + vj) - b.2 * softplus(alpha + vj))
        .sum();
    if let Some((g, h)) = derivatives {
        // the envelope theorem: α's own response drops out of the gradient, and leaves the
        // Hessian the channels' information less what α absorbs
        let mut wx = vec![0.0; d];
        let mut w_total = 0.0;
        for (b, &vj) in bags.iter().zip(&v) {
            let p = sigmoid(alpha + vj);
            let w = b.2 * p * (1.0 - p);
            w_total += w;
            for &(c, n) in &b.0 {
                g[c] += (b.2 * p - b.1) * n;
                wx[c] += w * n;
                for &(c2, n2) in &b.0 {
                    h[c * d + c2] += w * n * n2;
                }
            }
        }
        if w_total > 0.0 {
            for c in 0..d {
                for c2 in 0..d {
                    h[c * d + c2] -= wx[c] * wx[c2] / w_total;
                }
            }
        }
    }
    ll
}

/// The conditional log-likelihood of `beta` (channels only, no intercept) over `strata`,
/// minus the ridge penalty: whatever a stratum shares (its person's baseline) cancels out.
fn conditional_objective(beta: &[f64], strata: &[Stratum]) -> f64 {
    let ll: f64 = strata
        .iter()
        .map(|(bags, conversions)| stratum_terms(beta, bags, *conversions, None))
        .sum();
    ll - RIDGE / 2.0 * beta.iter().map(|b| b * b).sum::<f64>()
}

/// Gradient and Hessian of minus [`conditional_objective`].
fn conditional_derivatives(beta: &[f64], strata: &[Stratum]) -> (Vec<f64>, Vec<f64>) {
    let d = beta.len();
    let mut g = vec![0.0; d];
    let mut h = vec![0.0; d * d];
    for (bags, conversions) in strata {
        stratum_terms(beta, bags, *conversions, Some((&mut g, &mut h)));
    }
    for k in 0..d {
        g[k] += RIDGE * beta[k];
        h[k * d + k] += RIDGE;
    }
    (g, h)
}

/// The same model fitted within strata (each person's own journeys, say), for use outside
/// SQL: entries are `(stratum, channels, conversions, non-conversions)`. The coefficients are
/// those of a conditional logistic regression over the strata that have both a converting
/// and a non-converting journey, so a trait of the stratum that makes it convert more and
/// see more of a channel (a loyal customer on the e-mail list) does not count as the
/// channel's effect. The intercept is then fitted over every journey with the coefficients
/// held, so marginal effects are on the observed scale.
pub fn logistic_touch_effects_within(
    journeys: &[(Option<&str>, Vec<&str>, u64, u64)],
) -> Result<LogisticFit> {
    let counted =
        |j: &&(Option<&str>, Vec<&str>, u64, u64)| !j.1.is_empty() && j.2.saturating_add(j.3) > 0;
    let names = channel_names(
        journeys
            .iter()
            .filter(counted)
            .flat_map(|j| j.1.iter().copied()),
    );
    let mut by_stratum: BTreeMap<&str, Bags> = BTreeMap::new();
    let mut pooled = Bags::new();
    for (stratum, channels, conversions, nulls) in journeys.iter().filter(counted) {
        let key = bag_key(&names, channels);
        if let Some(stratum) = stratum {
            let e = by_stratum
                .entry(stratum)
                .or_default()
                .entry(key.clone())
                .or_default();
            e.0 = e.0.saturating_add(*conversions);
            e.1 = e.1.saturating_add(*nulls);
        }
        let e = pooled.entry(key).or_default();
        e.0 = e.0.saturating_add(*conversions);
        e.1 = e.1.saturating_add(*nulls);
    }
    let (rows, touches, _) = pooled_rows(&pooled, names.len());
    let strata: Vec<Stratum> = by_stratum
        .values()
        .filter(|bags| bags.values().any(|c| c.0 > 0) && bags.values().any(|c| c.1 > 0))
        .map(|bags| {
            let conversions: u64 = bags.values().map(|c| c.0).sum();
            let rows = bags
                .iter()
                .map(|(key, &(conv, nulls))| {
                    (
                        touch_counts(key),
                        conv as f64,
                        conv.saturating_add(nulls) as f64,
                    )
                })
                .collect();
            (rows, conversions as f64)
        })
        .collect();
    let informative = strata
        .iter()
        .map(|s| s.0.iter().map(|b| b.2 as u64).sum::<u64>())
        .sum::<u64>();
    if strata.is_empty() {
        // no stratum says anything (tiny data, one journey per person): the pooled fit, which
        // `strata = 0` tells apart
        let pooled: Vec<(Vec<&str>, u64, u64)> =
            journeys.iter().map(|j| (j.1.clone(), j.2, j.3)).collect();
        return logistic_touch_effects(&pooled);
    }
    let d = names.len();
    let (coefficients, iterations, converged) = newton(
        vec![0.0; d],
        |b| conditional_objective(b, &strata),
        |b| conditional_derivatives(b, &strata),
    )?;
    let (_, h) = conditional_derivatives(&coefficients, &strata);
    let channel_variance = inverse_diagonal(&h, d)?;
    // the intercept over every journey with the coefficients held: one-dimensional Newton
    let mut beta = vec![0.0];
    beta.extend_from_slice(&coefficients);
    let offsets: Vec<f64> = rows.iter().map(|r| linear_predictor(&beta, &r.0)).collect();
    let (mut b0, mut information) = (0.0, 0.0);
    for _ in 0..MAX_ITERATIONS {
        let (mut g, mut w) = (0.0, 0.0);
        for ((_, conv, nulls), off) in rows.iter().zip(&offsets) {
            let p = sigmoid(b0 + off);
            g += conv - (conv + nulls) * p;
            w += (conv + nulls) * p * (1.0 - p);
        }
        information = w;
        if w <= 0.0 {
            break;
        }
        let step = g / w;
        b0 += step;
        if step.abs() <= STEP_TOLERANCE {
            break;
        }
    }
    beta[0] = b0;
    let mut variance = vec![if information > 0.0 {
        1.0 / information
    } else {
        0.0
    }];
    variance.extend(channel_variance);
    let mut fit = finish(
        &names,
        &touches,
        &rows,
        &beta,
        &variance,
        informative,
        iterations,
        converged,
    );
    fit.strata = strata.len() as u64;
    Ok(fit)
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
            Field::new("strata", DataType::Int64, false),
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
            stratified: false,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(Journeys::state_fields(args.name, "non_conversions"))
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() > 4 {
            return plan_err!(
                "{} expects 2 to 4 arguments (path, converted [, weight [, stratum]]), got {}",
                Self::NAME,
                arg_types.len()
            );
        }
        let journey_args = &arg_types[..arg_types.len().min(3)];
        let mut out = coerce_journey_args(Self::NAME, journey_args, &[])?;
        if let Some(t) = arg_types.get(3) {
            if !matches!(
                t,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
            ) {
                return plan_err!(
                    "{}: `stratum` (argument 4) must be a string, such as a person id; got {t}",
                    Self::NAME
                );
            }
            out.push(DataType::Utf8);
        }
        Ok(out)
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
}

#[derive(Debug)]
struct LogisticAccumulator {
    journeys: Journeys,
    /// Whether rows came with a stratum (a merged state says so by its marked channels).
    stratified: bool,
}

/// Marks the pseudo-channel that carries a journey's stratum through the shared journey
/// state: a control character no channel name starts with.
const STRATUM_MARK: char = '\u{1}';

/// `path` with each row's stratum prepended as a marked pseudo-channel (a NULL stratum adds
/// none: such a journey joins no stratum).
fn with_stratum(path: &ArrayRef, stratum: &ArrayRef) -> Result<ArrayRef> {
    let path = cast(
        path,
        &DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
    )?;
    let lists = path.as_list::<i32>();
    let values = cast(lists.values(), &DataType::Utf8)?;
    let values = values.as_string::<i32>();
    let strata = cast(stratum, &DataType::Utf8)?;
    let strata = strata.as_string::<i32>();
    let mut out = ListBuilder::new(StringBuilder::new());
    let offsets = lists.value_offsets();
    for row in 0..lists.len() {
        if lists.is_null(row) {
            out.append_null();
            continue;
        }
        if strata.is_valid(row) {
            out.values()
                .append_value(format!("{STRATUM_MARK}{}", strata.value(row)));
        }
        for j in offsets[row] as usize..offsets[row + 1] as usize {
            if values.is_valid(j) {
                out.values().append_value(values.value(j));
            } else {
                out.values().append_null();
            }
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

impl Accumulator for LogisticAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [path, converted, rest @ ..] = values else {
            return exec_err!(
                "logistic_touch_effects expects (path, converted [, weight [, stratum]])"
            );
        };
        match rest.get(1) {
            Some(stratum) => {
                self.stratified = true;
                let path = with_stratum(path, stratum)?;
                self.journeys.update(&path, converted, rest.first(), None)
            }
            None => self.journeys.update(path, converted, rest.first(), None),
        }
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let stratified = self.stratified
            || self
                .journeys
                .entries()
                .any(|(p, _)| p.iter().any(|c| c.starts_with(STRATUM_MARK)));
        let fit = if stratified {
            // a journey whose stratum was NULL carries no mark: it joins no stratum, but counts
            // for the intercept and the marginal effects
            let journeys: Vec<(Option<&str>, Vec<&str>, u64, u64)> = self
                .journeys
                .entries()
                .map(|(p, c)| {
                    let stratum = p.iter().find(|c| c.starts_with(STRATUM_MARK)).copied();
                    let channels = p.iter().filter(|c| !c.starts_with(STRATUM_MARK)).copied();
                    (stratum, channels.collect(), c.conversions, c.others)
                })
                .collect();
            logistic_touch_effects_within(&journeys)?
        } else {
            let journeys: Vec<(Vec<&str>, u64, u64)> = self
                .journeys
                .entries()
                .map(|(p, c)| (p, c.conversions, c.others))
                .collect();
            logistic_touch_effects(&journeys)?
        };
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
            Arc::new(Int64Array::from(vec![
                i64::try_from(fit.strata)
                    .unwrap_or(i64::MAX);
                n
            ])),
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

    fn within(journeys: &[(&str, Vec<&str>, u64, u64)]) -> LogisticFit {
        let journeys: Vec<_> = journeys
            .iter()
            .map(|(s, p, c, n)| (Some(*s), p.clone(), *c, *n))
            .collect();
        match logistic_touch_effects_within(&journeys) {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        }
    }

    /// Matched pairs (one converting and one non-converting journey per stratum): the
    /// conditional likelihood is that of "which of the two converted", `σ(β)` when only the
    /// case was exposed and `σ(−β)` when only the control was, so with `n10` and `n01` such
    /// pairs β solves `n10·(1 − σ(β)) − n01·σ(β) − β = 0` (the last term the ridge),
    /// found here by bisection, independently of the Newton fit.
    #[test]
    fn matched_pairs_give_the_conditional_estimate() {
        let names: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
        let mut journeys = Vec::new();
        for (i, s) in names.iter().enumerate() {
            let (case, control) = if i < 30 {
                (vec!["email", "base"], vec!["base"])
            } else {
                (vec!["base"], vec!["email", "base"])
            };
            journeys.push((s.as_str(), case, 1, 0));
            journeys.push((s.as_str(), control, 0, 1));
        }
        let f = within(&journeys);
        let (n10, n01) = (30.0, 10.0);
        let score = |b: f64| n10 * (1.0 - sigmoid(b)) - n01 * sigmoid(b) - b;
        let (mut lo, mut hi) = (0.0, 5.0);
        for _ in 0..200 {
            let mid = (lo + hi) / 2.0;
            if score(mid) > 0.0 { lo = mid } else { hi = mid }
        }
        let email = &f.effects[1];
        assert_eq!(email.channel, "email");
        assert!(f.converged);
        assert!(
            (email.coefficient.unwrap_or(0.0) - lo).abs() < 1e-8,
            "{f:?} vs {lo}"
        );
        // `base` is on both journeys of every pair: no information, the prior's 0
        assert!(
            f.effects[0].coefficient.unwrap_or(1.0).abs() < 1e-12,
            "{f:?}"
        );
        assert_eq!((f.strata, f.journeys), (40, 80));
    }

    /// Loyal customers convert more whatever they see, and are the ones on the e-mail list:
    /// a pooled fit credits e-mail with their loyalty, the fit within each person does not.
    #[test]
    fn within_persons_a_trait_of_the_person_is_not_an_effect() {
        let mut r = Lcg(7);
        let ids: Vec<String> = (0..3000).map(|i| format!("p{i}")).collect();
        let mut pooled = Vec::new();
        let mut by_person = Vec::new();
        for id in &ids {
            let loyal = r.next() < 0.3;
            for _ in 0..4 {
                let mut path = vec!["visit"];
                if r.next() < if loyal { 0.8 } else { 0.1 } {
                    path.push("email");
                }
                let searched = r.next() < 0.5;
                if searched {
                    path.push("search");
                }
                // true log-odds: -1, +2 for the loyal, +1 for a search; e-mail does nothing
                let eta = -1.0 + if loyal { 2.0 } else { 0.0 } + if searched { 1.0 } else { 0.0 };
                let converted = r.next() < sigmoid(eta);
                pooled.push((path.clone(), u64::from(converted), u64::from(!converted)));
                by_person.push((
                    id.as_str(),
                    path,
                    u64::from(converted),
                    u64::from(!converted),
                ));
            }
        }
        let coefficient = |f: &LogisticFit, c: &str| {
            f.effects
                .iter()
                .find(|e| e.channel == c)
                .and_then(|e| e.coefficient)
                .unwrap_or(f64::NAN)
        };
        let (p, w) = (fit(&pooled), within(&by_person));
        assert!(coefficient(&p, "email") > 0.5, "pooled {p:?}");
        assert!(coefficient(&w, "email").abs() < 0.2, "within {w:?}");
        assert!(
            (coefficient(&w, "search") - 1.0).abs() < 0.25,
            "within {w:?}"
        );
        assert!(w.converged && w.strata > 0 && w.strata < 3000, "{w:?}");
        // the intercept is refitted over every journey: effects are on the observed scale
        assert!(w.effects.iter().all(|e| e.marginal_effect.is_some()));
    }

    /// The exact conditional likelihood against brute force: every way of choosing the
    /// stratum's K converting journeys among its (expanded) journeys; the gradient and
    /// Hessian against finite differences of it.
    #[test]
    fn exact_stratum_likelihood_matches_enumeration() {
        // bags: (touch counts, conversions, journeys) over 2 channels
        let bags = vec![
            (vec![(0, 1.0)], 1.0, 2.0),
            (vec![(0, 1.0), (1, 2.0)], 1.0, 1.0),
            (vec![(1, 1.0)], 0.0, 2.0),
        ];
        let beta = [0.3, -0.7];
        let xb = |x: &[(usize, f64)], b: &[f64]| x.iter().map(|&(c, n)| b[c] * n).sum::<f64>();
        let brute = |b: &[f64]| {
            let expanded: Vec<f64> = bags
                .iter()
                .flat_map(|(x, _, m)| std::iter::repeat_n(xb(x, b), *m as usize))
                .collect();
            let n = expanded.len();
            let mut e_k = 0.0;
            for mask in 0u32..(1 << n) {
                if mask.count_ones() == 2 {
                    let s: f64 = (0..n)
                        .filter(|i| mask >> i & 1 == 1)
                        .map(|i| expanded[i])
                        .sum();
                    e_k += s.exp();
                }
            }
            let cases: f64 = bags.iter().map(|(x, c, _)| c * xb(x, b)).sum();
            cases - e_k.ln()
        };
        let got = stratum_terms(&beta, &bags, 2.0, None);
        assert!(
            (got - brute(&beta)).abs() < 1e-12,
            "{got} vs {}",
            brute(&beta)
        );
        let (mut g, mut h) = (vec![0.0; 2], vec![0.0; 4]);
        stratum_terms(&beta, &bags, 2.0, Some((&mut g, &mut h)));
        let eps = 1e-5;
        for c in 0..2 {
            let mut up = beta;
            up[c] += eps;
            let mut down = beta;
            down[c] -= eps;
            // g is the gradient of minus the log-likelihood
            let numeric = -(brute(&up) - brute(&down)) / (2.0 * eps);
            assert!(
                (g[c] - numeric).abs() < 1e-7,
                "g[{c}] {} vs {numeric}",
                g[c]
            );
            let (mut gu, mut hu) = (vec![0.0; 2], vec![0.0; 4]);
            stratum_terms(&up, &bags, 2.0, Some((&mut gu, &mut hu)));
            let (mut gd, mut hd) = (vec![0.0; 2], vec![0.0; 4]);
            stratum_terms(&down, &bags, 2.0, Some((&mut gd, &mut hd)));
            for c2 in 0..2 {
                let numeric = (gu[c2] - gd[c2]) / (2.0 * eps);
                assert!((h[c * 2 + c2] - numeric).abs() < 1e-6, "h {c} {c2}");
            }
        }
        // the profiled likelihood is a different function of β (an intercept, not a
        // conditioning), but its gradient vanishes at the same β for a large stratum: checked
        // by a_heavy_stratum_is_fitted_in_bounded_time
    }

    /// A stratum weighing millions of journeys (beyond the exact likelihood's reach): its
    /// intercept is profiled out, the fit stays quick, and both it and the same stratum at a
    /// thousandth of the weight find the log-odds ratio the data hold.
    #[test]
    fn a_heavy_stratum_is_fitted_in_bounded_time() {
        let heavy = within(&[
            ("a", vec!["x"], 3_000_000, 1_000_000),
            ("a", vec!["y"], 1_000_000, 3_000_000),
        ]);
        let light = within(&[
            ("a", vec!["x"], 3_000, 1_000),
            ("a", vec!["y"], 1_000, 3_000),
        ]);
        let b = |f: &LogisticFit| {
            f.effects[0].coefficient.unwrap_or(f64::NAN)
                - f.effects[1].coefficient.unwrap_or(f64::NAN)
        };
        assert!(heavy.converged && light.converged);
        // x converts 3 in 4, y 1 in 4: a log-odds ratio of ln 9 between them
        assert!((b(&heavy) - 9f64.ln()).abs() < 0.05, "{heavy:?}");
        assert!((b(&heavy) - b(&light)).abs() < 0.05, "{heavy:?} {light:?}");
    }

    #[test]
    fn without_an_informative_stratum_the_pooled_fit_is_returned() {
        let journeys = [("a", vec!["x"], 3, 0), ("b", vec!["y"], 0, 2)];
        let f = within(&journeys);
        let pooled: Vec<_> = journeys.iter().map(|j| (j.1.clone(), j.2, j.3)).collect();
        assert_eq!(f, fit(&pooled));
        assert_eq!((f.strata, f.journeys), (0, 5));
        // a stratum with one outcome only is left out of the within fit, not of the intercept
        let mut more = journeys.to_vec();
        more.push(("c", vec!["x"], 1, 0));
        more.push(("c", vec!["y"], 0, 1));
        let f = within(&more);
        assert_eq!((f.strata, f.journeys), (1, 2));
        assert!(f.intercept.is_some() && f.effects.iter().all(|e| e.coefficient.is_some()));
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
