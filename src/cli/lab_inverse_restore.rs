//! `nde lab inverse restore` and `train-restore` (LABS.md, Lab G, G4): the mean-reverting
//! samplers restore degraded points of gmm8, by the exact conditional score or a trained
//! network, measured against the exact posterior over fixed test points.

use clap::Args;
use serde_json::{json, Value};

use super::files::read_text;
use crate::core::data::gmm::GaussianMixture;
use crate::core::inverse::degradation::Degradation;
use crate::core::inverse::restore::{restore_table, restorer_trainer, Restorer, RestorerRecipe, RESTORE_SAMPLERS};
use crate::core::nn::{weights, Mlp};
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::sample::SAMPLERS;

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// shrink (μ = 0.3 x₀ + noise) or drop-y (μ = (x₀,₁, 0) + noise).
    #[arg(long, default_value = "drop-y")]
    pub degradation: String,
    /// exact (the exact conditional score) or a weights file from `train-restore`.
    #[arg(long, default_value = "exact")]
    pub model: String,
    /// MR samplers, comma-separated.
    #[arg(long, default_value = "mr-em,mrs-ode,mrs-ode-noise,mrs-sde")]
    pub samplers: String,
    /// Evaluation counts, comma-separated.
    #[arg(long, default_value = "5,10,20,50")]
    pub nfe: String,
    /// Fixed test points μ.
    #[arg(long, default_value_t = 16)]
    pub tests: usize,
    /// Particles per test point.
    #[arg(long, default_value_t = 2000)]
    pub particles: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct TrainRestoreArgs {
    #[arg(long, default_value = "drop-y")]
    pub degradation: String,
    #[arg(long, default_value_t = 8000)]
    pub steps: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the weights.
    #[arg(long)]
    pub out: String,
    #[arg(long)]
    pub json: bool,
}

pub struct RestoreRequest {
    degradation: Degradation,
    restorer: Restorer,
    samplers: Vec<String>,
    nfes: Vec<usize>,
}

/// A restoration network file: trained for the mean-reverting process with a condition.
pub fn load_restorer(path: &str, degradation: Degradation) -> Result<Restorer, String> {
    let (mlp, meta) = weights::load(&read_text(path, "weights file")?).map_err(|e| format!("{path}: {e}"))?;
    if meta.get("process").map(String::as_str) != Some(Process::mean_reverting().name())
        || mlp.config.condition_dim != 2
    {
        return Err(format!("{path} is not a restoration network (train one with `nde lab inverse train-restore`)"));
    }
    if let Some(d) = meta.get("degradation") {
        if d != degradation.name() {
            return Err(format!("{path} was trained for --degradation {d}, not {}", degradation.name()));
        }
    }
    let param = Parameterisation::from_name(meta.get("param").map(String::as_str).unwrap_or(""))
        .map_err(|e| format!("{path}: meta.param: {e}"))?;
    Ok(Restorer::Network { mlp, param })
}

pub fn checked_restore(a: &RestoreArgs) -> Result<RestoreRequest, String> {
    let degradation = Degradation::from_name(&a.degradation).map_err(|e| format!("--degradation: {e}"))?;
    let samplers: Vec<String> = a.samplers.split(',').map(|s| s.trim().to_string()).collect();
    if let Some(bad) = samplers.iter().find(|s| !RESTORE_SAMPLERS.contains(&s.as_str())) {
        let other = if SAMPLERS.contains(&bad.as_str()) { " (it samples an unconditional process)" } else { "" };
        return Err(format!(
            "--samplers: '{bad}' is not a mean-reverting sampler{other}: choose from {}",
            RESTORE_SAMPLERS.join(", ")
        ));
    }
    let nfes: Result<Vec<usize>, String> = a
        .nfe
        .split(',')
        .map(|v| match v.trim().parse::<usize>() {
            Ok(n) if (2..=2000).contains(&n) => Ok(n),
            _ => Err(format!("--nfe: each count must be 2 to 2000, got '{v}'")),
        })
        .collect();
    if !(1..=64).contains(&a.tests) {
        return Err(format!("--tests must be 1 to 64, got {}", a.tests));
    }
    if !(100..=100_000).contains(&a.particles) {
        return Err(format!("--particles must be 100 to 100000, got {}", a.particles));
    }
    let restorer = if a.model == "exact" { Restorer::Exact } else { load_restorer(&a.model, degradation)? };
    Ok(RestoreRequest { degradation, restorer, samplers, nfes: nfes? })
}

pub fn restore(a: &RestoreArgs) -> Result<Value, String> {
    let r = checked_restore(a)?;
    let prior = GaussianMixture::eight_gaussians();
    let samplers: Vec<&str> = r.samplers.iter().map(String::as_str).collect();
    let rows = restore_table(&r.restorer, &prior, r.degradation, &samplers, &r.nfes, a.tests, a.particles, a.seed)?;
    let finite = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
    let rows: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "sampler": row.sampler,
                "nfe": row.nfe,
                "swd_posterior": finite(row.swd_posterior),
                "swd_floor": finite(row.swd_floor),
                "mmse_to_mode": finite(row.mmse_to_mode),
                "exact_mmse_to_mode": finite(row.exact_mmse_to_mode),
                "sample_to_mode": finite(row.sample_to_mode),
            })
        })
        .collect();
    Ok(json!({
        "degradation": r.degradation.name(),
        "model": r.restorer.name(),
        "test_mu": a.tests,
        "particles": a.particles,
        "seed": a.seed,
        "rows": rows,
    }))
}

pub fn checked_train(a: &TrainRestoreArgs) -> Result<Degradation, String> {
    if !(1..=200_000).contains(&a.steps) {
        return Err(format!("--steps must be 1 to 200000, got {}", a.steps));
    }
    if a.out.trim().is_empty() {
        return Err("--out: name the weights file to write".into());
    }
    Degradation::from_name(&a.degradation).map_err(|e| format!("--degradation: {e}"))
}

pub fn train_restore(a: &TrainRestoreArgs) -> Result<Value, String> {
    let degradation = checked_train(a)?;
    let prior = GaussianMixture::eight_gaussians();
    let recipe = RestorerRecipe { steps: a.steps, seed: a.seed, ..RestorerRecipe::default() };
    let mut session = restorer_trainer(&prior, degradation, &recipe)?;
    let start = std::time::Instant::now();
    let mut last = f64::NAN;
    for step in 1..=a.steps {
        last = session.step().map_err(|e| format!("{e}; train-restore stops at step {step}"))?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let mlp = Mlp { config: session.trainer.mlp.config.clone(), params: session.trainer.ema.params.clone() };
    let meta = std::collections::BTreeMap::from([
        ("process".to_string(), Process::mean_reverting().name().to_string()),
        ("param".to_string(), Parameterisation::Eps.name().to_string()),
        ("target".to_string(), "gmm8".to_string()),
        ("degradation".to_string(), degradation.name().to_string()),
        ("steps".to_string(), a.steps.to_string()),
        ("seed".to_string(), a.seed.to_string()),
    ]);
    std::fs::write(&a.out, weights::save(&mlp, &meta)).map_err(|e| format!("cannot write {}: {e}", a.out))?;
    Ok(
        json!({ "degradation": degradation.name(), "steps": a.steps, "final_loss": last, "seconds": seconds, "out": a.out }),
    )
}
