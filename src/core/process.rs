//! Forward noising processes. Every process here is linear in x:
//!
//!   dx = k(t) (x - mu) dt + g(t) dW,   x_t | x_0 ~ N(alpha_t x_0 + (1 - alpha_t) mu, sigma_t^2 I),
//!
//! with mu = 0 except for the mean-reverting process, whose mean mu is the condition. So each
//! process is a handful of scalar functions of t: the drift coefficient k, the diffusion g, the
//! marginal scale alpha and std sigma, the log-SNR lambda = log(alpha / sigma) and its inverse.
//! Formulas: score_sde (VP, sub-VP, VE), Nichol & Dhariwal (cosine), IR-SDE (MR), rectified flow.

use std::f64::consts::{FRAC_PI_2, PI};

use serde::{Deserialize, Serialize};

/// A forward process and its constants.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Process {
    /// Variance preserving: beta(t) = beta_min + t (beta_max - beta_min).
    Vp { beta_min: f64, beta_max: f64 },
    /// Sub-VP: VP's drift, smaller diffusion; std = 1 - alpha^2 (no square root).
    SubVp { beta_min: f64, beta_max: f64 },
    /// Variance exploding: sigma(t) = sigma_min (sigma_max / sigma_min)^t, no drift.
    Ve { sigma_min: f64, sigma_max: f64 },
    /// Cosine schedule: alpha_t = cos((t + s)/(1 + s) pi/2) / cos(s/(1 + s) pi/2).
    CosineVp { s: f64 },
    /// Mean-reverting (IR-SDE): dx = theta_t (mu - x) dt + sqrt(2 lambda^2 theta_t) dW with
    /// theta_t = Theta (pi/2) sin(pi t / 2), so thetabar_1 = Theta and e^{-Theta} is the mean left.
    MeanReverting { lambda: f64, theta_total: f64 },
    /// Rectified flow: x_t = (1 - t) x_0 + t z (an ODE model; its SDE form exists for t < 1).
    RectifiedFlow,
}

/// Cosine schedules end a little before t = 1, where beta blows up (DPM-Solver uses 0.9946).
const COSINE_T_MAX: f64 = 0.9946;

/// Rectified flow stops short of t = 1, where alpha_t = 1 - t vanishes.
const RECTIFIED_FLOW_T_MAX: f64 = 0.999;

impl Process {
    pub const NAMES: [&'static str; 6] = ["vp", "subvp", "ve", "cosine", "mr", "rf"];

    pub fn vp() -> Self {
        Process::Vp { beta_min: 0.1, beta_max: 20.0 }
    }
    pub fn sub_vp() -> Self {
        Process::SubVp { beta_min: 0.1, beta_max: 20.0 }
    }
    /// For 2D toy data in about [-4, 4]: sigma_max 10 covers the data, sigma_min 0.01 resolves it.
    pub fn ve() -> Self {
        Process::Ve { sigma_min: 0.01, sigma_max: 10.0 }
    }
    pub fn cosine() -> Self {
        Process::CosineVp { s: 0.008 }
    }
    /// Theta = ln 200, so e^{-thetabar_1} = 0.005 of the data's offset from mu remains.
    pub fn mean_reverting() -> Self {
        Process::MeanReverting { lambda: 1.0, theta_total: 200f64.ln() }
    }

    /// The process from its command-line name (`vp|subvp|ve|cosine|mr|rf`), with defaults.
    pub fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "vp" => Ok(Self::vp()),
            "subvp" | "sub-vp" => Ok(Self::sub_vp()),
            "ve" => Ok(Self::ve()),
            "cosine" => Ok(Self::cosine()),
            "mr" => Ok(Self::mean_reverting()),
            "rf" => Ok(Process::RectifiedFlow),
            other => Err(format!("unknown process '{other}': choose one of {}", Self::NAMES.join(", "))),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Process::Vp { .. } => "vp",
            Process::SubVp { .. } => "subvp",
            Process::Ve { .. } => "ve",
            Process::CosineVp { .. } => "cosine",
            Process::MeanReverting { .. } => "mr",
            Process::RectifiedFlow => "rf",
        }
    }

    /// The last time of the process (the prior's time).
    pub fn t_max(&self) -> f64 {
        match self {
            Process::CosineVp { .. } => COSINE_T_MAX,
            // Rectified flow's drift and diffusion blow up at t = 1 (alpha = 0).
            Process::RectifiedFlow => RECTIFIED_FLOW_T_MAX,
            _ => 1.0,
        }
    }

    /// True where the model is a velocity field trained by flow matching (no SDE sampling).
    pub fn is_flow(&self) -> bool {
        matches!(self, Process::RectifiedFlow)
    }

    /// True when the process has a condition mu.
    pub fn is_conditional(&self) -> bool {
        matches!(self, Process::MeanReverting { .. })
    }

    /// The condition as the process sees it: mu for the mean-reverting process, zero otherwise.
    pub fn condition(&self, mu: [f64; 2]) -> [f64; 2] {
        if self.is_conditional() {
            mu
        } else {
            [0.0, 0.0]
        }
    }

    /// VP's integral of beta from 0 to t.
    fn beta_integral(beta_min: f64, beta_max: f64, t: f64) -> f64 {
        beta_min * t + 0.5 * (beta_max - beta_min) * t * t
    }

    fn cosine_angle(s: f64, t: f64) -> f64 {
        (t + s) / (1.0 + s) * FRAC_PI_2
    }

    fn mr_theta_bar(theta_total: f64, t: f64) -> f64 {
        theta_total * (1.0 - (FRAC_PI_2 * t).cos())
    }

    /// log alpha_t (the marginal's scale of x_0).
    pub fn log_alpha(&self, t: f64) -> f64 {
        match *self {
            Process::Vp { beta_min, beta_max } | Process::SubVp { beta_min, beta_max } => {
                -0.5 * Self::beta_integral(beta_min, beta_max, t)
            }
            Process::Ve { .. } => 0.0,
            Process::CosineVp { s } => Self::cosine_angle(s, t).cos().ln() - Self::cosine_angle(s, 0.0).cos().ln(),
            Process::MeanReverting { theta_total, .. } => -Self::mr_theta_bar(theta_total, t),
            Process::RectifiedFlow => (1.0 - t).ln(),
        }
    }

    pub fn alpha(&self, t: f64) -> f64 {
        self.log_alpha(t).exp()
    }

    /// The marginal standard deviation sigma_t (of the noise added to alpha_t x_0).
    pub fn sigma(&self, t: f64) -> f64 {
        match *self {
            Process::Vp { .. } | Process::CosineVp { .. } => (-(2.0 * self.log_alpha(t)).exp_m1()).sqrt(),
            Process::SubVp { .. } => -(2.0 * self.log_alpha(t)).exp_m1(),
            // Exact for an SDE started at t = 0: Var = sigma(t)^2 - sigma(0)^2.
            Process::Ve { sigma_min, sigma_max } => {
                let ratio_sq = (sigma_max / sigma_min).powf(2.0 * t);
                sigma_min * (ratio_sq - 1.0).max(0.0).sqrt()
            }
            Process::MeanReverting { lambda, .. } => lambda * (-(2.0 * self.log_alpha(t)).exp_m1()).sqrt(),
            Process::RectifiedFlow => t,
        }
    }

    /// The drift coefficient k(t): f(x, t) = k(t) (x - mu).
    pub fn drift_coefficient(&self, t: f64) -> f64 {
        match *self {
            Process::Vp { beta_min, beta_max } | Process::SubVp { beta_min, beta_max } => {
                -0.5 * (beta_min + t * (beta_max - beta_min))
            }
            Process::Ve { .. } => 0.0,
            Process::CosineVp { s } => -FRAC_PI_2 / (1.0 + s) * Self::cosine_angle(s, t).tan(),
            Process::MeanReverting { theta_total, .. } => -theta_total * FRAC_PI_2 * (FRAC_PI_2 * t).sin(),
            Process::RectifiedFlow => -1.0 / (1.0 - t),
        }
    }

    /// The forward drift f(x, t) = k(t) (x - mu).
    pub fn drift(&self, x: [f64; 2], t: f64, mu: [f64; 2]) -> [f64; 2] {
        let (k, mu) = (self.drift_coefficient(t), self.condition(mu));
        [k * (x[0] - mu[0]), k * (x[1] - mu[1])]
    }

    /// g(t)^2, the squared diffusion coefficient.
    pub fn diffusion_squared(&self, t: f64) -> f64 {
        match *self {
            Process::Vp { beta_min, beta_max } => beta_min + t * (beta_max - beta_min),
            Process::SubVp { beta_min, beta_max } => {
                let beta = beta_min + t * (beta_max - beta_min);
                beta * -(-2.0 * Self::beta_integral(beta_min, beta_max, t)).exp_m1()
            }
            Process::Ve { sigma_min, sigma_max } => {
                let sigma = sigma_min * (sigma_max / sigma_min).powf(t);
                2.0 * sigma * sigma * (sigma_max / sigma_min).ln()
            }
            Process::CosineVp { .. } => -2.0 * self.drift_coefficient(t),
            Process::MeanReverting { lambda, .. } => -2.0 * lambda * lambda * self.drift_coefficient(t),
            // g^2 = d sigma^2/dt - 2 k sigma^2 for the linear interpolant.
            Process::RectifiedFlow => 2.0 * t / (1.0 - t),
        }
    }

    pub fn diffusion(&self, t: f64) -> f64 {
        self.diffusion_squared(t).sqrt()
    }

    /// The marginal mean E[x_t | x_0] = alpha_t x_0 + (1 - alpha_t) mu.
    pub fn marginal_mean(&self, x0: [f64; 2], t: f64, mu: [f64; 2]) -> [f64; 2] {
        let (a, mu) = (self.alpha(t), self.condition(mu));
        [a * x0[0] + (1.0 - a) * mu[0], a * x0[1] + (1.0 - a) * mu[1]]
    }

    /// The log-SNR lambda_t = log(alpha_t / sigma_t), decreasing in t.
    pub fn log_snr(&self, t: f64) -> f64 {
        self.log_alpha(t) - self.sigma(t).ln()
    }

    /// The time whose log-SNR is `lambda`: closed forms where they exist, else bisection.
    pub fn t_from_log_snr(&self, lambda: f64) -> f64 {
        // alpha^2 of a VP-type process (alpha^2 + sigma^2 = 1) with this log-SNR.
        let vp_log_alpha = -0.5 * (-2.0 * lambda).exp().ln_1p();
        match *self {
            Process::Vp { beta_min, beta_max } => {
                // Solve (b1 - b0) t^2 / 4 + b0 t / 2 + log alpha = 0 for t >= 0.
                let a = 0.25 * (beta_max - beta_min);
                let b = 0.5 * beta_min;
                2.0 * (-vp_log_alpha) / (b + (b * b + 4.0 * a * (-vp_log_alpha)).sqrt())
            }
            Process::Ve { sigma_min, sigma_max } => {
                let sigma_t_sq = (-2.0 * lambda).exp() + sigma_min * sigma_min;
                0.5 * (sigma_t_sq / (sigma_min * sigma_min)).ln() / (sigma_max / sigma_min).ln()
            }
            Process::CosineVp { s } => {
                let angle = (vp_log_alpha.exp() * Self::cosine_angle(s, 0.0).cos()).acos();
                angle * (1.0 + s) / FRAC_PI_2 - s
            }
            Process::MeanReverting { lambda: scale, theta_total } => {
                let e = (scale * lambda.exp()).powi(2);
                let theta_bar = -0.5 * (e / (1.0 + e)).ln();
                (1.0 - theta_bar / theta_total).clamp(-1.0, 1.0).acos() * 2.0 / PI
            }
            Process::RectifiedFlow => 1.0 / (1.0 + lambda.exp()),
            Process::SubVp { .. } => self.bisect_log_snr(lambda),
        }
    }

    /// Inverts the decreasing log-SNR on [0, t_max] by bisection (to f64 resolution).
    fn bisect_log_snr(&self, lambda: f64) -> f64 {
        let (mut lo, mut hi) = (0.0f64, self.t_max());
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            if self.log_snr(mid) > lambda {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::rng::RngStream;

    fn all() -> Vec<Process> {
        Process::NAMES.iter().map(|n| Process::from_name(n).unwrap()).collect()
    }

    #[test]
    fn names_round_trip_and_unknown_names_say_what_exists() {
        for p in all() {
            assert_eq!(Process::from_name(p.name()).unwrap(), p);
        }
        let err = Process::from_name("vpp").unwrap_err();
        assert!(err.contains("vp, subvp, ve, cosine, mr, rf"), "{err}");
    }

    #[test]
    fn log_snr_inverse_round_trips() {
        for p in all() {
            for i in 1..20 {
                let t = 0.01 + (p.t_max() - 0.02) * i as f64 / 20.0;
                let back = p.t_from_log_snr(p.log_snr(t));
                assert!((back - t).abs() < 1e-7, "{}: t {t} -> {back}", p.name());
            }
        }
    }

    #[test]
    fn log_snr_decreases_in_time() {
        for p in all() {
            let mut last = f64::INFINITY;
            for i in 1..50 {
                let l = p.log_snr(p.t_max() * i as f64 / 50.0);
                assert!(l < last, "{}", p.name());
                last = l;
            }
        }
    }

    /// The SDE's own moments, dm/dt = k (m - mu), dv/dt = 2 k v + g^2, agree with the
    /// closed-form alpha and sigma (integrated in f64 with RK4 on a fine grid).
    #[test]
    fn closed_form_marginals_solve_the_moment_equations() {
        for p in all() {
            let t_end = if p.is_flow() { 0.9 } else { p.t_max() };
            let (x0, mu) = (1.5, if p.is_conditional() { -0.5 } else { 0.0 });
            let rhs = |t: f64, y: [f64; 2]| {
                let k = p.drift_coefficient(t);
                [k * (y[0] - mu), 2.0 * k * y[1] + p.diffusion_squared(t)]
            };
            let n = 20_000;
            let h = t_end / n as f64;
            let mut y = [x0, 0.0];
            for i in 0..n {
                let t = i as f64 * h;
                let k1 = rhs(t, y);
                let k2 = rhs(t + h / 2.0, [y[0] + h / 2.0 * k1[0], y[1] + h / 2.0 * k1[1]]);
                let k3 = rhs(t + h / 2.0, [y[0] + h / 2.0 * k2[0], y[1] + h / 2.0 * k2[1]]);
                let k4 = rhs(t + h, [y[0] + h * k3[0], y[1] + h * k3[1]]);
                for d in 0..2 {
                    y[d] += h / 6.0 * (k1[d] + 2.0 * k2[d] + 2.0 * k3[d] + k4[d]);
                }
            }
            let mean = p.marginal_mean([x0, 0.0], t_end, [mu, 0.0])[0];
            let var = p.sigma(t_end).powi(2);
            assert!((y[0] - mean).abs() < 1e-6 * (1.0 + mean.abs()), "{} mean {} vs {mean}", p.name(), y[0]);
            assert!((y[1] - var).abs() < 1e-5 * (1.0 + var), "{} var {} vs {var}", p.name(), y[1]);
        }
    }

    /// Marginal moments match a fine Euler-Maruyama simulation of the SDE itself.
    #[test]
    fn marginal_moments_match_euler_maruyama() {
        for p in all() {
            let t_end = if p.is_flow() { 0.9 } else { p.t_max() };
            let mu = if p.is_conditional() { [0.5, -1.0] } else { [0.0, 0.0] };
            let x0 = [1.0, 2.0];
            let (particles, steps) = (4000, 1000);
            let h = t_end / steps as f64;
            let mut rng = RngStream::new(11, 0);
            let mut finals = Vec::with_capacity(particles);
            for _ in 0..particles {
                let mut x = x0;
                for i in 0..steps {
                    let t = i as f64 * h;
                    let f = p.drift(x, t, mu);
                    let g = p.diffusion(t);
                    for d in 0..2 {
                        x[d] += f[d] * h + g * h.sqrt() * rng.normal();
                    }
                }
                finals.push(x);
            }
            let mean = p.marginal_mean(x0, t_end, mu);
            let std = p.sigma(t_end);
            for d in 0..2 {
                let m = finals.iter().map(|x| x[d]).sum::<f64>() / particles as f64;
                let v = finals.iter().map(|x| (x[d] - m).powi(2)).sum::<f64>() / particles as f64;
                let se = std / (particles as f64).sqrt();
                // Monte-Carlo error (5 standard errors) plus Euler's O(h) bias.
                assert!(
                    (m - mean[d]).abs() < 5.0 * se + 0.01 * (1.0 + mean[d].abs()),
                    "{} mean {m} vs {}",
                    p.name(),
                    mean[d]
                );
                let rel = (v / (std * std) - 1.0).abs();
                assert!(
                    rel < 5.0 * (2.0 / particles as f64).sqrt() + 0.02,
                    "{} variance {v} vs {}",
                    p.name(),
                    std * std
                );
            }
        }
    }
}
