//! Runs whose particles stay on the GPU: the page's sampler panels at GPU scale (10^5
//! particles). Every particle's every snapshot stays in the run's frames buffer, which the
//! render pipeline (`draw`) reads in place; only the first few particles come back to the host,
//! for the metrics and the trajectories.

use super::draw::GpuPoints;
use super::plan_run::{execute_keeping_frames, GpuRunSettings, PlanKernel};
use super::GpuError;
use crate::core::sample::model::ModelData;
use crate::core::sample::plan::Plan;
use crate::exec::cpu::{RunOptions, RunResult};

/// A finished run whose frames are on the GPU.
#[derive(Debug, Clone)]
pub struct ResidentRun {
    /// Every particle at every snapshot, frame-major: point `f * particles + p`.
    pub frames: wgpu::Buffer,
    pub frame_count: usize,
    pub particles: usize,
    /// The first particles, read back: positions, frames and evaluations, in the CPU
    /// executor's shape (all of them when the run has no more than were asked for).
    pub sample: RunResult,
}

impl ResidentRun {
    /// Snapshot `frame` (the last one beyond the end) of every particle, to draw.
    pub fn frame(&self, frame: usize) -> GpuPoints {
        let f = frame.min(self.frame_count.saturating_sub(1));
        GpuPoints { buffer: self.frames.clone(), first: (f * self.particles) as u32, count: self.particles as u32 }
    }
}

/// Runs a whole plan, tracing every particle, and keeps its frames on the GPU; reads back the
/// first `read_back` particles.
#[allow(clippy::too_many_arguments)]
pub async fn execute_resident(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    kernel: &PlanKernel,
    settings: GpuRunSettings,
    plan: &Plan,
    model: &ModelData,
    options: &RunOptions,
    read_back: usize,
) -> Result<ResidentRun, GpuError> {
    let n = options.particles;
    if options.traced.len() != n {
        return Err(GpuError::Unsupported(format!(
            "a run kept on the GPU traces every particle: {n} particles, {} traced",
            options.traced.len()
        )));
    }
    if plan.frames() == 0 {
        return Err(GpuError::Unsupported(format!("{} keeps no snapshots to draw", plan.sampler)));
    }
    let (sample, frames) =
        execute_keeping_frames(device, queue, kernel, settings, plan, model, options, read_back.max(1)).await?;
    Ok(ResidentRun { frames, frame_count: plan.frames() as usize, particles: n, sample })
}
