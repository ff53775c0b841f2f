//! An SDE's coefficients with their derivatives: dy = f(t, y) dt + g(t, y) dW, with y in R^d,
//! W in R^m and g a d x m matrix (row-major), so that both diagonal noise (the latent SDE) and
//! general noise (the SDE-GAN's generator) fit one solver. The field holds its parameters;
//! `vjp` gives the cotangents in the state and in those parameters, which is all that
//! [`super::solve`]'s backward passes need.

use crate::core::nn::dense::Dense;
use crate::core::nn::dense_activation::DenseActivation;

pub trait SdeField: Sync {
    fn dim(&self) -> usize;
    fn noise_dim(&self) -> usize;
    fn param_count(&self) -> usize;
    /// f(t, y) into `f` (d values) and g(t, y) into `g` (d x m, row-major).
    fn eval(&self, t: f64, y: &[f64], f: &mut [f64], g: &mut [f64]);
    /// Adds f_bar . df/dy + g_bar : dg/dy into `y_bar` and the parameter parts into `p_bar`.
    fn vjp(&self, t: f64, y: &[f64], f_bar: &[f64], g_bar: &[f64], y_bar: &mut [f64], p_bar: &mut [f64]);
}

/// The SDE-GAN generator's vector fields (Kidger et al. 2021; torchsde's sde_gan.py):
/// f = MLP(t, y), g = MLP(t, y) reshaped to d x m, LipSwish inside and tanh at the end (the
/// final tanh keeps the fields bounded, which the paper found to stabilise training).
/// Parameters: [drift, diffusion].
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorField {
    pub drift: Dense,
    pub diffusion: Dense,
    pub params: Vec<f64>,
    pub noise: usize,
}

impl GeneratorField {
    pub fn new(dim: usize, noise: usize, width: usize, depth: usize) -> Result<Self, String> {
        let drift = Dense::mlp(1 + dim, width, depth, dim, DenseActivation::LipSwish, DenseActivation::Tanh)?;
        let diffusion =
            Dense::mlp(1 + dim, width, depth, dim * noise, DenseActivation::LipSwish, DenseActivation::Tanh)?;
        let params = vec![0.0; drift.param_count() + diffusion.param_count()];
        Ok(GeneratorField { drift, diffusion, params, noise })
    }

    /// Fresh weights, keyed by (seed, stream) and scaled by `scale` (the reference scales the
    /// vector fields' initial weights by 0.5).
    pub fn initialised(mut self, seed: u64, stream: u64, scale: f64) -> Self {
        let mut p = self.drift.init(seed, stream);
        p.extend(self.diffusion.init(seed, stream + 1));
        self.params = p.into_iter().map(|w| w * scale).collect();
        self
    }

    fn split(&self) -> usize {
        self.drift.param_count()
    }

    fn input(t: f64, y: &[f64]) -> Vec<f64> {
        let mut x = Vec::with_capacity(1 + y.len());
        x.push(t);
        x.extend_from_slice(y);
        x
    }
}

impl SdeField for GeneratorField {
    fn dim(&self) -> usize {
        self.drift.output_dim()
    }

    fn noise_dim(&self) -> usize {
        self.noise
    }

    fn param_count(&self) -> usize {
        self.params.len()
    }

    fn eval(&self, t: f64, y: &[f64], f: &mut [f64], g: &mut [f64]) {
        let x = Self::input(t, y);
        let (a, b) = self.params.split_at(self.split());
        f.copy_from_slice(&self.drift.forward(a, &x));
        g.copy_from_slice(&self.diffusion.forward(b, &x));
    }

    fn vjp(&self, t: f64, y: &[f64], f_bar: &[f64], g_bar: &[f64], y_bar: &mut [f64], p_bar: &mut [f64]) {
        let x = Self::input(t, y);
        let split = self.split();
        let (a, b) = self.params.split_at(split);
        let (pa, pb) = p_bar.split_at_mut(split);
        let (_, dx) = self.drift.vjp(a, &x, f_bar, pa);
        let (_, dx2) = self.diffusion.vjp(b, &x, g_bar, pb);
        for d in 0..y.len() {
            y_bar[d] += dx[1 + d] + dx2[1 + d];
        }
    }
}
