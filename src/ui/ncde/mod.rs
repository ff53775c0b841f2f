//! The neural CDE lab's page: settings and exports | the shown series and the model's answer
//! as time runs | the loss and the test figures, over one `NcdeLab`.

mod paint;

use yew::prelude::*;

use crate::core::cde::fit::CDE_SOLVERS;
use crate::core::path::Interpolation;
use crate::playground::ncde::NcdeLab;
use crate::ui::browser;
use crate::ui::controls::{input, select, Act, Choice};
use crate::ui::frame_loop::report_frame_work;

/// The series canvas's size in pixels.
const SERIES_SIZE: u32 = 480;
/// The loss chart repaints at most this often while training runs.
const CHART_INTERVAL_MS: f64 = 150.0;

#[derive(Properties, PartialEq)]
pub struct NcdeLabProps {
    pub act: Act<NcdeLab>,
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
pub fn NcdeLabView(props: &NcdeLabProps) -> Html {
    let act = props.act.clone();
    let series = use_node_ref();
    let answer = use_node_ref();
    let loss = use_node_ref();
    let hidden = use_node_ref();
    let sweep = use_node_ref();
    let painted = use_mut_ref(Painted::default);
    {
        let (act, series, answer, loss, painted) =
            (act.clone(), series.clone(), answer.clone(), loss.clone(), painted.clone());
        let (hidden, sweep) = (hidden.clone(), sweep.clone());
        use_effect(move || {
            let lab = act.engine.borrow();
            let mut state = painted.borrow_mut();
            let repaint_view = state.view != Some(lab.status.view_revision);
            if repaint_view {
                state.view = Some(lab.status.view_revision);
                if let Some(canvas) = series.cast::<web_sys::HtmlCanvasElement>() {
                    if let Some(ctx) = browser::context_2d(&canvas) {
                        paint::paint_series(&ctx, f64::from(canvas.width()), f64::from(canvas.height()), &lab);
                    }
                }
                if let Some(canvas) = answer.cast::<web_sys::HtmlCanvasElement>() {
                    if let Err(e) = paint::answer_chart(&canvas, &lab) {
                        web_sys::console::warn_1(&format!("chart: {e}").into());
                    }
                }
                if let Some(canvas) = hidden.cast::<web_sys::HtmlCanvasElement>() {
                    if let Some(ctx) = browser::context_2d(&canvas) {
                        paint::paint_hidden(&ctx, f64::from(canvas.width()), f64::from(canvas.height()), &lab);
                    }
                }
                if let Some(canvas) = sweep.cast::<web_sys::HtmlCanvasElement>() {
                    if let Err(e) = paint::sweep_chart(&canvas, &lab) {
                        web_sys::console::warn_1(&format!("chart: {e}").into());
                    }
                }
            }
            let now = browser::now_ms();
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
            <main class="columns" data-testid="ncde-lab">
                { settings_column(&lab, &act) }
                { series_column(&lab, &act, &series, &answer, &hidden, &props.link) }
                { results_column(&lab, &act, &loss, &sweep) }
            </main>
        </>
    }
}

fn progress_row(lab: &NcdeLab, act: &Act<NcdeLab>) -> Html {
    let total = lab.fit.total_steps();
    let loss = lab.losses.last().map_or("–".to_string(), |p| format!("{:.3e}", p.1));
    html! {
        <div class="node-progress" data-testid="ncde-progress">
            <button class="primary" data-testid="ncde-train" onclick={act.on_click(|l| { l.toggle_play(); Ok(()) })}>
                { if lab.playing { "Pause" } else { "Train" } }</button>
            <button data-testid="ncde-fresh" title="start again from fresh random weights" onclick={act.on_click(|l| l.restart())}>{ "Fresh weights" }</button>
            <span data-testid="ncde-steps">{ format!("step {} / {total}", lab.fit.steps_done()) }</span>
            <span data-testid="ncde-loss">{ format!("loss {loss}") }</span>
        </div>
    }
}

fn settings_column(lab: &NcdeLab, act: &Act<NcdeLab>) -> Html {
    let s = &lab.settings;
    let data = vec![
        Choice::new("spirals", "spirals: which way they turn"),
        Choice::new("spirals-expm", "spirals-expm (diffrax)"),
        Choice::new("speed", "speed: same points, another clock"),
    ];
    let interps = Choice::plain(Interpolation::ALL.iter().map(|i| i.name()));
    let solvers = Choice::plain(CDE_SOLVERS);
    let on_off = [Choice::new("on", "on"), Choice::new("off", "off")];
    let on_report = act
        .on_click(|l| browser::download_text("nde-ncde-report.json", "application/json", &l.report_json().to_string()));
    let on_csv = act.on_click(|l| browser::download_text("nde-ncde-series.csv", "text/csv", &l.export_series()));
    html! {
        <section class="column" aria-label="settings">
            <h2>{ "Data" }</h2>
            { select(act, "Task", &data, s.data.name(), Some("ncde-data"), |l, v| l.set("data", v)) }
            { input(act, "Drop", "number", s.drop.to_string(), Some("0.1"), Some("ncde-drop"), "probability of dropping each observation (never the first or last), 0 to 0.95", |l, v| l.set("drop", v)) }
            { select(act, "Drop what", &[Choice::new("row", "whole rows"), Choice::new("value", "single values")], if s.per_channel { "value" } else { "row" }, Some("ncde-drop-by"), |l, v| l.set("drop_by", v)) }
            { select(act, "Time channel", &on_off, if s.time_channel { "on" } else { "off" }, Some("ncde-time"), |l, v| l.set("time", v)) }
            { select(act, "Mask channels", &on_off, if s.masks { "on" } else { "off" }, Some("ncde-masks"), |l, v| l.set("masks", v)) }
            <h2>{ "Model" }</h2>
            { select(act, "Interpolation", &interps, s.interpolation.name(), Some("ncde-interp"), |l, v| l.set("interp", v)) }
            { select(act, "Solver", &solvers, &s.solver, Some("ncde-solver"), |l, v| l.set("solver", v)) }
            { select(act, "Steps", &[Choice::new("fixed", "one per knot interval"), Choice::new("pid", "PID (tsit5, dopri5)")], if s.pid { "pid" } else { "fixed" }, Some("ncde-steps-by"), |l, v| l.set("steps_by", v)) }
            { input(act, "Epochs", "number", s.epochs.to_string(), Some("1"), Some("ncde-epochs"), "passes over the 64 training series", |l, v| l.set("epochs", v)) }
            { input(act, "Learning rate", "number", s.learning_rate.to_string(), Some("any"), Some("ncde-lr"), "Adam's step size", |l, v| l.set("lr", v)) }
            { input(act, "Seed", "number", s.seed.to_string(), Some("1"), Some("ncde-seed"), "data, initial weights and minibatches", |l, v| l.set("seed", v)) }
            <h2>{ "Files" }</h2>
            <div class="buttons">
                <button data-testid="ncde-export-report" onclick={on_report}>{ "Report JSON" }</button>
                <button data-testid="ncde-export-csv" onclick={on_csv}>{ "Series CSV" }</button>
            </div>
        </section>
    }
}

fn series_column(
    lab: &NcdeLab,
    act: &Act<NcdeLab>,
    series: &NodeRef,
    answer: &NodeRef,
    hidden: &NodeRef,
    link: &AttrValue,
) -> Html {
    let v = &lab.view;
    let dropped = v.points.iter().filter(|p| !p.observed).count();
    let last = v.probability.last().map_or(0.5, |p| p.1);
    html! {
        <section class="column main-column" aria-label="series">
            <canvas ref={series.clone()} data-testid="ncde-series" width={SERIES_SIZE.to_string()} height={SERIES_SIZE.to_string()} class="main"
                aria-label="one test series: observed points filled, dropped hollow; linear path grey, Hermite path coloured by the model's answer"></canvas>
            <p class="caption" data-testid="ncde-caption">
                { format!("Test series {} (label {}): {} of {} points dropped (hollow). Grey: the linear path through the rest; thick: the Hermite path, blue where the model says label 0 so far, red where label 1. The model's answer at the end: p(label 1) = {last:.3}.",
                    lab.settings.show, u8::from(v.label), dropped, v.points.len()) }
            </p>
            <div class="buttons">
                <button data-testid="ncde-prev" onclick={act.on_click(|l| l.show_next(false))}>{ "Previous series" }</button>
                <button data-testid="ncde-next" onclick={act.on_click(|l| l.show_next(true))}>{ "Next series" }</button>
            </div>
            <h2>{ "The answer as time runs" }</h2>
            <canvas ref={answer.clone()} data-testid="ncde-answer" width="480" height="160"></canvas>
            <h2>{ "The hidden state z(t)" }</h2>
            <canvas ref={hidden.clone()} data-testid="ncde-hidden" width="480" height="150"></canvas>
            <label class="field share"><span>{ "Link" }</span>
                <input readonly=true data-testid="ncde-link" value={link.clone()} /></label>
        </section>
    }
}

fn results_column(lab: &NcdeLab, act: &Act<NcdeLab>, loss: &NodeRef, sweep: &NodeRef) -> Html {
    let (done, total, running) = match &lab.sweep {
        Some(s) => (s.points.len(), s.total(), !s.done()),
        None => (0, 0, false),
    };
    let (accuracy, bce, nfe, at) = match lab.evaluation {
        Some((e, step)) => (
            format!("{:.3}", e.accuracy),
            format!("{:.3e}", e.bce),
            format!("{:.0}", e.nfe_per_series),
            step.to_string(),
        ),
        None => ("…".into(), "…".into(), "…".into(), "–".into()),
    };
    html! {
        <section class="column" aria-label="results">
            <h2>{ "Loss" }</h2>
            <canvas ref={loss.clone()} data-testid="ncde-loss-chart" width="360" height="180"></canvas>
            <h2>{ "Test set" }</h2>
            <table class="metrics">
                <tbody>
                    <tr><td>{ "accuracy" }</td><td data-testid="ncde-accuracy">{ accuracy }</td></tr>
                    <tr><td>{ "cross-entropy" }</td><td data-testid="ncde-bce">{ bce }</td></tr>
                    <tr><td>{ "field evaluations per series" }</td><td data-testid="ncde-nfe">{ nfe }</td></tr>
                    <tr><td>{ "measured at step" }</td><td data-testid="ncde-eval-step">{ at }</td></tr>
                    { for lab.view.nfe.iter().map(|(kind, n)| html! {
                        <tr><td>{ format!("evaluations, shown series, {}", kind.name()) }</td><td data-testid={format!("ncde-nfe-{}", kind.name())}>{ n }</td></tr>
                    }) }
                </tbody>
            </table>
            <h2>{ "Accuracy against the drop rate" }</h2>
            <canvas ref={sweep.clone()} data-testid="ncde-sweep-chart" data-points={done.to_string()} width="360" height="200"></canvas>
            <div class="buttons">
                <button data-testid="ncde-sweep" onclick={act.on_click(|l| { l.toggle_sweep(); Ok(()) })}>
                    { if running { "Stop the sweep" } else { "Run the sweep" } }</button>
                if total > 0 {
                    <span class="caption" data-testid="ncde-sweep-progress">{ format!("{done} of {total} runs{}", if running { "" } else if done < total { " (stopped)" } else { "" }) }</span>
                }
            </div>
            <p class="caption">{ "Each point is a full training run at the task and channels above (linear and Hermite, drop rates 0 to 0.9), run while the lab's own training rests." }</p>
            <p class="caption">{ "64 test series drawn apart from the 64 training ones. With the speed task, linear paths and the time channel off, the two members of every pair are the same points on another clock: dz = f(z) dX cannot tell them apart, and the accuracy is exactly one half. Turn the time channel on and it can." }</p>
        </section>
    }
}
