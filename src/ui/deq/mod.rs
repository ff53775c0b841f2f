//! The deep equilibrium lab's page: settings and files | the plane (class probability or
//! iterations) | the clicked point's residual curves and path, each solver's figures, the
//! loss and the gradient panel, over one `DeqLab`.

mod paint;

use yew::prelude::*;

use crate::core::deq::root::SolverKind;
use crate::playground::deq::DeqLab;
use crate::ui::browser::{self, with_context};
use crate::ui::controls::{input, select, Act, Choice};
use crate::ui::frame_loop::report_frame_work;

const PLANE_SIZE: u32 = 480;
/// The loss chart repaints at most this often while training runs.
const CHART_INTERVAL_MS: f64 = 250.0;

#[derive(Properties, PartialEq)]
pub struct DeqLabProps {
    pub act: Act<DeqLab>,
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

fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3e}")
    } else {
        "–".into()
    }
}

#[component]
pub fn DeqLabView(props: &DeqLabProps) -> Html {
    let act = props.act.clone();
    let plane = use_node_ref();
    let residual = use_node_ref();
    let path = use_node_ref();
    let loss = use_node_ref();
    let painted = use_mut_ref(Painted::default);
    {
        let (act, plane, residual, path, loss, painted) =
            (act.clone(), plane.clone(), residual.clone(), path.clone(), loss.clone(), painted.clone());
        use_effect(move || {
            let lab = act.engine.borrow();
            let mut state = painted.borrow_mut();
            let repaint_view = state.view != Some(lab.status.view_revision);
            if repaint_view {
                state.view = Some(lab.status.view_revision);
                with_context(&plane, |ctx, w, h| paint::paint_plane(ctx, w, h, &lab));
                with_context(&path, |ctx, w, h| paint::paint_path(ctx, w, h, &lab));
                if let Some(canvas) = residual.cast::<web_sys::HtmlCanvasElement>() {
                    if let Err(e) = paint::residual_chart(&canvas, &lab) {
                        web_sys::console::warn_1(&format!("chart: {e}").into());
                    }
                }
            }
            let now = browser::now_ms();
            let due = now - state.chart_time > CHART_INTERVAL_MS && !repaint_view;
            if state.chart != Some(lab.fit.losses.len()) && (due || !lab.playing) {
                state.chart = Some(lab.fit.losses.len());
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
            <main class="columns" data-testid="deq-lab">
                { settings_column(&lab, &act) }
                { plane_column(&lab, &act, &plane, &props.link) }
                { results_column(&lab, &act, &residual, &path, &loss) }
            </main>
        </>
    }
}

fn progress_row(lab: &DeqLab, act: &Act<DeqLab>) -> Html {
    let loss = lab.fit.losses.last().map_or("–".to_string(), |l| format!("{l:.3e}"));
    let accuracy = lab.test_accuracy().map_or("measuring…".to_string(), |a| format!("{a:.3}"));
    html! {
        <div class="node-progress" data-testid="deq-progress">
            <button class="primary" data-testid="deq-train" onclick={act.on_click(|l| { l.toggle_play(); Ok(()) })}>
                { if lab.playing { "Pause" } else { "Train" } }</button>
            <button data-testid="deq-fresh" title="start from fresh random weights" onclick={act.on_click(|l| l.reinitialise())}>{ "Fresh weights" }</button>
            <span data-testid="deq-steps">{ format!("step {} / {}", lab.fit.steps_done, lab.settings.steps) }</span>
            <span data-testid="deq-loss">{ format!("loss {loss}") }</span>
            <span data-testid="deq-accuracy">{ format!("test accuracy {accuracy}") }</span>
            <span data-testid="deq-speed">{ format!("{:.1} steps/s", lab.steps_per_s) }</span>
            if lab.pretrained {
                <span class="badge" data-testid="deq-pretrained" title="trained ahead by nde lab deq train (docs/RESULTS.md)">{ "shipped fit" }</span>
            }
        </div>
    }
}

fn settings_column(lab: &DeqLab, act: &Act<DeqLab>) -> Html {
    let s = &lab.settings;
    let data = Choice::plain(["moons", "two-spirals"]);
    let solvers = Choice::plain(SolverKind::ALL.iter().map(|k| k.name()));
    let backward = [
        Choice::new("ift", "implicit (IFT)"),
        Choice::new("unrolled", "unrolled K iterations"),
        Choice::new("jfb", "Jacobian-free (JFB)"),
        Choice::new("neumann", "truncated Neumann, K terms"),
    ];
    let on_weights =
        act.on_click(|l| browser::download_text("nde-deq-weights.json", "application/json", &l.export_weights()));
    let on_report =
        act.on_click(|l| browser::download_text("nde-deq-report.json", "application/json", &l.export_report()));
    html! {
        <section class="column" aria-label="settings">
            <h2>{ "Data and layer" }</h2>
            { select(act, "Data", &data, s.data.name(), Some("deq-data"), |l, v| l.set("data", v)) }
            { select(act, "Fourier features", &[Choice::new("on", "on: x and 16 random features"), Choice::new("off", "off: x alone")], if s.fourier { "on" } else { "off" }, Some("deq-fourier"), |l, v| l.set("fourier", v)) }
            { input(act, "Width d", "number", s.width.to_string(), Some("1"), Some("deq-width"), "the equilibrium state's size", |l, v| l.set("width", v)) }
            { input(act, "κ", "number", s.kappa.to_string(), Some("any"), Some("deq-kappa"), "σ_max(W): f is a κ-contraction", |l, v| l.set("kappa", v)) }
            <h2>{ "Solvers" }</h2>
            { select(act, "Forward", &solvers, s.forward.name(), Some("deq-forward"), |l, v| l.set("forward", v)) }
            { input(act, "Tolerance", "number", s.tol.to_string(), Some("any"), Some("deq-tol"), "relative residual |f(z) − z| / |f(z)|", |l, v| l.set("tol", v)) }
            { input(act, "Iterations", "number", s.max_iterations.to_string(), Some("1"), Some("deq-iters"), "most iterations per solve", |l, v| l.set("iters", v)) }
            { input(act, "Anderson memory m", "number", s.memory.to_string(), Some("1"), Some("deq-memory"), "past iterates Anderson mixes", |l, v| l.set("memory", v)) }
            { select(act, "Anderson λ", &[Choice::new("relative", "relative 1e-10·tr(GGᵀ)/n"), Choice::new("absolute", "absolute 1e-4 (locuslab)")], if s.absolute_lambda { "absolute" } else { "relative" }, Some("deq-lambda"), |l, v| l.set("lambda", v)) }
            { select(act, "Backward", &backward, &s.backward, Some("deq-backward"), |l, v| l.set("backward", v)) }
            { input(act, "K", "number", s.k.to_string(), Some("1"), Some("deq-k"), "unrolled iterations or Neumann terms", |l, v| l.set("k", v)) }
            <h2>{ "Training" }</h2>
            { input(act, "Steps", "number", s.steps.to_string(), Some("1"), Some("deq-steps-total"), "Adam steps with cosine decay", |l, v| l.set("steps", v)) }
            { input(act, "Batch", "number", s.batch.to_string(), Some("1"), Some("deq-batch"), "minibatch size", |l, v| l.set("batch", v)) }
            { input(act, "Learning rate", "number", s.learning_rate.to_string(), Some("any"), Some("deq-lr"), "Adam's initial step size", |l, v| l.set("lr", v)) }
            { input(act, "Seed", "number", s.seed.to_string(), Some("1"), Some("deq-seed"), "data, features, weights and minibatches", |l, v| l.set("seed", v)) }
            <h2>{ "Files" }</h2>
            <div class="buttons">
                <button data-testid="deq-export-weights" onclick={on_weights}>{ "Weights JSON" }</button>
                <button data-testid="deq-export-report" onclick={on_report}>{ "Report JSON" }</button>
                <label class="file-button">{ "Import weights" }
                    <input type="file" accept=".json,application/json" data-testid="deq-import-weights" onchange={act.on_file(DeqLab::load_weights)} />
                </label>
            </div>
        </section>
    }
}

fn plane_column(lab: &DeqLab, act: &Act<DeqLab>, plane: &NodeRef, link: &AttrValue) -> Html {
    let on_click = {
        let (act, plane) = (act.clone(), plane.clone());
        Callback::from(move |ev: MouseEvent| {
            let Some(canvas) = plane.cast::<web_sys::HtmlCanvasElement>() else { return };
            let scale_x = f64::from(canvas.width()) / f64::from(canvas.client_width().max(1));
            let scale_y = f64::from(canvas.height()) / f64::from(canvas.client_height().max(1));
            let p = paint::to_plane(
                f64::from(ev.offset_x()) * scale_x,
                f64::from(ev.offset_y()) * scale_y,
                f64::from(canvas.width()),
                f64::from(canvas.height()),
            );
            act.run(|l| {
                l.click(p);
                Ok(())
            });
        })
    };
    let view = if lab.settings.iterations_view { "iterations" } else { "probability" };
    let caption = if lab.settings.iterations_view {
        format!("Shade: the {} solver's iterations to the tolerance at each point, white none, violet the limit of {}: where is the fixed point hard to find?", lab.settings.forward.name(), lab.settings.max_iterations)
    } else {
        "Shade: P(class 1), blue 0 through white to red 1. Dots: test points by class.".to_string()
    };
    html! {
        <section class="column main-column" aria-label="the plane">
            <canvas ref={plane.clone()} data-testid="deq-plane" width={PLANE_SIZE.to_string()} height={PLANE_SIZE.to_string()}
                class="main" onclick={on_click} aria-label="the plane coloured by class probability or iterations; click a point" />
            <div class="cloud-row">
                { select(act, "View", &[Choice::new("probability", "class probability"), Choice::new("iterations", "forward iterations")], view, Some("deq-view"), |l, v| l.set("view", v)) }
            </div>
            <p class="caption" data-testid="deq-caption">{ caption }{ " Click a point for its residual curves." }</p>
            <label class="field share"><span>{ "Link" }</span>
                <input readonly=true data-testid="deq-link" value={link.clone()} /></label>
        </section>
    }
}

fn figures_table(lab: &DeqLab) -> Html {
    if lab.figures.is_empty() {
        return html! { <p class="caption" data-testid="deq-figures-pending">{ "Measuring each solver on the test set…" }</p> };
    }
    html! {
        <table class="metrics" data-testid="deq-figures">
            <thead><tr><th>{ "solver" }</th><th>{ "mean iterations" }</th><th>{ "converged" }</th><th>{ "accuracy" }</th></tr></thead>
            <tbody>
                { for lab.figures.iter().map(|f| html! {
                    <tr data-testid={format!("deq-figures-{}", f.solver.name())}>
                        <td>{ f.solver.name() }</td><td>{ format!("{:.1}", f.iterations) }</td>
                        <td>{ format!("{:.0}%", 100.0 * f.converged) }</td><td>{ format!("{:.3}", f.accuracy) }</td>
                    </tr>
                }) }
            </tbody>
        </table>
    }
}

fn gradient_table(lab: &DeqLab) -> Html {
    let Some(g) = &lab.gradients else {
        return html! { <p class="caption" data-testid="deq-gradients-empty">{ "Run the check to compare the gradient methods with the implicit one on 8 test points." }</p> };
    };
    let rows = [
        ("IFT against finite differences", number(g.ift_vs_fd_rel), g.floats_held[0], "relative error"),
        ("unrolled, K = 10", number(g.unrolled_k10_rel), g.floats_held[1], "relative error to IFT"),
        ("Jacobian-free (JFB)", format!("{:.3}", g.jfb_cos), g.floats_held[2], "cosine to IFT"),
        ("Neumann, K = 5", number(g.neumann_k5_rel), g.floats_held[3], "relative error to IFT"),
    ];
    html! {
        <>
            <table class="metrics" data-testid="deq-gradients">
                <thead><tr><th>{ "method" }</th><th>{ "figure" }</th><th>{ "measure" }</th><th>{ "floats held" }</th></tr></thead>
                <tbody>
                    { for rows.iter().map(|(name, value, floats, measure)| html! {
                        <tr><td>{ *name }</td><td>{ value.clone() }</td><td>{ *measure }</td><td>{ *floats }</td></tr>
                    }) }
                </tbody>
            </table>
            <p class="caption" data-testid="deq-spectral-radius">{ format!("Mean ρ(∂f/∂z) at z*: {:.3}; unrolled and Neumann errors shrink like ρ^K.", g.spectral_radius) }</p>
        </>
    }
}

fn results_column(lab: &DeqLab, act: &Act<DeqLab>, residual: &NodeRef, path: &NodeRef, loss: &NodeRef) -> Html {
    let clicked = lab.clicked.as_ref().map(|c| {
        format!(
            "({:.2}, {:.2}): P(class 1) {:.3}, ρ(∂f/∂z) at z* {:.3}",
            c.x[0], c.x[1], c.probability, c.spectral_radius
        )
    });
    html! {
        <section class="column" aria-label="results">
            <h2>{ "Clicked point" }</h2>
            <canvas ref={residual.clone()} data-testid="deq-residuals" width="360" height="200"></canvas>
            <p class="caption" data-testid="deq-clicked">{ clicked.unwrap_or_else(|| "Click the plane: each solver's residual per iteration there.".into()) }</p>
            <canvas ref={path.clone()} data-testid="deq-path" width="360" height="160"></canvas>
            <p class="caption">{ "Plain iteration's iterates from z = 0 (black) to z* (red), on their two principal components." }</p>
            <h2>{ "Solvers on the test set" }</h2>
            { figures_table(lab) }
            <h2>{ "Loss" }</h2>
            <canvas ref={loss.clone()} data-testid="deq-loss-chart" width="360" height="160"></canvas>
            <h2>{ "Gradients" }</h2>
            <div class="buttons">
                <button class="primary" data-testid="deq-run-gradients" onclick={act.on_click(|l| l.run_gradients())}>{ "Run the check" }</button>
            </div>
            { gradient_table(lab) }
        </section>
    }
}
