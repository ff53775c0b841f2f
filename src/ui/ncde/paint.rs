//! Painting the neural CDE lab: the shown series (observed points filled, dropped ones hollow,
//! the linear path grey and the Hermite path coloured by the model's answer so far), the
//! answer p(label 1) against time, and the loss chart.

use plotters::prelude::*;
use web_sys::CanvasRenderingContext2d as Context;

use crate::playground::ncde::NcdeLab;
use crate::ui::diffusion::charts::{backend, e, step_loss_chart, GRID};

/// Blue (label 0) to red (label 1) for a probability of label 1.
fn answer_colour(p: f64) -> String {
    let p = p.clamp(0.0, 1.0);
    let (r, g, b) = (37.0 + p * (220.0 - 37.0), 99.0 + p * (38.0 - 99.0), 235.0 + p * (38.0 - 235.0));
    format!("rgb({:.0},{:.0},{:.0})", r, g, b)
}

pub fn paint_series(ctx: &Context, width: f64, height: f64, lab: &NcdeLab) {
    ctx.set_fill_style_str("#ffffff");
    ctx.fill_rect(0.0, 0.0, width, height);
    let view = &lab.view;
    let extent =
        view.points.iter().flat_map(|p| [p.xy[0].abs(), p.xy[1].abs()]).filter(|v| v.is_finite()).fold(0.1, f64::max)
            * 1.1;
    let px = |xy: [f64; 2]| ((xy[0] / extent + 1.0) * 0.5 * width, (1.0 - xy[1] / extent) * 0.5 * height);
    // The linear path, thin grey.
    ctx.set_stroke_style_str("#94a3b8");
    ctx.set_line_width(1.0);
    ctx.begin_path();
    for (k, xy) in view.linear.iter().enumerate() {
        let (x, y) = px(*xy);
        if k == 0 {
            ctx.move_to(x, y);
        } else {
            ctx.line_to(x, y);
        }
    }
    ctx.stroke();
    // The Hermite path, each piece in the colour of the answer at its start.
    ctx.set_line_width(2.5);
    let pieces = view.probability.len().saturating_sub(1).max(1);
    let per_piece = (view.hermite.len().saturating_sub(1) / pieces).max(1);
    for (i, piece) in view.hermite.windows(2).enumerate() {
        let answer = view.probability.get(i / per_piece).map_or(0.5, |(_, p)| *p);
        ctx.set_stroke_style_str(&answer_colour(answer));
        ctx.begin_path();
        let (a, b) = (px(piece[0]), px(piece[1]));
        ctx.move_to(a.0, a.1);
        ctx.line_to(b.0, b.1);
        ctx.stroke();
    }
    // The grid's points: observed filled, dropped hollow.
    ctx.set_line_width(1.2);
    for p in &view.points {
        let (x, y) = px(p.xy);
        ctx.begin_path();
        let _ = ctx.arc(x, y, 3.0, 0.0, std::f64::consts::TAU);
        if p.observed {
            ctx.set_fill_style_str("#0f172a");
            ctx.fill();
        } else {
            ctx.set_stroke_style_str("#0f172a");
            ctx.stroke();
        }
    }
}

/// p(label 1 | the path so far) against time, with the true label as a dashed line.
pub fn answer_chart(canvas: &web_sys::HtmlCanvasElement, lab: &NcdeLab) -> Result<(), String> {
    let root = backend(canvas)?.into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let points = &lab.view.probability;
    let t_max = points.last().map_or(1.0, |p| p.0).max(1e-9);
    let mut chart = ChartBuilder::on(&root)
        .margin(6)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(0.0..t_max, 0.0..1.0)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels(5)
        .y_labels(3)
        .light_line_style(GRID.mix(0.5))
        .bold_line_style(GRID)
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 11))
        .x_desc("t")
        .y_desc("p(label 1)")
        .draw()
        .map_err(e)?;
    let truth = if lab.view.label { 1.0 } else { 0.0 };
    chart.draw_series(DashedLineSeries::new([(0.0, truth), (t_max, truth)], 4, 4, BLACK.stroke_width(1))).map_err(e)?;
    let red = RGBColor(220, 38, 38).stroke_width(2);
    chart.draw_series(LineSeries::new(points.iter().copied().filter(|p| p.1.is_finite()), red)).map_err(e)?;
    root.present().map_err(e)
}

pub fn loss_chart(canvas: &web_sys::HtmlCanvasElement, lab: &NcdeLab) -> Result<(), String> {
    let points: Vec<(f64, f64)> = lab.losses.iter().map(|p| (p.0 as f64, p.1)).collect();
    step_loss_chart(canvas, &points, "press Train")
}

/// The hidden state's components z_i(t) as small multiples (each on its own scale), with the
/// observation times along the x axis.
pub fn paint_hidden(ctx: &Context, width: f64, height: f64, lab: &NcdeLab) {
    ctx.set_fill_style_str("#ffffff");
    ctx.fill_rect(0.0, 0.0, width, height);
    let hidden = &lab.view.hidden;
    let Some((_, first)) = hidden.first() else { return };
    let h = first.len();
    let columns = 4usize.min(h.max(1));
    let rows = h.div_ceil(columns);
    let (cw, ch) = (width / columns as f64, height / rows as f64);
    let t_max = hidden.last().map_or(1.0, |p| p.0).max(1e-9);
    ctx.set_font("10px sans-serif");
    for i in 0..h {
        let (x0, y0) = ((i % columns) as f64 * cw, (i / columns) as f64 * ch);
        let values = hidden.iter().map(|(_, z)| z[i]).filter(|v| v.is_finite());
        let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
        let span = (hi - lo).max(1e-9);
        ctx.set_stroke_style_str("#e2e8f0");
        ctx.stroke_rect(x0 + 2.0, y0 + 2.0, cw - 4.0, ch - 4.0);
        ctx.set_fill_style_str("#64748b");
        let _ = ctx.fill_text(&format!("z{}", i + 1), x0 + 5.0, y0 + 12.0);
        ctx.set_stroke_style_str("#7c3aed");
        ctx.set_line_width(1.5);
        ctx.begin_path();
        for (k, (t, z)) in hidden.iter().enumerate() {
            let x = x0 + 4.0 + t / t_max * (cw - 8.0);
            let y = y0 + ch - 4.0 - (z[i] - lo) / span * (ch - 18.0);
            if k == 0 {
                ctx.move_to(x, y);
            } else {
                ctx.line_to(x, y);
            }
        }
        ctx.stroke();
    }
}

/// Test accuracy against the drop rate, a line per interpolation, as the sweep's runs finish.
pub fn sweep_chart(canvas: &web_sys::HtmlCanvasElement, lab: &NcdeLab) -> Result<(), String> {
    use crate::core::path::Interpolation;
    let root = backend(canvas)?.into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let Some(sweep) = &lab.sweep else {
        root.draw(&Text::new("press Run the sweep", (10, 20), ("sans-serif", 13).into_font().color(&BLACK)))
            .map_err(e)?;
        return root.present().map_err(e);
    };
    let mut chart = ChartBuilder::on(&root)
        .margin(6)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(0.0..0.95, 0.4..1.02)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels(5)
        .y_labels(4)
        .light_line_style(GRID.mix(0.5))
        .bold_line_style(GRID)
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 11))
        .x_desc("drop rate")
        .y_desc("test accuracy")
        .draw()
        .map_err(e)?;
    for (interpolation, colour) in
        [(Interpolation::Linear, RGBColor(100, 116, 139)), (Interpolation::Hermite, RGBColor(37, 99, 235))]
    {
        let points: Vec<(f64, f64)> =
            sweep.points.iter().filter(|p| p.interpolation == interpolation).map(|p| (p.drop, p.accuracy)).collect();
        chart
            .draw_series(LineSeries::new(points.iter().copied(), colour.stroke_width(2)))
            .map_err(e)?
            .label(interpolation.name())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], colour.stroke_width(2)));
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, colour.filled()))).map_err(e)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .label_font(("sans-serif", 11))
        .border_style(GRID)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}
