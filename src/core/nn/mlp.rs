//! The small MLP: one flat parameter vector, one documented layout (shared with WGSL),
//! and hand-written forward, vector-Jacobian and Jacobian-vector products.
//!
//! # Inputs
//! `[x_0, x_1, (mu_0, mu_1 when condition_dim = 2), t, sin(pi 2^k t), cos(pi 2^k t) for k < F]`
//! where F = `time_frequencies`: Fourier features let a tiny network resolve sharp changes in t.
//!
//! # Parameter layout
//! Layers l = 0..=depth map `dims[l]` to `dims[l+1]`, with `dims = [input, width x depth, outputs]`
//! (outputs is 2 for a score/velocity network, K for a noise-level classifier over K levels).
//! Layer l stores its weight matrix row-major (`out x in`: W[o][i] at `offset + o * in + i`),
//! then its bias (`out` values), and the next layer follows directly. Hidden layers apply the
//! activation; the last layer is linear.

use serde::{Deserialize, Serialize};

use super::activation::Activation;
use super::scalar::Scalar;
use crate::core::rng::RngStream;

pub const X_DIM: usize = 2;
/// The output size of a field network (score, eps, x0, v): one value per dimension of x.
pub const OUT_DIM: usize = 2;

fn default_outputs() -> usize {
    OUT_DIM
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    pub width: usize,
    pub depth: usize,
    pub activation: Activation,
    pub time_frequencies: usize,
    /// 0, or 2 for the mean-reverting process's condition mu.
    pub condition_dim: usize,
    /// Width of the last layer: 2 for a field, K for a classifier's logits. Files written
    /// before classifiers existed omit it.
    #[serde(default = "default_outputs")]
    pub outputs: usize,
}

/// Where one layer's weights and bias sit in the flat vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerLayout {
    pub weights: usize,
    pub bias: usize,
    pub inputs: usize,
    pub outputs: usize,
}

impl Default for MlpConfig {
    fn default() -> Self {
        MlpConfig {
            width: 64,
            depth: 3,
            activation: Activation::Silu,
            time_frequencies: 6,
            condition_dim: 0,
            outputs: OUT_DIM,
        }
    }
}

impl MlpConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(16..=256).contains(&self.width) {
            return Err(format!("width {} is out of range: use 16 to 256", self.width));
        }
        if !(1..=6).contains(&self.depth) {
            return Err(format!("depth {} is out of range: use 1 to 6", self.depth));
        }
        if self.time_frequencies > 16 {
            return Err(format!("time_frequencies {} is out of range: use 0 to 16", self.time_frequencies));
        }
        if self.condition_dim != 0 && self.condition_dim != 2 {
            return Err(format!("condition_dim {} must be 0 or 2", self.condition_dim));
        }
        if !(2..=64).contains(&self.outputs) {
            return Err(format!("outputs {} is out of range: use 2 to 64", self.outputs));
        }
        Ok(())
    }

    pub fn input_dim(&self) -> usize {
        X_DIM + self.condition_dim + 1 + 2 * self.time_frequencies
    }

    pub fn dims(&self) -> Vec<usize> {
        let mut dims = vec![self.input_dim()];
        dims.extend(std::iter::repeat_n(self.width, self.depth));
        dims.push(self.outputs);
        dims
    }

    pub fn layers(&self) -> Vec<LayerLayout> {
        let dims = self.dims();
        let mut offset = 0;
        dims.windows(2)
            .map(|w| {
                let layer = LayerLayout { weights: offset, bias: offset + w[0] * w[1], inputs: w[0], outputs: w[1] };
                offset = layer.bias + w[1];
                layer
            })
            .collect()
    }

    pub fn param_count(&self) -> usize {
        self.layers().last().map(|l| l.bias + l.outputs).unwrap_or(0)
    }

    /// Multiply-adds of one forward pass (for FLOP counts: 2 per multiply-add).
    pub fn macs_per_eval(&self) -> usize {
        self.layers().iter().map(|l| l.inputs * l.outputs).sum()
    }

    /// The input vector for (x, t, condition) computed in f64 and stored as f32 into `out`
    /// (`input_dim` values): a batched pass's row, with phases as exact as the f64 path's.
    pub fn features_into(&self, x: [f64; 2], t: f64, condition: [f64; 2], out: &mut [f32]) {
        out[0] = x[0] as f32;
        out[1] = x[1] as f32;
        let mut i = 2;
        if self.condition_dim == 2 {
            out[2] = condition[0] as f32;
            out[3] = condition[1] as f32;
            i = 4;
        }
        out[i] = t as f32;
        let mut frequency = std::f64::consts::PI;
        for k in 0..self.time_frequencies {
            let (sin, cos) = (frequency * t).sin_cos();
            out[i + 1 + 2 * k] = sin as f32;
            out[i + 2 + 2 * k] = cos as f32;
            frequency *= 2.0;
        }
    }

    /// The network's input vector for (x, t, condition).
    pub fn features<T: Scalar>(&self, x: [T; 2], t: T, condition: [T; 2], out: &mut Vec<T>) {
        out.clear();
        out.extend_from_slice(&x);
        if self.condition_dim == 2 {
            out.extend_from_slice(&condition);
        }
        out.push(t);
        let mut frequency = std::f64::consts::PI;
        for _ in 0..self.time_frequencies {
            let phase = T::from_f64(frequency) * t;
            out.push(phase.sin());
            out.push(phase.cos());
            frequency *= 2.0;
        }
    }
}

/// Activations kept from a forward pass, for the VJP that follows it.
#[derive(Debug, Clone, Default)]
pub struct Workspace<T> {
    /// `post[l]`: the input of layer l (post[0] is the feature vector).
    post: Vec<Vec<T>>,
    /// `pre[l]`: layer l's output before the activation.
    pre: Vec<Vec<T>>,
    features: Vec<T>,
}

/// Forward pass for one input (the first two outputs: a field network's value); keeps
/// activations in `ws` for [`vjp`].
pub fn forward<T: Scalar>(config: &MlpConfig, params: &[T], input: &[T], ws: &mut Workspace<T>) -> [T; 2] {
    let out = forward_all(config, params, input, ws);
    [out[0], out[1]]
}

/// Forward pass returning every output (a classifier's logits).
pub fn forward_all<'w, T: Scalar>(config: &MlpConfig, params: &[T], input: &[T], ws: &'w mut Workspace<T>) -> &'w [T] {
    let layers = config.layers();
    ws.post.resize(layers.len(), Vec::new());
    ws.pre.resize(layers.len(), Vec::new());
    ws.post[0].clear();
    ws.post[0].extend_from_slice(input);
    for (l, layer) in layers.iter().enumerate() {
        let mut pre = std::mem::take(&mut ws.pre[l]);
        pre.clear();
        let x = &ws.post[l];
        for o in 0..layer.outputs {
            let row = &params[layer.weights + o * layer.inputs..layer.weights + (o + 1) * layer.inputs];
            let mut acc = params[layer.bias + o];
            for (w, v) in row.iter().zip(x) {
                acc += *w * *v;
            }
            pre.push(acc);
        }
        if l + 1 < layers.len() {
            let next = &mut ws.post[l + 1];
            next.clear();
            next.extend(pre.iter().map(|z| config.activation.apply(*z)));
        }
        ws.pre[l] = pre;
    }
    &ws.pre[layers.len() - 1]
}

/// Vector-Jacobian product after [`forward`] (`cotangent` has one entry per output): adds `cotangent^T d(out)/d(params)` into
/// `grad_params` and writes `cotangent^T d(out)/d(input)` into `grad_input`.
pub fn vjp<T: Scalar>(
    config: &MlpConfig,
    params: &[T],
    ws: &Workspace<T>,
    cotangent: &[T],
    grad_params: &mut [T],
    grad_input: &mut Vec<T>,
) {
    let layers = config.layers();
    let mut delta = cotangent.to_vec();
    for (l, layer) in layers.iter().enumerate().rev() {
        let x = &ws.post[l];
        for (o, d) in delta.iter().enumerate() {
            let row = layer.weights + o * layer.inputs;
            for (i, v) in x.iter().enumerate() {
                grad_params[row + i] += *d * *v;
            }
            grad_params[layer.bias + o] += *d;
        }
        let mut previous = vec![T::zero(); layer.inputs];
        for (o, d) in delta.iter().enumerate() {
            let row = &params[layer.weights + o * layer.inputs..layer.weights + (o + 1) * layer.inputs];
            for (p, w) in previous.iter_mut().zip(row) {
                *p += *w * *d;
            }
        }
        if l > 0 {
            for (p, z) in previous.iter_mut().zip(&ws.pre[l - 1]) {
                *p *= config.activation.derivative(*z);
            }
        }
        delta = previous;
    }
    *grad_input = delta;
}

/// The output and its 2x2 Jacobian with respect to x (forward mode, two tangents at once):
/// `jacobian[o][j] = d out_o / d x_j`. Its trace is the exact divergence of the field.
pub fn jacobian_x<T: Scalar>(config: &MlpConfig, params: &[T], input: &[T]) -> ([T; 2], [[T; 2]; 2]) {
    let layers = config.layers();
    let mut value = input.to_vec();
    // tangent[j][i]: d value_i / d x_j.
    let mut tangent: [Vec<T>; 2] = [vec![T::zero(); input.len()], vec![T::zero(); input.len()]];
    tangent[0][0] = T::one();
    tangent[1][1] = T::one();
    for (l, layer) in layers.iter().enumerate() {
        let mut pre = Vec::with_capacity(layer.outputs);
        let mut pre_tangent = [Vec::with_capacity(layer.outputs), Vec::with_capacity(layer.outputs)];
        for o in 0..layer.outputs {
            let row = &params[layer.weights + o * layer.inputs..layer.weights + (o + 1) * layer.inputs];
            let (mut acc, mut d0, mut d1) = (params[layer.bias + o], T::zero(), T::zero());
            for (i, w) in row.iter().enumerate() {
                acc += *w * value[i];
                d0 += *w * tangent[0][i];
                d1 += *w * tangent[1][i];
            }
            pre.push(acc);
            pre_tangent[0].push(d0);
            pre_tangent[1].push(d1);
        }
        if l + 1 < layers.len() {
            let slopes: Vec<T> = pre.iter().map(|z| config.activation.derivative(*z)).collect();
            value = pre.iter().map(|z| config.activation.apply(*z)).collect();
            for j in 0..2 {
                tangent[j] = pre_tangent[j].iter().zip(&slopes).map(|(d, s)| *d * *s).collect();
            }
        } else {
            return (
                [pre[0], pre[1]],
                [[pre_tangent[0][0], pre_tangent[1][0]], [pre_tangent[0][1], pre_tangent[1][1]]],
            );
        }
    }
    unreachable!("an MLP has at least one layer")
}

/// An MLP with its f32 parameters: what trains, saves, and runs on the GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    pub config: MlpConfig,
    pub params: Vec<f32>,
}

impl Mlp {
    /// PyTorch's default initialisation: weights and biases ~ U(-1/sqrt(in), 1/sqrt(in)).
    pub fn new(config: MlpConfig, seed: u64) -> Result<Self, String> {
        config.validate()?;
        let mut rng = RngStream::new(seed, 0x6d6c_7000); // stream: "mlp"
        let mut params = vec![0.0f32; config.param_count()];
        for layer in config.layers() {
            let bound = 1.0 / (layer.inputs as f64).sqrt();
            for p in &mut params[layer.weights..layer.bias + layer.outputs] {
                *p = (bound * (2.0 * rng.uniform() - 1.0)) as f32;
            }
        }
        Ok(Mlp { config, params })
    }

    /// The network's output at (x, t, condition), in f32.
    pub fn eval(&self, x: [f32; 2], t: f32, condition: [f32; 2], ws: &mut Workspace<f32>) -> [f32; 2] {
        let mut features = std::mem::take(&mut ws.features);
        self.config.features(x, t, condition, &mut features);
        let out = forward(&self.config, &self.params, &features, ws);
        ws.features = features;
        out
    }

    /// Every output at (x, t, condition), in f32 (a classifier's logits).
    pub fn eval_all<'w>(&self, x: [f32; 2], t: f32, condition: [f32; 2], ws: &'w mut Workspace<f32>) -> &'w [f32] {
        let mut features = std::mem::take(&mut ws.features);
        self.config.features(x, t, condition, &mut features);
        let _ = forward_all(&self.config, &self.params, &features, ws);
        ws.features = features;
        &ws.pre[self.config.depth]
    }

    /// The output and its Jacobian in x, in f32.
    pub fn eval_with_jacobian(&self, x: [f32; 2], t: f32, condition: [f32; 2]) -> ([f32; 2], [[f32; 2]; 2]) {
        let mut features = Vec::new();
        self.config.features(x, t, condition, &mut features);
        jacobian_x(&self.config, &self.params, &features)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn small(activation: Activation) -> MlpConfig {
        MlpConfig { width: 16, depth: 2, activation, time_frequencies: 3, condition_dim: 2, outputs: OUT_DIM }
    }

    fn random_input(config: &MlpConfig, rng: &mut RngStream) -> Vec<f64> {
        let mut features = Vec::new();
        config.features([rng.normal(), rng.normal()], rng.uniform(), [rng.normal(), rng.normal()], &mut features);
        features
    }

    fn eval64(config: &MlpConfig, params: &[f64], input: &[f64]) -> [f64; 2] {
        forward(config, params, input, &mut Workspace::default())
    }

    #[test]
    fn layout_counts_and_offsets_are_consistent() {
        let c = MlpConfig {
            width: 128,
            depth: 3,
            activation: Activation::Silu,
            time_frequencies: 16,
            condition_dim: 0,
            outputs: OUT_DIM,
        };
        assert_eq!(c.input_dim(), 2 + 1 + 32);
        assert_eq!(c.param_count(), 35 * 128 + 128 + 2 * (128 * 128 + 128) + 128 * 2 + 2);
        let layers = c.layers();
        assert_eq!(layers[0].bias, 35 * 128);
        assert_eq!(layers[1].weights, 35 * 128 + 128);
        assert!(MlpConfig { width: 8, ..c }.validate().is_err());
        assert!(MlpConfig { depth: 7, ..c }.validate().unwrap_err().contains("1 to 6"));
    }

    /// Parameter gradients from the VJP equal f64 central differences, for every activation.
    #[test]
    fn vjp_matches_finite_differences() {
        let mut rng = RngStream::new(1, 2);
        for activation in Activation::ALL {
            let config = small(activation);
            let mlp = Mlp::new(config, 3).unwrap();
            let params: Vec<f64> = mlp.params.iter().map(|p| f64::from(*p)).collect();
            let input = random_input(&config, &mut rng);
            let cotangent = [rng.normal(), rng.normal()];
            let mut ws = Workspace::default();
            forward(&config, &params, &input, &mut ws);
            let mut grad = vec![0.0; params.len()];
            let mut grad_input = Vec::new();
            vjp(&config, &params, &ws, &cotangent, &mut grad, &mut grad_input);
            let objective = |p: &[f64], x: &[f64]| {
                let o = eval64(&config, p, x);
                o[0] * cotangent[0] + o[1] * cotangent[1]
            };
            let h = 1e-6;
            for k in (0..params.len()).step_by(7) {
                let (mut plus, mut minus) = (params.clone(), params.clone());
                plus[k] += h;
                minus[k] -= h;
                let fd = (objective(&plus, &input) - objective(&minus, &input)) / (2.0 * h);
                assert!(
                    (fd - grad[k]).abs() < 1e-6 * (1.0 + fd.abs()),
                    "{} param {k}: fd {fd} vs vjp {}",
                    activation.name(),
                    grad[k]
                );
            }
            for i in 0..input.len() {
                let (mut plus, mut minus) = (input.clone(), input.clone());
                plus[i] += h;
                minus[i] -= h;
                let fd = (objective(&params, &plus) - objective(&params, &minus)) / (2.0 * h);
                assert!((fd - grad_input[i]).abs() < 1e-6 * (1.0 + fd.abs()), "{} input {i}", activation.name());
            }
        }
    }

    /// The forward-mode Jacobian in x equals central differences (and so does its trace).
    #[test]
    fn jvp_jacobian_matches_finite_differences() {
        let mut rng = RngStream::new(4, 5);
        for activation in Activation::ALL {
            let config = small(activation);
            let params: Vec<f64> = Mlp::new(config, 9).unwrap().params.iter().map(|p| f64::from(*p)).collect();
            let input = random_input(&config, &mut rng);
            let (out, jac) = jacobian_x(&config, &params, &input);
            assert_eq!(out, eval64(&config, &params, &input));
            let h = 1e-6;
            for j in 0..2 {
                let (mut plus, mut minus) = (input.clone(), input.clone());
                plus[j] += h;
                minus[j] -= h;
                let (p, m) = (eval64(&config, &params, &plus), eval64(&config, &params, &minus));
                for o in 0..2 {
                    let fd = (p[o] - m[o]) / (2.0 * h);
                    assert!((fd - jac[o][j]).abs() < 1e-7 * (1.0 + fd.abs()), "{} d{o}/dx{j}", activation.name());
                }
            }
        }
    }

    #[test]
    fn f32_model_agrees_with_its_f64_twin() {
        let config = MlpConfig::default();
        let mlp = Mlp::new(config, 1).unwrap();
        let params64: Vec<f64> = mlp.params.iter().map(|p| f64::from(*p)).collect();
        let mut ws = Workspace::default();
        let out32 = mlp.eval([0.3, -1.2], 0.7, [0.0, 0.0], &mut ws);
        let mut features = Vec::new();
        config.features([0.3, -1.2], 0.7, [0.0, 0.0], &mut features);
        let out64 = eval64(&config, &params64, &features);
        for d in 0..2 {
            assert!((f64::from(out32[d]) - out64[d]).abs() < 1e-5, "{out32:?} vs {out64:?}");
        }
    }
}
