//! Painting the ODICE lab: each rule's V map with the wall, the goal, the data's transitions
//! and its rollouts (green from in-distribution starts, orange from out-of-distribution ones,
//! black from a clicked start), and the gradient charts (|g_f|, |g_b| and their cosine over
//! training, one colour per rule).

use plotters::prelude::*;
use wasm_bindgen::Clamped;
use web_sys::CanvasRenderingContext2d as Context;

use crate::core::odice::nav::{self, Rollout};
use crate::playground::odice::lab::{OdiceLab, GRID};
use crate::ui::diffusion::charts::{backend, e, log_range, tick, GRID as MESH};

/// One colour per rule, in `UpdateRule::ALL`'s order (semi, true, orthogonal).
pub const RULE_COLOURS: [RGBColor; 3] = [RGBColor(37, 99, 235), RGBColor(220, 38, 38), RGBColor(22, 163, 74)];
/// Transitions drawn as faint segments.
const DRAWN_TRANSITIONS: usize = 900;
/// Points per gradient curve.
const CURVE_POINTS: usize = 300;

fn px(p: [f64; 2], width: f64, height: f64) -> (f64, f64) {
    (p[0] * width, (1.0 - p[1]) * height)
}

/// Pixels to the square's coordinates (for clicks).
pub fn to_square(x: f64, y: f64, width: f64, height: f64) -> [f64; 2] {
    [x / width, 1.0 - y / height]
}

fn path(ctx: &Context, run: &Rollout, width: f64, height: f64, colour: &str, line: f64) {
    ctx.set_stroke_style_str(colour);
    ctx.set_line_width(line);
    ctx.begin_path();
    for (k, p) in run.path.iter().enumerate() {
        let (x, y) = px(*p, width, height);
        if k == 0 {
            ctx.move_to(x, y);
        } else {
            ctx.line_to(x, y);
        }
    }
    ctx.stroke();
    let (x, y) = px(run.path[0], width, height);
    ctx.set_fill_style_str(colour);
    ctx.begin_path();
    let _ = ctx.arc(x, y, 2.5, 0.0, std::f64::consts::TAU);
    ctx.fill();
}

/// Rule `k`'s map: V shaded from its least (dark) to its greatest (light) value, since each
/// rule's V has its own scale (the true gradient's is a dual variable, not a return).
pub fn paint_map(ctx: &Context, width: f64, height: f64, lab: &OdiceLab, k: usize) {
    // The cells go into one image (a fill per cell cost several milliseconds a map).
    let (w, h) = (width as usize, height as usize);
    let mut pixels = vec![255u8; w * h * 4];
    let map = &lab.maps[k];
    if map.len() == GRID * GRID {
        let (low, high) = map.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
        let span = (high - low).max(1e-12);
        for row in 0..h {
            // Pixel rows run from the top; map rows from the bottom.
            let j = ((h - 1 - row) * GRID / h).min(GRID - 1);
            for col in 0..w {
                let i = (col * GRID / w).min(GRID - 1);
                let t = ((map[j * GRID + i] - low) / span).clamp(0.0, 1.0);
                // Dark violet (low) to pale yellow (high).
                let mix = |a: f64, b: f64| (a + t * (b - a)).round() as u8;
                let at = (row * w + col) * 4;
                pixels[at..at + 3].copy_from_slice(&[mix(49.0, 254.0), mix(27.0, 240.0), mix(94.0, 190.0)]);
            }
        }
    }
    if let Ok(image) = web_sys::ImageData::new_with_u8_clamped_array_and_sh(Clamped(&pixels), w as u32, h as u32) {
        let _ = ctx.put_image_data(&image, 0.0, 0.0);
    }
    // The data's transitions, faint.
    ctx.set_stroke_style_str("rgba(255,255,255,0.28)");
    ctx.set_line_width(1.0);
    ctx.begin_path();
    let every = (lab.data.len() / DRAWN_TRANSITIONS).max(1);
    for t in lab.data.iter().step_by(every) {
        let (a, b) = (px(t.s, width, height), px(t.next, width, height));
        ctx.move_to(a.0, a.1);
        ctx.line_to(b.0, b.1);
    }
    ctx.stroke();
    // The wall and the goal.
    ctx.set_stroke_style_str("#f8fafc");
    ctx.set_line_width(4.0);
    ctx.begin_path();
    let (wx, wy0) = px([nav::WALL_X, 0.0], width, height);
    let (_, wy1) = px([nav::WALL_X, nav::WALL_TOP], width, height);
    ctx.move_to(wx, wy0);
    ctx.line_to(wx, wy1);
    ctx.stroke();
    let (gx, gy) = px(nav::GOAL, width, height);
    ctx.set_stroke_style_str("#facc15");
    ctx.set_line_width(2.5);
    ctx.begin_path();
    let _ = ctx.arc(gx, gy, nav::GOAL_RADIUS * width, 0.0, std::f64::consts::TAU);
    ctx.stroke();
    let (runs_in, runs_ood) = &lab.shown[k];
    for run in runs_in {
        path(ctx, run, width, height, "#22c55e", 1.4);
    }
    for run in runs_ood {
        path(ctx, run, width, height, "#fb923c", 1.4);
    }
    if let Some((_, runs)) = &lab.clicked {
        path(ctx, &runs[k], width, height, "#0f172a", 2.6);
    }
}

/// A thinned curve of one figure of rule `k`'s history.
fn curve(
    lab: &OdiceLab,
    k: usize,
    figure: impl Fn(&crate::core::odice::learner::StepFigures) -> f64,
) -> Vec<(f64, f64)> {
    let history = &lab.learners[k].history;
    let every = (history.len() / CURVE_POINTS).max(1);
    history.iter().step_by(every).map(|f| (f.step as f64, figure(f))).filter(|p| p.1.is_finite()).collect()
}

fn empty(
    root: &DrawingArea<plotters_canvas::CanvasBackend, plotters::coord::Shift>,
    lab: &OdiceLab,
) -> Result<(), String> {
    let text = if lab.pretrained { "shipped fit: Fresh weights, then Train, to see the curves" } else { "press Train" };
    root.draw(&Text::new(text, (10, 20), ("sans-serif", 13).into_font().color(&BLACK))).map_err(e)?;
    root.present().map_err(e)
}

/// |g_f| (solid) and |g_b| (dashed as thinner) per rule, log scale.
pub fn norms_chart(canvas: &web_sys::HtmlCanvasElement, lab: &OdiceLab) -> Result<(), String> {
    let root = backend(canvas)?.into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let curves: Vec<(usize, bool, Vec<(f64, f64)>)> = (0..lab.learners.len())
        .flat_map(|k| {
            [
                (k, true, curve(lab, k, |f| f.norm_forward).into_iter().filter(|p| p.1 > 0.0).collect()),
                (k, false, curve(lab, k, |f| f.norm_backward).into_iter().filter(|p| p.1 > 0.0).collect()),
            ]
        })
        .collect();
    let values = curves.iter().flat_map(|c| c.2.iter());
    let (low, high, last) =
        values.fold((f64::INFINITY, f64::NEG_INFINITY, 1.0f64), |(a, b, l), p| (a.min(p.1), b.max(p.1), l.max(p.0)));
    if !low.is_finite() {
        return empty(&root, lab);
    }
    let mut chart = ChartBuilder::on(&root)
        .margin(6)
        .x_label_area_size(28)
        .y_label_area_size(52)
        .build_cartesian_2d(0.0..last, log_range(low.max(1e-12), high, 0.3))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels(4)
        .y_labels(4)
        .light_line_style(MESH.mix(0.5))
        .bold_line_style(MESH)
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 11))
        .x_desc("training step")
        .y_desc("|g_f| thick, |g_b| thin")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| tick(10f64.powf(*v)))
        .draw()
        .map_err(e)?;
    for (k, forward, points) in curves {
        let style = RULE_COLOURS[k].mix(if forward { 1.0 } else { 0.6 }).stroke_width(if forward { 2 } else { 1 });
        chart.draw_series(LineSeries::new(points.into_iter().map(|p| (p.0, p.1.log10())), style)).map_err(e)?;
    }
    root.present().map_err(e)
}

/// cos(g_f, g_b) per rule.
pub fn cosine_chart(canvas: &web_sys::HtmlCanvasElement, lab: &OdiceLab) -> Result<(), String> {
    let root = backend(canvas)?.into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let curves: Vec<Vec<(f64, f64)>> = (0..lab.learners.len()).map(|k| curve(lab, k, |f| f.cos_fb)).collect();
    let last = curves.iter().flatten().map(|p| p.0).fold(0.0f64, f64::max);
    if curves.iter().all(Vec::is_empty) {
        return empty(&root, lab);
    }
    let mut chart = ChartBuilder::on(&root)
        .margin(6)
        .x_label_area_size(28)
        .y_label_area_size(52)
        .build_cartesian_2d(0.0..last.max(1.0), -1.05..1.05)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels(4)
        .y_labels(5)
        .light_line_style(MESH.mix(0.5))
        .bold_line_style(MESH)
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 11))
        .x_desc("training step")
        .y_desc("cos(g_f, g_b)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(e)?;
    for (k, points) in curves.into_iter().enumerate() {
        let colour = RULE_COLOURS[k];
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(e)?
            .label(crate::core::odice::objective::UpdateRule::ALL[k].name())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(MESH)
        .label_font(("sans-serif", 11))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}
