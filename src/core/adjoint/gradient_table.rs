//! The neural ODE lab's gradient panel: every gradient method on one problem, each measured
//! against central differences of the discrete loss it claims to differentiate (RK for
//! back-propagation and backsolve, reversible Heun for its own adjoint), with the memory it
//! held, the evaluations it made and its time.
//!
//! [`pendulum_stress`] is LABS.md's experiment: the damped pendulum with (omega^2, gamma) as
//! the unknowns, y0 = (1, 0), target (0.5, 0) at T, where backsolve fails once damping makes
//! the backward solve stiff.

use super::observed::{
    backsolve_adjoint, discrete_loss, discretise_then_optimise, finite_differences, finite_differences_with_step,
    relative_distance, relative_error, reversible_heun_adjoint, reversible_heun_loss, uniform_grid, PointLoss, Problem,
    FD_STEP,
};
use crate::core::dynamics::precision::{Precision, RoundedToF32};
use crate::core::dynamics::systems::{System, SystemId};
use crate::core::solve::tableau::ButcherTableau;

/// One method's row.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientRow {
    pub method: &'static str,
    /// |g - finite differences| / |finite differences| over the parameters and y0.
    pub rel_error: f64,
    /// How far the reference itself moves when its step grows tenfold: where this is not
    /// small, the loss varies too fast for finite differences and `rel_error` says little.
    pub reference_spread: f64,
    pub floats_held: usize,
    pub evaluations: usize,
    pub seconds: f64,
    /// Backsolve: how far the backward solve strayed from the forward states.
    pub reconstruction_error: Option<f64>,
    /// Reversible Heun: max |y| of its solution, and whether its parasitic mode stayed small.
    pub solution_norm: Option<f64>,
    pub stable: Option<bool>,
}

/// The method names, as the CLI and the page print them.
pub const METHODS: [&str; 3] = ["backprop", "backsolve", "reversible-heun"];

/// Every method on `problem`; `clock` gives seconds (injected: the browser has no
/// `Instant`).
pub fn gradient_table(tableau: &ButcherTableau, problem: &Problem, clock: &dyn Fn() -> f64) -> Vec<GradientRow> {
    gradient_table_against(tableau, problem, problem, clock)
}

/// Every method on `problem`, measured against finite differences of `reference`'s discrete
/// losses: the same problem in f64 when `problem` is its single-precision version (finite
/// differences of a loss rounded to f32 would measure only the rounding).
pub fn gradient_table_against(
    tableau: &ButcherTableau,
    problem: &Problem,
    reference: &Problem,
    clock: &dyn Fn() -> f64,
) -> Vec<GradientRow> {
    let rk_loss = |p: &Problem| discrete_loss(tableau, p);
    let rk_reference = finite_differences(reference, &rk_loss);
    let rk_spread =
        relative_distance(&finite_differences_with_step(reference, &rk_loss, 10.0 * FD_STEP), &rk_reference);
    let timed = |f: &dyn Fn() -> GradientRow| {
        let start = clock();
        let mut row = f();
        row.seconds = clock() - start;
        row
    };
    let backprop = timed(&|| {
        let g = discretise_then_optimise(tableau, problem);
        GradientRow {
            method: METHODS[0],
            rel_error: relative_error(&g, &rk_reference),
            reference_spread: rk_spread,
            floats_held: g.floats_held,
            evaluations: g.evaluations,
            seconds: 0.0,
            reconstruction_error: None,
            solution_norm: None,
            stable: None,
        }
    });
    let backsolve = timed(&|| {
        let b = backsolve_adjoint(tableau, problem);
        GradientRow {
            method: METHODS[1],
            rel_error: relative_error(&b.gradients, &rk_reference),
            reference_spread: rk_spread,
            floats_held: b.gradients.floats_held,
            evaluations: b.gradients.evaluations,
            seconds: 0.0,
            reconstruction_error: Some(b.reconstruction_error),
            solution_norm: None,
            stable: None,
        }
    });
    let heun_reference = finite_differences(reference, &reversible_heun_loss);
    let heun_spread = relative_distance(
        &finite_differences_with_step(reference, &reversible_heun_loss, 10.0 * FD_STEP),
        &heun_reference,
    );
    let reversible = timed(&|| {
        let r = reversible_heun_adjoint(problem);
        GradientRow {
            method: METHODS[2],
            rel_error: relative_error(&r.gradients, &heun_reference),
            reference_spread: heun_spread,
            floats_held: r.gradients.floats_held,
            evaluations: r.gradients.evaluations,
            seconds: 0.0,
            reconstruction_error: None,
            solution_norm: Some(r.solution_norm),
            stable: Some(r.stable),
        }
    });
    vec![backprop, backsolve, reversible]
}

/// One row as JSON: optional figures only where the method has them, and a figure that
/// overflowed (or became NaN on the way) as the string "overflow", never NaN or null.
pub fn row_json(row: &GradientRow) -> serde_json::Value {
    use serde_json::json;
    let number = |x: f64| if x.is_finite() { json!(x) } else { json!("overflow") };
    let mut v = json!({
        "method": row.method,
        "rel_error": number(row.rel_error),
        "reference_spread": number(row.reference_spread),
        "floats_held": row.floats_held,
        "evaluations": row.evaluations,
        "seconds": number(row.seconds),
    });
    if let Some(x) = row.reconstruction_error {
        v["reconstruction_error"] = number(x);
    }
    if let Some(x) = row.solution_norm {
        v["solution_norm"] = number(x);
    }
    if let Some(x) = row.stable {
        v["stable"] = json!(x);
    }
    v
}

/// The pendulum stress table as `nde lab node gradients --json` prints it (and the page
/// exports it).
pub fn report_json(
    solver: &str,
    precision: Precision,
    damping: f64,
    horizon: f64,
    steps: usize,
    rows: &[GradientRow],
) -> serde_json::Value {
    serde_json::json!({
        "system": "pendulum",
        "precision": precision.name(),
        "damping": damping,
        "horizon": horizon,
        "steps": steps,
        "solver": solver,
        "reference": "finite-differences (of the f64 discrete loss)",
        "rows": rows.iter().map(row_json).collect::<Vec<_>>(),
    })
}

/// LABS.md's pendulum stress problem, owned: build its [`Problem`] with [`Stress::problem`].
#[derive(Debug, Clone, PartialEq)]
pub struct Stress {
    pub params: Vec<f64>,
    pub y0: Vec<f64>,
    pub observed: Vec<(usize, Vec<f64>)>,
    pub grid: Vec<f64>,
}

pub const PENDULUM: System = System(SystemId::Pendulum);
/// The pendulum evaluated in single precision (the panel's f32 switch).
pub const PENDULUM_F32: RoundedToF32<System> = RoundedToF32(PENDULUM);

/// The pendulum with omega^2 = 1 and damping gamma, from (1, 0) to the target (0.5, 0) at
/// `horizon`, `steps` steps, loss |y(T) - target|^2 / 2.
pub fn pendulum_stress(damping: f64, horizon: f64, steps: usize) -> Result<Stress, String> {
    if !(damping.is_finite() && (0.0..=20.0).contains(&damping)) {
        return Err(format!("--damping must be in [0, 20], got {damping}"));
    }
    if !(horizon.is_finite() && horizon > 0.0 && horizon <= 100.0) {
        return Err(format!("--horizon must be in (0, 100], got {horizon}"));
    }
    if !(1..=100_000).contains(&steps) {
        return Err(format!("--steps must be 1 to 100000, got {steps}"));
    }
    Ok(Stress {
        params: vec![1.0, damping],
        y0: vec![1.0, 0.0],
        observed: vec![(steps, vec![0.5, 0.0])],
        grid: uniform_grid(0.0, horizon, steps),
    })
}

impl Stress {
    pub fn problem(&self) -> Problem<'_> {
        self.problem_in(Precision::F64)
    }

    /// The problem with the field in `precision`.
    pub fn problem_in(&self, precision: Precision) -> Problem<'_> {
        Problem {
            field: match precision {
                Precision::F64 => &PENDULUM,
                Precision::F32 => &PENDULUM_F32,
            },
            params: &self.params,
            y0: &self.y0,
            grid: &self.grid,
            observed: &self.observed,
            loss: PointLoss::Squared { scale: 0.5 },
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::solve::tableau::RK4;

    fn table(damping: f64, horizon: f64, steps: usize) -> Vec<GradientRow> {
        let stress = pendulum_stress(damping, horizon, steps).unwrap();
        gradient_table(&RK4, &stress.problem(), &|| 0.0)
    }

    /// LABS.md: at (gamma, T, N) = (4, 10, 200) backsolve's error exceeds 1 while
    /// discretise-then-optimise stays below 1e-6; at gamma <= 2 both are below 1e-6.
    #[test]
    fn backsolve_fails_on_the_stiff_damped_pendulum_only() {
        let rows = table(4.0, 10.0, 200);
        assert_eq!(rows.iter().map(|r| r.method).collect::<Vec<_>>(), METHODS);
        assert!(rows[0].rel_error < 1e-6, "backprop {}", rows[0].rel_error);
        assert!(rows[1].rel_error > 1.0, "backsolve {}", rows[1].rel_error);
        assert!(rows[1].reconstruction_error.unwrap() > 1.0);
        for damping in [0.0, 0.5, 1.0, 2.0] {
            let rows = table(damping, 10.0, 200);
            assert!(rows[0].rel_error < 1e-6 && rows[1].rel_error < 1e-6, "gamma {damping}: {rows:?}");
        }
        // Memory: backprop holds every state, backsolve and reversible Heun a constant amount.
        let long = table(1.0, 10.0, 400);
        assert_eq!(long[0].floats_held - rows[0].floats_held, 200 * 2, "200 more states of 2 floats");
        assert_eq!(long[1].floats_held, rows[1].floats_held);
        assert_eq!(long[2].floats_held, rows[2].floats_held);
    }

    /// The backward solve's error grows like exp((|lambda_f| - |lambda_s|) T), the rates of the
    /// linearisation at rest: 3.46 per unit time at gamma = 4 (fitted over T in [3, 8] at
    /// h = 0.05, within 25%).
    #[test]
    fn backsolve_error_grows_at_the_linearisation_rate() {
        let (mut ts, mut logs) = (Vec::new(), Vec::new());
        for t in [3.0, 4.0, 5.0, 6.0, 7.0, 8.0] {
            let steps = (t / 0.05f64).round() as usize;
            let stress = pendulum_stress(4.0, t, steps).unwrap();
            let b = backsolve_adjoint(&RK4, &stress.problem());
            ts.push(t);
            logs.push(b.reconstruction_error.ln());
        }
        let rate = slope(&ts, &logs);
        let predicted = {
            let (g, w2) = (4.0f64, 1.0f64);
            let root = (g * g - 4.0 * w2).sqrt();
            (g + root) / 2.0 - (g - root) / 2.0
        };
        assert!((predicted - 3.464).abs() < 1e-3);
        println!(
            "backsolve reconstruction error at T = 3..8: {:?}; fitted rate {rate:.3}",
            logs.iter().map(|l| l.exp()).collect::<Vec<_>>()
        );
        assert!((rate - predicted).abs() < 0.25 * predicted, "fitted rate {rate} against {predicted}");
    }

    pub(crate) fn slope(x: &[f64], y: &[f64]) -> f64 {
        let n = x.len() as f64;
        let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
        let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
        let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
        sxy / sxx
    }

    /// Reversible Heun's gradient equals finite differences of its own solution whenever that
    /// is finite, stable or not; its stability flag follows the damping.
    #[test]
    fn reversible_heun_is_exact_and_flags_its_instability() {
        for damping in [0.0, 1.0] {
            let rows = table(damping, 10.0, 200);
            assert!(rows[2].rel_error < 1e-6 && rows[2].stable == Some(true), "gamma {damping}: {:?}", rows[2]);
        }
        let rows = table(4.0, 10.0, 200);
        assert_eq!(rows[2].stable, Some(false), "{:?}", rows[2]);
        assert!(rows[2].solution_norm.unwrap() > 1e6);
    }

    /// Where the forward solution is unstable but finite (gamma = 2, |y| about 50), the
    /// gradient still equals finite differences of its own loss, and reconstruction loses
    /// little against stored states (2e-5, where a stable solve loses 1e-12); at gamma = 4
    /// (|y| about 1e12) reconstruction fails, the reverse step amplifying rounding.
    #[test]
    fn reversible_heun_stays_exact_while_unstable_until_rounding_takes_over() {
        use super::super::observed::{reversible_heun_adjoint_with, HeunMemory};
        let stress = pendulum_stress(2.0, 10.0, 200).unwrap();
        let problem = stress.problem();
        let rows = gradient_table(&RK4, &problem, &|| 0.0);
        // Measured: 9.6e-4, the reference's own spread being 0.1 (a loss this steep needs
        // steps near 1e-8, where the derivative in omega^2 agrees to 2e-6).
        assert!(rows[2].rel_error < 1e-2 && rows[2].reference_spread > rows[2].rel_error, "{:?}", rows[2]);
        assert!(rows[2].solution_norm.unwrap() > 10.0 && rows[2].stable == Some(false));
        let stored = reversible_heun_adjoint_with(&problem, HeunMemory::Stored);
        let rebuilt = reversible_heun_adjoint(&problem);
        let as_pair = |g: &super::super::observed::ObservedGradients| (g.d_params.clone(), g.d_y0.clone());
        let lost = relative_distance(&as_pair(&rebuilt.gradients), &as_pair(&stored.gradients));
        // Measured: 2.0e-5 (against about 1e-12 where the solve is stable, below).
        assert!(lost < 1e-3, "{lost}");
        let stable = pendulum_stress(1.0, 10.0, 200).unwrap();
        let problem = stable.problem();
        let (s, r) = (reversible_heun_adjoint_with(&problem, HeunMemory::Stored), reversible_heun_adjoint(&problem));
        assert!(relative_distance(&as_pair(&r.gradients), &as_pair(&s.gradients)) < 1e-10);
        let stress = pendulum_stress(4.0, 10.0, 200).unwrap();
        let problem = stress.problem();
        let stored = reversible_heun_adjoint_with(&problem, HeunMemory::Stored);
        let rebuilt = reversible_heun_adjoint(&problem);
        assert!(relative_distance(&as_pair(&rebuilt.gradients), &as_pair(&stored.gradients)) > 1.0);
    }

    /// In single precision the amplified rounding breaks backsolve sooner: at gamma = 4,
    /// h = 0.05, T = 6 its error is 3.3 with the f32 switch against 0.025 in f64, while
    /// backprop stays at f32's own precision (measured 2.9e-7). LABS.md predicted the f32
    /// failure near T = 5 (measured: 1.6e-3 at T = 5, 3.3 at T = 6).
    #[test]
    fn single_precision_breaks_backsolve_sooner() {
        let stress = pendulum_stress(4.0, 6.0, 120).unwrap();
        let f64_rows = gradient_table(&RK4, &stress.problem(), &|| 0.0);
        let f32_rows = gradient_table_against(&RK4, &stress.problem_in(Precision::F32), &stress.problem(), &|| 0.0);
        assert!(f64_rows[1].rel_error < 0.1, "f64 backsolve {}", f64_rows[1].rel_error);
        assert!(f32_rows[1].rel_error > 1.0, "f32 backsolve {}", f32_rows[1].rel_error);
        assert!(f32_rows[0].rel_error < 1e-5 && f32_rows[0].rel_error > 1e-8, "f32 backprop {}", f32_rows[0].rel_error);
        // Reversible Heun's instability shows sooner too.
        assert!(f32_rows[2].rel_error > 1e3 * f64_rows[2].rel_error.max(1e-12));
    }

    #[test]
    fn bad_stress_settings_are_refused_with_the_flag_named() {
        assert!(pendulum_stress(f64::NAN, 10.0, 200).unwrap_err().contains("--damping"));
        assert!(pendulum_stress(1.0, -1.0, 200).unwrap_err().contains("--horizon"));
        assert!(pendulum_stress(1.0, 10.0, 0).unwrap_err().contains("--steps"));
    }
}
