//! The exact conditional of a Gaussian mixture given one observed coordinate, u·x₀ = a
//! (LABS.md, Lab G): in the rotated coordinates y = (u·x, v·x), component k has mean
//! (μ₁, μ₂) and covariance [[c₁₁, c₁₂], [c₁₂, c₂₂]], and
//!
//!   weight ∝ w_k N(a; μ₁, c₁₁),  mean μ₂ + c₁₂ (a − μ₁) / c₁₁,  variance c₂₂ − c₁₂² / c₁₁.
//!
//! Pushed through a linear process (x_t = α_t x₀ + (1 − α_t) μ + σ_t z), component k of
//! p_t(x | u·x₀ = a) is Gaussian in y with mean α_t (a, m̃_k) + (1 − α_t) R μ and diagonal
//! covariance (σ_t², α_t² s̃_k² + σ_t²); its score is the exact conditional score.

use super::line::LineObservation;
use crate::core::data::gmm::GaussianMixture;
use crate::core::process::Process;
use crate::core::rng::RngStream;
use crate::core::stats::log_sum_exp;

/// Components lighter than this share of the total are dropped (they cannot move a score).
const NEGLIGIBLE_WEIGHT: f64 = 1e-300;

/// p(x₀ | u·x₀ = a): a mixture of 1D Gaussians in the free coordinate v·x₀ on the line.
#[derive(Debug, Clone, PartialEq)]
pub struct LineConditional {
    pub line: LineObservation,
    pub weights: Vec<f64>,
    pub means: Vec<f64>,
    pub variances: Vec<f64>,
}

impl LineConditional {
    /// Conditions `prior` on the line. Refused where the line misses every component (the
    /// observation has probability zero in floating point).
    pub fn new(prior: &GaussianMixture, line: LineObservation) -> Result<Self, String> {
        let spec = prior.to_spec();
        let (u, v, a) = (line.u, line.v(), line.value);
        let quad = |p: [f64; 2], c: [[f64; 2]; 2], q: [f64; 2]| {
            p[0] * (c[0][0] * q[0] + c[0][1] * q[1]) + p[1] * (c[1][0] * q[0] + c[1][1] * q[1])
        };
        let mut logs = Vec::new();
        let (mut means, mut variances) = (Vec::new(), Vec::new());
        for ((w, m), c) in spec.weights.iter().zip(&spec.means).zip(&spec.covs) {
            let y = line.rotate(*m);
            let (c11, c12, c22) = (quad(u, *c, u), quad(u, *c, v), quad(v, *c, v));
            let d = a - y[0];
            logs.push(w.ln() - 0.5 * (std::f64::consts::TAU * c11).ln() - 0.5 * d * d / c11);
            means.push(y[1] + c12 * d / c11);
            variances.push(c22 - c12 * c12 / c11);
        }
        let norm = log_sum_exp(logs.iter().copied());
        if !norm.is_finite() {
            return Err(format!("the line u·x = {a} misses every component: its probability is zero"));
        }
        let keep: Vec<usize> = (0..logs.len()).filter(|&k| (logs[k] - norm).exp() > NEGLIGIBLE_WEIGHT).collect();
        Ok(LineConditional {
            line,
            weights: keep.iter().map(|&k| (logs[k] - norm).exp()).collect(),
            means: keep.iter().map(|&k| means[k]).collect(),
            variances: keep.iter().map(|&k| variances[k]).collect(),
        })
    }

    /// The free coordinate's mean and variance.
    pub fn free_moments(&self) -> (f64, f64) {
        let mean: f64 = self.weights.iter().zip(&self.means).map(|(w, m)| w * m).sum();
        let second: f64 =
            self.weights.iter().zip(&self.means).zip(&self.variances).map(|((w, m), s)| w * (s + m * m)).sum();
        (mean, second - mean * mean)
    }

    /// The free coordinate's density.
    pub fn free_density(&self, y: f64) -> f64 {
        self.weights
            .iter()
            .zip(&self.means)
            .zip(&self.variances)
            .map(|((w, m), s)| w * (-(y - m) * (y - m) / (2.0 * s)).exp() / (std::f64::consts::TAU * s).sqrt())
            .sum()
    }

    /// `n` exact draws on the line, from `seed`.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<[f64; 2]> {
        let mut rng = RngStream::new(seed, 0x636f_6e64); // "cond"
        (0..n)
            .map(|_| {
                let mut pick = rng.uniform();
                let k = self
                    .weights
                    .iter()
                    .position(|w| {
                        pick -= w;
                        pick < 0.0
                    })
                    .unwrap_or(self.weights.len() - 1);
                let y = self.means[k] + self.variances[k].sqrt() * rng.normal();
                self.line.unrotate([self.line.value, y])
            })
            .collect()
    }

    /// ∇ₓ log p_t(x | u·x₀ = a) under `process` (μ: the mean-reverting condition), for t > 0.
    pub fn score(&self, process: &Process, t: f64, mu: [f64; 2], x: [f64; 2]) -> [f64; 2] {
        let (alpha, sigma) = (process.alpha(t), process.sigma(t));
        let shift = self.line.rotate(process.condition(mu));
        let y = self.line.rotate(x);
        let s2 = sigma * sigma;
        // The observed coordinate's part is the same for every component.
        let centre1 = alpha * self.line.value + (1.0 - alpha) * shift[0];
        let score1 = -(y[0] - centre1) / s2;
        let mut logs = Vec::with_capacity(self.weights.len());
        let mut parts = Vec::with_capacity(self.weights.len());
        for ((w, m), s) in self.weights.iter().zip(&self.means).zip(&self.variances) {
            let var = alpha * alpha * s + s2;
            let d = y[1] - (alpha * m + (1.0 - alpha) * shift[1]);
            logs.push(w.ln() - 0.5 * var.ln() - 0.5 * d * d / var);
            parts.push(-d / var);
        }
        let norm = log_sum_exp(logs.iter().copied());
        let score2: f64 = logs.iter().zip(&parts).map(|(l, p)| (l - norm).exp() * p).sum();
        self.line.unrotate([score1, score2])
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn correlated(rho: f64) -> GaussianMixture {
        GaussianMixture::new(vec![1.0], vec![[0.0, 0.0]], vec![[[1.0, rho], [rho, 1.0]]]).unwrap()
    }

    /// A correlated Gaussian given x₀,₁ = a: mean ρa, variance 1 − ρ² (LABS.md's right column).
    #[test]
    fn a_correlated_gaussian_conditions_in_closed_form() {
        for (rho, mean, var) in [(0.0, 0.0, 1.0), (0.5, 0.5, 0.75), (0.8, 0.8, 0.36), (0.95, 0.95, 0.0975)] {
            let c = LineConditional::new(&correlated(rho), LineObservation::first_coordinate(1.0)).unwrap();
            let (m, v) = c.free_moments();
            assert!((m - mean).abs() < 1e-12 && (v - var).abs() < 1e-12, "ρ {rho}: {m} {v}");
        }
    }

    /// On gmm8, the conditional density on the line is the prior's density there, normalised
    /// (checked by quadrature), for an axis line and a 45° one; draws follow it.
    #[test]
    fn the_conditional_is_the_prior_on_the_line_normalised() {
        let prior = GaussianMixture::eight_gaussians();
        for line in [LineObservation::first_coordinate(1.2), LineObservation::at_angle(45.0, 0.8).unwrap()] {
            let c = LineConditional::new(&prior, line).unwrap();
            let h = 1e-3;
            let ys: Vec<f64> = (-8000..8000).map(|i| i as f64 * h).collect();
            let on_line: Vec<f64> =
                ys.iter().map(|y| prior.log_density(line.unrotate([line.value, *y])).exp()).collect();
            let z: f64 = on_line.iter().sum::<f64>() * h;
            for (y, p) in ys.iter().zip(&on_line).step_by(997) {
                assert!((c.free_density(*y) - p / z).abs() < 1e-9, "{line:?} at {y}");
            }
            let draws = c.sample(20_000, 1);
            let mean = draws.iter().map(|x| line.rotate(*x)[1]).sum::<f64>() / draws.len() as f64;
            let (m, v) = c.free_moments();
            assert!((mean - m).abs() < 4.0 * (v / draws.len() as f64).sqrt(), "{mean} against {m}");
            assert!(draws.iter().all(|x| (line.rotate(*x)[0] - line.value).abs() < 1e-12));
        }
        assert!(LineConditional::new(&correlated(0.5), LineObservation::first_coordinate(1e200)).is_err());
    }
}
