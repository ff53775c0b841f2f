//! The CPU executor's fast path: a plan without per-particle control flow, on a network,
//! run block by block. Each block of [`BLOCK`] particles runs the whole plan before the next
//! starts, so its registers and the network's activations stay in the core's cache, and the
//! blocks are shared among the cores once per run (not once per evaluation, as the op-by-op
//! loop's batched evaluations are: twenty short parallel passes for a 20-step sampler).
//!
//! Every particle's arithmetic is the op-by-op loop's (`cpu::pointwise` and the same
//! `BatchMlp::forward_at` per row), so both paths give the same numbers bit for bit; a test
//! holds them to it.

use super::cpu::{pointwise, Registers, RunError, RunOptions, RunResult};
use crate::core::nn::batch::{BatchMlp, BatchWorkspace};
use crate::core::nn::parallel::for_each_mut_claimed;
use crate::core::sample::plan::{Op, Plan, MAX_REGISTERS};

/// Particles per block: a multiple of the kernel's 6-row register tile, so no block ends on a
/// partial tile (measured no slower than 64; 60 rows of 128 activations are 30 KB, inside L1).
const BLOCK: usize = 60;

/// Multiply-adds a thread must have before starting it pays (starting one costs tens of
/// microseconds; this is a few hundred).
const MIN_THREAD_WORK: usize = 4 << 20;

/// Whether every op of the plan is an evaluation at a shared time or reads one particle's
/// registers only: then the particles never wait for one another.
pub fn runs_in_blocks(plan: &Plan) -> bool {
    plan.ops.iter().all(|op| {
        matches!(
            op,
            Op::Init { .. }
                | Op::Eval { .. }
                | Op::Axpy { .. }
                | Op::LoadInput { .. }
                | Op::AddIncrement { .. }
                | Op::Replace { .. }
                | Op::Snapshot { .. }
        )
    })
}

/// One block's share of the run: its particles' results and its traced particles' frames.
#[derive(Default)]
struct Block {
    /// The slice-local index of its first particle, and how many it has.
    start: usize,
    count: usize,
    positions: Vec<[f32; 2]>,
    /// R[value_register][0] per particle, where the plan declares one.
    values: Vec<f32>,
    /// (snapshot, traced index, value) for the traced particles in this block.
    recorded: Vec<(usize, usize, [f32; 2])>,
}

/// Runs particles `first .. first + options.particles` of `plan` on `net` (with the model's
/// condition), block by block. The caller checked the plan (`runs_in_blocks`, `validate`),
/// its parameterisation and its input rows.
pub fn run_blocks(
    plan: &Plan,
    net: &BatchMlp,
    condition: [f32; 2],
    options: &RunOptions,
    first: usize,
) -> Result<RunResult, RunError> {
    let n = options.particles;
    let rows = plan.input_rows();
    // The first layer's pre-activation at x = 0 for each evaluation's time, shared by all.
    let input_bias: Vec<Vec<f32>> = plan
        .ops
        .iter()
        .map(|op| match op {
            Op::Eval { t, .. } => net.input_bias(*t, condition),
            _ => Vec::new(),
        })
        .collect();
    let evaluations = plan.ops.iter().filter(|op| matches!(op, Op::Eval { .. })).count();
    let snapshots = plan.ops.iter().filter(|op| matches!(op, Op::Snapshot { .. })).count();
    // Traced particles in this slice: (slice-local index, index in the frames), by particle.
    let mut traced: Vec<(usize, usize)> = options
        .traced
        .iter()
        .filter(|p| (first..first + n).contains(*p))
        .enumerate()
        .map(|(j, p)| (p - first, j))
        .collect();
    let traced_count = traced.len();
    traced.sort_unstable();

    let mut blocks: Vec<Block> =
        (0..n).step_by(BLOCK).map(|start| Block { start, count: BLOCK.min(n - start), ..Block::default() }).collect();
    let block_work = BLOCK * evaluations.max(1) * net.config.macs_per_eval();
    let min_blocks = MIN_THREAD_WORK.div_ceil(block_work.max(1));
    for_each_mut_claimed(&mut blocks, min_blocks, |_, block| {
        run_block(plan, net, &input_bias, &traced, block, first, options, rows);
    });

    let mut frames = vec![vec![[0.0f32; 2]; traced_count]; snapshots];
    for block in &blocks {
        for (s, j, value) in &block.recorded {
            frames[*s][*j] = *value;
        }
    }
    let positions: Vec<[f32; 2]> = blocks.iter().flat_map(|b| b.positions.iter().copied()).collect();
    let values: Vec<f32> = blocks.iter().flat_map(|b| b.values.iter().copied()).collect();
    if let Some(p) = positions.iter().position(|x| !x.iter().all(|v| v.is_finite())) {
        return Err(RunError::Diverged { particle: first + p });
    }
    Ok(RunResult { positions, frames, nfe: evaluations as f64, values })
}

/// Every op of the plan over one block's particles.
#[allow(clippy::too_many_arguments)]
fn run_block(
    plan: &Plan,
    net: &BatchMlp,
    input_bias: &[Vec<f32>],
    traced: &[(usize, usize)],
    block: &mut Block,
    first: usize,
    options: &RunOptions,
    rows: usize,
) {
    let (start, count) = (block.start, block.count);
    let mut regs: Vec<Registers> = vec![[[0.0; 2]; MAX_REGISTERS]; count];
    let (mut xs, mut out) = (vec![[0.0f32; 2]; count], vec![[0.0f32; 2]; count]);
    let mut ws = BatchWorkspace::default();
    let in_block =
        &traced[traced.partition_point(|(p, _)| *p < start)..traced.partition_point(|(p, _)| *p < start + count)];
    let mut snapshot = 0;
    for (i, op) in plan.ops.iter().enumerate() {
        match op {
            Op::Eval { at, into, out_scale, x_scale, offset, .. } => {
                for (x, r) in xs.iter_mut().zip(&regs) {
                    *x = r[*at as usize];
                }
                net.forward_at(&input_bias[i], &xs, &mut out, &mut ws);
                for ((r, x), o) in regs.iter_mut().zip(&xs).zip(&out) {
                    r[*into as usize] = [0, 1].map(|d| out_scale * o[d] + x_scale * x[d] + offset[d]);
                }
            }
            Op::Snapshot { reg, .. } => {
                for (p, j) in in_block {
                    block.recorded.push((snapshot, *j, regs[p - start][*reg as usize]));
                }
                snapshot += 1;
            }
            _ => {
                for (k, r) in regs.iter_mut().enumerate() {
                    pointwise(op, r, start + k, first, options, rows);
                }
            }
        }
    }
    block.positions = regs.iter().map(|r| r[0]).collect();
    if let Some(v) = plan.value_register {
        block.values = regs.iter().map(|r| r[v as usize][0]).collect();
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::nn::{Mlp, MlpConfig};
    use crate::core::param::Parameterisation;
    use crate::core::sample::model::MlpModel;
    use crate::exec::agreement::cases;
    use crate::exec::cpu::run_ops;

    /// Every agreement case whose plan runs in blocks gives, block by block, exactly what the
    /// op-by-op loop gives: positions, traced frames, values and NFE, bit for bit, for a slice
    /// that starts past 0 and whose size is not a multiple of the block.
    #[test]
    fn blocks_equal_the_op_by_op_loop_bit_for_bit() {
        let mlp = Mlp::new(MlpConfig { width: 24, depth: 2, ..MlpConfig::default() }, 3).expect("a small network");
        let (first, particles) = (7, 2 * BLOCK + 17);
        let options = RunOptions { particles, seed: 11, traced: vec![7, 60, 3, 140, 500], inputs: vec![] };
        let mut compared = Vec::new();
        for case in cases() {
            let param = Parameterisation::Eps;
            let Ok(plan) = crate::core::sample::build(case.sampler, case.process, param, &case.options) else {
                continue;
            };
            if !runs_in_blocks(&plan) {
                continue;
            }
            let mut model = MlpModel::new(mlp.clone(), param);
            model.condition = [case.options.condition[0] as f32, case.options.condition[1] as f32];
            let ops = run_ops(&plan, &mut model, &options, first).expect("the op-by-op run");
            let blocks =
                run_blocks(&plan, &BatchMlp::new(&mlp), model.condition, &options, first).expect("the block run");
            assert_eq!(blocks, ops, "{} under {:?}", case.sampler, case.process);
            assert!(
                !ops.frames.is_empty() && ops.frames[0].len() == 3,
                "{}: frames {:?}",
                case.sampler,
                ops.frames.len()
            );
            compared.push(case.sampler);
        }
        // Every fixed-step sampler takes this path (the adaptive, MALA and DLG ones do not).
        assert!(compared.len() >= 20, "only {} cases ran in blocks: {compared:?}", compared.len());
    }
}
