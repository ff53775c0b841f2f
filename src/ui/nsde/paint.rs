//! Painting the neural SDE lab: the fan chart (data paths grey with dropped values hollow,
//! model paths coloured), the learned drift as arrows, the marginal histograms over the exact
//! densities, the ELBO terms over training, and the Brownian panel.

use plotters::prelude::*;
use web_sys::CanvasRenderingContext2d as Context;

use crate::playground::nsde::lab::SHOWN_PATHS;
use crate::playground::nsde::NsdeLab;
use crate::ui::diffusion::charts::{backend, e, GRID};

const MODEL: &str = "rgba(37,99,235,0.55)";
const DATA: &str = "rgba(100,116,139,0.45)";
/// The highlighted pair: data path 0 and model path 0, driven by one Brownian motion.
const PAIR_DATA: &str = "#111827";
const PAIR_MODEL: &str = "#1d4ed8";

/// The value range shown: the data's 1st to 99th percentiles, widened.
fn value_range(lab: &NsdeLab) -> (f64, f64) {
    let mut all: Vec<f64> = lab.data.paths.iter().flatten().copied().filter(|v| v.is_finite()).collect();
    if all.is_empty() {
        return (-1.0, 1.0);
    }
    all.sort_by(f64::total_cmp);
    let (lo, hi) = (all[all.len() / 100], all[all.len() * 99 / 100]);
    let pad = 0.25 * (hi - lo).max(1e-3);
    (lo - pad, hi + pad)
}

struct Frame {
    width: f64,
    height: f64,
    t0: f64,
    t1: f64,
    lo: f64,
    hi: f64,
}

impl Frame {
    const MARGIN: f64 = 28.0;
    fn px(&self, t: f64, x: f64) -> (f64, f64) {
        let m = Self::MARGIN;
        let u = (t - self.t0) / (self.t1 - self.t0).max(1e-12);
        let v = (x - self.lo) / (self.hi - self.lo).max(1e-12);
        (m + u * (self.width - 2.0 * m), self.height - m - v * (self.height - 2.0 * m))
    }
}

fn clear(ctx: &Context, width: f64, height: f64) {
    ctx.set_fill_style_str("#ffffff");
    ctx.fill_rect(0.0, 0.0, width, height);
}

fn axes(ctx: &Context, f: &Frame, label: &str) {
    ctx.set_stroke_style_str("#cbd5e1");
    ctx.set_line_width(1.0);
    ctx.stroke_rect(Frame::MARGIN, Frame::MARGIN, f.width - 2.0 * Frame::MARGIN, f.height - 2.0 * Frame::MARGIN);
    ctx.set_fill_style_str("#334155");
    ctx.set_font("11px sans-serif");
    let _ = ctx.fill_text(&format!("{:.2}", f.hi), 2.0, Frame::MARGIN + 4.0);
    let _ = ctx.fill_text(&format!("{:.2}", f.lo), 2.0, f.height - Frame::MARGIN);
    let _ = ctx.fill_text(&format!("t = {:.3}", f.t0), Frame::MARGIN, f.height - 8.0);
    let _ = ctx.fill_text(&format!("{:.3}", f.t1), f.width - Frame::MARGIN - 24.0, f.height - 8.0);
    let _ = ctx.fill_text(label, Frame::MARGIN + 4.0, Frame::MARGIN - 8.0);
}

fn polyline(ctx: &Context, f: &Frame, times: &[f64], xs: &[f64]) {
    ctx.begin_path();
    let mut pen_down = false;
    for (t, x) in times.iter().zip(xs) {
        if !x.is_finite() {
            continue;
        }
        let (px, py) = f.px(*t, x.clamp(f.lo - 10.0 * (f.hi - f.lo), f.hi + 10.0 * (f.hi - f.lo)));
        if pen_down {
            ctx.line_to(px, py);
        } else {
            ctx.move_to(px, py);
            pen_down = true;
        }
    }
    ctx.stroke();
}

fn frame_of(lab: &NsdeLab, width: f64, height: f64) -> Frame {
    let times = &lab.fit.train.times;
    let (lo, hi) = value_range(lab);
    Frame { width, height, t0: times[0], t1: *times.last().unwrap_or(&1.0), lo, hi }
}

/// Data paths grey (observed values filled, dropped ones hollow), model paths blue.
pub fn paint_fan(ctx: &Context, width: f64, height: f64, lab: &NsdeLab) {
    clear(ctx, width, height);
    let f = frame_of(lab, width, height);
    let times = &lab.fit.train.times;
    ctx.set_line_width(1.0);
    ctx.set_stroke_style_str(DATA);
    for path in &lab.data.paths {
        polyline(ctx, &f, times, path);
    }
    // The marks as two paths (observed filled, dropped hollow): one fill and one stroke
    // instead of one per mark (2000 canvas calls took several milliseconds in wasm).
    let (filled, hollow) = (web_sys::Path2d::new(), web_sys::Path2d::new());
    if let (Ok(filled), Ok(hollow)) = (filled, hollow) {
        for (path, seen) in lab.data.paths.iter().zip(&lab.data.observed) {
            for ((t, x), observed) in times.iter().zip(path).zip(seen) {
                if !x.is_finite() {
                    continue;
                }
                let (px, py) = f.px(*t, *x);
                let marks = if *observed { &filled } else { &hollow };
                marks.move_to(px + 1.8, py);
                let _ = marks.arc(px, py, 1.8, 0.0, std::f64::consts::TAU);
            }
        }
        ctx.set_fill_style_str("rgba(71,85,105,0.7)");
        ctx.fill_with_path_2d(&filled);
        ctx.set_stroke_style_str("rgba(71,85,105,0.9)");
        ctx.stroke_with_path(&hollow);
    }
    if let Some((e, _)) = &lab.evaluation {
        ctx.set_stroke_style_str(MODEL);
        ctx.set_line_width(1.2);
        for path in e.model_paths.iter().take(SHOWN_PATHS) {
            polyline(ctx, &f, times, path);
        }
        // One pair drawn strong, so that a path can be followed against its partner.
        if lab.data.paired {
            if let (Some(data), Some(model)) = (lab.data.paths.first(), e.model_paths.first()) {
                ctx.set_line_width(2.2);
                ctx.set_stroke_style_str(PAIR_DATA);
                polyline(ctx, &f, times, data);
                ctx.set_stroke_style_str(PAIR_MODEL);
                polyline(ctx, &f, times, model);
            }
        }
    }
    axes(ctx, &f, "x(t): data grey (hollow = dropped), model blue");
}

/// The decoded prior drift at points of model paths, as short arrows.
pub fn paint_arrows(ctx: &Context, width: f64, height: f64, lab: &NsdeLab) {
    clear(ctx, width, height);
    let f = frame_of(lab, width, height);
    let times = &lab.fit.train.times;
    if let Some((e, _)) = &lab.evaluation {
        ctx.set_stroke_style_str("rgba(148,163,184,0.5)");
        ctx.set_line_width(1.0);
        for path in e.model_paths.iter().take(crate::playground::nsde::lab::ARROW_PATHS) {
            polyline(ctx, &f, times, path);
        }
    }
    let span = f.t1 - f.t0;
    let dt = span / 30.0;
    ctx.set_stroke_style_str("#dc2626");
    ctx.set_line_width(1.4);
    for a in &lab.arrows {
        let (x0, y0) = f.px(a.t, a.x);
        let (x1, y1) = f.px(a.t + dt, a.x + a.slope * dt);
        ctx.begin_path();
        ctx.move_to(x0, y0);
        ctx.line_to(x1, y1);
        ctx.stroke();
        // The head: a dot at the arrow's end.
        ctx.begin_path();
        let _ = ctx.arc(x1, y1, 1.6, 0.0, std::f64::consts::TAU);
        ctx.set_fill_style_str("#dc2626");
        ctx.fill();
    }
    axes(ctx, &f, "learned drift L h(z) along model paths");
}

/// One marginal: the model's histogram (blue), the data's (grey outline), the exact density
/// (black curve).
pub fn paint_marginal(ctx: &Context, width: f64, height: f64, lab: &NsdeLab, k: usize) {
    clear(ctx, width, height);
    let Some((e, _)) = &lab.evaluation else { return };
    let Some(m) = e.marginals.get(k) else { return };
    let (lo, hi) = value_range(lab);
    let bins = 24;
    let bin = (hi - lo) / bins as f64;
    let histogram = |paths: &[Vec<f64>]| {
        let mut counts = vec![0.0; bins];
        for p in paths {
            let v = p[m.index];
            if v.is_finite() && v >= lo && v < hi {
                counts[((v - lo) / bin) as usize] += 1.0;
            }
        }
        counts.iter().map(|c| c / (paths.len() as f64 * bin)).collect::<Vec<f64>>()
    };
    let (model, data) = (histogram(&e.model_paths), histogram(&e.data_paths));
    let density: Vec<f64> =
        (0..=100).map(|i| lab.fit.config.data.density(m.t, lo + (hi - lo) * i as f64 / 100.0)).collect();
    let top = model.iter().chain(&data).chain(&density).copied().filter(|v| v.is_finite()).fold(1e-9, f64::max) * 1.1;
    let (w, h) = (width, height - 14.0);
    let py = |d: f64| h - d / top * (h - 4.0);
    for (i, d) in model.iter().enumerate() {
        ctx.set_fill_style_str("rgba(37,99,235,0.45)");
        ctx.fill_rect(i as f64 * w / bins as f64, py(*d), w / bins as f64 - 1.0, h - py(*d));
    }
    ctx.set_stroke_style_str("rgba(71,85,105,0.9)");
    ctx.set_line_width(1.0);
    ctx.begin_path();
    for (i, d) in data.iter().enumerate() {
        let (x0, x1) = (i as f64 * w / bins as f64, (i + 1) as f64 * w / bins as f64);
        if i == 0 {
            ctx.move_to(x0, py(*d));
        } else {
            ctx.line_to(x0, py(*d));
        }
        ctx.line_to(x1, py(*d));
    }
    ctx.stroke();
    ctx.set_stroke_style_str("#0f172a");
    ctx.set_line_width(1.6);
    ctx.begin_path();
    for (i, d) in density.iter().enumerate() {
        let (x, y) = (w * i as f64 / 100.0, py(*d));
        if i == 0 {
            ctx.move_to(x, y);
        } else {
            ctx.line_to(x, y);
        }
    }
    ctx.stroke();
    ctx.set_fill_style_str("#334155");
    ctx.set_font("11px sans-serif");
    let _ = ctx.fill_text(&format!("t = {:.2}  W1 {:.3}", m.t, m.w1), 4.0, height - 2.0);
}

/// The ELBO, the log-likelihood and the two KL terms per step (linear scales: the
/// log-likelihood of a 0.05-noise decoder is positive once the fit is good).
pub fn elbo_chart(canvas: &web_sys::HtmlCanvasElement, lab: &NsdeLab) -> Result<(), String> {
    if let Some(gan) = &lab.gan {
        return gap_chart(canvas, &gan.history);
    }
    let root = backend(canvas)?.into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let h = &lab.fit.history;
    if h.len() < 2 {
        let text = if lab.pretrained { "the shipped model was trained in the CLI" } else { "press Train" };
        root.draw(&Text::new(text, (10, 20), ("sans-serif", 12).into_font().color(&BLACK))).map_err(e)?;
        return root.present().map_err(e);
    }
    // Smoothed over 10 steps; the first steps' huge likelihood terms are clipped from the scale.
    let smooth = |f: &dyn Fn(&crate::core::nsde::latent::ElboTerms) -> f64| -> Vec<(f64, f64)> {
        (0..h.len())
            .map(|i| {
                let w = &h[i.saturating_sub(9)..=i];
                (h[i].step as f64, w.iter().map(|r| f(&r.terms)).sum::<f64>() / w.len() as f64)
            })
            .collect()
    };
    let elbo = smooth(&|t| t.elbo());
    let kl = smooth(&|t| t.kl0 + t.kl_path);
    let tail = &elbo[elbo.len() / 5..];
    let low = tail.iter().map(|p| p.1).fold(f64::MAX, f64::min).min(0.0);
    let high = tail.iter().chain(&kl[kl.len() / 5..]).map(|p| p.1).fold(f64::MIN, f64::max);
    let (first, last) = (elbo[0].0, elbo[elbo.len() - 1].0);
    let mut chart = ChartBuilder::on(&root)
        .margin(6)
        .x_label_area_size(28)
        .y_label_area_size(48)
        .build_cartesian_2d(first..last.max(first + 1.0), low..high.max(low + 1.0))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels(4)
        .y_labels(5)
        .light_line_style(GRID.mix(0.5))
        .bold_line_style(GRID)
        .label_style(("sans-serif", 11))
        .x_desc("training step")
        .draw()
        .map_err(e)?;
    chart
        .draw_series(LineSeries::new(elbo, BLUE.stroke_width(2)))
        .map_err(e)?
        .label("ELBO")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(kl, RED.stroke_width(1)))
        .map_err(e)?
        .label("KL (z0 + path)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], RED.stroke_width(1)));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(GRID)
        .label_font(("sans-serif", 11))
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}

/// One Brownian path on three grids: dt (thick), dt/2, dt/4 (thin), overlaid.
pub fn paint_brownian(ctx: &Context, width: f64, height: f64, lab: &NsdeLab) {
    clear(ctx, width, height);
    let Some(panel) = &lab.brownian else { return };
    let values = panel.grids.iter().flatten().map(|p| p.1);
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let fine = &panel.grids[2];
    let f = Frame { width, height, t0: fine[0].0, t1: fine[fine.len() - 1].0, lo: lo - 0.1, hi: hi + 0.1 };
    for (grid, (colour, line)) in panel.grids.iter().zip([("#0f172a", 3.0), ("#2563eb", 1.6), ("#f59e0b", 1.0)]).rev() {
        ctx.set_stroke_style_str(colour);
        ctx.set_line_width(line);
        let (times, xs): (Vec<f64>, Vec<f64>) = grid.iter().copied().unzip();
        polyline(ctx, &f, &times, &xs);
    }
    axes(ctx, &f, "W(t) at dt (black), dt/2 (blue), dt/4 (orange)");
}

/// The SDE-GAN's E D(fake) - E D(real) per step.
fn gap_chart(canvas: &web_sys::HtmlCanvasElement, history: &[(usize, f64)]) -> Result<(), String> {
    let root = backend(canvas)?.into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    if history.len() < 2 {
        root.draw(&Text::new("press Train", (10, 20), ("sans-serif", 12).into_font().color(&BLACK))).map_err(e)?;
        return root.present().map_err(e);
    }
    let points: Vec<(f64, f64)> = history.iter().map(|(s, v)| (*s as f64, *v)).collect();
    let low = points.iter().map(|p| p.1).fold(f64::MAX, f64::min);
    let high = points.iter().map(|p| p.1).fold(f64::MIN, f64::max).max(low + 1e-6);
    let (first, last) = (points[0].0, points[points.len() - 1].0);
    let mut chart = ChartBuilder::on(&root)
        .margin(6)
        .x_label_area_size(28)
        .y_label_area_size(52)
        .build_cartesian_2d(first..last.max(first + 1.0), low..high)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels(4)
        .y_labels(5)
        .light_line_style(GRID.mix(0.5))
        .bold_line_style(GRID)
        .label_style(("sans-serif", 11))
        .x_desc("training step")
        .draw()
        .map_err(e)?;
    chart.draw_series(LineSeries::new(points, BLUE.stroke_width(1))).map_err(e)?;
    root.present().map_err(e)
}
