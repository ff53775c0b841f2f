//! Parsing what the commands share: the target (`moons`, `gmm8`, `gmm:FILE.json`, ...) and
//! the model (`exact`, or a weights file from `nde train`).

use std::collections::BTreeMap;

use super::files::read_text;
use crate::core::data::{GaussianMixture, Point, ToyDataset};
use crate::core::nn::weights;
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::sample::model::{ExactMixtureModel, MlpModel, Model};
use crate::core::train::level_classifier::LevelClassifier;

/// The three arguments every sampling command takes.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelSpec {
    /// Data set name (moons, gmm8, gmm25, swissroll, checkerboard, ...) or gmm:FILE.json.
    #[arg(long)]
    pub target: String,
    /// Forward process: vp, subvp, ve, cosine or rf (mr is not sampled yet).
    #[arg(long)]
    pub process: String,
    /// `exact` (the target mixture's own score) or a weights file from `nde train`.
    #[arg(long)]
    pub model: String,
    /// A noise-level classifier from `nde train-levels`, for dlg with a trained --model.
    #[arg(long)]
    pub level_model: Option<String>,
}

impl ModelSpec {
    /// The parsed target and process.
    pub fn parse(&self) -> Result<(Target, Process), String> {
        let process = Process::from_name(&self.process).map_err(|e| format!("--process: {e}"))?;
        Ok((Target::parse(&self.target)?, process))
    }
}

pub enum Target {
    Toy(ToyDataset),
    Mixture(GaussianMixture),
}

impl Target {
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("gmm:") {
            let json = read_text(path, "mixture file")?;
            let mixture = GaussianMixture::from_json(&json).map_err(|e| format!("{path}: {e}"))?;
            return Ok(Target::Mixture(mixture));
        }
        let set = ToyDataset::from_name(text).map_err(|e| format!("--target: {e}, or gmm:FILE.json"))?;
        Ok(match set.mixture() {
            Some(mixture) => Target::Mixture(mixture),
            None => Target::Toy(set),
        })
    }

    pub fn mixture(&self) -> Option<&GaussianMixture> {
        match self {
            Target::Mixture(m) => Some(m),
            Target::Toy(_) => None,
        }
    }

    pub fn sample(&self, n: usize, seed: u64) -> Vec<Point> {
        match self {
            Target::Toy(set) => set.sample(n, seed, set.default_noise()),
            Target::Mixture(m) => m.sample(n, seed),
        }
    }
}

/// `exact` (the target mixture's own score) or a weights file trained for `process`.
pub fn load_model(
    model_spec: &ModelSpec,
    target: &Target,
    process: Process,
    condition: [f64; 2],
) -> Result<Box<dyn Model>, String> {
    let spec = model_spec.model.as_str();
    if spec == "exact" {
        if model_spec.level_model.is_some() {
            return Err("--level-model goes with a trained --model; --model exact has the exact level posterior".into());
        }
        let mixture = target.mixture().ok_or(
            "--model exact needs a mixture target (gmm8, gmm25 or gmm:FILE.json); for other data train a model with `nde train`",
        )?;
        return Ok(Box::new(ExactMixtureModel::new(mixture.clone(), process).with_condition(condition)));
    }
    let text = read_text(spec, "weights file")?;
    let (mlp, meta) = weights::load(&text).map_err(|e| format!("{spec}: {e}"))?;
    let trained_for = meta.get("process").map(String::as_str).unwrap_or("unknown");
    if trained_for != process.name() {
        return Err(format!(
            "{spec} was trained for --process {trained_for}, not {}: pass --process {trained_for}",
            process.name()
        ));
    }
    let param = Parameterisation::from_name(meta.get("param").map(String::as_str).unwrap_or(""))
        .map_err(|e| format!("{spec}: meta.param: {e}"))?;
    let mut model = MlpModel::new(mlp, param);
    model.condition = [condition[0] as f32, condition[1] as f32];
    if let Some(path) = &model_spec.level_model {
        let text = read_text(path, "level classifier")?;
        let classifier = LevelClassifier::load(&text).map_err(|e| format!("{path}: {e}"))?;
        if classifier.process != process.name() {
            return Err(format!(
                "{path} was trained for --process {}, not {}: retrain it with `nde train-levels`",
                classifier.process,
                process.name()
            ));
        }
        model.level_classifier = Some(classifier);
    }
    Ok(Box::new(model))
}

pub fn model_meta(process: Process, param: Parameterisation, target: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("process".to_string(), process.name().to_string()),
        ("param".to_string(), param.name().to_string()),
        ("target".to_string(), target.to_string()),
    ])
}
