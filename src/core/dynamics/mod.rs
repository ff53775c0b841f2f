//! Vector fields of ordinary differential equations with parameters, for the neural ODE lab:
//! the known systems ([`systems`]), networks and hybrids of the two ([`neural`]). Each gives
//! its value and its vector-Jacobian product in the state and in the parameters, which is
//! all the gradient methods of [`crate::core::adjoint::observed`] need.

pub mod field_model;
pub mod fit;
pub mod flow_plan;
pub mod neural;
pub mod precision;
pub mod systems;

/// y' = f(t, y; params). Parameters are passed in, so that one field serves the forward
/// solve, finite differences and the optimiser without copies.
pub trait VectorField {
    /// The state's dimension.
    fn dim(&self) -> usize;
    fn param_count(&self) -> usize;
    fn eval(&self, params: &[f64], t: f64, y: &[f64], dy: &mut [f64]);
    /// Adds a^T df/dy into `d_y` and a^T df/dparams into `d_params`.
    fn vjp(&self, params: &[f64], t: f64, y: &[f64], a: &[f64], d_y: &mut [f64], d_params: &mut [f64]);
    /// Whether the solvers store this field's states in single precision (the gradient
    /// panel's f32 switch, [`precision::RoundedToF32`]).
    fn single_precision(&self) -> bool {
        false
    }
}

/// Rounds `values` to f32 where `field` runs in single precision: what a solver does to each
/// state and adjoint it stores.
pub fn store(field: &dyn VectorField, values: &mut [f64]) {
    if field.single_precision() {
        for v in values.iter_mut() {
            *v = f64::from(*v as f32);
        }
    }
}

/// Central differences of a field's VJP, the check every implementation's test calls:
/// returns the largest absolute difference over the state and parameter parts.
#[cfg(test)]
pub fn vjp_error(field: &dyn VectorField, params: &[f64], t: f64, y: &[f64], a: &[f64]) -> f64 {
    let (n, p) = (field.dim(), field.param_count());
    let mut d_y = vec![0.0; n];
    let mut d_p = vec![0.0; p];
    field.vjp(params, t, y, a, &mut d_y, &mut d_p);
    let dot = |params: &[f64], y: &[f64]| {
        let mut dy = vec![0.0; n];
        field.eval(params, t, y, &mut dy);
        dy.iter().zip(a).map(|(u, v)| u * v).sum::<f64>()
    };
    let h = 1e-6;
    let mut worst: f64 = 0.0;
    for i in 0..n {
        let (mut plus, mut minus) = (y.to_vec(), y.to_vec());
        plus[i] += h;
        minus[i] -= h;
        worst = worst.max(((dot(params, &plus) - dot(params, &minus)) / (2.0 * h) - d_y[i]).abs());
    }
    for i in 0..p {
        let (mut plus, mut minus) = (params.to_vec(), params.to_vec());
        plus[i] += h;
        minus[i] -= h;
        worst = worst.max(((dot(&plus, y) - dot(&minus, y)) / (2.0 * h) - d_p[i]).abs());
    }
    worst
}
