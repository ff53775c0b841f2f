//! The GPU job runner: compiles the plan interpreter once a device is found, then runs the
//! jobs the lab hands out off the frame (the browser's GPU process does the work) and gives
//! each result back to the lab.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use wasm_bindgen_futures::spawn_local;

use super::browser;
use super::controls::{Act, Reports};
use crate::core::sample::model::ModelData;
use crate::core::sample::plan::Plan;
use crate::exec::agreement::{PARTICLE_TOLERANCE, SWIFTSHADER_SCALE};
use crate::exec::cpu::{RunOptions, RunResult};
use crate::exec::gpu::context::is_software_adapter;
use crate::exec::gpu::op_major::{GpuPath, Precision};
use crate::exec::gpu::path_check::{check_op_major, F16_TOLERANCE};
use crate::exec::gpu::plan_run::{chosen_path, execute_plan_with, GpuRunSettings, PlanKernel};
use crate::exec::gpu::resident::execute_resident;
use crate::exec::gpu::trainer::{train_in_slot, GpuTrainer, TrainKernels};
use crate::exec::gpu::GpuContext;
use crate::playground::diffusion::comparison::GPU_READ_BACK;
use crate::playground::diffusion::engine::{GpuJob, TrainJob};
use crate::playground::node::cloud::FlowJob;
use crate::playground::node::NodeLab;
use crate::playground::nsde::lab::PathJob;
use crate::playground::nsde::NsdeLab;
use crate::ui::resident_view::ResidentView;

/// The GPU executor, once its kernel is compiled.
pub struct GpuRunner {
    context: GpuContext,
    kernel: PlanKernel,
    settings: GpuRunSettings,
    /// Whether the adapter is a software one (the CPU emulating a GPU).
    pub software: bool,
    /// The panels' runs whose particles stay on the GPU, by job id, and the canvases that
    /// draw them (`resident_view`).
    pub resident: RefCell<ResidentView>,
    /// Why the device was lost, once it is (set by the device's lost callback, which wgpu
    /// wants `Send`); the frame loop then lets go of the runner.
    lost: Arc<Mutex<Option<String>>>,
    /// The training pipelines (None where they did not compile: training stays on the CPU),
    /// and the network in training with its buffers, kept between runs of steps.
    train_kernels: Option<TrainKernels>,
    trainer: RefCell<Option<GpuTrainer>>,
}

/// The runner, when there is one (shared by the frame loop and the page's buttons).
pub type SharedRunner = Rc<RefCell<Option<Rc<GpuRunner>>>>;

/// The shared runner as a component's property: equal when it is the same cell.
#[derive(Clone)]
pub struct RunnerRef(pub SharedRunner);

impl PartialEq for RunnerRef {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl GpuRunner {
    /// Why the device was lost, if it was: nothing may be run or drawn on it any more.
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }

    /// Draws frame `frame` of job `id`'s particles, kept on the GPU, on `canvas` (a WebGPU
    /// canvas over the panel's 2D one) in `colour`.
    pub fn draw_resident(
        &self,
        id: u64,
        canvas: &web_sys::HtmlCanvasElement,
        frame: usize,
        colour: [f32; 4],
    ) -> Result<(), String> {
        if let Some(message) = self.lost() {
            return Err(format!("the GPU device was lost: {message}"));
        }
        self.resident.borrow_mut().draw(&self.context, id, canvas, frame, colour)
    }
}

/// Runs one job on the GPU and hands the result back to the engine. A panel's run keeps its
/// particles on the GPU (the runner holds them for drawing) and hands back the first few.
pub fn spawn_gpu_job(runner: Rc<GpuRunner>, job: GpuJob, act: Act) {
    // The job's precision (f16 only where the page offered it and the plan is op-major).
    let settings = GpuRunSettings { precision: job.precision, ..runner.settings };
    let path = chosen_path(settings, &job.plan, &job.model);
    let named = if job.precision == Precision::F16 { "op-major, f16" } else { path.name() };
    act.engine.borrow_mut().note_gpu_path(job.id, named);
    if let Some(message) = runner.lost() {
        act.engine.borrow_mut().finish_job(job.id, Err(format!("the GPU device was lost: {message}")), 0.0);
        return;
    }
    spawn_local(async move {
        let start = browser::now_ms();
        let (device, queue) = (&runner.context.device, &runner.context.queue);
        let result = if job.resident {
            execute_resident(
                device,
                queue,
                &runner.kernel,
                settings,
                &job.plan,
                &job.model,
                &job.options,
                GPU_READ_BACK,
            )
            .await
            .map(|run| {
                let sample = run.sample.clone();
                runner.resident.borrow_mut().keep(job.id, run);
                sample
            })
        } else {
            execute_plan_with(device, queue, &runner.kernel, settings, &job.plan, &job.model, &job.options).await
        }
        .map_err(|e| e.to_string());
        let elapsed = browser::now_ms() - start;
        act.engine.borrow_mut().finish_job(job.id, result, elapsed);
        act.update.force_update();
    });
}

/// Runs a run of training steps on the GPU off the frame and gives it back to the engine.
/// On a hardware adapter, while training plays, the next run starts as soon as one ends; on a
/// software one it waits for the next frame, because the GPU process that runs it also
/// composites the page, which needs the GPU free between runs to draw.
pub fn spawn_train_job(runner: Rc<GpuRunner>, job: TrainJob, act: Act) {
    spawn_local(async move {
        let mut job = Some(job);
        while let Some(TrainJob { id, trainer, steps }) = job.take() {
            let result = match (&runner.train_kernels, runner.lost()) {
                (_, Some(message)) => Err(format!("the GPU device was lost: {message}")),
                (None, None) => Err("the GPU's training kernels did not compile".to_string()),
                (Some(kernels), None) => {
                    // Taken out of its cell across the awaits; only one run is out at a time.
                    let mut slot = runner.trainer.borrow_mut().take();
                    let (device, queue) = (&runner.context.device, &runner.context.queue);
                    let result = train_in_slot(&mut slot, device, queue, kernels, &trainer, steps).await;
                    *runner.trainer.borrow_mut() = slot;
                    result.map_err(|e| e.to_string())
                }
            };
            let mut engine = act.engine.borrow_mut();
            engine.finish_train_job(id, result, browser::now_ms());
            if !runner.software {
                job = engine.take_train_job(browser::now_ms());
            }
            drop(engine);
            act.update.force_update();
        }
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
    if let Some(message) = runner.lost() {
        finish(&mut act.engine.borrow_mut(), Err(format!("the GPU device was lost: {message}")));
        return;
    }
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

/// What the page found of the GPU's paths: the settings its runs take, what the banner should
/// say where a check ran, and whether f16 may be offered (or why not).
struct PathChoice {
    settings: GpuRunSettings,
    note: Option<String>,
    f16: Result<(), String>,
}

/// The path the panels' runs take on this device. A hardware adapter takes the op-major path
/// once its check passes (`exec::gpu::path_check`); a software one keeps the interpreter
/// (on CPU-emulated GPUs the interpreter measured faster: 2.2× on SwiftShader at 64×2, 1.4× at
/// 128×3, docs/BENCHMARKS.md) unless the link asks for
/// op-major (`?gpu-path=op-major`, also checked). `?gpu-path=interpreter`
/// keeps the interpreter anywhere. Where the op-major path passed and the adapter has
/// `shader-f16`, the f16 kernel is checked too, and f16 offered if it passes.
async fn choose_path(context: &GpuContext, kernel: &PlanKernel, software: bool, asked: Option<GpuPath>) -> PathChoice {
    let settings = GpuRunSettings::for_adapter(&context.info);
    let interpreter = GpuRunSettings { path: Some(GpuPath::Interpreter), ..settings };
    let wanted = match asked {
        Some(path) => path,
        None if software => GpuPath::Interpreter,
        None => GpuPath::OpMajor,
    };
    if wanted == GpuPath::Interpreter {
        let why = "the samplers take the interpreter here, and f16 runs on the op-major path".to_string();
        return PathChoice { settings: interpreter, note: None, f16: Err(why) };
    }
    let scale = if software { SWIFTSHADER_SCALE } else { 1.0 };
    let (device, queue) = (&context.device, &context.queue);
    let check = match check_op_major(device, queue, kernel, settings, PARTICLE_TOLERANCE * scale).await {
        Ok(check) => check,
        Err(e) => {
            let note = format!(
                "the GPU's op-major path did not agree with the CPU on this device ({e}); samplers use the interpreter"
            );
            let why = "the op-major path, which f16 runs on, did not pass the page's check here".to_string();
            return PathChoice { settings: interpreter, note: Some(note), f16: Err(why) };
        }
    };
    let (f16, f16_note) = if kernel.has_f16() {
        let f16_settings = GpuRunSettings { precision: Precision::F16, ..settings };
        match check_op_major(device, queue, kernel, f16_settings, F16_TOLERANCE * scale).await {
            Ok(f16) => (Ok(()), format!("; f16 within {:.1e}", f16.max_error)),
            Err(e) => (Err(format!("the f16 check failed here ({e})")), format!("; f16 not offered: {e}")),
        }
    } else {
        (
            Err("this adapter offers no shader-f16".to_string()),
            "; f16 not offered: the adapter has no shader-f16".to_string(),
        )
    };
    let note = format!(
        "samplers take the GPU's op-major path (checked on this device: within {:.1e} of the CPU{f16_note})",
        check.max_error
    );
    PathChoice { settings: GpuRunSettings { path: Some(GpuPath::OpMajor), ..settings }, note: Some(note), f16 }
}

/// Compiles the interpreter and the trainer and, once they are ready, sends the engine's runs
/// and its training to the GPU. The
/// panels' particles stay on the GPU and are drawn there on a hardware adapter, or where the
/// link asks (`canvas_asked`, `?gpu-canvas`): a browser that composites in software may lose
/// the device at a WebGPU canvas's first frame (headless Chromium here does), and a software
/// adapter usually comes with software compositing.
pub async fn compile_gpu_sampler(
    context: GpuContext,
    runner: SharedRunner,
    act: Act,
    canvas_asked: bool,
    path_asked: Option<GpuPath>,
) {
    match PlanKernel::new(&context.device).await {
        Ok(kernel) => {
            let info = &context.info;
            let software = is_software_adapter(info.device_type, &[&info.name, &info.driver]);
            let PathChoice { settings, note: path_note, f16 } =
                choose_path(&context, &kernel, software, path_asked).await;
            let draws_in_place = !software || canvas_asked;
            let resident = RefCell::new(ResidentView::default());
            let train_kernels = match TrainKernels::new(&context.device).await {
                Ok(kernels) => Some(kernels),
                Err(e) => {
                    act.run(|_| {
                        Err(format!("the GPU training kernels did not compile ({e}); training runs on the CPU"))
                    });
                    None
                }
            };
            let trains = train_kernels.is_some();
            let trainer = RefCell::new(None);
            let lost = Arc::new(Mutex::new(None));
            let lost_by_callback = lost.clone();
            context.device.set_device_lost_callback(move |reason, message| {
                if let Ok(mut lost) = lost_by_callback.lock() {
                    *lost = Some(format!("{reason:?}: {message}"));
                }
            });
            *runner.borrow_mut() = Some(Rc::new(GpuRunner {
                context,
                kernel,
                settings,
                software,
                resident,
                lost,
                train_kernels,
                trainer,
            }));
            act.run(|engine| {
                engine.use_gpu(draws_in_place);
                // After the GPU's own notice: the banner shows the latest two.
                if let Some(note) = path_note {
                    engine.notify(note);
                }
                match &f16 {
                    Ok(()) => engine.offer_f16(),
                    Err(why) => engine.refuse_f16(why),
                }
                if trains {
                    engine.use_gpu_training();
                }
                Ok(())
            });
        }
        Err(e) => {
            act.run(|engine| {
                engine.refuse_f16("the GPU sampler kernel did not compile");
                Err(format!("the GPU sampler kernel did not compile ({e}); samplers run on the CPU"))
            });
        }
    }
}
