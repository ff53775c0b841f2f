//! How the GPU executor must agree with the CPU executor, shared by the native (Vulkan) and
//! browser (WebGPU) tests: the cases to run (samplers, the neural ODE lab's learned fields, the
//! neural SDE lab's latent prior), the tolerances, and the comparison.
//!
//! Both executors draw the same noise (Philox, bit-identical), so even stochastic samplers
//! agree particle by particle; what separates them is f32 arithmetic (the CPU evaluates the
//! exact mixture in f64) and, for adaptive solves, step-size decisions made on slightly
//! different error estimates. Where a particle's path branches on a draw (MALA's accept test,
//! DLG's level draw), a rounding difference can flip the branch: those plans must agree on
//! nearly every particle, and by distribution.

use crate::core::data::GaussianMixture;
use crate::core::dynamics::field_model::FieldModel;
use crate::core::dynamics::fit::LearnedField;
use crate::core::dynamics::flow_plan::{flow_plan, start_grid};
use crate::core::dynamics::neural::{HybridField, NeuralField};
use crate::core::dynamics::systems::{System, SystemId};
use crate::core::metrics::{projections, sliced_wasserstein};
use crate::core::nn::dense_activation::DenseActivation;
use crate::core::nn::{Mlp, MlpConfig};
use crate::core::nsde::latent::{Grid, LatentConfig, LatentSde};
use crate::core::nsde::sde_model::{path_run, PathRun};
use crate::core::nsde::solve::SdeMethod;
use crate::core::process::Process;
use crate::core::sample::plan::{Op, Plan};
use crate::core::sample::{SamplerOptions, MR_SAMPLERS, SAMPLERS};
use crate::core::solve::tableau::{HEUN, RK4, TSIT5};
use crate::core::train::{Objective, Parameterisation, TrainConfig, Trainer, Weighting};
use crate::exec::cpu::{RunOptions, RunResult};

/// Largest per-coordinate difference allowed for fixed-step plans (measured on lavapipe:
/// at most 1.7e-4, for dpm-solver-3 at 9 evaluations).
pub const PARTICLE_TOLERANCE: f32 = 1e-3;

/// Adaptive solves: f32 error estimates accept slightly different steps, and the flow
/// amplifies the difference near the boundary between modes (measured: at most 2.1e-3 at
/// rtol = atol = 1e-5, on 0.5% of particles).
pub const ADAPTIVE_TOLERANCE: f32 = 1e-2;

/// Branching plans: the share of particles that must be within the tolerance. MALA's accept
/// test flips only where a rounding lands on the threshold; DLG's unscaled Langevin step
/// expands by up to 10x per sweep at the low levels, so rounding grows into different level
/// draws for a few percent of particles (measured: 95.8% agree after 4 sweeps with a
/// classifier, 100% after 1), while the samples agree in distribution.
pub const BRANCHING_AGREEMENT: f64 = 0.98;
pub const CHAOTIC_AGREEMENT: f64 = 0.9;

/// Sliced Wasserstein between the two executors' samples, for branching plans.
pub const DISTRIBUTION_TOLERANCE: f64 = 0.05;

/// What a plan's two runs must satisfy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expectation {
    /// Every particle within this distance.
    EveryParticle(f32),
    /// This share of particles within the distance, and the samples close in distribution.
    MostParticles { tolerance: f32, share: f64 },
}

pub fn expectation(plan: &Plan) -> Expectation {
    let branching = plan.ops.iter().any(|op| matches!(op, Op::MalaStep { .. }));
    let chaotic = plan.ops.iter().any(|op| matches!(op, Op::GibbsLevel { .. }));
    let adaptive = plan.ops.iter().find_map(|op| match op {
        Op::AdaptiveFlow { controller, .. } | Op::AdaptiveLikelihood { controller, .. } => {
            Some(controller.rtol.max(controller.atol) as f32)
        }
        _ => None,
    });
    let tolerance = adaptive.map_or(PARTICLE_TOLERANCE, |tol| ADAPTIVE_TOLERANCE.max(0.5 * tol));
    if chaotic {
        Expectation::MostParticles { tolerance, share: CHAOTIC_AGREEMENT }
    } else if branching {
        Expectation::MostParticles { tolerance, share: BRANCHING_AGREEMENT }
    } else {
        Expectation::EveryParticle(tolerance)
    }
}

/// The measured agreement of two runs of one plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub max_error: f32,
    /// Share of particles within the expectation's tolerance.
    pub within: f64,
    pub swd_between: f64,
    pub nfe: (f64, f64),
    /// Largest difference of the plans' per-particle values (likelihoods), if any.
    pub max_value_error: f32,
}

fn distance(a: [f32; 2], b: [f32; 2]) -> f32 {
    let d = (a[0] - b[0]).abs().max((a[1] - b[1]).abs());
    if d.is_nan() {
        f32::INFINITY
    } else {
        d
    }
}

/// Compares the runs; Err says what failed, with the figures.
pub fn compare(plan: &Plan, cpu: &RunResult, gpu: &RunResult) -> Result<Comparison, String> {
    compare_scaled(plan, cpu, gpu, 1.0)
}

/// The distance tolerances' scale for SwiftShader (Chromium's software WebGPU), in the browser
/// tests and the page's path check on a software adapter. It was 10: SwiftShader's sin and cos
/// are coarse (WGSL allows 2^-11), and its particles strayed up to 3.1e-3 from the CPU's at
/// 8 NFE. Since the noise, the time features and the hybrid field take sin and cos from
/// exact_trig.wgsl, every browser test passes at 1 (2026-12-04; random networks on the
/// op-major path within 6.1e-6 relative, 5.5e-3 before); 2 leaves a margin for other
/// SwiftShader builds' exp and log.
pub const SWIFTSHADER_SCALE: f32 = 2.0;

/// [`compare`] with every distance tolerance multiplied by `scale`.
pub fn compare_scaled(plan: &Plan, cpu: &RunResult, gpu: &RunResult, scale: f32) -> Result<Comparison, String> {
    if cpu.positions.len() != gpu.positions.len() || cpu.frames.len() != gpu.frames.len() {
        return Err(format!(
            "{}: shapes differ: {} vs {} particles, {} vs {} frames",
            plan.sampler,
            cpu.positions.len(),
            gpu.positions.len(),
            cpu.frames.len(),
            gpu.frames.len()
        ));
    }
    let expect = match expectation(plan) {
        Expectation::EveryParticle(t) => Expectation::EveryParticle(t * scale),
        Expectation::MostParticles { tolerance, share } => {
            Expectation::MostParticles { tolerance: tolerance * scale, share }
        }
    };
    let tolerance = match expect {
        Expectation::EveryParticle(t) => t,
        Expectation::MostParticles { tolerance, .. } => tolerance,
    };
    let errors: Vec<f32> = cpu.positions.iter().zip(&gpu.positions).map(|(a, b)| distance(*a, *b)).collect();
    let max_error = errors.iter().copied().fold(0.0, f32::max);
    let within = errors.iter().filter(|e| **e <= tolerance).count() as f64 / errors.len().max(1) as f64;
    let as_f64 = |r: &RunResult| r.positions.iter().map(|p| [f64::from(p[0]), f64::from(p[1])]).collect::<Vec<_>>();
    let swd_between = sliced_wasserstein(&as_f64(cpu), &as_f64(gpu), &projections(64, 9));
    let max_value_error = cpu.values.iter().zip(&gpu.values).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    let comparison = Comparison { max_error, within, swd_between, nfe: (cpu.nfe, gpu.nfe), max_value_error };
    // Traced trajectories follow the same rule as the final positions.
    let frame_error = cpu
        .frames
        .iter()
        .zip(&gpu.frames)
        .flat_map(|(a, b)| a.iter().zip(b).map(|(p, q)| distance(*p, *q)))
        .fold(0.0, f32::max);
    match expect {
        Expectation::EveryParticle(t) => {
            if max_error > t {
                return Err(format!("{}: a particle differs by {max_error:e} > {t:e} ({comparison:?})", plan.sampler));
            }
            if frame_error > t {
                return Err(format!("{}: a traced frame differs by {frame_error:e} > {t:e}", plan.sampler));
            }
            // Fixed plans count evaluations exactly; adaptive ones may take a step more or less.
            let nfe_gap = (cpu.nfe - gpu.nfe).abs();
            if plan.fixed_nfe().is_some() && nfe_gap > 0.0 || nfe_gap > 0.05 * cpu.nfe.max(1.0) {
                return Err(format!("{}: evaluations differ: {comparison:?}", plan.sampler));
            }
        }
        Expectation::MostParticles { share, .. } => {
            if within < share || swd_between > DISTRIBUTION_TOLERANCE {
                return Err(format!(
                    "{}: {:.1}% of particles agree (want {:.0}%), SWD between the runs {swd_between:.4} (want <= {DISTRIBUTION_TOLERANCE})",
                    plan.sampler,
                    100.0 * within,
                    100.0 * share
                ));
            }
        }
    }
    Ok(comparison)
}

/// One agreement case: a sampler, its process and options.
#[derive(Debug, Clone)]
pub struct Case {
    pub sampler: &'static str,
    pub process: Process,
    pub options: SamplerOptions,
}

/// Every sampler at a low NFE under VP, the mean-reverting samplers under MR (towards a
/// nonzero condition), and a few under the other processes.
pub fn cases() -> Vec<Case> {
    let options = SamplerOptions { nfe: 10, sweeps: 3, step_size: 0.01, ..SamplerOptions::default() };
    let mut out: Vec<Case> = SAMPLERS.iter().map(|s| Case { sampler: s, process: Process::vp(), options }).collect();
    let mr = SamplerOptions { condition: [0.5, -0.5], ..options };
    out.extend(MR_SAMPLERS.iter().map(|s| Case { sampler: s, process: Process::mean_reverting(), options: mr }));
    for process in [Process::sub_vp(), Process::ve(), Process::cosine(), Process::RectifiedFlow] {
        for sampler in ["em", "pf-heun", "dpmpp-2m", "pf-dopri5"] {
            out.push(Case { sampler, process, options });
        }
    }
    out
}

/// A learned vector field's agreement case: the flow plan of the neural ODE lab's portrait
/// from a grid of starts, every particle traced.
#[derive(Debug, Clone)]
pub struct FieldCase {
    pub label: String,
    pub model: FieldModel,
    pub plan: Plan,
    pub starts: Vec<[f32; 2]>,
}

impl FieldCase {
    pub fn options(&self) -> RunOptions {
        RunOptions {
            particles: self.starts.len(),
            seed: 0,
            traced: (0..self.starts.len()).collect(),
            inputs: self.starts.clone(),
        }
    }
}

/// Pure fields with every hidden activation a lab network has (RK4), and both hybrids (their
/// known physics through the head's basis), at random weights with scales other than 1.
pub fn field_cases() -> Vec<FieldCase> {
    let times: Vec<f64> = (0..11).map(|k| 0.5 * k as f64).collect();
    let starts = start_grid([-2.0, 2.0, -2.0, 2.0], 12);
    let mut out = Vec::new();
    for (k, activation) in DenseActivation::ALL.into_iter().enumerate() {
        let field = LearnedField::Neural(NeuralField::new(2, 16, 2, activation).expect("a small field"));
        let mut params = field.init(k as u64);
        let n = params.len();
        (params[n - 2], params[n - 1]) = (1.5, 0.8);
        out.push(FieldCase {
            label: format!("neural field, {}", activation.name()),
            model: FieldModel::of(&field, &params).expect("the field's model"),
            plan: flow_plan(&RK4, &times, 2).expect("a flow plan"),
            starts: starts.clone(),
        });
    }
    for (id, activation, tableau) in
        [(SystemId::Pendulum, DenseActivation::Tanh, HEUN), (SystemId::LotkaVolterra, DenseActivation::Gaussian, TSIT5)]
    {
        let field = LearnedField::Hybrid(HybridField::new(System(id), 12, 2, activation).expect("a hybrid"));
        // Lotka-Volterra's starts are populations: positive. Its known part alone (the
        // untrained hybrid) lets the prey grow as e^(1.3 t), so its horizon is shorter: the
        // tolerance is absolute, and f32 values in the thousands differ by more than it.
        let (starts, horizon) = match id {
            SystemId::LotkaVolterra => (start_grid([0.2, 4.0, 0.2, 4.0], 12), 2.0),
            _ => (starts.clone(), 5.0),
        };
        let times: Vec<f64> = (0..11).map(|k| horizon * k as f64 / 10.0).collect();
        out.push(FieldCase {
            label: format!("hybrid {}", id.name()),
            model: FieldModel::of(&field, &field.init(9)).expect("the field's model"),
            plan: flow_plan(&tableau, &times, 4).expect("a flow plan"),
            starts,
        });
    }
    out
}

/// A neural SDE's agreement case: the latent SDE's prior paths (`core::nsde::sde_model`),
/// driven by Brownian increments from the virtual Brownian tree, every path traced.
#[derive(Debug, Clone)]
pub struct SdeCase {
    pub label: String,
    pub run: PathRun,
}

/// The latent SDE's prior at fresh weights under both solvers, on an irregular grid of
/// observation times (steps of unequal length), 256 paths.
pub fn sde_cases() -> Vec<SdeCase> {
    let model = LatentSde::new(LatentConfig::default()).expect("the default latent SDE").initialised(11);
    let times: Vec<f64> = (0..=12).map(|k| 1.2 * (k as f64 / 12.0).powf(1.3)).collect();
    let grid = Grid::new(&times, 0.04).expect("a grid");
    SdeMethod::ALL
        .into_iter()
        .map(|method| SdeCase {
            label: format!("latent SDE prior, {}", method.name()),
            run: path_run(&model, method, &grid, 256, &|p| model.prior_draws(&grid, p as u64, 5)).expect("a path run"),
        })
        .collect()
}

/// The SDE-GAN generator's agreement case (`core::nsde::generator_model`): its reversible-Heun
/// paths in R^16 on the `ou-tdep` observation grid, driven by increments from input rows.
#[derive(Debug, Clone)]
pub struct GeneratorCase {
    pub label: String,
    pub run: crate::core::nsde::generator_model::GeneratorPathRun,
}

/// The generator of a fresh SDE-GAN fit (its initial weights, which torchsde's scaling makes
/// move the paths), 256 paths of 63 steps.
pub fn generator_cases() -> Vec<GeneratorCase> {
    use crate::core::nsde::gan::{GanConfig, GanFit};
    use crate::core::nsde::generator_model::GeneratorPathRun;
    let gan = GanFit::new(GanConfig { train_paths: 64, ..GanConfig::cli_default() }).expect("a fresh SDE-GAN");
    let run = GeneratorPathRun::of_fit(&gan, 0..256).expect("a generator path run");
    vec![GeneratorCase { label: "SDE-GAN generator, reversible heun".into(), run }]
}

/// Replacement (`Op::Replace`, the controllable-generation lab's inpainting) on a few fixed-step
/// samplers, deterministic and stochastic, observing the coordinate at 45°, plus one under the
/// mean-reverting process towards a nonzero condition: (label, plan, process, condition).
pub fn replacement_cases() -> Vec<(String, Plan, Process, [f64; 2])> {
    use crate::core::inverse::line::LineObservation;
    use crate::core::inverse::replace_plan::with_replacement;
    use crate::core::sample::build;
    use crate::core::sample::grid::T_EPS_SAMPLE;
    let line = LineObservation::at_angle(45.0, 0.9).expect("a finite line");
    let options = SamplerOptions { nfe: 10, ..SamplerOptions::default() };
    let mut out = Vec::new();
    for (sampler, process, condition) in [
        ("em", Process::vp(), [0.0; 2]),
        ("ddim", Process::vp(), [0.0; 2]),
        ("pc", Process::vp(), [0.0; 2]),
        ("dpmpp-2m", Process::ve(), [0.0; 2]),
        ("mr-em", Process::mean_reverting(), [0.5, -0.5]),
    ] {
        let plan = build(sampler, process, Parameterisation::Score, &SamplerOptions { condition, ..options })
            .and_then(|plan| with_replacement(&plan, &line, T_EPS_SAMPLE))
            .expect("the replacement cases build");
        out.push((format!("{sampler}+replacement ({})", process.name()), plan, process, condition));
    }
    out
}

/// The mixture the agreement tests sample.
pub fn test_mixture() -> GaussianMixture {
    GaussianMixture::eight_gaussians()
}

/// A small MLP trained briefly on the test mixture (what it computes matters, not how well).
pub fn trained_mlp(process: Process, param: Parameterisation, steps: usize) -> Result<Mlp, String> {
    let config = MlpConfig { width: 32, depth: 2, ..MlpConfig::default() };
    let mlp = Mlp::new(config, 17)?;
    let objective = if process.is_flow() {
        Objective::FlowMatching
    } else {
        Objective::Dsm { param, weighting: Weighting::Default }
    };
    let data = test_mixture().sample(2000, 21);
    let train = TrainConfig { batch: 64, learning_rate: 3e-3, ema_decay: 0.99, seed: 4 };
    let mut trainer = Trainer::new(mlp, process, objective, data, None, train)?;
    for _ in 0..steps {
        trainer.step().map_err(|e| e.to_string())?;
    }
    Ok(Mlp { config, params: trainer.ema.params.clone() })
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::sample::build;

    fn result(positions: Vec<[f32; 2]>) -> RunResult {
        RunResult { positions, frames: vec![], nfe: 10.0, values: vec![] }
    }

    /// The comparison fails where it should: one particle off on a fixed plan; many off on a
    /// branching one.
    #[test]
    fn comparison_catches_a_stray_particle() {
        let plan = build("ddim", Process::vp(), Parameterisation::Score, &SamplerOptions::default()).unwrap();
        let base: Vec<[f32; 2]> = (0..100).map(|i| [i as f32 * 0.01, 1.0]).collect();
        assert!(compare(&plan, &result(base.clone()), &result(base.clone())).is_ok());
        let mut moved = base.clone();
        moved[7][1] += 0.01;
        assert!(compare(&plan, &result(base.clone()), &result(moved)).unwrap_err().contains("differs"));
        let mala = build("mala", Process::vp(), Parameterisation::Score, &SamplerOptions::default()).unwrap();
        let mut few = base.clone();
        few[3][0] += 0.5;
        assert!(compare(&mala, &result(base.clone()), &result(few)).is_ok());
        let many: Vec<[f32; 2]> = base.iter().map(|p| [p[0] + 0.5, p[1]]).collect();
        assert!(compare(&mala, &result(base), &result(many)).is_err());
    }
}
