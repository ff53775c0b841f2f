//! The neural SDE lab's page: settings and files | the fan chart, the marginals and the drift
//! | the ELBO, quadratic variation, the Brownian panel and the Ito/Stratonovich check, over
//! one `NsdeLab`.

mod paint;

use yew::prelude::*;

use crate::playground::nsde::lab::{EVAL_PATHS, GPU_EVAL_PATHS, ITO_PATHS, ITO_STEPS};
use crate::playground::nsde::NsdeLab;
use crate::ui::browser::{self, with_context};
use crate::ui::controls::{input, select, Act, Choice};
use crate::ui::frame_loop::report_frame_work;

/// The ELBO chart repaints at most this often while training runs.
const CHART_INTERVAL_MS: f64 = 250.0;

#[derive(Properties, PartialEq)]
pub struct NsdeLabProps {
    pub act: Act<NsdeLab>,
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
pub fn NsdeLabView(props: &NsdeLabProps) -> Html {
    let act = props.act.clone();
    let fan = use_node_ref();
    let arrows = use_node_ref();
    let brownian = use_node_ref();
    let elbo = use_node_ref();
    let (m0, m1, m2, m3, m4) = (use_node_ref(), use_node_ref(), use_node_ref(), use_node_ref(), use_node_ref());
    let marginals: Vec<NodeRef> = vec![m0, m1, m2, m3, m4];
    let painted = use_mut_ref(Painted::default);
    {
        let (act, fan, arrows, brownian, elbo, painted) =
            (act.clone(), fan.clone(), arrows.clone(), brownian.clone(), elbo.clone(), painted.clone());
        let marginals = marginals.clone();
        use_effect(move || {
            let lab = act.engine.borrow();
            let mut state = painted.borrow_mut();
            let repaint_view = state.view != Some(lab.status.view_revision);
            if repaint_view {
                state.view = Some(lab.status.view_revision);
                with_context(&fan, |ctx, w, h| paint::paint_fan(ctx, w, h, &lab));
                with_context(&arrows, |ctx, w, h| paint::paint_arrows(ctx, w, h, &lab));
                with_context(&brownian, |ctx, w, h| paint::paint_brownian(ctx, w, h, &lab));
                for (k, node) in marginals.iter().enumerate() {
                    with_context(node, |ctx, w, h| paint::paint_marginal(ctx, w, h, &lab, k));
                }
            }
            let now = browser::now_ms();
            let chart_due = now - state.chart_time > CHART_INTERVAL_MS && !repaint_view;
            let steps = lab.fit.history.len() + lab.gan.as_ref().map_or(0, |g| g.history.len());
            if state.chart != Some(steps) && (chart_due || !lab.playing || state.chart.is_none()) {
                state.chart = Some(steps);
                state.chart_time = now;
                if let Some(canvas) = elbo.cast::<web_sys::HtmlCanvasElement>() {
                    if let Err(e) = paint::elbo_chart(&canvas, &lab) {
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
            <main class="columns" data-testid="nsde-lab">
                { settings_column(&lab, &act) }
                { paths_column(&lab, &fan, &arrows, &marginals, &props.link) }
                { results_column(&lab, &act, &elbo, &brownian) }
            </main>
        </>
    }
}

fn progress_row(lab: &NsdeLab, act: &Act<NsdeLab>) -> Html {
    let elbo = match &lab.gan {
        Some(gan) => gan
            .history
            .last()
            .map_or("E D(fake) − E D(real) –".to_string(), |p| format!("E D(fake) − E D(real) {:.4}", p.1)),
        None => format!("ELBO {}", lab.recent(20).map_or("–".to_string(), |r| format!("{:.2}", r.terms.elbo()))),
    };
    let origin = if lab.pretrained {
        "the shipped model (trained by nde lab nsde train)".to_string()
    } else if lab.steps_done() == 0 {
        "fresh weights".to_string()
    } else {
        format!("{:.2} steps/s here", lab.steps_per_s)
    };
    html! {
        <div class="node-progress" data-testid="nsde-progress">
            <button class="primary" data-testid="nsde-train" onclick={act.on_click(|l| { l.toggle_play(); Ok(()) })}>
                { if lab.playing { "Pause" } else { "Train" } }</button>
            <button data-testid="nsde-fresh" title="start again from fresh random weights" onclick={act.on_click(|l| l.restart())}>{ "Fresh weights" }</button>
            <span data-testid="nsde-steps">{ format!("step {} / {}", lab.steps_done(), lab.settings.steps) }</span>
            <span data-testid="nsde-elbo">{ elbo }</span>
            <span data-testid="nsde-origin">{ origin }</span>
        </div>
    }
}

fn settings_column(lab: &NsdeLab, act: &Act<NsdeLab>) -> Html {
    let s = &lab.settings;
    let data = vec![
        Choice::new("ou", "Ornstein-Uhlenbeck"),
        Choice::new("ou-tdep", "time-dependent OU (SDE-GAN toy)"),
        Choice::new("gbm", "geometric Brownian motion"),
    ];
    let solvers = vec![
        Choice::new("reversible-heun", "reversible Heun + its adjoint"),
        Choice::new("em", "Euler-Maruyama (stored states)"),
    ];
    let on_report = act
        .on_click(|l| browser::download_text("nde-nsde-report.json", "application/json", &l.report_json().to_string()));
    let on_csv = act.on_click(|l| browser::download_text("nde-nsde-paths.csv", "text/csv", &l.export_paths()));
    let on_weights =
        act.on_click(|l| browser::download_text("nde-nsde-weights.json", "application/json", &l.export_weights()));
    let models = vec![Choice::new("latent", "latent SDE (a VAE)"), Choice::new("gan", "SDE-GAN (advanced)")];
    html! {
        <section class="column" aria-label="settings">
            <h2>{ "Model" }</h2>
            { select(act, "Model", &models, if s.gan { "gan" } else { "latent" }, Some("nsde-model"), |l, v| l.set("model", v)) }
            if s.gan {
                <p class="caption" data-testid="nsde-gan-note">{ "SDE-GAN training is slow (torchsde's authors: \"really, really slow\"): the page runs a short run at the batch and steps below; nde lab nsde train --model gan trains it to convergence (docs/RESULTS.md). The generator's own sizes and rates are the CLI's; the KL, dt, solver and learning-rate fields are the latent SDE's." }</p>
            }
            <h2>{ "Data" }</h2>
            { select(act, "Data", &data, s.data.name(), Some("nsde-data"), |l, v| l.set("data", v)) }
            { input(act, "Drop", "number", s.drop.to_string(), Some("0.1"), Some("nsde-drop"), "fraction of values dropped (never the first), 0 to 0.9", |l, v| l.set("drop", v)) }
            <h2>{ "Training" }</h2>
            { select(act, "Solver", &solvers, s.method.name(), Some("nsde-solver"), |l, v| l.set("solver", v)) }
            { input(act, "dt", "number", s.dt.to_string(), Some("any"), Some("nsde-dt"), "the largest solver step; every observation time is a step end", |l, v| l.set("dt", v)) }
            { input(act, "KL weight", "number", s.kl_weight.to_string(), Some("0.5"), Some("nsde-kl"), "the KL terms' weight after annealing (1: the ELBO); changing it keeps the weights, so raise it and train on", |l, v| l.set("kl", v)) }
            { input(act, "KL annealing steps", "number", s.anneal.to_string(), Some("1"), Some("nsde-anneal"), "steps over which the KL weight rises from 0", |l, v| l.set("anneal", v)) }
            { input(act, "Batch", "number", s.batch.to_string(), Some("1"), Some("nsde-batch"), "paths per step (each one posterior sample)", |l, v| l.set("batch", v)) }
            { input(act, "Training steps", "number", s.steps.to_string(), Some("1"), Some("nsde-steps-total"), "raising it goes on from the weights on show", |l, v| l.set("steps", v)) }
            { input(act, "Learning rate", "number", s.learning_rate.to_string(), Some("any"), Some("nsde-lr"), "Adam's step size, times 0.999 per step", |l, v| l.set("lr", v)) }
            { input(act, "Seed", "number", s.seed.to_string(), Some("1"), Some("nsde-seed"), "data, initial weights, minibatches and Brownian paths", |l, v| l.set("seed", v)) }
            <h2>{ "Files" }</h2>
            <div class="buttons">
                <button data-testid="nsde-export-report" onclick={on_report}>{ "Report JSON" }</button>
                <button data-testid="nsde-export-csv" onclick={on_csv}>{ "Paths CSV" }</button>
                <button data-testid="nsde-export-weights" onclick={on_weights}>{ "Weights JSON" }</button>
                <label class="file-button">{ "Import weights" }
                    <input type="file" accept=".json,application/json" data-testid="nsde-import-weights" onchange={act.on_file(NsdeLab::load_weights)} />
                </label>
            </div>
            <p class="caption" data-testid="nsde-executor">{ executor_caption(lab) }</p>
        </section>
    }
}

/// Where the model's paths ran: the latent SDE's through a plan executor.
fn executor_caption(lab: &NsdeLab) -> String {
    if lab.gan.is_some() {
        return match lab.executed_on {
            Some((executor, paths)) => format!(
                "The generator's {paths} paths ran on the {executor} plan executor: its 16-value state by reversible Heun, two field evaluations a step, from the same draws as the f64 solver (on a hardware GPU {GPU_EVAL_PATHS} paths while training is paused)."
            ),
            None => "The generator's paths run through a plan executor (the GPU's on a hardware adapter).".into(),
        };
    }
    match lab.executed_on {
        Some((executor, paths)) => format!(
            "The model's {paths} paths ran on the {executor} plan executor: the prior as a plan, driven by increments of the virtual Brownian tree (on a hardware GPU {GPU_EVAL_PATHS} paths while training is paused)."
        ),
        None => "The model's paths run through a plan executor (the GPU's on a hardware adapter).".into(),
    }
}

fn paths_column(lab: &NsdeLab, fan: &NodeRef, arrows: &NodeRef, marginals: &[NodeRef], link: &AttrValue) -> Html {
    let at = lab.evaluation.as_ref().map_or("being measured…".to_string(), |(_, s)| format!("measured at step {s}"));
    html! {
        <section class="column main-column" aria-label="paths">
            <canvas ref={fan.clone()} data-testid="nsde-fan" width="560" height="320" class="main"
                aria-label="fan chart: 50 data paths grey, 50 model paths blue"></canvas>
            <p class="caption" data-testid="nsde-caption">
                { format!("{}: 50 data paths (grey; hollow points were dropped) and 50 paths of the {} (blue), {} of each in the figures, {at}. {}", lab.fit.config.data.title(), if lab.gan.is_some() { "generator (averaged weights from half way)" } else { "model's prior" }, lab.executed_on.map_or(EVAL_PATHS, |e| e.1), pairing(lab)) }
            </p>
            <h2>{ "Marginals at 10, 30, 50, 70 and 90% of the horizon" }</h2>
            <div class="marginal-row">
                { for marginals.iter().enumerate().map(|(k, node)| html! {
                    <canvas ref={node.clone()} data-testid={format!("nsde-marginal-{k}")} width="150" height="110"></canvas>
                }) }
            </div>
            <p class="caption">{ "Blue bars: the model; grey steps: held-out data; black: the exact density." }</p>
            { marginal_table(lab) }
            if lab.gan.is_none() {
                <h2>{ "The learned drift" }</h2>
                <canvas ref={arrows.clone()} data-testid="nsde-arrows" width="560" height="220"></canvas>
            }
            <label class="field share"><span>{ "Link" }</span>
                <input readonly=true data-testid="nsde-link" value={link.clone()} /></label>
        </section>
    }
}

/// What the fan chart's pairing means, in words.
fn pairing(lab: &NsdeLab) -> &'static str {
    if lab.data.paired {
        "Data path k is an exact draw driven by model path k's Brownian motion (the Brownian tree \
         of the same seed, along the direction the decoded output feels it), so pairs move \
         together step by step; one pair is drawn bold (data black, model dark blue)."
    } else {
        "The generator's noise is not paired with the data: these data paths are independent draws."
    }
}

fn marginal_table(lab: &NsdeLab) -> Html {
    let Some((e, _)) = &lab.evaluation else {
        return html! { <p class="caption" data-testid="nsde-marginals-pending">{ "sampling the model…" }</p> };
    };
    html! {
        <table class="metrics" data-testid="nsde-marginals">
            <thead><tr><th>{ "t" }</th><th>{ "W1" }</th><th>{ "KS" }</th><th>{ "mean error" }</th><th>{ "variance error" }</th></tr></thead>
            <tbody>
                { for e.marginals.iter().map(|m| html! {
                    <tr><td>{ format!("{:.2}", m.t) }</td><td>{ format!("{:.3}", m.w1) }</td><td>{ format!("{:.3}", m.ks) }</td>
                        <td>{ format!("{:+.3}", m.mean_err) }</td><td>{ format!("{:+.3}", m.var_err) }</td></tr>
                }) }
                <tr><td>{ "mean" }</td><td data-testid="nsde-mean-w1">{ format!("{:.3}", e.mean_w1) }</td><td></td><td></td><td></td></tr>
            </tbody>
        </table>
    }
}

fn results_column(lab: &NsdeLab, act: &Act<NsdeLab>, elbo: &NodeRef, brownian: &NodeRef) -> Html {
    let (qv_model, qv_data, qv_exact) =
        lab.evaluation.as_ref().map_or(("…".into(), "…".into(), "…".into()), |(e, _)| {
            (format!("{:.3}", e.qv_rate_model), format!("{:.3}", e.qv_rate_data), format!("{:.3}", e.qv_rate_exact))
        });
    let terms = lab.recent(20);
    let cell = |f: &dyn Fn(&crate::core::nsde::latent::ElboTerms) -> f64| {
        terms.map_or("–".to_string(), |r| format!("{:.3}", f(&r.terms)))
    };
    let ito_button = match lab.ito_running() {
        Some(done) => format!("Stop ({done} of {ITO_PATHS} paths)"),
        None => "Run the GBM check".to_string(),
    };
    html! {
        <section class="column" aria-label="results">
            <h2>{ if lab.gan.is_some() { "E D(fake) − E D(real)" } else { "ELBO" } }</h2>
            <canvas ref={elbo.clone()} data-testid="nsde-elbo-chart" width="360" height="180"></canvas>
            if lab.gan.is_none() {
                <table class="metrics">
                    <tbody>
                        <tr><td>{ "log-likelihood" }</td><td data-testid="nsde-loglik">{ cell(&|t| -t.nll) }</td></tr>
                        <tr><td>{ "KL(q(z0) ‖ p(z0))" }</td><td data-testid="nsde-kl0">{ cell(&|t| t.kl0) }</td></tr>
                        <tr><td>{ "path KL ∫ |u|²/2 dt" }</td><td data-testid="nsde-klpath">{ cell(&|t| t.kl_path) }</td></tr>
                    </tbody>
                </table>
            }
            <h2>{ "Quadratic variation rate" }</h2>
            <table class="metrics">
                <tbody>
                    <tr><td>{ "model" }</td><td data-testid="nsde-qv-model">{ qv_model }</td></tr>
                    <tr><td>{ "data (same grid)" }</td><td data-testid="nsde-qv-data">{ qv_data }</td></tr>
                    <tr><td>{ "exact (time average of σ²)" }</td><td data-testid="nsde-qv-exact">{ qv_exact }</td></tr>
                </tbody>
            </table>
            <p class="caption">{ if lab.gan.is_some() {
                "The generator's rate, measured the same way on its paths."
            } else {
                "Latent SDEs are known to learn too little diffusion (torchsde#113): the model's rate sits below the data's. Raising the KL weight and training on pushes it up, a little."
            } }</p>
            <h2>{ "One Brownian path at three step sizes" }</h2>
            <canvas ref={brownian.clone()} data-testid="nsde-brownian" width="360" height="160"></canvas>
            <p class="caption" data-testid="nsde-brownian-caption">{ format!("A virtual Brownian tree queried on grids of dt, dt/2 and dt/4: largest difference where they meet: {}.", lab.brownian.as_ref().map_or("–".into(), |b| b.max_shared_difference.to_string())) }</p>
            <h2>{ "Ito or Stratonovich?" }</h2>
            <div class="buttons">
                <button data-testid="nsde-ito" onclick={act.on_click(|l| { l.toggle_ito(); Ok(()) })}>{ ito_button }</button>
            </div>
            { ito_table(lab) }
        </section>
    }
}

fn ito_table(lab: &NsdeLab) -> Html {
    let Some(c) = &lab.ito else {
        return html! { <p class="caption">{ format!("GBM dX = 0.1 X dt + 0.4 X dW from X0 = 1 to T = 2, {ITO_PATHS} paths of {ITO_STEPS} steps, three solvers on the same increments.") }</p> };
    };
    let row = |name: &str, est: &crate::core::nsde::calculus::MeanEstimate, testid: &str| {
        html! {
            <tr><td>{ name.to_string() }</td><td data-testid={testid.to_string()}>{ format!("{:.4} ± {:.4}", est.mean, est.se) }</td>
                <td>{ format!("{:.1}", est.z(c.ito_mean)) }</td></tr>
        }
    };
    html! {
        <table class="metrics" data-testid="nsde-ito-table">
            <thead><tr><th>{ "E X_T by" }</th><th>{ "mean ± se" }</th><th>{ "se from Ito" }</th></tr></thead>
            <tbody>
                { row("reversible Heun, Ito coefficients", &c.heun_on_ito, "nsde-ito-heun") }
                { row("reversible Heun, drift a − b²/2", &c.heun_corrected, "nsde-ito-corrected") }
                { row("Euler-Maruyama, Ito coefficients", &c.em_on_ito, "nsde-ito-em") }
                <tr><td>{ "exact Ito mean e^{aT}" }</td><td>{ format!("{:.4}", c.ito_mean) }</td><td></td></tr>
                <tr><td>{ "exact Stratonovich mean e^{(a+b²/2)T}" }</td><td>{ format!("{:.4}", c.stratonovich_mean) }</td><td></td></tr>
            </tbody>
        </table>
    }
}
