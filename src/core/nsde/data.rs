//! The neural SDE lab's data (LABS.md, Lab B), simulated by exact transitions so that the
//! sets carry no discretisation error and every statistic has a closed form to test against:
//!
//! - `ou`: dX = theta (mu - X) dt + sigma dW, theta = 1, mu = 0, sigma = 0.5, X0 ~ N(0, 1),
//!   40 regular times on [0, 2] (the latent_sde.py prior's parameters);
//! - `ou-tdep` (the SDE-GAN toy of torchsde's sde_gan.py and diffrax's neural_sde example):
//!   dX = (mu t - theta X) dt + (2 sigma t / T) dW, mu = 0.02, theta = 0.1, sigma = 0.4,
//!   T = 63, 64 times, X0 ~ U[-1, 1], 30% of the points dropped by default;
//! - `gbm`: dX = a X dt + b X dW (Ito), a = 0.1, b = 0.4, X0 = 1, 40 times on [0, 2].
//!
//! Both OU sets are linear SDEs with additive noise, so one transition over [t, u] is
//! Gaussian with a closed-form mean and variance (integrals of s e^{theta s} and
//! s^2 e^{2 theta s}); GBM's is log-normal. Dropped points are NaN; the first time of every
//! path is always kept (it is the initial condition a generator must learn).

use crate::core::rng::RngStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NsdeDataId {
    Ou,
    OuTdep,
    Gbm,
}

/// The streams of one seed: each kind of draw on its own.
const STREAM_START: u64 = 0x4e53_0001;
const STREAM_NOISE: u64 = 0x4e53_0002;
const STREAM_DROP: u64 = 0x4e53_0003;

/// The constants of each set (LABS.md).
const OU: (f64, f64, f64) = (1.0, 0.0, 0.5); // theta, mu, sigma
const OU_TDEP: (f64, f64, f64, f64) = (0.1, 0.02, 0.4, 63.0); // theta, mu, sigma, T
const GBM: (f64, f64) = (0.1, 0.4); // a, b

impl NsdeDataId {
    pub const ALL: [NsdeDataId; 3] = [NsdeDataId::Ou, NsdeDataId::OuTdep, NsdeDataId::Gbm];

    pub fn name(self) -> &'static str {
        match self {
            NsdeDataId::Ou => "ou",
            NsdeDataId::OuTdep => "ou-tdep",
            NsdeDataId::Gbm => "gbm",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| format!("unknown data '{name}': choose ou, ou-tdep or gbm"))
    }

    pub fn title(self) -> &'static str {
        match self {
            NsdeDataId::Ou => "Ornstein-Uhlenbeck",
            NsdeDataId::OuTdep => "time-dependent OU (the SDE-GAN toy)",
            NsdeDataId::Gbm => "geometric Brownian motion",
        }
    }

    /// The observation times: regular on [0, T].
    pub fn times(self) -> Vec<f64> {
        let (n, span) = match self {
            NsdeDataId::Ou | NsdeDataId::Gbm => (40, 2.0),
            NsdeDataId::OuTdep => (64, OU_TDEP.3),
        };
        (0..n).map(|i| span * i as f64 / (n - 1) as f64).collect()
    }

    /// The set's own drop rate (the SDE-GAN toy drops 30%).
    pub fn default_drop(self) -> f64 {
        match self {
            NsdeDataId::OuTdep => 0.3,
            _ => 0.0,
        }
    }

    /// The rate of the quadratic variation d[X]_t / dt at time t (sigma(t, x)^2; for GBM it
    /// depends on x, so the mean rate b^2 E X_t^2 is given).
    pub fn qv_rate(self, t: f64) -> f64 {
        match self {
            NsdeDataId::Ou => OU.2 * OU.2,
            NsdeDataId::OuTdep => (2.0 * OU_TDEP.2 * t / OU_TDEP.3).powi(2),
            NsdeDataId::Gbm => GBM.1 * GBM.1 * (self.variance(t) + self.mean(t).powi(2)),
        }
    }

    /// E X_t in closed form.
    pub fn mean(self, t: f64) -> f64 {
        match self {
            NsdeDataId::Ou => OU.1 * (1.0 - (-OU.0 * t).exp()), // m0 = 0
            NsdeDataId::OuTdep => {
                let (theta, mu, _, _) = OU_TDEP;
                mu * (t / theta - (1.0 - (-theta * t).exp()) / (theta * theta))
            }
            NsdeDataId::Gbm => (GBM.0 * t).exp(),
        }
    }

    /// Var X_t in closed form.
    pub fn variance(self, t: f64) -> f64 {
        match self {
            NsdeDataId::Ou => {
                let (theta, _, sigma) = OU;
                (-2.0 * theta * t).exp() + sigma * sigma * (1.0 - (-2.0 * theta * t).exp()) / (2.0 * theta)
            }
            NsdeDataId::OuTdep => {
                let (theta, _, _, _) = OU_TDEP;
                (-2.0 * theta * t).exp() / 3.0 + tdep_noise_variance(0.0, t)
            }
            NsdeDataId::Gbm => {
                let (a, b) = GBM;
                (2.0 * a * t).exp() * ((b * b * t).exp() - 1.0)
            }
        }
    }

    /// Cov(X_s, X_t) in closed form. For the linear SDEs it is v(min) e^{-theta |t - s|}; for
    /// GBM e^{a (s + t)} (e^{b^2 min} - 1).
    pub fn covariance(self, s: f64, t: f64) -> f64 {
        let (lo, hi) = (s.min(t), s.max(t));
        match self {
            NsdeDataId::Ou => self.variance(lo) * (-OU.0 * (hi - lo)).exp(),
            NsdeDataId::OuTdep => self.variance(lo) * (-OU_TDEP.0 * (hi - lo)).exp(),
            NsdeDataId::Gbm => {
                let (a, b) = GBM;
                (a * (lo + hi)).exp() * ((b * b * lo).exp() - 1.0)
            }
        }
    }

    /// The exact density of X_t (Gaussian for OU; ou-tdep's X0 is uniform, so its marginal is
    /// a uniform convolved with a Gaussian; GBM's is log-normal).
    pub fn density(self, t: f64, x: f64) -> f64 {
        use crate::core::stats::standard_normal_cdf;
        let gaussian =
            |mean: f64, var: f64| (-(x - mean).powi(2) / (2.0 * var)).exp() / (std::f64::consts::TAU * var).sqrt();
        match self {
            NsdeDataId::Ou => gaussian(self.mean(t), self.variance(t)),
            NsdeDataId::OuTdep => {
                // X_t = e^{-theta t} U + m(t) + N(0, s2), U ~ U[-1, 1].
                let decay = (-OU_TDEP.0 * t).exp();
                let s2 = tdep_noise_variance(0.0, t);
                let centre = x - self.mean(t);
                if s2 <= 0.0 {
                    return if centre.abs() <= decay { 0.5 / decay } else { 0.0 };
                }
                let s = s2.sqrt();
                (standard_normal_cdf((centre + decay) / s) - standard_normal_cdf((centre - decay) / s)) / (2.0 * decay)
            }
            NsdeDataId::Gbm => {
                if x <= 0.0 {
                    return 0.0;
                }
                let (a, b) = GBM;
                let (m, v) = ((a - 0.5 * b * b) * t, b * b * t);
                if v <= 0.0 {
                    return 0.0;
                }
                (-(x.ln() - m).powi(2) / (2.0 * v)).exp() / (x * (std::f64::consts::TAU * v).sqrt())
            }
        }
    }

    /// One exact transition from x at time t to time u, driven by the standard normal xi.
    pub fn transition(self, t: f64, u: f64, x: f64, xi: f64) -> f64 {
        let delta = u - t;
        match self {
            NsdeDataId::Ou => {
                let (theta, mu, sigma) = OU;
                let decay = (-theta * delta).exp();
                mu + (x - mu) * decay + sigma * ((1.0 - decay * decay) / (2.0 * theta)).sqrt() * xi
            }
            NsdeDataId::OuTdep => {
                let (theta, mu, _, _) = OU_TDEP;
                let decay = (-theta * delta).exp();
                // int_t^u e^{-theta (u - s)} s ds = (u/th - 1/th^2) - e^{-th delta} (t/th - 1/th^2).
                let forced = (u / theta - 1.0 / (theta * theta)) - decay * (t / theta - 1.0 / (theta * theta));
                x * decay + mu * forced + tdep_noise_variance(t, u).sqrt() * xi
            }
            NsdeDataId::Gbm => {
                let (a, b) = GBM;
                x * ((a - 0.5 * b * b) * delta + b * delta.sqrt() * xi).exp()
            }
        }
    }
}

/// Var of int_t^u e^{-theta (u - s)} (2 sigma s / T) dW_s: (4 sigma^2 / T^2) times
/// int_t^u e^{-k (u - s)} s^2 ds with k = 2 theta, which is
/// (u^2/k - 2u/k^2 + 2/k^3) - e^{-k (u - t)} (t^2/k - 2t/k^2 + 2/k^3).
fn tdep_noise_variance(t: f64, u: f64) -> f64 {
    let (theta, _, sigma, span) = OU_TDEP;
    let k = 2.0 * theta;
    let antiderivative = |s: f64| s * s / k - 2.0 * s / (k * k) + 2.0 / (k * k * k);
    let integral = antiderivative(u) - (-k * (u - t)).exp() * antiderivative(t);
    (4.0 * sigma * sigma / (span * span) * integral).max(0.0)
}

/// A set of paths on common times; dropped values are NaN.
#[derive(Debug, Clone, PartialEq)]
pub struct PathSet {
    pub data: NsdeDataId,
    pub times: Vec<f64>,
    pub paths: Vec<Vec<f64>>,
}

impl PathSet {
    /// The observed values at time index i (NaNs left out).
    pub fn observed_at(&self, i: usize) -> Vec<f64> {
        self.paths.iter().map(|p| p[i]).filter(|v| v.is_finite()).collect()
    }

    /// The fraction of values observed.
    pub fn observed_fraction(&self) -> f64 {
        let total = (self.paths.len() * self.times.len()).max(1);
        let seen: usize = self.paths.iter().map(|p| p.iter().filter(|v| v.is_finite()).count()).sum();
        seen as f64 / total as f64
    }
}

/// `count` paths of a set, each value (never the first) dropped with probability `drop`;
/// path p's draws depend on (seed, p) only, so a larger set extends a smaller one.
pub fn generate(data: NsdeDataId, count: usize, drop: f64, seed: u64) -> PathSet {
    let times = data.times();
    let paths = (0..count as u64).map(|p| simulate_path(data, &times, drop, seed, p)).collect();
    PathSet { data, times, paths }
}

fn simulate_path(data: NsdeDataId, times: &[f64], drop: f64, seed: u64, path: u64) -> Vec<f64> {
    // Each path owns a block of counters in each stream.
    let mut start = RngStream::new(seed ^ path.wrapping_mul(0x9e37_79b9_7f4a_7c15), STREAM_START);
    let mut noise = RngStream::new(seed ^ path.wrapping_mul(0x9e37_79b9_7f4a_7c15), STREAM_NOISE);
    let mut dropper = RngStream::new(seed ^ path.wrapping_mul(0x9e37_79b9_7f4a_7c15), STREAM_DROP);
    let mut x = match data {
        NsdeDataId::Ou => start.normal(),
        NsdeDataId::OuTdep => 2.0 * start.uniform() - 1.0,
        NsdeDataId::Gbm => 1.0,
    };
    let mut values = Vec::with_capacity(times.len());
    values.push(x);
    for w in times.windows(2) {
        x = data.transition(w[0], w[1], x, noise.normal());
        values.push(x);
    }
    for v in values.iter_mut().skip(1) {
        if dropper.uniform() < drop {
            *v = f64::NAN;
        }
    }
    values
}

/// How far a set's sample moments are from the closed forms, in standard errors: the mean's
/// is sqrt(v / n); the variance's and covariance's sqrt(Var[(X - m)(Y - m')] / n), estimated
/// from the sample. Every time for mean and variance; every eighth for the autocovariance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MomentCheck {
    pub paths: usize,
    pub max_mean_z: f64,
    pub max_var_z: f64,
    pub max_cov_z: f64,
}

impl MomentCheck {
    /// Within 4 standard errors everywhere (LABS.md).
    pub fn pass(&self) -> bool {
        self.max_mean_z <= 4.0 && self.max_var_z <= 4.0 && self.max_cov_z <= 4.0
    }
}

/// Compares a set's moments with its closed forms (observed values only).
pub fn moment_check(set: &PathSet) -> MomentCheck {
    use crate::core::metrics_1d::moments;
    let data = set.data;
    let times = &set.times;
    let z = |sample: f64, exact: f64, se: f64| if se > 0.0 { (sample - exact).abs() / se } else { 0.0 };
    let (mut max_mean_z, mut max_var_z, mut max_cov_z) = (0.0f64, 0.0f64, 0.0f64);
    // Products (X_s - m_s)(X_t - m_t) over the paths observed at both times, about the
    // closed-form means: their mean estimates the covariance without the sample-mean bias.
    let products = |s: usize, t: usize| -> Vec<f64> {
        let (ms, mt) = (data.mean(times[s]), data.mean(times[t]));
        set.paths.iter().filter(|p| p[s].is_finite() && p[t].is_finite()).map(|p| (p[s] - ms) * (p[t] - mt)).collect()
    };
    for (i, &t) in times.iter().enumerate() {
        let column = set.observed_at(i);
        if column.len() < 2 {
            continue;
        }
        let n = column.len() as f64;
        let (mean, var) = (data.mean(t), data.variance(t));
        max_mean_z = max_mean_z.max(z(moments(&column).mean, mean, (var / n).sqrt()));
        let squares = products(i, i);
        let m = moments(&squares);
        max_var_z = max_var_z.max(z(m.mean, var, (m.variance / n).sqrt()));
    }
    let stride = (times.len() / 8).max(1);
    for s in (stride..times.len()).step_by(stride) {
        for t in (s + stride..times.len()).step_by(stride) {
            let p = products(s, t);
            if p.len() < 2 {
                continue;
            }
            let m = moments(&p);
            max_cov_z =
                max_cov_z.max(z(m.mean, data.covariance(times[s], times[t]), (m.variance / p.len() as f64).sqrt()));
        }
    }
    MomentCheck { paths: set.paths.len(), max_mean_z, max_var_z, max_cov_z }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// Mean and variance at every time within 4 standard errors of the closed form, and the
    /// autocovariance matrix within 4 standard errors entrywise (n = 8192, LABS.md).
    #[test]
    fn every_set_matches_its_closed_form_moments() {
        for data in NsdeDataId::ALL {
            let check = moment_check(&generate(data, 8192, 0.0, 17));
            assert!(check.pass(), "{}: {check:?}", data.name());
            assert!(check.max_mean_z > 0.0 && check.max_var_z > 0.0 && check.max_cov_z > 0.0);
        }
        // A wrong answer fails it: OU paths judged as GBM.
        let mut set = generate(NsdeDataId::Ou, 2048, 0.0, 17);
        set.data = NsdeDataId::Gbm;
        assert!(!moment_check(&set).pass());
    }

    /// The ou-tdep density (a uniform smeared by a Gaussian) integrates to 1 and has the
    /// closed-form mean and variance; so do the others.
    #[test]
    fn densities_integrate_to_one_with_the_right_moments() {
        for data in NsdeDataId::ALL {
            let span = *data.times().last().unwrap();
            let t = 0.6 * span;
            let (mean, var) = (data.mean(t), data.variance(t));
            let (lo, hi) = (mean - 12.0 * var.sqrt(), mean + 30.0 * var.sqrt());
            let steps = 60_000;
            let dx = (hi - lo) / steps as f64;
            let (mut mass, mut first, mut second) = (0.0, 0.0, 0.0);
            for k in 0..steps {
                let x = lo + (k as f64 + 0.5) * dx;
                let p = data.density(t, x) * dx;
                mass += p;
                first += p * x;
                second += p * (x - mean).powi(2);
            }
            assert!((mass - 1.0).abs() < 1e-6, "{}: mass {mass}", data.name());
            assert!((first - mean).abs() < 1e-6 * (1.0 + mean.abs()), "{}: mean {first} vs {mean}", data.name());
            assert!((second - var).abs() < 1e-5 * var, "{}: variance {second} vs {var}", data.name());
        }
    }

    #[test]
    fn dropping_keeps_the_first_value_and_about_the_asked_fraction() {
        let set = generate(NsdeDataId::OuTdep, 2000, NsdeDataId::OuTdep.default_drop(), 3);
        assert!(set.paths.iter().all(|p| p[0].is_finite()));
        let fraction = set.observed_fraction();
        let expected = 1.0 / 64.0 + 63.0 / 64.0 * 0.7;
        assert!((fraction - expected).abs() < 0.01, "observed {fraction} vs {expected}");
        // A larger set extends a smaller one.
        let small = generate(NsdeDataId::OuTdep, 10, 0.3, 3);
        for (a, b) in small.paths.iter().zip(&set.paths) {
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
        }
        assert!(NsdeDataId::from_name("lorenz").unwrap_err().contains("ou, ou-tdep or gbm"));
    }
}
