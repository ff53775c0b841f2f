//! The page's sampling benchmarks (`nde_bench_sample` and `nde_bench_sample_gpu`, for the e2e
//! layer): the `nde bench` computation (DDIM, 20 steps, VP, an eps-MLP) run by the page's
//! thread, split across Web Workers, or on the browser's WebGPU adapter by either GPU path, in
//! evaluations per second, so they can be set side by side in one browser.

use futures_channel::oneshot;

use super::browser::now_ms;
use super::detect_backend::detect_backend;
use super::worker_pool::WorkerPool;
use crate::core::nn::{Mlp, MlpConfig};
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::sample::model::ModelData;
use crate::core::sample::model::{MlpModel, Model};
use crate::core::sample::plan::Plan;
use crate::core::sample::{build, SamplerOptions};
use crate::exec::backend::BackendStatus;
use crate::exec::cpu::{run_plan, RunOptions};
use crate::exec::gpu::op_major::{GpuPath, Precision};
use crate::exec::gpu::plan_run::{chosen_path, execute_plan_with, GpuRunSettings, PlanKernel};
use crate::exec::gpu::GpuContext;

/// Waits `ms` milliseconds without blocking the page.
async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Evaluations per second of 20 DDIM steps on `particles` particles of a `width` × `depth`
/// network: on the page's thread when `workers` is 0, else across that many new workers
/// (their start-up left out: the clock starts once all are ready, after a warm-up run).
pub async fn sampling_rate(width: usize, depth: usize, particles: usize, workers: usize) -> Result<f64, String> {
    if !(1..=1_000_000).contains(&particles) || workers > 16 {
        return Err("particles must be 1 to 10^6 and workers 0 to 16".into());
    }
    let mlp = Mlp::new(MlpConfig { width, depth, ..MlpConfig::default() }, 0)?;
    let plan =
        build("ddim", Process::vp(), Parameterisation::Eps, &SamplerOptions { nfe: 20, ..SamplerOptions::default() })?;
    let mut model = MlpModel::new(mlp, Parameterisation::Eps);
    let options = RunOptions { particles, seed: 0, traced: vec![], inputs: vec![] };
    if workers == 0 {
        let start = now_ms();
        let result = run_plan(&plan, &mut model, &options).map_err(|e| e.to_string())?;
        return Ok(particles as f64 * result.nfe / ((now_ms() - start) / 1000.0).max(1e-9));
    }
    let pool = WorkerPool::start(workers)?;
    let begun = now_ms();
    while pool.ready() < workers {
        if pool.alive() < workers || now_ms() - begun > 60_000.0 {
            return Err(format!("{} of {workers} workers started", pool.ready()));
        }
        sleep(20).await;
    }
    let data = model.data();
    let mut best = f64::INFINITY;
    let mut nfe = 0.0;
    // The first run warms the workers' caches; the best of the next two is the figure.
    for round in 0..3u64 {
        let (sender, receiver) = oneshot::channel();
        let start = now_ms();
        pool.submit(round, &plan, &data, &options, Box::new(move |result, _| drop(sender.send(result))));
        let result = receiver.await.map_err(|_| "the workers dropped the run".to_string())??;
        if round > 0 {
            best = best.min(now_ms() - start);
        }
        nfe = result.nfe;
    }
    pool.stop();
    Ok(particles as f64 * nfe / (best / 1000.0).max(1e-9))
}

/// One GPU run's milliseconds (with its readback) and evaluations per particle.
async fn timed_gpu_run(
    ctx: &GpuContext,
    kernel: &PlanKernel,
    settings: GpuRunSettings,
    plan: &Plan,
    model: &ModelData,
    options: RunOptions,
) -> Result<(f64, f64), String> {
    let start = now_ms();
    let result = execute_plan_with(&ctx.device, &ctx.queue, kernel, settings, plan, model, &options)
        .await
        .map_err(|e| e.to_string())?;
    Ok((now_ms() - start, result.nfe))
}

/// What one GPU benchmark measured: the rate, and which adapter and path gave it.
pub struct GpuSamplingRate {
    pub evals_per_s: f64,
    pub adapter: String,
    pub path: &'static str,
    pub precision: &'static str,
}

/// Evaluations per second of 20 DDIM steps on `particles` particles of a `width` × `depth`
/// network on this browser's WebGPU adapter, by the GPU path named `path` ("auto", "op-major"
/// or "interpreter") in `precision` ("f32" or "f16"), as `nde bench --backend gpu` measures it
/// natively: a small warm-up run (the kernels compile), then the best of two, each with its
/// readback of every particle.
pub async fn gpu_sampling_rate(
    width: usize,
    depth: usize,
    particles: usize,
    path: &str,
    precision: &str,
) -> Result<GpuSamplingRate, String> {
    if !(1..=1_000_000).contains(&particles) {
        return Err("particles must be 1 to 10^6".into());
    }
    let path = GpuPath::from_name(path)?;
    let precision = Precision::from_name(precision)?;
    let mlp = Mlp::new(MlpConfig { width, depth, ..MlpConfig::default() }, 0)?;
    let plan =
        build("ddim", Process::vp(), Parameterisation::Eps, &SamplerOptions { nfe: 20, ..SamplerOptions::default() })?;
    let model = MlpModel::new(mlp, Parameterisation::Eps).data();
    // The adapter as the page's badge names it (wgpu's adapter name is empty in a browser).
    let (status, ctx) = detect_backend().await;
    let (adapter, ctx) = match (status, ctx) {
        (BackendStatus::WebGpu { adapter, software }, Some(ctx)) => {
            (format!("{adapter}{}", if software { " (software)" } else { "" }), ctx)
        }
        (status, _) => return Err(status.badge_text()),
    };
    let kernel = PlanKernel::new(&ctx.device).await.map_err(|e| e.to_string())?;
    let settings = GpuRunSettings { path, precision, ..GpuRunSettings::for_adapter(&ctx.info) };
    let ran = chosen_path(settings, &plan, &model);
    if path.is_some_and(|p| p != ran) || (precision == Precision::F16 && ran != GpuPath::OpMajor) {
        return Err(format!("DDIM on this network runs on the {} path only", ran.name()));
    }
    let run = |particles| {
        let options = RunOptions { particles, seed: 0, traced: vec![], inputs: vec![] };
        timed_gpu_run(&ctx, &kernel, settings, &plan, &model, options)
    };
    run(particles.min(256)).await?;
    let mut best = f64::INFINITY;
    let mut nfe = 0.0;
    for _ in 0..2 {
        let (ms, evaluations) = run(particles).await?;
        best = best.min(ms);
        nfe = evaluations;
    }
    Ok(GpuSamplingRate {
        evals_per_s: particles as f64 * nfe / (best / 1000.0).max(1e-9),
        adapter,
        path: ran.name(),
        precision: precision.name(),
    })
}
