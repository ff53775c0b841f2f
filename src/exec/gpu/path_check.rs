//! Whether this device's op-major path may be trusted: before the page sends its panels to the
//! op-major path (src/exec/gpu/op_major.rs), one small fixed run there must agree with the
//! CPU executor within a tolerance relative to each particle's size ([`relative_agreement`]).
//!
//! Why a check at all: the op-major path agrees with the CPU on lavapipe for every fixed-step
//! sampler (tests/gpu_plans.rs) and on Chromium's SwiftShader (tests/web_gpu.rs), but no
//! hardware adapter has run it in this project's tests, and a driver's transcendentals can
//! differ from both (SwiftShader's `tanh` gave NaN past |z| ≈ 44 until mlp.wgsl clamped it:
//! docs/GPU.md). A device that fails the check keeps the interpreter, and the page says why.

use super::op_major::GpuPath;
use super::plan_run::{chosen_path, execute_plan_with, GpuRunSettings, PlanKernel};
use crate::core::nn::{Mlp, MlpConfig};
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::sample::model::{MlpModel, Model};
use crate::core::sample::{build, SamplerOptions};
use crate::exec::cpu::{run_plan, RunOptions};

/// Particles of the check: not a multiple of the evaluation tile, so the ragged last tile
/// is part of it.
pub const CHECK_PARTICLES: usize = 77;

/// f16 against the f32 CPU run, per coordinate relative to the particle's size: f16 keeps 11
/// bits, so each evaluation is off by about 1e-3 relative and the steps add it up (measured on
/// lavapipe: 1.4e-2 on a trained network's 10-step DDIM samples, tests/gpu_plans.rs).
pub const F16_TOLERANCE: f32 = 5e-2;

/// What the check measured where it passed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathCheck {
    /// Largest per-coordinate difference from the CPU's particles, relative to each
    /// particle's size where that is above 1.
    pub max_error: f32,
}

/// DDIM (6 evaluations, VP) on a random 32 x 2 SiLU network at `CHECK_PARTICLES` particles,
/// on the CPU and on this device's op-major path in `settings.precision`, compared by
/// [`relative_agreement`] within `tolerance` (`PARTICLE_TOLERANCE` or `F16_TOLERANCE`, times
/// `agreement::SWIFTSHADER_SCALE` on a software adapter). Err says what differed, or what
/// failed to run.
pub async fn check_op_major(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    kernel: &PlanKernel,
    settings: GpuRunSettings,
    tolerance: f32,
) -> Result<PathCheck, String> {
    let settings = GpuRunSettings { path: Some(GpuPath::OpMajor), ..settings };
    let config = MlpConfig { width: 32, depth: 2, ..MlpConfig::default() };
    let mut model = MlpModel::new(Mlp::new(config, 5)?, Parameterisation::Eps);
    let options = SamplerOptions { nfe: 6, ..SamplerOptions::default() };
    let plan = build("ddim", Process::vp(), Parameterisation::Eps, &options)?;
    let data = model.data();
    if chosen_path(settings, &plan, &data) != GpuPath::OpMajor {
        return Err("the check's plan does not take the op-major path".into());
    }
    let run = RunOptions { particles: CHECK_PARTICLES, seed: 11, traced: vec![], inputs: vec![] };
    let cpu = run_plan(&plan, &mut model, &run).map_err(|e| format!("the CPU's run failed: {e}"))?;
    let gpu = execute_plan_with(device, queue, kernel, settings, &plan, &data, &run)
        .await
        .map_err(|e| format!("the op-major run failed: {e}"))?;
    relative_agreement(&cpu.positions, &gpu.positions, tolerance)
}

/// The largest difference between two runs' particles, each relative to the CPU particle's
/// size where that is above 1: a random network drives DDIM's particles to hundreds (its
/// noise prediction does not cancel the 1 / alpha of the last steps), where f32 and a
/// software adapter's coarser transcendentals differ in absolute terms well above the
/// plans' tolerance while agreeing to six digits. Err names the worst particle; a particle
/// that is not finite on either side fails.
pub fn relative_agreement(cpu: &[[f32; 2]], gpu: &[[f32; 2]], tolerance: f32) -> Result<PathCheck, String> {
    if cpu.len() != gpu.len() {
        return Err(format!("{} particles came back, not {}", gpu.len(), cpu.len()));
    }
    let mut worst = (0.0f32, 0usize);
    for (k, (a, b)) in cpu.iter().zip(gpu).enumerate() {
        // `f32::max` passes over a NaN, so a particle that is not finite is infinitely far.
        let error = if a.iter().chain(b).all(|v| v.is_finite()) {
            (a[0] - b[0]).abs().max((a[1] - b[1]).abs()) / a[0].abs().max(a[1].abs()).max(1.0)
        } else {
            f32::INFINITY
        };
        if error > worst.0 {
            worst = (error, k);
        }
    }
    let (error, k) = worst;
    if error > tolerance {
        return Err(format!(
            "particle {k} is {:?} on the GPU and {:?} on the CPU: {error:.2e} apart relative to its size, above {tolerance:.1e}",
            gpu[k], cpu[k]
        ));
    }
    Ok(PathCheck { max_error: error })
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn agreement_is_relative_to_the_particles_size_and_refuses_what_is_not_finite() {
        let cpu = [[0.5, -0.25], [300.0, 10.0], [2.0, 2.0]];
        let near = [[0.5001, -0.25], [300.03, 10.0], [2.0, 2.0]];
        let check = relative_agreement(&cpu, &near, 1e-3).unwrap();
        assert!((check.max_error - 1e-4).abs() < 2e-6, "{check:?}");
        let off = [[0.5, -0.25], [300.0, 10.0], [2.01, 2.0]];
        let refused = relative_agreement(&cpu, &off, 1e-3).unwrap_err();
        assert!(refused.starts_with("particle 2 is [2.01, 2.0] on the GPU"), "{refused}");
        let nan = [[0.5, f32::NAN], [300.0, 10.0], [2.0, 2.0]];
        assert!(relative_agreement(&cpu, &nan, 1e-3).unwrap_err().starts_with("particle 0"));
        assert!(relative_agreement(&cpu, &cpu[..2], 1e-3).unwrap_err().contains("2 particles came back, not 3"));
    }
}
