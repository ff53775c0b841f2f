//! The diffusion lab's state: settings, data, the training session, the sampler panels, the
//! field and the status the shell shows, with one method per thing a visitor can do and a
//! `tick` that does a frame's share of the work. It owns no DOM and no clock (the caller
//! passes one), so the native tests drive it exactly as the page does. The methods live by
//! concern in `engine/`: data, model and training, sampler runs, and the view.

use std::collections::BTreeMap;

use super::comparison::{seeded_trajectory, Executor, PanelRun};
use super::field::{self, Field};
use super::settings::{
    default_param, limits, page_process, samplers_for, DataChoice, FieldView, PanelSettings, Settings, Start,
    MAX_LINK_POINTS, MAX_PANELS,
};
use crate::core::data::csv::parse_points;
use crate::core::data::{GaussianMixture, Point};
use crate::core::nn::{weights, Activation, Mlp, MlpConfig};
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::sample::model::{MlpModel, Model, ModelData};
use crate::core::sample::registry::{ModelCaps, Sampler};
use crate::core::sample::{Plan, SamplerOptions};
use crate::core::train::TrainingSession;
use crate::core::train::{Objective, TrainConfig, Trainer, Weighting};
use crate::exec::cpu::{RunOptions, RunResult};
use crate::exec::gpu::op_major::{runs_op_major, Precision};
use crate::playground::shell::LabStatus;
use data::data_of;
pub use gpu_training::{TrainJob, TrainRun};
pub use runs::job_precision;

/// The model that ships with the page (made by the command in docs/PLAYGROUND.md).
pub const DEFAULT_MODEL_JSON: &str = include_str!("../../../www/default-model.json");
/// The quality-versus-NFE chart's budgets, and its particles per point.
pub const SWEEP_NFES: [usize; 5] = [4, 8, 16, 32, 64];
pub const SWEEP_PARTICLES: usize = 300;
/// How often the field is recomputed while training runs.
const FIELD_REFRESH_MS: f64 = 400.0;
/// How long the scrubber's play takes from the first step to the last.
pub const SCRUB_ANIMATION_MS: f64 = 4000.0;
/// How often running panels are repainted.
const PROGRESS_PAINT_MS: f64 = 150.0;

/// Most points an uploaded file may have (the same cap holds for `pts=` in a link).
pub const MAX_UPLOAD_POINTS: usize = limits::UPLOAD_POINTS.max;

/// One sampler panel: what it runs, its current run, and the clicked particle's path.
#[derive(Debug, Clone)]
pub struct Panel {
    pub settings: PanelSettings,
    pub run: Option<PanelRun>,
    pub seeded: Option<Result<Vec<[f32; 2]>, String>>,
}

/// One point of the quality-versus-NFE chart, while it runs and once done.
#[derive(Debug, Clone)]
pub struct SweepPoint {
    pub sampler: &'static Sampler,
    pub run: PanelRun,
}

/// A whole run handed to another executor (the GPU, the workers): `finish_job` brings it back.
#[derive(Debug, Clone)]
pub struct GpuJob {
    pub id: u64,
    pub plan: Plan,
    pub options: RunOptions,
    pub model: ModelData,
    /// Keep the particles on the GPU and read back the first `GPU_READ_BACK` (a panel's run,
    /// which the GPU draws in place).
    pub resident: bool,
    /// The network's precision on the GPU: f16 only where the page offers it and the plan
    /// takes the op-major path (`Engine::job_precision`).
    pub precision: Precision,
}

pub struct Engine {
    pub settings: Settings,
    /// Whether sampler runs go to the GPU (set by the page once its kernel is ready).
    pub gpu: bool,
    /// Whether the page draws the panels' particles from the GPU's buffers (a WebGPU canvas),
    /// so that a panel's run can stay on the GPU at up to 10^5 particles.
    pub gpu_canvas: bool,
    /// Whether training runs on the GPU (set by the page once its trainer is ready).
    pub gpu_training: bool,
    /// A link's batch above the CPU's bound, lowered when the link was read: it comes back
    /// when training moves to the GPU, unless the batch was changed meanwhile.
    link_batch: Option<usize>,
    /// Whether the GPU may evaluate the network in f16 (the adapter offers `shader-f16` and
    /// the page's checks of the op-major path passed in f32 and in f16).
    pub gpu_f16: bool,
    /// The run of training steps out on the GPU, if one is; when the last one ended, and
    /// the GPU's last measured rate (which sizes the next run).
    train_job: Option<gpu_training::TrainOutstanding>,
    last_train_end: Option<f64>,
    gpu_steps_per_second: Option<f64>,
    /// How many Web Workers take sampler runs where there is no GPU (0: none; the page's
    /// thread runs them a slice per frame).
    pub workers: usize,
    next_job: u64,
    pub data: Vec<Point>,
    pub mixture: Option<GaussianMixture>,
    pub session: TrainingSession,
    pub playing: bool,
    /// Training steps still to replay from a link before anything else.
    replay_to: u64,
    /// Run the samplers once the replay is done (a page load).
    run_after_replay: bool,
    /// Training steps a link records that are too many to replay unasked: `start_replay`
    /// replays them.
    pub replay_pending: Option<u64>,
    pub panels: Vec<Panel>,
    pub sweep: Vec<SweepPoint>,
    /// How many times the samplers were started (a new sweep, even of the same samplers).
    runs_started: u64,
    /// The weights the current runs use (frozen when they started).
    snapshot: Option<MlpModel>,
    pub field: Option<Field>,
    field_stale: bool,
    field_time: f64,
    pub seed_point: Option<[f32; 2]>,
    /// Whether the scrubber is animating, and when it last moved.
    pub scrub_playing: bool,
    scrub_clock: Option<f64>,
    /// Messages and revision counters, which the shell reads.
    pub status: LabStatus,
    default_model: Option<(Mlp, BTreeMap<String, String>)>,
    /// GPU jobs handed out and not yet finished.
    handed_out: Vec<u64>,
    last_progress_paint: f64,
}

mod data;
mod gpu_training;
mod model;
mod runs;
mod view;

impl Engine {
    /// The page as a link describes it (`problems` are the link's own complaints, shown in
    /// the banner). The training steps the link records are replayed by `tick`.
    pub fn new(settings: Settings, problems: Vec<String>) -> Engine {
        let mut problems = problems;
        let default_model = weights::load(DEFAULT_MODEL_JSON).ok();
        let (mut settings, (data, mixture), session) = match Self::build(&settings, &default_model) {
            Ok(built) => (settings, built.0, built.1),
            Err(e) => {
                // The link reader checks every bound, so this is a combination it did not
                // foresee: open the defaults and say why, never panic.
                problems.push(format!("link: {e}; opening the default settings"));
                let defaults = Settings::default();
                let built = Self::build(&defaults, &default_model).expect("the default settings build");
                (defaults, built.0, built.1)
            }
        };
        let mut notices = Vec::new();
        let (replay_to, replay_pending) = {
            let seconds = Self::replay_seconds(&settings);
            if settings.train_steps > 0 && seconds > limits::REPLAY_AUTO_SECONDS {
                notices.push(format!(
                    "link: it records {} training steps, about {} to replay here; press Replay to rebuild the trained model (the view shows the starting weights until then)",
                    settings.train_steps,
                    duration_text(seconds)
                ));
                (0, Some(settings.train_steps))
            } else {
                (settings.train_steps, None)
            }
        };
        settings.train_steps = 0;
        let mut engine = Engine {
            panels: settings.panels.iter().map(|p| Panel { settings: p.clone(), run: None, seeded: None }).collect(),
            settings,
            gpu: false,
            gpu_canvas: false,
            gpu_training: false,
            link_batch: None,
            gpu_f16: false,
            train_job: None,
            last_train_end: None,
            gpu_steps_per_second: None,
            workers: 0,
            next_job: 1,
            data,
            mixture,
            session,
            playing: false,
            replay_to,
            run_after_replay: true,
            replay_pending,
            sweep: Vec::new(),
            runs_started: 0,
            snapshot: None,
            field: None,
            field_stale: true,
            field_time: f64::NEG_INFINITY,
            seed_point: None,
            scrub_playing: false,
            scrub_clock: None,
            status: LabStatus { notices, ..LabStatus::with_errors(problems) },
            default_model,
            handed_out: Vec::new(),
            last_progress_paint: f64::NEG_INFINITY,
        };
        if engine.default_model.is_none() {
            engine.status.error("the shipped default model could not be read; starting from fresh weights");
        }
        engine
    }

    /// The data and the training session that `settings` describe.
    #[allow(clippy::type_complexity)]
    fn build(
        settings: &Settings,
        default_model: &Option<(Mlp, BTreeMap<String, String>)>,
    ) -> Result<((Vec<Point>, Option<GaussianMixture>), TrainingSession), String> {
        let data = data_of(settings)?;
        let session = Self::new_session(settings, &data.0, default_model)?;
        Ok((data, session))
    }

    /// The settings as they should appear in the link now.
    pub fn link_settings(&self) -> Settings {
        let mut s = self.settings.clone();
        s.train_steps = self.session.steps().max(self.replay_to).max(self.replay_pending.unwrap_or(0));
        let replaying = self.replay_pending.is_some() || self.session.steps() < self.replay_to;
        if !replaying {
            s.rate_changes = self.session.changes().to_vec();
        }
        s.panels = self.panels.iter().map(|p| p.settings.clone()).collect();
        s
    }

    /// What is running and how far along it is (for the progress bar).
    pub fn progress(&self) -> Option<(String, f64)> {
        if self.session.steps() < self.replay_to {
            return Some((
                format!("replaying {} training steps from the link", self.replay_to),
                self.session.steps() as f64 / self.replay_to as f64,
            ));
        }
        let total = self.panels.iter().filter(|p| p.run.is_some()).count() + self.sweep.len();
        let done: f64 = self.panels.iter().filter_map(|p| p.run.as_ref()).map(PanelRun::progress).sum::<f64>()
            + self.sweep.iter().map(|s| s.run.progress()).sum::<f64>();
        (total > 0 && done < total as f64).then(|| ("sampling".to_string(), done / total as f64))
    }

    /// Does about `budget_ms` of work (a frame's share); returns whether anything changed.
    pub fn tick(&mut self, budget_ms: f64, clock: &dyn Fn() -> f64) -> bool {
        let start = clock();
        let before = self.status.revision;
        self.animate_scrub(start);
        if self.session.steps() < self.replay_to {
            // Exactly the remaining steps: a replay must not overshoot.
            while self.session.steps() < self.replay_to && clock() - start < budget_ms {
                if let Err(e) = self.session.step() {
                    self.status.error(format!("replaying the link: {e}; training paused."));
                    self.replay_to = 0;
                    break;
                }
            }
            self.field_stale = true;
            self.status.numbers_changed();
            if self.session.steps() >= self.replay_to && self.run_after_replay {
                self.run_after_replay = false;
                self.replay_to = 0;
                self.run_samplers();
            }
            return true;
        }
        if self.run_after_replay {
            self.run_after_replay = false;
            self.run_samplers();
        }
        // The field and a run's quality each take a frame of their own: each costs a good
        // part of a frame's budget.
        let field_due = self.settings.field_view != FieldView::Off
            && self.field_stale
            && (!self.playing || clock() - self.field_time > FIELD_REFRESH_MS);
        if field_due {
            self.compute_field(clock());
            return true;
        }
        let needs_quality = self
            .panels
            .iter_mut()
            .filter_map(|p| p.run.as_mut())
            .chain(self.sweep.iter_mut().map(|s| &mut s.run))
            .find(|r| r.awaits_quality());
        if let Some(run) = needs_quality {
            run.measure(&self.data, clock);
            self.status.changed();
            return true;
        }
        let sampling = self.panels.iter().any(|p| p.run.as_ref().is_some_and(|r| !r.is_done() && !r.is_waiting()))
            || self.sweep.iter().any(|s| !s.run.is_done() && !s.run.is_waiting());
        if self.playing && self.gpu_training {
            // The GPU trains (`take_train_job`) and the field goes stale when its weights come
            // back (`finish_train_job`); the frame's budget is the samplers'.
        } else if self.playing {
            let share = if sampling { budget_ms * 0.5 } else { budget_ms };
            if let Err(e) = self.session.run_for(share, clock) {
                self.playing = false;
                self.status.error(format!("{e}; training paused."));
                self.status.changed();
            }
            if clock() - self.field_time > FIELD_REFRESH_MS {
                self.field_stale = true;
            }
            self.status.numbers_changed();
        }
        if sampling {
            let left = (budget_ms - (clock() - start)).max(1.0);
            let model = self
                .snapshot
                .get_or_insert_with(|| MlpModel::new(self.session.trainer.mlp.clone(), self.session.param));
            let run = self
                .panels
                .iter_mut()
                .filter_map(|p| p.run.as_mut())
                .chain(self.sweep.iter_mut().map(|s| &mut s.run))
                .find(|r| !r.is_done() && !r.is_waiting());
            if let Some(run) = run {
                run.advance(model, left, clock);
                if let Some(e) = &run.error {
                    let message = format!("{}: {e}", run.plan.sampler);
                    self.status.error(message);
                }
            }
            // Partial runs are repainted a few times a second, not every frame.
            let now = clock();
            if now - self.last_progress_paint > PROGRESS_PAINT_MS {
                self.last_progress_paint = now;
                self.status.changed();
            } else {
                self.status.numbers_changed();
            }
        }
        self.status.revision != before
    }

    /// Removes the banner's messages (the visitor dismissed them).
    pub fn dismiss_messages(&mut self) {
        self.status.dismiss();
    }

    /// Dismisses the notices only.
    pub fn dismiss_notices(&mut self) {
        self.status.notices.clear();
        self.status.changed();
    }

    /// Says something in the notice banner (the page's own news: a copied link, the GPU).
    pub fn notify(&mut self, message: impl Into<String>) {
        self.status.notice(message);
        self.status.changed();
    }

    /// Sampler runs go to the GPU from now on (the page's kernel is ready), and the panels'
    /// particles stay there to be drawn where `draws_in_place`. Panels that ran with fewer
    /// particles than asked for start again, with all of them.
    pub fn use_gpu(&mut self, draws_in_place: bool) {
        self.gpu = true;
        self.gpu_canvas = draws_in_place;
        self.notify("samplers now run on the GPU");
        let capped = self.panels.iter().filter_map(|p| p.run.as_ref()).any(|r| r.particles < self.settings.particles);
        if capped {
            self.run_samplers();
        }
    }

    /// The GPU's device was lost (a driver reset, or a browser that cannot present a WebGPU
    /// canvas): samplers run on the CPU from now on, and the panels start again there.
    pub fn gpu_lost(&mut self, message: &str) {
        self.gpu = false;
        self.gpu_canvas = false;
        self.stop_gpu_training("training goes on on the CPU");
        self.report(format!("the GPU device was lost ({message}); the samplers run again on the CPU"));
        self.run_samplers();
    }

    /// Shows a problem in the error banner (one the page met outside the engine).
    pub fn report(&mut self, message: impl Into<String>) {
        self.status.error(message);
        self.status.changed();
    }
}

/// "40 s", "12 min", "3.5 h" or "9 days": a duration a visitor can weigh.
fn duration_text(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.0} min", seconds / 60.0)
    } else if seconds < 172_800.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else {
        format!("{:.0} days", seconds / 86_400.0)
    }
}
