//! The labs' dense network ([`Dense`]) trained on the kernel layer: a forward pass over many
//! rows that keeps its tape, and a backward pass that turns each row's output cotangent into
//! the parameter gradient (summed over the rows) and, if asked, each row's input gradient.
//! Every layer's backward is two products of [`super::gemm`], as in the diffusion MLP's
//! trainer (`backprop.rs`): dW += dZ^T H and dH = dZ W.
//!
//! f32 throughout; [`Dense::vjp`] in f64 is the reference the tests hold it to, within
//! [`DENSE_GRADIENT_TOLERANCE`].

use super::activation_batch::{activate_with_slope, multiply};
use super::dense::Dense;
use super::dense_activation::DenseActivation;
use super::gemm::{gemm, gemm_transposed_a, transpose, Shape, Start};

/// Agreement of the batched f32 gradient with the per-sample f64 one, relative to the
/// gradient's largest entry (f32 rounding of sums over a few hundred rows).
pub const DENSE_GRADIENT_TOLERANCE: f64 = 1e-4;

/// A dense network's f32 parameters packed for the kernel layer: each layer's weights as
/// stored (outputs x inputs, the backward pass's right operand) and transposed (inputs x
/// outputs, the forward pass's).
#[derive(Debug, Clone, PartialEq)]
pub struct DensePacked {
    pub net: Dense,
    w: Vec<Vec<f32>>,
    wt: Vec<Vec<f32>>,
    bias: Vec<Vec<f32>>,
}

/// What a forward pass over `rows` rows keeps: the input and each layer's output and the
/// activation's slope at its pre-activation (rows x size, row-major). Keeping the slope
/// lets the forward pass share one exponential between the two (the vectorised activations
/// of `activation_batch`).
#[derive(Debug, Clone, Default)]
pub struct DenseBatchTape {
    pub rows: usize,
    input: Vec<f32>,
    slope: Vec<Vec<f32>>,
    post: Vec<Vec<f32>>,
}

impl DenseBatchTape {
    /// The network's outputs (rows x outputs).
    pub fn output(&self) -> &[f32] {
        self.post.last().map_or(&[], Vec::as_slice)
    }

    /// Layer `l`'s outputs after its activation (rows x its width).
    pub fn layer_output(&self, l: usize) -> &[f32] {
        &self.post[l]
    }
}

impl DensePacked {
    pub fn new(net: &Dense, params: &[f32]) -> Self {
        assert_eq!(params.len(), net.param_count(), "dense: {} parameters for {:?}", params.len(), net.dims);
        let (mut w, mut wt, mut bias) = (Vec::new(), Vec::new(), Vec::new());
        for layer in net.layers() {
            let weights = params[layer.weights..layer.bias].to_vec();
            let mut t = Vec::new();
            transpose(layer.outputs, layer.inputs, &weights, &mut t);
            w.push(weights);
            wt.push(t);
            bias.push(params[layer.bias..layer.bias + layer.outputs].to_vec());
        }
        DensePacked { net: net.clone(), w, wt, bias }
    }

    fn activation(&self, l: usize) -> DenseActivation {
        if l + 2 == self.net.dims.len() {
            self.net.last
        } else {
            self.net.hidden
        }
    }

    /// The forward pass over `xs` (rows x inputs), keeping the tape for [`Self::backward`].
    pub fn forward_taped(&self, xs: &[f32], tape: &mut DenseBatchTape) {
        let n_in = self.net.input_dim();
        assert_eq!(xs.len() % n_in, 0, "dense batch: {} values are not rows of {n_in}", xs.len());
        let rows = xs.len() / n_in;
        let layers = self.net.layers();
        tape.rows = rows;
        tape.input.clear();
        tape.input.extend_from_slice(xs);
        tape.slope.resize(layers.len(), Vec::new());
        tape.post.resize(layers.len(), Vec::new());
        for (l, layer) in layers.iter().enumerate() {
            let (before, after) = tape.post.split_at_mut(l);
            let input: &[f32] = if l == 0 { &tape.input } else { &before[l - 1] };
            let post = &mut after[0];
            post.resize(rows * layer.outputs, 0.0);
            gemm(
                Shape { m: rows, k: layer.inputs, n: layer.outputs },
                input,
                &self.wt[l],
                post,
                Start::Bias(&self.bias[l]),
            );
            let slope = &mut tape.slope[l];
            slope.resize(rows * layer.outputs, 0.0);
            match self.activation(l) {
                DenseActivation::Identity => slope.fill(1.0),
                act => match act.shared() {
                    Some(shared) => activate_with_slope(shared, post, slope),
                    None => {
                        for (v, d) in post.iter_mut().zip(slope.iter_mut()) {
                            *d = act.derivative(*v);
                            *v = act.apply(*v);
                        }
                    }
                },
            }
        }
    }

    /// The backward pass at the taped rows: `d_out` (rows x outputs) is each row's cotangent;
    /// the parameter gradient, summed over the rows, is added into `d_params` (the flat
    /// layout of [`Dense`]); each row's input gradient goes into `d_input` when given.
    pub fn backward(&self, tape: &DenseBatchTape, d_out: &[f32], d_params: &mut [f32], d_input: Option<&mut Vec<f32>>) {
        let rows = tape.rows;
        assert_eq!(d_out.len(), rows * self.net.output_dim(), "dense batch: cotangent of {} values", d_out.len());
        assert_eq!(d_params.len(), self.net.param_count(), "dense batch: gradient of {} values", d_params.len());
        let layers = self.net.layers();
        let mut d = d_out.to_vec();
        let mut below = Vec::new();
        for (l, layer) in layers.iter().enumerate().rev() {
            multiply(&mut d, &tape.slope[l]);
            let input: &[f32] = if l == 0 { &tape.input } else { &tape.post[l - 1] };
            // dW (outputs x inputs) += dZ^T H: dZ (rows x outputs) read as the transpose.
            gemm_transposed_a(
                Shape { m: layer.outputs, k: rows, n: layer.inputs },
                &d,
                input,
                &mut d_params[layer.weights..layer.bias],
                Start::Accumulate,
            );
            let bias = &mut d_params[layer.bias..layer.bias + layer.outputs];
            for row in d.chunks_exact(layer.outputs) {
                for (b, g) in bias.iter_mut().zip(row) {
                    *b += g;
                }
            }
            if l == 0 && d_input.is_none() {
                return;
            }
            below.resize(rows * layer.inputs, 0.0);
            gemm(Shape { m: rows, k: layer.outputs, n: layer.inputs }, &d, &self.w[l], &mut below, Start::Zero);
            std::mem::swap(&mut d, &mut below);
        }
        if let Some(out) = d_input {
            *out = d;
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use DenseActivation::*;

    /// Rows of inputs in [-1, 1], deterministic.
    fn rows(n: usize, d: usize) -> Vec<f64> {
        (0..n * d).map(|i| ((i * 37 + 11) % 101) as f64 / 50.0 - 1.0).collect()
    }

    /// The batched forward, parameter gradient and input gradient against the per-sample f64
    /// reference, on nets with edges that are not multiples of the kernel's tile.
    #[test]
    fn the_batched_pass_matches_the_per_sample_reference() {
        for (net, n) in [
            (Dense::new(&[2, 32, 32, 1], Tanh, Identity).unwrap(), 300),
            (Dense::new(&[2, 32, 32, 2], Tanh, Tanh).unwrap(), 7),
            (Dense::new(&[3, 5, 17, 4], Softplus, Sigmoid).unwrap(), 65),
        ] {
            let params = net.init(3, 1);
            let p32: Vec<f32> = params.iter().map(|&p| p as f32).collect();
            let (n_in, n_out) = (net.input_dim(), net.output_dim());
            let xs = rows(n, n_in);
            let cot = rows(n, n_out);
            let packed = DensePacked::new(&net, &p32);
            let mut tape = DenseBatchTape::default();
            let x32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
            packed.forward_taped(&x32, &mut tape);
            let mut grad = vec![0.0f32; net.param_count()];
            let mut d_in = Vec::new();
            let c32: Vec<f32> = cot.iter().map(|&c| c as f32).collect();
            packed.backward(&tape, &c32, &mut grad, Some(&mut d_in));
            let mut want = vec![0.0f64; net.param_count()];
            for r in 0..n {
                let (out, dx) =
                    net.vjp(&params, &xs[r * n_in..(r + 1) * n_in], &cot[r * n_out..(r + 1) * n_out], &mut want);
                for k in 0..n_out {
                    assert!((f64::from(tape.output()[r * n_out + k]) - out[k]).abs() < 1e-5, "{:?} row {r}", net.dims);
                }
                for k in 0..n_in {
                    assert!((f64::from(d_in[r * n_in + k]) - dx[k]).abs() < 1e-4, "{:?} row {r}", net.dims);
                }
            }
            let scale = want.iter().fold(0.0f64, |m, g| m.max(g.abs()));
            let worst = grad.iter().zip(&want).fold(0.0f64, |m, (a, b)| m.max((f64::from(*a) - b).abs()));
            assert!(worst <= DENSE_GRADIENT_TOLERANCE * scale, "{:?}: {worst} against {scale}", net.dims);
        }
    }

    /// The backward pass adds to the gradient it is given (so halves of one gradient can be
    /// summed), and without an input gradient it stops at the first layer.
    #[test]
    fn the_backward_pass_accumulates() {
        let net = Dense::new(&[2, 8, 1], Tanh, Identity).unwrap();
        let p32: Vec<f32> = net.init(0, 0).iter().map(|&p| p as f32).collect();
        let packed = DensePacked::new(&net, &p32);
        let mut tape = DenseBatchTape::default();
        packed.forward_taped(&[0.1, 0.2, -0.3, 0.4], &mut tape);
        let mut once = vec![0.0f32; net.param_count()];
        packed.backward(&tape, &[1.0, -2.0], &mut once, None);
        let mut twice = vec![0.0f32; net.param_count()];
        packed.backward(&tape, &[0.5, -1.0], &mut twice, None);
        packed.backward(&tape, &[0.5, -1.0], &mut twice, None);
        assert!(once.iter().zip(&twice).all(|(a, b)| (a - b).abs() < 1e-6));
        assert!(once.iter().any(|g| *g != 0.0));
    }
}
