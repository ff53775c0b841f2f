//! `nde lab inverse class` (LABS.md, Lab G, G1): class guidance on gmm8 with the exact
//! classifier p_t(k | x) at scale ω, by any fixed-step sampler. At ω = 1 it is Bayes' rule and
//! samples component k; at other scales guidance does not sample the tilted density
//! p(x) p(k | x)^ω (tilting each noised marginal is not noising the tilted density), so the
//! report gives both distances and asserts no sign. `--classifier FILE` guides with a trained
//! noise-conditional classifier (`train-classifier`) instead of the exact one.

use clap::Args;
use serde_json::{json, Value};

use super::files::read_text;
use crate::core::data::gmm::GaussianMixture;
use crate::core::inverse::guided_model::{Guidance, GuidedModel};
use crate::core::inverse::noisy_classifier::{train_gmm8_classifier, NoisyClassifier};
use crate::core::inverse::replace_plan::check_lock_step;
use crate::core::metrics::{projections, sliced_wasserstein};
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::rng::RngStream;
use crate::core::sample::{build, SamplerOptions};
use crate::exec::cpu::{run_plan, RunOptions};

/// Cells per side of the grid the tilted density is drawn from.
const TILT_GRID: usize = 256;
/// Half the side of that grid (gmm8's components lie on the circle of radius 2).
const TILT_EXTENT: f64 = 3.5;

#[derive(Args, Debug)]
pub struct ClassArgs {
    /// The component of gmm8 to generate, 0 to 7 (counter-clockwise from the positive x₁ axis).
    #[arg(long, default_value_t = 0)]
    pub class: usize,
    /// ω, the guidance scale (1: exact Bayes).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Any fixed-step sampler of the zoo.
    #[arg(long, default_value = "dpmpp-2m")]
    pub sampler: String,
    #[arg(long, default_value_t = 50)]
    pub nfe: usize,
    #[arg(long, default_value_t = 4000)]
    pub particles: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// exact (the mixture's responsibilities) or a classifier file from `train-classifier`.
    #[arg(long, default_value = "exact")]
    pub classifier: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct TrainClassifierArgs {
    #[arg(long, default_value_t = 20_000)]
    pub steps: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the weights.
    #[arg(long)]
    pub out: String,
    #[arg(long)]
    pub json: bool,
}

fn guidance(a: &ClassArgs) -> Result<Guidance, String> {
    if a.classifier == "exact" {
        return Ok(Guidance::Class { class: a.class, scale: a.scale });
    }
    let text = read_text(&a.classifier, "classifier file")?;
    let classifier = NoisyClassifier::load(&text).map_err(|e| format!("--classifier {}: {e}", a.classifier))?;
    Ok(Guidance::TrainedClass { class: a.class, scale: a.scale, classifier: Box::new(classifier) })
}

pub fn check_train_classifier(a: &TrainClassifierArgs) -> Result<(), String> {
    if !(1..=100_000).contains(&a.steps) {
        return Err(format!("--steps must be 1 to 100000, got {}", a.steps));
    }
    if a.out.trim().is_empty() {
        return Err("--out: name the weights file to write".into());
    }
    Ok(())
}

pub fn train_classifier(a: &TrainClassifierArgs) -> Result<Value, String> {
    check_train_classifier(a)?;
    let start = std::time::Instant::now();
    let classifier = train_gmm8_classifier(a.steps, a.seed)?;
    let seconds = start.elapsed().as_secs_f64();
    let meta = std::collections::BTreeMap::from([
        ("target".to_string(), "gmm8".to_string()),
        ("steps".to_string(), a.steps.to_string()),
        ("seed".to_string(), a.seed.to_string()),
    ]);
    std::fs::write(&a.out, classifier.save(&meta)).map_err(|e| format!("cannot write {}: {e}", a.out))?;
    Ok(json!({ "steps": a.steps, "seconds": seconds, "out": a.out }))
}

pub fn check_class(a: &ClassArgs) -> Result<(), String> {
    if a.class >= 8 {
        return Err(format!("--class must be 0 to 7 (gmm8's components), got {}", a.class));
    }
    if !(a.scale.is_finite() && (0.0..=20.0).contains(&a.scale)) {
        return Err(format!("--scale must be in [0, 20], got {}", a.scale));
    }
    if !(5..=5000).contains(&a.nfe) {
        return Err(format!("--nfe must be 5 to 5000, got {}", a.nfe));
    }
    if !(100..=200_000).contains(&a.particles) {
        return Err(format!("--particles must be 100 to 200000, got {}", a.particles));
    }
    let options = SamplerOptions { nfe: a.nfe, ..SamplerOptions::default() };
    let plan =
        build(&a.sampler, Process::vp(), Parameterisation::Score, &options).map_err(|e| format!("--sampler: {e}"))?;
    check_lock_step(&plan, "class guidance").map_err(|e| format!("--sampler: {e}"))
}

/// `n` draws of p(x) p(k | x)^ω normalised, from a TILT_GRID² grid (a cell by its mass, then
/// uniformly within it).
pub fn tilted_draws(prior: &GaussianMixture, class: usize, scale: f64, n: usize, seed: u64) -> Vec<[f64; 2]> {
    let h = 2.0 * TILT_EXTENT / TILT_GRID as f64;
    let centre = |i: usize| -TILT_EXTENT + (i as f64 + 0.5) * h;
    let logs: Vec<f64> = (0..TILT_GRID * TILT_GRID)
        .map(|c| {
            let x = [centre(c % TILT_GRID), centre(c / TILT_GRID)];
            let r = prior.responsibilities(x)[class].max(1e-300);
            prior.log_density(x) + scale * r.ln()
        })
        .collect();
    let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut cumulative = Vec::with_capacity(logs.len());
    let mut total = 0.0;
    for l in &logs {
        total += (l - top).exp();
        cumulative.push(total);
    }
    let mut rng = RngStream::new(seed, 0x7469_6c74); // "tilt"
    (0..n)
        .map(|_| {
            let u = rng.uniform() * total;
            let c = cumulative.partition_point(|v| *v < u).min(logs.len() - 1);
            [centre(c % TILT_GRID) + h * (rng.uniform() - 0.5), centre(c / TILT_GRID) + h * (rng.uniform() - 0.5)]
        })
        .collect()
}

pub fn class(a: &ClassArgs) -> Result<Value, String> {
    check_class(a)?;
    let prior = GaussianMixture::eight_gaussians();
    let process = Process::vp();
    let options = SamplerOptions { nfe: a.nfe, ..SamplerOptions::default() };
    let plan = build(&a.sampler, process, Parameterisation::Score, &options)?;
    let mut model = GuidedModel::new(prior.clone(), process, guidance(a)?)?;
    let run = RunOptions { particles: a.particles, seed: a.seed, traced: vec![], inputs: vec![] };
    let out = run_plan(&plan, &mut model, &run).map_err(|e| e.cli_message())?;
    let xs: Vec<[f64; 2]> = out.positions.iter().map(|p| [f64::from(p[0]), f64::from(p[1])]).collect();
    let spec = prior.to_spec();
    let component =
        GaussianMixture::new(vec![1.0], vec![spec.means[a.class]], vec![spec.covs[a.class]]).expect("a component");
    let dirs = projections(64, 11);
    let n = a.particles;
    let swd_component = sliced_wasserstein(&xs, &component.sample(n, a.seed ^ 0xc1a5), &dirs);
    let floor = sliced_wasserstein(&component.sample(n, a.seed ^ 0xf1), &component.sample(n, a.seed ^ 0xf2), &dirs);
    let tilted = tilted_draws(&prior, a.class, a.scale, n, a.seed ^ 0x7117);
    let swd_tilted = sliced_wasserstein(&xs, &tilted, &dirs);
    let on_class = xs.iter().filter(|x| {
        let r = prior.responsibilities(**x);
        r.iter().enumerate().all(|(k, v)| k == a.class || *v <= r[a.class])
    });
    let finite = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
    Ok(json!({
        "data": "gmm8",
        "class": a.class,
        "scale": a.scale,
        "sampler": a.sampler,
        "nfe": a.nfe,
        "particles": n,
        "seed": a.seed,
        "classifier": if a.classifier == "exact" { "exact" } else { "trained" },
        "share_in_class": on_class.count() as f64 / n as f64,
        "swd_to_component": finite(swd_component),
        "swd_floor": finite(floor),
        "swd_to_tilted": finite(swd_tilted),
    }))
}
