//! A general dense network for the labs: any input and output sizes, any depth, one activation
//! for the hidden layers and one for the last (identity for a linear readout, tanh for a
//! bounded vector field). Parameters are one flat slice, layer by layer: the weights
//! (outputs x inputs, row-major) then the biases. Written over [`Scalar`], so f64 checks the
//! derivatives against finite differences and f32 runs; [`DenseBatch`] is the same forward
//! pass over many rows on the kernel layer ([`super::gemm`]).
//!
//! The diffusion MLP ([`super::mlp`]) stays as it is: its layout and time features are shared
//! with the WGSL interpreter.

use serde::{Deserialize, Serialize};

use super::activation_batch::activate_in_place;
use super::dense_activation::DenseActivation;
use super::gemm::{gemm, transpose, Shape, Start};
use super::scalar::Scalar;
use crate::core::rng::RngStream;

/// Widest layer and most layers a lab may ask for (a dense net in a browser tab).
pub const MAX_WIDTH: usize = 1024;
pub const MAX_LAYERS: usize = 16;

/// Where one layer's weights and bias sit in the flat parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenseLayer {
    pub inputs: usize,
    pub outputs: usize,
    pub weights: usize,
    pub bias: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    /// Sizes from the input to the output: `[in, hidden.., out]`.
    pub dims: Vec<usize>,
    pub hidden: DenseActivation,
    pub last: DenseActivation,
}

impl Dense {
    /// A network of `dims`, checked: at least an input and an output, every size in 1..=1024.
    pub fn new(dims: &[usize], hidden: DenseActivation, last: DenseActivation) -> Result<Self, String> {
        if dims.len() < 2 {
            return Err(format!("a dense network needs an input and an output size, got {dims:?}"));
        }
        if dims.len() > MAX_LAYERS + 1 {
            return Err(format!("at most {MAX_LAYERS} layers, got {}", dims.len() - 1));
        }
        if let Some(bad) = dims.iter().find(|&&d| d == 0 || d > MAX_WIDTH) {
            return Err(format!("layer sizes must be 1 to {MAX_WIDTH}, got {bad} in {dims:?}"));
        }
        Ok(Dense { dims: dims.to_vec(), hidden, last })
    }

    /// `inputs -> width (depth times) -> outputs`.
    pub fn mlp(
        inputs: usize,
        width: usize,
        depth: usize,
        outputs: usize,
        hidden: DenseActivation,
        last: DenseActivation,
    ) -> Result<Self, String> {
        let mut dims = vec![inputs];
        dims.extend(std::iter::repeat_n(width, depth));
        dims.push(outputs);
        Self::new(&dims, hidden, last)
    }

    pub fn input_dim(&self) -> usize {
        self.dims[0]
    }

    pub fn output_dim(&self) -> usize {
        *self.dims.last().expect("checked in new")
    }

    pub fn layers(&self) -> Vec<DenseLayer> {
        let mut at = 0;
        self.dims
            .windows(2)
            .map(|w| {
                let layer = DenseLayer { inputs: w[0], outputs: w[1], weights: at, bias: at + w[0] * w[1] };
                at += w[0] * w[1] + w[1];
                layer
            })
            .collect()
    }

    pub fn param_count(&self) -> usize {
        self.dims.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
    }

    /// Multiply-adds per evaluation.
    pub fn macs(&self) -> usize {
        self.dims.windows(2).map(|w| w[0] * w[1]).sum()
    }

    /// PyTorch's default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and
    /// biases, from `seed`'s stream (deterministic).
    pub fn init(&self, seed: u64, stream: u64) -> Vec<f64> {
        let mut rng = RngStream::new(seed, stream);
        let mut params = vec![0.0; self.param_count()];
        for layer in self.layers() {
            let bound = 1.0 / (layer.inputs as f64).sqrt();
            for p in &mut params[layer.weights..layer.bias + layer.outputs] {
                *p = bound * (2.0 * rng.uniform() - 1.0);
            }
        }
        params
    }

    fn activation(&self, layer: usize) -> DenseActivation {
        if layer + 1 == self.dims.len() - 1 {
            self.last
        } else {
            self.hidden
        }
    }

    fn check<T>(&self, params: &[T], x: &[T]) {
        assert_eq!(params.len(), self.param_count(), "dense: {} parameters for {:?}", params.len(), self.dims);
        assert_eq!(x.len(), self.input_dim(), "dense: input of {} for {:?}", x.len(), self.dims);
    }

    /// The output at `x`; `tape` keeps every layer's pre-activation for [`Dense::vjp_taped`].
    pub fn forward_taped<T: Scalar>(&self, params: &[T], x: &[T], tape: &mut DenseTape<T>) -> Vec<T> {
        self.check(params, x);
        tape.input = x.to_vec();
        tape.pre.clear();
        tape.post.clear();
        let mut a = x.to_vec();
        for (l, layer) in self.layers().iter().enumerate() {
            let z = affine(params, layer, &a);
            let act = self.activation(l);
            a = z.iter().map(|&v| act.apply(v)).collect();
            tape.pre.push(z);
            tape.post.push(a.clone());
        }
        a
    }

    pub fn forward<T: Scalar>(&self, params: &[T], x: &[T]) -> Vec<T> {
        self.forward_taped(params, x, &mut DenseTape::default())
    }

    /// Vector-Jacobian product at the taped point: returns cotangent^T d out/d x and adds
    /// cotangent^T d out/d params into `d_params`.
    pub fn vjp_taped<T: Scalar>(
        &self,
        params: &[T],
        tape: &DenseTape<T>,
        cotangent: &[T],
        d_params: &mut [T],
    ) -> Vec<T> {
        assert_eq!(cotangent.len(), self.output_dim(), "dense: cotangent of {} for {:?}", cotangent.len(), self.dims);
        assert_eq!(d_params.len(), self.param_count(), "dense: gradient of {} for {:?}", d_params.len(), self.dims);
        let layers = self.layers();
        let mut g = cotangent.to_vec();
        for (l, layer) in layers.iter().enumerate().rev() {
            let act = self.activation(l);
            for (gi, &z) in g.iter_mut().zip(&tape.pre[l]) {
                *gi *= act.derivative(z);
            }
            // The layer's input: the network's input or the previous layer's output.
            let input: &[T] = if l == 0 { &tape.input } else { &tape.post[l - 1] };
            let mut below = vec![T::zero(); layer.inputs];
            for (o, &go) in g.iter().enumerate() {
                let row = layer.weights + o * layer.inputs;
                for i in 0..layer.inputs {
                    d_params[row + i] += go * input[i];
                    below[i] += go * params[row + i];
                }
                d_params[layer.bias + o] += go;
            }
            g = below;
        }
        g
    }

    /// Forward then vector-Jacobian product: (output, cotangent^T d out/d x), with the
    /// parameter part added into `d_params`.
    pub fn vjp<T: Scalar>(&self, params: &[T], x: &[T], cotangent: &[T], d_params: &mut [T]) -> (Vec<T>, Vec<T>) {
        let mut tape = DenseTape::default();
        let out = self.forward_taped(params, x, &mut tape);
        let d_x = self.vjp_taped(params, &tape, cotangent, d_params);
        (out, d_x)
    }

    /// Jacobian-vector product in the input: (output, d out/d x . tangent).
    pub fn jvp<T: Scalar>(&self, params: &[T], x: &[T], tangent: &[T]) -> (Vec<T>, Vec<T>) {
        self.check(params, x);
        assert_eq!(tangent.len(), x.len(), "dense: tangent of {} for input {}", tangent.len(), x.len());
        let (mut a, mut da) = (x.to_vec(), tangent.to_vec());
        for (l, layer) in self.layers().iter().enumerate() {
            let z = affine(params, layer, &a);
            let mut dz = vec![T::zero(); layer.outputs];
            for (o, d) in dz.iter_mut().enumerate() {
                let row = &params[layer.weights + o * layer.inputs..layer.weights + (o + 1) * layer.inputs];
                *d = row.iter().zip(&da).fold(T::zero(), |s, (&w, &t)| s + w * t);
            }
            let act = self.activation(l);
            da = dz.iter().zip(&z).map(|(&d, &v)| d * act.derivative(v)).collect();
            a = z.iter().map(|&v| act.apply(v)).collect();
        }
        (a, da)
    }

    /// The full Jacobian d out / d x (outputs x inputs, row-major), by one JVP per input.
    pub fn jacobian<T: Scalar>(&self, params: &[T], x: &[T]) -> Vec<T> {
        let (n_in, n_out) = (self.input_dim(), self.output_dim());
        let mut jac = vec![T::zero(); n_out * n_in];
        for j in 0..n_in {
            let mut e = vec![T::zero(); n_in];
            e[j] = T::one();
            let (_, col) = self.jvp(params, x, &e);
            for o in 0..n_out {
                jac[o * n_in + j] = col[o];
            }
        }
        jac
    }
}

/// W a + b for one layer.
fn affine<T: Scalar>(params: &[T], layer: &DenseLayer, a: &[T]) -> Vec<T> {
    (0..layer.outputs)
        .map(|o| {
            let row = &params[layer.weights + o * layer.inputs..layer.weights + (o + 1) * layer.inputs];
            row.iter().zip(a).fold(params[layer.bias + o], |s, (&w, &x)| s + w * x)
        })
        .collect()
}

/// What the forward pass keeps for the backward pass: the input and each layer's
/// pre-activation and output (recomputing outputs would cost a second exponential or
/// logarithm per unit, which dominated the lab's training before they were kept).
#[derive(Debug, Clone, Default)]
pub struct DenseTape<T> {
    input: Vec<T>,
    pre: Vec<Vec<T>>,
    post: Vec<Vec<T>>,
}

/// Rows per block of the batched pass (as the MLP's).
const BLOCK: usize = super::batch::BLOCK;

/// The network packed for the kernel layer in f32: each layer's weights transposed
/// (inputs x outputs), the forward pass's right operand.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseBatch {
    pub net: Dense,
    wt: Vec<Vec<f32>>,
    bias: Vec<Vec<f32>>,
}

impl DenseBatch {
    pub fn new(net: &Dense, params: &[f64]) -> Self {
        assert_eq!(params.len(), net.param_count(), "dense: {} parameters for {:?}", params.len(), net.dims);
        let (mut wt, mut bias) = (Vec::new(), Vec::new());
        for layer in net.layers() {
            let w: Vec<f32> = params[layer.weights..layer.bias].iter().map(|&p| p as f32).collect();
            let mut t = Vec::new();
            transpose(layer.outputs, layer.inputs, &w, &mut t);
            wt.push(t);
            bias.push(params[layer.bias..layer.bias + layer.outputs].iter().map(|&p| p as f32).collect());
        }
        DenseBatch { net: net.clone(), wt, bias }
    }

    /// Outputs (rows x outputs) for `xs` (rows x inputs), block by block.
    pub fn forward(&self, xs: &[f32], out: &mut Vec<f32>) {
        let (n_in, n_out) = (self.net.input_dim(), self.net.output_dim());
        assert_eq!(xs.len() % n_in, 0, "dense batch: {} values are not rows of {n_in}", xs.len());
        let rows = xs.len() / n_in;
        out.clear();
        out.reserve(rows * n_out);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for block in xs.chunks(BLOCK * n_in) {
            let m = block.len() / n_in;
            a.clear();
            a.extend_from_slice(block);
            for (l, layer) in self.net.layers().iter().enumerate() {
                b.resize(m * layer.outputs, 0.0);
                gemm(
                    Shape { m, k: layer.inputs, n: layer.outputs },
                    &a,
                    &self.wt[l],
                    &mut b,
                    Start::Bias(&self.bias[l]),
                );
                activate_slice(self.net.activation(l), &mut b);
                std::mem::swap(&mut a, &mut b);
            }
            out.extend_from_slice(&a[..m * n_out]);
        }
    }
}

/// The activation over a slice: the vectorised pass where the diffusion MLP has one, else
/// the definition element by element.
fn activate_slice(kind: DenseActivation, values: &mut [f32]) {
    match kind.shared() {
        Some(shared) => activate_in_place(shared, values),
        None if kind == DenseActivation::Identity => {}
        None => values.iter_mut().for_each(|v| *v = kind.apply(*v)),
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn nets() -> Vec<Dense> {
        use DenseActivation::*;
        vec![
            Dense::new(&[3, 5, 4, 2], Softplus, Tanh).unwrap(),
            Dense::new(&[1, 7, 1], LipSwish, Identity).unwrap(),
            Dense::new(&[2, 5, 5, 5, 2], Gaussian, Identity).unwrap(),
            Dense::new(&[4, 6, 3], Sigmoid, Silu).unwrap(),
            Dense::new(&[2, 3], Relu, Tanh).unwrap(),
        ]
    }

    fn point(n: usize, k: usize) -> Vec<f64> {
        (0..n).map(|i| 0.3 * ((i * 7 + k * 3) % 11) as f64 / 11.0 - 0.4 + 0.05 * i as f64).collect()
    }

    #[test]
    fn sizes_are_checked_with_a_clear_message() {
        assert!(Dense::new(&[3], DenseActivation::Tanh, DenseActivation::Identity)
            .unwrap_err()
            .contains("input and an output"));
        assert!(Dense::new(&[3, 0, 2], DenseActivation::Tanh, DenseActivation::Identity)
            .unwrap_err()
            .contains("1 to 1024"));
        let net = Dense::mlp(2, 64, 2, 2, DenseActivation::Softplus, DenseActivation::Tanh).unwrap();
        assert_eq!(net.dims, vec![2, 64, 64, 2]);
        assert_eq!(net.param_count(), 2 * 64 + 64 + 64 * 64 + 64 + 64 * 2 + 2);
        assert_eq!(net.init(0, 1), net.init(0, 1));
        assert_ne!(net.init(0, 1), net.init(1, 1));
    }

    /// The VJP in the input and in every parameter, and the JVP, against f64 central
    /// differences of the forward pass.
    #[test]
    fn derivatives_match_central_differences() {
        for (k, net) in nets().into_iter().enumerate() {
            let params = net.init(k as u64, 0);
            let x = point(net.input_dim(), k);
            let cot = point(net.output_dim(), k + 5);
            let dot = |p: &[f64], x: &[f64]| net.forward(p, x).iter().zip(&cot).map(|(a, b)| a * b).sum::<f64>();
            let mut d_params = vec![0.0; net.param_count()];
            let (_, d_x) = net.vjp(&params, &x, &cot, &mut d_params);
            let h = 1e-6;
            for i in 0..x.len() {
                let (mut a, mut b) = (x.clone(), x.clone());
                a[i] += h;
                b[i] -= h;
                let fd = (dot(&params, &a) - dot(&params, &b)) / (2.0 * h);
                assert!((fd - d_x[i]).abs() < 1e-7, "net {k}: d/dx{i} {fd} vs {}", d_x[i]);
            }
            for i in 0..params.len() {
                let (mut a, mut b) = (params.clone(), params.clone());
                a[i] += h;
                b[i] -= h;
                let fd = (dot(&a, &x) - dot(&b, &x)) / (2.0 * h);
                assert!((fd - d_params[i]).abs() < 1e-7, "net {k}: d/dp{i} {fd} vs {}", d_params[i]);
            }
            let tangent = point(net.input_dim(), k + 2);
            let (out, d_out) = net.jvp(&params, &x, &tangent);
            assert_eq!(out, net.forward(&params, &x));
            let step =
                |s: f64| net.forward(&params, &x.iter().zip(&tangent).map(|(a, t)| a + s * t).collect::<Vec<_>>());
            let (plus, minus) = (step(h), step(-h));
            for o in 0..out.len() {
                let fd = (plus[o] - minus[o]) / (2.0 * h);
                assert!((fd - d_out[o]).abs() < 1e-7, "net {k}: jvp {o} {fd} vs {}", d_out[o]);
            }
            // The Jacobian's transpose applied to the cotangent is the VJP.
            let jac = net.jacobian(&params, &x);
            for i in 0..x.len() {
                let vjp_i: f64 = (0..out.len()).map(|o| jac[o * x.len() + i] * cot[o]).sum();
                assert!((vjp_i - d_x[i]).abs() < 1e-12);
            }
        }
    }

    /// The batched f32 pass on the kernel layer against the f64 definition, across block
    /// edges (rows not a multiple of the block).
    #[test]
    fn batched_forward_matches_the_definition() {
        for (k, net) in nets().into_iter().enumerate() {
            let params = net.init(k as u64 + 10, 0);
            let rows = 2 * BLOCK + 5;
            let xs: Vec<f64> = (0..rows).flat_map(|r| point(net.input_dim(), r)).collect();
            let batch = DenseBatch::new(&net, &params);
            let xs32: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
            let mut out = Vec::new();
            batch.forward(&xs32, &mut out);
            assert_eq!(out.len(), rows * net.output_dim());
            for r in 0..rows {
                let want = net.forward(&params, &xs[r * net.input_dim()..(r + 1) * net.input_dim()]);
                for (o, w) in want.iter().enumerate() {
                    let got = f64::from(out[r * net.output_dim() + o]);
                    assert!((got - w).abs() <= 1e-5 * (1.0 + w.abs()), "net {k} row {r}: {got} vs {w}");
                }
            }
        }
    }
}
