//! The page's whole model: settings, data, the training session, the sampler panels, the
//! field and the messages, with one method per thing a visitor can do and a `tick` that does
//! a frame's share of the work. It owns no DOM and no clock (the caller passes one), so the
//! native tests drive it exactly as the page does.

use std::collections::BTreeMap;

use super::comparison::{seeded_trajectory, PanelRun};
use super::field::{self, Field};
use super::settings::{limits, samplers_for, FieldView, PanelSettings, Settings, Start, MAX_PANELS};
use super::training::TrainingSession;
use crate::core::data::csv::parse_points;
use crate::core::data::{GaussianMixture, Point, ToyDataset};
use crate::core::nn::{weights, Activation, Mlp, MlpConfig};
use crate::core::process::Process;
use crate::core::sample::model::{MlpModel, Model, ModelData};
use crate::core::sample::{build, Plan, SamplerOptions};
use crate::core::train::{Objective, Parameterisation, TrainConfig, Trainer, Weighting};
use crate::exec::cpu::{RunOptions, RunResult};

/// The model that ships with the page (made by the command in docs/PLAYGROUND.md).
pub const DEFAULT_MODEL_JSON: &str = include_str!("../../www/default-model.json");
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
    pub sampler: String,
    pub run: PanelRun,
}

/// A whole run handed to another executor (the GPU): `finish_gpu_job` brings it back.
#[derive(Debug, Clone)]
pub struct GpuJob {
    pub id: u64,
    pub plan: Plan,
    pub options: RunOptions,
    pub model: ModelData,
}

pub struct Engine {
    pub settings: Settings,
    /// Whether sampler runs go to the GPU (set by the page once its kernel is ready).
    pub gpu: bool,
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
    /// The weights the current runs use (frozen when they started).
    snapshot: Option<MlpModel>,
    pub field: Option<Field>,
    field_stale: bool,
    field_time: f64,
    pub seed_point: Option<[f32; 2]>,
    /// Whether the scrubber is animating, and when it last moved.
    pub scrub_playing: bool,
    scrub_clock: Option<f64>,
    /// Problems to show in the error banner (newest last).
    pub errors: Vec<String>,
    /// Things worth saying that are not errors.
    pub notices: Vec<String>,
    /// Bumped whenever what the page shows changes.
    pub revision: u64,
    /// Bumped when what the canvases show changes (not by training steps alone, which only
    /// move the numbers and charts): the page repaints its canvases only then.
    pub view_revision: u64,
    default_model: Option<(Mlp, BTreeMap<String, String>)>,
    /// GPU jobs handed out and not yet finished.
    handed_out: Vec<u64>,
    last_progress_paint: f64,
}

fn meta_of(settings: &Settings) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("process".to_string(), settings.process.clone()),
        ("param".to_string(), settings.param.clone()),
        ("target".to_string(), settings.dataset.clone()),
    ])
}

/// The network a settings value describes.
fn config_of(settings: &Settings) -> Result<MlpConfig, String> {
    let config = MlpConfig {
        width: settings.width,
        depth: settings.depth,
        activation: Activation::from_name(&settings.activation)?,
        ..MlpConfig::default()
    };
    config.validate()?;
    Ok(config)
}

/// The data a settings value describes.
fn data_of(settings: &Settings) -> Result<(Vec<Point>, Option<GaussianMixture>), String> {
    if settings.dataset == "custom" {
        if settings.custom_points.len() < 2 {
            return Err("custom data needs at least 2 points".into());
        }
        return Ok((settings.custom_points.clone(), None));
    }
    let set = ToyDataset::from_name(&settings.dataset)?;
    Ok((set.sample(settings.points, settings.data_seed, settings.noise), set.mixture()))
}

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
            next_job: 1,
            data,
            mixture,
            session,
            playing: false,
            replay_to,
            run_after_replay: true,
            replay_pending,
            sweep: Vec::new(),
            snapshot: None,
            field: None,
            field_stale: true,
            field_time: f64::NEG_INFINITY,
            seed_point: None,
            scrub_playing: false,
            scrub_clock: None,
            errors: problems,
            notices,
            revision: 0,
            view_revision: 0,
            default_model,
            handed_out: Vec::new(),
            last_progress_paint: f64::NEG_INFINITY,
        };
        if engine.default_model.is_none() {
            engine.errors.push("the shipped default model could not be read; starting from fresh weights".into());
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

    /// About how long replaying the link's training steps takes in the browser.
    pub fn replay_seconds(settings: &Settings) -> f64 {
        let Ok(config) = config_of(settings) else { return 0.0 };
        // Forward and backward: about three forward passes' multiply-adds per sample.
        let macs = 3.0 * config.macs_per_eval() as f64 * settings.batch as f64;
        settings.train_steps as f64 * macs / limits::BROWSER_TRAINING_MACS_PER_S
    }

    /// Replays the training steps a link recorded but did not replay when it opened.
    pub fn start_replay(&mut self) {
        if let Some(steps) = self.replay_pending.take() {
            self.replay_to = steps;
            self.run_after_replay = true;
            self.playing = false;
            // The runs on the starting weights would read as the link's results: clear them
            // until the replayed model has run.
            self.clear_runs();
            self.changed();
        }
    }

    /// Whether the shipped model was trained for exactly these settings.
    pub fn default_model_fits(&self) -> bool {
        Self::fits(&self.settings, &self.default_model)
    }

    fn fits(settings: &Settings, default_model: &Option<(Mlp, BTreeMap<String, String>)>) -> bool {
        let Some((mlp, meta)) = default_model else { return false };
        let Ok(config) = config_of(settings) else { return false };
        mlp.config == config
            && meta.get("target") == Some(&settings.dataset)
            && meta.get("process") == Some(&settings.process)
            && meta.get("param") == Some(&settings.param)
            && settings.dataset != "custom"
            && ToyDataset::from_name(&settings.dataset)
                .is_ok_and(|d| d.mixture().is_some() || settings.noise == d.default_noise())
    }

    fn new_session(
        settings: &Settings,
        data: &[Point],
        default_model: &Option<(Mlp, BTreeMap<String, String>)>,
    ) -> Result<TrainingSession, String> {
        settings.check_model()?;
        let process = Process::from_name(&settings.process)?;
        let param = Parameterisation::from_name(&settings.param)?;
        let mlp = match default_model {
            Some((mlp, _)) if settings.start == Start::Default && Self::fits(settings, default_model) => mlp.clone(),
            _ => Mlp::new(config_of(settings)?, settings.train_seed)?,
        };
        let objective = if process.is_flow() {
            Objective::FlowMatching
        } else {
            Objective::Dsm { param, weighting: Weighting::Default }
        };
        let config = TrainConfig {
            batch: settings.batch,
            learning_rate: settings.learning_rate,
            ema_decay: 0.999,
            seed: settings.train_seed,
        };
        let trainer = Trainer::new(mlp, process, objective, data.to_vec(), None, config)?;
        Ok(TrainingSession::new(trainer, param))
    }

    fn changed(&mut self) {
        self.revision += 1;
        self.view_revision += 1;
    }

    /// Training moved on: the numbers and charts change, the canvases not yet.
    fn trained(&mut self) {
        self.revision += 1;
    }

    /// The settings as they should appear in the link now.
    pub fn link_settings(&self) -> Settings {
        let mut s = self.settings.clone();
        s.train_steps = self.session.steps().max(self.replay_to).max(self.replay_pending.unwrap_or(0));
        s.panels = self.panels.iter().map(|p| p.settings.clone()).collect();
        s
    }

    // ----- data -----

    /// Rebuilds the data from the settings and starts the model again (the old weights were
    /// trained on other data).
    fn data_changed(&mut self) {
        match data_of(&self.settings) {
            Ok((data, mixture)) => {
                self.data = data;
                self.mixture = mixture;
                self.settings.start = Start::Default;
                self.rebuild_model();
            }
            Err(e) => self.errors.push(e),
        }
        self.changed();
    }

    pub fn set_dataset(&mut self, name: &str) -> Result<(), String> {
        if name == "custom" {
            if self.settings.custom_points.len() < 2 {
                return Err("draw points on the canvas (Draw mode) or upload a CSV to make a custom data set".into());
            }
        } else {
            let set = ToyDataset::from_name(name)?;
            self.settings.noise = set.default_noise();
        }
        self.settings.dataset = name.to_string();
        self.data_changed();
        Ok(())
    }

    pub fn set_points(&mut self, text: &str) -> Result<(), String> {
        self.settings.points = limits::PAGE_POINTS.parse("points", text)?;
        self.data_changed();
        Ok(())
    }

    pub fn set_noise(&mut self, text: &str) -> Result<(), String> {
        self.settings.noise = limits::NOISE.parse("noise", text)?;
        self.data_changed();
        Ok(())
    }

    pub fn set_data_seed(&mut self, text: &str) -> Result<(), String> {
        self.settings.data_seed = limits::LINK_SEED.parse("data seed", text)?;
        self.data_changed();
        Ok(())
    }

    /// Adds a drawn point (switching to a custom data set, empty at first).
    pub fn draw_point(&mut self, p: [f32; 2]) {
        if self.settings.dataset != "custom" {
            self.settings.custom_points.clear();
            self.settings.dataset = "custom".into();
        }
        self.settings.custom_points.push([f64::from(p[0]), f64::from(p[1])]);
        if self.settings.custom_points.len() >= 2 {
            self.data_changed();
        } else {
            self.changed();
        }
    }

    /// Reads an uploaded CSV of x,y rows; on error nothing changes and the message names the line.
    pub fn load_csv(&mut self, file_name: &str, text: &str) -> Result<(), String> {
        let points = parse_points(text).map_err(|e| format!("{file_name}: {e}"))?;
        if points.len() < 2 {
            return Err(format!("{file_name}: {} point(s); a data set needs at least 2", points.len()));
        }
        limits::UPLOAD_POINTS.check(&format!("{file_name}: the number of points"), points.len())?;
        if let Some((i, p)) = points.iter().enumerate().find(|(_, p)| limits::check_point("", **p).is_err()) {
            return Err(format!(
                "{file_name}: row {} ({}, {}) lies outside ±{} in a coordinate; rescale the data",
                i + 1,
                p[0],
                p[1],
                limits::COORDINATE
            ));
        }
        let outside = points.iter().filter(|p| p[0].abs() > field::EXTENT || p[1].abs() > field::EXTENT).count();
        if outside > 0 {
            self.notices.push(format!(
                "{file_name}: {outside} of {} points lie outside the view [-4.5, 4.5]²; rescale the data to see them",
                points.len()
            ));
        }
        if points.len() > super::settings::MAX_LINK_POINTS {
            self.notices.push(format!(
                "{file_name}: {} points are too many for a link (at most {}): a shared link opens the default data; send the file with it (Export data saves it)",
                points.len(),
                super::settings::MAX_LINK_POINTS
            ));
        }
        self.settings.custom_points = points;
        self.settings.dataset = "custom".into();
        self.data_changed();
        Ok(())
    }

    // ----- model and training -----

    fn rebuild_model(&mut self) {
        match Self::new_session(&self.settings, &self.data, &self.default_model) {
            Ok(session) => {
                self.session = session;
                self.settings.start =
                    if Self::fits(&self.settings, &self.default_model) && self.settings.start == Start::Default {
                        Start::Default
                    } else {
                        Start::Fresh
                    };
            }
            Err(e) => self.errors.push(e),
        }
        self.playing = false;
        self.replay_to = 0;
        self.replay_pending = None;
        self.clear_runs();
        self.field_stale = true;
        let process = self.settings.process.clone();
        let before = self.panels.len();
        self.panels.retain(|p| samplers_for(&process).contains(&p.settings.sampler.as_str()));
        if self.panels.len() < before {
            self.notices.push(format!(
                "removed {} panel(s) whose sampler does not run on {process}",
                before - self.panels.len()
            ));
        }
    }

    fn clear_runs(&mut self) {
        for panel in &mut self.panels {
            panel.run = None;
            panel.seeded = None;
        }
        self.sweep.clear();
        self.snapshot = None;
    }

    /// Process, parameterisation, width, depth or activation: a new network.
    pub fn set_model(&mut self, key: &str, value: &str) -> Result<(), String> {
        let mut next = self.settings.clone();
        match key {
            "process" => {
                Process::from_name(value)?;
                if !super::settings::PAGE_PROCESSES.contains(&value) {
                    return Err(format!("process {value} is not available on the page"));
                }
                next.process = value.into();
                // A flow predicts a velocity; the others default to eps.
                if value == "rf" {
                    next.param = "flow".into();
                } else if next.param == "flow" {
                    next.param = "eps".into();
                }
            }
            "param" => {
                Parameterisation::from_name(value)?;
                next.param = value.into();
            }
            "width" => next.width = limits::WIDTH.parse("width", value)?,
            "depth" => next.depth = limits::DEPTH.parse("depth", value)?,
            "activation" => {
                Activation::from_name(value)?;
                next.activation = value.into();
            }
            other => return Err(format!("unknown model setting {other}")),
        }
        next.check_model()?;
        next.check_step_cost().map_err(|e| format!("{e}: lower the batch first"))?;
        next.start = Start::Default;
        self.settings = next;
        self.rebuild_model();
        self.changed();
        Ok(())
    }

    /// Takes effect at the next step, while training runs.
    pub fn set_learning_rate(&mut self, text: &str) -> Result<(), String> {
        let lr = limits::LEARNING_RATE.parse("learning rate", text)?;
        self.settings.learning_rate = lr;
        self.session.set_rate_and_batch(lr, self.settings.batch);
        self.changed();
        Ok(())
    }

    pub fn set_batch(&mut self, text: &str) -> Result<(), String> {
        let batch = limits::BATCH.parse("batch", text)?;
        Settings { batch, ..self.settings.clone() }.check_step_cost()?;
        self.settings.batch = batch;
        self.session.set_rate_and_batch(self.settings.learning_rate, batch);
        self.changed();
        Ok(())
    }

    pub fn toggle_training(&mut self) {
        // Training on from the starting weights gives up the link's unreplayed steps.
        self.replay_pending = None;
        self.playing = !self.playing;
        if self.playing {
            self.session.stopped_because = None;
        }
        self.changed();
    }

    pub fn step_once(&mut self) {
        self.replay_pending = None;
        self.playing = false;
        if let Err(e) = self.session.step() {
            self.errors.push(e);
        }
        self.field_stale = true;
        self.changed();
    }

    /// Fresh weights from the training seed, and training paused.
    pub fn reset_training(&mut self) {
        self.settings.start = Start::Fresh;
        self.rebuild_model();
        self.changed();
    }

    // ----- samplers -----

    pub fn add_panel(&mut self) -> Result<(), String> {
        if self.panels.len() >= MAX_PANELS {
            return Err(format!("at most {MAX_PANELS} sampler panels"));
        }
        let candidates = samplers_for(&self.settings.process);
        let used: Vec<&str> = self.panels.iter().map(|p| p.settings.sampler.as_str()).collect();
        let sampler = ["ddim", "pf-heun", "unipc", "edm-heun", "pc"]
            .into_iter()
            .find(|s| candidates.contains(s) && !used.contains(s))
            .unwrap_or(candidates[0]);
        self.panels.push(Panel {
            settings: PanelSettings { sampler: sampler.into(), nfe: 20 },
            run: None,
            seeded: None,
        });
        self.changed();
        Ok(())
    }

    pub fn remove_panel(&mut self, index: usize) {
        if index < self.panels.len() {
            self.panels.remove(index);
            self.sweep.clear();
            self.changed();
        }
    }

    pub fn set_panel_sampler(&mut self, index: usize, sampler: &str) -> Result<(), String> {
        if !samplers_for(&self.settings.process).contains(&sampler) {
            return Err(format!("{sampler} does not run on process {}", self.settings.process));
        }
        let panel = self.panels.get_mut(index).ok_or("no such panel")?;
        panel.settings.sampler = sampler.into();
        panel.run = None;
        panel.seeded = None;
        self.changed();
        Ok(())
    }

    pub fn set_panel_nfe(&mut self, index: usize, text: &str) -> Result<(), String> {
        let nfe = limits::PAGE_NFE.parse("NFE", text)?;
        let panel = self.panels.get_mut(index).ok_or("no such panel")?;
        panel.settings.nfe = nfe;
        panel.run = None;
        panel.seeded = None;
        self.changed();
        Ok(())
    }

    pub fn set_particles(&mut self, text: &str) -> Result<(), String> {
        self.settings.particles = limits::PAGE_PARTICLES.parse("particles", text)?;
        self.changed();
        Ok(())
    }

    fn plan_for(&self, sampler: &str, nfe: usize) -> Result<Plan, String> {
        let process = Process::from_name(&self.settings.process)?;
        let options = SamplerOptions { nfe, ..SamplerOptions::default() };
        build(sampler, process, self.session.param, &options)
    }

    fn current_model(&self) -> MlpModel {
        MlpModel::new(self.session.trainer.mlp.clone(), self.session.param)
    }

    /// Starts every panel (and the quality-versus-NFE sweep) from the same noise, with the
    /// weights as they are now.
    pub fn run_samplers(&mut self) {
        self.snapshot = Some(self.current_model());
        self.sweep.clear();
        let (particles, seed) = (self.settings.particles, self.settings.sample_seed);
        for index in 0..self.panels.len() {
            let settings = self.panels[index].settings.clone();
            match self.plan_for(&settings.sampler, settings.nfe) {
                Ok(plan) => {
                    let run = PanelRun::new(plan, particles, seed, true);
                    self.panels[index].run = Some(self.assign(run));
                    for nfe in SWEEP_NFES {
                        if let Ok(plan) = self.plan_for(&settings.sampler, nfe) {
                            let run = self.assign(PanelRun::new(plan, SWEEP_PARTICLES, seed, false));
                            self.sweep.push(SweepPoint { sampler: settings.sampler.clone(), run });
                        }
                    }
                }
                Err(e) => self.errors.push(format!("{}: {e}", settings.sampler)),
            }
            self.panels[index].seeded = None;
        }
        if let Some(point) = self.seed_point {
            self.seed_at(point);
        }
        self.changed();
    }

    /// Marks a run for the GPU when the page has one.
    fn assign(&mut self, mut run: PanelRun) -> PanelRun {
        if self.gpu {
            run.external = Some(self.next_job);
            self.next_job += 1;
        }
        run
    }

    fn runs_mut(&mut self) -> impl Iterator<Item = &mut PanelRun> {
        self.panels.iter_mut().filter_map(|p| p.run.as_mut()).chain(self.sweep.iter_mut().map(|s| &mut s.run))
    }

    /// The runs waiting for the GPU that have not been handed out yet.
    pub fn take_gpu_jobs(&mut self) -> Vec<GpuJob> {
        let model = self
            .snapshot
            .get_or_insert_with(|| MlpModel::new(self.session.trainer.mlp.clone(), self.session.param))
            .data();
        let mut jobs = Vec::new();
        let handed = &mut self.handed_out;
        for run in self.panels.iter().filter_map(|p| p.run.as_ref()).chain(self.sweep.iter().map(|s| &s.run)) {
            if let (Some(id), true) = (run.external, run.is_waiting()) {
                if !handed.contains(&id) {
                    handed.push(id);
                    jobs.push(GpuJob {
                        id,
                        plan: run.plan.clone(),
                        options: run.whole_run_options(),
                        model: model.clone(),
                    });
                }
            }
        }
        jobs
    }

    /// A GPU job's result. A failed job is run on the CPU instead, with a message saying so.
    pub fn finish_gpu_job(&mut self, id: u64, result: Result<RunResult, String>, elapsed_ms: f64) {
        self.handed_out.retain(|h| *h != id);
        let mut failure = None;
        if let Some(run) = self.runs_mut().find(|r| r.external == Some(id)) {
            let outcome = result.and_then(|r| run.complete(r, elapsed_ms));
            if let Err(e) = outcome {
                run.external = None;
                failure =
                    Some(format!("{}: the GPU run failed ({e}); running it on the CPU instead", run.plan.sampler));
            }
        }
        if let Some(message) = failure {
            self.errors.push(message);
        }
        self.changed();
    }

    pub fn set_scrub(&mut self, fraction: f64) {
        self.settings.scrub = fraction.clamp(0.0, 1.0);
        self.scrub_playing = false;
        self.changed();
    }

    /// Plays the scrubber from where it is (from the start when it is at the end) to the
    /// end, moving every panel through its steps; again to stop.
    pub fn toggle_scrub_play(&mut self) {
        self.scrub_playing = !self.scrub_playing;
        if self.scrub_playing && self.settings.scrub >= 1.0 {
            self.settings.scrub = 0.0;
        }
        self.scrub_clock = None;
        self.changed();
    }

    fn animate_scrub(&mut self, now: f64) {
        if !self.scrub_playing {
            return;
        }
        let last = self.scrub_clock.replace(now).unwrap_or(now);
        self.settings.scrub = (self.settings.scrub + (now - last) / SCRUB_ANIMATION_MS).min(1.0);
        if self.settings.scrub >= 1.0 {
            self.scrub_playing = false;
        }
        self.changed();
    }

    /// Drops a particle at `point` (data coordinates) and follows it under each panel's sampler.
    pub fn seed_at(&mut self, point: [f32; 2]) {
        self.seed_point = Some(point);
        let mut model = match &self.snapshot {
            Some(m) => MlpModel::new(m.mlp.clone(), m.param),
            None => self.current_model(),
        };
        for index in 0..self.panels.len() {
            let settings = self.panels[index].settings.clone();
            let path = self
                .plan_for(&settings.sampler, settings.nfe)
                .and_then(|plan| seeded_trajectory(&plan, &mut model, point, self.settings.sample_seed));
            self.panels[index].seeded = Some(path);
        }
        self.changed();
    }

    // ----- field -----

    pub fn set_field_t(&mut self, text: &str) -> Result<(), String> {
        self.settings.field_t = limits::FIELD_T.parse("field time t", text)?;
        self.field_stale = true;
        self.changed();
        Ok(())
    }

    pub fn set_field_view(&mut self, name: &str) -> Result<(), String> {
        self.settings.field_view = super::settings::FieldView::from_name(name)?;
        self.field_stale = true;
        self.changed();
        Ok(())
    }

    fn compute_field(&mut self, now: f64) {
        let process = self.session.trainer.process;
        let t = self.settings.field_t.min(process.t_max());
        let mut model = self.current_model();
        let view = self.settings.field_view;
        let needs = field::Needs {
            arrows: view == FieldView::Arrows,
            error: view == FieldView::Error,
            density: view == FieldView::Density,
        };
        self.field =
            Some(field::compute(&mut model, self.session.param, &process, t, self.mixture.as_ref(), &self.data, needs));
        self.field_stale = false;
        self.field_time = now;
        self.changed();
    }

    // ----- export and import -----

    /// A panel's final samples as CSV (x,y with a header), which `nde` and the upload read.
    pub fn samples_csv(&self, index: usize) -> Result<String, String> {
        let run = self.panels.get(index).and_then(|p| p.run.as_ref()).ok_or("run the samplers first")?;
        let mut out = String::from("x,y\n");
        for p in &run.positions {
            out.push_str(&format!("{},{}\n", p[0], p[1]));
        }
        Ok(out)
    }

    /// The training data as CSV (x,y with a header): what a link cannot carry travels this way.
    pub fn data_csv(&self) -> String {
        let mut out = String::from("x,y\n");
        for p in &self.data {
            out.push_str(&format!("{},{}\n", p[0], p[1]));
        }
        out
    }

    /// The current weights in the format `nde sample --model FILE` reads.
    pub fn weights_json(&self) -> String {
        weights::save(&self.session.trainer.mlp, &meta_of(&self.settings))
    }

    /// Loads weights from a file; the network's shape, process and parameterisation come
    /// from the file. Nothing changes if the file is refused.
    pub fn import_weights(&mut self, file_name: &str, text: &str) -> Result<(), String> {
        let (mlp, meta) = weights::load(text).map_err(|e| format!("{file_name}: {e}"))?;
        if mlp.config.outputs != 2 || mlp.config.condition_dim != 0 {
            return Err(format!("{file_name}: not a score or velocity network for unconditional 2D data"));
        }
        let get = |key: &str| meta.get(key).cloned().ok_or(format!("{file_name}: meta.{key} is missing"));
        let mut next = self.settings.clone();
        next.process = get("process")?;
        next.param = get("param")?;
        if !super::settings::PAGE_PROCESSES.contains(&next.process.as_str()) {
            return Err(format!("{file_name}: process {} is not available on the page", next.process));
        }
        next.check_model().map_err(|e| format!("{file_name}: {e}"))?;
        next.width = mlp.config.width;
        next.depth = mlp.config.depth;
        next.activation = mlp.config.activation.name().into();
        next.start = Start::Fresh;
        self.settings = next;
        self.rebuild_model();
        self.session = TrainingSession::new(
            Trainer::new(
                mlp,
                self.session.trainer.process,
                self.session.trainer.objective,
                self.data.clone(),
                None,
                self.session.trainer.config.clone(),
            )?,
            self.session.param,
        );
        self.notices.push(format!("{file_name}: weights loaded; a shared link cannot carry imported weights"));
        self.changed();
        Ok(())
    }

    // ----- the work of one frame -----

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
        let before = self.revision;
        self.animate_scrub(start);
        if self.session.steps() < self.replay_to {
            // Exactly the remaining steps: a replay must not overshoot.
            while self.session.steps() < self.replay_to && clock() - start < budget_ms {
                if let Err(e) = self.session.step() {
                    self.errors.push(e);
                    self.replay_to = 0;
                    break;
                }
            }
            self.field_stale = true;
            self.trained();
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
            self.changed();
            return true;
        }
        let sampling = self.panels.iter().any(|p| p.run.as_ref().is_some_and(|r| !r.is_done() && !r.is_waiting()))
            || self.sweep.iter().any(|s| !s.run.is_done() && !s.run.is_waiting());
        if self.playing {
            let share = if sampling { budget_ms * 0.5 } else { budget_ms };
            if let Err(e) = self.session.run_for(share, clock) {
                self.playing = false;
                self.errors.push(e);
                self.changed();
            }
            if clock() - self.field_time > FIELD_REFRESH_MS {
                self.field_stale = true;
            }
            self.trained();
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
                    self.errors.push(message);
                }
            }
            // Partial runs are repainted a few times a second, not every frame.
            let now = clock();
            if now - self.last_progress_paint > PROGRESS_PAINT_MS {
                self.last_progress_paint = now;
                self.changed();
            } else {
                self.trained();
            }
        }
        self.revision != before
    }

    /// Removes the banner's messages (the visitor dismissed them).
    pub fn dismiss_messages(&mut self) {
        self.errors.clear();
        self.notices.clear();
        self.changed();
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
