//! Training on the GPU: while training plays and the page's GPU trainer is ready, the engine
//! hands out a run of steps at a time (up to the session's next checkpoint) with a copy of its
//! trainer, and takes the run back into its own session: the losses, the divergence rules and
//! the rollback are the session's, applied to each step in order, and the weights and
//! optimiser state come back to the host at each run's end (the sampler panels, the field and
//! the checkpoints read them there). Replays of a link and single steps stay on the CPU.

use super::*;
use crate::exec::gpu::trainer::{GpuTrainState, StepsDone};

/// About how long one run of steps should keep the GPU busy. The host sees the weights only
/// between runs, and a software adapter's GPU process also composites the page, which draws
/// no frame while a run is in progress there: runs are sized from the measured rate so that
/// neither waits long.
const RUN_TARGET_MS: f64 = 100.0;
/// A run that starts within this long of the previous one's end continues its timing (the
/// steps per second count the gaps between runs too).
const CONTINUOUS_MS: f64 = 250.0;

/// A run of training steps for the GPU: `finish_train_job` takes it back.
#[derive(Clone)]
pub struct TrainJob {
    pub id: u64,
    /// A copy of the session's trainer: its state, settings and draws.
    pub trainer: Trainer,
    pub steps: usize,
}

/// What a run of steps on the GPU gives back.
pub type TrainRun = (StepsDone, GpuTrainState);

/// A run handed out and not yet back, with what the session was when it left: a result for a
/// session that has since changed (a reset, a new batch, a step on the CPU) is dropped.
#[derive(Debug, Clone)]
pub(super) struct TrainOutstanding {
    id: u64,
    steps: u64,
    learning_rate: f64,
    batch: usize,
    params: Vec<f32>,
    /// When its timing starts: its hand-out, or the previous run's end when it followed on.
    started: f64,
}

impl Engine {
    /// Training runs on the GPU from now on (the page's training kernels are ready), with
    /// batches up to the largest the settings allow.
    pub fn use_gpu_training(&mut self) {
        self.gpu_training = true;
        self.notify(format!("training runs on the GPU (batch up to {})", limits::BATCH.max));
        if let Some(batch) = self.link_batch.take().filter(|b| *b > self.settings.batch) {
            self.settings.batch = batch;
            self.session.set_rate_and_batch(self.settings.learning_rate, batch);
            self.notify(format!("batch {batch}, the link's, now that training runs on the GPU"));
        }
    }

    /// Keeps `batch`, a link's batch that the CPU's bound lowered, for when training moves to
    /// the GPU (`use_gpu_training`). Only a batch above that bound for these settings is kept
    /// (not one that the settings' own bound, or a link that fell back to the defaults, set
    /// aside).
    pub fn keep_link_batch_for_gpu(&mut self, batch: usize) {
        let lowered_for_the_cpu = batch > self.settings.batch && batch > self.settings.max_page_batch();
        self.link_batch = (lowered_for_the_cpu && !self.gpu_training).then_some(batch);
    }

    /// The largest batch training may use: the page's per-step budget on the CPU (a step
    /// must fit in a frame), the settings' bound where the GPU trains.
    pub fn max_batch(&self, settings: &Settings) -> usize {
        if self.gpu_training {
            limits::BATCH.max
        } else {
            settings.max_page_batch()
        }
    }

    /// Whether a step of `settings` fits where training runs.
    pub(super) fn check_batch(&self, settings: &Settings) -> Result<(), String> {
        if self.gpu_training {
            Ok(())
        } else {
            settings.check_step_cost()
        }
    }

    /// The next run of steps for the GPU, when training plays there and no run is out: up
    /// to the next checkpoint, and about `RUN_TARGET_MS` of work at the measured rate (one
    /// step at first). `now` is the page's clock.
    pub fn take_train_job(&mut self, now: f64) -> Option<TrainJob> {
        let ready = self.gpu_training
            && self.playing
            && self.train_job.is_none()
            && self.session.steps() >= self.replay_to
            && self.replay_pending.is_none();
        if !ready {
            return None;
        }
        let to_checkpoint = self.session.run_length();
        if to_checkpoint == 0 {
            return None;
        }
        let paced = self.gpu_steps_per_second.map_or(1.0, |rate| rate * RUN_TARGET_MS / 1000.0);
        let steps = (paced as usize).clamp(1, to_checkpoint);
        let started = match self.last_train_end {
            Some(end) if now - end < CONTINUOUS_MS => end,
            _ => now,
        };
        let id = self.next_job;
        self.next_job += 1;
        let trainer = &self.session.trainer;
        self.train_job = Some(TrainOutstanding {
            id,
            steps: self.session.steps(),
            learning_rate: trainer.config.learning_rate,
            batch: trainer.config.batch,
            params: trainer.mlp.params.clone(),
            started,
        });
        Some(TrainJob { id, trainer: trainer.clone(), steps })
    }

    /// Whether a run of training steps is out on the GPU.
    pub fn training_on_gpu(&self) -> bool {
        self.train_job.is_some()
    }

    /// A run of steps back from the GPU at `now`: taken into the session under its rules, or,
    /// when the GPU failed, training goes on on the CPU with a message.
    pub fn finish_train_job(&mut self, id: u64, result: Result<TrainRun, String>, now: f64) {
        let Some(out) = self.train_job.take_if(|out| out.id == id) else { return };
        self.last_train_end = Some(now);
        let elapsed_ms = now - out.started;
        let trainer = &self.session.trainer;
        let same = out.steps == self.session.steps()
            && out.learning_rate == trainer.config.learning_rate
            && out.batch == trainer.config.batch
            && out.params == trainer.mlp.params;
        match result {
            // The visitor changed the model or trained on the CPU meanwhile: the run is moot.
            _ if !same => {}
            Ok((done, state)) => {
                let taken = done.losses.len();
                let outcome =
                    self.session.accept_run(&done.losses, done.refused, done.row_losses, |t| state.install(t));
                self.session.note_speed(taken, elapsed_ms);
                if elapsed_ms > 0.0 && taken > 0 {
                    self.gpu_steps_per_second = Some(taken as f64 * 1000.0 / elapsed_ms);
                }
                self.field_stale = true;
                // New weights change the numbers and the loss chart; the field repaints the
                // view when it is recomputed (as while training on the CPU).
                match outcome {
                    Ok(()) => self.status.numbers_changed(),
                    Err(e) => {
                        self.playing = false;
                        self.status.error(format!("{e}; training paused."));
                        self.status.changed();
                    }
                }
            }
            Err(e) => {
                self.stop_gpu_training(&format!("training on the GPU failed ({e}); training goes on on the CPU"));
                self.status.changed();
            }
        }
    }

    /// Training goes back to the CPU, with `why` in the banner; a batch too large for a frame
    /// there is lowered to the largest that fits.
    pub(super) fn stop_gpu_training(&mut self, why: &str) {
        if !self.gpu_training {
            return;
        }
        self.gpu_training = false;
        self.train_job = None;
        self.report(why.to_string());
        let most = self.settings.max_page_batch();
        if self.settings.batch > most {
            self.settings.batch = most;
            self.session.set_rate_and_batch(self.settings.learning_rate, most);
            self.status.notice(format!("batch lowered to {most}, the most a training step on the CPU fits in a frame"));
        }
    }
}
