//! The neural ODE lab's trajectories on the GPU: a learned vector field (not a diffusion
//! model) integrated by the plan executors, the WGSL interpreter against the CPU executor
//! natively on Vulkan (lavapipe in CI), every frame of every particle. The cases are
//! `exec::agreement::field_cases` (the browser layer runs them too).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::gpu_or_skip;

use nde_playground::core::sample::model::Model;
use nde_playground::core::sample::SamplerOptions;
use nde_playground::exec::agreement::{compare, field_cases};
use nde_playground::exec::cpu::run_plan;
use nde_playground::exec::gpu::plan_run::{execute_plan, GpuRunSettings};

#[test]
fn learned_fields_integrate_alike_on_the_gpu_and_the_cpu() {
    let Some(ctx) = gpu_or_skip("learned_fields_integrate_alike_on_the_gpu_and_the_cpu") else { return };
    for case in field_cases() {
        let options = case.options();
        let mut model = case.model.clone();
        let cpu = run_plan(&case.plan, &mut model, &options).unwrap_or_else(|e| panic!("{}: CPU: {e}", case.label));
        let gpu = pollster::block_on(execute_plan(
            &ctx.device,
            &ctx.queue,
            GpuRunSettings::for_adapter(&ctx.info),
            &case.plan,
            &model.data(),
            &options,
        ))
        .unwrap_or_else(|e| panic!("{}: GPU: {e}", case.label));
        let c = compare(&case.plan, &cpu, &gpu).unwrap_or_else(|e| panic!("{}: {e}", case.label));
        let largest = gpu.frames.iter().flatten().map(|p| p[0].abs().max(p[1].abs())).fold(0.0f32, f32::max);
        println!(
            "{:32} max {:.1e} over {} frames (largest |y| {largest:.1}), nfe {}",
            case.label,
            c.max_error,
            gpu.frames.len(),
            gpu.nfe
        );
        assert_eq!(gpu.frames.len(), case.plan.frames() as usize);
        assert!(gpu.frames.iter().all(|f| f.len() == case.starts.len()), "{}: every particle is traced", case.label);
        // The field moved the particles (a GPU that returned its inputs would agree at frame 0).
        let moved =
            gpu.positions.iter().zip(&case.starts).filter(|(p, s)| (p[0] - s[0]).abs() + (p[1] - s[1]).abs() > 1e-2);
        assert!(moved.count() > case.starts.len() / 2, "{}: the particles did not move", case.label);
    }
}

/// A field runs fixed-step plans only: a sampler's plan is refused with a reason, not run wrong.
#[test]
fn a_field_model_refuses_a_sampler_plan() {
    let Some(ctx) = gpu_or_skip("a_field_model_refuses_a_sampler_plan") else { return };
    let case = &field_cases()[0];
    let options = SamplerOptions { nfe: 6, ..SamplerOptions::default() };
    let plan = nde_playground::core::sample::build(
        "pf-dopri5",
        nde_playground::core::process::Process::RectifiedFlow,
        nde_playground::core::param::Parameterisation::Flow,
        &options,
    )
    .unwrap();
    let err = pollster::block_on(execute_plan(
        &ctx.device,
        &ctx.queue,
        GpuRunSettings::for_adapter(&ctx.info),
        &plan,
        &case.model.data(),
        &case.options(),
    ))
    .err()
    .expect("refused");
    assert!(err.to_string().contains("fixed-step plans"), "{err}");
}
