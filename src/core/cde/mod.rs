//! Neural controlled differential equations: dz = f(z) dX, a hidden state driven by a control
//! path (`core::path`) built from an irregular series. Solved as the ODE z' = f(z) X'(t), knot
//! interval by knot interval (`solve`), with back-propagation through the stored steps; the
//! classifier around it (`model`) reads z0 from the first observation and a logit from z(T).
//!
//! A field gives an h x C matrix for a hidden state z (h values) and a path of C channels; the
//! solver only needs its value and its vector-Jacobian product.

pub mod data;
pub mod fit;
pub mod model;
pub mod solve;

use crate::core::nn::dense::{Dense, DenseTape};
use crate::core::nn::dense_activation::DenseActivation;

/// z -> f(z), an h x C matrix (row-major: f[i * C + c]).
pub trait CdeField {
    fn hidden(&self) -> usize;
    fn channels(&self) -> usize;
    fn param_count(&self) -> usize;
    fn eval(&self, params: &[f64], z: &[f64], out: &mut [f64]);
    /// Adds cot : df/dz into `d_z` and cot : df/dparams into `d_params`, for a cotangent of
    /// the matrix (h x C, row-major).
    fn vjp(&self, params: &[f64], z: &[f64], cot: &[f64], d_z: &mut [f64], d_params: &mut [f64]);
}

/// The neural field: an MLP h -> width (depth) -> h C with a final tanh (torchcde: "best
/// results tend to be obtained by adding a final tanh"), reshaped to h x C.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuralCdeField {
    pub net: Dense,
    pub hidden: usize,
    pub channels: usize,
}

impl NeuralCdeField {
    pub fn new(
        hidden: usize,
        channels: usize,
        width: usize,
        depth: usize,
        activation: DenseActivation,
    ) -> Result<Self, String> {
        Ok(NeuralCdeField {
            net: Dense::mlp(hidden, width, depth, hidden * channels, activation, DenseActivation::Tanh)?,
            hidden,
            channels,
        })
    }
}

impl CdeField for NeuralCdeField {
    fn hidden(&self) -> usize {
        self.hidden
    }
    fn channels(&self) -> usize {
        self.channels
    }
    fn param_count(&self) -> usize {
        self.net.param_count()
    }
    fn eval(&self, params: &[f64], z: &[f64], out: &mut [f64]) {
        out.copy_from_slice(&self.net.forward(params, z));
    }
    fn vjp(&self, params: &[f64], z: &[f64], cot: &[f64], d_z: &mut [f64], d_params: &mut [f64]) {
        let mut tape = DenseTape::default();
        self.net.forward_taped(params, z, &mut tape);
        for (d, v) in d_z.iter_mut().zip(self.net.vjp_taped(params, &tape, cot, d_params)) {
            *d += v;
        }
    }
}

/// f(z) = M, constant (its parameters are M): the exactness check's field.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstantField {
    pub hidden: usize,
    pub channels: usize,
}

impl CdeField for ConstantField {
    fn hidden(&self) -> usize {
        self.hidden
    }
    fn channels(&self) -> usize {
        self.channels
    }
    fn param_count(&self) -> usize {
        self.hidden * self.channels
    }
    fn eval(&self, params: &[f64], _z: &[f64], out: &mut [f64]) {
        out.copy_from_slice(params);
    }
    fn vjp(&self, _params: &[f64], _z: &[f64], cot: &[f64], _d_z: &mut [f64], d_params: &mut [f64]) {
        d_params.iter_mut().zip(cot).for_each(|(d, c)| *d += c);
    }
}

/// One channel and f(z) = A z (its parameters are A, h x h): dz = A z dX has the solution
/// z(T) = exp(A (X(T) - X(t0))) z0.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearField {
    pub hidden: usize,
}

impl CdeField for LinearField {
    fn hidden(&self) -> usize {
        self.hidden
    }
    fn channels(&self) -> usize {
        1
    }
    fn param_count(&self) -> usize {
        self.hidden * self.hidden
    }
    fn eval(&self, params: &[f64], z: &[f64], out: &mut [f64]) {
        let h = self.hidden;
        for (i, o) in out.iter_mut().enumerate() {
            *o = (0..h).map(|j| params[i * h + j] * z[j]).sum();
        }
    }
    fn vjp(&self, params: &[f64], z: &[f64], cot: &[f64], d_z: &mut [f64], d_params: &mut [f64]) {
        let h = self.hidden;
        for i in 0..h {
            for j in 0..h {
                d_z[j] += cot[i] * params[i * h + j];
                d_params[i * h + j] += cot[i] * z[j];
            }
        }
    }
}
