//! The work budget of a dispatch: how many of the interpreter's units (about one per loop
//! iteration) one invocation may spend before it suspends, per adapter, and what an
//! evaluation of each model costs in those units (plan_interpreter.wgsl explains why).

use crate::core::nn::MlpConfig;

/// How much work one dispatch may do per particle, in the shader's units (about one per loop
/// iteration; see plan_interpreter.wgsl).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuRunSettings {
    pub work_budget: u32,
    /// The path to take; `None` chooses (`plan_run::chosen_path`).
    pub path: Option<super::op_major::GpuPath>,
    /// The op-major path's evaluation precision (f16 needs the adapter's `shader-f16`).
    pub precision: super::op_major::Precision,
}

/// llvmpipe/lavapipe ends an invocation after 65535 loop iterations in all: stay below it.
pub const SOFTWARE_WORK_BUDGET: u32 = 50_000;
/// Hardware: long enough to make launches rare, short enough for a driver's watchdog.
pub const HARDWARE_WORK_BUDGET: u32 = 1 << 21;

impl GpuRunSettings {
    /// The budget for this adapter: the software one's loop cap, or the hardware default.
    pub fn for_adapter(info: &wgpu::AdapterInfo) -> Self {
        let software = super::context::is_software_adapter(info.device_type, &[&info.name, &info.driver]);
        let work_budget = if software { SOFTWARE_WORK_BUDGET } else { HARDWARE_WORK_BUDGET };
        GpuRunSettings { work_budget, path: None, precision: super::op_major::Precision::F32 }
    }
}

/// The shader's loop iterations for one forward pass (the same loops with or without the
/// Jacobian): features, then per layer each output's unrolled dot product and the copy.
/// Measured on llvmpipe, the true count runs above this tally by up to 1.8x plus a few hundred
/// (loop entries and lowered switches count too), so the estimate is padded accordingly.
pub fn mlp_eval_cost(config: &MlpConfig) -> u32 {
    let dims = config.dims();
    let layers: usize = dims.windows(2).map(|w| w[1] * (w[0] / 4 + w[0] % 4 + 2) + w[1]).sum();
    let tally = config.time_frequencies + config.input_dim() + layers + 8;
    (2 * tally + 400) as u32
}

/// A learned field's network and head, counted as `mlp_eval_cost` counts the MLP's.
pub fn field_eval_cost(net: &crate::core::nn::dense::Dense) -> u32 {
    let layers: usize = net.dims.windows(2).map(|w| w[1] * (w[0] / 4 + w[0] % 4 + 2) + w[1]).sum();
    (2 * (layers + 20) + 400) as u32
}

/// The mixture's passes over its components (the maximum, then the sums).
pub fn mixture_eval_cost(components: usize) -> u32 {
    (6 * components + 40) as u32
}
