//! The web page's entry point (trunk builds this binary for wasm32).

#[cfg(target_arch = "wasm32")]
fn main() {
    // The page's Web Workers load this same module (for its sampler code): there, with no
    // window, nothing mounts; the worker's script calls `nde_worker_serve` instead.
    if web_sys::window().is_some() {
        nde_playground::ui::start();
    }
}

/// A Web Worker's entry: answer sampler parts from the page (`ui::worker_pool`).
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn nde_worker_serve() -> Result<(), wasm_bindgen::JsValue> {
    nde_playground::ui::serve_worker()
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    eprintln!("error: the playground runs in a browser: run `make serve` and open http://127.0.0.1:8080");
    std::process::ExitCode::from(2)
}

/// The page's CPU benchmark entry, for the e2e layer (`window.__ndeWasm.nde_bench_train(...)`
/// on the raw wasm exports): training steps per second of the benchmark computation
/// (`core::train::speed`) in this browser, on one thread; NaN if the arguments are refused.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn nde_bench_train(width: u32, depth: u32, batch: u32, steps: u32) -> f64 {
    use nde_playground::core::train::speed::{measure, TrainBench};
    let Some(performance) = web_sys::window().and_then(|w| w.performance()) else {
        return f64::NAN;
    };
    let bench = TrainBench {
        width: width as usize,
        depth: depth as usize,
        batch: batch as usize,
        steps: u64::from(steps),
        repeats: 1,
        seed: 0,
    };
    if !(1..=4096).contains(&bench.batch) || !(1..=10_000).contains(&bench.steps) {
        return f64::NAN;
    }
    measure(&bench, &|| performance.now() / 1000.0).map_or(f64::NAN, |speed| speed.steps_per_s)
}

/// The page's sampling benchmark entry: network evaluations per second of the CPU executor's
/// batched forward pass (the fixed-step samplers' hot path) on `particles` points, one thread.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn nde_bench_forward(width: u32, depth: u32, particles: u32, repeats: u32) -> f64 {
    use nde_playground::core::nn::batch::{BatchMlp, BatchWorkspace};
    use nde_playground::core::nn::{Mlp, MlpConfig};
    let Some(performance) = web_sys::window().and_then(|w| w.performance()) else {
        return f64::NAN;
    };
    let config = MlpConfig { width: width as usize, depth: depth as usize, ..MlpConfig::default() };
    let Ok(mlp) = Mlp::new(config, 0) else {
        return f64::NAN;
    };
    if !(1..=1_000_000).contains(&particles) || !(1..=1000).contains(&repeats) {
        return f64::NAN;
    }
    let net = BatchMlp::new(&mlp);
    let xs: Vec<[f32; 2]> = (0..particles).map(|i| [(i as f32 * 0.37).sin(), (i as f32 * 0.11).cos()]).collect();
    let mut out = vec![[0.0f32; 2]; xs.len()];
    let mut ws = BatchWorkspace::default();
    net.forward(&xs, 0.5, [0.0; 2], &mut out, &mut ws);
    let start = performance.now();
    for r in 0..repeats {
        net.forward(&xs, 0.1 + 0.8 * r as f32 / repeats as f32, [0.0; 2], &mut out, &mut ws);
    }
    let seconds = ((performance.now() - start) / 1000.0).max(1e-9);
    f64::from(particles) * f64::from(repeats) / seconds
}

/// The page's sampling benchmark entry (`window.wasmBindings.nde_bench_sample(...)`, a
/// promise): evaluations per second of 20 DDIM steps on `particles` particles, on the page's
/// thread (`workers` 0) or split across that many Web Workers; NaN if refused or failed.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub async fn nde_bench_sample(width: u32, depth: u32, particles: u32, workers: u32) -> f64 {
    nde_playground::ui::sampling_rate(width as usize, depth as usize, particles as usize, workers as usize)
        .await
        .unwrap_or_else(|e| {
            web_sys::console::warn_1(&format!("nde_bench_sample: {e}").into());
            f64::NAN
        })
}

/// The page's GPU sampling benchmark entry (`window.wasmBindings.nde_bench_sample_gpu(...)`, a
/// promise): `{ evals_per_s, adapter, path, precision }` for 20 DDIM steps on `particles`
/// particles on this browser's WebGPU adapter, by the path named `path` ("auto", "op-major",
/// "interpreter") in `precision` ("f32", "f16"); `{ error }` if refused or failed.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub async fn nde_bench_sample_gpu(
    width: u32,
    depth: u32,
    particles: u32,
    path: String,
    precision: String,
) -> wasm_bindgen::JsValue {
    let result =
        nde_playground::ui::gpu_sampling_rate(width as usize, depth as usize, particles as usize, &path, &precision)
            .await;
    let object = js_sys::Object::new();
    let set = |key: &str, value: wasm_bindgen::JsValue| {
        let _ = js_sys::Reflect::set(&object, &key.into(), &value);
    };
    match result {
        Ok(rate) => {
            set("evals_per_s", rate.evals_per_s.into());
            set("adapter", rate.adapter.into());
            set("path", rate.path.into());
            set("precision", rate.precision.into());
        }
        Err(e) => set("error", e.into()),
    }
    object.into()
}
