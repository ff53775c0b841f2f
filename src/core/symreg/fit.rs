//! What a search fits: a data set (points and one output's targets), the loss (mean squared
//! error; infinite where an expression is not finite somewhere), and the constants' fit by
//! Levenberg-Marquardt with the exact Jacobian from the expression's reverse pass
//! (`Expr::eval_with_gradient`), restarted from perturbed constants as SymbolicRegression.jl
//! restarts its BFGS.

use nalgebra::{DMatrix, DVector};

use super::expr::Expr;
use crate::core::rng::RngStream;

/// Points (rows of `dim` values) and the targets of one output.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub xs: Vec<f64>,
    pub dim: usize,
    pub y: Vec<f64>,
}

impl Dataset {
    pub fn new(points: &[[f64; 2]], y: Vec<f64>) -> Result<Self, String> {
        if points.len() != y.len() || points.is_empty() {
            return Err(format!("{} points for {} targets", points.len(), y.len()));
        }
        if points.iter().flatten().chain(&y).any(|v| !v.is_finite()) {
            return Err("the regression set holds a value that is not finite".into());
        }
        Ok(Dataset { xs: points.iter().flatten().copied().collect(), dim: 2, y })
    }

    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    pub fn point(&self, i: usize) -> &[f64] {
        &self.xs[i * self.dim..(i + 1) * self.dim]
    }

    /// Mean squared error of `e` (infinite when any value is not finite).
    pub fn loss(&self, e: &Expr) -> f64 {
        let mut values = Vec::with_capacity(self.len());
        e.eval_batch(&self.xs, self.dim, &mut values);
        let mut sum = 0.0;
        for (v, y) in values.iter().zip(&self.y) {
            let r = v - y;
            if !r.is_finite() {
                return f64::INFINITY;
            }
            sum += r * r;
        }
        sum / self.len() as f64
    }

    /// The loss of the best constant predictor (the targets' variance): what a loss is judged
    /// against (SymbolicRegression.jl's baseline).
    pub fn baseline(&self) -> f64 {
        let n = self.len() as f64;
        let mean = self.y.iter().sum::<f64>() / n;
        self.y.iter().map(|y| (y - mean) * (y - mean)).sum::<f64>() / n
    }
}

/// Levenberg-Marquardt on the constants from their current values: at most `iterations`
/// accepted steps. Returns the fitted expression and its loss (the original if nothing
/// improved it), and the loss evaluations spent.
fn levenberg_marquardt(e: &Expr, data: &Dataset, iterations: usize) -> (Expr, f64, usize) {
    let mut c = e.constants();
    let mut best = data.loss(e);
    let mut evaluations = 1;
    let k = c.len();
    if k == 0 || !best.is_finite() {
        return (e.clone(), best, evaluations);
    }
    let mut lambda = 1e-3;
    let mut current = e.clone();
    for _ in 0..iterations {
        // J^T J and J^T r over the data.
        let (mut jtj, mut jtr) = (DMatrix::<f64>::zeros(k, k), DVector::<f64>::zeros(k));
        for i in 0..data.len() {
            let g = current.eval_with_gradient(data.point(i));
            let r = g.value - data.y[i];
            for a in 0..k {
                jtr[a] += g.constants[a] * r;
                for b in 0..=a {
                    jtj[(a, b)] += g.constants[a] * g.constants[b];
                }
            }
        }
        evaluations += 1;
        for a in 0..k {
            for b in 0..a {
                jtj[(b, a)] = jtj[(a, b)];
            }
        }
        let mut improved = false;
        for _ in 0..12 {
            let mut m = jtj.clone();
            for a in 0..k {
                m[(a, a)] += lambda * (jtj[(a, a)] + 1e-12);
            }
            let Some(step) = m.lu().solve(&(-&jtr)) else { break };
            let trial: Vec<f64> = c.iter().zip(step.iter()).map(|(c, d)| c + d).collect();
            let candidate = current.with_constants(&trial);
            let loss = data.loss(&candidate);
            evaluations += 1;
            if loss < best {
                (best, c, current) = (loss, trial, candidate);
                lambda = (lambda / 3.0).max(1e-12);
                improved = true;
                break;
            }
            lambda *= 4.0;
        }
        if !improved || best == 0.0 {
            break;
        }
    }
    (current, best, evaluations)
}

/// The constants fitted from where they are and from `restarts` perturbations of them
/// (each multiplied by 1 + N(0, 1) / 2), the best kept.
pub fn fit_constants(
    e: &Expr,
    data: &Dataset,
    iterations: usize,
    restarts: usize,
    rng: &mut RngStream,
) -> (Expr, f64, usize) {
    let mut fit = ConstantFit::new(e, iterations, restarts);
    while !fit.done() {
        fit.advance(data, rng);
    }
    (fit.best, fit.best_loss, fit.evaluations)
}

/// `fit_constants` a start at a time (the page runs one Levenberg-Marquardt start per slice):
/// the first from the expression's own constants, then the perturbed ones, drawn in order.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstantFit {
    origin: Expr,
    iterations: usize,
    restarts: usize,
    starts_done: usize,
    pub best: Expr,
    pub best_loss: f64,
    pub evaluations: usize,
}

impl ConstantFit {
    pub fn new(e: &Expr, iterations: usize, restarts: usize) -> Self {
        ConstantFit {
            origin: e.clone(),
            iterations,
            restarts,
            starts_done: 0,
            best: e.clone(),
            best_loss: f64::INFINITY,
            evaluations: 0,
        }
    }

    /// Every start run (an expression without constants has only the first).
    pub fn done(&self) -> bool {
        self.starts_done > self.restarts || (self.starts_done >= 1 && self.origin.constants().is_empty())
    }

    /// Runs the next start.
    pub fn advance(&mut self, data: &Dataset, rng: &mut RngStream) {
        let start = if self.starts_done == 0 {
            self.origin.clone()
        } else {
            let c: Vec<f64> = self.origin.constants().iter().map(|v| v * (1.0 + 0.5 * rng.normal())).collect();
            self.origin.with_constants(&c)
        };
        let (fitted, loss, spent) = levenberg_marquardt(&start, data, self.iterations);
        self.evaluations += spent;
        if self.starts_done == 0 || loss < self.best_loss {
            (self.best, self.best_loss) = (fitted, loss);
        }
        self.starts_done += 1;
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::symreg::expr::Binary;

    fn grid() -> Vec<[f64; 2]> {
        (0..400).map(|i| [-2.0 + 4.0 * (i % 20) as f64 / 19.0, -2.0 + 4.0 * (i / 20) as f64 / 19.0]).collect()
    }

    /// LABS.md: the structure x − c·y on exact targets of x − 0.1y recovers c = 0.1 to 1e-10.
    #[test]
    fn the_constant_of_x_minus_cy_is_recovered() {
        let points = grid();
        let y = points.iter().map(|p| p[0] - 0.1 * p[1]).collect();
        let data = Dataset::new(&points, y).unwrap();
        let shape =
            Expr::binary(Binary::Sub, &Expr::var(0), &Expr::binary(Binary::Mul, &Expr::constant(1.0), &Expr::var(1)));
        let (fitted, loss, _) = fit_constants(&shape, &data, 8, 2, &mut RngStream::new(0, 0));
        let c = fitted.constants()[0];
        assert!((c - 0.1).abs() < 1e-10, "c = {c}");
        assert!(loss < 1e-20, "loss {loss}");
        // A nonlinear one: y / (y + c) on targets of y / (y + 1.012) from c = 2.
        let points: Vec<[f64; 2]> = grid().into_iter().map(|p| [p[0], 0.25 * p[1] + 0.75]).collect();
        let y = points.iter().map(|p| p[1] / (p[1] + 1.012)).collect();
        let data = Dataset::new(&points, y).unwrap();
        let shape =
            Expr::binary(Binary::Div, &Expr::var(1), &Expr::binary(Binary::Add, &Expr::var(1), &Expr::constant(2.0)));
        let (fitted, loss, _) = fit_constants(&shape, &data, 20, 2, &mut RngStream::new(0, 0));
        assert!((fitted.constants()[0] - 1.012).abs() < 1e-8 && loss < 1e-16, "{fitted}: {loss}");
    }

    #[test]
    fn losses_and_baselines() {
        let points = grid();
        let y: Vec<f64> = points.iter().map(|p| p[0]).collect();
        let data = Dataset::new(&points, y).unwrap();
        assert_eq!(data.loss(&Expr::var(0)), 0.0);
        let mean_square = points.iter().map(|p| p[0] * p[0]).sum::<f64>() / 400.0;
        assert!((data.baseline() - mean_square).abs() < 1e-12, "the grid is centred");
        assert_eq!(data.loss(&Expr::binary(Binary::Div, &Expr::var(0), &Expr::constant(0.0))), f64::INFINITY);
        assert!(Dataset::new(&points[..3], vec![0.0; 2]).is_err());
        assert!(Dataset::new(&[[f64::NAN, 0.0]], vec![0.0]).is_err());
    }
}
