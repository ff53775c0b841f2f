//! Reverse-SDE samplers (score_sde): Euler-Maruyama, the reverse-diffusion predictor, and
//! ancestral sampling. One model evaluation per step; the last step adds no noise.

use super::grid::time_grid;
use super::options::SamplerOptions;
use super::plan::{Plan, PlanBuilder, Quantity, X};
use crate::core::param::Parameterisation;
use crate::core::process::Process;

/// The prior at t_max: N((1 - alpha) mu, sigma^2) (mu = 0 unless mean-reverting).
pub fn init_prior(b: &mut PlanBuilder, mu: [f64; 2]) {
    let p = b.process();
    let t = p.t_max();
    let mu = p.condition(mu);
    let a = p.alpha(t);
    b.init_prior([(1.0 - a) * mu[0], (1.0 - a) * mu[1]], p.sigma(t));
}

/// The exact forward transition from t_next < t to t: x_t = a x_next + sqrt(b) z.
pub fn transition(process: &Process, t: f64, t_next: f64) -> (f64, f64) {
    let a = process.alpha(t) / process.alpha(t_next);
    (a, (process.sigma(t).powi(2) - a * a * process.sigma(t_next).powi(2)).max(0.0))
}

/// x <- x + (f - g^2 s) dt + g sqrt(|dt|) z with dt < 0.
pub fn euler_maruyama(process: Process, param: Parameterisation, options: &SamplerOptions) -> Plan {
    let mut b = PlanBuilder::new("em", process, param);
    let s = b.register();
    init_prior(&mut b, [0.0; 2]);
    let grid = time_grid(&process, options.schedule, options.nfe.max(1));
    for (i, w) in grid.windows(2).enumerate() {
        let (t, dt) = (w[0], w[1] - w[0]);
        let last = i + 2 == grid.len();
        b.eval(X, t, s, Quantity::Score);
        let (k, g2) = (process.drift_coefficient(t), process.diffusion_squared(t));
        b.axpy(X, &[(X, 1.0 + k * dt), (s, -g2 * dt)], if last { 0.0 } else { (g2 * dt.abs()).sqrt() });
        b.snapshot();
    }
    b.finish()
}

/// x_mean = x - f_disc + G^2 s, x = x_mean + G z, with the exact transition's f_disc, G.
pub fn reverse_diffusion(process: Process, param: Parameterisation, options: &SamplerOptions) -> Plan {
    let mut b = PlanBuilder::new("reverse-diffusion", process, param);
    let s = b.register();
    init_prior(&mut b, [0.0; 2]);
    let grid = time_grid(&process, options.schedule, options.nfe.max(1));
    for (i, w) in grid.windows(2).enumerate() {
        let last = i + 2 == grid.len();
        reverse_diffusion_step(&mut b, s, w[0], w[1], last);
        b.snapshot();
    }
    b.finish()
}

pub fn reverse_diffusion_step(b: &mut PlanBuilder, s: u8, t: f64, t_next: f64, last: bool) {
    let (a, g2) = transition(&b.process(), t, t_next);
    b.eval(X, t, s, Quantity::Score);
    b.axpy(X, &[(X, 2.0 - a), (s, g2)], if last { 0.0 } else { g2.sqrt() });
}

/// DDPM's ancestral step (VP-type): x <- (x + beta s) / sqrt(1 - beta) + sqrt(beta) z;
/// VE: x <- x + (s_i^2 - s_{i-1}^2) s + sqrt(s_{i-1}^2 (s_i^2 - s_{i-1}^2) / s_i^2) z.
pub fn ancestral(process: Process, param: Parameterisation, options: &SamplerOptions) -> Result<Plan, String> {
    let mut b = PlanBuilder::new("ancestral", process, param);
    let s = b.register();
    init_prior(&mut b, [0.0; 2]);
    let grid = time_grid(&process, options.schedule, options.nfe.max(1));
    for (i, w) in grid.windows(2).enumerate() {
        let (t, t_next) = (w[0], w[1]);
        let last = i + 2 == grid.len();
        b.eval(X, t, s, Quantity::Score);
        match process {
            Process::Vp { .. } | Process::CosineVp { .. } => {
                let a = process.alpha(t) / process.alpha(t_next);
                let beta = 1.0 - a * a;
                b.axpy(X, &[(X, 1.0 / a), (s, beta / a)], if last { 0.0 } else { beta.sqrt() });
            }
            Process::Ve { .. } => {
                let (hi, lo) = (process.sigma(t).powi(2), process.sigma(t_next).powi(2));
                b.axpy(X, &[(X, 1.0), (s, hi - lo)], if last { 0.0 } else { (lo * (hi - lo) / hi).sqrt() });
            }
            _ => return Err(format!("ancestral sampling is defined for vp, cosine and ve, not {}", process.name())),
        }
        b.snapshot();
    }
    Ok(b.finish())
}
