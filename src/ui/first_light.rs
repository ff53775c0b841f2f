//! Until the samplers arrive, the canvas shows 2000 standard normal draws from the
//! counter RNG, drawn with plotters: proof that the core, the RNG and charts run in wasm.

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;

use crate::core::rng::normal4;

/// Draws the sample onto `canvas`; an error is returned as text for the error banner.
pub fn draw(canvas: web_sys::HtmlCanvasElement) -> Result<(), String> {
    let backend = CanvasBackend::with_canvas_object(canvas).ok_or("the canvas has no 2D context")?;
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .margin(8)
        .build_cartesian_2d(-4.0f32..4.0f32, -4.0f32..4.0f32)
        .map_err(|e| e.to_string())?;
    let points = (0..1000u64).flat_map(|i| {
        let n = normal4(1, 0, i);
        [(n[0], n[1]), (n[2], n[3])]
    });
    chart
        .draw_series(points.map(|p| Circle::new(p, 2, RGBColor(37, 99, 235).mix(0.6).filled())))
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}
