//! The GPU executor: runs any Plan on shaders/plan_interpreter.wgsl. Weights (or the exact
//! mixture) and the encoded plan are uploaded once; particles are split into chunks that fit
//! the adapter's storage limits (read from the device, never assumed); the plan runs a few
//! steps per dispatch, so a page can draw between calls to [`GpuPlanRun::advance`]; results
//! come back through the async readback, which never blocks a browser.
//!
//! The result has the CPU executor's shape (`exec::cpu::RunResult`), so callers and the
//! agreement tests treat the two executors alike. The host-shader structs are in `abi`, the
//! work budget in `work_budget`, the model's upload in `model_upload`; this file is the run.

use super::abi::{param_code, process_code, RunParams};
use super::kernel::{compute_pipeline, dispatch_grid, filled_buffer, read_back, WORKGROUP_SIZE};
use super::model_upload::model_words;
use super::op_major::{execute_op_major, runs_op_major, EvalKernel, GpuPath, Precision};
use super::plan_code::{encode, EncodedPlan};
use super::readout::{points_of, read_first_particles, read_frames};
pub use super::work_budget::{GpuRunSettings, HARDWARE_WORK_BUDGET, SOFTWARE_WORK_BUDGET};
use super::GpuError;
use crate::core::sample::model::ModelData;
use crate::core::sample::plan::Plan;
use crate::exec::cpu::{RunOptions, RunResult};

/// Bytes per particle in the registers buffer, per register (a vec2<f32>).
const REGISTER_BYTES: u64 = 8;
/// Bytes per particle of progress: three vec4<u32>.
const PROGRESS_BYTES: u64 = 48;

/// The compiled interpreter and the op-major path's evaluation kernel. Compiling them is the
/// slow part of a first run (seconds on a software adapter), so callers that run many plans
/// make one and pass it to each.
#[derive(Debug, Clone)]
pub struct PlanKernel {
    pipeline: wgpu::ComputePipeline,
    eval: EvalKernel,
    /// The f16 evaluation kernel, where the device has `shader-f16`.
    eval_f16: Option<EvalKernel>,
}

impl PlanKernel {
    pub async fn new(device: &wgpu::Device) -> Result<Self, GpuError> {
        let pipeline = compute_pipeline(device, "plan_interpreter.wgsl", "run").await?;
        let eval = EvalKernel::new(device, Precision::F32).await?;
        let eval_f16 = if device.features().contains(wgpu::Features::SHADER_F16) {
            Some(EvalKernel::new(device, Precision::F16).await?)
        } else {
            None
        };
        Ok(PlanKernel { pipeline, eval, eval_f16 })
    }

    /// Whether the f16 evaluation kernel exists (the device has `shader-f16`).
    pub fn has_f16(&self) -> bool {
        self.eval_f16.is_some()
    }
}

/// The path a run takes: op-major where `settings` asks for it (by name, or by asking for f16,
/// which exists on that path only) and the plan and model allow it (`op_major::runs_op_major`);
/// the interpreter otherwise.
///
/// The op-major path is taken when asked. `nde` asks with `--gpu-path op-major` or
/// `--precision f16`; the page asks on a hardware adapter once the path has passed its check
/// on that device (`path_check`, `ui::gpu_runner::choose_path`), and on a software one only
/// when a link asks: there the interpreter measured faster (docs/BENCHMARKS.md).
pub fn chosen_path(settings: GpuRunSettings, plan: &Plan, model: &ModelData) -> GpuPath {
    let asked = settings.path == Some(GpuPath::OpMajor) || settings.precision == Precision::F16;
    if asked && settings.path != Some(GpuPath::Interpreter) && runs_op_major(plan, model) {
        GpuPath::OpMajor
    } else {
        GpuPath::Interpreter
    }
}

/// One chunk of particles and its buffers.
struct Chunk {
    particles: usize,
    groups: (u32, u32),
    params: RunParams,
    params_buffer: wgpu::Buffer,
    buffers: ChunkBuffers,
    bind_group: wgpu::BindGroup,
}

/// The buffers every chunk's interpreter dispatch shares: the plan's code, the model's words,
/// the traced frames and the count of suspended particles.
pub(super) struct SharedBuffers<'a> {
    pub code: &'a wgpu::Buffer,
    pub model: &'a wgpu::Buffer,
    pub frames: &'a wgpu::Buffer,
    pub status: &'a wgpu::Buffer,
}

/// One chunk's own buffers: its particles' registers, their progress words and their input
/// rows (the registers and progress start at zero, as the interpreter expects).
pub(super) struct ChunkBuffers {
    pub registers: wgpu::Buffer,
    pub progress: wgpu::Buffer,
    pub inputs: wgpu::Buffer,
}

impl ChunkBuffers {
    /// Particles `offset .. offset + particles` of a run of `plan` with `options`' input rows.
    pub(super) fn new(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        plan: &Plan,
        options: &RunOptions,
        offset: usize,
        particles: usize,
    ) -> Self {
        let blank = |label: &str, size: u64| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: size.max(16),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let rows = plan.input_rows();
        let input_words: Vec<[f32; 2]> = if rows > 0 {
            options.inputs[offset * rows..(offset + particles) * rows].to_vec()
        } else {
            vec![[0.0; 2]; 2]
        };
        ChunkBuffers {
            registers: blank("registers", (particles * plan.registers) as u64 * REGISTER_BYTES),
            progress: blank("progress", particles as u64 * PROGRESS_BYTES),
            inputs: filled_buffer(
                device,
                queue,
                "inputs",
                bytemuck::cast_slice(&input_words),
                wgpu::BufferUsages::STORAGE,
            ),
        }
    }

    /// The interpreter's bindings for this chunk under the uniform `params`.
    pub(super) fn bind_group(
        &self,
        device: &wgpu::Device,
        layout: &wgpu::BindGroupLayout,
        params: &wgpu::Buffer,
        shared: &SharedBuffers,
    ) -> wgpu::BindGroup {
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("plan interpreter bindings"),
            layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: params.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: shared.code.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: shared.model.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 3, resource: self.registers.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 4, resource: self.progress.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 5, resource: shared.frames.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 6, resource: self.inputs.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 7, resource: shared.status.as_entire_binding() },
            ],
        })
    }
}

/// A plan in flight on the GPU.
pub struct GpuPlanRun {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipeline: wgpu::ComputePipeline,
    code: EncodedPlan,
    chunks: Vec<Chunk>,
    frames: wgpu::Buffer,
    status: wgpu::Buffer,
    frame_count: usize,
    traced: usize,
    registers: usize,
    value_register: Option<u8>,
    particles: usize,
    next_segment: usize,
}

/// Particles per chunk: as many as the storage binding limit allows for the registers and
/// the input rows (the largest buffers), within the 2D dispatch grid.
pub fn chunk_size(limits: &wgpu::Limits, registers: usize, input_rows: usize) -> usize {
    let binding = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
    let by_registers = binding / (registers.max(input_rows) as u64 * REGISTER_BYTES);
    let by_grid = u64::from(limits.max_compute_workgroups_per_dimension).pow(2) * u64::from(WORKGROUP_SIZE);
    by_registers.min(by_grid).max(1) as usize
}

/// The uniform every dispatch of a run shares (its chunk and code range left to fill), and the
/// model's words; refuses a run whose traced particles or input rows the GPU cannot take.
pub(super) fn run_params(
    plan: &Plan,
    model: &ModelData,
    options: &RunOptions,
    settings: GpuRunSettings,
) -> Result<(RunParams, Vec<f32>), GpuError> {
    let n = options.particles;
    if n == 0 {
        return Err(GpuError::Unsupported("a run needs at least one particle".into()));
    }
    if options.traced.iter().enumerate().any(|(k, p)| *p != k) {
        return Err(GpuError::Unsupported("the GPU executor traces the first N particles (0, 1, ..., N-1)".into()));
    }
    let mut base = RunParams {
        registers: plan.registers as u32,
        seed_lo: options.seed as u32,
        seed_hi: (options.seed >> 32) as u32,
        traced: options.traced.len().min(n) as u32,
        param: param_code(plan.param),
        condition_x: plan.condition[0],
        condition_y: plan.condition[1],
        work_budget: settings.work_budget.max(1),
        ..RunParams::default()
    };
    (base.process_kind, base.process_a, base.process_b) = process_code(&plan.process);
    let model_data = model_words(plan, model, &mut base)?;
    let rows = plan.input_rows();
    base.input_rows = rows as u32;
    if rows > 0 && options.inputs.len() != n * rows {
        return Err(GpuError::Unsupported(format!(
            "{} needs {} input rows ({rows} per particle: its input point, and a path's Brownian increments), got {}",
            plan.sampler,
            n * rows,
            options.inputs.len()
        )));
    }
    Ok((base, model_data))
}

impl GpuPlanRun {
    /// Uploads the plan and model and prepares the particles' buffers; nothing runs yet.
    pub async fn new(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        kernel: &PlanKernel,
        settings: GpuRunSettings,
        plan: &Plan,
        model: &ModelData,
        options: &RunOptions,
    ) -> Result<Self, GpuError> {
        Self::with_chunk_limit(device, queue, kernel, settings, plan, model, options, usize::MAX).await
    }

    /// Like [`new`](Self::new), with at most `max_chunk` particles per chunk (the device's
    /// limits may impose fewer): lets tests split small runs into chunks.
    #[allow(clippy::too_many_arguments)]
    pub async fn with_chunk_limit(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        kernel: &PlanKernel,
        settings: GpuRunSettings,
        plan: &Plan,
        model: &ModelData,
        options: &RunOptions,
        max_chunk: usize,
    ) -> Result<Self, GpuError> {
        let code = encode(plan).map_err(GpuError::Unsupported)?;
        let (base, model_data) = run_params(plan, model, options, settings)?;
        let (n, traced, rows) = (options.particles, options.traced.len(), plan.input_rows());

        let scope_oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pipeline = kernel.pipeline.clone();
        let init = |label: &str, contents: &[u8], usage| filled_buffer(device, queue, label, contents, usage);
        let padded = |bytes: &[u8]| {
            let mut v = bytes.to_vec();
            v.resize(v.len().max(16), 0);
            v
        };
        let code_buffer = init("plan code", &padded(bytemuck::cast_slice(&code.words)), wgpu::BufferUsages::STORAGE);
        let model_buffer = init("model data", &padded(bytemuck::cast_slice(&model_data)), wgpu::BufferUsages::STORAGE);
        let frame_count = plan.frames() as usize;
        let frames = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("frames"),
            size: ((frame_count * traced.min(n)) as u64 * 8).max(16),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let status = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("suspended particles"),
            size: 4,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let limits = device.limits();
        let per_chunk = chunk_size(&limits, plan.registers, rows).min(max_chunk.max(1));
        let layout = pipeline.get_bind_group_layout(0);
        let mut chunks = Vec::new();
        let mut offset = 0;
        while offset < n {
            let particles = per_chunk.min(n - offset);
            let groups = dispatch_grid(particles as u32, limits.max_compute_workgroups_per_dimension);
            let params = RunParams {
                chunk_offset: offset as u32,
                chunk_particles: particles as u32,
                row_length: groups.0 * WORKGROUP_SIZE,
                ..base
            };
            let params_buffer = init(
                "run params",
                bytemuck::bytes_of(&params),
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            );
            let buffers = ChunkBuffers::new(device, queue, plan, options, offset, particles);
            let shared = SharedBuffers { code: &code_buffer, model: &model_buffer, frames: &frames, status: &status };
            let bind_group = buffers.bind_group(device, &layout, &params_buffer, &shared);
            chunks.push(Chunk { particles, groups, params, params_buffer, buffers, bind_group });
            offset += particles;
        }
        // Scopes pop innermost first. The pop takes effect at once; awaiting it lets the
        // browser deliver the result on its event loop.
        let validation = scope.pop();
        let memory = scope_oom.pop();
        if let Some(error) = validation.await {
            return Err(GpuError::Validation(error.to_string()));
        }
        if let Some(error) = memory.await {
            return Err(GpuError::OutOfMemory(format!(
                "{error}; {n} particles need {} MB of registers: use fewer particles, or the CPU executor",
                (n * plan.registers) as u64 * REGISTER_BYTES / 1_000_000
            )));
        }
        Ok(GpuPlanRun {
            device: device.clone(),
            queue: queue.clone(),
            pipeline,
            code,
            chunks,
            frames,
            status,
            frame_count,
            traced: traced.min(n),
            registers: plan.registers,
            value_register: plan.value_register,
            particles: n,
            next_segment: 0,
        })
    }

    /// Steps (segments of the step-by-step view) not yet run.
    pub fn remaining(&self) -> usize {
        self.code.segments.len() - self.next_segment
    }

    pub fn steps(&self) -> usize {
        self.code.segments.len()
    }

    /// Runs the next `steps` steps (one dispatch per chunk over their ops, repeated while any
    /// particle stopped on the work budget). Awaits only the small "who stopped" readback, so
    /// in a browser it yields to the event loop between dispatches.
    pub async fn advance(&mut self, steps: usize) -> Result<(), GpuError> {
        let steps = steps.min(self.remaining());
        if steps == 0 {
            return Ok(());
        }
        let start = self.code.segments[self.next_segment].0;
        let end = self.code.segments[self.next_segment + steps - 1].1;
        self.next_segment += steps;
        for chunk in &self.chunks {
            let params = RunParams { code_start: start, code_end: end, ..chunk.params };
            self.queue.write_buffer(&chunk.params_buffer, 0, bytemuck::bytes_of(&params));
        }
        // A particle stops at most once per dispatch and always makes progress, so this ends;
        // the cap only guards against a bug turning into a hang.
        for _ in 0..1_000_000 {
            let mut encoder =
                self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("plan steps") });
            encoder.clear_buffer(&self.status, 0, None);
            for chunk in &self.chunks {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("plan steps"),
                    timestamp_writes: None,
                });
                pass.set_pipeline(&self.pipeline);
                pass.set_bind_group(0, &chunk.bind_group, &[]);
                pass.dispatch_workgroups(chunk.groups.0, chunk.groups.1, 1);
            }
            self.queue.submit([encoder.finish()]);
            let status = self.copy_back(&self.status, 4).await?;
            if u32::from_le_bytes([status[0], status[1], status[2], status[3]]) == 0 {
                return Ok(());
            }
        }
        Err(GpuError::Validation("the plan interpreter made no progress (a bug: please report it)".into()))
    }

    /// Waits for the queued work and reads everything back, in the CPU executor's shape.
    pub async fn read(&self) -> Result<RunResult, GpuError> {
        self.read_first(usize::MAX).await
    }

    /// Like [`read`](Self::read), for the first `limit` particles only: their positions,
    /// values, evaluations and frames (the frames buffer keeps every particle's, for drawing).
    pub async fn read_first(&self, limit: usize) -> Result<RunResult, GpuError> {
        let count = self.particles.min(limit);
        let register_chunks: Vec<_> = self.chunks.iter().map(|c| (&c.buffers.registers, c.particles)).collect();
        let progress_chunks: Vec<_> = self.chunks.iter().map(|c| (&c.buffers.progress, c.particles)).collect();
        let (device, queue) = (&self.device, &self.queue);
        let registers =
            read_first_particles(device, queue, &register_chunks, self.registers as u64 * REGISTER_BYTES, count);
        let registers = points_of(&registers.await?);
        let progress = read_first_particles(device, queue, &progress_chunks, PROGRESS_BYTES, count).await?;
        let word = |p: usize, k: usize| {
            let at = p * PROGRESS_BYTES as usize + 4 * k;
            u32::from_le_bytes([progress[at], progress[at + 1], progress[at + 2], progress[at + 3]])
        };
        let mut positions = Vec::with_capacity(count);
        let mut values = Vec::new();
        let mut evaluations = 0u64;
        for p in 0..count {
            positions.push(registers[p * self.registers]);
            if let Some(v) = self.value_register {
                values.push(registers[p * self.registers + v as usize][0]);
            }
            evaluations += u64::from(word(p, 2));
            if word(p, 3) & 4 != 0 {
                return Err(GpuError::Diverged(format!(
                    "the adaptive solve of particle {p} gave up (the step size underflowed or it took too many \
                     steps): loosen --rtol/--atol"
                )));
            }
            if word(p, 3) & 2 != 0 {
                return Err(GpuError::Validation(format!(
                    "particle {p} was cut short by the software GPU's loop cap (llvmpipe stops an invocation \
                     after 65535 loop iterations): the work budget underestimates this model; lower it"
                )));
            }
        }
        let frames = read_frames(device, queue, &self.frames, self.frame_count, self.traced, count).await?;
        if let Some(p) = positions.iter().position(|x| !x.iter().all(|v| v.is_finite())) {
            return Err(GpuError::Diverged(format!(
                "particle {p} left the finite numbers on the GPU (the sampler diverged, or an adaptive solve gave up): try more steps or a looser tolerance"
            )));
        }
        Ok(RunResult { positions, frames, nfe: evaluations as f64 / count.max(1) as f64, values })
    }

    /// The frames buffer: every traced particle at every snapshot (frame-major), for drawing.
    pub fn frames_buffer(&self) -> &wgpu::Buffer {
        &self.frames
    }

    /// Snapshots per traced particle.
    pub fn frame_count(&self) -> usize {
        self.frame_count
    }

    async fn copy_back(&self, buffer: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>, GpuError> {
        read_back(&self.device, &self.queue, buffer, bytes).await
    }
}

/// Runs a whole plan and reads the result: the GPU twin of `exec::cpu::run_plan`.
pub async fn execute_plan(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    settings: GpuRunSettings,
    plan: &Plan,
    model: &ModelData,
    options: &RunOptions,
) -> Result<RunResult, GpuError> {
    let kernel = PlanKernel::new(device).await?;
    execute_plan_with(device, queue, &kernel, settings, plan, model, options).await
}

/// [`execute_plan`] with an already compiled kernel.
pub async fn execute_plan_with(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    kernel: &PlanKernel,
    settings: GpuRunSettings,
    plan: &Plan,
    model: &ModelData,
    options: &RunOptions,
) -> Result<RunResult, GpuError> {
    Ok(execute_keeping_frames(device, queue, kernel, settings, plan, model, options, usize::MAX).await?.0)
}

/// Runs a whole plan on the path `chosen_path` picks and reads back its first `read_limit`
/// particles; the frames buffer stays on the GPU and comes back with them.
#[allow(clippy::too_many_arguments)]
pub(super) async fn execute_keeping_frames(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    kernel: &PlanKernel,
    settings: GpuRunSettings,
    plan: &Plan,
    model: &ModelData,
    options: &RunOptions,
    read_limit: usize,
) -> Result<(RunResult, wgpu::Buffer), GpuError> {
    let path = chosen_path(settings, plan, model);
    if settings.precision == Precision::F16 {
        if path != GpuPath::OpMajor {
            return Err(GpuError::Unsupported(format!(
                "f16 runs on the op-major path only, which takes fixed-step plans on a network; {} here runs on \
                 the interpreter: use f32",
                plan.sampler
            )));
        }
        let Some(eval) = &kernel.eval_f16 else {
            return Err(GpuError::Unsupported("this GPU adapter does not offer shader-f16: use f32".into()));
        };
        return execute_op_major(device, queue, &kernel.pipeline, eval, settings, plan, model, options, read_limit)
            .await;
    }
    if path == GpuPath::OpMajor {
        return execute_op_major(
            device,
            queue,
            &kernel.pipeline,
            &kernel.eval,
            settings,
            plan,
            model,
            options,
            read_limit,
        )
        .await;
    }
    let mut run = GpuPlanRun::new(device, queue, kernel, settings, plan, model, options).await?;
    // The work budget keeps each dispatch short; the whole plan is one range.
    run.advance(usize::MAX).await?;
    let result = run.read_first(read_limit).await?;
    Ok((result, run.frames))
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn chunks_respect_the_storage_limit() {
        let limits = wgpu::Limits { max_storage_buffer_binding_size: 1 << 20, ..wgpu::Limits::default() };
        let per_chunk = chunk_size(&limits, 4, 1);
        assert_eq!(per_chunk, (1 << 20) / 32);
        assert_eq!(chunk_size(&limits, 4, 51), (1 << 20) / (51 * 8));
        assert!(chunk_size(&wgpu::Limits::default(), 16, 0) >= 1);
    }
}
