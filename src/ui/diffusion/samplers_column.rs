//! The right column: the sampler panels (each with its own colour, sampler menu, NFE and
//! canvas), the metrics table and the quality-versus-NFE chart.

use yew::prelude::*;

use super::canvases::Canvases;
use super::data_column::{fmt, range_hint};
use super::paint::PANEL_COLOURS;
use crate::core::limits;
use crate::core::sample::registry::{self, Family, ModelCaps};
use crate::playground::diffusion::comparison::PanelRun;
use crate::playground::diffusion::settings::MAX_PANELS;
use crate::playground::diffusion::Engine;
use crate::ui::browser;
use crate::ui::controls::{input, input_with_id, select, Act, Choice};

const PANEL_SIZE: u32 = 200;

/// Every unconditional sampler of the registry, those that do not run here disabled with the
/// registry's reason as their tooltip (the mean-reverting ones belong to another process
/// the page does not train, so they are left out).
fn sampler_choices(e: &Engine) -> Vec<Choice> {
    let caps = ModelCaps::network(e.settings.param);
    registry::REGISTRY
        .iter()
        .filter(|s| s.family != Family::MeanReverting)
        .map(|s| Choice {
            value: s.name.to_string(),
            label: s.title.to_string(),
            refused: s.supports(&e.settings.process, &caps).err().map(|r| r.reason.to_string()),
        })
        .collect()
}

/// Whether a panel's particles are drawn by the GPU from its own buffer: its run stayed on the
/// GPU and is finished.
pub(super) fn gpu_drawn(run: &PanelRun) -> bool {
    run.resident && !run.is_waiting() && run.error.is_none()
}

/// f32 always; f16 where the page offered it (the adapter's `shader-f16` and the op-major
/// path's checks on this device), else disabled with the reason.
fn precision_choices(e: &Engine) -> Vec<Choice> {
    let mut f16 = Choice::new("f16", "f16 (op-major)");
    if !e.gpu_f16 {
        f16.refused = Some(
            "f16 needs a GPU whose adapter offers shader-f16 and whose op-major path passed the page's checks".into(),
        );
    }
    vec![Choice::new("f32", "f32"), f16]
}

pub fn view(e: &Engine, act: &Act, canvases: &Canvases) -> Html {
    let s = &e.settings;
    let choices = sampler_choices(e);
    let max_steps = e.panels.iter().filter_map(|p| p.run.as_ref()).map(|r| r.step_at(1.0).1).max().unwrap_or(0);
    html! {
        <section class="column right" aria-label="Samplers and metrics" data-testid="column-right">
            <h2>{ "Samplers" }</h2>
            <div class="buttons">
                <button data-testid="run-samplers" title="R" onclick={act.on_click(|en| { en.run_samplers(); Ok(()) })}>{ "Run samplers" }</button>
                <button data-testid="add-sampler" disabled={e.panels.len() >= MAX_PANELS} onclick={act.on_click(|en| en.add_panel())}>{ "Add sampler" }</button>
                { input(act, "Particles", "number", s.particles.to_string(), Some("100"), Some("particles-input"), &format!("{}; above {} only where the GPU samples", range_hint("particles per panel", limits::PAGE_PARTICLES), limits::PAGE_CPU_PARTICLES), |en, v| en.set_particles(v)) }
                { select(act, "GPU precision", &precision_choices(e), s.gpu_precision.name(), Some("gpu-precision"), |en, v| en.set_gpu_precision(v)) }
            </div>
            <div class="panels">
                { for e.panels.iter().enumerate().map(|(index, panel)| {
                    let run = panel.run.as_ref();
                    let (step, steps) = run.map_or((0, 0), |r| r.step_at(s.scrub));
                    let status = match run {
                        None => "not run".to_string(),
                        Some(r) if r.error.is_some() => "failed".to_string(),
                        Some(r) if r.is_waiting() => format!("running · {}", r.executor_label()),
                        Some(r) if !r.is_done() => format!("running {:.0}%", r.progress() * 100.0),
                        Some(r) if gpu_drawn(r) => format!(
                            "step {step}/{steps} · {} · {} particles drawn on the GPU, metrics on {}",
                            r.executor_label(),
                            r.particles,
                            r.host_particles()
                        ),
                        Some(r) => format!("step {step}/{steps} · {}", r.executor_label()),
                    };
                    let drawn_on_gpu = run.is_some_and(gpu_drawn);
                    let colour = PANEL_COLOURS[index % PANEL_COLOURS.len()];
                    html! {
                        <div class="panel" data-testid="sampler-panel" style={format!("border-color: {colour}")}
                            data-executor={run.map_or("none", |r| r.executor.key())}
                            data-gpu-path={run.and_then(|r| r.gpu_path).unwrap_or("none")}
                            data-particles-drawn={if drawn_on_gpu { "webgpu" } else { "canvas2d" }}>
                            <div class="row">
                                { select(act, "Sampler", &choices, panel.settings.sampler.name, Some("sampler-select"), move |en, v| en.set_panel_sampler(index, registry::find(v)?)) }
                                { input_with_id(act, &format!("nfe-{index}"), "NFE", "number", panel.settings.nfe.to_string(), Some("1"), Some("nfe-input"), &range_hint("model evaluations per particle", limits::PAGE_NFE), move |en, v| en.set_panel_nfe(index, v)) }
                                <button class="remove" aria-label="remove this panel" onclick={act.on_click(move |en| { en.remove_panel(index); Ok(()) })}>{ "×" }</button>
                            </div>
                            <div class="panel-view">
                                <canvas ref={canvases.panels[index].clone()} width={PANEL_SIZE.to_string()} height={PANEL_SIZE.to_string()}
                                    aria-label="this sampler's particles at the scrubber's step"></canvas>
                                if drawn_on_gpu {
                                    <canvas ref={canvases.panels_gpu[index].clone()} class="gpu-particles" data-testid="panel-gpu-canvas"
                                        width={PANEL_SIZE.to_string()} height={PANEL_SIZE.to_string()}
                                        aria-label="every particle at the scrubber's step, drawn by the GPU from its own buffer"></canvas>
                                }
                            </div>
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
                            <tr style={format!("color: {}", PANEL_COLOURS[index % PANEL_COLOURS.len()])}>
                                <td title={panel.settings.sampler.summary}>{ panel.settings.sampler.title }</td>
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
            <canvas ref={canvases.quality.clone()} class="chart" width="340" height="230" data-testid="quality-chart" aria-label="sliced Wasserstein distance against NFE for each panel's sampler, log-log"></canvas>
            <p class="caption">{ "Quality against NFE (300 particles per point, same noise), both axes logarithmic." }</p>
        </section>
    }
}
