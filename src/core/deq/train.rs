//! Training a DEQ classifier (LABS.md, Lab E): Adam with cosine decay on minibatches, three
//! power iterations per step, the forward by a root finder and the backward by a gradient
//! method; then the test accuracy, each root finder's mean forward iterations on the test
//! set, and the gradient methods compared on one batch.

use serde::{Deserialize, Serialize};

use super::anderson::AndersonOptions;
use super::data::{train_test, DeqData, Features};
use super::layer::{Backward, DeqModel, DeqShape, Solvers};
use super::root::{SolverKind, Stopping};
use crate::core::nn::adam::AdamF64;
use crate::core::rng::RngStream;

#[derive(Debug, Clone, PartialEq)]
pub struct DeqConfig {
    pub data: DeqData,
    pub width: usize,
    pub kappa: f64,
    pub fourier: bool,
    pub forward: SolverKind,
    pub backward: Backward,
    pub steps: usize,
    pub batch: usize,
    pub learning_rate: f64,
    /// The forward's stopping rule (and the IFT backward's).
    pub stop: Stopping,
    /// Anderson's memory, damping and regularisation (forward and IFT backward).
    pub anderson: AndersonOptions,
    pub seed: u64,
}

impl DeqConfig {
    /// LABS.md: d = 32, κ = 0.9, Anderson forward, IFT backward, Adam 1e-3 with cosine decay,
    /// batch 128, 2000 steps, tolerance 1e-4 in at most 50 iterations.
    pub fn cli_default(data: DeqData) -> Self {
        DeqConfig {
            data,
            width: 32,
            kappa: 0.9,
            fourier: data.default_fourier(),
            forward: SolverKind::Anderson,
            backward: Backward::Ift,
            steps: 2000,
            batch: 128,
            learning_rate: 1e-3,
            stop: Stopping::DEFAULT,
            anderson: AndersonOptions::default(),
            seed: 0,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(1..=100_000).contains(&self.steps) {
            return Err(format!("--steps must be 1 to 100000, got {}", self.steps));
        }
        if !(1..=1000).contains(&self.batch) {
            return Err(format!("--batch must be 1 to 1000, got {}", self.batch));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return Err(format!("--lr must be in (0, 1], got {}", self.learning_rate));
        }
        if let Backward::Unrolled(k) | Backward::Neumann(k) = self.backward {
            if !(1..=1000).contains(&k) {
                return Err(format!("--k must be 1 to 1000, got {k}"));
            }
        }
        self.anderson.validate().map_err(|e| format!("--memory/--lambda: {e}"))?;
        self.stop.validate().map_err(|e| format!("--tol/--max-iterations: {e}"))
    }
}

pub type Sample = (Vec<f64>, usize);

/// A training step in progress: its minibatch and the gradient summed so far.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingStep {
    batch: Vec<Sample>,
    next: usize,
    loss: f64,
    grad: Vec<f64>,
}

/// A DEQ classifier's weights file (`nde lab deq train --out`, the page's export).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeqWeights {
    pub lab: String,
    pub data: String,
    pub width: usize,
    pub kappa: f64,
    pub fourier: bool,
    pub seed: u64,
    pub steps: usize,
    pub params: Vec<f64>,
    pub left: Vec<f64>,
    pub right: Vec<f64>,
}

impl DeqWeights {
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("not a DEQ weights file: {e}"))
    }
}

pub struct DeqFit {
    pub config: DeqConfig,
    pub model: DeqModel,
    pub features: Features,
    pub train: Vec<Sample>,
    pub test: Vec<Sample>,
    adam: AdamF64,
    rng: RngStream,
    pub steps_done: usize,
    pub losses: Vec<f64>,
}

/// Each root finder's mean forward iterations and the accuracy it gives.
#[derive(Debug, Clone, PartialEq)]
pub struct SolverFigures {
    pub solver: SolverKind,
    pub iterations: f64,
    pub accuracy: f64,
    pub converged: f64,
}

/// The gradient methods against the IFT on one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientReport {
    pub unrolled_k10_rel: f64,
    pub jfb_cos: f64,
    pub neumann_k5_rel: f64,
    /// IFT against central differences of the converged loss, on 16 parameters.
    pub ift_vs_fd_rel: f64,
    /// ρ(J_f(z*)) averaged over the batch.
    pub spectral_radius: f64,
    /// Floats per sample each method's backward held: IFT, unrolled 10, JFB, Neumann 5.
    pub floats_held: [usize; 4],
}

impl DeqFit {
    pub fn new(config: DeqConfig) -> Result<Self, String> {
        config.validate()?;
        let features = Features::new(config.fourier, config.seed);
        let (train, test) = train_test(config.data, config.seed);
        let encode = |set: &super::data::ClassSet| -> Vec<Sample> {
            set.points.iter().zip(&set.labels).map(|(p, l)| (features.of(*p), *l)).collect()
        };
        let (train, test) = (encode(&train), encode(&test));
        let shape = DeqShape { width: config.width, inputs: features.dim() };
        let model = DeqModel::new(shape, config.kappa, config.seed)?;
        let adam = AdamF64::new(shape.param_count(), config.learning_rate);
        let rng = RngStream::new(config.seed, 0x6465_7162); // stream: "deqb"
        Ok(DeqFit { config, model, features, train, test, adam, rng, steps_done: 0, losses: Vec::new() })
    }

    pub fn solvers(&self) -> Solvers {
        Solvers {
            forward: self.config.forward,
            forward_stop: self.config.stop,
            backward: self.config.backward,
            backward_stop: self.config.stop,
            anderson: self.config.anderson,
        }
    }

    /// One Adam step on a minibatch (learning rate on the cosine schedule); an error, and no
    /// change to the weights, if the loss or the gradient is not finite.
    pub fn step(&mut self) -> Result<f64, String> {
        let mut step = self.begin_step();
        while !self.advance_step(&mut step, usize::MAX) {}
        self.finish_step(step)
    }

    pub fn done(&self) -> bool {
        self.steps_done >= self.config.steps
    }

    /// A step's minibatch drawn and the power iteration run; its gradient is then summed
    /// a few samples at a time (`advance_step`), so that the page can spread a step over
    /// frames.
    pub fn begin_step(&mut self) -> PendingStep {
        let batch: Vec<Sample> =
            (0..self.config.batch).map(|_| self.train[self.rng.below(self.train.len())].clone()).collect();
        self.model.power_iterate(3);
        PendingStep { batch, next: 0, loss: 0.0, grad: vec![0.0; self.model.params.len()] }
    }

    /// Adds up to `count` more samples' gradient; true when the batch is done.
    pub fn advance_step(&self, step: &mut PendingStep, count: usize) -> bool {
        let end = step.batch.len().min(step.next.saturating_add(count.max(1)));
        let chunk = &step.batch[step.next..end];
        let g = self.model.at(&self.model.params).gradient(chunk, &self.solvers());
        let weight = chunk.len() as f64 / step.batch.len() as f64;
        step.loss += weight * g.loss;
        step.grad.iter_mut().zip(&g.grad).for_each(|(a, b)| *a += weight * b);
        step.next = end;
        step.next >= step.batch.len()
    }

    /// The Adam update from a finished step.
    pub fn finish_step(&mut self, step: PendingStep) -> Result<f64, String> {
        if !step.loss.is_finite() || step.grad.iter().any(|v| !v.is_finite()) {
            return Err(format!(
                "step {}: the loss or its gradient is not finite; the weights are kept",
                self.steps_done
            ));
        }
        let progress = (self.steps_done as f64 / self.config.steps as f64).min(1.0);
        self.adam.learning_rate = self.config.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        self.adam.step(&mut self.model.params, &step.grad);
        self.steps_done += 1;
        self.losses.push(step.loss);
        Ok(step.loss)
    }

    /// The weights as a file.
    pub fn weights(&self) -> DeqWeights {
        let (left, right) = self.model.power_vectors();
        DeqWeights {
            lab: "deq".into(),
            data: self.config.data.name().into(),
            width: self.config.width,
            kappa: self.config.kappa,
            fourier: self.config.fourier,
            seed: self.config.seed,
            steps: self.steps_done,
            params: self.model.params.clone(),
            left: left.to_vec(),
            right: right.to_vec(),
        }
    }

    /// Loads a weights file made for the same data, width, κ, features and seed (the seed
    /// draws the Fourier features).
    pub fn load(&mut self, w: &DeqWeights) -> Result<(), String> {
        if w.lab != "deq" {
            return Err(format!("these weights are for the '{}' lab, not deq", w.lab));
        }
        let c = &self.config;
        let mine = (c.data.name(), c.width, c.kappa, c.fourier, c.seed);
        let theirs = (w.data.as_str(), w.width, w.kappa, w.fourier, w.seed);
        if mine != theirs {
            return Err(format!(
                "the weights are for data {}, width {}, κ {}, Fourier features {}, seed {}; this lab has {}, {}, {}, {}, {}",
                theirs.0, theirs.1, theirs.2, theirs.3, theirs.4, mine.0, mine.1, mine.2, mine.3, mine.4
            ));
        }
        self.model.load(&w.params, &w.left, &w.right)?;
        self.steps_done = w.steps.min(self.config.steps);
        Ok(())
    }

    /// The accuracy on `set` with `solver` forward, its mean iterations and the share of
    /// solves that met the tolerance.
    pub fn evaluate(&self, set: &[Sample], solver: SolverKind) -> SolverFigures {
        let params = self.model.params.clone();
        let layer = self.model.at(&params);
        let (mut correct, mut iterations, mut converged) = (0usize, 0usize, 0usize);
        for (x, label) in set {
            let s = layer.equilibrium(x, solver, self.config.stop, self.config.anderson);
            let logits = layer.logits(&s.z);
            correct += usize::from((logits[1] > logits[0]) == (*label == 1));
            iterations += s.iterations();
            converged += usize::from(s.converged);
        }
        let n = set.len().max(1) as f64;
        SolverFigures {
            solver,
            iterations: iterations as f64 / n,
            accuracy: correct as f64 / n,
            converged: converged as f64 / n,
        }
    }

    /// The gradient methods on the first `count` test samples, against the IFT solved tight.
    pub fn gradient_report(&self, count: usize) -> GradientReport {
        let batch: Vec<Sample> = self.test.iter().take(count.max(1)).cloned().collect();
        let params = self.model.params.clone();
        let layer = self.model.at(&params);
        let tight = Stopping { tol: 1e-12, max_iterations: 1000 };
        let with = |backward: Backward| Solvers {
            forward: SolverKind::Anderson,
            forward_stop: tight,
            backward,
            backward_stop: tight,
            anderson: AndersonOptions::default(),
        };
        let ift = layer.gradient(&batch, &with(Backward::Ift));
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let rel = |g: &[f64]| {
            let diff: Vec<f64> = g.iter().zip(&ift.grad).map(|(a, b)| a - b).collect();
            norm(&diff) / norm(&ift.grad).max(1e-300)
        };
        let unrolled = layer.gradient(&batch, &with(Backward::Unrolled(10)));
        let jfb = layer.gradient(&batch, &with(Backward::Jfb));
        let neumann = layer.gradient(&batch, &with(Backward::Neumann(5)));
        let jfb_cos = jfb.grad.iter().zip(&ift.grad).map(|(a, b)| a * b).sum::<f64>()
            / (norm(&jfb.grad) * norm(&ift.grad)).max(1e-300);
        // Central differences on 16 parameters spread over the vector.
        let h = 1e-6;
        let picks: Vec<usize> = (0..16).map(|k| k * params.len() / 16).collect();
        let (mut fd, mut analytic) = (Vec::new(), Vec::new());
        for &k in &picks {
            let (mut up, mut down) = (params.clone(), params.clone());
            up[k] += h;
            down[k] -= h;
            let options = AndersonOptions::default();
            fd.push(
                (self.model.at(&up).loss(&batch, tight, options) - self.model.at(&down).loss(&batch, tight, options))
                    / (2.0 * h),
            );
            analytic.push(ift.grad[k]);
        }
        let diff: Vec<f64> = fd.iter().zip(&analytic).map(|(a, b)| a - b).collect();
        let spectral_radius = batch
            .iter()
            .map(|(x, _)| {
                let z = layer.equilibrium(x, SolverKind::Anderson, tight, AndersonOptions::default()).z;
                layer.jacobian_spectral_radius(x, &z)
            })
            .sum::<f64>()
            / batch.len() as f64;
        GradientReport {
            unrolled_k10_rel: rel(&unrolled.grad),
            jfb_cos,
            neumann_k5_rel: rel(&neumann.grad),
            ift_vs_fd_rel: norm(&diff) / norm(&fd).max(1e-300),
            spectral_radius,
            floats_held: [ift.floats_held, unrolled.floats_held, jfb.floats_held, neumann.floats_held],
        }
    }
}
