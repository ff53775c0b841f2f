//! `nde lab odice run`: the ODICE lab on the command line. On the tabular grid, each update
//! rule's fixed point (the target network equal to V) and the facts that characterise it:
//! the semi-gradient's per-state normalisation, the true gradient's Bellman-flow constraint,
//! the orthogonal update's identity, and the greedy policy each gives. The continuous
//! navigation environment is not built yet.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::core::odice::grid;
use crate::core::odice::objective::UpdateRule;
use crate::core::odice::tabular::{success, Problem};

#[derive(Args, Debug)]
pub struct OdiceArgs {
    #[command(subcommand)]
    pub verb: OdiceVerb,
}

#[derive(Subcommand, Debug)]
pub enum OdiceVerb {
    /// Solve each update rule on an environment and report its facts.
    Run(RunArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// grid (the tabular 7×7 grid); nav (continuous navigation) is not built yet.
    #[arg(long, default_value = "grid")]
    pub env: String,
    /// Update rules, comma-separated: semi, true, orthogonal.
    #[arg(long, default_value = "semi,true,orthogonal")]
    pub update: String,
    /// λ, the weight of the conjugate term.
    #[arg(long, default_value_t = 0.6)]
    pub lambda: f64,
    /// η, the backward gradient's weight.
    #[arg(long, default_value_t = 1.0)]
    pub eta: f64,
    /// The behaviour data's seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one line of JSON.
    #[arg(long)]
    pub json: bool,
}

fn checked(a: &RunArgs) -> Result<Vec<UpdateRule>, String> {
    match a.env.as_str() {
        "grid" => {}
        "nav" => return Err("--env nav: the continuous navigation environment is not built yet; use --env grid".into()),
        other => return Err(format!("--env: unknown environment '{other}': choose grid")),
    }
    if !(a.lambda > 0.0 && a.lambda < 1.0) {
        return Err(format!("--lambda must be in (0, 1), got {}", a.lambda));
    }
    if !(a.eta.is_finite() && (0.0..=10.0).contains(&a.eta)) {
        return Err(format!("--eta must be 0 to 10, got {}", a.eta));
    }
    let rules: Result<Vec<UpdateRule>, String> =
        a.update.split(',').map(|u| UpdateRule::from_name(u.trim()).map_err(|e| format!("--update: {e}"))).collect();
    let rules = rules?;
    if rules.is_empty() {
        return Err("--update: name at least one rule".into());
    }
    Ok(rules)
}

fn run_grid(a: &RunArgs) -> Result<Value, String> {
    let rules = checked(a)?;
    let data = grid::behaviour_data(a.seed);
    let p = Problem { data: &data, lambda: a.lambda, eta: a.eta, gamma: grid::GAMMA };
    let finite = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
    let rows: Vec<Value> = rules
        .iter()
        .map(|rule| {
            let solve = p.solve(*rule, 1e-10, 200_000);
            let f = p.facts(&solve.v);
            let policy = p.greedy_policy(&solve.v);
            json!({
                "update": rule.name(),
                "iterations": solve.iterations,
                "stationarity": finite(solve.stationarity),
                "max_norm_residual": finite(f.max_norm_residual),
                "max_flow_residual": finite(f.max_flow_residual),
                "norm_forward": finite(f.norm_forward),
                "norm_backward": finite(f.norm_backward),
                "cos_fb": finite(f.cos_fb),
                "orth_identity_err": finite(f.orth_identity_err),
                "v_min": finite(f.v_min),
                "v_max": finite(f.v_max),
                "greedy_success": success(&policy),
            })
        })
        .collect();
    Ok(json!({
        "env": "grid",
        "lambda": a.lambda,
        "eta": a.eta,
        "gamma": grid::GAMMA,
        "seed": a.seed,
        "transitions": data.len(),
        "rows": rows,
    }))
}

pub fn check(args: &OdiceArgs) -> Result<(), String> {
    match &args.verb {
        OdiceVerb::Run(a) => checked(a).map(|_| ()),
    }
}

pub fn run(args: &OdiceArgs) -> Result<(), String> {
    check(args)?;
    let (report, json_only) = match &args.verb {
        OdiceVerb::Run(a) => (run_grid(a)?, a.json),
    };
    if json_only {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report).expect("a JSON value prints"));
    }
    Ok(())
}
