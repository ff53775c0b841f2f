//! SDE solvers for diagonal noise, each a step over one interval given the Brownian
//! increment: Euler-Maruyama and Milstein (Itô), Heun (Stratonovich), SRA1 (additive noise,
//! Rößler 2010) and Reversible Heun (Kidger et al. 2021) with its exact reverse step.

/// dy = drift(t, y) dt + diag(diffusion(t, y)) dW, with one Brownian motion per coordinate.
pub trait Sde {
    fn dim(&self) -> usize;
    fn drift(&self, t: f64, y: &[f64], out: &mut [f64]);
    fn diffusion(&self, t: f64, y: &[f64], out: &mut [f64]);
    /// d diffusion_i / d y_i (Milstein's correction); zero for additive noise.
    fn diffusion_derivative(&self, t: f64, y: &[f64], out: &mut [f64]) {
        let _ = (t, y);
        out.iter_mut().for_each(|o| *o = 0.0);
    }
}

/// What the Brownian path gives a step: dW = W(t + h) - W(t) and, for SRA1, the time
/// integral I_(1,0) = int_t^{t+h} (W(s) - W(t)) ds.
#[derive(Debug, Clone, PartialEq)]
pub struct BrownianStep {
    pub dw: Vec<f64>,
    pub time_integral: Option<Vec<f64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdeSolver {
    EulerMaruyama,
    Milstein,
    Heun,
    Sra1,
    ReversibleHeun,
}

impl SdeSolver {
    pub const ALL: [SdeSolver; 5] =
        [SdeSolver::EulerMaruyama, SdeSolver::Milstein, SdeSolver::Heun, SdeSolver::Sra1, SdeSolver::ReversibleHeun];

    pub fn name(&self) -> &'static str {
        match self {
            SdeSolver::EulerMaruyama => "em",
            SdeSolver::Milstein => "milstein",
            SdeSolver::Heun => "heun-sde",
            SdeSolver::Sra1 => "sra1",
            SdeSolver::ReversibleHeun => "reversible-heun",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|s| s.name() == name).ok_or_else(|| {
            format!("unknown SDE solver '{name}': choose em, milstein, heun-sde, sra1 or reversible-heun")
        })
    }

    /// Heun and Reversible Heun converge to the Stratonovich solution.
    pub fn is_stratonovich(&self) -> bool {
        matches!(self, SdeSolver::Heun | SdeSolver::ReversibleHeun)
    }

    /// Strong order on problems with (additive, commutative) noise.
    pub fn strong_order(&self, additive: bool) -> f64 {
        match (self, additive) {
            (SdeSolver::EulerMaruyama, false) => 0.5,
            (SdeSolver::Sra1, true) => 1.5,
            (SdeSolver::Sra1, false) => f64::NAN, // SRA1 is for additive noise only
            _ => 1.0,
        }
    }
}

fn axpy(out: &mut [f64], a: f64, x: &[f64]) {
    for (o, x) in out.iter_mut().zip(x) {
        *o += a * x;
    }
}

/// One step of EM, Milstein, Heun or SRA1 from (t, y) by h. Reversible Heun carries a
/// second state: use [`ReversibleHeun`].
pub fn sde_step(solver: SdeSolver, sde: &impl Sde, t: f64, y: &[f64], h: f64, brownian: &BrownianStep) -> Vec<f64> {
    let n = sde.dim();
    let (mut f, mut g) = (vec![0.0; n], vec![0.0; n]);
    sde.drift(t, y, &mut f);
    sde.diffusion(t, y, &mut g);
    let dw = &brownian.dw;
    let mut next = y.to_vec();
    match solver {
        SdeSolver::EulerMaruyama => {
            axpy(&mut next, h, &f);
            for d in 0..n {
                next[d] += g[d] * dw[d];
            }
        }
        SdeSolver::Milstein => {
            let mut dg = vec![0.0; n];
            sde.diffusion_derivative(t, y, &mut dg);
            for d in 0..n {
                next[d] += f[d] * h + g[d] * dw[d] + 0.5 * g[d] * dg[d] * (dw[d] * dw[d] - h);
            }
        }
        SdeSolver::Heun => {
            let mut predictor = y.to_vec();
            for d in 0..n {
                predictor[d] += f[d] * h + g[d] * dw[d];
            }
            let (mut f1, mut g1) = (vec![0.0; n], vec![0.0; n]);
            sde.drift(t + h, &predictor, &mut f1);
            sde.diffusion(t + h, &predictor, &mut g1);
            for d in 0..n {
                next[d] += 0.5 * (f[d] + f1[d]) * h + 0.5 * (g[d] + g1[d]) * dw[d];
            }
        }
        SdeSolver::Sra1 => {
            // Rößler's SRA1: c0 = (0, 3/4), A0_21 = 3/4, B0_21 = 3/2, alpha = (1/3, 2/3),
            // beta1 = (1, 0), beta2 = (-1, 1), c1 = (1, 0).
            let i10 = brownian.time_integral.as_ref().expect("SRA1 needs the Brownian time integral");
            let mut g_end = vec![0.0; n];
            sde.diffusion(t + h, y, &mut g_end); // additive: g depends on t only
            let mut stage = y.to_vec();
            for d in 0..n {
                stage[d] += 0.75 * f[d] * h + 1.5 * g_end[d] * i10[d] / h;
            }
            let mut f2 = vec![0.0; n];
            sde.drift(t + 0.75 * h, &stage, &mut f2);
            for d in 0..n {
                let zeta = i10[d] / h;
                next[d] += h * (f[d] / 3.0 + 2.0 * f2[d] / 3.0) + (dw[d] - zeta) * g_end[d] + zeta * g[d];
            }
        }
        SdeSolver::ReversibleHeun => panic!("Reversible Heun carries two states: use ReversibleHeun"),
    }
    next
}

/// Reversible Heun's state: the solution y, the auxiliary z, and the field at (t, z).
#[derive(Debug, Clone, PartialEq)]
pub struct ReversibleHeun {
    pub t: f64,
    pub y: Vec<f64>,
    pub z: Vec<f64>,
    drift_z: Vec<f64>,
    diffusion_z: Vec<f64>,
}

impl ReversibleHeun {
    pub fn new(sde: &impl Sde, t: f64, y0: &[f64]) -> Self {
        let n = sde.dim();
        let (mut f, mut g) = (vec![0.0; n], vec![0.0; n]);
        sde.drift(t, y0, &mut f);
        sde.diffusion(t, y0, &mut g);
        ReversibleHeun { t, y: y0.to_vec(), z: y0.to_vec(), drift_z: f, diffusion_z: g }
    }

    /// One forward step by h: one evaluation of the field.
    pub fn step(&mut self, sde: &impl Sde, h: f64, dw: &[f64]) {
        let n = sde.dim();
        let z_next: Vec<f64> =
            (0..n).map(|d| 2.0 * self.y[d] - self.z[d] + self.drift_z[d] * h + self.diffusion_z[d] * dw[d]).collect();
        let (mut f, mut g) = (vec![0.0; n], vec![0.0; n]);
        sde.drift(self.t + h, &z_next, &mut f);
        sde.diffusion(self.t + h, &z_next, &mut g);
        for d in 0..n {
            self.y[d] += 0.5 * (self.drift_z[d] + f[d]) * h + 0.5 * (self.diffusion_z[d] + g[d]) * dw[d];
        }
        self.z = z_next;
        self.drift_z = f;
        self.diffusion_z = g;
        self.t += h;
    }

    /// Exactly undoes the step of size h with increment dw (up to floating point).
    pub fn reverse_step(&mut self, sde: &impl Sde, h: f64, dw: &[f64]) {
        let n = sde.dim();
        let z_prev: Vec<f64> =
            (0..n).map(|d| 2.0 * self.y[d] - self.z[d] - self.drift_z[d] * h - self.diffusion_z[d] * dw[d]).collect();
        let (mut f, mut g) = (vec![0.0; n], vec![0.0; n]);
        sde.drift(self.t - h, &z_prev, &mut f);
        sde.diffusion(self.t - h, &z_prev, &mut g);
        for d in 0..n {
            self.y[d] -= 0.5 * (f[d] + self.drift_z[d]) * h + 0.5 * (g[d] + self.diffusion_z[d]) * dw[d];
        }
        self.z = z_prev;
        self.drift_z = f;
        self.diffusion_z = g;
        self.t -= h;
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::solve::brownian::VirtualBrownianTree;
    use crate::core::solve::order::{expected_strong_order, sde_problem, sde_strong_and_weak_errors};

    /// A nonlinear 2D SDE with state-dependent noise.
    struct Pendulum;
    impl Sde for Pendulum {
        fn dim(&self) -> usize {
            2
        }
        fn drift(&self, _t: f64, y: &[f64], out: &mut [f64]) {
            out[0] = y[1];
            out[1] = -y[0].sin() - 0.1 * y[1];
        }
        fn diffusion(&self, _t: f64, y: &[f64], out: &mut [f64]) {
            out[0] = 0.1 * y[1].cos();
            out[1] = 0.3 + 0.1 * y[0].sin();
        }
    }

    #[test]
    fn reversible_heun_reverse_pass_reconstructs_the_forward_path() {
        let sde = Pendulum;
        let (steps, t1) = (1000, 5.0);
        let h = t1 / steps as f64;
        let tree = VirtualBrownianTree::new(2, 0, 0.0, t1, 2);
        let increments: Vec<Vec<f64>> = (0..steps).map(|i| tree.increment(i as f64 * h, (i + 1) as f64 * h)).collect();
        let mut state = ReversibleHeun::new(&sde, 0.0, &[1.0, 0.0]);
        let mut path = vec![state.y.clone()];
        for dw in &increments {
            state.step(&sde, h, dw);
            path.push(state.y.clone());
        }
        let mut worst: f64 = 0.0;
        for (i, dw) in increments.iter().enumerate().rev() {
            state.reverse_step(&sde, h, dw);
            let forward = &path[i];
            let scale = forward.iter().map(|v| v.abs()).fold(1e-3, f64::max);
            for (y, f) in state.y.iter().zip(forward) {
                worst = worst.max((y - f).abs() / scale);
            }
        }
        assert!(worst < 1e-5, "reconstruction relative error {worst}");
        assert!(state.t.abs() < 1e-9);
    }

    #[test]
    fn strong_orders_match_theory_on_gbm_and_ou() {
        for (problem_name, solvers) in [
            ("gbm", vec![SdeSolver::EulerMaruyama, SdeSolver::Milstein, SdeSolver::Heun, SdeSolver::ReversibleHeun]),
            ("ou", SdeSolver::ALL.to_vec()),
        ] {
            let problem = sde_problem(problem_name).unwrap();
            for solver in solvers {
                let result = sde_strong_and_weak_errors(solver, &problem, 400, &[4, 8, 16, 32, 64], 7);
                let expected = expected_strong_order(solver, &problem);
                assert!(
                    (result.strong_order - expected).abs() <= 0.2,
                    "{} on {problem_name}: strong order {}, expected {expected}",
                    solver.name(),
                    result.strong_order
                );
            }
        }
    }

    #[test]
    fn euler_maruyama_weak_order_is_one_on_gbm() {
        let problem = sde_problem("gbm").unwrap();
        let result = sde_strong_and_weak_errors(SdeSolver::EulerMaruyama, &problem, 4000, &[4, 8, 16, 32], 3);
        assert!((result.weak_order - 1.0).abs() <= 0.2, "weak order {}", result.weak_order);
    }

    #[test]
    fn solver_names_round_trip() {
        for s in SdeSolver::ALL {
            assert_eq!(SdeSolver::from_name(s.name()).unwrap(), s);
        }
        assert!(SdeSolver::from_name("rk4").is_err());
    }
}
