//! The left column: the data set, the model and its training, and the loss charts.

use yew::prelude::*;

use super::canvases::Canvases;
use crate::core::data::ToyDataset;
use crate::core::limits;
use crate::core::nn::Activation;
use crate::core::param::Parameterisation;
use crate::playground::diffusion::settings::{page_process, page_processes, DataChoice};
use crate::playground::diffusion::Engine;
use crate::ui::controls::{input, select, Act, Choice};

pub fn view(e: &Engine, act: &Act, canvases: &Canvases) -> Html {
    let s = &e.settings;
    let mut data_choices = Choice::plain(ToyDataset::ALL.iter().map(|d| d.name()));
    data_choices.push(Choice::new("custom", "custom (drawn or uploaded)"));
    let process_choices = Choice::plain(page_processes().iter().map(|p| p.name()));
    let param_choices: Vec<Choice> = if s.process.is_flow() {
        vec![Choice::new("flow", "velocity (flow)")]
    } else {
        vec![
            Choice::new("eps", "eps (noise)"),
            Choice::new("x0", "x0 (data)"),
            Choice::new("score", "score"),
            Choice::new("v", "v"),
        ]
    };
    let activation_choices: Vec<Choice> =
        [("silu", "SiLU"), ("tanh", "tanh"), ("softplus", "softplus"), ("relu", "ReLU")]
            .iter()
            .map(|(v, l)| Choice::new(v, l))
            .collect();
    let on_csv = act.on_file(|engine, name, text| engine.load_csv(name, text));
    let history = &e.session.history;
    let training_label = if e.playing { "Pause" } else { "Train" };
    html! {
        <section class="column left" aria-label="Data and model" data-testid="column-left">
            <h2>{ "Data" }</h2>
            { select(act, "Data set", &data_choices, s.dataset.name(), Some("dataset-select"), |en, v| en.set_dataset(DataChoice::from_name(v)?)) }
            <div class="row">
                { input(act, "Points", "number", s.points.to_string(), Some("50"), Some("points-input"), "how many points to draw from the set", |en, v| en.set_points(v)) }
                { input(act, "Noise", "number", s.noise.to_string(), Some("0.01"), Some("noise-input"), "std of the jitter added to each point", |en, v| en.set_noise(v)) }
                { input(act, "Seed", "number", s.data_seed.to_string(), Some("1"), Some("data-seed-input"), "regenerate the data with another seed", |en, v| en.set_data_seed(v)) }
            </div>
            <label class="field upload">
                <span>{ "Upload CSV (x,y per line)" }</span>
                <input type="file" accept=".csv,text/csv,text/plain" data-testid="csv-upload" aria-label="upload a CSV of points" onchange={on_csv} />
            </label>
            <h2>{ "Model" }</h2>
            <div class="row">
                { select(act, "Process", &process_choices, s.process.name(), Some("process-select"), |en, v| en.set_process(page_process(v)?)) }
                { select(act, "Predicts", &param_choices, s.param.name(), Some("param-select"), |en, v| en.set_param(Parameterisation::from_name(v)?)) }
            </div>
            <div class="row">
                { input(act, "Width", "number", s.width.to_string(), Some("1"), Some("width-input"), &range_hint("hidden units per layer", limits::WIDTH), |en, v| en.set_width(v)) }
                { input(act, "Depth", "number", s.depth.to_string(), Some("1"), Some("depth-input"), &range_hint("hidden layers", limits::DEPTH), |en, v| en.set_depth(v)) }
                { select(act, "Activation", &activation_choices, s.activation.name(), Some("activation-select"), |en, v| en.set_activation(Activation::from_name(v)?)) }
            </div>
            <h2>{ "Training" }</h2>
            <div class="row">
                { input(act, "Learning rate", "text", s.learning_rate.to_string(), None, Some("lr-input"), "Adam's step size; takes effect at once", |en, v| en.set_learning_rate(v)) }
                { input(act, "Batch", "number", s.batch.to_string(), Some("1"), Some("batch-input"), &range_hint("samples per step; takes effect at once", limits::BATCH), |en, v| en.set_batch(v)) }
            </div>
            <div class="buttons">
                <button data-testid="train-toggle" title="Space" onclick={act.on_click(|en| { en.toggle_training(); Ok(()) })}>{ training_label }</button>
                <button data-testid="train-step" title="S" onclick={act.on_click(|en| { en.step_once(); Ok(()) })}>{ "Step" }</button>
                <button data-testid="train-reset" title="fresh weights from the training seed" onclick={act.on_click(|en| { en.reset_training(); Ok(()) })}>{ "Reset" }</button>
            </div>
            <dl class="stats">
                <dt>{ "steps" }</dt><dd data-testid="train-steps-value">{ e.session.steps() }</dd>
                <dt>{ "loss (avg)" }</dt><dd data-testid="loss-value">{ fmt(history.ema, 4) }</dd>
                <dt>{ "steps/s" }</dt><dd data-testid="steps-per-second">{ if e.playing { rate_text(e.session.steps_per_second) } else { "–".into() } }</dd>
                <dt>{ "trains on" }</dt><dd data-testid="train-device">{ if e.gpu_training { "GPU" } else { "CPU" } }</dd>
            </dl>
            <canvas ref={canvases.loss.clone()} class="chart" width="300" height="170" data-testid="loss-chart" aria-label="training loss (grey) and its running average (blue) against the step"></canvas>
            <canvas ref={canvases.loss_by_time.clone()} class="chart" width="300" height="130" data-testid="loss-by-time-chart" aria-label="running loss by diffusion time"></canvas>
            <p class="caption">{ "Loss by diffusion time t (bins of t / t_max)." }</p>
        </section>
    }
}

/// Steps per second: whole numbers, with a decimal below 10 (a software adapter training a
/// large batch takes seconds a step, which must not read as 0).
fn rate_text(rate: Option<f64>) -> String {
    fmt(rate, if rate.is_some_and(|r| r < 10.0) { 1 } else { 0 })
}

/// A number for the page: a dash for nothing or for what is not a number.
pub fn fmt(value: Option<f64>, digits: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "–".into(),
    }
}

/// An input's tooltip with its range, from the bounds the engine checks.
pub fn range_hint(what: &str, bound: limits::Bound<usize>) -> String {
    format!("{what} ({} to {})", bound.min, bound.max)
}
