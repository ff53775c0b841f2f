//! ODICE with function approximation on the navigation data: a value network V (2→32→32→1,
//! tanh), its target V̄ (an exponential moving average at rate 0.005), and a policy network
//! π (2→32→32→2, tanh output) trained by weighted behaviour cloning, for one update rule.
//! This is `odice.py`'s three updates:
//!
//! - semi: g_V + g_f, with δ_f = r + γ(1 − d) V̄(s′) − V(s);
//! - true: g_V + ∇λE[f*(δ)] with δ = r + γ(1 − d) V(s′) − V(s) and no target; its two
//!   halves (through V(s) and through V(s′)) are reported as g_f and g_b;
//! - orthogonal: g_V + g_f + (g_b − ⟨g_f, g_b⟩/max(|g_f|², 1e-10) g_f) with
//!   δ_b = r + γ(1 − d) V(s′) − V̄(s), η folded into g_b.
//!
//! The policy's loss is E[w |π(s) − a|²] / 2 with w = min(max(δ, 0), 100) of the rule's
//! residual (δ_f, or δ for the true gradient): a Gaussian policy of fixed spread, whose mean
//! π is what the rollouts follow (the reference learns the spread too).
//!
//! Minibatches are drawn from counters (seed, step), so the three rules see the same
//! minibatches and start from the same weights: they differ only by the rule.

use serde::{Deserialize, Serialize};

use super::nav::{self, Transition};
use super::objective::{f_star, orthogonal_combination, policy_weight, w_star, UpdateRule};
use crate::core::nn::adam::Adam;
use crate::core::nn::dense::Dense;
use crate::core::nn::dense_activation::DenseActivation;
use crate::core::nn::dense_backprop::{DenseBatchTape, DensePacked};
use crate::core::rng::RngStream;

/// The hyperparameters of one run. The defaults are LABS.md's but for the learning rates:
/// 1e-3 for both networks instead of 3e-4, which left every rule's policy at 0 to 22% success
/// in distribution after 20 000 steps (docs/RESULTS.md has both).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NavConfig {
    pub lambda: f64,
    pub eta: f64,
    pub gamma: f64,
    pub value_lr: f64,
    pub policy_lr: f64,
    pub batch: usize,
    /// The target network's rate: V̄ ← (1 − τ) V̄ + τ V.
    pub tau: f64,
    pub width: usize,
    pub seed: u64,
}

impl Default for NavConfig {
    fn default() -> Self {
        NavConfig {
            lambda: 0.6,
            eta: 1.0,
            gamma: nav::GAMMA,
            value_lr: 1e-3,
            policy_lr: 1e-3,
            batch: 256,
            tau: 0.005,
            width: 32,
            seed: 0,
        }
    }
}

impl NavConfig {
    /// The bounds a run holds to, with messages that name the setting.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.lambda > 0.0 && self.lambda < 1.0) {
            return Err(format!("lambda must be in (0, 1), got {}", self.lambda));
        }
        if !(self.eta.is_finite() && (0.0..=10.0).contains(&self.eta)) {
            return Err(format!("eta must be 0 to 10, got {}", self.eta));
        }
        if !(self.gamma > 0.0 && self.gamma < 1.0) {
            return Err(format!("gamma must be in (0, 1), got {}", self.gamma));
        }
        for (name, lr) in [("value-lr", self.value_lr), ("policy-lr", self.policy_lr)] {
            if !(lr > 0.0 && lr <= 0.1) {
                return Err(format!("{name} must be in (0, 0.1], got {lr}"));
            }
        }
        if !(1..=4096).contains(&self.batch) {
            return Err(format!("batch must be 1 to 4096, got {}", self.batch));
        }
        if !(self.tau > 0.0 && self.tau <= 1.0) {
            return Err(format!("tau must be in (0, 1], got {}", self.tau));
        }
        if !(2..=256).contains(&self.width) {
            return Err(format!("width must be 2 to 256, got {}", self.width));
        }
        Ok(())
    }

    pub fn value_net(&self) -> Dense {
        Dense::mlp(2, self.width, 2, 1, DenseActivation::Tanh, DenseActivation::Identity).expect("checked sizes")
    }

    pub fn policy_net(&self) -> Dense {
        Dense::mlp(2, self.width, 2, 2, DenseActivation::Tanh, DenseActivation::Tanh).expect("checked sizes")
    }
}

/// What one step measured: the dual gradients' norms and cosine, the value loss, the
/// policy's weighted loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepFigures {
    pub step: usize,
    pub norm_forward: f64,
    pub norm_backward: f64,
    pub cos_fb: f64,
    pub value_loss: f64,
    pub policy_loss: f64,
}

/// The gradient halves of one step, in f64 (the orthogonal projection and the figures).
#[derive(Debug, Clone, PartialEq)]
pub struct DualGradients {
    pub g_v: Vec<f64>,
    pub g_f: Vec<f64>,
    pub g_b: Vec<f64>,
    /// L(V) on the minibatch with the rule's residuals.
    pub loss: f64,
    /// The policy's weight of each row.
    pub weights: Vec<f64>,
}

/// One rule's learner.
#[derive(Debug, Clone)]
pub struct NavLearner {
    pub rule: UpdateRule,
    pub config: NavConfig,
    pub value_net: Dense,
    pub policy_net: Dense,
    pub value: Vec<f32>,
    pub target: Vec<f32>,
    pub policy: Vec<f32>,
    value_adam: Adam,
    policy_adam: Adam,
    pub steps_done: usize,
    /// Every step's figures.
    pub history: Vec<StepFigures>,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// cos(a, b), 0 where either is zero.
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let d = norm(a) * norm(b);
    if d > 0.0 {
        dot(a, b) / d
    } else {
        0.0
    }
}

/// A network's outputs at many states.
pub fn evaluate(net: &Dense, params: &[f32], states: &[[f64; 2]]) -> Vec<f32> {
    let xs: Vec<f32> = states.iter().flat_map(|s| [s[0] as f32, s[1] as f32]).collect();
    let mut tape = DenseBatchTape::default();
    DensePacked::new(net, params).forward_taped(&xs, &mut tape);
    tape.output().to_vec()
}

impl NavLearner {
    /// A fresh learner: the weights from the seed (the same for every rule).
    pub fn new(rule: UpdateRule, config: NavConfig) -> Result<Self, String> {
        config.validate()?;
        let (value_net, policy_net) = (config.value_net(), config.policy_net());
        let value: Vec<f32> = value_net.init(config.seed, 0x7661_6c75).iter().map(|&p| p as f32).collect();
        let policy: Vec<f32> = policy_net.init(config.seed, 0x706f_6c69).iter().map(|&p| p as f32).collect();
        let mut value_adam = Adam::new(value.len(), config.value_lr);
        let mut policy_adam = Adam::new(policy.len(), config.policy_lr);
        // The reference does not clip.
        value_adam.clip_norm = None;
        policy_adam.clip_norm = None;
        Ok(NavLearner {
            rule,
            config,
            value_net,
            policy_net,
            target: value.clone(),
            value,
            policy,
            value_adam,
            policy_adam,
            steps_done: 0,
            history: Vec::new(),
        })
    }

    /// New learning rates for the optimisers (their moments stay).
    pub fn set_learning_rates(&mut self, value_lr: f64, policy_lr: f64) {
        self.config.value_lr = value_lr;
        self.config.policy_lr = policy_lr;
        self.value_adam.learning_rate = value_lr;
        self.policy_adam.learning_rate = policy_lr;
    }

    /// Step `step`'s minibatch: `batch` indices into `n` transitions.
    pub fn minibatch(seed: u64, step: usize, batch: usize, n: usize) -> Vec<usize> {
        let mut rng = RngStream::new(seed, 0x6d69_6e69_0000_0000 + step as u64);
        (0..batch).map(|_| rng.below(n)).collect()
    }

    /// The value loss's gradient halves on a minibatch, at the current V and V̄, for the
    /// learner's rule (for the true gradient, at δ with V in place of V̄ and η = 1).
    pub fn dual_gradients(&self, rows: &[Transition]) -> DualGradients {
        let c = &self.config;
        let b = rows.len();
        let n = b as f32;
        let packed = DensePacked::new(&self.value_net, &self.value);
        let here: Vec<f32> = rows.iter().flat_map(|t| [t.s[0] as f32, t.s[1] as f32]).collect();
        let there: Vec<f32> = rows.iter().flat_map(|t| [t.next[0] as f32, t.next[1] as f32]).collect();
        let (mut tape_s, mut tape_next) = (DenseBatchTape::default(), DenseBatchTape::default());
        packed.forward_taped(&here, &mut tape_s);
        packed.forward_taped(&there, &mut tape_next);
        let (v_s, v_next) = (tape_s.output().to_vec(), tape_next.output().to_vec());
        let true_gradient = self.rule == UpdateRule::True;
        let (target_s, target_next) = if true_gradient {
            (v_s.clone(), v_next.clone())
        } else {
            let target = DensePacked::new(&self.value_net, &self.target);
            let mut tape = DenseBatchTape::default();
            target.forward_taped(&here, &mut tape);
            let s = tape.output().to_vec();
            target.forward_taped(&there, &mut tape);
            (s, tape.output().to_vec())
        };
        let eta = if true_gradient { 1.0 } else { c.eta };
        let (lambda, gamma) = (c.lambda as f32, c.gamma as f32);
        let (mut d_v, mut d_f, mut d_b) = (vec![0.0f32; b], vec![0.0f32; b], vec![0.0f32; b]);
        let mut loss = 0.0;
        let mut weights = Vec::with_capacity(b);
        for (k, t) in rows.iter().enumerate() {
            let carry = if t.done { 0.0 } else { gamma };
            let forward = f64::from(t.r as f32 + carry * target_next[k] - v_s[k]);
            let backward = f64::from(t.r as f32 + carry * v_next[k] - target_s[k]);
            d_v[k] = (1.0 - lambda) / n;
            d_f[k] = -lambda * w_star(forward) as f32 / n;
            d_b[k] = lambda * eta as f32 * carry * w_star(backward) as f32 / n;
            loss += (1.0 - c.lambda) * f64::from(v_s[k]) + c.lambda * f_star(forward);
            weights.push(policy_weight(forward));
        }
        let p = self.value_net.param_count();
        let (mut g_v, mut g_f, mut g_b) = (vec![0.0f32; p], vec![0.0f32; p], vec![0.0f32; p]);
        packed.backward(&tape_s, &d_v, &mut g_v, None);
        packed.backward(&tape_s, &d_f, &mut g_f, None);
        packed.backward(&tape_next, &d_b, &mut g_b, None);
        let wide = |g: Vec<f32>| g.into_iter().map(f64::from).collect::<Vec<f64>>();
        DualGradients { g_v: wide(g_v), g_f: wide(g_f), g_b: wide(g_b), loss: loss / b as f64, weights }
    }

    /// The rule's update direction from the halves.
    pub fn direction(&self, g: &DualGradients) -> Vec<f64> {
        let dual: Vec<f64> = match self.rule {
            UpdateRule::Semi => g.g_f.clone(),
            UpdateRule::True => g.g_f.iter().zip(&g.g_b).map(|(a, b)| a + b).collect(),
            UpdateRule::Orthogonal => orthogonal_combination(&g.g_f, &g.g_b),
        };
        g.g_v.iter().zip(&dual).map(|(a, b)| a + b).collect()
    }

    /// One step of V, V̄ and π on `data`; returns what it measured. A non-finite gradient
    /// or loss changes nothing and is an error.
    pub fn step(&mut self, data: &[Transition]) -> Result<StepFigures, String> {
        if data.is_empty() {
            return Err("the data set is empty".into());
        }
        let rows: Vec<Transition> = Self::minibatch(self.config.seed, self.steps_done, self.config.batch, data.len())
            .iter()
            .map(|&i| data[i])
            .collect();
        let g = self.dual_gradients(&rows);
        let direction: Vec<f32> = self.direction(&g).iter().map(|&v| v as f32).collect();
        // The policy: E[w |π(s) − a|²] / 2.
        let packed = DensePacked::new(&self.policy_net, &self.policy);
        let here: Vec<f32> = rows.iter().flat_map(|t| [t.s[0] as f32, t.s[1] as f32]).collect();
        let mut tape = DenseBatchTape::default();
        packed.forward_taped(&here, &mut tape);
        let out = tape.output();
        let n = rows.len() as f32;
        let mut d_out = vec![0.0f32; out.len()];
        let mut policy_loss = 0.0;
        for (k, t) in rows.iter().enumerate() {
            let w = g.weights[k] as f32;
            for j in 0..2 {
                let e = out[2 * k + j] - t.a[j] as f32;
                d_out[2 * k + j] = w * e / n;
                policy_loss += f64::from(0.5 * w * e * e / n);
            }
        }
        let mut policy_grad = vec![0.0f32; self.policy.len()];
        packed.backward(&tape, &d_out, &mut policy_grad, None);
        let figures = StepFigures {
            step: self.steps_done,
            norm_forward: norm(&g.g_f),
            norm_backward: norm(&g.g_b),
            cos_fb: cosine(&g.g_f, &g.g_b),
            value_loss: g.loss,
            policy_loss,
        };
        let finite = direction.iter().chain(&policy_grad).all(|v| v.is_finite())
            && figures.value_loss.is_finite()
            && figures.policy_loss.is_finite();
        if !finite {
            return Err(format!("a non-finite gradient at step {}", self.steps_done));
        }
        self.value_adam.step(&mut self.value, &direction);
        self.policy_adam.step(&mut self.policy, &policy_grad);
        let tau = self.config.tau as f32;
        for (t, v) in self.target.iter_mut().zip(&self.value) {
            *t += tau * (v - *t);
        }
        self.steps_done += 1;
        self.history.push(figures);
        Ok(figures)
    }

    /// The policy's mean actions at `states`.
    pub fn act(&self, states: &[[f64; 2]], actions: &mut Vec<[f64; 2]>) {
        let out = evaluate(&self.policy_net, &self.policy, states);
        actions.clear();
        actions.extend(out.chunks_exact(2).map(|a| [f64::from(a[0]), f64::from(a[1])]));
    }

    /// V at `states`.
    pub fn values(&self, states: &[[f64; 2]]) -> Vec<f64> {
        evaluate(&self.value_net, &self.value, states).into_iter().map(f64::from).collect()
    }

    /// Feature co-adaptation: the mean cosine of V's last hidden layer's features at s and
    /// s′ over `rows`.
    pub fn coadaptation(&self, rows: &[Transition]) -> f64 {
        if rows.is_empty() {
            return f64::NAN;
        }
        let packed = DensePacked::new(&self.value_net, &self.value);
        let last_hidden = self.value_net.dims.len() - 3;
        let width = self.value_net.dims[last_hidden + 1];
        let features = |points: Vec<f32>| {
            let mut tape = DenseBatchTape::default();
            packed.forward_taped(&points, &mut tape);
            tape.layer_output(last_hidden).to_vec()
        };
        let here = features(rows.iter().flat_map(|t| [t.s[0] as f32, t.s[1] as f32]).collect());
        let there = features(rows.iter().flat_map(|t| [t.next[0] as f32, t.next[1] as f32]).collect());
        let total: f64 = here
            .chunks_exact(width)
            .zip(there.chunks_exact(width))
            .map(|(a, b)| {
                let a: Vec<f64> = a.iter().map(|&v| f64::from(v)).collect();
                let b: Vec<f64> = b.iter().map(|&v| f64::from(v)).collect();
                cosine(&a, &b)
            })
            .sum();
        total / rows.len() as f64
    }

    /// Rollouts of the policy's mean from `starts`, with move noise from `seed`.
    pub fn rollouts(&self, starts: &[[f64; 2]], seed: u64) -> Vec<nav::Rollout> {
        nav::rollouts(starts, seed, &mut |states, actions| self.act(states, actions))
    }
}

/// A rule's figures after training: success from each kind of start, mean steps of the
/// successful rollouts, co-adaptation and the gradients' late figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NavEvaluation {
    pub success_in: f64,
    pub success_ood: f64,
    pub steps_in: f64,
    pub steps_ood: f64,
    pub coadapt: f64,
    /// Means over the last tenth of the steps.
    pub cos_fb_final: f64,
    pub norm_forward_final: f64,
    pub norm_backward_final: f64,
    pub v_min: f64,
    pub v_max: f64,
}

/// Rollouts per kind of start in an evaluation.
pub const EVALUATION_STARTS: usize = 100;

/// The share of rollouts that reached the goal, and the mean steps of those that did (NaN
/// when none did).
pub fn success_rate(runs: &[nav::Rollout]) -> (f64, f64) {
    let won: Vec<&nav::Rollout> = runs.iter().filter(|r| r.success).collect();
    let steps = if won.is_empty() {
        f64::NAN
    } else {
        won.iter().map(|r| (r.path.len() - 1) as f64).sum::<f64>() / won.len() as f64
    };
    (won.len() as f64 / runs.len().max(1) as f64, steps)
}

/// The transitions co-adaptation is measured on: about 1000, evenly through the data (a
/// page slice measures them in one go).
pub fn coadaptation_sample(data: &[Transition]) -> Vec<Transition> {
    data.iter().step_by((data.len() / 1000).max(1)).copied().collect()
}

impl NavLearner {
    /// Means of the gradient figures over the last tenth of the steps: (cos, |g_f|, |g_b|).
    pub fn gradient_tail(&self) -> (f64, f64, f64) {
        let tail = &self.history[self.history.len() - self.history.len().div_ceil(10)..];
        let mean = |f: fn(&StepFigures) -> f64| tail.iter().map(f).sum::<f64>() / tail.len().max(1) as f64;
        if tail.is_empty() {
            return (f64::NAN, f64::NAN, f64::NAN);
        }
        (mean(|f| f.cos_fb), mean(|f| f.norm_forward), mean(|f| f.norm_backward))
    }

    /// V's least and greatest value on a 20 × 20 grid of the square.
    pub fn value_range(&self) -> (f64, f64) {
        let grid: Vec<[f64; 2]> =
            (0..400).map(|k| [((k % 20) as f64 + 0.5) / 20.0, ((k / 20) as f64 + 0.5) / 20.0]).collect();
        let v = self.values(&grid);
        (v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(f64::NEG_INFINITY, f64::max))
    }

    /// The figures from finished rollouts (in and out of distribution) and co-adaptation.
    pub fn evaluation(&self, runs_in: &[nav::Rollout], runs_ood: &[nav::Rollout], coadapt: f64) -> NavEvaluation {
        let (success_in, steps_in) = success_rate(runs_in);
        let (success_ood, steps_ood) = success_rate(runs_ood);
        let (cos_fb_final, norm_forward_final, norm_backward_final) = self.gradient_tail();
        let (v_min, v_max) = self.value_range();
        NavEvaluation {
            success_in,
            success_ood,
            steps_in,
            steps_ood,
            coadapt,
            cos_fb_final,
            norm_forward_final,
            norm_backward_final,
            v_min,
            v_max,
        }
    }

    /// Every figure at once: [`EVALUATION_STARTS`] rollouts of each kind.
    pub fn evaluate(&self, data: &[Transition]) -> NavEvaluation {
        let seed = self.config.seed;
        let runs_in = self.rollouts(&nav::starts(seed, EVALUATION_STARTS, true), seed);
        let runs_ood = self.rollouts(&nav::starts(seed, EVALUATION_STARTS, false), seed);
        self.evaluation(&runs_in, &runs_ood, self.coadaptation(&coadaptation_sample(data)))
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn data() -> Vec<Transition> {
        nav::behaviour_data(0, 40, nav::ACTION_NOISE)
    }

    /// A learner whose V sits near −150, where δ = −3 + γV(s′) − V(s) ≈ −1.5 and w* > 0 on
    /// most transitions (at V ≈ 0 every non-terminal w* is 0 and the dual part vanishes).
    fn active(rule: UpdateRule, batch: usize) -> NavLearner {
        let mut l = NavLearner::new(rule, NavConfig { batch, ..NavConfig::default() }).unwrap();
        let last = l.value.len() - 1;
        l.value[last] = -150.0;
        l.target = l.value.clone();
        l
    }

    /// The true rule's direction is the gradient of the minibatch's L(V), by central
    /// differences in f64 on a few weights (V's parameters perturbed one at a time).
    #[test]
    fn the_true_direction_is_the_gradient_of_the_loss() {
        let data = data();
        let learner = active(UpdateRule::True, 64);
        let rows: Vec<Transition> = data[..64].to_vec();
        let g = learner.dual_gradients(&rows);
        assert!(g.g_f.iter().any(|v| *v != 0.0) && g.g_b.iter().any(|v| *v != 0.0));
        let direction = learner.direction(&g);
        let loss = |params: &[f64]| -> f64 {
            let c = learner.config;
            let v = |s: [f64; 2]| learner.value_net.forward(params, &s)[0];
            rows.iter()
                .map(|t| {
                    let carry = if t.done { 0.0 } else { c.gamma };
                    (1.0 - c.lambda) * v(t.s) + c.lambda * f_star(t.r + carry * v(t.next) - v(t.s))
                })
                .sum::<f64>()
                / rows.len() as f64
        };
        let base: Vec<f64> = learner.value.iter().map(|&p| f64::from(p)).collect();
        let scale = direction.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        for k in [0, 5, 63, 100, 700, learner.value.len() - 1] {
            let h = 1e-5;
            let (mut up, mut down) = (base.clone(), base.clone());
            up[k] += h;
            down[k] -= h;
            let fd = (loss(&up) - loss(&down)) / (2.0 * h);
            assert!((fd - direction[k]).abs() < 1e-3 * scale, "parameter {k}: {fd} against {}", direction[k]);
        }
    }

    /// With V̄ = V the semi rule's forward half and the true rule's are the same, and the
    /// orthogonal rule's dual part keeps the forward half: ⟨g_o, g_f⟩ = |g_f|².
    #[test]
    fn the_rules_share_their_halves_and_the_orthogonal_keeps_the_forward_one() {
        let data = data();
        let rows: Vec<Transition> = data[..128].to_vec();
        let (semi, truth, orth) =
            (active(UpdateRule::Semi, 128), active(UpdateRule::True, 128), active(UpdateRule::Orthogonal, 128));
        let (gs, gt, go) = (semi.dual_gradients(&rows), truth.dual_gradients(&rows), orth.dual_gradients(&rows));
        assert_eq!(gs.g_f, gt.g_f);
        assert_eq!(gs.g_b, gt.g_b);
        let dual: Vec<f64> = orth.direction(&go).iter().zip(&go.g_v).map(|(d, v)| d - v).collect();
        let ff = dot(&go.g_f, &go.g_f);
        assert!(ff > 0.0 && dot(&go.g_b, &go.g_b) > 0.0);
        assert!((dot(&dual, &go.g_f) - ff).abs() < 1e-9 * ff.max(1e-30), "{} against {ff}", dot(&dual, &go.g_f));
    }

    /// Training is deterministic, the three rules start alike and see the same minibatches,
    /// and a short run moves the weights and keeps every figure finite.
    #[test]
    fn a_short_run_is_deterministic_and_finite() {
        let data = data();
        let run = |rule| {
            let mut l = NavLearner::new(rule, NavConfig { batch: 64, ..NavConfig::default() }).unwrap();
            for _ in 0..20 {
                l.step(&data).unwrap();
            }
            l
        };
        let (a, b) = (run(UpdateRule::Orthogonal), run(UpdateRule::Orthogonal));
        assert_eq!(a.value, b.value);
        assert_eq!(a.history, b.history);
        let fresh = NavLearner::new(UpdateRule::Semi, NavConfig { batch: 64, ..NavConfig::default() }).unwrap();
        assert!(a.value != fresh.value, "the weights moved");
        // (The orthogonal and semi rules can agree to f32 here: at the start V̄ = V and
        // s′ ≈ s, so g_b is nearly parallel to g_f and its normal part rounds away.)
        assert!(a.history.iter().all(|f| f.norm_forward.is_finite() && f.cos_fb.abs() <= 1.0 + 1e-12));
        assert_eq!(NavLearner::minibatch(0, 3, 8, 100), NavLearner::minibatch(0, 3, 8, 100));
        assert_ne!(NavLearner::minibatch(0, 3, 8, 100), NavLearner::minibatch(0, 4, 8, 100));
        let mut empty = fresh.clone();
        assert!(empty.step(&[]).unwrap_err().contains("empty"));
        assert!(NavLearner::new(UpdateRule::Semi, NavConfig { lambda: 1.0, ..NavConfig::default() })
            .unwrap_err()
            .contains("lambda"));
    }

    /// The robust claims of LABS.md on the pinned seed at the CLI's defaults (20 000 steps):
    /// cos(g_f, g_b) under the true gradient ends near −1, and the orthogonal rule succeeds
    /// from out-of-distribution starts at least as often as the semi-gradient.
    #[test]
    #[cfg(not(target_arch = "wasm32"))] // 60 000 steps: seconds natively, minutes in a browser
    fn the_robust_claims_hold_on_the_pinned_seed() {
        let data = nav::behaviour_data(0, nav::EPISODES, nav::ACTION_NOISE);
        let run = |rule| {
            let mut l = NavLearner::new(rule, NavConfig::default()).unwrap();
            for _ in 0..20_000 {
                l.step(&data).unwrap();
            }
            l.evaluate(&data)
        };
        let (semi, truth, orth) = (run(UpdateRule::Semi), run(UpdateRule::True), run(UpdateRule::Orthogonal));
        assert!(truth.cos_fb_final < -0.99, "true gradient: cos {}", truth.cos_fb_final);
        assert!(
            orth.success_ood >= semi.success_ood,
            "OOD: orthogonal {} against semi {}",
            orth.success_ood,
            semi.success_ood
        );
    }
}
