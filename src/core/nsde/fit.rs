//! Training the latent SDE and measuring what it learned. A step draws a minibatch of
//! training paths from its own counter, one posterior sample per path (z0's noise and a
//! virtual Brownian tree keyed by (seed, step, slot)), sums the per-path gradients in slot
//! order (on the machine's threads, or a slice of paths per frame in the page: the same
//! weights either way) and takes an Adam step with the learning rate decayed per step and the
//! KL weight annealed linearly from 0 (LABS.md: lr 1e-2, decay 0.997, anneal over 300 steps on
//! the page). The evaluation compares the model's marginals at five times with a held-out data
//! set and with the closed forms, and the quadratic-variation rates of model and data.

use super::data::{generate, NsdeDataId, PathSet};
use super::latent::{brownian_increments, ElboTerms, Grid, LatentConfig, LatentSde};
use super::solve::{Memory, SdeMethod};
use crate::core::metrics_1d::{ks_two_sample, moments, quadratic_variation, wasserstein1};
use crate::core::nn::adam::AdamF64;
use crate::core::nn::parallel::for_each_mut;
use crate::core::rng::RngStream;

/// The fractions of the horizon where marginals are compared (torchsde's sde_gan.py plots).
pub const MARGINAL_FRACTIONS: [f64; 5] = [0.1, 0.3, 0.5, 0.7, 0.9];

#[derive(Debug, Clone, PartialEq)]
pub struct NsdeFitConfig {
    pub data: NsdeDataId,
    /// Fraction of values dropped (each never the first).
    pub drop: f64,
    pub method: SdeMethod,
    /// The largest solver step.
    pub dt: f64,
    pub latent: LatentConfig,
    pub train_paths: usize,
    pub batch: usize,
    pub learning_rate: f64,
    /// The learning rate is multiplied by this after every step.
    pub lr_decay: f64,
    pub steps: usize,
    /// Steps over which the KL weight rises linearly from 0 to `kl_weight` (0: no annealing).
    pub kl_anneal: usize,
    /// The KL weight at the end of annealing (1 is the ELBO; more pushes the posterior towards
    /// the prior and, per torchsde#113, the diffusion up).
    pub kl_weight: f64,
    pub seed: u64,
}

impl NsdeFitConfig {
    /// LABS.md's page settings, which the CLI also defaults to: batch 128, 1500 steps, KL
    /// annealed over 300, reversible Heun at dt 0.02; two departures, both measured in
    /// docs/RESULTS.md: the learning rate decays by 0.999 a step, not LABS.md's 0.997, which
    /// stops learning by step 1000 here (mean W1 0.163 against 0.128), and the KL weight ends
    /// at 0.5, not the ELBO's 1 (mean W1 0.046 and 0.044 on two seeds against 0.128).
    pub fn cli_default() -> Self {
        NsdeFitConfig {
            data: NsdeDataId::Ou,
            drop: 0.0,
            method: SdeMethod::ReversibleHeun,
            dt: 0.02,
            latent: LatentConfig::default(),
            train_paths: 8192,
            batch: 128,
            learning_rate: 1e-2,
            lr_decay: 0.999,
            steps: 1500,
            kl_anneal: 300,
            kl_weight: 0.5,
            seed: 0,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let checks: [(bool, String); 8] = [
            ((0.0..=0.9).contains(&self.drop), format!("--drop must be in [0, 0.9], got {}", self.drop)),
            (self.dt.is_finite() && self.dt >= 1e-3, format!("--dt must be at least 0.001, got {}", self.dt)),
            (
                (16..=65_536).contains(&self.train_paths),
                format!("--paths must be 16 to 65536, got {}", self.train_paths),
            ),
            ((1..=4096).contains(&self.batch), format!("--batch must be 1 to 4096, got {}", self.batch)),
            (
                self.learning_rate.is_finite() && self.learning_rate > 0.0 && self.learning_rate <= 1.0,
                format!("--lr must be in (0, 1], got {}", self.learning_rate),
            ),
            (
                self.lr_decay.is_finite() && self.lr_decay > 0.0 && self.lr_decay <= 1.0,
                format!("the learning-rate decay must be in (0, 1], got {}", self.lr_decay),
            ),
            ((1..=1_000_000).contains(&self.steps), format!("--steps must be 1 to 1000000, got {}", self.steps)),
            (
                self.kl_weight.is_finite() && (0.0..=100.0).contains(&self.kl_weight),
                format!("--kl-weight must be in [0, 100], got {}", self.kl_weight),
            ),
        ];
        for (ok, message) in checks {
            if !ok {
                return Err(message);
            }
        }
        let span = self.data.times().last().copied().unwrap_or(1.0);
        if span / self.dt > 20_000.0 {
            return Err(format!("--dt {} makes more than 20000 steps over [0, {span}]: take a larger dt", self.dt));
        }
        if !(self.latent.obs_noise.is_finite() && (1e-3..=10.0).contains(&self.latent.obs_noise)) {
            return Err(format!("--obs-noise must be in [0.001, 10], got {}", self.latent.obs_noise));
        }
        LatentSde::new(self.latent).map(|_| ())
    }

    /// The memory the solver's backward pass uses: reversible Heun rebuilds its states.
    pub fn memory(&self) -> Memory {
        match self.method {
            SdeMethod::ReversibleHeun => Memory::Reversible,
            SdeMethod::EulerMaruyama => Memory::Stored,
        }
    }

    /// The KL weight at a step.
    pub fn beta(&self, step: usize) -> f64 {
        if self.kl_anneal == 0 {
            return self.kl_weight;
        }
        self.kl_weight * ((step + 1) as f64 / self.kl_anneal as f64).min(1.0)
    }
}

/// One step's mean ELBO terms and the weight the KL had.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRecord {
    pub step: usize,
    pub terms: ElboTerms,
    pub beta: f64,
    pub loss: f64,
}

/// A minibatch summed part of the way (the page's frame-sliced step).
#[derive(Debug, Clone, PartialEq)]
struct PendingStep {
    slots: Vec<usize>,
    next: usize,
    terms: ElboTerms,
    gradient: Vec<f64>,
}

#[derive(Debug, Clone)]
pub struct LatentFit {
    pub config: NsdeFitConfig,
    pub train: PathSet,
    grid: Grid,
    pub model: LatentSde,
    adam: AdamF64,
    steps: usize,
    pub history: Vec<StepRecord>,
    pending: Option<PendingStep>,
}

/// Marginal statistics at one time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Marginal {
    pub t: f64,
    pub index: usize,
    pub w1: f64,
    pub ks: f64,
    pub mean_err: f64,
    pub var_err: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NsdeEvaluation {
    pub marginals: Vec<Marginal>,
    pub mean_w1: f64,
    /// Mean over paths of sum (dx)^2 / T on the observation grid.
    pub qv_rate_model: f64,
    pub qv_rate_data: f64,
    /// The closed form's time average of d[X]/dt.
    pub qv_rate_exact: f64,
    /// The model's paths and the held-out data (no values dropped), at the observation times.
    pub model_paths: Vec<Vec<f64>>,
    pub data_paths: Vec<Vec<f64>>,
}

/// The index of the observation time nearest a fraction of the horizon.
pub fn marginal_indices(times: &[f64]) -> Vec<usize> {
    MARGINAL_FRACTIONS.iter().map(|f| (f * (times.len() - 1) as f64).round() as usize).collect()
}

impl LatentFit {
    pub fn new(config: NsdeFitConfig) -> Result<Self, String> {
        config.validate()?;
        let train = generate(config.data, config.train_paths, config.drop, config.seed);
        let grid = Grid::new(&train.times, config.dt)?;
        let model = LatentSde::new(config.latent)?.initialised(config.seed);
        let adam = AdamF64::new(model.param_count(), config.learning_rate);
        Ok(LatentFit { config, train, grid, model, adam, steps: 0, history: Vec::new(), pending: None })
    }

    pub fn steps_done(&self) -> usize {
        self.steps
    }

    pub fn done(&self) -> bool {
        self.steps >= self.config.steps
    }

    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// The training path of a slot of a step, drawn from the step's own counter.
    fn path_of(&self, step: usize, slot: usize) -> usize {
        let mut rng = RngStream::new(self.config.seed ^ 0x6e73_6465, (step as u64) << 16 | slot as u64);
        rng.below(self.train.paths.len())
    }

    /// One slot's ELBO terms and gradient.
    fn slot_gradient(&self, step: usize, slot: usize, beta: f64) -> Result<(ElboTerms, Vec<f64>), String> {
        let path = self.path_of(step, slot);
        let d = self.config.latent.latent;
        let key = self.config.seed ^ (step as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d);
        let mut rng = RngStream::new(key, slot as u64);
        let eps: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        let increments = brownian_increments(&self.grid.times, d, key, slot as u64);
        let mut grad = vec![0.0; self.model.param_count()];
        let terms = self.model.path_gradient(
            &self.train.times,
            &self.train.paths[path],
            &self.grid,
            &increments,
            &eps,
            beta,
            self.config.method,
            self.config.memory(),
            &mut grad,
        )?;
        Ok((terms, grad))
    }

    /// One Adam step on a minibatch, the paths on the machine's threads. Err (weights
    /// unchanged) when the loss or the gradient is not finite.
    pub fn step(&mut self) -> Result<StepRecord, String> {
        let beta = self.config.beta(self.steps);
        let mut parts: Vec<Option<Result<(ElboTerms, Vec<f64>), String>>> = vec![None; self.config.batch];
        let step = self.steps;
        let this = &*self;
        for_each_mut(&mut parts, 1, |slot, part| *part = Some(this.slot_gradient(step, slot, beta)));
        let mut terms = ElboTerms::default();
        let mut gradient = vec![0.0; self.model.param_count()];
        for part in parts.into_iter().flatten() {
            let (t, g) = part?;
            terms.add(&t);
            gradient.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
        }
        self.apply(terms, gradient, beta)
    }

    /// Like `step`, one path at a time until `out_of_time` says stop: Some(record) when a step
    /// completed, None when the minibatch is not summed yet.
    pub fn advance(&mut self, out_of_time: &mut dyn FnMut() -> bool) -> Result<Option<StepRecord>, String> {
        let beta = self.config.beta(self.steps);
        let mut pending = self.pending.take().unwrap_or_else(|| PendingStep {
            slots: (0..self.config.batch).collect(),
            next: 0,
            terms: ElboTerms::default(),
            gradient: vec![0.0; self.model.param_count()],
        });
        while pending.next < pending.slots.len() {
            let (t, g) = self.slot_gradient(self.steps, pending.slots[pending.next], beta)?;
            pending.terms.add(&t);
            pending.gradient.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
            pending.next += 1;
            if pending.next < pending.slots.len() && out_of_time() {
                self.pending = Some(pending);
                return Ok(None);
            }
        }
        self.apply(pending.terms, pending.gradient, beta).map(Some)
    }

    /// Paths of the current minibatch summed so far (the page's progress).
    pub fn pending_paths(&self) -> usize {
        self.pending.as_ref().map_or(0, |p| p.next)
    }

    fn apply(&mut self, terms: ElboTerms, mut gradient: Vec<f64>, beta: f64) -> Result<StepRecord, String> {
        let n = self.config.batch as f64;
        let terms = terms.scaled(1.0 / n);
        gradient.iter_mut().for_each(|g| *g /= n);
        let loss = terms.nll + beta * (terms.kl0 + terms.kl_path);
        if !loss.is_finite() || gradient.iter().any(|g| !g.is_finite()) {
            return Err(format!("step {}: the loss or gradient is not finite; lower --lr or --dt", self.steps));
        }
        self.adam.learning_rate = self.config.learning_rate * self.config.lr_decay.powi(self.steps as i32);
        self.adam.step(&mut self.model.params, &gradient);
        let record = StepRecord { step: self.steps, terms, beta, loss };
        self.history.push(record);
        self.steps += 1;
        Ok(record)
    }

    /// The seed of the evaluation's draws (model paths and held-out data).
    fn eval_seed(&self) -> u64 {
        self.config.seed ^ 0x6576_616c // "eval"
    }

    /// The latent states of model path p at the observation times (its own prior draw and
    /// Brownian tree, so that a path is the same whichever slice computes it).
    pub fn model_latent_path(&self, p: usize) -> Result<Vec<Vec<f64>>, String> {
        self.model.sample_latent(&self.train.times, self.config.dt, self.config.method, 0, self.path_seed(p))
    }

    /// Model path p's seed: each path its own Brownian tree.
    fn path_seed(&self, p: usize) -> u64 {
        self.eval_seed() ^ (p as u64).wrapping_mul(0x9e37_79b9)
    }

    /// What drives model path p on `grid` (the solve's grid at the observation times): its
    /// z0 and Brownian increments, as [`model_latent_path`](Self::model_latent_path) draws them.
    pub fn model_path_draws(&self, grid: &Grid, p: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
        self.model.prior_draws(grid, 0, self.path_seed(p))
    }

    /// Model path p of the evaluation, decoded at the observation times.
    pub fn model_path(&self, p: usize) -> Result<Vec<f64>, String> {
        Ok(self.model_latent_path(p)?.iter().map(|z| self.model.decode(z)).collect())
    }

    /// `count` held-out data paths, none dropped.
    pub fn held_out(&self, count: usize) -> Vec<Vec<f64>> {
        generate(self.config.data, count, 0.0, self.eval_seed()).paths
    }

    /// The model's paths against `count` held-out data paths (none dropped) and the closed
    /// forms.
    pub fn evaluate(&self, count: usize) -> Result<NsdeEvaluation, String> {
        let mut model_paths: Vec<Result<Vec<f64>, String>> = vec![Ok(Vec::new()); count];
        for_each_mut(&mut model_paths, 16, |p, out| *out = self.model_path(p));
        let model_paths = model_paths.into_iter().collect::<Result<Vec<_>, _>>()?;
        evaluation_of(self.config.data, &self.train.times, model_paths, self.held_out(count))
    }
}

/// Marginals and quadratic variation of model paths against data paths on `times`.
pub fn evaluation_of(
    data: NsdeDataId,
    times: &[f64],
    model_paths: Vec<Vec<f64>>,
    data_paths: Vec<Vec<f64>>,
) -> Result<NsdeEvaluation, String> {
    if model_paths.iter().flatten().any(|v| !v.is_finite()) {
        return Err("the model's paths hold a value that is not finite: the fit diverged".into());
    }
    let mut marginals = Vec::new();
    for index in marginal_indices(times) {
        let m: Vec<f64> = model_paths.iter().map(|p| p[index]).collect();
        let x: Vec<f64> = data_paths.iter().map(|p| p[index]).collect();
        let mm = moments(&m);
        let t = times[index];
        marginals.push(Marginal {
            t,
            index,
            w1: wasserstein1(&m, &x)?,
            ks: ks_two_sample(&m, &x)?,
            mean_err: mm.mean - data.mean(t),
            var_err: mm.variance - data.variance(t),
        });
    }
    let span = times.last().copied().unwrap_or(1.0) - times[0];
    let qv =
        |paths: &[Vec<f64>]| paths.iter().map(|p| quadratic_variation(p)).sum::<f64>() / (paths.len() as f64 * span);
    let samples = 1000;
    let qv_rate_exact =
        (0..samples).map(|k| data.qv_rate(times[0] + span * (k as f64 + 0.5) / samples as f64)).sum::<f64>()
            / samples as f64;
    Ok(NsdeEvaluation {
        mean_w1: marginals.iter().map(|m| m.w1).sum::<f64>() / marginals.len() as f64,
        marginals,
        qv_rate_model: qv(&model_paths),
        qv_rate_data: qv(&data_paths),
        qv_rate_exact,
        model_paths,
        data_paths,
    })
}

/// A latent SDE's weights file: the settings that shape the model and the training it had,
/// so that a file is refused with a message when it does not fit.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NsdeWeights {
    pub lab: String,
    pub model: String,
    pub data: String,
    pub latent: usize,
    pub hidden: usize,
    pub context: usize,
    pub width: usize,
    pub depth: usize,
    /// Steps trained (the learning-rate decay and the KL annealing go on from here).
    pub steps: usize,
    pub params: Vec<f64>,
}

impl NsdeWeights {
    pub fn of(fit: &LatentFit) -> Self {
        let c = fit.config.latent;
        NsdeWeights {
            lab: "nsde".into(),
            model: "latent".into(),
            data: fit.config.data.name().into(),
            latent: c.latent,
            hidden: c.hidden,
            context: c.context,
            width: c.width,
            depth: c.depth,
            steps: fit.steps,
            params: fit.model.params.clone(),
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let w: NsdeWeights = serde_json::from_str(text).map_err(|e| format!("not a neural SDE weights file: {e}"))?;
        if w.lab != "nsde" {
            return Err(format!("these weights are for the '{}' lab, not nsde", w.lab));
        }
        if w.params.iter().any(|p| !p.is_finite()) {
            return Err("the weights hold a value that is not finite".into());
        }
        Ok(w)
    }

    /// Loads the weights into a fit of the same data and sizes; the fit goes on from their
    /// step count.
    pub fn apply(&self, fit: &mut LatentFit) -> Result<(), String> {
        let c = fit.config.latent;
        let mine = (fit.config.data.name(), c.latent, c.hidden, c.context, c.width, c.depth);
        let theirs = (self.data.as_str(), self.latent, self.hidden, self.context, self.width, self.depth);
        if mine != theirs {
            return Err(format!(
                "the weights are for {} with (latent, hidden, context, width, depth) = {:?}, not {} with {:?}",
                theirs.0,
                (theirs.1, theirs.2, theirs.3, theirs.4, theirs.5),
                mine.0,
                (mine.1, mine.2, mine.3, mine.4, mine.5)
            ));
        }
        if self.params.len() != fit.model.param_count() {
            return Err(format!(
                "the weights hold {} parameters where the model has {}",
                self.params.len(),
                fit.model.param_count()
            ));
        }
        fit.model.params = self.params.clone();
        fit.steps = self.steps;
        fit.adam = AdamF64::new(fit.model.param_count(), fit.config.learning_rate);
        fit.pending = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn tiny() -> NsdeFitConfig {
        NsdeFitConfig {
            latent: LatentConfig { hidden: 4, context: 3, width: 8, depth: 1, ..LatentConfig::default() },
            train_paths: 64,
            batch: 4,
            steps: 3,
            dt: 0.1,
            ..NsdeFitConfig::cli_default()
        }
    }

    /// Summing a minibatch one path at a time (the page) gives the same weights as the
    /// threaded step (the CLI), and training moves the loss.
    #[test]
    fn sliced_and_threaded_steps_agree() {
        let mut a = LatentFit::new(tiny()).unwrap();
        let mut b = LatentFit::new(tiny()).unwrap();
        for _ in 0..3 {
            a.step().unwrap();
            let mut calls = 0;
            loop {
                let mut stop = || {
                    calls += 1;
                    calls % 2 == 0
                };
                if b.advance(&mut stop).unwrap().is_some() {
                    break;
                }
            }
        }
        assert_eq!(a.model.params, b.model.params);
        assert_eq!(a.history, b.history);
        assert!(a.history[0].beta < a.history[2].beta);
    }

    #[test]
    fn evaluation_of_the_data_against_itself_is_near_zero() {
        let data = NsdeDataId::Ou;
        let set = generate(data, 2000, 0.0, 1);
        let other = generate(data, 2000, 0.0, 2);
        let e = evaluation_of(data, &set.times, set.paths.clone(), other.paths).unwrap();
        assert!(e.mean_w1 < 0.05, "W1 {}", e.mean_w1);
        // The QV rate on a 40-point grid: sigma^2 plus the drift's and the mean reversion's
        // share, close to 0.25 but not equal.
        assert!((e.qv_rate_data - 0.25).abs() < 0.05, "qv {}", e.qv_rate_data);
        assert_eq!(e.qv_rate_exact, 0.25);
        let bad = vec![vec![f64::NAN; set.times.len()]];
        assert!(evaluation_of(data, &set.times, bad, set.paths).unwrap_err().contains("diverged"));
    }

    #[test]
    fn weights_round_trip_and_mismatches_are_refused() {
        let mut a = LatentFit::new(tiny()).unwrap();
        a.step().unwrap();
        let text = serde_json::to_string(&NsdeWeights::of(&a)).unwrap();
        let mut b = LatentFit::new(tiny()).unwrap();
        NsdeWeights::parse(&text).unwrap().apply(&mut b).unwrap();
        assert_eq!((b.model.params.clone(), b.steps_done()), (a.model.params.clone(), 1));
        let mut other = LatentFit::new(NsdeFitConfig { data: NsdeDataId::Gbm, ..tiny() }).unwrap();
        assert!(NsdeWeights::parse(&text).unwrap().apply(&mut other).unwrap_err().contains("for ou"));
        assert!(NsdeWeights::parse("{}").unwrap_err().contains("not a neural SDE weights file"));
        assert!(NsdeWeights::parse(&text.replace("\"nsde\"", "\"node\"")).unwrap_err().contains("node"));
    }

    #[test]
    fn bad_settings_are_refused_with_the_flag_to_change() {
        for (config, flag) in [
            (NsdeFitConfig { drop: 0.95, ..tiny() }, "--drop"),
            (NsdeFitConfig { dt: 0.0, ..tiny() }, "--dt"),
            (NsdeFitConfig { dt: f64::NAN, ..tiny() }, "--dt"),
            (NsdeFitConfig { batch: 0, ..tiny() }, "--batch"),
            (NsdeFitConfig { learning_rate: f64::INFINITY, ..tiny() }, "--lr"),
            (NsdeFitConfig { kl_weight: -1.0, ..tiny() }, "--kl-weight"),
        ] {
            assert!(LatentFit::new(config).unwrap_err().contains(flag), "{flag}");
        }
    }
}
