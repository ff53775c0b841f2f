//! `nde lab node train|gradients|data|flow`: the neural ODE lab on the command line.

use std::time::Instant;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::executor::{largest_frame_difference, Executor};
use crate::core::adjoint::gradient_table::{gradient_table_against, pendulum_stress, report_json};
use crate::core::dynamics::fit::{FitConfig, GradientMethod, ModelKind, NodeFit, NodeWeights, Stepping};
use crate::core::dynamics::flow_plan::{flow_setup, padded_bounds};
use crate::core::dynamics::precision::Precision;
use crate::core::dynamics::systems::{generate, SystemId};
use crate::core::nn::dense_activation::DenseActivation;
use crate::core::solve::tableau::ButcherTableau;
use crate::exec::cpu::{run_plan, RunOptions};

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
    /// Flow a grid of starts with a trained field through a plan executor (the portrait's
    /// cloud), timed; --check also runs the CPU executor and reports the largest difference.
    Flow(FlowArgs),
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

#[derive(Args, Debug)]
pub struct FlowArgs {
    /// A weights file from `nde lab node train --out` (default: the page's shipped oscillator fit).
    #[arg(long)]
    pub weights: Option<String>,
    /// Starts per side of the grid (side^2 starts), 1 to 1000.
    #[arg(long, default_value_t = 100)]
    pub side: usize,
    /// Snapshots over the data's time span, 2 to 1000.
    #[arg(long, default_value_t = 101)]
    pub frames: usize,
    /// euler, heun, rk4, tsit5 or dopri5 (fixed steps).
    #[arg(long, default_value = "rk4")]
    pub solver: String,
    /// Solver steps per data interval.
    #[arg(long, default_value_t = 1)]
    pub steps_per_interval: usize,
    /// cpu or gpu.
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    /// Also run the CPU executor and report the largest difference from it.
    #[arg(long)]
    pub check: bool,
    /// Write every start's path as CSV (start, t, y1, y2) here.
    #[arg(long)]
    pub out: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// Most starts per side of `flow`.
pub const MAX_FLOW_SIDE: usize = 1000;

/// The fit a weights file describes with the flow's solver settings, checked, and the
/// weights (cheap: no data are generated).
fn flow_config(args: &FlowArgs) -> Result<(FitConfig, NodeWeights), String> {
    let text = match &args.weights {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("--weights: cannot read {path}: {e}"))?,
        None => crate::playground::node::lab::DEFAULT_WEIGHTS_JSON.to_string(),
    };
    let weights = NodeWeights::parse(&text).map_err(|e| format!("--weights: {e}"))?;
    let system = SystemId::from_name(&weights.system).map_err(|e| format!("--weights: {e}"))?;
    let model = ModelKind::from_name(&weights.model).map_err(|e| format!("--weights: {e}"))?;
    let config = FitConfig {
        width: weights.width,
        depth: weights.depth,
        activation: weights.activation,
        solver: args.solver.clone(),
        stepping: Stepping::Fixed { per_interval: args.steps_per_interval },
        ..FitConfig::cli_default(system, model)
    };
    config.validate()?;
    Ok((config, weights))
}

/// The fit with the file's weights.
fn flow_fit(args: &FlowArgs) -> Result<NodeFit, String> {
    let (config, weights) = flow_config(args)?;
    let mut fit = NodeFit::new(config)?;
    weights.apply(&mut fit).map_err(|e| format!("--weights: {e}"))?;
    Ok(fit)
}

fn check_flow(args: &FlowArgs) -> Result<(), String> {
    if !(1..=MAX_FLOW_SIDE).contains(&args.side) {
        return Err(format!("--side must be 1 to {MAX_FLOW_SIDE}, got {}", args.side));
    }
    if !(2..=crate::core::dynamics::flow_plan::MAX_FRAMES).contains(&args.frames) {
        return Err(format!(
            "--frames must be 2 to {}, got {}",
            crate::core::dynamics::flow_plan::MAX_FRAMES,
            args.frames
        ));
    }
    // Every frame of every start comes back: keep it within memory.
    if args.side * args.side * args.frames > 200_000_000 {
        return Err(format!(
            "{} starts x {} frames is too many values to keep: lower --side or --frames",
            args.side * args.side,
            args.frames
        ));
    }
    Executor::check_name(&args.backend)?;
    flow_config(args).map(|_| ())
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
        NodeVerb::Flow(f) => check_flow(f),
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
        NodeVerb::Flow(f) => run_flow(f),
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

fn run_flow(args: &FlowArgs) -> Result<(), String> {
    check_flow(args)?;
    let fit = flow_fit(args)?;
    let bounds = padded_bounds(fit.data.series.iter().flatten());
    let setup = flow_setup(&fit, bounds, args.side, args.frames)?;
    let executor = Executor::from_name(&args.backend)?;
    let n = setup.starts.len();
    let options = RunOptions { particles: n, seed: 0, traced: (0..n).collect(), inputs: setup.starts.clone() };
    let mut model = setup.model.clone();
    let started = Instant::now();
    let run = executor.run(&setup.plan, &mut model, &options)?;
    let seconds = started.elapsed().as_secs_f64();
    let evaluations = run.nfe * n as f64;
    let difference = if args.check {
        let cpu = run_plan(&setup.plan, &mut model, &options).map_err(|e| e.cli_message())?;
        let worst = largest_frame_difference(&cpu, &run);
        Some(finite("the largest difference from the CPU executor", f64::from(worst))?)
    } else {
        None
    };
    if let Some(path) = &args.out {
        let mut text = String::from("start,t,y1,y2\n");
        for (t, frame) in setup.times.iter().zip(&run.frames) {
            for (k, y) in frame.iter().enumerate() {
                text.push_str(&format!("{k},{t},{},{}\n", y[0], y[1]));
            }
        }
        std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    let report = json!({
        "system": fit.config.system.name(),
        "model": fit.config.model.name(),
        "backend": executor.name(),
        "adapter": executor.adapter(),
        "starts": n,
        "frames": run.frames.len(),
        "solver": fit.config.solver,
        "nfe_per_start": run.nfe,
        "seconds": seconds,
        "evaluations_per_s": evaluations / seconds.max(1e-9),
        "max_difference_vs_cpu": difference,
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "{} starts x {} frames of the {} {} field on the {} executor: {:.3} s, {:.3e} evaluations/s",
            n,
            run.frames.len(),
            fit.config.system.name(),
            fit.config.model.name(),
            executor.name(),
            seconds,
            evaluations / seconds.max(1e-9)
        );
        if let Some(d) = difference {
            println!("largest difference from the CPU executor: {d:.2e}");
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
