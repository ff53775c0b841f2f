//! Score_sde's replacement trick (`controllable_generation.py`, `inpaint_update_fn`) with an
//! exact score, beside the two exact methods, all on Euler–Maruyama for the reverse SDE; and
//! the law replacement converges to, which is not the conditional.
//!
//! Replacement overwrites the observed coordinate after every step with a fresh noisy copy of
//! the observation, α_t a + σ_t ξ (plus the process's shift), and lets the unconditional score
//! move the rest. For Gaussian data with correlation ρ, the free coordinate then follows a
//! linear SDE whose mean and variance solve linear ODEs backward in time: the replaced
//! coordinate enters its drift only through its mean α_t a (its fresh noise adds O(h) in all).
//! With p_t = N(0, Σ_t), Σ_t = α_t² Σ₀ + σ_t² I, P = Σ_t⁻¹, drift coefficient k and g²:
//!
//!   dm/dt = k m + g² (P₂₁ α_t a + P₂₂ m),   dv/dt = 2 (k + g² P₂₂) v − g²,
//!
//! integrated from the prior (m = 0, v = α_T² + σ_T²) at T down to t_min (LABS.md's table:
//! at ρ = 0.8, a = 1 under VP, mean 0.500 and variance 0.494 where the conditional has 0.8
//! and 0.36).

use super::conditional::LineConditional;
use super::likelihood::guided_score;
use super::line::LineObservation;
use crate::core::data::gmm::GaussianMixture;
use crate::core::process::Process;
use crate::core::rng::RngStream;

/// How a sampler is made to respect the observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InverseMethod {
    /// The unconditional score, the observed coordinate replaced after every step.
    Replacement,
    /// The exact conditional score of p_t(x | u·x₀ = a).
    Exact,
    /// The unconditional score plus the exact ∇ log p(a | x_t).
    Likelihood,
    /// The unconditional model, corrected after every step through its input Jacobian
    /// (`dps_plan`; the plan executors only, not `sample_em`).
    Dps,
}

impl InverseMethod {
    pub const ALL: [InverseMethod; 4] =
        [InverseMethod::Replacement, InverseMethod::Exact, InverseMethod::Likelihood, InverseMethod::Dps];

    pub fn name(self) -> &'static str {
        match self {
            InverseMethod::Replacement => "replacement",
            InverseMethod::Exact => "exact",
            InverseMethod::Likelihood => "likelihood",
            InverseMethod::Dps => "dps",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| format!("unknown method '{name}': choose replacement, exact, likelihood or dps"))
    }
}

/// The limit (steps → ∞) of replacement's free coordinate for N(0, [[1, ρ], [ρ, 1]]) data
/// observed at x₀,₁ = a: (mean, variance), by RK4 with `steps` steps from T to `t_min`.
pub fn replacement_limit(rho: f64, a: f64, process: &Process, t_min: f64, steps: usize) -> (f64, f64) {
    let rate = |t: f64, m: f64, v: f64| -> (f64, f64) {
        let (alpha, sigma) = (process.alpha(t), process.sigma(t));
        let (s11, s12, s22) = (alpha * alpha + sigma * sigma, alpha * alpha * rho, alpha * alpha + sigma * sigma);
        let det = s11 * s22 - s12 * s12;
        let (p21, p22) = (-s12 / det, s11 / det);
        let (k, g2) = (process.drift_coefficient(t), process.diffusion_squared(t));
        (k * m + g2 * (p21 * alpha * a + p22 * m), 2.0 * (k + g2 * p22) * v - g2)
    };
    let t_max = process.t_max();
    let h = -(t_max - t_min) / steps as f64;
    let (mut m, mut v) = (0.0, process.alpha(t_max).powi(2) + process.sigma(t_max).powi(2));
    for i in 0..steps {
        let t = t_max + i as f64 * h;
        let k1 = rate(t, m, v);
        let k2 = rate(t + h / 2.0, m + h / 2.0 * k1.0, v + h / 2.0 * k1.1);
        let k3 = rate(t + h / 2.0, m + h / 2.0 * k2.0, v + h / 2.0 * k2.1);
        let k4 = rate(t + h, m + h * k3.0, v + h * k3.1);
        m += h / 6.0 * (k1.0 + 2.0 * k2.0 + 2.0 * k3.0 + k4.0);
        v += h / 6.0 * (k1.1 + 2.0 * k2.1 + 2.0 * k3.1 + k4.1);
    }
    (m, v)
}

/// `particles` draws by Euler–Maruyama on the reverse SDE with `steps` steps from T to
/// `t_min`, made to respect `line` by `method`, with the exact scores of `prior`. Particle i
/// draws from stream i of `seed`; it starts from the prior N(0, (α_T² + σ_T²) I) (VP-type
/// processes, μ = 0).
pub fn sample_em(
    method: InverseMethod,
    prior: &GaussianMixture,
    line: &LineObservation,
    process: &Process,
    steps: usize,
    particles: usize,
    seed: u64,
    t_min: f64,
) -> Result<Vec<[f64; 2]>, String> {
    if process.is_conditional() || process.is_flow() {
        return Err(format!("the inverse-problem samplers run on diffusion processes, not {}", process.name()));
    }
    if method == InverseMethod::Dps {
        return Err("DPS runs as a plan transform (core::inverse::dps_plan), not in this reference loop".into());
    }
    let exact = match method {
        InverseMethod::Exact => Some(LineConditional::new(prior, *line)?),
        _ => None,
    };
    let t_max = process.t_max();
    let h = (t_max - t_min) / steps as f64;
    let spread = (process.alpha(t_max).powi(2) + process.sigma(t_max).powi(2)).sqrt();
    let mu = [0.0, 0.0];
    // Step-major, so that the marginal's mixture is built once a step.
    let mut rngs: Vec<RngStream> = (0..particles).map(|i| RngStream::new(seed, i as u64)).collect();
    let mut xs: Vec<[f64; 2]> = rngs.iter_mut().map(|r| [spread * r.normal(), spread * r.normal()]).collect();
    for step in 0..steps {
        let t = t_max - step as f64 * h;
        let marginal = prior.marginal(process, t, mu);
        let (k, g2) = (process.drift_coefficient(t), process.diffusion_squared(t));
        let g = g2.sqrt() * h.sqrt();
        let t_next = t - h;
        let (alpha_next, sigma_next) = (process.alpha(t_next), process.sigma(t_next));
        for (x, rng) in xs.iter_mut().zip(&mut rngs) {
            let score = match method {
                InverseMethod::Replacement => marginal.score(*x),
                InverseMethod::Exact => exact.as_ref().expect("built above").score(process, t, mu, *x),
                InverseMethod::Likelihood => guided_score(prior, line, process, t, mu, *x),
                InverseMethod::Dps => unreachable!("refused above"),
            };
            *x = [
                x[0] - h * (k * x[0] - g2 * score[0]) + g * rng.normal(),
                x[1] - h * (k * x[1] - g2 * score[1]) + g * rng.normal(),
            ];
            if method == InverseMethod::Replacement {
                let observed = alpha_next * line.value + sigma_next * rng.normal();
                *x = line.unrotate([observed, line.rotate(*x)[1]]);
            }
        }
    }
    let out = xs;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// LABS.md's table of replacement limits (RK4, 20 000 steps, VP β 0.1 → 20, a = 1, to
    /// t = 1e-3), to its three decimals.
    #[test]
    fn the_replacement_limit_is_labs_table() {
        for (rho, mean, var) in [(0.0, 0.0, 1.0), (0.5, 0.268, 0.824), (0.8, 0.500, 0.494), (0.95, 0.724, 0.188)] {
            let (m, v) = replacement_limit(rho, 1.0, &Process::vp(), 1e-3, 20_000);
            assert!((m - mean).abs() < 6e-4 && (v - var).abs() < 6e-4, "ρ {rho}: {m:.4} / {v:.4}");
        }
    }

    #[cfg(not(target_arch = "wasm32"))] // only the native-only test below uses it
    fn moments(xs: &[[f64; 2]]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().map(|x| x[1]).sum::<f64>() / n;
        (mean, xs.iter().map(|x| (x[1] - mean).powi(2)).sum::<f64>() / (n - 1.0))
    }

    /// The replacement bias as a test (LABS.md): on correlated Gaussian data, EM replacement
    /// with 1000 steps and 20 000 particles matches the limit within 4 standard errors and
    /// misses the exact conditional by more than 10 for ρ ≥ 0.5; the exact score's samples
    /// match the conditional.
    #[test]
    #[cfg(not(target_arch = "wasm32"))] // 4 × 2 × 2·10⁷ score evaluations
    fn replacement_converges_to_its_limit_not_to_the_conditional() {
        let process = Process::vp();
        let line = LineObservation::first_coordinate(1.0);
        for rho in [0.5, 0.8, 0.95] {
            let prior = GaussianMixture::new(vec![1.0], vec![[0.0, 0.0]], vec![[[1.0, rho], [rho, 1.0]]]).unwrap();
            let (limit_mean, limit_var) = replacement_limit(rho, 1.0, &process, 1e-3, 20_000);
            let (exact_mean, exact_var) = (rho, 1.0 - rho * rho);
            let n = 20_000;
            let (m, v) =
                moments(&sample_em(InverseMethod::Replacement, &prior, &line, &process, 1000, n, 0, 1e-3).unwrap());
            let se = (v / n as f64).sqrt();
            let se_var = v * (2.0 / (n as f64 - 1.0)).sqrt();
            assert!((m - limit_mean).abs() < 4.0 * se, "ρ {rho}: mean {m} against the limit {limit_mean} (SE {se})");
            assert!((v - limit_var).abs() < 4.0 * se_var, "ρ {rho}: variance {v} against the limit {limit_var}");
            assert!(
                (m - exact_mean).abs() > 10.0 * se,
                "ρ {rho}: mean {m} too close to the conditional's {exact_mean}"
            );
            let (m, v) = moments(&sample_em(InverseMethod::Exact, &prior, &line, &process, 1000, n, 1, 1e-3).unwrap());
            let se = (v / n as f64).sqrt();
            assert!(
                (m - exact_mean).abs() < 4.0 * se && (v - exact_var).abs() < 4.0 * v * (2.0 / n as f64).sqrt() + 2e-3,
                "ρ {rho}: exact score gives {m} / {v}"
            );
        }
    }
}
