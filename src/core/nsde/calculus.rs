//! Two things users of SDE solvers ask about (diffrax#576, diffrax#15, torchsde#30,
//! torchsde#60, DiffEqNoiseProcess#123), answered with exact numbers:
//!
//! - Ito or Stratonovich: geometric Brownian motion dX = a X dt + b X dW has the Ito mean
//!   X0 e^{aT}. Reversible Heun converges to the Stratonovich solution, so solving the Ito
//!   coefficients with it gives X0 e^{(a + b^2/2) T}; with the drift corrected to
//!   (a - b^2/2) X it matches the Ito mean. Euler-Maruyama (Ito) on the Ito coefficients is
//!   the control.
//! - The Brownian path: one virtual Brownian tree queried on grids of dt, dt/2 and dt/4 gives
//!   identical values at the shared times, so solves at different step sizes see one path.

use super::field::SdeField;
use super::solve::{solve, SdeMethod};
use crate::core::metrics_1d::moments;
use crate::core::rng::RngStream;
use crate::core::solve::brownian::VirtualBrownianTree;

/// GBM's coefficients as a field: f = drift X, g = b X.
struct Gbm {
    drift: f64,
    b: f64,
}

impl SdeField for Gbm {
    fn dim(&self) -> usize {
        1
    }
    fn noise_dim(&self) -> usize {
        1
    }
    fn param_count(&self) -> usize {
        0
    }
    fn eval(&self, _t: f64, y: &[f64], f: &mut [f64], g: &mut [f64]) {
        f[0] = self.drift * y[0];
        g[0] = self.b * y[0];
    }
    fn vjp(&self, _t: f64, _y: &[f64], f_bar: &[f64], g_bar: &[f64], y_bar: &mut [f64], _p_bar: &mut [f64]) {
        y_bar[0] += self.drift * f_bar[0] + self.b * g_bar[0];
    }
}

/// A sample mean with its standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanEstimate {
    pub mean: f64,
    pub se: f64,
}

impl MeanEstimate {
    /// |mean - exact| in standard errors.
    pub fn z(&self, exact: f64) -> f64 {
        (self.mean - exact).abs() / self.se
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ItoCheck {
    pub a: f64,
    pub b: f64,
    pub horizon: f64,
    pub paths: usize,
    pub steps: usize,
    /// X0 e^{aT}.
    pub ito_mean: f64,
    /// X0 e^{(a + b^2/2) T}.
    pub stratonovich_mean: f64,
    /// Reversible Heun on the Ito coefficients.
    pub heun_on_ito: MeanEstimate,
    /// Reversible Heun with the drift (a - b^2/2) X.
    pub heun_corrected: MeanEstimate,
    /// Euler-Maruyama on the Ito coefficients.
    pub em_on_ito: MeanEstimate,
}

impl ItoCheck {
    /// Each estimate within 3 standard errors of the mean its calculus predicts (LABS.md).
    pub fn pass(&self) -> bool {
        self.heun_on_ito.z(self.stratonovich_mean) <= 3.0
            && self.heun_corrected.z(self.ito_mean) <= 3.0
            && self.em_on_ito.z(self.ito_mean) <= 3.0
    }
}

/// GBM's constants (LABS.md).
const A: f64 = 0.1;
const B: f64 = 0.4;

fn check_inputs(paths: usize, steps: usize, horizon: f64) -> Result<(), String> {
    if !(2..=1_000_000).contains(&paths) || !(1..=100_000).contains(&steps) {
        return Err(format!("--paths 2 to 1000000 and --steps 1 to 100000, got {paths} and {steps}"));
    }
    if !(horizon.is_finite() && horizon > 0.0 && horizon <= 10.0) {
        return Err(format!("--horizon must be in (0, 10], got {horizon}"));
    }
    Ok(())
}

/// X_T of path p three ways (reversible Heun on the Ito coefficients, reversible Heun with
/// the corrected drift, Euler-Maruyama), all driven by the path's one set of increments.
pub fn ito_path_ends(p: u64, steps: usize, horizon: f64, seed: u64) -> Result<[f64; 3], String> {
    let times: Vec<f64> = (0..=steps).map(|i| horizon * i as f64 / steps as f64).collect();
    let h = horizon / steps as f64;
    let mut rng = RngStream::new(seed, p);
    let increments: Vec<Vec<f64>> = (0..steps).map(|_| vec![h.sqrt() * rng.normal()]).collect();
    let cases =
        [(SdeMethod::ReversibleHeun, A), (SdeMethod::ReversibleHeun, A - 0.5 * B * B), (SdeMethod::EulerMaruyama, A)];
    let mut ends = [0.0; 3];
    for (k, (method, drift)) in cases.iter().enumerate() {
        ends[k] = solve(&Gbm { drift: *drift, b: B }, *method, &times, &[1.0], &increments)?[steps][0];
    }
    Ok(ends)
}

/// The check's figures from the paths' ends.
pub fn ito_check_of(ends: &[[f64; 3]], steps: usize, horizon: f64) -> ItoCheck {
    let estimate = |k: usize| {
        let xs: Vec<f64> = ends.iter().map(|e| e[k]).collect();
        let m = moments(&xs);
        MeanEstimate { mean: m.mean, se: (m.variance / xs.len() as f64).sqrt() }
    };
    ItoCheck {
        a: A,
        b: B,
        horizon,
        paths: ends.len(),
        steps,
        ito_mean: (A * horizon).exp(),
        stratonovich_mean: ((A + 0.5 * B * B) * horizon).exp(),
        heun_on_ito: estimate(0),
        heun_corrected: estimate(1),
        em_on_ito: estimate(2),
    }
}

/// E X_T three ways on `paths` paths of `steps` steps over [0, T], X0 = 1.
pub fn ito_stratonovich_check(paths: usize, steps: usize, horizon: f64, seed: u64) -> Result<ItoCheck, String> {
    check_inputs(paths, steps, horizon)?;
    let ends = (0..paths as u64).map(|p| ito_path_ends(p, steps, horizon, seed)).collect::<Result<Vec<_>, _>>()?;
    Ok(ito_check_of(&ends, steps, horizon))
}

/// One Brownian path (the tree of (seed, 0) on [0, T]) on grids of n, 2n and 4n steps, and
/// the largest difference between two grids at a time they share (exactly zero: each
/// grid's time k T / n is computed so that shared times are the same floats).
#[derive(Debug, Clone, PartialEq)]
pub struct BrownianPanel {
    pub grids: Vec<Vec<(f64, f64)>>,
    pub max_shared_difference: f64,
}

pub fn brownian_panel(seed: u64, horizon: f64, steps: usize) -> Result<BrownianPanel, String> {
    if !(1..=4096).contains(&steps) || !(horizon.is_finite() && horizon > 0.0) {
        return Err(format!(
            "the Brownian panel needs 1 to 4096 steps on a positive horizon, got {steps} on {horizon}"
        ));
    }
    let tree = VirtualBrownianTree::new(seed, 0, 0.0, horizon, 1);
    let grids: Vec<Vec<(f64, f64)>> = [1, 2, 4]
        .iter()
        .map(|k| {
            let n = steps * k;
            (0..=n).map(|i| horizon * i as f64 / n as f64).map(|t| (t, tree.value(t)[0])).collect()
        })
        .collect();
    let mut worst: f64 = 0.0;
    for (k, fine) in grids.iter().enumerate().skip(1) {
        let ratio = 1 << k;
        for (i, coarse) in grids[0].iter().enumerate() {
            let shared = fine[i * ratio];
            assert_eq!(shared.0, coarse.0, "shared grid times are the same floats");
            worst = worst.max((shared.1 - coarse.1).abs());
        }
    }
    Ok(BrownianPanel { grids, max_shared_difference: worst })
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// LABS.md: reversible Heun on the Ito coefficients gets the Stratonovich mean (and misses
    /// the Ito one by many standard errors); the corrected drift gets the Ito mean.
    #[test]
    fn a_stratonovich_solver_needs_the_corrected_drift() {
        let check = ito_stratonovich_check(4096, 100, 2.0, 3).unwrap();
        assert!(check.pass(), "{check:?}");
        assert!(check.heun_on_ito.z(check.ito_mean) > 10.0, "{check:?}");
        assert!(ito_stratonovich_check(1, 10, 2.0, 3).unwrap_err().contains("--paths"));
        assert!(ito_stratonovich_check(10, 10, f64::NAN, 3).unwrap_err().contains("--horizon"));
    }

    #[test]
    fn one_path_at_three_step_sizes_agrees_exactly_where_the_grids_meet() {
        let panel = brownian_panel(4, 2.0, 40).unwrap();
        assert_eq!(panel.max_shared_difference, 0.0);
        assert_eq!(panel.grids[2].len(), 161);
        // The finer grids add points that are not on the coarse one's straight lines.
        let mid = panel.grids[1][1].1;
        let line = 0.5 * (panel.grids[0][0].1 + panel.grids[0][1].1);
        assert!((mid - line).abs() > 0.0);
        assert!(brownian_panel(4, 2.0, 0).is_err());
    }
}
