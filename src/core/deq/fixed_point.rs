//! Plain fixed-point iteration z ← f(z): on a κ-contraction the error shrinks at least like
//! κ^k, and asymptotically like ρ(J_f(z*))^k.

use super::root::{relative_residual, FixedPointMap, RootSolve, Stopping};

pub fn fixed_point(map: &dyn FixedPointMap, z0: &[f64], stop: Stopping) -> RootSolve {
    let mut z = z0.to_vec();
    let mut fz = vec![0.0; z.len()];
    map.apply(&z, &mut fz);
    let mut residuals = vec![relative_residual(&z, &fz)];
    let mut evaluations = 1;
    while residuals.last().is_some_and(|r| *r >= stop.tol && r.is_finite()) && evaluations <= stop.max_iterations {
        std::mem::swap(&mut z, &mut fz);
        map.apply(&z, &mut fz);
        evaluations += 1;
        residuals.push(relative_residual(&z, &fz));
    }
    let converged = residuals.last().is_some_and(|r| *r < stop.tol);
    RootSolve { z, residuals, evaluations, converged }
}
