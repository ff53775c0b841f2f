//! The controllable-generation lab's page: the task and its settings | the plane (drag the
//! observed line, pick a class, click a clean point) and each method's figures | the free
//! coordinate's histograms, over one `InverseLab`.

mod paint;

use yew::prelude::*;

use crate::playground::inverse::lab::{InverseLab, RunMetrics};
use crate::playground::inverse::settings::{Task, PAGE_SAMPLERS};
use crate::ui::browser::{self, with_context};
use crate::ui::controls::{input, select, Act, Choice};
use crate::ui::frame_loop::report_frame_work;

const PLANE_SIZE: u32 = 420;

#[derive(Properties, PartialEq)]
pub struct InverseLabProps {
    pub act: Act<InverseLab>,
    /// The shell's render count: the lab renders whenever the shell does.
    pub render: u64,
    pub link: AttrValue,
}

fn figure(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "–".into()
    }
}

#[component]
pub fn InverseLabView(props: &InverseLabProps) -> Html {
    let act = props.act.clone();
    let plane = use_node_ref();
    let histogram = use_node_ref();
    let painted = use_mut_ref(|| None::<u64>);
    let shaded = use_mut_ref(paint::ShadeCache::default);
    {
        let (act, plane, histogram, painted, shaded) =
            (act.clone(), plane.clone(), histogram.clone(), painted.clone(), shaded.clone());
        use_effect(move || {
            let lab = act.engine.borrow();
            let mut last = painted.borrow_mut();
            if *last != Some(lab.revision) {
                *last = Some(lab.revision);
                with_context(&plane, |ctx, w, h| paint::paint_plane(ctx, w, h, &lab, &mut shaded.borrow_mut()));
                with_context(&histogram, |ctx, w, h| paint::paint_histogram(ctx, w, h, &lab));
            }
            report_frame_work();
        });
    }
    let lab = act.engine.borrow();
    html! {
        <main class="columns" data-testid="inverse-lab">
            { settings_column(&lab, &act) }
            { plane_column(&lab, &act, &plane, &props.link) }
            { histogram_column(&lab, &histogram) }
        </main>
    }
}

fn settings_column(lab: &InverseLab, act: &Act<InverseLab>) -> Html {
    let s = &lab.settings;
    let tasks = [
        Choice::new("inpaint", "Inpainting (observe x₁)"),
        Choice::new("colour", "Colourisation (a rotated coordinate)"),
        Choice::new("class", "Class guidance"),
        Choice::new("restore", "Restoration (MR samplers)"),
    ];
    let on_report =
        act.on_click(|l| browser::download_text("nde-inverse-report.json", "application/json", &l.export_report()));
    let on_samples =
        act.on_click(|l| browser::download_text("nde-inverse-samples.csv", "text/csv", &l.export_samples()));
    let guided = matches!(s.task, Task::Inpaint | Task::Colour | Task::Class);
    html! {
        <section class="column" aria-label="settings">
            <h2>{ "Task" }</h2>
            { select(act, "Task", &tasks, s.task.name(), Some("inverse-task"), |l, v| l.set("task", v)) }
            if matches!(s.task, Task::Inpaint | Task::Colour) {
                { select(act, "Data", &[Choice::new("gmm8", "gmm8 (eight Gaussians)"), Choice::new("gauss", "correlated Gaussian")], &s.data, Some("inverse-data"), |l, v| l.set("data", v)) }
                if s.data == "gauss" {
                    { input(act, "ρ", "number", s.rho.to_string(), Some("any"), Some("inverse-rho"), "the Gaussian's correlation", |l, v| l.set("rho", v)) }
                }
                { input(act, "Observed value a", "number", s.observe.to_string(), Some("any"), Some("inverse-observe"), "u·x₀ = a; or drag on the plane", |l, v| l.set("observe", v)) }
                if s.task == Task::Colour {
                    { input(act, "Angle (°)", "number", s.angle.to_string(), Some("any"), Some("inverse-angle"), "the observed coordinate's direction u, from the x₁ axis", |l, v| l.set("angle", v)) }
                }
                { select(act, "Replacement and DPS use", &[Choice::new("exact", "the exact score"), Choice::new("network", "the shipped gmm8 network")], if s.network_prior { "network" } else { "exact" }, Some("inverse-prior"), |l, v| l.set("prior", v)) }
                { input(act, "DPS ζ", "number", s.zeta.to_string(), Some("any"), Some("inverse-zeta"), "the DPS step: x ← x − ζ ∇|a − u·x̂₀|² / |a − u·x̂₀| after every step", |l, v| l.set("zeta", v)) }
            }
            if s.task == Task::Class {
                { input(act, "Class k", "number", s.class.to_string(), Some("1"), Some("inverse-class"), "gmm8's component, 0 to 7 counter-clockwise from the right; or click near one", |l, v| l.set("class", v)) }
                { input(act, "Guidance scale ω", "number", s.scale.to_string(), Some("any"), Some("inverse-scale"), "s(x) + ω ∇ log p_t(k | x); ω = 1 is Bayes' rule", |l, v| l.set("scale", v)) }
                { select(act, "Classifier", &[Choice::new("exact", "exact p_t(k | x)"), Choice::new("trained", "trained network (shipped)")], if s.trained_classifier { "trained" } else { "exact" }, Some("inverse-classifier"), |l, v| l.set("classifier", v)) }
            }
            if guided {
                <h2>{ "Sampler" }</h2>
                { select(act, "Sampler", &Choice::plain(PAGE_SAMPLERS), &s.sampler, Some("inverse-sampler"), |l, v| l.set("sampler", v)) }
                { input(act, "NFE", "number", s.nfe.to_string(), Some("1"), Some("inverse-nfe"), "steps of the sampler (VP, to t = 1e-3)", |l, v| l.set("nfe", v)) }
            }
            if s.task == Task::Restore {
                { select(act, "Degradation", &[Choice::new("drop-y", "drop-y: μ = (x₁, 0) + noise"), Choice::new("shrink", "shrink: μ = 0.3 x + noise")], s.degradation.name(), Some("inverse-degradation"), |l, v| l.set("degradation", v)) }
                { select(act, "Model", &[Choice::new("network", "trained network (shipped)"), Choice::new("exact", "exact conditional score")], if s.network { "network" } else { "exact" }, Some("inverse-model"), |l, v| l.set("model", v)) }
                { input(act, "NFE", "number", s.restore_nfe.to_string(), Some("1"), Some("inverse-rnfe"), "evaluations of each MR sampler", |l, v| l.set("rnfe", v)) }
                { input(act, "Clean x₁", "number", s.clean[0].to_string(), Some("any"), Some("inverse-cx"), "the clean point; or click on the plane", |l, v| l.set("cx", v)) }
                { input(act, "Clean x₂", "number", s.clean[1].to_string(), Some("any"), Some("inverse-cy"), "the clean point; or click on the plane", |l, v| l.set("cy", v)) }
            }
            { input(act, "Particles", "number", s.particles.to_string(), Some("1"), Some("inverse-particles"), "samples per method", |l, v| l.set("particles", v)) }
            { input(act, "Seed", "number", s.seed.to_string(), Some("1"), Some("inverse-seed"), "the samplers' noise and the degradation's", |l, v| l.set("seed", v)) }
            <h2>{ "Files" }</h2>
            <div class="buttons">
                <button data-testid="inverse-export-report" onclick={on_report}>{ "Report JSON" }</button>
                <button data-testid="inverse-export-samples" onclick={on_samples}>{ "Samples CSV" }</button>
            </div>
        </section>
    }
}

fn pointer(act: &Act<InverseLab>, node: &NodeRef, drag: bool) -> Callback<MouseEvent> {
    let (act, node) = (act.clone(), node.clone());
    Callback::from(move |ev: MouseEvent| {
        if drag && ev.buttons() & 1 == 0 {
            return;
        }
        let Some(canvas) = node.cast::<web_sys::HtmlCanvasElement>() else { return };
        let scale_x = f64::from(canvas.width()) / f64::from(canvas.client_width().max(1));
        let scale_y = f64::from(canvas.height()) / f64::from(canvas.client_height().max(1));
        let p = paint::to_plane(
            f64::from(ev.offset_x()) * scale_x,
            f64::from(ev.offset_y()) * scale_y,
            f64::from(canvas.width()),
            f64::from(canvas.height()),
        );
        act.run(|l| {
            // Dragging moves only a line; a class or a clean point is chosen by a press.
            if drag && !matches!(l.settings.task, Task::Inpaint | Task::Colour) {
                return Ok(());
            }
            l.point(p)
        });
    })
}

fn caption(lab: &InverseLab) -> String {
    match lab.settings.task {
        Task::Inpaint | Task::Colour => {
            let exact = lab.conditional.as_ref().map(|c| c.free_moments());
            let limit = lab.limit.map(|(m, v)| format!(" Replacement's limit (steps → ∞): mean {m:.3}, variance {v:.3} (dashed on the histogram).")).unwrap_or_default();
            format!(
                "Black line: the observation u·x₀ = {:.2}; drag on the plane to move it. Samples and two traced paths per method: replacement orange, exact conditional score green, exact likelihood guidance blue, DPS purple. Exact conditional of the free coordinate: mean {}, variance {}.{limit}",
                lab.settings.observe,
                exact.map_or("–".into(), |e| figure(e.0, 3)),
                exact.map_or("–".into(), |e| figure(e.1, 3)),
            )
        }
        Task::Class => format!(
            "Class guidance towards component {} (ringed) at ω = {} with {}. At ω = 1 and with the exact classifier it is Bayes' rule and samples the component; at other scales it samples neither the component nor p(x) p(k | x)^ω. Click near a component to guide towards it.",
            lab.settings.class,
            lab.settings.scale,
            if lab.settings.trained_classifier { "the trained classifier p̂_t(k | x)" } else { "the exact classifier p_t(k | x)" }
        ),
        Task::Restore => {
            let mu = lab.degraded.map_or("–".into(), |m| format!("({:.2}, {:.2})", m[0], m[1]));
            format!(
                "Cross: the clean point; red dot: its degraded copy μ = {mu}; shade: the exact posterior p(x₀ | μ), rings its modes. Each MR sampler's samples in its colour (mr-em orange, mrs-ode green, mrs-ode-noise blue, mrs-sde purple) and its MMSE estimate (the samples' mean, a square). Click to degrade another point."
            )
        }
    }
}

/// What the figures table's columns mean, for the task it shows.
fn figures_note(task: Task) -> &'static str {
    match task {
        Task::Inpaint | Task::Colour => "W1 to exact: the free coordinate's Wasserstein-1 distance to as many exact conditional draws; z of mean: its mean's distance from the exact mean in standard errors; off the line: the samples' mean distance from the observed line.",
        Task::Class => "in class: the share of samples whose most likely mixture component is the chosen class; SWD to component: sliced Wasserstein-2 to as many draws of that component; floor: the same between two sets of exact draws.",
        Task::Restore => "SWD to posterior: sliced Wasserstein-2 to as many draws of the exact posterior p(x₀ | μ); floor: the same between two sets of exact draws (a bimodal posterior's floor is large); MMSE to mode: the samples' mean's distance to the nearest posterior mode (a mean between two modes is far from both); median sample to mode: the median sample's distance to its nearest mode.",
    }
}

fn figures_table(lab: &InverseLab) -> Html {
    let head = match lab.settings.task {
        Task::Inpaint | Task::Colour => {
            html! { <tr><th>{ "method" }</th><th>{ "NFE" }</th><th>{ "mean" }</th><th>{ "variance" }</th><th>{ "W1 to exact" }</th><th>{ "z of mean" }</th><th>{ "off the line" }</th></tr> }
        }
        Task::Class => {
            html! { <tr><th>{ "method" }</th><th>{ "NFE" }</th><th>{ "in class" }</th><th>{ "SWD to component" }</th><th>{ "floor" }</th></tr> }
        }
        Task::Restore => {
            html! { <tr><th>{ "sampler" }</th><th>{ "NFE" }</th><th>{ "SWD to posterior" }</th><th>{ "floor" }</th><th>{ "MMSE to mode" }</th><th>{ "median sample to mode" }</th></tr> }
        }
    };
    html! {
        <table class="metrics" data-testid="inverse-figures">
            <thead>{ head }</thead>
            <tbody>
                { for lab.runs.iter().map(|run| {
                    let id = format!("inverse-row-{}", run.label.replace(' ', "-"));
                    let cells = match (&run.metrics, &run.error) {
                        (_, Some(e)) => html! { <td colspan="6">{ format!("failed: {e}") }</td> },
                        (Some(RunMetrics::Line { mean, var, w1, z_mean, off_line }), _) => html! { <>
                            <td>{ figure(*mean, 3) }</td><td>{ figure(*var, 3) }</td><td>{ figure(*w1, 3) }</td><td>{ figure(*z_mean, 1) }</td><td>{ figure(*off_line, 3) }</td>
                        </> },
                        (Some(RunMetrics::Class { share, swd, floor }), _) => html! { <>
                            <td>{ format!("{:.1}%", 100.0 * share) }</td><td>{ figure(*swd, 3) }</td><td>{ figure(*floor, 3) }</td>
                        </> },
                        (Some(RunMetrics::Restore { swd, floor, mmse_to_mode, sample_to_mode, .. }), _) => html! { <>
                            <td>{ figure(*swd, 3) }</td><td>{ figure(*floor, 3) }</td><td>{ figure(*mmse_to_mode, 3) }</td><td>{ figure(*sample_to_mode, 3) }</td>
                        </> },
                        (None, None) => html! { <td colspan="6">{ format!("sampling… {} / {}", run.done, run.particles) }</td> },
                    };
                    html! {
                        <tr data-testid={if run.finished() { id } else { format!("{id}-pending") }}>
                            <td>{ run.label.clone() }</td><td>{ figure(run.nfe, 0) }</td>{ cells }
                        </tr>
                    }
                }) }
            </tbody>
        </table>
    }
}

fn plane_column(lab: &InverseLab, act: &Act<InverseLab>, plane: &NodeRef, link: &AttrValue) -> Html {
    html! {
        <section class="column main-column" aria-label="the plane">
            <canvas ref={plane.clone()} data-testid="inverse-plane" width={PLANE_SIZE.to_string()} height={PLANE_SIZE.to_string()}
                onmousedown={pointer(act, plane, false)} onmousemove={pointer(act, plane, true)}
                aria-label="the plane: drag to move the observed line, or click to choose a class or a clean point" />
            <p class="caption" data-testid="inverse-caption">{ caption(lab) }</p>
            { figures_table(lab) }
            <p class="caption" data-testid="inverse-figures-note">{ figures_note(lab.settings.task) }</p>
            <label class="field share"><span>{ "Link" }</span>
                <input readonly=true data-testid="inverse-link" value={link.clone()} /></label>
        </section>
    }
}

fn histogram_column(lab: &InverseLab, histogram: &NodeRef) -> Html {
    let (title, caption) = match lab.settings.task {
        Task::Class => ("The free coordinate", "Class guidance observes no line: the plane shows the samples and the table their figures."),
        Task::Restore => ("The lost coordinate x₂", "Each MR sampler's histogram of x₂ (colours as on the plane) over the exact posterior's marginal density (black). Under drop-y, μ says nothing of x₂: the posterior keeps the prior's modes there."),
        _ => ("The free coordinate", "Each method's histogram of the unobserved coordinate v·x₀ (colours as on the plane; likelihood guidance dashed, as it coincides with the exact score by Bayes' identity) over the exact conditional density (black); dashed orange, where known, replacement's limit."),
    };
    html! {
        <section class="column" aria-label="histograms">
            <h2>{ title }</h2>
            <canvas ref={histogram.clone()} data-testid="inverse-histogram" width="360" height="240"></canvas>
            <p class="caption">{ caption }</p>
        </section>
    }
}
