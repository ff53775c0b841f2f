//! Painting the controllable-generation lab: the plane (the data's density, or the
//! restoration posterior's, shaded; the observed line; each method's samples and a few paths in
//! its colour; the clean point, its degraded copy, the posterior's modes and each sampler's
//! MMSE estimate) and the histogram of the free coordinate per method over the exact
//! conditional density.

use wasm_bindgen::Clamped;
use web_sys::CanvasRenderingContext2d as Context;

use crate::playground::inverse::lab::{InverseLab, Run};
use crate::playground::inverse::settings::Task;

/// Half the side of the plane shown, in data units.
pub const EXTENT: f64 = 3.5;
/// One colour per run, in the lab's order (methods: replacement, exact, likelihood, DPS;
/// restoration: mr-em, mrs-ode, mrs-ode-noise, mrs-sde).
pub const RUN_COLOURS: [&str; 4] = ["#ea580c", "#16a34a", "#2563eb", "#9333ea"];
/// Traced paths drawn per run.
pub const DRAWN_PATHS: usize = 2;
/// Cells per side of the shaded density.
const SHADE: usize = 100;
/// Bins of the free coordinate's histograms.
const BINS: usize = 48;
/// The histogram's range of the free coordinate.
const FREE_RANGE: f64 = 4.0;

fn px(p: [f64; 2], w: f64, h: f64) -> (f64, f64) {
    ((p[0] + EXTENT) / (2.0 * EXTENT) * w, (EXTENT - p[1]) / (2.0 * EXTENT) * h)
}

/// Canvas pixels to the plane's coordinates (for the pointer).
pub fn to_plane(x: f64, y: f64, w: f64, h: f64) -> [f64; 2] {
    [x / w * 2.0 * EXTENT - EXTENT, EXTENT - y / h * 2.0 * EXTENT]
}

/// The shaded density's pixels, kept until the lab restarts (a new scene) or the canvas
/// changes size: shading takes 10^4 log-densities and a pixel fill, too much to redo on every
/// frame a run advances. The pixels stay in Rust: an `ImageData` made from them is only a view
/// of the wasm memory, which later allocations reuse, so it is made afresh for each paint.
#[derive(Default)]
pub struct ShadeCache {
    key: Option<(u64, usize, usize)>,
    pixels: Vec<u8>,
}

fn shade(ctx: &Context, w: f64, h: f64, cache: &mut ShadeCache, scene: u64, log_density: impl Fn([f64; 2]) -> f64) {
    let (wi, hi) = (w as usize, h as usize);
    let key = Some((scene, wi, hi));
    if cache.key != key {
        cache.pixels = shade_pixels(wi, hi, log_density);
        cache.key = key;
    }
    ctx.set_fill_style_str("#ffffff");
    ctx.fill_rect(0.0, 0.0, w, h);
    if let Ok(image) =
        web_sys::ImageData::new_with_u8_clamped_array_and_sh(Clamped(&cache.pixels), wi as u32, hi as u32)
    {
        let _ = ctx.put_image_data(&image, 0.0, 0.0);
    }
}

fn shade_pixels(wi: usize, hi: usize, log_density: impl Fn([f64; 2]) -> f64) -> Vec<u8> {
    let logs: Vec<f64> = (0..SHADE * SHADE)
        .map(|c| {
            let (i, j) = (c % SHADE, c / SHADE);
            let x = [
                -EXTENT + (i as f64 + 0.5) / SHADE as f64 * 2.0 * EXTENT,
                EXTENT - (j as f64 + 0.5) / SHADE as f64 * 2.0 * EXTENT,
            ];
            log_density(x)
        })
        .collect();
    let top = logs.iter().copied().filter(|v| v.is_finite()).fold(f64::NEG_INFINITY, f64::max);
    let mut pixels = vec![255u8; wi * hi * 4];
    for row in 0..hi {
        for col in 0..wi {
            let c = (row * SHADE / hi) * SHADE + col * SHADE / wi;
            let v = (logs[c] - top).exp();
            let v = if v.is_finite() { v.sqrt() } else { 0.0 };
            let k = 4 * (row * wi + col);
            pixels[k] = (255.0 - 110.0 * v) as u8;
            pixels[k + 1] = (255.0 - 80.0 * v) as u8;
            pixels[k + 2] = (255.0 - 30.0 * v) as u8;
        }
    }
    pixels
}

fn dot(ctx: &Context, p: (f64, f64), r: f64) {
    ctx.begin_path();
    let _ = ctx.arc(p.0, p.1, r, 0.0, std::f64::consts::TAU);
    ctx.fill();
}

fn ring(ctx: &Context, p: (f64, f64), r: f64) {
    ctx.begin_path();
    let _ = ctx.arc(p.0, p.1, r, 0.0, std::f64::consts::TAU);
    ctx.stroke();
}

fn paths(ctx: &Context, run: &Run, colour: &str, w: f64, h: f64) {
    ctx.set_stroke_style_str(colour);
    ctx.set_line_width(0.7);
    ctx.set_global_alpha(0.5);
    for path in run.paths.iter().take(DRAWN_PATHS) {
        ctx.begin_path();
        for (k, x) in path.iter().enumerate() {
            let (a, b) = px(*x, w, h);
            if k == 0 {
                ctx.move_to(a, b);
            } else {
                ctx.line_to(a, b);
            }
        }
        ctx.stroke();
    }
    ctx.set_global_alpha(1.0);
}

fn samples(ctx: &Context, run: &Run, colour: &str, w: f64, h: f64) {
    ctx.set_fill_style_str(colour);
    ctx.set_global_alpha(0.6);
    for x in &run.positions {
        let (a, b) = px(*x, w, h);
        ctx.fill_rect(a - 1.0, b - 1.0, 2.0, 2.0);
    }
    ctx.set_global_alpha(1.0);
}

/// The plane.
pub fn paint_plane(ctx: &Context, w: f64, h: f64, lab: &InverseLab, cache: &mut ShadeCache) {
    match &lab.posterior {
        Some(posterior) => shade(ctx, w, h, cache, lab.scene, |x| posterior.log_density(x)),
        None => shade(ctx, w, h, cache, lab.scene, |x| lab.prior.log_density(x)),
    }
    // Axes.
    ctx.set_stroke_style_str("#cbd5e1");
    ctx.set_line_width(1.0);
    let (o, _) = px([0.0, 0.0], w, h);
    let (_, oy) = px([0.0, 0.0], w, h);
    ctx.begin_path();
    ctx.move_to(o, 0.0);
    ctx.line_to(o, h);
    ctx.move_to(0.0, oy);
    ctx.line_to(w, oy);
    ctx.stroke();
    // Paths under the samples, so that the samples stay readable.
    for (k, run) in lab.runs.iter().enumerate() {
        paths(ctx, run, RUN_COLOURS[k % RUN_COLOURS.len()], w, h);
    }
    for (k, run) in lab.runs.iter().enumerate() {
        samples(ctx, run, RUN_COLOURS[k % RUN_COLOURS.len()], w, h);
    }
    if let Some(line) = lab.line {
        // The line u·x = a: its point a u, along v.
        let v = line.v();
        let at = |s: f64| px([line.value * line.u[0] + s * v[0], line.value * line.u[1] + s * v[1]], w, h);
        ctx.set_stroke_style_str("#111827");
        ctx.set_line_width(2.0);
        ctx.begin_path();
        let (a, b) = (at(-10.0), at(10.0));
        ctx.move_to(a.0, a.1);
        ctx.line_to(b.0, b.1);
        ctx.stroke();
    }
    ctx.set_stroke_style_str("#111827");
    ctx.set_line_width(1.5);
    if lab.settings.task == Task::Class {
        let spec = lab.prior.to_spec();
        ring(ctx, px(spec.means[lab.settings.class], w, h), 14.0);
    }
    if let Some(mu) = lab.degraded {
        for m in &lab.modes {
            ring(ctx, px(*m, w, h), 7.0);
        }
        let clean = px(lab.settings.clean, w, h);
        ctx.begin_path();
        ctx.move_to(clean.0 - 6.0, clean.1 - 6.0);
        ctx.line_to(clean.0 + 6.0, clean.1 + 6.0);
        ctx.move_to(clean.0 - 6.0, clean.1 + 6.0);
        ctx.line_to(clean.0 + 6.0, clean.1 - 6.0);
        ctx.stroke();
        ctx.set_fill_style_str("#dc2626");
        dot(ctx, px(mu, w, h), 4.5);
        for (k, run) in lab.runs.iter().enumerate() {
            if let Some(crate::playground::inverse::lab::RunMetrics::Restore { mmse, .. }) = run.metrics {
                let p = px(mmse, w, h);
                ctx.set_fill_style_str(RUN_COLOURS[k % RUN_COLOURS.len()]);
                ctx.fill_rect(p.0 - 4.0, p.1 - 4.0, 8.0, 8.0);
                ctx.stroke_rect(p.0 - 4.0, p.1 - 4.0, 8.0, 8.0);
            }
        }
    }
}

/// Histograms of the coordinate the observation leaves free (inpainting and colourisation: v·x;
/// restoration: x₂) per run over its exact density (black: the exact conditional, or the
/// posterior's marginal) and, where known, replacement's limit (dashed).
pub fn paint_histogram(ctx: &Context, w: f64, h: f64, lab: &InverseLab) {
    ctx.set_fill_style_str("#ffffff");
    ctx.fill_rect(0.0, 0.0, w, h);
    let coordinate: Box<dyn Fn([f64; 2]) -> f64> = match (lab.line, &lab.posterior) {
        (Some(line), _) => Box::new(move |x| line.rotate(x)[1]),
        (None, Some(_)) => Box::new(|x| x[1]),
        _ => {
            ctx.set_fill_style_str("#64748b");
            ctx.set_font("13px sans-serif");
            let _ = ctx.fill_text("class guidance: see the plane and the table", 10.0, h / 2.0);
            return;
        }
    };
    let density = |y: f64| -> f64 {
        if let Some(exact) = &lab.conditional {
            return exact.free_density(y);
        }
        let Some(posterior) = &lab.posterior else { return 0.0 };
        let spec = posterior.to_spec();
        spec.weights
            .iter()
            .zip(&spec.means)
            .zip(&spec.covs)
            .map(|((w, m), c)| {
                w * (-(y - m[1]).powi(2) / (2.0 * c[1][1])).exp() / (std::f64::consts::TAU * c[1][1]).sqrt()
            })
            .sum()
    };
    let (left, bottom, top) = (30.0, h - 22.0, 10.0);
    let width = BINS as f64 / (2.0 * FREE_RANGE);
    let xpx = |y: f64| left + (y + FREE_RANGE) / (2.0 * FREE_RANGE) * (w - left - 8.0);
    let curve: Vec<f64> = (0..=200).map(|i| density(-FREE_RANGE + i as f64 * 2.0 * FREE_RANGE / 200.0)).collect();
    let histograms: Vec<Vec<f64>> = lab
        .runs
        .iter()
        .map(|run| {
            let mut bins = vec![0.0; BINS];
            for x in &run.positions {
                let y = coordinate(*x);
                let b = ((y + FREE_RANGE) * width).floor();
                if (0.0..BINS as f64).contains(&b) {
                    bins[b as usize] += 1.0;
                }
            }
            let n = run.positions.len().max(1) as f64;
            bins.iter().map(|c| c * width / n).collect()
        })
        .collect();
    let peak = curve.iter().chain(histograms.iter().flatten()).copied().filter(|v| v.is_finite()).fold(1e-9, f64::max);
    let ypx = |d: f64| bottom - d / peak * (bottom - top);
    ctx.set_stroke_style_str("#94a3b8");
    ctx.set_line_width(1.0);
    ctx.begin_path();
    ctx.move_to(left, bottom);
    ctx.line_to(w - 8.0, bottom);
    ctx.stroke();
    ctx.set_fill_style_str("#475569");
    ctx.set_font("11px sans-serif");
    for tick in [-4.0, -2.0, 0.0, 2.0, 4.0] {
        let _ = ctx.fill_text(&format!("{tick}"), xpx(tick) - 5.0, h - 6.0);
    }
    for (k, bins) in histograms.iter().enumerate() {
        ctx.set_stroke_style_str(RUN_COLOURS[k % RUN_COLOURS.len()]);
        ctx.set_line_width(if k == 2 { 1.0 } else { 1.6 });
        if k == 2 {
            let _ = ctx.set_line_dash(&js_sys::Array::of2(&4.0.into(), &3.0.into()));
        }
        ctx.begin_path();
        for (b, d) in bins.iter().enumerate() {
            let (x0, x1) = (xpx(-FREE_RANGE + b as f64 / width), xpx(-FREE_RANGE + (b + 1) as f64 / width));
            if b == 0 {
                ctx.move_to(x0, ypx(*d));
            } else {
                ctx.line_to(x0, ypx(*d));
            }
            ctx.line_to(x1, ypx(*d));
        }
        ctx.stroke();
        let _ = ctx.set_line_dash(&js_sys::Array::new());
    }
    ctx.set_stroke_style_str("#111827");
    ctx.set_line_width(2.0);
    ctx.begin_path();
    for (i, d) in curve.iter().enumerate() {
        let x = xpx(-FREE_RANGE + i as f64 * 2.0 * FREE_RANGE / 200.0);
        if i == 0 {
            ctx.move_to(x, ypx(*d));
        } else {
            ctx.line_to(x, ypx(*d));
        }
    }
    ctx.stroke();
    if let Some((m, v)) = lab.limit {
        ctx.set_stroke_style_str("#ea580c");
        let _ = ctx.set_line_dash(&js_sys::Array::of2(&2.0.into(), &3.0.into()));
        ctx.begin_path();
        for i in 0..=200 {
            let y = -FREE_RANGE + i as f64 * 2.0 * FREE_RANGE / 200.0;
            let d = (-(y - m).powi(2) / (2.0 * v)).exp() / (std::f64::consts::TAU * v).sqrt();
            if i == 0 {
                ctx.move_to(xpx(y), ypx(d));
            } else {
                ctx.line_to(xpx(y), ypx(d));
            }
        }
        ctx.stroke();
        let _ = ctx.set_line_dash(&js_sys::Array::new());
    }
}
