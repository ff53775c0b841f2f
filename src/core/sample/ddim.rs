//! DDIM (Song, Meng & Ermon 2021) for any process: from x0-hat and eps-hat at t,
//! x_s = alpha_s x0 + sqrt(sigma_s^2 - c^2) eps + c z, c = eta sigma_s sqrt(1 - r^2),
//! r = (alpha_t sigma_s) / (alpha_s sigma_t). eta = 0 is deterministic (= DPM-Solver-1);
//! eta = 1 is DDPM's posterior.

use super::grid::time_grid;
use super::options::SamplerOptions;
use super::plan::{Plan, PlanBuilder, Quantity, Reg, X};
use super::reverse_sde::init_prior;
use crate::core::param::Parameterisation;
use crate::core::process::Process;

pub fn ddim(process: Process, param: Parameterisation, options: &SamplerOptions) -> Plan {
    let mut b = PlanBuilder::new("ddim", process, param);
    let eps = b.register();
    init_prior(&mut b, [0.0; 2]);
    let grid = time_grid(&process, options.schedule, options.nfe.max(1));
    for w in grid.windows(2) {
        ddim_step(&mut b, eps, w[0], w[1], options.eta);
        b.snapshot();
    }
    b.finish()
}

/// One DDIM step from t to s < t (one evaluation, into the scratch register `eps`).
pub fn ddim_step(b: &mut PlanBuilder, eps: Reg, t: f64, s: f64, eta: f64) {
    let process = b.process();
    let (a_t, s_t, a_s, s_s) = (process.alpha(t), process.sigma(t), process.alpha(s), process.sigma(s));
    let r = (a_t * s_s) / (a_s * s_t);
    let c = eta * s_s * (1.0 - r * r).max(0.0).sqrt();
    b.eval(X, t, eps, Quantity::Eps);
    // alpha_s x0 = (alpha_s / alpha_t) (x - sigma_t eps).
    let keep = (s_s * s_s - c * c).max(0.0).sqrt();
    b.axpy(X, &[(X, a_s / a_t), (eps, keep - a_s * s_t / a_t)], c);
}
