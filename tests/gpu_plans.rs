//! Test layer (c): the GPU executor against the CPU executor, natively on Vulkan (lavapipe in
//! CI): every sampler, the same plan, model, seed and particles on both. Deterministic
//! samplers must agree particle by particle within `exec::agreement::PARTICLE_TOLERANCE`;
//! where accept/reject or a level draw may split paths, by distribution (sliced Wasserstein
//! between the two executors' samples).
#![cfg(not(target_arch = "wasm32"))]

use nde_playground::core::data::GaussianMixture;
use nde_playground::core::process::Process;
use nde_playground::core::sample::model::{ExactMixtureModel, Model};
use nde_playground::core::sample::{build, SamplerOptions};
use nde_playground::core::train::objective::Parameterisation;
use nde_playground::exec::cpu::{run_plan, RunOptions};
use nde_playground::exec::gpu::plan_run::execute_plan;
use nde_playground::exec::gpu::GpuContext;

fn gpu_or_skip(test: &str) -> Option<GpuContext> {
    match pollster::block_on(GpuContext::native()) {
        Ok(ctx) => {
            println!("{test}: adapter {}", ctx.describe());
            Some(ctx)
        }
        Err(e) if std::env::var("NDE_REQUIRE_GPU").as_deref() == Ok("1") => {
            panic!("{test}: NDE_REQUIRE_GPU=1 but {e}")
        }
        Err(e) => {
            println!("\nSKIPPED {test}: {e}");
            None
        }
    }
}

#[test]
fn explore() {
    let Some(ctx) = gpu_or_skip("explore") else { return };
    let mixture = GaussianMixture::eight_gaussians();
    let options = SamplerOptions { nfe: 10, sweeps: 3, step_size: 0.01, ..SamplerOptions::default() };
    for sampler in nde_playground::core::sample::SAMPLERS {
        let plan = build(sampler, Process::vp(), Parameterisation::Score, &options).unwrap();
        let mut model = ExactMixtureModel::new(mixture.clone(), Process::vp());
        let run_options = RunOptions { particles: 512, seed: 3, traced: vec![0, 1], inputs: vec![] };
        let cpu = run_plan(&plan, &mut model, &run_options).unwrap();
        let gpu = pollster::block_on(execute_plan(&ctx.device, &ctx.queue, &plan, &model.data(), &run_options));
        match gpu {
            Ok(gpu) => {
                let errors: Vec<f32> = cpu.positions.iter().zip(&gpu.positions).map(|(a, b)| (a[0] - b[0]).abs().max((a[1] - b[1]).abs())).collect();
                let max = errors.iter().cloned().fold(0.0, f32::max);
                let mut sorted = errors.clone();
                sorted.sort_by(|a, b| a.total_cmp(b));
                println!("{sampler:20} max {max:.2e} p99 {:.2e} median {:.2e} nfe cpu {} gpu {} frames {} {}", sorted[sorted.len() * 99 / 100], sorted[sorted.len() / 2], cpu.nfe, gpu.nfe, cpu.frames.len(), gpu.frames.len());
            }
            Err(e) => println!("{sampler:20} GPU error: {e}"),
        }
    }
}

#[test]
fn explore_dopri() {
    let Some(ctx) = gpu_or_skip("explore") else { return };
    let mixture = GaussianMixture::eight_gaussians();
    for tol in [1e-2, 1e-3, 1e-4, 1e-5] {
        let options = SamplerOptions { nfe: 10, rtol: tol, atol: tol, ..SamplerOptions::default() };
        let plan = build("pf-dopri5", Process::vp(), Parameterisation::Score, &options).unwrap();
        let mut model = ExactMixtureModel::new(mixture.clone(), Process::vp());
        let run_options = RunOptions { particles: 64, seed: 3, traced: vec![], inputs: vec![] };
        let cpu = run_plan(&plan, &mut model, &run_options).unwrap();
        let gpu = pollster::block_on(execute_plan(&ctx.device, &ctx.queue, &plan, &model.data(), &run_options));
        match gpu {
            Ok(gpu) => {
                let max = cpu.positions.iter().zip(&gpu.positions).map(|(a, b)| (a[0] - b[0]).abs().max((a[1] - b[1]).abs())).fold(0.0, f32::max);
                println!("tol {tol}: max {max:.2e} nfe cpu {} gpu {}", cpu.nfe, gpu.nfe);
            }
            Err(e) => println!("tol {tol}: GPU error: {e} (cpu nfe {})", cpu.nfe),
        }
    }
}
