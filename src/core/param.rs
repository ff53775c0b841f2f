//! What a network predicts, and the affine maps between its output and a noise estimate.
//! Samplers, trainers and executors all read a model's output through these maps, so they
//! live below all three (a sampler needs them without needing anything of training).

use serde::{Deserialize, Serialize};

/// What the network predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parameterisation {
    /// The noise z (epsilon).
    Eps,
    /// The clean data x_0.
    X0,
    /// The score grad log p_t.
    Score,
    /// The velocity v = alpha z - sigma x_0 (Salimans & Ho).
    V,
    /// The flow velocity u = z - x_0 of a linear interpolant (rectified flow, flow matching):
    /// with x = alpha x_0 + sigma z, eps = (alpha u + x) / (alpha + sigma).
    Flow,
}

impl Parameterisation {
    pub const ALL: [Parameterisation; 5] = [
        Parameterisation::Eps,
        Parameterisation::X0,
        Parameterisation::Score,
        Parameterisation::V,
        Parameterisation::Flow,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Parameterisation::Eps => "eps",
            Parameterisation::X0 => "x0",
            Parameterisation::Score => "score",
            Parameterisation::V => "v",
            Parameterisation::Flow => "flow",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| format!("unknown parameterisation '{name}': choose eps, x0, score, v or flow"))
    }

    /// d eps-hat / d output: every conversion is the output times a scalar plus a shift.
    pub fn eps_slope(&self, alpha: f64, sigma: f64) -> f64 {
        match self {
            Parameterisation::Eps => 1.0,
            Parameterisation::Score => -sigma,
            Parameterisation::X0 => -alpha / sigma,
            Parameterisation::V => alpha / (alpha * alpha + sigma * sigma),
            Parameterisation::Flow => alpha / (alpha + sigma),
        }
    }

    /// The noise estimate from the network's output at x_t (centred: x_t minus (1 - alpha) mu).
    pub fn to_eps(&self, out: [f64; 2], centred_x: [f64; 2], alpha: f64, sigma: f64) -> [f64; 2] {
        let slope = self.eps_slope(alpha, sigma);
        let shift = |d: usize| match self {
            Parameterisation::Eps | Parameterisation::Score => 0.0,
            Parameterisation::X0 => centred_x[d] / sigma,
            Parameterisation::V => sigma * centred_x[d] / (alpha * alpha + sigma * sigma),
            Parameterisation::Flow => centred_x[d] / (alpha + sigma),
        };
        [slope * out[0] + shift(0), slope * out[1] + shift(1)]
    }

    /// The output that gives noise estimate `eps` (the inverse of [`to_eps`]).
    pub fn from_eps(&self, eps: [f64; 2], centred_x: [f64; 2], alpha: f64, sigma: f64) -> [f64; 2] {
        let slope = self.eps_slope(alpha, sigma);
        let zero_out = self.to_eps([0.0, 0.0], centred_x, alpha, sigma);
        [(eps[0] - zero_out[0]) / slope, (eps[1] - zero_out[1]) / slope]
    }
}
