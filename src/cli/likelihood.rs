//! `nde likelihood`: mean negative log-likelihood of target points under the model, along the
//! probability-flow ODE with the exact 2D divergence.

use std::time::Instant;

use clap::Args;

use crate::core::limits;
use serde_json::json;

use super::executor::Executor;
use super::sample::finite_metric;
use super::target::{load_model, ModelSpec};
use crate::core::sample::grid::T_EPS_SAMPLE;
use crate::core::sample::likelihood::{bits_per_dim, gaussian_log_density, likelihood_plan};
use crate::core::solve::tableau::ButcherTableau;
use crate::exec::cpu::RunOptions;

#[derive(Args, Debug)]
pub struct LikelihoodArgs {
    #[command(flatten)]
    pub spec: ModelSpec,
    /// pf-dopri5, pf-tsit5 or pf-bosh3 (adaptive, PID-controlled).
    #[arg(long, default_value = "pf-dopri5")]
    pub solver: String,
    /// Relative tolerance, 1e-10 to 0.1.
    #[arg(long, default_value_t = 1e-5, value_parser = limits::TOLERANCE.parser())]
    pub rtol: f64,
    /// Absolute tolerance, 1e-10 to 0.1.
    #[arg(long, default_value_t = 1e-5, value_parser = limits::TOLERANCE.parser())]
    pub atol: f64,
    /// How many target points to evaluate, 1 to 100000.
    #[arg(long, default_value_t = 200, value_parser = limits::LIKELIHOOD_POINTS.parser())]
    pub points: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Estimate the divergence with Hutchinson's estimator (one Rademacher probe per point,
    /// from --seed)
    /// instead of the exact 2x2 trace.
    #[arg(long)]
    pub hutchinson: bool,
    /// Score x_T under the exact marginal at t_max instead of the prior N(0, sigma_T^2 I)
    /// (exact mixture models only; VE's prior ignores the data's mean, docs/RESULTS.md).
    #[arg(long)]
    pub exact_prior: bool,
    /// Executor: cpu or gpu.
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &LikelihoodArgs) -> Result<(), String> {
    let (target, process) = args.spec.parse()?;
    let tableau = args
        .solver
        .strip_prefix("pf-")
        .filter(|name| ButcherTableau::from_name(name).is_ok_and(|t| t.error.is_some()))
        .ok_or_else(|| format!("unknown --solver '{}': choose pf-dopri5, pf-tsit5 or pf-bosh3", args.solver))?;
    if args.spec.level_model.is_some() {
        return Err("--level-model is read by `nde sample --sampler dlg` only, not by likelihood: drop it".into());
    }
    let executor = Executor::from_name(&args.backend)?;
    let mut model = load_model(&args.spec, &target, process, [0.0; 2])?;
    let points = target.sample(args.points, args.seed.wrapping_add(3));
    let start = Instant::now();
    let plan = likelihood_plan(process, model.param(), tableau, args.rtol, args.atol, args.hutchinson)?;
    let inputs = points.iter().map(|p| [p[0] as f32, p[1] as f32]).collect();
    let run = executor.run(
        &plan,
        model.as_mut(),
        &RunOptions { particles: points.len(), seed: args.seed, traced: vec![], inputs },
    )?;
    let mut values: Vec<f64> = run.values.iter().map(|v| f64::from(*v)).collect();
    if args.exact_prior {
        // The plan scored x_T under N(0, sigma_T^2 I); swap that term for the true p_T(x_T).
        let mixture = match (target.mixture(), args.spec.model.as_str()) {
            (Some(mixture), "exact") => mixture,
            _ => return Err("--exact-prior needs --model exact and a mixture target: only then is p_T known".into()),
        };
        let at_t_max = mixture.marginal(&process, process.t_max(), [0.0; 2]);
        let sigma_t = process.sigma(process.t_max());
        for (value, end) in values.iter_mut().zip(&run.positions) {
            let x_t = [f64::from(end[0]), f64::from(end[1])];
            *value += gaussian_log_density(x_t, sigma_t) - at_t_max.log_density(x_t);
        }
    }
    let nll = values.iter().sum::<f64>() / points.len() as f64;
    let seconds = start.elapsed().as_secs_f64();
    let exact = match (target.mixture(), args.spec.model.as_str()) {
        (Some(mixture), "exact") => {
            let at_eps = mixture.marginal(&process, T_EPS_SAMPLE, [0.0; 2]);
            Some(points.iter().map(|x| -at_eps.log_density(*x)).sum::<f64>() / points.len() as f64)
        }
        _ => None,
    };
    let nfe = run.nfe;
    finite_metric("likelihood", "NLL", nll)?;
    if let Some(e) = exact {
        finite_metric("likelihood", "exact NLL", e)?;
    }
    if args.json {
        let mut report = json!({
            "nll": nll, "bits_per_dim": bits_per_dim(nll), "points": args.points, "nfe": nfe, "seconds": seconds,
            "divergence": if args.hutchinson { "hutchinson" } else { "exact" }, "backend": executor.name(),
        });
        if let Some(e) = exact {
            report["nll_exact"] = json!(e);
        }
        println!("{report}");
    } else {
        println!(
            "NLL {nll:.4} nats ({:.4} bits/dim) over {} points, {nfe:.0} evaluations each, {seconds:.2} s",
            bits_per_dim(nll),
            args.points
        );
        if let Some(e) = exact {
            println!("exact NLL of the mixture at t = {T_EPS_SAMPLE}: {e:.4} nats");
        }
    }
    Ok(())
}
