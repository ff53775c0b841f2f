//! The neural SDE lab's model paths on the GPU: the latent SDE's prior integrated by the plan
//! executors from uploaded Brownian increments, the WGSL interpreter against the CPU executor
//! natively on Vulkan (lavapipe in CI), every observation time of every path. The cases are
//! `exec::agreement::sde_cases` (the browser layer runs them too); the CPU executor is itself
//! checked against the f64 solver in `core::nsde::sde_model`.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::gpu_or_skip;

use nde_playground::core::sample::model::Model;
use nde_playground::core::sample::plan::Plan;
use nde_playground::exec::agreement::{compare, field_cases, generator_cases, sde_cases};
use nde_playground::exec::cpu::{run_plan, RunOptions, RunResult};
use nde_playground::exec::gpu::plan_run::{execute_plan, execute_plan_with, GpuRunSettings, PlanKernel};
use nde_playground::exec::gpu::GpuContext;

/// One path run on the CPU executor and the GPU's (a compiled kernel, or one compiled here).
fn run_both(
    ctx: &GpuContext,
    kernel: Option<&PlanKernel>,
    label: &str,
    plan: &Plan,
    model: &mut dyn Model,
    options: &RunOptions,
) -> (RunResult, RunResult) {
    let cpu = run_plan(plan, model, options).unwrap_or_else(|e| panic!("{label}: CPU: {e}"));
    let settings = GpuRunSettings::for_adapter(&ctx.info);
    let data = model.data();
    let gpu = match kernel {
        Some(kernel) => {
            pollster::block_on(execute_plan_with(&ctx.device, &ctx.queue, kernel, settings, plan, &data, options))
        }
        None => pollster::block_on(execute_plan(&ctx.device, &ctx.queue, settings, plan, &data, options)),
    };
    (cpu, gpu.unwrap_or_else(|e| panic!("{label}: GPU: {e}")))
}

#[test]
fn latent_sde_paths_agree_on_the_gpu_and_the_cpu() {
    let Some(ctx) = gpu_or_skip("latent_sde_paths_agree_on_the_gpu_and_the_cpu") else { return };
    let cases = sde_cases();
    assert_eq!(cases.len(), 2, "both solvers");
    // Compiled once: lavapipe takes seconds per compilation of the interpreter.
    let kernel = pollster::block_on(PlanKernel::new(&ctx.device)).expect("the interpreter compiles");
    for case in cases {
        let run = &case.run;
        let mut model = run.model.clone();
        let (cpu, gpu) = run_both(&ctx, Some(&kernel), &case.label, &run.plan, &mut model, &run.options);
        let c = compare(&run.plan, &cpu, &gpu).unwrap_or_else(|e| panic!("{}: {e}", case.label));
        println!(
            "{:36} max {:.1e} over {} frames x {} paths, nfe {}",
            case.label,
            c.max_error,
            gpu.frames.len(),
            run.options.particles,
            gpu.nfe
        );
        assert_eq!(gpu.frames.len(), run.times.len());
        assert!(gpu.frames.iter().all(|f| f.len() == run.options.particles), "{}: every path is traced", case.label);
        // The noise moved the paths apart: paths that ignored the increments would follow the
        // drift from their starts, and the spread of the ends would be about the starts'.
        let spread = |frame: &[[f32; 2]]| {
            let mean = frame.iter().map(|p| p[0]).sum::<f32>() / frame.len() as f32;
            frame.iter().map(|p| (p[0] - mean).powi(2)).sum::<f32>() / frame.len() as f32
        };
        let (first, last) = (spread(&gpu.frames[0]), spread(gpu.frames.last().unwrap()));
        println!("    variance of z0 {first:.3}, at the end {last:.3}");
        let moved = gpu.frames.last().unwrap().iter().zip(&gpu.frames[0]).filter(|(a, b)| (a[0] - b[0]).abs() > 0.05);
        assert!(moved.count() > run.options.particles / 2, "{}: the paths did not move", case.label);
    }
}

/// The SDE-GAN generator's paths (state in R^16, noise in R^3, two ops of its own) on the GPU
/// and the CPU, every observation time of every path.
#[test]
fn sde_gan_generator_paths_agree_on_the_gpu_and_the_cpu() {
    let Some(ctx) = gpu_or_skip("sde_gan_generator_paths_agree_on_the_gpu_and_the_cpu") else { return };
    for case in generator_cases() {
        let run = &case.run;
        let mut model = run.model.clone();
        let (cpu, gpu) = run_both(&ctx, None, &case.label, &run.plan, &mut model, &run.options);
        let c = compare(&run.plan, &cpu, &gpu).unwrap_or_else(|e| panic!("{}: {e}", case.label));
        let frames = cpu.frames.iter().zip(&gpu.frames);
        let frame_error = frames
            .flat_map(|(a, b)| a.iter().zip(b).map(|(p, q)| (p[0] - q[0]).abs().max((p[1] - q[1]).abs())))
            .fold(0.0f32, |m, e| if e.is_nan() { f32::INFINITY } else { m.max(e) });
        println!(
            "{:36} max {:.1e} at the end, {frame_error:.1e} over {} frames x {} paths, nfe {}",
            case.label,
            c.max_error,
            gpu.frames.len(),
            run.options.particles,
            gpu.nfe
        );
        assert!(frame_error <= 1e-4, "{}: a frame differs by {frame_error}", case.label);
        assert_eq!(gpu.nfe, cpu.nfe);
        assert_eq!(gpu.frames.len(), run.times.len());
        let moved = gpu.frames.last().unwrap().iter().zip(&gpu.frames[0]).filter(|(a, b)| (a[0] - b[0]).abs() > 0.01);
        assert!(moved.count() > run.options.particles / 2, "{}: the paths did not move", case.label);
    }
}

/// The generator's ops on another model, and another plan on the generator, are refused.
#[test]
fn generator_mismatches_are_refused_on_the_gpu() {
    let Some(ctx) = gpu_or_skip("generator_mismatches_are_refused_on_the_gpu") else { return };
    let generator = &generator_cases()[0];
    let latent = &sde_cases()[0];
    let settings = GpuRunSettings::for_adapter(&ctx.info);
    let run = |plan, model: &nde_playground::core::sample::model::ModelData, options| {
        pollster::block_on(execute_plan(&ctx.device, &ctx.queue, settings, plan, model, options)).expect_err("refused")
    };
    let err = run(&generator.run.plan, &latent.run.model.data(), &generator.run.options);
    assert!(err.to_string().contains("not an SDE-GAN generator"), "{err}");
    // The latent SDE's plan evaluates a diffusion, which the generator does not offer as such.
    let err = run(&latent.run.plan, &generator.run.model.data(), &latent.run.options);
    assert!(err.to_string().contains("no diffusion"), "{err}");
    // A plan of the generator's ops and an Eval: the generator runs its own plans only.
    let mut mixed = generator.run.plan.clone();
    mixed.ops.insert(1, nde_playground::core::sample::plan::Op::LoadInput { into: 0 });
    let err = run(&mixed, &generator.run.model.data(), &generator.run.options);
    assert!(err.to_string().contains("its own path plans"), "{err}");
}

/// The diffusion op needs a neural SDE: a vector field's model is refused with the reason,
/// not run wrong.
#[test]
fn a_model_without_diffusion_is_refused() {
    let Some(ctx) = gpu_or_skip("a_model_without_diffusion_is_refused") else { return };
    let case = &sde_cases()[0];
    let field = &field_cases()[0];
    let err = pollster::block_on(execute_plan(
        &ctx.device,
        &ctx.queue,
        GpuRunSettings::for_adapter(&ctx.info),
        &case.run.plan,
        &field.model.data(),
        &case.run.options,
    ))
    .err()
    .expect("refused");
    assert!(err.to_string().contains("no diffusion"), "{err}");
}
