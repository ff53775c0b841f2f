//! Particles drawn straight from the GPU's buffers: the panels whose runs stay on the GPU
//! (`exec::gpu::resident`) are drawn by the render pipeline of `exec::gpu::draw` onto a WebGPU
//! canvas laid over the panel's 2D one, which keeps the data and the trajectories. Moving the
//! scrubber draws another frame of the same buffer: nothing is read back.

use std::collections::BTreeMap;

use crate::exec::gpu::draw::{Renderer, Scene};
use crate::exec::gpu::resident::ResidentRun;
use crate::exec::gpu::GpuContext;
use crate::playground::diffusion::field::EXTENT;

/// A canvas's WebGPU surface, configured for the page's device.
struct CanvasSurface {
    canvas: web_sys::HtmlCanvasElement,
    surface: wgpu::Surface<'static>,
    format: wgpu::TextureFormat,
    size: (u32, u32),
}

/// The runs kept on the GPU, by job id, and the canvases that show them.
#[derive(Default)]
pub struct ResidentView {
    runs: BTreeMap<u64, ResidentRun>,
    surfaces: Vec<CanvasSurface>,
    renderer: Option<(wgpu::TextureFormat, Renderer)>,
}

impl ResidentView {
    pub fn keep(&mut self, id: u64, run: ResidentRun) {
        self.runs.insert(id, run);
    }

    /// Lets go of the runs no panel shows any more, which frees their GPU memory.
    pub fn retain(&mut self, shown: &[u64]) {
        self.runs.retain(|id, _| shown.contains(id));
    }

    /// Draws frame `frame` of run `id` on `canvas`, over a transparent background.
    pub fn draw(
        &mut self,
        context: &GpuContext,
        id: u64,
        canvas: &web_sys::HtmlCanvasElement,
        frame: usize,
        colour: [f32; 4],
    ) -> Result<(), String> {
        let run = self.runs.get(&id).ok_or("this run's particles are no longer on the GPU")?;
        // Yew replaces a canvas when the panel is rebuilt: a surface lives with its canvas.
        self.surfaces.retain(|s| s.canvas.is_connected());
        let size = (canvas.width().max(1), canvas.height().max(1));
        let index = match self.surfaces.iter().position(|s| s.canvas == *canvas && s.size == size) {
            Some(index) => index,
            None => {
                self.surfaces.retain(|s| s.canvas != *canvas);
                self.surfaces.push(configure(context, canvas, size)?);
                self.surfaces.len() - 1
            }
        };
        let target = &self.surfaces[index];
        let renderer = match &self.renderer {
            Some((format, renderer)) if *format == target.format => renderer,
            _ => {
                let renderer = Renderer::new(&context.device, target.format).map_err(|e| e.to_string())?;
                &self.renderer.insert((target.format, renderer)).1
            }
        };
        let texture = match target.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(t) | wgpu::CurrentSurfaceTexture::Suboptimal(t) => t,
            other => return Err(format!("the panel's WebGPU canvas gave no texture to draw on ({other:?})")),
        };
        let mut scene = Scene::new(Vec::new());
        scene.half_extent = EXTENT as f32;
        scene.gpu_particles = Some(run.frame(frame));
        scene.particle_color = colour;
        scene.background = [0.0; 4];
        let view = texture.texture.create_view(&wgpu::TextureViewDescriptor::default());
        let mut encoder =
            context.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("panel particles") });
        renderer.encode(&context.device, &context.queue, &mut encoder, &view, size, &scene);
        context.queue.submit([encoder.finish()]);
        context.queue.present(texture);
        Ok(())
    }
}

/// The canvas's WebGPU context, configured with its preferred format and premultiplied alpha
/// (the particles blend over the 2D canvas beneath).
fn configure(
    context: &GpuContext,
    canvas: &web_sys::HtmlCanvasElement,
    size: (u32, u32),
) -> Result<CanvasSurface, String> {
    let surface = context
        .instance
        .create_surface(wgpu::SurfaceTarget::Canvas(canvas.clone()))
        .map_err(|e| format!("the panel's WebGPU canvas: {e}"))?;
    let caps = surface.get_capabilities(&context.adapter);
    let format = *caps.formats.first().ok_or("the panel's WebGPU canvas offers no texture format")?;
    let alpha_mode = if caps.alpha_modes.contains(&wgpu::CompositeAlphaMode::PreMultiplied) {
        wgpu::CompositeAlphaMode::PreMultiplied
    } else {
        wgpu::CompositeAlphaMode::Auto
    };
    surface.configure(
        &context.device,
        &wgpu::SurfaceConfiguration {
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            format,
            color_space: wgpu::SurfaceColorSpace::Auto,
            width: size.0,
            height: size.1,
            desired_maximum_frame_latency: 2,
            present_mode: wgpu::PresentMode::Fifo,
            alpha_mode,
            view_formats: vec![],
        },
    );
    Ok(CanvasSurface { canvas: canvas.clone(), surface, format, size })
}
