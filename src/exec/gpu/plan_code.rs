//! A Plan as words for shaders/plan_interpreter.wgsl. Each op is a header word
//! (opcode | length << 8) and its fields; floats travel as their bits. Ops at a fixed time
//! carry alpha_t and sigma_t computed here in f64, so the GPU's exact model sees the same
//! marginal as the CPU's. `SkipIf` carries the absolute word its particles resume at.

use crate::core::sample::plan::{Op, Plan};
use crate::core::solve::pid::PidController;
use crate::core::solve::tableau::ButcherTableau;

pub const OP_INIT: u32 = 1;
pub const OP_EVAL: u32 = 2;
pub const OP_AXPY: u32 = 3;
pub const OP_SNAPSHOT: u32 = 4;
pub const OP_ADAPTIVE: u32 = 5;
pub const OP_MALA_START: u32 = 6;
pub const OP_MALA_STEP: u32 = 7;
pub const OP_EVAL_AT_LEVEL: u32 = 8;
pub const OP_GIBBS_LEVEL: u32 = 9;
pub const OP_SKIP_IF: u32 = 10;
pub const OP_LOAD_INPUT: u32 = 11;
pub const OP_EVAL_DIFFUSION: u32 = 12;
pub const OP_ADD_INCREMENT: u32 = 13;
pub const OP_REPLACE: u32 = 14;
pub const OP_GENERATOR_START: u32 = 15;
pub const OP_GENERATOR_STEP: u32 = 16;
/// "No register" (a flow solve without a likelihood) and "no counter" (no Hutchinson probe).
pub const NO_REGISTER: u32 = 0xFFFF;
pub const NO_COUNTER: u32 = u32::MAX;
/// Sizes of the interpreter's private arrays.
pub const MAX_LEVELS: usize = 128;
pub const MAX_STAGES: usize = 8;

/// The encoded plan and where it may be split between dispatches.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedPlan {
    pub words: Vec<u32>,
    /// Word ranges [start, end): one per step of the step-by-step view (each ends after a
    /// snapshot), covering the whole plan in order.
    pub segments: Vec<(u32, u32)>,
}

fn f(v: f32) -> u32 {
    v.to_bits()
}

fn fd(v: f64) -> u32 {
    (v as f32).to_bits()
}

/// The fields of one op after its header.
fn fields(plan: &Plan, op: &Op, resume_word: impl Fn(usize) -> u32, index: usize) -> Result<(u32, Vec<u32>), String> {
    let p = plan.process;
    let at_time = |t: f32| {
        let t = f64::from(t);
        [fd(p.alpha(t)), fd(p.sigma(t))]
    };
    Ok(match op {
        Op::Init { into, mean, std, counter } => {
            (OP_INIT, vec![u32::from(*into), *counter, f(mean[0]), f(mean[1]), f(*std)])
        }
        Op::Eval { at, t, into, out_scale, x_scale, offset } => {
            let mut w =
                vec![u32::from(*at), u32::from(*into), f(*t), f(*out_scale), f(*x_scale), f(offset[0]), f(offset[1])];
            w.extend(at_time(*t));
            (OP_EVAL, w)
        }
        Op::Axpy { into, terms, offset, noise, counter } => {
            let mut w = vec![u32::from(*into), terms.len() as u32, *counter, f(*noise), f(offset[0]), f(offset[1])];
            for (r, c) in terms {
                w.push(u32::from(*r));
                w.push(f(*c));
            }
            (OP_AXPY, w)
        }
        Op::Snapshot { reg, frame } => (OP_SNAPSHOT, vec![u32::from(*reg), *frame]),
        Op::AdaptiveFlow { x, t0, t1, max_steps, tableau, controller } => {
            let head = [
                u32::from(*x),
                NO_REGISTER,
                f(*t0),
                f(*t1),
                fd(controller.rtol),
                fd(controller.atol),
                *max_steps,
                f(0.0),
                NO_COUNTER,
            ];
            (OP_ADAPTIVE, adaptive_words(&head, tableau, controller)?)
        }
        Op::AdaptiveLikelihood { x, nll, t0, t1, max_steps, tableau, controller, prior_std, probe_counter } => {
            let head = [
                u32::from(*x),
                u32::from(*nll),
                f(*t0),
                f(*t1),
                fd(controller.rtol),
                fd(controller.atol),
                *max_steps,
                f(*prior_std),
                probe_counter.unwrap_or(NO_COUNTER),
            ];
            (OP_ADAPTIVE, adaptive_words(&head, tableau, controller)?)
        }
        Op::MalaStart { x, score, logp, t } => {
            let mut w = vec![u32::from(*x), u32::from(*score), u32::from(*logp), f(*t)];
            w.extend(at_time(*t));
            (OP_MALA_START, w)
        }
        Op::MalaStep { x, score, logp, t, step, counter, accept_counter } => {
            let mut w = vec![u32::from(*x), u32::from(*score), u32::from(*logp), f(*t)];
            w.extend(at_time(*t));
            w.extend([f(*step), *counter, *accept_counter]);
            (OP_MALA_STEP, w)
        }
        Op::EvalAtLevel { at, level, into, levels } => {
            check_levels(levels.len())?;
            let mut w = vec![u32::from(*at), u32::from(*level), u32::from(*into), levels.len() as u32];
            for c in levels {
                w.extend([f(c.t), f(c.out_scale), f(c.x_scale)]);
                w.extend(at_time(c.t));
            }
            (OP_EVAL_AT_LEVEL, w)
        }
        Op::GibbsLevel { x, level, times, counter, argmax } => {
            check_levels(times.len())?;
            let mut w = vec![u32::from(*x), u32::from(*level), times.len() as u32, *counter, u32::from(*argmax)];
            for t in times {
                w.push(f(*t));
                w.extend(at_time(*t));
            }
            (OP_GIBBS_LEVEL, w)
        }
        Op::SkipIf { level, above, ops } => {
            (OP_SKIP_IF, vec![u32::from(*level), f(*above), resume_word(index + 1 + *ops as usize)])
        }
        Op::LoadInput { into } => (OP_LOAD_INPUT, vec![u32::from(*into)]),
        Op::EvalDiffusion { at, into } => (OP_EVAL_DIFFUSION, vec![u32::from(*at), u32::from(*into)]),
        Op::AddIncrement { into, diffusion, factor, row } => {
            (OP_ADD_INCREMENT, vec![u32::from(*into), u32::from(*diffusion), f(*factor), *row])
        }
        Op::Dps { .. } => {
            return Err("the DPS correction needs the model's input Jacobian at every step, which only the CPU \
                 executor computes: run it with --backend cpu"
                .into())
        }
        Op::Replace { into, normal, mean, sigma, counter } => {
            (OP_REPLACE, vec![u32::from(*into), *counter, f(normal[0]), f(normal[1]), f(*mean), f(*sigma)])
        }
        Op::GeneratorStart { state, dim, into, noise, row } => {
            (OP_GENERATOR_START, vec![u32::from(*state), *dim, u32::from(*into), *noise, *row])
        }
        Op::GeneratorStep { state, dim, into, t, h, noise, row } => {
            (OP_GENERATOR_STEP, vec![u32::from(*state), *dim, u32::from(*into), *noise, *row, f(*t), f(*h)])
        }
    })
}

fn check_levels(count: usize) -> Result<(), String> {
    if count == 0 || count > MAX_LEVELS {
        return Err(format!("the GPU executor handles 1 to {MAX_LEVELS} noise levels, not {count}: lower --nfe"));
    }
    Ok(())
}

/// The adaptive op's fields: its head, the controller's safety and factor bounds, the order
/// and stage count, then c, a (row-major, zero-filled), b, e and a flag per stage that is used
/// at all (as `rk_step` skips the rest). The shader's controller is an I-controller.
fn adaptive_words(head: &[u32], t: &ButcherTableau, controller: &PidController) -> Result<Vec<u32>, String> {
    let name = t.name;
    let error = t.error.ok_or_else(|| format!("{name} has no error estimate for adaptive steps"))?;
    let s = t.stages();
    if s > MAX_STAGES {
        return Err(format!("{name} has {s} stages; the GPU executor handles at most {MAX_STAGES}"));
    }
    if controller.p != 0.0 || controller.d != 0.0 || controller.i != 1.0 {
        return Err("the GPU executor's step-size controller is an I-controller (p = 0, i = 1, d = 0)".into());
    }
    let mut w = head.to_vec();
    w.extend([controller.safety, controller.max_factor, controller.min_factor, controller.reject_max_factor].map(fd));
    w.push(fd(f64::from(t.order)));
    w.push(s as u32);
    w.extend(t.c.iter().map(|v| fd(*v)));
    for i in 0..s {
        for j in 0..s {
            w.push(fd(t.a.get(i).and_then(|row| row.get(j)).copied().unwrap_or(0.0)));
        }
    }
    w.extend(t.b.iter().map(|v| fd(*v)));
    w.extend(error.iter().map(|v| fd(*v)));
    for i in 0..s {
        let used =
            t.b[i] != 0.0 || error[i] != 0.0 || t.a.iter().skip(i + 1).any(|row| row.get(i).is_some_and(|a| *a != 0.0));
        w.push(u32::from(used));
    }
    Ok(w)
}

pub fn encode(plan: &Plan) -> Result<EncodedPlan, String> {
    plan.validate()?;
    // First pass: every op's length, so SkipIf can name the word it resumes at.
    let lengths: Vec<usize> = plan
        .ops
        .iter()
        .enumerate()
        .map(|(i, op)| fields(plan, op, |_| 0, i).map(|(_, w)| w.len() + 1))
        .collect::<Result<_, _>>()?;
    let mut starts = Vec::with_capacity(lengths.len() + 1);
    let mut at = 0usize;
    for len in &lengths {
        starts.push(at as u32);
        at += len;
    }
    starts.push(at as u32);
    let mut words = Vec::with_capacity(at);
    let mut segments = Vec::new();
    let mut segment_start = 0u32;
    for (i, op) in plan.ops.iter().enumerate() {
        let (opcode, body) = fields(plan, op, |k| starts[k.min(plan.ops.len())], i)?;
        words.push(opcode | (((body.len() + 1) as u32) << 8));
        words.extend(body);
        if matches!(op, Op::Snapshot { .. }) {
            segments.push((segment_start, words.len() as u32));
            segment_start = words.len() as u32;
        }
    }
    if segment_start < words.len() as u32 || segments.is_empty() {
        segments.push((segment_start, words.len() as u32));
    }
    Ok(EncodedPlan { words, segments })
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::param::Parameterisation;
    use crate::core::process::Process;
    use crate::core::sample::{build, SamplerOptions};

    /// Walking the headers visits every op once, segments tile the code, and every SkipIf
    /// resumes at the start of the op its count names.
    #[test]
    fn headers_segments_and_jumps_are_consistent() {
        let options = SamplerOptions { nfe: 9, sweeps: 2, ..SamplerOptions::default() };
        for sampler in ["ddim", "pf-dopri5", "dlg", "mala"] {
            let plan = build(sampler, Process::vp(), Parameterisation::Score, &options).unwrap();
            let code = encode(&plan).unwrap();
            let mut starts = Vec::new();
            let mut at = 0usize;
            while at < code.words.len() {
                starts.push(at as u32);
                let length = (code.words[at] >> 8) as usize;
                assert!(length >= 1);
                at += length;
            }
            assert_eq!(at, code.words.len(), "{sampler}: lengths tile the code");
            assert_eq!(starts.len(), plan.ops.len(), "{sampler}");
            starts.push(code.words.len() as u32);
            for (i, op) in plan.ops.iter().enumerate() {
                if let Op::SkipIf { ops, .. } = op {
                    let at = starts[i] as usize;
                    assert_eq!(code.words[at] & 0xFF, OP_SKIP_IF);
                    assert_eq!(code.words[at + 3], starts[i + 1 + *ops as usize], "{sampler}: SkipIf target");
                }
            }
            assert_eq!(code.segments.first().unwrap().0, 0);
            assert_eq!(code.segments.last().unwrap().1 as usize, code.words.len());
            assert!(code.segments.windows(2).all(|w| w[0].1 == w[1].0), "{sampler}: segments are contiguous");
            assert_eq!(code.segments.len() as u32, plan.frames().max(1), "{sampler}: one segment per frame");
        }
    }
}
