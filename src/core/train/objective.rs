//! Training objectives: denoising score matching in every parameterisation and weighting,
//! flow matching for rectified flow, and (through the mean-reverting process and its
//! condition mu) the MR objective.
//!
//! Every DSM variant is a weight times the squared noise residual: with x_t = alpha x_0 +
//! (1 - alpha) mu + sigma z and the model's output turned into a noise estimate eps-hat,
//!   loss = w(t) |eps-hat - z|^2,
//! where w(t) is what makes it the parameterisation's natural loss (|x0-hat - x0|^2 is
//! (sigma/alpha)^2 |eps-hat - z|^2, and so on) or the likelihood weighting g^2 / sigma^2.

use serde::{Deserialize, Serialize};

pub use crate::core::param::Parameterisation;
use crate::core::process::Process;

/// How DSM weighs the times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    /// The parameterisation's own squared error (score: |sigma s + z|^2).
    Default,
    /// g(t)^2 |s + z / sigma|^2: the weighting under which DSM bounds the negative log-likelihood.
    Likelihood,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Objective {
    Dsm {
        param: Parameterisation,
        weighting: Weighting,
    },
    /// |v(x_t, t) - (z - x_0)|^2 with x_t = (1 - t) x_0 + t z (rectified flow only).
    FlowMatching,
}

/// The DSM weight on |eps-hat - z|^2 that gives this parameterisation's natural loss.
fn natural_weight(param: Parameterisation, alpha: f64, sigma: f64) -> f64 {
    match param {
        Parameterisation::Eps | Parameterisation::Score => 1.0,
        Parameterisation::X0 => (sigma / alpha).powi(2),
        Parameterisation::V => ((alpha * alpha + sigma * sigma) / alpha).powi(2),
        Parameterisation::Flow => ((alpha + sigma) / alpha).powi(2),
    }
}

impl Objective {
    /// The objective's weight on the squared noise residual at time t.
    pub fn residual_weight(&self, process: &Process, t: f64) -> f64 {
        let (alpha, sigma) = (process.alpha(t), process.sigma(t));
        match self {
            Objective::Dsm { param, weighting: Weighting::Default } => natural_weight(*param, alpha, sigma),
            Objective::Dsm { weighting: Weighting::Likelihood, .. } => process.diffusion_squared(t) / (sigma * sigma),
            // u - v* = (1/alpha) (z - E[z | x_t]) when alpha + sigma = 1.
            Objective::FlowMatching => 1.0 / (alpha * alpha),
        }
    }

    /// The loss of one sample and its gradient with respect to the network's output.
    /// `x0`, `z`, `mu`: the data point, the noise and the condition that made x_t.
    pub fn sample_loss(
        &self,
        process: &Process,
        t: f64,
        x0: [f64; 2],
        z: [f64; 2],
        mu: [f64; 2],
        out: [f64; 2],
    ) -> (f64, [f64; 2]) {
        match self {
            Objective::FlowMatching => {
                let r = [out[0] - (z[0] - x0[0]), out[1] - (z[1] - x0[1])];
                (r[0] * r[0] + r[1] * r[1], [2.0 * r[0], 2.0 * r[1]])
            }
            Objective::Dsm { param, .. } => {
                let (alpha, sigma) = (process.alpha(t), process.sigma(t));
                let centred = [alpha * x0[0] + sigma * z[0], alpha * x0[1] + sigma * z[1]];
                let _ = mu; // x_t - (1 - alpha) mu is all the model's conversion needs.
                let eps = param.to_eps(out, centred, alpha, sigma);
                let r = [eps[0] - z[0], eps[1] - z[1]];
                let w = self.residual_weight(process, t);
                let slope = 2.0 * w * param.eps_slope(alpha, sigma);
                (w * (r[0] * r[0] + r[1] * r[1]), [slope * r[0], slope * r[1]])
            }
        }
    }

    /// The sample's loss as a weighted regression of the network's output: with
    /// eps-hat = a out + b, the loss is w |eps-hat - z|^2 and its output gradient
    /// 2 w a (eps-hat - z), which is what [`Self::sample_loss`] computes. Returns (a, w, b): a
    /// kernel that is given them and z computes every objective alike (the GPU trainer).
    pub fn as_regression(&self, process: &Process, t: f64, x0: [f64; 2], z: [f64; 2]) -> (f64, f64, [f64; 2]) {
        match self {
            // out - (z - x0) = 1 out + x0 - z.
            Objective::FlowMatching => (1.0, 1.0, x0),
            Objective::Dsm { param, .. } => {
                let (alpha, sigma) = (process.alpha(t), process.sigma(t));
                let centred = [alpha * x0[0] + sigma * z[0], alpha * x0[1] + sigma * z[1]];
                let b = param.to_eps([0.0, 0.0], centred, alpha, sigma);
                (param.eps_slope(alpha, sigma), self.residual_weight(process, t), b)
            }
        }
    }

    /// The output of the ideal model, given the exact score of p_t at x_t.
    pub fn ideal_output(&self, process: &Process, t: f64, x_t: [f64; 2], mu: [f64; 2], score: [f64; 2]) -> [f64; 2] {
        let (alpha, sigma) = (process.alpha(t), process.sigma(t));
        let mu = process.condition(mu);
        let centred = [x_t[0] - (1.0 - alpha) * mu[0], x_t[1] - (1.0 - alpha) * mu[1]];
        let eps = [-sigma * score[0], -sigma * score[1]];
        match self {
            Objective::Dsm { param, .. } => param.from_eps(eps, centred, alpha, sigma),
            Objective::FlowMatching => {
                // v* = E[z | x_t] - E[x_0 | x_t], with E[x_0 | x_t] = (x_t - sigma E[z | x_t]) / alpha.
                let x0 = [(centred[0] - sigma * eps[0]) / alpha, (centred[1] - sigma * eps[1]) / alpha];
                [eps[0] - x0[0], eps[1] - x0[1]]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::data::GaussianMixture;
    use crate::core::rng::RngStream;

    fn all_objectives() -> Vec<Objective> {
        let mut all = vec![Objective::FlowMatching];
        for param in Parameterisation::ALL {
            for weighting in [Weighting::Default, Weighting::Likelihood] {
                all.push(Objective::Dsm { param, weighting });
            }
        }
        all
    }

    #[test]
    fn conversions_invert_each_other() {
        for p in Parameterisation::ALL {
            let eps = [0.3, -1.1];
            let out = p.from_eps(eps, [0.7, 0.2], 0.6, 0.8);
            let back = p.to_eps(out, [0.7, 0.2], 0.6, 0.8);
            assert!((back[0] - eps[0]).abs() < 1e-12 && (back[1] - eps[1]).abs() < 1e-12, "{}", p.name());
        }
    }

    #[test]
    fn natural_losses_equal_their_own_definitions() {
        // x0: |x0-hat - x0|^2; v: |v-hat - v|^2; score: |sigma s-hat + z|^2.
        let (process, t) = (Process::vp(), 0.4);
        let (alpha, sigma) = (process.alpha(t), process.sigma(t));
        let (x0, z, out) = ([0.5, -1.0], [0.2, 0.9], [0.1, 0.3]);
        let loss = |param| {
            Objective::Dsm { param, weighting: Weighting::Default }.sample_loss(&process, t, x0, z, [0.0; 2], out).0
        };
        let sq = |a: f64, b: f64| a * a + b * b;
        assert!((loss(Parameterisation::X0) - sq(out[0] - x0[0], out[1] - x0[1])).abs() < 1e-12);
        let v = [alpha * z[0] - sigma * x0[0], alpha * z[1] - sigma * x0[1]];
        assert!((loss(Parameterisation::V) - sq(out[0] - v[0], out[1] - v[1])).abs() < 1e-12);
        assert!((loss(Parameterisation::Score) - sq(sigma * out[0] + z[0], sigma * out[1] + z[1])).abs() < 1e-12);
    }

    /// The regression form (a, w, b) gives `sample_loss`'s loss and output gradient.
    #[test]
    fn the_regression_form_is_the_sample_loss() {
        for objective in all_objectives() {
            let process = if objective == Objective::FlowMatching { Process::RectifiedFlow } else { Process::cosine() };
            let (t, x0, z, out) = (0.3, [0.4, -0.2], [1.1, 0.5], [0.2, -0.7]);
            let (loss, grad) = objective.sample_loss(&process, t, x0, z, [0.0; 2], out);
            let (a, w, b) = objective.as_regression(&process, t, x0, z);
            let r = [a * out[0] + b[0] - z[0], a * out[1] + b[1] - z[1]];
            assert!((w * (r[0] * r[0] + r[1] * r[1]) - loss).abs() < 1e-12 * (1.0 + loss), "{objective:?}");
            for d in 0..2 {
                assert!((2.0 * w * a * r[d] - grad[d]).abs() < 1e-12 * (1.0 + grad[d].abs()), "{objective:?}");
            }
        }
    }

    #[test]
    fn output_gradients_match_finite_differences() {
        let process = Process::cosine();
        for objective in all_objectives() {
            let process = if objective == Objective::FlowMatching { Process::RectifiedFlow } else { process };
            let args = (0.3, [0.4, -0.2], [1.1, 0.5], [0.0, 0.0]);
            let out = [0.2, -0.7];
            let (_, grad) = objective.sample_loss(&process, args.0, args.1, args.2, args.3, out);
            for d in 0..2 {
                let h = 1e-6;
                let (mut p, mut m) = (out, out);
                p[d] += h;
                m[d] -= h;
                let fd = (objective.sample_loss(&process, args.0, args.1, args.2, args.3, p).0
                    - objective.sample_loss(&process, args.0, args.1, args.2, args.3, m).0)
                    / (2.0 * h);
                assert!((fd - grad[d]).abs() < 1e-5 * (1.0 + fd.abs()), "{objective:?}: {fd} vs {}", grad[d]);
            }
        }
    }

    /// Mean loss of the ideal model and of a perturbed one at time t, by Monte Carlo.
    fn losses_at(
        objective: Objective,
        process: &Process,
        data: &GaussianMixture,
        t: f64,
        mu: [f64; 2],
        n: usize,
    ) -> (f64, f64, f64) {
        let marginal = data.marginal(process, t, mu);
        let (alpha, sigma) = (process.alpha(t), process.sigma(t));
        let mu_eff = process.condition(mu);
        let mut rng = RngStream::new(99, (t * 1e6) as u64);
        let (mut ideal, mut ideal_sq, mut perturbed) = (0.0, 0.0, 0.0);
        for x0 in data.sample(n, (t * 1e6) as u64 + 1) {
            let z = [rng.normal(), rng.normal()];
            let x_t = [
                alpha * x0[0] + (1.0 - alpha) * mu_eff[0] + sigma * z[0],
                alpha * x0[1] + (1.0 - alpha) * mu_eff[1] + sigma * z[1],
            ];
            let out = objective.ideal_output(process, t, x_t, mu, marginal.score(x_t));
            let l = objective.sample_loss(process, t, x0, z, mu, out).0;
            ideal += l;
            ideal_sq += l * l;
            // The same model with its noise estimate off by 0.5 in one coordinate.
            let score = marginal.score(x_t);
            let bent = objective.ideal_output(process, t, x_t, mu, [score[0] + 0.5 / sigma, score[1]]);
            perturbed += objective.sample_loss(process, t, x0, z, mu, bent).0;
        }
        let mean = ideal / n as f64;
        let se = ((ideal_sq / n as f64 - mean * mean) / n as f64).sqrt();
        (mean, se, perturbed / n as f64)
    }

    /// With a Gaussian data set the minimum is known in closed form at every t:
    /// w(t) (d - sigma^2 tr Sigma_t^{-1}), Sigma_t = alpha^2 C + sigma^2 I (E|s*|^2 = tr Sigma^{-1}).
    #[test]
    fn ideal_model_reaches_the_closed_form_minimum_on_gaussian_data() {
        let c = [[0.5, 0.2], [0.2, 0.3]];
        let data = GaussianMixture::new(vec![1.0], vec![[0.5, -1.0]], vec![c]).unwrap();
        for objective in all_objectives() {
            let processes: Vec<Process> = if objective == Objective::FlowMatching {
                vec![Process::RectifiedFlow]
            } else {
                vec![Process::vp(), Process::sub_vp(), Process::ve(), Process::cosine(), Process::mean_reverting()]
            };
            for process in processes {
                for t in [0.05, 0.3, 0.7] {
                    let mu = [1.0, 0.5];
                    let (alpha, sigma) = (process.alpha(t), process.sigma(t));
                    let s00 = alpha * alpha * c[0][0] + sigma * sigma;
                    let s11 = alpha * alpha * c[1][1] + sigma * sigma;
                    let s01 = alpha * alpha * c[0][1];
                    let trace_inverse = (s00 + s11) / (s00 * s11 - s01 * s01);
                    let minimum = objective.residual_weight(&process, t) * (2.0 - sigma * sigma * trace_inverse);
                    let (mc, se, worse) = losses_at(objective, &process, &data, t, mu, 20_000);
                    assert!(
                        (mc - minimum).abs() < 5.0 * se + 1e-9,
                        "{objective:?} {} t={t}: Monte Carlo {mc} ± {se} vs exact minimum {minimum}",
                        process.name()
                    );
                    assert!(worse > mc, "{objective:?} {}: a perturbed model must do worse", process.name());
                }
            }
        }
    }

    /// On a mixture the minimum is w(t) (d - sigma^2 E|s*|^2), estimated independently.
    #[test]
    fn ideal_model_reaches_the_minimum_on_a_mixture() {
        let data = GaussianMixture::eight_gaussians();
        let process = Process::vp();
        for objective in [
            Objective::Dsm { param: Parameterisation::Eps, weighting: Weighting::Default },
            Objective::Dsm { param: Parameterisation::V, weighting: Weighting::Likelihood },
        ] {
            for t in [0.1, 0.5] {
                let marginal = data.marginal(&process, t, [0.0; 2]);
                let sigma = process.sigma(t);
                let n = 40_000;
                let points = marginal.sample(n, 3);
                let mean_sq_score =
                    points.iter().map(|x| marginal.score(*x)).map(|s| s[0] * s[0] + s[1] * s[1]).sum::<f64>()
                        / n as f64;
                let minimum = objective.residual_weight(&process, t) * (2.0 - sigma * sigma * mean_sq_score);
                let (mc, se, _) = losses_at(objective, &process, &data, t, [0.0; 2], n);
                // Two independent estimates: allow both their errors.
                assert!(
                    (mc - minimum).abs() < 6.0 * se + 0.01 * minimum.abs(),
                    "{objective:?} t={t}: {mc} ± {se} vs {minimum}"
                );
            }
        }
    }
}
