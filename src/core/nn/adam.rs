//! Adam with bias correction, global-norm gradient clipping, and an exponential moving
//! average of the weights (what samplers use: it is smoother than the raw weights).
//!
//! Both run in f32 over the whole parameter vector with no branch in the loop, so they
//! vectorise: the bias corrections fold into one step size and one epsilon per step, as in
//! Kingma & Ba's "more efficient" ordering. The moments are f32, like the weights.

/// Adam's state and hyperparameters (Kingma & Ba; defaults beta1 0.9, beta2 0.999, eps 1e-8).
#[derive(Debug, Clone, PartialEq)]
pub struct Adam {
    pub learning_rate: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    /// Clip the gradient's global L2 norm to this (None: no clipping).
    pub clip_norm: Option<f64>,
    first: Vec<f32>,
    second: Vec<f32>,
    steps: u64,
}

impl Adam {
    pub fn new(param_count: usize, learning_rate: f64) -> Self {
        Adam {
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            clip_norm: Some(1.0),
            first: vec![0.0; param_count],
            second: vec![0.0; param_count],
            steps: 0,
        }
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The first and second moments (what another optimiser of the same update, the GPU
    /// trainer's, starts from and hands back).
    pub fn moments(&self) -> (&[f32], &[f32]) {
        (&self.first, &self.second)
    }

    /// Takes the moments and step count of the same update run elsewhere (the GPU trainer's):
    /// the next step continues from them exactly as if this optimiser had taken those steps.
    pub fn restore(&mut self, first: Vec<f32>, second: Vec<f32>, steps: u64) -> Result<(), String> {
        if first.len() != self.first.len() || second.len() != self.second.len() {
            return Err(format!(
                "Adam's moments have {} and {} entries; the network has {} parameters",
                first.len(),
                second.len(),
                self.first.len()
            ));
        }
        (self.first, self.second, self.steps) = (first, second, steps);
        Ok(())
    }

    /// One update of `params` from `grads`; returns the gradient norm before clipping.
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) -> f64 {
        assert_eq!(params.len(), grads.len());
        let norm = grads.iter().map(|g| f64::from(*g) * f64::from(*g)).sum::<f64>().sqrt();
        let scale = match self.clip_norm {
            Some(max) if norm > max => (max / norm) as f32,
            _ => 1.0,
        };
        self.steps += 1;
        let correction1 = 1.0 - self.beta1.powi(self.steps as i32);
        let correction2 = 1.0 - self.beta2.powi(self.steps as i32);
        // m_hat / (sqrt(v_hat) + eps) = (sqrt(c2) / c1) m / (sqrt(v) + eps sqrt(c2)).
        let step_size = (self.learning_rate * correction2.sqrt() / correction1) as f32;
        let epsilon = (self.epsilon * correction2.sqrt()) as f32;
        let (beta1, beta2) = (self.beta1 as f32, self.beta2 as f32);
        let (keep1, keep2) = (1.0 - beta1, 1.0 - beta2);
        for (((p, g), m), v) in params.iter_mut().zip(grads).zip(&mut self.first).zip(&mut self.second) {
            let g = *g * scale;
            *m = beta1 * *m + keep1 * g;
            *v = beta2 * *v + keep2 * g * g;
            *p -= step_size * *m / (v.sqrt() + epsilon);
        }
        norm
    }
}

/// Exponential moving average of parameters: ema <- decay ema + (1 - decay) params, with the
/// usual warm-up decay min(decay, (1 + n) / (10 + n)) so that a short run is not dominated
/// by the random initial weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Ema {
    pub decay: f64,
    pub params: Vec<f32>,
    updates: u64,
}

impl Ema {
    pub fn new(params: &[f32], decay: f64) -> Self {
        Ema { decay, params: params.to_vec(), updates: 0 }
    }

    /// Updates so far (the warm-up's n).
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// The average and update count of the same average kept elsewhere (the GPU trainer's).
    pub fn restore(&mut self, params: Vec<f32>, updates: u64) -> Result<(), String> {
        if params.len() != self.params.len() {
            return Err(format!("the EMA has {} entries; the network has {}", params.len(), self.params.len()));
        }
        (self.params, self.updates) = (params, updates);
        Ok(())
    }

    /// This update's decay, after the warm-up.
    pub fn decay_at(&self, updates: u64) -> f64 {
        let n = updates as f64;
        self.decay.min((1.0 + n) / (10.0 + n))
    }

    pub fn update(&mut self, params: &[f32]) {
        let n = self.updates as f64;
        self.updates += 1;
        let d = self.decay.min((1.0 + n) / (10.0 + n)) as f32;
        let keep = 1.0 - d;
        for (e, p) in self.params.iter_mut().zip(params) {
            *e = d * *e + keep * *p;
        }
    }
}

/// Adam in f64 for the labs' small models, whose gradients are checked in f64 and whose
/// weights stay f64 (the same update as [`Adam`], clipping included, without the f32
/// vectorised layout the diffusion trainer needs).
#[derive(Debug, Clone, PartialEq)]
pub struct AdamF64 {
    pub learning_rate: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    pub clip_norm: Option<f64>,
    first: Vec<f64>,
    second: Vec<f64>,
    steps: u64,
}

impl AdamF64 {
    pub fn new(param_count: usize, learning_rate: f64) -> Self {
        AdamF64 {
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            clip_norm: None,
            first: vec![0.0; param_count],
            second: vec![0.0; param_count],
            steps: 0,
        }
    }

    /// One update; returns the gradient norm before clipping.
    pub fn step(&mut self, params: &mut [f64], grads: &[f64]) -> f64 {
        assert_eq!(params.len(), grads.len());
        let norm = grads.iter().map(|g| g * g).sum::<f64>().sqrt();
        let scale = match self.clip_norm {
            Some(max) if norm > max => max / norm,
            _ => 1.0,
        };
        self.steps += 1;
        let c1 = 1.0 - self.beta1.powi(self.steps as i32);
        let c2 = 1.0 - self.beta2.powi(self.steps as i32);
        for (((p, g), m), v) in params.iter_mut().zip(grads).zip(&mut self.first).zip(&mut self.second) {
            let g = g * scale;
            *m = self.beta1 * *m + (1.0 - self.beta1) * g;
            *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
            *p -= self.learning_rate * (*m / c1) / ((*v / c2).sqrt() + self.epsilon);
        }
        norm
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn first_step_moves_each_parameter_by_the_learning_rate() {
        // With bias correction, step 1 is lr * g / (|g| + eps): a sign step of size lr.
        let mut adam = Adam::new(3, 0.1);
        adam.clip_norm = None;
        let mut params = [1.0f32, 1.0, 1.0];
        adam.step(&mut params, &[0.5, -2.0, 0.0]);
        assert!((params[0] - 0.9).abs() < 1e-6 && (params[1] - 1.1).abs() < 1e-6 && params[2] == 1.0, "{params:?}");
    }

    /// The folded f32 update follows the textbook f64 one (bias-corrected moments, then
    /// m_hat / (sqrt(v_hat) + eps)) over many steps to f32 rounding.
    #[test]
    fn vectorised_step_follows_the_textbook_update() {
        let mut adam = Adam::new(3, 0.01);
        adam.clip_norm = None;
        let (mut p, mut reference) = ([0.5f32, -1.0, 2.0], [0.5f64, -1.0, 2.0]);
        let (mut m, mut v) = ([0.0f64; 3], [0.0f64; 3]);
        for step in 1..=200 {
            let g = [p[0] - 0.3, (p[1] * 3.0).sin(), 0.01 * step as f32];
            adam.step(&mut p, &g);
            for i in 0..3 {
                let g = f64::from(g[i]);
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                let (m_hat, v_hat) = (m[i] / (1.0 - 0.9f64.powi(step)), v[i] / (1.0 - 0.999f64.powi(step)));
                reference[i] -= 0.01 * m_hat / (v_hat.sqrt() + 1e-8);
            }
        }
        // Each f32 step rounds the weight by up to 2^-24 |p| and the moments likewise: over
        // 200 steps a few 1e-5 at |p| about 1.
        for i in 0..3 {
            assert!((f64::from(p[i]) - reference[i]).abs() < 5e-5, "{p:?} vs {reference:?}");
        }
    }

    #[test]
    fn minimises_a_quadratic() {
        let mut adam = Adam::new(2, 0.05);
        let mut p = [3.0f32, -2.0];
        for _ in 0..2000 {
            let g = [2.0 * (p[0] - 1.0), 8.0 * (p[1] + 0.5)];
            adam.step(&mut p, &g);
        }
        assert!((p[0] - 1.0).abs() < 1e-3 && (p[1] + 0.5).abs() < 1e-3, "{p:?}");
    }

    #[test]
    fn clipping_bounds_the_update_direction_norm() {
        let mut a = Adam::new(2, 0.1);
        let mut b = Adam::new(2, 0.1);
        let (mut pa, mut pb) = ([0.0f32; 2], [0.0f32; 2]);
        let norm = a.step(&mut pa, &[300.0, 400.0]);
        assert_eq!(norm, 500.0);
        b.step(&mut pb, &[0.6, 0.8]);
        // Clipped to norm 1, the first moment is the same as for the unit gradient.
        assert_eq!(a.first, b.first);
    }

    #[test]
    fn ema_warm_up_follows_early_weights() {
        // After 20 updates at decay 0.999, plain EMA keeps 98% of the start; warm-up does not.
        let mut ema = Ema::new(&[0.0], 0.999);
        for _ in 0..20 {
            ema.update(&[1.0]);
        }
        assert!(ema.params[0] > 0.9, "{}", ema.params[0]);
    }

    #[test]
    fn ema_converges_to_constant_params() {
        let mut ema = Ema::new(&[0.0], 0.9);
        for _ in 0..200 {
            ema.update(&[1.0]);
        }
        assert!((ema.params[0] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn f64_adam_follows_the_textbook_update_and_minimises_a_quadratic() {
        let mut adam = AdamF64::new(2, 0.1);
        let mut p = vec![1.0, -2.0];
        adam.step(&mut p, &[0.5, -3.0]);
        // The first step moves each parameter by the learning rate against its gradient's sign.
        assert!((p[0] - 0.9).abs() < 1e-8 && (p[1] + 1.9).abs() < 1e-8, "{p:?}");
        for _ in 0..2000 {
            let g = vec![2.0 * (p[0] - 3.0), 2.0 * (p[1] + 1.0)];
            adam.step(&mut p, &g);
        }
        assert!((p[0] - 3.0).abs() < 1e-3 && (p[1] + 1.0).abs() < 1e-3, "{p:?}");
    }
}
