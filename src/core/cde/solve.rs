//! The CDE solve: z' = f(z) X'(t) with a fixed number of Runge-Kutta steps per knot interval
//! of the path, or steps chosen by a PID controller within each. Steps never straddle a knot, and every stage reads X' from its own interval's
//! polynomial (`ControlPath::derivative_on`): at a knot a linear path's derivative jumps, and
//! the stage at the end of a step belongs to the interval the step is in. Back-propagation
//! runs through the stored steps (discretise-then-optimise), recomputing each step's stages.

use super::CdeField;
use crate::core::path::ControlPath;
use crate::core::solve::pid::PidController;
use crate::core::solve::tableau::ButcherTableau;

/// Most fixed steps per knot interval, and most PID steps (accepted and rejected) per knot
/// interval.
pub const MAX_STEPS_PER_INTERVAL: usize = 64;
pub const MAX_PID_STEPS: usize = 10_000;

/// How the solve steps through each knot interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CdeStepping {
    /// This many equal steps per knot interval.
    Fixed { per_interval: usize },
    /// Steps chosen by a PID controller on the embedded error estimate, restarted at every
    /// knot (where a linear path's derivative jumps); the gradient then goes through the steps
    /// taken, held fixed.
    Pid { rtol: f64, atol: f64 },
}

/// A tableau and how it steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CdeSolver {
    pub tableau: ButcherTableau,
    pub stepping: CdeStepping,
}

impl CdeSolver {
    pub fn fixed(tableau: ButcherTableau, per_interval: usize) -> Self {
        CdeSolver { tableau, stepping: CdeStepping::Fixed { per_interval } }
    }
}

/// One step: (knot interval, start time, step size).
pub type Step = (usize, f64, f64);

/// A solve's states (z at the start of every step, and at the end), its steps, where each knot
/// is among the states, and its field evaluations (rejected PID steps included).
#[derive(Debug, Clone, PartialEq)]
pub struct CdeSolution {
    pub states: Vec<Vec<f64>>,
    pub steps: Vec<Step>,
    pub knot_states: Vec<usize>,
    pub evaluations: usize,
}

impl CdeSolution {
    pub fn last(&self) -> &[f64] {
        self.states.last().expect("a solve has at least its start")
    }

    /// The state at every knot.
    pub fn at_knots(&self) -> Vec<Vec<f64>> {
        self.knot_states.iter().map(|&i| self.states[i].clone()).collect()
    }
}

/// The fixed steps of a solve, in order.
fn fixed_steps(path: &ControlPath, per_interval: usize) -> Vec<Step> {
    (0..path.intervals())
        .flat_map(|k| {
            let (t0, t1) = (path.knots[k], path.knots[k + 1]);
            let h = (t1 - t0) / per_interval as f64;
            (0..per_interval).map(move |j| (k, t0 + j as f64 * h, h))
        })
        .collect()
}

/// One step's stages: their inputs Z_i, the control derivatives dX_i and the slopes
/// K_i = f(Z_i) dX_i.
struct Stages {
    inputs: Vec<Vec<f64>>,
    controls: Vec<Vec<f64>>,
    slopes: Vec<Vec<f64>>,
}

#[allow(clippy::too_many_arguments)]
fn stages(
    field: &dyn CdeField,
    params: &[f64],
    path: &ControlPath,
    tableau: &ButcherTableau,
    (k, t, h): (usize, f64, f64),
    z: &[f64],
    matrix: &mut [f64],
) -> Stages {
    let (hd, ch) = (field.hidden(), field.channels());
    let mut out = Stages { inputs: Vec::new(), controls: Vec::new(), slopes: Vec::new() };
    for i in 0..tableau.stages() {
        let mut input = z.to_vec();
        for (j, a) in tableau.a[i].iter().enumerate() {
            for (v, s) in input.iter_mut().zip(&out.slopes[j]) {
                *v += h * a * s;
            }
        }
        let mut control = vec![0.0; ch];
        path.derivative_on(k, t + tableau.c[i] * h, &mut control);
        field.eval(params, &input, matrix);
        let slope: Vec<f64> = (0..hd).map(|r| (0..ch).map(|c| matrix[r * ch + c] * control[c]).sum()).collect();
        out.inputs.push(input);
        out.controls.push(control);
        out.slopes.push(slope);
    }
    out
}

/// The new state of one step from its stages.
fn advance_state(z: &[f64], tableau: &ButcherTableau, h: f64, s: &Stages) -> Vec<f64> {
    let mut next = z.to_vec();
    for (b, slope) in tableau.b.iter().zip(&s.slopes) {
        for (v, k) in next.iter_mut().zip(slope) {
            *v += h * b * k;
        }
    }
    next
}

/// z along `path` from z0 through the given steps (each inside one knot interval, in order,
/// covering the path): the fixed-step solve, and how a PID solve's steps are replayed.
pub fn solve_on_steps(
    field: &dyn CdeField,
    params: &[f64],
    path: &ControlPath,
    z0: &[f64],
    tableau: &ButcherTableau,
    steps: &[Step],
) -> CdeSolution {
    let mut matrix = vec![0.0; field.hidden() * field.channels()];
    let mut out = CdeSolution { states: vec![z0.to_vec()], steps: Vec::new(), knot_states: vec![0], evaluations: 0 };
    for (n, step) in steps.iter().enumerate() {
        let z = out.last().to_vec();
        let s = stages(field, params, path, tableau, *step, &z, &mut matrix);
        out.states.push(advance_state(&z, tableau, step.2, &s));
        out.steps.push(*step);
        out.evaluations += tableau.stages();
        if steps.get(n + 1).is_none_or(|next| next.0 != step.0) {
            out.knot_states.push(out.states.len() - 1);
        }
    }
    out
}

/// z along `path` from z0 with `solver`.
pub fn cde_solve(
    field: &dyn CdeField,
    params: &[f64],
    path: &ControlPath,
    z0: &[f64],
    solver: &CdeSolver,
) -> Result<CdeSolution, String> {
    assert_eq!(path.channels, field.channels(), "the field and the path disagree on channels");
    let tableau = &solver.tableau;
    let mut matrix = vec![0.0; field.hidden() * field.channels()];
    let mut out = CdeSolution { states: vec![z0.to_vec()], steps: Vec::new(), knot_states: vec![0], evaluations: 0 };
    match solver.stepping {
        CdeStepping::Fixed { per_interval } => {
            return Ok(solve_on_steps(field, params, path, z0, tableau, &fixed_steps(path, per_interval)));
        }
        CdeStepping::Pid { rtol, atol } => {
            let weights = tableau.error.ok_or_else(|| {
                format!("--solver {} has no error estimate for PID steps: use tsit5 or dopri5", tableau.name)
            })?;
            let controller = PidController::new(rtol, atol);
            let order = f64::from(tableau.order.min(tableau.embedded_order.unwrap_or(tableau.order))) + 1.0;
            for k in 0..path.intervals() {
                let (start, end) = (path.knots[k], path.knots[k + 1]);
                let (mut t, mut h) = (start, end - start);
                let mut norms = [1.0, 1.0, 1.0];
                let mut tries = 0;
                while t < end {
                    tries += 1;
                    if tries > MAX_PID_STEPS {
                        return Err(format!(
                            "PID steps: more than {MAX_PID_STEPS} on knot interval {k}; raise the tolerances"
                        ));
                    }
                    // A step that would stop just short of the knot ends on it.
                    let h_step = if t + 1.01 * h >= end { end - t } else { h };
                    let z = out.last().to_vec();
                    let s = stages(field, params, path, tableau, (k, t, h_step), &z, &mut matrix);
                    out.evaluations += tableau.stages();
                    let next = advance_state(&z, tableau, h_step, &s);
                    let error: Vec<f64> = (0..z.len())
                        .map(|d| h_step * weights.iter().zip(&s.slopes).map(|(w, slope)| w * slope[d]).sum::<f64>())
                        .collect();
                    let norm = controller.error_norm(&z, &next, &error);
                    let accepted = norm <= 1.0 && norm.is_finite();
                    let norm = if norm.is_finite() { norm } else { 1e10 };
                    let factor = controller.factor([norm, norms[0], norms[1]], order, accepted);
                    if accepted {
                        norms = [norm, norms[0], norms[1]];
                        out.steps.push((k, t, h_step));
                        out.states.push(next);
                        t = if h_step == end - t { end } else { t + h_step };
                    }
                    h = h_step * factor;
                }
                out.knot_states.push(out.states.len() - 1);
            }
        }
    }
    Ok(out)
}

/// The gradients of a loss of z(T): d loss / d params and d loss / d z0, for `z_bar` =
/// d loss / d z(T), by back-propagation through the solve's steps.
pub fn cde_backprop(
    field: &dyn CdeField,
    params: &[f64],
    path: &ControlPath,
    solution: &CdeSolution,
    tableau: &ButcherTableau,
    z_bar: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let (hd, ch) = (field.hidden(), field.channels());
    let mut matrix = vec![0.0; hd * ch];
    let mut y_bar = z_bar.to_vec();
    let mut d_params = vec![0.0; field.param_count()];
    for (n, step) in solution.steps.iter().enumerate().rev() {
        let h = step.2;
        let s = stages(field, params, path, tableau, *step, &solution.states[n], &mut matrix);
        // K_bar_i = h b_i y_bar + h sum_{j > i} a_ji Z_bar_j; Z_bar_i = (dK_i/dZ_i)^T K_bar_i,
        // where K_i = f(Z_i) dX_i, so the field's cotangent is K_bar_i (outer) dX_i.
        let mut input_bars = vec![vec![0.0; hd]; tableau.stages()];
        for i in (0..tableau.stages()).rev() {
            let mut k_bar: Vec<f64> = y_bar.iter().map(|v| h * tableau.b[i] * v).collect();
            for (row, later) in tableau.a.iter().zip(&input_bars).skip(i + 1) {
                for (kb, l) in k_bar.iter_mut().zip(later) {
                    *kb += h * row[i] * l;
                }
            }
            if k_bar.iter().all(|v| *v == 0.0) {
                continue;
            }
            let cot: Vec<f64> = (0..hd * ch).map(|e| k_bar[e / ch] * s.controls[i][e % ch]).collect();
            field.vjp(params, &s.inputs[i], &cot, &mut input_bars[i], &mut d_params);
        }
        for bar in &input_bars {
            y_bar.iter_mut().zip(bar).for_each(|(a, b)| *a += b);
        }
    }
    (d_params, y_bar)
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::super::{ConstantField, LinearField, NeuralCdeField};
    use super::*;
    use crate::core::nn::dense_activation::DenseActivation;
    use crate::core::path::Interpolation;
    use crate::core::rng::RngStream;
    use crate::core::solve::tableau::{EULER, HEUN, RK4, TSIT5};

    fn series(channels: usize, seed: u64) -> (Vec<f64>, Vec<Vec<f64>>) {
        let mut rng = RngStream::new(seed, 1);
        let mut t = 0.0;
        let mut times = Vec::new();
        let mut rows = Vec::new();
        for _ in 0..9 {
            times.push(t);
            rows.push((0..channels).map(|_| rng.normal()).collect());
            t += 0.2 + rng.uniform();
        }
        (times, rows)
    }

    fn path(kind: Interpolation, channels: usize, seed: u64) -> ControlPath {
        let (times, mut rows) = series(channels, seed);
        if kind == Interpolation::Rectilinear {
            for (r, t) in rows.iter_mut().zip(&times) {
                r[0] = *t;
            }
        }
        ControlPath::new(kind, &times, &rows, (kind == Interpolation::Rectilinear).then_some(0)).unwrap()
    }

    /// A constant field integrates the control: z(T) = z0 + M (X(T) - X(t0)) to round-off,
    /// for every interpolation and step count, with a solver whose quadrature integrates X'
    /// exactly (any for linear and rectilinear paths, whose X' is piecewise constant; RK4 and
    /// Tsit5 for Hermite, whose X' is quadratic: Euler and Heun are not exact there).
    #[test]
    fn a_constant_field_integrates_the_control_exactly() {
        let (h, c) = (3, 2);
        let field = ConstantField { hidden: h, channels: c };
        let m: Vec<f64> = (0..h * c).map(|k| 0.3 * k as f64 - 0.7).collect();
        let z0 = vec![0.5, -1.0, 2.0];
        for kind in Interpolation::ALL {
            let p = path(kind, c, 4);
            let solvers: &[ButcherTableau] =
                if kind == Interpolation::Hermite { &[RK4, TSIT5] } else { &[EULER, HEUN, RK4] };
            for tableau in solvers {
                for per in [1, 3] {
                    let z = cde_solve(&field, &m, &p, &z0, &CdeSolver::fixed(*tableau, per)).unwrap();
                    let (mut x0, mut x1) = (vec![0.0; c], vec![0.0; c]);
                    p.evaluate(p.start(), &mut x0);
                    p.evaluate(p.end(), &mut x1);
                    for i in 0..h {
                        let want = z0[i] + (0..c).map(|j| m[i * c + j] * (x1[j] - x0[j])).sum::<f64>();
                        assert!(
                            (z.last()[i] - want).abs() < 1e-12,
                            "{kind:?} {} x{per}: {} vs {want}",
                            tableau.name,
                            z.last()[i]
                        );
                    }
                }
            }
        }
        // Euler on a Hermite path is not exact: the claim needs the quadrature.
        let p = path(Interpolation::Hermite, c, 4);
        let z = cde_solve(&field, &m, &p, &z0, &CdeSolver::fixed(EULER, 1)).unwrap();
        let (mut x0, mut x1) = (vec![0.0; c], vec![0.0; c]);
        p.evaluate(p.start(), &mut x0);
        p.evaluate(p.end(), &mut x1);
        let want = z0[0] + (0..c).map(|j| m[j] * (x1[j] - x0[j])).sum::<f64>();
        assert!((z.last()[0] - want).abs() > 1e-6);
    }

    /// One channel and f(z) = A z with A = [[a, -b], [b, a]]: z(T) = exp(A dX) z0, a rotation
    /// scaled by e^(a dX), dX = X(T) - X(t0). RK4 converges to it at fourth order.
    #[test]
    fn a_linear_field_on_one_channel_gives_the_matrix_exponential() {
        let (a, b) = (-0.3, 2.0);
        let params = vec![a, -b, b, a];
        let field = LinearField { hidden: 2 };
        let z0 = vec![1.0, 0.5];
        let p = path(Interpolation::Linear, 1, 9);
        let (mut x0, mut x1) = (vec![0.0], vec![0.0]);
        p.evaluate(p.start(), &mut x0);
        p.evaluate(p.end(), &mut x1);
        let dx = x1[0] - x0[0];
        let (scale, (sin, cos)) = ((a * dx).exp(), (b * dx).sin_cos());
        let want = [scale * (cos * z0[0] - sin * z0[1]), scale * (sin * z0[0] + cos * z0[1])];
        let error = |per: usize| {
            let z = cde_solve(&field, &params, &p, &z0, &CdeSolver::fixed(RK4, per)).unwrap();
            (z.last()[0] - want[0]).hypot(z.last()[1] - want[1])
        };
        let (coarse, fine) = (error(16), error(32));
        assert!(fine < 1e-4 && error(MAX_STEPS_PER_INTERVAL) < 1e-5, "RK4 at 32 steps per interval: {fine}");
        let order = (coarse / fine).log2();
        assert!((3.5..4.6).contains(&order), "observed order {order} ({coarse:e} -> {fine:e})");
    }

    /// PID steps: close to a fine fixed-step solve at a tight tolerance, fewer evaluations at a
    /// loose one, the knots among the states; and its gradient, through the steps it took, equals
    /// central differences of the solve replayed on those steps.
    #[test]
    fn pid_steps_solve_accurately_and_their_gradient_is_exact() {
        // A smooth field (a ReLU's kinks would cap both solvers' order).
        let field = NeuralCdeField::new(3, 2, 8, 1, DenseActivation::Tanh).unwrap();
        let params = field.net.init(4, 7);
        let z0 = vec![0.2, -0.4, 0.9];
        let p = path(Interpolation::Hermite, 2, 12);
        let fine = cde_solve(&field, &params, &p, &z0, &CdeSolver::fixed(RK4, 64)).unwrap();
        let pid = |rtol: f64| {
            let solver = CdeSolver { tableau: TSIT5, stepping: CdeStepping::Pid { rtol, atol: rtol * 1e-3 } };
            cde_solve(&field, &params, &p, &z0, &solver).unwrap()
        };
        let (tight, loose) = (pid(1e-8), pid(1e-2));
        let gap = tight.last().iter().zip(fine.last()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(gap < 1e-6, "PID at 1e-8 against RK4 x64: {gap}");
        assert!(loose.evaluations < tight.evaluations, "{} vs {}", loose.evaluations, tight.evaluations);
        assert_eq!(tight.knot_states.len(), p.knots.len());
        for (k, &i) in tight.knot_states.iter().enumerate().skip(1) {
            let step = tight.steps[i - 1];
            assert!(step.0 == k - 1 && (step.1 + step.2 - p.knots[k]).abs() < 1e-12, "knot {k} ends a step");
        }
        let weights = [0.7, -1.3, 0.4];
        let (d_params, _) = cde_backprop(&field, &params, &p, &loose, &TSIT5, &weights);
        let replay = |params: &[f64]| -> f64 {
            let z = solve_on_steps(&field, params, &p, &z0, &TSIT5, &loose.steps);
            z.last().iter().zip(weights).map(|(v, w)| v * w).sum()
        };
        assert_eq!(solve_on_steps(&field, &params, &p, &z0, &TSIT5, &loose.steps).last(), loose.last());
        for k in (0..params.len()).step_by(4) {
            let (mut up, mut down) = (params.clone(), params.clone());
            up[k] += 1e-6;
            down[k] -= 1e-6;
            let fd = (replay(&up) - replay(&down)) / 2e-6;
            assert!((fd - d_params[k]).abs() < 1e-6 * (1e-3 + fd.abs()) + 1e-9, "param {k}: {fd} vs {}", d_params[k]);
        }
        let refused = CdeSolver { tableau: RK4, stepping: CdeStepping::Pid { rtol: 1e-3, atol: 1e-6 } };
        assert!(cde_solve(&field, &params, &p, &z0, &refused).unwrap_err().contains("error estimate"));
    }

    /// Back-propagation through the solve equals central differences of the discrete z(T)
    /// (a linear functional of it), in the parameters and in z0, for each interpolation.
    #[test]
    fn backprop_matches_central_differences() {
        let field = NeuralCdeField::new(3, 2, 8, 1, DenseActivation::Relu).unwrap();
        let params = field.net.init(2, 7);
        let z0 = vec![0.2, -0.4, 0.9];
        let weights = [0.7, -1.3, 0.4];
        for kind in Interpolation::ALL {
            let p = path(kind, 2, 11);
            let solver = CdeSolver::fixed(RK4, 2);
            let objective = |params: &[f64], z0: &[f64]| -> f64 {
                let z = cde_solve(&field, params, &p, z0, &solver).unwrap();
                z.last().iter().zip(weights).map(|(v, w)| v * w).sum()
            };
            let solution = cde_solve(&field, &params, &p, &z0, &solver).unwrap();
            let (d_params, d_z0) = cde_backprop(&field, &params, &p, &solution, &RK4, &weights);
            let eps = 1e-6;
            let mut worst = 0.0f64;
            for k in (0..params.len()).step_by(3) {
                let (mut up, mut down) = (params.clone(), params.clone());
                up[k] += eps;
                down[k] -= eps;
                let fd = (objective(&up, &z0) - objective(&down, &z0)) / (2.0 * eps);
                worst = worst.max((fd - d_params[k]).abs() / (1e-3 + fd.abs()));
            }
            for i in 0..3 {
                let (mut up, mut down) = (z0.clone(), z0.clone());
                up[i] += eps;
                down[i] -= eps;
                let fd = (objective(&params, &up) - objective(&params, &down)) / (2.0 * eps);
                worst = worst.max((fd - d_z0[i]).abs() / (1e-3 + fd.abs()));
            }
            assert!(worst < 1e-6, "{kind:?}: worst relative error {worst:e}");
        }
    }
}
