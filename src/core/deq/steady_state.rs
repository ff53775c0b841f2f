//! The fixed point as the steady state of the ODE z' = f(z) − z (a DEQ is one: SciML's point
//! in DiffEqFlux#478), integrated by Tsit5 with the PID controller in chunks of unit time,
//! the residual tested after each chunk.

use super::root::{relative_residual, FixedPointMap, RootSolve, Stopping};
use crate::core::solve::ode::integrate_adaptive;
use crate::core::solve::pid::PidController;
use crate::core::solve::tableau::TSIT5;

/// Time integrated between two residual tests.
pub const CHUNK: f64 = 1.0;
/// Steps allowed per chunk.
const MAX_STEPS: usize = 10_000;

/// `stop.max_iterations` counts chunks; the evaluations are the ODE solver's (plus one per
/// residual test). The solver's tolerances are a hundredth of the residual's.
pub fn steady_state(map: &dyn FixedPointMap, z0: &[f64], stop: Stopping) -> RootSolve {
    let d = z0.len();
    let mut z = z0.to_vec();
    let mut fz = vec![0.0; d];
    map.apply(&z, &mut fz);
    let mut residuals = vec![relative_residual(&z, &fz)];
    let mut evaluations = 1;
    let tol = (0.01 * stop.tol).max(1e-13);
    let controller = PidController::new(tol, tol);
    let mut field = |_t: f64, y: &[f64], dy: &mut [f64]| {
        map.apply(y, dy);
        dy.iter_mut().zip(y).for_each(|(d, y)| *d -= y);
    };
    let done = |residuals: &[f64]| residuals.last().is_some_and(|r| *r < stop.tol || !r.is_finite());
    while !done(&residuals) && residuals.len() <= stop.max_iterations {
        match integrate_adaptive(&TSIT5, &mut field, &z, 0.0, CHUNK, &controller, MAX_STEPS) {
            Ok((next, stats)) => {
                evaluations += stats.evaluations;
                z = next;
            }
            Err(_) => {
                residuals.push(f64::INFINITY);
                break;
            }
        }
        map.apply(&z, &mut fz);
        evaluations += 1;
        residuals.push(relative_residual(&z, &fz));
    }
    let converged = residuals.last().is_some_and(|r| *r < stop.tol);
    RootSolve { z, residuals, evaluations, converged }
}
