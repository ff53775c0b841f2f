//! Broyden's ("good") method on g(z) = f(z) − z (locuslab/deq's `broyden`, without its line
//! search): an estimate B of the inverse Jacobian of g, kept as −I plus rank-one terms
//! u_i v_iᵀ, steps Δz = −B g, and the Sherman–Morrison form of the rank-one update after
//! each. On a linear map it ends within 2d steps (Gay 1979).

use super::root::{relative_residual, FixedPointMap, RootSolve, Stopping};

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// B = −I + Σ u_i v_iᵀ, held as its factors (d floats each).
struct LowRankInverse {
    us: Vec<Vec<f64>>,
    vs: Vec<Vec<f64>>,
}

impl LowRankInverse {
    /// B x.
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        let mut out: Vec<f64> = x.iter().map(|v| -v).collect();
        for (u, v) in self.us.iter().zip(&self.vs) {
            let c = dot(v, x);
            out.iter_mut().zip(u).for_each(|(o, ui)| *o += c * ui);
        }
        out
    }

    /// Bᵀ x.
    fn apply_transposed(&self, x: &[f64]) -> Vec<f64> {
        let mut out: Vec<f64> = x.iter().map(|v| -v).collect();
        for (u, v) in self.us.iter().zip(&self.vs) {
            let c = dot(u, x);
            out.iter_mut().zip(v).for_each(|(o, vi)| *o += c * vi);
        }
        out
    }
}

/// The solve, and the floats its inverse estimate held at the end.
pub fn broyden(map: &dyn FixedPointMap, z0: &[f64], stop: Stopping) -> (RootSolve, usize) {
    let d = z0.len();
    let mut z = z0.to_vec();
    let mut fz = vec![0.0; d];
    map.apply(&z, &mut fz);
    let mut g: Vec<f64> = fz.iter().zip(&z).map(|(f, x)| f - x).collect();
    let mut residuals = vec![relative_residual(&z, &fz)];
    let mut inverse = LowRankInverse { us: Vec::new(), vs: Vec::new() };
    let done = |residuals: &[f64]| residuals.last().is_some_and(|r| *r < stop.tol || !r.is_finite());
    while !done(&residuals) && residuals.len() <= stop.max_iterations {
        let dz: Vec<f64> = inverse.apply(&g).iter().map(|v| -v).collect();
        let next: Vec<f64> = z.iter().zip(&dz).map(|(a, b)| a + b).collect();
        map.apply(&next, &mut fz);
        let g_next: Vec<f64> = fz.iter().zip(&next).map(|(f, x)| f - x).collect();
        residuals.push(relative_residual(&next, &fz));
        let dg: Vec<f64> = g_next.iter().zip(&g).map(|(a, b)| a - b).collect();
        let b_dg = inverse.apply(&dg);
        let v = inverse.apply_transposed(&dz);
        let denominator = dot(&v, &dg);
        // A vanishing denominator (the step changed nothing g sees) leaves B as it was.
        if denominator.abs() > 1e-300 && denominator.is_finite() {
            let u: Vec<f64> = dz.iter().zip(&b_dg).map(|(a, b)| (a - b) / denominator).collect();
            inverse.us.push(u);
            inverse.vs.push(v);
        }
        z = next;
        g = g_next;
    }
    let converged = residuals.last().is_some_and(|r| *r < stop.tol);
    let held = 2 * d * inverse.us.len();
    let evaluations = residuals.len();
    (RootSolve { z, residuals, evaluations, converged }, held)
}
