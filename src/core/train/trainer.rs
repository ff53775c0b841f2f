//! Minibatch training of the MLP on a point set: sample (x_0, t, z), form x_t, evaluate,
//! back-propagate the objective, take an Adam step, update the EMA. A step whose loss or
//! gradient is not finite is refused and leaves the weights untouched, so a caller can pause
//! and say why instead of carrying NaN forward.
//!
//! A step runs batched in f32 on the kernel layer (`nn::backprop`, threads natively). The
//! per-sample f64 pass ([`Trainer::reference_gradient`], over `mlp::vjp`) is the definition
//! the tests hold it to; the objective's per-sample loss and output gradient are the same
//! f64 function on both paths.
//!
//! The draws of sample i of step s are keyed by the counter (seed, step s, sample i), as a
//! sampler's noise is keyed by (seed, particle, draw): they depend on nothing that came
//! before. So a step after a rollback draws what it drew the first time, a change of batch
//! leaves the other samples' draws alone, and a link that records the steps and the rate
//! changes rebuilds the same weights bit for bit.

use super::objective::Objective;
use crate::core::data::Point;
use crate::core::nn::adam::{Adam, Ema};
use crate::core::nn::backprop::{minibatch_gradient, MinibatchWorkspace, RowLoss};
use crate::core::nn::batch::BatchMlp;
use crate::core::nn::mlp::{forward, vjp, Mlp, Workspace};
use crate::core::process::Process;
use crate::core::rng::{random_u32x4, u32_to_open_unit_f32};

/// Smallest training time: score_sde's 1e-5 (the score is singular at t = 0).
pub const T_EPS_TRAIN: f64 = 1e-5;

#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    pub batch: usize,
    pub learning_rate: f64,
    pub ema_decay: f64,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig { batch: 256, learning_rate: 1e-3, ema_decay: 0.999, seed: 0 }
    }
}

/// Why a step was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainError {
    NonFiniteLoss { step: u64 },
    NonFiniteGradient { step: u64 },
}

impl std::fmt::Display for TrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrainError::NonFiniteLoss { step } => {
                write!(f, "training diverged at step {step}: the loss is not finite; lower the learning rate")
            }
            TrainError::NonFiniteGradient { step } => {
                write!(f, "training diverged at step {step}: a gradient is not finite; lower the learning rate")
            }
        }
    }
}

impl std::error::Error for TrainError {}

/// The Philox stream of training draws ("trai").
pub const TRAIN_STREAM: u64 = 0x7472_6169;

/// Everything that decides a step's rows besides the step itself: what a second
/// implementation of the draw (the GPU's, shaders/train_rows.wgsl) needs to draw the same rows
/// from the same counters.
#[derive(Debug, Clone, Copy)]
pub struct DrawRecipe<'a> {
    pub seed: u64,
    pub data: &'a [Point],
    pub conditions: Option<&'a [Point]>,
    pub process: Process,
    pub objective: Objective,
    /// Times are T_EPS_TRAIN + (t_max - T_EPS_TRAIN) u.
    pub t_max: f64,
}

/// What one sample of a minibatch draws: a data index, a uniform for its time and a pair of
/// standard normals, all from the one Philox block of counter (step, sample).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinibatchDraw {
    pub index: usize,
    /// In [0, 1).
    pub uniform_t: f64,
    pub noise: [f64; 2],
}

impl MinibatchDraw {
    /// Only the uniform of the sample's time (the loss-by-time chart's abscissa).
    pub fn uniform_t_of(seed: u64, step: u64, sample: u64) -> f64 {
        let [_, b, _, _] = random_u32x4(seed, TRAIN_STREAM, (step << 32) | (sample & 0xFFFF_FFFF));
        f64::from(b) / 4_294_967_296.0
    }

    pub fn of(seed: u64, step: u64, sample: u64, data_len: usize) -> Self {
        // Step in the high word, sample in the low: 2^32 samples per step, 2^32 steps.
        let [a, b, c, d] = random_u32x4(seed, TRAIN_STREAM, (step << 32) | (sample & 0xFFFF_FFFF));
        // Multiply-shift: an index below data_len from 32 uniform bits (bias below 2^-17 for
        // the page's at most 20 000 points).
        let index = ((u64::from(a) * data_len as u64) >> 32) as usize;
        let uniform_t = f64::from(b) / 4_294_967_296.0;
        // Box-Muller in f64 (training is f64 on the CPU).
        let radius = (-2.0 * f64::from(u32_to_open_unit_f32(c)).ln()).sqrt();
        let angle = std::f64::consts::TAU * (f64::from(d) / 4_294_967_296.0) - std::f64::consts::PI;
        MinibatchDraw { index, uniform_t, noise: [radius * angle.cos(), radius * angle.sin()] }
    }
}

pub struct Trainer {
    pub mlp: Mlp,
    pub ema: Ema,
    pub adam: Adam,
    pub process: Process,
    pub objective: Objective,
    pub config: TrainConfig,
    data: Vec<Point>,
    /// The condition mu of each data point (mean-reverting process only).
    conditions: Option<Vec<Point>>,
    batch_ws: MinibatchWorkspace,
    /// (t, loss) of each sample of the last step, for the loss-by-time chart.
    pub sample_losses: Vec<(f64, f64)>,
}

/// A copy with the same weights, optimiser state, data and counters (so the same next steps),
/// and a fresh scratch workspace: the page hands one to the GPU trainer for a run of steps.
impl Clone for Trainer {
    fn clone(&self) -> Self {
        Trainer {
            mlp: self.mlp.clone(),
            ema: self.ema.clone(),
            adam: self.adam.clone(),
            process: self.process,
            objective: self.objective,
            config: self.config.clone(),
            data: self.data.clone(),
            conditions: self.conditions.clone(),
            batch_ws: MinibatchWorkspace::default(),
            sample_losses: self.sample_losses.clone(),
        }
    }
}

impl Trainer {
    pub fn new(
        mlp: Mlp,
        process: Process,
        objective: Objective,
        data: Vec<Point>,
        conditions: Option<Vec<Point>>,
        config: TrainConfig,
    ) -> Result<Self, String> {
        if data.is_empty() {
            return Err("no training data".into());
        }
        if config.batch == 0 {
            return Err("the minibatch must hold at least one sample: use a batch of 1 or more".into());
        }
        if let Some(c) = &conditions {
            if c.len() != data.len() {
                return Err(format!("{} conditions for {} data points", c.len(), data.len()));
            }
        }
        if process.is_conditional() != (mlp.config.condition_dim == 2) {
            return Err("the mean-reverting process needs a model with condition_dim 2 (and only it)".into());
        }
        if (objective == Objective::FlowMatching) != process.is_flow() {
            return Err("flow matching goes with the rectified-flow process, and only with it".into());
        }
        let adam = Adam::new(mlp.params.len(), config.learning_rate);
        let ema = Ema::new(&mlp.params, config.ema_decay);
        Ok(Trainer {
            mlp,
            ema,
            adam,
            process,
            objective,
            config,
            data,
            conditions,
            batch_ws: MinibatchWorkspace::default(),
            sample_losses: Vec::new(),
        })
    }

    /// What sample `sample` of step `step` trains on.
    fn drawn(&self, step: u64, sample: usize) -> DrawnSample {
        let draw = MinibatchDraw::of(self.config.seed, step, sample as u64, self.data.len());
        let x0 = self.data[draw.index];
        let mu = self.conditions.as_ref().map_or([0.0; 2], |c| c[draw.index]);
        let t = T_EPS_TRAIN + (self.process.t_max() - T_EPS_TRAIN) * draw.uniform_t;
        let z = draw.noise;
        DrawnSample { x0, z, t, mu, x_t: self.noised(x0, z, t, mu) }
    }

    /// What decides this trainer's rows, for a drawer elsewhere (the GPU trainer's).
    pub fn draw_recipe(&self) -> DrawRecipe<'_> {
        DrawRecipe {
            seed: self.config.seed,
            data: &self.data,
            conditions: self.conditions.as_deref(),
            process: self.process,
            objective: self.objective,
            t_max: self.process.t_max(),
        }
    }

    /// Sample `sample` of step `step` as a row of a weighted regression
    /// ([`Objective::as_regression`]): its network features into `features`, and
    /// (a, w, b0, b1, z0, z1). The GPU trainer trains on these: the same draws as this
    /// trainer's step, from the same counters.
    pub fn regression_row(&self, step: u64, sample: usize, features: &mut [f32]) -> [f64; 6] {
        let row = self.drawn(step, sample);
        self.mlp.config.features_into(row.x_t, row.t, row.mu, features);
        let (a, w, b) = self.objective.as_regression(&self.process, row.t, row.x0, row.z);
        [a, w, b[0], b[1], row.z[0], row.z[1]]
    }

    /// One minibatch step; returns the mean loss.
    pub fn step(&mut self) -> Result<f64, TrainError> {
        let step = self.adam.steps() + 1;
        let net = BatchMlp::new(&self.mlp);
        let mut batch_ws = std::mem::take(&mut self.batch_ws);
        let result = minibatch_gradient(&net, self.config.batch, &DrawnBatch { trainer: self, step }, &mut batch_ws);
        self.batch_ws = batch_ws;
        self.sample_losses.clear();
        let t_max = self.process.t_max();
        for (sample, loss) in result.row_losses.iter().enumerate() {
            let uniform = MinibatchDraw::uniform_t_of(self.config.seed, step, sample as u64);
            self.sample_losses.push((T_EPS_TRAIN + (t_max - T_EPS_TRAIN) * uniform, *loss));
        }
        if !result.mean_loss.is_finite() {
            return Err(TrainError::NonFiniteLoss { step });
        }
        if result.gradient.iter().any(|g| !g.is_finite()) {
            return Err(TrainError::NonFiniteGradient { step });
        }
        self.adam.learning_rate = self.config.learning_rate;
        self.adam.step(&mut self.mlp.params, &result.gradient);
        self.ema.update(&self.mlp.params);
        Ok(result.mean_loss)
    }

    /// The definition of the next step's loss and gradient: sample by sample in f64 through
    /// `mlp::vjp`. The batched step agrees with it within `backprop::GRADIENT_TOLERANCE`.
    pub fn reference_gradient(&self) -> (f64, Vec<f64>) {
        let step = self.adam.steps() + 1;
        let config = self.mlp.config;
        let params: Vec<f64> = self.mlp.params.iter().map(|p| f64::from(*p)).collect();
        let mut grads = vec![0.0f64; params.len()];
        let (mut ws, mut grad_input, mut features) = (Workspace::default(), Vec::new(), Vec::new());
        let mut total = 0.0;
        for sample in 0..self.config.batch {
            let row = self.drawn(step, sample);
            config.features(row.x_t, row.t, row.mu, &mut features);
            let out = forward(&config, &params, &features, &mut ws);
            let (loss, d_out) = self.objective.sample_loss(&self.process, row.t, row.x0, row.z, row.mu, out);
            total += loss;
            vjp(&config, &params, &ws, &d_out, &mut grads, &mut grad_input);
        }
        let n = self.config.batch as f64;
        grads.iter_mut().for_each(|g| *g /= n);
        (total / n, grads)
    }

    /// x_t for data x_0, noise z, time t and condition mu.
    pub fn noised(&self, x0: Point, z: [f64; 2], t: f64, mu: Point) -> Point {
        let (alpha, sigma) = (self.process.alpha(t), self.process.sigma(t));
        let mu = self.process.condition(mu);
        [alpha * x0[0] + (1.0 - alpha) * mu[0] + sigma * z[0], alpha * x0[1] + (1.0 - alpha) * mu[1] + sigma * z[1]]
    }
}

/// One sample of a minibatch: the data point, noise, time and condition, and the x_t they make.
#[derive(Debug, Clone, Copy)]
struct DrawnSample {
    x0: Point,
    z: [f64; 2],
    t: f64,
    mu: Point,
    x_t: Point,
}

/// A step's samples as rows of the batched gradient, drawn where they are used.
struct DrawnBatch<'a> {
    trainer: &'a Trainer,
    step: u64,
}

impl RowLoss for DrawnBatch<'_> {
    type Row = DrawnSample;

    fn draw(&self, row: usize) -> DrawnSample {
        self.trainer.drawn(self.step, row)
    }

    fn features(&self, s: &DrawnSample, input: &mut [f32]) {
        self.trainer.mlp.config.features_into(s.x_t, s.t, s.mu, input);
    }

    fn loss(&self, s: &DrawnSample, out: &[f32], d_out: &mut [f32]) -> f64 {
        let out = [f64::from(out[0]), f64::from(out[1])];
        let (loss, d) = self.trainer.objective.sample_loss(&self.trainer.process, s.t, s.x0, s.z, s.mu, out);
        d_out[0] = d[0] as f32;
        d_out[1] = d[1] as f32;
        loss
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::data::GaussianMixture;
    use crate::core::nn::mlp::MlpConfig;
    use crate::core::train::objective::{Parameterisation, Weighting};

    /// E_t E_x sigma_t^2 |s_model - s*|^2 (the error in noise units) on a fixed evaluation set.
    fn score_error(mlp: &Mlp, params: &[f32], process: &Process, data: &GaussianMixture) -> f64 {
        let model = Mlp { config: mlp.config, params: params.to_vec() };
        let mut ws = Workspace::default();
        let mut total = 0.0;
        let mut count = 0;
        for (k, t) in [0.05, 0.15, 0.3, 0.5, 0.7, 0.9].into_iter().enumerate() {
            let marginal = data.marginal(process, t, [0.0; 2]);
            let sigma = process.sigma(t);
            for x in marginal.sample(300, 1000 + k as u64) {
                let out = model.eval([x[0] as f32, x[1] as f32], t as f32, [0.0; 2], &mut ws);
                let exact_eps = marginal.score(x).map(|s| -sigma * s);
                total += (f64::from(out[0]) - exact_eps[0]).powi(2) + (f64::from(out[1]) - exact_eps[1]).powi(2);
                count += 1;
            }
        }
        total / count as f64
    }

    #[test]
    fn training_cuts_the_score_error_tenfold() {
        let data = GaussianMixture::new(
            vec![0.5, 0.3, 0.2],
            vec![[-1.5, 0.0], [1.5, 1.0], [0.5, -1.5]],
            vec![[[0.1, 0.0], [0.0, 0.1]], [[0.2, 0.05], [0.05, 0.1]], [[0.1, 0.0], [0.0, 0.2]]],
        )
        .unwrap();
        let process = Process::vp();
        let config = MlpConfig { width: 64, depth: 2, ..MlpConfig::default() };
        let mlp = Mlp::new(config, 1).unwrap();
        let before = score_error(&mlp, &mlp.params, &process, &data);
        let objective = Objective::Dsm { param: Parameterisation::Eps, weighting: Weighting::Default };
        let train = TrainConfig { batch: 128, learning_rate: 3e-3, ema_decay: 0.99, seed: 4 };
        let mut trainer = Trainer::new(mlp, process, objective, data.sample(4096, 2), None, train).unwrap();
        for _ in 0..1500 {
            trainer.step().unwrap();
        }
        let after = score_error(&trainer.mlp, &trainer.ema.params, &process, &data);
        assert!(after * 10.0 < before, "score error {before} -> {after}: less than 10x better");
    }

    /// Every objective: the batched f32 step's loss and gradient equal the per-sample f64
    /// reference within GRADIENT_TOLERANCE (relative to the largest gradient entry).
    #[test]
    fn batched_steps_match_the_f64_reference_for_every_objective() {
        use crate::core::nn::backprop::GRADIENT_TOLERANCE;
        let data = GaussianMixture::eight_gaussians().sample(500, 1);
        let mut setups = vec![(Process::RectifiedFlow, Objective::FlowMatching)];
        for param in Parameterisation::ALL {
            for weighting in [Weighting::Default, Weighting::Likelihood] {
                setups.push((Process::vp(), Objective::Dsm { param, weighting }));
            }
        }
        setups.push((
            Process::mean_reverting(),
            Objective::Dsm { param: Parameterisation::Eps, weighting: Weighting::Default },
        ));
        for (process, objective) in setups {
            if process.is_flow() != (objective == Objective::FlowMatching) {
                continue;
            }
            let conditional = process.is_conditional();
            let config = MlpConfig {
                width: 32,
                depth: 2,
                condition_dim: if conditional { 2 } else { 0 },
                ..MlpConfig::default()
            };
            let conditions = conditional.then(|| data.iter().map(|p| [p[1], -p[0]]).collect());
            let train = TrainConfig { batch: 200, learning_rate: 1e-3, ema_decay: 0.99, seed: 3 };
            let mut trainer =
                Trainer::new(Mlp::new(config, 2).unwrap(), process, objective, data.clone(), conditions, train)
                    .unwrap();
            for _ in 0..3 {
                let (loss, grad) = trainer.reference_gradient();
                let step = trainer.adam.steps() + 1;
                let batch = DrawnBatch { trainer: &trainer, step };
                let got =
                    minibatch_gradient(&BatchMlp::new(&trainer.mlp), 200, &batch, &mut MinibatchWorkspace::default());
                assert!(
                    (got.mean_loss - loss).abs() <= 1e-5 * (1.0 + loss),
                    "{objective:?}: loss {} vs {loss}",
                    got.mean_loss
                );
                let scale = grad.iter().fold(0.0f64, |m, g| m.max(g.abs()));
                for (k, (g, w)) in got.gradient.iter().zip(&grad).enumerate() {
                    assert!(
                        (f64::from(*g) - w).abs() <= GRADIENT_TOLERANCE * scale,
                        "{objective:?} parameter {k}: {g} vs {w}"
                    );
                }
                trainer.step().unwrap();
            }
        }
    }

    #[test]
    fn a_diverging_step_is_refused_and_leaves_the_weights() {
        let config = MlpConfig { width: 16, depth: 1, ..MlpConfig::default() };
        let mlp = Mlp::new(config, 1).unwrap();
        let objective = Objective::Dsm { param: Parameterisation::Eps, weighting: Weighting::Default };
        let data = vec![[f64::NAN, 0.0]; 4];
        let mut trainer =
            Trainer::new(mlp.clone(), Process::vp(), objective, data, None, TrainConfig::default()).unwrap();
        let err = trainer.step().unwrap_err();
        assert!(err.to_string().contains("lower the learning rate"));
        assert_eq!(trainer.mlp.params, mlp.params);
    }

    #[test]
    fn minibatch_draws_are_keyed_by_step_and_sample_and_look_random() {
        let a = MinibatchDraw::of(3, 7, 5, 100);
        assert_eq!(a, MinibatchDraw::of(3, 7, 5, 100), "the same key draws the same");
        assert_ne!(a, MinibatchDraw::of(3, 8, 5, 100));
        assert_ne!(a, MinibatchDraw::of(3, 7, 6, 100));
        assert_ne!(a, MinibatchDraw::of(4, 7, 5, 100));
        // Indices cover the data evenly, times are uniform, noise is N(0, 1).
        let n = 40_000;
        let draws: Vec<MinibatchDraw> = (0..n).map(|i| MinibatchDraw::of(1, 1 + i / 100, i % 100, 10)).collect();
        let mut counts = [0usize; 10];
        draws.iter().for_each(|d| counts[d.index] += 1);
        assert!(counts.iter().all(|c| (*c as f64 - 4000.0).abs() < 300.0), "{counts:?}");
        let mean_t = draws.iter().map(|d| d.uniform_t).sum::<f64>() / n as f64;
        assert!((mean_t - 0.5).abs() < 0.01, "{mean_t}");
        let z: Vec<f64> = draws.iter().flat_map(|d| d.noise).collect();
        let mean = z.iter().sum::<f64>() / z.len() as f64;
        let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / z.len() as f64;
        assert!(mean.abs() < 0.02 && (var - 1.0).abs() < 0.03, "mean {mean}, var {var}");
    }

    #[test]
    fn mismatched_setups_are_refused() {
        let mlp = Mlp::new(MlpConfig { width: 16, depth: 1, ..MlpConfig::default() }, 1).unwrap();
        let eps = Objective::Dsm { param: Parameterisation::Eps, weighting: Weighting::Default };
        let data = vec![[0.0, 0.0]];
        assert!(Trainer::new(mlp.clone(), Process::mean_reverting(), eps, data.clone(), None, TrainConfig::default())
            .is_err());
        assert!(
            Trainer::new(mlp.clone(), Process::RectifiedFlow, eps, data.clone(), None, TrainConfig::default()).is_err()
        );
        assert!(Trainer::new(
            mlp.clone(),
            Process::vp(),
            Objective::FlowMatching,
            data.clone(),
            None,
            TrainConfig::default()
        )
        .is_err());
        let empty_batch = TrainConfig { batch: 0, ..TrainConfig::default() };
        let refused = Trainer::new(mlp, Process::vp(), eps, data, None, empty_batch).err();
        assert!(refused.is_some_and(|e| e.contains("at least one sample")));
    }
}
