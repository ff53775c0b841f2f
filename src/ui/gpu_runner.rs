//! The GPU job runner: compiles the plan interpreter once a device is found, then runs the
//! jobs the lab hands out off the frame (the browser's GPU process does the work) and gives
//! each result back to the lab.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen_futures::spawn_local;

use super::browser;
use super::controls::{Act, Reports};
use crate::core::sample::model::ModelData;
use crate::core::sample::plan::Plan;
use crate::exec::cpu::{RunOptions, RunResult};
use crate::exec::gpu::context::is_software_adapter;
use crate::exec::gpu::plan_run::{chosen_path, execute_plan_with, GpuRunSettings, PlanKernel};
use crate::exec::gpu::GpuContext;
use crate::playground::diffusion::engine::GpuJob;
use crate::playground::node::cloud::FlowJob;
use crate::playground::node::NodeLab;
use crate::playground::nsde::lab::PathJob;
use crate::playground::nsde::NsdeLab;

/// The GPU executor, once its kernel is compiled.
pub struct GpuRunner {
    context: GpuContext,
    kernel: PlanKernel,
    settings: GpuRunSettings,
    /// Whether the adapter is a software one (the CPU emulating a GPU).
    pub software: bool,
}

/// The runner, when there is one (shared by the frame loop and the page's buttons).
pub type SharedRunner = Rc<RefCell<Option<Rc<GpuRunner>>>>;

/// Runs one job on the GPU and hands the result back to the engine.
pub fn spawn_gpu_job(runner: Rc<GpuRunner>, job: GpuJob, act: Act) {
    let path = chosen_path(runner.settings, &job.plan, &job.model);
    act.engine.borrow_mut().note_gpu_path(job.id, path.name());
    spawn_local(async move {
        let start = browser::now_ms();
        let result = execute_plan_with(
            &runner.context.device,
            &runner.context.queue,
            &runner.kernel,
            runner.settings,
            &job.plan,
            &job.model,
            &job.options,
        )
        .await
        .map_err(|e| e.to_string());
        let elapsed = browser::now_ms() - start;
        act.engine.borrow_mut().finish_job(job.id, result, elapsed);
        act.update.force_update();
    });
}

/// Runs a lab's plan on the GPU off the frame and hands the result to `finish`, then
/// re-renders the page.
fn spawn_plan<L: Reports + 'static>(
    runner: Rc<GpuRunner>,
    plan: Plan,
    model: ModelData,
    options: RunOptions,
    act: Act<L>,
    finish: impl FnOnce(&mut L, Result<RunResult, String>) + 'static,
) {
    spawn_local(async move {
        let result = execute_plan_with(
            &runner.context.device,
            &runner.context.queue,
            &runner.kernel,
            runner.settings,
            &plan,
            &model,
            &options,
        )
        .await
        .map_err(|e| e.to_string());
        finish(&mut act.engine.borrow_mut(), result);
        act.update.force_update();
    });
}

/// Runs the neural ODE lab's cloud on the GPU and hands the frames back to the lab.
pub fn spawn_flow_job(runner: Rc<GpuRunner>, job: FlowJob, act: Act<NodeLab>) {
    spawn_plan(runner, job.plan, job.model, job.options, act, move |lab, result| {
        lab.finish_flow_job(job.id, result, browser::now_ms())
    });
}

/// Runs the neural SDE lab's evaluation paths on the GPU and hands them back to the lab.
pub fn spawn_path_job(runner: Rc<GpuRunner>, job: PathJob, act: Act<NsdeLab>) {
    spawn_plan(runner, job.plan, job.model, job.options, act, move |lab, result| lab.finish_path_job(job.id, result));
}

/// Compiles the interpreter and, once it is ready, sends the engine's runs to the GPU.
pub async fn compile_gpu_sampler(context: GpuContext, runner: SharedRunner, act: Act) {
    match PlanKernel::new(&context.device).await {
        Ok(kernel) => {
            let settings = GpuRunSettings::for_adapter(&context.info);
            let info = &context.info;
            let software = is_software_adapter(info.device_type, &[&info.name, &info.driver]);
            *runner.borrow_mut() = Some(Rc::new(GpuRunner { context, kernel, settings, software }));
            act.run(|engine| {
                engine.use_gpu();
                Ok(())
            });
        }
        Err(e) => {
            act.run(|_| Err(format!("the GPU sampler kernel did not compile ({e}); samplers run on the CPU")));
        }
    }
}
