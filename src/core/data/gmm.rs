//! Gaussian mixtures: the exact oracle every sampler test leans on.
//!
//! A Gaussian pushed through a linear-Gaussian process stays Gaussian: if x_0 ~ sum_k w_k
//! N(m_k, C_k) and x_t = alpha_t x_0 + (1 - alpha_t) mu + sigma_t z, then x_t ~ sum_k w_k
//! N(alpha_t m_k + (1 - alpha_t) mu, alpha_t^2 C_k + sigma_t^2 I). So the log-density and the
//! score of the marginal are exact at every time of every process in `core::process`.

use nalgebra::{Matrix2, Vector2};
use serde::{Deserialize, Serialize};

use crate::core::limits;
use crate::core::process::Process;
use crate::core::rng::RngStream;
use crate::core::stats::log_sum_exp;

/// A mixture of 2D Gaussians with any weights, means and covariances.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianMixture {
    weights: Vec<f64>,
    means: Vec<Vector2<f64>>,
    covs: Vec<Matrix2<f64>>,
    // Per component: inverse covariance, Cholesky factor and log normaliser, cached.
    precisions: Vec<Matrix2<f64>>,
    cholesky: Vec<Matrix2<f64>>,
    log_norms: Vec<f64>,
}

/// The JSON form: {"weights":[...],"means":[[x,y],...],"covs":[[[a,b],[b,c]],...]}.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MixtureSpec {
    pub weights: Vec<f64>,
    pub means: Vec<[f64; 2]>,
    pub covs: Vec<[[f64; 2]; 2]>,
}

impl GaussianMixture {
    /// Checks and builds a mixture. Weights must be positive (they are normalised to sum to 1);
    /// covariances symmetric positive definite.
    /// Means within ±`limits::COORDINATE`, covariance eigenvalues within
    /// `limits::COVARIANCE_EIGENVALUE` and condition numbers at most
    /// `limits::COVARIANCE_CONDITION`: what the f64 oracle and the f32 GPU path both carry.
    pub fn new(weights: Vec<f64>, means: Vec<[f64; 2]>, covs: Vec<[[f64; 2]; 2]>) -> Result<Self, String> {
        let k = weights.len();
        if k == 0 {
            return Err("a mixture needs at least one component (weights is empty)".into());
        }
        limits::MIXTURE_COMPONENTS.check("the number of components", k)?;
        if means.len() != k || covs.len() != k {
            return Err(format!(
                "weights, means and covs must have the same length: got {k} weights, {} means, {} covs",
                means.len(),
                covs.len()
            ));
        }
        if let Some((i, w)) = weights.iter().enumerate().find(|(_, w)| !(w.is_finite() && **w > 0.0)) {
            return Err(format!("weight {i} is {w}: weights must be positive finite numbers"));
        }
        let total: f64 = weights.iter().sum();
        let smallest = weights.iter().copied().fold(f64::INFINITY, f64::min);
        if !total.is_finite() || smallest / total < 1e-12 {
            return Err(format!(
                "the weights span more than 12 orders of magnitude (smallest {smallest}, sum {total}): drop the negligible components"
            ));
        }
        let mut mixture = GaussianMixture {
            weights: weights.iter().map(|w| w / total).collect(),
            means: Vec::with_capacity(k),
            covs: Vec::with_capacity(k),
            precisions: Vec::with_capacity(k),
            cholesky: Vec::with_capacity(k),
            log_norms: Vec::with_capacity(k),
        };
        for (i, (m, c)) in means.iter().zip(&covs).enumerate() {
            limits::check_point(&format!("mean {i}"), *m)?;
            let cov = Matrix2::new(c[0][0], c[0][1], c[1][0], c[1][1]);
            if !cov.iter().all(|v| v.is_finite()) || (c[0][1] - c[1][0]).abs() > 1e-9 * (1.0 + c[0][1].abs()) {
                return Err(format!("covariance {i} must be finite and symmetric: {c:?}"));
            }
            check_covariance(i, &cov)?;
            mixture.push_component(Vector2::new(m[0], m[1]), cov).map_err(|e| format!("covariance {i} {e}"))?;
        }
        Ok(mixture)
    }

    fn push_component(&mut self, mean: Vector2<f64>, cov: Matrix2<f64>) -> Result<(), String> {
        let chol = cov.cholesky().ok_or_else(|| format!("is not positive definite: {cov:?}"))?;
        let l = chol.l();
        let det = l[(0, 0)] * l[(1, 1)];
        let det = det * det;
        self.precisions.push(chol.inverse());
        self.cholesky.push(l);
        self.log_norms.push(-(2.0 * std::f64::consts::PI).ln() - 0.5 * det.ln());
        self.means.push(mean);
        self.covs.push(cov);
        Ok(())
    }

    pub fn from_spec(spec: MixtureSpec) -> Result<Self, String> {
        Self::new(spec.weights, spec.means, spec.covs)
    }

    /// Reads the JSON form, with a message that names what is wrong.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let spec: MixtureSpec = serde_json::from_str(text).map_err(|e| {
            format!("not a mixture file ({e}); expected {{\"weights\":[...],\"means\":[[x,y],...],\"covs\":[[[a,b],[b,c]],...]}}")
        })?;
        Self::from_spec(spec)
    }

    pub fn to_spec(&self) -> MixtureSpec {
        MixtureSpec {
            weights: self.weights.clone(),
            means: self.means.iter().map(|m| [m[0], m[1]]).collect(),
            covs: self.covs.iter().map(|c| [[c[(0, 0)], c[(0, 1)]], [c[(1, 0)], c[(1, 1)]]]).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.weights.len()
    }

    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Draws n points, deterministically under `seed`.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<[f64; 2]> {
        let mut rng = RngStream::new(seed, 0x6d69_7874); // stream: "mixt"
        let cumulative: Vec<f64> = self
            .weights
            .iter()
            .scan(0.0, |acc, w| {
                *acc += w;
                Some(*acc)
            })
            .collect();
        (0..n)
            .map(|_| {
                let u = rng.uniform();
                let k = cumulative.iter().position(|c| u < *c).unwrap_or(self.len() - 1);
                let z = Vector2::new(rng.normal(), rng.normal());
                let x = self.means[k] + self.cholesky[k] * z;
                [x[0], x[1]]
            })
            .collect()
    }

    /// log N(x; m_k, C_k) + log w_k for every component.
    fn component_log_terms(&self, x: Vector2<f64>) -> impl Iterator<Item = f64> + '_ {
        (0..self.len()).map(move |k| {
            let d = x - self.means[k];
            self.weights[k].ln() + self.log_norms[k] - 0.5 * d.dot(&(self.precisions[k] * d))
        })
    }

    /// The exact log-density at x.
    pub fn log_density(&self, x: [f64; 2]) -> f64 {
        let logs: Vec<f64> = self.component_log_terms(Vector2::new(x[0], x[1])).collect();
        log_sum_exp(logs.iter().copied())
    }

    /// The exact score grad log p(x): the posterior-weighted component scores.
    pub fn score(&self, x: [f64; 2]) -> [f64; 2] {
        let x = Vector2::new(x[0], x[1]);
        let logs: Vec<f64> = self.component_log_terms(x).collect();
        let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut total = 0.0;
        let mut score = Vector2::zeros();
        for (k, l) in logs.iter().enumerate() {
            let r = (l - top).exp();
            total += r;
            score -= r * (self.precisions[k] * (x - self.means[k]));
        }
        score /= total;
        [score[0], score[1]]
    }

    /// The Jacobian of the score (the Hessian of log p) at x:
    /// sum_k r_k (-P_k + s_k s_k^T) - s s^T, with s_k = -P_k (x - m_k) and s = sum_k r_k s_k.
    pub fn score_jacobian(&self, x: [f64; 2]) -> [[f64; 2]; 2] {
        let r = self.responsibilities(x);
        let x = Vector2::new(x[0], x[1]);
        let mut s = Vector2::zeros();
        let mut jacobian = Matrix2::zeros();
        for (k, weight) in r.iter().enumerate() {
            let sk = -(self.precisions[k] * (x - self.means[k]));
            s += sk * *weight;
            jacobian += (sk * sk.transpose() - self.precisions[k]) * *weight;
        }
        jacobian -= s * s.transpose();
        [[jacobian[(0, 0)], jacobian[(0, 1)]], [jacobian[(1, 0)], jacobian[(1, 1)]]]
    }

    /// p(component k | x) for every k (for the noise-level and Gibbs samplers).
    pub fn responsibilities(&self, x: [f64; 2]) -> Vec<f64> {
        let logs: Vec<f64> = self.component_log_terms(Vector2::new(x[0], x[1])).collect();
        let norm = log_sum_exp(logs.iter().copied());
        logs.iter().map(|l| (l - norm).exp()).collect()
    }

    /// The law of x_t under `process` when x_0 follows this mixture (mu: the MR condition).
    pub fn marginal(&self, process: &Process, t: f64, mu: [f64; 2]) -> GaussianMixture {
        let (a, s) = (process.alpha(t), process.sigma(t));
        let mu = process.condition(mu);
        let mu = Vector2::new(mu[0], mu[1]);
        let mut out = GaussianMixture {
            weights: self.weights.clone(),
            means: Vec::new(),
            covs: Vec::new(),
            precisions: Vec::new(),
            cholesky: Vec::new(),
            log_norms: Vec::new(),
        };
        for (m, c) in self.means.iter().zip(&self.covs) {
            let cov = c * (a * a) + Matrix2::identity() * (s * s);
            let mean = m * a + mu * (1.0 - a);
            if out.push_component(mean, cov).is_err() {
                // Only where alpha or sigma are not numbers (t outside the process's range,
                // which the samplers no longer visit): the marginal is undefined, and its
                // densities and scores are NaN, which every executor reports as an error.
                let nan = Matrix2::from_element(f64::NAN);
                out.precisions.push(nan);
                out.cholesky.push(nan);
                out.log_norms.push(f64::NAN);
                out.means.push(mean);
                out.covs.push(nan);
            }
        }
        out
    }

    /// The mean and covariance of the whole mixture.
    pub fn moments(&self) -> ([f64; 2], [[f64; 2]; 2]) {
        let mean = self.means.iter().zip(&self.weights).fold(Vector2::zeros(), |acc, (m, w)| acc + m * *w);
        let cov = self.means.iter().zip(&self.covs).zip(&self.weights).fold(Matrix2::zeros(), |acc, ((m, c), w)| {
            let d = m - mean;
            acc + (c + d * d.transpose()) * *w
        });
        ([mean[0], mean[1]], [[cov[(0, 0)], cov[(0, 1)]], [cov[(1, 0)], cov[(1, 1)]]])
    }

    /// Eight Gaussians on a circle of radius 2, std 0.2 (the `gmm8` target).
    pub fn eight_gaussians() -> Self {
        let means = (0..8)
            .map(|k| {
                let a = std::f64::consts::TAU * k as f64 / 8.0;
                [2.0 * a.cos(), 2.0 * a.sin()]
            })
            .collect();
        Self::new(vec![1.0; 8], means, vec![[[0.04, 0.0], [0.0, 0.04]]; 8]).expect("valid")
    }

    /// Twenty-five Gaussians on the grid {-2, ..., 2}^2, std 0.1 (the `gmm25` target).
    pub fn twenty_five_gaussians() -> Self {
        let means = (0..25).map(|k| [(k % 5) as f64 - 2.0, (k / 5) as f64 - 2.0]).collect();
        Self::new(vec![1.0; 25], means, vec![[[0.01, 0.0], [0.0, 0.01]]; 25]).expect("valid")
    }
}

/// A covariance the f32 GPU path can invert: eigenvalues within the bound, condition number
/// at most `limits::COVARIANCE_CONDITION`. The message says which and what to change.
fn check_covariance(i: usize, cov: &Matrix2<f64>) -> Result<(), String> {
    let eigen = cov.symmetric_eigenvalues();
    let (low, high) = (eigen.min(), eigen.max());
    let bound = limits::COVARIANCE_EIGENVALUE;
    if low <= 0.0 {
        return Err(format!("covariance {i} is not positive definite (eigenvalues {low:e}, {high:e})"));
    }
    if !bound.contains(low) || !bound.contains(high) {
        return Err(format!(
            "covariance {i} has eigenvalues {low:e} and {high:e}: each must lie between {:e} and {:e}; rescale the data",
            bound.min, bound.max
        ));
    }
    if high / low > limits::COVARIANCE_CONDITION {
        return Err(format!(
            "covariance {i} has condition number {:.3e}, above the {:e} that the f32 GPU path can invert accurately; widen its thinnest direction",
            high / low,
            limits::COVARIANCE_CONDITION
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn skewed() -> GaussianMixture {
        GaussianMixture::new(
            vec![0.3, 0.7],
            vec![[-1.0, 0.5], [1.5, -0.5]],
            vec![[[0.5, 0.2], [0.2, 0.3]], [[0.2, -0.05], [-0.05, 0.4]]],
        )
        .unwrap()
    }

    #[test]
    fn density_integrates_to_one() {
        let g = skewed();
        let h = 0.02;
        let mut total = 0.0;
        for i in 0..500 {
            for j in 0..500 {
                let x = [-5.0 + h * (i as f64 + 0.5), -5.0 + h * (j as f64 + 0.5)];
                total += g.log_density(x).exp() * h * h;
            }
        }
        assert!((total - 1.0).abs() < 1e-4, "integral {total}");
    }

    #[test]
    fn score_is_the_gradient_of_the_log_density() {
        let g = skewed().marginal(&Process::vp(), 0.3, [0.0, 0.0]);
        for x in [[0.1, 0.2], [-2.0, 1.0], [1.0, -1.5]] {
            let s = g.score(x);
            let h = 1e-5;
            for d in 0..2 {
                let (mut p, mut m) = (x, x);
                p[d] += h;
                m[d] -= h;
                let fd = (g.log_density(p) - g.log_density(m)) / (2.0 * h);
                assert!((fd - s[d]).abs() < 1e-6, "d{d}: fd {fd} vs score {}", s[d]);
            }
        }
    }

    #[test]
    fn score_jacobian_is_the_derivative_of_the_score() {
        let g = skewed().marginal(&Process::ve(), 0.2, [0.0, 0.0]);
        for x in [[0.1, 0.2], [-2.0, 1.0], [1.0, -1.5]] {
            let j = g.score_jacobian(x);
            let h = 1e-6;
            for d in 0..2 {
                let (mut p, mut m) = (x, x);
                p[d] += h;
                m[d] -= h;
                let (sp, sm) = (g.score(p), g.score(m));
                for o in 0..2 {
                    let fd = (sp[o] - sm[o]) / (2.0 * h);
                    assert!((fd - j[o][d]).abs() < 1e-5 * (1.0 + fd.abs()), "ds{o}/dx{d}: {fd} vs {}", j[o][d]);
                }
            }
        }
    }

    #[test]
    fn samples_match_the_moments() {
        let g = skewed();
        let xs = g.sample(200_000, 5);
        let (mean, cov) = g.moments();
        let n = xs.len() as f64;
        let m: Vec<f64> = (0..2).map(|d| xs.iter().map(|x| x[d]).sum::<f64>() / n).collect();
        for d in 0..2 {
            assert!((m[d] - mean[d]).abs() < 5.0 * (cov[d][d] / n).sqrt(), "mean {d}: {} vs {}", m[d], mean[d]);
        }
        let c01 = xs.iter().map(|x| (x[0] - m[0]) * (x[1] - m[1])).sum::<f64>() / n;
        assert!((c01 - cov[0][1]).abs() < 0.02, "cov01 {c01} vs {}", cov[0][1]);
        assert_eq!(g.sample(10, 5), g.sample(10, 5), "deterministic under a seed");
    }

    /// The pushed-forward mixture is the law of alpha x_0 + (1 - alpha) mu + sigma z.
    #[test]
    fn marginal_matches_noised_samples() {
        let g = skewed();
        for process in [Process::vp(), Process::ve(), Process::mean_reverting(), Process::RectifiedFlow] {
            let (t, mu) = (0.4, [1.0, -2.0]);
            let marginal = g.marginal(&process, t, mu);
            let (a, s) = (process.alpha(t), process.sigma(t));
            // Only the mean-reverting process has a condition; the others ignore mu.
            let mu_eff = process.condition(mu);
            let mut rng = RngStream::new(77, 1);
            let noised: Vec<[f64; 2]> = g
                .sample(100_000, 8)
                .iter()
                .map(|x| {
                    [
                        a * x[0] + (1.0 - a) * mu_eff[0] + s * rng.normal(),
                        a * x[1] + (1.0 - a) * mu_eff[1] + s * rng.normal(),
                    ]
                })
                .collect();
            let (mean, cov) = marginal.moments();
            let n = noised.len() as f64;
            for d in 0..2 {
                let m = noised.iter().map(|x| x[d]).sum::<f64>() / n;
                assert!(
                    (m - mean[d]).abs() < 5.0 * (cov[d][d] / n).sqrt(),
                    "{}: mean {m} vs {}",
                    process.name(),
                    mean[d]
                );
                let v = noised.iter().map(|x| (x[d] - m).powi(2)).sum::<f64>() / n;
                assert!((v / cov[d][d] - 1.0).abs() < 0.03, "{}: var {v} vs {}", process.name(), cov[d][d]);
            }
        }
    }

    #[test]
    fn json_round_trips_and_bad_files_are_explained() {
        let g = skewed();
        let text = serde_json::to_string(&g.to_spec()).unwrap();
        let back = GaussianMixture::from_json(&text).unwrap();
        assert_eq!(back.to_spec(), g.to_spec());
        let cases = [
            ("{}", "not a mixture file"),
            (r#"{"weights":[],"means":[],"covs":[]}"#, "at least one component"),
            (r#"{"weights":[1,1],"means":[[0,0]],"covs":[[[1,0],[0,1]]]}"#, "same length"),
            (r#"{"weights":[-1],"means":[[0,0]],"covs":[[[1,0],[0,1]]]}"#, "positive"),
            (r#"{"weights":[1],"means":[[0,0]],"covs":[[[1,2],[2,1]]]}"#, "positive definite"),
            (r#"{"weights":[1],"means":[[0,0]],"covs":[[[1,0.5],[0,1]]]}"#, "symmetric"),
        ];
        for (text, expected) in cases {
            let err = GaussianMixture::from_json(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn responsibilities_sum_to_one() {
        let r = GaussianMixture::eight_gaussians().responsibilities([2.0, 0.1]);
        assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(r[0] > 0.99, "the point sits on component 0: {r:?}");
    }
}
