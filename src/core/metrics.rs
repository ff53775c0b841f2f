//! Distances between two point clouds: sliced Wasserstein-2, MMD with a multi-bandwidth RBF
//! kernel, and the energy distance. All exact functions of the samples (projections come from
//! a seed), each tested against a closed form.

use crate::core::data::Point;
use crate::core::rng::RngStream;

/// Bandwidths (kernel standard deviations) suited to data in about [-4, 4]^2.
pub const DEFAULT_BANDWIDTHS: [f64; 5] = [0.1, 0.25, 0.5, 1.0, 2.0];

/// Directions uniform on the circle, deterministic under `seed`.
pub fn projections(count: usize, seed: u64) -> Vec<[f64; 2]> {
    let mut rng = RngStream::new(seed, 0x7377_6432); // stream: "swd2"
    (0..count)
        .map(|_| {
            let a = std::f64::consts::TAU * rng.uniform();
            [a.cos(), a.sin()]
        })
        .collect()
}

/// The quantile function of sorted values at level q in (0, 1) (linear interpolation).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * sorted.len() as f64 - 0.5;
    let i = position.floor().clamp(0.0, (sorted.len() - 1) as f64) as usize;
    let j = (i + 1).min(sorted.len() - 1);
    let frac = (position - i as f64).clamp(0.0, 1.0);
    sorted[i] + frac * (sorted[j] - sorted[i])
}

/// W2^2 between two 1D samples: equal sizes pair sorted values; otherwise quantiles are
/// compared on the finer of the two grids.
fn wasserstein2_squared_1d(mut a: Vec<f64>, mut b: Vec<f64>) -> f64 {
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    if a.len() == b.len() {
        return a.iter().zip(&b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64;
    }
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let q = (i as f64 + 0.5) / n as f64;
            (quantile(&a, q) - quantile(&b, q)).powi(2)
        })
        .sum::<f64>()
        / n as f64
}

/// Sliced Wasserstein-2: sqrt of the mean over directions of W2^2 of the projections.
pub fn sliced_wasserstein(a: &[Point], b: &[Point], directions: &[[f64; 2]]) -> f64 {
    assert!(!a.is_empty() && !b.is_empty() && !directions.is_empty());
    let total: f64 = directions.iter().map(|d| sliced_wasserstein_term(a, b, *d)).sum();
    (total / directions.len() as f64).sqrt()
}

/// One direction's term of [`sliced_wasserstein`]: the squared 1D W2 of the projections. Added
/// up in direction order from 0 and finished as sqrt(total / directions), the terms give
/// `sliced_wasserstein` bit for bit (the page spreads them over frames).
pub fn sliced_wasserstein_term(a: &[Point], b: &[Point], d: [f64; 2]) -> f64 {
    let project = |points: &[Point]| points.iter().map(|p| p[0] * d[0] + p[1] * d[1]).collect::<Vec<f64>>();
    wasserstein2_squared_1d(project(a), project(b))
}

/// Sum over bandwidths h of exp(-|x - y|^2 / (2 h^2)).
fn rbf(x: Point, y: Point, bandwidths: &[f64]) -> f64 {
    let d2 = (x[0] - y[0]).powi(2) + (x[1] - y[1]).powi(2);
    bandwidths.iter().map(|h| (-d2 / (2.0 * h * h)).exp()).sum()
}

/// The unbiased estimate of MMD^2 (it can dip below zero when the laws are equal).
pub fn mmd_squared(a: &[Point], b: &[Point], bandwidths: &[f64]) -> f64 {
    assert!(a.len() > 1 && b.len() > 1);
    let within = |s: &[Point]| {
        let mut total = 0.0;
        for i in 0..s.len() {
            for j in i + 1..s.len() {
                total += rbf(s[i], s[j], bandwidths);
            }
        }
        2.0 * total / (s.len() * (s.len() - 1)) as f64
    };
    let mut cross = 0.0;
    for x in a {
        for y in b {
            cross += rbf(*x, *y, bandwidths);
        }
    }
    within(a) + within(b) - 2.0 * cross / (a.len() * b.len()) as f64
}

/// MMD as reported: sqrt(max(MMD^2, 0)).
pub fn mmd(a: &[Point], b: &[Point], bandwidths: &[f64]) -> f64 {
    mmd_squared(a, b, bandwidths).max(0.0).sqrt()
}

/// Energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| (unbiased within-sample means).
pub fn energy_distance(a: &[Point], b: &[Point]) -> f64 {
    assert!(a.len() > 1 && b.len() > 1);
    let dist = |x: Point, y: Point| ((x[0] - y[0]).powi(2) + (x[1] - y[1]).powi(2)).sqrt();
    let within = |s: &[Point]| {
        let mut total = 0.0;
        for i in 0..s.len() {
            for j in i + 1..s.len() {
                total += dist(s[i], s[j]);
            }
        }
        2.0 * total / (s.len() * (s.len() - 1)) as f64
    };
    let cross: f64 =
        a.iter().flat_map(|x| b.iter().map(move |y| dist(*x, *y))).sum::<f64>() / (a.len() * b.len()) as f64;
    2.0 * cross - within(a) - within(b)
}

/// The three metrics of `b` against the reference `a`, as the tools report them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleMetrics {
    pub swd: f64,
    pub mmd: f64,
    pub energy: f64,
}

pub fn compare(reference: &[Point], sample: &[Point], seed: u64) -> SampleMetrics {
    SampleMetrics {
        swd: sliced_wasserstein(reference, sample, &projections(128, seed)),
        mmd: mmd(reference, sample, &DEFAULT_BANDWIDTHS),
        energy: energy_distance(reference, sample),
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::data::GaussianMixture;

    fn gaussian(mean: [f64; 2], std: f64, n: usize, seed: u64) -> Vec<Point> {
        GaussianMixture::new(vec![1.0], vec![mean], vec![[[std * std, 0.0], [0.0, std * std]]]).unwrap().sample(n, seed)
    }

    /// Modified Bessel functions I0, I1 by their power series (enough for |x| < 30).
    fn bessel_i(order: u32, x: f64) -> f64 {
        // (x/2)^n / n! for n = 0 or 1 is just (x/2)^n.
        let mut term = (0.5 * x).powi(order as i32);
        let mut total = term;
        for k in 1..200 {
            term *= (0.5 * x).powi(2) / (k as f64 * (k + order) as f64);
            total += term;
        }
        total
    }

    /// E|Z| for Z ~ N(mu, s^2 I) in 2D: the Rice mean s sqrt(pi/2) L_{1/2}(-|mu|^2 / (2 s^2)).
    fn rice_mean(offset: f64, s: f64) -> f64 {
        let x = -offset * offset / (2.0 * s * s);
        let laguerre = (x / 2.0).exp() * ((1.0 - x) * bessel_i(0, -x / 2.0) - x * bessel_i(1, -x / 2.0));
        s * (std::f64::consts::PI / 2.0).sqrt() * laguerre
    }

    #[test]
    fn sliced_wasserstein_of_a_translate_is_exact() {
        // Projections of a translated copy differ by theta . c at every rank.
        let a = gaussian([0.0, 0.0], 1.0, 500, 1);
        let c = [0.6, -0.8];
        let b: Vec<Point> = a.iter().map(|p| [p[0] + c[0], p[1] + c[1]]).collect();
        let dirs = projections(64, 3);
        let expected = (dirs.iter().map(|d| (d[0] * c[0] + d[1] * c[1]).powi(2)).sum::<f64>() / 64.0).sqrt();
        assert!((sliced_wasserstein(&a, &b, &dirs) - expected).abs() < 1e-12);
        assert!(sliced_wasserstein(&a, &a, &dirs) < 1e-15);
    }

    #[test]
    fn sliced_wasserstein_between_gaussians_matches_the_closed_form() {
        // Same covariance: SW2^2 = E_theta (theta . dm)^2 = |dm|^2 / 2 in 2D.
        let a = gaussian([0.0, 0.0], 0.5, 20_000, 1);
        let b = gaussian([1.0, 1.0], 0.5, 15_000, 2);
        let swd = sliced_wasserstein(&a, &b, &projections(256, 5));
        assert!((swd - 1.0).abs() < 0.03, "SWD {swd}, expected 1");
    }

    #[test]
    fn mmd_between_gaussians_matches_the_closed_form() {
        // E k_h(X, Y) = h^2 / (h^2 + 2 s^2) exp(-|dm|^2 / (2 (h^2 + 2 s^2))) for N(., s^2 I) in 2D.
        let (s, dm) = (0.5, [0.8, 0.0]);
        let bandwidths = [0.5, 1.0];
        let cross = |d2: f64| {
            bandwidths
                .iter()
                .map(|h| h * h / (h * h + 2.0 * s * s) * (-d2 / (2.0 * (h * h + 2.0 * s * s))).exp())
                .sum::<f64>()
        };
        let exact = 2.0 * (cross(0.0) - cross(dm[0] * dm[0]));
        let a = gaussian([0.0, 0.0], s, 1500, 1);
        let b = gaussian(dm, s, 1500, 2);
        let estimate = mmd_squared(&a, &b, &bandwidths);
        assert!((estimate - exact).abs() < 0.1 * exact, "MMD^2 {estimate} vs {exact}");
        let same = mmd_squared(&a, &gaussian([0.0, 0.0], s, 1500, 3), &bandwidths);
        assert!(same.abs() < 0.1 * exact, "equal laws: {same}");
    }

    #[test]
    fn energy_distance_between_gaussians_matches_the_closed_form() {
        // 2 E|X - Y| - 2 E|X - X'|, with X - Y ~ N(dm, 2 s^2 I) and X - X' ~ N(0, 2 s^2 I).
        let (s, offset) = (0.5, 1.2);
        let exact = 2.0 * rice_mean(offset, 2f64.sqrt() * s) - 2.0 * rice_mean(0.0, 2f64.sqrt() * s);
        assert!((rice_mean(0.0, 1.0) - (std::f64::consts::PI / 2.0).sqrt()).abs() < 1e-12);
        let a = gaussian([0.0, 0.0], s, 1500, 1);
        let b = gaussian([offset, 0.0], s, 1500, 2);
        let estimate = energy_distance(&a, &b);
        assert!((estimate - exact).abs() < 0.06 * exact, "energy {estimate} vs {exact}");
    }

    #[test]
    fn metrics_order_near_and_far_samples() {
        let reference = gaussian([0.0, 0.0], 1.0, 800, 1);
        let near = compare(&reference, &gaussian([0.1, 0.0], 1.0, 800, 2), 0);
        let far = compare(&reference, &gaussian([1.0, 0.0], 1.0, 800, 3), 0);
        assert!(far.swd > near.swd && far.mmd > near.mmd && far.energy > near.energy, "{near:?} {far:?}");
    }
}
