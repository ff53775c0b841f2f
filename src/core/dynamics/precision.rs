//! The gradient panel's f32 switch: a field whose every input and output is rounded to single
//! precision (the state, the parameters, the cotangent, the value and the vector-Jacobian
//! products), and whose solves store every state and adjoint rounded to single precision
//! ([`super::store`]). The Runge-Kutta combinations inside one step are summed in f64, so this
//! is f32 storage with a wider accumulator, as a fused multiply-add gives: rounding of relative
//! 6e-8 at every step, where f64 has 1e-16.

use super::VectorField;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F64,
    F32,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::F64 => "f64",
            Precision::F32 => "f32",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "f64" => Ok(Precision::F64),
            "f32" => Ok(Precision::F32),
            _ => Err(format!("unknown precision '{name}': choose f64 or f32")),
        }
    }
}

fn rounded(values: &[f64]) -> Vec<f64> {
    values.iter().map(|&v| f64::from(v as f32)).collect()
}

/// `F` evaluated in single precision at its edges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundedToF32<F>(pub F);

impl<F: VectorField> VectorField for RoundedToF32<F> {
    fn dim(&self) -> usize {
        self.0.dim()
    }

    fn param_count(&self) -> usize {
        self.0.param_count()
    }

    fn eval(&self, params: &[f64], t: f64, y: &[f64], dy: &mut [f64]) {
        self.0.eval(&rounded(params), f64::from(t as f32), &rounded(y), dy);
        for v in dy.iter_mut() {
            *v = f64::from(*v as f32);
        }
    }

    fn single_precision(&self) -> bool {
        true
    }

    fn vjp(&self, params: &[f64], t: f64, y: &[f64], a: &[f64], d_y: &mut [f64], d_params: &mut [f64]) {
        let (mut dy, mut dp) = (vec![0.0; d_y.len()], vec![0.0; d_params.len()]);
        self.0.vjp(&rounded(params), f64::from(t as f32), &rounded(y), &rounded(a), &mut dy, &mut dp);
        for (slot, v) in d_y.iter_mut().zip(dy).chain(d_params.iter_mut().zip(dp)) {
            *slot += f64::from(v as f32);
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::super::systems::{System, SystemId};
    use super::*;

    #[test]
    fn values_are_the_f64_ones_rounded_and_names_round_trip() {
        let field = System(SystemId::Pendulum);
        let single = RoundedToF32(field);
        let (p, y) = ([1.0, 0.3], [0.7, -0.2]);
        let (mut a, mut b) = ([0.0; 2], [0.0; 2]);
        field.eval(&p, 0.0, &y, &mut a);
        single.eval(&p, 0.0, &y, &mut b);
        for (x, z) in a.iter().zip(&b) {
            assert_ne!(x, z);
            assert!((x - z).abs() <= 1e-7 * x.abs().max(1.0), "{x} vs {z}");
            assert_eq!(*z, f64::from(*z as f32));
        }
        for p in [Precision::F64, Precision::F32] {
            assert_eq!(Precision::from_name(p.name()).unwrap(), p);
        }
        assert!(Precision::from_name("f16").unwrap_err().contains("f64 or f32"));
    }
}
