//! `nde lab inverse`: controllable generation with an unconditional score (LABS.md, Lab G) on
//! data with exact answers.
//!
//! - `inpaint` (G2, G3): the observation fixes one coordinate of x₀ (inpainting: `--angle 0`;
//!   a rotated coordinate, LABS.md's "colourisation": `--angle 45`); each method runs any
//!   fixed-step sampler of the zoo (replacement and DPS as plan transforms, the exact and
//!   likelihood-guided scores as models), and its free coordinate is compared with the exact
//!   conditional. For correlated Gaussian data observed at angle 0, the limit replacement
//!   converges to is printed too: the replacement bias.
//! - `class` (G1): class guidance with the exact classifier at a scale ω, against the component
//!   and against the tilted density p(x) p(k | x)^ω on a grid; or a trained classifier
//!   (`train-classifier`).
//! - `restore` (G4): the MR samplers restoring degraded points, by the exact conditional score
//!   or a trained network, against the exact posterior; `train-restore` trains that network.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::files::read_text;
use super::lab_inverse_class::{
    check_class, check_train_classifier, class, train_classifier, ClassArgs, TrainClassifierArgs,
};
use super::lab_inverse_restore::{
    checked_restore, checked_train, restore, train_restore, RestoreArgs, TrainRestoreArgs,
};
use crate::core::data::gmm::GaussianMixture;
use crate::core::inverse::conditional::LineConditional;
use crate::core::inverse::line::LineObservation;
use crate::core::inverse::method_plan::{Inpainting, Unconditional};
use crate::core::inverse::replacement::{replacement_limit, InverseMethod};
use crate::core::metrics_1d::{moments, wasserstein1};
use crate::core::nn::weights;
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::sample::grid::T_EPS_SAMPLE;
use crate::core::sample::model::Model;
use crate::core::sample::plan::Plan;
use crate::exec::cpu::{run_plan, RunOptions};

/// The last time the samplers reach (the sampler grid's end, as score_sde's eps).
const T_MIN: f64 = T_EPS_SAMPLE;

#[derive(Args, Debug)]
pub struct InverseArgs {
    #[command(subcommand)]
    pub verb: InverseVerb,
}

#[derive(Subcommand, Debug)]
pub enum InverseVerb {
    /// Sample x₀ given one observed coordinate, by each method, against the exact conditional.
    Inpaint(InpaintArgs),
    /// Class guidance on gmm8 with the exact or a trained classifier, against the component.
    Class(ClassArgs),
    /// Train the noise-conditional classifier of class guidance on gmm8.
    TrainClassifier(TrainClassifierArgs),
    /// Restore degraded points with the mean-reverting samplers, against the exact posterior.
    Restore(RestoreArgs),
    /// Train the restoration network for one degradation (LABS.md's recipe).
    TrainRestore(TrainRestoreArgs),
}

#[derive(Args, Debug)]
pub struct InpaintArgs {
    /// gauss (N(0, [[1, ρ], [ρ, 1]])) or gmm8.
    #[arg(long, default_value = "gauss")]
    pub data: String,
    /// ρ, the Gaussian data's correlation.
    #[arg(long, default_value_t = 0.8)]
    pub rho: f64,
    /// a: the observed value of the coordinate.
    #[arg(long, default_value_t = 1.0)]
    pub observe: f64,
    /// The observed coordinate's angle from the x₁ axis, in degrees (0: inpainting x₁; 45:
    /// LABS.md's colourisation).
    #[arg(long, default_value_t = 0.0)]
    pub angle: f64,
    /// Methods, comma-separated: replacement, exact, likelihood, dps.
    #[arg(long, default_value = "replacement,exact,likelihood,dps")]
    pub method: String,
    /// Any fixed-step sampler of the zoo (em, ddim, pc, dpmpp-2m, ...).
    #[arg(long, default_value = "em")]
    pub sampler: String,
    /// ζ, the DPS step.
    #[arg(long, default_value_t = 0.02)]
    pub zeta: f64,
    /// The unconditional model replacement and DPS use: exact (the data's score) or a
    /// weights file trained on the data under VP (www/default-model.json is gmm8's); the exact
    /// and likelihood methods are oracles and always use the exact answers.
    #[arg(long, default_value = "exact")]
    pub model: String,
    /// Steps of the sampler.
    #[arg(long, default_value_t = 1000)]
    pub nfe: usize,
    #[arg(long, default_value_t = 20_000)]
    pub particles: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one line of JSON.
    #[arg(long)]
    pub json: bool,
}

fn prior(a: &InpaintArgs) -> Result<GaussianMixture, String> {
    match a.data.as_str() {
        "gauss" => {
            if !(a.rho.is_finite() && a.rho.abs() <= 0.99) {
                return Err(format!("--rho must be in [−0.99, 0.99], got {}", a.rho));
            }
            GaussianMixture::new(vec![1.0], vec![[0.0, 0.0]], vec![[[1.0, a.rho], [a.rho, 1.0]]])
        }
        "gmm8" => Ok(GaussianMixture::eight_gaussians()),
        other => Err(format!("--data: unknown data '{other}': choose gauss or gmm8")),
    }
}

fn checked(a: &InpaintArgs) -> Result<(GaussianMixture, LineObservation, Vec<InverseMethod>), String> {
    let prior = prior(a)?;
    if !(a.observe.is_finite() && a.observe.abs() <= 100.0) {
        return Err(format!("--observe must be within ±100, got {}", a.observe));
    }
    if !(a.angle.is_finite() && a.angle.abs() <= 360.0) {
        return Err(format!("--angle must be within ±360 degrees, got {}", a.angle));
    }
    if !(5..=10_000).contains(&a.nfe) {
        return Err(format!("--nfe must be 5 to 10000, got {}", a.nfe));
    }
    if !(a.zeta.is_finite() && (0.0..=10.0).contains(&a.zeta)) {
        return Err(format!("--zeta must be in [0, 10], got {}", a.zeta));
    }
    if !(100..=1_000_000).contains(&a.particles) {
        return Err(format!("--particles must be 100 to 1000000, got {}", a.particles));
    }
    let methods: Result<Vec<InverseMethod>, String> =
        a.method.split(',').map(|m| InverseMethod::from_name(m.trim()).map_err(|e| format!("--method: {e}"))).collect();
    let methods = methods?;
    let line = LineObservation::at_angle(a.angle, a.observe)?;
    LineConditional::new(&prior, line).map_err(|e| format!("--observe: {e}"))?;
    for method in &methods {
        inpaint_plan(*method, &prior, &line, a).map_err(|e| {
            if e.starts_with("--") {
                e
            } else {
                format!("--sampler: {e}")
            }
        })?;
    }
    Ok((prior, line, methods))
}

/// The plan and model of one method: replacement and DPS transform the sampler's plan and
/// evaluate the exact score; the exact and likelihood methods evaluate a guided score.
fn inpaint_plan(
    method: InverseMethod,
    prior: &GaussianMixture,
    line: &LineObservation,
    a: &InpaintArgs,
) -> Result<(Plan, Box<dyn Model>), String> {
    let unconditional = if a.model == "exact" {
        Unconditional::Exact
    } else {
        let text = read_text(&a.model, "weights file").map_err(|e| format!("--model: {e}"))?;
        let (mlp, meta) = weights::load(&text).map_err(|e| format!("--model {}: {e}", a.model))?;
        let field = |k: &str| meta.get(k).map(String::as_str).unwrap_or("unknown");
        if field("process") != "vp" || field("target") != a.data || mlp.config.condition_dim != 0 {
            return Err(format!(
                "--model: {} was trained on {} under {}; this run needs a model of {} under vp",
                a.model,
                field("target"),
                field("process"),
                a.data
            ));
        }
        let param = Parameterisation::from_name(field("param")).map_err(|e| format!("{}: meta.param: {e}", a.model))?;
        Unconditional::Network(mlp, param)
    };
    Inpainting { prior, line: *line, sampler: &a.sampler, nfe: a.nfe, zeta: a.zeta, unconditional: &unconditional }
        .method_plan(method)
}

fn inpaint(a: &InpaintArgs) -> Result<Value, String> {
    let (prior, line, methods) = checked(a)?;
    let process = Process::vp();
    let exact = LineConditional::new(&prior, line)?;
    let (exact_mean, exact_var) = exact.free_moments();
    let reference: Vec<f64> =
        exact.sample(a.particles, a.seed ^ 0x7265_6600).iter().map(|x| line.rotate(*x)[1]).collect();
    let finite = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
    let mut rows = Vec::new();
    for method in methods {
        let (plan, mut model) = inpaint_plan(method, &prior, &line, a)?;
        let run = RunOptions { particles: a.particles, seed: a.seed, traced: vec![], inputs: vec![] };
        let out = run_plan(&plan, model.as_mut(), &run).map_err(|e| e.cli_message())?;
        let xs: Vec<[f64; 2]> = out.positions.iter().map(|p| [f64::from(p[0]), f64::from(p[1])]).collect();
        let free: Vec<f64> = xs.iter().map(|x| line.rotate(*x)[1]).collect();
        let observed: Vec<f64> = xs.iter().map(|x| line.rotate(*x)[0]).collect();
        let m = moments(&free);
        let n = free.len() as f64;
        rows.push(json!({
            "method": method.name(),
            "mean": finite(m.mean),
            "var": finite(m.variance),
            "se_mean": finite((m.variance / n).sqrt()),
            "z_mean_to_exact": finite((m.mean - exact_mean) / (m.variance / n).sqrt()),
            "w1_to_exact": finite(wasserstein1(&free, &reference)?),
            "observed_mean": finite(moments(&observed).mean),
            "nfe": out.nfe,
        }));
    }
    let limit = (a.data == "gauss" && a.angle == 0.0).then(|| {
        let (m, v) = replacement_limit(a.rho, a.observe, &process, T_MIN, 20_000);
        json!({ "mean": m, "var": v })
    });
    Ok(json!({
        "data": a.data,
        "rho": if a.data == "gauss" { json!(a.rho) } else { Value::Null },
        "observe": a.observe,
        "angle": a.angle,
        "process": process.name(),
        "sampler": a.sampler,
        "nfe": a.nfe,
        "zeta": a.zeta,
        "model": a.model,
        "particles": a.particles,
        "seed": a.seed,
        "exact": { "mean": exact_mean, "var": exact_var },
        "replacement_limit": limit,
        "rows": rows,
    }))
}

pub fn check(args: &InverseArgs) -> Result<(), String> {
    match &args.verb {
        InverseVerb::Inpaint(a) => checked(a).map(|_| ()),
        InverseVerb::Class(a) => check_class(a),
        InverseVerb::TrainClassifier(a) => check_train_classifier(a),
        InverseVerb::Restore(a) => checked_restore(a).map(|_| ()),
        InverseVerb::TrainRestore(a) => checked_train(a).map(|_| ()),
    }
}

pub fn run(args: &InverseArgs) -> Result<(), String> {
    check(args)?;
    let (report, json_only) = match &args.verb {
        InverseVerb::Inpaint(a) => (inpaint(a)?, a.json),
        InverseVerb::Class(a) => (class(a)?, a.json),
        InverseVerb::TrainClassifier(a) => (train_classifier(a)?, a.json),
        InverseVerb::Restore(a) => (restore(a)?, a.json),
        InverseVerb::TrainRestore(a) => (train_restore(a)?, a.json),
    };
    if json_only {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report).expect("a JSON value prints"));
    }
    Ok(())
}
