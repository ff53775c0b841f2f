//! Langevin MCMC: unadjusted Langevin (ULA) on the data distribution (the score at t_eps),
//! and annealed Langevin (Song & Ermon 2019) down the process's noise levels.

use super::grid::{time_grid, T_EPS_SAMPLE};
use super::options::SamplerOptions;
use super::plan::{Plan, PlanBuilder, Quantity, X};
use super::reverse_sde::init_prior;
use crate::core::param::Parameterisation;
use crate::core::process::Process;

/// x <- x + eps s(x, t_eps) + sqrt(2 eps) z, from the prior, nfe steps.
pub fn ula(process: Process, param: Parameterisation, options: &SamplerOptions) -> Plan {
    let mut b = PlanBuilder::new("ula", process, param);
    let s = b.register();
    init_prior(&mut b, [0.0; 2]);
    let eps = options.step_size;
    for _ in 0..options.nfe.max(1) {
        b.eval(X, T_EPS_SAMPLE, s, Quantity::Score);
        b.axpy(X, &[(X, 1.0), (s, eps)], (2.0 * eps).sqrt());
        b.snapshot();
    }
    b.finish()
}

/// At each level t (corrector_steps per level): eps = 2 (snr sigma_t)^2 with sigma_t the
/// process's noise std at t (Song & Ermon's sigma_i),
/// x <- x + eps s + sqrt(2 eps) z.
pub fn annealed_langevin(process: Process, param: Parameterisation, options: &SamplerOptions) -> Plan {
    let mut b = PlanBuilder::new("annealed-langevin", process, param);
    let s = b.register();
    init_prior(&mut b, [0.0; 2]);
    let per_level = options.corrector_steps.max(1);
    let levels = (options.nfe / per_level).max(1);
    let grid = time_grid(&process, options.schedule, levels);
    for &t in &grid[1..] {
        let level = process.sigma(t);
        let eps = 2.0 * (options.snr * level).powi(2);
        for _ in 0..per_level {
            b.eval(X, t, s, Quantity::Score);
            b.axpy(X, &[(X, 1.0), (s, eps)], (2.0 * eps).sqrt());
        }
        b.snapshot();
    }
    b.finish()
}

/// Metropolis-adjusted Langevin (Roberts & Tweedie 1996) on the data distribution (p at
/// t_eps): needs a model with a log-density (the exact mixture). nfe steps in all.
pub fn mala(process: Process, param: Parameterisation, options: &SamplerOptions) -> Plan {
    let mut b = PlanBuilder::new("mala", process, param);
    init_prior(&mut b, [0.0; 2]);
    b.mala(T_EPS_SAMPLE, options.step_size, options.nfe.saturating_sub(1).max(1));
    b.finish()
}
