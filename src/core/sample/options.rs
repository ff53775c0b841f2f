//! Options every sampler reads, with score_sde / DPM-Solver / EDM defaults.

use super::grid::Schedule;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerOptions {
    /// Model evaluations to spend per particle (samplers round to whole steps).
    pub nfe: usize,
    pub schedule: Schedule,
    /// Langevin corrector signal-to-noise ratio and steps (predictor-corrector, annealed Langevin).
    pub snr: f64,
    pub corrector_steps: usize,
    /// DDIM's stochasticity (0: deterministic).
    pub eta: f64,
    /// Adaptive solvers' tolerances.
    pub rtol: f64,
    pub atol: f64,
    /// Multistep order (DPM-Solver, UniPC).
    pub order: usize,
    /// UniPC's B(h): false for bh1 (B = h), true for bh2 (B = e^h - 1).
    pub bh2: bool,
    /// EDM's S_churn.
    pub churn: f64,
    /// Langevin step size (ULA, MALA).
    pub step_size: f64,
    /// The mean-reverting process's condition mu.
    pub condition: [f64; 2],
    /// The MR Sampler starts where the log-SNR is this (when the process's t_max is below it).
    pub lambda_min: f64,
    /// Denoising Langevin Gibbs: sweeps of (Langevin in x, Gibbs in the level), the Langevin
    /// step eta (not scaled by the level), the integrator that follows, and whether the Gibbs
    /// step takes the most likely level instead of drawing one.
    pub sweeps: usize,
    pub dlg_step: f64,
    pub integrator: DlgIntegrator,
    pub level_argmax: bool,
    /// Start from the exact marginal at t_max (a mixture model's own) instead of the
    /// process's prior N(0, sigma_max^2 I) (VE's prior ignores the data's mean).
    pub exact_prior: bool,
}

/// What DLG integrates with from the chain's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DlgIntegrator {
    EdmHeun,
    Ddim,
}

impl DlgIntegrator {
    pub fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "edm-heun" => Ok(DlgIntegrator::EdmHeun),
            "ddim" => Ok(DlgIntegrator::Ddim),
            other => Err(format!("unknown --integrator '{other}': dlg integrates with edm-heun or ddim")),
        }
    }
}

impl SamplerOptions {
    /// score_sde's, DPM-Solver's, EDM's and MRS's defaults (a const, so that the command
    /// line's own defaults can start from it).
    pub const DEFAULT: SamplerOptions = SamplerOptions {
        nfe: 50,
        schedule: Schedule::Time,
        snr: 0.16,
        corrector_steps: 1,
        eta: 0.0,
        rtol: 1e-5,
        atol: 1e-5,
        order: 2,
        bh2: true,
        churn: 0.0,
        step_size: 1e-3,
        condition: [0.0; 2],
        lambda_min: -5.0,
        sweeps: super::dlg::DEFAULT_SWEEPS,
        dlg_step: super::dlg::DEFAULT_STEP,
        integrator: DlgIntegrator::EdmHeun,
        level_argmax: false,
        exact_prior: false,
    };
}

impl Default for SamplerOptions {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The sampler flags (as `nde` spells them) that sampler `name` reads. A flag that none of
/// the chosen samplers reads is refused, so no setting is dropped in silence.
pub fn flags_read_by(name: &str) -> &'static [&'static str] {
    match name {
        "em" | "reverse-diffusion" | "ancestral" | "pf-euler" | "pf-heun" | "pf-rk4" | "dpm-solver-1"
        | "dpm-solver-2" | "dpm-solver-3" | "dpmpp-2m" | "dpmpp-3m" | "dpmpp-3m-order3" | "dpmpp-2m-sde" => {
            &["--schedule"]
        }
        "pc" | "annealed-langevin" => &["--schedule", "--snr", "--corrector-steps"],
        "ddim" => &["--schedule", "--eta"],
        "pf-dopri5" => &["--rtol", "--atol"],
        "unipc" => &["--schedule", "--order"],
        "edm-heun" => &["--churn"],
        "ula" | "mala" => &["--step-size"],
        "dlg" => &["--schedule", "--eta", "--churn", "--sweeps", "--dlg-step", "--integrator", "--level-argmax"],
        "mr-em" => &["--schedule", "--mu"],
        "mrs-ode" | "mrs-ode-noise" | "mrs-sde" => &["--schedule", "--mu", "--order", "--lambda-min"],
        _ => &[],
    }
}
