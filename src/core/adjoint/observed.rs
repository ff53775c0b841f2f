//! Gradients of a loss at many observation times, L = sum_i l(y(t_i), target_i), through a
//! fixed-step solve of y' = f(t, y; theta) for any [`VectorField`], in theta and y0, by:
//! - discretise-then-optimise: back-propagation through the stored steps (stages
//!   recomputed), the exact gradient of the discrete loss;
//! - the backsolve adjoint: [y, a, g]' = [f, -a^T df/dy, -a^T df/dtheta] solved backwards
//!   with the same tableau and grid, a jumping by dl/dy at each observation; y is reset to the
//!   forward pass's value there, as torchdiffeq does, so errors grow only within an interval;
//! - reversible Heun: the exact algebraic reverse step rebuilds (y, z) in constant memory,
//!   and back-propagation through one step at a time gives the discrete gradient exactly.
//!
//! Observation times are grid points (`Problem::observed`); the terminal-loss functions of
//! [`super::neural_ode`] are the special case of one observation at the end.

use crate::core::dynamics::{store, VectorField};
use crate::core::solve::rk::rk_step;
use crate::core::solve::tableau::ButcherTableau;

/// The loss at one observation, summed over the state's components and scaled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PointLoss {
    /// scale * |y - target|^2.
    Squared { scale: f64 },
    /// scale * |y - target|_1 (torchdiffeq's spiral demo).
    Absolute { scale: f64 },
}

impl PointLoss {
    /// The loss and its gradient in y.
    pub fn eval(self, y: &[f64], target: &[f64]) -> (f64, Vec<f64>) {
        match self {
            PointLoss::Squared { scale } => {
                let r: Vec<f64> = y.iter().zip(target).map(|(a, b)| a - b).collect();
                (scale * r.iter().map(|v| v * v).sum::<f64>(), r.iter().map(|v| 2.0 * scale * v).collect())
            }
            PointLoss::Absolute { scale } => {
                let r: Vec<f64> = y.iter().zip(target).map(|(a, b)| a - b).collect();
                (scale * r.iter().map(|v| v.abs()).sum::<f64>(), r.iter().map(|v| scale * v.signum()).collect())
            }
        }
    }
}

/// One solve and its observations.
#[derive(Clone, Copy)]
pub struct Problem<'a> {
    pub field: &'a dyn VectorField,
    pub params: &'a [f64],
    pub y0: &'a [f64],
    /// The solver's grid t_0 < t_1 < ... < t_N: fixed steps, or the steps a PID controller
    /// chose in a forward pass (their sizes are then held constant, as diffrax does).
    pub grid: &'a [f64],
    /// `(n, target)`: the state at grid point n (n = 0 is y0) is compared with target.
    pub observed: &'a [(usize, Vec<f64>)],
    pub loss: PointLoss,
}

impl Problem<'_> {
    pub fn steps(&self) -> usize {
        self.grid.len() - 1
    }

    fn time(&self, n: usize) -> f64 {
        self.grid[n]
    }

    /// The size of step n (from grid point n to n + 1).
    fn step(&self, n: usize) -> f64 {
        self.grid[n + 1] - self.grid[n]
    }

    fn check(&self) {
        let d = self.field.dim();
        assert_eq!(self.y0.len(), d, "observed: y0 has {} values for a {d}-dimensional field", self.y0.len());
        assert_eq!(self.params.len(), self.field.param_count(), "observed: parameter count");
        assert!(!self.grid.is_empty(), "observed: an empty grid");
        assert!(
            self.observed.iter().all(|(n, target)| *n <= self.steps() && target.len() == d),
            "observed: an observation beyond the grid or of the wrong size"
        );
    }

    /// The loss's cotangent at grid point n (None when n is not observed).
    fn jump(&self, n: usize, y: &[f64]) -> Option<(f64, Vec<f64>)> {
        let mut found: Option<(f64, Vec<f64>)> = None;
        for (m, target) in self.observed {
            if *m == n {
                let (l, g) = self.loss.eval(y, target);
                found = Some(match found {
                    None => (l, g),
                    Some((l0, g0)) => (l0 + l, g0.iter().zip(&g).map(|(a, b)| a + b).collect()),
                });
            }
        }
        found
    }
}

/// t0, t0 + h, ..., t1 in `steps` equal steps.
pub fn uniform_grid(t0: f64, t1: f64, steps: usize) -> Vec<f64> {
    (0..=steps).map(|n| t0 + (t1 - t0) * n as f64 / steps as f64).collect()
}

/// A loss, its gradients, and what they cost.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedGradients {
    pub loss: f64,
    pub d_params: Vec<f64>,
    pub d_y0: Vec<f64>,
    /// Floats held at once for the backward pass (states and adjoints; not the grid, which
    /// fixed steps do not store and an adaptive solve stores for every method alike).
    pub floats_held: usize,
    /// Field evaluations forward plus vector-Jacobian products backward.
    pub evaluations: usize,
}

/// The states at every grid point of a fixed-step solve with `tableau`.
pub fn solve_grid(tableau: &ButcherTableau, problem: &Problem) -> Vec<Vec<f64>> {
    problem.check();
    let mut f = |t: f64, y: &[f64], dy: &mut [f64]| problem.field.eval(problem.params, t, y, dy);
    let mut states = vec![problem.y0.to_vec()];
    for n in 0..problem.steps() {
        let mut next = rk_step(tableau, &mut f, problem.time(n), &states[n], problem.step(n)).y;
        store(problem.field, &mut next);
        states.push(next);
    }
    states
}

/// The discrete loss of a fixed-step solve (what finite differences differentiate).
pub fn discrete_loss(tableau: &ButcherTableau, problem: &Problem) -> f64 {
    let states = solve_grid(tableau, problem);
    problem.observed.iter().map(|(n, target)| problem.loss.eval(&states[*n], target).0).sum()
}

/// Back-propagation through every stored step.
pub fn discretise_then_optimise(tableau: &ButcherTableau, problem: &Problem) -> ObservedGradients {
    let states = solve_grid(tableau, problem);
    let (field, params) = (problem.field, problem.params);
    let (d, stages) = (field.dim(), tableau.stages());
    let mut loss = 0.0;
    let mut y_bar = vec![0.0; d];
    let mut d_params = vec![0.0; field.param_count()];
    let mut evaluations = problem.steps() * stages;
    let add_jump = |n: usize, y_bar: &mut [f64], loss: &mut f64| {
        if let Some((l, g)) = problem.jump(n, &states[n]) {
            *loss += l;
            y_bar.iter_mut().zip(g).for_each(|(a, b)| *a += b);
        }
    };
    add_jump(problem.steps(), &mut y_bar, &mut loss);
    for n in (0..problem.steps()).rev() {
        let (t, h) = (problem.time(n), problem.step(n));
        // Recompute the stage inputs s_i = y_n + h sum_j a_ij k_j.
        let mut inputs: Vec<Vec<f64>> = Vec::with_capacity(stages);
        let mut k: Vec<Vec<f64>> = Vec::with_capacity(stages);
        for i in 0..stages {
            let mut s = states[n].clone();
            for (j, a) in tableau.a[i].iter().enumerate() {
                for c in 0..d {
                    s[c] += h * a * k[j][c];
                }
            }
            let mut out = vec![0.0; d];
            field.eval(params, t + tableau.c[i] * h, &s, &mut out);
            k.push(out);
            inputs.push(s);
        }
        // k_bar_i = h b_i y_bar + h sum_{j > i} a_ji s_bar_j; s_bar_i = (df/dy)^T k_bar_i.
        let mut s_bar = vec![vec![0.0; d]; stages];
        for i in (0..stages).rev() {
            let mut k_bar: Vec<f64> = y_bar.iter().map(|v| h * tableau.b[i] * v).collect();
            for (row, later) in tableau.a.iter().zip(&s_bar).skip(i + 1) {
                for c in 0..d {
                    k_bar[c] += h * row[i] * later[c];
                }
            }
            if k_bar.iter().any(|&v| v != 0.0) {
                field.vjp(params, t + tableau.c[i] * h, &inputs[i], &k_bar, &mut s_bar[i], &mut d_params);
                evaluations += 1;
            }
        }
        for s in &s_bar {
            y_bar.iter_mut().zip(s).for_each(|(a, b)| *a += b);
        }
        store(field, &mut y_bar);
        evaluations += stages;
        add_jump(n, &mut y_bar, &mut loss);
    }
    ObservedGradients {
        loss,
        d_params,
        d_y0: y_bar,
        floats_held: (problem.steps() + 1) * d + 2 * stages * d,
        evaluations,
    }
}

/// The backsolve adjoint, with how far its backward solve strayed from the forward one.
#[derive(Debug, Clone, PartialEq)]
pub struct Backsolve {
    pub gradients: ObservedGradients,
    /// The largest |y_backward - y_forward| where the backward solve met a stored state
    /// (each observation, and y0).
    pub reconstruction_error: f64,
}

pub fn backsolve_adjoint(tableau: &ButcherTableau, problem: &Problem) -> Backsolve {
    problem.check();
    let (field, params) = (problem.field, problem.params);
    let (d, p) = (field.dim(), field.param_count());
    let steps = problem.steps();
    // Forward: only the observed states are kept (they are outputs of the solve anyway).
    let mut f = |t: f64, y: &[f64], dy: &mut [f64]| field.eval(params, t, y, dy);
    let mut y = problem.y0.to_vec();
    let mut kept: Vec<(usize, Vec<f64>)> = Vec::new();
    let mut evaluations = 0;
    for n in 0..=steps {
        if problem.jump(n, &y).is_some() || n == steps {
            kept.push((n, y.clone()));
        }
        if n < steps {
            let step = rk_step(tableau, &mut f, problem.time(n), &y, problem.step(n));
            evaluations += step.evaluations;
            y = step.y;
            store(field, &mut y);
        }
    }
    let mut augmented = |t: f64, s: &[f64], ds: &mut [f64]| {
        let (y, rest) = s.split_at(d);
        let a = &rest[..d];
        field.eval(params, t, y, &mut ds[..d]);
        let mut a_dfdy = vec![0.0; d];
        let mut a_dfdp = vec![0.0; p];
        field.vjp(params, t, y, a, &mut a_dfdy, &mut a_dfdp);
        for (slot, v) in ds[d..2 * d].iter_mut().zip(a_dfdy) {
            *slot = -v;
        }
        for (slot, v) in ds[2 * d..].iter_mut().zip(a_dfdp) {
            *slot = -v;
        }
    };
    let mut state = vec![0.0; 2 * d + p];
    let mut loss = 0.0;
    let mut reconstruction_error: f64 = 0.0;
    let mut at = kept.len();
    for n in (0..=steps).rev() {
        if at > 0 && kept[at - 1].0 == n {
            at -= 1;
            let forward = &kept[at].1;
            let strayed = (0..d).map(|c| (state[c] - forward[c]).powi(2)).sum::<f64>().sqrt();
            if n < steps {
                reconstruction_error = reconstruction_error.max(strayed);
            }
            state[..d].copy_from_slice(forward);
            if let Some((l, g)) = problem.jump(n, forward) {
                loss += l;
                state[d..2 * d].iter_mut().zip(g).for_each(|(a, b)| *a += b);
            }
        }
        if n == 0 {
            // y0 itself: how far the backward solve landed from it.
            let strayed = (0..d).map(|c| (state[c] - problem.y0[c]).powi(2)).sum::<f64>().sqrt();
            reconstruction_error = reconstruction_error.max(strayed);
            break;
        }
        let step = rk_step(tableau, &mut augmented, problem.time(n), &state, -problem.step(n - 1));
        evaluations += 2 * step.evaluations;
        state = step.y;
        store(field, &mut state);
    }
    Backsolve {
        gradients: ObservedGradients {
            loss,
            d_y0: state[d..2 * d].to_vec(),
            d_params: state[2 * d..].to_vec(),
            floats_held: (2 * d + p) * (tableau.stages() + 1) + kept.len() * d,
            evaluations,
        },
        reconstruction_error,
    }
}

/// Reversible Heun's state: the solution y, the auxiliary z, and f(t, z).
#[derive(Debug, Clone, PartialEq)]
struct HeunState {
    y: Vec<f64>,
    z: Vec<f64>,
    f: Vec<f64>,
}

fn heun_forward(problem: &Problem, n: usize, s: &HeunState) -> HeunState {
    let h = problem.step(n);
    let z: Vec<f64> = (0..s.y.len()).map(|c| 2.0 * s.y[c] - s.z[c] + h * s.f[c]).collect();
    let mut f = vec![0.0; z.len()];
    problem.field.eval(problem.params, problem.time(n + 1), &z, &mut f);
    let mut y: Vec<f64> = (0..s.y.len()).map(|c| s.y[c] + 0.5 * h * (s.f[c] + f[c])).collect();
    let mut z = z;
    store(problem.field, &mut y);
    store(problem.field, &mut z);
    HeunState { y, z, f }
}

/// The exact algebraic inverse of [`heun_forward`]: state n + 1 to state n.
fn heun_reverse(problem: &Problem, n: usize, s: &HeunState) -> HeunState {
    let h = problem.step(n);
    let z: Vec<f64> = (0..s.y.len()).map(|c| 2.0 * s.y[c] - s.z[c] - h * s.f[c]).collect();
    let mut f = vec![0.0; z.len()];
    problem.field.eval(problem.params, problem.time(n), &z, &mut f);
    let mut y: Vec<f64> = (0..s.y.len()).map(|c| s.y[c] - 0.5 * h * (f[c] + s.f[c])).collect();
    let mut z = z;
    store(problem.field, &mut y);
    store(problem.field, &mut z);
    HeunState { y, z, f }
}

fn heun_start(problem: &Problem) -> HeunState {
    let mut f = vec![0.0; problem.y0.len()];
    problem.field.eval(problem.params, problem.time(0), problem.y0, &mut f);
    HeunState { y: problem.y0.to_vec(), z: problem.y0.to_vec(), f }
}

/// Reversible Heun's solution at every grid point, and |y - z| (its parasitic mode) there.
pub fn reversible_heun_solve(problem: &Problem) -> (Vec<Vec<f64>>, Vec<f64>) {
    problem.check();
    let mut s = heun_start(problem);
    let gap = |s: &HeunState| s.y.iter().zip(&s.z).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
    let (mut ys, mut gaps) = (vec![s.y.clone()], vec![gap(&s)]);
    for n in 0..problem.steps() {
        s = heun_forward(problem, n, &s);
        ys.push(s.y.clone());
        gaps.push(gap(&s));
    }
    (ys, gaps)
}

/// The discrete loss of reversible Heun's solution.
pub fn reversible_heun_loss(problem: &Problem) -> f64 {
    let (ys, _) = reversible_heun_solve(problem);
    problem.observed.iter().map(|(n, target)| problem.loss.eval(&ys[*n], target).0).sum()
}

/// Reversible Heun's gradients, in constant memory, with the solution's size and whether its
/// parasitic mode stayed small.
#[derive(Debug, Clone, PartialEq)]
pub struct ReversibleHeun {
    pub gradients: ObservedGradients,
    /// max |y| over the grid.
    pub solution_norm: f64,
    /// max |y - z| over the grid.
    pub parasitic: f64,
    /// The parasitic mode stayed below a tenth of the solution's scale (max(1, |y|)).
    pub stable: bool,
}

pub fn reversible_heun_adjoint(problem: &Problem) -> ReversibleHeun {
    reversible_heun_adjoint_with(problem, HeunMemory::Reconstruct)
}

/// Where the backward pass of reversible Heun gets its states from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeunMemory {
    /// The exact algebraic reverse step (constant memory): the method's point.
    Reconstruct,
    /// Every forward state kept: the same gradient in exact arithmetic, and the check of
    /// what reconstruction loses to rounding where the reverse step is unstable.
    Stored,
}

pub fn reversible_heun_adjoint_with(problem: &Problem, memory: HeunMemory) -> ReversibleHeun {
    problem.check();
    let (field, params) = (problem.field, problem.params);
    let (d, p) = (field.dim(), field.param_count());
    let steps = problem.steps();
    let mut s = heun_start(problem);
    let (mut solution_norm, mut parasitic) = (0.0f64, 0.0f64);
    let mut track = |s: &HeunState| {
        solution_norm = solution_norm.max(s.y.iter().map(|v| v * v).sum::<f64>().sqrt());
        parasitic = parasitic.max(s.y.iter().zip(&s.z).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt());
    };
    track(&s);
    let mut stored = Vec::new();
    for n in 0..steps {
        if memory == HeunMemory::Stored {
            stored.push(s.clone());
        }
        s = heun_forward(problem, n, &s);
        track(&s);
    }
    let mut loss = 0.0;
    let (mut y_bar, mut z_bar, mut f_bar) = (vec![0.0; d], vec![0.0; d], vec![0.0; d]);
    let mut d_params = vec![0.0; p];
    let mut jump = |n: usize, y: &[f64], y_bar: &mut [f64]| {
        if let Some((l, g)) = problem.jump(n, y) {
            loss += l;
            y_bar.iter_mut().zip(g).for_each(|(a, b)| *a += b);
        }
    };
    jump(steps, &s.y, &mut y_bar);
    for n in (0..steps).rev() {
        let h = problem.step(n);
        // Step n -> n + 1: z' = 2y - z + h f, f' = f(t', z'), y' = y + h/2 (f + f').
        let mut f_bar_n: Vec<f64> = y_bar.iter().map(|v| 0.5 * h * v).collect();
        for c in 0..d {
            f_bar[c] += 0.5 * h * y_bar[c];
        }
        field.vjp(params, problem.time(n + 1), &s.z, &f_bar, &mut z_bar, &mut d_params);
        let y_bar_n: Vec<f64> = (0..d).map(|c| y_bar[c] + 2.0 * z_bar[c]).collect();
        for c in 0..d {
            f_bar_n[c] += h * z_bar[c];
        }
        z_bar = z_bar.iter().map(|v| -v).collect();
        y_bar = y_bar_n;
        f_bar = f_bar_n;
        for v in [&mut y_bar, &mut z_bar, &mut f_bar] {
            store(field, v);
        }
        s = match memory {
            HeunMemory::Reconstruct => heun_reverse(problem, n, &s),
            HeunMemory::Stored => stored.pop().expect("one state per step"),
        };
        jump(n, &s.y, &mut y_bar);
    }
    // State 0 is (y0, y0, f(t0, y0)).
    field.vjp(params, problem.time(0), problem.y0, &f_bar, &mut z_bar, &mut d_params);
    let d_y0 = (0..d).map(|c| y_bar[c] + z_bar[c]).collect();
    let stable = parasitic <= 0.1 * solution_norm.max(1.0);
    let stored_floats = if memory == HeunMemory::Stored { 3 * d * steps } else { 0 };
    ReversibleHeun {
        gradients: ObservedGradients {
            loss,
            d_params,
            d_y0,
            floats_held: 6 * d + p + stored_floats,
            evaluations: steps * if memory == HeunMemory::Stored { 2 } else { 3 } + 1,
        },
        solution_norm,
        parasitic,
        stable,
    }
}

/// The relative step of [`finite_differences`]: small enough for losses that vary fast (a
/// reversible Heun solution whose parasitic mode has grown), large enough that rounding stays
/// near 1e-9 relative on smooth ones.
pub const FD_STEP: f64 = 1e-7;

/// Central differences of `loss(params, y0)` in every parameter and in y0, at [`FD_STEP`].
pub fn finite_differences(problem: &Problem, loss: &dyn Fn(&Problem) -> f64) -> (Vec<f64>, Vec<f64>) {
    finite_differences_with_step(problem, loss, FD_STEP)
}

/// Central differences with steps `step * (1 + |value|)`.
pub fn finite_differences_with_step(
    problem: &Problem,
    loss: &dyn Fn(&Problem) -> f64,
    step: f64,
) -> (Vec<f64>, Vec<f64>) {
    let d_params = central_differences(problem.params, step, &|params| loss(&Problem { params, ..*problem }));
    let d_y0 = central_differences(problem.y0, step, &|y0| loss(&Problem { y0, ..*problem }));
    (d_params, d_y0)
}

/// d f / d values by central differences, each value moved by `step * (1 + |value|)`.
fn central_differences(values: &[f64], step: f64, f: &dyn Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut moved = values.to_vec();
    let mut derivative = Vec::with_capacity(values.len());
    for i in 0..values.len() {
        let h = step * (1.0 + values[i].abs());
        moved[i] = values[i] + h;
        let plus = f(&moved);
        moved[i] = values[i] - h;
        let minus = f(&moved);
        moved[i] = values[i];
        derivative.push((plus - minus) / (2.0 * h));
    }
    derivative
}

/// |g - reference| / |reference| over parameters and y0 together (or the absolute distance
/// where the reference is zero).
pub fn relative_error(g: &ObservedGradients, reference: &(Vec<f64>, Vec<f64>)) -> f64 {
    relative_distance(&(g.d_params.clone(), g.d_y0.clone()), reference)
}

/// |a - b| / |b| over both parts (parameters, y0).
pub fn relative_distance(a: &(Vec<f64>, Vec<f64>), reference: &(Vec<f64>, Vec<f64>)) -> f64 {
    let pairs = a.0.iter().zip(&reference.0).chain(a.1.iter().zip(&reference.1));
    let (num, den) = pairs.fold((0.0, 0.0), |(n, d), (a, b)| (n + (a - b).powi(2), d + b * b));
    if den > 0.0 {
        (num / den).sqrt()
    } else {
        num.sqrt()
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::dynamics::neural::{HybridField, NeuralField};
    use crate::core::dynamics::systems::{System, SystemId};
    use crate::core::nn::dense_activation::DenseActivation;
    use crate::core::solve::tableau::{ButcherTableau, HEUN, RK4, TSIT5};

    fn observations(steps: usize, every: usize) -> Vec<(usize, Vec<f64>)> {
        (every..=steps).step_by(every).map(|n| (n, vec![0.3 * (n as f64).sin(), 0.2 - 0.01 * n as f64])).collect()
    }

    fn check_exact(field: &dyn VectorField, params: &[f64], tableau: &ButcherTableau) {
        let observed = observations(40, 8);
        // A grid of unequal steps, as a PID controller makes.
        let grid: Vec<f64> = (0..=40).map(|n| 0.05 * n as f64 + 0.01 * (n as f64 * 0.7).sin()).collect();
        let problem = Problem {
            field,
            params,
            y0: &[0.4, -0.2],
            grid: &grid,
            observed: &observed,
            loss: PointLoss::Squared { scale: 0.5 },
        };
        let dto = discretise_then_optimise(tableau, &problem);
        let reference = finite_differences(&problem, &|p| discrete_loss(tableau, p));
        let err = relative_error(&dto, &reference);
        assert!(err < 1e-7, "{}: DtO against finite differences {err}", tableau.name);
        assert!((dto.loss - discrete_loss(tableau, &problem)).abs() < 1e-14);
        let rev = reversible_heun_adjoint(&problem);
        let reference = finite_differences(&problem, &reversible_heun_loss);
        let err = relative_error(&rev.gradients, &reference);
        assert!(err < 1e-7, "reversible Heun against finite differences {err}");
        assert!((rev.gradients.loss - reversible_heun_loss(&problem)).abs() < 1e-12);
        // Backsolve on a short, well-behaved problem: close to the discrete gradient, not equal.
        let back = backsolve_adjoint(tableau, &problem);
        assert!(relative_error(&back.gradients, &(dto.d_params.clone(), dto.d_y0.clone())) < 1e-3);
        assert!((back.gradients.loss - dto.loss).abs() < 1e-14);
    }

    /// DtO and reversible Heun equal finite differences of their own discrete loss, with
    /// losses at many times, for the known systems, the pure network and the hybrid.
    #[test]
    fn exact_methods_match_finite_differences_at_many_observations() {
        let pendulum = System(SystemId::Pendulum);
        check_exact(&pendulum, &[1.0, 0.3], &RK4);
        let lv = System(SystemId::LotkaVolterra);
        check_exact(&lv, &SystemId::LotkaVolterra.default_params(), &TSIT5);
        let pure = NeuralField::new(2, 8, 2, DenseActivation::Softplus).unwrap();
        check_exact(&pure, &pure.init(3), &HEUN);
        let hybrid = HybridField::new(System(SystemId::Pendulum), 6, 2, DenseActivation::Tanh).unwrap();
        check_exact(&hybrid, &hybrid.init(4), &RK4);
    }

    /// An L1 loss and an observation at y0 itself.
    #[test]
    fn absolute_loss_and_an_observation_at_the_start() {
        let field = System(SystemId::CubicSpiral);
        let params = SystemId::CubicSpiral.default_params();
        let observed = vec![(0, vec![1.0, 0.5]), (10, vec![0.0, 0.0]), (20, vec![1.0, -1.0])];
        let problem = Problem {
            field: &field,
            params: &params,
            y0: &[0.9, 0.1],
            grid: &uniform_grid(0.0, 1.0, 20),
            observed: &observed,
            loss: PointLoss::Absolute { scale: 0.25 },
        };
        let dto = discretise_then_optimise(&RK4, &problem);
        let reference = finite_differences(&problem, &|p| discrete_loss(&RK4, p));
        assert!(relative_error(&dto, &reference) < 1e-7);
        let rev = reversible_heun_adjoint(&problem);
        assert!(relative_error(&rev.gradients, &finite_differences(&problem, &reversible_heun_loss)) < 1e-7);
    }

    /// y' = -k y, k the only parameter.
    struct Decay;

    impl VectorField for Decay {
        fn dim(&self) -> usize {
            1
        }
        fn param_count(&self) -> usize {
            1
        }
        fn eval(&self, p: &[f64], _t: f64, y: &[f64], dy: &mut [f64]) {
            dy[0] = -p[0] * y[0];
        }
        fn vjp(&self, p: &[f64], _t: f64, y: &[f64], a: &[f64], d_y: &mut [f64], d_p: &mut [f64]) {
            d_y[0] -= a[0] * p[0];
            d_p[0] -= a[0] * y[0];
        }
    }

    fn decay_problem<'a>(k: &'a [f64], grid: &'a [f64]) -> Problem<'a> {
        Problem { field: &Decay, params: k, y0: &[1.0], grid, observed: &[], loss: PointLoss::Squared { scale: 0.5 } }
    }

    /// LABS.md: on y' = lambda y with w = h lambda, one step maps (y, z) by
    /// [[1 + w, w^2 / 2], [2, w - 1]] (trace 2w, determinant -1), so the roots multiply to -1
    /// and the spurious one, w - sqrt(w^2 + 1), lies outside the unit circle when w < 0.
    #[test]
    fn reversible_heun_step_matrix_has_a_root_outside_the_circle_under_damping() {
        for w in [-0.3, -0.05, 0.2] {
            let k = [-w / 0.1];
            let grid = [0.0, 0.1];
            let problem = decay_problem(&k, &grid);
            let column = |y: f64, z: f64| {
                let next = heun_forward(&problem, 0, &HeunState { y: vec![y], z: vec![z], f: vec![-k[0] * z] });
                [next.y[0], next.z[0]]
            };
            let (c0, c1) = (column(1.0, 0.0), column(0.0, 1.0));
            let want = [[1.0 + w, w * w / 2.0], [2.0, w - 1.0]];
            for (got, want) in [c0[0], c1[0], c0[1], c1[1]].iter().zip([want[0][0], want[0][1], want[1][0], want[1][1]])
            {
                assert!((got - want).abs() < 1e-14, "w {w}: {got} vs {want}");
            }
            let det = c0[0] * c1[1] - c1[0] * c0[1];
            assert!((det + 1.0).abs() < 1e-14);
            let spurious = (w - (w * w + 1.0f64).sqrt()).abs();
            assert_eq!(spurious > 1.0, w < 0.0, "w {w}: |mu| {spurious}");
        }
    }

    /// LABS.md: on y' = -k y over T = 10 the parasitic mode |y - z| grows at rate k (fitted
    /// over t in [5, 10], within 1%), and its amplitude scales as h^2 (slope 2 +- 0.1).
    #[test]
    fn reversible_heun_parasitic_mode_grows_at_the_damping_rate() {
        for k in [0.5, 1.0, 2.0] {
            let params = [k];
            let grid = uniform_grid(0.0, 10.0, 1000);
            let problem = decay_problem(&params, &grid);
            let (_, gaps) = reversible_heun_solve(&problem);
            let (ts, logs): (Vec<f64>, Vec<f64>) = (500..=1000).map(|n| (n as f64 * 0.01, gaps[n].ln())).unzip();
            let n = ts.len() as f64;
            let (mt, ml) = (ts.iter().sum::<f64>() / n, logs.iter().sum::<f64>() / n);
            let rate = ts.iter().zip(&logs).map(|(t, l)| (t - mt) * (l - ml)).sum::<f64>()
                / ts.iter().map(|t| (t - mt).powi(2)).sum::<f64>();
            println!("reversible Heun on y' = -{k} y: |y - z| grows at {rate:.4}");
            assert!((rate - k).abs() < 0.01 * k, "k {k}: fitted rate {rate}");
        }
        let params = [1.0];
        let (coarse_grid, fine_grid) = (uniform_grid(0.0, 10.0, 1000), uniform_grid(0.0, 10.0, 10_000));
        let coarse = *reversible_heun_solve(&decay_problem(&params, &coarse_grid)).1.last().unwrap();
        let fine = *reversible_heun_solve(&decay_problem(&params, &fine_grid)).1.last().unwrap();
        let slope = (coarse / fine).log10();
        println!("|y - z| at T = 10: {coarse:e} (N = 1000), {fine:e} (N = 10000), slope {slope:.3}");
        assert!((slope - 2.0).abs() < 0.1, "amplitude slope {slope} (|y - z| = {coarse} and {fine})");
    }
}
