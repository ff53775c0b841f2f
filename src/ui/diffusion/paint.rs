//! Painting the engine's state on 2D canvases: the main view (data, field, clicked paths) and
//! each sampler panel (its particles at the scrubber, a few trajectories). Dots and colour
//! cells are written into a pixel buffer and put on the canvas at once; only lines (arrows,
//! paths) are stroked. Thousands of small fillRects would each be rasterised by the browser at
//! the next frame, on the main thread, outside our own timing: measured, that pushed frames
//! past 50 ms while the panels repainted during sampling.

use wasm_bindgen::Clamped;
use web_sys::CanvasRenderingContext2d as Context;

use crate::playground::diffusion::field::{cell_centre, ARROWS, CELLS, EXTENT};
use crate::playground::diffusion::settings::FieldView;
use crate::playground::diffusion::Engine;

/// Each panel's colour, in order (the charts use the same).
pub const PANEL_COLOURS: [&str; 4] = ["#2563eb", "#dc2626", "#16a34a", "#9333ea"];
/// Most data points drawn (a strided subset beyond).
const MAX_DRAWN_DATA: usize = 3000;

/// An RGBA image the size of the canvas, blended into in Rust and put on the canvas once.
struct Pixels {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl Pixels {
    fn white(width: f64, height: f64) -> Self {
        let (width, height) = (width as usize, height as usize);
        Pixels { width, height, data: vec![255; width * height * 4] }
    }

    /// Blends an axis-aligned rectangle of `colour` at opacity `alpha` (pixel coordinates).
    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, colour: [u8; 3], alpha: f32) {
        let x0 = x.floor().max(0.0) as usize;
        let y0 = y.floor().max(0.0) as usize;
        let x1 = ((x + w).ceil().max(0.0) as usize).min(self.width);
        let y1 = ((y + h).ceil().max(0.0) as usize).min(self.height);
        for row in y0..y1 {
            for col in x0..x1 {
                let i = (row * self.width + col) * 4;
                for c in 0..3 {
                    let old = f32::from(self.data[i + c]);
                    self.data[i + c] = (old + alpha * (f32::from(colour[c]) - old)) as u8;
                }
            }
        }
    }

    fn dots(&mut self, view: &View, points: impl Iterator<Item = [f32; 2]>, size: f64, colour: [u8; 3], alpha: f32) {
        for p in points.filter(|p| p[0].is_finite() && p[1].is_finite()) {
            let (x, y) = view.px(p);
            self.rect(x - size / 2.0, y - size / 2.0, size, size, colour, alpha);
        }
    }

    fn put(self, ctx: &Context) {
        if let Ok(image) = web_sys::ImageData::new_with_u8_clamped_array_and_sh(
            Clamped(&self.data),
            self.width as u32,
            self.height as u32,
        ) {
            let _ = ctx.put_image_data(&image, 0.0, 0.0);
        }
    }
}

pub(super) fn rgb(colour: &str) -> [u8; 3] {
    let v = u32::from_str_radix(colour.trim_start_matches('#'), 16).unwrap_or(0);
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

/// Data coordinates to pixels.
struct View {
    width: f64,
    height: f64,
}

impl View {
    fn px(&self, p: [f32; 2]) -> (f64, f64) {
        let x = (f64::from(p[0]) + EXTENT) / (2.0 * EXTENT) * self.width;
        let y = (EXTENT - f64::from(p[1])) / (2.0 * EXTENT) * self.height;
        (x, y)
    }
}

/// Pixel position on a canvas of this size to data coordinates (for clicks).
pub fn to_data(x: f64, y: f64, width: f64, height: f64) -> [f32; 2] {
    [(x / width * 2.0 * EXTENT - EXTENT) as f32, (EXTENT - y / height * 2.0 * EXTENT) as f32]
}

/// A perceptual-ish ramp from white through blue to dark violet, for v in [0, 1].
fn ramp(v: f32) -> [u8; 3] {
    let stops: [(f32, [f32; 3]); 4] = [
        (0.0, [255.0, 255.0, 255.0]),
        (0.3, [147.0, 197.0, 253.0]),
        (0.7, [37.0, 99.0, 235.0]),
        (1.0, [49.0, 16.0, 101.0]),
    ];
    let v = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
    let k = stops.iter().position(|s| s.0 >= v).unwrap_or(3).max(1);
    let (a, b) = (stops[k - 1], stops[k]);
    let f = (v - a.0) / (b.0 - a.0);
    [0, 1, 2].map(|i| (a.1[i] + f * (b.1[i] - a.1[i])) as u8)
}

fn path(ctx: &Context, view: &View, points: &[[f32; 2]], colour: &str, width: f64) {
    ctx.set_stroke_style_str(colour);
    ctx.set_line_width(width);
    ctx.begin_path();
    for (k, p) in points.iter().filter(|p| p[0].is_finite() && p[1].is_finite()).enumerate() {
        let (x, y) = view.px(*p);
        if k == 0 {
            ctx.move_to(x, y);
        } else {
            ctx.line_to(x, y);
        }
    }
    ctx.stroke();
}

fn data_points(engine: &Engine) -> impl Iterator<Item = [f32; 2]> + '_ {
    let stride = engine.data.len().div_ceil(MAX_DRAWN_DATA).max(1);
    engine.data.iter().step_by(stride).map(|p| [p[0] as f32, p[1] as f32])
}

fn colour_cells(pixels: &mut Pixels, view: &View, values: &[f32]) {
    let (cell_w, cell_h) = (view.width / CELLS as f64, view.height / CELLS as f64);
    for (k, v) in values.iter().enumerate().filter(|(_, v)| **v >= 0.02) {
        let (i, j) = (k % CELLS, k / CELLS);
        pixels.rect(i as f64 * cell_w, view.height - (j + 1) as f64 * cell_h, cell_w, cell_h, ramp(*v), 1.0);
    }
}

fn arrows(ctx: &Context, view: &View, vectors: &[[f32; 2]], colour: &str, width: f64) {
    // The longest arrow spans 90% of a grid cell.
    let longest = vectors.iter().map(|v| v[0].hypot(v[1])).filter(|v| v.is_finite()).fold(1e-6f32, f32::max);
    let cell = 2.0 * EXTENT / ARROWS as f64;
    ctx.set_stroke_style_str(colour);
    ctx.set_line_width(width);
    ctx.begin_path();
    for (k, v) in vectors.iter().enumerate() {
        if !(v[0].is_finite() && v[1].is_finite()) {
            continue;
        }
        let base = [cell_centre(k % ARROWS, ARROWS) as f32, cell_centre(k / ARROWS, ARROWS) as f32];
        let scale = (0.9 * cell) as f32 / longest;
        let tip = [base[0] + v[0] * scale, base[1] + v[1] * scale];
        arrow_to(ctx, view.px(base), view.px(tip));
    }
    ctx.stroke();
}

/// Adds one arrow from `base` to `tip` (pixels) to the open path: the shaft and a small head
/// of two strokes back from the tip. The caller strokes once for all its arrows.
pub(crate) fn arrow_to(ctx: &Context, (bx, by): (f64, f64), (tx, ty): (f64, f64)) {
    ctx.move_to(bx, by);
    ctx.line_to(tx, ty);
    let (dx, dy) = (tx - bx, ty - by);
    let len = dx.hypot(dy).max(1e-9);
    let (ux, uy) = (dx / len, dy / len);
    let head = (len * 0.35).min(4.0);
    ctx.move_to(tx, ty);
    ctx.line_to(tx - head * (ux - 0.5 * uy), ty - head * (uy + 0.5 * ux));
    ctx.move_to(tx, ty);
    ctx.line_to(tx - head * (ux + 0.5 * uy), ty - head * (uy - 0.5 * ux));
}

/// The main view: the field at time t under the data, the panels' samples when asked, and
/// every panel's clicked path.
pub fn paint_main(ctx: &Context, width: f64, height: f64, engine: &Engine) {
    let view = View { width, height };
    let mut pixels = Pixels::white(width, height);
    if let Some(field) = &engine.field {
        match engine.settings.field_view {
            FieldView::Density => colour_cells(&mut pixels, &view, &field.density),
            FieldView::Error => {
                if let Some(error) = &field.error {
                    // Errors in noise units: 1 is as wrong as guessing zero.
                    let scaled: Vec<f32> = error.iter().map(|e| e.min(1.0)).collect();
                    colour_cells(&mut pixels, &view, &scaled);
                }
            }
            FieldView::Arrows | FieldView::Off => {}
        }
    }
    pixels.dots(&view, data_points(engine), 2.0, rgb("#334155"), 0.45);
    if engine.settings.show_samples {
        // Each panel's particles at the scrubber's step, in the panel's colour, over the data.
        for (k, run) in engine.panels.iter().enumerate().filter_map(|(k, p)| Some((k, p.run.as_ref()?))) {
            pixels.dots(
                &view,
                run.frame_at(engine.settings.scrub).iter().copied(),
                2.0,
                rgb(PANEL_COLOURS[k % 4]),
                0.5,
            );
        }
    }
    for (k, panel) in engine.panels.iter().enumerate() {
        if let Some(Ok(p)) = &panel.seeded {
            if let Some(end) = p.last() {
                pixels.dots(&view, std::iter::once(*end), 7.0, rgb(PANEL_COLOURS[k % 4]), 1.0);
            }
        }
    }
    if let Some(seed) = engine.seed_point {
        pixels.dots(&view, std::iter::once(seed), 9.0, rgb("#0f172a"), 1.0);
    }
    pixels.put(ctx);
    ctx.set_global_alpha(1.0);
    if let (Some(field), FieldView::Arrows) = (&engine.field, engine.settings.field_view) {
        if let Some(exact) = &field.exact {
            arrows(ctx, &view, exact, "#94a3b8", 2.0);
        }
        arrows(ctx, &view, &field.learned, "#2563eb", 1.2);
    }
    for (k, panel) in engine.panels.iter().enumerate() {
        if let Some(Ok(p)) = &panel.seeded {
            path(ctx, &view, p, PANEL_COLOURS[k % 4], 2.0);
        }
    }
}

/// One sampler panel: faint data, the particles at the scrubber, a few trajectories and the
/// clicked particle's path.
pub fn paint_panel(ctx: &Context, width: f64, height: f64, engine: &Engine, index: usize) {
    let view = View { width, height };
    let mut pixels = Pixels::white(width, height);
    pixels.dots(&view, data_points(engine), 1.5, rgb("#64748b"), 0.25);
    let panel = engine.panels.get(index);
    let colour = PANEL_COLOURS[index % 4];
    let run = panel.and_then(|p| p.run.as_ref());
    let fraction = engine.settings.scrub;
    // A run kept on the GPU is drawn by the GPU, on the canvas laid over this one.
    if let Some(run) = run.filter(|r| !super::samplers_column::gpu_drawn(r)) {
        pixels.dots(&view, run.frame_at(fraction).iter().copied(), 2.0, rgb(colour), 0.6);
    }
    pixels.put(ctx);
    ctx.set_global_alpha(0.7);
    if let Some(run) = run {
        for t in run.trajectories(fraction) {
            path(ctx, &view, &t, colour, 0.9);
        }
    }
    ctx.set_global_alpha(1.0);
    if let Some(Ok(p)) = panel.and_then(|p| p.seeded.as_ref()) {
        path(ctx, &view, p, colour, 2.0);
    }
}
