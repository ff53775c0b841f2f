//! The model a run evaluates, as words for the shader's model buffer: the network's flat
//! parameters (and DLG's level classifier after them), or the exact mixture's components, with
//! the fields of `RunParams` that describe them.

use super::abi::{mlp_shape, RunParams};
use super::work_budget::{mixture_eval_cost, mlp_eval_cost};
use super::GpuError;
use crate::core::param::Parameterisation;
use crate::core::sample::model::ModelData;
use crate::core::sample::plan::{Op, Plan};

/// The model's words for `model_data`, and the params that describe them.
pub fn model_words(plan: &Plan, model: &ModelData, params: &mut RunParams) -> Result<Vec<f32>, GpuError> {
    let uses = |pred: fn(&Op) -> bool| plan.ops.iter().any(pred);
    match model {
        ModelData::Mixture { mixture, .. } => {
            if plan.param != Parameterisation::Score {
                return Err(GpuError::Unsupported(format!(
                    "an exact mixture is a score model; the plan wants {:?}",
                    plan.param
                )));
            }
            let spec = mixture.to_spec();
            params.model_kind = 1;
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
            params.model_kind = 0;
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
    }
}
