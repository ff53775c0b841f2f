//! Anderson acceleration (locuslab/deq's `anderson`, after Walker & Ni 2011): keep the last
//! n ≤ m iterates x_i and values f_i, choose weights α (Σ α_i = 1) minimising |G α|² + λ|α|²
//! with G = [f_i − x_i] through the (n+1)×(n+1) bordered system, and step to
//! β Σ α_i f_i + (1 − β) Σ α_i x_i. On a linear map with no truncation (m ≥ d + 1) and λ = 0
//! it is GMRES in disguise and ends within d + 2 iterations.
//!
//! The regularisation is LABS.md's caveat: locuslab's λ = 1e-4 is absolute and suits its
//! tolerance of 1e-3; at 1e-9 it makes Anderson slower than plain iteration. The default here
//! is relative, λ = 1e-10 · tr(GGᵀ)/n.

use std::collections::VecDeque;

use nalgebra::{DMatrix, DVector};

use super::root::{relative_residual, FixedPointMap, RootSolve, Stopping};

/// λ in |Gα|² + λ|α|².
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Regularisation {
    /// λ = c · tr(GGᵀ)/n: scale-free.
    Relative(f64),
    /// λ = c (locuslab's 1e-4).
    Absolute(f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AndersonOptions {
    /// m: how many past iterates are kept.
    pub memory: usize,
    /// β: 1 steps to the mixed values, less damps towards the mixed iterates.
    pub beta: f64,
    pub lambda: Regularisation,
}

impl Default for AndersonOptions {
    /// LABS.md: m = 5, β = 1, λ relative 1e-10.
    fn default() -> Self {
        AndersonOptions { memory: 5, beta: 1.0, lambda: Regularisation::Relative(1e-10) }
    }
}

impl AndersonOptions {
    pub fn validate(&self) -> Result<(), String> {
        let c = match self.lambda {
            Regularisation::Relative(c) | Regularisation::Absolute(c) => c,
        };
        if !(1..=100).contains(&self.memory) {
            return Err(format!("the Anderson memory must be 1 to 100, got {}", self.memory));
        }
        if !(self.beta > 0.0 && self.beta <= 2.0) {
            return Err(format!("the Anderson damping β must be in (0, 2], got {}", self.beta));
        }
        if !(c.is_finite() && c >= 0.0) {
            return Err(format!("the Anderson regularisation must be a number at least 0, got {c}"));
        }
        Ok(())
    }
}

/// The mixing weights α (Σ α = 1) for the differences `g`: the solution of the bordered
/// system [0 1ᵀ; 1 GᵀG + λI] [ν; α] = [1; 0], computed without forming GᵀG (which squares
/// the condition number and stalled Anderson near 1e-8 at d = 12). The constraint is
/// eliminated (α_n = 1 − Σ_{i<n} α_i) and the least-squares problem
/// min |[G; √λ I] α| solved by SVD; the minimiser is the bordered system's.
fn weights(g: &[Vec<f64>], lambda: Regularisation) -> Option<Vec<f64>> {
    let n = g.len();
    if n == 1 {
        return Some(vec![1.0]);
    }
    let d = g[0].len();
    // G scaled to unit largest column: the same α, with λ scaled alike.
    let scale = g.iter().map(|v| v.iter().map(|x| x * x).sum::<f64>()).fold(0.0, f64::max).sqrt();
    if !(scale > 0.0 && scale.is_finite()) {
        return None;
    }
    let trace = g.iter().map(|v| v.iter().map(|x| x * x).sum::<f64>()).sum::<f64>() / (scale * scale);
    let lambda = match lambda {
        Regularisation::Relative(c) => c * trace / n as f64,
        Regularisation::Absolute(c) => c / (scale * scale),
    };
    let root = lambda.sqrt();
    // Column i of the stacked matrix [G; √λ I].
    let column = |i: usize, row: usize| {
        if row < d {
            g[i][row] / scale
        } else if row - d == i {
            root
        } else {
            0.0
        }
    };
    let rows = d + n;
    let last = n - 1;
    let c = DMatrix::<f64>::from_fn(rows, last, |r, i| column(i, r) - column(last, r));
    let t = DVector::<f64>::from_fn(rows, |r, _| -column(last, r));
    let svd = c.svd(true, true);
    let cut = 1e-13 * svd.singular_values.max();
    let beta = svd.solve(&t, cut).ok()?;
    let mut alpha: Vec<f64> = beta.iter().copied().collect();
    alpha.push(1.0 - alpha.iter().sum::<f64>());
    alpha.iter().all(|a| a.is_finite()).then_some(alpha)
}

pub fn anderson(map: &dyn FixedPointMap, z0: &[f64], stop: Stopping, options: AndersonOptions) -> RootSolve {
    let d = z0.len();
    let mut xs: VecDeque<Vec<f64>> = VecDeque::new();
    let mut fs: VecDeque<Vec<f64>> = VecDeque::new();
    let evaluate = |x: Vec<f64>, xs: &mut VecDeque<Vec<f64>>, fs: &mut VecDeque<Vec<f64>>| {
        let mut fx = vec![0.0; d];
        map.apply(&x, &mut fx);
        let r = relative_residual(&x, &fx);
        xs.push_back(x);
        fs.push_back(fx);
        if xs.len() > options.memory.max(1) {
            xs.pop_front();
            fs.pop_front();
        }
        r
    };
    let mut residuals = vec![evaluate(z0.to_vec(), &mut xs, &mut fs)];
    let done = |residuals: &[f64]| residuals.last().is_some_and(|r| *r < stop.tol || !r.is_finite());
    // The first step is a plain one (locuslab's X[1] = F[0]).
    if !done(&residuals) && stop.max_iterations >= 1 {
        let next = fs.back().expect("one value").clone();
        residuals.push(evaluate(next, &mut xs, &mut fs));
    }
    while !done(&residuals) && residuals.len() <= stop.max_iterations {
        let g: Vec<Vec<f64>> = xs.iter().zip(&fs).map(|(x, f)| f.iter().zip(x).map(|(a, b)| a - b).collect()).collect();
        let next = match weights(&g, options.lambda) {
            Some(alpha) => {
                let mut next = vec![0.0; d];
                for (a, (x, f)) in alpha.iter().zip(xs.iter().zip(&fs)) {
                    for k in 0..d {
                        next[k] += a * (options.beta * f[k] + (1.0 - options.beta) * x[k]);
                    }
                }
                next
            }
            // No usable weights (every difference zero or not finite): a plain step.
            None => fs.back().expect("a value").clone(),
        };
        residuals.push(evaluate(next, &mut xs, &mut fs));
    }
    let converged = residuals.last().is_some_and(|r| *r < stop.tol);
    let evaluations = residuals.len();
    RootSolve { z: xs.back().expect("an iterate").clone(), residuals, evaluations, converged }
}
