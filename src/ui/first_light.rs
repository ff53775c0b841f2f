//! Until the samplers arrive, the canvas shows 2000 standard normal draws from the
//! counter RNG: proof that the core, the RNG and drawing run in wasm. Where WebGPU works the
//! GPU render pipeline (`exec::gpu::draw`) draws them; elsewhere plotters draws the same
//! picture on the canvas's 2D context.

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;

use crate::core::rng::normal4;
use crate::exec::gpu::draw::{render_to_rgba, Scene};
use crate::exec::gpu::GpuContext;

/// Draws the sample onto `canvas`; an error is returned as text for the error banner.
pub fn draw(canvas: web_sys::HtmlCanvasElement) -> Result<(), String> {
    let backend = CanvasBackend::with_canvas_object(canvas).ok_or("the canvas has no 2D context")?;
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .margin(8)
        .build_cartesian_2d(-4.0f32..4.0f32, -4.0f32..4.0f32)
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(
            sample().into_iter().map(|p| Circle::new((p[0], p[1]), 2, RGBColor(37, 99, 235).mix(0.6).filled())),
        )
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

/// The 2000 draws (seed 1, stream 0).
fn sample() -> Vec<[f32; 2]> {
    (0..1000u64)
        .flat_map(|i| {
            let n = normal4(1, 0, i);
            [[n[0], n[1]], [n[2], n[3]]]
        })
        .collect()
}

/// Draws the same sample with the GPU render pipeline, offscreen, and puts the pixels on the
/// canvas's 2D context (so one canvas serves both paths).
pub async fn draw_with_gpu(canvas: web_sys::HtmlCanvasElement, gpu: &GpuContext) -> Result<(), String> {
    use wasm_bindgen::{Clamped, JsCast};
    let (width, height) = (canvas.width(), canvas.height());
    let mut scene = Scene::new(sample());
    scene.point_pixels = 2.5;
    scene.particle_color = [37.0 / 255.0, 99.0 / 255.0, 235.0 / 255.0, 0.6];
    let pixels = render_to_rgba(&gpu.device, &gpu.queue, (width, height), &scene).await.map_err(|e| e.to_string())?;
    let context = canvas
        .get_context("2d")
        .map_err(|_| "the canvas refused a 2D context".to_string())?
        .ok_or("the canvas has no 2D context")?
        .dyn_into::<web_sys::CanvasRenderingContext2d>()
        .map_err(|_| "the canvas context is not 2D".to_string())?;
    let image = web_sys::ImageData::new_with_u8_clamped_array_and_sh(Clamped(&pixels), width, height)
        .map_err(|_| "could not wrap the GPU's pixels as ImageData".to_string())?;
    context.put_image_data(&image, 0.0, 0.0).map_err(|_| "could not put the GPU's pixels on the canvas".to_string())
}
