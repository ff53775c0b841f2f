//! The ODE loops: fixed steps, or steps chosen by a PID controller for embedded pairs.

use super::pid::PidController;
use super::rk::rk_step;
use super::tableau::ButcherTableau;

/// What a solve did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SolveStats {
    pub accepted: usize,
    pub rejected: usize,
    pub evaluations: usize,
}

/// Integrates y' = f(t, y) from t0 to t1 in `steps` equal steps.
pub fn integrate_fixed(
    tableau: &ButcherTableau,
    f: &mut impl FnMut(f64, &[f64], &mut [f64]),
    y0: &[f64],
    t0: f64,
    t1: f64,
    steps: usize,
) -> (Vec<f64>, SolveStats) {
    let h = (t1 - t0) / steps as f64;
    let mut y = y0.to_vec();
    let mut stats = SolveStats::default();
    for i in 0..steps {
        let step = rk_step(tableau, f, t0 + i as f64 * h, &y, h);
        stats.evaluations += step.evaluations;
        stats.accepted += 1;
        y = step.y;
    }
    (y, stats)
}

/// Hairer's initial step (Hairer, Nørsett & Wanner, II.4): a step whose Euler error is
/// about the tolerance. Unlike Hairer's code, the probe and the step never pass `span`, the
/// length of the interval: the field may not exist beyond it (a diffusion's probability-flow
/// ODE below t = 0, where VP's sigma is NaN; a probe there crashed pf-dopri5).
pub fn initial_step(
    f: &mut impl FnMut(f64, &[f64], &mut [f64]),
    t0: f64,
    y0: &[f64],
    direction: f64,
    span: f64,
    order: f64,
    controller: &PidController,
) -> (f64, usize) {
    let n = y0.len();
    let scale: Vec<f64> = y0.iter().map(|y| controller.atol + y.abs() * controller.rtol).collect();
    let rms = |v: &[f64]| (v.iter().zip(&scale).map(|(x, s)| (x / s).powi(2)).sum::<f64>() / n as f64).sqrt();
    let mut f0 = vec![0.0; n];
    f(t0, y0, &mut f0);
    let (d0, d1) = (rms(y0), rms(&f0));
    let h0 = if d0 < 1e-5 || d1 < 1e-5 { 1e-6 } else { 0.01 * d0 / d1 };
    let h0 = h0.min(span);
    let y1: Vec<f64> = y0.iter().zip(&f0).map(|(y, d)| y + direction * h0 * d).collect();
    let mut f1 = vec![0.0; n];
    f(t0 + direction * h0, &y1, &mut f1);
    let diff: Vec<f64> = f1.iter().zip(&f0).map(|(a, b)| a - b).collect();
    let d2 = rms(&diff) / h0;
    let h1 = if d1.max(d2) <= 1e-15 { (h0 * 1e-3).max(1e-6) } else { (0.01 / d1.max(d2)).powf(1.0 / order) };
    ((100.0 * h0).min(h1).min(span), 2)
}

/// Integrates from t0 to t1 with an embedded pair, the step chosen by `controller`.
/// Fails (with a message) if the step size underflows or `max_steps` is exceeded.
pub fn integrate_adaptive(
    tableau: &ButcherTableau,
    f: &mut impl FnMut(f64, &[f64], &mut [f64]),
    y0: &[f64],
    t0: f64,
    t1: f64,
    controller: &PidController,
    max_steps: usize,
) -> Result<(Vec<f64>, SolveStats), String> {
    integrate_adaptive_recording(tableau, f, y0, t0, t1, controller, max_steps, &mut |_| {})
}

/// [`integrate_adaptive`], calling `on_accept(t)` at the end of every accepted step (the grid
/// a gradient method then holds fixed).
#[allow(clippy::too_many_arguments)]
pub fn integrate_adaptive_recording(
    tableau: &ButcherTableau,
    f: &mut impl FnMut(f64, &[f64], &mut [f64]),
    y0: &[f64],
    t0: f64,
    t1: f64,
    controller: &PidController,
    max_steps: usize,
    on_accept: &mut dyn FnMut(f64),
) -> Result<(Vec<f64>, SolveStats), String> {
    if tableau.error.is_none() {
        return Err(format!(
            "{} has no embedded error estimate: use fixed steps, or bosh3, tsit5, dopri5",
            tableau.name
        ));
    }
    let direction = (t1 - t0).signum();
    let k = f64::from(tableau.order);
    let (mut h, initial_evaluations) = initial_step(f, t0, y0, direction, (t1 - t0).abs(), k, controller);
    let mut stats = SolveStats { evaluations: initial_evaluations, ..SolveStats::default() };
    let (mut t, mut y) = (t0, y0.to_vec());
    let mut norms = [1.0, 1.0, 1.0];
    while (t1 - t) * direction > 0.0 {
        if stats.accepted + stats.rejected >= max_steps {
            return Err(format!("more than {max_steps} steps between t = {t0} and {t1}: loosen rtol/atol"));
        }
        // A step that would end within a billionth of the rest of the interval ends at t1: else
        // rounding can leave a sliver after it whose step "underflows" (it did, in the neural
        // ODE lab's training, at an observation time).
        let remaining = (t1 - t).abs();
        let reaches_end = h >= remaining * (1.0 - 1e-9);
        let step_h = direction * if reaches_end { remaining } else { h };
        if step_h.abs() < 1e-14 * (1.0 + t.abs()) {
            return Err(format!(
                "the step size underflowed at t = {t}: the problem is too stiff for an explicit solver"
            ));
        }
        let step = rk_step(tableau, f, t, &y, step_h);
        stats.evaluations += step.evaluations;
        let error = step.error.expect("embedded pair");
        let norm = controller.error_norm(&y, &step.y, &error);
        let accepted = norm <= 1.0 && norm.is_finite();
        let norm = if norm.is_finite() { norm } else { 1e10 };
        let factor = controller.factor([norm, norms[0], norms[1]], k, accepted);
        if accepted {
            t = if reaches_end || (t1 - (t + step_h)) * direction <= 0.0 { t1 } else { t + step_h };
            y = step.y;
            stats.accepted += 1;
            norms = [norm, norms[0], norms[1]];
            on_accept(t);
        } else {
            stats.rejected += 1;
        }
        h = step_h.abs() * factor;
    }
    Ok((y, stats))
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::solve::order::{fitted_slope, ode_errors, ode_problem, ode_step_counts, OdeProblem};

    fn convergence_order(tableau: &ButcherTableau, problem: &OdeProblem, steps: &[usize]) -> f64 {
        fitted_slope(&ode_errors(tableau, problem, steps))
    }

    #[test]
    fn fixed_step_orders_match_theory_on_closed_form_problems() {
        for name in ["linear", "nonlinear"] {
            let problem = ode_problem(name).unwrap();
            for tableau in ButcherTableau::ALL {
                // Fine enough to be asymptotic, coarse enough to stay above round-off.
                let slope = convergence_order(&tableau, &problem, ode_step_counts(tableau.order));
                assert!(
                    (slope - f64::from(tableau.order)).abs() <= 0.2,
                    "{} on {name}: slope {slope}, expected {}",
                    tableau.name,
                    tableau.order
                );
            }
        }
    }

    /// The embedded solution b_hat = b - e has its own (lower) order: checks the error weights.
    #[test]
    fn embedded_solutions_have_their_order() {
        let problem = ode_problem("linear").unwrap();
        for tableau in ButcherTableau::ALL.into_iter().filter(|t| t.error.is_some()) {
            let b_hat: Vec<f64> = tableau.b.iter().zip(tableau.error.unwrap()).map(|(b, e)| b - e).collect();
            let leaked: &'static [f64] = Box::leak(b_hat.into_boxed_slice());
            let embedded = ButcherTableau { b: leaked, error: None, order: tableau.embedded_order.unwrap(), ..tableau };
            let steps: &[usize] = if embedded.order <= 2 { &[32, 64, 128, 256] } else { &[8, 12, 16, 24, 32] };
            let slope = convergence_order(&embedded, &problem, steps);
            assert!((slope - f64::from(embedded.order)).abs() <= 0.2, "{} embedded: slope {slope}", tableau.name);
        }
    }

    #[test]
    fn adaptive_solves_meet_their_tolerance_and_tighter_costs_more() {
        let problem = ode_problem("linear").unwrap();
        for tableau in [
            crate::core::solve::tableau::BOSH3,
            crate::core::solve::tableau::TSIT5,
            crate::core::solve::tableau::DOPRI5,
        ] {
            let mut last_evaluations = 0;
            for rtol in [1e-3, 1e-6, 1e-9] {
                let controller = PidController::new(rtol, rtol);
                let (y, stats) = integrate_adaptive(
                    &tableau,
                    &mut |t, y, dy| (problem.field)(t, y, dy),
                    &problem.y0,
                    0.0,
                    problem.t1,
                    &controller,
                    100_000,
                )
                .unwrap();
                let exact = (problem.exact)(problem.t1);
                let err = y.iter().zip(&exact).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
                assert!(err < 100.0 * rtol, "{} rtol {rtol}: error {err}", tableau.name);
                assert!(stats.evaluations > last_evaluations, "{}: tighter tolerance must cost more", tableau.name);
                last_evaluations = stats.evaluations;
            }
        }
    }

    #[test]
    fn adaptive_refuses_a_method_without_error_estimate() {
        let problem = ode_problem("linear").unwrap();
        let err = integrate_adaptive(
            &crate::core::solve::tableau::RK4,
            &mut |t, y, dy| (problem.field)(t, y, dy),
            &problem.y0,
            0.0,
            1.0,
            &PidController::new(1e-3, 1e-3),
            100,
        )
        .unwrap_err();
        assert!(err.contains("no embedded error estimate"));
    }

    #[test]
    fn pid_controller_grows_after_small_errors_and_shrinks_after_rejections() {
        let c = PidController { p: 0.3, i: 0.3, ..PidController::new(1e-3, 1e-3) };
        assert!(c.factor([0.01, 0.02, 0.03], 5.0, true) > 1.0);
        // I-control: the factor is safety * err^(-1/k), capped at 10.
        let i_control = PidController::new(1e-3, 1e-3);
        assert_eq!(i_control.factor([1e-12, 1.0, 1.0], 5.0, true), 10.0);
        assert!((i_control.factor([0.5f64.powi(5), 1.0, 1.0], 5.0, true) - 1.8).abs() < 1e-12);
        let shrink = c.factor([50.0, 0.5, 0.5], 5.0, false);
        assert!((0.2..=0.9).contains(&shrink), "{shrink}");
    }
}
