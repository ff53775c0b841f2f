//! What a plan evaluates: the trained MLP, or a Gaussian mixture's exact score (the oracle
//! that makes every sampler testable against the truth).

use crate::core::data::GaussianMixture;
use crate::core::nn::{Mlp, Workspace};
use crate::core::process::Process;
use crate::core::train::objective::Parameterisation;

pub trait Model {
    /// What the raw output means.
    fn param(&self) -> Parameterisation;
    /// Called before a batch of evaluations at one time (lets the exact model cache p_t).
    fn prepare(&mut self, t: f64) {
        let _ = t;
    }
    /// The raw output at (x, t).
    fn eval(&mut self, x: [f32; 2], t: f64) -> [f32; 2];
    /// The raw output and its Jacobian in x (`jacobian[o][j] = d out_o / d x_j`), for the
    /// exact divergence of the probability-flow ODE.
    fn eval_with_jacobian(&mut self, x: [f32; 2], t: f64) -> ([f32; 2], [[f32; 2]; 2]);
    /// log p_t(x) where the model knows it (the exact mixture); None for a network.
    fn log_density(&mut self, x: [f32; 2], t: f64) -> Option<f64> {
        let _ = (x, t);
        None
    }
}

/// The exact score of a mixture's marginal under a process (a score-parameterised model).
pub struct ExactMixtureModel {
    mixture: GaussianMixture,
    process: Process,
    condition: [f64; 2],
    cached: Option<(u64, GaussianMixture)>,
}

impl ExactMixtureModel {
    pub fn new(mixture: GaussianMixture, process: Process) -> Self {
        ExactMixtureModel { mixture, process, condition: [0.0; 2], cached: None }
    }

    /// The same model for the mean-reverting process towards `mu`.
    pub fn with_condition(mut self, mu: [f64; 2]) -> Self {
        self.condition = mu;
        self.cached = None;
        self
    }

    fn marginal(&mut self, t: f64) -> &GaussianMixture {
        let key = t.to_bits();
        if self.cached.as_ref().map(|(k, _)| *k) != Some(key) {
            self.cached = Some((key, self.mixture.marginal(&self.process, t, self.condition)));
        }
        &self.cached.as_ref().expect("just set").1
    }
}

impl Model for ExactMixtureModel {
    fn param(&self) -> Parameterisation {
        Parameterisation::Score
    }
    fn prepare(&mut self, t: f64) {
        self.marginal(t);
    }
    fn eval(&mut self, x: [f32; 2], t: f64) -> [f32; 2] {
        let s = self.marginal(t).score([f64::from(x[0]), f64::from(x[1])]);
        [s[0] as f32, s[1] as f32]
    }
    fn eval_with_jacobian(&mut self, x: [f32; 2], t: f64) -> ([f32; 2], [[f32; 2]; 2]) {
        let point = [f64::from(x[0]), f64::from(x[1])];
        let marginal = self.marginal(t);
        let (s, j) = (marginal.score(point), marginal.score_jacobian(point));
        ([s[0] as f32, s[1] as f32], j.map(|row| row.map(|v| v as f32)))
    }
    fn log_density(&mut self, x: [f32; 2], t: f64) -> Option<f64> {
        Some(self.marginal(t).log_density([f64::from(x[0]), f64::from(x[1])]))
    }
}

/// A trained MLP with its parameterisation.
pub struct MlpModel {
    pub mlp: Mlp,
    pub param: Parameterisation,
    /// The condition input (mean-reverting models).
    pub condition: [f32; 2],
    ws: Workspace<f32>,
}

impl MlpModel {
    pub fn new(mlp: Mlp, param: Parameterisation) -> Self {
        MlpModel { mlp, param, condition: [0.0; 2], ws: Workspace::default() }
    }
}

impl Model for MlpModel {
    fn param(&self) -> Parameterisation {
        self.param
    }
    fn eval(&mut self, x: [f32; 2], t: f64) -> [f32; 2] {
        self.mlp.eval(x, t as f32, self.condition, &mut self.ws)
    }
    fn eval_with_jacobian(&mut self, x: [f32; 2], t: f64) -> ([f32; 2], [[f32; 2]; 2]) {
        self.mlp.eval_with_jacobian(x, t as f32, self.condition)
    }
}
