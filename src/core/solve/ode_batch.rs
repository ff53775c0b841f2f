//! Many independent adaptive solves in lock-step: each solve keeps its own time, step size,
//! controller history and counts, exactly as [`super::ode::integrate_adaptive`] would, but
//! every stage of every live solve is one call of a batched field. A network evaluates a
//! block of points with the kernel layer instead of one point at a time, which is what makes
//! pf-dopri5 and the likelihood fast on the CPU.
//!
//! The arithmetic per solve is the scalar loop's, in the same order, so with a field that is
//! the same function per point the results are the same bits (a test checks it); a batched
//! network differs from its scalar pass only by f32 rounding.

use super::ode::SolveStats;
use super::pid::PidController;
use super::tableau::ButcherTableau;

/// A field over many points: `f(solves, ts, ys, dys)` with ys and dys `ts.len() x dim`,
/// row-major; `solves[q]` is the index (in the batch) of the solve row q belongs to, for
/// fields that differ by solve (a likelihood's per-particle probe).
pub trait BatchField {
    fn eval(&mut self, solves: &[usize], ts: &[f64], ys: &[f64], dys: &mut [f64]);
}

impl<F: FnMut(&[usize], &[f64], &[f64], &mut [f64])> BatchField for F {
    fn eval(&mut self, solves: &[usize], ts: &[f64], ys: &[f64], dys: &mut [f64]) {
        self(solves, ts, ys, dys)
    }
}

/// One solve's state.
#[derive(Debug, Clone)]
struct Solve {
    t: f64,
    y: Vec<f64>,
    h: f64,
    norms: [f64; 3],
    stats: SolveStats,
    failed: Option<String>,
}

/// Integrates each row of `y0s` (`count x dim`) from t0 to t1 with an embedded pair, each
/// with its own steps chosen by `controller`; a solve that underflows or passes `max_steps`
/// fails alone, with the scalar loop's message.
#[allow(clippy::too_many_arguments)]
pub fn integrate_adaptive_batch(
    tableau: &ButcherTableau,
    f: &mut impl BatchField,
    y0s: &[f64],
    dim: usize,
    t0: f64,
    t1: f64,
    controller: &PidController,
    max_steps: usize,
) -> Vec<Result<(Vec<f64>, SolveStats), String>> {
    let count = y0s.len() / dim.max(1);
    if tableau.error.is_none() {
        let message =
            format!("{} has no embedded error estimate: use fixed steps, or bosh3, tsit5, dopri5", tableau.name);
        return vec![Err(message); count];
    }
    let direction = (t1 - t0).signum();
    let span = (t1 - t0).abs();
    let order = f64::from(tableau.order);
    let mut solves = initial_steps(f, y0s, dim, t0, direction, span, order, controller);
    let stages = tableau.stages();
    let used: Vec<bool> = (0..stages)
        .map(|i| {
            tableau.b[i] != 0.0
                || tableau.error.is_some_and(|e| e[i] != 0.0)
                || tableau.a.iter().skip(i + 1).any(|row| row[i] != 0.0)
        })
        .collect();
    let (mut ts, mut ys, mut dys) = (Vec::new(), Vec::new(), Vec::new());
    let mut indices = Vec::new();
    loop {
        // The live solves, after the scalar loop's two checks before a step.
        let mut live = Vec::new();
        for (p, s) in solves.iter_mut().enumerate() {
            if s.failed.is_some() || (t1 - s.t) * direction <= 0.0 {
                continue;
            }
            if s.stats.accepted + s.stats.rejected >= max_steps {
                s.failed = Some(format!("more than {max_steps} steps between t = {t0} and {t1}: loosen rtol/atol"));
                continue;
            }
            // As the scalar loop: a step that nearly reaches t1 ends on it.
            let remaining = (t1 - s.t).abs();
            let reaches_end = s.h >= remaining * (1.0 - 1e-9);
            let step_h = direction * if reaches_end { remaining } else { s.h };
            if step_h.abs() < 1e-14 * (1.0 + s.t.abs()) {
                s.failed = Some(format!(
                    "the step size underflowed at t = {}: the problem is too stiff for an explicit solver",
                    s.t
                ));
                continue;
            }
            live.push((p, step_h, reaches_end));
        }
        if live.is_empty() {
            break;
        }
        indices.clear();
        indices.extend(live.iter().map(|(p, _, _)| *p));
        // k[i][q * dim + d]: stage i of live solve q.
        let mut k = vec![vec![0.0; live.len() * dim]; stages];
        for i in 0..stages {
            if !used[i] {
                continue;
            }
            ts.clear();
            ys.clear();
            for (q, (p, h, _)) in live.iter().enumerate() {
                let s = &solves[*p];
                let start = ys.len();
                ys.extend_from_slice(&s.y);
                for (j, a) in tableau.a[i].iter().enumerate() {
                    if *a != 0.0 {
                        for d in 0..dim {
                            ys[start + d] += h * a * k[j][q * dim + d];
                        }
                    }
                }
                ts.push(s.t + tableau.c[i] * h);
            }
            dys.clear();
            dys.resize(ys.len(), 0.0);
            f.eval(&indices, &ts, &ys, &mut dys);
            k[i].copy_from_slice(&dys);
        }
        for (q, (p, h, reaches_end)) in live.iter().enumerate() {
            let s = &mut solves[*p];
            let combine = |weights: &[f64]| {
                let mut out = vec![0.0; dim];
                for (w, ki) in weights.iter().zip(&k) {
                    if *w != 0.0 {
                        for d in 0..dim {
                            out[d] += h * w * ki[q * dim + d];
                        }
                    }
                }
                out
            };
            let mut new_y = combine(tableau.b);
            new_y.iter_mut().zip(&s.y).for_each(|(n, y)| *n += *y);
            let error = combine(tableau.error.expect("embedded pair"));
            s.stats.evaluations += used.iter().filter(|u| **u).count();
            let norm = controller.error_norm(&s.y, &new_y, &error);
            let accepted = norm <= 1.0 && norm.is_finite();
            let norm = if norm.is_finite() { norm } else { 1e10 };
            let factor = controller.factor([norm, s.norms[0], s.norms[1]], order, accepted);
            if accepted {
                s.t = if *reaches_end || (t1 - (s.t + h)) * direction <= 0.0 { t1 } else { s.t + h };
                s.y = new_y;
                s.stats.accepted += 1;
                s.norms = [norm, s.norms[0], s.norms[1]];
            } else {
                s.stats.rejected += 1;
            }
            s.h = h.abs() * factor;
        }
    }
    solves
        .into_iter()
        .map(|s| match s.failed {
            Some(message) => Err(message),
            None => Ok((s.y, s.stats)),
        })
        .collect()
}

/// Hairer's initial step for every solve (as `ode::initial_step`), with two batched calls.
#[allow(clippy::too_many_arguments)]
fn initial_steps(
    f: &mut impl BatchField,
    y0s: &[f64],
    dim: usize,
    t0: f64,
    direction: f64,
    span: f64,
    order: f64,
    controller: &PidController,
) -> Vec<Solve> {
    let count = y0s.len() / dim.max(1);
    let all: Vec<usize> = (0..count).collect();
    let mut f0 = vec![0.0; y0s.len()];
    f.eval(&all, &vec![t0; count], y0s, &mut f0);
    let rms =
        |v: &[f64], scale: &[f64]| (v.iter().zip(scale).map(|(x, s)| (x / s).powi(2)).sum::<f64>() / dim as f64).sqrt();
    let mut scales = Vec::with_capacity(count);
    let (mut h0s, mut t_probe, mut y1s) = (Vec::with_capacity(count), Vec::with_capacity(count), Vec::new());
    for p in 0..count {
        let (y0, d) = (&y0s[p * dim..(p + 1) * dim], &f0[p * dim..(p + 1) * dim]);
        let scale: Vec<f64> = y0.iter().map(|y| controller.atol + y.abs() * controller.rtol).collect();
        let (d0, d1) = (rms(y0, &scale), rms(d, &scale));
        let h0 = if d0 < 1e-5 || d1 < 1e-5 { 1e-6 } else { 0.01 * d0 / d1 };
        let h0 = h0.min(span);
        y1s.extend(y0.iter().zip(d).map(|(y, d)| y + direction * h0 * d));
        t_probe.push(t0 + direction * h0);
        h0s.push((h0, d1));
        scales.push(scale);
    }
    let mut f1 = vec![0.0; y0s.len()];
    f.eval(&all, &t_probe, &y1s, &mut f1);
    (0..count)
        .map(|p| {
            let (h0, d1) = h0s[p];
            let diff: Vec<f64> =
                f1[p * dim..(p + 1) * dim].iter().zip(&f0[p * dim..(p + 1) * dim]).map(|(a, b)| a - b).collect();
            let d2 = rms(&diff, &scales[p]) / h0;
            let h1 = if d1.max(d2) <= 1e-15 { (h0 * 1e-3).max(1e-6) } else { (0.01 / d1.max(d2)).powf(1.0 / order) };
            Solve {
                t: t0,
                y: y0s[p * dim..(p + 1) * dim].to_vec(),
                h: (100.0 * h0).min(h1).min(span),
                norms: [1.0, 1.0, 1.0],
                stats: SolveStats { evaluations: 2, ..SolveStats::default() },
                failed: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::solve::ode::integrate_adaptive;
    use crate::core::solve::tableau::{BOSH3, DOPRI5, TSIT5};

    /// A nonlinear, time-dependent 2D field (per point, no coupling).
    fn field(t: f64, y: &[f64], dy: &mut [f64]) {
        dy[0] = -y[1] * (1.0 + 0.5 * t) + 0.1 * y[0].sin();
        dy[1] = y[0] - 0.3 * y[1] * y[1].abs();
    }

    /// Each solve of the batch is the scalar solve, bit for bit: result, accepted and rejected
    /// steps and evaluations, for every embedded pair, forwards and backwards in time.
    #[test]
    fn every_solve_is_the_scalar_solve() {
        let starts: Vec<f64> = (0..23).flat_map(|i| [(i as f64 * 0.7).sin() * 3.0, (i as f64 * 1.3).cos()]).collect();
        for tableau in [BOSH3, TSIT5, DOPRI5] {
            for (t0, t1) in [(0.0, 2.0), (1.0, 1e-3)] {
                let controller = PidController::new(1e-6, 1e-8);
                let mut batch = |_: &[usize], ts: &[f64], ys: &[f64], dys: &mut [f64]| {
                    for (p, t) in ts.iter().enumerate() {
                        field(*t, &ys[2 * p..2 * p + 2], &mut dys[2 * p..2 * p + 2]);
                    }
                };
                let got = integrate_adaptive_batch(&tableau, &mut batch, &starts, 2, t0, t1, &controller, 10_000);
                for (p, result) in got.iter().enumerate() {
                    let want = integrate_adaptive(
                        &tableau,
                        &mut field,
                        &starts[2 * p..2 * p + 2],
                        t0,
                        t1,
                        &controller,
                        10_000,
                    );
                    assert_eq!(result, &want, "{} solve {p}", tableau.name);
                }
            }
        }
    }

    /// A solve that runs out of steps fails alone, with the scalar loop's message.
    #[test]
    fn a_failing_solve_fails_alone() {
        let stiff = |_: &[usize], ts: &[f64], ys: &[f64], dys: &mut [f64]| {
            for p in 0..ts.len() {
                // The second solve's rate is 1e6: far more than 50 steps at this tolerance.
                let rate = if ys[2 * p + 1] > 0.5 { 1e6 } else { 1.0 };
                dys[2 * p] = -rate * ys[2 * p];
                dys[2 * p + 1] = 0.0;
            }
        };
        let mut f = stiff;
        let got = integrate_adaptive_batch(
            &DOPRI5,
            &mut f,
            &[1.0, 0.0, 1.0, 1.0],
            2,
            0.0,
            1.0,
            &PidController::new(1e-8, 1e-10),
            50,
        );
        assert!(got[0].is_ok(), "{:?}", got[0]);
        assert!(got[1].as_ref().unwrap_err().contains("more than 50 steps"), "{:?}", got[1]);
    }
}
