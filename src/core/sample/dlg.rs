//! Denoising Langevin Gibbs (Kim & Ye 2022, "Denoising MCMC"): a Markov chain on pairs
//! (x, noise level k) over the levels of an integrator's grid. Each sweep takes a Langevin
//! step in x at the particle's level, x <- x + (eta/2) s(x, t_k) + sqrt(eta) z, then a Gibbs
//! step k ~ p(k | x) ∝ p_{t_k}(x) (exact for a mixture; a trained classifier otherwise).
//! After the sweeps every particle integrates from its own level down to the data, so a
//! particle the chain has already brought close to the data takes only the last few steps.
//!
//! eta is deliberately not scaled by the level: a step too large for a low level adds enough
//! noise that the next Gibbs step moves the particle up to a level where it is stable.

use super::ddim::ddim_step;
use super::edm::{check_process, edm_gamma, edm_levels, edm_step, EdmRegisters};
use super::grid::time_grid;
use super::options::{DlgIntegrator, SamplerOptions};
use super::plan::{Plan, PlanBuilder, Quantity, X};
use super::reverse_sde::init_prior;
use crate::core::param::Parameterisation;
use crate::core::process::Process;

/// Sweeps and Langevin step by default: at the former defaults (10 sweeps, eta 0.8) the chain
/// plateaued at about 9x the metric floor on gmm8; eta 0.1 reaches the floor by about 200
/// sweeps (docs/RESULTS.md has the trade-off).
pub const DEFAULT_SWEEPS: usize = 200;
pub const DEFAULT_STEP: f64 = 0.1;

/// The chain's noise levels (decreasing times): the times at which the integrator's steps start.
pub fn dlg_levels(process: &Process, options: &SamplerOptions) -> Vec<f64> {
    match options.integrator {
        DlgIntegrator::EdmHeun => edm_levels(process, options.nfe),
        DlgIntegrator::Ddim => {
            let mut grid = time_grid(process, options.schedule, options.nfe.max(1));
            grid.pop();
            grid
        }
    }
}

pub fn dlg(process: Process, param: Parameterisation, options: &SamplerOptions) -> Result<Plan, String> {
    check_process(&process, "dlg")?;
    if !(options.dlg_step.is_finite() && options.dlg_step > 0.0) {
        return Err(format!("--dlg-step must be a positive number, got {}", options.dlg_step));
    }
    let mut b = PlanBuilder::new("dlg", process, param);
    let (level, score) = (b.register(), b.register());
    init_prior(&mut b, [0.0; 2]);
    // The chain starts at the top level, where the prior is (nearly) exact.
    b.axpy(level, &[], 0.0);
    let levels = dlg_levels(&process, options);
    let eta = options.dlg_step;
    for _ in 0..options.sweeps {
        b.eval_at_level(X, level, &levels, score, Quantity::Score);
        b.axpy(X, &[(X, 1.0), (score, 0.5 * eta)], eta.sqrt());
        b.gibbs_level(X, level, &levels, options.level_argmax);
        b.snapshot();
    }
    match options.integrator {
        DlgIntegrator::EdmHeun => {
            let regs = EdmRegisters::new(&mut b);
            let gamma = edm_gamma(options.churn, levels.len());
            for i in 0..levels.len() {
                b.only_from_level(level, i, |b| edm_step(b, regs, &levels, i, gamma));
                b.snapshot();
            }
        }
        DlgIntegrator::Ddim => {
            let eps = b.register();
            let grid = time_grid(&process, options.schedule, options.nfe.max(1));
            for i in 0..levels.len() {
                b.only_from_level(level, i, |b| ddim_step(b, eps, grid[i], grid[i + 1], options.eta));
                b.snapshot();
            }
        }
    }
    Ok(b.finish())
}
