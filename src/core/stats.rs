//! Small statistics used by the tests and the metrics: the standard normal CDF, the
//! Kolmogorov-Smirnov distance of a sample from a continuous distribution, and the one
//! log-sum-exp every mixture, posterior and softmax uses.

/// log sum_i exp(v_i) without overflow. All minus infinity (every weight zero) gives minus
/// infinity rather than the NaN that subtracting the top would give; +inf or NaN pass through.
pub fn log_sum_exp(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let top = values.clone().fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return top;
    }
    top + values.map(|v| (v - top).exp()).sum::<f64>().ln()
}

/// Normalises log-weights in place so that their exponentials sum to one. When every weight
/// is zero (all minus infinity) they stay as they are: there is no distribution to normalise.
pub fn log_normalise(values: &mut [f64]) {
    let norm = log_sum_exp(values.iter().copied());
    if norm.is_finite() {
        values.iter_mut().for_each(|v| *v -= norm);
    }
}

/// Complementary error function, fractional error below 1.2e-7 everywhere
/// (the Chebyshev-fitted form from Numerical Recipes, section 6.2).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let value = t * poly.exp();
    if x >= 0.0 {
        value
    } else {
        2.0 - value
    }
}

/// Phi(x), the CDF of N(0, 1).
pub fn standard_normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// sup_x |F_n(x) - F(x)| for the sample `xs` (sorted in place) against the CDF `cdf`.
pub fn ks_statistic(xs: &mut [f64], cdf: impl Fn(f64) -> f64) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    let n = xs.len() as f64;
    xs.iter().enumerate().fold(0.0f64, |worst, (i, &x)| {
        let f = cdf(x);
        let above = (i as f64 + 1.0) / n - f;
        let below = f - i as f64 / n;
        worst.max(above).max(below)
    })
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn normal_cdf_matches_tabulated_values() {
        // Values from standard normal tables (to 7 digits).
        for (x, phi) in [(0.0, 0.5), (1.0, 0.841_344_7), (-1.0, 0.158_655_3), (1.96, 0.975_002_1), (-3.0, 0.001_349_9)]
        {
            assert!((standard_normal_cdf(x) - phi).abs() < 2e-7, "Phi({x}) = {}", standard_normal_cdf(x));
        }
    }

    #[test]
    fn ks_statistic_of_an_exact_grid_is_one_over_n() {
        // The midpoints (i + 1/2)/n of U(0,1) are as close as a sample can be: D = 1/(2n).
        let n = 1000;
        let mut xs: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5) / n as f64).collect();
        let d = ks_statistic(&mut xs, |x| x);
        assert!((d - 0.5 / n as f64).abs() < 1e-12, "D = {d}");
    }

    #[test]
    fn log_sum_exp_is_exact_and_guards_the_empty_distribution() {
        let v = [1000.0, 1000.0 + 2f64.ln()];
        assert!((log_sum_exp(v.iter().copied()) - (1000.0 + 3f64.ln())).abs() < 1e-12);
        assert_eq!(log_sum_exp([f64::NEG_INFINITY; 3].iter().copied()), f64::NEG_INFINITY);
        let mut zero = [f64::NEG_INFINITY; 2];
        log_normalise(&mut zero);
        assert!(zero.iter().all(|v| *v == f64::NEG_INFINITY), "no NaN from 0/0: {zero:?}");
        let mut w = [0.0, 3f64.ln()];
        log_normalise(&mut w);
        assert!((w[0].exp() - 0.25).abs() < 1e-15 && (w[1].exp() - 0.75).abs() < 1e-15);
    }
}
