//! A training step's rows drawn on the GPU (shaders/train_rows.wgsl): the CPU trainer's draw
//! from the same counters (`DrawRecipe`), in f32, straight into the buffers the gradient reads.
//!
//! Drawing on the host costs O(batch) per step and an upload of the features and records
//! (about 1.3 ms and 0.4 MB per 4096 rows on one thread here), which a fast GPU would wait
//! for; on the GPU it is one dispatch. The data points (and their conditions) are uploaded
//! once, and again only when the trainer's data change.

use super::abi::{param_code, process_code};
use super::kernel::{dispatch_grid, filled_buffer};
use super::GpuError;
use crate::core::data::Point;
use crate::core::train::trainer::{DrawRecipe, TRAIN_STREAM, T_EPS_TRAIN};
use crate::core::train::{Objective, Weighting};

/// How far the GPU's rows may be from the host's f64 draw rounded to f32, relative to each
/// quantity's size (at least 1): f32 transcendentals (log, sin, cos, exp, pow) and a time
/// feature's phase of up to 2^5 pi t rounded in f32. Measured on lavapipe over every process
/// and objective (tests/gpu_train.rs, `the_gpu_draws_the_cpu_trainers_rows`): at most 1.0e-5,
/// a time feature's; every weight and shift below that, after process.wgsl's schedules were
/// made free of cancellation (before: 4e-4, the likelihood weighting near t = 0).
pub const ROW_TOLERANCE: f64 = 1e-4;

/// Mirrors `DrawParams` in shaders/train_rows.wgsl (96 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct DrawParams {
    pub seed: [u32; 2],
    pub stream: [u32; 2],
    pub rows: u32,
    pub step: u32,
    pub data_len: u32,
    pub row_length: u32,
    pub flow_matching: u32,
    pub param: u32,
    pub likelihood: u32,
    pub has_conditions: u32,
    pub conditional: u32,
    pub process_kind: u32,
    pub process_a: f32,
    pub process_b: f32,
    pub t_eps: f32,
    pub t_max: f32,
    pub condition_dim: u32,
    pub input_dim: u32,
    pub frequencies: u32,
    pub pad0: u32,
    pub pad1: u32,
    pub pad2: u32,
}

/// `DrawParams`' layout, for the comparison with its shader twin (tests/shaders_validate.rs).
pub fn draw_layout() -> super::abi::HostLayout {
    super::abi::layout!(
        "train_rows.wgsl",
        "DrawParams",
        DrawParams,
        [
            seed,
            stream,
            rows,
            step,
            data_len,
            row_length,
            flow_matching,
            param,
            likelihood,
            has_conditions,
            conditional,
            process_kind,
            process_a,
            process_b,
            t_eps,
            t_max,
            condition_dim,
            input_dim,
            frequencies,
            pad0,
            pad1,
            pad2,
        ]
    )
}

fn words(value: u64) -> [u32; 2] {
    [value as u32, (value >> 32) as u32]
}

/// The parameters of step `step`'s draw of `rows` rows for a network with `config`'s inputs.
pub fn draw_params(
    recipe: &DrawRecipe,
    config: &crate::core::nn::MlpConfig,
    rows: usize,
    step: u64,
    row_length: u32,
) -> DrawParams {
    let (process_kind, process_a, process_b) = process_code(&recipe.process);
    let (flow_matching, param, likelihood) = match recipe.objective {
        Objective::FlowMatching => (1, 0, 0),
        Objective::Dsm { param, weighting } => (0, param_code(param), u32::from(weighting == Weighting::Likelihood)),
    };
    DrawParams {
        seed: words(recipe.seed),
        stream: words(TRAIN_STREAM),
        rows: rows as u32,
        // The counter's high word: the CPU's (step << 32) | row keeps the step's low 32 bits.
        step: step as u32,
        data_len: recipe.data.len() as u32,
        row_length,
        flow_matching,
        param,
        likelihood,
        has_conditions: u32::from(recipe.conditions.is_some()),
        conditional: u32::from(recipe.process.is_conditional()),
        process_kind,
        process_a,
        process_b,
        t_eps: T_EPS_TRAIN as f32,
        t_max: recipe.t_max as f32,
        condition_dim: config.condition_dim as u32,
        input_dim: config.input_dim() as u32,
        frequencies: config.time_frequencies as u32,
        ..DrawParams::default()
    }
}

/// The draw's buffers and bindings on one device, for one batch.
pub struct RowDrawer {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipeline: wgpu::ComputePipeline,
    uniform: wgpu::Buffer,
    features: wgpu::Buffer,
    records: wgpu::Buffer,
    /// The data and conditions as uploaded, to upload again only when they change.
    held: Option<(Vec<Point>, Option<Vec<Point>>)>,
    bind_group: Option<wgpu::BindGroup>,
    rows: usize,
    grid: (u32, u32),
}

impl RowDrawer {
    /// A drawer of `rows` rows into `features` (rows x inputs) and `records` (rows x 8), with
    /// `pipeline` (train_rows.wgsl's `draw_rows`).
    pub fn new(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        pipeline: &wgpu::ComputePipeline,
        features: &wgpu::Buffer,
        records: &wgpu::Buffer,
        rows: usize,
    ) -> Self {
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("draw params"),
            size: std::mem::size_of::<DrawParams>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let grid = dispatch_grid(rows as u32, device.limits().max_compute_workgroups_per_dimension);
        RowDrawer {
            device: device.clone(),
            queue: queue.clone(),
            pipeline: pipeline.clone(),
            uniform,
            features: features.clone(),
            records: records.clone(),
            held: None,
            bind_group: None,
            rows,
            grid,
        }
    }

    /// Uploads the recipe's data and conditions unless they are what the GPU holds already
    /// (once per run of steps: the data do not change within one).
    pub fn hold(&mut self, recipe: &DrawRecipe) -> Result<(), GpuError> {
        let same = self.held.as_ref().is_some_and(|(data, conditions)| {
            data.as_slice() == recipe.data && conditions.as_deref() == recipe.conditions
        });
        if same {
            return Ok(());
        }
        if recipe.data.is_empty() {
            return Err(GpuError::Unsupported("no training data to draw from".into()));
        }
        let points =
            |points: &[Point]| -> Vec<f32> { points.iter().flat_map(|p| [p[0] as f32, p[1] as f32]).collect() };
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let data = filled_buffer(
            &self.device,
            &self.queue,
            "training data",
            bytemuck::cast_slice(&points(recipe.data)),
            storage,
        );
        let conditions = filled_buffer(
            &self.device,
            &self.queue,
            "training conditions",
            bytemuck::cast_slice(&recipe.conditions.map(points).unwrap_or_default()),
            storage,
        );
        let entries = [(0, &self.uniform), (1, &data), (3, &conditions), (4, &self.features), (5, &self.records)]
            .map(|(binding, buffer)| wgpu::BindGroupEntry { binding, resource: buffer.as_entire_binding() });
        self.bind_group = Some(self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("draw rows"),
            layout: &self.pipeline.get_bind_group_layout(0),
            entries: &entries,
        }));
        self.held = Some((recipe.data.to_vec(), recipe.conditions.map(<[Point]>::to_vec)));
        Ok(())
    }

    /// Writes step `step`'s draw parameters, which land before the next submission (queue
    /// order). Encode the draw with `encode` after, once `hold` has put the data there.
    pub fn write_params(&self, recipe: &DrawRecipe, config: &crate::core::nn::MlpConfig, step: u64) {
        let params = draw_params(recipe, config, self.rows, step, self.grid.0 * super::kernel::WORKGROUP_SIZE);
        self.queue.write_buffer(&self.uniform, 0, bytemuck::bytes_of(&params));
    }

    /// The draw's dispatch (after `hold` and `write_params`).
    pub fn encode(&self, pass: &mut wgpu::ComputePass) {
        if let Some(group) = &self.bind_group {
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, group, &[]);
            pass.dispatch_workgroups(self.grid.0, self.grid.1, 1);
        }
    }
}

/// Step `step`'s `rows` rows for a network with `config`'s inputs, drawn on the GPU and read
/// back: (features, rows x inputs; records, rows x 8). What the tests compare with the host's
/// draw (`Trainer::regression_row`).
pub async fn execute_draw_rows(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    recipe: &DrawRecipe<'_>,
    config: &crate::core::nn::MlpConfig,
    rows: usize,
    step: u64,
) -> Result<(Vec<f32>, Vec<f32>), GpuError> {
    let pipeline = super::kernel::compute_pipeline(device, "train_rows.wgsl", "draw_rows").await?;
    let feature_bytes = (rows * config.input_dim() * 4) as u64;
    let record_bytes = (rows * 8 * 4) as u64;
    let features = super::kernel::storage_buffer(device, "drawn features", feature_bytes);
    let records = super::kernel::storage_buffer(device, "drawn records", record_bytes);
    let mut drawer = RowDrawer::new(device, queue, &pipeline, &features, &records, rows);
    drawer.hold(recipe)?;
    drawer.write_params(recipe, config, step);
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("draw rows") });
    {
        let mut pass = encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("draw rows"), timestamp_writes: None });
        drawer.encode(&mut pass);
    }
    queue.submit([encoder.finish()]);
    let bytes =
        super::readout::read_ranges(device, queue, &[(&features, 0, feature_bytes), (&records, 0, record_bytes)])
            .await?;
    let floats: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes);
    let (features, records) = floats.split_at(rows * config.input_dim());
    Ok((features.to_vec(), records.to_vec()))
}

/// The largest gap between rows drawn on the GPU (`features` and `records` as
/// `execute_draw_rows` returns them) and `trainer`'s own draw of step `step`
/// (`Trainer::regression_row`), relative to each number's size (at least 1), and which number
/// it is. What the tests hold to `ROW_TOLERANCE`.
pub fn largest_row_gap(
    trainer: &crate::core::train::Trainer,
    step: u64,
    features: &[f32],
    records: &[f32],
) -> (f64, String) {
    let inputs = trainer.mlp.config.input_dim();
    let mut want_features = vec![0.0f32; inputs];
    let mut worst = (f64::NEG_INFINITY, String::from("no rows"));
    for (r, (got_features, got_record)) in features.chunks_exact(inputs).zip(records.chunks_exact(8)).enumerate() {
        let want_record = trainer.regression_row(step, r, &mut want_features);
        let got = got_features.iter().chain(&got_record[..6]);
        let want = want_features.iter().map(|v| f64::from(*v)).chain(want_record);
        for (k, (g, w)) in got.zip(want).enumerate() {
            // A NaN gap counts as infinite, so it is never hidden.
            let gap = (f64::from(*g) - w).abs() / w.abs().max(1.0);
            let gap = if gap.is_nan() { f64::INFINITY } else { gap };
            if gap > worst.0 {
                let what = if k < inputs { format!("feature {k}") } else { format!("record entry {}", k - inputs) };
                worst = (gap, format!("row {r}, {what}: {g} against {w}"));
            }
        }
    }
    (worst.0.max(0.0), worst.1)
}
