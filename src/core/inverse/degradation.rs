//! Linear-Gaussian degradations μ = A x₀ + N(0, R) of the restoration panel (LABS.md, Lab G,
//! G4), and the exact posterior p(x₀ | μ) of a Gaussian mixture under them: component k of
//! the prior (w_k, m_k, C_k) becomes
//!
//!   weight ∝ w_k N(μ; A m_k, A C_k Aᵀ + R),  mean m_k + K_k (μ − A m_k),
//!   covariance C_k − K_k A C_k,  K_k = C_k Aᵀ (A C_k Aᵀ + R)⁻¹.
//!
//! `shrink` (A = 0.3 I) blurs every point towards the origin; `drop-y` (A = diag(1, 0)) loses
//! the second coordinate, so the posterior of a point of gmm8 is bimodal where two components
//! share an x₁.

use nalgebra::{Matrix2, Vector2};

use crate::core::data::gmm::GaussianMixture;
use crate::core::rng::RngStream;
use crate::core::stats::log_sum_exp;

/// The degradations' noise deviation (R = 0.05² I).
pub const DEGRADATION_NOISE: f64 = 0.05;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Degradation {
    Shrink,
    DropY,
}

impl Degradation {
    pub const ALL: [Degradation; 2] = [Degradation::Shrink, Degradation::DropY];

    pub fn name(self) -> &'static str {
        match self {
            Degradation::Shrink => "shrink",
            Degradation::DropY => "drop-y",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| format!("unknown degradation '{name}': choose shrink or drop-y"))
    }

    /// A.
    pub fn matrix(self) -> Matrix2<f64> {
        match self {
            Degradation::Shrink => Matrix2::identity() * 0.3,
            Degradation::DropY => Matrix2::new(1.0, 0.0, 0.0, 0.0),
        }
    }

    /// A x₀ without the noise.
    pub fn apply(self, x0: [f64; 2]) -> [f64; 2] {
        let y = self.matrix() * Vector2::new(x0[0], x0[1]);
        [y[0], y[1]]
    }

    /// μ = A x₀ + 0.05 ξ, ξ from `rng`.
    pub fn degrade(self, x0: [f64; 2], rng: &mut RngStream) -> [f64; 2] {
        let y = self.apply(x0);
        [y[0] + DEGRADATION_NOISE * rng.normal(), y[1] + DEGRADATION_NOISE * rng.normal()]
    }

    /// The pairs (x₀, μ) of `n` draws from `prior`, from `seed`.
    pub fn pairs(self, prior: &GaussianMixture, n: usize, seed: u64) -> (Vec<[f64; 2]>, Vec<[f64; 2]>) {
        let clean = prior.sample(n, seed);
        let mut rng = RngStream::new(seed, 0x6465_6772); // "degr"
        let degraded = clean.iter().map(|x| self.degrade(*x, &mut rng)).collect();
        (clean, degraded)
    }

    /// The exact posterior p(x₀ | μ) of `prior` (components too unlikely to matter dropped).
    pub fn posterior(self, prior: &GaussianMixture, mu: [f64; 2]) -> Result<GaussianMixture, String> {
        if !(mu[0].is_finite() && mu[1].is_finite()) {
            return Err(format!("the degraded point must be finite, got {mu:?}"));
        }
        let spec = prior.to_spec();
        let a = self.matrix();
        let r = Matrix2::identity() * (DEGRADATION_NOISE * DEGRADATION_NOISE);
        let mu = Vector2::new(mu[0], mu[1]);
        let (mut logs, mut means, mut covs) = (Vec::new(), Vec::new(), Vec::new());
        for ((w, m), c) in spec.weights.iter().zip(&spec.means).zip(&spec.covs) {
            let m = Vector2::new(m[0], m[1]);
            let c = Matrix2::new(c[0][0], c[0][1], c[1][0], c[1][1]);
            let s = a * c * a.transpose() + r;
            let s_inv = s.try_inverse().ok_or("the degradation's covariance is singular")?;
            let d = mu - a * m;
            let gain = c * a.transpose() * s_inv;
            logs.push(w.ln() - (std::f64::consts::TAU).ln() - 0.5 * s.determinant().ln() - 0.5 * d.dot(&(s_inv * d)));
            let mean = m + gain * d;
            let cov = c - gain * a * c;
            // Symmetrise: the subtraction leaves rounding in the off-diagonal pair.
            let off = 0.5 * (cov[(0, 1)] + cov[(1, 0)]);
            means.push([mean[0], mean[1]]);
            covs.push([[cov[(0, 0)], off], [off, cov[(1, 1)]]]);
        }
        let norm = log_sum_exp(logs.iter().copied());
        if !norm.is_finite() {
            return Err(format!("the degraded point {mu:?} is impossible under the data: its likelihood is zero"));
        }
        // GaussianMixture keeps weights within 12 orders of magnitude of the largest.
        let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let keep: Vec<usize> = (0..logs.len()).filter(|&k| logs[k] - top > -25.0).collect();
        GaussianMixture::new(
            keep.iter().map(|&k| (logs[k] - norm).exp()).collect(),
            keep.iter().map(|&k| means[k]).collect(),
            keep.iter().map(|&k| covs[k]).collect(),
        )
    }
}

/// The `n` fixed test points μ of a degradation (LABS.md: 16), from seed 2024: degraded draws
/// of `prior`, and the clean points they came from.
pub fn test_points(degradation: Degradation, prior: &GaussianMixture, n: usize) -> (Vec<[f64; 2]>, Vec<[f64; 2]>) {
    degradation.pairs(prior, n, 2024)
}

/// The posterior's modes as its components' means with weight above `min_weight`: the
/// points the MMSE estimate is measured against.
pub fn posterior_modes(posterior: &GaussianMixture, min_weight: f64) -> Vec<[f64; 2]> {
    let spec = posterior.to_spec();
    spec.weights.iter().zip(&spec.means).filter(|(w, _)| **w >= min_weight).map(|(_, m)| *m).collect()
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// The posterior is the prior times the likelihood N(μ; A x, R), normalised: checked on a
    /// grid for both degradations at a few μ.
    #[test]
    fn the_posterior_is_prior_times_likelihood_normalised() {
        let prior = GaussianMixture::eight_gaussians();
        let var = DEGRADATION_NOISE * DEGRADATION_NOISE;
        for degradation in Degradation::ALL {
            for mu in [[0.5, 0.1], [0.0, 0.0], [1.9, -0.02]] {
                let post = degradation.posterior(&prior, mu).unwrap();
                let h = 0.01;
                let grid: Vec<[f64; 2]> =
                    (-400..400).flat_map(|i| (-400..400).map(move |j| [i as f64 * h, j as f64 * h])).collect();
                let unnormalised: Vec<f64> = grid
                    .iter()
                    .map(|x| {
                        let y = degradation.apply(*x);
                        let d2 = (y[0] - mu[0]).powi(2) + (y[1] - mu[1]).powi(2);
                        (prior.log_density(*x) - d2 / (2.0 * var)).exp()
                    })
                    .collect();
                let z: f64 = unnormalised.iter().sum::<f64>() * h * h;
                for (x, p) in grid.iter().zip(&unnormalised).step_by(7919) {
                    let exact = post.log_density(*x).exp();
                    assert!(
                        (exact - p / z).abs() < 1e-6 + 1e-3 * exact,
                        "{} {mu:?} at {x:?}: {exact} {}",
                        degradation.name(),
                        p / z
                    );
                }
            }
        }
    }

    /// drop-y on a point of gmm8's right-hand pair of components (x₁ ≈ 1.41) has two modes,
    /// one above and one below the axis, and its mean lies between them.
    #[test]
    fn drop_y_posteriors_are_bimodal() {
        let prior = GaussianMixture::eight_gaussians();
        let post = Degradation::DropY.posterior(&prior, [1.414, 0.0]).unwrap();
        let modes = posterior_modes(&post, 0.05);
        assert_eq!(modes.len(), 2, "{modes:?}");
        assert!(modes[0][1] * modes[1][1] < 0.0, "{modes:?}");
        let (mean, _) = post.moments();
        assert!(mean[1].abs() < 0.1 && modes.iter().all(|m| (m[1] - mean[1]).abs() > 1.0));
        assert!(Degradation::Shrink.posterior(&prior, [f64::NAN, 0.0]).is_err());
        assert!(Degradation::from_name("blur").is_err());
    }
}
