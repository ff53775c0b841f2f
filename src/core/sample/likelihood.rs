//! Exact log-likelihood along the probability-flow ODE (Song et al. 2021, FFJORD):
//! integrate [x, int div f~ dt] from t_eps to t_max, then
//! log p_eps(x) = log N(x_T; prior) + int_{eps}^{T} div f~(x_t, t) dt,
//! where f~ = k x - g^2 s / 2 and, in 2D, div f~ = 2k - g^2 tr(ds/dx) / 2 exactly (two
//! Jacobian-vector products of the model, or the mixture's analytic Hessian), or Hutchinson's
//! unbiased estimate v^T (ds/dx) v with one Rademacher probe v held fixed along the solve
//! (FFJORD's choice in high dimension; here it shows what the estimate costs in variance).

use super::grid::T_EPS_SAMPLE;
use super::model::Model;
use super::pf_ode::{probability_flow, FlowField};
use super::plan::{Plan, PlanBuilder, X};
use crate::core::data::GaussianMixture;
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::solve::ode::{integrate_adaptive, SolveStats};
use crate::core::solve::pid::PidController;
use crate::core::solve::tableau::ButcherTableau;

/// The density assumed at t_max.
#[derive(Debug, Clone, Copy)]
pub enum Prior<'a> {
    /// N(0, sigma_T^2 I): the standard choice. For VE its mismatch with the true p_T is a bias
    /// of order |data|^2 / sigma_max^2 (about 0.04 nats on gmm8 with sigma_max = 10).
    Gaussian,
    /// The exact marginal at t_max (a mixture), to measure the ODE part alone.
    Exact(&'a GaussianMixture),
}

/// How the divergence of the probability-flow field is computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Divergence {
    /// The trace of the 2x2 Jacobian.
    Exact,
    /// v^T J v for the given probe (entries +-1), unbiased over random probes.
    Hutchinson { probe: [f64; 2] },
}

impl Divergence {
    /// A Rademacher probe from two uniform bits.
    pub fn rademacher(bits: u32) -> Self {
        let sign = |b: u32| if bits & b == 0 { 1.0 } else { -1.0 };
        Divergence::Hutchinson { probe: [sign(1), sign(2)] }
    }
}

/// The augmented field [f~(x, t), div f~(x, t)] at y = [x0, x1, accumulated divergence].
pub fn flow_with_divergence(
    model: &mut dyn Model,
    process: &Process,
    divergence: Divergence,
    t: f64,
    y: &[f64],
    dy: &mut [f64],
) {
    let (out, jac) = model.eval_with_jacobian([y[0] as f32, y[1] as f32], t);
    augmented_field(process, model.param(), divergence, t, y, out, jac, dy);
}

/// The augmented field from the network's output and Jacobian at (x, t): what
/// [`flow_with_divergence`] computes after its evaluation, shared with the batched path.
#[allow(clippy::too_many_arguments)]
pub fn augmented_field(
    process: &Process,
    param: Parameterisation,
    divergence: Divergence,
    t: f64,
    y: &[f64],
    out: [f32; 2],
    jac: [[f32; 2]; 2],
    dy: &mut [f64],
) {
    let FlowField { velocity, a, b, k, g2 } = probability_flow(process, param, [0.0; 2], t, [y[0], y[1]], out);
    dy[..2].copy_from_slice(&velocity);
    // tr(a J + b I), or its Hutchinson estimate v^T (a J + b I) v.
    let trace = match divergence {
        Divergence::Exact => a * f64::from(jac[0][0] + jac[1][1]) + 2.0 * b,
        Divergence::Hutchinson { probe: v } => {
            let vjv: f64 = (0..2).map(|o| (0..2).map(|j| v[o] * f64::from(jac[o][j]) * v[j]).sum::<f64>()).sum();
            a * vjv + b * (v[0] * v[0] + v[1] * v[1])
        }
    };
    dy[2] = 2.0 * k - 0.5 * g2 * trace;
}

/// log N(x; 0, std^2 I) in 2D.
pub fn gaussian_log_density(x: [f64; 2], std: f64) -> f64 {
    -(2.0 * std::f64::consts::PI * std * std).ln() - (x[0] * x[0] + x[1] * x[1]) / (2.0 * std * std)
}

/// The plan of the likelihood: load each particle's data point, integrate the flow and its
/// divergence from t_eps to t_max, and leave -log p_eps(x) (nats) in the plan's value register.
pub fn likelihood_plan(
    process: Process,
    param: Parameterisation,
    tableau: &str,
    rtol: f64,
    atol: f64,
    hutchinson: bool,
) -> Result<Plan, String> {
    if process.is_flow() || process.is_conditional() {
        return Err(format!("likelihoods are computed for vp, subvp, ve and cosine, not {}", process.name()));
    }
    let tableau = ButcherTableau::from_name(tableau)?;
    let mut b = PlanBuilder::new("likelihood", process, param);
    let nll = b.register();
    b.load_input(X);
    b.snapshot();
    b.adaptive_likelihood(
        nll,
        T_EPS_SAMPLE,
        process.t_max(),
        rtol,
        atol,
        &tableau,
        process.sigma(process.t_max()),
        hutchinson,
    );
    b.snapshot();
    b.set_value_register(nll);
    Ok(b.finish())
}

/// -log p_eps(x) in nats, and the solver's statistics.
pub fn negative_log_likelihood(
    model: &mut dyn Model,
    process: &Process,
    x: [f64; 2],
    tableau: &ButcherTableau,
    rtol: f64,
    atol: f64,
    prior: Prior,
    divergence: Divergence,
) -> Result<(f64, SolveStats), String> {
    if process.is_flow() || process.is_conditional() {
        return Err(format!("likelihoods are computed for vp, subvp, ve and cosine, not {}", process.name()));
    }
    let mut field = |t: f64, y: &[f64], dy: &mut [f64]| flow_with_divergence(model, process, divergence, t, y, dy);
    let controller = PidController::new(rtol, atol);
    let (end, stats) = integrate_adaptive(
        tableau,
        &mut field,
        &[x[0], x[1], 0.0],
        T_EPS_SAMPLE,
        process.t_max(),
        &controller,
        100_000,
    )?;
    let log_prior = match prior {
        Prior::Gaussian => gaussian_log_density([end[0], end[1]], process.sigma(process.t_max())),
        Prior::Exact(at_t_max) => at_t_max.log_density([end[0], end[1]]),
    };
    Ok((-(log_prior + end[2]), stats))
}

/// nats to bits per dimension (2 dimensions).
pub fn bits_per_dim(nats: f64) -> f64 {
    nats / (2.0 * std::f64::consts::LN_2)
}
