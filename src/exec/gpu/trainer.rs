//! Training on the GPU: the CPU trainer's step (`core::train::Trainer::step`) with the network's
//! forward and backward pass, the loss, the gradient's norm, Adam and the EMA in WGSL
//! (mlp_gradient.wgsl, train_step.wgsl), one submission a step.
//!
//! The rows are drawn on the host by the CPU trainer's own code (`Trainer::regression_row`),
//! from the same counters (seed, step, sample): both trainers see the same minibatch, so a test
//! compares them step for step. Drawing is O(batch) and the network's passes
//! O(batch x parameters), so the host's part stays small. The step reads back four numbers
//! (the loss, the squared norm, the flag and the clipping scale): a step whose loss or gradient
//! is not finite changes nothing on the GPU and is refused, as on the CPU.

use wgpu::util::DeviceExt;

use super::kernel::{compute_pipeline, WORKGROUP_SIZE};
use super::mlp_gradient::{encode, GradientKernel, GradientRun};
use super::readout::read_ranges;
use super::GpuError;
use crate::core::nn::MlpConfig;
use crate::core::train::{TrainError, Trainer};

/// Parameters per partial sum of the gradient's squared norm (`NORM_CHUNK` in the shader).
const NORM_CHUNK: usize = 256;
/// Floats per row record: a, w, b0, b1, z0, z1 and two unused.
const RECORD: usize = 8;

/// Mirrors `StepParams` in shaders/train_step.wgsl (48 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StepParams {
    pub rows: u32,
    pub params: u32,
    pub norm_chunks: u32,
    pub row_length: u32,
    pub inv_batch: f32,
    pub step_size: f32,
    pub epsilon: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub clip: f32,
    pub ema_decay: f32,
    pub pad: f32,
}

/// `StepParams`' layout, for the comparison with its shader twin (tests/shaders_validate.rs).
pub fn step_layout() -> super::abi::HostLayout {
    super::abi::layout!(
        "train_step.wgsl",
        "StepParams",
        StepParams,
        [rows, params, norm_chunks, row_length, inv_batch, step_size, epsilon, beta1, beta2, clip, ema_decay, pad]
    )
}

/// Why a GPU step did not happen.
#[derive(Debug, Clone, PartialEq)]
pub enum GpuTrainError {
    /// The step diverged: nothing changed (the CPU trainer's own refusal).
    Diverged(TrainError),
    Gpu(GpuError),
}

impl std::fmt::Display for GpuTrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GpuTrainError::Diverged(e) => e.fmt(f),
            GpuTrainError::Gpu(e) => write!(f, "training on the GPU failed: {e}"),
        }
    }
}

impl From<GpuError> for GpuTrainError {
    fn from(e: GpuError) -> Self {
        GpuTrainError::Gpu(e)
    }
}

/// A network in training on the GPU, with its optimiser state.
pub struct GpuTrainer {
    device: wgpu::Device,
    queue: wgpu::Queue,
    config: MlpConfig,
    run: GradientRun,
    parameters: wgpu::Buffer,
    ema: wgpu::Buffer,
    records: wgpu::Buffer,
    totals: wgpu::Buffer,
    uniform: wgpu::Buffer,
    /// (row losses, norm partials, totals, update), each with its bindings and workgroups.
    passes: Vec<(wgpu::ComputePipeline, wgpu::BindGroup, (u32, u32))>,
    /// Steps taken (refused ones not counted), as `Adam::steps`.
    steps: u64,
}

impl GpuTrainer {
    /// The GPU twin of `trainer`: its weights, EMA, batch and optimiser settings. Its optimiser
    /// starts fresh, so `trainer` must not have stepped yet.
    pub async fn new(device: &wgpu::Device, queue: &wgpu::Queue, trainer: &Trainer) -> Result<Self, GpuError> {
        if trainer.adam.steps() != 0 {
            return Err(GpuError::Unsupported(format!(
                "the GPU trainer starts from fresh optimiser state; this trainer has taken {} steps",
                trainer.adam.steps()
            )));
        }
        let config = trainer.mlp.config;
        if config.outputs != 2 {
            return Err(GpuError::Unsupported("the GPU trainer trains the diffusion MLP (two outputs)".into()));
        }
        let (rows, params) = (trainer.config.batch, trainer.mlp.params.len());
        let norm_chunks = params.div_ceil(NORM_CHUNK);
        let max_groups = device.limits().max_compute_workgroups_per_dimension as usize;
        if params.div_ceil(WORKGROUP_SIZE as usize) > max_groups {
            return Err(GpuError::Unsupported(format!("{params} parameters exceed this adapter's dispatch grid")));
        }
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let gradient_kernel = GradientKernel::new(device).await?;
        let file = "train_step.wgsl";
        let row_losses = compute_pipeline(device, file, "row_losses").await?;
        let norm_partials = compute_pipeline(device, file, "norm_partials").await?;
        let step_totals = compute_pipeline(device, file, "step_totals").await?;
        let adam_update = compute_pipeline(device, file, "adam_update").await?;
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
        let filled = |label: &str, values: &[f32]| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::cast_slice(values),
                usage: storage,
            })
        };
        let blank = |label: &str, floats: usize| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: (floats as u64 * 4).max(16),
                usage: storage,
                mapped_at_creation: false,
            })
        };
        let parameters = filled("parameters", &trainer.mlp.params);
        let ema = filled("ema", &trainer.ema.params);
        let moments = filled("adam moments", &vec![0.0; 2 * params]);
        let records = blank("row records", rows * RECORD);
        let row_loss = blank("row losses", rows);
        let norm_partial = blank("norm partials", norm_chunks);
        let totals = blank("step totals", 4);
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("step params"),
            size: std::mem::size_of::<StepParams>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let run = GradientRun::new(device, &gradient_kernel, &config, &parameters, rows)?;
        let group = |pipeline: &wgpu::ComputePipeline, bound: &[(u32, &wgpu::Buffer)]| {
            let entries: Vec<wgpu::BindGroupEntry> = bound
                .iter()
                .map(|(binding, buffer)| wgpu::BindGroupEntry {
                    binding: *binding,
                    resource: buffer.as_entire_binding(),
                })
                .collect();
            device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("train step"),
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            })
        };
        let groups = |count: usize| ((count.div_ceil(WORKGROUP_SIZE as usize)).max(1) as u32, 1);
        let passes = vec![
            (
                row_losses.clone(),
                group(&row_losses, &[(0, &uniform), (1, &records), (2, &run.outputs), (3, &run.d_out), (4, &row_loss)]),
                groups(rows),
            ),
            (
                norm_partials.clone(),
                group(&norm_partials, &[(0, &uniform), (5, &run.gradient), (6, &norm_partial)]),
                groups(norm_chunks),
            ),
            (
                step_totals.clone(),
                group(&step_totals, &[(0, &uniform), (4, &row_loss), (6, &norm_partial), (7, &totals)]),
                (1, 1),
            ),
            (
                adam_update.clone(),
                group(
                    &adam_update,
                    &[(0, &uniform), (5, &run.gradient), (7, &totals), (8, &parameters), (9, &moments), (10, &ema)],
                ),
                groups(params),
            ),
        ];
        if let Some(error) = scope.pop().await {
            return Err(GpuError::Validation(error.to_string()));
        }
        Ok(GpuTrainer {
            device: device.clone(),
            queue: queue.clone(),
            config,
            run,
            parameters,
            ema,
            records,
            totals,
            uniform,
            passes,
            steps: 0,
        })
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// One step on the rows `trainer` draws for it (the same counters as its own next step
    /// would use, with `trainer`'s settings); returns the mean loss. A step that diverges
    /// changes nothing and is refused.
    pub async fn step(&mut self, trainer: &Trainer) -> Result<f64, GpuTrainError> {
        let step = self.steps + 1;
        let rows = self.run.rows;
        let inputs = self.config.input_dim();
        let mut features = vec![0.0f32; rows * inputs];
        let mut records = vec![0.0f32; rows * RECORD];
        for r in 0..rows {
            let row = trainer.regression_row(step, r, &mut features[r * inputs..(r + 1) * inputs]);
            for (k, v) in row.iter().enumerate() {
                records[r * RECORD + k] = *v as f32;
            }
        }
        // Adam's bias corrections and the EMA's warm-up, as the CPU's Adam and Ema fold them.
        let adam = &trainer.adam;
        let correction1 = 1.0 - adam.beta1.powi(step as i32);
        let correction2 = 1.0 - adam.beta2.powi(step as i32);
        let n = (step - 1) as f64;
        let params = StepParams {
            rows: rows as u32,
            params: self.config.param_count() as u32,
            norm_chunks: self.config.param_count().div_ceil(NORM_CHUNK) as u32,
            row_length: 0,
            inv_batch: 1.0 / rows as f32,
            step_size: (trainer.config.learning_rate * correction2.sqrt() / correction1) as f32,
            epsilon: (adam.epsilon * correction2.sqrt()) as f32,
            beta1: adam.beta1 as f32,
            beta2: adam.beta2 as f32,
            clip: adam.clip_norm.unwrap_or(0.0) as f32,
            ema_decay: trainer.ema.decay.min((1.0 + n) / (10.0 + n)) as f32,
            pad: 0.0,
        };
        self.queue.write_buffer(&self.run.features, 0, bytemuck::cast_slice(&features));
        self.queue.write_buffer(&self.records, 0, bytemuck::cast_slice(&records));
        self.queue.write_buffer(&self.uniform, 0, bytemuck::bytes_of(&params));
        let mut encoder =
            self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("train step") });
        {
            let mut pass = encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("train step"), timestamp_writes: None });
            self.run.encode_forward(&mut pass);
            encode(&mut pass, &self.passes[..1]);
            self.run.encode_backward(&mut pass);
            encode(&mut pass, &self.passes[1..]);
        }
        self.queue.submit([encoder.finish()]);
        let totals = read_ranges(&self.device, &self.queue, &[(&self.totals, 0, 16)]).await?;
        let value =
            |k: usize| f32::from_le_bytes([totals[4 * k], totals[4 * k + 1], totals[4 * k + 2], totals[4 * k + 3]]);
        let loss = f64::from(value(0)) / rows as f64;
        if value(2) != 0.0 {
            return Err(GpuTrainError::Diverged(if loss.is_finite() {
                TrainError::NonFiniteGradient { step }
            } else {
                TrainError::NonFiniteLoss { step }
            }));
        }
        self.steps = step;
        Ok(loss)
    }

    /// The weights and their EMA.
    pub async fn weights(&self) -> Result<(Vec<f32>, Vec<f32>), GpuError> {
        let bytes = self.params_bytes(&[&self.parameters, &self.ema]).await?;
        let floats = floats_of(&bytes);
        let (weights, ema) = floats.split_at(self.config.param_count());
        Ok((weights.to_vec(), ema.to_vec()))
    }

    /// The last step's mean gradient (before clipping).
    pub async fn gradient(&self) -> Result<Vec<f32>, GpuError> {
        Ok(floats_of(&self.params_bytes(&[&self.run.gradient]).await?))
    }

    async fn params_bytes(&self, buffers: &[&wgpu::Buffer]) -> Result<Vec<u8>, GpuError> {
        let size = self.config.param_count() as u64 * 4;
        let ranges: Vec<_> = buffers.iter().map(|b| (*b, 0, size)).collect();
        read_ranges(&self.device, &self.queue, &ranges).await
    }
}

fn floats_of(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}
