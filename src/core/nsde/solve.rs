//! Solving an [`SdeField`] on a fixed grid with given Brownian increments, and the exact
//! gradient of a loss summed over the grid's states (discretise-then-optimise):
//!
//! - Euler-Maruyama (Ito): y' = y + f h + g dW; backward by stored states.
//! - Reversible Heun (Stratonovich; Kidger et al. 2021): a second state z,
//!   z' = 2y - z + f(z) h + g(z) dW, y' = y + (f(z) + f(z'))h/2 + (g(z) + g(z'))dW/2, one field
//!   evaluation per step. Its backward pass either reads stored states or rebuilds each from
//!   the next by the exact algebraic reverse step, so the adjoint of the discrete solve costs
//!   constant memory and equals stored back-propagation up to the reconstruction's rounding.
//!
//! The backward pass carries cotangents of (y, z, f(z), g(z)): the field values at z_n are used
//! by two steps, and carrying them means one VJP per step instead of two.

use super::field::SdeField;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdeMethod {
    EulerMaruyama,
    ReversibleHeun,
}

impl SdeMethod {
    pub const ALL: [SdeMethod; 2] = [SdeMethod::ReversibleHeun, SdeMethod::EulerMaruyama];

    pub fn name(self) -> &'static str {
        match self {
            SdeMethod::EulerMaruyama => "em",
            SdeMethod::ReversibleHeun => "reversible-heun",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| format!("unknown solver '{name}': choose reversible-heun or em"))
    }

    /// Which calculus the solver converges to.
    pub fn calculus(self) -> &'static str {
        match self {
            SdeMethod::EulerMaruyama => "Ito",
            SdeMethod::ReversibleHeun => "Stratonovich",
        }
    }
}

/// How the backward pass gets the forward states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Memory {
    /// Keep all of them.
    Stored,
    /// Keep the last; rebuild the rest by reversible Heun's reverse step.
    Reversible,
}

/// f and g at one point.
#[derive(Debug, Clone, PartialEq)]
struct Coefficients {
    f: Vec<f64>,
    g: Vec<f64>,
}

fn coefficients(field: &impl SdeField, t: f64, y: &[f64]) -> Coefficients {
    let (d, m) = (field.dim(), field.noise_dim());
    let mut c = Coefficients { f: vec![0.0; d], g: vec![0.0; d * m] };
    field.eval(t, y, &mut c.f, &mut c.g);
    c
}

/// base + a f h + a g dW (the increment of the field over one step, scaled by a).
fn add_increment(base: &mut [f64], c: &Coefficients, h: f64, dw: &[f64], a: f64) {
    let m = dw.len();
    for (i, b) in base.iter_mut().enumerate() {
        let noise: f64 = (0..m).map(|k| c.g[i * m + k] * dw[k]).sum();
        *b += a * (c.f[i] * h + noise);
    }
}

/// One reversible Heun state: the solution, the auxiliary state and the field there.
#[derive(Debug, Clone, PartialEq)]
struct HeunState {
    y: Vec<f64>,
    z: Vec<f64>,
    at_z: Coefficients,
}

fn heun_forward(field: &impl SdeField, t_next: f64, h: f64, dw: &[f64], s: &HeunState) -> HeunState {
    let mut z: Vec<f64> = s.y.iter().zip(&s.z).map(|(y, z)| 2.0 * y - z).collect();
    add_increment(&mut z, &s.at_z, h, dw, 1.0);
    let at_z = coefficients(field, t_next, &z);
    let mut y = s.y.clone();
    add_increment(&mut y, &s.at_z, h, dw, 0.5);
    add_increment(&mut y, &at_z, h, dw, 0.5);
    HeunState { y, z, at_z }
}

fn heun_reverse(field: &impl SdeField, t_prev: f64, h: f64, dw: &[f64], s: &HeunState) -> HeunState {
    let mut z: Vec<f64> = s.y.iter().zip(&s.z).map(|(y, z)| 2.0 * y - z).collect();
    add_increment(&mut z, &s.at_z, h, dw, -1.0);
    let at_z = coefficients(field, t_prev, &z);
    let mut y = s.y.clone();
    add_increment(&mut y, &s.at_z, h, dw, -0.5);
    add_increment(&mut y, &at_z, h, dw, -0.5);
    HeunState { y, z, at_z }
}

fn check_grid(field: &impl SdeField, times: &[f64], y0: &[f64], increments: &[Vec<f64>]) -> Result<(), String> {
    if times.len() < 2 || increments.len() != times.len() - 1 {
        return Err(format!(
            "a solve needs n + 1 times and n increments, got {} and {}",
            times.len(),
            increments.len()
        ));
    }
    if times.windows(2).any(|w| w[1].partial_cmp(&w[0]) != Some(std::cmp::Ordering::Greater)) {
        return Err("the solve's times must increase".into());
    }
    if y0.len() != field.dim() || increments.iter().any(|dw| dw.len() != field.noise_dim()) {
        return Err(format!(
            "state of {} and increments of {} for a field of {} x {}",
            y0.len(),
            increments[0].len(),
            field.dim(),
            field.noise_dim()
        ));
    }
    Ok(())
}

/// y at every grid time.
pub fn solve(
    field: &impl SdeField,
    method: SdeMethod,
    times: &[f64],
    y0: &[f64],
    increments: &[Vec<f64>],
) -> Result<Vec<Vec<f64>>, String> {
    check_grid(field, times, y0, increments)?;
    let mut states = vec![y0.to_vec()];
    match method {
        SdeMethod::EulerMaruyama => {
            for (n, dw) in increments.iter().enumerate() {
                let y = states.last().expect("a state");
                let c = coefficients(field, times[n], y);
                let mut next = y.clone();
                add_increment(&mut next, &c, times[n + 1] - times[n], dw, 1.0);
                states.push(next);
            }
        }
        SdeMethod::ReversibleHeun => {
            let mut s = HeunState { y: y0.to_vec(), z: y0.to_vec(), at_z: coefficients(field, times[0], y0) };
            for (n, dw) in increments.iter().enumerate() {
                s = heun_forward(field, times[n + 1], times[n + 1] - times[n], dw, &s);
                states.push(s.y.clone());
            }
        }
    }
    Ok(states)
}

/// A loss term at one grid time: its value and its gradient in y there.
pub type Observation = Option<(f64, Vec<f64>)>;

/// The result of [`backprop`]: the loss, its gradient in y0 and in the field's parameters,
/// the final state, and the field evaluations and VJPs spent.
#[derive(Debug, Clone, PartialEq)]
pub struct Backprop {
    pub loss: f64,
    pub final_state: Vec<f64>,
    pub y0_bar: Vec<f64>,
    pub p_bar: Vec<f64>,
    pub evaluations: usize,
    pub vjps: usize,
    /// States held at once by the backward pass (grid length for stored, 1 for reversible).
    pub states_held: usize,
}

/// Solves forward calling `observe(n, y_n)` for the loss at each grid time, then returns the
/// exact gradient of the summed loss of the discrete solve.
pub fn backprop(
    field: &impl SdeField,
    method: SdeMethod,
    memory: Memory,
    times: &[f64],
    y0: &[f64],
    increments: &[Vec<f64>],
    mut observe: impl FnMut(usize, &[f64]) -> Observation,
) -> Result<Backprop, String> {
    check_grid(field, times, y0, increments)?;
    if method == SdeMethod::EulerMaruyama && memory == Memory::Reversible {
        return Err("Euler-Maruyama has no exact reverse step: use stored states, or reversible Heun".into());
    }
    let (d, m, n_steps) = (field.dim(), field.noise_dim(), increments.len());
    let mut loss = 0.0;
    let mut grads: Vec<Option<Vec<f64>>> = vec![None; n_steps + 1];
    let mut take = |n: usize, y: &[f64], loss: &mut f64, grads: &mut Vec<Option<Vec<f64>>>| {
        if let Some((value, grad)) = observe(n, y) {
            *loss += value;
            grads[n] = Some(grad);
        }
    };
    let mut p_bar = vec![0.0; field.param_count()];
    let mut evaluations = 0;
    let mut vjps = 0;
    let h_of = |n: usize| times[n + 1] - times[n];
    match method {
        SdeMethod::EulerMaruyama => {
            let mut states = vec![y0.to_vec()];
            take(0, y0, &mut loss, &mut grads);
            for (n, dw) in increments.iter().enumerate() {
                let c = coefficients(field, times[n], &states[n]);
                evaluations += 1;
                let mut next = states[n].clone();
                add_increment(&mut next, &c, h_of(n), dw, 1.0);
                take(n + 1, &next, &mut loss, &mut grads);
                states.push(next);
            }
            let mut y_bar = grads[n_steps].clone().unwrap_or_else(|| vec![0.0; d]);
            for n in (0..n_steps).rev() {
                let (f_bar, g_bar) = field_cotangents(&y_bar, h_of(n), &increments[n], 1.0, m);
                let mut below = y_bar.clone();
                field.vjp(times[n], &states[n], &f_bar, &g_bar, &mut below, &mut p_bar);
                vjps += 1;
                if let Some(g) = &grads[n] {
                    below.iter_mut().zip(g).for_each(|(b, g)| *b += g);
                }
                y_bar = below;
            }
            let final_state = states.pop().expect("a state");
            let held = n_steps + 1;
            Ok(Backprop { loss, final_state, y0_bar: y_bar, p_bar, evaluations, vjps, states_held: held })
        }
        SdeMethod::ReversibleHeun => {
            let mut s = HeunState { y: y0.to_vec(), z: y0.to_vec(), at_z: coefficients(field, times[0], y0) };
            evaluations += 1;
            take(0, y0, &mut loss, &mut grads);
            let mut stored = Vec::new();
            for (n, dw) in increments.iter().enumerate() {
                if memory == Memory::Stored {
                    stored.push(s.clone());
                }
                s = heun_forward(field, times[n + 1], h_of(n), dw, &s);
                evaluations += 1;
                take(n + 1, &s.y, &mut loss, &mut grads);
            }
            let final_state = s.y.clone();
            // Cotangents of the state n + 1: (y, z, f(z), g(z)).
            let mut y_bar = grads[n_steps].clone().unwrap_or_else(|| vec![0.0; d]);
            let mut z_bar = vec![0.0; d];
            let mut f_bar = vec![0.0; d];
            let mut g_bar = vec![0.0; d * m];
            for n in (0..n_steps).rev() {
                let (h, dw) = (h_of(n), &increments[n]);
                // y' = y + (f + f') h / 2 + (g + g') dW / 2.
                let (half_f, half_g) = field_cotangents(&y_bar, h, dw, 0.5, m);
                add(&mut f_bar, &half_f);
                add(&mut g_bar, &half_g);
                // f', g' are the field at z'.
                field.vjp(times[n + 1], &s.z, &f_bar, &g_bar, &mut z_bar, &mut p_bar);
                vjps += 1;
                // z' = 2y - z + f h + g dW.
                let (z_f, z_g) = field_cotangents(&z_bar, h, dw, 1.0, m);
                let mut y_prev_bar = y_bar.clone();
                y_prev_bar.iter_mut().zip(&z_bar).for_each(|(y, z)| *y += 2.0 * z);
                f_bar = half_f;
                add(&mut f_bar, &z_f);
                g_bar = half_g;
                add(&mut g_bar, &z_g);
                z_bar.iter_mut().for_each(|z| *z = -*z);
                if let Some(g) = &grads[n] {
                    add(&mut y_prev_bar, g);
                }
                y_bar = y_prev_bar;
                s = match memory {
                    Memory::Stored => stored.pop().expect("a stored state"),
                    Memory::Reversible => {
                        evaluations += 1;
                        heun_reverse(field, times[n], h, dw, &s)
                    }
                };
            }
            // f_0, g_0 are the field at z_0 = y_0.
            field.vjp(times[0], &s.z, &f_bar, &g_bar, &mut z_bar, &mut p_bar);
            vjps += 1;
            add(&mut y_bar, &z_bar);
            let held = if memory == Memory::Stored { n_steps + 1 } else { 1 };
            Ok(Backprop { loss, final_state, y0_bar: y_bar, p_bar, evaluations, vjps, states_held: held })
        }
    }
}

fn add(a: &mut [f64], b: &[f64]) {
    a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
}

/// The cotangents of f and g from the cotangent `c` of a * (f h + g dW).
fn field_cotangents(c: &[f64], h: f64, dw: &[f64], a: f64, m: usize) -> (Vec<f64>, Vec<f64>) {
    let f_bar = c.iter().map(|c| a * h * c).collect();
    let mut g_bar = vec![0.0; c.len() * m];
    for (i, ci) in c.iter().enumerate() {
        for k in 0..m {
            g_bar[i * m + k] = a * ci * dw[k];
        }
    }
    (f_bar, g_bar)
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::nsde::field::GeneratorField;
    use crate::core::solve::brownian::VirtualBrownianTree;

    fn problem() -> (GeneratorField, Vec<f64>, Vec<Vec<f64>>, Vec<f64>) {
        let field = GeneratorField::new(3, 2, 8, 1).unwrap().initialised(4, 10, 1.0);
        let steps = 24;
        let times: Vec<f64> = (0..=steps).map(|i| 1.5 * i as f64 / steps as f64).collect();
        let tree = VirtualBrownianTree::new(9, 0, 0.0, 1.5, 2);
        let increments = times.windows(2).map(|w| tree.increment(w[0], w[1])).collect();
        (field, times, increments, vec![0.3, -0.2, 0.5])
    }

    /// Squared distance to a target at every fourth grid time.
    fn observe(n: usize, y: &[f64]) -> Observation {
        (n % 4 == 0 && n > 0).then(|| {
            let target = [0.1 * n as f64, -0.2, 0.05];
            let r: Vec<f64> = y.iter().zip(target).map(|(y, t)| y - t).collect();
            (0.5 * r.iter().map(|r| r * r).sum::<f64>(), r)
        })
    }

    fn loss_of(field: &GeneratorField, method: SdeMethod, times: &[f64], y0: &[f64], incs: &[Vec<f64>]) -> f64 {
        let states = solve(field, method, times, y0, incs).unwrap();
        states.iter().enumerate().filter_map(|(n, y)| observe(n, y)).map(|(l, _)| l).sum()
    }

    /// The reversible adjoint equals stored back-propagation to 1e-9 (f64), and both equal
    /// central differences of the discrete loss on the same Brownian path to 1e-6; for EM,
    /// stored back-propagation against central differences.
    #[test]
    fn gradients_agree_with_each_other_and_with_finite_differences() {
        let (field, times, incs, y0) = problem();
        let stored = backprop(&field, SdeMethod::ReversibleHeun, Memory::Stored, &times, &y0, &incs, observe).unwrap();
        let reversible =
            backprop(&field, SdeMethod::ReversibleHeun, Memory::Reversible, &times, &y0, &incs, observe).unwrap();
        let worst = stored.p_bar.iter().zip(&reversible.p_bar).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        let scale = stored.p_bar.iter().map(|v| v.abs()).fold(0.0, f64::max);
        assert!(worst <= 1e-9 * scale.max(1.0), "reversible vs stored: {worst} (scale {scale})");
        for (a, b) in stored.y0_bar.iter().zip(&reversible.y0_bar) {
            assert!((a - b).abs() <= 1e-9, "y0 gradient {a} vs {b}");
        }
        assert_eq!(reversible.states_held, 1);
        for method in SdeMethod::ALL {
            let result = backprop(&field, method, Memory::Stored, &times, &y0, &incs, observe).unwrap();
            assert!((result.loss - loss_of(&field, method, &times, &y0, &incs)).abs() < 1e-12);
            let eps = 1e-6;
            for i in (0..field.params.len()).step_by(7) {
                let (mut up, mut down) = (field.clone(), field.clone());
                up.params[i] += eps;
                down.params[i] -= eps;
                let fd = (loss_of(&up, method, &times, &y0, &incs) - loss_of(&down, method, &times, &y0, &incs))
                    / (2.0 * eps);
                assert!(
                    (fd - result.p_bar[i]).abs() <= 1e-6 * (1.0 + fd.abs()),
                    "{} param {i}: {} vs FD {fd}",
                    method.name(),
                    result.p_bar[i]
                );
            }
            for k in 0..y0.len() {
                let (mut up, mut down) = (y0.clone(), y0.clone());
                up[k] += eps;
                down[k] -= eps;
                let fd = (loss_of(&field, method, &times, &up, &incs) - loss_of(&field, method, &times, &down, &incs))
                    / (2.0 * eps);
                assert!((fd - result.y0_bar[k]).abs() <= 1e-6 * (1.0 + fd.abs()), "{} y0[{k}]", method.name());
            }
        }
        assert!(backprop(&field, SdeMethod::EulerMaruyama, Memory::Reversible, &times, &y0, &incs, observe)
            .unwrap_err()
            .contains("no exact reverse"));
    }
}
