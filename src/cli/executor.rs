//! `--backend cpu|gpu`: which executor runs the plans of a command. The GPU context is made
//! once per command (adapter and device), then every run of that command reuses it.

use crate::core::sample::model::Model;
use crate::core::sample::Plan;
use crate::exec::cpu::{run_plan, RunOptions, RunResult};
use crate::exec::gpu::op_major::{GpuPath, Precision};
use crate::exec::gpu::plan_run::{chosen_path, execute_plan_with, GpuRunSettings, PlanKernel};
use crate::exec::gpu::{describe_adapter, GpuContext};

pub enum Executor {
    Cpu,
    /// The GPU, the path its runs take (`None`: chosen per run) and their precision.
    Gpu(GpuContext, PlanKernel, Option<GpuPath>, Precision),
}

impl Executor {
    /// Whether `name` is a backend, without opening a GPU.
    pub fn check_name(name: &str) -> Result<(), String> {
        match name {
            "cpu" | "gpu" => Ok(()),
            other => Err(format!("unknown --backend '{other}': choose cpu or gpu")),
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "cpu" => Ok(Executor::Cpu),
            "gpu" => pollster::block_on(async {
                let ctx = GpuContext::native().await?;
                let kernel = PlanKernel::new(&ctx.device).await?;
                Ok::<_, crate::exec::gpu::GpuError>(Executor::Gpu(ctx, kernel, None, Precision::F32))
            })
            .map_err(|e| format!("--backend gpu: {e}; or run on the CPU executor with --backend cpu")),
            other => Err(format!("unknown --backend '{other}': choose cpu or gpu")),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Executor::Cpu => "cpu",
            Executor::Gpu(..) => "gpu",
        }
    }

    /// The GPU adapter, or what the CPU executor is.
    pub fn adapter(&self) -> String {
        match self {
            Executor::Cpu => format!(
                "cpu executor ({} threads for network evaluations, {})",
                crate::core::nn::parallel::available_threads(),
                crate::core::nn::gemm::instruction_set()
            ),
            Executor::Gpu(ctx, ..) => describe_adapter(&ctx.info),
        }
    }

    /// Makes the GPU's runs take `path` (`--gpu-path`); the CPU has one path.
    pub fn with_gpu_path(self, path: Option<GpuPath>) -> Self {
        match self {
            Executor::Gpu(ctx, kernel, _, precision) => Executor::Gpu(ctx, kernel, path, precision),
            cpu => cpu,
        }
    }

    /// Makes the GPU's op-major evaluations run in `precision` (`--precision`).
    pub fn with_precision(self, precision: Precision) -> Self {
        match self {
            Executor::Gpu(ctx, kernel, path, _) => Executor::Gpu(ctx, kernel, path, precision),
            cpu => cpu,
        }
    }

    fn gpu_settings(ctx: &GpuContext, path: Option<GpuPath>, precision: Precision) -> GpuRunSettings {
        GpuRunSettings { path, precision, ..GpuRunSettings::for_adapter(&ctx.info) }
    }

    /// Which GPU path a run of `plan` on `model` takes (None on the CPU).
    pub fn gpu_path(&self, plan: &Plan, model: &dyn Model) -> Option<GpuPath> {
        match self {
            Executor::Cpu => None,
            Executor::Gpu(ctx, _, path, precision) => {
                Some(chosen_path(Self::gpu_settings(ctx, *path, *precision), plan, &model.data()))
            }
        }
    }

    pub fn run(&self, plan: &Plan, model: &mut dyn Model, options: &RunOptions) -> Result<RunResult, String> {
        match self {
            Executor::Cpu => run_plan(plan, model, options).map_err(|e| e.cli_message()),
            Executor::Gpu(ctx, kernel, path, precision) => {
                let settings = Self::gpu_settings(ctx, *path, *precision);
                pollster::block_on(execute_plan_with(
                    &ctx.device,
                    &ctx.queue,
                    kernel,
                    settings,
                    plan,
                    &model.data(),
                    options,
                ))
                .map_err(|e| format!("{e} (the GPU executor; --backend cpu runs the same plan on the CPU)"))
            }
        }
    }
}

/// The largest per-coordinate difference between two runs' frames (infinite where one is NaN):
/// what `--check` reports against the CPU executor.
pub fn largest_frame_difference(a: &RunResult, b: &RunResult) -> f32 {
    a.frames
        .iter()
        .flatten()
        .zip(b.frames.iter().flatten())
        .map(|(p, q)| (p[0] - q[0]).abs().max((p[1] - q[1]).abs()))
        .fold(0.0f32, |m, d| if d.is_nan() { f32::INFINITY } else { m.max(d) })
}
