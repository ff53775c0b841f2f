//! The neural ODE lab's page: settings and exports | the phase portrait with its scrubber |
//! the loss, the hybrid view and the gradient panel, over one `NodeLab`.

pub(crate) mod paint;

use yew::prelude::*;

use crate::core::dynamics::fit::{GradientMethod, SOLVERS};
use crate::core::dynamics::systems::SystemId;
use crate::playground::node::lab::NodeLab;
use crate::ui::browser;
use crate::ui::controls::{input, select, Act, Choice};
use crate::ui::frame_loop::report_frame_work;

/// The portrait's canvas size in pixels.
const PORTRAIT_SIZE: u32 = 560;
/// The loss chart repaints at most this often while training runs.
const CHART_INTERVAL_MS: f64 = 150.0;

#[derive(Properties, PartialEq)]
pub struct NodeLabProps {
    pub act: Act<NodeLab>,
    /// The shell's render count: the lab renders whenever the shell does.
    pub render: u64,
    pub link: AttrValue,
}

#[derive(Default)]
struct Painted {
    view: Option<u64>,
    chart: Option<usize>,
    chart_time: f64,
}

#[component]
pub fn NodeLabView(props: &NodeLabProps) -> Html {
    let act = props.act.clone();
    let portrait = use_node_ref();
    let loss = use_node_ref();
    let residual = use_node_ref();
    let painted = use_mut_ref(Painted::default);
    {
        let (act, portrait, loss, residual, painted) =
            (act.clone(), portrait.clone(), loss.clone(), residual.clone(), painted.clone());
        use_effect(move || {
            let lab = act.engine.borrow();
            let mut state = painted.borrow_mut();
            let repaint_view = state.view != Some(lab.status.view_revision);
            if repaint_view {
                state.view = Some(lab.status.view_revision);
                if let Some(canvas) = portrait.cast::<web_sys::HtmlCanvasElement>() {
                    if let Some(ctx) = browser::context_2d(&canvas) {
                        paint::paint_portrait(&ctx, f64::from(canvas.width()), f64::from(canvas.height()), &lab);
                    }
                }
                if let Some(canvas) = residual.cast::<web_sys::HtmlCanvasElement>() {
                    if let Err(e) = paint::residual_chart(&canvas, &lab) {
                        web_sys::console::warn_1(&format!("chart: {e}").into());
                    }
                }
            }
            let now = browser::now_ms();
            // While training, the chart waits for a frame that did not repaint the portrait
            // (both in one frame came near 50 ms in the browser).
            let chart_due = now - state.chart_time > CHART_INTERVAL_MS && !repaint_view;
            if state.chart != Some(lab.losses.len()) && (chart_due || !lab.playing) {
                state.chart = Some(lab.losses.len());
                state.chart_time = now;
                if let Some(canvas) = loss.cast::<web_sys::HtmlCanvasElement>() {
                    if let Err(e) = paint::loss_chart(&canvas, &lab) {
                        web_sys::console::warn_1(&format!("chart: {e}").into());
                    }
                }
            }
            report_frame_work();
        });
    }
    let lab = act.engine.borrow();
    html! {
        <>
            { progress_row(&lab, &act) }
            <main class="columns" data-testid="node-lab">
                { settings_column(&lab, &act) }
                { portrait_column(&lab, &act, &portrait, &props.link) }
                { results_column(&lab, &act, &loss, &residual) }
            </main>
        </>
    }
}

fn progress_row(lab: &NodeLab, act: &Act<NodeLab>) -> Html {
    let done = lab.fit.steps_done();
    let loss = lab.losses.last().map_or("–".to_string(), |p| format!("{:.3e}", p.loss));
    html! {
        <div class="node-progress" data-testid="node-progress">
            <button class="primary" data-testid="node-train" onclick={act.on_click(|l| { l.toggle_play(); Ok(()) })}>
                { if lab.playing { "Pause" } else { "Train" } }</button>
            <button data-testid="node-step" onclick={act.on_click(|l| l.step_once())}>{ "Step" }</button>
            <button data-testid="node-fresh" title="start from fresh random weights" onclick={act.on_click(|l| l.reinitialise())}>{ "Fresh weights" }</button>
            <span data-testid="node-steps">{ format!("step {done} / {}", lab.settings.steps) }</span>
            <span data-testid="node-loss">{ format!("loss {loss}") }</span>
            <span data-testid="node-speed">{ format!("{:.0} steps/s", lab.steps_per_s) }</span>
            if lab.pretrained {
                <span class="badge" data-testid="node-pretrained" title="trained ahead by nde lab node train (docs/RESULTS.md)">{ "shipped fit" }</span>
            }
        </div>
    }
}

fn settings_column(lab: &NodeLab, act: &Act<NodeLab>) -> Html {
    let s = &lab.settings;
    let systems = Choice::plain(SystemId::ALL.iter().map(|id| id.name()));
    let mut models =
        vec![Choice::new("neural", "neural: s·tanh(NN(y))"), Choice::new("hybrid", "hybrid: known physics + NN(y)")];
    if s.system.known_part().is_none() {
        models[1].refused = Some("only the pendulum and Lotka-Volterra have a known part".into());
    }
    let methods = Choice::plain(GradientMethod::ALL.iter().map(|m| m.name()));
    let solvers = Choice::plain(SOLVERS);
    let on_weights =
        act.on_click(|l| browser::download_text("nde-node-weights.json", "application/json", &l.export_weights()));
    let on_csv =
        act.on_click(|l| browser::download_text("nde-node-trajectories.csv", "text/csv", &l.export_trajectories()));
    html! {
        <section class="column" aria-label="settings">
            <h2>{ "System and model" }</h2>
            { select(act, "System", &systems, s.system.name(), Some("node-system"), |l, v| l.set("system", v)) }
            { select(act, "Model", &models, s.model.name(), Some("node-model"), |l, v| l.set("model", v)) }
            { input(act, "Width", "number", s.width.to_string(), Some("1"), Some("node-width"), "hidden units per layer (depth 2)", |l, v| l.set("width", v)) }
            <h2>{ "Solver and gradients" }</h2>
            { select(act, "Solver", &solvers, &s.solver, Some("node-solver"), |l, v| l.set("solver", v)) }
            { select(act, "Steps", &[Choice::new("fixed", "fixed per interval"), Choice::new("pid", "PID (tsit5, dopri5)")], if s.pid { "pid" } else { "fixed" }, Some("node-steps-by"), |l, v| l.set("steps_by", v)) }
            if s.pid {
                { input(act, "rtol", "number", s.rtol.to_string(), Some("any"), Some("node-rtol"), "relative tolerance of the PID controller", |l, v| l.set("rtol", v)) }
                { input(act, "atol", "number", s.atol.to_string(), Some("any"), Some("node-atol"), "absolute tolerance of the PID controller", |l, v| l.set("atol", v)) }
            } else {
                { input(act, "Steps per interval", "number", s.per_interval.to_string(), Some("1"), Some("node-per-interval"), "solver steps between two observations", |l, v| l.set("per_interval", v)) }
            }
            { select(act, "Gradient", &methods, s.method.name(), Some("node-adjoint"), |l, v| l.set("adjoint", v)) }
            { input(act, "Learning rate", "number", s.learning_rate.to_string(), Some("any"), Some("node-lr"), "Adam's step size", |l, v| l.set("lr", v)) }
            { input(act, "Training steps", "number", s.steps.to_string(), Some("1"), Some("node-steps-total"), "the first half trains on the first 10% of each series", |l, v| l.set("steps", v)) }
            { input(act, "Seed", "number", s.seed.to_string(), Some("1"), Some("node-seed"), "data, initial weights and minibatches", |l, v| l.set("seed", v)) }
            <h2>{ "Files" }</h2>
            <div class="buttons">
                <button data-testid="node-export-weights" onclick={on_weights}>{ "Weights JSON" }</button>
                <button data-testid="node-export-csv" onclick={on_csv}>{ "Trajectories CSV" }</button>
                <label class="file-button">{ "Import weights" }
                    <input type="file" accept=".json,application/json" data-testid="node-import-weights" onchange={act.on_file(NodeLab::load_weights)} />
                </label>
            </div>
        </section>
    }
}

fn portrait_column(lab: &NodeLab, act: &Act<NodeLab>, portrait: &NodeRef, link: &AttrValue) -> Html {
    let on_click = {
        let (act, portrait) = (act.clone(), portrait.clone());
        let bounds = lab.portrait.bounds;
        Callback::from(move |ev: MouseEvent| {
            let Some(canvas) = portrait.cast::<web_sys::HtmlCanvasElement>() else { return };
            let scale_x = f64::from(canvas.width()) / f64::from(canvas.client_width().max(1));
            let scale_y = f64::from(canvas.height()) / f64::from(canvas.client_height().max(1));
            let view = paint::View { bounds, width: f64::from(canvas.width()), height: f64::from(canvas.height()) };
            let p = view.data(f64::from(ev.offset_x()) * scale_x, f64::from(ev.offset_y()) * scale_y);
            act.run(|l| l.click(p));
        })
    };
    let on_scrub = {
        let act = act.clone();
        Callback::from(move |ev: InputEvent| {
            let element: web_sys::HtmlInputElement = ev.target_unchecked_into();
            let fraction = element.value().parse::<f64>().unwrap_or(1000.0) / 1000.0;
            act.run(|l| l.set("t", &fraction.to_string()));
        })
    };
    let times = &lab.portrait.times;
    let t_now = times.get(lab.scrub_index()).copied().unwrap_or(0.0);
    html! {
        <section class="column main-column" aria-label="phase portrait">
            <canvas ref={portrait.clone()} data-testid="node-portrait" width={PORTRAIT_SIZE.to_string()} height={PORTRAIT_SIZE.to_string()}
                class="main" onclick={on_click}
                aria-label="phase portrait: true paths grey, the model's blue, clicked starts red; true field light grey arrows, learned light blue"></canvas>
            <p class="caption" data-testid="node-caption">
                { "Grey: the data's paths; blue: the model's from the same starts; arrows: the true (grey) and learned (blue) fields. Click to start a path: black is the true flow, red the model's. Violet: a grid of starts flowed by the learned field, at the scrubber's time." }
            </p>
            <div class="cloud-row">
                <label class="check">
                    <input type="checkbox" checked={lab.settings.cloud} data-testid="node-cloud-toggle"
                        onchange={act.on_change(|l| { let on = !l.settings.cloud; l.set("cloud", if on { "on" } else { "off" }) })} />
                    { "Cloud" }
                </label>
                if lab.settings.cloud {
                    <span class="caption" data-testid="node-cloud"
                        data-executor={lab.cloud.shown.as_ref().map_or("none", |c| c.executor.name())}
                        data-starts={lab.cloud.shown.as_ref().map_or(0, |c| c.starts).to_string()}>
                        { lab.cloud.caption(lab.playing) }</span>
                }
            </div>
            <label class="scrubber">
                <span>{ "Time" }</span>
                <input type="range" min="0" max="1000" step="1" value={((lab.settings.scrub * 1000.0).round() as i64).to_string()}
                    data-testid="node-scrubber" aria-label="move every path to a time" oninput={on_scrub} />
                <span data-testid="node-time">{ format!("t = {t_now:.2}") }</span>
                <button class="small" data-testid="node-clear-clicks" onclick={act.on_click(|l| { l.clear_clicks(); Ok(()) })}>{ "Clear clicks" }</button>
            </label>
            <label class="field share"><span>{ "Link" }</span>
                <input readonly=true data-testid="node-link" value={link.clone()} /></label>
        </section>
    }
}

/// A slider for one of the stress problem's settings, committed when released (each value
/// clears the table, which the visitor then runs again); the link can carry values beyond
/// the slider's range (damping up to 20, horizon up to 100), which it then shows at its end.
fn slider(
    act: &Act<NodeLab>,
    label: &str,
    key: &'static str,
    value: f64,
    (min, max, step): (f64, f64, f64),
    testid: &str,
) -> Html {
    let onchange = {
        let act = act.clone();
        Callback::from(move |e: Event| {
            let element: web_sys::HtmlInputElement = e.target_unchecked_into();
            act.run(|l| l.set(key, &element.value()));
        })
    };
    html! {
        <label class="field">
            <span>{ format!("{label} = {value}") }</span>
            <input type="range" min={min.to_string()} max={max.to_string()} step={step.to_string()} value={value.to_string()}
                data-testid={testid.to_string()} aria-label={label.to_string()} {onchange} />
        </label>
    }
}

fn gradient_table(lab: &NodeLab) -> Html {
    let Some(rows) = &lab.gradients else {
        return html! { <p class="caption" data-testid="node-gradients-empty">{ "Run the check to compare the three methods on the damped pendulum." }</p> };
    };
    let fmt = |x: f64| if x.is_finite() { format!("{x:.2e}") } else { "overflow".into() };
    html! {
        <table class="metrics" data-testid="node-gradients">
            <thead><tr><th>{ "method" }</th><th>{ "rel. error" }</th><th>{ "floats held" }</th><th>{ "evaluations" }</th><th>{ "ms" }</th><th>{ "note" }</th></tr></thead>
            <tbody>
                { for rows.iter().map(|r| {
                    let note = match (r.reconstruction_error, r.solution_norm, r.stable) {
                        (Some(rec), _, _) => format!("backward solve strayed {}", fmt(rec)),
                        (_, Some(norm), Some(stable)) => format!("|y| up to {}, {}", fmt(norm), if stable { "stable" } else { "unstable" }),
                        _ => String::new(),
                    };
                    let bad = r.rel_error > 1e-3 || !r.rel_error.is_finite();
                    html! {
                        <tr data-testid={format!("node-gradient-{}", r.method)} class={classes!(bad.then_some("bad"))}>
                            <td>{ r.method }</td><td>{ fmt(r.rel_error) }</td><td>{ r.floats_held }</td>
                            <td>{ r.evaluations }</td><td>{ format!("{:.1}", 1000.0 * r.seconds) }</td><td>{ note }</td>
                        </tr>
                    }
                }) }
            </tbody>
        </table>
    }
}

fn results_column(lab: &NodeLab, act: &Act<NodeLab>, loss: &NodeRef, residual: &NodeRef) -> Html {
    let s = &lab.settings;
    let on_run = act.on_click(|l| l.run_gradients(&browser::now_ms));
    let on_export =
        act.on_click(|l| browser::download_text("nde-node-gradients.json", "application/json", &l.export_gradients()?));
    let hybrid = !lab.portrait.residual.is_empty();
    html! {
        <section class="column" aria-label="results">
            <h2>{ "Loss" }</h2>
            <canvas ref={loss.clone()} data-testid="node-loss-chart" width="360" height="180"></canvas>
            <div class={classes!((!hybrid).then_some("hidden"))}>
                <h2>{ "Hybrid: learned against missing term" }</h2>
                <canvas ref={residual.clone()} data-testid="node-residual-chart" width="360" height="200"></canvas>
                <p class="caption">{ "Each data point's missing term (what the known physics leaves out) against the network's term, blue first and red second component; on the diagonal where the network learned the missing physics." }</p>
            </div>
            <h2>{ "Gradient check" }</h2>
            <p class="caption">{ "The damped pendulum with (ω², γ) unknown, from (1, 0) to (0.5, 0) at the horizon: each method's gradient against central differences of the f64 loss it differentiates. Backsolve solves the state backwards, and once damping makes that stiff it fails; in f32 it fails sooner (try horizon 6)." }</p>
            { slider(act, "Damping γ", "damping", s.damping, (0.0, 8.0, 0.1), "node-damping") }
            { slider(act, "Horizon T", "horizon", s.horizon, (1.0, 20.0, 0.5), "node-horizon") }
            { input(act, "Steps", "number", s.stress_steps.to_string(), Some("1"), Some("node-stress-steps"), "fixed solver steps over the horizon", |l, v| l.set("stress_steps", v)) }
            { select(act, "Precision", &[Choice::new("f64", "f64"), Choice::new("f32", "f32: states and field values rounded to single precision")], s.precision.name(), Some("node-precision"), |l, v| l.set("precision", v)) }
            <div class="buttons">
                <button class="primary" data-testid="node-run-gradients" onclick={on_run}>{ "Run the check" }</button>
                <button data-testid="node-export-gradients" onclick={on_export}>{ "Gradient JSON" }</button>
            </div>
            { gradient_table(lab) }
        </section>
    }
}
