//! The DPS-style correction (Chung et al. 2023; LABS.md, Lab G, method D) as a plan transform:
//! after every step of any fixed-step sampler, x ← x − ζ ∇ₓ |a − u·x̂₀(x)|² / |a − u·x̂₀(x)|
//! with the normaliser held constant, x̂₀ the model's own estimate of the clean point (Tweedie
//! for a score) and the gradient taken through the model's input Jacobian (`Op::Dps`). Unlike
//! replacement it needs no noisy copy of the observation, and unlike the exact methods it needs
//! nothing but the unconditional model, which is why it is what works on real data; its step
//! does not shrink with the sampler's, so its effect depends on the number of steps.

use super::line::LineObservation;
use super::replace_plan::{check_lock_step, snapshot_times};
use crate::core::sample::plan::{quantity_coefficients, Op, Plan, Quantity, X};

/// `plan` with an `Op::Dps` before each snapshot after the prior draw. `t_end`: the time the
/// plan's last step reaches; `zeta`: the step scale.
pub fn with_dps(plan: &Plan, line: &LineObservation, zeta: f64, t_end: f64) -> Result<Plan, String> {
    check_lock_step(plan, "DPS")?;
    if plan.process.is_conditional() || plan.process.is_flow() {
        return Err(format!("DPS is built for diffusion processes, not {}", plan.process.name()));
    }
    if !(zeta.is_finite() && zeta >= 0.0) {
        return Err(format!("the DPS step ζ must be a finite number ≥ 0, got {zeta}"));
    }
    let process = plan.process;
    let normal = [line.u[0] as f32, line.u[1] as f32];
    // The first snapshot records the prior draw, before any step.
    let mut times = snapshot_times(plan, t_end).into_iter().skip(1).peekable();
    let mut ops = Vec::with_capacity(plan.ops.len() * 2);
    for (i, op) in plan.ops.iter().enumerate() {
        if let Some((_, t)) = times.next_if(|(at, _)| *at == i) {
            let (out_scale, x_scale) =
                quantity_coefficients(plan.param, Quantity::X0, process.alpha(t), process.sigma(t));
            ops.push(Op::Dps {
                x: X,
                t: t as f32,
                out_scale: out_scale as f32,
                x_scale: x_scale as f32,
                normal,
                value: line.value as f32,
                zeta: zeta as f32,
            });
        }
        ops.push(op.clone());
    }
    Ok(Plan { sampler: format!("{}+dps", plan.sampler), ops, ..plan.clone() })
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::data::gmm::GaussianMixture;
    use crate::core::param::Parameterisation;
    use crate::core::process::Process;
    use crate::core::sample::grid::T_EPS_SAMPLE;
    use crate::core::sample::model::{ExactMixtureModel, Model};
    use crate::core::sample::{build, SamplerOptions};
    use crate::exec::cpu::{run_plan, RunOptions};

    /// One DPS op moves x by −ζ ∇ r²/|r|: checked against central differences of
    /// r(x)² / |r(x₀)| on the exact model, so the Jacobian's use (and its transpose) is right.
    #[test]
    fn one_correction_follows_the_finite_difference_gradient() {
        let process = Process::vp();
        let prior = GaussianMixture::eight_gaussians();
        let line = LineObservation::at_angle(30.0, 0.4).unwrap();
        let t = 0.3;
        let (zeta, start) = (0.01, [0.7f32, -0.2f32]);
        let (out_scale, x_scale) =
            quantity_coefficients(Parameterisation::Score, Quantity::X0, process.alpha(t), process.sigma(t));
        let mut model = ExactMixtureModel::new(prior, process);
        let residual = |model: &mut ExactMixtureModel, x: [f64; 2]| {
            let out = model.eval([x[0] as f32, x[1] as f32], t);
            let x0 = [0, 1].map(|d| out_scale * f64::from(out[d]) + x_scale * x[d]);
            line.value - (line.u[0] * x0[0] + line.u[1] * x0[1])
        };
        let r0 = residual(&mut model, [f64::from(start[0]), f64::from(start[1])]);
        let h = 1e-3;
        let grad = [0, 1].map(|j| {
            let (mut hi, mut lo) =
                ([f64::from(start[0]), f64::from(start[1])], [f64::from(start[0]), f64::from(start[1])]);
            hi[j] += h;
            lo[j] -= h;
            (residual(&mut model, hi).powi(2) - residual(&mut model, lo).powi(2)) / (2.0 * h) / r0.abs()
        });
        let plan = Plan {
            sampler: "one dps".into(),
            registers: 1,
            ops: vec![
                Op::Init { into: X, mean: start, std: 0.0, counter: 0 },
                Op::Dps {
                    x: X,
                    t: t as f32,
                    out_scale: out_scale as f32,
                    x_scale: x_scale as f32,
                    normal: [line.u[0] as f32, line.u[1] as f32],
                    value: line.value as f32,
                    zeta: zeta as f32,
                },
            ],
            process,
            param: Parameterisation::Score,
            condition: [0.0; 2],
            value_register: None,
        };
        let out =
            run_plan(&plan, &mut model, &RunOptions { particles: 1, seed: 0, traced: vec![], inputs: vec![] }).unwrap();
        for d in 0..2 {
            let want = f64::from(start[d]) - zeta * grad[d];
            assert!(
                (f64::from(out.positions[0][d]) - want).abs() < 2e-4 * (1.0 + grad[d].abs()),
                "{d}: {out:?} {want}"
            );
        }
        assert_eq!(out.nfe, 1.0);
    }

    /// On a sampler, DPS pulls the observed coordinate towards the observation; the GPU's
    /// encoder refuses it with the reason.
    #[test]
    fn dps_pulls_samples_towards_the_line() {
        let process = Process::vp();
        let line = LineObservation::first_coordinate(1.0);
        let options = SamplerOptions { nfe: 50, ..SamplerOptions::default() };
        let plan = build("ddim", process, Parameterisation::Score, &options).unwrap();
        let corrected = with_dps(&plan, &line, 0.05, T_EPS_SAMPLE).unwrap();
        assert_eq!(corrected.fixed_nfe(), Some(100));
        let run = RunOptions { particles: 2000, seed: 1, traced: vec![], inputs: vec![] };
        let gap = |plan: &Plan| {
            let mut model = ExactMixtureModel::new(GaussianMixture::eight_gaussians(), process);
            let out = run_plan(plan, &mut model, &run).unwrap();
            out.positions.iter().map(|x| (f64::from(x[0]) - 1.0).abs()).sum::<f64>() / 2000.0
        };
        let (before, after) = (gap(&plan), gap(&corrected));
        assert!(after < 0.5 * before, "mean |x₁ − a|: {before} unguided, {after} with DPS");
        let err = crate::exec::gpu::plan_code::encode(&corrected).unwrap_err();
        assert!(err.contains("CPU"), "{err}");
        assert!(with_dps(&plan, &line, f64::NAN, T_EPS_SAMPLE).is_err());
    }
}
