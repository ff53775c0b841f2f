//! The MLP's passes over a batch of inputs, for the CPU executor: the forward pass (sampling)
//! and the forward pass with the 2x2 Jacobian in x (the exact divergence of the likelihood).
//! The same functions as [`super::mlp::forward`] and [`super::mlp::jacobian_x`], arranged for
//! the hardware: every layer is one call of the kernel layer ([`super::gemm`]) per block of
//! rows, and the activations run over whole slices ([`super::activation_batch`]).
//!
//! Agreement with the scalar passes is a test (relative 1e-5); the scalar passes stay the
//! definition.

use super::activation_batch::{activate_in_place, scale_by_derivative};
use super::gemm::{gemm, Shape, Start};
use super::mlp::{Mlp, MlpConfig};
use super::narrow::{dense_narrow, MAX_NARROW};

/// Rows per block: a block's activations stay in L1/L2 while it passes every layer.
pub const BLOCK: usize = 64;

/// One layer with its weights in both orientations: `wt` (inputs x outputs) is the forward
/// pass's right operand, `w` (outputs x inputs, the stored layout) the backward pass's.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedLayer {
    pub inputs: usize,
    pub outputs: usize,
    pub wt: Vec<f32>,
    pub w: Vec<f32>,
    pub bias: Vec<f32>,
}

/// The network packed for the kernel layer.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchMlp {
    pub config: MlpConfig,
    pub layers: Vec<PackedLayer>,
}

/// Scratch for one block.
#[derive(Debug, Clone, Default)]
pub struct BatchWorkspace {
    a: Vec<f32>,
    b: Vec<f32>,
    tangent_a: Vec<f32>,
    tangent_b: Vec<f32>,
}

impl BatchMlp {
    pub fn new(mlp: &Mlp) -> Self {
        Self::from_params(mlp.config, &mlp.params)
    }

    /// Packs `params` (the layout of [`MlpConfig::layers`]).
    pub fn from_params(config: MlpConfig, params: &[f32]) -> Self {
        let layers = config
            .layers()
            .iter()
            .map(|l| {
                let w = params[l.weights..l.weights + l.inputs * l.outputs].to_vec();
                let mut wt = Vec::new();
                super::gemm::transpose(l.outputs, l.inputs, &w, &mut wt);
                PackedLayer {
                    inputs: l.inputs,
                    outputs: l.outputs,
                    wt,
                    w,
                    bias: params[l.bias..l.bias + l.outputs].to_vec(),
                }
            })
            .collect();
        BatchMlp { config, layers }
    }

    /// z = x W^T + b for `rows` rows of x (rows x inputs) into z (rows x outputs).
    pub fn dense(&self, layer: usize, rows: usize, x: &[f32], z: &mut Vec<f32>) {
        let l = &self.layers[layer];
        z.resize(rows * l.outputs, 0.0);
        if l.outputs <= MAX_NARROW {
            dense_narrow(rows, l.inputs, l.outputs, x, &l.w, &l.bias, z);
        } else {
            gemm(Shape { m: rows, k: l.inputs, n: l.outputs }, x, &l.wt, z, Start::Bias(&l.bias));
        }
    }

    /// The first layer's pre-activation at x = 0 for time t and the condition: its bias plus
    /// the product with every feature but x. Those features are shared by every point of an
    /// evaluation at one time, so [`Self::forward_at`] adds only x's two columns per point.
    pub fn input_bias(&self, t: f32, condition: [f32; 2]) -> Vec<f32> {
        let mut features = Vec::new();
        self.config.features([0.0; 2], t, condition, &mut features);
        let l = &self.layers[0];
        (0..l.outputs)
            .map(|j| l.bias[j] + (2..l.inputs).map(|i| l.w[j * l.inputs + i] * features[i]).sum::<f32>())
            .collect()
    }

    /// The first two outputs for each x at time t (and condition), block by block.
    pub fn forward(&self, xs: &[[f32; 2]], t: f32, condition: [f32; 2], out: &mut [[f32; 2]], ws: &mut BatchWorkspace) {
        let bias = self.input_bias(t, condition);
        for (xb, ob) in xs.chunks(BLOCK).zip(out.chunks_mut(BLOCK)) {
            self.forward_at(&bias, xb, ob, ws);
        }
    }

    /// The first two outputs for at most [`BLOCK`] points x (more run, but leave the cache)
    /// at the time and condition `input_bias` was computed for: the first layer is
    /// `input_bias + x_0 W[:, 0] + x_1 W[:, 1]`, a rank-2 update instead of a product over
    /// every feature.
    pub fn forward_at(&self, input_bias: &[f32], xs: &[[f32; 2]], out: &mut [[f32; 2]], ws: &mut BatchWorkspace) {
        let (first, rows) = (&self.layers[0], xs.len());
        let n = first.outputs;
        let (w0, w1) = (&first.wt[..n], &first.wt[n..2 * n]);
        ws.a.resize(rows * n, 0.0);
        rank_two(input_bias, w0, w1, xs, &mut ws.a);
        let outputs = self.layers_from(1, rows, ws);
        let n_out = self.config.outputs;
        for (r, o) in out.iter_mut().enumerate() {
            *o = [outputs[r * n_out], outputs[r * n_out + 1]];
        }
    }

    /// Every output for `rows` rows of features (rows x input_dim, at most BLOCK rows keeps
    /// the block in cache); the result is rows x outputs.
    pub fn forward_block<'w>(&self, rows: usize, features: &[f32], ws: &'w mut BatchWorkspace) -> &'w [f32] {
        let mut z = std::mem::take(&mut ws.a);
        self.dense(0, rows, features, &mut z);
        ws.a = z;
        self.layers_from(1, rows, ws)
    }

    /// Layers `from..` over `rows` rows, starting from layer `from - 1`'s pre-activation in
    /// `ws.a`; the outputs (rows x outputs).
    fn layers_from<'w>(&self, from: usize, rows: usize, ws: &'w mut BatchWorkspace) -> &'w [f32] {
        for l in from..self.layers.len() {
            activate_in_place(self.config.activation, &mut ws.a[..rows * self.layers[l - 1].outputs]);
            let mut z = std::mem::take(&mut ws.b);
            self.dense(l, rows, &ws.a, &mut z);
            ws.b = std::mem::replace(&mut ws.a, z);
        }
        &ws.a[..rows * self.config.outputs]
    }

    /// The first two outputs and their Jacobian in (x_0, x_1) (`jacobian[r][o][j] = d out_o /
    /// d x_j` of row r) for `rows` rows of features, in forward mode: the two tangents of
    /// each row pass every layer as two more rows of the same products.
    pub fn jacobian_block(
        &self,
        rows: usize,
        features: &[f32],
        out: &mut [[f32; 2]],
        jacobian: &mut [[[f32; 2]; 2]],
        ws: &mut BatchWorkspace,
    ) {
        let activation = self.config.activation;
        ws.a.clear();
        ws.a.extend_from_slice(&features[..rows * self.config.input_dim()]);
        for (l, layer) in self.layers.iter().enumerate() {
            let n = layer.outputs;
            let mut z = std::mem::take(&mut ws.b);
            self.dense(l, rows, &ws.a, &mut z);
            // Tangents: [d/dx_0 rows; d/dx_1 rows] (2 rows x n).
            let mut dz = std::mem::take(&mut ws.tangent_b);
            dz.resize(2 * rows * n, 0.0);
            if l == 0 {
                // The input tangents are the unit vectors e_0, e_1: their products are the
                // first two rows of W^T, the same for every row.
                for j in 0..2 {
                    for r in 0..rows {
                        dz[(j * rows + r) * n..(j * rows + r + 1) * n].copy_from_slice(&layer.wt[j * n..(j + 1) * n]);
                    }
                }
            } else {
                gemm(Shape { m: 2 * rows, k: layer.inputs, n }, &ws.tangent_a, &layer.wt, &mut dz, Start::Zero);
            }
            if l + 1 < self.layers.len() {
                for j in 0..2 {
                    scale_by_derivative(activation, &z, &mut dz[j * rows * n..(j + 1) * rows * n]);
                }
                activate_in_place(activation, &mut z);
            }
            ws.b = std::mem::replace(&mut ws.a, z);
            ws.tangent_b = std::mem::replace(&mut ws.tangent_a, dz);
        }
        let n = self.config.outputs;
        for r in 0..rows {
            out[r] = [ws.a[r * n], ws.a[r * n + 1]];
            let (d0, d1) = (&ws.tangent_a[r * n..], &ws.tangent_a[(rows + r) * n..]);
            jacobian[r] = [[d0[0], d1[0]], [d0[1], d1[1]]];
        }
    }
}

/// z[r] = bias + x[r][0] w0 + x[r][1] w1 for every row r (rows of `bias.len()` values): the
/// first layer at a shared time. Compiled for AVX2 + FMA where the processor has them.
fn rank_two(bias: &[f32], w0: &[f32], w1: &[f32], xs: &[[f32; 2]], z: &mut [f32]) {
    #[inline(always)]
    fn rows<const FMA: bool>(bias: &[f32], w0: &[f32], w1: &[f32], xs: &[[f32; 2]], z: &mut [f32]) {
        let n = bias.len();
        for (z, x) in z.chunks_exact_mut(n).zip(xs) {
            // Zipped, not indexed: indexing three slices of unproven length kept the loop scalar.
            for ((z, b), (a, c)) in z.iter_mut().zip(bias).zip(w0.iter().zip(w1)) {
                *z = if FMA { x[1].mul_add(*c, x[0].mul_add(*a, *b)) } else { b + x[0] * a + x[1] * c };
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn wide(bias: &[f32], w0: &[f32], w1: &[f32], xs: &[[f32; 2]], z: &mut [f32]) {
            rows::<true>(bias, w0, w1, xs, z)
        }
        if super::gemm::has_avx2_fma() {
            // SAFETY: the processor has the features the wide build uses.
            unsafe { wide(bias, w0, w1, xs, z) };
            return;
        }
    }
    rows::<false>(bias, w0, w1, xs, z)
}

/// The feature rows of points `xs` at per-point times `ts` (rows x input_dim).
pub fn feature_rows(config: &MlpConfig, xs: &[[f32; 2]], ts: &[f32], condition: [f32; 2], out: &mut Vec<f32>) {
    let mut row = Vec::with_capacity(config.input_dim());
    out.clear();
    for (x, t) in xs.iter().zip(ts) {
        config.features(*x, *t, condition, &mut row);
        out.extend_from_slice(&row);
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::nn::activation::Activation;
    use crate::core::nn::mlp::Workspace;
    use crate::core::rng::RngStream;

    /// Batch and scalar forward passes agree for every activation, batch sizes that leave
    /// edges, and widths that are and are not multiples of the tile.
    #[test]
    fn batch_forward_matches_the_scalar_one() {
        let mut rng = RngStream::new(7, 8);
        for activation in Activation::ALL {
            for (width, depth) in [(16, 1), (40, 2), (64, 3)] {
                let config = MlpConfig { width, depth, activation, condition_dim: 2, ..MlpConfig::default() };
                let mlp = Mlp::new(config, 5).unwrap();
                let batch = BatchMlp::new(&mlp);
                let xs: Vec<[f32; 2]> = (0..131).map(|_| [rng.normal() as f32, rng.normal() as f32]).collect();
                let mut out = vec![[0.0; 2]; xs.len()];
                batch.forward(&xs, 0.37, [0.2, -0.1], &mut out, &mut BatchWorkspace::default());
                let mut ws = Workspace::default();
                for (x, got) in xs.iter().zip(&out) {
                    let want = mlp.eval(*x, 0.37, [0.2, -0.1], &mut ws);
                    for d in 0..2 {
                        let tolerance = 1e-5 * (1.0 + want[d].abs());
                        assert!(
                            (got[d] - want[d]).abs() <= tolerance,
                            "{activation:?} {width}x{depth}: {got:?} vs {want:?}"
                        );
                    }
                }
            }
        }
    }

    /// The batched forward-mode Jacobian equals the scalar one, for every activation.
    #[test]
    fn batch_jacobian_matches_the_scalar_one() {
        let mut rng = RngStream::new(9, 10);
        for activation in Activation::ALL {
            let config = MlpConfig { width: 40, depth: 2, activation, ..MlpConfig::default() };
            let mlp = Mlp::new(config, 6).unwrap();
            let batch = BatchMlp::new(&mlp);
            let rows = 37;
            let xs: Vec<[f32; 2]> = (0..rows).map(|_| [rng.normal() as f32, rng.normal() as f32]).collect();
            let ts: Vec<f32> = (0..rows).map(|_| rng.uniform() as f32).collect();
            let mut features = Vec::new();
            feature_rows(&config, &xs, &ts, [0.0; 2], &mut features);
            let (mut out, mut jac) = (vec![[0.0; 2]; rows], vec![[[0.0; 2]; 2]; rows]);
            batch.jacobian_block(rows, &features, &mut out, &mut jac, &mut BatchWorkspace::default());
            for r in 0..rows {
                let (want, want_jac) = mlp.eval_with_jacobian(xs[r], ts[r], [0.0; 2]);
                for o in 0..2 {
                    assert!((out[r][o] - want[o]).abs() <= 1e-5 * (1.0 + want[o].abs()), "{activation:?} out");
                    for j in 0..2 {
                        let w = want_jac[o][j];
                        assert!(
                            (jac[r][o][j] - w).abs() <= 1e-5 * (1.0 + w.abs()),
                            "{activation:?} row {r} d{o}/dx{j}: {} vs {w}",
                            jac[r][o][j]
                        );
                    }
                }
            }
        }
    }
}
