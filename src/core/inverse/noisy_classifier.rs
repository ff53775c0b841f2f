//! The learned alternative to the exact classifier of class guidance (LABS.md, Lab G, G1):
//! a noise-conditional MLP from (x_t, t) to K logits, trained by cross-entropy on
//! x_t = α_t x₀ + σ_t z with x₀ drawn from component k, as score_sde's time-dependent
//! classifier. Guidance needs ∇ₓ log p̂_t(k | x), the input gradient of a log-softmax: one
//! reverse pass through the network with the cotangent e_k − softmax.
//!
//! Training reuses the score trainer's batched f32 backward pass (`RowLoss`) and its
//! counter-keyed draws, as the noise-level classifier of DLG does.

use std::collections::BTreeMap;

use crate::core::data::gmm::GaussianMixture;
use crate::core::data::Point;
use crate::core::nn::adam::Adam;
use crate::core::nn::backprop::{minibatch_gradient, MinibatchWorkspace, RowLoss};
use crate::core::nn::batch::BatchMlp;
use crate::core::nn::mlp::{forward_all, vjp, Mlp, MlpConfig, Workspace};
use crate::core::nn::weights;
use crate::core::process::Process;
use crate::core::rng::RngStream;
use crate::core::stats::log_sum_exp;
use crate::core::train::trainer::{MinibatchDraw, T_EPS_TRAIN};

/// The weights file's `meta.kind`.
pub const KIND: &str = "noisy-classifier";

/// A classifier of the mixture component behind a noisy point.
#[derive(Debug, Clone, PartialEq)]
pub struct NoisyClassifier {
    pub mlp: Mlp,
    pub process: Process,
}

/// Scratch for one evaluation and its reverse pass.
#[derive(Debug, Clone, Default)]
pub struct ClassifierWorkspace {
    forward: Workspace<f32>,
    features: Vec<f32>,
    grad_params: Vec<f32>,
    grad_input: Vec<f32>,
    cotangent: Vec<f32>,
}

impl NoisyClassifier {
    pub fn new(classes: usize, process: Process, seed: u64) -> Result<Self, String> {
        if classes < 2 {
            return Err("a classifier needs at least 2 classes".into());
        }
        let config = MlpConfig { width: 64, depth: 3, outputs: classes, condition_dim: 0, ..MlpConfig::default() };
        Ok(NoisyClassifier { mlp: Mlp::new(config, seed)?, process })
    }

    pub fn classes(&self) -> usize {
        self.mlp.config.outputs
    }

    fn logits<'w>(&self, x: [f64; 2], t: f64, ws: &'w mut ClassifierWorkspace) -> &'w [f32] {
        self.mlp.config.features([x[0] as f32, x[1] as f32], t as f32, [0.0; 2], &mut ws.features);
        forward_all(&self.mlp.config, &self.mlp.params, &ws.features, &mut ws.forward)
    }

    /// log p̂_t(k | x) for every k.
    pub fn log_posterior(&self, x: [f64; 2], t: f64, ws: &mut ClassifierWorkspace) -> Vec<f64> {
        let logits: Vec<f64> = self.logits(x, t, ws).iter().map(|v| f64::from(*v)).collect();
        let norm = log_sum_exp(logits.iter().copied());
        logits.iter().map(|l| l - norm).collect()
    }

    /// ∇ₓ log p̂_t(class | x): the reverse pass with cotangent e_class − softmax (x is the
    /// first two features).
    pub fn log_posterior_gradient(&self, x: [f64; 2], t: f64, class: usize, ws: &mut ClassifierWorkspace) -> [f64; 2] {
        let logits: Vec<f64> = self.logits(x, t, ws).iter().map(|v| f64::from(*v)).collect();
        let norm = log_sum_exp(logits.iter().copied());
        ws.cotangent.clear();
        ws.cotangent.extend(
            logits.iter().enumerate().map(|(k, l)| (f64::from(u8::from(k == class)) - (l - norm).exp()) as f32),
        );
        ws.grad_params.clear();
        ws.grad_params.resize(self.mlp.params.len(), 0.0);
        let mut grad_input = std::mem::take(&mut ws.grad_input);
        vjp(&self.mlp.config, &self.mlp.params, &ws.forward, &ws.cotangent, &mut ws.grad_params, &mut grad_input);
        let g = [f64::from(grad_input[0]), f64::from(grad_input[1])];
        ws.grad_input = grad_input;
        g
    }

    pub fn save(&self, extra: &BTreeMap<String, String>) -> String {
        let mut meta = extra.clone();
        meta.insert("kind".into(), KIND.into());
        meta.insert("process".into(), self.process.name().into());
        weights::save(&self.mlp, &meta)
    }

    pub fn load(text: &str) -> Result<Self, String> {
        let (mlp, meta) = weights::load(text)?;
        if meta.get("kind").map(String::as_str) != Some(KIND) {
            return Err("this weights file is not a noise-conditional class classifier".into());
        }
        let process = match meta.get("process").map(String::as_str) {
            Some("vp") => Process::vp(),
            other => return Err(format!("the classifier was trained for process {other:?}; the lab guides VP")),
        };
        Ok(NoisyClassifier { mlp, process })
    }
}

/// `n` labelled draws of a mixture: component k for every k in turn (so classes are balanced
/// whatever the weights; gmm8's are equal), then a point of it.
pub fn labelled_draws(mixture: &GaussianMixture, n: usize, seed: u64) -> (Vec<Point>, Vec<usize>) {
    let spec = mixture.to_spec();
    let mut rng = RngStream::new(seed, 0x6c61_6265); // "labe"
    let (mut points, mut labels) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let k = i % spec.weights.len();
        let c = spec.covs[k];
        // Cholesky of the 2x2 covariance.
        let l11 = c[0][0].sqrt();
        let l21 = c[1][0] / l11;
        let l22 = (c[1][1] - l21 * l21).max(0.0).sqrt();
        let (z1, z2) = (rng.normal(), rng.normal());
        points.push([spec.means[k][0] + l11 * z1, spec.means[k][1] + l21 * z1 + l22 * z2]);
        labels.push(k);
    }
    (points, labels)
}

/// Cross-entropy training with Adam on (x_t, t, k), t uniform on [T_EPS_TRAIN, 1].
pub struct ClassifierTrainer {
    pub classifier: NoisyClassifier,
    adam: Adam,
    data: Vec<Point>,
    labels: Vec<usize>,
    batch: usize,
    seed: u64,
    batch_ws: MinibatchWorkspace,
}

#[derive(Debug, Clone, Copy)]
struct ClassSample {
    x: Point,
    t: f64,
    class: usize,
}

struct ClassBatch<'a> {
    trainer: &'a ClassifierTrainer,
    step: u64,
}

impl RowLoss for ClassBatch<'_> {
    type Row = ClassSample;

    fn draw(&self, row: usize) -> ClassSample {
        self.trainer.drawn(self.step, row)
    }

    fn features(&self, row: &ClassSample, input: &mut [f32]) {
        self.trainer.classifier.mlp.config.features_into(row.x, row.t, [0.0; 2], input);
    }

    fn loss(&self, row: &ClassSample, out: &[f32], d_out: &mut [f32]) -> f64 {
        let log_norm = log_sum_exp(out.iter().map(|v| f64::from(*v)));
        for (d, v) in d_out.iter_mut().zip(out) {
            *d = (f64::from(*v) - log_norm).exp() as f32;
        }
        d_out[row.class] -= 1.0;
        log_norm - f64::from(out[row.class])
    }
}

impl ClassifierTrainer {
    pub fn new(
        classifier: NoisyClassifier,
        data: Vec<Point>,
        labels: Vec<usize>,
        batch: usize,
        learning_rate: f64,
        seed: u64,
    ) -> Result<Self, String> {
        if data.is_empty() || data.len() != labels.len() || batch == 0 {
            return Err("classifier training needs labelled data and a batch of at least 1".into());
        }
        if labels.iter().any(|k| *k >= classifier.classes()) {
            return Err(format!("a label is not one of the classifier's {} classes", classifier.classes()));
        }
        let adam = Adam::new(classifier.mlp.params.len(), learning_rate);
        Ok(ClassifierTrainer { classifier, adam, data, labels, batch, seed, batch_ws: MinibatchWorkspace::default() })
    }

    fn drawn(&self, step: u64, sample: usize) -> ClassSample {
        let draw = MinibatchDraw::of(self.seed, step, sample as u64, self.data.len());
        let t = T_EPS_TRAIN + (1.0 - T_EPS_TRAIN) * draw.uniform_t;
        let process = &self.classifier.process;
        let (alpha, sigma) = (process.alpha(t), process.sigma(t));
        let x0 = self.data[draw.index];
        ClassSample {
            x: [alpha * x0[0] + sigma * draw.noise[0], alpha * x0[1] + sigma * draw.noise[1]],
            t,
            class: self.labels[draw.index],
        }
    }

    /// One step; the mean cross-entropy in nats. A non-finite loss or gradient is refused and
    /// leaves the weights as they were.
    pub fn step(&mut self) -> Result<f64, String> {
        let step = self.adam.steps() + 1;
        let net = BatchMlp::new(&self.classifier.mlp);
        let mut batch_ws = std::mem::take(&mut self.batch_ws);
        let result = minibatch_gradient(&net, self.batch, &ClassBatch { trainer: self, step }, &mut batch_ws);
        self.batch_ws = batch_ws;
        if !result.mean_loss.is_finite() || result.gradient.iter().any(|g| !g.is_finite()) {
            return Err(format!("classifier training diverged at step {step}: lower the learning rate"));
        }
        self.adam.step(&mut self.classifier.mlp.params, &result.gradient);
        Ok(result.mean_loss)
    }
}

/// The recipe of the shipped classifier (www/class-gmm8.json: `steps` = 20 000): minibatches
/// of 256 from 20 000 labelled gmm8 points, learning rate 2e-3.
pub fn train_gmm8_classifier(steps: usize, seed: u64) -> Result<NoisyClassifier, String> {
    let mixture = GaussianMixture::eight_gaussians();
    let (data, labels) = labelled_draws(&mixture, 20_000, seed);
    let classifier = NoisyClassifier::new(mixture.len(), Process::vp(), seed)?;
    let mut trainer = ClassifierTrainer::new(classifier, data, labels, 256, 2e-3, seed)?;
    for _ in 0..steps {
        trainer.step()?;
    }
    Ok(trainer.classifier)
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// The input gradient of log p̂_t(k | x) against central differences of log_posterior.
    #[test]
    fn the_log_posterior_gradient_matches_finite_differences() {
        let classifier = NoisyClassifier::new(8, Process::vp(), 3).unwrap();
        let mut ws = ClassifierWorkspace::default();
        for (x, t, k) in [([0.3, -0.7], 0.2, 2), ([1.5, 1.1], 0.7, 5)] {
            let g = classifier.log_posterior_gradient(x, t, k, &mut ws);
            let h = 1e-2;
            for j in 0..2 {
                let (mut hi, mut lo) = (x, x);
                hi[j] += h;
                lo[j] -= h;
                let fd = (classifier.log_posterior(hi, t, &mut ws)[k] - classifier.log_posterior(lo, t, &mut ws)[k])
                    / (2.0 * h);
                assert!((g[j] - fd).abs() < 2e-3 * (1.0 + fd.abs()), "{x:?} {j}: {} against {fd}", g[j]);
            }
        }
    }

    /// A short training run classifies clean points almost perfectly and noise at t = 1 near
    /// chance; the file round-trips.
    #[test]
    fn a_trained_classifier_knows_the_component_of_a_clean_point() {
        let classifier = train_gmm8_classifier(400, 0).unwrap();
        let mixture = GaussianMixture::eight_gaussians();
        let (points, labels) = labelled_draws(&mixture, 400, 9);
        let mut ws = ClassifierWorkspace::default();
        let right = points
            .iter()
            .zip(&labels)
            .filter(|(x, k)| {
                let lp = classifier.log_posterior(**x, 0.01, &mut ws);
                (0..8).all(|j| lp[j] <= lp[**k])
            })
            .count();
        assert!(right as f64 / points.len() as f64 > 0.95, "{right} of {}", points.len());
        let noise = classifier.log_posterior([0.1, -0.2], 1.0, &mut ws);
        assert!(noise.iter().all(|l| l.exp() < 0.4), "{noise:?}");
        let back = NoisyClassifier::load(&classifier.save(&BTreeMap::new())).unwrap();
        assert_eq!(back, classifier);
        assert!(NoisyClassifier::load("{}").is_err());
    }
}
