//! The lab's canvases and their painting after a render: the main view and the panels when
//! what they show changed, and at most one chart per frame (each costs several milliseconds).

use yew::prelude::*;

use super::samplers_column::gpu_drawn;
use super::{charts, paint};
use crate::playground::diffusion::settings::MAX_PANELS;
use crate::playground::diffusion::Engine;
use crate::ui::browser;
use crate::ui::controls::Act;
use crate::ui::frame_loop::report_frame_work;
use crate::ui::gpu_runner::{GpuRunner, RunnerRef};

/// The loss charts repaint at most this often while training runs.
const CHART_INTERVAL_MS: f64 = 100.0;

type ChartPainter = fn(&web_sys::HtmlCanvasElement, &Engine) -> Result<(), String>;

#[derive(PartialEq)]
pub struct Canvases {
    pub main: NodeRef,
    pub loss: NodeRef,
    pub loss_by_time: NodeRef,
    pub quality: NodeRef,
    pub panels: Vec<NodeRef>,
    /// The WebGPU canvases over the panels whose particles the GPU draws.
    pub panels_gpu: Vec<NodeRef>,
}

impl Default for Canvases {
    fn default() -> Self {
        Canvases {
            main: NodeRef::default(),
            loss: NodeRef::default(),
            loss_by_time: NodeRef::default(),
            quality: NodeRef::default(),
            panels: (0..MAX_PANELS).map(|_| NodeRef::default()).collect(),
            panels_gpu: (0..MAX_PANELS).map(|_| NodeRef::default()).collect(),
        }
    }
}

/// What was painted last: the view revision, and per chart the data key it was painted with.
pub struct PaintState {
    view: u64,
    last_chart_paint: f64,
    last_chart: usize,
    charts: [Option<(u64, u64)>; 3],
}

impl Default for PaintState {
    fn default() -> Self {
        PaintState { view: u64::MAX, last_chart_paint: f64::NEG_INFINITY, last_chart: 2, charts: [None; 3] }
    }
}

fn context(node: &NodeRef) -> Option<(web_sys::CanvasRenderingContext2d, f64, f64)> {
    let canvas = node.cast::<web_sys::HtmlCanvasElement>()?;
    let ctx = browser::context_2d(&canvas)?;
    Some((ctx, f64::from(canvas.width()), f64::from(canvas.height())))
}

/// Draws the panels whose particles stayed on the GPU from the GPU's buffers (the frame at
/// the scrubber), and lets go of the runs no panel shows; returns what failed.
fn paint_gpu_panels(engine: &Engine, canvases: &Canvases, runner: &GpuRunner) -> Vec<String> {
    let shown: Vec<u64> = engine.panels.iter().filter_map(|p| p.run.as_ref()?.external).collect();
    runner.resident.borrow_mut().retain(&shown);
    let mut failures = Vec::new();
    for (index, panel) in engine.panels.iter().enumerate() {
        let Some(run) = panel.run.as_ref().filter(|r| gpu_drawn(r)) else { continue };
        let (Some(id), Some(canvas)) = (run.external, canvases.panels_gpu[index].cast::<web_sys::HtmlCanvasElement>())
        else {
            continue;
        };
        let [r, g, b] = paint::rgb(paint::PANEL_COLOURS[index % paint::PANEL_COLOURS.len()]);
        let colour = [f32::from(r) / 255.0, f32::from(g) / 255.0, f32::from(b) / 255.0, 0.6];
        if let Err(e) = runner.draw_resident(id, &canvas, run.step_at(engine.settings.scrub).0, colour) {
            failures.push(format!("{}: drawing its particles on the GPU failed ({e})", run.plan.sampler));
        }
    }
    failures
}

pub fn paint_after_render(act: &Act, canvases: &Canvases, state: &mut PaintState, runner: &RunnerRef) {
    let engine = act.engine.borrow();
    if state.view != engine.status.view_revision {
        state.view = engine.status.view_revision;
        if let Some((ctx, w, h)) = context(&canvases.main) {
            paint::paint_main(&ctx, w, h, &engine);
        }
        for (index, node) in canvases.panels.iter().enumerate().take(engine.panels.len()) {
            if let Some((ctx, w, h)) = context(node) {
                paint::paint_panel(&ctx, w, h, &engine, index);
            }
        }
        let runner = runner.0.borrow().clone();
        let failures = runner.map(|r| paint_gpu_panels(&engine, canvases, &r)).unwrap_or_default();
        if !failures.is_empty() {
            drop(engine);
            let mut engine = act.engine.borrow_mut();
            for failure in failures {
                engine.report(failure);
            }
            drop(engine);
            act.update.force_update();
            return;
        }
    }
    let now = browser::now_ms();
    let keys = [
        (engine.session.steps(), engine.session.history.points.len() as u64),
        (engine.session.steps(), 0),
        // The quality chart changes when a sweep point finishes or the sweep starts over, not
        // with every repaint of the running panels (each repaint of it costs milliseconds).
        (engine.sweep_signature(), engine.sweep.iter().filter(|s| s.run.quality.is_some()).count() as u64),
    ];
    if now - state.last_chart_paint > CHART_INTERVAL_MS || !engine.playing {
        let stale = (0..3).map(|k| (state.last_chart + 1 + k) % 3).find(|k| state.charts[*k] != Some(keys[*k]));
        if let Some(k) = stale {
            state.last_chart = k;
            state.charts[k] = Some(keys[k]);
            state.last_chart_paint = now;
            let (node, draw): (&NodeRef, ChartPainter) = match k {
                0 => (&canvases.loss, charts::loss_chart),
                1 => (&canvases.loss_by_time, charts::loss_by_time_chart),
                _ => (&canvases.quality, charts::quality_chart),
            };
            if let Some(canvas) = node.cast::<web_sys::HtmlCanvasElement>() {
                if let Err(e) = draw(&canvas, &engine) {
                    web_sys::console::warn_1(&format!("chart: {e}").into());
                }
            }
            // Another chart may still be stale: come back next frame.
            if (0..3).any(|j| state.charts[j] != Some(keys[j])) {
                act.update.force_update();
            }
        }
    }
    report_frame_work();
}
