//! The training driver: it owns the loop around the trainer for the page, the CLI and the
//! tests. It steps (in slices of a clock budget, or one at a time), records the loss history
//! the charts draw, applies a schedule of learning-rate and batch changes at the steps they
//! were made, and keeps the safety net: a step that diverges (a NaN, or a loss far above its
//! running average) rolls the weights back to the last good checkpoint and says why.
//!
//! With the trainer's counter-keyed draws, the steps and the schedule are all a replay needs:
//! a session built with the same settings and `with_schedule(changes())` reaches the same
//! weights bit for bit, whatever divergences and rollbacks the original went through.

use crate::core::nn::adam::{Adam, Ema};
use crate::core::param::Parameterisation;
use crate::core::train::{TrainError, Trainer};

/// Why the driver stopped: the step that diverged and where the weights went back to. Its
/// text names no control; the page adds "training paused", the CLI its flag advice.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    /// What happened, ending with what to lower.
    pub reason: String,
    /// The step whose weights are back.
    pub rolled_back_to: u64,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}. Rolled back to the weights of step {}", self.reason, self.rolled_back_to)
    }
}

/// A change of learning rate or batch that takes effect after `step` steps (before step
/// `step + 1`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateChange {
    pub step: u64,
    pub learning_rate: f64,
    pub batch: usize,
}

/// A loss this many times its running average is an explosion, not noise.
pub const EXPLOSION_FACTOR: f64 = 20.0;
/// Steps before the explosion rule applies (the average needs a few samples).
const WARM_UP_STEPS: usize = 20;
/// A checkpoint is taken every this many good steps.
const CHECKPOINT_EVERY: u64 = 25;
/// After the learning rate or the batch changes, no checkpoint is taken for this many steps:
/// a rate that diverges slowly can keep its loss "calm" past a checkpoint while it damages the
/// weights, and rolling back to such weights left the page sampling NaN (seen in the e2e run
/// after a forced divergence at a learning rate of 10).
const PROBATION_STEPS: u64 = 100;
/// The loss-by-time chart's bins over [0, t_max].
pub const TIME_BINS: usize = 10;
/// Points the loss chart keeps; beyond it neighbours merge, so memory stays flat however
/// long training runs.
pub const HISTORY_POINTS: usize = 1000;

/// The loss curve at a resolution that halves as it fills.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LossHistory {
    /// (step, mean loss over the points merged into it, EMA at that step).
    pub points: Vec<(u64, f64, f64)>,
    /// Steps per point.
    stride: u64,
    pending: (u64, f64, u64),
    /// The running (exponential) average of the loss, as the chart's EMA line.
    pub ema: Option<f64>,
    /// EMA of the loss in each time bin.
    pub by_time: [Option<f64>; TIME_BINS],
    recorded: usize,
}

impl LossHistory {
    fn new() -> Self {
        LossHistory { stride: 1, ..Default::default() }
    }

    fn record(&mut self, step: u64, loss: f64, samples: &[(f64, f64)], t_max: f64) {
        let ema = match self.ema {
            Some(e) => 0.95 * e + 0.05 * loss,
            None => loss,
        };
        self.ema = Some(ema);
        self.recorded += 1;
        for (t, l) in samples {
            let bin = ((t / t_max * TIME_BINS as f64) as usize).min(TIME_BINS - 1);
            self.by_time[bin] = Some(match self.by_time[bin] {
                Some(e) => 0.98 * e + 0.02 * l,
                None => *l,
            });
        }
        let (_, sum, count) = self.pending;
        self.pending = (step, sum + loss, count + 1);
        if self.pending.2 >= self.stride {
            let (step, sum, count) = self.pending;
            self.points.push((step, sum / count as f64, ema));
            self.pending = (0, 0.0, 0);
        }
        if self.points.len() >= HISTORY_POINTS {
            let merged = self
                .points
                .chunks(2)
                .map(|c| {
                    let last = c[c.len() - 1];
                    (last.0, c.iter().map(|p| p.1).sum::<f64>() / c.len() as f64, last.2)
                })
                .collect();
            self.points = merged;
            self.stride *= 2;
        }
    }

    pub fn last_loss(&self) -> Option<f64> {
        self.points.last().map(|p| p.1)
    }
}

/// What the weights were at the last good step.
#[derive(Debug, Clone)]
struct Checkpoint {
    params: Vec<f32>,
    ema: Ema,
    adam: Adam,
}

pub struct TrainingSession {
    pub trainer: Trainer,
    /// What the network's output means (the samplers need it).
    pub param: Parameterisation,
    pub history: LossHistory,
    checkpoint: Checkpoint,
    /// Why training stopped by itself, if it did.
    pub stopped_because: Option<Divergence>,
    /// Steps left before checkpoints resume after a change of learning rate or batch.
    probation: u64,
    /// Training steps per second over the last slices.
    pub steps_per_second: Option<f64>,
    /// Changes still to apply (a replayed schedule), in step order.
    planned: Vec<RateChange>,
    /// The changes the weights went through, in step order (what a link records).
    changes: Vec<RateChange>,
}

impl TrainingSession {
    pub fn new(trainer: Trainer, param: Parameterisation) -> Self {
        let checkpoint =
            Checkpoint { params: trainer.mlp.params.clone(), ema: trainer.ema.clone(), adam: trainer.adam.clone() };
        TrainingSession {
            trainer,
            param,
            history: LossHistory::new(),
            checkpoint,
            stopped_because: None,
            probation: 0,
            steps_per_second: None,
            planned: Vec::new(),
            changes: Vec::new(),
        }
    }

    /// The session, to apply `schedule` at its steps as it trains (a link's replay).
    pub fn with_schedule(mut self, schedule: Vec<RateChange>) -> Self {
        self.planned = schedule;
        self.planned.sort_by_key(|c| c.step);
        self.apply_planned();
        self
    }

    /// The rate and batch changes behind the current weights: empty when there were none,
    /// else starting with the rates of step 0.
    pub fn changes(&self) -> &[RateChange] {
        &self.changes
    }

    fn apply_planned(&mut self) {
        while let Some(change) = self.planned.first().copied().filter(|c| c.step <= self.steps()) {
            self.planned.remove(0);
            self.set_rate_and_batch(change.learning_rate, change.batch);
        }
    }

    /// Steps taken since the weights were created or loaded.
    pub fn steps(&self) -> u64 {
        self.trainer.adam.steps()
    }

    /// One step. On divergence the weights return to the checkpoint and the reason is kept
    /// in `stopped_because` (and returned).
    pub fn step(&mut self) -> Result<f64, Divergence> {
        self.apply_planned();
        let step = self.steps() + 1;
        let result = self.trainer.step();
        let problem = match &result {
            Err(e) => Some(e.to_string()),
            Ok(loss) => self.explosion(step, *loss),
        };
        if let Some(reason) = problem {
            return Err(self.diverged(reason));
        }
        let loss = result.expect("checked above");
        let samples = std::mem::take(&mut self.trainer.sample_losses);
        self.after_good_step(step, loss, &samples);
        self.trainer.sample_losses = samples;
        Ok(loss)
    }

    /// Why a step's loss counts as an explosion, if it does: far above its running average.
    fn explosion(&self, step: u64, loss: f64) -> Option<String> {
        let ema = self.history.ema?;
        (self.history.recorded >= WARM_UP_STEPS && loss > EXPLOSION_FACTOR * ema).then(|| {
            format!(
                "training diverged at step {step}: the loss jumped to {loss:.3e}, {:.0}× its running average {ema:.3}; lower the learning rate",
                loss / ema
            )
        })
    }

    /// Rolls back to the checkpoint and keeps the reason.
    fn diverged(&mut self, reason: String) -> Divergence {
        self.roll_back();
        let divergence = Divergence { reason, rolled_back_to: self.steps() };
        self.stopped_because = Some(divergence.clone());
        divergence
    }

    /// The history and the checkpoint after step `step` (now the trainer's) went well.
    fn after_good_step(&mut self, step: u64, loss: f64, samples: &[(f64, f64)]) {
        let t_max = self.trainer.process.t_max();
        self.history.record(step, loss, samples, t_max);
        let calm = self.history.ema.is_none_or(|e| loss < 3.0 * e);
        self.probation = self.probation.saturating_sub(1);
        if step % CHECKPOINT_EVERY == 0 && calm && self.probation == 0 {
            self.checkpoint = Checkpoint {
                params: self.trainer.mlp.params.clone(),
                ema: self.trainer.ema.clone(),
                adam: self.trainer.adam.clone(),
            };
        }
    }

    /// How many steps a run taken elsewhere (the GPU trainer's) may take from here: up to the
    /// next checkpoint, so that the run's end, the one state the host sees, is where a
    /// checkpoint can be taken; 0 while a replayed schedule has changes to apply (a replay
    /// steps here, one at a time).
    pub fn run_length(&self) -> usize {
        if !self.planned.is_empty() {
            return 0;
        }
        (CHECKPOINT_EVERY - self.steps() % CHECKPOINT_EVERY) as usize
    }

    /// Takes a run of steps trained elsewhere on this session's trainer (a copy of it, with
    /// the same draws): each step's loss in order, the refusal that ended it early if one did,
    /// the last step's (t, loss) per sample, and `state`, which puts the weights and optimiser
    /// state after the run into the trainer. The same rules as `step` apply to every loss, in
    /// order: a refusal or an explosion rolls back to the checkpoint and stops training, and
    /// the run's end (at most `run_length` steps on) is checkpointed when calm.
    pub fn accept_run(
        &mut self,
        losses: &[f64],
        refused: Option<TrainError>,
        samples: Vec<(f64, f64)>,
        state: impl FnOnce(&mut Trainer) -> Result<(), String>,
    ) -> Result<(), Divergence> {
        if losses.len() > self.run_length() {
            return Err(self.diverged(format!(
                "a run of {} steps from elsewhere passes the next checkpoint ({} steps on); it was not taken",
                losses.len(),
                self.run_length()
            )));
        }
        let first = self.steps() + 1;
        for (k, loss) in losses.iter().enumerate() {
            if let Some(reason) = self.explosion(first + k as u64, *loss) {
                return Err(self.diverged(reason));
            }
            if k + 1 < losses.len() {
                self.history.record(first + k as u64, *loss, &[], self.trainer.process.t_max());
                self.probation = self.probation.saturating_sub(1);
            }
        }
        if let Some(refused) = refused {
            return Err(self.diverged(refused.to_string()));
        }
        let Some(last) = losses.last() else { return Ok(()) };
        if let Err(e) = state(&mut self.trainer) {
            return Err(self.diverged(format!("the trained weights could not be taken: {e}")));
        }
        if self.steps() != first - 1 + losses.len() as u64 {
            return Err(self.diverged(format!(
                "the trained weights are at step {}, not {}",
                self.steps(),
                first - 1 + losses.len() as u64
            )));
        }
        self.after_good_step(self.steps(), *last, &samples);
        self.trainer.sample_losses = samples;
        Ok(())
    }

    /// Folds a run's speed into `steps_per_second`.
    pub fn note_speed(&mut self, steps: usize, elapsed_ms: f64) {
        if elapsed_ms > 0.0 && steps > 0 {
            let rate = steps as f64 * 1000.0 / elapsed_ms;
            self.steps_per_second = Some(self.steps_per_second.map_or(rate, |r| 0.8 * r + 0.2 * rate));
        }
    }

    /// Changes the learning rate and batch, keeping the weights trained under the old ones
    /// as the checkpoint until the new ones have run calmly for `PROBATION_STEPS`.
    pub fn set_rate_and_batch(&mut self, learning_rate: f64, batch: usize) {
        let config = &self.trainer.config;
        if config.learning_rate == learning_rate && config.batch == batch {
            return;
        }
        if self.stopped_because.is_none() && self.trainer.mlp.params.iter().all(|p| p.is_finite()) {
            self.checkpoint = Checkpoint {
                params: self.trainer.mlp.params.clone(),
                ema: self.trainer.ema.clone(),
                adam: self.trainer.adam.clone(),
            };
        }
        self.probation = PROBATION_STEPS;
        let step = self.steps();
        if self.changes.is_empty() && step > 0 {
            // The first change: the schedule starts with what the weights were trained at.
            let config = &self.trainer.config;
            self.changes.push(RateChange { step: 0, learning_rate: config.learning_rate, batch: config.batch });
        }
        self.trainer.config.learning_rate = learning_rate;
        self.trainer.config.batch = batch;
        self.changes.retain(|c| c.step < step);
        self.changes.push(RateChange { step, learning_rate, batch });
    }

    /// Forgets the changes still to apply (a replay given up).
    pub fn drop_schedule(&mut self) {
        self.planned.clear();
    }

    fn roll_back(&mut self) {
        self.trainer.mlp.params.clone_from(&self.checkpoint.params);
        self.trainer.ema = self.checkpoint.ema.clone();
        self.trainer.adam = self.checkpoint.adam.clone();
        // The EMA of the loss must not keep the explosion either.
        self.history.ema = self.history.points.last().map(|p| p.2);
        // Changes made after the checkpoint never touched these weights. (A change takes a
        // checkpoint, so this only drops changes the visitor made after the divergence began.)
        let step = self.steps();
        self.changes.retain(|c| c.step <= step);
    }

    /// Steps until `budget_ms` has passed on `clock` (at least one step); returns how many
    /// ran, or the divergence message.
    pub fn run_for(&mut self, budget_ms: f64, clock: &dyn Fn() -> f64) -> Result<u64, Divergence> {
        let start = clock();
        let mut done = 0u64;
        loop {
            self.step()?;
            done += 1;
            let elapsed = clock() - start;
            // Stop before a step that would overrun the budget (steps take about the same time).
            let per_step = elapsed / done as f64;
            if elapsed + per_step > budget_ms {
                if elapsed > 0.0 {
                    let rate = done as f64 * 1000.0 / elapsed;
                    self.steps_per_second = Some(self.steps_per_second.map_or(rate, |r| 0.8 * r + 0.2 * rate));
                }
                return Ok(done);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::data::ToyDataset;
    use crate::core::nn::{Mlp, MlpConfig};
    use crate::core::process::Process;
    use crate::core::train::{Objective, TrainConfig, Weighting};

    #[test]
    fn a_replay_of_the_changes_rebuilds_the_weights_bit_for_bit_after_a_rollback() {
        // The original: 60 steps, a rate that diverges and is rolled back, a sane rate and a
        // new batch, then more steps.
        let mut original = session(3e-3);
        for _ in 0..60 {
            original.step().unwrap();
        }
        original.set_rate_and_batch(10.0, 32);
        let error = (0..200).find_map(|_| original.step().err()).expect("a learning rate of 10 diverges");
        assert!(error.to_string().contains("Rolled back"), "{error}");
        original.set_rate_and_batch(1e-3, 48);
        for _ in 0..40 {
            original.step().unwrap();
        }
        let target = original.steps();
        // The replay: the same start, the recorded changes, the same number of steps.
        let mut replay = session(3e-3).with_schedule(original.changes().to_vec());
        while replay.steps() < target {
            replay.step().unwrap();
        }
        let bits = |p: &[f32]| p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&replay.trainer.mlp.params), bits(&original.trainer.mlp.params));
        assert_eq!(bits(&replay.trainer.ema.params), bits(&original.trainer.ema.params));
        assert_eq!(replay.changes(), original.changes());
        assert_eq!((replay.trainer.config.learning_rate, replay.trainer.config.batch), (1e-3, 48));
        // And without the schedule the weights differ: the check can fail.
        let mut plain = session(3e-3);
        while plain.steps() < target {
            plain.step().unwrap();
        }
        assert_ne!(bits(&plain.trainer.mlp.params), bits(&original.trainer.mlp.params));
    }

    fn session(learning_rate: f64) -> TrainingSession {
        let data = ToyDataset::EightGaussians.sample(500, 0, 0.0);
        let mlp = Mlp::new(MlpConfig { width: 16, depth: 2, ..MlpConfig::default() }, 0).unwrap();
        let objective = Objective::Dsm { param: Parameterisation::Eps, weighting: Weighting::Default };
        let config = TrainConfig { batch: 32, learning_rate, ema_decay: 0.99, seed: 0 };
        TrainingSession::new(
            Trainer::new(mlp, Process::vp(), objective, data, None, config).unwrap(),
            Parameterisation::Eps,
        )
    }

    #[test]
    fn the_loss_falls_and_the_history_records_it() {
        let mut s = session(3e-3);
        for _ in 0..300 {
            s.step().unwrap();
        }
        let p = &s.history.points;
        assert_eq!(p.len(), 300);
        let early: f64 = p[..20].iter().map(|p| p.1).sum::<f64>() / 20.0;
        let late: f64 = p[280..].iter().map(|p| p.1).sum::<f64>() / 20.0;
        assert!(late < 0.8 * early, "loss {early} -> {late}");
        assert!(s.history.by_time.iter().all(|b| b.is_some()));
        // Low t is the hard end for eps-prediction: its loss sits above high t's.
        assert!(s.history.by_time[0].unwrap() > s.history.by_time[TIME_BINS - 1].unwrap());
    }

    #[test]
    fn the_history_stays_bounded() {
        let mut h = LossHistory::new();
        for step in 1..=20_000u64 {
            h.record(step, 1.0 / step as f64, &[], 1.0);
        }
        assert!(h.points.len() < HISTORY_POINTS && h.points.len() > HISTORY_POINTS / 4, "{}", h.points.len());
        assert_eq!(h.points.last().unwrap().0 % h.stride, 0);
        assert!(h.points.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn an_exploding_loss_rolls_back_and_says_why() {
        let mut s = session(3e-3);
        for _ in 0..60 {
            s.step().unwrap();
        }
        let good = s.trainer.mlp.params.clone();
        let good_steps = s.steps();
        s.trainer.config.learning_rate = 10.0;
        let error = (0..200).find_map(|_| s.step().err()).expect("a learning rate of 10 diverges");
        let text = error.to_string();
        assert!(text.contains("diverged") && text.contains("Rolled back"), "{text}");
        assert_eq!(error.rolled_back_to, s.steps());
        assert_eq!(s.stopped_because.as_ref(), Some(&error));
        // Back at the checkpoint: a multiple of 25 steps no later than where the rate changed.
        assert!(s.steps() <= good_steps && s.steps() % 25 == 0, "{} {good_steps}", s.steps());
        assert!(s.trainer.mlp.params.iter().all(|p| p.is_finite()));
        if s.steps() == good_steps {
            assert_eq!(s.trainer.mlp.params, good);
        }
        // And training can go on from there at a sane rate.
        s.trainer.config.learning_rate = 1e-3;
        for _ in 0..20 {
            s.step().unwrap();
        }
    }

    #[test]
    fn a_rate_change_rolls_back_to_the_weights_before_it() {
        let mut s = session(3e-3);
        for _ in 0..60 {
            s.step().unwrap();
        }
        let (good, good_steps) = (s.trainer.mlp.params.clone(), s.steps());
        s.set_rate_and_batch(10.0, s.trainer.config.batch);
        let error = (0..200).find_map(|_| s.step().err()).expect("a learning rate of 10 diverges");
        assert!(error.to_string().contains("Rolled back"), "{error}");
        assert_eq!((s.steps(), &s.trainer.mlp.params), (good_steps, &good));
    }

    #[test]
    fn run_for_stops_on_the_clock() {
        let mut s = session(1e-3);
        let ticks = std::cell::Cell::new(0.0);
        let clock = || {
            ticks.set(ticks.get() + 1.0);
            ticks.get()
        };
        // Each clock read advances 1 ms: start, then one read per step. Five steps fill the
        // 5 ms budget exactly; a sixth would overrun it.
        assert_eq!(s.run_for(5.0, &clock).unwrap(), 5);
        assert_eq!(s.run_for(0.5, &clock).unwrap(), 1, "at least one step");
        assert!(s.steps_per_second.unwrap() > 0.0);
    }
}
