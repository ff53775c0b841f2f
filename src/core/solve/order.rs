//! Convergence-order experiments: test problems with closed-form solutions and the
//! least-squares slope of log(error) against log(step). Shared by the tests and `nde order`.

use super::brownian::VirtualBrownianTree;
use super::ode::integrate_fixed;
use super::sde::{sde_step, BrownianStep, ReversibleHeun, Sde, SdeSolver};
use super::tableau::ButcherTableau;

/// y' = field(t, y) on [0, t1] from y0, with its exact solution.
pub struct OdeProblem {
    pub name: &'static str,
    pub y0: Vec<f64>,
    pub t1: f64,
    pub field: fn(f64, &[f64], &mut [f64]),
    pub exact: fn(f64) -> Vec<f64>,
}

/// `linear`: a damped rotation y' = [[-0.5, -2], [2, -0.5]] y, y(t) = e^{-t/2} R(2t) y0.
/// `nonlinear`: y' = -2 t y^2, y(0) = 1, y(t) = 1 / (1 + t^2) (non-autonomous).
pub fn ode_problem(name: &str) -> Result<OdeProblem, String> {
    match name {
        "linear" => Ok(OdeProblem {
            name: "linear",
            y0: vec![1.0, 0.0],
            t1: 2.0,
            field: |_, y, dy| {
                dy[0] = -0.5 * y[0] - 2.0 * y[1];
                dy[1] = 2.0 * y[0] - 0.5 * y[1];
            },
            exact: |t| {
                let decay = (-0.5 * t).exp();
                vec![decay * (2.0 * t).cos(), decay * (2.0 * t).sin()]
            },
        }),
        "nonlinear" => Ok(OdeProblem {
            name: "nonlinear",
            y0: vec![1.0],
            t1: 2.0,
            field: |t, y, dy| dy[0] = -2.0 * t * y[0] * y[0],
            exact: |t| vec![1.0 / (1.0 + t * t)],
        }),
        other => Err(format!("unknown ODE problem '{other}': choose linear or nonlinear")),
    }
}

/// Step counts fine enough to be asymptotic and coarse enough to stay above round-off for a
/// method of this order. Order-5 pairs approach their slope from above (5.4 at h = 1/16).
pub fn ode_step_counts(order: u32) -> &'static [usize] {
    match order {
        1 | 2 => &[32, 64, 128, 256, 512],
        3 | 4 => &[16, 32, 64, 128],
        _ => &[64, 96, 128, 192, 256],
    }
}

/// (step, max-norm error at t1) of fixed-step `tableau` on `problem`, per step count.
pub fn ode_errors(tableau: &ButcherTableau, problem: &OdeProblem, steps: &[usize]) -> Vec<(f64, f64)> {
    let exact = (problem.exact)(problem.t1);
    steps
        .iter()
        .map(|&n| {
            let (y, _) =
                integrate_fixed(tableau, &mut |t, y, dy| (problem.field)(t, y, dy), &problem.y0, 0.0, problem.t1, n);
            (problem.t1 / n as f64, y.iter().zip(&exact).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max))
        })
        .collect()
}

/// Least-squares slope of log(error) on log(step) over (step, error) points.
pub fn fitted_slope(points: &[(f64, f64)]) -> f64 {
    let logs: Vec<(f64, f64)> = points.iter().map(|(h, e)| (h.ln(), e.max(1e-300).ln())).collect();
    let n = logs.len() as f64;
    let mx = logs.iter().map(|p| p.0).sum::<f64>() / n;
    let my = logs.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = logs.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = logs.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    sxy / sxx
}

/// The scalar linear SDEs with exact solutions on a given Brownian path:
/// `gbm`: dX = mu X dt + s X dW (Itô), X_T = X_0 exp((mu - s^2/2) T + s W_T);
/// `ou`: dX = -theta X dt + s dW, X_T = X_0 e^{-theta T} + s (W_T - theta int_0^T e^{-theta (T-u)} W_u du).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SdeProblem {
    pub name: &'static str,
    pub x0: f64,
    pub t1: f64,
    pub rate: f64,
    pub noise: f64,
    pub additive: bool,
}

pub fn sde_problem(name: &str) -> Result<SdeProblem, String> {
    match name {
        "gbm" => Ok(SdeProblem { name: "gbm", x0: 1.0, t1: 1.0, rate: 1.0, noise: 0.5, additive: false }),
        "ou" => Ok(SdeProblem { name: "ou", x0: 1.0, t1: 1.0, rate: 2.0, noise: 0.8, additive: true }),
        other => Err(format!("unknown SDE problem '{other}': choose gbm or ou")),
    }
}

/// The problem as an SDE for a solver: Stratonovich solvers get the Stratonovich drift
/// (for GBM, mu - s^2/2), so every solver aims at the same solution.
struct SdeForSolver {
    problem: SdeProblem,
    stratonovich: bool,
}

impl Sde for SdeForSolver {
    fn dim(&self) -> usize {
        1
    }
    fn drift(&self, _t: f64, y: &[f64], out: &mut [f64]) {
        let p = self.problem;
        out[0] = if p.additive {
            -p.rate * y[0]
        } else if self.stratonovich {
            (p.rate - 0.5 * p.noise * p.noise) * y[0]
        } else {
            p.rate * y[0]
        };
    }
    fn diffusion(&self, _t: f64, y: &[f64], out: &mut [f64]) {
        out[0] = if self.problem.additive { self.problem.noise } else { self.problem.noise * y[0] };
    }
    fn diffusion_derivative(&self, _t: f64, _y: &[f64], out: &mut [f64]) {
        out[0] = if self.problem.additive { 0.0 } else { self.problem.noise };
    }
}

/// The strong order a solver shows on a problem. Theory gives SRA1 order 1.5 for additive
/// noise; on OU, whose drift is linear, the terms that limit it to 1.5 vanish (they involve
/// f'' g^2), what remains is f'^2 g I_(1,0,0), and the observed order is 2.
pub fn expected_strong_order(solver: SdeSolver, problem: &SdeProblem) -> f64 {
    match solver {
        SdeSolver::Sra1 if problem.name == "ou" => 2.0,
        _ => solver.strong_order(problem.additive),
    }
}

/// Errors at each step count and the fitted orders.
#[derive(Debug, Clone, PartialEq)]
pub struct SdeOrderResult {
    /// (step, mean |X_N - X_T|, |mean (X_N - X_T)|) per step count.
    pub points: Vec<(f64, f64, f64)>,
    pub strong_order: f64,
    pub weak_order: f64,
}

/// Fine resolution of the reference path: every coarse grid is a sub-grid of it.
const FINE_STEPS: usize = 1024;

/// Runs `solver` on `paths` Brownian paths (virtual Brownian trees keyed by seed and path)
/// at each step count, against the exact solution on the same path. Weak errors use the
/// same pairing: E[X_N] - E[X_T] = E[X_N - X_T], which has far less Monte-Carlo noise.
pub fn sde_strong_and_weak_errors(
    solver: SdeSolver,
    problem: &SdeProblem,
    paths: u64,
    steps: &[usize],
    seed: u64,
) -> SdeOrderResult {
    let sde = SdeForSolver { problem: *problem, stratonovich: solver.is_stratonovich() };
    let fine_h = problem.t1 / FINE_STEPS as f64;
    let mut strong = vec![0.0; steps.len()];
    let mut signed = vec![0.0; steps.len()];
    for path in 0..paths {
        let tree = VirtualBrownianTree::new(seed, path, 0.0, problem.t1, 1);
        let w: Vec<f64> = (0..=FINE_STEPS).map(|k| tree.value(k as f64 * fine_h)[0]).collect();
        let exact = if problem.additive {
            let integral: f64 = (0..FINE_STEPS)
                .map(|k| {
                    let (a, b) = (k as f64 * fine_h, (k + 1) as f64 * fine_h);
                    let weight = |u: f64| (-problem.rate * (problem.t1 - u)).exp();
                    0.5 * fine_h * (weight(a) * w[k] + weight(b) * w[k + 1])
                })
                .sum();
            problem.x0 * (-problem.rate * problem.t1).exp() + problem.noise * (w[FINE_STEPS] - problem.rate * integral)
        } else {
            let drift = problem.rate - 0.5 * problem.noise * problem.noise;
            problem.x0 * (drift * problem.t1 + problem.noise * w[FINE_STEPS]).exp()
        };
        for (i, &n) in steps.iter().enumerate() {
            assert!(FINE_STEPS % n == 0, "step counts must divide {FINE_STEPS}");
            let stride = FINE_STEPS / n;
            let h = problem.t1 / n as f64;
            let brownian = |step: usize| {
                let (a, b) = (step * stride, (step + 1) * stride);
                let time_integral: f64 = (a..b).map(|k| 0.5 * fine_h * (w[k] + w[k + 1] - 2.0 * w[a])).sum();
                BrownianStep { dw: vec![w[b] - w[a]], time_integral: Some(vec![time_integral]) }
            };
            let x = if solver == SdeSolver::ReversibleHeun {
                let mut state = ReversibleHeun::new(&sde, 0.0, &[problem.x0]);
                for step in 0..n {
                    state.step(&sde, h, &brownian(step).dw);
                }
                state.y[0]
            } else {
                let mut y = vec![problem.x0];
                for step in 0..n {
                    y = sde_step(solver, &sde, step as f64 * h, &y, h, &brownian(step));
                }
                y[0]
            };
            strong[i] += (x - exact).abs();
            signed[i] += x - exact;
        }
    }
    let m = paths as f64;
    let points: Vec<(f64, f64, f64)> =
        steps.iter().enumerate().map(|(i, n)| (problem.t1 / *n as f64, strong[i] / m, (signed[i] / m).abs())).collect();
    let strong_order = fitted_slope(&points.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>());
    let weak_order = fitted_slope(&points.iter().map(|p| (p.0, p.2)).collect::<Vec<_>>());
    SdeOrderResult { points, strong_order, weak_order }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn slope_of_a_power_law_is_its_exponent() {
        let points: Vec<(f64, f64)> = [0.1, 0.05, 0.025].iter().map(|h| (*h, 3.0 * h * h * h)).collect();
        assert!((fitted_slope(&points) - 3.0).abs() < 1e-12);
    }

    #[test]
    fn exact_solutions_solve_their_equations() {
        for name in ["linear", "nonlinear"] {
            let p = ode_problem(name).unwrap();
            assert_eq!((p.exact)(0.0), p.y0);
            let (t, h) = (0.7, 1e-6);
            let (a, b) = ((p.exact)(t + h), (p.exact)(t - h));
            let mut dy = vec![0.0; p.y0.len()];
            (p.field)(t, &(p.exact)(t), &mut dy);
            for d in 0..dy.len() {
                assert!(((a[d] - b[d]) / (2.0 * h) - dy[d]).abs() < 1e-8, "{name}");
            }
        }
    }
}
