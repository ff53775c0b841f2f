//! The op-major GPU path: for a plan with no per-particle control flow on a network (every
//! fixed-step sampler), the host walks the plan's ops and encodes the whole sampler into one
//! submission with no readback until the end:
//!
//! - each `Eval` is one dispatch of shaders/mlp_tiled.wgsl, which evaluates a tile of particles
//!   per workgroup with the activations in workgroup memory and the op's affine combination
//!   fused into the last layer;
//! - each run of element-wise ops between two evaluations (`Init`, `Axpy`, `Snapshot`,
//!   `Replace`, ...) is one dispatch of the plan interpreter over that range of the encoded
//!   plan, on the same registers buffer.
//!
//! The interpreter (`plan_run`) stays for the plans with per-particle control flow (adaptive
//! steps, MALA, DLG) and the other models; `execute_plan_with` chooses by [`runs_op_major`].

use super::abi::{layout, HostLayout, MlpShape, RunParams};
use super::kernel::{compute_pipeline_from_source, filled_buffer, read_back, WORKGROUP_SIZE};
use super::plan_code::encode;
use super::plan_run::{chunk_size, run_params, ChunkBuffers, GpuRunSettings, SharedBuffers};
use super::readout::{points_of, read_first_particles, read_frames};
use super::tiled_weights::pack_tiled_weights;
use super::GpuError;
use crate::core::sample::model::ModelData;
use crate::core::sample::plan::{Op, Plan};
use crate::exec::cpu::{RunOptions, RunResult};
use crate::exec::cpu_blocks::runs_in_blocks;

/// Particles per workgroup of the evaluation kernel (`EVAL_TILE` in mlp_tiled.wgsl).
pub const EVAL_TILE: u32 = 8;

/// Mirrors `EvalParams` in shaders/mlp_tiled.wgsl (80 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct EvalParams {
    pub chunk_particles: u32,
    pub registers: u32,
    pub at: u32,
    pub into: u32,
    pub groups_x: u32,
    pub t: f32,
    pub out_scale: f32,
    pub x_scale: f32,
    pub offset: [f32; 2],
    pub condition: [f32; 2],
    pub mlp: MlpShape,
}

/// `EvalParams`' layout, for the comparison with its shader twin (tests/shaders_validate.rs).
pub fn eval_layout() -> HostLayout {
    layout!(
        "mlp_tiled.wgsl",
        "EvalParams",
        EvalParams,
        [chunk_particles, registers, at, into, groups_x, t, out_scale, x_scale, offset, condition, mlp]
    )
}

/// The precision of the evaluation kernel's activations and products (its sums are f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    F32,
    /// Needs the adapter's `shader-f16` feature.
    F16,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "f32" => Ok(Precision::F32),
            "f16" => Ok(Precision::F16),
            other => Err(format!("unknown precision '{other}': choose f32 or f16")),
        }
    }
}

/// The line of mlp_tiled.wgsl that names its precision.
const PRECISION_LINE: &str = "alias tile_t = f32; // the precision line";

/// mlp_tiled.wgsl composed, in `precision`: the f16 build enables f16 and renames the type.
pub fn tiled_source(precision: Precision) -> Result<String, GpuError> {
    let source =
        crate::exec::shader_source::composed("mlp_tiled.wgsl").map_err(|e| GpuError::Validation(e.to_string()))?;
    match precision {
        Precision::F32 => Ok(source),
        Precision::F16 => {
            if source.matches(PRECISION_LINE).count() != 1 {
                return Err(GpuError::Validation("mlp_tiled.wgsl must name its precision on one line".into()));
            }
            Ok(format!("enable f16;\n{}", source.replace(PRECISION_LINE, "alias tile_t = f16;")))
        }
    }
}

/// The compiled evaluation kernel.
#[derive(Debug, Clone)]
pub struct EvalKernel {
    pipeline: wgpu::ComputePipeline,
}

impl EvalKernel {
    pub async fn new(device: &wgpu::Device, precision: Precision) -> Result<Self, GpuError> {
        let source = tiled_source(precision)?;
        let label = format!("mlp_tiled.wgsl ({})", precision.name());
        Ok(EvalKernel { pipeline: compute_pipeline_from_source(device, &label, &source, "eval_tile").await? })
    }
}

/// Which path a run takes on the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuPath {
    /// Op by op: tiled evaluations and element-wise dispatches.
    OpMajor,
    /// One invocation per particle interprets the whole plan.
    Interpreter,
}

impl GpuPath {
    pub fn name(self) -> &'static str {
        match self {
            GpuPath::OpMajor => "op-major",
            GpuPath::Interpreter => "interpreter",
        }
    }

    /// The path named `name`, or `None` for "auto" (the run chooses).
    pub fn from_name(name: &str) -> Result<Option<Self>, String> {
        match name {
            "auto" => Ok(None),
            "op-major" => Ok(Some(GpuPath::OpMajor)),
            "interpreter" => Ok(Some(GpuPath::Interpreter)),
            other => Err(format!("unknown GPU path '{other}': choose auto, op-major or interpreter")),
        }
    }
}

/// Whether a run can take the op-major path: a plan without per-particle control flow, on a
/// network without a noise-level classifier.
pub fn runs_op_major(plan: &Plan, model: &ModelData) -> bool {
    runs_in_blocks(plan) && matches!(model, ModelData::Mlp { level_classifier: None, .. })
}

/// One dispatch of the op-major run.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// The interpreter over the encoded plan's words [start, end): element-wise ops only.
    Pointwise {
        start: u32,
        end: u32,
    },
    Eval {
        at: u32,
        into: u32,
        t: f32,
        out_scale: f32,
        x_scale: f32,
        offset: [f32; 2],
    },
}

/// The plan cut at its evaluations. `words` is the encoded plan: each op starts with a header
/// whose high bits hold its length in words.
fn steps(plan: &Plan, words: &[u32]) -> Vec<Step> {
    let mut steps = Vec::new();
    let (mut at, mut start) = (0u32, 0u32);
    for op in &plan.ops {
        let length = words.get(at as usize).map_or(1, |header| (header >> 8).max(1));
        if let Op::Eval { at: source, t, into, out_scale, x_scale, offset } = *op {
            if start < at {
                steps.push(Step::Pointwise { start, end: at });
            }
            steps.push(Step::Eval { at: source.into(), into: into.into(), t, out_scale, x_scale, offset });
            start = at + length;
        }
        at += length;
    }
    if start < at {
        steps.push(Step::Pointwise { start, end: at });
    }
    steps
}

/// Workgroups along x and y for `count` workgroups within the device's per-dimension limit.
fn grid(count: u32, max_per_dimension: u32) -> (u32, u32) {
    let x = count.max(1).min(max_per_dimension);
    (x, count.max(1).div_ceil(x))
}

/// Runs a whole plan on the op-major path (the caller checked [`runs_op_major`]) and reads
/// back the first `read_limit` particles; the frames buffer (every traced particle at every
/// snapshot) comes back too, for drawing.
#[allow(clippy::too_many_arguments)]
pub async fn execute_op_major(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    interpreter: &wgpu::ComputePipeline,
    eval: &EvalKernel,
    settings: GpuRunSettings,
    plan: &Plan,
    model: &ModelData,
    options: &RunOptions,
    read_limit: usize,
) -> Result<(RunResult, wgpu::Buffer), GpuError> {
    let code = encode(plan).map_err(GpuError::Unsupported)?;
    let (base, model_data) = run_params(plan, model, options, settings)?;
    let (n, rows) = (options.particles, plan.input_rows());
    let traced = options.traced.len().min(n);
    let steps = steps(plan, &code.words);
    let evaluations = steps.iter().filter(|s| matches!(s, Step::Eval { .. })).count();

    let scope_oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let init = |label: &str, contents: &[u8], usage| filled_buffer(device, queue, label, contents, usage);
    let padded = |bytes: &[u8]| {
        let mut v = bytes.to_vec();
        v.resize(v.len().max(16), 0);
        v
    };
    let storage = wgpu::BufferUsages::STORAGE;
    let code_buffer = init("plan code", &padded(bytemuck::cast_slice(&code.words)), storage);
    let model_buffer = init("model data", &padded(bytemuck::cast_slice(&model_data)), storage);
    let tiled = pack_tiled_weights(&base.mlp, &model_data).map_err(GpuError::Validation)?;
    let tiled_buffer = init("tiled weights", &padded(bytemuck::cast_slice(&tiled)), storage);
    let frames = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("frames"),
        size: ((plan.frames() as usize * traced) as u64 * 8).max(16),
        usage: storage | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let status = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("suspended particles"),
        size: 16,
        usage: storage | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let shared = SharedBuffers { code: &code_buffer, model: &model_buffer, frames: &frames, status: &status };
    let frame_count = plan.frames() as usize;
    let limits = device.limits();
    let per_chunk = chunk_size(&limits, plan.registers, rows);
    let interpreter_layout = interpreter.get_bind_group_layout(0);
    let eval_layout = eval.pipeline.get_bind_group_layout(0);
    let uniform = wgpu::BufferUsages::UNIFORM;

    // Every dispatch's bind group and grid, in order: steps outermost, chunks inside.
    let mut chunks = Vec::new();
    let mut offset = 0;
    while offset < n {
        let particles = per_chunk.min(n - offset);
        let buffers = ChunkBuffers::new(device, queue, plan, options, offset, particles);
        chunks.push((offset, particles, buffers));
        offset += particles;
    }
    let mut dispatches: Vec<(bool, wgpu::BindGroup, (u32, u32))> = Vec::new();
    for step in &steps {
        for (offset, particles, buffers) in &chunks {
            match *step {
                Step::Pointwise { start, end } => {
                    let groups =
                        grid((*particles as u32).div_ceil(WORKGROUP_SIZE), limits.max_compute_workgroups_per_dimension);
                    let params = RunParams {
                        chunk_offset: *offset as u32,
                        chunk_particles: *particles as u32,
                        row_length: groups.0 * WORKGROUP_SIZE,
                        code_start: start,
                        code_end: end,
                        ..base
                    };
                    let params = init("element-wise params", bytemuck::bytes_of(&params), uniform);
                    let bind_group = buffers.bind_group(device, &interpreter_layout, &params, &shared);
                    dispatches.push((false, bind_group, groups));
                }
                Step::Eval { at, into, t, out_scale, x_scale, offset: shift } => {
                    let groups =
                        grid((*particles as u32).div_ceil(EVAL_TILE), limits.max_compute_workgroups_per_dimension);
                    let params = EvalParams {
                        chunk_particles: *particles as u32,
                        registers: plan.registers as u32,
                        at,
                        into,
                        groups_x: groups.0,
                        t,
                        out_scale,
                        x_scale,
                        offset: shift,
                        condition: [base.condition_x, base.condition_y],
                        mlp: base.mlp,
                    };
                    let params = init("evaluation params", bytemuck::bytes_of(&params), uniform);
                    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: Some("tiled evaluation"),
                        layout: &eval_layout,
                        entries: &[
                            wgpu::BindGroupEntry { binding: 0, resource: params.as_entire_binding() },
                            wgpu::BindGroupEntry { binding: 2, resource: model_buffer.as_entire_binding() },
                            wgpu::BindGroupEntry { binding: 3, resource: buffers.registers.as_entire_binding() },
                            wgpu::BindGroupEntry { binding: 4, resource: tiled_buffer.as_entire_binding() },
                        ],
                    });
                    dispatches.push((true, bind_group, groups));
                }
            }
        }
    }
    let validation = scope.pop();
    let memory = scope_oom.pop();
    if let Some(error) = validation.await {
        return Err(GpuError::Validation(error.to_string()));
    }
    if let Some(error) = memory.await {
        return Err(GpuError::OutOfMemory(format!(
            "{error}; {n} particles need {} MB of registers: use fewer particles, or the CPU executor",
            (n * plan.registers) as u64 * 8 / 1_000_000
        )));
    }

    // The whole sampler in one submission.
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("op-major plan") });
    // The interpreter reads each particle's progress (its next op) and registers before it
    // writes them: they start from zero.
    for (_, _, buffers) in &chunks {
        encoder.clear_buffer(&buffers.registers, 0, None);
        encoder.clear_buffer(&buffers.progress, 0, None);
    }
    {
        let mut pass = encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("op-major plan"), timestamp_writes: None });
        for (is_eval, bind_group, groups) in &dispatches {
            pass.set_pipeline(if *is_eval { &eval.pipeline } else { interpreter });
            pass.set_bind_group(0, bind_group, &[]);
            pass.dispatch_workgroups(groups.0, groups.1, 1);
        }
    }
    queue.submit([encoder.finish()]);

    let suspended = read_back(device, queue, &status, 4).await?;
    if u32::from_le_bytes([suspended[0], suspended[1], suspended[2], suspended[3]]) != 0 {
        return Err(GpuError::Validation(
            "an element-wise dispatch ran over its work budget (a bug in the op-major path: please report it)".into(),
        ));
    }
    let count = n.min(read_limit);
    let register_chunks: Vec<_> =
        chunks.iter().map(|(_, particles, buffers)| (&buffers.registers, *particles)).collect();
    let words = read_first_particles(device, queue, &register_chunks, plan.registers as u64 * 8, count).await?;
    let words = points_of(&words);
    let mut positions = Vec::with_capacity(count);
    let mut values = Vec::new();
    for p in 0..count {
        positions.push(words[p * plan.registers]);
        if let Some(v) = plan.value_register {
            values.push(words[p * plan.registers + v as usize][0]);
        }
    }
    let read = read_frames(device, queue, &frames, frame_count, traced, count).await?;
    if let Some(p) = positions.iter().position(|x| !x.iter().all(|v| v.is_finite())) {
        return Err(GpuError::Diverged(format!(
            "particle {p} left the finite numbers on the GPU (the sampler diverged): try more steps"
        )));
    }
    Ok((RunResult { positions, frames: read, nfe: evaluations as f64, values }, frames))
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::param::Parameterisation;
    use crate::core::process::Process;
    use crate::core::sample::{build, SamplerOptions};

    /// DDIM's plan cuts into an element-wise step, then an evaluation and an element-wise
    /// step per time step; the steps cover every word once, in order.
    #[test]
    fn a_plan_cuts_at_its_evaluations() {
        let options = SamplerOptions { nfe: 5, ..SamplerOptions::default() };
        let plan = build("ddim", Process::vp(), Parameterisation::Eps, &options).expect("ddim builds");
        let code = encode(&plan).expect("encodes");
        let steps = steps(&plan, &code.words);
        let evals = steps.iter().filter(|s| matches!(s, Step::Eval { .. })).count();
        assert_eq!(evals, 5);
        let mut covered = 0u32;
        let mut word = 0u32;
        for step in &steps {
            if let Step::Pointwise { start, end } = step {
                assert!(*start >= word && end > start);
                covered += end - start;
                word = *end;
            }
        }
        // The evaluations' words are the ones no element-wise step covers.
        let mut at = 0usize;
        let mut eval_words = 0u32;
        for op in &plan.ops {
            let length = code.words[at] >> 8;
            if matches!(op, Op::Eval { .. }) {
                eval_words += length;
            }
            at += length as usize;
        }
        assert_eq!(covered + eval_words, code.words.len() as u32);
        assert!(matches!(steps.first(), Some(Step::Pointwise { start: 0, .. })));
    }

    #[test]
    fn paths_are_named_both_ways_and_an_unknown_name_says_the_choices() {
        for path in [GpuPath::OpMajor, GpuPath::Interpreter] {
            assert_eq!(GpuPath::from_name(path.name()), Ok(Some(path)));
        }
        assert_eq!(GpuPath::from_name("auto"), Ok(None));
        let message = GpuPath::from_name("fastest").expect_err("unknown");
        assert!(message.contains("'fastest'") && message.contains("auto, op-major or interpreter"), "{message}");
    }

    #[test]
    fn grids_stay_within_the_limit() {
        assert_eq!(grid(10, 65535), (10, 1));
        assert_eq!(grid(70_000, 65535), (65535, 2));
        assert_eq!(grid(0, 8), (1, 1));
    }
}
