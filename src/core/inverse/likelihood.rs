//! Likelihood guidance with the exact posterior (LABS.md, Lab G, method L): the score of
//! p_t(x) plus ∇ₓ log p(u·x₀ = a | x_t), where p(x₀ | x_t) is the mixture's posterior. For
//! component k of the prior (w_k, m_k, C_k), with S_k = α_t² C_k + σ_t² I the covariance of
//! its marginal and c_k = α_t m_k + (1 − α_t) μ its mean:
//!
//!   x₀ | x_t, k ~ N(m_k + α_t C_k S_k⁻¹ (x − c_k), C_k − α_t² C_k S_k⁻¹ C_k),
//!   ℓ_k(x) = log w_k + log N(x; c_k, S_k) + log N(a; u·E[x₀ | x_t, k], uᵀ Cov[x₀ | x_t, k] u),
//!
//! and ∇ log p_t(x) + ∇ log p(a | x_t) = Σ_k softmax(ℓ)_k ∇ℓ_k. By Bayes' identity this is the
//! exact conditional score of `conditional`, which the tests hold it to.

use nalgebra::{Matrix2, Vector2};

use super::line::LineObservation;
use crate::core::data::gmm::GaussianMixture;
use crate::core::process::Process;
use crate::core::stats::log_sum_exp;

/// ∇ₓ log p_t(x) + ∇ₓ log p(u·x₀ = a | x_t = x) for the mixture `prior` under `process`.
pub fn guided_score(
    prior: &GaussianMixture,
    line: &LineObservation,
    process: &Process,
    t: f64,
    mu: [f64; 2],
    x: [f64; 2],
) -> [f64; 2] {
    let (alpha, sigma) = (process.alpha(t), process.sigma(t));
    let shift = process.condition(mu);
    let spec = prior.to_spec();
    let u = Vector2::new(line.u[0], line.u[1]);
    let x = Vector2::new(x[0], x[1]);
    let mut logs = Vec::with_capacity(spec.weights.len());
    let mut grads = Vec::with_capacity(spec.weights.len());
    for ((w, m), c) in spec.weights.iter().zip(&spec.means).zip(&spec.covs) {
        let m = Vector2::new(m[0], m[1]);
        let c = Matrix2::new(c[0][0], c[0][1], c[1][0], c[1][1]);
        let centre = m * alpha + Vector2::new(shift[0], shift[1]) * (1.0 - alpha);
        let s = c * (alpha * alpha) + Matrix2::identity() * (sigma * sigma);
        let Some(s_inv) = s.try_inverse() else {
            return [f64::NAN, f64::NAN];
        };
        let d = x - centre;
        let gain = c * s_inv * alpha; // ∂E[x₀ | x_t, k] / ∂x_t
        let post_mean = m + gain * d;
        let post_var = u.dot(&((c - gain * c * alpha) * u));
        let r = line.value - u.dot(&post_mean);
        let log_marginal = -(std::f64::consts::TAU).ln() - 0.5 * s.determinant().ln() - 0.5 * d.dot(&(s_inv * d));
        let log_likelihood = -0.5 * (std::f64::consts::TAU * post_var).ln() - 0.5 * r * r / post_var;
        logs.push(w.ln() + log_marginal + log_likelihood);
        grads.push(-(s_inv * d) + gain.transpose() * u * (r / post_var));
    }
    let norm = log_sum_exp(logs.iter().copied());
    let g = logs.iter().zip(&grads).fold(Vector2::zeros(), |acc, (l, g)| acc + g * (l - norm).exp());
    [g[0], g[1]]
}

/// ∇ₓ log p(u·x₀ = a | x_t = x) alone: the guided score less the marginal's score.
pub fn likelihood_gradient(
    prior: &GaussianMixture,
    line: &LineObservation,
    process: &Process,
    t: f64,
    mu: [f64; 2],
    x: [f64; 2],
) -> [f64; 2] {
    let guided = guided_score(prior, line, process, t, mu, x);
    let score = prior.marginal(process, t, mu).score(x);
    [guided[0] - score[0], guided[1] - score[1]]
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::inverse::conditional::LineConditional;

    /// Bayes' identity: the exact conditional score and the exact likelihood-guided score agree
    /// to 1e-8, on gmm8 and a correlated Gaussian, for an axis and a rotated line, at times from
    /// almost clean to almost noise, under VP, VE and the mean-reverting process.
    #[test]
    fn the_guided_score_is_the_conditional_score() {
        let priors = [
            GaussianMixture::eight_gaussians(),
            GaussianMixture::new(vec![1.0], vec![[0.0, 0.0]], vec![[[1.0, 0.8], [0.8, 1.0]]]).unwrap(),
        ];
        let lines = [LineObservation::first_coordinate(1.1), LineObservation::at_angle(45.0, -0.7).unwrap()];
        let processes = [Process::vp(), Process::ve(), Process::mean_reverting()];
        let mut checked = 0;
        for prior in &priors {
            for line in &lines {
                let exact = LineConditional::new(prior, *line).unwrap();
                for process in &processes {
                    for t in [0.02, 0.1, 0.4, 0.9] {
                        for x in [[0.3, -0.4], [1.5, 2.0], [-2.2, 0.9]] {
                            let mu = [0.4, -0.2];
                            let (e, l) = (exact.score(process, t, mu, x), guided_score(prior, line, process, t, mu, x));
                            let scale = 1.0 + e[0].abs().max(e[1].abs());
                            assert!(
                                (e[0] - l[0]).abs() < 1e-8 * scale && (e[1] - l[1]).abs() < 1e-8 * scale,
                                "{} t {t} x {x:?} {line:?}: exact {e:?}, guided {l:?}",
                                process.name()
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 144);
        // The likelihood part alone is the difference from the unconditional score.
        let prior = &priors[0];
        let g = likelihood_gradient(prior, &lines[0], &Process::vp(), 0.3, [0.0, 0.0], [0.5, 0.5]);
        assert!(g[0].is_finite() && g[0].abs() > 1e-3, "{g:?}");
    }
}
