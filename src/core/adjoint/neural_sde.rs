//! Gradients through a neural SDE dy = f(t, y) dt + diag(g(t, y)) o dW (Stratonovich), with f
//! and g MLPs and one fixed Brownian path, of L = |y(T) - target|^2 / 2:
//! - Reversible Heun, back-propagated with every state stored (discretise-then-optimise);
//! - Reversible Heun's own adjoint (Kidger et al. 2021): the backward pass rebuilds each state
//!   with the exact reverse step, so it gives the same gradient in constant memory;
//! - the continuous backsolve adjoint: the adjoint SDE solved backwards with Heun's method
//!   on the same path (approximate).
//!
//! With g = None the same code is a neural ODE solved with Reversible Heun.

use super::field::MlpField;
use super::neural_ode::{terminal_loss, Gradients};

/// The drift and (optional) diagonal diffusion fields; parameters are [drift, diffusion].
pub struct NeuralSde<'a> {
    pub drift: &'a MlpField,
    pub diffusion: Option<&'a MlpField>,
}

/// Reversible Heun's full state at one time: y, z and the fields at z.
#[derive(Debug, Clone, Copy, PartialEq)]
struct State {
    y: [f64; 2],
    z: [f64; 2],
    mu: [f64; 2],
    sigma: [f64; 2],
}

/// How the backward pass gets the states of the forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateMemory {
    /// Keep all N + 1 states (discretise-then-optimise).
    Stored,
    /// Keep one; rebuild the rest with the exact reverse step.
    Reversible,
}

impl NeuralSde<'_> {
    pub fn param_count(&self) -> usize {
        self.drift.param_count() + self.diffusion.map_or(0, |g| g.param_count())
    }

    fn sigma(&self, t: f64, y: &[f64]) -> [f64; 2] {
        self.diffusion.map_or([0.0; 2], |g| g.eval(t, y))
    }

    fn state_at(&self, t: f64, y: [f64; 2], z: [f64; 2]) -> State {
        State { y, z, mu: self.drift.eval(t, &z), sigma: self.sigma(t, &z) }
    }

    /// Adds mu_bar^T df/dz + sigma_bar^T dg/dz at z into z_bar, and the parameter parts.
    fn field_vjp(
        &self,
        t: f64,
        z: [f64; 2],
        mu_bar: [f64; 2],
        sigma_bar: [f64; 2],
        z_bar: &mut [f64; 2],
        d_params: &mut [f64],
    ) {
        let split = self.drift.param_count();
        let from_drift = self.drift.vjp(t, &z, mu_bar, &mut d_params[..split]);
        z_bar[0] += from_drift[0];
        z_bar[1] += from_drift[1];
        if let Some(g) = self.diffusion {
            let from_diffusion = g.vjp(t, &z, sigma_bar, &mut d_params[split..]);
            z_bar[0] += from_diffusion[0];
            z_bar[1] += from_diffusion[1];
        }
    }

    fn forward_step(&self, t: f64, h: f64, dw: [f64; 2], s: &State) -> State {
        let z = [0, 1].map(|d| 2.0 * s.y[d] - s.z[d] + s.mu[d] * h + s.sigma[d] * dw[d]);
        let next = self.state_at(t + h, s.y, z);
        let y = [0, 1].map(|d| s.y[d] + 0.5 * (s.mu[d] + next.mu[d]) * h + 0.5 * (s.sigma[d] + next.sigma[d]) * dw[d]);
        State { y, ..next }
    }

    fn reverse_step(&self, t_next: f64, h: f64, dw: [f64; 2], s: &State) -> State {
        let z = [0, 1].map(|d| 2.0 * s.y[d] - s.z[d] - s.mu[d] * h - s.sigma[d] * dw[d]);
        let prev = self.state_at(t_next - h, s.y, z);
        let y = [0, 1].map(|d| s.y[d] - 0.5 * (prev.mu[d] + s.mu[d]) * h - 0.5 * (prev.sigma[d] + s.sigma[d]) * dw[d]);
        State { y, ..prev }
    }

    /// y(T) by Reversible Heun with the given Brownian increments.
    pub fn solve(&self, y0: [f64; 2], t1: f64, increments: &[[f64; 2]]) -> [f64; 2] {
        let h = t1 / increments.len() as f64;
        let mut s = self.state_at(0.0, y0, y0);
        for (n, dw) in increments.iter().enumerate() {
            s = self.forward_step(n as f64 * h, h, *dw, &s);
        }
        s.y
    }

    /// Exact gradients of the Reversible Heun solution.
    pub fn reversible_heun_gradients(
        &self,
        y0: [f64; 2],
        t1: f64,
        increments: &[[f64; 2]],
        target: [f64; 2],
        memory: StateMemory,
    ) -> Gradients {
        let steps = increments.len();
        let h = t1 / steps as f64;
        let mut s = self.state_at(0.0, y0, y0);
        let mut stored = vec![s];
        for (n, dw) in increments.iter().enumerate() {
            s = self.forward_step(n as f64 * h, h, *dw, &s);
            if memory == StateMemory::Stored {
                stored.push(s);
            }
        }
        let (loss, cotangent) = terminal_loss(&s.y, target);
        let mut d_params = vec![0.0; self.param_count()];
        // Adjoints of (y, z, mu, sigma) at step n + 1.
        let (mut y_bar, mut z_bar, mut mu_bar, mut sigma_bar) = (cotangent, [0.0; 2], [0.0; 2], [0.0; 2]);
        for n in (0..steps).rev() {
            let dw = increments[n];
            let t_next = (n + 1) as f64 * h;
            let next = if memory == StateMemory::Stored { stored[n + 1] } else { s };
            // y_{n+1} = y_n + (mu_n + mu_{n+1}) h/2 + (sigma_n + sigma_{n+1}) dW/2.
            let mut mu_bar_n = [0, 1].map(|d| 0.5 * h * y_bar[d]);
            let mut sigma_bar_n = [0, 1].map(|d| 0.5 * dw[d] * y_bar[d]);
            for d in 0..2 {
                mu_bar[d] += 0.5 * h * y_bar[d];
                sigma_bar[d] += 0.5 * dw[d] * y_bar[d];
            }
            // mu_{n+1}, sigma_{n+1} are the fields at z_{n+1}.
            self.field_vjp(t_next, next.z, mu_bar, sigma_bar, &mut z_bar, &mut d_params);
            // z_{n+1} = 2 y_n - z_n + mu_n h + sigma_n dW.
            let y_bar_n = [0, 1].map(|d| y_bar[d] + 2.0 * z_bar[d]);
            for d in 0..2 {
                mu_bar_n[d] += h * z_bar[d];
                sigma_bar_n[d] += dw[d] * z_bar[d];
            }
            (y_bar, z_bar, mu_bar, sigma_bar) = (y_bar_n, z_bar.map(|v| -v), mu_bar_n, sigma_bar_n);
            if memory == StateMemory::Reversible {
                s = self.reverse_step(t_next, h, dw, &s);
            }
        }
        // z_0 = y_0 and mu_0, sigma_0 are the fields at z_0.
        self.field_vjp(0.0, y0, mu_bar, sigma_bar, &mut z_bar, &mut d_params);
        let states_held = if memory == StateMemory::Stored { steps + 1 } else { 1 };
        Gradients {
            loss,
            d_y0: [y_bar[0] + z_bar[0], y_bar[1] + z_bar[1]],
            d_params,
            stored_floats: states_held * 8 + 8,
            evaluations: steps * if memory == StateMemory::Stored { 2 } else { 3 },
        }
    }

    /// y(T) by Heun's (Stratonovich) method: the forward solve of the backsolve adjoint.
    pub fn solve_heun(&self, y0: [f64; 2], t1: f64, increments: &[[f64; 2]]) -> [f64; 2] {
        let h = t1 / increments.len() as f64;
        let mut y = y0;
        for (n, dw) in increments.iter().enumerate() {
            let t = n as f64 * h;
            let (f0, g0) = (self.drift.eval(t, &y), self.sigma(t, &y));
            let p = [0, 1].map(|d| y[d] + f0[d] * h + g0[d] * dw[d]);
            let (f1, g1) = (self.drift.eval(t + h, &p), self.sigma(t + h, &p));
            y = [0, 1].map(|d| y[d] + 0.5 * (f0[d] + f1[d]) * h + 0.5 * (g0[d] + g1[d]) * dw[d]);
        }
        y
    }

    /// The continuous adjoint, solved backwards with Heun's method on the same path:
    /// X = [y, a, theta_bar], dX = F dt + G o dW with F = [f, -a^T df/dy, -a^T df/dtheta] and
    /// G dW = [g dW, -(a dW)^T dg/dy, -(a dW)^T dg/dtheta] (diagonal noise).
    pub fn backsolve_gradients(&self, y0: [f64; 2], t1: f64, increments: &[[f64; 2]], target: [f64; 2]) -> Gradients {
        let steps = increments.len();
        let h = t1 / steps as f64;
        let y_end = self.solve_heun(y0, t1, increments);
        let (loss, cotangent) = terminal_loss(&y_end, target);
        let p = self.param_count();
        let split = self.drift.param_count();
        // dX for a step of length `dt` with increment `dw`: F dt + G dw.
        let increment = |t: f64, x: &[f64], dt: f64, dw: [f64; 2]| -> Vec<f64> {
            let (y, a) = ([x[0], x[1]], [x[2], x[3]]);
            let mut out = vec![0.0; 4 + p];
            let (f, g) = (self.drift.eval(t, &y), self.sigma(t, &y));
            let mut grad = vec![0.0; p];
            let a_dfdy = self.drift.vjp(t, &y, a, &mut grad[..split]);
            let mut a_dgdy = [0.0; 2];
            if let Some(diffusion) = self.diffusion {
                a_dgdy = diffusion.vjp(t, &y, [a[0] * dw[0], a[1] * dw[1]], &mut grad[split..]);
            }
            for d in 0..2 {
                out[d] = f[d] * dt + g[d] * dw[d];
                out[2 + d] = -a_dfdy[d] * dt - a_dgdy[d];
            }
            for (i, g) in grad.iter().enumerate() {
                let scale = if i < split { dt } else { 1.0 };
                out[4 + i] = -g * scale;
            }
            out
        };
        let mut x = vec![0.0; 4 + p];
        x[..2].copy_from_slice(&y_end);
        x[2..4].copy_from_slice(&cotangent);
        for n in (0..steps).rev() {
            let t = (n + 1) as f64 * h;
            let dw = [-increments[n][0], -increments[n][1]];
            let k0 = increment(t, &x, -h, dw);
            let predictor: Vec<f64> = x.iter().zip(&k0).map(|(a, b)| a + b).collect();
            let k1 = increment(t - h, &predictor, -h, dw);
            for i in 0..x.len() {
                x[i] += 0.5 * (k0[i] + k1[i]);
            }
        }
        Gradients {
            loss,
            d_y0: [x[2], x[3]],
            d_params: x[4..].to_vec(),
            stored_floats: 3 * (4 + p),
            evaluations: steps * 2 + steps * 4,
        }
    }
}
