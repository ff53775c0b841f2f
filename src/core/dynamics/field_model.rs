//! A trained vector field as a plan model: what lets the plan executors (the CPU's and the
//! WGSL interpreter) integrate a neural ODE that is not a diffusion model. The network is the
//! learned field's dense network with a linear readout, in f32 on both executors; a small
//! head turns its output into the field:
//!
//! - pure neural field: y' = s * tanh(out) (s one learned scale per component);
//! - hybrid field: y' = K b(y) + out, with the known physics written in the basis
//!   b(y) = (y0, y1, sin y0, y0 y1), which holds the known part of every lab system that has
//!   one (the pendulum's (y1, -w^2 sin y0), Lotka-Volterra's (a y0 - b y0 y1, d y0 y1 - g y1)).
//!
//! The network takes the state alone (no time features: the lab's fields are autonomous), so
//! the WGSL MLP reads a shape whose input is the state's two values.

use super::fit::LearnedField;
use super::systems::SystemId;
use crate::core::nn::dense::{Dense, DenseBatch};
use crate::core::nn::dense_activation::DenseActivation;
use crate::core::nn::parallel::for_each_mut;
use crate::core::param::Parameterisation;
use crate::core::sample::model::{Model, ModelData};

/// Rows per job of a batched evaluation (a thread's share is several of them).
const THREAD_ROWS: usize = 1024;

/// Values of the known-physics basis per component.
pub const BASIS: usize = 4;

/// How the network's output becomes the field's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldHead {
    /// y' = scale * tanh(out).
    ScaledTanh { scale: [f32; 2] },
    /// y' = known[i] . (y0, y1, sin y0, y0 y1) + out.
    KnownPlus { known: [[f32; BASIS]; 2] },
}

/// The basis the known physics is written in, and its derivative in y.
fn basis(y: [f32; 2]) -> ([f32; BASIS], [[f32; 2]; BASIS]) {
    let (a, b) = (y[0], y[1]);
    ([a, b, a.sin(), a * b], [[1.0, 0.0], [0.0, 1.0], [a.cos(), 0.0], [b, a]])
}

/// The known part of `system` with `params` in the basis, where the system has one a hybrid
/// can use.
pub fn known_coefficients(system: SystemId, p: &[f64]) -> Option<[[f64; BASIS]; 2]> {
    match system {
        // (y1, -p0 sin y0 - p1 y1)
        SystemId::Pendulum => Some([[0.0, 1.0, 0.0, 0.0], [0.0, -p[1], -p[0], 0.0]]),
        // (p0 y0 - p1 y0 y1, p2 y0 y1 - p3 y1)
        SystemId::LotkaVolterra => Some([[p[0], 0.0, 0.0, -p[1]], [0.0, -p[3], 0.0, p[2]]]),
        _ => None,
    }
}

/// A learned field as the executors evaluate it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldModel {
    /// 2 -> width (depth) -> 2 with a linear readout.
    pub net: Dense,
    pub params: Vec<f32>,
    pub head: FieldHead,
}

impl FieldModel {
    /// The model of a learned field at `params` (rounded to f32, as both executors run it).
    pub fn of(field: &LearnedField, params: &[f64]) -> Result<Self, String> {
        let to_f32 = |v: &[f64]| v.iter().map(|&p| p as f32).collect::<Vec<f32>>();
        let model = match field {
            LearnedField::Neural(f) => {
                let k = f.net.param_count();
                if params.len() != k + 2 {
                    return Err(format!("a neural field has {} parameters, not {}", k + 2, params.len()));
                }
                // The field's last tanh moves into the head, so the network ends linear.
                let net = Dense { last: DenseActivation::Identity, ..f.net.clone() };
                FieldModel {
                    net,
                    params: to_f32(&params[..k]),
                    head: FieldHead::ScaledTanh { scale: [params[k] as f32, params[k + 1] as f32] },
                }
            }
            LearnedField::Hybrid(f) => {
                if params.len() != f.net.param_count() {
                    return Err(format!("a hybrid field has {} parameters, not {}", f.net.param_count(), params.len()));
                }
                let known = known_coefficients(f.known.0, &f.known_params)
                    .ok_or_else(|| format!("{} has no known part in the executors' basis", f.known.0.name()))?;
                FieldModel {
                    net: f.net.clone(),
                    params: to_f32(params),
                    head: FieldHead::KnownPlus { known: known.map(|row| row.map(|c| c as f32)) },
                }
            }
        };
        if model.net.input_dim() != 2 || model.net.output_dim() != 2 {
            return Err(format!("the executors integrate fields on the plane; this network is {:?}", model.net.dims));
        }
        Ok(model)
    }

    /// The head applied to one network output at y.
    fn apply_head(&self, y: [f32; 2], out: [f32; 2]) -> [f32; 2] {
        match self.head {
            FieldHead::ScaledTanh { scale } => [scale[0] * out[0].tanh(), scale[1] * out[1].tanh()],
            FieldHead::KnownPlus { known } => {
                let (b, _) = basis(y);
                [0, 1].map(|i| known[i].iter().zip(b).map(|(k, v)| k * v).sum::<f32>() + out[i])
            }
        }
    }

    /// The field's value at y, in f32.
    pub fn value(&self, y: [f32; 2]) -> [f32; 2] {
        let out = self.net.forward(&self.params, &y);
        self.apply_head(y, [out[0], out[1]])
    }

    /// The field's value and Jacobian (`jacobian[o][j] = d f_o / d y_j`).
    pub fn value_with_jacobian(&self, y: [f32; 2]) -> ([f32; 2], [[f32; 2]; 2]) {
        let out = self.net.forward(&self.params, &y);
        let j = self.net.jacobian(&self.params, &y); // row-major, outputs x inputs
        let net_j = [[j[0], j[1]], [j[2], j[3]]];
        match self.head {
            FieldHead::ScaledTanh { scale } => {
                let value = [0, 1].map(|o| scale[o] * out[o].tanh());
                let slope = [0, 1].map(|o| scale[o] * (1.0 - out[o].tanh() * out[o].tanh()));
                (value, [0, 1].map(|o| net_j[o].map(|v| slope[o] * v)))
            }
            FieldHead::KnownPlus { known } => {
                let (_, d_basis) = basis(y);
                let value = self.apply_head(y, [out[0], out[1]]);
                let jacobian = [0, 1].map(|o| {
                    [0, 1].map(|d| net_j[o][d] + known[o].iter().zip(&d_basis).map(|(k, db)| k * db[d]).sum::<f32>())
                });
                (value, jacobian)
            }
        }
    }
}

impl Model for FieldModel {
    /// A field's output is a velocity: plans for it are built with the flow parameterisation
    /// and read the output as it is (`PlanBuilder::eval_raw`).
    fn param(&self) -> Parameterisation {
        Parameterisation::Flow
    }

    fn eval(&mut self, x: [f32; 2], _t: f64) -> [f32; 2] {
        self.value(x)
    }

    fn eval_batch(&mut self, xs: &[[f32; 2]], _t: f64, out: &mut [[f32; 2]]) {
        let params: Vec<f64> = self.params.iter().map(|&p| f64::from(p)).collect();
        let batch = DenseBatch::new(&self.net, &params);
        // Blocks of rows on the machine's threads (one in the browser): each a batched pass
        // and the head.
        let mut blocks: Vec<(&[[f32; 2]], &mut [[f32; 2]])> =
            xs.chunks(THREAD_ROWS).zip(out.chunks_mut(THREAD_ROWS)).collect();
        let this = &*self;
        for_each_mut(&mut blocks, 1, |_, (xs, out)| {
            let rows: Vec<f32> = xs.iter().flatten().copied().collect();
            let mut outputs = Vec::new();
            batch.forward(&rows, &mut outputs);
            for ((o, x), raw) in out.iter_mut().zip(xs.iter()).zip(outputs.chunks_exact(2)) {
                *o = this.apply_head(*x, [raw[0], raw[1]]);
            }
        });
    }

    fn eval_with_jacobian(&mut self, x: [f32; 2], _t: f64) -> ([f32; 2], [[f32; 2]; 2]) {
        self.value_with_jacobian(x)
    }

    fn data(&self) -> ModelData {
        ModelData::Field(self.clone())
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::dynamics::neural::{HybridField, NeuralField};
    use crate::core::dynamics::systems::System;
    use crate::core::dynamics::VectorField;

    fn points() -> Vec<[f32; 2]> {
        vec![[0.3, -0.8], [1.2, 0.4], [-2.0, 1.5], [0.05, 3.0]]
    }

    /// The f32 model is the learned field: the same values as the f64 field to f32 rounding,
    /// for the pure network and both hybrids (so the basis holds their known parts).
    #[test]
    fn the_model_evaluates_the_learned_field() {
        let mut fields = vec![LearnedField::Neural(NeuralField::new(2, 16, 2, DenseActivation::Softplus).unwrap())];
        for id in [SystemId::Pendulum, SystemId::LotkaVolterra] {
            fields.push(LearnedField::Hybrid(HybridField::new(System(id), 8, 2, DenseActivation::Gaussian).unwrap()));
        }
        for field in fields {
            let mut params = field.init(3);
            if let LearnedField::Neural(_) = field {
                let n = params.len();
                params[n - 2] = 0.7; // scales other than 1 must show
                params[n - 1] = 1.9;
            }
            let model = FieldModel::of(&field, &params).unwrap();
            let mut batch_model = model.clone();
            let mut batched = vec![[0.0f32; 2]; points().len()];
            batch_model.eval_batch(&points(), 0.0, &mut batched);
            for (y, b) in points().iter().zip(&batched) {
                let mut want = [0.0; 2];
                field.eval(&params, 0.0, &[f64::from(y[0]), f64::from(y[1])], &mut want);
                let got = model.value(*y);
                for d in 0..2 {
                    let scale = 1.0 + want[d].abs();
                    assert!(
                        (f64::from(got[d]) - want[d]).abs() < 1e-5 * scale,
                        "{field:?} at {y:?}: {got:?} vs {want:?}"
                    );
                    assert!((b[d] - got[d]).abs() < 1e-5 * scale as f32, "batched {b:?} vs {got:?}");
                }
            }
        }
    }

    /// The Jacobian against central differences of the f32 value (at h = 1e-2 they are off by
    /// about h^2 from truncation and 1e-5 from rounding).
    #[test]
    fn the_jacobian_matches_differences() {
        let field =
            LearnedField::Hybrid(HybridField::new(System(SystemId::Pendulum), 8, 2, DenseActivation::Tanh).unwrap());
        let model = FieldModel::of(&field, &field.init(5)).unwrap();
        let pure = LearnedField::Neural(NeuralField::new(2, 8, 2, DenseActivation::Silu).unwrap());
        let pure_model = FieldModel::of(&pure, &pure.init(6)).unwrap();
        for m in [model, pure_model] {
            for y in points() {
                let (_, j) = m.value_with_jacobian(y);
                let h = 1e-2f32;
                for d in 0..2 {
                    let (mut up, mut down) = (y, y);
                    up[d] += h;
                    down[d] -= h;
                    let (fu, fd) = (m.value(up), m.value(down));
                    for o in 0..2 {
                        let fd_slope = (fu[o] - fd[o]) / (2.0 * h);
                        assert!(
                            (fd_slope - j[o][d]).abs() < 2e-3 * (1.0 + j[o][d].abs()),
                            "{o},{d}: {fd_slope} vs {}",
                            j[o][d]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn wrong_parameter_counts_are_refused() {
        let field = LearnedField::Neural(NeuralField::new(2, 4, 1, DenseActivation::Tanh).unwrap());
        assert!(FieldModel::of(&field, &[0.0; 3]).unwrap_err().contains("parameters"));
    }
}
