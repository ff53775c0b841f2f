//! Training on the GPU: the CPU trainer's step (`core::train::Trainer::step`) with the network's
//! forward and backward pass, the loss, the gradient's norm, Adam and the EMA in WGSL
//! (mlp_gradient.wgsl, train_step.wgsl), one submission a step.
//!
//! The rows come from the same counters (seed, step, sample) as the CPU trainer's: both
//! trainers see the same minibatch, so a test compares them step for step. The diffusion
//! trainer's rows are drawn on the GPU (`train_rows`, the CPU's draw in f32), so a step needs
//! nothing from the host but its parameters; the classifier's, and any trainer's when asked
//! (`draw_rows_on_host`), are drawn on the host by the CPU trainer's own code
//! (`Trainer::regression_row`) and uploaded. The step reads back four numbers
//! (the loss, the squared norm, the flag and the clipping scale): a step whose loss or gradient
//! is not finite changes nothing on the GPU and is refused, as on the CPU.
//!
//! `run_steps` submits several steps with one readback at the end: a refused step halts the
//! rest of the run on the GPU (train_step.wgsl), so the host, which reads each step's loss and
//! flag afterwards, sees exactly the steps taken. The page trains this way, a run between two
//! checkpoints at a time, and reads the whole optimiser state back (`state`) to keep its
//! rollback and its sampling on the host's copy.

use super::kernel::{compute_pipeline, WORKGROUP_SIZE};
use super::mlp_gradient::{encode, GradientKernel, GradientRun};
use super::readout::read_ranges;
use super::train_rows::RowDrawer;
use super::GpuError;
use crate::core::nn::adam::{Adam, Ema};
use crate::core::nn::{parallel, Mlp, MlpConfig};
use crate::core::train::level_classifier::LevelTrainer;
use crate::core::train::trainer::{DrawRecipe, MinibatchDraw, T_EPS_TRAIN};
use crate::core::train::{TrainError, Trainer};

/// Parameters per partial sum of the gradient's squared norm (`NORM_CHUNK` in the shader).
const NORM_CHUNK: usize = 256;
/// Floats per row record: a, w, b0, b1, z0, z1 and two unused.
const RECORD: usize = 8;
/// The totals before the history: loss sum, squared norm, flag, clipping scale, halted, unused.
const TOTALS: usize = 8;
/// Most steps `run_steps` submits with one readback.
pub const MAX_STEPS_PER_RUN: usize = 64;
/// Rows that make drawing on another thread worth its start (tens of microseconds).
const ROWS_PER_THREAD: usize = 256;

/// Mirrors `StepParams` in shaders/train_step.wgsl (64 bytes).
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
    pub slot: u32,
    pub outputs: u32,
    pub pad0: u32,
    pub pad1: u32,
    pub pad2: u32,
}

/// `StepParams`' layout, for the comparison with its shader twin (tests/shaders_validate.rs).
pub fn step_layout() -> super::abi::HostLayout {
    super::abi::layout!(
        "train_step.wgsl",
        "StepParams",
        StepParams,
        [
            rows,
            params,
            norm_chunks,
            row_length,
            inv_batch,
            step_size,
            epsilon,
            beta1,
            beta2,
            clip,
            ema_decay,
            slot,
            outputs,
            pad0,
            pad1,
            pad2
        ]
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

/// How a row's loss comes from the network's outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowLossKind {
    /// w |a out + b - z|^2 over two outputs (every objective of the diffusion trainer).
    Regression,
    /// Cross-entropy over the outputs' softmax, against the row's label (DLG's classifier).
    CrossEntropy,
}

/// What the GPU trainer trains: a network, its optimiser (and EMA, where it keeps one), and
/// its rows, drawn from counters by the CPU trainer's own code. The diffusion trainer and DLG's
/// noise-level classifier are both. `Sync`: a step's rows are drawn on several threads.
pub trait TrainSource: Sync {
    fn mlp(&self) -> &Mlp;
    fn adam(&self) -> &Adam;
    /// The weights' EMA, where the trainer keeps one.
    fn ema(&self) -> Option<&Ema>;
    fn batch(&self) -> usize;
    fn learning_rate(&self) -> f64;
    fn loss_kind(&self) -> RowLossKind;
    /// Row `row` of step `step`: its network features, and its record (`RECORD` floats: a, w,
    /// b, z for a regression; the label for a classifier).
    fn row(&self, step: u64, row: usize, features: &mut [f32], record: &mut [f32]);
    /// The diffusion time row `row` of step `step` is at (the loss-by-time chart), if it has one.
    fn row_time(&self, step: u64, row: usize) -> Option<f64>;
    /// What the GPU needs to draw the rows itself (shaders/train_rows.wgsl), where it can.
    fn draw_recipe(&self) -> Option<DrawRecipe<'_>> {
        None
    }
}

impl TrainSource for Trainer {
    fn mlp(&self) -> &Mlp {
        &self.mlp
    }
    fn adam(&self) -> &Adam {
        &self.adam
    }
    fn ema(&self) -> Option<&Ema> {
        Some(&self.ema)
    }
    fn batch(&self) -> usize {
        self.config.batch
    }
    fn learning_rate(&self) -> f64 {
        self.config.learning_rate
    }
    fn loss_kind(&self) -> RowLossKind {
        RowLossKind::Regression
    }
    fn row(&self, step: u64, row: usize, features: &mut [f32], record: &mut [f32]) {
        for (r, v) in record.iter_mut().zip(self.regression_row(step, row, features)) {
            *r = v as f32;
        }
    }
    fn row_time(&self, step: u64, row: usize) -> Option<f64> {
        let uniform = MinibatchDraw::uniform_t_of(self.config.seed, step, row as u64);
        Some(T_EPS_TRAIN + (self.process.t_max() - T_EPS_TRAIN) * uniform)
    }
    fn draw_recipe(&self) -> Option<DrawRecipe<'_>> {
        Some(Trainer::draw_recipe(self))
    }
}

impl TrainSource for LevelTrainer {
    fn mlp(&self) -> &Mlp {
        &self.classifier.mlp
    }
    // The inherent methods of the same names (not these: no recursion).
    fn adam(&self) -> &Adam {
        LevelTrainer::adam(self)
    }
    fn ema(&self) -> Option<&Ema> {
        None
    }
    fn batch(&self) -> usize {
        LevelTrainer::batch(self)
    }
    fn learning_rate(&self) -> f64 {
        LevelTrainer::adam(self).learning_rate
    }
    fn loss_kind(&self) -> RowLossKind {
        RowLossKind::CrossEntropy
    }
    fn row(&self, step: u64, row: usize, features: &mut [f32], record: &mut [f32]) {
        record[0] = self.labelled_row(step, row, features) as f32;
    }
    fn row_time(&self, _step: u64, _row: usize) -> Option<f64> {
        None
    }
}

/// The trainer's compute pipelines, compiled once per device and shared by every network
/// trained on it (a new batch or network only needs new buffers).
#[derive(Clone)]
pub struct TrainKernels {
    gradient: GradientKernel,
    row_losses: wgpu::ComputePipeline,
    row_cross_entropy: wgpu::ComputePipeline,
    norm_partials: wgpu::ComputePipeline,
    step_totals: wgpu::ComputePipeline,
    adam_update: wgpu::ComputePipeline,
    draw_rows: wgpu::ComputePipeline,
}

impl TrainKernels {
    pub async fn new(device: &wgpu::Device) -> Result<Self, GpuError> {
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let gradient = GradientKernel::new(device).await?;
        let file = "train_step.wgsl";
        let kernels = TrainKernels {
            gradient,
            row_losses: compute_pipeline(device, file, "row_losses").await?,
            row_cross_entropy: compute_pipeline(device, file, "row_cross_entropy").await?,
            norm_partials: compute_pipeline(device, file, "norm_partials").await?,
            step_totals: compute_pipeline(device, file, "step_totals").await?,
            adam_update: compute_pipeline(device, file, "adam_update").await?,
            draw_rows: compute_pipeline(device, "train_rows.wgsl", "draw_rows").await?,
        };
        if let Some(error) = scope.pop().await {
            return Err(GpuError::Validation(error.to_string()));
        }
        Ok(kernels)
    }
}

/// What a run of steps did.
#[derive(Debug, Clone, PartialEq)]
pub struct StepsDone {
    /// The mean loss of each step taken, in order.
    pub losses: Vec<f64>,
    /// The step that was refused, if one was: no step after it was taken.
    pub refused: Option<TrainError>,
    /// (t, loss) of each row of the run's last step, when every step was taken and the rows
    /// have times (the CPU trainer's `sample_losses`, for the loss-by-time chart).
    pub row_losses: Vec<(f64, f64)>,
}

/// The weights and the optimiser's state, read back from the GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuTrainState {
    pub params: Vec<f32>,
    pub ema: Vec<f32>,
    pub first: Vec<f32>,
    pub second: Vec<f32>,
    /// Adam's steps and the EMA's updates.
    pub steps: u64,
    pub ema_updates: u64,
}

impl GpuTrainState {
    /// `trainer`'s own state (a trainer without an EMA: the weights, with no updates).
    pub fn of(trainer: &impl TrainSource) -> Self {
        let (first, second) = trainer.adam().moments();
        let params = trainer.mlp().params.clone();
        let (ema, ema_updates) = match trainer.ema() {
            Some(ema) => (ema.params.clone(), ema.updates()),
            None => (params.clone(), 0),
        };
        GpuTrainState {
            params,
            ema,
            first: first.to_vec(),
            second: second.to_vec(),
            steps: trainer.adam().steps(),
            ema_updates,
        }
    }

    /// Puts this state into `trainer`, which then continues from it as if it had taken the
    /// steps itself.
    pub fn install(self, trainer: &mut Trainer) -> Result<(), String> {
        if self.params.len() != trainer.mlp.params.len() {
            return Err(format!(
                "the GPU's weights have {} entries; the network has {}",
                self.params.len(),
                trainer.mlp.params.len()
            ));
        }
        trainer.adam.restore(self.first, self.second, self.steps)?;
        trainer.ema.restore(self.ema, self.ema_updates)?;
        trainer.mlp.params = self.params;
        Ok(())
    }
}

/// A network in training on the GPU, with its optimiser state.
pub struct GpuTrainer {
    device: wgpu::Device,
    queue: wgpu::Queue,
    config: MlpConfig,
    kind: RowLossKind,
    run: GradientRun,
    parameters: wgpu::Buffer,
    ema: wgpu::Buffer,
    moments: wgpu::Buffer,
    records: wgpu::Buffer,
    row_loss: wgpu::Buffer,
    totals: wgpu::Buffer,
    uniform: wgpu::Buffer,
    /// (row losses, norm partials, totals, update), each with its bindings and workgroups.
    passes: Vec<(wgpu::ComputePipeline, wgpu::BindGroup, (u32, u32))>,
    /// Steps taken (refused ones not counted), as `Adam::steps`, and the EMA's updates.
    steps: u64,
    ema_updates: u64,
    /// The state on the GPU as the host last saw it (uploaded or read back), so that `load`
    /// uploads only what differs; None after steps not yet read back.
    seen: Option<GpuTrainState>,
    /// Draws the rows on the GPU for a trainer with a draw recipe.
    drawer: RowDrawer,
    /// Draw every trainer's rows on the host (the bench compares the two).
    rows_on_host: bool,
}

impl GpuTrainer {
    /// The GPU twin of `trainer`: its weights, EMA, optimiser state, batch and settings.
    pub async fn new(device: &wgpu::Device, queue: &wgpu::Queue, trainer: &impl TrainSource) -> Result<Self, GpuError> {
        let kernels = TrainKernels::new(device).await?;
        Self::with_kernels(device, queue, &kernels, trainer).await
    }

    /// As `new`, with pipelines already compiled.
    pub async fn with_kernels(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        kernels: &TrainKernels,
        trainer: &impl TrainSource,
    ) -> Result<Self, GpuError> {
        let config = trainer.mlp().config;
        let kind = trainer.loss_kind();
        match kind {
            RowLossKind::Regression if config.outputs != 2 => {
                return Err(GpuError::Unsupported("a regression trains the diffusion MLP (two outputs)".into()));
            }
            RowLossKind::CrossEntropy if config.outputs < 2 => {
                return Err(GpuError::Unsupported("a classifier needs at least two outputs".into()));
            }
            _ => {}
        }
        let (rows, params) = (trainer.batch(), trainer.mlp().params.len());
        let norm_chunks = params.div_ceil(NORM_CHUNK);
        let max_groups = device.limits().max_compute_workgroups_per_dimension as usize;
        if params.div_ceil(WORKGROUP_SIZE as usize) > max_groups {
            return Err(GpuError::Unsupported(format!("{params} parameters exceed this adapter's dispatch grid")));
        }
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
        let blank = |label: &str, floats: usize| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: (floats as u64 * 4).max(16),
                usage: storage,
                mapped_at_creation: false,
            })
        };
        let parameters = blank("parameters", params);
        let ema = blank("ema", params);
        let moments = blank("adam moments", 2 * params);
        let records = blank("row records", rows * RECORD);
        let row_loss = blank("row losses", rows);
        let norm_partial = blank("norm partials", norm_chunks);
        let totals = blank("step totals", TOTALS + 2 * MAX_STEPS_PER_RUN);
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("step params"),
            size: std::mem::size_of::<StepParams>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let run = GradientRun::new(device, &kernels.gradient, &config, &parameters, rows)?;
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
        let k = kernels;
        let row_pass = match kind {
            RowLossKind::Regression => &k.row_losses,
            RowLossKind::CrossEntropy => &k.row_cross_entropy,
        };
        let passes = vec![
            (
                row_pass.clone(),
                group(row_pass, &[(0, &uniform), (1, &records), (2, &run.outputs), (3, &run.d_out), (4, &row_loss)]),
                groups(rows),
            ),
            (
                k.norm_partials.clone(),
                group(&k.norm_partials, &[(0, &uniform), (5, &run.gradient), (6, &norm_partial)]),
                groups(norm_chunks),
            ),
            (
                k.step_totals.clone(),
                group(&k.step_totals, &[(0, &uniform), (4, &row_loss), (6, &norm_partial), (7, &totals)]),
                (1, 1),
            ),
            (
                k.adam_update.clone(),
                group(
                    &k.adam_update,
                    &[(0, &uniform), (5, &run.gradient), (7, &totals), (8, &parameters), (9, &moments), (10, &ema)],
                ),
                groups(params),
            ),
        ];
        let drawer = RowDrawer::new(device, queue, &k.draw_rows, &run.features, &records, rows);
        if let Some(error) = scope.pop().await {
            return Err(GpuError::Validation(error.to_string()));
        }
        let mut trainer_gpu = GpuTrainer {
            device: device.clone(),
            queue: queue.clone(),
            config,
            kind,
            run,
            parameters,
            ema,
            moments,
            records,
            row_loss,
            totals,
            uniform,
            passes,
            steps: 0,
            ema_updates: 0,
            seen: None,
            drawer,
            rows_on_host: false,
        };
        trainer_gpu.load(trainer)?;
        Ok(trainer_gpu)
    }

    /// Draw the rows on the host and upload them (`true`), or on the GPU where the trainer
    /// has a draw recipe (`false`, the default).
    pub fn draw_rows_on_host(&mut self, on_host: bool) {
        self.rows_on_host = on_host;
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Whether this GPU trainer can take `trainer`'s state: the same network, loss and batch.
    pub fn fits(&self, trainer: &impl TrainSource) -> bool {
        trainer.mlp().config == self.config && trainer.batch() == self.run.rows && trainer.loss_kind() == self.kind
    }

    /// Makes the GPU's state `trainer`'s (weights, EMA, Adam's moments and steps), uploading
    /// only when it differs from what the GPU holds as last seen.
    pub fn load(&mut self, trainer: &impl TrainSource) -> Result<(), GpuError> {
        if !self.fits(trainer) {
            return Err(GpuError::Unsupported(format!(
                "this GPU trainer holds a {}x{} network at batch {}; build a new one for batch {}",
                self.config.width,
                self.config.depth,
                self.run.rows,
                trainer.batch()
            )));
        }
        let state = GpuTrainState::of(trainer);
        if self.seen.as_ref() == Some(&state) {
            return Ok(());
        }
        let params = state.params.len() as u64 * 4;
        self.queue.write_buffer(&self.parameters, 0, bytemuck::cast_slice(&state.params));
        self.queue.write_buffer(&self.ema, 0, bytemuck::cast_slice(&state.ema));
        self.queue.write_buffer(&self.moments, 0, bytemuck::cast_slice(&state.first));
        self.queue.write_buffer(&self.moments, params, bytemuck::cast_slice(&state.second));
        (self.steps, self.ema_updates) = (state.steps, state.ema_updates);
        self.seen = Some(state);
        Ok(())
    }

    /// One step on the rows `trainer` draws for it (the same counters as its own next step
    /// would use, with `trainer`'s settings); returns the mean loss. A step that diverges
    /// changes nothing and is refused.
    pub async fn step(&mut self, trainer: &impl TrainSource) -> Result<f64, GpuTrainError> {
        let done = self.run_steps(trainer, 1).await?;
        match (done.refused, done.losses.first()) {
            (Some(refused), _) => Err(GpuTrainError::Diverged(refused)),
            (None, Some(loss)) => Ok(*loss),
            (None, None) => Err(GpuTrainError::Gpu(GpuError::Unsupported("the step was not taken".into()))),
        }
    }

    /// Up to `count` steps (at most `MAX_STEPS_PER_RUN`) submitted together and read back
    /// once, with `trainer`'s draws and settings. A refused step halts the run: the steps
    /// before it are taken, it and the ones after change nothing.
    pub async fn run_steps(&mut self, trainer: &impl TrainSource, count: usize) -> Result<StepsDone, GpuError> {
        let count = count.clamp(1, MAX_STEPS_PER_RUN);
        let rows = self.run.rows;
        let inputs = self.config.input_dim();
        let (first_step, first_update) = (self.steps + 1, self.ema_updates);
        self.seen = None;
        // Clear the halt left by an earlier run.
        self.queue.write_buffer(&self.totals, 0, bytemuck::cast_slice(&[0.0f32; TOTALS]));
        let recipe = trainer.draw_recipe().filter(|_| !self.rows_on_host);
        let (mut features, mut records) = match recipe {
            Some(_) => (Vec::new(), Vec::new()),
            None => (vec![0.0f32; rows * inputs], vec![0.0f32; rows * RECORD]),
        };
        if let Some(recipe) = &recipe {
            self.drawer.hold(recipe)?;
        }
        for slot in 0..count {
            let step = first_step + slot as u64;
            match &recipe {
                Some(recipe) => self.drawer.write_params(recipe, &self.config, step),
                None => {
                    // On the host, on every core: at batch 4096 one thread takes over a
                    // millisecond, which a fast GPU would wait for.
                    let mut rows_out: Vec<(&mut [f32], &mut [f32])> =
                        features.chunks_mut(inputs).zip(records.chunks_mut(RECORD)).collect();
                    parallel::for_each_mut(&mut rows_out, ROWS_PER_THREAD, |r, (features, record)| {
                        trainer.row(step, r, features, record)
                    });
                    self.queue.write_buffer(&self.run.features, 0, bytemuck::cast_slice(&features));
                    self.queue.write_buffer(&self.records, 0, bytemuck::cast_slice(&records));
                }
            }
            // Adam's bias corrections and the EMA's warm-up, as the CPU's Adam and Ema fold
            // them (a decay of 1 keeps no average); a step after a refused one is not taken,
            // so its numbers do not matter.
            let adam = trainer.adam();
            let correction1 = 1.0 - adam.beta1.powi(step as i32);
            let correction2 = 1.0 - adam.beta2.powi(step as i32);
            let params = StepParams {
                rows: rows as u32,
                params: self.config.param_count() as u32,
                norm_chunks: self.config.param_count().div_ceil(NORM_CHUNK) as u32,
                row_length: 0,
                inv_batch: 1.0 / rows as f32,
                step_size: (trainer.learning_rate() * correction2.sqrt() / correction1) as f32,
                epsilon: (adam.epsilon * correction2.sqrt()) as f32,
                beta1: adam.beta1 as f32,
                beta2: adam.beta2 as f32,
                clip: adam.clip_norm.unwrap_or(0.0) as f32,
                ema_decay: trainer.ema().map_or(1.0, |e| e.decay_at(first_update + slot as u64)) as f32,
                slot: slot as u32,
                outputs: self.config.outputs as u32,
                ..StepParams::default()
            };
            // Each write lands before the submission that follows it (queue order), so every
            // step reads its own rows and parameters.
            self.queue.write_buffer(&self.uniform, 0, bytemuck::bytes_of(&params));
            let mut encoder =
                self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("train step") });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("train step"),
                    timestamp_writes: None,
                });
                if recipe.is_some() {
                    self.drawer.encode(&mut pass);
                }
                self.run.encode_forward(&mut pass);
                encode(&mut pass, &self.passes[..1]);
                self.run.encode_backward(&mut pass);
                encode(&mut pass, &self.passes[1..]);
            }
            self.queue.submit([encoder.finish()]);
        }
        let totals_bytes = 4 * (TOTALS + 2 * count) as u64;
        let bytes = read_ranges(
            &self.device,
            &self.queue,
            &[(&self.totals, 0, totals_bytes), (&self.row_loss, 0, 4 * rows as u64)],
        )
        .await?;
        let floats = floats_of(&bytes);
        let (totals, row_loss) = floats.split_at(TOTALS + 2 * count);
        let mut done = StepsDone { losses: Vec::new(), refused: None, row_losses: Vec::new() };
        for slot in 0..count {
            let (sum, flag) = (totals[TOTALS + 2 * slot], totals[TOTALS + 2 * slot + 1]);
            let step = first_step + slot as u64;
            if flag != 0.0 {
                let loss = f64::from(sum);
                done.refused = Some(if loss.is_finite() {
                    TrainError::NonFiniteGradient { step }
                } else {
                    TrainError::NonFiniteLoss { step }
                });
                break;
            }
            done.losses.push(f64::from(sum) / rows as f64);
        }
        let taken = done.losses.len() as u64;
        self.steps += taken;
        self.ema_updates += taken;
        if done.refused.is_none() {
            let step = self.steps;
            done.row_losses = row_loss
                .iter()
                .enumerate()
                .filter_map(|(r, loss)| trainer.row_time(step, r).map(|t| (t, f64::from(*loss))))
                .collect();
        }
        Ok(done)
    }

    /// The weights, their EMA and the optimiser's state, read back.
    pub async fn state(&mut self) -> Result<GpuTrainState, GpuError> {
        let bytes = self.params_bytes(&[&self.parameters, &self.ema, &self.moments]).await?;
        let floats = floats_of(&bytes);
        let n = self.config.param_count();
        let state = GpuTrainState {
            params: floats[..n].to_vec(),
            ema: floats[n..2 * n].to_vec(),
            first: floats[2 * n..3 * n].to_vec(),
            second: floats[3 * n..4 * n].to_vec(),
            steps: self.steps,
            ema_updates: self.ema_updates,
        };
        self.seen = Some(state.clone());
        Ok(state)
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

    /// Each buffer's first `param_count` floats; the moments buffer holds two such runs.
    async fn params_bytes(&self, buffers: &[&wgpu::Buffer]) -> Result<Vec<u8>, GpuError> {
        let size = self.config.param_count() as u64 * 4;
        let ranges: Vec<_> =
            buffers.iter().map(|b| (*b, 0, if std::ptr::eq(*b, &self.moments) { 2 * size } else { size })).collect();
        read_ranges(&self.device, &self.queue, &ranges).await
    }
}

/// Runs `count` steps of `trainer` on the GPU trainer kept in `slot` (built, or rebuilt for a
/// new network or batch, from `kernels`), and reads its state back: what the page does with
/// each run of training steps, and what its tests drive natively.
pub async fn train_in_slot(
    slot: &mut Option<GpuTrainer>,
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    kernels: &TrainKernels,
    trainer: &impl TrainSource,
    count: usize,
) -> Result<(StepsDone, GpuTrainState), GpuError> {
    match slot {
        Some(gpu) if gpu.fits(trainer) => gpu.load(trainer)?,
        _ => *slot = Some(GpuTrainer::with_kernels(device, queue, kernels, trainer).await?),
    }
    let gpu = slot.as_mut().expect("set above");
    let done = gpu.run_steps(trainer, count).await?;
    let state = gpu.state().await?;
    Ok((done, state))
}

fn floats_of(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}
