//! Gradients of L = |y(T) - target|^2 / 2 for the neural ODE y' = f_theta(t, y), with respect
//! to theta and y(0), three ways:
//! - discretise-then-optimise: back-propagate through the solver's steps (states stored at
//!   every step, stages recomputed): the exact gradient of the discrete solution;
//! - the continuous backsolve adjoint (Chen et al. 2018): integrate [y, a, dL/dtheta]
//!   backwards from T; constant memory, approximate (y is reconstructed by solving backwards);
//! - Reversible Heun (in `reversible`): exact gradients in constant memory.

use super::field::MlpField;
use crate::core::solve::rk::rk_step;
use crate::core::solve::tableau::ButcherTableau;

/// A loss, its gradients, and what computing them cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradients {
    pub loss: f64,
    pub d_y0: [f64; 2],
    pub d_params: Vec<f64>,
    /// Floats held at once for the backward pass (the memory the method needs).
    pub stored_floats: usize,
    /// Vector-field evaluations (forward) plus vector-Jacobian products (backward).
    pub evaluations: usize,
}

/// |y - target|^2 / 2 and its gradient.
pub fn terminal_loss(y: &[f64], target: [f64; 2]) -> (f64, [f64; 2]) {
    let r = [y[0] - target[0], y[1] - target[1]];
    (0.5 * (r[0] * r[0] + r[1] * r[1]), r)
}

/// Solves y' = f(t, y) on [0, t1] with fixed steps.
pub fn solve(tableau: &ButcherTableau, field: &MlpField, y0: [f64; 2], t1: f64, steps: usize) -> Vec<f64> {
    let h = t1 / steps as f64;
    let mut y = y0.to_vec();
    let mut f = |t: f64, y: &[f64], dy: &mut [f64]| dy.copy_from_slice(&field.eval(t, y));
    for n in 0..steps {
        y = rk_step(tableau, &mut f, n as f64 * h, &y, h).y;
    }
    y
}

/// Back-propagation through `steps` Runge-Kutta steps of `tableau`.
pub fn discretise_then_optimise(
    tableau: &ButcherTableau,
    field: &MlpField,
    y0: [f64; 2],
    t1: f64,
    steps: usize,
    target: [f64; 2],
) -> Gradients {
    let h = t1 / steps as f64;
    let stages = tableau.stages();
    let mut f = |t: f64, y: &[f64], dy: &mut [f64]| dy.copy_from_slice(&field.eval(t, y));
    let mut states = vec![y0.to_vec()];
    for n in 0..steps {
        let next = rk_step(tableau, &mut f, n as f64 * h, &states[n], h).y;
        states.push(next);
    }
    let (loss, cotangent) = terminal_loss(&states[steps], target);
    let mut y_bar = cotangent.to_vec();
    let mut d_params = vec![0.0; field.param_count()];
    let mut evaluations = steps * stages;
    for n in (0..steps).rev() {
        let t = n as f64 * h;
        // Recompute the stage inputs s_i = y_n + h sum_j a_ij k_j.
        let mut stage_inputs: Vec<Vec<f64>> = Vec::with_capacity(stages);
        let mut k: Vec<[f64; 2]> = Vec::with_capacity(stages);
        for i in 0..stages {
            let mut s = states[n].clone();
            for (j, a) in tableau.a[i].iter().enumerate() {
                s[0] += h * a * k[j][0];
                s[1] += h * a * k[j][1];
            }
            k.push(field.eval(t + tableau.c[i] * h, &s));
            stage_inputs.push(s);
        }
        // k_bar_i = h b_i y_bar + h sum_{j > i} a_ji s_bar_j; s_bar_i = (df/dy)^T k_bar_i.
        let mut s_bar = vec![[0.0; 2]; stages];
        for i in (0..stages).rev() {
            let mut k_bar = [h * tableau.b[i] * y_bar[0], h * tableau.b[i] * y_bar[1]];
            for (row, later) in tableau.a.iter().zip(&s_bar).skip(i + 1) {
                k_bar[0] += h * row[i] * later[0];
                k_bar[1] += h * row[i] * later[1];
            }
            if k_bar != [0.0, 0.0] {
                s_bar[i] = field.vjp(t + tableau.c[i] * h, &stage_inputs[i], k_bar, &mut d_params);
                evaluations += 1;
            }
        }
        for s in &s_bar {
            y_bar[0] += s[0];
            y_bar[1] += s[1];
        }
        evaluations += stages;
    }
    Gradients {
        loss,
        d_y0: [y_bar[0], y_bar[1]],
        d_params,
        stored_floats: (steps + 1) * 2 + stages * 2 * 2,
        evaluations,
    }
}

/// The continuous adjoint: solve forwards, then solve the augmented system
/// [y' = f, a' = -a^T df/dy, g' = -a^T df/dtheta] backwards from (y(T), dL/dy(T), 0).
pub fn backsolve_adjoint(
    tableau: &ButcherTableau,
    field: &MlpField,
    y0: [f64; 2],
    t1: f64,
    steps: usize,
    target: [f64; 2],
) -> Gradients {
    let y_end = solve(tableau, field, y0, t1, steps);
    let (loss, cotangent) = terminal_loss(&y_end, target);
    let p = field.param_count();
    let mut state = vec![0.0; 4 + p];
    state[..2].copy_from_slice(&y_end);
    state[2..4].copy_from_slice(&cotangent);
    let mut evaluations = steps * tableau.stages();
    let mut augmented = |t: f64, s: &[f64], ds: &mut [f64]| {
        let y = &s[..2];
        let a = [s[2], s[3]];
        ds[..2].copy_from_slice(&field.eval(t, y));
        let mut grad_params = vec![0.0; p];
        let a_dfdy = field.vjp(t, y, a, &mut grad_params);
        ds[2] = -a_dfdy[0];
        ds[3] = -a_dfdy[1];
        for (d, g) in ds[4..].iter_mut().zip(&grad_params) {
            *d = -g;
        }
    };
    let h = t1 / steps as f64;
    for n in (0..steps).rev() {
        let t = (n + 1) as f64 * h;
        let step = rk_step(tableau, &mut augmented, t, &state, -h);
        evaluations += 2 * step.evaluations;
        state = step.y;
    }
    Gradients {
        loss,
        d_y0: [state[2], state[3]],
        d_params: state[4..].to_vec(),
        stored_floats: (4 + p) * (tableau.stages() + 1),
        evaluations,
    }
}
