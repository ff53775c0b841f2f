//! The minibatch gradient of an MLP objective, batched in f32: each block of rows passes the
//! network forward with a tape (every layer's pre-activation and output), the objective turns
//! the outputs into losses and output gradients, and the backward pass runs every layer as
//! two products of the kernel layer:
//!
//! * the weight gradient, reduced over the block's rows: dW += dZ^T H (outputs x rows times
//!   rows x inputs), the bias gradient the column sums of dZ;
//! * the gradient of the layer's input: dH = dZ W (rows x outputs times outputs x inputs),
//!   then through the activation's derivative.
//!
//! # Same answer on any number of threads
//! Rows are cut into groups that depend only on the batch size (at most [`MAX_PARTIALS`]
//! groups of whole blocks). Each group sums its blocks in order into its own partial
//! gradient, whichever thread runs it, and the partials are summed in group order. So a step
//! gives the same bits on 1 core or 16, and batching changes a result only by f32 rounding
//! against the per-sample f64 reference (`mlp::vjp`), which the tests bound by
//! [`GRADIENT_TOLERANCE`].

use super::activation_batch::{activate_with_slope, multiply};
use super::batch::{BatchMlp, BLOCK};
use super::gemm::{gemm, gemm_transposed_a, Shape, Start};
use super::parallel::for_each_mut;

/// Most partial gradients a step keeps (their memory is this many parameter vectors).
pub const MAX_PARTIALS: usize = 8;

/// Agreement of the batched f32 gradient with the per-sample f64 one, relative to the
/// gradient's largest entry: f32 rounding of sums over up to a few thousand rows.
pub const GRADIENT_TOLERANCE: f64 = 1e-4;

/// What an objective says about the rows of one minibatch. Rows are independent: row `r`'s
/// draws, input and loss depend on `r` but on no other row, so they run on any thread.
pub trait RowLoss: Sync {
    /// What a row draws (its data point, time, noise...).
    type Row: Send + Clone;
    /// Row `row`'s draws.
    fn draw(&self, row: usize) -> Self::Row;
    /// The row's network input (`input_dim` values) into `input`.
    fn features(&self, row: &Self::Row, input: &mut [f32]);
    /// The row's loss at the network's outputs `out`, and d loss / d out into `d_out`.
    fn loss(&self, row: &Self::Row, out: &[f32], d_out: &mut [f32]) -> f64;
}

/// What one block keeps from its forward pass for the backward pass.
#[derive(Debug, Clone, Default)]
pub struct Tape {
    rows: usize,
    input: Vec<f32>,
    /// post[l]: hidden layer l's output after the activation (rows x width).
    post: Vec<Vec<f32>>,
    /// slope[l]: the activation's derivative at hidden layer l's pre-activation.
    slope: Vec<Vec<f32>>,
    /// The last layer's output (rows x outputs).
    out: Vec<f32>,
    d: Vec<f32>,
    d_previous: Vec<f32>,
}

impl BatchMlp {
    /// Forward pass over `rows` rows of features, keeping the tape; returns the outputs
    /// (rows x outputs).
    pub fn forward_taped<'t>(&self, rows: usize, features: &[f32], tape: &'t mut Tape) -> &'t [f32] {
        let depth = self.layers.len();
        tape.rows = rows;
        tape.input.clear();
        tape.input.extend_from_slice(&features[..rows * self.config.input_dim()]);
        tape.post.resize(depth - 1, Vec::new());
        tape.slope.resize(depth - 1, Vec::new());
        for l in 0..depth {
            let last = l + 1 == depth;
            let mut z = if last { std::mem::take(&mut tape.out) } else { std::mem::take(&mut tape.post[l]) };
            let x = if l == 0 { &tape.input } else { &tape.post[l - 1] };
            self.dense(l, rows, x, &mut z);
            if last {
                tape.out = z;
            } else {
                tape.slope[l].resize(z.len(), 0.0);
                activate_with_slope(self.config.activation, &mut z, &mut tape.slope[l]);
                tape.post[l] = z;
            }
        }
        &tape.out
    }

    /// Backward pass after [`Self::forward_taped`]: adds the parameter gradient of
    /// sum_r d_out[r] . out[r] into `grad` (the flat parameter layout) and, when asked,
    /// writes the gradient in the features (rows x input_dim) into `input_grad`.
    pub fn backward(&self, tape: &mut Tape, d_out: &[f32], grad: &mut [f32], input_grad: Option<&mut Vec<f32>>) {
        self.backward_into(tape, d_out, grad, Start::Accumulate, input_grad);
    }

    /// [`Self::backward`], or with `Start::Zero` overwriting `grad` instead of adding to it
    /// (every parameter's entry is written: a group's first block needs no zeroed buffer).
    fn backward_into(
        &self,
        tape: &mut Tape,
        d_out: &[f32],
        grad: &mut [f32],
        start: Start,
        input_grad: Option<&mut Vec<f32>>,
    ) {
        let overwrite = matches!(start, Start::Zero);
        let rows = tape.rows;
        let layout = self.config.layers();
        let depth = self.layers.len();
        tape.d.clear();
        tape.d.extend_from_slice(&d_out[..rows * self.config.outputs]);
        let mut input_grad = input_grad;
        for l in (0..depth).rev() {
            let (layer, offsets) = (&self.layers[l], layout[l]);
            let (n_in, n_out) = (layer.inputs, layer.outputs);
            let x = if l == 0 { &tape.input } else { &tape.post[l - 1] };
            // dW += dZ^T X: the reduction over the block's rows is the product's k.
            gemm_transposed_a(
                Shape { m: n_out, k: rows, n: n_in },
                &tape.d,
                x,
                &mut grad[offsets.weights..offsets.weights + n_out * n_in],
                if overwrite { Start::Zero } else { Start::Accumulate },
            );
            let bias = &mut grad[offsets.bias..offsets.bias + n_out];
            if overwrite {
                bias.fill(0.0);
            }
            for row in tape.d.chunks_exact(n_out) {
                bias.iter_mut().zip(row).for_each(|(g, d)| *g += *d);
            }
            let wanted = l > 0 || input_grad.is_some();
            if !wanted {
                break;
            }
            tape.d_previous.resize(rows * n_in, 0.0);
            gemm(Shape { m: rows, k: n_out, n: n_in }, &tape.d, &layer.w, &mut tape.d_previous, Start::Zero);
            if l > 0 {
                multiply(&mut tape.d_previous, &tape.slope[l - 1]);
                std::mem::swap(&mut tape.d, &mut tape.d_previous);
            } else if let Some(out) = input_grad.take() {
                out.clear();
                out.extend_from_slice(&tape.d_previous);
            }
        }
    }
}

/// One group of rows: its partial gradient and its rows' losses.
#[derive(Debug, Clone, Default)]
struct Group {
    rows: std::ops::Range<usize>,
    gradient: Vec<f32>,
    losses: Vec<f64>,
    tape: Tape,
    features: Vec<f32>,
    d_out: Vec<f32>,
}

/// Buffers kept between steps (partials, tapes), so a step allocates nothing.
#[derive(Debug, Clone, Default)]
pub struct MinibatchWorkspace {
    groups: Vec<Group>,
    /// The summed gradient, in chunks the threads fill.
    chunks: Vec<Vec<f32>>,
}

/// The mean loss over a minibatch and its gradient (the mean of the rows' gradients).
#[derive(Debug, Clone, PartialEq)]
pub struct MinibatchGradient {
    pub mean_loss: f64,
    /// Each row's loss, in row order.
    pub row_losses: Vec<f64>,
    pub gradient: Vec<f32>,
}

/// Rows per group for a batch: whole blocks, and at most MAX_PARTIALS groups.
fn group_rows(batch: usize) -> usize {
    let blocks = batch.div_ceil(BLOCK);
    blocks.div_ceil(MAX_PARTIALS) * BLOCK
}

/// Parameters per chunk of the final reduction (one thread's share at a time).
const REDUCE_CHUNK: usize = 8192;
/// Rows that make a thread worth starting (measured at 64 x 3: batch 128 on one thread ran
/// 2 800 steps/s, on two 1 400).
const MIN_ROWS_PER_THREAD: usize = 256;
/// Partial-gradient chunks that make a thread worth starting for the reduction.
const MIN_CHUNKS_PER_THREAD: usize = 4;

/// The mean loss and gradient of `objective` over rows 0..batch.
pub fn minibatch_gradient<L: RowLoss>(
    net: &BatchMlp,
    batch: usize,
    objective: &L,
    ws: &mut MinibatchWorkspace,
) -> MinibatchGradient {
    let params = net.config.param_count();
    let per_group = group_rows(batch).max(1);
    let starts: Vec<usize> = (0..batch).step_by(per_group).collect();
    ws.groups.resize(starts.len(), Group::default());
    for (group, start) in ws.groups.iter_mut().zip(&starts) {
        group.rows = *start..(*start + per_group).min(batch);
    }
    let (inputs, outputs) = (net.config.input_dim(), net.config.outputs);
    for_each_mut(&mut ws.groups, MIN_ROWS_PER_THREAD.div_ceil(per_group), |_, group| {
        // Allocated once; the group's first block overwrites every entry.
        group.gradient.resize(params, 0.0);
        group.losses.clear();
        let mut drawn = Vec::with_capacity(BLOCK);
        for block in group.rows.clone().step_by(BLOCK) {
            let rows = BLOCK.min(group.rows.end - block);
            drawn.clear();
            drawn.extend((block..block + rows).map(|r| objective.draw(r)));
            group.features.resize(rows * inputs, 0.0);
            for (r, row) in drawn.iter().enumerate() {
                objective.features(row, &mut group.features[r * inputs..(r + 1) * inputs]);
            }
            let out = net.forward_taped(rows, &group.features, &mut group.tape);
            group.d_out.resize(rows * outputs, 0.0);
            for (r, row) in drawn.iter().enumerate() {
                let loss = objective.loss(
                    row,
                    &out[r * outputs..(r + 1) * outputs],
                    &mut group.d_out[r * outputs..(r + 1) * outputs],
                );
                group.losses.push(loss);
            }
            let start = if block == group.rows.start { Start::Zero } else { Start::Accumulate };
            net.backward_into(&mut group.tape, &group.d_out, &mut group.gradient, start, None);
        }
    });
    // Sum the partials in group order, a chunk of parameters per job: the same sums on any
    // number of threads.
    if batch == 0 {
        // No rows: no gradient, and a mean loss that is not a number (callers refuse it).
        return MinibatchGradient { mean_loss: f64::NAN, row_losses: Vec::new(), gradient: vec![0.0; params] };
    }
    let scale = 1.0 / batch as f32;
    ws.chunks.resize(params.div_ceil(REDUCE_CHUNK), Vec::new());
    let groups = &ws.groups;
    for_each_mut(&mut ws.chunks, MIN_CHUNKS_PER_THREAD, |c, chunk| {
        let range = c * REDUCE_CHUNK..((c + 1) * REDUCE_CHUNK).min(params);
        chunk.clear();
        chunk.extend_from_slice(&groups[0].gradient[range.clone()]);
        for group in &groups[1..] {
            chunk.iter_mut().zip(&group.gradient[range.clone()]).for_each(|(g, p)| *g += *p);
        }
        chunk.iter_mut().for_each(|g| *g *= scale);
    });
    let gradient = ws.chunks.concat();
    let row_losses: Vec<f64> = ws.groups.iter().flat_map(|g| g.losses.iter().copied()).collect();
    let mean_loss = row_losses.iter().sum::<f64>() / batch as f64;
    MinibatchGradient { mean_loss, row_losses, gradient }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::nn::activation::Activation;
    use crate::core::nn::mlp::{forward_all, vjp, Mlp, MlpConfig, Workspace};
    use crate::core::nn::parallel;
    use crate::core::rng::RngStream;

    /// A quadratic loss against fixed targets: 0.5 |out - target|^2 per row.
    struct Regression {
        inputs: Vec<Vec<f32>>,
        targets: Vec<Vec<f32>>,
    }

    impl RowLoss for Regression {
        type Row = usize;
        fn draw(&self, row: usize) -> usize {
            row
        }
        fn features(&self, row: &usize, input: &mut [f32]) {
            input.copy_from_slice(&self.inputs[*row]);
        }
        fn loss(&self, row: &usize, out: &[f32], d_out: &mut [f32]) -> f64 {
            let mut loss = 0.0;
            for (o, (v, t)) in out.iter().zip(&self.targets[*row]).enumerate() {
                d_out[o] = v - t;
                loss += 0.5 * f64::from(v - t).powi(2);
            }
            loss
        }
    }

    fn problem(config: &MlpConfig, batch: usize, rng: &mut RngStream) -> Regression {
        let inputs = (0..batch).map(|_| (0..config.input_dim()).map(|_| rng.normal() as f32).collect()).collect();
        let targets = (0..batch).map(|_| (0..config.outputs).map(|_| rng.normal() as f32).collect()).collect();
        Regression { inputs, targets }
    }

    /// The per-sample f64 reference: the mean of `mlp::vjp` over the rows.
    fn reference(mlp: &Mlp, objective: &Regression) -> (f64, Vec<f64>) {
        let params: Vec<f64> = mlp.params.iter().map(|p| f64::from(*p)).collect();
        let mut grad = vec![0.0; params.len()];
        let (mut ws, mut grad_input) = (Workspace::default(), Vec::new());
        let mut total = 0.0;
        let n = objective.inputs.len();
        for (input, target) in objective.inputs.iter().zip(&objective.targets) {
            let input: Vec<f64> = input.iter().map(|v| f64::from(*v)).collect();
            let out = forward_all(&mlp.config, &params, &input, &mut ws).to_vec();
            let d: Vec<f64> = out.iter().zip(target).map(|(o, t)| o - f64::from(*t)).collect();
            total += d.iter().map(|v| 0.5 * v * v).sum::<f64>();
            vjp(&mlp.config, &params, &ws, &d, &mut grad, &mut grad_input);
        }
        grad.iter_mut().for_each(|g| *g /= n as f64);
        (total / n as f64, grad)
    }

    /// Batched f32 gradients equal the per-sample f64 ones within GRADIENT_TOLERANCE, for
    /// every activation, widths on and off the tile, batches with partial blocks, and a
    /// classifier's many outputs.
    #[test]
    fn batched_gradient_matches_the_per_sample_reference() {
        let mut rng = RngStream::new(21, 22);
        for activation in Activation::ALL {
            for (width, depth, outputs, batch) in [(16, 1, 2, 5), (40, 2, 2, 131), (64, 3, 2, 256), (32, 2, 7, 70)] {
                let config = MlpConfig { width, depth, activation, outputs, condition_dim: 2, ..MlpConfig::default() };
                let mlp = Mlp::new(config, 3).unwrap();
                let objective = problem(&config, batch, &mut rng);
                let got =
                    minibatch_gradient(&BatchMlp::new(&mlp), batch, &objective, &mut MinibatchWorkspace::default());
                let (loss, want) = reference(&mlp, &objective);
                assert!(
                    (got.mean_loss - loss).abs() <= 1e-5 * (1.0 + loss),
                    "{activation:?} loss {} vs {loss}",
                    got.mean_loss
                );
                let scale = want.iter().fold(0.0f64, |m, g| m.max(g.abs()));
                for (k, (g, w)) in got.gradient.iter().zip(&want).enumerate() {
                    assert!(
                        (f64::from(*g) - w).abs() <= GRADIENT_TOLERANCE * scale,
                        "{activation:?} {width}x{depth} batch {batch}, parameter {k}: {g} vs {w}"
                    );
                }
            }
        }
    }

    /// The gradient in the inputs equals the reference VJP's.
    #[test]
    fn input_gradient_matches_the_reference() {
        let mut rng = RngStream::new(5, 6);
        let config = MlpConfig { width: 48, depth: 2, activation: Activation::Tanh, ..MlpConfig::default() };
        let mlp = Mlp::new(config, 8).unwrap();
        let net = BatchMlp::new(&mlp);
        let rows = 9;
        let features: Vec<f32> = (0..rows * config.input_dim()).map(|_| rng.normal() as f32).collect();
        let d_out: Vec<f32> = (0..rows * 2).map(|_| rng.normal() as f32).collect();
        let mut tape = Tape::default();
        net.forward_taped(rows, &features, &mut tape);
        let (mut grad, mut input_grad) = (vec![0.0; config.param_count()], Vec::new());
        net.backward(&mut tape, &d_out, &mut grad, Some(&mut input_grad));
        let params: Vec<f64> = mlp.params.iter().map(|p| f64::from(*p)).collect();
        let inputs = config.input_dim();
        for r in 0..rows {
            let x: Vec<f64> = features[r * inputs..(r + 1) * inputs].iter().map(|v| f64::from(*v)).collect();
            let mut ws = Workspace::default();
            forward_all(&config, &params, &x, &mut ws);
            let (mut g, mut want) = (vec![0.0; params.len()], Vec::new());
            let d = [f64::from(d_out[2 * r]), f64::from(d_out[2 * r + 1])];
            vjp(&config, &params, &ws, &d, &mut g, &mut want);
            for i in 0..inputs {
                let got = f64::from(input_grad[r * inputs + i]);
                assert!(
                    (got - want[i]).abs() <= 1e-5 * (1.0 + want[i].abs()),
                    "row {r} input {i}: {got} vs {}",
                    want[i]
                );
            }
        }
    }

    /// An empty batch gives no gradient and a loss that callers refuse, not a panic.
    #[test]
    fn an_empty_batch_is_not_a_number() {
        let config = MlpConfig { width: 16, depth: 1, ..MlpConfig::default() };
        let mlp = Mlp::new(config, 1).unwrap();
        let objective = problem(&config, 0, &mut RngStream::new(1, 2));
        let got = minibatch_gradient(&BatchMlp::new(&mlp), 0, &objective, &mut MinibatchWorkspace::default());
        assert!(got.mean_loss.is_nan() && got.row_losses.is_empty());
        assert!(got.gradient.iter().all(|g| *g == 0.0) && got.gradient.len() == config.param_count());
    }

    /// One thread or many: the same bits.
    #[test]
    fn the_gradient_does_not_depend_on_the_thread_count() {
        let mut rng = RngStream::new(1, 1);
        let config = MlpConfig { width: 32, depth: 2, ..MlpConfig::default() };
        let mlp = Mlp::new(config, 2).unwrap();
        let objective = problem(&config, 1000, &mut rng);
        let net = BatchMlp::new(&mlp);
        parallel::set_max_threads(1);
        let one = minibatch_gradient(&net, 1000, &objective, &mut MinibatchWorkspace::default());
        parallel::set_max_threads(0);
        let all = minibatch_gradient(&net, 1000, &objective, &mut MinibatchWorkspace::default());
        assert_eq!(one, all);
    }
}
