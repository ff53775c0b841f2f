//! `nde lab symreg run`: the symbolic regression lab on the command line: regress a system's
//! vector field (the exact one, a trained neural ODE's, or finite differences of noisy data)
//! output by output with regularised evolution, pick from each Pareto front, fine-tune the
//! constants through the ODE solve and round them.

use std::time::Instant;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::core::dynamics::fit::{NodeFit, NodeWeights};
use crate::core::dynamics::systems::SystemId;
use crate::core::symreg::options::{Operators, SearchOptions};
use crate::core::symreg::pipeline::{run_pipeline, PipelineConfig, Source};
use crate::playground::symreg::lab::shipped_weights;

#[derive(Args, Debug)]
pub struct SymregArgs {
    #[command(subcommand)]
    pub verb: SymregVerb,
}

#[derive(Subcommand, Debug)]
pub enum SymregVerb {
    /// Regress both outputs of a field, pick, fine-tune through the ODE solve and round.
    Run(RunArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// oscillator or damped-linear (any neural ODE lab system works; those two have answers).
    #[arg(long, default_value = "damped-linear")]
    pub system: String,
    /// exact (the true field), neural (a trained neural ODE's field) or differences (forward
    /// differences of the data with noise 0.01: the baseline).
    #[arg(long, default_value = "exact")]
    pub source: String,
    /// The neural ODE for --source neural: a weights file from `nde lab node train --out`
    /// (default for the oscillator and damped-linear: the page's shipped fits).
    #[arg(long)]
    pub node_model: Option<std::path::PathBuf>,
    /// States in the regression set.
    #[arg(long, default_value_t = 2000)]
    pub points: usize,
    #[arg(long, default_value_t = 16)]
    pub populations: usize,
    #[arg(long, default_value_t = 27)]
    pub population_size: usize,
    #[arg(long, default_value_t = 30)]
    pub iterations: usize,
    #[arg(long, default_value_t = 100)]
    pub cycles: usize,
    #[arg(long, default_value_t = 20)]
    pub maxsize: usize,
    /// Unary operators, comma separated: neg, square, sin, cos, exp (the four binary ones are
    /// always on).
    #[arg(long, default_value = "neg")]
    pub unary: String,
    /// Adam steps of the fine-tuning through the ODE solve (0: none).
    #[arg(long, default_value_t = 500)]
    pub tune_steps: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

/// Most states in a regression set.
const MAX_POINTS: usize = 100_000;

fn config_of(a: &RunArgs) -> Result<PipelineConfig, String> {
    let system = SystemId::from_name(&a.system).map_err(|e| format!("--system: {e}"))?;
    let source = Source::from_name(&a.source).map_err(|e| format!("--source: {e}"))?;
    if !(10..=MAX_POINTS).contains(&a.points) {
        return Err(format!("--points must be 10 to {MAX_POINTS}, got {}", a.points));
    }
    if a.tune_steps > 100_000 {
        return Err(format!("--tune-steps must be at most 100000, got {}", a.tune_steps));
    }
    let search = SearchOptions {
        populations: a.populations,
        population_size: a.population_size,
        tournament_size: a.population_size.clamp(2, SearchOptions::cli_default().tournament_size),
        iterations: a.iterations,
        cycles: a.cycles,
        maxsize: a.maxsize,
        operators: Operators::parse_unary(&a.unary).map_err(|e| format!("--unary: {e}"))?,
        seed: a.seed,
        ..SearchOptions::cli_default()
    };
    search.validate()?;
    Ok(PipelineConfig {
        tune_steps: a.tune_steps,
        points: a.points,
        search,
        ..PipelineConfig::cli_default(system, source)
    })
}

/// The trained neural ODE for the neural source.
fn node_fit(a: &RunArgs, system: SystemId) -> Result<NodeFit, String> {
    let text = match &a.node_model {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("--node-model {}: {e}", path.display()))?,
        None => match shipped_weights(system) {
            Some(text) => text.to_string(),
            None => {
                return Err(format!(
                    "--source neural on {} needs --node-model FILE (train one with `nde lab node train --system {} --out FILE`)",
                    system.name(),
                    system.name()
                ))
            }
        },
    };
    let weights = NodeWeights::parse(&text).map_err(|e| format!("--node-model: {e}"))?;
    if weights.system != system.name() {
        return Err(format!("--node-model: the weights are for {}, not {}", weights.system, system.name()));
    }
    weights.to_fit().map_err(|e| format!("--node-model: {e}"))
}

fn expr_json(e: &crate::core::symreg::pareto::FrontEntry) -> Value {
    json!({"complexity": e.complexity, "loss": e.loss, "score": e.score, "expr": e.expr.to_string()})
}

fn run_symreg(a: &RunArgs) -> Result<Value, String> {
    let config = config_of(a)?;
    let started = Instant::now();
    let fit = match config.source {
        Source::Neural => Some(node_fit(a, config.system)?),
        _ => None,
    };
    let field = fit.as_ref().map(|f| (&f.field as &dyn crate::core::dynamics::VectorField, f.params.as_slice()));
    let result = run_pipeline(&config, field)?;
    let seconds = started.elapsed().as_secs_f64();
    let outputs: Vec<Value> = result
        .outputs
        .iter()
        .map(|o| {
            json!({
                "output": o.output,
                "front": o.front.iter().map(expr_json).collect::<Vec<_>>(),
                "selected": o.selected.to_string(),
                "selected_complexity": o.selected_complexity,
                "best": o.best.to_string(),
                "after_finetune": result.tuned[o.output].to_string(),
                "quantised": result.quantised[o.output].to_string(),
            })
        })
        .collect();
    // Losses of exact fits are 0: finite; a non-finite figure never reaches the JSON.
    let finite = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
    Ok(json!({
        "system": config.system.name(),
        "source": config.source.name(),
        "points": config.points,
        "seed": config.search.seed,
        "outputs": outputs,
        "tune_loss_before": finite(result.tune_loss.0),
        "tune_loss_after": finite(result.tune_loss.1),
        "max_error_to_truth": finite(result.max_error_to_truth),
        "evaluations": result.evaluations,
        "evaluations_per_second": result.evaluations as f64 / seconds.max(1e-9),
        "seconds": seconds,
    }))
}

pub fn check(args: &SymregArgs) -> Result<(), String> {
    match &args.verb {
        SymregVerb::Run(a) => config_of(a).map(|_| ()),
    }
}

pub fn run(args: &SymregArgs) -> Result<(), String> {
    check(args)?;
    let (report, json_only) = match &args.verb {
        SymregVerb::Run(a) => (run_symreg(a)?, a.json),
    };
    if json_only {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report).expect("a JSON value prints"));
    }
    Ok(())
}
