//! The MLP's parameter gradient over a batch on the GPU (shaders/mlp_gradient.wgsl): the first
//! kernel of training on the GPU. Given each row's features and output gradient d_out, it
//! computes the outputs and the parameter gradient of sum_r d_out[r] . out[r], which is what
//! `core::nn::backprop::BatchMlp::backward` computes on the CPU (its reference).
//!
//! Each layer's forward, backward and parameter-gradient products are tiled matrix products
//! (a workgroup computes a 32 x 32 block, its operands staged through workgroup memory). The
//! batch's rows are summed in chunks of `GRADIENT_CHUNK_ROWS`, each chunk in row order, and the
//! chunks' partials in chunk order: the sums never depend on the dispatch's scheduling, so a
//! batch repeats bit for bit on one adapter. All passes are one submission.

use wgpu::util::DeviceExt;

use super::abi::{mlp_shape, MlpShape};
use super::kernel::{dispatch_grid, WORKGROUP_SIZE};
use super::readout::read_ranges;
use super::GpuError;
use crate::core::nn::{Mlp, MlpConfig};
use crate::exec::shader_source::composed;

/// Rows per partial sum of the gradient.
pub const GRADIENT_CHUNK_ROWS: u32 = 256;
/// The block of a product's output one workgroup computes (`TILE_M`, `TILE_N` in the shader).
const TILE_M: usize = 32;
const TILE_N: usize = 32;

/// Mirrors `GradientParams` in shaders/mlp_gradient.wgsl (64 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GradientParams {
    pub shape: MlpShape,
    pub rows: u32,
    pub chunk_rows: u32,
    pub chunks: u32,
    pub params: u32,
    pub row_length: u32,
    pub layer: u32,
    pub pad1: u32,
    pub pad2: u32,
}

/// `GradientParams`' layout, for the comparison with its shader twin (tests/shaders_validate.rs).
pub fn gradient_layout() -> super::abi::HostLayout {
    super::abi::layout!(
        "mlp_gradient.wgsl",
        "GradientParams",
        GradientParams,
        [shape, rows, chunk_rows, chunks, params, row_length, layer, pad1, pad2]
    )
}

/// The four compiled passes, over one explicit layout of all nine bindings (so every pass
/// takes the same bind group, whatever it uses).
#[derive(Debug, Clone)]
pub struct GradientKernel {
    layout: wgpu::BindGroupLayout,
    forward: wgpu::ComputePipeline,
    backward: wgpu::ComputePipeline,
    sums: wgpu::ComputePipeline,
    totals: wgpu::ComputePipeline,
}

impl GradientKernel {
    pub async fn new(device: &wgpu::Device) -> Result<Self, GpuError> {
        let source = composed("mlp_gradient.wgsl").map_err(|e| GpuError::Validation(e.to_string()))?;
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("mlp_gradient.wgsl"),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let entry = |binding: u32, ty: wgpu::BufferBindingType| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer { ty, has_dynamic_offset: false, min_binding_size: None },
            count: None,
        };
        let read = wgpu::BufferBindingType::Storage { read_only: true };
        let write = wgpu::BufferBindingType::Storage { read_only: false };
        let mut entries = vec![entry(0, wgpu::BufferBindingType::Uniform)];
        entries.extend((1..=3).map(|b| entry(b, read)));
        entries.extend((4..=8).map(|b| entry(b, write)));
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("mlp gradient bindings"),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("mlp gradient"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = |name: &str| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(name),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let kernel = GradientKernel {
            forward: pipeline("forward_tiles"),
            backward: pipeline("backward_tiles"),
            sums: pipeline("weight_tiles"),
            totals: pipeline("chunk_totals"),
            layout,
        };
        if let Some(error) = scope.pop().await {
            return Err(GpuError::Validation(error.to_string()));
        }
        Ok(kernel)
    }
}

/// A batch's outputs (rows x outputs) and parameter gradient (the flat parameter layout).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchGradient {
    pub outputs: Vec<f32>,
    pub gradient: Vec<f32>,
}

/// The buffers and dispatches of the gradient of one network at one batch size. The features,
/// the parameters and the output gradients are buffers the caller fills (or a kernel writes:
/// the trainer's loss kernel writes d_out between [`encode_forward`](Self::encode_forward) and
/// [`encode_backward`](Self::encode_backward)).
pub struct GradientRun {
    pub rows: usize,
    pub features: wgpu::Buffer,
    pub d_out: wgpu::Buffer,
    pub outputs: wgpu::Buffer,
    pub gradient: wgpu::Buffer,
    forward: Vec<(wgpu::ComputePipeline, wgpu::BindGroup, (u32, u32))>,
    backward: Vec<(wgpu::ComputePipeline, wgpu::BindGroup, (u32, u32))>,
}

impl GradientRun {
    /// `parameters`: the network's parameters in the shared layout (read by every pass).
    pub fn new(
        device: &wgpu::Device,
        kernel: &GradientKernel,
        config: &MlpConfig,
        parameters: &wgpu::Buffer,
        rows: usize,
    ) -> Result<Self, GpuError> {
        let (outputs, params) = (config.outputs, config.param_count());
        if rows == 0 {
            return Err(GpuError::Unsupported("a gradient batch needs at least one row".into()));
        }
        let chunks = rows.div_ceil(GRADIENT_CHUNK_ROWS as usize);
        let max_groups = device.limits().max_compute_workgroups_per_dimension;
        let weight_blocks = config.width.div_ceil(TILE_M).max(config.outputs.div_ceil(TILE_M)) * chunks;
        if params.div_ceil(WORKGROUP_SIZE as usize) > max_groups as usize
            || weight_blocks > max_groups as usize
            || rows.div_ceil(TILE_M) > max_groups as usize
        {
            return Err(GpuError::Unsupported(format!(
                "{params} parameters in {chunks} chunks of rows exceed this adapter's dispatch grid: use a smaller \
                 network or batch"
            )));
        }
        let blank = |label: &str, floats: usize| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: (floats as u64 * 4).max(16),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let features = blank("features", rows * config.input_dim());
        let d_out = blank("output gradients", rows * outputs);
        let hidden = config.depth * rows * config.width;
        let post = blank("hidden outputs", hidden);
        let delta = blank("hidden deltas", hidden);
        let outputs_buffer = blank("outputs", rows * outputs);
        let partials = blank("partial gradients", chunks * params);
        let gradient = blank("gradient", params);
        let base = GradientParams {
            shape: mlp_shape(config, 0),
            rows: rows as u32,
            chunk_rows: GRADIENT_CHUNK_ROWS,
            chunks: chunks as u32,
            params: params as u32,
            ..GradientParams::default()
        };
        let dispatch = |pipeline: &wgpu::ComputePipeline, layer: usize, groups: (u32, u32)| {
            let uniform = GradientParams { layer: layer as u32, row_length: groups.0 * WORKGROUP_SIZE, ..base };
            let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("gradient params"),
                contents: bytemuck::bytes_of(&uniform),
                usage: wgpu::BufferUsages::UNIFORM,
            });
            let buffers =
                [&uniform, &features, parameters, &d_out, &post, &delta, &outputs_buffer, &partials, &gradient];
            let entries: Vec<wgpu::BindGroupEntry> = buffers
                .iter()
                .enumerate()
                .map(|(binding, buffer)| wgpu::BindGroupEntry {
                    binding: binding as u32,
                    resource: buffer.as_entire_binding(),
                })
                .collect();
            let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("mlp gradient"),
                layout: &kernel.layout,
                entries: &entries,
            });
            (pipeline.clone(), group, groups)
        };
        // Blocks of a product's output: (columns, rows) of blocks, the grid's (x, y).
        let blocks = |m: usize, n: usize| (n.div_ceil(TILE_N) as u32, m.div_ceil(TILE_M) as u32);
        let layers = config.layers();
        let forward = layers
            .iter()
            .enumerate()
            .map(|(l, layer)| dispatch(&kernel.forward, l, blocks(rows, layer.outputs)))
            .collect();
        let mut backward: Vec<_> =
            (0..config.depth).rev().map(|l| dispatch(&kernel.backward, l, blocks(rows, config.width))).collect();
        for (l, layer) in layers.iter().enumerate() {
            let (x, y) = blocks(layer.outputs, layer.inputs + 1);
            backward.push(dispatch(&kernel.sums, l, (x, y * chunks as u32)));
        }
        backward.push(dispatch(&kernel.totals, 0, dispatch_grid(params as u32, max_groups)));
        Ok(GradientRun { rows, features, d_out, outputs: outputs_buffer, gradient, forward, backward })
    }

    /// The forward pass: fills `outputs` (and the tape) from `features`.
    pub fn encode_forward(&self, pass: &mut wgpu::ComputePass) {
        encode(pass, &self.forward);
    }

    /// The backward pass and the reduction: fills `gradient` from `d_out` and the tape.
    pub fn encode_backward(&self, pass: &mut wgpu::ComputePass) {
        encode(pass, &self.backward);
    }
}

/// Records dispatches in order.
pub(super) fn encode(
    pass: &mut wgpu::ComputePass,
    dispatches: &[(wgpu::ComputePipeline, wgpu::BindGroup, (u32, u32))],
) {
    for (pipeline, group, groups) in dispatches {
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, group, &[]);
        pass.dispatch_workgroups(groups.0, groups.1, 1);
    }
}

/// The outputs of `mlp` at `rows` rows of `features` (rows x input_dim) and the gradient of
/// sum_r d_out[r] . out[r] in its parameters (`d_out`: rows x outputs).
pub async fn mlp_gradient(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    kernel: &GradientKernel,
    mlp: &Mlp,
    rows: usize,
    features: &[f32],
    d_out: &[f32],
) -> Result<BatchGradient, GpuError> {
    let config = &mlp.config;
    let (inputs, outputs) = (config.input_dim(), config.outputs);
    if rows == 0 || features.len() != rows * inputs || d_out.len() != rows * outputs {
        return Err(GpuError::Unsupported(format!(
            "a gradient batch needs at least one row, {inputs} features and {outputs} output gradients a row; got {rows} \
             rows, {} features, {} output gradients",
            features.len(),
            d_out.len()
        )));
    }
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let parameters = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("parameters"),
        contents: bytemuck::cast_slice(&mlp.params),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let run = GradientRun::new(device, kernel, config, &parameters, rows)?;
    queue.write_buffer(&run.features, 0, bytemuck::cast_slice(features));
    queue.write_buffer(&run.d_out, 0, bytemuck::cast_slice(d_out));
    if let Some(error) = scope.pop().await {
        return Err(GpuError::Validation(error.to_string()));
    }
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("mlp gradient") });
    {
        let mut pass = encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("mlp gradient"), timestamp_writes: None });
        run.encode_forward(&mut pass);
        run.encode_backward(&mut pass);
    }
    queue.submit([encoder.finish()]);
    let params = mlp.params.len();
    let bytes = read_ranges(
        device,
        queue,
        &[(&run.outputs, 0, (rows * outputs) as u64 * 4), (&run.gradient, 0, params as u64 * 4)],
    )
    .await?;
    let floats: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let (out, grad) = floats.split_at(rows * outputs);
    Ok(BatchGradient { outputs: out.to_vec(), gradient: grad.to_vec() })
}
