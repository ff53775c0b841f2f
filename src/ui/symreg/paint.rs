//! Painting the symbolic regression lab: the phase portrait over the residual map, each
//! output's Pareto front, and the population strip coloured by age.

use plotters::prelude::*;
use web_sys::CanvasRenderingContext2d as Context;

use crate::playground::symreg::lab::{SymregLab, RESIDUAL_CELLS};
use crate::ui::diffusion::charts::{backend, e, tick, GRID};
use crate::ui::node::paint::{arrows, dot, path, View};

const DATA_COLOUR: &str = "#94a3b8";
const REFERENCE_COLOUR: &str = "#60a5fa";
const EXPR_COLOUR: &str = "#ea580c";
/// Where an expression is undefined (a division by zero).
const UNDEFINED_COLOUR: &str = "#334155";
/// Losses are drawn at no less than this (exact fits have loss 0).
const LOSS_FLOOR: f64 = 1e-16;

/// The residual map's colour scale: log10 of the residual from 1e-4 of the reference
/// field's largest speed (white) to that speed (red), so that the map whitens as the
/// expressions approach the field.
pub fn residual_scale(field_scale: f64) -> Option<(f64, f64)> {
    (field_scale.is_finite() && field_scale > 0.0).then(|| (field_scale * 1e-4, field_scale))
}

fn residual_colour(r: f64, (low, high): (f64, f64)) -> String {
    if !r.is_finite() {
        return UNDEFINED_COLOUR.into();
    }
    let t = ((r.max(low).log10() - low.log10()) / (high.log10() - low.log10()).max(1e-12)).clamp(0.0, 1.0);
    // White to #f87171.
    let mix = |a: f64, b: f64| (a + t * (b - a)).round() as u8;
    format!("rgb({},{},{})", mix(255.0, 248.0), mix(255.0, 113.0), mix(255.0, 113.0))
}

pub fn paint_portrait(ctx: &Context, width: f64, height: f64, lab: &SymregLab) {
    let p = &lab.portrait;
    let view = View { bounds: p.bounds, width, height };
    ctx.set_fill_style_str("#ffffff");
    ctx.fill_rect(0.0, 0.0, width, height);
    if let Some(scale) = residual_scale(p.field_scale) {
        let n = RESIDUAL_CELLS;
        let (cw, ch) = (width / n as f64, height / n as f64);
        for (k, r) in p.residual.iter().enumerate() {
            ctx.set_fill_style_str(&residual_colour(*r, scale));
            // Row 0 is the bottom of the box.
            ctx.fill_rect((k % n) as f64 * cw, height - ((k / n) + 1) as f64 * ch, cw + 0.5, ch + 0.5);
        }
    } else if p.residual.iter().any(|r| r.is_nan()) {
        ctx.set_fill_style_str(UNDEFINED_COLOUR);
        ctx.fill_rect(0.0, 0.0, width, height);
    }
    ctx.set_global_alpha(0.8);
    for series in &p.data {
        path(ctx, &view, series, DATA_COLOUR, 1.2);
    }
    ctx.set_global_alpha(0.5);
    for y in &p.points {
        dot(ctx, &view, *y, "#475569", 1.5);
    }
    ctx.set_global_alpha(1.0);
    arrows(ctx, &view, &p.reference_field, REFERENCE_COLOUR, 2.2);
    arrows(ctx, &view, &p.expr_field, EXPR_COLOUR, 1.3);
}

/// One output's front: complexity against log10 loss, the selected member ringed.
pub fn front_chart(canvas: &web_sys::HtmlCanvasElement, lab: &SymregLab, output: usize) -> Result<(), String> {
    let root = backend(canvas)?.into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let search = &lab.outputs[output];
    let points: Vec<(f64, f64)> = search
        .front
        .iter()
        .filter(|f| f.loss.is_finite())
        .map(|f| (f.complexity as f64, f.loss.max(LOSS_FLOOR).log10()))
        .collect();
    if points.is_empty() {
        return root.present().map_err(e);
    }
    let (low, high) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let pad = ((1.0 - (high - low)) / 2.0).max(0.0) + 0.1;
    let maxsize = lab.settings.maxsize as f64;
    let mut chart = ChartBuilder::on(&root)
        .margin(6)
        .x_label_area_size(28)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..maxsize + 1.0, (low - pad)..(high + pad))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels(6)
        .y_labels(4)
        .light_line_style(GRID.mix(0.5))
        .bold_line_style(GRID)
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 11))
        .x_desc("complexity")
        .y_desc("loss")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| tick(10f64.powf(*v)))
        .draw()
        .map_err(e)?;
    let colour = RGBColor(37, 99, 235);
    chart.draw_series(LineSeries::new(points.iter().copied(), colour.mix(0.5))).map_err(e)?;
    chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, colour.filled()))).map_err(e)?;
    if let Some(s) = search.selected().filter(|s| s.loss.is_finite()) {
        let at = (s.complexity as f64, s.loss.max(LOSS_FLOOR).log10());
        chart.draw_series([Circle::new(at, 7, RGBColor(234, 88, 12).stroke_width(2))]).map_err(e)?;
    }
    root.present().map_err(e)
}

/// Every member of every population as a cell coloured by age (newborn yellow, oldest
/// violet), one row per population, both outputs: age-regularised replacement shows as the
/// cells that turn yellow.
pub fn paint_strip(ctx: &Context, width: f64, height: f64, lab: &SymregLab) {
    ctx.set_fill_style_str("#ffffff");
    ctx.fill_rect(0.0, 0.0, width, height);
    let rows: usize = lab.outputs.iter().map(|o| o.search.populations.len()).sum::<usize>() + lab.outputs.len() - 1;
    let row_height = height / rows.max(1) as f64;
    let mut row = 0;
    for search in &lab.outputs {
        let oldest = search
            .search
            .populations
            .iter()
            .flat_map(|p| (0..p.members.len()).map(move |i| p.age(i)))
            .max()
            .unwrap_or(1)
            .max(1);
        for pop in &search.search.populations {
            let n = pop.members.len().max(1);
            let cell = width / n as f64;
            for i in 0..pop.members.len() {
                let t = (pop.age(i) as f64 / oldest as f64).sqrt();
                // #facc15 (newborn) to #4c1d95 (oldest).
                let mix = |a: f64, b: f64| (a + t * (b - a)).round() as u8;
                ctx.set_fill_style_str(&format!("rgb({},{},{})", mix(250.0, 76.0), mix(204.0, 29.0), mix(21.0, 149.0)));
                ctx.fill_rect(i as f64 * cell, row as f64 * row_height, cell - 1.0, row_height - 1.0);
            }
            row += 1;
        }
        row += 1;
    }
}
