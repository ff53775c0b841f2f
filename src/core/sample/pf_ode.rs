//! The probability-flow ODE dx/dt = k(t) x - g(t)^2 s(x, t) / 2, integrated from t_max to
//! t_eps with any Runge-Kutta tableau (fixed steps; the stages are linear combinations of
//! registers, so the whole step is Eval and Axpy ops), or per particle with an embedded pair
//! under PID control (`pf-dopri5`).

use super::grid::{time_grid, T_EPS_SAMPLE};
use super::options::SamplerOptions;
use super::plan::{quantity_coefficients, Plan, PlanBuilder, Quantity, Reg, X};
use super::reverse_sde::init_prior;
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::solve::tableau::{ButcherTableau, DOPRI5};

pub fn fixed_step(
    process: Process,
    param: Parameterisation,
    tableau: &ButcherTableau,
    options: &SamplerOptions,
) -> Plan {
    let mut b = PlanBuilder::new(&format!("pf-{}", tableau.name), process, param);
    init_prior(&mut b, [0.0; 2]);
    let stages = tableau.stages();
    let stage_inputs: Vec<Reg> = (0..stages).map(|_| b.register()).collect();
    let scores: Vec<Reg> = (0..stages).map(|_| b.register()).collect();
    let steps = (options.nfe / stages).max(1);
    let grid = time_grid(&process, options.schedule, steps);
    for w in grid.windows(2) {
        let (t, h) = (w[0], w[1] - w[0]);
        // K_i = k(t_i) Y_i - g(t_i)^2 / 2 S_i, so every combination of K's is one of Y's and S's.
        let mut k_terms: Vec<Vec<(Reg, f64)>> = Vec::with_capacity(stages);
        for i in 0..stages {
            let ti = t + tableau.c[i] * h;
            let mut terms = vec![(X, 1.0)];
            for (j, a) in tableau.a[i].iter().enumerate() {
                for (r, c) in &k_terms[j] {
                    terms.push((*r, h * a * c));
                }
            }
            b.axpy(stage_inputs[i], &merge(terms), 0.0);
            b.eval(stage_inputs[i], ti, scores[i], Quantity::Score);
            k_terms.push(vec![
                (stage_inputs[i], process.drift_coefficient(ti)),
                (scores[i], -0.5 * process.diffusion_squared(ti)),
            ]);
        }
        let mut terms = vec![(X, 1.0)];
        for (i, weight) in tableau.b.iter().enumerate() {
            for (r, c) in &k_terms[i] {
                terms.push((*r, h * weight * c));
            }
        }
        b.axpy(X, &merge(terms), 0.0);
        b.snapshot();
    }
    b.finish()
}

/// Adds up the coefficients of repeated registers.
fn merge(terms: Vec<(Reg, f64)>) -> Vec<(Reg, f64)> {
    let mut out: Vec<(Reg, f64)> = Vec::new();
    for (r, c) in terms {
        match out.iter_mut().find(|(q, _)| *q == r) {
            Some(slot) => slot.1 += c,
            None => out.push((r, c)),
        }
    }
    out
}

pub fn adaptive(process: Process, param: Parameterisation, options: &SamplerOptions) -> Plan {
    let mut b = PlanBuilder::new("pf-dopri5", process, param);
    init_prior(&mut b, [0.0; 2]);
    b.adaptive_flow(process.t_max(), T_EPS_SAMPLE, options.rtol, options.atol, &DOPRI5);
    b.snapshot();
    b.finish()
}

/// The probability-flow ODE's field at (x, t) from the model's output there:
/// dx/dt = k(t) (x - mu) - g(t)^2 / 2 * s(x, t), with the score s = a out + b (x - (1 - alpha) mu).
/// The one CPU definition: the adaptive op and the likelihood both call it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowField {
    pub velocity: [f64; 2],
    /// The score's affine map from the output: s = a out + b x (centred).
    pub a: f64,
    pub b: f64,
    /// The drift coefficient k(t) and g(t)^2.
    pub k: f64,
    pub g2: f64,
}

pub fn probability_flow(
    process: &Process,
    param: Parameterisation,
    condition: [f32; 2],
    t: f64,
    x: [f64; 2],
    out: [f32; 2],
) -> FlowField {
    let alpha = process.alpha(t);
    let (a, b) = quantity_coefficients(param, Quantity::Score, alpha, process.sigma(t));
    let (k, g2) = (process.drift_coefficient(t), process.diffusion_squared(t));
    let mut velocity = [0.0; 2];
    for d in 0..2 {
        let mu = f64::from(condition[d]);
        let score = a * f64::from(out[d]) + b * (x[d] - (1.0 - alpha) * mu);
        velocity[d] = k * (x[d] - mu) - 0.5 * g2 * score;
    }
    FlowField { velocity, a, b, k, g2 }
}
