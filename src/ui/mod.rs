//! The page (wasm only): a shell around the labs, each lab thin Yew components over its
//! DOM-free state in `playground`. What can be computed without the DOM lives in `core`,
//! `exec` or `playground` and is tested natively.

mod app;
mod backend_badge;
mod browser;
mod controls;
mod deq;
mod detect_backend;
mod diffusion;
mod frame_loop;
mod gpu_runner;
mod inverse;
mod ncde;
mod node;
mod nsde;
mod odice;
mod panic_page;
mod resident_view;
mod sampling_bench;
mod symreg;
mod worker_entry;
mod worker_pool;

pub use detect_backend::detect_backend;

/// Serves sampler parts in a Web Worker (the worker's script calls it; see `worker_pool`).
pub fn serve_worker() -> Result<(), wasm_bindgen::JsValue> {
    worker_entry::serve()
}

/// The page's sampling speed on its thread (`workers` 0) or across Web Workers, in
/// evaluations per second (for the e2e layer's benchmark).
pub async fn sampling_rate(width: usize, depth: usize, particles: usize, workers: usize) -> Result<f64, String> {
    sampling_bench::sampling_rate(width, depth, particles, workers).await
}

pub use sampling_bench::{gpu_sampling_rate, GpuSamplingRate};

/// Mounts the page into `#app` (index.html), after installing the panic page.
pub fn start() {
    panic_page::install();
    let document = web_sys::window().and_then(|w| w.document()).expect("a page has a document");
    let root = document.get_element_by_id("app").expect("index.html has <div id=\"app\">");
    yew::Renderer::<app::App>::with_root(root).render();
}
