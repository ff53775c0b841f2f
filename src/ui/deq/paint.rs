//! Painting the deep equilibrium lab: the plane (class probability or the forward's
//! iterations per point, test points on top, the clicked point), a clicked point's residual
//! curves per solver and its iterates' path, and the loss chart.

use plotters::prelude::*;
use web_sys::CanvasRenderingContext2d as Context;

use crate::playground::deq::lab::{DeqLab, BOUNDS, DRAWN_POINTS, GRID};
use crate::ui::diffusion::charts::{backend, e, log_range, step_loss_chart, tick, GRID as MESH};

/// One colour per root finder, in `SolverKind::ALL`'s order.
pub const SOLVER_COLOURS: [RGBColor; 4] =
    [RGBColor(100, 116, 139), RGBColor(37, 99, 235), RGBColor(22, 163, 74), RGBColor(217, 119, 6)];

fn px(p: [f64; 2], width: f64, height: f64) -> (f64, f64) {
    let b = BOUNDS;
    ((p[0] - b[0]) / (b[1] - b[0]) * width, (b[3] - p[1]) / (b[3] - b[2]) * height)
}

/// Pixels to the plane's coordinates (for clicks).
pub fn to_plane(x: f64, y: f64, width: f64, height: f64) -> [f64; 2] {
    let b = BOUNDS;
    [b[0] + x / width * (b[1] - b[0]), b[3] - y / height * (b[3] - b[2])]
}

pub fn paint_plane(ctx: &Context, width: f64, height: f64, lab: &DeqLab) {
    ctx.set_fill_style_str("#ffffff");
    ctx.fill_rect(0.0, 0.0, width, height);
    let map = &lab.map;
    let (cw, ch) = (width / GRID as f64, height / GRID as f64);
    let most = lab.settings.max_iterations.max(1) as f64;
    for k in 0..map.probability.len().min(map.iterations.len()) {
        let colour = if lab.settings.iterations_view {
            // White (none) to violet (the limit).
            let t = (map.iterations[k] / most).clamp(0.0, 1.0).sqrt();
            let mix = |a: f64, b: f64| (a + t * (b - a)).round() as u8;
            format!("rgb({},{},{})", mix(255.0, 76.0), mix(255.0, 29.0), mix(255.0, 149.0))
        } else {
            // Blue (class 0) through white to red (class 1).
            let p = map.probability[k].clamp(0.0, 1.0);
            let (r, g, b) = if p < 0.5 {
                (255.0 - 2.0 * (0.5 - p) * 160.0, 255.0 - 2.0 * (0.5 - p) * 100.0, 255.0)
            } else {
                (255.0, 255.0 - 2.0 * (p - 0.5) * 140.0, 255.0 - 2.0 * (p - 0.5) * 140.0)
            };
            format!("rgb({},{},{})", r.round() as u8, g.round() as u8, b.round() as u8)
        };
        ctx.set_fill_style_str(&colour);
        ctx.fill_rect((k % GRID) as f64 * cw, height - ((k / GRID) + 1) as f64 * ch, cw + 0.5, ch + 0.5);
    }
    // The inputs begin with x itself (Fourier features follow).
    for (input, label) in lab.fit.test.iter().take(DRAWN_POINTS) {
        let (x, y) = px([input[0], input[1]], width, height);
        ctx.set_fill_style_str(if *label == 1 { "#b91c1c" } else { "#1d4ed8" });
        ctx.begin_path();
        let _ = ctx.arc(x, y, 2.2, 0.0, std::f64::consts::TAU);
        ctx.fill();
    }
    if let Some(c) = &lab.clicked {
        let (x, y) = px(c.x, width, height);
        ctx.set_stroke_style_str("#0f172a");
        ctx.set_line_width(2.0);
        ctx.begin_path();
        let _ = ctx.arc(x, y, 7.0, 0.0, std::f64::consts::TAU);
        ctx.stroke();
    }
}

/// The clicked point's relative residual per iteration, one line per solver, log scale.
pub fn residual_chart(canvas: &web_sys::HtmlCanvasElement, lab: &DeqLab) -> Result<(), String> {
    let root = backend(canvas)?.into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let Some(c) = &lab.clicked else {
        root.draw(&Text::new("click the plane", (10, 20), ("sans-serif", 13).into_font().color(&BLACK))).map_err(e)?;
        return root.present().map_err(e);
    };
    let values = c.curves.iter().flat_map(|(_, r)| r.iter().copied()).filter(|v| v.is_finite() && *v > 0.0);
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !low.is_finite() {
        return root.present().map_err(e);
    }
    let longest = c.curves.iter().map(|(_, r)| r.len()).max().unwrap_or(1).max(2) as f64;
    let mut chart = ChartBuilder::on(&root)
        .margin(6)
        .x_label_area_size(28)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..longest, log_range(low.max(1e-16), high, 2.0))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels(6)
        .y_labels(4)
        .light_line_style(MESH.mix(0.5))
        .bold_line_style(MESH)
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 11))
        .x_desc("iteration (ODE: unit-time chunk)")
        .y_desc("|f(z) − z| / |f(z)|")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| tick(10f64.powf(*v)))
        .draw()
        .map_err(e)?;
    for (k, (solver, r)) in c.curves.iter().enumerate() {
        let colour = SOLVER_COLOURS[k % 4];
        let points: Vec<(f64, f64)> = r
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite() && **v > 0.0)
            .map(|(i, v)| (i as f64, v.max(1e-16).log10()))
            .collect();
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(e)?
            .label(solver.name())
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

/// Plain iteration's iterates from z = 0, on their two principal components.
pub fn paint_path(ctx: &Context, width: f64, height: f64, lab: &DeqLab) {
    ctx.set_fill_style_str("#ffffff");
    ctx.fill_rect(0.0, 0.0, width, height);
    let Some(c) = &lab.clicked else { return };
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in &c.path {
        for k in 0..2 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    let span = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1e-9) * 1.15;
    let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    let to = |p: [f64; 2]| {
        (width / 2.0 + (p[0] - centre[0]) / span * width, height / 2.0 - (p[1] - centre[1]) / span * height)
    };
    ctx.set_stroke_style_str("#64748b");
    ctx.set_line_width(1.2);
    ctx.begin_path();
    for (k, p) in c.path.iter().enumerate() {
        let (x, y) = to(*p);
        if k == 0 {
            ctx.move_to(x, y);
        } else {
            ctx.line_to(x, y);
        }
    }
    ctx.stroke();
    for (k, p) in c.path.iter().enumerate() {
        let (x, y) = to(*p);
        let last = k + 1 == c.path.len();
        ctx.set_fill_style_str(if k == 0 {
            "#0f172a"
        } else if last {
            "#dc2626"
        } else {
            "#2563eb"
        });
        ctx.begin_path();
        let _ = ctx.arc(x, y, if k == 0 || last { 4.0 } else { 2.0 }, 0.0, std::f64::consts::TAU);
        ctx.fill();
    }
}

pub fn loss_chart(canvas: &web_sys::HtmlCanvasElement, lab: &DeqLab) -> Result<(), String> {
    let points: Vec<(f64, f64)> = lab.fit.losses.iter().enumerate().map(|(k, l)| ((k + 1) as f64, *l)).collect();
    let empty = if lab.pretrained { "shipped fit: Fresh weights, then Train" } else { "press Train" };
    step_loss_chart(canvas, &points, empty)
}
