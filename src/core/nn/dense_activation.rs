//! The nonlinearities of the labs' dense networks ([`super::dense`]): the four the diffusion
//! MLP shares with WGSL ([`super::Activation`]) and those the thesis's models use besides
//! (identity for linear readouts, sigmoid, LipSwish for the SDE-GAN's Lipschitz discriminator,
//! the Gaussian bump exp(-z^2) of the Lotka-Volterra hybrid). Kept apart from `Activation`,
//! whose variants are ids in the WGSL interpreter.

use serde::{Deserialize, Serialize};

use super::activation::Activation;
use super::scalar::Scalar;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DenseActivation {
    Identity,
    Tanh,
    Softplus,
    Silu,
    /// 0.909 SiLU: Lipschitz constant 1 (Kidger's thesis, section on SDE-GANs).
    LipSwish,
    Relu,
    Sigmoid,
    /// exp(-z^2), the radial basis the SciML missing-physics showcase uses.
    Gaussian,
}

/// The scale that makes SiLU 1-Lipschitz (its derivative peaks at about 1.0998).
pub const LIPSWISH_SCALE: f64 = 0.909;

impl DenseActivation {
    pub const ALL: [DenseActivation; 8] = [
        DenseActivation::Identity,
        DenseActivation::Tanh,
        DenseActivation::Softplus,
        DenseActivation::Silu,
        DenseActivation::LipSwish,
        DenseActivation::Relu,
        DenseActivation::Sigmoid,
        DenseActivation::Gaussian,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DenseActivation::Identity => "identity",
            DenseActivation::Tanh => "tanh",
            DenseActivation::Softplus => "softplus",
            DenseActivation::Silu => "silu",
            DenseActivation::LipSwish => "lipswish",
            DenseActivation::Relu => "relu",
            DenseActivation::Sigmoid => "sigmoid",
            DenseActivation::Gaussian => "gaussian",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|a| a.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|a| a.name()).collect();
            format!("unknown activation '{name}': choose one of {}", names.join(", "))
        })
    }

    /// The diffusion MLP's activation of the same name, whose vectorised slices the batched
    /// pass reuses.
    pub fn shared(self) -> Option<Activation> {
        match self {
            DenseActivation::Tanh => Some(Activation::Tanh),
            DenseActivation::Softplus => Some(Activation::Softplus),
            DenseActivation::Silu => Some(Activation::Silu),
            DenseActivation::Relu => Some(Activation::Relu),
            _ => None,
        }
    }

    pub fn apply<T: Scalar>(self, z: T) -> T {
        match self {
            DenseActivation::Identity => z,
            DenseActivation::LipSwish => T::from_f64(LIPSWISH_SCALE) * Activation::Silu.apply(z),
            DenseActivation::Sigmoid => sigmoid(z),
            DenseActivation::Gaussian => (-(z * z)).exp(),
            other => other.shared().expect("the remaining kinds are shared").apply(z),
        }
    }

    pub fn derivative<T: Scalar>(self, z: T) -> T {
        match self {
            DenseActivation::Identity => T::one(),
            DenseActivation::LipSwish => T::from_f64(LIPSWISH_SCALE) * Activation::Silu.derivative(z),
            DenseActivation::Sigmoid => {
                let s = sigmoid(z);
                s * (T::one() - s)
            }
            DenseActivation::Gaussian => T::from_f64(-2.0) * z * (-(z * z)).exp(),
            other => other.shared().expect("the remaining kinds are shared").derivative(z),
        }
    }
}

/// 1 / (1 + e^-z), from e^-|z| so that the exponential never overflows.
fn sigmoid<T: Scalar>(z: T) -> T {
    let e = (-z.abs()).exp();
    let s = T::one() / (T::one() + e);
    if z >= T::zero() {
        s
    } else {
        e * s
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn derivatives_match_central_differences_and_names_round_trip() {
        for a in DenseActivation::ALL {
            for z in [-30.0f64, -3.1, -0.7, 0.0, 0.3, 1.9, 30.0] {
                let h = 1e-6;
                let fd = (a.apply(z + h) - a.apply(z - h)) / (2.0 * h);
                let d = a.derivative(z);
                // ReLU's kink at 0: its derivative there is the convention 0.
                if !(a == DenseActivation::Relu && z == 0.0) {
                    assert!((fd - d).abs() < 1e-7, "{} at {z}: fd {fd} vs {d}", a.name());
                }
                assert!(a.apply(z).is_finite() && d.is_finite());
            }
            assert_eq!(DenseActivation::from_name(a.name()).unwrap(), a);
        }
        assert!(DenseActivation::from_name("swish").unwrap_err().contains("lipswish"));
    }

    #[test]
    fn lipswish_is_one_lipschitz() {
        let steepest =
            (0..20_000).map(|i| DenseActivation::LipSwish.derivative(-10.0 + 1e-3 * i as f64)).fold(0.0, f64::max);
        assert!(steepest <= 1.0 && steepest > 0.99, "max slope {steepest}");
    }
}
