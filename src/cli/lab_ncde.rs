//! `nde lab ncde train|sweep`: the neural CDE lab on the command line.

use std::time::Instant;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::core::cde::data::{CdeDataId, Observation};
use crate::core::cde::fit::{CdeFit, CdeFitConfig};
use crate::core::nn::dense_activation::DenseActivation;
use crate::core::path::Interpolation;

#[derive(Args, Debug)]
pub struct NcdeArgs {
    #[command(subcommand)]
    pub verb: NcdeVerb,
}

#[derive(Subcommand, Debug)]
pub enum NcdeVerb {
    /// Train the classifier on one data set and report its test accuracy.
    Train(TrainArgs),
    /// Train at every drop rate and interpolation given, and report the test accuracies.
    Sweep(SweepArgs),
}

/// The settings both verbs share.
#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// spirals, spirals-expm or speed.
    #[arg(long, default_value = "spirals")]
    pub data: String,
    /// Time as a channel: on or off.
    #[arg(long, default_value = "on")]
    pub time_channel: String,
    /// Cumulative observation-count channels: on or off.
    #[arg(long, default_value = "off")]
    pub masks: String,
    /// Drop single values (per channel) instead of whole rows.
    #[arg(long)]
    pub per_channel: bool,
    /// euler, heun, rk4, tsit5 or dopri5.
    #[arg(long, default_value = "rk4")]
    pub solver: String,
    /// fixed (--steps-per-interval per knot interval) or pid (rtol 1e-3, atol 1e-6; tsit5,
    /// dopri5).
    #[arg(long, default_value = "fixed")]
    pub stepping: String,
    #[arg(long, default_value_t = 1)]
    pub steps_per_interval: usize,
    /// Hidden state size h.
    #[arg(long, default_value_t = 8)]
    pub hidden: usize,
    /// The field's hidden width (h -> width -> h C, ReLU, final tanh).
    #[arg(long, default_value_t = 128)]
    pub width: usize,
    /// Training series (and as many test series).
    #[arg(long, default_value_t = 128)]
    pub series: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub lr: f64,
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// linear, hermite or rectilinear.
    #[arg(long, default_value = "hermite")]
    pub interp: String,
    /// Probability of dropping a row (or a value, with --per-channel), in [0, 1).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub drop: f64,
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Interpolations, comma-separated.
    #[arg(long, default_value = "linear,hermite")]
    pub interp: String,
    /// Drop rates, comma-separated.
    #[arg(long, default_value = "0,0.3,0.5,0.7,0.9")]
    pub drop: String,
}

fn on_off(flag: &str, value: &str) -> Result<bool, String> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("{flag}: choose on or off, got '{other}'")),
    }
}

/// The fit's settings from the flags, checked.
fn config(common: &CommonArgs, interp: &str, drop: f64) -> Result<CdeFitConfig, String> {
    let config = CdeFitConfig {
        data: CdeDataId::from_name(&common.data).map_err(|e| format!("--data: {e}"))?,
        interpolation: Interpolation::from_name(interp).map_err(|e| format!("--interp: {e}"))?,
        observation: Observation {
            drop,
            per_channel: common.per_channel,
            time_channel: on_off("--time-channel", &common.time_channel)?,
            masks: on_off("--masks", &common.masks)?,
            ..Observation::default()
        },
        hidden: common.hidden,
        width: common.width,
        depth: 1,
        activation: DenseActivation::Relu,
        solver: common.solver.clone(),
        per_interval: common.steps_per_interval,
        pid: match common.stepping.as_str() {
            "fixed" => false,
            "pid" => true,
            other => return Err(format!("--stepping: choose fixed or pid, got '{other}'")),
        },
        series: common.series,
        batch: common.batch,
        learning_rate: common.lr,
        epochs: common.epochs,
        seed: common.seed,
    };
    config.validate()?;
    Ok(config)
}

fn list<T>(flag: &str, text: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    let items: Vec<T> =
        text.split(',').map(|s| parse(s.trim()).map_err(|e| format!("{flag}: {e}"))).collect::<Result<_, _>>()?;
    if items.is_empty() || items.len() > 16 {
        return Err(format!("{flag}: give 1 to 16 values"));
    }
    Ok(items)
}

fn drops(text: &str) -> Result<Vec<f64>, String> {
    list("--drop", text, |s| s.parse::<f64>().map_err(|_| format!("'{s}' is not a number")))
}

pub fn check(args: &NcdeArgs) -> Result<(), String> {
    match &args.verb {
        NcdeVerb::Train(t) => config(&t.common, &t.interp, t.drop).map(|_| ()),
        NcdeVerb::Sweep(s) => {
            for interp in list("--interp", &s.interp, |v| Ok(v.to_string()))? {
                for drop in drops(&s.drop)? {
                    config(&s.common, &interp, drop)?;
                }
            }
            Ok(())
        }
    }
}

/// Trains one configuration; its report's keys.
fn train_one(config: CdeFitConfig) -> Result<serde_json::Value, String> {
    let started = Instant::now();
    let mut fit = CdeFit::new(config.clone())?;
    while !fit.done() {
        fit.step()?;
    }
    let test = fit.evaluate(&fit.test)?;
    let train = fit.evaluate(&fit.train)?;
    Ok(json!({
        "data": config.data.name(),
        "interp": config.interpolation.name(),
        "drop": config.observation.drop,
        "per_channel": config.observation.per_channel,
        "time_channel": config.observation.time_channel,
        "masks": config.observation.masks,
        "solver": config.solver,
        "stepping": if config.pid { "pid" } else { "fixed" },
        "epochs": config.epochs,
        "steps": fit.steps_done(),
        "params": fit.params.len(),
        "train_accuracy": train.accuracy,
        "test_accuracy": test.accuracy,
        "test_bce": test.bce,
        "loss_last": fit.last_loss,
        "nfe_per_series": test.nfe_per_series,
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

pub fn run(args: &NcdeArgs) -> Result<(), String> {
    check(args)?;
    let (report, json_only) = match &args.verb {
        NcdeVerb::Train(t) => (train_one(config(&t.common, &t.interp, t.drop)?)?, t.common.json),
        NcdeVerb::Sweep(s) => {
            let mut rows = Vec::new();
            for interp in list("--interp", &s.interp, |v| Ok(v.to_string()))? {
                for drop in drops(&s.drop)? {
                    let row = train_one(config(&s.common, &interp, drop)?)?;
                    if !s.common.json {
                        eprintln!("{} drop {drop}: test accuracy {}", interp, row["test_accuracy"]);
                    }
                    rows.push(row);
                }
            }
            (json!({ "data": s.common.data, "rows": rows }), s.common.json)
        }
    };
    if json_only {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report).expect("a JSON value prints"));
    }
    Ok(())
}
