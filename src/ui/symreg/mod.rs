//! The symbolic regression lab's page: settings and files | the phase portrait over the
//! residual map | each output's Pareto front and hall of fame, the population strip and the
//! expressions (selected, fine-tuned, quantised), over one `SymregLab`.

mod paint;

use yew::prelude::*;

use crate::core::dynamics::systems::SystemId;
use crate::core::symreg::expr::Unary;
use crate::playground::symreg::lab::{SymregLab, QUANTUM};
use crate::ui::browser::{self, with_context};
use crate::ui::controls::{input, select, Act, Choice};
use crate::ui::frame_loop::report_frame_work;

/// The portrait's canvas size in pixels.
const PORTRAIT_SIZE: u32 = 520;
/// The strip repaints at most this often while the search runs.
const STRIP_INTERVAL_MS: f64 = 200.0;
/// The outputs' names.
const OUTPUTS: [&str; 2] = ["dx/dt", "dy/dt"];

#[derive(Properties, PartialEq)]
pub struct SymregLabProps {
    pub act: Act<SymregLab>,
    /// The shell's render count: the lab renders whenever the shell does.
    pub render: u64,
    pub link: AttrValue,
}

#[derive(Default)]
struct Painted {
    view: Option<u64>,
    strip: Option<u64>,
    strip_time: f64,
}

/// A number for the page: three significant digits, "–" where it is not finite.
fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3e}")
    } else {
        "–".into()
    }
}

#[component]
pub fn SymregLabView(props: &SymregLabProps) -> Html {
    let act = props.act.clone();
    let portrait = use_node_ref();
    let strip = use_node_ref();
    let front0 = use_node_ref();
    let front1 = use_node_ref();
    let painted = use_mut_ref(Painted::default);
    {
        let (act, portrait, strip, painted) = (act.clone(), portrait.clone(), strip.clone(), painted.clone());
        let fronts = [front0.clone(), front1.clone()];
        use_effect(move || {
            let lab = act.engine.borrow();
            let mut state = painted.borrow_mut();
            let repaint_view = state.view != Some(lab.status.view_revision);
            if repaint_view {
                state.view = Some(lab.status.view_revision);
                with_context(&portrait, |ctx, w, h| paint::paint_portrait(ctx, w, h, &lab));
                for (o, node) in fronts.iter().enumerate() {
                    if let Some(canvas) = node.cast::<web_sys::HtmlCanvasElement>() {
                        if let Err(e) = paint::front_chart(&canvas, &lab, o) {
                            web_sys::console::warn_1(&format!("chart: {e}").into());
                        }
                    }
                }
            }
            let now = browser::now_ms();
            let evaluations = lab.evaluations();
            let due = now - state.strip_time > STRIP_INTERVAL_MS && !repaint_view;
            if state.strip != Some(evaluations) && (due || !lab.playing) {
                state.strip = Some(evaluations);
                state.strip_time = now;
                with_context(&strip, |ctx, w, h| paint::paint_strip(ctx, w, h, &lab));
            }
            report_frame_work();
        });
    }
    let lab = act.engine.borrow();
    html! {
        <>
            { progress_row(&lab, &act) }
            <main class="columns" data-testid="symreg-lab">
                { settings_column(&lab, &act) }
                { portrait_column(&lab, &portrait, &props.link) }
                { results_column(&lab, &act, [&front0, &front1], &strip) }
            </main>
        </>
    }
}

fn progress_row(lab: &SymregLab, act: &Act<SymregLab>) -> Html {
    let cycle = lab.outputs.iter().map(|o| o.cycle()).min().unwrap_or(0);
    html! {
        <div class="node-progress" data-testid="symreg-progress">
            <button class="primary" data-testid="symreg-evolve" onclick={act.on_click(|l| { l.toggle_play(); Ok(()) })}>
                { if lab.playing { "Pause" } else { "Evolve" } }</button>
            <button data-testid="symreg-step" title="run until both outputs finish one more iteration" onclick={act.on_click(|l| { l.step_iteration(); Ok(()) })}>{ "One iteration" }</button>
            <button data-testid="symreg-restart" title="new random populations" onclick={act.on_click(|l| l.restart())}>{ "Restart" }</button>
            <span data-testid="symreg-iteration" data-iterations={lab.iterations_done().to_string()}>
                { format!("iteration {} / {} (cycle {cycle} / {})", lab.iterations_done(), lab.settings.iterations, lab.settings.cycles) }</span>
            <span data-testid="symreg-evaluations">{ format!("{:.3e} evaluations", lab.evaluations() as f64) }</span>
            <span data-testid="symreg-speed">{ format!("{:.0} evaluations/s", lab.evals_per_s) }</span>
            if let Some(from) = &lab.learned_from {
                <span class="badge" data-testid="symreg-learned" title="the neural ODE whose field is regressed">{ from.clone() }</span>
            }
        </div>
    }
}

fn settings_column(lab: &SymregLab, act: &Act<SymregLab>) -> Html {
    let s = &lab.settings;
    let systems = Choice::plain(SystemId::ALL.iter().map(|id| id.name()));
    let sources = [
        Choice::new("neural", "neural: the learned field (Neural ODE lab)"),
        Choice::new("exact", "exact: the system's true field"),
        Choice::new("differences", "differences of noisy data (the baseline)"),
    ];
    let on_front =
        act.on_click(|l| browser::download_text("nde-symreg-front.json", "application/json", &l.export_front()));
    let on_text =
        act.on_click(|l| browser::download_text("nde-symreg-expressions.txt", "text/plain", &l.export_expressions()));
    html! {
        <section class="column" aria-label="settings">
            <h2>{ "Target" }</h2>
            { select(act, "System", &systems, s.system.name(), Some("symreg-system"), |l, v| l.set("system", v)) }
            { select(act, "Source", &sources, s.source.name(), Some("symreg-source"), |l, v| l.set("source", v)) }
            { input(act, "States", "number", s.points.to_string(), Some("1"), Some("symreg-points"), "states taken from the trajectories; each output is regressed on them", |l, v| l.set("points", v)) }
            <h2>{ "Operators" }</h2>
            <p class="caption">{ "+ − × ÷ are always on; x0 is x, x1 is y." }</p>
            <div class="buttons" data-testid="symreg-operators">
                { for Unary::ALL.into_iter().map(|op| {
                    let on = s.unary.contains(&op);
                    html! {
                        <label class="check">
                            <input type="checkbox" checked={on} data-testid={format!("symreg-op-{}", op.name())}
                                onchange={act.on_change(move |l| l.toggle_unary(op))} />
                            { op.name() }
                        </label>
                    }
                }) }
            </div>
            <h2>{ "Evolution" }</h2>
            { input(act, "Populations", "number", s.populations.to_string(), Some("1"), Some("symreg-populations"), "independent populations, with migration between them", |l, v| l.set("populations", v)) }
            { input(act, "Population size", "number", s.population_size.to_string(), Some("1"), Some("symreg-population-size"), "members per population (tournaments of 15)", |l, v| l.set("population_size", v)) }
            { input(act, "Cycles per iteration", "number", s.cycles.to_string(), Some("1"), Some("symreg-cycles"), "between two simplify / fit constants / migrate steps", |l, v| l.set("cycles", v)) }
            { input(act, "Max size", "number", s.maxsize.to_string(), Some("1"), Some("symreg-maxsize"), "the largest complexity (nodes) allowed", |l, v| l.set("maxsize", v)) }
            { input(act, "Iterations", "number", s.iterations.to_string(), Some("1"), Some("symreg-iterations"), "the search stops after this many iterations per output", |l, v| l.set("iterations", v)) }
            { input(act, "Seed", "number", s.seed.to_string(), Some("1"), Some("symreg-seed"), "data, states and the search", |l, v| l.set("seed", v)) }
            { input(act, "Fine-tune steps", "number", s.tune_steps.to_string(), Some("1"), Some("symreg-tune-steps"), "Adam steps (rate 3e-3) through the ODE solve", |l, v| l.set("tune_steps", v)) }
            <h2>{ "Files" }</h2>
            <div class="buttons">
                <button data-testid="symreg-export-front" onclick={on_front}>{ "Front JSON" }</button>
                <button data-testid="symreg-export-text" onclick={on_text}>{ "Expressions text" }</button>
                <label class="file-button">{ "Import neural ODE" }
                    <input type="file" accept=".json,application/json" data-testid="symreg-import-weights" onchange={act.on_file(SymregLab::load_weights)} />
                </label>
            </div>
        </section>
    }
}

fn portrait_column(lab: &SymregLab, portrait: &NodeRef, link: &AttrValue) -> Html {
    let reference = if lab.learned_from.is_some() { "the learned field" } else { "the true field" };
    let scale = paint::residual_scale(lab.portrait.field_scale);
    let stage = lab.shown().map_or("no", |(stage, _)| stage.name());
    html! {
        <section class="column main-column" aria-label="phase portrait">
            <canvas ref={portrait.clone()} data-testid="symreg-portrait" width={PORTRAIT_SIZE.to_string()} height={PORTRAIT_SIZE.to_string()}
                class="main" aria-label="phase portrait: data paths grey, reference field blue arrows, expression field orange arrows, residual in red shades" />
            <p class="caption" data-testid="symreg-caption">
                { format!("Grey: the data's paths and (dots) the regression's states. Blue arrows: {reference}, which the search regresses. Orange arrows: the {stage} expressions' field. Shade: |f_expr − f_reference| on a log scale, white at 1e-4 of the reference's largest speed") }
                { match scale {
                    Some((low, high)) => format!(" ({}), red at that speed ({})", number(low), number(high)),
                    None => " (the reference field is zero)".into(),
                } }
                { "; slate where an expression is undefined." }
            </p>
            <label class="field share"><span>{ "Link" }</span>
                <input readonly=true data-testid="symreg-link" value={link.clone()} /></label>
        </section>
    }
}

/// The hall of fame (the best member at each complexity): the front's rows can be picked,
/// with their score; the rest are dominated (a simpler member has a lower loss) and greyed.
fn front_table(lab: &SymregLab, act: &Act<SymregLab>, output: usize) -> Html {
    let search = &lab.outputs[output];
    let selected = search.selected().map(|s| s.complexity);
    html! {
        <table class="metrics symreg-front" data-testid={format!("symreg-front-table-{output}")}>
            <thead><tr><th>{ "size" }</th><th>{ "loss" }</th><th>{ "score" }</th><th>{ "expression" }</th></tr></thead>
            <tbody>
                { for search.search.hall_of_fame.entries().map(|(complexity, entry)| {
                    let on_front = search.front.iter().find(|e| e.complexity == complexity && e.loss == entry.loss);
                    match on_front {
                        Some(e) => {
                            let onclick = act.on_click(move |l| l.pick(output, complexity));
                            let chosen = selected == Some(complexity);
                            html! {
                                <tr data-testid={format!("symreg-row-{output}-{complexity}")} class={classes!("clickable", chosen.then_some("selected"))}
                                    title="show this expression" {onclick}>
                                    <td>{ complexity }</td><td>{ number(e.loss) }</td><td>{ format!("{:.2}", if e.score.is_finite() { e.score } else { 0.0 }) }</td>
                                    <td class="expr">{ e.expr.to_string() }</td>
                                </tr>
                            }
                        }
                        None => html! {
                            <tr class="dominated" data-testid={format!("symreg-dominated-{output}-{complexity}")}
                                title="dominated: a simpler member of the hall of fame has a lower loss">
                                <td>{ complexity }</td><td>{ number(entry.loss) }</td><td>{ "–" }</td>
                                <td class="expr">{ entry.expr.to_string() }</td>
                            </tr>
                        },
                    }
                }) }
            </tbody>
        </table>
    }
}

fn expressions_table(lab: &SymregLab) -> Html {
    let selected = lab.selected();
    let tuned = lab.tuned.as_ref().map(|t| t.exprs.clone());
    let quantised = lab.quantised.as_ref().map(|q| q.0.clone());
    let row = |name: &str, testid: &str, exprs: Option<[crate::core::symreg::expr::Expr; 2]>| match exprs {
        Some(e) => html! {
            <tr data-testid={testid.to_string()}><td>{ name.to_string() }</td><td class="expr">{ e[0].to_string() }</td><td class="expr">{ e[1].to_string() }</td></tr>
        },
        None => html! {},
    };
    html! {
        <table class="metrics" data-testid="symreg-expressions">
            <thead><tr><th>{ "stage" }</th><th>{ OUTPUTS[0] }</th><th>{ OUTPUTS[1] }</th></tr></thead>
            <tbody>
                { row("selected", "symreg-selected", selected) }
                { row("fine-tuned", "symreg-tuned", tuned) }
                { row(&format!("rounded to {QUANTUM}"), "symreg-quantised", quantised) }
            </tbody>
        </table>
    }
}

fn results_column(lab: &SymregLab, act: &Act<SymregLab>, fronts: [&NodeRef; 2], strip: &NodeRef) -> Html {
    let tune_line = match (lab.tuning_progress(), &lab.tuned) {
        (Some((done, steps)), _) => format!("fine-tuning: step {done} / {steps}"),
        (None, Some(t)) => format!("trajectory loss {} → {} after fine-tuning", number(t.loss_before), number(t.loss_after)),
        (None, None) => "Fine-tune moves both expressions' constants through the ODE solve (Adam on the trajectory loss, 16 series).".into(),
    };
    let truth = lab.error_to_truth().map_or("–".to_string(), number);
    let strip_rows: usize = lab.outputs.iter().map(|o| o.search.populations.len()).sum::<usize>() + 1;
    html! {
        <section class="column" aria-label="results">
            { for (0..2).map(|o| html! {
                <>
                    <h2>{ format!("{}: Pareto front and hall of fame", OUTPUTS[o]) }</h2>
                    <canvas ref={fronts[o].clone()} data-testid={format!("symreg-front-{o}")} width="360" height="150"></canvas>
                    { front_table(lab, act, o) }
                </>
            }) }
            <p class="caption">{ "The hall of fame holds the best expression found at each size; grey rows are dominated (a simpler one has a lower loss), the others are the Pareto front. Score: −Δ ln(loss) / Δ size from the front's previous row; the highest-scoring row is selected (the thesis's rule) until you click another." }</p>
            <h2>{ "Expressions" }</h2>
            { expressions_table(lab) }
            <div class="buttons">
                <button class="primary" data-testid="symreg-tune" disabled={lab.is_tuning()} onclick={act.on_click(|l| l.fine_tune())}>{ "Fine-tune" }</button>
                <button data-testid="symreg-quantise" onclick={act.on_click(|l| l.quantise())}>{ "Quantise" }</button>
                <button data-testid="symreg-follow" title="select the highest score in both fronts" onclick={act.on_click(|l| { l.follow_score(); Ok(()) })}>{ "Highest score" }</button>
            </div>
            <p class="caption" data-testid="symreg-tune-line">{ tune_line }</p>
            <p class="caption" data-testid="symreg-truth">{ format!("Largest |f_shown − f_true| on the states: {truth}") }</p>
            <h2>{ "Populations by age" }</h2>
            <canvas ref={strip.clone()} data-testid="symreg-strip" width="360" height={(strip_rows * 8).to_string()}></canvas>
            <p class="caption">{ "One row per population (dx/dt above, dy/dt below), one cell per member: yellow newborn, violet oldest. A child replaces the oldest member, not the worst." }</p>
        </section>
    }
}
