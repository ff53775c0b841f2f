//! The page: three columns (data and training | the main view | sampler panels and
//! metrics) over one `Engine`. A requestAnimationFrame loop gives the engine a slice of each
//! frame; the component re-renders when the engine says something changed and paints the
//! canvases after each render.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use super::backend_badge::BackendBadge;
use super::browser;
use super::charts;
use super::controls::{input, input_with_id, select, Act};
use super::detect_backend::detect_backend;
use super::paint::{self, PANEL_COLOURS};
use crate::core::data::ToyDataset;
use crate::core::limits;
use crate::exec::backend::BackendStatus;
use crate::exec::gpu::plan_run::{execute_plan_with, GpuRunSettings, PlanKernel};
use crate::exec::gpu::GpuContext;
use crate::playground::engine::Engine;
use crate::playground::engine::GpuJob;
use crate::playground::settings::{samplers_for, FieldView, Settings, MAX_PANELS, PAGE_PROCESSES};

/// Engine work per animation frame, in milliseconds: with rendering and painting the frame
/// stays well under 50 ms.
const FRAME_BUDGET_MS: f64 = 8.0;
/// While only numbers move (training), the page re-renders at most this often.
const NUMBERS_INTERVAL_MS: f64 = 100.0;
/// The loss charts repaint at most this often while training runs.
const CHART_INTERVAL_MS: f64 = 100.0;
const MAIN_SIZE: u32 = 480;
const PANEL_SIZE: u32 = 200;

/// `?debug-panic` makes the page panic on purpose, so the end-to-end test can check that a
/// crash shows a readable message rather than a blank page.
fn debug_panic_requested() -> bool {
    browser::query().contains("debug-panic")
}

fn fmt(value: Option<f64>, digits: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "–".into(),
    }
}

/// The GPU executor, once its kernel is compiled.
struct GpuRunner {
    context: GpuContext,
    kernel: PlanKernel,
    settings: GpuRunSettings,
}

thread_local! {
    /// When the current animation frame's work began (None outside a frame).
    static FRAME_START: std::cell::Cell<Option<f64>> = const { std::cell::Cell::new(None) };
}

/// Reports one frame's own work (engine tick, render, painting) to `window.__ndeFrameWork`
/// when a test has installed such a function; otherwise does nothing.
fn report_frame_work() {
    let Some(start) = FRAME_START.with(|f| f.take()) else { return };
    let work = browser::now_ms() - start;
    let Some(window) = web_sys::window() else { return };
    if let Ok(hook) = js_sys::Reflect::get(&window, &"__ndeFrameWork".into()) {
        if let Some(hook) = hook.dyn_ref::<js_sys::Function>() {
            let _ = hook.call1(&JsValue::NULL, &work.into());
        }
    }
}

type SharedRunner = Rc<RefCell<Option<Rc<GpuRunner>>>>;
type FrameCallback = Closure<dyn FnMut()>;
type ChartPainter = fn(&web_sys::HtmlCanvasElement, &Engine) -> Result<(), String>;

/// Runs one job on the GPU, off the frame (the browser's GPU process does the work), and
/// hands the result back to the engine.
fn spawn_gpu_job(runner: Rc<GpuRunner>, job: GpuJob, act: Act) {
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
        act.engine.borrow_mut().finish_gpu_job(job.id, result, elapsed);
        act.update.force_update();
    });
}

/// Compiles the interpreter and, once it is ready, sends the engine's runs to the GPU.
async fn compile_gpu_sampler(context: GpuContext, runner: SharedRunner, act: Act) {
    match PlanKernel::new(&context.device).await {
        Ok(kernel) => {
            let settings = GpuRunSettings::for_adapter(&context.info);
            *runner.borrow_mut() = Some(Rc::new(GpuRunner { context, kernel, settings }));
            act.run(|engine| {
                engine.gpu = true;
                engine.notices.push("samplers now run on the GPU".into());
                Ok(())
            });
        }
        Err(e) => {
            act.run(|_| Err(format!("the GPU sampler kernel did not compile ({e}); samplers run on the CPU")));
        }
    }
}

/// Starts the frame loop: each frame the engine works for a slice, GPU jobs are handed out,
/// and the page re-renders if anything changed.
fn start_frame_loop(act: Act, runner: SharedRunner) {
    let slot: Rc<RefCell<Option<FrameCallback>>> = Rc::new(RefCell::new(None));
    let rendered = Rc::new(RefCell::new((u64::MAX, u64::MAX, f64::NEG_INFINITY)));
    let again = slot.clone();
    *slot.borrow_mut() = Some(Closure::new(move || {
        FRAME_START.with(|f| f.set(Some(browser::now_ms())));
        act.engine.borrow_mut().tick(FRAME_BUDGET_MS, &browser::now_ms);
        let gpu = runner.borrow().clone();
        if let Some(gpu) = gpu {
            let jobs = act.engine.borrow_mut().take_gpu_jobs();
            for job in jobs {
                spawn_gpu_job(gpu.clone(), job, act.clone());
            }
        }
        // Re-render at once when the canvases change, and a few times a second when only
        // the numbers do: a render of the whole page costs several milliseconds.
        let (revision, view) = {
            let engine = act.engine.borrow();
            (engine.revision, engine.view_revision)
        };
        let now = browser::now_ms();
        let (last_revision, last_view, last_time) = *rendered.borrow();
        if view != last_view || (revision != last_revision && now - last_time > NUMBERS_INTERVAL_MS) {
            *rendered.borrow_mut() = (revision, view, now);
            // The render and its painting effect end the frame's work.
            act.update.force_update();
        } else {
            report_frame_work();
        }
        if let (Some(window), Some(callback)) = (web_sys::window(), again.borrow().as_ref()) {
            let _ = window.request_animation_frame(callback.as_ref().unchecked_ref());
        }
    }));
    if let (Some(window), Some(callback)) = (web_sys::window(), slot.borrow().as_ref()) {
        let _ = window.request_animation_frame(callback.as_ref().unchecked_ref());
    }
    std::mem::forget(slot);
}

/// Space: play/pause; S or period: one step; R: run the samplers; P: play the scrubber;
/// arrows: move the scrubber.
fn install_shortcuts(act: Act) {
    let handler = Closure::<dyn FnMut(web_sys::KeyboardEvent)>::new(move |e: web_sys::KeyboardEvent| {
        let typing = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA"));
        if typing || e.ctrl_key() || e.meta_key() || e.alt_key() {
            return;
        }
        let handled = match e.key().as_str() {
            " " => act.run(|engine| {
                engine.toggle_training();
                Ok(())
            }),
            "s" | "." => act.run(|engine| {
                engine.step_once();
                Ok(())
            }),
            "r" => act.run(|engine| {
                engine.run_samplers();
                Ok(())
            }),
            "p" => act.run(|engine| {
                engine.toggle_scrub_play();
                Ok(())
            }),
            "ArrowLeft" | "ArrowRight" => {
                let delta = if e.key() == "ArrowLeft" { -0.05 } else { 0.05 };
                act.run(|engine| {
                    let next = engine.settings.scrub + delta;
                    engine.set_scrub(next);
                    Ok(())
                })
            }
            _ => return,
        };
        let _ = handled;
        e.prevent_default();
    });
    if let Some(document) = web_sys::window().and_then(|w| w.document()) {
        let _ = document.add_event_listener_with_callback("keydown", handler.as_ref().unchecked_ref());
    }
    handler.forget();
}

#[component]
pub fn App() -> Html {
    let engine = use_mut_ref(|| {
        let (settings, problems) = Settings::from_query(&browser::query());
        Engine::new(settings, problems)
    });
    let update = use_force_update();
    let act = Act { engine: engine.clone(), update: update.clone() };
    let backend = use_state(|| BackendStatus::Detecting);
    let draw_mode = use_state(|| false);
    let main_canvas = use_node_ref();
    let loss_canvas = use_node_ref();
    let loss_time_canvas = use_node_ref();
    let quality_canvas = use_node_ref();
    let panel_canvases = use_memo((), |_| (0..MAX_PANELS).map(|_| NodeRef::default()).collect::<Vec<_>>());
    let last_chart_paint = use_mut_ref(|| f64::NEG_INFINITY);
    // The chart painted last and the data key each chart was painted with.
    let painted_charts = use_mut_ref(|| (2usize, [None::<(u64, u64)>; 3]));
    let last_query = use_mut_ref(String::new);
    let painted_view = use_mut_ref(|| u64::MAX);
    let runner: SharedRunner = use_mut_ref(|| None);
    // A software adapter's device, kept until the visitor opts in to GPU sampling.
    let parked_gpu: Rc<RefCell<Option<GpuContext>>> = use_mut_ref(|| None);

    {
        let backend = backend.clone();
        let act = act.clone();
        let runner = runner.clone();
        let parked_gpu = parked_gpu.clone();
        use_effect_with((), move |_| {
            if debug_panic_requested() {
                panic!("deliberate panic requested by ?debug-panic");
            }
            start_frame_loop(act.clone(), runner.clone());
            install_shortcuts(act.clone());
            spawn_local(async move {
                let (status, gpu) = detect_backend().await;
                let software = matches!(status, BackendStatus::WebGpu { software: true, .. });
                backend.set(status);
                let Some(context) = gpu else { return };
                if software {
                    // Compiling the interpreter keeps a software adapter's GPU thread (which
                    // also composites the page) busy for about 30 s here: the page would
                    // freeze. Sampling stays on the CPU unless the visitor asks.
                    *parked_gpu.borrow_mut() = Some(context);
                    act.update.force_update();
                } else {
                    compile_gpu_sampler(context, runner, act).await;
                }
            });
        });
    }

    // After every render: paint the canvases and keep the address bar's link current.
    {
        let engine = engine.clone();
        let main_canvas = main_canvas.clone();
        let (loss_canvas, loss_time_canvas, quality_canvas) =
            (loss_canvas.clone(), loss_time_canvas.clone(), quality_canvas.clone());
        let panel_canvases = panel_canvases.clone();
        let last_chart_paint = last_chart_paint.clone();
        let painted_charts = painted_charts.clone();
        let act_again = act.clone();
        let last_query = last_query.clone();
        let painted_view = painted_view.clone();
        use_effect(move || {
            let engine = engine.borrow();
            let repaint = *painted_view.borrow() != engine.view_revision;
            *painted_view.borrow_mut() = engine.view_revision;
            if !repaint {
            } else if let Some(canvas) = main_canvas.cast::<web_sys::HtmlCanvasElement>() {
                if let Some(ctx) = browser::context_2d(&canvas) {
                    paint::paint_main(&ctx, f64::from(canvas.width()), f64::from(canvas.height()), &engine);
                }
            }
            for (index, node) in panel_canvases.iter().enumerate().take(if repaint { engine.panels.len() } else { 0 }) {
                if let Some(canvas) = node.cast::<web_sys::HtmlCanvasElement>() {
                    if let Some(ctx) = browser::context_2d(&canvas) {
                        paint::paint_panel(&ctx, f64::from(canvas.width()), f64::from(canvas.height()), &engine, index);
                    }
                }
            }
            let now = browser::now_ms();
            // One chart per frame at most, and only one whose data changed: each costs
            // several milliseconds.
            let keys = [
                (engine.session.steps(), engine.session.history.points.len() as u64),
                (engine.session.steps(), 0),
                (engine.view_revision, engine.sweep.iter().filter(|s| s.run.quality.is_some()).count() as u64),
            ];
            if now - *last_chart_paint.borrow() > CHART_INTERVAL_MS || !engine.playing {
                let mut painted = painted_charts.borrow_mut();
                let stale = (0..3).map(|k| (painted.0 + 1 + k) % 3).find(|k| painted.1[*k] != Some(keys[*k]));
                if let Some(k) = stale {
                    painted.0 = k;
                    painted.1[k] = Some(keys[k]);
                    *last_chart_paint.borrow_mut() = now;
                    let (node, draw): (&NodeRef, ChartPainter) = match k {
                        0 => (&loss_canvas, charts::loss_chart),
                        1 => (&loss_time_canvas, charts::loss_by_time_chart),
                        _ => (&quality_canvas, charts::quality_chart),
                    };
                    if let Some(canvas) = node.cast::<web_sys::HtmlCanvasElement>() {
                        if let Err(e) = draw(&canvas, &engine) {
                            web_sys::console::warn_1(&format!("chart: {e}").into());
                        }
                    }
                    // Another chart may still be stale: come back next frame.
                    if (0..3).any(|j| painted.1[j] != Some(keys[j])) {
                        act_again.update.force_update();
                    }
                }
            }
            let query = engine.link_settings().to_query();
            if *last_query.borrow() != query {
                browser::replace_query(&query);
                *last_query.borrow_mut() = query;
            }
            report_frame_work();
        });
    }

    let e = engine.borrow();
    let s = &e.settings;
    let link = format!("{}?{}", browser::base_url(), e.link_settings().to_query());
    let software = matches!(*backend, BackendStatus::WebGpu { software: true, .. });

    let dataset_options: Vec<(&str, &str)> = ToyDataset::ALL
        .iter()
        .map(|d| (d.name(), d.name()))
        .chain(std::iter::once(("custom", "custom (drawn or uploaded)")))
        .collect();
    let process_options: Vec<(&str, &str)> = PAGE_PROCESSES.iter().map(|p| (*p, *p)).collect();
    let param_options: Vec<(&str, &str)> = if s.process == "rf" {
        vec![("flow", "velocity (flow)")]
    } else {
        vec![("eps", "eps (noise)"), ("x0", "x0 (data)"), ("score", "score"), ("v", "v")]
    };
    let activation_options = [("silu", "SiLU"), ("tanh", "tanh"), ("softplus", "softplus"), ("relu", "ReLU")];
    let field_options: Vec<(&str, &str)> = FieldView::ALL.iter().map(|v| (v.name(), v.name())).collect();
    let sampler_names = samplers_for(&s.process);
    let sampler_options: Vec<(&str, &str)> = sampler_names.iter().map(|n| (*n, *n)).collect();

    let on_canvas_click = {
        let act = act.clone();
        let draw_mode = draw_mode.clone();
        let main_canvas = main_canvas.clone();
        Callback::from(move |ev: MouseEvent| {
            let Some(canvas) = main_canvas.cast::<web_sys::HtmlCanvasElement>() else { return };
            let scale_x = f64::from(canvas.width()) / f64::from(canvas.client_width().max(1));
            let scale_y = f64::from(canvas.height()) / f64::from(canvas.client_height().max(1));
            let p = paint::to_data(
                f64::from(ev.offset_x()) * scale_x,
                f64::from(ev.offset_y()) * scale_y,
                f64::from(canvas.width()),
                f64::from(canvas.height()),
            );
            let drawing = *draw_mode;
            act.run(|engine| {
                if drawing {
                    engine.draw_point(p);
                } else {
                    engine.seed_at(p);
                }
                Ok(())
            });
        })
    };

    let on_csv = act.on_file(|engine, name, text| engine.load_csv(name, text));
    let on_weights = act.on_file(|engine, name, text| engine.import_weights(name, text));
    let on_scrub = {
        let act = act.clone();
        Callback::from(move |ev: InputEvent| {
            let element: web_sys::HtmlInputElement = ev.target_unchecked_into();
            let value = element.value_as_number() / 1000.0;
            act.run(|engine| {
                engine.set_scrub(value);
                Ok(())
            });
        })
    };
    let on_copy = {
        let link = link.clone();
        let act = act.clone();
        Callback::from(move |_| {
            let link = link.clone();
            let act = act.clone();
            spawn_local(async move {
                let result = browser::copy_to_clipboard(&link).await;
                act.run(|engine| {
                    result?;
                    engine.notices.push("link copied".into());
                    Ok(())
                });
            });
        })
    };
    let on_png = {
        let main_canvas = main_canvas.clone();
        let act = act.clone();
        Callback::from(move |_| {
            act.run(|_| {
                let canvas = main_canvas.cast::<web_sys::HtmlCanvasElement>().ok_or("no canvas")?;
                let url = canvas.to_data_url().map_err(|_| "the browser refused to export the canvas".to_string())?;
                browser::download_url("nde-playground.png", &url)
            });
        })
    };
    let on_weights_export =
        act.on_click(|engine| browser::download_text("nde-weights.json", "application/json", &engine.weights_json()));
    let on_data_export = act.on_click(|engine| browser::download_text("nde-data.csv", "text/csv", &engine.data_csv()));
    let on_gpu_opt_in = {
        let parked_gpu = parked_gpu.clone();
        let runner = runner.clone();
        let act = act.clone();
        Callback::from(move |_| {
            if let Some(context) = parked_gpu.borrow_mut().take() {
                spawn_local(compile_gpu_sampler(context, runner.clone(), act.clone()));
                act.run(|engine| {
                    engine.notices.push("compiling the GPU sampler: the page may stall for up to a minute".into());
                    Ok(())
                });
            }
        })
    };
    let gpu_parked = parked_gpu.borrow().is_some();
    let toggle_draw = {
        let draw_mode = draw_mode.clone();
        Callback::from(move |_| draw_mode.set(!*draw_mode))
    };

    let history = &e.session.history;
    let training_label = if e.playing { "Pause" } else { "Train" };
    let max_steps = e.panels.iter().filter_map(|p| p.run.as_ref()).map(|r| r.step_at(1.0).1).max().unwrap_or(0);

    html! {
        <div class="app">
            <header class="topbar">
                <h1>{ "NDE Playground" }</h1>
                <span class="tagline">{ "train a diffusion model on toy 2D data and race samplers on it" }</span>
                <BackendBadge status={(*backend).clone()} />
            </header>
            if software {
                <div class="notice-banner" data-testid="software-warning" role="status">
                    { "This browser's WebGPU adapter is a software one (the CPU pretends to be a GPU): results are right, speeds are not a GPU's. " }
                    if gpu_parked {
                        { "Samplers run on the CPU executor here, because compiling the GPU sampler stalls a software adapter for about 30 s. " }
                        <button class="small" data-testid="gpu-opt-in" onclick={on_gpu_opt_in}>{ "Sample on the GPU anyway" }</button>
                    }
                </div>
            }
            if !e.errors.is_empty() {
                <div class="error-banner" data-testid="error-banner" role="alert">
                    { for e.errors.iter().rev().take(3).map(|m| html! { <div>{ m.clone() }</div> }) }
                    <button class="dismiss" onclick={act.on_click(|engine| { engine.dismiss_messages(); Ok(()) })}>{ "dismiss" }</button>
                </div>
            }
            if !e.notices.is_empty() {
                <div class="notice-banner" data-testid="notice-banner" role="status">
                    { for e.notices.iter().rev().take(2).map(|m| html! { <div>{ m.clone() }</div> }) }
                    <button class="dismiss" onclick={act.on_click(|engine| { engine.notices.clear(); Ok(()) })}>{ "dismiss" }</button>
                </div>
            }
            // The progress row keeps its place when idle, so that starting a run does not
            // move the whole page (a relayout costs a frame).
            <div class="progress" data-testid="progress">
                if let Some(steps) = e.replay_pending {
                    <span>{ format!("the link records {steps} training steps") }</span>
                    <button class="small" data-testid="replay-link" onclick={act.on_click(|en| { en.start_replay(); Ok(()) })}>{ "Replay" }</button>
                } else if let Some((label, fraction)) = e.progress() {
                    <span>{ label }</span>
                    <progress max="1" value={format!("{fraction:.3}")}></progress>
                } else {
                    <span class="idle">{ "idle" }</span>
                }
            </div>
            <main class="columns">
                <section class="column left" aria-label="Data and model" data-testid="column-left">
                    <h2>{ "Data" }</h2>
                    { select(&act, "Data set", &dataset_options, &s.dataset, Some("dataset-select"), |en, v| en.set_dataset(v)) }
                    <div class="row">
                        { input(&act, "Points", "number", s.points.to_string(), Some("50"), Some("points-input"), "how many points to draw from the set", |en, v| en.set_points(v)) }
                        { input(&act, "Noise", "number", s.noise.to_string(), Some("0.01"), Some("noise-input"), "std of the jitter added to each point", |en, v| en.set_noise(v)) }
                        { input(&act, "Seed", "number", s.data_seed.to_string(), Some("1"), Some("data-seed-input"), "regenerate the data with another seed", |en, v| en.set_data_seed(v)) }
                    </div>
                    <label class="field upload">
                        <span>{ "Upload CSV (x,y per line)" }</span>
                        <input type="file" accept=".csv,text/csv,text/plain" data-testid="csv-upload" aria-label="upload a CSV of points" onchange={on_csv} />
                    </label>
                    <h2>{ "Model" }</h2>
                    <div class="row">
                        { select(&act, "Process", &process_options, &s.process, Some("process-select"), |en, v| en.set_model("process", v)) }
                        { select(&act, "Predicts", &param_options, &s.param, Some("param-select"), |en, v| en.set_model("param", v)) }
                    </div>
                    <div class="row">
                        { input(&act, "Width", "number", s.width.to_string(), Some("1"), Some("width-input"), &range_hint("hidden units per layer", limits::WIDTH), |en, v| en.set_model("width", v)) }
                        { input(&act, "Depth", "number", s.depth.to_string(), Some("1"), Some("depth-input"), &range_hint("hidden layers", limits::DEPTH), |en, v| en.set_model("depth", v)) }
                        { select(&act, "Activation", &activation_options, &s.activation, Some("activation-select"), |en, v| en.set_model("activation", v)) }
                    </div>
                    <h2>{ "Training" }</h2>
                    <div class="row">
                        { input(&act, "Learning rate", "text", s.learning_rate.to_string(), None, Some("lr-input"), "Adam's step size; takes effect at once", |en, v| en.set_learning_rate(v)) }
                        { input(&act, "Batch", "number", s.batch.to_string(), Some("1"), Some("batch-input"), &range_hint("samples per step; takes effect at once", limits::BATCH), |en, v| en.set_batch(v)) }
                    </div>
                    <div class="buttons">
                        <button data-testid="train-toggle" title="Space" onclick={act.on_click(|en| { en.toggle_training(); Ok(()) })}>{ training_label }</button>
                        <button data-testid="train-step" title="S" onclick={act.on_click(|en| { en.step_once(); Ok(()) })}>{ "Step" }</button>
                        <button data-testid="train-reset" title="fresh weights from the training seed" onclick={act.on_click(|en| { en.reset_training(); Ok(()) })}>{ "Reset" }</button>
                    </div>
                    <dl class="stats">
                        <dt>{ "steps" }</dt><dd data-testid="train-steps-value">{ e.session.steps() }</dd>
                        <dt>{ "loss (avg)" }</dt><dd data-testid="loss-value">{ fmt(history.ema, 4) }</dd>
                        <dt>{ "steps/s" }</dt><dd data-testid="steps-per-second">{ if e.playing { fmt(e.session.steps_per_second, 0) } else { "–".into() } }</dd>
                    </dl>
                    <canvas ref={loss_canvas} class="chart" width="300" height="150" data-testid="loss-chart" aria-label="training loss (grey) and its running average (blue) against the step"></canvas>
                    <canvas ref={loss_time_canvas} class="chart" width="300" height="110" data-testid="loss-by-time-chart" aria-label="running loss by diffusion time"></canvas>
                    <p class="caption">{ "Loss by diffusion time t (bins of t / t_max)." }</p>
                </section>
                <section class="column center" aria-label="The main view" data-testid="column-center">
                    <canvas ref={main_canvas} data-testid="main-canvas" data-renderer="canvas2d" class={classes!("main", (*draw_mode).then_some("drawing"))}
                        width={MAIN_SIZE.to_string()} height={MAIN_SIZE.to_string()} onclick={on_canvas_click}
                        aria-label="the data, the field at time t, and clicked particles' paths"></canvas>
                    <p class="caption">
                        { if *draw_mode { "Draw mode: click to add data points." } else { "Click to drop a particle at time T and follow it under each panel's sampler." } }
                    </p>
                    <div class="row">
                        { select(&act, "Field view", &field_options, s.field_view.name(), Some("field-select"), |en, v| en.set_field_view(v)) }
                        { input(&act, "at time t", "number", s.field_t.to_string(), Some("0.05"), Some("field-t-input"), "the diffusion time of the field view", |en, v| en.set_field_t(v)) }
                        <button class={classes!((*draw_mode).then_some("active"))} data-testid="draw-toggle" onclick={toggle_draw}>{ if *draw_mode { "Drawing" } else { "Draw" } }</button>
                    </div>
                    <p class="caption" data-testid="field-caption">{ field_caption(&e) }</p>
                    <label class="scrubber">
                        <button class="small" data-testid="scrub-play" title="P: play every panel through its steps"
                            onclick={act.on_click(|en| { en.toggle_scrub_play(); Ok(()) })}>{ if e.scrub_playing { "❚❚" } else { "▶" } }</button>
                        <span>{ "Step" }</span>
                        <input type="range" min="0" max="1000" step="1" value={((s.scrub * 1000.0).round() as i64).to_string()}
                            data-testid="step-scrubber" aria-label="move every panel through its steps (arrow keys)" oninput={on_scrub} />
                        <span data-testid="scrub-value">{ format!("{:.0}%", s.scrub * 100.0) }</span>
                    </label>
                    <div class="buttons">
                        <button data-testid="export-png" onclick={on_png}>{ "Canvas PNG" }</button>
                        <button data-testid="export-weights" onclick={on_weights_export}>{ "Weights JSON" }</button>
                        <button data-testid="export-data" onclick={on_data_export} title="the training data as x,y rows (what a link cannot carry)">{ "Data CSV" }</button>
                        <label class="file-button">{ "Import weights" }
                            <input type="file" accept=".json,application/json" data-testid="weights-upload" aria-label="import weights JSON" onchange={on_weights} />
                        </label>
                    </div>
                    <label class="field share">
                        <span>{ "Share link" }</span>
                        <input type="text" readonly=true value={link} data-testid="share-link" aria-label="a link that reproduces this view" />
                        <button onclick={on_copy}>{ "Copy" }</button>
                    </label>
                    <p class="caption">{ "Keys: Space train/pause · S step · R run samplers · P play steps · ←/→ scrub" }</p>
                </section>
                <section class="column right" aria-label="Samplers and metrics" data-testid="column-right">
                    <h2>{ "Samplers" }</h2>
                    <div class="buttons">
                        <button data-testid="run-samplers" title="R" onclick={act.on_click(|en| { en.run_samplers(); Ok(()) })}>{ "Run samplers" }</button>
                        <button data-testid="add-sampler" disabled={e.panels.len() >= MAX_PANELS} onclick={act.on_click(|en| en.add_panel())}>{ "Add sampler" }</button>
                        { input(&act, "Particles", "number", s.particles.to_string(), Some("100"), Some("particles-input"), &range_hint("particles per panel", limits::PAGE_PARTICLES), |en, v| en.set_particles(v)) }
                    </div>
                    <div class="panels">
                        { for e.panels.iter().enumerate().map(|(index, panel)| {
                            let run = panel.run.as_ref();
                            let (step, steps) = run.map_or((0, 0), |r| r.step_at(s.scrub));
                            let status = match run {
                                None => "not run".to_string(),
                                Some(r) if r.error.is_some() => "failed".to_string(),
                                Some(r) if !r.is_done() => format!("running {:.0}%", r.progress() * 100.0),
                                Some(r) => format!("step {step}/{steps} · {}", if r.external.is_some() { "GPU" } else { "CPU" }),
                            };
                            html! {
                                <div class="panel" data-testid="sampler-panel" style={format!("border-color: {}", PANEL_COLOURS[index % 4])}
                                    data-executor={run.map_or("none", |r| if r.external.is_some() { "webgpu" } else { "cpu" })}>
                                    <div class="row">
                                        { select(&act, "Sampler", &sampler_options, &panel.settings.sampler, Some("sampler-select"), move |en, v| en.set_panel_sampler(index, v)) }
                                        { input_with_id(&act, &format!("nfe-{index}"), "NFE", "number", panel.settings.nfe.to_string(), Some("1"), Some("nfe-input"), &range_hint("model evaluations per particle", limits::PAGE_NFE), move |en, v| en.set_panel_nfe(index, v)) }
                                        <button class="remove" aria-label="remove this panel" onclick={act.on_click(move |en| { en.remove_panel(index); Ok(()) })}>{ "×" }</button>
                                    </div>
                                    <canvas ref={panel_canvases[index].clone()} width={PANEL_SIZE.to_string()} height={PANEL_SIZE.to_string()}
                                        aria-label="this sampler's particles at the scrubber's step"></canvas>
                                    <div class="panel-status" data-testid="panel-status">{ status }</div>
                                    <button class="small" data-testid="export-csv" disabled={run.is_none_or(|r| !r.is_done())}
                                        onclick={act.on_click(move |en| { let csv = en.samples_csv(index)?; browser::download_text("samples.csv", "text/csv", &csv) })}>{ "Samples CSV" }</button>
                                </div>
                            }
                        }) }
                    </div>
                    <h2>{ "Metrics" }</h2>
                    <table class="metrics" data-testid="metrics-table">
                        <thead><tr><th>{ "sampler" }</th><th>{ "NFE" }</th><th>{ "ms" }</th><th>{ "SWD" }</th><th>{ "MMD" }</th></tr></thead>
                        <tbody>
                            { for e.panels.iter().enumerate().map(|(index, panel)| {
                                let run = panel.run.as_ref();
                                let q = run.and_then(|r| r.quality);
                                html! {
                                    <tr style={format!("color: {}", PANEL_COLOURS[index % 4])}>
                                        <td>{ panel.settings.sampler.clone() }</td>
                                        <td>{ fmt(run.filter(|r| r.is_done()).map(|r| r.nfe()), 1) }</td>
                                        <td>{ fmt(run.filter(|r| r.is_done()).map(|r| r.elapsed_ms), 0) }</td>
                                        <td data-testid="swd-value">{ fmt(q.map(|q| q.swd), 3) }</td>
                                        <td>{ fmt(q.map(|q| q.mmd), 3) }</td>
                                    </tr>
                                }
                            }) }
                        </tbody>
                    </table>
                    <p class="caption">{ format!("Against the data: SWD on all particles, MMD on 250 of each. Longest run: {max_steps} steps.") }</p>
                    <canvas ref={quality_canvas} class="chart" width="340" height="200" data-testid="quality-chart" aria-label="sliced Wasserstein distance against NFE for each panel's sampler"></canvas>
                    <p class="caption">{ "Quality against NFE (300 particles per point, same noise)." }</p>
                </section>
            </main>
        </div>
    }
}

fn field_caption(engine: &Engine) -> String {
    let Some(field) = &engine.field else { return "Field view off.".into() };
    let what = match engine.settings.field_view {
        FieldView::Off => return "Field view off.".into(),
        FieldView::Arrows if field.exact.is_some() => "Learned score (blue) and exact score (grey), as σ_t·s",
        FieldView::Arrows => "Learned score as σ_t·s (no exact score: the data is not a mixture)",
        FieldView::Error if field.error.is_some() => "Error |σ_t (s_learned − s_exact)|",
        FieldView::Error => "No exact score for this data: the error view needs a mixture (gmm8, gmm25)",
        FieldView::Density if field.density_is_exact => "Exact density of x_t",
        FieldView::Density => "Density of x_t (histogram of noised data)",
    };
    match field.weighted_error {
        Some(err) => format!("{what} at t = {:.2}. Mean error where the data is: {err:.3}.", field.t),
        None => format!("{what} at t = {:.2}.", field.t),
    }
}

/// An input's tooltip with its range, from the bounds the engine checks.
fn range_hint(what: &str, bound: limits::Bound<usize>) -> String {
    format!("{what} ({} to {})", bound.min, bound.max)
}
