//! Hidden-layer nonlinearities and their derivatives (in terms of the pre-activation z).

use serde::{Deserialize, Serialize};

use super::scalar::Scalar;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Silu,
    Tanh,
    Softplus,
    Relu,
}

fn sigmoid<T: Scalar>(z: T) -> T {
    T::one() / (T::one() + (-z).exp())
}

impl Activation {
    pub const ALL: [Activation; 4] = [Activation::Silu, Activation::Tanh, Activation::Softplus, Activation::Relu];

    pub fn name(&self) -> &'static str {
        match self {
            Activation::Silu => "silu",
            Activation::Tanh => "tanh",
            Activation::Softplus => "softplus",
            Activation::Relu => "relu",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| format!("unknown activation '{name}': choose silu, tanh, softplus or relu"))
    }

    /// A WGSL-side id (the plan interpreter switches on it).
    pub fn id(&self) -> u32 {
        *self as u32
    }

    pub fn apply<T: Scalar>(&self, z: T) -> T {
        match self {
            Activation::Silu => z * sigmoid(z),
            Activation::Tanh => z.tanh(),
            // log(1 + e^z) = max(z, 0) + log(1 + e^-|z|), stable for large |z|.
            Activation::Softplus => {
                let positive = if z > T::zero() { z } else { T::zero() };
                positive + (-z.abs()).exp().ln_1p()
            }
            Activation::Relu => {
                if z > T::zero() {
                    z
                } else {
                    T::zero()
                }
            }
        }
    }

    pub fn derivative<T: Scalar>(&self, z: T) -> T {
        match self {
            Activation::Silu => {
                let s = sigmoid(z);
                s * (T::one() + z * (T::one() - s))
            }
            Activation::Tanh => {
                let t = z.tanh();
                T::one() - t * t
            }
            Activation::Softplus => sigmoid(z),
            Activation::Relu => {
                if z > T::zero() {
                    T::one()
                } else {
                    T::zero()
                }
            }
        }
    }
}

#[cfg(test)]
impl Activation {
    fn softplus_is_finite_far_out() -> bool {
        Activation::Softplus.apply(1000.0f32).is_finite() && Activation::Softplus.apply(-1000.0f32) >= 0.0
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn derivatives_match_finite_differences() {
        for a in Activation::ALL {
            for z in [-3.1f64, -0.7, 0.3, 1.9, 25.0, -25.0] {
                let h = 1e-6;
                let fd = (a.apply(z + h) - a.apply(z - h)) / (2.0 * h);
                assert!((fd - a.derivative(z)).abs() < 1e-7, "{} at {z}: fd {fd} vs {}", a.name(), a.derivative(z));
            }
            assert_eq!(Activation::from_name(a.name()).unwrap(), a);
        }
        assert!(Activation::softplus_is_finite_far_out());
    }
}
