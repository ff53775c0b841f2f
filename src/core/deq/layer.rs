//! The DEQ layer z* = tanh(W z* + U x + b), W = κ W̃ / σ(W̃) spectrally normalised (σ = lᵀ W̃ r
//! with l, r the power iteration's persistent vectors, held fixed within a step, so the
//! gradient through the normalisation is exact for the σ used), a linear readout V z* + c to
//! two classes, cross-entropy. Since tanh is 1-Lipschitz, f is a κ-contraction in z.
//!
//! Gradients four ways: the implicit function theorem (u = J_fᵀ u + ∂L/∂z*, solved by the
//! same root finders; memory independent of the forward iterations), back-propagation
//! through K unrolled iterations from z = 0 (K·d floats), Jacobian-free (u = ∂L/∂z*) and
//! truncated Neumann (u = Σ_{k<K} (J_fᵀ)^k ∂L/∂z*).

use nalgebra::DMatrix;

use super::anderson::{anderson, AndersonOptions};
use super::broyden::broyden;
use super::fixed_point::fixed_point;
use super::root::{FixedPointMap, RootSolve, SolverKind, Stopping};
use super::steady_state::steady_state;
use crate::core::rng::RngStream;

pub const CLASSES: usize = 2;

/// Width d and input size p.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeqShape {
    pub width: usize,
    pub inputs: usize,
}

impl DeqShape {
    fn offsets(&self) -> [usize; 5] {
        let (d, p) = (self.width, self.inputs);
        let u = d * d;
        let b = u + d * p;
        let v = b + d;
        let c = v + CLASSES * d;
        [0, u, b, v, c]
    }

    pub fn param_count(&self) -> usize {
        self.offsets()[4] + CLASSES
    }
}

/// Solves a map's fixed point with one of the root finders from `z0`.
pub fn solve(
    kind: SolverKind,
    map: &dyn FixedPointMap,
    z0: &[f64],
    stop: Stopping,
    anderson_options: AndersonOptions,
) -> RootSolve {
    match kind {
        SolverKind::FixedPoint => fixed_point(map, z0, stop),
        SolverKind::Anderson => anderson(map, z0, stop, anderson_options),
        SolverKind::Broyden => broyden(map, z0, stop).0,
        SolverKind::OdeSteady => steady_state(map, z0, stop),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeqModel {
    pub shape: DeqShape,
    pub kappa: f64,
    pub params: Vec<f64>,
    /// The power iteration's vectors: σ ≈ lᵀ W̃ r.
    left: Vec<f64>,
    right: Vec<f64>,
}

fn normalise(v: &mut [f64]) {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-300);
    v.iter_mut().for_each(|x| *x /= n);
}

impl DeqModel {
    pub fn new(shape: DeqShape, kappa: f64, seed: u64) -> Result<Self, String> {
        if !(1..=256).contains(&shape.width) {
            return Err(format!("the width must be 1 to 256, got {}", shape.width));
        }
        if !(kappa > 0.0 && kappa < 1.0) {
            return Err(format!("κ must be in (0, 1) for a contraction, got {kappa}"));
        }
        let mut rng = RngStream::new(seed, 0x6465_7169); // stream: "deqi"
        let (d, p) = (shape.width, shape.inputs);
        let o = shape.offsets();
        let mut params = vec![0.0; shape.param_count()];
        for (k, v) in params.iter_mut().enumerate() {
            let scale = if k < o[1] {
                1.0 / (d as f64).sqrt()
            } else if k < o[2] {
                1.0 / (p as f64).sqrt()
            } else if (o[3]..o[4]).contains(&k) {
                1.0 / (d as f64).sqrt()
            } else {
                0.0
            };
            *v = scale * rng.normal();
        }
        let mut left: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        let mut right: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        normalise(&mut left);
        normalise(&mut right);
        let mut model = DeqModel { shape, kappa, params, left, right };
        model.power_iterate(30);
        Ok(model)
    }

    /// `steps` power iterations on W̃ from the persistent vectors (3 per training step).
    pub fn power_iterate(&mut self, steps: usize) {
        let d = self.shape.width;
        let w = &self.params[..d * d];
        for _ in 0..steps {
            let mut l: Vec<f64> = (0..d).map(|i| (0..d).map(|j| w[i * d + j] * self.right[j]).sum()).collect();
            normalise(&mut l);
            let mut r: Vec<f64> = (0..d).map(|j| (0..d).map(|i| w[i * d + j] * l[i]).sum()).collect();
            normalise(&mut r);
            self.left = l;
            self.right = r;
        }
    }

    /// The power iteration's vectors (l, r), for a weights file.
    pub fn power_vectors(&self) -> (&[f64], &[f64]) {
        (&self.left, &self.right)
    }

    /// Replaces the parameters and power vectors (a weights file's), checked for size and
    /// finiteness.
    pub fn load(&mut self, params: &[f64], left: &[f64], right: &[f64]) -> Result<(), String> {
        let d = self.shape.width;
        if params.len() != self.params.len() || left.len() != d || right.len() != d {
            return Err(format!(
                "the weights hold {} parameters and vectors of {} and {}, this model needs {} and {d}",
                params.len(),
                left.len(),
                right.len(),
                self.params.len()
            ));
        }
        if params.iter().chain(left).chain(right).any(|v| !v.is_finite()) {
            return Err("the weights hold a value that is not finite".into());
        }
        self.params = params.to_vec();
        self.left = left.to_vec();
        self.right = right.to_vec();
        Ok(())
    }

    /// The layer at `params` (this model's shape, κ and power vectors).
    pub fn at<'a>(&'a self, params: &'a [f64]) -> Layer<'a> {
        let d = self.shape.width;
        let raw = &params[..d * d];
        let sigma: f64 =
            (0..d).map(|i| self.left[i] * (0..d).map(|j| raw[i * d + j] * self.right[j]).sum::<f64>()).sum::<f64>();
        let sigma = if sigma.abs() < 1e-12 { 1e-12 } else { sigma };
        let w = raw.iter().map(|v| self.kappa * v / sigma).collect();
        Layer { model: self, params, w, sigma }
    }
}

/// The layer at one parameter vector: W computed once.
pub struct Layer<'a> {
    model: &'a DeqModel,
    params: &'a [f64],
    /// W = κ W̃ / σ, row-major.
    w: Vec<f64>,
    pub sigma: f64,
}

/// How the gradient is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backward {
    Ift,
    Unrolled(usize),
    Jfb,
    Neumann(usize),
}

impl Backward {
    pub fn name(self) -> String {
        match self {
            Backward::Ift => "ift".into(),
            Backward::Unrolled(k) => format!("unrolled-{k}"),
            Backward::Jfb => "jfb".into(),
            Backward::Neumann(k) => format!("neumann-{k}"),
        }
    }

    /// "ift", "jfb", "unrolled" or "neumann" with K.
    pub fn from_name(name: &str, k: usize) -> Result<Self, String> {
        match name {
            "ift" => Ok(Backward::Ift),
            "jfb" => Ok(Backward::Jfb),
            "unrolled" => Ok(Backward::Unrolled(k)),
            "neumann" => Ok(Backward::Neumann(k)),
            _ => Err(format!("unknown backward method '{name}': choose ift, unrolled, jfb or neumann")),
        }
    }
}

/// One sample's forward and backward settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Solvers {
    pub forward: SolverKind,
    pub forward_stop: Stopping,
    pub backward: Backward,
    pub backward_stop: Stopping,
    pub anderson: AndersonOptions,
}

/// A batch's loss and gradient, and what the solves cost.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchGradient {
    pub loss: f64,
    pub grad: Vec<f64>,
    pub correct: usize,
    pub forward_iterations: f64,
    pub backward_iterations: f64,
    /// Floats the backward pass held per sample (its own state, not the parameters').
    pub floats_held: usize,
}

fn softmax(logits: [f64; CLASSES]) -> [f64; CLASSES] {
    let m = logits[0].max(logits[1]);
    let e = [(logits[0] - m).exp(), (logits[1] - m).exp()];
    let s = e[0] + e[1];
    [e[0] / s, e[1] / s]
}

impl Layer<'_> {
    fn d(&self) -> usize {
        self.model.shape.width
    }

    /// f(z) = tanh(W z + U x + b).
    pub fn apply(&self, x: &[f64], z: &[f64], out: &mut [f64]) {
        let (d, p) = (self.d(), self.model.shape.inputs);
        let o = self.model.shape.offsets();
        for i in 0..d {
            let mut pre = self.params[o[2] + i];
            pre += (0..d).map(|j| self.w[i * d + j] * z[j]).sum::<f64>();
            pre += (0..p).map(|j| self.params[o[1] + i * p + j] * x[j]).sum::<f64>();
            out[i] = pre.tanh();
        }
    }

    /// Wᵀ (s ⊙ a) + g.
    fn transposed_step(&self, s: &[f64], a: &[f64], g: &[f64], out: &mut [f64]) {
        let d = self.d();
        for j in 0..d {
            out[j] = g[j] + (0..d).map(|i| self.w[i * d + j] * s[i] * a[i]).sum::<f64>();
        }
    }

    pub fn logits(&self, z: &[f64]) -> [f64; CLASSES] {
        let d = self.d();
        let o = self.model.shape.offsets();
        let mut out = [0.0; CLASSES];
        for (k, l) in out.iter_mut().enumerate() {
            *l = self.params[o[4] + k] + (0..d).map(|j| self.params[o[3] + k * d + j] * z[j]).sum::<f64>();
        }
        out
    }

    /// z* for input x by `kind` from z = 0.
    pub fn equilibrium(&self, x: &[f64], kind: SolverKind, stop: Stopping, options: AndersonOptions) -> RootSolve {
        let map = (self.d(), |z: &[f64], out: &mut [f64]| self.apply(x, z, out));
        solve(kind, &map, &vec![0.0; self.d()], stop, options)
    }

    /// ρ(J_f(z)) = ρ(diag(1 − f(z)²) W), the rate plain iteration converges at near z.
    pub fn jacobian_spectral_radius(&self, x: &[f64], z: &[f64]) -> f64 {
        let d = self.d();
        let mut fz = vec![0.0; d];
        self.apply(x, z, &mut fz);
        let j = DMatrix::<f64>::from_fn(d, d, |i, k| (1.0 - fz[i] * fz[i]) * self.w[i * d + k]);
        j.complex_eigenvalues().iter().map(|c| c.norm()).fold(0.0, f64::max)
    }

    /// The mean cross-entropy over `batch` (inputs and labels), the forward solves tight.
    pub fn loss(&self, batch: &[(Vec<f64>, usize)], stop: Stopping, options: AndersonOptions) -> f64 {
        batch
            .iter()
            .map(|(x, label)| {
                let z = self.equilibrium(x, SolverKind::Anderson, stop, options).z;
                -softmax(self.logits(&z))[*label].max(1e-300).ln()
            })
            .sum::<f64>()
            / batch.len() as f64
    }

    /// The batch's loss and its gradient in the raw parameters (through the normalisation)
    /// by `solvers.backward`.
    pub fn gradient(&self, batch: &[(Vec<f64>, usize)], solvers: &Solvers) -> BatchGradient {
        let (d, p) = (self.d(), self.model.shape.inputs);
        let o = self.model.shape.offsets();
        let n = batch.len() as f64;
        let mut grad = vec![0.0; self.params.len()];
        // ∂L/∂W (the normalised W), chained to W̃ at the end.
        let mut g_w = vec![0.0; d * d];
        let (mut loss, mut correct, mut forward_iterations, mut backward_iterations) = (0.0, 0, 0usize, 0usize);
        let mut floats_held = 0;
        for (x, label) in batch {
            // The forward: z* (or z_K and the iterates, unrolled).
            let mut path: Vec<Vec<f64>> = Vec::new();
            let z = match solvers.backward {
                Backward::Unrolled(k) => {
                    path.push(vec![0.0; d]);
                    for _ in 0..k {
                        let mut next = vec![0.0; d];
                        self.apply(x, path.last().expect("a start"), &mut next);
                        path.push(next);
                    }
                    forward_iterations += k;
                    path.last().expect("K ≥ 0 iterates").clone()
                }
                _ => {
                    let s = self.equilibrium(x, solvers.forward, solvers.forward_stop, solvers.anderson);
                    forward_iterations += s.iterations();
                    s.z
                }
            };
            let logits = self.logits(&z);
            let prob = softmax(logits);
            loss -= prob[*label].max(1e-300).ln() / n;
            correct += usize::from((prob[1] > prob[0]) == (*label == 1));
            let mut d_logits = prob;
            d_logits[*label] -= 1.0;
            d_logits.iter_mut().for_each(|v| *v /= n);
            let mut g = vec![0.0; d];
            for k in 0..CLASSES {
                grad[o[4] + k] += d_logits[k];
                for j in 0..d {
                    grad[o[3] + k * d + j] += d_logits[k] * z[j];
                    g[j] += d_logits[k] * self.params[o[3] + k * d + j];
                }
            }
            // Accumulates the parameter gradient of f at (z_in → z_out) against adjoint a.
            let accumulate = |z_in: &[f64], s: &[f64], a: &[f64], grad: &mut [f64], g_w: &mut [f64]| {
                for i in 0..d {
                    let delta = s[i] * a[i];
                    grad[o[2] + i] += delta;
                    for j in 0..d {
                        g_w[i * d + j] += delta * z_in[j];
                    }
                    for j in 0..p {
                        grad[o[1] + i * p + j] += delta * x[j];
                    }
                }
            };
            match solvers.backward {
                Backward::Unrolled(k) => {
                    let mut a = g;
                    for step in (0..k).rev() {
                        let s: Vec<f64> = path[step + 1].iter().map(|v| 1.0 - v * v).collect();
                        accumulate(&path[step], &s, &a, &mut grad, &mut g_w);
                        let mut next = vec![0.0; d];
                        self.transposed_step(&s, &a, &vec![0.0; d], &mut next);
                        a = next;
                    }
                    floats_held = floats_held.max((k + 1) * d);
                }
                method => {
                    let mut fz = vec![0.0; d];
                    self.apply(x, &z, &mut fz);
                    let s: Vec<f64> = fz.iter().map(|v| 1.0 - v * v).collect();
                    let u = match method {
                        Backward::Ift => {
                            let map = (d, |u: &[f64], out: &mut [f64]| self.transposed_step(&s, u, &g, out));
                            let solved = solve(solvers.forward, &map, &g, solvers.backward_stop, solvers.anderson);
                            backward_iterations += solved.iterations();
                            floats_held = floats_held.max(d);
                            solved.z
                        }
                        Backward::Jfb => {
                            floats_held = floats_held.max(d);
                            g.clone()
                        }
                        Backward::Neumann(k) => {
                            let (mut u, mut term) = (g.clone(), g.clone());
                            for _ in 1..k {
                                let mut next = vec![0.0; d];
                                self.transposed_step(&s, &term, &vec![0.0; d], &mut next);
                                u.iter_mut().zip(&next).for_each(|(a, b)| *a += b);
                                term = next;
                            }
                            floats_held = floats_held.max(2 * d);
                            u
                        }
                        Backward::Unrolled(_) => unreachable!("handled above"),
                    };
                    accumulate(&z, &s, &u, &mut grad, &mut g_w);
                }
            }
        }
        // Through W = κ W̃ / σ with σ = lᵀ W̃ r: ∂L/∂W̃ = (κ/σ) G − (κ/σ²) ⟨G, W̃⟩ l rᵀ.
        let raw = &self.params[..d * d];
        let inner: f64 = g_w.iter().zip(raw).map(|(a, b)| a * b).sum();
        let (kappa, sigma) = (self.model.kappa, self.sigma);
        for i in 0..d {
            for j in 0..d {
                grad[i * d + j] = kappa / sigma * g_w[i * d + j]
                    - kappa / (sigma * sigma) * inner * self.model.left[i] * self.model.right[j];
            }
        }
        BatchGradient {
            loss,
            grad,
            correct,
            forward_iterations: forward_iterations as f64 / n,
            backward_iterations: backward_iterations as f64 / n,
            floats_held,
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    const TIGHT: Stopping = Stopping { tol: 1e-13, max_iterations: 1000 };

    fn setup(width: usize, kappa: f64) -> (DeqModel, Vec<(Vec<f64>, usize)>) {
        let model = DeqModel::new(DeqShape { width, inputs: 2 }, kappa, 3).unwrap();
        let mut rng = RngStream::new(9, 0);
        let batch = (0..4).map(|k| (vec![2.0 * rng.normal(), 2.0 * rng.normal()], k % 2)).collect();
        (model, batch)
    }

    fn solvers(backward: Backward) -> Solvers {
        Solvers {
            forward: SolverKind::Anderson,
            forward_stop: TIGHT,
            backward,
            backward_stop: TIGHT,
            anderson: AndersonOptions::default(),
        }
    }

    fn relative(a: &[f64], b: &[f64]) -> f64 {
        let diff = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt();
        diff / b.iter().map(|y| y * y).sum::<f64>().sqrt()
    }

    /// The normalisation gives σ_max(W) = κ once the power iteration has converged, and plain
    /// iteration then contracts like κ^k.
    #[test]
    fn the_normalised_layer_is_a_kappa_contraction() {
        let (mut model, batch) = setup(16, 0.9);
        model.power_iterate(200);
        let params = model.params.clone();
        let layer = model.at(&params);
        let w = DMatrix::<f64>::from_row_slice(16, 16, &layer.w);
        let top = w.svd(false, false).singular_values.max();
        assert!((top - 0.9).abs() < 1e-6, "σ_max(W) = {top}");
        let x = &batch[0].0;
        let star = layer.equilibrium(x, SolverKind::Anderson, TIGHT, AndersonOptions::default()).z;
        let mut z = vec![0.0; 16];
        let e0 = relative(&z, &star) * star.iter().map(|v| v * v).sum::<f64>().sqrt();
        for k in 1..=40 {
            let mut next = vec![0.0; 16];
            layer.apply(x, &z, &mut next);
            z = next;
            let e = z.iter().zip(&star).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
            assert!(e <= 0.9f64.powi(k) * e0 * (1.0 + 1e-9) + 1e-12, "step {k}: {e}");
        }
    }

    /// The IFT gradient equals central differences of the converged loss (through the
    /// spectral normalisation), to 1e-6 relative.
    #[test]
    fn the_implicit_gradient_matches_finite_differences() {
        let (model, batch) = setup(8, 0.9);
        let params = model.params.clone();
        let g = model.at(&params).gradient(&batch, &solvers(Backward::Ift));
        let h = 1e-6;
        let mut fd = vec![0.0; params.len()];
        for (k, slot) in fd.iter_mut().enumerate() {
            let (mut up, mut down) = (params.clone(), params.clone());
            up[k] += h;
            down[k] -= h;
            let options = AndersonOptions::default();
            *slot =
                (model.at(&up).loss(&batch, TIGHT, options) - model.at(&down).loss(&batch, TIGHT, options)) / (2.0 * h);
        }
        let err = relative(&g.grad, &fd);
        assert!(err < 1e-6, "IFT against FD: {err}");
        assert!((g.loss - model.at(&params).loss(&batch, TIGHT, AndersonOptions::default())).abs() < 1e-12);
        assert_eq!(g.floats_held, 8, "the IFT holds one adjoint of d floats");
    }

    /// Unrolled K's gradient approaches the IFT one geometrically, at the rate of the
    /// Jacobian's spectral radius at z* (LABS.md: within 10% of ln ρ); truncated Neumann too;
    /// JFB is a descent direction here.
    #[test]
    fn unrolled_and_neumann_errors_decay_at_the_jacobians_rate() {
        let (model, batch) = setup(8, 0.9);
        let params = model.params.clone();
        let layer = model.at(&params);
        let one = &batch[..1];
        let ift = layer.gradient(one, &solvers(Backward::Ift)).grad;
        let star = layer.equilibrium(&one[0].0, SolverKind::Anderson, TIGHT, AndersonOptions::default()).z;
        let rho = layer.jacobian_spectral_radius(&one[0].0, &star);
        // The fit over the K whose error is still above rounding (ρ is small here).
        let slope = |make: fn(usize) -> Backward| {
            let points: Vec<(f64, f64)> = (4..=30)
                .map(|k| (k as f64, relative(&layer.gradient(one, &solvers(make(k))).grad, &ift)))
                .filter(|(_, e)| *e > 1e-11)
                .map(|(k, e)| (k, e.ln()))
                .collect();
            assert!(points.len() >= 4, "{points:?}");
            let (ks, logs): (Vec<f64>, Vec<f64>) = points.into_iter().unzip();
            let (mk, ml) = (ks.iter().sum::<f64>() / ks.len() as f64, logs.iter().sum::<f64>() / logs.len() as f64);
            let cov: f64 = ks.iter().zip(&logs).map(|(k, l)| (k - mk) * (l - ml)).sum();
            cov / ks.iter().map(|k| (k - mk) * (k - mk)).sum::<f64>()
        };
        let unrolled = slope(Backward::Unrolled);
        let neumann = slope(Backward::Neumann);
        println!("ρ = {rho}: ln ρ {}, unrolled slope {unrolled}, Neumann slope {neumann}", rho.ln());
        assert!((unrolled / rho.ln() - 1.0).abs() < 0.1, "unrolled {unrolled} against ln ρ {}", rho.ln());
        assert!((neumann / rho.ln() - 1.0).abs() < 0.1, "Neumann {neumann} against ln ρ {}", rho.ln());
        let jfb = layer.gradient(one, &solvers(Backward::Jfb)).grad;
        let cos = jfb.iter().zip(&ift).map(|(a, b)| a * b).sum::<f64>()
            / (jfb.iter().map(|a| a * a).sum::<f64>().sqrt() * ift.iter().map(|a| a * a).sum::<f64>().sqrt());
        assert!(cos > 0.0, "JFB cosine {cos}");
        assert_eq!(layer.gradient(one, &solvers(Backward::Unrolled(10))).floats_held, 11 * 8);
    }
}
