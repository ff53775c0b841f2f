//! Learned vector fields: a pure network y' = s * tanh(NN(y)) (a learned scale per output
//! times a bounded network, the practice of diffrax's neural ODE example), and a hybrid
//! y' = f_known(y) + NN(y), where the network learns only what the known physics leaves out
//! (universal differential equations). Both are autonomous: the lab's systems are.

use super::systems::System;
use super::VectorField;
use crate::core::nn::dense::{Dense, DenseTape};
use crate::core::nn::dense_activation::DenseActivation;

/// y' = s * tanh(NN(y)); parameters: the network's, then s (one per state dimension).
#[derive(Debug, Clone, PartialEq)]
pub struct NeuralField {
    pub net: Dense,
}

impl NeuralField {
    /// A field on R^dim with `depth` hidden layers of `width` and `activation`.
    pub fn new(dim: usize, width: usize, depth: usize, activation: DenseActivation) -> Result<Self, String> {
        Ok(NeuralField { net: Dense::mlp(dim, width, depth, dim, activation, DenseActivation::Tanh)? })
    }

    /// The network's initialisation under `seed` and s = 1.
    pub fn init(&self, seed: u64) -> Vec<f64> {
        let mut params = self.net.init(seed, 0x6e6f_6465); // stream: "node"
        params.extend(std::iter::repeat_n(1.0, self.net.output_dim()));
        params
    }
}

impl VectorField for NeuralField {
    fn dim(&self) -> usize {
        self.net.input_dim()
    }

    fn param_count(&self) -> usize {
        self.net.param_count() + self.net.output_dim()
    }

    fn eval(&self, params: &[f64], _t: f64, y: &[f64], dy: &mut [f64]) {
        let (net, scale) = params.split_at(self.net.param_count());
        for ((d, v), s) in dy.iter_mut().zip(self.net.forward(net, y)).zip(scale) {
            *d = s * v;
        }
    }

    fn vjp(&self, params: &[f64], _t: f64, y: &[f64], a: &[f64], d_y: &mut [f64], d_params: &mut [f64]) {
        let k = self.net.param_count();
        let (net, scale) = params.split_at(k);
        let mut tape = DenseTape::default();
        let out = self.net.forward_taped(net, y, &mut tape);
        let (d_net, d_scale) = d_params.split_at_mut(k);
        for ((ds, o), ai) in d_scale.iter_mut().zip(&out).zip(a) {
            *ds += ai * o;
        }
        let cot: Vec<f64> = a.iter().zip(scale).map(|(ai, s)| ai * s).collect();
        for (d, v) in d_y.iter_mut().zip(self.net.vjp_taped(net, &tape, &cot, d_net)) {
            *d += v;
        }
    }
}

/// y' = f_known(y; known constants) + NN(y); parameters: the network's only.
#[derive(Debug, Clone, PartialEq)]
pub struct HybridField {
    pub known: System,
    pub known_params: Vec<f64>,
    pub net: Dense,
}

impl HybridField {
    /// The lab's hybrid for a system with a known part: the network 2 -> width (depth) -> 2
    /// with `activation` and a linear readout.
    pub fn new(known: System, width: usize, depth: usize, activation: DenseActivation) -> Result<Self, String> {
        let known_params = known.0.known_part().ok_or_else(|| {
            format!("{} has no known part for a hybrid model: choose pendulum or lotka-volterra", known.0.name())
        })?;
        Ok(HybridField {
            known,
            known_params,
            net: Dense::mlp(2, width, depth, 2, activation, DenseActivation::Identity)?,
        })
    }

    pub fn init(&self, seed: u64) -> Vec<f64> {
        // Small initial weights on the last layer: the hybrid starts at the known physics.
        let mut params = self.net.init(seed, 0x6879_6272); // stream: "hybr"
        let last = *self.net.layers().last().expect("at least one layer");
        for p in &mut params[last.weights..] {
            *p *= 0.1;
        }
        params
    }

    /// The learned term alone, NN(y), for the hybrid view.
    pub fn learned_term(&self, params: &[f64], y: &[f64]) -> Vec<f64> {
        self.net.forward(params, y)
    }
}

impl VectorField for HybridField {
    fn dim(&self) -> usize {
        2
    }

    fn param_count(&self) -> usize {
        self.net.param_count()
    }

    fn eval(&self, params: &[f64], t: f64, y: &[f64], dy: &mut [f64]) {
        self.known.eval(&self.known_params, t, y, dy);
        for (d, v) in dy.iter_mut().zip(self.net.forward(params, y)) {
            *d += v;
        }
    }

    fn vjp(&self, params: &[f64], t: f64, y: &[f64], a: &[f64], d_y: &mut [f64], d_params: &mut [f64]) {
        let mut unused = vec![0.0; self.known_params.len()];
        self.known.vjp(&self.known_params, t, y, a, d_y, &mut unused);
        let (_, d_x) = self.net.vjp(params, y, a, d_params);
        for (d, v) in d_y.iter_mut().zip(d_x) {
            *d += v;
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::super::systems::SystemId;
    use super::super::vjp_error;
    use super::*;

    #[test]
    fn vjps_match_central_differences() {
        let pure = NeuralField::new(2, 8, 2, DenseActivation::Softplus).unwrap();
        let mut p = pure.init(1);
        let n = p.len();
        p[n - 1] = 0.7; // a scale other than 1 must show in the state's gradient
        assert!(vjp_error(&pure, &p, 0.0, &[0.3, -0.8], &[1.1, 0.4]) < 1e-8);
        for id in [SystemId::Pendulum, SystemId::LotkaVolterra] {
            let hybrid = HybridField::new(System(id), 5, 3, DenseActivation::Gaussian).unwrap();
            let p = hybrid.init(2);
            assert!(vjp_error(&hybrid, &p, 0.0, &[0.6, 1.2], &[-0.5, 0.9]) < 1e-8, "{}", id.name());
        }
    }

    #[test]
    fn a_hybrid_needs_a_known_part_and_starts_near_it() {
        let err = HybridField::new(System(SystemId::Oscillator), 5, 2, DenseActivation::Tanh).unwrap_err();
        assert!(err.contains("pendulum or lotka-volterra"), "{err}");
        let hybrid = HybridField::new(System(SystemId::Pendulum), 16, 2, DenseActivation::Tanh).unwrap();
        let p = hybrid.init(0);
        // The known part is the frictionless pendulum: theta' = v exactly, plus the small term.
        let mut dy = [0.0; 2];
        hybrid.eval(&p, 0.0, &[0.5, 0.3], &mut dy);
        let learned = hybrid.learned_term(&p, &[0.5, 0.3]);
        assert!((dy[0] - 0.3 - learned[0]).abs() < 1e-15);
        assert!((dy[1] + 0.5f64.sin() - learned[1]).abs() < 1e-15);
    }
}
