//! What a plan evaluates: the trained MLP, or a Gaussian mixture's exact score (the oracle
//! that makes every sampler testable against the truth).

use super::registry::ModelCaps;
use crate::core::data::GaussianMixture;
use crate::core::nn::batch::{feature_rows, BatchMlp, BatchWorkspace, BLOCK};
use crate::core::nn::parallel::{available_threads, for_each_mut};
use crate::core::nn::{Mlp, Workspace};
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::stats::log_normalise;
use crate::core::train::level_classifier::LevelClassifier;

/// What to tell a user whose model has no noise-level posterior.
pub const NO_LEVEL_POSTERIOR: &str = "dlg needs a noise-level posterior: use --model exact with a mixture target, \
     or train a classifier with `nde train-levels` and pass it as --level-model FILE.json";

/// What to tell a user whose plan asks a model without one for its diffusion.
pub const NO_DIFFUSION: &str =
    "this model has no diffusion: plans that add Brownian increments run a neural SDE's model (the neural SDE lab's)";

pub trait Model {
    /// What the raw output means.
    fn param(&self) -> Parameterisation;
    /// What the model offers a sampler beyond its output (the registry's `supports` reads it).
    fn caps(&self) -> ModelCaps {
        ModelCaps::network(self.param())
    }
    /// Called before a batch of evaluations at one time (lets the exact model cache p_t).
    fn prepare(&mut self, t: f64) {
        let _ = t;
    }
    /// The raw output at (x, t).
    fn eval(&mut self, x: [f32; 2], t: f64) -> [f32; 2];
    /// The raw outputs at many points at one time: the executor's hot path. The default
    /// calls `eval` for each; networks override it with the batched, threaded forward pass.
    fn eval_batch(&mut self, xs: &[[f32; 2]], t: f64, out: &mut [[f32; 2]]) {
        for (x, o) in xs.iter().zip(out.iter_mut()) {
            *o = self.eval(*x, t);
        }
    }
    /// The raw output and its Jacobian in x (`jacobian[o][j] = d out_o / d x_j`), for the
    /// exact divergence of the probability-flow ODE.
    fn eval_with_jacobian(&mut self, x: [f32; 2], t: f64) -> ([f32; 2], [[f32; 2]; 2]);
    /// The raw outputs at points with their own times (the stages of many adaptive solves).
    /// The default prepares and evaluates one point at a time; networks override it with the
    /// batched forward pass.
    fn eval_batch_at(&mut self, xs: &[[f32; 2]], ts: &[f64], out: &mut [[f32; 2]]) {
        for ((x, t), o) in xs.iter().zip(ts).zip(out.iter_mut()) {
            self.prepare(*t);
            *o = self.eval(*x, *t);
        }
    }
    /// Outputs and Jacobians in x at points with their own times (the likelihood's many
    /// solves). The default takes one point at a time; networks batch it.
    fn eval_with_jacobian_batch(
        &mut self,
        xs: &[[f32; 2]],
        ts: &[f64],
        out: &mut [[f32; 2]],
        jacobian: &mut [[[f32; 2]; 2]],
    ) {
        for (i, (x, t)) in xs.iter().zip(ts).enumerate() {
            (out[i], jacobian[i]) = self.eval_with_jacobian(*x, *t);
        }
    }
    /// log p_t(x) where the model knows it (the exact mixture); None for a network.
    fn log_density(&mut self, x: [f32; 2], t: f64) -> Option<f64> {
        let _ = (x, t);
        None
    }
    /// log p(k | x) over the noise levels `times` under a uniform prior on k (DLG's Gibbs
    /// step): exact for a mixture, a trained classifier's estimate for a network.
    fn level_log_posterior(&mut self, x: [f32; 2], times: &[f64], out: &mut Vec<f64>) -> Result<(), String> {
        let _ = (x, times, out);
        Err(NO_LEVEL_POSTERIOR.into())
    }
    /// The diagonal diffusion g(x) at many points (a neural SDE's, `Op::EvalDiffusion`).
    /// Diffusion models and vector fields have none.
    fn diffusion_batch(&mut self, xs: &[[f32; 2]], out: &mut [[f32; 2]]) -> Result<(), String> {
        let _ = (xs, out);
        Err(NO_DIFFUSION.into())
    }
    /// The SDE-GAN generator that `Op::GeneratorStart` and `Op::GeneratorStep` run, for the
    /// model that is one.
    fn generator(&self) -> Option<&crate::core::nsde::generator_model::GeneratorModel> {
        None
    }
    /// What the model is, as data another executor (the GPU's) can upload.
    fn data(&self) -> ModelData;
    /// The network and condition of a model whose raw output is exactly the MLP's batched
    /// forward pass ([`BatchMlp::forward`]) at (x, t, condition): the CPU executor then runs
    /// plans without per-particle control flow block by block on every core. None for the
    /// rest (the exact model caches p_t in `&mut self`).
    fn network(&self) -> Option<(&Mlp, [f32; 2])> {
        None
    }
}

/// A model as plain data: what the GPU executor uploads.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelData {
    /// The exact score of this mixture's marginals (towards the condition mu for MR).
    Mixture { mixture: GaussianMixture, condition: [f64; 2] },
    /// A trained network, its parameterisation, condition input and level classifier.
    Mlp { mlp: Mlp, param: Parameterisation, condition: [f32; 2], level_classifier: Option<LevelClassifier> },
    /// A learned vector field of the neural ODE lab (its output is the velocity itself).
    Field(crate::core::dynamics::field_model::FieldModel),
    /// A neural SDE with diagonal noise on the plane (the latent SDE's prior).
    DiagonalSde(crate::core::nsde::sde_model::DiagonalSdeModel),
    /// The SDE-GAN's generator (state in R^16, its own path ops).
    Generator(crate::core::nsde::generator_model::GeneratorModel),
    /// A model only the host evaluates (the guided scores of the controllable-generation lab):
    /// the GPU executor refuses it, naming `what`.
    HostOnly { what: String },
}

/// The exact score of a mixture's marginal under a process (a score-parameterised model).
pub struct ExactMixtureModel {
    mixture: GaussianMixture,
    process: Process,
    condition: [f64; 2],
    /// Marginals p_t by the bits of t: plans visit a few dozen times, DLG all its levels at once.
    cached: Vec<(u64, GaussianMixture)>,
}

/// More cached marginals than this and the cache starts over.
const MARGINAL_CACHE: usize = 256;

impl ExactMixtureModel {
    pub fn new(mixture: GaussianMixture, process: Process) -> Self {
        ExactMixtureModel { mixture, process, condition: [0.0; 2], cached: Vec::new() }
    }

    /// The same model for the mean-reverting process towards `mu`.
    pub fn with_condition(mut self, mu: [f64; 2]) -> Self {
        self.condition = mu;
        self.cached.clear();
        self
    }

    fn marginal(&mut self, t: f64) -> &GaussianMixture {
        let key = t.to_bits();
        let slot = match self.cached.iter().position(|(k, _)| *k == key) {
            Some(slot) => slot,
            None => {
                if self.cached.len() >= MARGINAL_CACHE {
                    self.cached.clear();
                }
                self.cached.push((key, self.mixture.marginal(&self.process, t, self.condition)));
                self.cached.len() - 1
            }
        };
        &self.cached[slot].1
    }
}

impl Model for ExactMixtureModel {
    fn param(&self) -> Parameterisation {
        Parameterisation::Score
    }
    fn caps(&self) -> ModelCaps {
        ModelCaps { param: Parameterisation::Score, log_density: true, level_posterior: true }
    }
    fn prepare(&mut self, t: f64) {
        self.marginal(t);
    }
    fn eval(&mut self, x: [f32; 2], t: f64) -> [f32; 2] {
        let s = self.marginal(t).score([f64::from(x[0]), f64::from(x[1])]);
        [s[0] as f32, s[1] as f32]
    }
    fn eval_with_jacobian(&mut self, x: [f32; 2], t: f64) -> ([f32; 2], [[f32; 2]; 2]) {
        let point = [f64::from(x[0]), f64::from(x[1])];
        let marginal = self.marginal(t);
        let (s, j) = (marginal.score(point), marginal.score_jacobian(point));
        ([s[0] as f32, s[1] as f32], j.map(|row| row.map(|v| v as f32)))
    }
    fn log_density(&mut self, x: [f32; 2], t: f64) -> Option<f64> {
        Some(self.marginal(t).log_density([f64::from(x[0]), f64::from(x[1])]))
    }
    fn data(&self) -> ModelData {
        ModelData::Mixture { mixture: self.mixture.clone(), condition: self.condition }
    }
    fn level_log_posterior(&mut self, x: [f32; 2], times: &[f64], out: &mut Vec<f64>) -> Result<(), String> {
        let point = [f64::from(x[0]), f64::from(x[1])];
        out.clear();
        for t in times {
            out.push(self.marginal(*t).log_density(point));
        }
        log_normalise(out);
        Ok(())
    }
}

/// Threads for a batch of `n`: the machine's cores natively (a few blocks each at least), one
/// in the browser (the page runs the executor on its main thread, a slice of particles per
/// frame).
fn worker_threads(n: usize) -> usize {
    available_threads().min(n / (4 * BLOCK)).max(1)
}

/// One block of rows of a batched evaluation at per-point times.
struct RowBlock<'a> {
    xs: &'a [[f32; 2]],
    ts: Vec<f32>,
    out: &'a mut [[f32; 2]],
    jacobian: Option<&'a mut [[[f32; 2]; 2]]>,
}

/// The points cut into blocks of BLOCK rows (each a job for a thread).
fn row_blocks<'a>(
    xs: &'a [[f32; 2]],
    ts: &[f64],
    out: &'a mut [[f32; 2]],
    jacobian: Option<&'a mut [[[f32; 2]; 2]]>,
) -> Vec<RowBlock<'a>> {
    let mut jacobian_chunks: Vec<Option<&'a mut [[[f32; 2]; 2]]>> = match jacobian {
        Some(j) => j.chunks_mut(BLOCK).map(Some).collect(),
        None => Vec::new(),
    };
    jacobian_chunks.resize_with(xs.len().div_ceil(BLOCK), || None);
    xs.chunks(BLOCK)
        .zip(ts.chunks(BLOCK))
        .zip(out.chunks_mut(BLOCK))
        .zip(jacobian_chunks)
        .map(|(((xs, ts), out), jacobian)| RowBlock { xs, ts: ts.iter().map(|t| *t as f32).collect(), out, jacobian })
        .collect()
}

/// A trained MLP with its parameterisation.
pub struct MlpModel {
    pub mlp: Mlp,
    pub param: Parameterisation,
    /// The condition input (mean-reverting models).
    pub condition: [f32; 2],
    /// The noise-level classifier DLG's Gibbs step uses, when one is loaded.
    pub level_classifier: Option<LevelClassifier>,
    ws: Workspace<f32>,
}

impl MlpModel {
    pub fn new(mlp: Mlp, param: Parameterisation) -> Self {
        MlpModel { mlp, param, condition: [0.0; 2], level_classifier: None, ws: Workspace::default() }
    }
}

impl Model for MlpModel {
    fn param(&self) -> Parameterisation {
        self.param
    }
    fn caps(&self) -> ModelCaps {
        ModelCaps { level_posterior: self.level_classifier.is_some(), ..ModelCaps::network(self.param) }
    }
    fn eval(&mut self, x: [f32; 2], t: f64) -> [f32; 2] {
        self.mlp.eval(x, t as f32, self.condition, &mut self.ws)
    }
    fn eval_batch(&mut self, xs: &[[f32; 2]], t: f64, out: &mut [[f32; 2]]) {
        if xs.len() < 16 {
            for (x, o) in xs.iter().zip(out.iter_mut()) {
                *o = self.mlp.eval(*x, t as f32, self.condition, &mut self.ws);
            }
            return;
        }
        // Transposing the weights costs one pass over them: small next to the batch, and it
        // means no cache can go stale when the weights change between calls.
        let batch = BatchMlp::new(&self.mlp);
        let (t, condition) = (t as f32, self.condition);
        let threads = worker_threads(xs.len());
        if threads <= 1 {
            batch.forward(xs, t, condition, out, &mut BatchWorkspace::default());
            return;
        }
        let per_thread = xs.len().div_ceil(threads);
        std::thread::scope(|scope| {
            for (xc, oc) in xs.chunks(per_thread).zip(out.chunks_mut(per_thread)) {
                let batch = &batch;
                scope.spawn(move || batch.forward(xc, t, condition, oc, &mut BatchWorkspace::default()));
            }
        });
    }
    fn eval_with_jacobian(&mut self, x: [f32; 2], t: f64) -> ([f32; 2], [[f32; 2]; 2]) {
        self.mlp.eval_with_jacobian(x, t as f32, self.condition)
    }
    fn network(&self) -> Option<(&Mlp, [f32; 2])> {
        Some((&self.mlp, self.condition))
    }
    fn eval_batch_at(&mut self, xs: &[[f32; 2]], ts: &[f64], out: &mut [[f32; 2]]) {
        let net = BatchMlp::new(&self.mlp);
        let condition = self.condition;
        let mut blocks = row_blocks(xs, ts, out, None);
        for_each_mut(&mut blocks, 4, |_, block| {
            let mut features = Vec::new();
            feature_rows(&net.config, block.xs, &block.ts, condition, &mut features);
            let mut ws = BatchWorkspace::default();
            let outputs = net.forward_block(block.xs.len(), &features, &mut ws);
            let n_out = net.config.outputs;
            for (r, o) in block.out.iter_mut().enumerate() {
                *o = [outputs[r * n_out], outputs[r * n_out + 1]];
            }
        });
    }
    fn eval_with_jacobian_batch(
        &mut self,
        xs: &[[f32; 2]],
        ts: &[f64],
        out: &mut [[f32; 2]],
        jacobian: &mut [[[f32; 2]; 2]],
    ) {
        let net = BatchMlp::new(&self.mlp);
        let condition = self.condition;
        let mut blocks = row_blocks(xs, ts, out, Some(jacobian));
        for_each_mut(&mut blocks, 4, |_, block| {
            let mut features = Vec::new();
            feature_rows(&net.config, block.xs, &block.ts, condition, &mut features);
            let jacobian = block.jacobian.as_deref_mut().expect("jacobian rows");
            net.jacobian_block(block.xs.len(), &features, block.out, jacobian, &mut BatchWorkspace::default());
        });
    }
    fn data(&self) -> ModelData {
        ModelData::Mlp {
            mlp: self.mlp.clone(),
            param: self.param,
            condition: self.condition,
            level_classifier: self.level_classifier.clone(),
        }
    }
    fn level_log_posterior(&mut self, x: [f32; 2], times: &[f64], out: &mut Vec<f64>) -> Result<(), String> {
        let classifier = self.level_classifier.as_ref().ok_or(NO_LEVEL_POSTERIOR)?;
        classifier.check_levels(times)?;
        classifier.log_posterior(x, &mut self.ws, out);
        Ok(())
    }
}
