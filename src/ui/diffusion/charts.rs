//! The page's charts, drawn by plotters on canvases: the training loss with its running
//! average, the loss by diffusion time, and sample quality against NFE.

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;

use super::paint::PANEL_COLOURS;
use crate::core::train::session::TIME_BINS;
use crate::playground::diffusion::engine::{Engine, SWEEP_NFES};

type Fallible = Result<(), String>;

fn backend(canvas: &web_sys::HtmlCanvasElement) -> Result<CanvasBackend, String> {
    CanvasBackend::with_canvas_object(canvas.clone()).ok_or_else(|| "the chart canvas has no 2D context".to_string())
}

fn e<T: std::fmt::Display>(error: T) -> String {
    error.to_string()
}

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
    let mut chart = ChartBuilder::on(&root)
        .margin(6)
        .x_label_area_size(30)
        .y_label_area_size(52)
        .build_cartesian_2d(first..last.max(first + 1.0), (low * 0.9..high * 1.1).log_scale())
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels(4)
        .y_labels(4)
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 11))
        .x_desc("training step")
        .y_desc("loss (log scale)")
        .y_label_formatter(&|v| format!("{v:.2e}"))
        .draw()
        .map_err(e)?;
    chart
        .draw_series(LineSeries::new(finite.iter().map(|p| (p.0 as f64, p.1)), RGBColor(148, 163, 184).stroke_width(1)))
        .map_err(e)?;
    chart
        .draw_series(LineSeries::new(finite.iter().map(|p| (p.0 as f64, p.2)), RGBColor(37, 99, 235).stroke_width(2)))
        .map_err(e)?;
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
        .y_label_area_size(52)
        .build_cartesian_2d(0.0..1.0f64, 0.0..high * 1.1)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels(3)
        .y_labels(3)
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 11))
        .x_desc("diffusion time t / t_max")
        .y_desc("mean loss")
        .y_label_formatter(&|v| format!("{v:.2}"))
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

/// Sliced Wasserstein against NFE, a line per panel's sampler (log-log).
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
    let mut chart = ChartBuilder::on(&root)
        .margin(6)
        .x_label_area_size(30)
        .y_label_area_size(52)
        .build_cartesian_2d((2.0..nfe_max * 1.3).log_scale(), (low * 0.8..high * 1.25).log_scale())
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels(5)
        .y_labels(4)
        .label_style(("sans-serif", 11))
        .axis_desc_style(("sans-serif", 11))
        .x_desc("model evaluations per particle (NFE, log)")
        .y_desc("SWD to the data (log)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.3}"))
        .draw()
        .map_err(e)?;
    for (panel, settings) in engine.panels.iter().map(|p| &p.settings).enumerate() {
        let colour = hex(PANEL_COLOURS[panel % 4]);
        let mut line: Vec<(f64, f64)> = done.iter().filter(|d| d.0 == panel).map(|d| (d.1, d.2)).collect();
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
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(203, 213, 225))
        .label_font(("sans-serif", 11))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}
