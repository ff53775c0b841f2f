//! One explicit Runge-Kutta step over one interval, for any tableau. The loop that calls it
//! lives in `ode` (fixed steps or PID-controlled), as in diffrax.

use super::tableau::ButcherTableau;

/// The result of one step: the new state and, for embedded pairs, the local error estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct RkStep {
    pub y: Vec<f64>,
    pub error: Option<Vec<f64>>,
    /// Vector-field evaluations this step made.
    pub evaluations: usize,
}

/// Steps y' = f(t, y) from (t, y) by h with `tableau`.
pub fn rk_step(
    tableau: &ButcherTableau,
    f: &mut impl FnMut(f64, &[f64], &mut [f64]),
    t: f64,
    y: &[f64],
    h: f64,
) -> RkStep {
    let n = y.len();
    let stages = tableau.stages();
    let mut k = vec![vec![0.0; n]; stages];
    let mut stage_y = vec![0.0; n];
    let mut evaluations = 0;
    for i in 0..stages {
        // A stage whose weight is zero everywhere after it (FSAL's last) is still needed
        // for the error estimate; skip it only when nothing uses it.
        let used = tableau.b[i] != 0.0
            || tableau.error.is_some_and(|e| e[i] != 0.0)
            || tableau.a.iter().skip(i + 1).any(|row| row[i] != 0.0);
        if !used {
            continue;
        }
        stage_y.copy_from_slice(y);
        for (j, a) in tableau.a[i].iter().enumerate() {
            if *a != 0.0 {
                for d in 0..n {
                    stage_y[d] += h * a * k[j][d];
                }
            }
        }
        f(t + tableau.c[i] * h, &stage_y, &mut k[i]);
        evaluations += 1;
    }
    let combine = |weights: &[f64]| {
        let mut out = vec![0.0; n];
        for (w, ki) in weights.iter().zip(&k) {
            if *w != 0.0 {
                for d in 0..n {
                    out[d] += h * w * ki[d];
                }
            }
        }
        out
    };
    let mut new_y = combine(tableau.b);
    for d in 0..n {
        new_y[d] += y[d];
    }
    RkStep { y: new_y, error: tableau.error.map(combine), evaluations }
}
