//! The page's charts, drawn by plotters on canvases: the training loss with its running
//! average, the loss by diffusion time, and sample quality against NFE.

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;

use super::paint::PANEL_COLOURS;
use crate::core::train::session::TIME_BINS;
use crate::playground::diffusion::engine::{Engine, SWEEP_NFES};

type Fallible = Result<(), String>;

pub(crate) fn backend(canvas: &web_sys::HtmlCanvasElement) -> Result<CanvasBackend, String> {
    CanvasBackend::with_canvas_object(canvas.clone()).ok_or_else(|| "the chart canvas has no 2D context".to_string())
}

pub(crate) fn e<T: std::fmt::Display>(error: T) -> String {
    error.to_string()
}

/// A number for a tick label: three significant digits, in plain notation where that reads
/// (0.001 to 9999), else as 1.2e-5.
pub(crate) fn tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if (1e-3..1e4).contains(&a) {
        let digits = (2 - a.log10().floor() as i32).max(0) as usize;
        let text = format!("{v:.digits$}");
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    } else {
        format!("{v:.1e}")
    }
}

/// A log10 axis range around [low, high] at least `min_decades` wide, so that it carries
/// ticks even when the values are close together.
pub(crate) fn log_range(low: f64, high: f64, min_decades: f64) -> std::ops::Range<f64> {
    let (a, b) = (low.log10(), high.log10());
    let pad = ((min_decades - (b - a)) / 2.0).max(0.0) + 0.05 * (b - a);
    (a - pad)..(b + pad)
}

/// Mesh lines light enough to read the data over them.
pub(crate) const GRID: RGBColor = RGBColor(226, 232, 240);

/// Loss (thin) and its running average (thick) against the step, on a log scale.
pub fn loss_chart(canvas: &web_sys::HtmlCanvasElement, engine: &Engine) -> Fallible {
    let root = backend(canvas)?.into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let points = &engine.session.history.points;
    let finite: Vec<&(u64, f64, f64)> = points.iter().filter(|p| p.1.is_finite() && p.1 > 0.0).collect();
    if finite.len() < 2 {
        root.draw(&Text::new("press play or step to train", (10, 20), ("sans-serif", 13).into_font().color(&BLACK)))
            .map_err(e)?;
        return root.present().map_err(e);
    }
    let (first, last) = (finite[0].0 as f64, finite[finite.len() - 1].0 as f64);
    let low = finite.iter().map(|p| p.1.min(p.2)).fold(f64::MAX, f64::min).max(1e-6);
    let high = finite.iter().map(|p| p.1.max(p.2)).fold(0.0, f64::max).max(low * 1.01);
    // The y axis is log10(loss), labelled with the loss itself.
    let mut chart = ChartBuilder::on(&root)
        .margin(6)
        .x_label_area_size(30)
        .y_label_area_size(58)
        .build_cartesian_2d(first..last.max(first + 1.0), log_range(low, high, 0.4))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels(4)
        .y_labels(5)
        .light_line_style(GRID.mix(0.5))
        .bold_line_style(GRID)
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 11))
        .x_desc("training step")
        .y_desc("loss (log scale)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| tick(10f64.powf(*v)))
        .draw()
        .map_err(e)?;
    let grey = RGBColor(148, 163, 184).stroke_width(1);
    chart.draw_series(LineSeries::new(finite.iter().map(|p| (p.0 as f64, p.1.log10())), grey)).map_err(e)?;
    let blue = RGBColor(37, 99, 235).stroke_width(2);
    chart.draw_series(LineSeries::new(finite.iter().map(|p| (p.0 as f64, p.2.log10())), blue)).map_err(e)?;
    root.present().map_err(e)
}

/// The running loss in each tenth of [0, t_max]: where in time the model is still wrong.
pub fn loss_by_time_chart(canvas: &web_sys::HtmlCanvasElement, engine: &Engine) -> Fallible {
    let root = backend(canvas)?.into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let bins = engine.session.history.by_time;
    let high = bins.iter().flatten().copied().filter(|v| v.is_finite()).fold(0.0, f64::max);
    if high <= 0.0 {
        return root.present().map_err(e);
    }
    let mut chart = ChartBuilder::on(&root)
        .margin(6)
        .x_label_area_size(30)
        .y_label_area_size(58)
        .build_cartesian_2d(0.0..1.0f64, 0.0..high * 1.1)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels(3)
        .y_labels(3)
        .light_line_style(GRID.mix(0.5))
        .bold_line_style(GRID)
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 11))
        .x_desc("diffusion time t / t_max")
        .y_desc("mean loss")
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .draw()
        .map_err(e)?;
    let width = 1.0 / TIME_BINS as f64;
    chart
        .draw_series(bins.iter().enumerate().filter_map(|(k, v)| {
            let v = (*v)?;
            let x = k as f64 * width;
            Some(Rectangle::new(
                [(x + 0.1 * width, 0.0), (x + 0.9 * width, v)],
                RGBColor(37, 99, 235).mix(0.7).filled(),
            ))
        }))
        .map_err(e)?;
    root.present().map_err(e)
}

fn hex(colour: &str) -> RGBColor {
    let v = u32::from_str_radix(colour.trim_start_matches('#'), 16).unwrap_or(0);
    RGBColor((v >> 16) as u8, (v >> 8) as u8, v as u8)
}

/// Sliced Wasserstein against NFE, a line per panel's sampler named in the legend (log-log).
pub fn quality_chart(canvas: &web_sys::HtmlCanvasElement, engine: &Engine) -> Fallible {
    let root = backend(canvas)?.into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let done: Vec<(usize, f64, f64)> = engine
        .sweep
        .iter()
        .filter_map(|s| {
            let panel = engine.panels.iter().position(|p| p.settings.sampler == s.sampler)?;
            let q = s.run.quality?;
            (q.swd.is_finite() && q.swd > 0.0).then_some((panel, s.run.nfe(), q.swd))
        })
        .collect();
    if done.is_empty() {
        root.draw(&Text::new(
            "run the samplers to fill this chart",
            (10, 20),
            ("sans-serif", 13).into_font().color(&BLACK),
        ))
        .map_err(e)?;
        return root.present().map_err(e);
    }
    let low = done.iter().map(|d| d.2).fold(f64::MAX, f64::min);
    let high = done.iter().map(|d| d.2).fold(0.0, f64::max);
    let nfe_max = done.iter().map(|d| d.1).fold(SWEEP_NFES[SWEEP_NFES.len() - 1] as f64, f64::max);
    // Both axes in logs: x is log2(NFE), so its ticks fall on the sweep's doublings (4, 8, 16,
    // ...); y is log10(SWD), at least half a decade tall so it always carries labels.
    let x_range = 1.5..(nfe_max * 1.3).log2();
    let mut chart = ChartBuilder::on(&root)
        .margin(6)
        .x_label_area_size(30)
        .y_label_area_size(58)
        .build_cartesian_2d(x_range.clone(), log_range(low, high, 0.5))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels((x_range.end - x_range.start).ceil() as usize + 1)
        .y_labels(5)
        .light_line_style(GRID.mix(0.5))
        .bold_line_style(GRID)
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 11))
        .x_desc("model evaluations per particle (NFE, log scale)")
        .y_desc("SWD to the data (log scale)")
        .x_label_formatter(&|v| tick(2f64.powf(*v).round()))
        .y_label_formatter(&|v| tick(10f64.powf(*v)))
        .draw()
        .map_err(e)?;
    for (panel, settings) in engine.panels.iter().map(|p| &p.settings).enumerate() {
        let colour = hex(PANEL_COLOURS[panel % 4]);
        let mut line: Vec<(f64, f64)> =
            done.iter().filter(|d| d.0 == panel).map(|d| (d.1.log2(), d.2.log10())).collect();
        if line.is_empty() {
            continue;
        }
        line.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(line.clone(), colour.stroke_width(2)))
            .map_err(e)?
            .label(settings.sampler.title)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], colour.stroke_width(2)));
        chart.draw_series(line.into_iter().map(|p| Circle::new(p, 3, colour.filled()))).map_err(e)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(203, 213, 225))
        .label_font(("sans-serif", 11))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}

/// A lab's minibatch loss against the training step on a log scale (the neural ODE and CDE
/// labs' loss charts), or `empty` until there are two finite points.
pub fn step_loss_chart(canvas: &web_sys::HtmlCanvasElement, points: &[(f64, f64)], empty: &str) -> Result<(), String> {
    let root = backend(canvas)?.into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let points: Vec<(f64, f64)> = points.iter().copied().filter(|p| p.1.is_finite() && p.1 > 0.0).collect();
    if points.len() < 2 {
        root.draw(&Text::new(empty, (10, 20), ("sans-serif", 13).into_font().color(&BLACK))).map_err(e)?;
        return root.present().map_err(e);
    }
    let (first, last) = (points[0].0, points[points.len() - 1].0);
    let low = points.iter().map(|p| p.1).fold(f64::MAX, f64::min).max(1e-9);
    let high = points.iter().map(|p| p.1).fold(0.0, f64::max).max(low * 1.01);
    let mut chart = ChartBuilder::on(&root)
        .margin(6)
        .x_label_area_size(30)
        .y_label_area_size(58)
        .build_cartesian_2d(first..last.max(first + 1.0), log_range(low, high, 0.4))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels(4)
        .y_labels(5)
        .light_line_style(GRID.mix(0.5))
        .bold_line_style(GRID)
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 11))
        .x_desc("training step")
        .y_desc("minibatch loss (log)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| tick(10f64.powf(*v)))
        .draw()
        .map_err(e)?;
    let blue = RGBColor(37, 99, 235).stroke_width(2);
    chart.draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.1.log10())), blue)).map_err(e)?;
    root.present().map_err(e)
}
