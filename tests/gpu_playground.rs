//! The page's sampler runs on the GPU executor (lavapipe here, WebGPU in the browser) agree
//! with the same runs on the CPU, particle by particle.

// Native only (Vulkan); the browser runs its GPU path in the e2e layer.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use nde_playground::exec::agreement::PARTICLE_TOLERANCE;
use nde_playground::exec::gpu::plan_run::{chosen_path, execute_plan_with, GpuRunSettings, PlanKernel};
use nde_playground::playground::diffusion::comparison::Executor;
use nde_playground::playground::diffusion::engine::Engine;
use nde_playground::playground::diffusion::settings::Settings;

#[test]
fn the_page_runs_its_panels_on_the_gpu() {
    let Some(gpu) = common::gpu_or_skip("the_page_runs_its_panels_on_the_gpu") else { return };
    let clock = || 0.0;
    let settings = Settings { particles: 300, ..Settings::default() };
    let mut cpu = Engine::new(settings.clone(), vec![]);
    for _ in 0..100_000 {
        cpu.tick(1e9, &clock);
        if cpu.progress().is_none() {
            break;
        }
    }
    let mut page = Engine::new(settings, vec![]);
    page.gpu = true;
    page.tick(1e9, &clock);
    let kernel = pollster::block_on(PlanKernel::new(&gpu.device)).unwrap();
    let run_settings = GpuRunSettings::for_adapter(&gpu.info);
    for job in page.take_jobs(Executor::Gpu) {
        page.note_gpu_path(job.id, chosen_path(run_settings, &job.plan, &job.model).name());
        let result = pollster::block_on(execute_plan_with(
            &gpu.device,
            &gpu.queue,
            &kernel,
            run_settings,
            &job.plan,
            &job.model,
            &job.options,
        ))
        .map_err(|e| e.to_string());
        page.finish_job(job.id, result, 0.0);
    }
    for _ in 0..1000 {
        page.tick(1e9, &clock);
        if page.progress().is_none() {
            break;
        }
    }
    assert!(page.status.errors.is_empty(), "{:?}", page.status.errors);
    for (c, g) in cpu.panels.iter().zip(&page.panels) {
        let (c, g) = (c.run.as_ref().unwrap(), g.run.as_ref().unwrap());
        let worst = c
            .positions
            .iter()
            .zip(&g.positions)
            .map(|(a, b)| (a[0] - b[0]).abs().max((a[1] - b[1]).abs()))
            .fold(0.0f32, f32::max);
        println!("{}: worst particle difference {worst:.2e}", c.plan.sampler);
        assert!(worst < PARTICLE_TOLERANCE, "{}: {worst}", c.plan.sampler);
        assert_eq!(c.frames.len(), g.frames.len());
        let (qc, qg) = (c.quality.unwrap(), g.quality.unwrap());
        assert!((qc.swd - qg.swd).abs() < 1e-3, "{qc:?} {qg:?}");
        // The panel names the GPU's path (the interpreter: the op-major path is opt-in).
        assert_eq!(g.executor_label(), "GPU, interpreter");
    }
}
