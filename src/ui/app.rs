//! The page shell: the three columns of DESIGN.md, the backend badge and the canvas.

use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use super::backend_badge::BackendBadge;
use super::detect_backend::detect_backend;
use super::first_light;
use crate::exec::backend::BackendStatus;

/// `?debug-panic` makes the page panic on purpose, so the end-to-end test can check that a
/// crash shows a readable message rather than a blank page.
fn debug_panic_requested() -> bool {
    web_sys::window().and_then(|w| w.location().search().ok()).is_some_and(|search| search.contains("debug-panic"))
}

#[component]
pub fn App() -> Html {
    let backend = use_state(|| BackendStatus::Detecting);
    let canvas = use_node_ref();
    let canvas_error = use_state(|| None::<String>);
    // Which renderer drew the canvas last: the CPU's plotters at once, then the GPU's render
    // pipeline once WebGPU is confirmed.
    let renderer = use_state(|| "pending");

    {
        let backend = backend.clone();
        let canvas = canvas.clone();
        let canvas_error = canvas_error.clone();
        let renderer = renderer.clone();
        use_effect_with((), move |_| {
            spawn_local(async move {
                let (status, gpu) = detect_backend().await;
                backend.set(status);
                if let (Some(gpu), Some(element)) = (gpu, canvas.cast::<web_sys::HtmlCanvasElement>()) {
                    match first_light::draw_with_gpu(element, &gpu).await {
                        Ok(()) => renderer.set("webgpu"),
                        Err(e) => {
                            canvas_error.set(Some(format!("the GPU could not draw (the CPU drawing stays): {e}")))
                        }
                    }
                }
            });
        });
    }
    {
        let canvas = canvas.clone();
        let canvas_error = canvas_error.clone();
        let renderer = renderer.clone();
        use_effect_with((), move |_| {
            if debug_panic_requested() {
                panic!("deliberate panic requested by ?debug-panic");
            }
            if let Some(element) = canvas.cast::<web_sys::HtmlCanvasElement>() {
                match first_light::draw(element) {
                    Ok(()) => renderer.set("canvas2d"),
                    Err(e) => canvas_error.set(Some(format!("could not draw on the canvas: {e}"))),
                }
            }
        });
    }

    html! {
        <div class="app">
            <header class="topbar">
                <h1>{ "NDE Playground" }</h1>
                <span class="tagline">{ "neural differential equations and diffusion, on toy 2D data" }</span>
                <BackendBadge status={(*backend).clone()} />
            </header>
            if let Some(message) = (*canvas_error).clone() {
                <div class="error-banner" data-testid="error-banner" role="alert">{ message }</div>
            }
            <main class="columns">
                <section class="column left" aria-label="Data and model" data-testid="column-left">
                    <h2>{ "Data" }</h2>
                    <p class="placeholder">{ "Toy data sets, drawing and CSV upload arrive here." }</p>
                    <h2>{ "Model and training" }</h2>
                    <p class="placeholder">{ "Process, parameterisation, network size and live training arrive here." }</p>
                </section>
                <section class="column center" aria-label="Canvas" data-testid="column-center">
                    <canvas ref={canvas} data-testid="main-canvas" data-renderer={*renderer} width="560" height="560"
                        aria-label="2000 standard normal draws from the counter-based RNG"></canvas>
                    <label class="scrubber">
                        { "Time t" }
                        <input type="range" min="0" max="1" step="0.01" value="1" disabled=true
                            aria-label="diffusion time (not yet active)" />
                    </label>
                    <p class="caption">{ "Shown now: 2000 normal draws of the counter-based RNG (seed 1)." }</p>
                </section>
                <section class="column right" aria-label="Samplers and metrics" data-testid="column-right">
                    <h2>{ "Samplers" }</h2>
                    <p class="placeholder">{ "Side-by-side sampler panels arrive here." }</p>
                    <h2>{ "Metrics" }</h2>
                    <p class="placeholder">{ "Sliced Wasserstein, MMD and likelihood arrive here." }</p>
                </section>
            </main>
        </div>
    }
}
