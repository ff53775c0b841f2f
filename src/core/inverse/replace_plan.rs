//! Replacement as a plan transform: any fixed-step sampler of the zoo, with its state's
//! observed coordinate overwritten after every step by a fresh noisy copy of the observation
//! (`Op::Replace`), as score_sde's `inpaint_update_fn` and `colorization_update_fn` do after
//! every predictor and corrector step. Both executors run the transformed plan unchanged.
//!
//! A plan marks the end of each step with a snapshot; the state there is at the time of the
//! next evaluation (or, after the last step, at the grid's end), so the copy is the
//! observation pushed through the process to that time: mean α_t a + (1 − α_t) n·μ,
//! deviation σ_t.

use super::line::LineObservation;
use crate::core::sample::plan::{Op, Plan, X};

/// Refuses plans whose particles do not step in lock-step through known times (adaptive
/// solves, per-particle levels, Metropolis steps, loaded inputs): `what` names the method.
pub fn check_lock_step(plan: &Plan, what: &str) -> Result<(), String> {
    if let Some(op) = plan.ops.iter().find(|op| {
        matches!(
            op,
            Op::AdaptiveFlow { .. }
                | Op::AdaptiveLikelihood { .. }
                | Op::EvalAtLevel { .. }
                | Op::GibbsLevel { .. }
                | Op::SkipIf { .. }
                | Op::MalaStart { .. }
                | Op::MalaStep { .. }
                | Op::LoadInput { .. }
                | Op::AddIncrement { .. }
                | Op::EvalDiffusion { .. }
        )
    }) {
        let kind = format!("{op:?}");
        let kind = kind.split([' ', '{']).next().unwrap_or("an op");
        return Err(format!(
            "{what} needs a fixed-step sampler whose particles share every step's time; {} uses {kind}",
            plan.sampler
        ));
    }
    Ok(())
}

/// The time of the state at each snapshot of the state: the time of the next evaluation, or
/// `t_end` after the last step. (op index, time) pairs.
pub fn snapshot_times(plan: &Plan, t_end: f64) -> Vec<(usize, f64)> {
    let mut out = Vec::new();
    let mut next_eval = t_end;
    for (i, op) in plan.ops.iter().enumerate().rev() {
        match op {
            Op::Eval { t, .. } => next_eval = f64::from(*t),
            Op::Snapshot { reg: X, .. } => out.push((i, next_eval)),
            _ => {}
        }
    }
    out.reverse();
    out
}

/// `plan` with an `Op::Replace` on the state before each snapshot. `t_end` is the time the
/// plan's last step reaches.
pub fn with_replacement(plan: &Plan, line: &LineObservation, t_end: f64) -> Result<Plan, String> {
    check_lock_step(plan, "replacement")?;
    if !t_end.is_finite() || t_end < 0.0 {
        return Err(format!("replacement needs the time the sampler ends at, got {t_end}"));
    }
    let process = plan.process;
    let mu = [f64::from(plan.condition[0]), f64::from(plan.condition[1])];
    let mu_along = line.u[0] * mu[0] + line.u[1] * mu[1];
    let normal = [line.u[0] as f32, line.u[1] as f32];
    let mut counter = plan.last_counter();
    let mut times = snapshot_times(plan, t_end).into_iter().peekable();
    let mut ops = Vec::with_capacity(plan.ops.len() * 2);
    for (i, op) in plan.ops.iter().enumerate() {
        if let Some((_, t)) = times.next_if(|(at, _)| *at == i) {
            let (alpha, sigma) = (process.alpha(t), process.sigma(t));
            counter += 1;
            ops.push(Op::Replace {
                into: X,
                normal,
                mean: (alpha * line.value + (1.0 - alpha) * mu_along) as f32,
                sigma: sigma as f32,
                counter,
            });
        }
        ops.push(op.clone());
    }
    Ok(Plan { sampler: format!("{}+replacement", plan.sampler), ops, ..plan.clone() })
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::data::gmm::GaussianMixture;
    use crate::core::param::Parameterisation;
    use crate::core::process::Process;
    use crate::core::sample::grid::time_grid;
    use crate::core::sample::model::ExactMixtureModel;
    use crate::core::sample::{build, SamplerOptions};
    use crate::exec::cpu::{run_plan, RunOptions};

    /// Every step ends on the observation's noisy copy: the traced frames' observed
    /// coordinate has the pushed-through mean and deviation at each step's time, the counters
    /// are fresh, and the last state sits on the line up to σ at the grid's end.
    #[test]
    fn every_step_ends_on_a_noisy_copy_of_the_observation() {
        let options = SamplerOptions { nfe: 20, ..SamplerOptions::default() };
        let process = Process::vp();
        let line = LineObservation::at_angle(45.0, 0.7).unwrap();
        let grid = time_grid(&process, options.schedule, options.nfe);
        let t_end = *grid.last().unwrap();
        for sampler in ["em", "ddim", "dpmpp-2m", "pc", "pf-heun"] {
            let plan = build(sampler, process, Parameterisation::Score, &options).unwrap();
            let replaced = with_replacement(&plan, &line, t_end).unwrap();
            let replaces = replaced.ops.iter().filter(|op| matches!(op, Op::Replace { .. })).count();
            assert_eq!(replaces as u32, plan.frames(), "{sampler}: one replacement per step");
            let counters: Vec<u32> = replaced
                .ops
                .iter()
                .filter_map(|op| if let Op::Replace { counter, .. } = op { Some(*counter) } else { None })
                .collect();
            assert!(counters.iter().all(|c| *c > plan.last_counter()), "{sampler}: fresh noise");
            let mixture = GaussianMixture::eight_gaussians();
            let n = 4000;
            let run = RunOptions { particles: n, seed: 5, traced: (0..n).collect(), inputs: vec![] };
            let out = run_plan(&replaced, &mut ExactMixtureModel::new(mixture, process), &run).unwrap();
            let last = out.frames.last().unwrap();
            let along: Vec<f64> = last.iter().map(|x| line.rotate([f64::from(x[0]), f64::from(x[1])])[0]).collect();
            let mean = along.iter().sum::<f64>() / n as f64;
            let sd = (along.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
            let sigma_end = process.sigma(t_end);
            assert!((mean - process.alpha(t_end) * 0.7).abs() < 4.0 * sigma_end / (n as f64).sqrt() + 1e-5);
            assert!((sd - sigma_end).abs() < 0.1 * sigma_end, "{sampler}: spread {sd} against σ {sigma_end}");
        }
        let adaptive = build("pf-dopri5", process, Parameterisation::Score, &options).unwrap();
        let err = with_replacement(&adaptive, &line, t_end).unwrap_err();
        assert!(err.contains("fixed-step") && err.contains("AdaptiveFlow"), "{err}");
    }
}
