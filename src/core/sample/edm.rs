//! EDM / Karras et al. (2022) Heun sampler with stochastic churn, on the scaled variable
//! y = x / alpha and noise level sigma~ = sigma / alpha = e^{-lambda}, where the
//! probability-flow ODE reads dy/dsigma~ = (y - D(y)) / sigma~ (D: the data prediction).
//! Karras spacing (rho 7) of n levels, then a final Euler step to sigma~ = 0:
//! 2 n - 1 evaluations.

use super::grid::{time_grid, Schedule};
use super::options::SamplerOptions;
use super::plan::{Plan, PlanBuilder, Quantity, Reg, X};
use super::reverse_sde::init_prior;
use crate::core::param::Parameterisation;
use crate::core::process::Process;

pub fn edm_heun(process: Process, param: Parameterisation, options: &SamplerOptions) -> Result<Plan, String> {
    check_process(&process, "edm-heun")?;
    let mut b = PlanBuilder::new("edm-heun", process, param);
    let regs = EdmRegisters::new(&mut b);
    init_prior(&mut b, [0.0; 2]);
    let grid = edm_levels(&process, options.nfe);
    let gamma = edm_gamma(options.churn, grid.len());
    for i in 0..grid.len() {
        edm_step(&mut b, regs, &grid, i, gamma);
        b.snapshot();
    }
    Ok(b.finish())
}

/// EDM works on vp-type and ve processes.
pub fn check_process(process: &Process, sampler: &str) -> Result<(), String> {
    if process.is_conditional() || process.is_flow() {
        return Err(format!("{sampler} needs a vp-type or ve process, not {}", process.name()));
    }
    Ok(())
}

/// The Karras levels (times, decreasing from t_max) of an nfe budget: ceil(nfe / 2) of them.
pub fn edm_levels(process: &Process, nfe: usize) -> Vec<f64> {
    let levels = nfe.div_ceil(2).max(1);
    time_grid(process, Schedule::Karras, levels.max(2) - 1)
}

/// Churn per level, capped as in EDM.
pub fn edm_gamma(churn: f64, levels: usize) -> f64 {
    (churn / levels as f64).min(2f64.sqrt() - 1.0)
}

/// The scratch registers of one EDM step.
#[derive(Debug, Clone, Copy)]
pub struct EdmRegisters {
    hat: Reg,
    d1: Reg,
    d2: Reg,
    next: Reg,
}

impl EdmRegisters {
    pub fn new(b: &mut PlanBuilder) -> Self {
        EdmRegisters { hat: b.register(), d1: b.register(), d2: b.register(), next: b.register() }
    }
}

/// One step from level grid[i]: churn, then Heun to grid[i + 1], or at the last level Euler to
/// sigma~ = 0. Two evaluations (one at the last level).
pub fn edm_step(b: &mut PlanBuilder, regs: EdmRegisters, grid: &[f64], i: usize, gamma: f64) {
    let process = b.process();
    let EdmRegisters { hat, d1, d2, next } = regs;
    let scaled = |t: f64| process.sigma(t) / process.alpha(t);
    let t = grid[i];
    let (alpha, sig) = (process.alpha(t), scaled(t));
    // Churn: raise the level to sigma^ = sigma~ (1 + gamma) with fresh noise.
    let sig_hat = sig * (1.0 + gamma);
    let t_hat = if gamma > 0.0 { process.t_from_log_snr(-sig_hat.ln()).min(process.t_max()) } else { t };
    let sig_hat = scaled(t_hat);
    let a_hat = process.alpha(t_hat);
    let noise = a_hat * (sig_hat * sig_hat - sig * sig).max(0.0).sqrt();
    b.axpy(hat, &[(X, a_hat / alpha)], noise);
    b.eval(hat, t_hat, d1, Quantity::X0);
    // y_hat = x^ / a^; d1 = (y_hat - D1) / sigma^.
    if i + 1 == grid.len() {
        // Last level: Euler to sigma~ = 0 lands on the data prediction.
        b.axpy(X, &[(d1, 1.0)], 0.0);
        return;
    }
    let t_next = grid[i + 1];
    let (a_next, sig_next) = (process.alpha(t_next), scaled(t_next));
    let dsig = sig_next - sig_hat;
    // y_next = y_hat + dsig (y_hat - D1) / sig_hat; x_next = a_next y_next.
    let c_y = a_next * (1.0 + dsig / sig_hat) / a_hat;
    let c_d1 = -a_next * dsig / sig_hat;
    b.axpy(next, &[(hat, c_y), (d1, c_d1)], 0.0);
    b.eval(next, t_next, d2, Quantity::X0);
    // Heun: y_next = y_hat + dsig/2 (d1 + d2), d2 = (y_next_euler - D2) / sig_next.
    let e = 0.5 * dsig;
    let terms = [
        (hat, a_next * (1.0 + e / sig_hat) / a_hat),
        (d1, -a_next * e / sig_hat),
        (next, e / sig_next),
        (d2, -a_next * e / sig_next),
    ];
    b.axpy(X, &terms, 0.0);
}
