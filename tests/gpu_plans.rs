//! Test layer (c): the GPU executor against the CPU executor, natively on Vulkan (lavapipe in
//! CI): every sampler, the same plan, model, seed and particles on both, judged by
//! `exec::agreement` (per particle, or by distribution where a draw can branch a path).
//!
//! Without an adapter each test prints `SKIPPED` and the layer's runner counts it as skipped;
//! with `NDE_REQUIRE_GPU=1` (set by `make test`) a missing adapter is a failure.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::gpu_or_skip;

use nde_playground::core::param::Parameterisation;
use nde_playground::core::process::Process;
use nde_playground::core::sample::likelihood::likelihood_plan;
use nde_playground::core::sample::model::{ExactMixtureModel, MlpModel, Model};
use nde_playground::core::sample::{build, Plan, SamplerOptions};
use nde_playground::core::train::level_classifier::{LevelClassifier, LevelTrainer};
use nde_playground::exec::agreement::{cases, compare, replacement_cases, test_mixture, trained_mlp, Comparison};
use nde_playground::exec::cpu::{run_plan, RunOptions, RunResult};
use nde_playground::exec::gpu::op_major::{runs_op_major, GpuPath};
use nde_playground::exec::gpu::plan_run::{chosen_path, execute_plan, GpuPlanRun, GpuRunSettings, PlanKernel};

/// Per-point nats: the divergence integral adds f32 Jacobians over hundreds of steps
/// (measured: 9e-5 for the mixture, 2.3e-3 for a network).
const LIKELIHOOD_TOLERANCE: f32 = 1e-2;

fn options(particles: usize) -> RunOptions {
    RunOptions { particles, seed: 3, traced: vec![0, 1, 2], inputs: vec![] }
}

fn both(
    ctx: &nde_playground::exec::gpu::GpuContext,
    plan: &Plan,
    model: &mut dyn Model,
    run: &RunOptions,
) -> (RunResult, RunResult) {
    let cpu = run_plan(plan, model, run).unwrap_or_else(|e| panic!("{}: CPU: {e}", plan.sampler));
    let gpu = pollster::block_on(execute_plan(
        &ctx.device,
        &ctx.queue,
        GpuRunSettings::for_adapter(&ctx.info),
        plan,
        &model.data(),
        run,
    ))
    .unwrap_or_else(|e| panic!("{}: GPU: {e}", plan.sampler));
    (cpu, gpu)
}

fn report(label: &str, c: &Comparison) {
    println!(
        "{label:36} max {:.1e}  within {:.1}%  swd {:.4}  nfe {:.2}/{:.2}  values {:.1e}",
        c.max_error,
        100.0 * c.within,
        c.swd_between,
        c.nfe.0,
        c.nfe.1,
        c.max_value_error
    );
}

#[test]
fn every_sampler_agrees_with_the_cpu_on_the_exact_mixture() {
    let Some(ctx) = gpu_or_skip("every_sampler_agrees_with_the_cpu_on_the_exact_mixture") else { return };
    let mut failures = Vec::new();
    let cases = cases();
    for case in &cases {
        let plan = build(case.sampler, case.process, Parameterisation::Score, &case.options).unwrap();
        let mut model = ExactMixtureModel::new(test_mixture(), case.process).with_condition(case.options.condition);
        let (cpu, gpu) = both(&ctx, &plan, &mut model, &options(1000));
        match compare(&plan, &cpu, &gpu) {
            Ok(c) => report(&format!("{} ({})", case.sampler, case.process.name()), &c),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases disagree:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// Replacement (`Op::Replace`): the observed coordinate's fresh copies draw the same noise on
/// both executors, so every particle agrees.
#[test]
fn replacement_agrees_with_the_cpu() {
    let Some(ctx) = gpu_or_skip("replacement_agrees_with_the_cpu") else { return };
    let cases = replacement_cases();
    for (label, plan, process, condition) in &cases {
        let mut model = ExactMixtureModel::new(test_mixture(), *process).with_condition(*condition);
        let (cpu, gpu) = both(&ctx, plan, &mut model, &options(1000));
        let c = compare(plan, &cpu, &gpu).unwrap_or_else(|e| panic!("{label}: {e}"));
        report(label, &c);
    }
    assert_eq!(cases.len(), 5);
}

/// The op-major path (tiled evaluations between element-wise dispatches) against the CPU:
/// every fixed-step sampler of the agreement cases on one network, then networks of every
/// activation, widths 16 to 256 (some not multiples of the kernel's four-wide reads) and
/// depths 1 to 6, at particle counts that are not multiples of the tile or the workgroup.
/// The page's check before it sends panels to the op-major path: it passes here with the
/// figure it reports, and a device whose particles differ beyond the tolerance (here: a
/// tolerance of zero, which f32 rounding exceeds) fails it with the difference named.
#[test]
fn the_op_major_check_passes_here_and_names_a_difference() {
    use nde_playground::exec::agreement::PARTICLE_TOLERANCE;
    use nde_playground::exec::gpu::op_major::Precision;
    use nde_playground::exec::gpu::path_check::{check_op_major, F16_TOLERANCE};
    let Some(ctx) = gpu_or_skip("the_op_major_check_passes_here_and_names_a_difference") else { return };
    let kernel = pollster::block_on(PlanKernel::new(&ctx.device)).unwrap();
    let settings = GpuRunSettings::for_adapter(&ctx.info);
    let check =
        |settings, tolerance| pollster::block_on(check_op_major(&ctx.device, &ctx.queue, &kernel, settings, tolerance));
    let f32_check = check(settings, PARTICLE_TOLERANCE).unwrap();
    println!("op-major check: within {:e} of the CPU", f32_check.max_error);
    assert!(f32_check.max_error > 0.0 && f32_check.max_error < 1e-4, "{f32_check:?}");
    // In f16 where the adapter has it (lavapipe does): further off, within its tolerance.
    if kernel.has_f16() {
        let f16 = GpuRunSettings { precision: Precision::F16, ..settings };
        let f16_check = check(f16, F16_TOLERANCE).unwrap();
        println!("op-major f16 check: within {:e} of the CPU", f16_check.max_error);
        assert!(f16_check.max_error > f32_check.max_error, "{f16_check:?} vs {f32_check:?}");
    }
    let strict = check(settings, 0.0).unwrap_err();
    assert!(strict.starts_with("particle ") && strict.contains("relative to its size, above 0.0e0"), "{strict}");
}

#[test]
fn the_op_major_path_agrees_with_the_cpu() {
    use nde_playground::core::nn::{Activation, Mlp, MlpConfig};
    let Some(ctx) = gpu_or_skip("the_op_major_path_agrees_with_the_cpu") else { return };
    let kernel = pollster::block_on(PlanKernel::new(&ctx.device)).unwrap();
    // Asked for by name: on a software adapter the automatic choice is the interpreter.
    let settings = GpuRunSettings { path: Some(GpuPath::OpMajor), ..GpuRunSettings::for_adapter(&ctx.info) };
    let run = |plan: &Plan, model: &mut MlpModel, particles: usize| {
        let data = model.data();
        assert_eq!(chosen_path(settings, plan, &data), GpuPath::OpMajor, "{}", plan.sampler);
        let options = options(particles);
        let cpu = run_plan(plan, model, &options).unwrap_or_else(|e| panic!("{}: CPU: {e}", plan.sampler));
        let gpu = pollster::block_on(nde_playground::exec::gpu::plan_run::execute_plan_with(
            &ctx.device,
            &ctx.queue,
            &kernel,
            settings,
            plan,
            &data,
            &options,
        ))
        .unwrap_or_else(|e| panic!("{}: GPU: {e}", plan.sampler));
        compare(plan, &cpu, &gpu)
    };
    let mut failures = Vec::new();
    let mut ran = 0;
    let mlp = Mlp::new(MlpConfig { width: 24, depth: 2, ..MlpConfig::default() }, 4).unwrap();
    for case in cases() {
        let Ok(plan) = build(case.sampler, case.process, Parameterisation::Eps, &case.options) else { continue };
        let mut model = MlpModel::new(mlp.clone(), Parameterisation::Eps);
        if !runs_op_major(&plan, &model.data()) {
            continue;
        }
        ran += 1;
        match run(&plan, &mut model, 203) {
            Ok(c) => report(&format!("op-major {} ({})", case.sampler, case.process.name()), &c),
            Err(e) => failures.push(e),
        }
    }
    assert!(ran >= 20, "only {ran} samplers took the op-major path");
    let networks = [
        (16, 1, Activation::Silu),
        (37, 3, Activation::Tanh),
        (128, 2, Activation::Softplus),
        (256, 6, Activation::Relu),
        (100, 4, Activation::Silu),
    ];
    for (width, depth, activation) in networks {
        let mlp = Mlp::new(MlpConfig { width, depth, activation, ..MlpConfig::default() }, 9).unwrap();
        for (sampler, particles) in [("ddim", 77), ("em", 1001)] {
            let plan = build(
                sampler,
                Process::vp(),
                Parameterisation::Eps,
                &SamplerOptions { nfe: 6, ..SamplerOptions::default() },
            )
            .unwrap();
            let mut model = MlpModel::new(mlp.clone(), Parameterisation::Eps);
            match run(&plan, &mut model, particles) {
                Ok(c) => report(&format!("op-major {sampler} {width}x{depth} {activation:?}"), &c),
                Err(e) => failures.push(format!("{width}x{depth} {activation:?}: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "disagreements:\n{}", failures.join("\n"));
}

/// f16 on the op-major path: where the adapter offers `shader-f16`, a trained network's samples
/// agree with the f32 CPU run within `F16_TOLERANCE`; where it does not, asking for f16 is
/// refused with a message that names the feature (both are checked, whichever this adapter is).
#[test]
fn the_op_major_path_in_f16_agrees_or_is_refused() {
    use nde_playground::exec::gpu::op_major::Precision;
    use nde_playground::exec::gpu::path_check::F16_TOLERANCE;
    let Some(ctx) = gpu_or_skip("the_op_major_path_in_f16_agrees_or_is_refused") else { return };
    let kernel = pollster::block_on(PlanKernel::new(&ctx.device)).unwrap();
    let settings = GpuRunSettings { precision: Precision::F16, ..GpuRunSettings::for_adapter(&ctx.info) };
    let mlp = trained_mlp(Process::vp(), Parameterisation::Eps, 200).unwrap();
    let plan =
        build("ddim", Process::vp(), Parameterisation::Eps, &SamplerOptions { nfe: 10, ..SamplerOptions::default() })
            .unwrap();
    let mut net = MlpModel::new(mlp, Parameterisation::Eps);
    let run = options(1001);
    let gpu = pollster::block_on(nde_playground::exec::gpu::plan_run::execute_plan_with(
        &ctx.device,
        &ctx.queue,
        &kernel,
        settings,
        &plan,
        &net.data(),
        &run,
    ));
    if !kernel.has_f16() {
        let refusal = gpu.expect_err("f16 without shader-f16 must be refused").to_string();
        println!("{} offers no shader-f16: refused with \"{refusal}\"", ctx.describe());
        assert!(refusal.contains("shader-f16"), "{refusal}");
        return;
    }
    let gpu = gpu.unwrap_or_else(|e| panic!("f16: {e}"));
    let cpu = run_plan(&plan, &mut net, &run).unwrap();
    let worst = cpu
        .positions
        .iter()
        .zip(&gpu.positions)
        .map(|(a, b)| (a[0] - b[0]).abs().max((a[1] - b[1]).abs()))
        .fold(0.0f32, f32::max);
    println!("{}: f16 op-major ddim, worst particle difference from the f32 CPU run {worst:.2e}", ctx.describe());
    assert!(worst < F16_TOLERANCE, "f16 differs by {worst}");
    // f16 on the interpreter's plans is refused, not silently run in f32.
    let adaptive = build("pf-dopri5", Process::vp(), Parameterisation::Eps, &SamplerOptions::default()).unwrap();
    let refused = pollster::block_on(nde_playground::exec::gpu::plan_run::execute_plan_with(
        &ctx.device,
        &ctx.queue,
        &kernel,
        settings,
        &adaptive,
        &net.data(),
        &run,
    ));
    assert!(refused.expect_err("f16 on the interpreter").to_string().contains("op-major"));
}

#[test]
fn samplers_agree_on_a_trained_network_in_every_parameterisation() {
    let Some(ctx) = gpu_or_skip("samplers_agree_on_a_trained_network_in_every_parameterisation") else { return };
    let mut failures = Vec::new();
    let runs = [
        (Process::vp(), Parameterisation::Eps, &["em", "pc", "ddim", "dpmpp-2m", "unipc", "pf-dopri5", "edm-heun"][..]),
        (Process::vp(), Parameterisation::X0, &["dpmpp-3m", "pf-rk4"][..]),
        (Process::ve(), Parameterisation::Score, &["reverse-diffusion", "pf-heun"][..]),
        (Process::cosine(), Parameterisation::V, &["ddim", "dpm-solver-2"][..]),
        (Process::RectifiedFlow, Parameterisation::Flow, &["pf-euler", "pf-dopri5"][..]),
    ];
    for (process, param, samplers) in runs {
        let mlp = trained_mlp(process, param, 200).unwrap();
        let saved = if process.is_flow() { Parameterisation::Flow } else { param };
        for sampler in samplers {
            let plan =
                build(sampler, process, saved, &SamplerOptions { nfe: 10, ..SamplerOptions::default() }).unwrap();
            let mut model = MlpModel::new(mlp.clone(), saved);
            let (cpu, gpu) = both(&ctx, &plan, &mut model, &options(500));
            match compare(&plan, &cpu, &gpu) {
                Ok(c) => report(&format!("{sampler} ({}, {})", process.name(), saved.name()), &c),
                Err(e) => failures.push(e),
            }
        }
    }
    assert!(failures.is_empty(), "disagreements:\n{}", failures.join("\n"));
}

#[test]
fn likelihoods_agree_exact_trace_and_hutchinson() {
    let Some(ctx) = gpu_or_skip("likelihoods_agree_exact_trace_and_hutchinson") else { return };
    let points = test_mixture().sample(200, 31);
    let inputs: Vec<[f32; 2]> = points.iter().map(|p| [p[0] as f32, p[1] as f32]).collect();
    let run = RunOptions { particles: points.len(), seed: 5, traced: vec![], inputs };
    let mlp = trained_mlp(Process::vp(), Parameterisation::Eps, 200).unwrap();
    for hutchinson in [false, true] {
        let exact_plan =
            likelihood_plan(Process::vp(), Parameterisation::Score, "dopri5", 1e-5, 1e-5, hutchinson).unwrap();
        let mut exact = ExactMixtureModel::new(test_mixture(), Process::vp());
        let (cpu, gpu) = both(&ctx, &exact_plan, &mut exact, &run);
        let c = compare(&exact_plan, &cpu, &gpu).unwrap();
        report(&format!("likelihood exact mixture (hutchinson {hutchinson})"), &c);
        assert!(c.max_value_error < LIKELIHOOD_TOLERANCE, "nats differ by {}", c.max_value_error);
        let net_plan = likelihood_plan(Process::vp(), Parameterisation::Eps, "dopri5", 1e-5, 1e-5, hutchinson).unwrap();
        let mut net = MlpModel::new(mlp.clone(), Parameterisation::Eps);
        let (cpu, gpu) = both(&ctx, &net_plan, &mut net, &run);
        let c = compare(&net_plan, &cpu, &gpu).unwrap();
        report(&format!("likelihood network (hutchinson {hutchinson})"), &c);
        assert!(c.max_value_error < LIKELIHOOD_TOLERANCE, "nats differ by {}", c.max_value_error);
    }
}

#[test]
fn dlg_agrees_with_a_trained_level_classifier() {
    let Some(ctx) = gpu_or_skip("dlg_agrees_with_a_trained_level_classifier") else { return };
    let process = Process::vp();
    let options = SamplerOptions { nfe: 9, sweeps: 4, ..SamplerOptions::default() };
    let plan = build("dlg", process, Parameterisation::Eps, &options).unwrap();
    let times = nde_playground::core::sample::dlg::dlg_levels(&process, &options);
    let config = nde_playground::core::nn::MlpConfig { width: 32, depth: 2, ..Default::default() };
    let classifier = LevelClassifier::new(config, times, &process, 2).unwrap();
    let mut trainer = LevelTrainer::new(classifier, process, test_mixture().sample(2000, 3), 64, 3e-3, 1).unwrap();
    for _ in 0..200 {
        trainer.step().unwrap();
    }
    let mut model = MlpModel::new(trained_mlp(process, Parameterisation::Eps, 200).unwrap(), Parameterisation::Eps);
    model.level_classifier = Some(trainer.classifier.clone());
    let (cpu, gpu) = both(&ctx, &plan, &mut model, &options_for_dlg());
    let c = compare(&plan, &cpu, &gpu).unwrap_or_else(|e| panic!("{e}"));
    report("dlg with a level classifier", &c);
}

fn options_for_dlg() -> RunOptions {
    options(1000)
}

/// Chunks and stepwise dispatches change nothing: the same particles come out bit for bit.
#[test]
fn chunked_and_stepwise_runs_equal_one_dispatch() {
    let Some(ctx) = gpu_or_skip("chunked_and_stepwise_runs_equal_one_dispatch") else { return };
    let options_s = SamplerOptions { nfe: 12, sweeps: 3, ..SamplerOptions::default() };
    for sampler in ["dpmpp-2m-sde", "dlg"] {
        let plan = build(sampler, Process::vp(), Parameterisation::Score, &options_s).unwrap();
        let model = ExactMixtureModel::new(test_mixture(), Process::vp()).data();
        let run = options(700);
        let whole = pollster::block_on(async {
            let kernel = PlanKernel::new(&ctx.device).await.unwrap();
            let mut r = GpuPlanRun::new(
                &ctx.device,
                &ctx.queue,
                &kernel,
                GpuRunSettings::for_adapter(&ctx.info),
                &plan,
                &model,
                &run,
            )
            .await
            .unwrap();
            r.advance(usize::MAX).await.unwrap();
            r.read().await.unwrap()
        });
        let pieces = pollster::block_on(async {
            let kernel = PlanKernel::new(&ctx.device).await.unwrap();
            let mut r = GpuPlanRun::with_chunk_limit(
                &ctx.device,
                &ctx.queue,
                &kernel,
                GpuRunSettings::for_adapter(&ctx.info),
                &plan,
                &model,
                &run,
                256,
            )
            .await
            .unwrap();
            let mut middle = None;
            while r.remaining() > 0 {
                r.advance(1).await.unwrap();
                if r.remaining() == r.steps() / 2 {
                    middle = Some(r.read().await.unwrap());
                }
            }
            assert!(
                middle.is_some_and(|m| m.positions != whole.positions),
                "{sampler}: a half-way read shows a half-way state"
            );
            r.read().await.unwrap()
        });
        assert_eq!(whole.positions, pieces.positions, "{sampler}");
        assert_eq!(whole.frames, pieces.frames, "{sampler}");
        assert_eq!(whole.nfe, pieces.nfe, "{sampler}");
    }
}

#[test]
fn unsupported_requests_say_why() {
    let Some(ctx) = gpu_or_skip("unsupported_requests_say_why") else { return };
    let options_s = SamplerOptions { nfe: 5, ..SamplerOptions::default() };
    let mala = build("mala", Process::vp(), Parameterisation::Eps, &options_s).unwrap();
    let net =
        MlpModel::new(trained_mlp(Process::vp(), Parameterisation::Eps, 1).unwrap(), Parameterisation::Eps).data();
    let err = pollster::block_on(execute_plan(
        &ctx.device,
        &ctx.queue,
        GpuRunSettings::for_adapter(&ctx.info),
        &mala,
        &net,
        &options(10),
    ))
    .unwrap_err();
    assert!(err.to_string().contains("log-density"), "{err}");
    let ddim = build("ddim", Process::vp(), Parameterisation::Eps, &options_s).unwrap();
    let scattered = RunOptions { particles: 10, seed: 0, traced: vec![4], inputs: vec![] };
    let err = pollster::block_on(execute_plan(
        &ctx.device,
        &ctx.queue,
        GpuRunSettings::for_adapter(&ctx.info),
        &ddim,
        &net,
        &scattered,
    ))
    .unwrap_err();
    assert!(err.to_string().contains("first N particles"), "{err}");
    let exact = ExactMixtureModel::new(test_mixture(), Process::vp()).data();
    let err = pollster::block_on(execute_plan(
        &ctx.device,
        &ctx.queue,
        GpuRunSettings::for_adapter(&ctx.info),
        &ddim,
        &exact,
        &options(10),
    ))
    .unwrap_err();
    assert!(err.to_string().contains("score model"), "{err}");
}

/// On llvmpipe a run that ignores the work budget is cut short by the driver's loop cap; the
/// canary must turn that into an error instead of wrong samples. Adapters without the cap must
/// instead finish the same unbudgeted run and agree with the CPU.
#[test]
fn a_run_cut_short_by_the_software_loop_cap_is_an_error() {
    let Some(ctx) = gpu_or_skip("a_run_cut_short_by_the_software_loop_cap_is_an_error") else { return };
    let plan =
        build("ddim", Process::vp(), Parameterisation::Eps, &SamplerOptions { nfe: 200, ..SamplerOptions::default() })
            .unwrap();
    let mut net = MlpModel::new(trained_mlp(Process::vp(), Parameterisation::Eps, 1).unwrap(), Parameterisation::Eps);
    // The interpreter's loop is what the cap cuts (the op-major path has no long loop).
    let unbounded = GpuRunSettings {
        work_budget: u32::MAX,
        path: Some(GpuPath::Interpreter),
        ..GpuRunSettings::for_adapter(&ctx.info)
    };
    let result = pollster::block_on(execute_plan(&ctx.device, &ctx.queue, unbounded, &plan, &net.data(), &options(8)));
    if ctx.info.name.to_lowercase().contains("llvmpipe") {
        let err = result.unwrap_err();
        assert!(err.to_string().contains("loop cap"), "{err}");
    } else {
        println!("{} has no loop cap: the unbudgeted run must finish and agree", ctx.describe());
        let cpu = run_plan(&plan, &mut net, &options(8)).unwrap();
        compare(&plan, &cpu, &result.unwrap()).unwrap_or_else(|e| panic!("{e}"));
    }
}
