//! The page's sampling benchmark (`nde_bench_sample`, for the e2e layer): the `nde bench`
//! computation (DDIM, 20 steps, VP, an eps-MLP) run by the page's thread or split across Web
//! Workers, in evaluations per second, so the two can be set side by side in one browser.

use futures_channel::oneshot;

use super::browser::now_ms;
use super::worker_pool::WorkerPool;
use crate::core::nn::{Mlp, MlpConfig};
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::sample::model::{MlpModel, Model};
use crate::core::sample::{build, SamplerOptions};
use crate::exec::cpu::{run_plan, RunOptions};

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
