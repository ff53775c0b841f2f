//! The CPU executor: the reference interpreter of plans, and the page's fallback where there
//! is no WebGPU. It runs op by op over all particles (so an exact model prepares p_t once
//! per op), in f32 like the GPU; a plan without per-particle control flow on a network runs
//! block by block instead (`cpu_blocks`), with the same numbers.

use super::cpu_blocks::{run_blocks, runs_in_blocks};
use crate::core::nn::batch::BatchMlp;
use crate::core::nn::parallel::for_each_mut;
use crate::core::nsde::generator_model::{generator_op, NO_GENERATOR};
use crate::core::param::Parameterisation;
use crate::core::rng::{normal4, random_u32x4, u32_to_open_unit_f32};
use crate::core::sample::likelihood::{augmented_field, gaussian_log_density, Divergence};
use crate::core::sample::model::Model;
use crate::core::sample::pf_ode::probability_flow;
use crate::core::sample::plan::{quantity_coefficients, Op, Plan, Quantity, MAX_REGISTERS};
use crate::core::sample::registry::Reason;
use crate::core::solve::ode_batch::integrate_adaptive_batch;

/// Which particles, and which seed.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    pub particles: usize,
    pub seed: u64,
    /// Particles whose every snapshot is kept (for trajectories).
    pub traced: Vec<usize>,
    /// Each particle's input point, for plans that load one (the likelihood); else empty.
    pub inputs: Vec<[f32; 2]>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunResult {
    pub positions: Vec<[f32; 2]>,
    /// frames[f][k]: traced particle k at snapshot f.
    pub frames: Vec<Vec<[f32; 2]>>,
    /// Model evaluations per particle, averaged (exact for fixed plans).
    pub nfe: f64,
    /// The plan's per-particle value (R[value_register][0]), when it declares one.
    pub values: Vec<f32>,
}

/// Why a run stopped. Its text is in the page's words (what the model lacks, which particle
/// diverged); `cli_message` adds what to change on the command line.
#[derive(Debug, Clone, PartialEq)]
pub enum RunError {
    /// The plan was built for another parameterisation than the model's.
    ParamMismatch { plan: Parameterisation, model: Parameterisation },
    /// The model cannot give what the sampler needs (a log-density, a level posterior).
    ModelLacks { sampler: String, reason: Reason },
    /// The plan, the model or a solver refused, in its own words.
    Refused(String),
    /// The plan reads input rows (a start, increments), and the run passed another count.
    Inputs { sampler: String, expected: usize, got: usize },
    /// A particle left the finite numbers.
    Diverged { particle: usize },
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::ParamMismatch { plan, model } => write!(
                f,
                "the plan was built for a model that predicts {} but the model predicts {}",
                plan.name(),
                model.name()
            ),
            RunError::ModelLacks { sampler, reason } => write!(f, "{sampler} cannot run with this model: {reason}"),
            RunError::Refused(message) => write!(f, "{message}"),
            RunError::Inputs { sampler, expected, got } => {
                write!(
                    f,
                    "{sampler} needs {expected} input rows (each particle's input point, and a path's Brownian increments), got {got}"
                )
            }
            RunError::Diverged { particle } => {
                write!(f, "particle {particle} left the finite numbers (the sampler diverged): try more steps")
            }
        }
    }
}

impl std::error::Error for RunError {}

impl RunError {
    /// The message for `nde`, with the flag to change where there is one.
    pub fn cli_message(&self) -> String {
        match self {
            RunError::ModelLacks { reason, .. } => format!("{self}; {}", reason.cli_advice()),
            RunError::Diverged { particle } => format!(
                "particle {particle} left the finite numbers (the sampler diverged): try a larger --nfe or another sampler"
            ),
            _ => self.to_string(),
        }
    }
}

/// The score (from the model's output) and log-density at (x, t), for MALA.
fn score_and_log_density(model: &mut dyn Model, plan: &Plan, x: [f32; 2], t: f64) -> Result<([f32; 2], f64), RunError> {
    let out = model.eval(x, t);
    let alpha = plan.process.alpha(t);
    let (a, b) = quantity_coefficients(plan.param, Quantity::Score, alpha, plan.process.sigma(t));
    let score = [0, 1]
        .map(|d| (a * f64::from(out[d]) + b * (f64::from(x[d]) - (1.0 - alpha) * f64::from(plan.condition[d]))) as f32);
    let lp = model
        .log_density(x, t)
        .ok_or_else(|| RunError::ModelLacks { sampler: plan.sampler.clone(), reason: Reason::LogDensity })?;
    Ok((score, lp))
}

/// The two standard normals of draw `counter` of a particle (the first pair of its Philox block).
pub fn noise(seed: u64, particle: usize, counter: u32) -> [f32; 2] {
    let n = normal4(seed, particle as u64, u64::from(counter));
    [n[0], n[1]]
}

/// A level register's index, clamped into 0..count (registers are f32).
fn level_index(reg: [f32; 2], count: usize) -> usize {
    (reg[0].max(0.0) as usize).min(count - 1)
}

/// Inverse-CDF draw of an index from log-probabilities, with u in (0, 1).
fn draw_index(log_probs: &[f64], u: f64) -> usize {
    let mut acc = 0.0;
    for (k, lp) in log_probs.iter().enumerate() {
        acc += lp.exp();
        if u <= acc {
            return k;
        }
    }
    log_probs.len() - 1
}

/// One particle's registers.
pub(super) type Registers = [[f32; 2]; MAX_REGISTERS];

/// The ops that read and write one particle's registers only (no model): particle `p` of a
/// slice that starts at global particle `first`, whose input rows start at `p * rows`. Both
/// the op-by-op loop and the block-by-block path (`cpu_blocks`) run them through here.
pub(super) fn pointwise(op: &Op, r: &mut Registers, p: usize, first: usize, options: &RunOptions, rows: usize) {
    match op {
        Op::Init { into, mean, std, counter } => {
            let z = noise(options.seed, first + p, *counter);
            r[*into as usize] = [mean[0] + std * z[0], mean[1] + std * z[1]];
        }
        Op::Axpy { into, terms, offset, noise: scale, counter } => {
            let mut acc = *offset;
            for (reg, c) in terms {
                acc[0] += c * r[*reg as usize][0];
                acc[1] += c * r[*reg as usize][1];
            }
            if *scale != 0.0 {
                let z = noise(options.seed, first + p, *counter);
                acc[0] += scale * z[0];
                acc[1] += scale * z[1];
            }
            r[*into as usize] = acc;
        }
        Op::LoadInput { into } => r[*into as usize] = options.inputs[p * rows],
        Op::AddIncrement { into, diffusion, factor, row } => {
            let (g, dw) = (r[*diffusion as usize], options.inputs[p * rows + *row as usize]);
            for d in 0..2 {
                r[*into as usize][d] += factor * g[d] * dw[d];
            }
        }
        Op::Replace { into, normal, mean, sigma, counter } => {
            let z = noise(options.seed, first + p, *counter);
            let x = &mut r[*into as usize];
            let gap = mean + sigma * z[0] - (normal[0] * x[0] + normal[1] * x[1]);
            x[0] += gap * normal[0];
            x[1] += gap * normal[1];
        }
        // Callers pass the ops above only; the rest evaluate the model.
        _ => debug_assert!(false, "pointwise: {op:?} evaluates the model"),
    }
}

pub fn run_plan(plan: &Plan, model: &mut dyn Model, options: &RunOptions) -> Result<RunResult, RunError> {
    run_plan_from(plan, model, options, 0)
}

/// Runs particles `first .. first + options.particles` of a larger run: each particle draws
/// its noise by its global index, so running a run in slices (as the page does, a slice per
/// frame) gives exactly the particles of one whole run. `options.traced` holds global
/// indices; those outside the slice are left out of its frames.
pub fn run_plan_from(
    plan: &Plan,
    model: &mut dyn Model,
    options: &RunOptions,
    first: usize,
) -> Result<RunResult, RunError> {
    plan.validate().map_err(RunError::Refused)?;
    if model.generator().is_some() {
        if let Some(op) = plan.ops.iter().find(|op| !generator_op(op)) {
            return Err(RunError::Refused(format!("the SDE-GAN generator runs its own path plans, not {op:?}")));
        }
    }
    if model.param() != plan.param {
        return Err(RunError::ParamMismatch { plan: plan.param, model: model.param() });
    }
    let n = options.particles;
    // Each particle's input rows (its start, its Brownian increments), particle by particle.
    let rows = plan.input_rows();
    if rows > 0 && options.inputs.len() != n * rows {
        return Err(RunError::Inputs { sampler: plan.sampler.clone(), expected: n * rows, got: options.inputs.len() });
    }
    if let Some((mlp, condition)) = model.network() {
        if runs_in_blocks(plan) {
            return run_blocks(plan, &BatchMlp::new(mlp), condition, options, first);
        }
    }
    run_ops(plan, model, options, first)
}

/// The op-by-op loop: each op over every particle (an evaluation is one batched call of the
/// model), for every plan and model. `run_plan_from` takes the block-by-block path instead
/// where it can; tests call this to compare the two.
pub(crate) fn run_ops(
    plan: &Plan,
    model: &mut dyn Model,
    options: &RunOptions,
    first: usize,
) -> Result<RunResult, RunError> {
    let n = options.particles;
    let rows = plan.input_rows();
    let mut regs = vec![[[0.0f32; 2]; MAX_REGISTERS]; n];
    let mut frames = Vec::new();
    let mut evaluations = 0u64;
    // resume[p]: the first op particle p runs again (SkipIf moves it past a block).
    let mut resume = vec![0usize; n];
    let (mut log_post, mut level_times) = (Vec::new(), Vec::new());
    let (mut batch_x, mut batch_out): (Vec<[f32; 2]>, Vec<[f32; 2]>) = (Vec::new(), Vec::new());
    for (i, op) in plan.ops.iter().enumerate() {
        let skips = |p: usize| resume[p] > i;
        let live = (0..n).filter(|p| !skips(*p)).count() as u64;
        match op {
            Op::Init { .. } | Op::Axpy { .. } | Op::LoadInput { .. } | Op::AddIncrement { .. } | Op::Replace { .. } => {
                for (p, r) in regs.iter_mut().enumerate().filter(|(p, _)| !skips(*p)) {
                    pointwise(op, r, p, first, options, rows);
                }
            }
            Op::Eval { at, t, into, out_scale, x_scale, offset } => {
                let t = f64::from(*t);
                model.prepare(t);
                let index: Vec<usize> = (0..n).filter(|p| !skips(*p)).collect();
                batch_x.clear();
                batch_x.extend(index.iter().map(|p| regs[*p][*at as usize]));
                batch_out.resize(batch_x.len(), [0.0; 2]);
                model.eval_batch(&batch_x, t, &mut batch_out);
                for ((p, x), out) in index.iter().zip(&batch_x).zip(&batch_out) {
                    regs[*p][*into as usize] = [0, 1].map(|d| out_scale * out[d] + x_scale * x[d] + offset[d]);
                }
                evaluations += live;
            }
            Op::AdaptiveFlow { x, t0, t1, max_steps, tableau, controller } => {
                // Every live particle's solve in lock-step: each stage of all of them is one
                // batched evaluation (core::solve::ode_batch).
                let (process, param) = (plan.process, plan.param);
                let index: Vec<usize> = (0..n).filter(|p| !skips(*p)).collect();
                let starts: Vec<f64> = index.iter().flat_map(|p| regs[*p][*x as usize].map(f64::from)).collect();
                let (mut xs, mut outs) = (Vec::new(), Vec::new());
                let mut field = |_: &[usize], ts: &[f64], ys: &[f64], dys: &mut [f64]| {
                    xs.clear();
                    xs.extend(ys.chunks_exact(2).map(|y| [y[0] as f32, y[1] as f32]));
                    outs.resize(xs.len(), [0.0; 2]);
                    model.eval_batch_at(&xs, ts, &mut outs);
                    for (q, t) in ts.iter().enumerate() {
                        let y = [ys[2 * q], ys[2 * q + 1]];
                        let flow = probability_flow(&process, param, plan.condition, *t, y, outs[q]);
                        dys[2 * q..2 * q + 2].copy_from_slice(&flow.velocity);
                    }
                };
                let solves = integrate_adaptive_batch(
                    tableau,
                    &mut field,
                    &starts,
                    2,
                    f64::from(*t0),
                    f64::from(*t1),
                    controller,
                    *max_steps as usize,
                );
                for (p, solve) in index.iter().zip(solves) {
                    let (y, stats) = solve.map_err(RunError::Refused)?;
                    regs[*p][*x as usize] = [y[0] as f32, y[1] as f32];
                    evaluations += stats.evaluations as u64;
                }
            }
            Op::MalaStart { x, score, logp, t } => {
                let t = f64::from(*t);
                model.prepare(t);
                for (_, r) in regs.iter_mut().enumerate().filter(|(p, _)| !skips(*p)) {
                    let (s, lp) = score_and_log_density(model, plan, r[*x as usize], t)?;
                    r[*score as usize] = s;
                    r[*logp as usize] = [lp as f32, 0.0];
                }
                evaluations += live;
            }
            Op::MalaStep { x, score, logp, t, step, counter, accept_counter } => {
                let t = f64::from(*t);
                let eps = f64::from(*step);
                model.prepare(t);
                // log q(a | b) up to a constant: -|a - b - eps s(b)|^2 / (4 eps).
                let log_q = |a: [f32; 2], b: [f32; 2], s: [f32; 2]| {
                    -(0..2).map(|d| (f64::from(a[d]) - f64::from(b[d]) - eps * f64::from(s[d])).powi(2)).sum::<f64>()
                        / (4.0 * eps)
                };
                for (p, r) in regs.iter_mut().enumerate().filter(|(p, _)| !skips(*p)) {
                    let (xs, sx, lpx) = (r[*x as usize], r[*score as usize], f64::from(r[*logp as usize][0]));
                    let z = noise(options.seed, first + p, *counter);
                    let root = (2.0 * eps).sqrt() as f32;
                    let y = [0, 1].map(|d| xs[d] + *step * sx[d] + root * z[d]);
                    let (sy, lpy) = score_and_log_density(model, plan, y, t)?;
                    let log_ratio = lpy - lpx + log_q(xs, y, sy) - log_q(y, xs, sx);
                    let u = f64::from(u32_to_open_unit_f32(
                        random_u32x4(options.seed, (first + p) as u64, u64::from(*accept_counter))[0],
                    ));
                    if u.ln() < log_ratio {
                        r[*x as usize] = y;
                        r[*score as usize] = sy;
                        r[*logp as usize] = [lpy as f32, 0.0];
                    }
                }
                evaluations += live;
            }
            Op::EvalAtLevel { at, level, into, levels } => {
                // Level by level, so the exact model prepares each p_t once.
                for (k, c) in levels.iter().enumerate() {
                    let t = f64::from(c.t);
                    let index: Vec<usize> = (0..n)
                        .filter(|p| !skips(*p) && level_index(regs[*p][*level as usize], levels.len()) == k)
                        .collect();
                    if index.is_empty() {
                        continue;
                    }
                    model.prepare(t);
                    batch_x.clear();
                    batch_x.extend(index.iter().map(|p| regs[*p][*at as usize]));
                    batch_out.resize(batch_x.len(), [0.0; 2]);
                    model.eval_batch(&batch_x, t, &mut batch_out);
                    for ((p, x), out) in index.iter().zip(&batch_x).zip(&batch_out) {
                        regs[*p][*into as usize] = [0, 1].map(|d| c.out_scale * out[d] + c.x_scale * x[d]);
                    }
                }
                evaluations += live;
            }
            Op::GibbsLevel { x, level, times, counter, argmax } => {
                level_times.clear();
                level_times.extend(times.iter().map(|t| f64::from(*t)));
                for (p, r) in regs.iter_mut().enumerate().filter(|(p, _)| !skips(*p)) {
                    if !model.caps().level_posterior {
                        return Err(RunError::ModelLacks {
                            sampler: plan.sampler.clone(),
                            reason: Reason::LevelPosterior,
                        });
                    }
                    model
                        .level_log_posterior(r[*x as usize], &level_times, &mut log_post)
                        .map_err(RunError::Refused)?;
                    let k = if *argmax {
                        (0..log_post.len()).max_by(|a, b| log_post[*a].total_cmp(&log_post[*b])).unwrap_or(0)
                    } else {
                        let u = f64::from(u32_to_open_unit_f32(
                            random_u32x4(options.seed, (first + p) as u64, u64::from(*counter))[0],
                        ));
                        draw_index(&log_post, u)
                    };
                    r[*level as usize] = [k as f32, 0.0];
                }
                evaluations += live;
            }
            Op::EvalDiffusion { at, into } => {
                let index: Vec<usize> = (0..n).filter(|p| !skips(*p)).collect();
                batch_x.clear();
                batch_x.extend(index.iter().map(|p| regs[*p][*at as usize]));
                batch_out.resize(batch_x.len(), [0.0; 2]);
                model.diffusion_batch(&batch_x, &mut batch_out).map_err(RunError::Refused)?;
                for (p, g) in index.iter().zip(&batch_out) {
                    regs[*p][*into as usize] = *g;
                }
                evaluations += live;
            }
            Op::AdaptiveLikelihood { x, nll, t0, t1, max_steps, tableau, controller, prior_std, probe_counter } => {
                // As AdaptiveFlow: the live particles' solves in lock-step, each stage one
                // batched evaluation of the outputs and their Jacobians.
                let index: Vec<usize> = (0..n).filter(|p| !skips(*p)).collect();
                let divergences: Vec<Divergence> = index
                    .iter()
                    .map(|p| match probe_counter {
                        Some(c) => {
                            Divergence::rademacher(random_u32x4(options.seed, (first + p) as u64, u64::from(*c))[0])
                        }
                        None => Divergence::Exact,
                    })
                    .collect();
                let starts: Vec<f64> = index
                    .iter()
                    .flat_map(|p| {
                        let r = regs[*p][*x as usize];
                        [f64::from(r[0]), f64::from(r[1]), 0.0]
                    })
                    .collect();
                let (process, param) = (plan.process, model.param());
                let (mut xs, mut outs, mut jacobians) = (Vec::new(), Vec::new(), Vec::new());
                let mut field = |solves: &[usize], ts: &[f64], ys: &[f64], dys: &mut [f64]| {
                    xs.clear();
                    xs.extend(ys.chunks_exact(3).map(|y| [y[0] as f32, y[1] as f32]));
                    outs.resize(xs.len(), [0.0; 2]);
                    jacobians.resize(xs.len(), [[0.0; 2]; 2]);
                    model.eval_with_jacobian_batch(&xs, ts, &mut outs, &mut jacobians);
                    for (q, (solve, t)) in solves.iter().zip(ts).enumerate() {
                        let (y, dy) = (&ys[3 * q..3 * q + 3], &mut dys[3 * q..3 * q + 3]);
                        augmented_field(&process, param, divergences[*solve], *t, y, outs[q], jacobians[q], dy);
                    }
                };
                let solves = integrate_adaptive_batch(
                    tableau,
                    &mut field,
                    &starts,
                    3,
                    f64::from(*t0),
                    f64::from(*t1),
                    controller,
                    *max_steps as usize,
                );
                for (p, solve) in index.iter().zip(solves) {
                    let (end, stats) = solve.map_err(RunError::Refused)?;
                    let log_prior = gaussian_log_density([end[0], end[1]], f64::from(*prior_std));
                    regs[*p][*x as usize] = [end[0] as f32, end[1] as f32];
                    regs[*p][*nll as usize] = [(-(log_prior + end[2])) as f32, 0.0];
                    evaluations += stats.evaluations as u64;
                }
            }
            Op::SkipIf { level, above, ops } => {
                for (r, resume) in regs.iter().zip(resume.iter_mut()) {
                    if *resume <= i && r[*level as usize][0] > *above {
                        *resume = i + 1 + *ops as usize;
                    }
                }
            }
            Op::Dps { x, t, out_scale, x_scale, normal, value, zeta } => {
                let index: Vec<usize> = (0..n).filter(|p| !skips(*p)).collect();
                let points: Vec<[f32; 2]> = index.iter().map(|p| regs[*p][*x as usize]).collect();
                let times = vec![f64::from(*t); points.len()];
                let mut out = vec![[0.0f32; 2]; points.len()];
                let mut jacobian = vec![[[0.0f32; 2]; 2]; points.len()];
                model.eval_with_jacobian_batch(&points, &times, &mut out, &mut jacobian);
                for (k, p) in index.iter().enumerate() {
                    let point = points[k];
                    let x0 = [0, 1].map(|d| out_scale * out[k][d] + x_scale * point[d]);
                    let r = value - (normal[0] * x0[0] + normal[1] * x0[1]);
                    // ∇ₓ r² / |r| = −2 sign(r) J_x̂₀ᵀ n, J_x̂₀ = out_scale J + x_scale I.
                    let pull = [0, 1].map(|j| {
                        normal[0] * out_scale * jacobian[k][0][j]
                            + normal[1] * out_scale * jacobian[k][1][j]
                            + x_scale * normal[j]
                    });
                    let step = 2.0 * zeta * r.signum();
                    let state = &mut regs[*p][*x as usize];
                    state[0] += step * pull[0];
                    state[1] += step * pull[1];
                }
                evaluations += live;
            }
            Op::GeneratorStart { .. } | Op::GeneratorStep { .. } => {
                let generator = model.generator().ok_or_else(|| RunError::Refused(NO_GENERATOR.into()))?;
                generator.check(op).map_err(RunError::Refused)?;
                let inputs = &options.inputs;
                for_each_mut(&mut regs, 64, |p, r| {
                    if resume[p] <= i {
                        generator.run_op(op, r, &inputs[p * rows..(p + 1) * rows]);
                    }
                });
                // The initial net once; the fields at two points per step.
                let per_particle = if matches!(op, Op::GeneratorStart { .. }) { 1 } else { 2 };
                evaluations += per_particle * live;
            }
            Op::Snapshot { reg, .. } => {
                frames.push(
                    options
                        .traced
                        .iter()
                        .filter(|p| (first..first + n).contains(*p))
                        .map(|p| regs[*p - first][*reg as usize])
                        .collect(),
                );
            }
        }
    }
    let positions: Vec<[f32; 2]> = regs.iter().map(|r| r[0]).collect();
    if let Some(p) = positions.iter().position(|x| !x.iter().all(|v| v.is_finite())) {
        return Err(RunError::Diverged { particle: first + p });
    }
    let values = plan.value_register.map_or_else(Vec::new, |v| regs.iter().map(|r| r[v as usize][0]).collect());
    Ok(RunResult { positions, frames, nfe: evaluations as f64 / n.max(1) as f64, values })
}
