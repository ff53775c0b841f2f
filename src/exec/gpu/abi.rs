//! The contract between the Rust host and the WGSL kernels, in one place: the structs the
//! host writes into uniform buffers (mirrors of the shaders' structs, byte for byte) and the
//! code tables both sides number the same way (ops, processes, parameterisations,
//! activations). `tests/shaders_validate.rs` reads the shaders with naga's reflection and
//! checks every member offset and every code here against them.

use crate::core::nn::dense_activation::DenseActivation;
use crate::core::nn::{Activation, MlpConfig};
use crate::core::param::Parameterisation;
use crate::core::process::Process;

use super::plan_code::{MAX_LEVELS, MAX_STAGES};
use super::plan_code::{
    OP_ADAPTIVE, OP_AXPY, OP_EVAL, OP_EVAL_AT_LEVEL, OP_GIBBS_LEVEL, OP_INIT, OP_LOAD_INPUT, OP_MALA_START,
    OP_MALA_STEP, OP_SKIP_IF, OP_SNAPSHOT,
};
use super::plan_code::{OP_ADD_INCREMENT, OP_EVAL_DIFFUSION, OP_GENERATOR_START, OP_GENERATOR_STEP, OP_REPLACE};
use crate::core::limits;
use crate::core::sample::plan::MAX_REGISTERS;

// Activations, as shaders/mlp.wgsl numbers them.
pub const ACT_SILU: u32 = 0;
pub const ACT_TANH: u32 = 1;
pub const ACT_SOFTPLUS: u32 = 2;
pub const ACT_RELU: u32 = 3;
pub const ACT_LIPSWISH: u32 = 4;
pub const ACT_SIGMOID: u32 = 5;
pub const ACT_GAUSSIAN: u32 = 6;
pub const ACT_IDENTITY: u32 = 7;

// Model kinds, as shaders/plan_abi.wgsl numbers them (the exact mixture is the kind the
// shaders reach when neither matches, so they do not name it).
pub const MODEL_MLP: u32 = 0;
pub const MODEL_MIXTURE: u32 = 1;
pub const MODEL_FIELD: u32 = 2;
pub const MODEL_DIAGONAL_SDE: u32 = 3;
pub const MODEL_GENERATOR: u32 = 4;

// Processes, as shaders/process.wgsl numbers them.
pub const PROCESS_VP: u32 = 0;
pub const PROCESS_SUBVP: u32 = 1;
pub const PROCESS_VE: u32 = 2;
pub const PROCESS_COSINE: u32 = 3;
pub const PROCESS_MR: u32 = 4;
pub const PROCESS_RF: u32 = 5;

// Parameterisations, as shaders/process.wgsl numbers them.
pub const PARAM_EPS: u32 = 0;
pub const PARAM_X0: u32 = 1;
pub const PARAM_SCORE: u32 = 2;
pub const PARAM_V: u32 = 3;
pub const PARAM_FLOW: u32 = 4;

/// Every code the host and the shaders share, by the name both give it.
pub const CODES: [(&str, u32); 39] = [
    ("ACT_SILU", ACT_SILU),
    ("ACT_TANH", ACT_TANH),
    ("ACT_SOFTPLUS", ACT_SOFTPLUS),
    ("ACT_RELU", ACT_RELU),
    ("ACT_LIPSWISH", ACT_LIPSWISH),
    ("ACT_SIGMOID", ACT_SIGMOID),
    ("ACT_GAUSSIAN", ACT_GAUSSIAN),
    ("ACT_IDENTITY", ACT_IDENTITY),
    ("MODEL_MLP", MODEL_MLP),
    ("MODEL_FIELD", MODEL_FIELD),
    ("MODEL_DIAGONAL_SDE", MODEL_DIAGONAL_SDE),
    ("MODEL_GENERATOR", MODEL_GENERATOR),
    ("PROCESS_VP", PROCESS_VP),
    ("PROCESS_SUBVP", PROCESS_SUBVP),
    ("PROCESS_VE", PROCESS_VE),
    ("PROCESS_COSINE", PROCESS_COSINE),
    ("PROCESS_MR", PROCESS_MR),
    ("PROCESS_RF", PROCESS_RF),
    ("PARAM_EPS", PARAM_EPS),
    ("PARAM_X0", PARAM_X0),
    ("PARAM_SCORE", PARAM_SCORE),
    ("PARAM_V", PARAM_V),
    ("PARAM_FLOW", PARAM_FLOW),
    ("OP_INIT", OP_INIT),
    ("OP_EVAL", OP_EVAL),
    ("OP_AXPY", OP_AXPY),
    ("OP_SNAPSHOT", OP_SNAPSHOT),
    ("OP_ADAPTIVE", OP_ADAPTIVE),
    ("OP_MALA_START", OP_MALA_START),
    ("OP_MALA_STEP", OP_MALA_STEP),
    ("OP_EVAL_AT_LEVEL", OP_EVAL_AT_LEVEL),
    ("OP_GIBBS_LEVEL", OP_GIBBS_LEVEL),
    ("OP_SKIP_IF", OP_SKIP_IF),
    ("OP_LOAD_INPUT", OP_LOAD_INPUT),
    ("OP_EVAL_DIFFUSION", OP_EVAL_DIFFUSION),
    ("OP_ADD_INCREMENT", OP_ADD_INCREMENT),
    ("OP_REPLACE", OP_REPLACE),
    ("OP_GENERATOR_START", OP_GENERATOR_START),
    ("OP_GENERATOR_STEP", OP_GENERATOR_STEP),
];

/// The sizes the shaders' private arrays are declared with: the constant that names each, its
/// value on the Rust side, and the global arrays it sizes.
pub const SIZES: [(&str, u32, &[&str]); 4] = [
    ("MAX_REGISTERS", MAX_REGISTERS as u32, &["R"]),
    ("MAX_LEVELS", MAX_LEVELS as u32, &["level_logs"]),
    ("MAX_STAGES", MAX_STAGES as u32, &["stage_k"]),
    (
        "MAX_WIDTH",
        limits::WIDTH.max as u32,
        &["mlp_value", "mlp_next", "mlp_tangent0", "mlp_tangent1", "mlp_next_tangent0", "mlp_next_tangent1"],
    ),
];

/// The prefixes of the shared code tables: a shader constant with one of these is part of
/// the contract and must be in `CODES`.
pub const CODE_PREFIXES: [&str; 5] = ["ACT_", "PROCESS_", "PARAM_", "OP_", "MODEL_"];

/// Mirrors `MlpShape` in shaders/mlp.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MlpShape {
    pub base: u32,
    pub width: u32,
    pub depth: u32,
    pub activation: u32,
    pub frequencies: u32,
    pub condition_dim: u32,
    pub outputs: u32,
    pub input_dim: u32,
}

/// Mirrors `RunParams` in shaders/plan_abi.wgsl (256 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RunParams {
    pub chunk_offset: u32,
    pub chunk_particles: u32,
    pub row_length: u32,
    pub registers: u32,
    pub seed_lo: u32,
    pub seed_hi: u32,
    pub code_start: u32,
    pub code_end: u32,
    pub traced: u32,
    pub model_kind: u32,
    pub param: u32,
    pub process_kind: u32,
    pub process_a: f32,
    pub process_b: f32,
    pub condition_x: f32,
    pub condition_y: f32,
    pub mlp: MlpShape,
    pub classifier: MlpShape,
    pub mixture_base: u32,
    pub mixture_components: u32,
    pub has_classifier: u32,
    pub work_budget: u32,
    pub eval_cost: u32,
    pub classifier_cost: u32,
    /// Input rows per particle (`Plan::input_rows`): the inputs buffer holds them particle
    /// by particle.
    pub input_rows: u32,
    /// What a neural SDE's diffusion costs (both coordinates' nets); for the SDE-GAN
    /// generator, its initial net and readout (`eval_cost` is its drift and diffusion).
    pub diffusion_cost: u32,
    /// A neural SDE's diffusion net (the first coordinate's; the second's follows it).
    pub diffusion: MlpShape,
    /// The SDE-GAN generator's initial net (its fields are `mlp` and `diffusion`).
    pub initial: MlpShape,
    /// The SDE-GAN generator's readout.
    pub readout: MlpShape,
}

/// A host struct's layout, for the comparison with its shader twin.
#[derive(Debug, Clone, PartialEq)]
pub struct HostLayout {
    /// The shader file that declares the twin (composed with what it requires).
    pub shader: &'static str,
    /// The struct's name in WGSL.
    pub name: &'static str,
    pub size: usize,
    /// (member name, byte offset), in order.
    pub members: Vec<(&'static str, usize)>,
}

macro_rules! layout {
    ($shader:expr, $wgsl:expr, $ty:ty, [$($field:ident),* $(,)?]) => {
        $crate::exec::gpu::abi::HostLayout {
            shader: $shader,
            name: $wgsl,
            size: std::mem::size_of::<$ty>(),
            members: vec![$((stringify!($field), std::mem::offset_of!($ty, $field))),*],
        }
    };
}
pub(crate) use layout;

/// Every struct the host writes for a shader.
pub fn host_layouts() -> Vec<HostLayout> {
    vec![
        layout!(
            "mlp.wgsl",
            "MlpShape",
            MlpShape,
            [base, width, depth, activation, frequencies, condition_dim, outputs, input_dim]
        ),
        layout!(
            "plan_abi.wgsl",
            "RunParams",
            RunParams,
            [
                chunk_offset,
                chunk_particles,
                row_length,
                registers,
                seed_lo,
                seed_hi,
                code_start,
                code_end,
                traced,
                model_kind,
                param,
                process_kind,
                process_a,
                process_b,
                condition_x,
                condition_y,
                mlp,
                classifier,
                mixture_base,
                mixture_components,
                has_classifier,
                work_budget,
                eval_cost,
                classifier_cost,
                input_rows,
                diffusion_cost,
                diffusion,
                initial,
                readout,
            ]
        ),
        super::draw::view_layout(),
        super::op_major::eval_layout(),
        super::mlp_gradient::gradient_layout(),
        super::trainer::step_layout(),
        super::train_rows::draw_layout(),
        super::rng_fill::params_layout(),
    ]
}

pub fn activation_code(activation: Activation) -> u32 {
    match activation {
        Activation::Silu => ACT_SILU,
        Activation::Tanh => ACT_TANH,
        Activation::Softplus => ACT_SOFTPLUS,
        Activation::Relu => ACT_RELU,
    }
}

/// A lab network's activation as shaders/mlp.wgsl numbers it.
pub fn dense_activation_code(activation: DenseActivation) -> u32 {
    match activation {
        DenseActivation::Identity => ACT_IDENTITY,
        DenseActivation::LipSwish => ACT_LIPSWISH,
        DenseActivation::Sigmoid => ACT_SIGMOID,
        DenseActivation::Gaussian => ACT_GAUSSIAN,
        other => activation_code(other.shared().expect("the remaining kinds are shared")),
    }
}

pub fn param_code(param: Parameterisation) -> u32 {
    match param {
        Parameterisation::Eps => PARAM_EPS,
        Parameterisation::X0 => PARAM_X0,
        Parameterisation::Score => PARAM_SCORE,
        Parameterisation::V => PARAM_V,
        Parameterisation::Flow => PARAM_FLOW,
    }
}

/// (kind, a, b) of shaders/process.wgsl.
pub fn process_code(process: &Process) -> (u32, f32, f32) {
    match *process {
        Process::Vp { beta_min, beta_max } => (PROCESS_VP, beta_min as f32, beta_max as f32),
        Process::SubVp { beta_min, beta_max } => (PROCESS_SUBVP, beta_min as f32, beta_max as f32),
        Process::Ve { sigma_min, sigma_max } => (PROCESS_VE, sigma_min as f32, sigma_max as f32),
        Process::CosineVp { s } => (PROCESS_COSINE, s as f32, 0.0),
        Process::MeanReverting { lambda, theta_total } => (PROCESS_MR, lambda as f32, theta_total as f32),
        Process::RectifiedFlow => (PROCESS_RF, 0.0, 0.0),
    }
}

/// The MLP's shape as the shader reads it, its parameters starting at word `base`.
pub fn mlp_shape(config: &MlpConfig, base: usize) -> MlpShape {
    MlpShape {
        base: base as u32,
        width: config.width as u32,
        depth: config.depth as u32,
        activation: activation_code(config.activation),
        frequencies: config.time_frequencies as u32,
        condition_dim: config.condition_dim as u32,
        outputs: config.outputs as u32,
        input_dim: config.input_dim() as u32,
    }
}
