//! An MLP as a vector field on R^2, in f64, with the two products the adjoints need:
//! the value f(t, y) and the vector-Jacobian product a^T df/d(y, params).

use crate::core::nn::mlp::{forward, vjp, MlpConfig, Workspace};

/// f(t, y) = MLP([y, time features]) (no condition input).
#[derive(Debug, Clone, PartialEq)]
pub struct MlpField {
    pub config: MlpConfig,
    pub params: Vec<f64>,
}

impl MlpField {
    pub fn new(config: MlpConfig, params: Vec<f64>) -> Self {
        assert_eq!(config.condition_dim, 0, "a vector field takes no condition");
        assert_eq!(params.len(), config.param_count());
        MlpField { config, params }
    }

    pub fn param_count(&self) -> usize {
        self.params.len()
    }

    pub fn eval(&self, t: f64, y: &[f64]) -> [f64; 2] {
        let mut features = Vec::new();
        self.config.features([y[0], y[1]], t, [0.0; 2], &mut features);
        forward(&self.config, &self.params, &features, &mut Workspace::default())
    }

    /// Returns a^T df/dy and adds a^T df/dparams into `grad_params`.
    pub fn vjp(&self, t: f64, y: &[f64], a: [f64; 2], grad_params: &mut [f64]) -> [f64; 2] {
        let mut features = Vec::new();
        self.config.features([y[0], y[1]], t, [0.0; 2], &mut features);
        let mut ws = Workspace::default();
        forward(&self.config, &self.params, &features, &mut ws);
        let mut grad_input = Vec::new();
        vjp(&self.config, &self.params, &ws, &a, grad_params, &mut grad_input);
        [grad_input[0], grad_input[1]]
    }
}
