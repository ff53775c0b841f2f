//! Painting the neural ODE lab: the phase portrait (both fields as arrows, data paths in
//! grey, the model's in colour, clicked starts, positions at the scrubber's time), the
//! hybrid view (the learned term against the missing one) and the loss chart.

use plotters::prelude::*;
use web_sys::CanvasRenderingContext2d as Context;

use crate::playground::node::lab::{grid_point, NodeLab, ARROWS};
use crate::ui::diffusion::charts::{backend, e, step_loss_chart, tick, GRID};
use crate::ui::diffusion::paint::arrow_to;

const TRUE_COLOUR: &str = "#94a3b8";
const MODEL_COLOUR: &str = "#2563eb";
const CLICK_COLOUR: &str = "#dc2626";
const CLOUD_COLOUR: &str = "#7c3aed";

/// Data coordinates of the portrait's bounds to pixels.
pub struct View {
    pub bounds: [f64; 4],
    pub width: f64,
    pub height: f64,
}

impl View {
    pub fn px(&self, p: [f64; 2]) -> (f64, f64) {
        let b = &self.bounds;
        ((p[0] - b[0]) / (b[1] - b[0]) * self.width, (b[3] - p[1]) / (b[3] - b[2]) * self.height)
    }

    /// Pixels to data coordinates (for clicks).
    pub fn data(&self, x: f64, y: f64) -> [f64; 2] {
        let b = &self.bounds;
        [b[0] + x / self.width * (b[1] - b[0]), b[3] - y / self.height * (b[3] - b[2])]
    }
}

pub(crate) fn path(ctx: &Context, view: &View, points: &[[f64; 2]], colour: &str, width: f64) {
    ctx.set_stroke_style_str(colour);
    ctx.set_line_width(width);
    ctx.begin_path();
    for (k, p) in points.iter().enumerate() {
        let (x, y) = view.px(*p);
        if k == 0 {
            ctx.move_to(x, y);
        } else {
            ctx.line_to(x, y);
        }
    }
    ctx.stroke();
}

pub(crate) fn dot(ctx: &Context, view: &View, p: [f64; 2], colour: &str, radius: f64) {
    let (x, y) = view.px(p);
    ctx.set_fill_style_str(colour);
    ctx.begin_path();
    let _ = ctx.arc(x, y, radius, 0.0, std::f64::consts::TAU);
    ctx.fill();
}

/// The cloud of flowed starts at the scrubber's time: a faint square per start (10^4 on a
/// GPU), so that where the learned flow gathers or spreads them shows as density.
fn cloud(ctx: &Context, view: &View, lab: &NodeLab) {
    let Some(cloud) = &lab.cloud.shown else { return };
    ctx.set_fill_style_str(CLOUD_COLOUR);
    ctx.set_global_alpha(0.55);
    for y in cloud.frame_at(lab.settings.scrub) {
        if !(y[0].is_finite() && y[1].is_finite()) {
            continue;
        }
        let (x, y) = view.px([f64::from(y[0]), f64::from(y[1])]);
        if (0.0..=view.width).contains(&x) && (0.0..=view.height).contains(&y) {
            ctx.fill_rect(x - 1.0, y - 1.0, 2.0, 2.0);
        }
    }
    ctx.set_global_alpha(1.0);
}

pub(crate) fn arrows(ctx: &Context, view: &View, vectors: &[[f64; 2]], colour: &str, width: f64) {
    let b = &view.bounds;
    let cell = [(b[1] - b[0]) / ARROWS as f64, (b[3] - b[2]) / ARROWS as f64];
    // Scaled in units of a cell per axis, so that arrows read on a non-square box; the
    // longest spans 90% of a cell.
    let longest =
        vectors.iter().map(|v| (v[0] / cell[0]).hypot(v[1] / cell[1])).filter(|v| v.is_finite()).fold(1e-9, f64::max);
    ctx.set_stroke_style_str(colour);
    ctx.set_line_width(width);
    ctx.begin_path();
    for (k, v) in vectors.iter().enumerate().filter(|(_, v)| v[0].is_finite() && v[1].is_finite()) {
        let base = grid_point(b, k % ARROWS, k / ARROWS);
        let tip = [base[0] + 0.9 * v[0] / longest, base[1] + 0.9 * v[1] / longest];
        arrow_to(ctx, view.px(base), view.px(tip));
    }
    ctx.stroke();
}

pub fn paint_portrait(ctx: &Context, width: f64, height: f64, lab: &NodeLab) {
    let p = &lab.portrait;
    let view = View { bounds: p.bounds, width, height };
    ctx.set_fill_style_str("#ffffff");
    ctx.fill_rect(0.0, 0.0, width, height);
    arrows(ctx, &view, &p.true_field, "#cbd5e1", 2.0);
    arrows(ctx, &view, &p.learned_field, "#93c5fd", 1.2);
    if lab.settings.cloud {
        cloud(ctx, &view, lab);
    }
    let at = lab.scrub_index();
    ctx.set_global_alpha(0.9);
    for path_points in &p.data {
        path(ctx, &view, path_points, TRUE_COLOUR, 1.5);
    }
    for path_points in &p.model {
        path(ctx, &view, path_points, MODEL_COLOUR, 1.2);
    }
    for (truth, model) in &p.clicked {
        path(ctx, &view, truth, "#0f172a", 2.0);
        path(ctx, &view, model, CLICK_COLOUR, 2.0);
    }
    ctx.set_global_alpha(1.0);
    // Where every path is at the scrubber's time.
    for series in &p.data {
        if let Some(y) = series.get(at) {
            dot(ctx, &view, *y, "#475569", 3.0);
        }
    }
    for series in &p.model {
        if let Some(y) = series.get(at) {
            dot(ctx, &view, *y, MODEL_COLOUR, 3.0);
        }
    }
    for (truth, model) in &p.clicked {
        if let Some(start) = truth.first() {
            dot(ctx, &view, *start, "#0f172a", 5.0);
        }
        for (series, colour) in [(truth, "#0f172a"), (model, CLICK_COLOUR)] {
            if let Some(y) = series.get(at) {
                dot(ctx, &view, *y, colour, 4.0);
            }
        }
    }
}

/// The hybrid view: for each drawn data point, the learned term against the missing term
/// (both components); on the diagonal where the network learned the missing physics.
pub fn residual_chart(canvas: &web_sys::HtmlCanvasElement, lab: &NodeLab) -> Result<(), String> {
    let root = backend(canvas)?.into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let pairs = &lab.portrait.residual;
    if pairs.is_empty() {
        return root.present().map_err(e);
    }
    let values = pairs.iter().flat_map(|(m, l)| [m[0], m[1], l[0], l[1]]).filter(|v| v.is_finite());
    let extent = values.fold(1e-3, |a: f64, v| a.max(v.abs())) * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .margin(6)
        .x_label_area_size(30)
        .y_label_area_size(48)
        .build_cartesian_2d(-extent..extent, -extent..extent)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels(3)
        .y_labels(3)
        .light_line_style(GRID.mix(0.5))
        .bold_line_style(GRID)
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 11))
        .x_desc("missing term (true)")
        .y_desc("learned term")
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .draw()
        .map_err(e)?;
    chart.draw_series(LineSeries::new([(-extent, -extent), (extent, extent)], RGBColor(148, 163, 184))).map_err(e)?;
    for (component, colour) in [(0, RGBColor(37, 99, 235)), (1, RGBColor(220, 38, 38))] {
        chart
            .draw_series(
                pairs
                    .iter()
                    .filter(|(m, l)| m[component].is_finite() && l[component].is_finite())
                    .map(|(m, l)| Circle::new((m[component], l[component]), 2, colour.mix(0.6).filled())),
            )
            .map_err(e)?;
    }
    root.present().map_err(e)
}

/// The minibatch loss against the step, on a log scale.
pub fn loss_chart(canvas: &web_sys::HtmlCanvasElement, lab: &NodeLab) -> Result<(), String> {
    let points: Vec<(f64, f64)> = lab.losses.iter().map(|p| (p.step as f64, p.loss)).collect();
    let empty =
        if lab.pretrained { "shipped fit: Train goes on, Fresh weights starts over" } else { "press Train or Step" };
    step_loss_chart(canvas, &points, empty)
}
