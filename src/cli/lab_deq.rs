//! `nde lab deq solvers|train`: the deep equilibrium lab on the command line. `train` fits a
//! DEQ classifier and compares the root finders and the gradient methods on it. `solvers`: on the
//! affine test problem f(z) = Az + b (‖A‖₂ set exactly) each solver's iterations to the
//! tolerance, against the bounds LABS.md gives (Anderson d + 2 without truncation or
//! regularisation, Broyden 2d) and the regularisation caveat (locuslab's absolute λ = 1e-4).

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::core::deq::affine::AffineProblem;
use crate::core::deq::anderson::{anderson, AndersonOptions, Regularisation};
use crate::core::deq::broyden::broyden;
use crate::core::deq::data::DeqData;
use crate::core::deq::fixed_point::fixed_point;
use crate::core::deq::layer::Backward;
use crate::core::deq::root::{RootSolve, SolverKind, Stopping};
use crate::core::deq::steady_state::steady_state;
use crate::core::deq::train::{DeqConfig, DeqFit};

#[derive(Args, Debug)]
pub struct DeqArgs {
    #[command(subcommand)]
    pub verb: DeqVerb,
}

#[derive(Subcommand, Debug)]
pub enum DeqVerb {
    /// Every root finder on the affine test problem, with its iterations and bounds.
    Solvers(SolversArgs),
    /// Train a DEQ classifier; report its accuracy, every solver's iterations and the
    /// gradient methods against the implicit one.
    Train(TrainArgs),
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// moons or two-spirals.
    #[arg(long, default_value = "moons")]
    pub data: String,
    /// d, the equilibrium state's size.
    #[arg(long, default_value_t = 32)]
    pub width: usize,
    /// κ, the contraction bound σ_max(W).
    #[arg(long, default_value_t = 0.9)]
    pub kappa: f64,
    /// 16 random Fourier features of x: on or off (default: on for two-spirals).
    #[arg(long)]
    pub fourier: Option<String>,
    /// fixed-point, anderson, broyden or ode-steady.
    #[arg(long, default_value = "anderson")]
    pub forward: String,
    /// ift, unrolled, jfb or neumann.
    #[arg(long, default_value = "ift")]
    pub backward: String,
    /// K for unrolled and neumann.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    #[arg(long, default_value_t = 2000)]
    pub steps: usize,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// The forward's relative residual.
    #[arg(long, default_value_t = 1e-4)]
    pub tol: f64,
    /// The forward's most iterations.
    #[arg(long, default_value_t = 50)]
    pub max_iterations: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the trained weights here (the page's *Import weights* reads them).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Print one line of JSON.
    #[arg(long)]
    pub json: bool,
}

fn train_config(a: &TrainArgs) -> Result<DeqConfig, String> {
    let data = DeqData::from_name(&a.data).map_err(|e| format!("--data: {e}"))?;
    let fourier = match a.fourier.as_deref() {
        None => data.default_fourier(),
        Some("on") => true,
        Some("off") => false,
        Some(other) => return Err(format!("--fourier: choose on or off, got '{other}'")),
    };
    if !(1..=256).contains(&a.width) {
        return Err(format!("--width must be 1 to 256, got {}", a.width));
    }
    if !(a.kappa > 0.0 && a.kappa < 1.0) {
        return Err(format!("--kappa must be in (0, 1) for a contraction, got {}", a.kappa));
    }
    let config = DeqConfig {
        data,
        width: a.width,
        kappa: a.kappa,
        fourier,
        forward: SolverKind::from_name(&a.forward).map_err(|e| format!("--forward: {e}"))?,
        backward: Backward::from_name(&a.backward, a.k).map_err(|e| format!("--backward: {e}"))?,
        steps: a.steps,
        batch: a.batch,
        learning_rate: a.lr,
        stop: Stopping { tol: a.tol, max_iterations: a.max_iterations },
        anderson: AndersonOptions::default(),
        seed: a.seed,
    };
    config.validate()?;
    Ok(config)
}

fn run_train(a: &TrainArgs) -> Result<Value, String> {
    let config = train_config(a)?;
    let started = std::time::Instant::now();
    let mut fit = DeqFit::new(config.clone())?;
    for _ in 0..config.steps {
        fit.step()?;
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some(path) = &a.out {
        let text = serde_json::to_string(&fit.weights()).expect("weights serialise");
        std::fs::write(path, text).map_err(|e| format!("--out {}: {e}", path.display()))?;
    }
    let finite = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
    let train = fit.evaluate(&fit.train, config.forward);
    let mut iterations = serde_json::Map::new();
    let mut converged = serde_json::Map::new();
    let mut accuracy = serde_json::Map::new();
    for solver in SolverKind::ALL {
        let f = fit.evaluate(&fit.test, solver);
        iterations.insert(solver.name().into(), finite(f.iterations));
        converged.insert(solver.name().into(), finite(f.converged));
        accuracy.insert(solver.name().into(), finite(f.accuracy));
    }
    let test = fit.evaluate(&fit.test, config.forward);
    let g = fit.gradient_report(16);
    Ok(json!({
        "data": config.data.name(),
        "width": config.width,
        "kappa": config.kappa,
        "fourier": config.fourier,
        "forward": config.forward.name(),
        "backward": config.backward.name(),
        "steps": config.steps,
        "batch": config.batch,
        "seed": config.seed,
        "loss_first": fit.losses.first().copied().map(finite),
        "loss_last": fit.losses.last().copied().map(finite),
        "train_accuracy": finite(train.accuracy),
        "test_accuracy": finite(test.accuracy),
        "test_accuracy_by_solver": accuracy,
        "forward_iters_mean": iterations,
        "forward_converged": converged,
        "grad": {
            "unrolled_k10_rel": finite(g.unrolled_k10_rel),
            "jfb_cos": finite(g.jfb_cos),
            "neumann_k5_rel": finite(g.neumann_k5_rel),
            "ift_vs_fd_rel": finite(g.ift_vs_fd_rel),
            "spectral_radius": finite(g.spectral_radius),
        },
        "floats_held": {"ift": g.floats_held[0], "unrolled-10": g.floats_held[1], "jfb": g.floats_held[2], "neumann-5": g.floats_held[3]},
        "seconds": seconds,
        "steps_per_second": config.steps as f64 / seconds.max(1e-9),
    }))
}

#[derive(Args, Debug)]
pub struct SolversArgs {
    /// The affine test problem f(z) = Az + b (the only problem yet; the flag says so).
    #[arg(long)]
    pub affine: bool,
    /// d, the state's dimension.
    #[arg(long, default_value_t = 8)]
    pub dim: usize,
    /// ‖A‖₂, below 1 (a contraction).
    #[arg(long, default_value_t = 0.95)]
    pub norm: f64,
    /// The relative residual |f(z) − z| / |f(z)| to reach.
    #[arg(long, default_value_t = 1e-10)]
    pub tol: f64,
    /// Most iterations per solver (chunks of unit time for the ODE steady state).
    #[arg(long, default_value_t = 2000)]
    pub max_iterations: usize,
    /// Anderson's memory m for its default run (its exact run keeps d + 1).
    #[arg(long, default_value_t = 5)]
    pub memory: usize,
    /// Anderson's default relative regularisation c (λ = c · tr(GGᵀ)/n).
    #[arg(long, default_value_t = 1e-10)]
    pub lambda: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one line of JSON.
    #[arg(long)]
    pub json: bool,
}

fn checked(a: &SolversArgs) -> Result<(AffineProblem, Stopping, AndersonOptions), String> {
    if !a.affine {
        return Err("nde lab deq solvers needs --affine (the affine test problem is the only one yet)".into());
    }
    let stop = Stopping { tol: a.tol, max_iterations: a.max_iterations };
    stop.validate().map_err(|e| format!("--tol/--max-iterations: {e}"))?;
    let options =
        AndersonOptions { memory: a.memory, lambda: Regularisation::Relative(a.lambda), ..AndersonOptions::default() };
    options.validate().map_err(|e| format!("--memory/--lambda: {e}"))?;
    if a.dim > 200 {
        return Err(format!("--dim must be 1 to 200, got {}", a.dim));
    }
    let problem = AffineProblem::random(a.dim, a.norm, a.seed).map_err(|e| format!("--dim/--norm: {e}"))?;
    Ok((problem, stop, options))
}

fn iterations(solve: &RootSolve, tol: f64) -> Value {
    solve.iterations_to(tol).map_or(Value::Null, |i| json!(i))
}

fn run_solvers(a: &SolversArgs) -> Result<Value, String> {
    let (p, stop, options) = checked(a)?;
    let d = p.dim();
    let z0 = vec![0.0; d];
    let plain = fixed_point(&p, &z0, stop);
    let exact_options = AndersonOptions { memory: d + 1, beta: 1.0, lambda: Regularisation::Relative(0.0) };
    let exact_anderson = anderson(&p, &z0, stop, exact_options);
    let default_anderson = anderson(&p, &z0, stop, options);
    let absolute = AndersonOptions { lambda: Regularisation::Absolute(1e-4), ..options };
    let locuslab = anderson(&p, &z0, stop, absolute);
    let (good_broyden, broyden_floats) = broyden(&p, &z0, stop);
    let ode = steady_state(&p, &z0, stop);
    let rho = p.spectral_radius();
    let finite = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
    Ok(json!({
        "problem": "affine",
        "dim": d,
        "norm": finite(p.norm()),
        "spectral_radius": finite(rho),
        "tol": a.tol,
        "seed": a.seed,
        "fixed_point_iters": iterations(&plain, a.tol),
        "fixed_point_estimate": finite(a.tol.ln() / rho.ln()),
        "anderson_iters": iterations(&exact_anderson, a.tol),
        "anderson_memory": d + 1,
        "bound_anderson": d + 2,
        "anderson_m_iters": iterations(&default_anderson, a.tol),
        "anderson_m": options.memory,
        "anderson_lambda_1e-4_iters": iterations(&locuslab, a.tol),
        "broyden_iters": iterations(&good_broyden, a.tol),
        "bound_broyden": 2 * d,
        "broyden_floats_held": broyden_floats,
        "ode_steady_chunks": iterations(&ode, a.tol),
        "ode_steady_evaluations": ode.evaluations,
    }))
}

pub fn check(args: &DeqArgs) -> Result<(), String> {
    match &args.verb {
        DeqVerb::Solvers(a) => checked(a).map(|_| ()),
        DeqVerb::Train(a) => train_config(a).map(|_| ()),
    }
}

pub fn run(args: &DeqArgs) -> Result<(), String> {
    check(args)?;
    let (report, json_only) = match &args.verb {
        DeqVerb::Solvers(a) => (run_solvers(a)?, a.json),
        DeqVerb::Train(a) => (run_train(a)?, a.json),
    };
    if json_only {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report).expect("a JSON value prints"));
    }
    Ok(())
}
