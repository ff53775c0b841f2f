//! Metrics of one-dimensional marginals and of paths, for the labs that generate time series:
//! the Wasserstein-1 and Kolmogorov-Smirnov distances between two samples (exact functions
//! of the sorted samples, any sizes), moments, the autocovariance across paths at two times,
//! and the quadratic variation of a path. Each is tested against a closed form.

/// Sorted copies, NaN refused (a NaN has no place in an order).
fn sorted(xs: &[f64], what: &str) -> Result<Vec<f64>, String> {
    if xs.is_empty() {
        return Err(format!("{what}: the sample is empty"));
    }
    if xs.iter().any(|x| !x.is_finite()) {
        return Err(format!("{what}: the sample holds a value that is not finite"));
    }
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    Ok(s)
}

/// Walks the merged order of two sorted samples, calling `f(gap, F_a, F_b)` for each
/// interval between consecutive values with the two empirical CDFs on it.
fn walk_cdfs(a: &[f64], b: &[f64], mut f: impl FnMut(f64, f64, f64)) {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0, 0);
    let mut last = a[0].min(b[0]);
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => unreachable!(),
        };
        f(next - last, i as f64 / na, j as f64 / nb);
        while i < a.len() && a[i] == next {
            i += 1;
        }
        while j < b.len() && b[j] == next {
            j += 1;
        }
        f(0.0, i as f64 / na, j as f64 / nb);
        last = next;
    }
}

/// W1(a, b) = integral of |F_a - F_b|, exact for the two empirical distributions.
pub fn wasserstein1(a: &[f64], b: &[f64]) -> Result<f64, String> {
    let (a, b) = (sorted(a, "wasserstein1")?, sorted(b, "wasserstein1")?);
    let mut total = 0.0;
    walk_cdfs(&a, &b, |gap, fa, fb| total += gap * (fa - fb).abs());
    Ok(total)
}

/// The two-sample Kolmogorov-Smirnov statistic sup |F_a - F_b|.
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> Result<f64, String> {
    let (a, b) = (sorted(a, "ks")?, sorted(b, "ks")?);
    let mut sup: f64 = 0.0;
    walk_cdfs(&a, &b, |_, fa, fb| sup = sup.max((fa - fb).abs()));
    Ok(sup)
}

/// Mean and unbiased variance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    pub mean: f64,
    pub variance: f64,
}

pub fn moments(xs: &[f64]) -> Moments {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let variance = if xs.len() > 1 { xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    Moments { mean, variance }
}

/// The sample covariance across paths of the values at indices s and t.
pub fn autocovariance(paths: &[Vec<f64>], s: usize, t: usize) -> f64 {
    let n = paths.len() as f64;
    let (ms, mt) = (paths.iter().map(|p| p[s]).sum::<f64>() / n, paths.iter().map(|p| p[t]).sum::<f64>() / n);
    paths.iter().map(|p| (p[s] - ms) * (p[t] - mt)).sum::<f64>() / (n - 1.0)
}

/// The sum of squared increments of a path.
pub fn quadratic_variation(path: &[f64]) -> f64 {
    path.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum()
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::rng::RngStream;

    fn normals(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = RngStream::new(seed, 3);
        (0..n).map(|_| rng.normal()).collect()
    }

    #[test]
    fn distances_have_their_closed_forms() {
        // Point masses: W1 is the distance, KS is 1.
        assert_eq!(wasserstein1(&[2.0], &[-1.5]).unwrap(), 3.5);
        assert_eq!(ks_two_sample(&[2.0], &[-1.5]).unwrap(), 1.0);
        // A sample against itself shifted by c: W1 = c exactly, KS = 1 when c exceeds the range.
        let a = normals(500, 1);
        let shifted: Vec<f64> = a.iter().map(|x| x + 0.25).collect();
        assert!((wasserstein1(&a, &shifted).unwrap() - 0.25).abs() < 1e-12);
        // Duplicating every point leaves the distribution (and both distances) unchanged,
        // across unequal sizes.
        let doubled: Vec<f64> = a.iter().chain(a.iter()).copied().collect();
        assert!(wasserstein1(&a, &doubled).unwrap().abs() < 1e-12);
        assert_eq!(ks_two_sample(&a, &doubled).unwrap(), 0.0);
        // {0, 1} against {0.5}: W1 = 1/2, KS = 1/2.
        assert!((wasserstein1(&[0.0, 1.0], &[0.5]).unwrap() - 0.5).abs() < 1e-15);
        assert_eq!(ks_two_sample(&[0.0, 1.0], &[0.5]).unwrap(), 0.5);
        // Symmetric.
        let b = normals(300, 2);
        assert_eq!(wasserstein1(&a, &b).unwrap(), wasserstein1(&b, &a).unwrap());
        assert_eq!(ks_two_sample(&a, &b).unwrap(), ks_two_sample(&b, &a).unwrap());
        assert!(wasserstein1(&[], &b).unwrap_err().contains("empty"));
        assert!(ks_two_sample(&[f64::NAN], &b).unwrap_err().contains("not finite"));
    }

    /// W1 between two large samples of N(0, 1) and N(mu, 1) tends to |mu|; KS to
    /// 2 Phi(|mu| / 2) - 1.
    #[test]
    fn distances_converge_to_the_population_values() {
        let (a, b) = (normals(20_000, 5), normals(20_000, 6));
        let mu = 0.5;
        let b: Vec<f64> = b.iter().map(|x| x + mu).collect();
        assert!((wasserstein1(&a, &b).unwrap() - mu).abs() < 0.03);
        let ks = 2.0 * crate::core::stats::standard_normal_cdf(mu / 2.0) - 1.0;
        assert!((ks_two_sample(&a, &b).unwrap() - ks).abs() < 0.02);
    }

    /// Brownian motion on [0, 1] with 100 steps: Var W_t = t, Cov(W_s, W_t) = min(s, t), and
    /// the quadratic variation of each path has mean 1 and variance 2 / 100.
    #[test]
    fn path_statistics_of_brownian_motion() {
        let (paths, steps) = (4000, 100);
        let dt = 1.0 / steps as f64;
        let mut rng = RngStream::new(9, 4);
        let walks: Vec<Vec<f64>> = (0..paths)
            .map(|_| {
                let mut w = vec![0.0];
                for _ in 0..steps {
                    w.push(w.last().unwrap() + dt.sqrt() * rng.normal());
                }
                w
            })
            .collect();
        let end = moments(&walks.iter().map(|w| w[steps]).collect::<Vec<_>>());
        assert!(end.mean.abs() < 4.0 * (1.0 / paths as f64).sqrt(), "mean {}", end.mean);
        assert!((end.variance - 1.0).abs() < 0.1, "variance {}", end.variance);
        assert!((autocovariance(&walks, 30, 80) - 0.3).abs() < 0.05);
        let qv = moments(&walks.iter().map(|w| quadratic_variation(w)).collect::<Vec<_>>());
        assert!((qv.mean - 1.0).abs() < 0.01, "qv mean {}", qv.mean);
        assert!((qv.variance - 0.02).abs() < 0.004, "qv variance {}", qv.variance);
    }
}
