//! The model a run evaluates, as words for the shader's model buffer: the network's flat
//! parameters (and DLG's level classifier after them), or the exact mixture's components, with
//! the fields of `RunParams` that describe them.

use super::abi::{
    dense_activation_code, mlp_shape, MlpShape, RunParams, MODEL_DIAGONAL_SDE, MODEL_FIELD, MODEL_GENERATOR,
    MODEL_MIXTURE, MODEL_MLP,
};
use super::work_budget::{field_eval_cost, mixture_eval_cost, mlp_eval_cost};
use super::GpuError;
use crate::core::dynamics::field_model::{FieldHead, FieldModel};
use crate::core::limits;
use crate::core::nn::dense::Dense;
use crate::core::nsde::generator_model::{generator_op, GeneratorModel, NO_GENERATOR};
use crate::core::nsde::sde_model::DiagonalSdeModel;
use crate::core::param::Parameterisation;
use crate::core::sample::model::ModelData;
use crate::core::sample::plan::{Op, Plan};

/// The model's words for `model_data`, and the params that describe them.
pub fn model_words(plan: &Plan, model: &ModelData, params: &mut RunParams) -> Result<Vec<f32>, GpuError> {
    let uses = |pred: fn(&Op) -> bool| plan.ops.iter().any(pred);
    if uses(|op| matches!(op, Op::EvalDiffusion { .. })) && !matches!(model, ModelData::DiagonalSde(_)) {
        return Err(GpuError::Unsupported(crate::core::sample::model::NO_DIFFUSION.into()));
    }
    let generator_ops = uses(|op| matches!(op, Op::GeneratorStart { .. } | Op::GeneratorStep { .. }));
    if generator_ops && !matches!(model, ModelData::Generator(_)) {
        return Err(GpuError::Unsupported(NO_GENERATOR.into()));
    }
    match model {
        ModelData::Mixture { mixture, .. } => {
            if plan.param != Parameterisation::Score {
                return Err(GpuError::Unsupported(format!(
                    "an exact mixture is a score model; the plan wants {:?}",
                    plan.param
                )));
            }
            let spec = mixture.to_spec();
            params.model_kind = MODEL_MIXTURE;
            params.mixture_components = spec.weights.len() as u32;
            params.eval_cost = mixture_eval_cost(spec.weights.len());
            let mut words = Vec::with_capacity(6 * spec.weights.len());
            for ((w, m), c) in spec.weights.iter().zip(&spec.means).zip(&spec.covs) {
                words.extend([w.ln() as f32, m[0] as f32, m[1] as f32, c[0][0] as f32, c[0][1] as f32, c[1][1] as f32]);
            }
            Ok(words)
        }
        ModelData::Mlp { mlp, param, level_classifier, .. } => {
            if *param != plan.param {
                return Err(GpuError::Unsupported(format!(
                    "the plan was built for a {:?} model but the model is {param:?}",
                    plan.param
                )));
            }
            if uses(|op| matches!(op, Op::MalaStart { .. } | Op::MalaStep { .. })) {
                return Err(GpuError::Unsupported(
                    "mala needs a model with a log-density: use --model exact with a mixture target".into(),
                ));
            }
            if mlp.config.width > 256 {
                return Err(GpuError::Unsupported(format!("width {} is over the GPU kernel's 256", mlp.config.width)));
            }
            params.model_kind = MODEL_MLP;
            params.mlp = mlp_shape(&mlp.config, 0);
            params.eval_cost = mlp_eval_cost(&mlp.config);
            let mut words = mlp.params.clone();
            if let Some(classifier) = level_classifier {
                let times: Vec<f64> = plan
                    .ops
                    .iter()
                    .find_map(|op| match op {
                        Op::GibbsLevel { times, .. } => Some(times.iter().map(|t| f64::from(*t)).collect()),
                        _ => None,
                    })
                    .unwrap_or_default();
                if !times.is_empty() {
                    classifier.check_levels(&times).map_err(GpuError::Unsupported)?;
                }
                params.classifier = mlp_shape(&classifier.mlp.config, words.len());
                params.classifier_cost = mlp_eval_cost(&classifier.mlp.config);
                params.has_classifier = 1;
                words.extend_from_slice(&classifier.mlp.params);
            } else if uses(|op| matches!(op, Op::GibbsLevel { .. })) {
                return Err(GpuError::Unsupported(crate::core::sample::model::NO_LEVEL_POSTERIOR.into()));
            }
            Ok(words)
        }
        ModelData::Field(field) => field_words(plan, field, params),
        ModelData::DiagonalSde(sde) => sde_words(plan, sde, params),
        ModelData::Generator(generator) => generator_words(plan, generator, params),
        ModelData::HostOnly { what } => {
            Err(GpuError::Unsupported(format!("{what} run on the CPU executor only: use --backend cpu")))
        }
    }
}

/// The shape of a lab network (`Dense`, uniform hidden width, its last layer linear in the
/// kernel) whose parameters start at word `base`, or why the kernel cannot run it. Plans on
/// the plane take at most 2 inputs and outputs.
fn dense_shape(net: &Dense, base: usize) -> Result<MlpShape, GpuError> {
    let dims = &net.dims;
    if dims[0] > 2 || dims[dims.len() - 1] > 2 {
        return Err(GpuError::Unsupported(format!(
            "the GPU kernel takes networks of at most 2 inputs and outputs on the plane; this one is {dims:?}"
        )));
    }
    wide_dense_shape(net, base)
}

/// As `dense_shape`, for a network of up to the kernel's width in inputs and outputs (the
/// SDE-GAN generator's); a network without hidden layers (a readout) too.
fn wide_dense_shape(net: &Dense, base: usize) -> Result<MlpShape, GpuError> {
    let dims = &net.dims;
    let (width, depth) = (dims[1], dims.len() - 2);
    let uniform = dims[1..dims.len() - 1].iter().all(|&d| d == width);
    if !uniform || dims.iter().any(|&d| d > limits::WIDTH.max) || depth > 6 {
        return Err(GpuError::Unsupported(format!(
            "the GPU kernel takes networks of one hidden width and at most {} values in any layer, depth up to 6; \
             this one is {dims:?}",
            limits::WIDTH.max
        )));
    }
    Ok(MlpShape {
        base: base as u32,
        width: width as u32,
        depth: depth as u32,
        activation: dense_activation_code(net.hidden),
        frequencies: 0,
        condition_dim: 0,
        outputs: dims[dims.len() - 1] as u32,
        input_dim: dims[0] as u32,
    })
}

/// The SDE-GAN generator: its initial net, drift, diffusion and readout, in that order (the
/// shader applies the fields' final tanh). It runs its own path plans only.
fn generator_words(plan: &Plan, generator: &GeneratorModel, params: &mut RunParams) -> Result<Vec<f32>, GpuError> {
    if let Some(op) = plan.ops.iter().find(|op| !generator_op(op)) {
        return Err(GpuError::Unsupported(format!("the SDE-GAN generator runs its own path plans, not {op:?}")));
    }
    for op in &plan.ops {
        generator.check(op).map_err(GpuError::Unsupported)?;
    }
    let mut words = generator.initial_params.clone();
    params.model_kind = MODEL_GENERATOR;
    params.initial = wide_dense_shape(&generator.initial, 0)?;
    params.mlp = wide_dense_shape(&generator.drift, words.len())?;
    words.extend_from_slice(&generator.drift_params);
    params.diffusion = wide_dense_shape(&generator.diffusion, words.len())?;
    words.extend_from_slice(&generator.diffusion_params);
    params.readout = wide_dense_shape(&generator.readout, words.len())?;
    words.extend_from_slice(&generator.readout_params);
    params.eval_cost = field_eval_cost(&generator.drift) + field_eval_cost(&generator.diffusion);
    params.diffusion_cost = field_eval_cost(&generator.initial) + field_eval_cost(&generator.readout);
    Ok(words)
}

/// A neural SDE: the drift's network, then each coordinate's diffusion net (the shader applies
/// their final sigmoid). It runs the fixed-step path plans of `core::nsde::sde_model`.
fn sde_words(plan: &Plan, sde: &DiagonalSdeModel, params: &mut RunParams) -> Result<Vec<f32>, GpuError> {
    if let Some(op) = plan.ops.iter().find(|op| {
        !matches!(
            op,
            Op::Eval { .. }
                | Op::Axpy { .. }
                | Op::Snapshot { .. }
                | Op::LoadInput { .. }
                | Op::EvalDiffusion { .. }
                | Op::AddIncrement { .. }
        )
    }) {
        return Err(GpuError::Unsupported(format!("a neural SDE runs fixed-step path plans, not {op:?}")));
    }
    params.model_kind = MODEL_DIAGONAL_SDE;
    params.mlp = dense_shape(&sde.drift, 0)?;
    params.diffusion = dense_shape(&sde.diffusion, sde.drift_params.len())?;
    params.eval_cost = field_eval_cost(&sde.drift);
    params.diffusion_cost = 2 * field_eval_cost(&sde.diffusion);
    let mut words = sde.drift_params.clone();
    for p in &sde.diffusion_params {
        words.extend_from_slice(p);
    }
    Ok(words)
}

/// Words of a field's head before its network (shaders/plan_model.wgsl reads them).
pub const FIELD_HEAD_WORDS: usize = 11;

/// A learned vector field: its head's words, then its network in the MLP's layout.
fn field_words(plan: &Plan, field: &FieldModel, params: &mut RunParams) -> Result<Vec<f32>, GpuError> {
    if plan.param != Parameterisation::Flow {
        return Err(GpuError::Unsupported(format!(
            "a vector field's plan reads a velocity; this one wants {:?}",
            plan.param
        )));
    }
    // A field runs fixed-step plans of raw evaluations; the ops that need a process's
    // coefficients, a Jacobian, a density or noise levels are the samplers'.
    if let Some(op) = plan.ops.iter().find(|op| {
        !matches!(op, Op::Eval { .. } | Op::Axpy { .. } | Op::Snapshot { .. } | Op::LoadInput { .. } | Op::Init { .. })
    }) {
        return Err(GpuError::Unsupported(format!("a vector field runs fixed-step plans, not {op:?}")));
    }
    let dims = &field.net.dims;
    if dims[0] != 2 || dims[dims.len() - 1] != 2 {
        return Err(GpuError::Unsupported(format!(
            "the GPU runs fields 2 -> width (depth) -> 2; this network is {dims:?}"
        )));
    }
    if field.net.last != crate::core::nn::dense_activation::DenseActivation::Identity {
        return Err(GpuError::Unsupported("a field's network must end linear (its head applies the rest)".into()));
    }
    params.model_kind = MODEL_FIELD;
    params.mlp = dense_shape(&field.net, FIELD_HEAD_WORDS)?;
    params.eval_cost = field_eval_cost(&field.net);
    let mut words = match field.head {
        FieldHead::ScaledTanh { scale } => vec![0.0, scale[0], scale[1], 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        FieldHead::KnownPlus { known } => {
            let mut w = vec![1.0, 0.0, 0.0];
            w.extend(known.iter().flatten());
            w
        }
    };
    debug_assert_eq!(words.len(), FIELD_HEAD_WORDS);
    words.extend_from_slice(&field.params);
    Ok(words)
}
