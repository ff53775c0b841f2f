//! Predictor-corrector (score_sde): Langevin corrector steps at each time, then the
//! reverse-diffusion predictor. 1 + corrector_steps evaluations per step.
//!
//! The corrector's step is eps = 2 a (snr sigma_t)^2. score_sde sets it from the batch's
//! mean norms, eps = 2 a (snr |z| / |s|)^2; with |z|^2 ~ d and |s|^2 ~ d / sigma_t^2 (the
//! noise-dominated score) that is the same step without a reduction over particles, which the
//! GPU would need. A per-particle norm blew up here where |s| ~ 0 (between the modes).

use super::grid::time_grid;
use super::options::SamplerOptions;
use super::plan::{Plan, PlanBuilder, Quantity, X};
use super::reverse_sde::{init_prior, reverse_diffusion_step, transition};
use crate::core::param::Parameterisation;
use crate::core::process::Process;

pub fn predictor_corrector(process: Process, param: Parameterisation, options: &SamplerOptions) -> Plan {
    let mut b = PlanBuilder::new("pc", process, param);
    let s = b.register();
    init_prior(&mut b, [0.0; 2]);
    let per_step = 1 + options.corrector_steps;
    let steps = (options.nfe / per_step).max(1);
    let grid = time_grid(&process, options.schedule, steps);
    for (i, w) in grid.windows(2).enumerate() {
        let (t, t_next) = (w[0], w[1]);
        // score_sde's alpha_i: 1 - beta_i for VP-type processes, 1 for VE.
        let (a, _) = transition(&process, t, t_next);
        let alpha = if matches!(process, Process::Ve { .. }) { 1.0 } else { a * a };
        for _ in 0..options.corrector_steps {
            let eps = 2.0 * alpha * (options.snr * process.sigma(t)).powi(2);
            b.eval(X, t, s, Quantity::Score);
            b.axpy(X, &[(X, 1.0), (s, eps)], (2.0 * eps).sqrt());
        }
        reverse_diffusion_step(&mut b, s, t, t_next, i + 2 == grid.len());
        b.snapshot();
    }
    b.finish()
}
