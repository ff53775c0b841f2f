//! `nde lab node train|gradients|data`: the neural ODE lab on the command line.

use std::time::Instant;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::core::adjoint::gradient_table::{gradient_table_against, pendulum_stress, report_json};
use crate::core::dynamics::fit::{FitConfig, GradientMethod, ModelKind, NodeFit, NodeWeights, Stepping};
use crate::core::dynamics::precision::Precision;
use crate::core::dynamics::systems::{generate, SystemId};
use crate::core::nn::dense_activation::DenseActivation;
use crate::core::solve::tableau::ButcherTableau;

#[derive(Args, Debug)]
pub struct NodeArgs {
    #[command(subcommand)]
    pub verb: NodeVerb,
}

#[derive(Subcommand, Debug)]
pub enum NodeVerb {
    /// Fit a neural or hybrid vector field to a system's trajectories.
    Train(Box<TrainArgs>),
    /// Each gradient method against finite differences on the damped pendulum.
    Gradients(GradientsArgs),
    /// Write a system's data set as CSV (series, t, y1, y2).
    Data(DataArgs),
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// oscillator, damped-linear, pendulum, lotka-volterra or cubic-spiral.
    #[arg(long, default_value = "oscillator")]
    pub system: String,
    /// neural (y' = s tanh(NN(y))) or hybrid (known physics + NN; pendulum, lotka-volterra).
    #[arg(long, default_value = "neural")]
    pub model: String,
    /// Hidden width, 1 to 256 (default: 64; 5 for the Lotka-Volterra hybrid).
    #[arg(long)]
    pub width: Option<usize>,
    /// Hidden layers, 1 to 4 (default: 2; 3 for the Lotka-Volterra hybrid).
    #[arg(long)]
    pub depth: Option<usize>,
    /// identity, tanh, softplus, silu, lipswish, relu, sigmoid or gaussian.
    #[arg(long)]
    pub activation: Option<String>,
    /// euler, heun, rk4, tsit5 or dopri5.
    #[arg(long, default_value = "tsit5")]
    pub solver: String,
    /// Fixed steps per observation interval (instead of PID steps).
    #[arg(long)]
    pub steps_per_interval: Option<usize>,
    #[arg(long, default_value_t = 1e-3)]
    pub rtol: f64,
    #[arg(long, default_value_t = 1e-6)]
    pub atol: f64,
    /// backprop, backsolve or reversible-heun.
    #[arg(long, default_value = "backprop")]
    pub adjoint: String,
    #[arg(long, default_value_t = 256)]
    pub series: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Adam's learning rate (default 3e-3; 1e-2 for the Lotka-Volterra hybrid).
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Training steps (default 1000; 3000 for the Lotka-Volterra hybrid).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Train on the whole series from the start (no first-10% phase).
    #[arg(long)]
    pub no_length_schedule: bool,
    /// Train on observations up to this time; the rest measure extrapolation (default: all;
    /// 3 for lotka-volterra).
    #[arg(long, allow_negative_numbers = true)]
    pub train_until: Option<f64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the weights (JSON) here.
    #[arg(long)]
    pub out: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct GradientsArgs {
    /// The system of the stress problem (the pendulum, with (omega^2, gamma) as unknowns).
    #[arg(long, default_value = "pendulum")]
    pub system: String,
    /// Damping gamma, 0 to 20.
    #[arg(long, default_value_t = 4.0, allow_negative_numbers = true)]
    pub damping: f64,
    /// Horizon T, up to 100.
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    pub horizon: f64,
    /// Fixed steps over the horizon.
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// The Runge-Kutta solver of backprop and backsolve: euler, heun, rk4, tsit5, dopri5.
    #[arg(long, default_value = "rk4")]
    pub solver: String,
    /// The field's precision: f64, or f32 (every value the field takes and gives rounded to
    /// single precision; measured against the f64 reference).
    #[arg(long, default_value = "f64")]
    pub precision: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct DataArgs {
    #[arg(long, default_value = "oscillator")]
    pub system: String,
    /// Series (0: the system's default).
    #[arg(long, default_value_t = 0)]
    pub series: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The CSV file to write.
    #[arg(long)]
    pub out: String,
    #[arg(long)]
    pub json: bool,
}

/// The fit's settings from the flags, checked.
pub fn fit_config(args: &TrainArgs) -> Result<FitConfig, String> {
    let system = SystemId::from_name(&args.system).map_err(|e| format!("--system: {e}"))?;
    let model = ModelKind::from_name(&args.model).map_err(|e| format!("--model: {e}"))?;
    let base = FitConfig::cli_default(system, model);
    let activation = match &args.activation {
        Some(name) => DenseActivation::from_name(name).map_err(|e| format!("--activation: {e}"))?,
        None => base.activation,
    };
    let stepping = match args.steps_per_interval {
        Some(per_interval) => Stepping::Fixed { per_interval },
        None => Stepping::Pid { rtol: args.rtol, atol: args.atol },
    };
    let config = FitConfig {
        width: args.width.unwrap_or(base.width),
        depth: args.depth.unwrap_or(base.depth),
        activation,
        solver: args.solver.clone(),
        stepping,
        method: GradientMethod::from_name(&args.adjoint).map_err(|e| format!("--adjoint: {e}"))?,
        series: args.series,
        batch: args.batch,
        learning_rate: args.lr.unwrap_or(base.learning_rate),
        steps: args.steps.unwrap_or(base.steps),
        length_schedule: !args.no_length_schedule,
        train_until: args.train_until.or(base.train_until),
        seed: args.seed,
        ..base
    };
    config.validate()?;
    Ok(config)
}

fn gradients_tableau(args: &GradientsArgs) -> Result<ButcherTableau, String> {
    if args.system != "pendulum" {
        return Err(format!("--system: the gradient experiment runs on the pendulum only, got '{}'", args.system));
    }
    if !crate::core::dynamics::fit::SOLVERS.contains(&args.solver.as_str()) {
        return Err(format!(
            "--solver: choose one of {}, got '{}'",
            crate::core::dynamics::fit::SOLVERS.join(", "),
            args.solver
        ));
    }
    pendulum_stress(args.damping, args.horizon, args.steps)?;
    Precision::from_name(&args.precision).map_err(|e| format!("--precision: {e}"))?;
    ButcherTableau::from_name(&args.solver)
}

pub fn check(args: &NodeArgs) -> Result<(), String> {
    match &args.verb {
        NodeVerb::Train(train) => fit_config(train).map(|_| ()),
        NodeVerb::Gradients(g) => gradients_tableau(g).map(|_| ()),
        NodeVerb::Data(d) => {
            SystemId::from_name(&d.system).map_err(|e| format!("--system: {e}"))?;
            if d.series > crate::core::dynamics::fit::MAX_SERIES {
                return Err(format!(
                    "--series must be at most {}, got {}",
                    crate::core::dynamics::fit::MAX_SERIES,
                    d.series
                ));
            }
            Ok(())
        }
    }
}

pub fn run(args: &NodeArgs) -> Result<(), String> {
    match &args.verb {
        NodeVerb::Train(train) => run_train(train),
        NodeVerb::Gradients(g) => run_gradients(g),
        NodeVerb::Data(d) => run_data(d),
    }
}

/// A number for the JSON: finite, or an error naming it (NaN never reaches the output).
fn finite(name: &str, v: f64) -> Result<f64, String> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{name} is not finite ({v}): the fit diverged; lower --lr or use smaller steps"))
    }
}

fn run_train(args: &TrainArgs) -> Result<(), String> {
    let config = fit_config(args)?;
    let started = Instant::now();
    let mut fit = NodeFit::new(config.clone())?;
    let mut loss_first = None;
    while !fit.done() {
        let record = fit.step()?;
        loss_first.get_or_insert(record.loss);
        if !args.json && (record.step % 100 == 0 || fit.done()) {
            eprintln!(
                "step {:>6}  loss {:.4e}  nfe {:.0}+{:.0}",
                record.step, record.loss, record.nfe_forward, record.nfe_backward
            );
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let n = fit.history.len().max(1) as f64;
    let nfe_forward = fit.history.iter().map(|r| r.nfe_forward).sum::<f64>() / n;
    let nfe_backward = fit.history.iter().map(|r| r.nfe_backward).sum::<f64>() / n;
    let optional = |name: &str, v: Option<f64>| -> Result<Value, String> {
        Ok(v.map(|v| finite(name, v)).transpose()?.map_or(Value::Null, |v| json!(v)))
    };
    // A figure of the trained model's own solves: a model that extrapolates into a blow-up
    // is a result to report ("diverged: why"), not a failure of the command.
    let measured = |v: Result<Option<f64>, String>| match v {
        Ok(Some(x)) if x.is_finite() => json!(x),
        Ok(Some(x)) => json!(format!("diverged: {x}")),
        Ok(None) => Value::Null,
        Err(e) => json!(format!("diverged: {e}")),
    };
    let report = json!({
        "system": config.system.name(),
        "model": config.model.name(),
        "solver": if config.method == GradientMethod::ReversibleHeun { "reversible-heun" } else { config.solver.as_str() },
        "stepping": match config.stepping { Stepping::Fixed { .. } => "fixed", Stepping::Pid { .. } => "pid" },
        "adjoint": config.method.name(),
        "steps": config.steps,
        "params": fit.params.len(),
        "loss_first": optional("loss_first", loss_first)?,
        "loss_last": optional("loss_last", fit.history.last().map(|r| r.loss))?,
        "train_mse": measured(fit.train_mse().map(Some)),
        "extrapolation_mse": measured(fit.extrapolation_mse()),
        "residual_rel_l2": measured(Ok(fit.residual_rel_l2())),
        "invariant_drift": measured(fit.invariant_drift()),
        "nfe_forward_mean": nfe_forward,
        "nfe_backward_mean": nfe_backward,
        "seconds": seconds,
    });
    if let Some(path) = &args.out {
        let text =
            serde_json::to_string(&NodeWeights::of(&fit)).map_err(|e| format!("cannot encode the weights: {e}"))?;
        std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    if args.json {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report).expect("a JSON value prints"));
    }
    Ok(())
}

fn run_gradients(args: &GradientsArgs) -> Result<(), String> {
    let tableau = gradients_tableau(args)?;
    let stress = pendulum_stress(args.damping, args.horizon, args.steps)?;
    let started = Instant::now();
    let clock = move || started.elapsed().as_secs_f64();
    let precision = Precision::from_name(&args.precision).map_err(|e| format!("--precision: {e}"))?;
    let rows = gradient_table_against(&tableau, &stress.problem_in(precision), &stress.problem(), &clock);
    let report = report_json(&args.solver, precision, args.damping, args.horizon, args.steps, &rows);
    if args.json {
        println!("{report}");
    } else {
        println!(
            "pendulum, damping {}, horizon {}, {} {} steps, {}",
            args.damping,
            args.horizon,
            args.steps,
            args.solver,
            precision.name()
        );
        for r in &rows {
            println!(
                "  {:<16} rel. error {:.2e}  floats {:>6}  evaluations {:>6}",
                r.method, r.rel_error, r.floats_held, r.evaluations
            );
        }
    }
    Ok(())
}

fn run_data(args: &DataArgs) -> Result<(), String> {
    let system = SystemId::from_name(&args.system).map_err(|e| format!("--system: {e}"))?;
    if args.series > crate::core::dynamics::fit::MAX_SERIES {
        return Err(format!(
            "--series must be at most {}, got {}",
            crate::core::dynamics::fit::MAX_SERIES,
            args.series
        ));
    }
    let data = generate(system, args.series, args.seed)?;
    let mut text = String::from("series,t,y1,y2\n");
    for (s, path) in data.series.iter().enumerate() {
        for (t, y) in data.times.iter().zip(path) {
            text.push_str(&format!("{s},{t},{},{}\n", y[0], y[1]));
        }
    }
    std::fs::write(&args.out, text).map_err(|e| format!("cannot write {}: {e}", args.out))?;
    let report =
        json!({ "system": system.name(), "series": data.series.len(), "points": data.times.len(), "out": args.out });
    if args.json {
        println!("{report}");
    } else {
        println!("wrote {} series of {} points to {}", data.series.len(), data.times.len(), args.out);
    }
    Ok(())
}
