//! `nde lab deq solvers`: the deep equilibrium lab's root finders on the command line. On the
//! affine test problem f(z) = Az + b (‖A‖₂ set exactly) each solver's iterations to the
//! tolerance, against the bounds LABS.md gives (Anderson d + 2 without truncation or
//! regularisation, Broyden 2d) and the regularisation caveat (locuslab's absolute λ = 1e-4).

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::core::deq::affine::AffineProblem;
use crate::core::deq::anderson::{anderson, AndersonOptions, Regularisation};
use crate::core::deq::broyden::broyden;
use crate::core::deq::fixed_point::fixed_point;
use crate::core::deq::root::{RootSolve, Stopping};
use crate::core::deq::steady_state::steady_state;

#[derive(Args, Debug)]
pub struct DeqArgs {
    #[command(subcommand)]
    pub verb: DeqVerb,
}

#[derive(Subcommand, Debug)]
pub enum DeqVerb {
    /// Every root finder on the affine test problem, with its iterations and bounds.
    Solvers(SolversArgs),
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
    }
}

pub fn run(args: &DeqArgs) -> Result<(), String> {
    check(args)?;
    let (report, json_only) = match &args.verb {
        DeqVerb::Solvers(a) => (run_solvers(a)?, a.json),
    };
    if json_only {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report).expect("a JSON value prints"));
    }
    Ok(())
}
