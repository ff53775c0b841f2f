//! The ODICE lab's page: settings and files | the three rules' V maps with rollouts, and
//! the figures table | the gradient charts, over one `OdiceLab`.

mod paint;

use yew::prelude::*;

use crate::core::odice::objective::UpdateRule;
use crate::playground::odice::OdiceLab;
use crate::ui::browser::{self, with_context};
use crate::ui::controls::{input, Act};
use crate::ui::frame_loop::report_frame_work;

const MAP_SIZE: u32 = 260;
/// The gradient charts repaint at most this often while training runs.
const CHART_INTERVAL_MS: f64 = 400.0;

#[derive(Properties, PartialEq)]
pub struct OdiceLabProps {
    pub act: Act<OdiceLab>,
    /// The shell's render count: the lab renders whenever the shell does.
    pub render: u64,
    pub link: AttrValue,
}

#[derive(Default)]
struct Painted {
    view: Option<u64>,
    /// Each map's revision when it was last painted.
    maps: [Option<u64>; 3],
    chart: Option<usize>,
    chart_time: f64,
}

fn share(v: f64) -> String {
    if v.is_finite() {
        format!("{:.0}%", 100.0 * v)
    } else {
        "–".into()
    }
}

fn figure(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "–".into()
    }
}

#[component]
pub fn OdiceLabView(props: &OdiceLabProps) -> Html {
    let act = props.act.clone();
    let maps = [use_node_ref(), use_node_ref(), use_node_ref()];
    let norms = use_node_ref();
    let cosine = use_node_ref();
    let painted = use_mut_ref(Painted::default);
    {
        let (act, maps, norms, cosine, painted) =
            (act.clone(), maps.clone(), norms.clone(), cosine.clone(), painted.clone());
        use_effect(move || {
            let lab = act.engine.borrow();
            let mut state = painted.borrow_mut();
            let repaint_view = state.view != Some(lab.status.view_revision);
            if repaint_view {
                state.view = Some(lab.status.view_revision);
                // Only the maps whose content changed: painting all three on every change
                // made the opening's frames 35 to 45 ms.
                for (k, node) in maps.iter().enumerate() {
                    if state.maps[k] != Some(lab.map_revisions[k]) {
                        state.maps[k] = Some(lab.map_revisions[k]);
                        with_context(node, |ctx, w, h| paint::paint_map(ctx, w, h, &lab, k));
                    }
                }
            }
            let now = browser::now_ms();
            let due = now - state.chart_time > CHART_INTERVAL_MS && !repaint_view;
            if state.chart != Some(lab.steps_done()) && (due || !lab.playing) {
                state.chart = Some(lab.steps_done());
                state.chart_time = now;
                for (node, chart) in [
                    (&norms, paint::norms_chart as fn(&web_sys::HtmlCanvasElement, &OdiceLab) -> Result<(), String>),
                    (&cosine, paint::cosine_chart),
                ] {
                    if let Some(canvas) = node.cast::<web_sys::HtmlCanvasElement>() {
                        if let Err(e) = chart(&canvas, &lab) {
                            web_sys::console::warn_1(&format!("chart: {e}").into());
                        }
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
            <main class="columns" data-testid="odice-lab">
                { settings_column(&lab, &act) }
                { maps_column(&lab, &act, &maps, &props.link) }
                { charts_column(&norms, &cosine) }
            </main>
        </>
    }
}

fn progress_row(lab: &OdiceLab, act: &Act<OdiceLab>) -> Html {
    html! {
        <div class="node-progress" data-testid="odice-progress">
            <button class="primary" data-testid="odice-train" onclick={act.on_click(|l| { l.toggle_play(); Ok(()) })}>
                { if lab.playing { "Pause" } else { "Train" } }</button>
            <button data-testid="odice-fresh" title="start every rule from fresh random weights" onclick={act.on_click(|l| l.reinitialise())}>{ "Fresh weights" }</button>
            <span data-testid="odice-steps">{ format!("step {} / {} (each rule)", lab.steps_done(), lab.settings.steps) }</span>
            <span data-testid="odice-transitions">{ format!("{} transitions", lab.data.len()) }</span>
            <span data-testid="odice-speed">{ format!("{:.0} steps/s", lab.steps_per_s) }</span>
            if lab.pretrained {
                <span class="badge" data-testid="odice-pretrained" title="trained ahead by nde lab odice run --env nav --out (docs/RESULTS.md)">{ "shipped fit" }</span>
            }
        </div>
    }
}

fn settings_column(lab: &OdiceLab, act: &Act<OdiceLab>) -> Html {
    let s = &lab.settings;
    let on_weights =
        act.on_click(|l| browser::download_text("nde-odice-weights.json", "application/json", &l.export_weights()));
    let on_report =
        act.on_click(|l| browser::download_text("nde-odice-report.json", "application/json", &l.export_report()));
    html! {
        <section class="column" aria-label="settings">
            <h2>{ "Objective" }</h2>
            { input(act, "λ", "number", s.lambda.to_string(), Some("any"), Some("odice-lambda"), "weight of the conjugate term: L = (1 − λ) E[V(s)] + λ E[f*(δ)]", |l, v| l.set("lambda", v)) }
            { input(act, "η", "number", s.eta.to_string(), Some("any"), Some("odice-eta"), "weight of the backward gradient in the orthogonal rule", |l, v| l.set("eta", v)) }
            { input(act, "γ", "number", s.gamma.to_string(), Some("any"), Some("odice-gamma"), "discount", |l, v| l.set("gamma", v)) }
            <h2>{ "Training" }</h2>
            { input(act, "V learning rate", "number", s.value_lr.to_string(), Some("any"), Some("odice-vlr"), "Adam's step for the value network", |l, v| l.set("vlr", v)) }
            { input(act, "π learning rate", "number", s.policy_lr.to_string(), Some("any"), Some("odice-plr"), "Adam's step for the policy network", |l, v| l.set("plr", v)) }
            { input(act, "Batch", "number", s.batch.to_string(), Some("1"), Some("odice-batch"), "transitions per step", |l, v| l.set("batch", v)) }
            { input(act, "Steps", "number", s.steps.to_string(), Some("1"), Some("odice-steps-total"), "steps of each rule", |l, v| l.set("steps", v)) }
            <h2>{ "Data" }</h2>
            { input(act, "Episodes", "number", s.episodes.to_string(), Some("1"), Some("odice-episodes"), "behaviour episodes in the data set", |l, v| l.set("episodes", v)) }
            { input(act, "Action noise", "number", s.noise.to_string(), Some("any"), Some("odice-noise"), "the behaviour's action noise (standard deviation)", |l, v| l.set("noise", v)) }
            { input(act, "Seed", "number", s.seed.to_string(), Some("1"), Some("odice-seed"), "data, weights, minibatches and rollouts", |l, v| l.set("seed", v)) }
            <h2>{ "Files" }</h2>
            <div class="buttons">
                <button data-testid="odice-export-weights" onclick={on_weights}>{ "Weights JSON" }</button>
                <button data-testid="odice-export-report" onclick={on_report}>{ "Report JSON" }</button>
                <label class="file-button">{ "Import weights" }
                    <input type="file" accept=".json,application/json" data-testid="odice-import-weights" onchange={act.on_file(OdiceLab::load_weights)} />
                </label>
            </div>
        </section>
    }
}

fn on_map_click(act: &Act<OdiceLab>, node: &NodeRef) -> Callback<MouseEvent> {
    let (act, node) = (act.clone(), node.clone());
    Callback::from(move |ev: MouseEvent| {
        let Some(canvas) = node.cast::<web_sys::HtmlCanvasElement>() else { return };
        let scale_x = f64::from(canvas.width()) / f64::from(canvas.client_width().max(1));
        let scale_y = f64::from(canvas.height()) / f64::from(canvas.client_height().max(1));
        let p = paint::to_square(
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
}

fn figures_table(lab: &OdiceLab) -> Html {
    html! {
        <table class="metrics" data-testid="odice-figures">
            <thead><tr>
                <th>{ "rule" }</th><th>{ "success in" }</th><th>{ "success OOD" }</th><th>{ "steps in / OOD" }</th>
                <th>{ "cos(g_f, g_b)" }</th><th>{ "co-adaptation" }</th>
            </tr></thead>
            <tbody>
                { for UpdateRule::ALL.iter().zip(&lab.evaluations).map(|(rule, e)| match e {
                    Some(e) => html! {
                        <tr data-testid={format!("odice-row-{}", rule.name())}>
                            <td>{ rule.name() }</td><td>{ share(e.success_in) }</td><td>{ share(e.success_ood) }</td>
                            <td>{ format!("{} / {}", figure(e.steps_in, 0), figure(e.steps_ood, 0)) }</td>
                            <td title={format!("|g_f| {}, |g_b| {} (means over the last tenth of the steps)", figure(e.norm_forward_final, 2), figure(e.norm_backward_final, 2))}>{ figure(e.cos_fb_final, 3) }</td>
                            <td>{ figure(e.coadapt, 4) }</td>
                        </tr>
                    },
                    None => html! {
                        <tr data-testid={format!("odice-row-{}-pending", rule.name())}>
                            <td>{ rule.name() }</td><td colspan="5">{ if lab.playing { "training…" } else { "rolling out…" } }</td>
                        </tr>
                    },
                }) }
            </tbody>
        </table>
    }
}

fn map_caption(lab: &OdiceLab, k: usize, rule: UpdateRule) -> String {
    let name = match rule {
        UpdateRule::Semi => "semi-gradient",
        UpdateRule::True => "true gradient",
        UpdateRule::Orthogonal => "orthogonal gradient",
    };
    match &lab.evaluations[k] {
        Some(e) => format!("{name}: V {} to {}", figure(e.v_min, 1), figure(e.v_max, 1)),
        None => name.to_string(),
    }
}

fn maps_column(lab: &OdiceLab, act: &Act<OdiceLab>, maps: &[NodeRef; 3], link: &AttrValue) -> Html {
    let clicked = lab.clicked.as_ref().map(|(start, runs)| {
        let outcome: Vec<String> = UpdateRule::ALL
            .iter()
            .zip(runs)
            .map(|(r, run)| {
                if run.success {
                    format!("{} reaches the goal in {} steps", r.name(), run.path.len() - 1)
                } else {
                    format!("{} does not", r.name())
                }
            })
            .collect();
        format!("From ({:.2}, {:.2}): {}.", start[0], start[1], outcome.join("; "))
    });
    html! {
        <section class="column main-column" aria-label="value maps">
            <div class="odice-maps">
                { for UpdateRule::ALL.iter().enumerate().map(|(k, rule)| html! {
                    <figure class="odice-map">
                        <canvas ref={maps[k].clone()} data-testid={format!("odice-map-{}", rule.name())} width={MAP_SIZE.to_string()} height={MAP_SIZE.to_string()}
                            onclick={on_map_click(act, &maps[k])} aria-label={format!("V under the {} rule; click to start a rollout there", rule.name())} />
                        <figcaption data-testid={format!("odice-map-caption-{}", rule.name())}>{ map_caption(lab, k, *rule) }</figcaption>
                    </figure>
                }) }
            </div>
            <p class="caption" data-testid="odice-caption">
                { "Shade: each rule's V, dark its least and light its greatest value (each on its own scale: the true gradient's V is a dual variable, not a return). White bar: the wall; yellow ring: the goal; faint lines: the data's transitions. Rollouts of each policy from in-distribution starts (green) and out-of-distribution ones (orange: top left, and right of the wall). Click a map to start all three policies there (black)." }
            </p>
            <p class="caption" data-testid="odice-clicked">{ clicked.unwrap_or_else(|| "Click a map to place a start.".into()) }</p>
            { figures_table(lab) }
            <p class="caption">{ format!("Success: of {} rollouts per kind of start, the share that reaches the goal within {} steps; co-adaptation: the mean cosine of V's last hidden features at s and s′ over the data.", crate::core::odice::learner::EVALUATION_STARTS, crate::core::odice::nav::HORIZON) }</p>
            <label class="field share"><span>{ "Link" }</span>
                <input readonly=true data-testid="odice-link" value={link.clone()} /></label>
        </section>
    }
}

fn charts_column(norms: &NodeRef, cosine: &NodeRef) -> Html {
    html! {
        <section class="column" aria-label="gradients">
            <h2>{ "Dual gradients" }</h2>
            <canvas ref={norms.clone()} data-testid="odice-norms" width="360" height="200"></canvas>
            <p class="caption">{ "|g_f| (through V(s)) and |g_b| (through V(s′)) per step: semi blue, true red, orthogonal green." }</p>
            <canvas ref={cosine.clone()} data-testid="odice-cosine" width="360" height="200"></canvas>
            <p class="caption">{ "cos(g_f, g_b): near −1 the two halves cancel, which is what the orthogonal rule's projection keeps from erasing the forward signal." }</p>
        </section>
    }
}
