//! The MLP's forward pass over a batch of inputs, for the CPU executor: the same function as
//! [`super::mlp::forward`], arranged for the hardware. Weights are transposed once (input-major)
//! so that a register tile of 6 batch rows x 16 outputs accumulates with fused multiply-adds over
//! contiguous memory, and the activation uses a polynomial exp that vectorises. On x86-64 with
//! AVX2 and FMA (detected at run time) the tile compiles to 256-bit FMAs; elsewhere the same
//! code runs with whatever the target offers.
//!
//! Agreement with the scalar forward pass is a test (relative 1e-5), and the scalar pass stays
//! the definition: training and the Jacobian use it.

use super::activation::Activation;
use super::mlp::{Mlp, MlpConfig};

/// Outputs per register tile, and rows (batch entries) per tile.
const TILE_OUT: usize = 16;
const TILE_ROWS: usize = 6;
/// Inputs per block: keeps a block's activations in L1/L2.
pub const BLOCK: usize = 96;

/// The network with each layer's weights transposed to [input][output].
#[derive(Debug, Clone, PartialEq)]
pub struct BatchMlp {
    pub config: MlpConfig,
    layers: Vec<(usize, usize, Vec<f32>, Vec<f32>)>,
}

/// Scratch for one block.
#[derive(Debug, Clone, Default)]
pub struct BatchWorkspace {
    a: Vec<f32>,
    b: Vec<f32>,
}

impl BatchMlp {
    pub fn new(mlp: &Mlp) -> Self {
        let layers = mlp
            .config
            .layers()
            .iter()
            .map(|l| {
                let mut wt = vec![0.0; l.inputs * l.outputs];
                for o in 0..l.outputs {
                    for i in 0..l.inputs {
                        wt[i * l.outputs + o] = mlp.params[l.weights + o * l.inputs + i];
                    }
                }
                (l.inputs, l.outputs, wt, mlp.params[l.bias..l.bias + l.outputs].to_vec())
            })
            .collect();
        BatchMlp { config: mlp.config, layers }
    }

    /// The first two outputs for each x at time t (and condition), block by block.
    pub fn forward(&self, xs: &[[f32; 2]], t: f32, condition: [f32; 2], out: &mut [[f32; 2]], ws: &mut BatchWorkspace) {
        // Every feature but x depends only on (t, condition): compute them once.
        let mut features = Vec::with_capacity(self.config.input_dim());
        self.config.features([0.0; 2], t, condition, &mut features);
        for (xb, ob) in xs.chunks(BLOCK).zip(out.chunks_mut(BLOCK)) {
            let rows = xb.len();
            let inputs = self.config.input_dim();
            ws.a.clear();
            for x in xb {
                features[0] = x[0];
                features[1] = x[1];
                ws.a.extend_from_slice(&features);
            }
            for (l, (n_in, n_out, wt, bias)) in self.layers.iter().enumerate() {
                debug_assert_eq!(*n_in, if l == 0 { inputs } else { self.config.width });
                ws.b.resize(rows * n_out, 0.0);
                let activation = (l + 1 < self.layers.len()).then_some(self.config.activation);
                dense(&ws.a, rows, *n_in, wt, bias, *n_out, activation, &mut ws.b);
                std::mem::swap(&mut ws.a, &mut ws.b);
            }
            let n_out = self.config.outputs;
            for (r, o) in ob.iter_mut().enumerate() {
                *o = [ws.a[r * n_out], ws.a[r * n_out + 1]];
            }
        }
    }
}

/// The arguments of one dense layer: y[r][o] = act(bias[o] + sum_i x[r][i] wt[i][o]).
struct Dense<'a> {
    x: &'a [f32],
    rows: usize,
    inputs: usize,
    wt: &'a [f32],
    bias: &'a [f32],
    outputs: usize,
    activation: Option<Activation>,
}

/// One layer, dispatching to the FMA build where the CPU has it.
#[allow(clippy::too_many_arguments)]
fn dense(
    x: &[f32],
    rows: usize,
    inputs: usize,
    wt: &[f32],
    bias: &[f32],
    outputs: usize,
    activation: Option<Activation>,
    y: &mut [f32],
) {
    let layer = Dense { x, rows, inputs, wt, bias, outputs, activation };
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features this build of the function uses.
            unsafe { dense_avx2_fma(&layer, y) };
            return;
        }
    }
    dense_tiled::<false>(&layer, y);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dense_avx2_fma(layer: &Dense, y: &mut [f32]) {
    dense_tiled::<true>(layer, y);
}

#[inline(always)]
fn madd<const FMA: bool>(acc: f32, a: f32, b: f32) -> f32 {
    // mul_add is one instruction with FMA hardware and a slow library call without it.
    if FMA {
        a.mul_add(b, acc)
    } else {
        acc + a * b
    }
}

#[inline(always)]
fn dense_tiled<const FMA: bool>(layer: &Dense, y: &mut [f32]) {
    let Dense { x, rows, inputs, wt, bias, outputs, activation } = *layer;
    let full_rows = rows - rows % TILE_ROWS;
    let full_outs = outputs - outputs % TILE_OUT;
    for r in (0..full_rows).step_by(TILE_ROWS) {
        for o in (0..full_outs).step_by(TILE_OUT) {
            let mut acc = [[0.0f32; TILE_OUT]; TILE_ROWS];
            for row in acc.iter_mut() {
                row.copy_from_slice(&bias[o..o + TILE_OUT]);
            }
            for i in 0..inputs {
                let w: &[f32; TILE_OUT] = wt[i * outputs + o..i * outputs + o + TILE_OUT].try_into().expect("tile");
                for (k, row) in acc.iter_mut().enumerate() {
                    let xv = x[(r + k) * inputs + i];
                    for j in 0..TILE_OUT {
                        row[j] = madd::<FMA>(row[j], xv, w[j]);
                    }
                }
            }
            for (k, row) in acc.iter().enumerate() {
                y[(r + k) * outputs + o..(r + k) * outputs + o + TILE_OUT].copy_from_slice(row);
            }
        }
    }
    // Edges: rows past the last full tile, and outputs past the last full tile (the 2-wide
    // output layer lives here).
    for r in 0..rows {
        let start = if r < full_rows { full_outs } else { 0 };
        for o in start..outputs {
            let mut acc = bias[o];
            for i in 0..inputs {
                acc = madd::<FMA>(acc, x[r * inputs + i], wt[i * outputs + o]);
            }
            y[r * outputs + o] = acc;
        }
    }
    // The activation in the same build as the layer, so it vectorises as widely.
    if let Some(kind) = activation {
        activate(kind, &mut y[..rows * outputs]);
    }
}

/// e^z for z <= 0 by range reduction and a degree-6 polynomial (relative error about 2e-7),
/// written so that loops over it vectorise.
#[inline(always)]
fn exp_nonpositive(z: f32) -> f32 {
    let z = z.max(-87.0);
    let k = (z * std::f32::consts::LOG2_E).round();
    // ln 2 in two parts (Cody and Waite), so that k ln 2 is exact enough for k up to 126.
    let r = (z - k * 0.693_359_4) - k * -2.121_944_4e-4;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^k through the exponent bits (k >= -126 after the clamp).
    p * f32::from_bits(((k as i32 + 127) as u32) << 23)
}

#[inline(always)]
fn activate(kind: Activation, values: &mut [f32]) {
    match kind {
        Activation::Silu => {
            for v in values.iter_mut() {
                // sigmoid from e^{-|z|} keeps the exponent non-positive.
                let e = exp_nonpositive(-v.abs());
                let s = if *v >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
                *v *= s;
            }
        }
        Activation::Tanh => values.iter_mut().for_each(|v| *v = v.tanh()),
        Activation::Softplus => values.iter_mut().for_each(|v| *v = v.max(0.0) + exp_nonpositive(-v.abs()).ln_1p()),
        Activation::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::nn::mlp::Workspace;
    use crate::core::rng::RngStream;

    #[test]
    fn polynomial_exp_is_accurate() {
        for i in 0..2000 {
            let z = -87.0 * i as f32 / 2000.0;
            let (got, want) = (exp_nonpositive(z), z.exp());
            assert!((got - want).abs() <= 1e-6 * want + 1e-37, "exp({z}): {got} vs {want}");
        }
    }

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
}
