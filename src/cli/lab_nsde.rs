//! `nde lab nsde train|paths|check|ito|brownian`: the neural SDE lab on the command line.

use std::time::Instant;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::core::nsde::calculus::{brownian_panel, ito_stratonovich_check};
use crate::core::nsde::data::{generate, moment_check, NsdeDataId};
use crate::core::nsde::fit::{evaluation_of, LatentFit, NsdeEvaluation, NsdeFitConfig, NsdeWeights};
use crate::core::nsde::gan::{GanConfig, GanFit};
use crate::core::nsde::generator_model::{generator_paths, GeneratorPathRun};
use crate::core::nsde::latent::LatentConfig;
use crate::core::nsde::sde_model::{decoded_paths, fit_path_run, MAX_PATHS};
use crate::core::nsde::solve::SdeMethod;
use crate::exec::cpu::run_plan;

use super::executor::{largest_frame_difference, Executor};

#[derive(Args, Debug)]
pub struct NsdeArgs {
    #[command(subcommand)]
    pub verb: NsdeVerb,
}

#[derive(Subcommand, Debug)]
pub enum NsdeVerb {
    /// Train a latent SDE on a data set; report the ELBO terms, the marginals at five times
    /// and the quadratic-variation rates.
    Train(TrainArgs),
    /// Draw a trained latent SDE's paths through a plan executor (the CPU's, or the GPU's on
    /// Vulkan) from the virtual Brownian tree's increments, and score them as `train` does.
    Paths(PathsArgs),
    /// Check a data set's sample moments against its closed forms.
    Check(CheckArgs),
    /// Ito or Stratonovich: GBM's mean by reversible Heun with and without the drift
    /// correction, and by Euler-Maruyama.
    Ito(ItoArgs),
    /// One Brownian path queried at dt, dt/2 and dt/4.
    Brownian(BrownianArgs),
}

/// The latent SDE's flag defaults, named once: the SDE-GAN refuses these flags when they are
/// given a value other than their default (clap cannot tell "not given" from "the default").
const DEFAULT_DT: f64 = 0.02;
const DEFAULT_KL_WEIGHT: f64 = 0.5;
const DEFAULT_KL_ANNEAL: usize = 300;
const DEFAULT_LR_DECAY: f64 = 0.999;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// ou, ou-tdep or gbm (ou for the latent SDE, ou-tdep for the SDE-GAN when not given).
    #[arg(long)]
    pub data: Option<String>,
    /// latent, or gan (the SDE-GAN: a generator SDE against a neural-CDE critic).
    #[arg(long, default_value = "latent")]
    pub model: String,
    /// Fraction of values dropped, in [0, 0.9] (the set's own default when not given).
    #[arg(long, allow_negative_numbers = true)]
    pub drop: Option<f64>,
    /// reversible-heun (with its exact adjoint) or em (stored states).
    #[arg(long, default_value = "reversible-heun")]
    pub solver: String,
    /// The largest solver step.
    #[arg(long, default_value_t = DEFAULT_DT, allow_negative_numbers = true)]
    pub dt: f64,
    #[arg(long, default_value_t = 1500)]
    pub steps: usize,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Training paths.
    #[arg(long, default_value_t = 8192)]
    pub paths: usize,
    #[arg(long, default_value_t = 1e-2, allow_negative_numbers = true)]
    pub lr: f64,
    /// The KL weight after annealing (1: the ELBO; the default 0.5 fits the marginals better:
    /// docs/RESULTS.md).
    #[arg(long, default_value_t = DEFAULT_KL_WEIGHT, allow_negative_numbers = true)]
    pub kl_weight: f64,
    /// Steps over which the KL weight rises from 0.
    #[arg(long, default_value_t = DEFAULT_KL_ANNEAL)]
    pub kl_anneal: usize,
    /// The learning rate's decay per step (LABS.md: 0.997; the default learns longer).
    #[arg(long, default_value_t = DEFAULT_LR_DECAY, allow_negative_numbers = true)]
    pub lr_decay: f64,
    /// The decoder's observation noise (the latent SDE's likelihood N(x; Lz + b, noise^2)).
    #[arg(long, allow_negative_numbers = true)]
    pub obs_noise: Option<f64>,
    /// Model and held-out data paths for the evaluation.
    #[arg(long, default_value_t = 4096)]
    pub eval_paths: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Start from this weights file (the page's export or an earlier --out).
    #[arg(long)]
    pub weights: Option<std::path::PathBuf>,
    /// Write the trained weights here (the page loads them).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// cpu or gpu: the plan executor that draws the SDE-GAN's evaluation paths (cpu when not
    /// given; a latent SDE's paths are `nde lab nsde paths --backend`).
    #[arg(long)]
    pub backend: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PathsArgs {
    /// A weights file from `nde lab nsde train --out` (default: the page's shipped OU model).
    #[arg(long)]
    pub weights: Option<std::path::PathBuf>,
    /// Paths to draw, 1 to 100000.
    #[arg(long, default_value_t = 10_000)]
    pub paths: usize,
    /// reversible-heun or em.
    #[arg(long, default_value = "reversible-heun")]
    pub solver: String,
    /// The largest solver step.
    #[arg(long, default_value_t = 0.02, allow_negative_numbers = true)]
    pub dt: f64,
    /// cpu or gpu.
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    /// Also run the CPU executor and the f64 solver (on the first 256 paths), and report the
    /// largest differences from them.
    #[arg(long)]
    pub check: bool,
    /// Write every path as CSV (path, t, x) here.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[arg(long, default_value = "ou")]
    pub data: String,
    #[arg(long, default_value_t = 8192)]
    pub paths: usize,
    #[arg(long, allow_negative_numbers = true)]
    pub drop: Option<f64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ItoArgs {
    #[arg(long, default_value_t = 8192)]
    pub paths: usize,
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    pub horizon: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct BrownianArgs {
    /// Steps of the coarsest grid (dt = horizon / steps).
    #[arg(long, default_value_t = 40)]
    pub steps: usize,
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    pub horizon: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

fn data_of(name: &str) -> Result<NsdeDataId, String> {
    NsdeDataId::from_name(name).map_err(|e| format!("--data: {e}"))
}

fn drop_of(data: NsdeDataId, drop: Option<f64>) -> Result<f64, String> {
    let drop = drop.unwrap_or(data.default_drop());
    if !(0.0..=0.9).contains(&drop) {
        return Err(format!("--drop must be in [0, 0.9], got {drop}"));
    }
    Ok(drop)
}

fn train_config(t: &TrainArgs) -> Result<NsdeFitConfig, String> {
    if t.model != "latent" && t.model != "gan" {
        return Err(format!("--model: choose latent or gan, got '{}'", t.model));
    }
    if t.backend.is_some() {
        return Err(
            "--backend picks the SDE-GAN's evaluation executor; draw a latent SDE's paths with `nde lab nsde paths --backend`"
                .into(),
        );
    }
    let data = data_of(t.data.as_deref().unwrap_or("ou"))?;
    let config = NsdeFitConfig {
        data,
        drop: drop_of(data, t.drop)?,
        method: SdeMethod::from_name(&t.solver).map_err(|e| format!("--solver: {e}"))?,
        dt: t.dt,
        train_paths: t.paths,
        batch: t.batch,
        learning_rate: t.lr,
        steps: t.steps,
        kl_anneal: t.kl_anneal,
        kl_weight: t.kl_weight,
        lr_decay: t.lr_decay,
        seed: t.seed,
        latent: LatentConfig {
            obs_noise: t.obs_noise.unwrap_or(NsdeFitConfig::cli_default().latent.obs_noise),
            ..NsdeFitConfig::cli_default().latent
        },
        ..NsdeFitConfig::cli_default()
    };
    config.validate()?;
    if !(16..=65_536).contains(&t.eval_paths) {
        return Err(format!("--eval-paths must be 16 to 65536, got {}", t.eval_paths));
    }
    Ok(config)
}

/// The SDE-GAN's settings from the flags: the data, drop, steps, batch, paths and seed flags
/// apply; --lr sets the generator's rate (the critic's is twice it); the latent SDE's other
/// flags are refused rather than ignored.
fn gan_config(t: &TrainArgs) -> Result<GanConfig, String> {
    if t.weights.is_some() || t.out.is_some() {
        return Err("--weights and --out are for the latent SDE; the SDE-GAN has no weights file yet".into());
    }
    if t.solver != "reversible-heun"
        || t.kl_weight != DEFAULT_KL_WEIGHT
        || t.kl_anneal != DEFAULT_KL_ANNEAL
        || t.dt != DEFAULT_DT
        || t.obs_noise.is_some()
        || t.lr_decay != DEFAULT_LR_DECAY
    {
        return Err("--solver, --dt, --kl-weight, --kl-anneal, --lr-decay and --obs-noise are the latent SDE's: the SDE-GAN steps reversible Heun on the observation grid".into());
    }
    Executor::check_name(t.backend.as_deref().unwrap_or("cpu"))?;
    let data = data_of(t.data.as_deref().unwrap_or("ou-tdep"))?;
    let base = GanConfig::cli_default();
    let lr = if t.lr == 1e-2 { base.lr_generator } else { t.lr };
    let config = GanConfig {
        data,
        drop: drop_of(data, t.drop)?,
        train_paths: t.paths,
        batch: t.batch,
        steps: t.steps,
        lr_generator: lr,
        lr_discriminator: 2.0 * lr,
        seed: t.seed,
        ..base
    };
    config.validate()?;
    if !(16..=65_536).contains(&t.eval_paths) {
        return Err(format!("--eval-paths must be 16 to 65536, got {}", t.eval_paths));
    }
    Ok(config)
}

fn train_gan(t: &TrainArgs) -> Result<Value, String> {
    let started = Instant::now();
    let config = gan_config(t)?;
    let mut fit = GanFit::new(config.clone())?;
    let executor = Executor::from_name(t.backend.as_deref().unwrap_or("cpu"))?;
    let (start, _) = gan_evaluation(&fit, &executor, t.eval_paths)?;
    while !fit.done() {
        let loss = fit.step()?;
        let step = fit.steps_done();
        if !t.json && step % 100 == 0 {
            eprintln!("step {step}: E D(fake) - E D(real) = {loss:.4}");
        }
    }
    let (end, paths) = gan_evaluation(&fit, &executor, t.eval_paths)?;
    let tail = &fit.history[fit.history.len().saturating_sub(50)..];
    let mut report = json!({
        "data": config.data.name(),
        "model": "gan",
        "paths": paths,
        "solver": "reversible-heun",
        "drop": config.drop,
        "steps": fit.steps_done(),
        "batch": config.batch,
        "params": fit.g_params.len() + fit.d_params.len(),
        "wasserstein_gap": tail.iter().map(|p| p.1).sum::<f64>() / tail.len().max(1) as f64,
        "averaged_from": config.steps / 2,
        "start_mean_w1": start.mean_w1,
        "seconds": started.elapsed().as_secs_f64(),
    });
    if let (Value::Object(r), Value::Object(e)) = (&mut report, evaluation_json(&end)) {
        r.extend(e);
    }
    Ok(report)
}

/// The generator's evaluation: `count` model paths drawn by the plan executor `executor`
/// (`core::nsde::generator_model`) against as many held-out data paths, and how the paths were
/// drawn (the executor, its time, and their largest difference from the f64 solver over the
/// first 64 paths).
fn gan_evaluation(fit: &GanFit, executor: &Executor, count: usize) -> Result<(NsdeEvaluation, Value), String> {
    let run = GeneratorPathRun::of_fit(fit, 0..count)?;
    let mut model = run.model.clone();
    let started = Instant::now();
    let result = executor.run(&run.plan, &mut model, &run.options)?;
    let seconds = started.elapsed().as_secs_f64();
    let paths = generator_paths(&result, fit.scale);
    let mut solver = 0.0f64;
    for (k, path) in paths.iter().enumerate().take(64) {
        for (a, b) in path.iter().zip(fit.model_path(k)?) {
            solver = solver.max(if (a - b).is_nan() { f64::INFINITY } else { (a - b).abs() });
        }
    }
    let evaluation = evaluation_of(fit.config.data, &fit.train.times, paths, fit.held_out(count))?;
    let report = json!({
        "backend": executor.name(),
        "adapter": executor.adapter(),
        "count": count,
        "steps": run.times.len() - 1,
        "nfe_per_path": result.nfe,
        "seconds": seconds,
        "max_difference_from_f64_solver": finite_difference("the f64 solver", solver)?,
    });
    Ok((evaluation, report))
}

pub fn check(args: &NsdeArgs) -> Result<(), String> {
    match &args.verb {
        NsdeVerb::Train(t) if t.model == "gan" => gan_config(t).map(|_| ()),
        NsdeVerb::Train(t) => train_config(t).map(|_| ()),
        NsdeVerb::Paths(p) => paths_config(p).map(|_| ()),
        NsdeVerb::Check(c) => {
            let data = data_of(&c.data)?;
            drop_of(data, c.drop)?;
            if !(16..=1_000_000).contains(&c.paths) {
                return Err(format!("--paths must be 16 to 1000000, got {}", c.paths));
            }
            Ok(())
        }
        NsdeVerb::Ito(i) => {
            if !(2..=1_000_000).contains(&i.paths) || !(1..=100_000).contains(&i.steps) {
                return Err(format!("--paths 2 to 1000000 and --steps 1 to 100000, got {} and {}", i.paths, i.steps));
            }
            if !(i.horizon.is_finite() && i.horizon > 0.0 && i.horizon <= 10.0) {
                return Err(format!("--horizon must be in (0, 10], got {}", i.horizon));
            }
            Ok(())
        }
        NsdeVerb::Brownian(b) => {
            if !(1..=4096).contains(&b.steps) || !(b.horizon.is_finite() && b.horizon > 0.0 && b.horizon <= 100.0) {
                return Err(format!("--steps 1 to 4096 and --horizon in (0, 100], got {} and {}", b.steps, b.horizon));
            }
            Ok(())
        }
    }
}

/// The evaluation's keys (shared with the page's export).
pub fn evaluation_json(e: &NsdeEvaluation) -> Value {
    json!({
        "marginals": e.marginals.iter().map(|m| json!({
            "t": m.t, "w1": m.w1, "ks": m.ks, "mean_err": m.mean_err, "var_err": m.var_err,
        })).collect::<Vec<_>>(),
        "mean_w1": e.mean_w1,
        "qv_rate_model": e.qv_rate_model,
        "qv_rate_data": e.qv_rate_data,
        "qv_rate_exact": e.qv_rate_exact,
    })
}

fn train(t: &TrainArgs) -> Result<Value, String> {
    let started = Instant::now();
    let config = train_config(t)?;
    let mut fit = LatentFit::new(config.clone())?;
    if let Some(path) = &t.weights {
        let text = std::fs::read_to_string(path).map_err(|e| format!("--weights {}: {e}", path.display()))?;
        NsdeWeights::parse(&text)
            .and_then(|w| w.apply(&mut fit))
            .map_err(|e| format!("--weights {}: {e}", path.display()))?;
    }
    let start = fit.evaluate(t.eval_paths)?;
    while !fit.done() {
        let record = fit.step()?;
        if !t.json && (record.step + 1) % 100 == 0 {
            eprintln!("step {}: loss {:.3}, elbo {:.3}", record.step + 1, record.loss, record.terms.elbo());
        }
    }
    let end = fit.evaluate(t.eval_paths)?;
    if let Some(path) = &t.out {
        let text = serde_json::to_string(&NsdeWeights::of(&fit)).expect("weights encode");
        std::fs::write(path, text).map_err(|e| format!("--out {}: {e}", path.display()))?;
    }
    // The last 50 steps' mean ELBO terms (one step's are noisy).
    let tail = &fit.history[fit.history.len().saturating_sub(50)..];
    let mean = |f: &dyn Fn(&crate::core::nsde::latent::ElboTerms) -> f64| {
        tail.iter().map(|r| f(&r.terms)).sum::<f64>() / tail.len().max(1) as f64
    };
    let mut report = json!({
        "data": config.data.name(),
        "model": "latent",
        "solver": config.method.name(),
        "dt": config.dt,
        "drop": config.drop,
        "steps": fit.steps_done(),
        "batch": config.batch,
        "kl_weight": config.kl_weight,
        "obs_noise": config.latent.obs_noise,
        "lr_decay": config.lr_decay,
        "params": fit.model.param_count(),
        "elbo": -mean(&|t| t.nll + t.kl0 + t.kl_path),
        "log_lik": -mean(&|t| t.nll),
        "kl0": mean(&|t| t.kl0),
        "kl_path": mean(&|t| t.kl_path),
        "start_mean_w1": start.mean_w1,
        "seconds": started.elapsed().as_secs_f64(),
    });
    if let (Value::Object(r), Value::Object(e)) = (&mut report, evaluation_json(&end)) {
        r.extend(e);
    }
    Ok(report)
}

/// The fit a `paths` run draws from (the weights' data set; the solver, dt and seed flags),
/// checked before anything is generated.
fn paths_config(p: &PathsArgs) -> Result<(NsdeFitConfig, NsdeWeights), String> {
    let text = match &p.weights {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("--weights {}: {e}", path.display()))?,
        None => crate::playground::nsde::lab::DEFAULT_WEIGHTS_JSON.to_string(),
    };
    let weights = NsdeWeights::parse(&text).map_err(|e| format!("--weights: {e}"))?;
    if weights.model != "latent" {
        return Err(format!("--weights: paths are drawn from a latent SDE, not a '{}' model", weights.model));
    }
    if !(1..=MAX_PATHS).contains(&p.paths) {
        return Err(format!("--paths must be 1 to {MAX_PATHS}, got {}", p.paths));
    }
    Executor::check_name(&p.backend)?;
    let data = data_of(&weights.data).map_err(|e| format!("--weights: {e}"))?;
    let defaults = NsdeFitConfig::cli_default();
    let config = NsdeFitConfig {
        data,
        method: SdeMethod::from_name(&p.solver).map_err(|e| format!("--solver: {e}"))?,
        dt: p.dt,
        seed: p.seed,
        latent: LatentConfig {
            latent: weights.latent,
            hidden: weights.hidden,
            context: weights.context,
            width: weights.width,
            depth: weights.depth,
            ..defaults.latent
        },
        ..defaults
    };
    config.validate()?;
    Ok((config, weights))
}

/// A difference for the JSON: finite, or an error (NaN never reaches the output).
fn finite_difference(from: &str, v: f64) -> Result<f64, String> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("a path differs from {from} by {v}: a path left the finite numbers; try a smaller --dt"))
    }
}

fn paths(p: &PathsArgs) -> Result<Value, String> {
    let (config, weights) = paths_config(p)?;
    let mut fit = LatentFit::new(config)?;
    weights.apply(&mut fit).map_err(|e| format!("--weights: {e}"))?;
    let executor = Executor::from_name(&p.backend)?;
    let prepared = Instant::now();
    let run = fit_path_run(&fit, p.paths)?;
    let prepare_seconds = prepared.elapsed().as_secs_f64();
    let mut model = run.model.clone();
    let started = Instant::now();
    let result = executor.run(&run.plan, &mut model, &run.options)?;
    let seconds = started.elapsed().as_secs_f64();
    let decoded = decoded_paths(&fit.model, &result);
    let checks = if p.check {
        let cpu = run_plan(&run.plan, &mut model, &run.options).map_err(|e| e.cli_message())?;
        let executors = largest_frame_difference(&cpu, &result);
        let mut solver = 0.0f64;
        for (k, path) in decoded.iter().enumerate().take(256) {
            for (a, b) in path.iter().zip(fit.model_path(k)?) {
                solver = solver.max(if (a - b).is_nan() { f64::INFINITY } else { (a - b).abs() });
            }
        }
        json!({
            "max_difference_from_cpu_executor": finite_difference("the CPU executor", f64::from(executors))?,
            "max_difference_from_f64_solver": finite_difference("the f64 solver", solver)?,
        })
    } else {
        Value::Null
    };
    if let Some(path) = &p.out {
        let mut text = String::from("path,t,x\n");
        for (k, values) in decoded.iter().enumerate() {
            for (t, x) in run.times.iter().zip(values) {
                text.push_str(&format!("{k},{t},{x}\n"));
            }
        }
        std::fs::write(path, text).map_err(|e| format!("--out {}: {e}", path.display()))?;
    }
    let evaluation = evaluation_of(fit.config.data, &run.times, decoded, fit.held_out(p.paths.min(65_536)))?;
    let mut report = json!({
        "data": fit.config.data.name(),
        "solver": fit.config.method.name(),
        "dt": fit.config.dt,
        "backend": executor.name(),
        "adapter": executor.adapter(),
        "paths": p.paths,
        "frames": result.frames.len(),
        "steps": fit.grid().steps(),
        "nfe_per_path": result.nfe,
        "increments_seconds": prepare_seconds,
        "seconds": seconds,
        "check": checks,
    });
    if let (Value::Object(r), Value::Object(e)) = (&mut report, evaluation_json(&evaluation)) {
        r.extend(e);
    }
    Ok(report)
}

pub fn run(args: &NsdeArgs) -> Result<(), String> {
    check(args)?;
    let (report, json_only) = match &args.verb {
        NsdeVerb::Train(t) if t.model == "gan" => (train_gan(t)?, t.json),
        NsdeVerb::Train(t) => (train(t)?, t.json),
        NsdeVerb::Paths(p) => (paths(p)?, p.json),
        NsdeVerb::Check(c) => {
            let data = data_of(&c.data)?;
            let set = generate(data, c.paths, drop_of(data, c.drop)?, c.seed);
            let m = moment_check(&set);
            let report = json!({
                "data": data.name(),
                "paths": c.paths,
                "observed": set.observed_fraction(),
                "max_mean_z": m.max_mean_z,
                "max_var_z": m.max_var_z,
                "max_cov_z": m.max_cov_z,
                "pass": m.pass(),
            });
            (report, c.json)
        }
        NsdeVerb::Ito(i) => {
            let c = ito_stratonovich_check(i.paths, i.steps, i.horizon, i.seed)?;
            let est = |e: &crate::core::nsde::calculus::MeanEstimate| json!({"mean": e.mean, "se": e.se});
            let report = json!({
                "a": c.a, "b": c.b, "horizon": c.horizon, "paths": c.paths, "steps": c.steps,
                "ito_mean": c.ito_mean,
                "stratonovich_mean": c.stratonovich_mean,
                "heun_on_ito": est(&c.heun_on_ito),
                "heun_corrected": est(&c.heun_corrected),
                "em_on_ito": est(&c.em_on_ito),
                "heun_on_ito_z_from_ito": c.heun_on_ito.z(c.ito_mean),
                "pass": c.pass(),
            });
            (report, i.json)
        }
        NsdeVerb::Brownian(b) => {
            let panel = brownian_panel(b.seed, b.horizon, b.steps)?;
            let report = json!({
                "steps": [b.steps, 2 * b.steps, 4 * b.steps],
                "max_shared_difference": panel.max_shared_difference,
                "end": panel.grids[0].last().map(|p| p.1),
            });
            (report, b.json)
        }
    };
    if json_only {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report).expect("a JSON value prints"));
    }
    Ok(())
}
