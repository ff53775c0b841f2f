//! Samplers for the mean-reverting process (IR-SDE) towards the condition mu:
//! Euler-Maruyama posterior sampling of the reverse SDE, and the MR Sampler (MRS), which is
//! DPM-Solver applied to y = x - mu: with data prediction m, y follows the VP-like formulas in
//! log-SNR, and x = y + mu gives every update the offset mu (1 - sum of its coefficients).
//! Formulas: the MRS paper (docs/SAMPLERS.md).

use super::grid::{time_grid, time_grid_from, T_EPS_SAMPLE};
use super::options::SamplerOptions;
use super::plan::{Plan, PlanBuilder, Quantity, Reg, X};
use super::reverse_sde::init_prior;
use crate::core::param::Parameterisation;
use crate::core::process::Process;

fn builder(
    name: &str,
    process: Process,
    param: Parameterisation,
    options: &SamplerOptions,
) -> Result<PlanBuilder, String> {
    if !process.is_conditional() {
        return Err(format!("{name} samples the mean-reverting process: use --process mr"));
    }
    let mut b = PlanBuilder::new(name, process, param);
    b.set_condition(options.condition);
    Ok(b)
}

/// x_t = sum c_i R[r_i] + mu (1 - sum c_i): an update of y = x - mu written on x.
fn shifted(b: &mut PlanBuilder, terms: &[(Reg, f64)], noise: f64) {
    let mu = b.condition();
    let total: f64 = terms.iter().map(|(_, c)| c).sum();
    b.axpy_offset(X, terms, [mu[0] * (1.0 - total), mu[1] * (1.0 - total)], noise);
}

/// Reverse-SDE Euler-Maruyama: x <- x + (k (x - mu) - g^2 s) dt + g sqrt(|dt|) z.
pub fn mr_euler_maruyama(process: Process, param: Parameterisation, options: &SamplerOptions) -> Result<Plan, String> {
    let mut b = builder("mr-em", process, param, options)?;
    let s = b.register();
    init_prior(&mut b, options.condition);
    let grid = time_grid(&process, options.schedule, options.nfe.max(1));
    for (i, w) in grid.windows(2).enumerate() {
        let (t, dt) = (w[0], w[1] - w[0]);
        let (k, g2) = (process.drift_coefficient(t), process.diffusion_squared(t));
        b.eval(X, t, s, Quantity::Score);
        let noise = if i + 2 == grid.len() { 0.0 } else { (g2 * dt.abs()).sqrt() };
        // x (1 + k dt) - g^2 dt s - k dt mu: the offset of `shifted` for the x and s terms.
        let mu = b.condition();
        b.axpy_offset(X, &[(X, 1.0 + k * dt), (s, -g2 * dt)], [-k * dt * mu[0], -k * dt * mu[1]], noise);
        b.snapshot();
    }
    Ok(b.finish())
}

/// Which MRS formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MrsVariant {
    /// ODE, data prediction (the default: the most stable at low NFE).
    OdeData,
    /// ODE, noise prediction.
    OdeNoise,
    /// SDE, data prediction.
    SdeData,
}

/// The MR Sampler, order 1 or 2 (multistep: D1 from the previous step's prediction).
pub fn mr_sampler(
    process: Process,
    param: Parameterisation,
    variant: MrsVariant,
    options: &SamplerOptions,
) -> Result<Plan, String> {
    let name = match variant {
        MrsVariant::OdeData => "mrs-ode",
        MrsVariant::OdeNoise => "mrs-ode-noise",
        MrsVariant::SdeData => "mrs-sde",
    };
    if !(1..=2).contains(&options.order) {
        return Err(format!("{name}: --order must be 1 or 2"));
    }
    let mut b = builder(name, process, param, options)?;
    let history: Vec<Reg> = (0..2).map(|_| b.register()).collect();
    init_prior(&mut b, options.condition);
    let steps = options.nfe.max(1);
    // Clip lambda from below (MRS's default -5): the solver starts where lambda_t = clip, taking
    // the prior draw as a sample there, so the first step is not a long one through a region
    // where alpha is nearly 0 (here lambda(t_max) = -5.3, so the effect is small).
    // The clip must leave room for at least the last step: above lambda(t_eps) the start
    // would lie below the end of the grid.
    let lambda_end = process.log_snr(T_EPS_SAMPLE);
    if !(options.lambda_min.is_finite() && options.lambda_min < lambda_end - 1e-3) {
        return Err(format!(
            "{name}: --lambda-min {} lies at or above the log-SNR where sampling ends ({lambda_end:.3}); choose a value below it (default -5)",
            options.lambda_min
        ));
    }
    let t_start = if process.log_snr(process.t_max()) < options.lambda_min {
        process.t_from_log_snr(options.lambda_min)
    } else {
        process.t_max()
    };
    let grid = time_grid_from(&process, options.schedule, steps, t_start);
    let lambda: Vec<f64> = grid.iter().map(|t| process.log_snr(*t)).collect();
    let want = if variant == MrsVariant::OdeNoise { Quantity::Eps } else { Quantity::X0 };
    for i in 0..steps {
        let (s, t) = (grid[i], grid[i + 1]);
        let h = lambda[i + 1] - lambda[i];
        let (m0, m1) = (history[i % 2], history[(i + 1) % 2]);
        b.eval(X, s, m0, want);
        let second = options.order == 2 && i > 0 && !(steps < 15 && i + 1 == steps);
        let r = if second { (lambda[i] - lambda[i - 1]) / h } else { 1.0 };
        let (a_s, a_t, s_s, s_t) = (process.alpha(s), process.alpha(t), process.sigma(s), process.sigma(t));
        match variant {
            MrsVariant::OdeData => {
                let phi1 = (-h).exp_m1();
                let d = if second { a_t * (phi1 / h + 1.0) / r } else { 0.0 };
                shifted(&mut b, &[(X, s_t / s_s), (m0, -a_t * phi1 + d), (m1, -d)], 0.0);
            }
            MrsVariant::SdeData => {
                let e2 = (-2.0 * h).exp();
                let d = if second { a_t * (1.0 - (1.0 - e2) / (2.0 * h)) / r } else { 0.0 };
                let noise = s_t * (1.0 - e2).max(0.0).sqrt();
                shifted(&mut b, &[(X, s_t / s_s * (-h).exp()), (m0, a_t * (1.0 - e2) + d), (m1, -d)], noise);
            }
            MrsVariant::OdeNoise => {
                // Noise predictions carry no mu: only x's coefficient enters the offset.
                let phi = h.exp_m1();
                let d = if second { s_t * (phi / h - 1.0) / r } else { 0.0 };
                let mu = b.condition();
                let c = a_t / a_s;
                b.axpy_offset(X, &[(X, c), (m0, -s_t * phi - d), (m1, d)], [mu[0] * (1.0 - c), mu[1] * (1.0 - c)], 0.0);
            }
        }
        b.snapshot();
    }
    Ok(b.finish())
}
