//! A run split by particles into parts that other threads run (the page's Web Workers), and
//! the parts joined back into the run. Every particle draws its noise by its global index
//! (`run_plan_from`), so the joined parts are the whole run bit for bit, whatever the split;
//! a test holds them to it.
//!
//! The parts travel as messages with no shared memory: a part is a JSON header
//! ([`PartRequest`]: the plan, the network's layout, the particle range) beside the network's
//! parameters as raw floats, and a result comes back as a JSON [`PartReply`] beside its
//! numbers as raw floats ([`encode_result`]). Everything here is plain Rust, so the native
//! tests check the whole round trip; the page only moves the buffers (`ui::worker_pool`).

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::cpu::{run_plan_from, RunOptions, RunResult};
use crate::core::nn::mlp::{Mlp, MlpConfig};
use crate::core::param::Parameterisation;
use crate::core::sample::model::{MlpModel, ModelData};
use crate::core::sample::plan::Plan;

/// One part of a run: particles `first .. first + count` of `plan` on the network described
/// by `config` (its parameters travel beside this header as raw floats).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartRequest {
    /// The run this part belongs to, and its place in it.
    pub job: u64,
    pub part: usize,
    pub plan: Plan,
    pub config: MlpConfig,
    pub param: Parameterisation,
    pub condition: [f32; 2],
    pub seed: u64,
    pub first: usize,
    pub count: usize,
    /// The run's traced particles (global indices) that fall in this part, in the run's order.
    pub traced: Vec<usize>,
    /// This part's input rows, particle by particle (empty for plans that load none).
    pub inputs: Vec<[f32; 2]>,
}

/// The shape of a part's result, which [`decode_result`] reads its raw floats by.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ResultShape {
    pub particles: usize,
    pub frames: usize,
    pub traced: usize,
    pub values: usize,
    pub nfe: f64,
}

/// What a worker answers: the part it ran, and its result's shape or why it failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartReply {
    pub job: u64,
    pub part: usize,
    pub outcome: Result<ResultShape, String>,
}

/// Whether a run can go to workers: a network without a noise-level classifier (the worker
/// rebuilds the model from its layout and parameters, and nothing else).
pub fn splittable(model: &ModelData) -> bool {
    matches!(model, ModelData::Mlp { level_classifier: None, .. })
}

/// `particles` cut into at most `parts` contiguous, non-empty ranges whose sizes differ by at
/// most one.
pub fn ranges(particles: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.clamp(1, particles.max(1));
    let (size, extra) = (particles / parts, particles % parts);
    let mut start = 0;
    (0..parts)
        .map(|k| {
            let end = start + size + usize::from(k < extra);
            let range = start..end;
            start = end;
            range
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// The parts of a run, and the network's parameters every part is run with.
pub fn split(
    job: u64,
    plan: &Plan,
    model: &ModelData,
    options: &RunOptions,
    parts: usize,
) -> Result<(Vec<PartRequest>, Vec<f32>), String> {
    let ModelData::Mlp { mlp, param, condition, level_classifier: None } = model else {
        return Err("only a network without a noise-level classifier runs in workers".into());
    };
    let rows = plan.input_rows();
    if rows > 0 && options.inputs.len() != options.particles * rows {
        return Err(format!(
            "{} needs {} input rows, the run has {}",
            plan.sampler,
            options.particles * rows,
            options.inputs.len()
        ));
    }
    let requests = ranges(options.particles, parts)
        .into_iter()
        .enumerate()
        .map(|(part, range)| PartRequest {
            job,
            part,
            plan: plan.clone(),
            config: mlp.config,
            param: *param,
            condition: *condition,
            seed: options.seed,
            first: range.start,
            count: range.len(),
            traced: options.traced.iter().copied().filter(|k| range.contains(k)).collect(),
            inputs: if rows > 0 { options.inputs[range.start * rows..range.end * rows].to_vec() } else { Vec::new() },
        })
        .collect();
    Ok((requests, mlp.params.clone()))
}

/// Runs one part (what a worker does with a message). Every field is checked, so a malformed
/// message is an error, never a panic.
pub fn run_part(request: &PartRequest, params: Vec<f32>) -> Result<RunResult, String> {
    request.config.validate()?;
    if params.len() != request.config.param_count() {
        return Err(format!(
            "the network has {} parameters, its layout needs {}",
            params.len(),
            request.config.param_count()
        ));
    }
    let mut model = MlpModel::new(Mlp { config: request.config, params }, request.param);
    model.condition = request.condition;
    let options = RunOptions {
        particles: request.count,
        seed: request.seed,
        traced: request.traced.clone(),
        inputs: request.inputs.clone(),
    };
    run_plan_from(&request.plan, &mut model, &options, request.first).map_err(|e| e.to_string())
}

/// A result as raw floats (positions, then frames, then values) and the shape to read them by.
pub fn encode_result(result: &RunResult) -> (ResultShape, Vec<f32>) {
    let traced = result.frames.first().map_or(0, Vec::len);
    let mut words = Vec::with_capacity(2 * result.positions.len() + 2 * traced * result.frames.len());
    words.extend(result.positions.iter().flatten());
    for frame in &result.frames {
        words.extend(frame.iter().flatten());
    }
    words.extend(&result.values);
    let shape = ResultShape {
        particles: result.positions.len(),
        frames: result.frames.len(),
        traced,
        values: result.values.len(),
        nfe: result.nfe,
    };
    (shape, words)
}

fn pairs(words: &[f32]) -> Vec<[f32; 2]> {
    words.chunks_exact(2).map(|p| [p[0], p[1]]).collect()
}

/// The result [`encode_result`] wrote, or why the floats do not fit the shape.
pub fn decode_result(shape: &ResultShape, words: &[f32]) -> Result<RunResult, String> {
    let positions = 2 * shape.particles;
    let frame = shape.traced.checked_mul(2).ok_or("the frame size overflows")?;
    let frames = shape.frames.checked_mul(frame).ok_or("the frames overflow")?;
    let expected = positions.checked_add(frames).and_then(|n| n.checked_add(shape.values));
    if expected != Some(words.len()) {
        return Err(format!("a result of {} floats does not fit its shape {shape:?}", words.len()));
    }
    let (head, rest) = words.split_at(positions);
    let (frame_words, values) = rest.split_at(frames);
    Ok(RunResult {
        positions: pairs(head),
        frames: if frame == 0 {
            vec![Vec::new(); shape.frames]
        } else {
            frame_words.chunks_exact(frame).map(pairs).collect()
        },
        nfe: shape.nfe,
        values: values.to_vec(),
    })
}

/// The parts' results joined into the run's: positions and values in particle order, each
/// snapshot's traced particles in the run's traced order, the evaluations averaged.
pub fn join(options: &RunOptions, requests: &[PartRequest], results: &[RunResult]) -> Result<RunResult, String> {
    if requests.len() != results.len() {
        return Err(format!("{} parts came back, {} were sent", results.len(), requests.len()));
    }
    let mut joined = RunResult { positions: Vec::with_capacity(options.particles), ..RunResult::default() };
    let mut weighted_nfe = 0.0;
    for (request, result) in requests.iter().zip(results) {
        if result.positions.len() != request.count {
            return Err(format!(
                "part {} gave {} particles of {}",
                request.part,
                result.positions.len(),
                request.count
            ));
        }
        joined.positions.extend(&result.positions);
        joined.values.extend(&result.values);
        weighted_nfe += result.nfe * request.count as f64;
    }
    if joined.positions.len() != options.particles {
        return Err(format!("the parts hold {} particles of {}", joined.positions.len(), options.particles));
    }
    joined.nfe = weighted_nfe / options.particles.max(1) as f64;
    let snapshots = results.first().map_or(0, |r| r.frames.len());
    if results.iter().any(|r| r.frames.len() != snapshots) {
        return Err("the parts recorded different numbers of snapshots".into());
    }
    // Where each traced particle's frames are: (part, index among that part's traced).
    let mut places = Vec::with_capacity(options.traced.len());
    for k in &options.traced {
        let Some(part) = requests.iter().position(|r| (r.first..r.first + r.count).contains(k)) else { continue };
        let index =
            requests[part].traced.iter().position(|t| t == k).ok_or("a traced particle's part did not trace it")?;
        places.push((part, index));
    }
    for f in 0..snapshots {
        let frame = places
            .iter()
            .map(|&(part, index)| results[part].frames[f].get(index).copied().ok_or("a part's frame is short"))
            .collect::<Result<Vec<_>, _>>()?;
        joined.frames.push(frame);
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::sample::model::Model;
    use crate::exec::agreement::cases;
    use crate::exec::cpu::run_plan;

    /// Each sampler's plan sent through JSON, run in uneven parts and joined: the whole run's
    /// positions, frames, values and evaluations, bit for bit, for every case (the straight
    /// ones, which the block path runs, and the adaptive ones).
    #[test]
    fn joined_parts_equal_the_whole_run_bit_for_bit() {
        let mlp = Mlp::new(MlpConfig { width: 20, depth: 2, ..MlpConfig::default() }, 5).expect("a small network");
        let options = RunOptions { particles: 131, seed: 9, traced: vec![130, 0, 64, 65, 7], inputs: vec![] };
        let mut compared = 0;
        for case in cases() {
            let param = Parameterisation::Eps;
            let Ok(plan) = crate::core::sample::build(case.sampler, case.process, param, &case.options) else {
                continue;
            };
            let mut model = MlpModel::new(mlp.clone(), param);
            model.condition = [case.options.condition[0] as f32, case.options.condition[1] as f32];
            let Ok(whole) = run_plan(&plan, &mut model, &options) else { continue };
            for parts in [1, 3, 8] {
                let (requests, params) = split(4, &plan, &model.data(), &options, parts).expect("a network splits");
                let results: Vec<RunResult> = requests
                    .iter()
                    .map(|request| {
                        let text = serde_json::to_string(request).expect("a request serialises");
                        let request: PartRequest = serde_json::from_str(&text).expect("a request reads back");
                        let (shape, words) = encode_result(&run_part(&request, params.clone()).expect("a part runs"));
                        let reply = PartReply { job: request.job, part: request.part, outcome: Ok(shape) };
                        let reply: PartReply =
                            serde_json::from_str(&serde_json::to_string(&reply).expect("serialises")).expect("reads");
                        decode_result(&reply.outcome.expect("a shape"), &words).expect("the floats fit")
                    })
                    .collect();
                let joined = join(&options, &requests, &results).expect("the parts join");
                assert_eq!(joined, whole, "{} in {parts} parts", case.sampler);
            }
            compared += 1;
        }
        assert!(compared >= 20, "only {compared} samplers compared");
    }

    #[test]
    fn a_plan_reads_back_from_json_unchanged() {
        for case in cases() {
            for param in [Parameterisation::Eps, Parameterisation::Score] {
                let Ok(plan) = crate::core::sample::build(case.sampler, case.process, param, &case.options) else {
                    continue;
                };
                let text = serde_json::to_string(&plan).expect("a plan serialises");
                let back: Plan = serde_json::from_str(&text).expect("a plan reads back");
                assert_eq!(back, plan, "{}", case.sampler);
            }
        }
    }

    #[test]
    fn ranges_cover_the_particles_evenly() {
        for (particles, parts) in [(10, 3), (3, 8), (0, 4), (100_000, 7), (1, 1)] {
            let rs = ranges(particles, parts);
            assert_eq!(rs.iter().map(|r| r.len()).sum::<usize>(), particles);
            assert!(rs.windows(2).all(|w| w[0].end == w[1].start));
            let (lo, hi) = (rs.iter().map(|r| r.len()).min(), rs.iter().map(|r| r.len()).max());
            assert!(hi.unwrap_or(0) - lo.unwrap_or(0) <= 1, "{particles} in {parts}: {rs:?}");
            assert!(rs.len() <= parts.max(1));
        }
    }

    /// Malformed messages are errors that say what is wrong, not panics.
    #[test]
    fn bad_parts_and_results_are_refused() {
        let mlp = Mlp::new(MlpConfig::default(), 1).expect("a network");
        let case = &cases()[0];
        let plan = crate::core::sample::build(case.sampler, case.process, Parameterisation::Eps, &case.options)
            .expect("a plan");
        let model = MlpModel::new(mlp, Parameterisation::Eps);
        let options = RunOptions { particles: 5, seed: 1, traced: vec![], inputs: vec![] };
        let (requests, params) = split(1, &plan, &model.data(), &options, 2).expect("splits");
        let short = run_part(&requests[0], params[1..].to_vec()).expect_err("a short parameter list");
        assert!(short.contains("parameters"), "{short}");
        let mut wide = requests[0].clone();
        wide.config.width = 100_000;
        assert!(run_part(&wide, params.clone()).expect_err("an absurd width").contains("width"));
        let shape = ResultShape { particles: 3, frames: 2, traced: 1, values: 0, nfe: 1.0 };
        assert!(decode_result(&shape, &[0.0; 7]).expect_err("too few floats").contains("does not fit"));
        let huge = ResultShape { particles: 0, frames: usize::MAX, traced: usize::MAX, values: 0, nfe: 1.0 };
        assert!(decode_result(&huge, &[]).is_err());
        let result = run_part(&requests[0], params).expect("a part runs");
        assert!(join(&options, &requests, &[result]).expect_err("a part missing").contains("came back"));
    }
}
