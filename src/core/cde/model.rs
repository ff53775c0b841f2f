//! The neural CDE classifier of the lab: z0 = A X(t0) + b from the path's first value,
//! dz = f(z) dX solved along the path, a logit w . z(T) + c, and binary cross-entropy.
//! Parameters are one flat vector: A (h x C, row-major), b (h), the field's, w (h), c.

use super::solve::{cde_backprop, cde_solve, CdeSolver};
use super::{CdeField, NeuralCdeField};
use crate::core::nn::dense_activation::DenseActivation;
use crate::core::path::ControlPath;
use crate::core::rng::RngStream;

#[derive(Debug, Clone, PartialEq)]
pub struct NcdeClassifier {
    pub field: NeuralCdeField,
}

/// One series' loss, its gradient and what the model said.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesGradient {
    pub loss: f64,
    pub logit: f64,
    pub gradient: Vec<f64>,
    pub evaluations: usize,
}

/// log(1 + e^x) without overflow.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

impl NcdeClassifier {
    /// Hidden size h, C channels, the field's MLP h -> width (depth) -> h C.
    pub fn new(
        hidden: usize,
        channels: usize,
        width: usize,
        depth: usize,
        activation: DenseActivation,
    ) -> Result<Self, String> {
        Ok(NcdeClassifier { field: NeuralCdeField::new(hidden, channels, width, depth, activation)? })
    }

    fn sizes(&self) -> (usize, usize, usize) {
        (self.field.hidden(), self.field.channels(), self.field.param_count())
    }

    pub fn param_count(&self) -> usize {
        let (h, c, f) = self.sizes();
        h * c + h + f + h + 1
    }

    /// PyTorch's default initialisation for each linear map (the field's as `Dense::init`).
    pub fn init(&self, seed: u64) -> Vec<f64> {
        let (h, c, _) = self.sizes();
        let mut rng = RngStream::new(seed, 0x6e63_6465); // stream: "ncde"
        let mut uniform = |fan_in: usize, n: usize| -> Vec<f64> {
            let bound = 1.0 / (fan_in as f64).sqrt();
            (0..n).map(|_| bound * (2.0 * rng.uniform() - 1.0)).collect()
        };
        let mut params = uniform(c, h * c + h);
        params.extend(self.field.net.init(seed, 0x6669_656c)); // stream: "fiel"
        params.extend(uniform(h, h + 1));
        params
    }

    /// The parameter blocks: (A, b, field, w, c).
    fn split<'a>(&self, p: &'a [f64]) -> (&'a [f64], &'a [f64], &'a [f64], &'a [f64], f64) {
        let (h, c, f) = self.sizes();
        let (a, rest) = p.split_at(h * c);
        let (b, rest) = rest.split_at(h);
        let (field, rest) = rest.split_at(f);
        let (w, last) = rest.split_at(h);
        (a, b, field, w, last[0])
    }

    fn initial_state(&self, params: &[f64], path: &ControlPath) -> (Vec<f64>, Vec<f64>) {
        let (h, c, _) = self.sizes();
        let (a, b, ..) = self.split(params);
        let mut x0 = vec![0.0; c];
        path.evaluate(path.start(), &mut x0);
        let z0 = (0..h).map(|i| b[i] + (0..c).map(|j| a[i * c + j] * x0[j]).sum::<f64>()).collect();
        (z0, x0)
    }

    /// The logit for a path, and the field evaluations it took.
    pub fn logit(&self, params: &[f64], path: &ControlPath, solver: &CdeSolver) -> Result<(f64, usize), String> {
        let (_, _, field, ..) = self.split(params);
        let (z0, _) = self.initial_state(params, path);
        let solution = cde_solve(&self.field, field, path, &z0, solver)?;
        Ok((self.readout(params, solution.last()), solution.evaluations))
    }

    /// The hidden state at every knot of the path.
    pub fn states_along(
        &self,
        params: &[f64],
        path: &ControlPath,
        solver: &CdeSolver,
    ) -> Result<Vec<Vec<f64>>, String> {
        let (_, _, field, ..) = self.split(params);
        let (z0, _) = self.initial_state(params, path);
        Ok(cde_solve(&self.field, field, path, &z0, solver)?.at_knots())
    }

    /// The logit read from a hidden state.
    pub fn readout(&self, params: &[f64], z: &[f64]) -> f64 {
        let (_, _, _, w, c) = self.split(params);
        w.iter().zip(z).map(|(a, b)| a * b).sum::<f64>() + c
    }

    /// The logit read at every knot of the path (the model's answer so far, as time runs):
    /// the evolving output of diffrax's example.
    pub fn logits_along(&self, params: &[f64], path: &ControlPath, solver: &CdeSolver) -> Result<Vec<f64>, String> {
        Ok(self.states_along(params, path, solver)?.iter().map(|z| self.readout(params, z)).collect())
    }

    /// Binary cross-entropy of one labelled path, and its gradient in every parameter.
    pub fn loss_and_gradient(
        &self,
        params: &[f64],
        path: &ControlPath,
        label: bool,
        solver: &CdeSolver,
    ) -> Result<SeriesGradient, String> {
        let (h, c, f) = self.sizes();
        let (_, _, field, w, bias) = self.split(params);
        let (z0, x0) = self.initial_state(params, path);
        let solution = cde_solve(&self.field, field, path, &z0, solver)?;
        let z_t = solution.last();
        let logit = w.iter().zip(z_t).map(|(a, b)| a * b).sum::<f64>() + bias;
        let y = if label { 1.0 } else { 0.0 };
        let loss = softplus(logit) - y * logit;
        let d_logit = sigmoid(logit) - y;
        let z_bar: Vec<f64> = w.iter().map(|v| v * d_logit).collect();
        let (d_field, d_z0) = cde_backprop(&self.field, field, path, &solution, &solver.tableau, &z_bar);
        let mut gradient = Vec::with_capacity(self.param_count());
        gradient.extend((0..h * c).map(|e| d_z0[e / c] * x0[e % c]));
        gradient.extend_from_slice(&d_z0);
        gradient.extend(d_field);
        gradient.extend(z_t.iter().map(|v| v * d_logit));
        gradient.push(d_logit);
        debug_assert_eq!(gradient.len(), h * c + h + f + h + 1);
        Ok(SeriesGradient { loss, logit, gradient, evaluations: 2 * solution.evaluations })
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::path::Interpolation;
    use crate::core::solve::tableau::RK4;

    fn spiral(times: &[f64]) -> Vec<Vec<f64>> {
        times.iter().map(|&t| vec![(1.0 + t).cos() / (1.0 + 0.5 * t), (1.0 + t).sin() / (1.0 + 0.5 * t)]).collect()
    }

    /// The whole classifier's gradient (A, b, the field, w, c) against central differences of
    /// its loss, for both labels.
    #[test]
    fn the_gradient_matches_central_differences() {
        let model = NcdeClassifier::new(4, 2, 16, 1, DenseActivation::Relu).unwrap();
        let params = model.init(3);
        let times: Vec<f64> = (0..12).map(|k| 0.4 * k as f64 + 0.05 * (k * k % 3) as f64).collect();
        let path = ControlPath::new(Interpolation::Hermite, &times, &spiral(&times), None).unwrap();
        let solver = CdeSolver::fixed(RK4, 2);
        for label in [false, true] {
            let g = model.loss_and_gradient(&params, &path, label, &solver).unwrap();
            let loss = |p: &[f64]| model.loss_and_gradient(p, &path, label, &solver).unwrap().loss;
            let eps = 1e-6;
            for k in (0..params.len()).step_by(5).chain([params.len() - 1, 0, 8]) {
                let (mut up, mut down) = (params.clone(), params.clone());
                up[k] += eps;
                down[k] -= eps;
                let fd = (loss(&up) - loss(&down)) / (2.0 * eps);
                assert!((fd - g.gradient[k]).abs() < 1e-6 * (1.0 + fd.abs()), "param {k}: {fd} vs {}", g.gradient[k]);
            }
            assert!((g.logit - model.logit(&params, &path, &solver).unwrap().0).abs() < 1e-15);
            let along = model.logits_along(&params, &path, &solver).unwrap();
            assert_eq!(along.len(), times.len());
            assert!((along.last().unwrap() - g.logit).abs() < 1e-15);
        }
    }

    /// Without a time channel, a linear path re-stamped at other times (the same points) gives
    /// the same logit to round-off with fixed steps per interval: dz = f(z) dX does not see
    /// the clock. With time as a channel it does.
    #[test]
    fn without_time_as_a_channel_the_model_cannot_see_the_clock() {
        let model = NcdeClassifier::new(4, 2, 16, 1, DenseActivation::Relu).unwrap();
        let params = model.init(5);
        let times: Vec<f64> = (0..20).map(|k| 0.2 * k as f64).collect();
        let warped: Vec<f64> = times.iter().map(|t| t * t / 3.8).collect();
        let points = spiral(&times);
        let a = ControlPath::new(Interpolation::Linear, &times, &points, None).unwrap();
        let b = ControlPath::new(Interpolation::Linear, &warped, &points, None).unwrap();
        let solver = CdeSolver::fixed(RK4, 3);
        let (la, lb) = (model.logit(&params, &a, &solver).unwrap().0, model.logit(&params, &b, &solver).unwrap().0);
        assert!((la - lb).abs() < 1e-12, "{la} vs {lb}");
        let timed = NcdeClassifier::new(4, 3, 16, 1, DenseActivation::Relu).unwrap();
        let params = timed.init(5);
        let with_time =
            |ts: &[f64]| -> Vec<Vec<f64>> { ts.iter().zip(&points).map(|(t, p)| vec![*t, p[0], p[1]]).collect() };
        let a = ControlPath::new(Interpolation::Linear, &times, &with_time(&times), None).unwrap();
        let b = ControlPath::new(Interpolation::Linear, &warped, &with_time(&warped), None).unwrap();
        let (la, lb) = (timed.logit(&params, &a, &solver).unwrap().0, timed.logit(&params, &b, &solver).unwrap().0);
        assert!((la - lb).abs() > 1e-6, "with time as a channel the clock shows: {la} vs {lb}");
    }
}
