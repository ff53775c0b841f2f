//! `nde order`: the fitted convergence order of a solver on a problem with a known solution.

use clap::Args;
use serde_json::json;

use crate::core::solve::order::{
    expected_strong_order, fitted_slope, ode_errors, ode_problem, ode_step_counts, sde_problem,
    sde_strong_and_weak_errors,
};
use crate::core::solve::sde::SdeSolver;
use crate::core::solve::tableau::ButcherTableau;

#[derive(Args, Debug)]
pub struct OrderArgs {
    /// euler, heun, midpoint, ralston, rk4, bosh3, tsit5, dopri5 (fixed steps), em, milstein,
    /// heun-sde, sra1, reversible-heun.
    #[arg(long)]
    pub solver: String,
    /// linear or nonlinear (ODE solvers), gbm or ou (SDE solvers).
    #[arg(long)]
    pub problem: String,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &OrderArgs) -> Result<(), String> {
    let (order, expected, points) = if let Ok(tableau) = ButcherTableau::from_name(&args.solver) {
        let problem = ode_problem(&args.problem).map_err(|e| format!("{e} (for ODE solvers)"))?;
        let points = ode_errors(&tableau, &problem, ode_step_counts(tableau.order));
        (fitted_slope(&points), f64::from(tableau.order), points)
    } else if let Ok(solver) = SdeSolver::from_name(&args.solver) {
        let problem = sde_problem(&args.problem).map_err(|e| format!("{e} (for SDE solvers)"))?;
        if solver == SdeSolver::Sra1 && !problem.additive {
            return Err("sra1 is for additive noise: use --problem ou".into());
        }
        let result = sde_strong_and_weak_errors(solver, &problem, 400, &[4, 8, 16, 32, 64], 7);
        let points = result.points.iter().map(|p| (p.0, p.1)).collect();
        (result.strong_order, expected_strong_order(solver, &problem), points)
    } else {
        return Err(format!(
            "unknown solver '{}': choose euler, heun, midpoint, ralston, rk4, bosh3, tsit5, dopri5, em, milstein, heun-sde, sra1 or reversible-heun",
            args.solver
        ));
    };
    if args.json {
        println!("{}", json!({ "solver": args.solver, "problem": args.problem, "order": order, "expected": expected }));
    } else {
        println!("{} on {}: fitted order {order:.3} (expected {expected})", args.solver, args.problem);
        for (h, e) in points {
            println!("  step {h:.5}  error {e:.3e}");
        }
    }
    Ok(())
}
