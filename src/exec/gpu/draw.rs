//! The render pipeline of the sampler view (shaders/draw.wgsl): a field as a colour map,
//! trajectories as line strips, particles as instanced quads, drawn into any colour target:
//! the page's canvas texture, or an offscreen texture that tests read back.

use super::kernel::filled_buffer;
use super::readback::read_bytes;
use super::GpuError;
use crate::exec::shader_source::composed;

/// Mirrors `View` in shaders/draw.wgsl (80 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct ViewUniform {
    centre: [f32; 2],
    half_extent: [f32; 2],
    point_size: [f32; 2],
    field_size: [u32; 2],
    particle_color: [f32; 4],
    trajectory_color: [f32; 4],
    field_min: f32,
    field_max: f32,
    first_point: u32,
    padding: f32,
}

/// `ViewUniform`'s layout, for the check against `View` in the shader.
pub(crate) fn view_layout() -> super::abi::HostLayout {
    super::abi::layout!(
        "draw.wgsl",
        "View",
        ViewUniform,
        [
            centre,
            half_extent,
            point_size,
            field_size,
            particle_color,
            trajectory_color,
            field_min,
            field_max,
            first_point,
            padding
        ]
    )
}

/// A scalar field on a grid over the view: `values[row * columns + column]`, row 0 at the
/// bottom of the view.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldGrid {
    pub columns: u32,
    pub rows: u32,
    pub values: Vec<f32>,
}

/// Particles that are already on the GPU: `count` points (vec2<f32>) of `buffer` from point
/// `first` on, such as one frame of a run's snapshots (`exec::gpu::resident`). Drawing them
/// reads nothing back.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuPoints {
    pub buffer: wgpu::Buffer,
    pub first: u32,
    pub count: u32,
}

/// What to draw, in data coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    /// The visible square: centre and half width.
    pub centre: [f32; 2],
    pub half_extent: f32,
    pub particles: Vec<[f32; 2]>,
    /// Particles on the GPU, drawn instead of `particles` when present.
    pub gpu_particles: Option<GpuPoints>,
    /// Each traced particle's path, frame by frame.
    pub trajectories: Vec<Vec<[f32; 2]>>,
    pub field: Option<FieldGrid>,
    /// Particle quad size in pixels.
    pub point_pixels: f32,
    pub particle_color: [f32; 4],
    pub trajectory_color: [f32; 4],
    pub background: [f64; 4],
}

impl Scene {
    pub fn new(particles: Vec<[f32; 2]>) -> Self {
        Scene {
            centre: [0.0, 0.0],
            half_extent: 4.0,
            particles,
            gpu_particles: None,
            trajectories: Vec::new(),
            field: None,
            point_pixels: 2.0,
            particle_color: [0.1, 0.3, 0.8, 1.0],
            trajectory_color: [0.9, 0.4, 0.1, 1.0],
            background: [1.0, 1.0, 1.0, 1.0],
        }
    }
}

/// The three pipelines, for one colour format.
pub struct Renderer {
    layout: wgpu::BindGroupLayout,
    particles: wgpu::RenderPipeline,
    trajectories: wgpu::RenderPipeline,
    field: wgpu::RenderPipeline,
}

impl Renderer {
    pub fn new(device: &wgpu::Device, format: wgpu::TextureFormat) -> Result<Self, GpuError> {
        let source = composed("draw.wgsl").map_err(|e| GpuError::Validation(e.to_string()))?;
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("draw.wgsl"),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let entry = |binding, ty| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
            ty,
            count: None,
        };
        let storage = wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only: true },
            has_dynamic_offset: false,
            min_binding_size: None,
        };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("draw bindings"),
            entries: &[
                entry(
                    0,
                    wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                ),
                entry(1, storage),
                entry(2, storage),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("draw"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = |vertex: &str, fragment: &str, topology, blend| {
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some(vertex),
                layout: Some(&pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &module,
                    entry_point: Some(vertex),
                    compilation_options: Default::default(),
                    buffers: &[],
                },
                primitive: wgpu::PrimitiveState { topology, ..Default::default() },
                depth_stencil: None,
                multisample: wgpu::MultisampleState::default(),
                fragment: Some(wgpu::FragmentState {
                    module: &module,
                    entry_point: Some(fragment),
                    compilation_options: Default::default(),
                    targets: &[Some(wgpu::ColorTargetState { format, blend, write_mask: wgpu::ColorWrites::ALL })],
                }),
                multiview_mask: None,
                cache: None,
            })
        };
        let alpha = Some(wgpu::BlendState::ALPHA_BLENDING);
        Ok(Renderer {
            particles: pipeline("particle_vertex", "particle_fragment", wgpu::PrimitiveTopology::TriangleList, alpha),
            trajectories: pipeline(
                "trajectory_vertex",
                "trajectory_fragment",
                wgpu::PrimitiveTopology::LineStrip,
                alpha,
            ),
            field: pipeline("field_vertex", "field_fragment", wgpu::PrimitiveTopology::TriangleList, None),
            layout,
        })
    }

    /// Records the scene's draw into `encoder`, clearing `target` (of `size` pixels) first.
    pub fn encode(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::TextureView,
        size: (u32, u32),
        scene: &Scene,
    ) {
        let (min, max) = scene.field.as_ref().map_or((0.0, 1.0), |f| {
            f.values
                .iter()
                .filter(|v| v.is_finite())
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)))
        });
        let view = ViewUniform {
            centre: scene.centre,
            half_extent: [scene.half_extent, scene.half_extent],
            point_size: [scene.point_pixels / size.0 as f32, scene.point_pixels / size.1 as f32],
            field_size: scene.field.as_ref().map_or([1, 1], |f| [f.columns, f.rows]),
            particle_color: scene.particle_color,
            trajectory_color: scene.trajectory_color,
            field_min: min,
            field_max: max,
            first_point: scene.gpu_particles.as_ref().map_or(0, |p| p.first),
            padding: 0.0,
        };
        // Not mapped at creation (`filled_buffer` says why).
        let filled = |label, bytes: &[u8], usage| filled_buffer(device, queue, label, bytes, usage);
        let uniform = filled("view", bytemuck::bytes_of(&view), wgpu::BufferUsages::UNIFORM);
        let storage = |label, data: &[u8]| filled(label, data, wgpu::BufferUsages::STORAGE);
        let field_values = scene.field.as_ref().map_or(vec![0.0f32], |f| f.values.clone());
        let field = storage("field", bytemuck::cast_slice(&field_values));
        let uploaded;
        let (particles, particle_count) = match &scene.gpu_particles {
            Some(points) => (&points.buffer, points.count),
            None => {
                uploaded = storage("particles", bytemuck::cast_slice(&scene.particles));
                (&uploaded, scene.particles.len() as u32)
            }
        };
        let paths: Vec<[f32; 2]> = scene.trajectories.iter().flatten().copied().collect();
        let trajectories = storage("trajectories", bytemuck::cast_slice(&paths));
        let group = |points: &wgpu::Buffer| {
            device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("draw"),
                layout: &self.layout,
                entries: &[
                    wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 1, resource: points.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 2, resource: field.as_entire_binding() },
                ],
            })
        };
        let (particle_group, path_group) = (group(particles), group(&trajectories));
        let [r, g, b, a] = scene.background;
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("sampler view"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: target,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color { r, g, b, a }),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        if scene.field.is_some() {
            pass.set_pipeline(&self.field);
            pass.set_bind_group(0, &particle_group, &[]);
            pass.draw(0..3, 0..1);
        }
        pass.set_pipeline(&self.trajectories);
        pass.set_bind_group(0, &path_group, &[]);
        let mut first = 0u32;
        for path in &scene.trajectories {
            let n = path.len() as u32;
            if n >= 2 {
                pass.draw(first..first + n, 0..1);
            }
            first += n;
        }
        if particle_count > 0 {
            pass.set_pipeline(&self.particles);
            pass.set_bind_group(0, &particle_group, &[]);
            pass.draw(0..6, 0..particle_count);
        }
    }
}

/// Draws the scene offscreen and returns RGBA8 pixels, row 0 at the top: what the tests
/// (and an export to PNG) read.
pub async fn render_to_rgba(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    size: (u32, u32),
    scene: &Scene,
) -> Result<Vec<u8>, GpuError> {
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let format = wgpu::TextureFormat::Rgba8Unorm;
    let renderer = Renderer::new(device, format)?;
    let texture = device.create_texture(&wgpu::TextureDescriptor {
        label: Some("offscreen view"),
        size: wgpu::Extent3d { width: size.0, height: size.1, depth_or_array_layers: 1 },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    });
    let target = texture.create_view(&wgpu::TextureViewDescriptor::default());
    let padded_row = (size.0 * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("offscreen readback"),
        size: u64::from(padded_row * size.1),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("offscreen") });
    renderer.encode(device, queue, &mut encoder, &target, size, scene);
    encoder.copy_texture_to_buffer(
        texture.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &staging,
            layout: wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(padded_row), rows_per_image: None },
        },
        wgpu::Extent3d { width: size.0, height: size.1, depth_or_array_layers: 1 },
    );
    queue.submit([encoder.finish()]);
    if let Some(error) = scope.pop().await {
        return Err(GpuError::Validation(error.to_string()));
    }
    let bytes = read_bytes(device, &staging).await?;
    let mut pixels = Vec::with_capacity((size.0 * size.1 * 4) as usize);
    for row in 0..size.1 {
        let start = (row * padded_row) as usize;
        pixels.extend_from_slice(&bytes[start..start + (size.0 * 4) as usize]);
    }
    Ok(pixels)
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn view_matches_the_shader_layout() {
        assert_eq!(std::mem::size_of::<ViewUniform>(), 80);
    }
}
