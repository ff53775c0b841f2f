//! `nde lab odice run`: the ODICE lab on the command line. On the tabular grid, each update
//! rule's fixed point (the target network equal to V) and the facts that characterise it:
//! the semi-gradient's per-state normalisation, the true gradient's Bellman-flow constraint,
//! the orthogonal update's identity, and the greedy policy each gives. On the continuous
//! navigation data, each rule trains a value and a policy network from the same weights and
//! minibatches, and reports its rollouts' success from in- and out-of-distribution starts,
//! its features' co-adaptation and its dual gradients' late figures.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::core::odice::learner::{NavConfig, NavLearner};
use crate::core::odice::objective::UpdateRule;
use crate::core::odice::tabular::{success, Problem};
use crate::core::odice::weights::OdiceWeights;
use crate::core::odice::{grid, nav};

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
    /// grid (the tabular 7×7 grid) or nav (continuous navigation).
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
    /// The seed of the data, the weights, the minibatches and the rollouts.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// nav: training steps per rule.
    #[arg(long, default_value_t = 20_000)]
    pub steps: usize,
    /// nav: the discount γ.
    #[arg(long, default_value_t = nav::GAMMA)]
    pub gamma: f64,
    /// nav: Adam's learning rate for V.
    #[arg(long, default_value_t = 1e-3)]
    pub value_lr: f64,
    /// nav: Adam's learning rate for the policy.
    #[arg(long, default_value_t = 1e-3)]
    pub policy_lr: f64,
    /// nav: minibatch size.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// nav: behaviour episodes in the data set.
    #[arg(long, default_value_t = nav::EPISODES)]
    pub episodes: usize,
    /// nav: the behaviour's action noise (standard deviation).
    #[arg(long, default_value_t = nav::ACTION_NOISE)]
    pub noise: f64,
    /// nav: write every rule's weights here at the end (the page's import reads it).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Print one line of JSON.
    #[arg(long)]
    pub json: bool,
}

fn checked(a: &RunArgs) -> Result<Vec<UpdateRule>, String> {
    match a.env.as_str() {
        "grid" => {}
        "nav" => {
            nav_config(a).validate().map_err(|e| format!("--{e}"))?;
            if !(1..=1_000_000).contains(&a.steps) {
                return Err(format!("--steps must be 1 to 1000000, got {}", a.steps));
            }
            if !(1..=5000).contains(&a.episodes) {
                return Err(format!("--episodes must be 1 to 5000, got {}", a.episodes));
            }
            if !(a.noise.is_finite() && (0.0..=2.0).contains(&a.noise)) {
                return Err(format!("--noise must be 0 to 2, got {}", a.noise));
            }
        }
        other => return Err(format!("--env: unknown environment '{other}': choose grid or nav")),
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

fn nav_config(a: &RunArgs) -> NavConfig {
    NavConfig {
        lambda: a.lambda,
        eta: a.eta,
        gamma: a.gamma,
        value_lr: a.value_lr,
        policy_lr: a.policy_lr,
        batch: a.batch,
        seed: a.seed,
        ..NavConfig::default()
    }
}

fn run_nav(a: &RunArgs) -> Result<Value, String> {
    let rules = checked(a)?;
    let config = nav_config(a);
    let data = nav::behaviour_data(a.seed, a.episodes, a.noise);
    let finite = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
    let mut rows = Vec::new();
    let mut trained = Vec::new();
    for rule in rules {
        let mut learner = NavLearner::new(rule, config)?;
        for _ in 0..a.steps {
            learner.step(&data).map_err(|e| format!("{}: {e}", rule.name()))?;
        }
        trained.push(learner.clone());
        let e = learner.evaluate(&data);
        // The gradient curves, thinned to at most 200 points.
        let every = (learner.history.len() / 200).max(1);
        let curve: Vec<Value> = learner
            .history
            .iter()
            .step_by(every)
            .map(|f| json!([f.step, finite(f.norm_forward), finite(f.norm_backward), finite(f.cos_fb)]))
            .collect();
        rows.push(json!({
            "update": rule.name(),
            "success_in": e.success_in,
            "success_ood": e.success_ood,
            "steps_in": finite(e.steps_in),
            "steps_ood": finite(e.steps_ood),
            "coadapt": finite(e.coadapt),
            "cos_fb_final": finite(e.cos_fb_final),
            "norm_forward_final": finite(e.norm_forward_final),
            "norm_backward_final": finite(e.norm_backward_final),
            "v_min": finite(e.v_min),
            "v_max": finite(e.v_max),
            "curve": curve,
        }));
    }
    if let Some(path) = &a.out {
        let weights = OdiceWeights::of(&trained, a.episodes, a.noise);
        let text = serde_json::to_string(&weights).map_err(|e| format!("--out: {e}"))?;
        std::fs::write(path, text).map_err(|e| format!("--out {}: {e}", path.display()))?;
    }
    Ok(json!({
        "env": "nav",
        "lambda": a.lambda,
        "eta": a.eta,
        "gamma": a.gamma,
        "steps": a.steps,
        "batch": a.batch,
        "seed": a.seed,
        "episodes": a.episodes,
        "transitions": data.len(),
        "starts_per_kind": crate::core::odice::learner::EVALUATION_STARTS,
        "curve_columns": ["step", "norm_forward", "norm_backward", "cos_fb"],
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
        OdiceVerb::Run(a) if a.env == "nav" => (run_nav(a)?, a.json),
        OdiceVerb::Run(a) => (run_grid(a)?, a.json),
    };
    if json_only {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report).expect("a JSON value prints"));
    }
    Ok(())
}
