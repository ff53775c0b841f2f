//! The affine test problem f(z) = A z + b with ‖A‖₂ set exactly: its fixed point is
//! (I − A)⁻¹ b, and the root finders' iteration counts have known bounds (plain iteration
//! about ln(tol)/ln ρ(A); Anderson without truncation or regularisation within d + 2; good
//! Broyden within 2d).

use nalgebra::{DMatrix, DVector};

use super::root::FixedPointMap;
use crate::core::rng::RngStream;

#[derive(Debug, Clone)]
pub struct AffineProblem {
    pub a: DMatrix<f64>,
    pub b: DVector<f64>,
}

impl AffineProblem {
    /// A Gaussian matrix scaled to spectral norm `norm`, and a Gaussian b.
    pub fn random(dim: usize, norm: f64, seed: u64) -> Result<Self, String> {
        if !(1..=1000).contains(&dim) {
            return Err(format!("the dimension must be 1 to 1000, got {dim}"));
        }
        if !(norm > 0.0 && norm < 1.0) {
            return Err(format!("the norm must be in (0, 1) for a contraction, got {norm}"));
        }
        let mut rng = RngStream::new(seed, 0x6166_6669); // stream: "affi"
        let raw = DMatrix::<f64>::from_fn(dim, dim, |_, _| rng.normal());
        let sigma = raw.clone().svd(false, false).singular_values.max();
        let a = raw * (norm / sigma);
        let b = DVector::<f64>::from_fn(dim, |_, _| rng.normal());
        Ok(AffineProblem { a, b })
    }

    pub fn dim(&self) -> usize {
        self.b.len()
    }

    /// (I − A)⁻¹ b.
    pub fn exact(&self) -> Vec<f64> {
        let n = self.dim();
        let m = DMatrix::<f64>::identity(n, n) - &self.a;
        m.lu().solve(&self.b).expect("I − A is invertible for ‖A‖ < 1").iter().copied().collect()
    }

    /// ρ(A), the largest eigenvalue modulus.
    pub fn spectral_radius(&self) -> f64 {
        self.a.complex_eigenvalues().iter().map(|c| c.norm()).fold(0.0, f64::max)
    }

    /// ‖A‖₂.
    pub fn norm(&self) -> f64 {
        self.a.clone().svd(false, false).singular_values.max()
    }
}

impl FixedPointMap for AffineProblem {
    fn dim(&self) -> usize {
        self.b.len()
    }

    fn apply(&self, z: &[f64], out: &mut [f64]) {
        let n = self.dim();
        for i in 0..n {
            out[i] = self.b[i] + (0..n).map(|j| self.a[(i, j)] * z[j]).sum::<f64>();
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::deq::anderson::{anderson, AndersonOptions, Regularisation};
    use crate::core::deq::broyden::broyden;
    use crate::core::deq::fixed_point::fixed_point;
    use crate::core::deq::root::Stopping;
    use crate::core::deq::steady_state::steady_state;

    const TOL: f64 = 1e-10;

    fn distance(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt()
    }

    fn exact_anderson(d: usize) -> AndersonOptions {
        AndersonOptions { memory: d + 1, beta: 1.0, lambda: Regularisation::Relative(0.0) }
    }

    /// Every solver reaches (I − A)⁻¹ b; plain iteration contracts at least like ‖A‖^k at
    /// every step and takes about ln(tol)/ln ρ(A) iterations.
    #[test]
    fn every_solver_finds_the_fixed_point_and_plain_iteration_contracts() {
        let p = AffineProblem::random(8, 0.95, 0).unwrap();
        assert!((p.norm() - 0.95).abs() < 1e-12);
        let exact = p.exact();
        let z0 = vec![0.0; 8];
        let stop = Stopping { tol: TOL, max_iterations: 2000 };
        let plain = fixed_point(&p, &z0, stop);
        let (b, _) = broyden(&p, &z0, stop);
        for (name, solve) in [
            ("fixed point", plain.clone()),
            ("anderson", anderson(&p, &z0, stop, exact_anderson(8))),
            ("anderson m=5", anderson(&p, &z0, stop, AndersonOptions::default())),
            ("broyden", b),
            ("ode steady state", steady_state(&p, &z0, Stopping { tol: TOL, max_iterations: 5000 })),
        ] {
            assert!(solve.converged, "{name}: residual {}", solve.final_residual());
            let scale = exact.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!(distance(&solve.z, &exact) < 1e-8 * scale, "{name}: {}", distance(&solve.z, &exact));
        }
        // The contraction bound, step by step: ‖z_k − z*‖ ≤ ‖A‖^k ‖z_0 − z*‖.
        let mut z = z0.clone();
        let e0 = distance(&z, &exact);
        for k in 1..=60 {
            let mut next = vec![0.0; 8];
            p.apply(&z, &mut next);
            z = next;
            assert!(distance(&z, &exact) <= 0.95f64.powi(k) * e0 * (1.0 + 1e-12), "step {k}");
        }
        let estimate = TOL.ln() / p.spectral_radius().ln();
        let taken = plain.iterations() as f64;
        assert!(
            taken > 0.5 * estimate && taken < 2.0 * estimate + 10.0,
            "{taken} iterations against ln(tol)/ln ρ = {estimate}"
        );
    }

    /// LABS.md's bounds over seeds: Anderson with m ≥ d + 1 and λ = 0 reaches 1e-10 within
    /// d + 2 iterations (GMRES on a linear problem); good Broyden within 2d.
    #[test]
    fn anderson_and_broyden_end_within_their_bounds_on_affine_problems() {
        for d in [4, 8, 12] {
            for seed in 0..5 {
                let p = AffineProblem::random(d, 0.95, seed).unwrap();
                let z0 = vec![0.0; d];
                let stop = Stopping { tol: TOL, max_iterations: 500 };
                let a = anderson(&p, &z0, stop, exact_anderson(d));
                let (b, held) = broyden(&p, &z0, stop);
                let (ia, ib) = (a.iterations_to(TOL), b.iterations_to(TOL));
                assert!(ia.is_some_and(|i| i <= d + 2), "d {d} seed {seed}: anderson {ia:?} ({:?})", a.residuals);
                assert!(ib.is_some_and(|i| i <= 2 * d), "d {d} seed {seed}: broyden {ib:?}");
                assert!(held <= 2 * d * 2 * d, "{held} floats for at most 2d rank-one terms");
            }
        }
    }

    /// The regularisation caveat: an absolute λ = 1e-4 (locuslab's) makes Anderson (m = 5)
    /// slower to 1e-9 than the relative default, and slower than plain iteration here.
    #[test]
    fn an_absolute_regularisation_slows_anderson_at_tight_tolerances() {
        let p = AffineProblem::random(8, 0.95, 0).unwrap();
        let z0 = vec![0.0; 8];
        let stop = Stopping { tol: 1e-9, max_iterations: 2000 };
        let absolute = AndersonOptions { lambda: Regularisation::Absolute(1e-4), ..AndersonOptions::default() };
        let slow = anderson(&p, &z0, stop, absolute).iterations();
        let fast = anderson(&p, &z0, stop, AndersonOptions::default()).iterations();
        let plain = fixed_point(&p, &z0, stop).iterations();
        println!("to 1e-9: absolute λ 1e-4 {slow}, relative {fast}, plain {plain}");
        assert!(slow > 2 * fast, "absolute {slow}, relative {fast}");
        assert!(fast < plain, "relative {fast}, plain {plain}");
    }
}
