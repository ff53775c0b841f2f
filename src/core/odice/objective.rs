//! The Pearson χ² conjugate and the three update rules, as the reference implementation
//! (`maoliyuan/ODICE-Pytorch: odice.py`) defines them:
//! w*(δ) = max(δ/2 + 1, 0), f*(δ) = δ·w*(δ) − (w*(δ) − 1)², f*′ = w*;
//! L(V) = (1 − λ) E_D[V(s)] + λ E_D[f*(δ)], δ = r + γ(1 − d) V(s′) − V(s).

/// w*(δ) = f*′(δ): the optimal density ratio of a transition.
pub fn w_star(delta: f64) -> f64 {
    (delta / 2.0 + 1.0).max(0.0)
}

/// f*(δ), the Pearson χ² conjugate.
pub fn f_star(delta: f64) -> f64 {
    let w = w_star(delta);
    delta * w - (w - 1.0) * (w - 1.0)
}

/// f*″(δ): 1/2 where w* > 0, else 0.
pub fn f_star_second(delta: f64) -> f64 {
    if delta > -2.0 {
        0.5
    } else {
        0.0
    }
}

/// The policy's behaviour-cloning weight: min(max(δ_f, 0), 100) (`f_prime_inverse`,
/// `EXP_ADV_MAX`).
pub fn policy_weight(forward_residual: f64) -> f64 {
    forward_residual.clamp(0.0, 100.0)
}

/// The value update rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateRule {
    /// g_V + g_f: the gradient through V(s) only (V(s′) from the target network).
    Semi,
    /// The gradient of L itself.
    True,
    /// g_V + g_f + (g_b − ⟨g_f, g_b⟩/max(|g_f|², 1e-10) g_f).
    Orthogonal,
}

impl UpdateRule {
    pub const ALL: [UpdateRule; 3] = [UpdateRule::Semi, UpdateRule::True, UpdateRule::Orthogonal];

    pub fn name(self) -> &'static str {
        match self {
            UpdateRule::Semi => "semi",
            UpdateRule::True => "true",
            UpdateRule::Orthogonal => "orthogonal",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|u| u.name() == name)
            .ok_or_else(|| format!("unknown update '{name}': choose semi, true or orthogonal"))
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The orthogonal combination of the forward and backward dual gradients: g_f plus the part
/// of g_b normal to g_f (the reference's `(1 − c) g_f + g_b`).
pub fn orthogonal_combination(forward: &[f64], backward: &[f64]) -> Vec<f64> {
    let c = dot(forward, backward) / dot(forward, forward).max(1e-10);
    forward.iter().zip(backward).map(|(f, b)| (1.0 - c) * f + b).collect()
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// Hand-checked values: f*(δ) = δ²/4 + δ for δ ≥ −2 and −1 below, continuous at −2, with
    /// w* its derivative (central differences).
    #[test]
    fn the_conjugate_and_its_derivative() {
        assert_eq!(f_star(0.0), 0.0);
        assert_eq!(f_star(2.0), 3.0);
        assert_eq!(f_star(-2.0), -1.0);
        assert_eq!(f_star(-5.0), -1.0);
        assert_eq!((w_star(0.0), w_star(2.0), w_star(-3.0)), (1.0, 2.0, 0.0));
        for delta in [-3.0, -1.5, -0.2, 0.0, 0.7, 4.0] {
            let h = 1e-6;
            let fd = (f_star(delta + h) - f_star(delta - h)) / (2.0 * h);
            assert!((fd - w_star(delta)).abs() < 1e-8, "δ = {delta}");
        }
        assert_eq!((policy_weight(-1.0), policy_weight(3.0), policy_weight(500.0)), (0.0, 3.0, 100.0));
    }

    /// The orthogonal identities, to round-off: ⟨g_o, g_f⟩ = |g_f|², and
    /// ⟨g_o, g_f + g_b⟩ = |g_f|² + ⟨g_f, g_b⟩ + |g_b⊥|²; opposite gradients leave g_f.
    #[test]
    fn the_orthogonal_combination_keeps_the_forward_signal() {
        let f = [0.3, -1.2, 0.5, 2.0];
        let b = [-0.7, 0.4, 1.1, -1.6];
        let o = orthogonal_combination(&f, &b);
        assert!((dot(&o, &f) - dot(&f, &f)).abs() < 1e-12);
        let c = dot(&f, &b) / dot(&f, &f);
        let perp: Vec<f64> = b.iter().zip(&f).map(|(b, f)| b - c * f).collect();
        let sum: Vec<f64> = f.iter().zip(&b).map(|(a, b)| a + b).collect();
        assert!((dot(&o, &sum) - (dot(&f, &f) + dot(&f, &b) + dot(&perp, &perp))).abs() < 1e-12);
        let minus: Vec<f64> = f.iter().map(|v| -v).collect();
        assert_eq!(orthogonal_combination(&f, &minus), f.to_vec());
    }
}
