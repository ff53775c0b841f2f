//! The neural SDE lab's state: the latent SDE's training in frame-sized slices (one path's
//! gradient at a time), the evaluation of the model (paths sampled in slices, then marginals
//! at five times against held-out data and the closed forms, and quadratic variation), the
//! fan chart's paths and drift arrows, the Brownian panel and the Ito/Stratonovich check.
//! No DOM here; `ui::nsde` draws it.

use serde_json::json;

use super::settings::NsdeSettings;
use crate::core::nsde::calculus::{brownian_panel, ito_check_of, ito_path_ends, BrownianPanel, ItoCheck};
use crate::core::nsde::data::generate;
use crate::core::nsde::fit::{evaluation_of, LatentFit, NsdeEvaluation, NsdeWeights, StepRecord};
use crate::core::nsde::gan::GanFit;
use crate::core::nsde::generator_model::{generator_paths, GeneratorModel, GeneratorPathRun};
use crate::core::nsde::paired::paired_from_rows;
use crate::core::nsde::sde_model::PathSetup;
use crate::core::sample::model::{Model, ModelData};
use crate::core::sample::plan::Plan;
use crate::exec::cpu::{run_plan, run_plan_from, RunOptions, RunResult};
use crate::playground::shell::LabStatus;

/// The model the lab opens with: `nde lab nsde train` at the defaults (docs/RESULTS.md).
pub const DEFAULT_WEIGHTS_JSON: &str = include_str!("../../../www/nsde-ou.json");
/// Paths each side of the fan chart.
pub const SHOWN_PATHS: usize = 50;
/// Model and held-out paths of the page's evaluation.
pub const EVAL_PATHS: usize = 512;
/// The evaluation's paths on a hardware GPU while training is paused (the increments are drawn
/// on the CPU, in slices, which takes a few seconds; while training the evaluation keeps to
/// `EVAL_PATHS`).
pub const GPU_EVAL_PATHS: usize = 10_000;
/// Paths per slice of the CPU executor and of the increments.
const PATH_SLICE: usize = 2;
/// The SDE-GAN generator's paths per slice (63 steps of two field evaluations each).
const GAN_PATH_SLICE: usize = 4;
/// The SDE-GAN's paths whose inputs are drawn per slice for a GPU job (194 normals each).
const GAN_DRAW_SLICE: usize = 200;
/// Model paths that carry drift arrows.
pub const ARROW_PATHS: usize = 12;
/// While training, the model is evaluated again after this many steps.
pub const EVAL_EVERY: usize = 25;
/// The Ito/Stratonovich check's size on the page.
pub const ITO_PATHS: usize = 4096;
pub const ITO_STEPS: usize = 100;

/// One drift arrow: at (t, x) on a model path, the decoded prior drift dx/dt = L h(z).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrow {
    pub t: f64,
    pub x: f64,
    pub slope: f64,
}

/// The data side of the fan chart: full values and which were observed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataView {
    pub paths: Vec<Vec<f64>>,
    pub observed: Vec<Vec<bool>>,
    /// Whether path p is driven by model path p's Brownian motion (the latent SDE's, paired
    /// with the weights of the evaluation on show: `core::nsde::paired`); else independent
    /// draws (the SDE-GAN).
    pub paired: bool,
}

/// An evaluation in progress: the SDE-GAN's paths, or the latent SDE's (set up at its first
/// slice, from the weights on show then).
#[derive(Default)]
struct PendingEval {
    paths: Vec<Vec<f64>>,
    latent: Option<LatentEval>,
    /// The SDE-GAN's paths on the GPU (on the CPU, `paths` fills a slice at a time).
    gan_gpu: Option<GanGpuEval>,
    /// Every path is sampled: the figures are computed at the start of the next frame's
    /// work, not at the end of this one's (they take about 4 ms natively, 10+ in wasm).
    sampled: bool,
}

/// The latent SDE's evaluation paths through a plan executor: the CPU's runs them a slice at
/// a time, each slice's Brownian increments drawn just before it; for the GPU's, every
/// path's increments are drawn in slices first, then one job runs them all.
struct LatentEval {
    setup: PathSetup,
    count: usize,
    on_gpu: bool,
    /// Input rows drawn so far (GPU only: the CPU's slices draw their own).
    inputs: Vec<[f32; 2]>,
    /// The input rows of the fan chart's model paths, kept to pair the data with them.
    shown: Vec<[f32; 2]>,
    /// frames[k][p]: path p at observation time k, for the paths run so far.
    frames: Vec<Vec<[f32; 2]>>,
    done: usize,
    /// The GPU job's id, once the inputs are complete; whether it was handed out.
    job: Option<(u64, bool)>,
}

/// The SDE-GAN generator's evaluation paths for the GPU: every path's input rows (V and the
/// increments) drawn in slices, then one job runs them all.
struct GanGpuEval {
    count: usize,
    /// The generator's plan and model (from the first slice).
    setup: Option<(Plan, GeneratorModel)>,
    inputs: Vec<[f32; 2]>,
    done: usize,
    /// The job's id, once the inputs are complete; whether it was handed out.
    job: Option<(u64, bool)>,
}

/// A GPU job of the neural SDE lab: its evaluation paths.
#[derive(Debug, Clone)]
pub struct PathJob {
    pub id: u64,
    pub plan: Plan,
    pub model: ModelData,
    pub options: RunOptions,
}

struct PendingIto {
    ends: Vec<[f64; 3]>,
}

pub struct NsdeLab {
    pub settings: NsdeSettings,
    /// The latent SDE (and the data and times every view reads).
    pub fit: LatentFit,
    /// The SDE-GAN, when the settings ask for it: it is then what trains and is evaluated.
    pub gan: Option<GanFit>,
    /// Whether the weights on show came from the shipped file.
    pub pretrained: bool,
    pub playing: bool,
    pub status: LabStatus,
    /// The last finished evaluation and the step it was made at.
    pub evaluation: Option<(NsdeEvaluation, usize)>,
    pub arrows: Vec<Arrow>,
    pub data: DataView,
    pub brownian: Option<BrownianPanel>,
    pub ito: Option<ItoCheck>,
    /// Steps per second over the last training run.
    pub steps_per_s: f64,
    rate_window: Option<(f64, usize)>,
    pending_eval: Option<PendingEval>,
    pending_ito: Option<PendingIto>,
    /// The page's GPU runner: None without one, Some(software) with one.
    gpu: Option<bool>,
    /// A GPU job failed once: the lab stays on the CPU executor.
    gpu_refused: bool,
    next_job: u64,
    /// The last evaluation's executor and path count.
    pub executed_on: Option<(&'static str, usize)>,
}

impl NsdeLab {
    pub fn new(settings: NsdeSettings, problems: Vec<String>) -> Self {
        let mut status = LabStatus::with_errors(problems);
        let (settings, fit, pretrained) = match Self::fresh_fit(&settings) {
            Ok((fit, pretrained)) => (settings, fit, pretrained),
            Err(e) => {
                status.error(format!("{e}; opening the defaults"));
                let d = NsdeSettings::default();
                let (fit, pretrained) = Self::fresh_fit(&d).expect("the defaults fit");
                (d, fit, pretrained)
            }
        };
        let gan = match settings.gan.then(|| GanFit::new(settings.gan_config())).transpose() {
            Ok(gan) => gan,
            Err(e) => {
                status.error(format!("the SDE-GAN: {e}"));
                None
            }
        };
        let mut lab = NsdeLab {
            settings,
            fit,
            gan,
            pretrained,
            playing: false,
            status,
            evaluation: None,
            arrows: Vec::new(),
            data: DataView::default(),
            brownian: None,
            ito: None,
            steps_per_s: 0.0,
            rate_window: None,
            pending_eval: Some(PendingEval::default()),
            pending_ito: None,
            gpu: None,
            gpu_refused: false,
            next_job: 1,
            executed_on: None,
        };
        lab.refresh_data();
        lab.brownian = match brownian_panel(lab.settings.seed, *lab.fit.train.times.last().unwrap_or(&1.0), 40) {
            Ok(panel) => Some(panel),
            Err(e) => {
                lab.status.error(format!("the Brownian panel: {e}"));
                None
            }
        };
        lab
    }

    /// A fit for the settings, from the shipped weights where they fit (the defaults).
    fn fresh_fit(settings: &NsdeSettings) -> Result<(LatentFit, bool), String> {
        let mut fit = LatentFit::new(settings.fit_config())?;
        let pretrained = settings.fit_config() == NsdeSettings::default().fit_config()
            && NsdeWeights::parse(DEFAULT_WEIGHTS_JSON).and_then(|w| w.apply(&mut fit)).is_ok();
        Ok((fit, pretrained))
    }

    pub fn report(&mut self, message: impl Into<String>) {
        self.status.error(message);
        self.status.changed();
    }

    pub fn notify(&mut self, message: impl Into<String>) {
        self.status.notice(message);
        self.status.changed();
    }

    pub fn dismiss_messages(&mut self) {
        self.status.dismiss();
    }

    /// Changes one setting. The training length and the KL weight go on with the weights on
    /// show; the rest start a new fit.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        self.settings.set(key, value)?;
        if NsdeSettings::keeps_weights(key) {
            self.fit.config.steps = self.settings.steps;
            self.fit.config.kl_weight = self.settings.kl_weight;
            if let Some(gan) = &mut self.gan {
                gan.config.steps = self.settings.steps;
            }
        } else {
            self.restart_with(false)?;
        }
        self.status.changed();
        Ok(())
    }

    /// A new fit from the settings: the shipped weights where they fit, unless `fresh`.
    fn restart_with(&mut self, fresh: bool) -> Result<(), String> {
        let (fit, pretrained) =
            if fresh { (LatentFit::new(self.settings.fit_config())?, false) } else { Self::fresh_fit(&self.settings)? };
        self.gan = if self.settings.gan { Some(GanFit::new(self.settings.gan_config())?) } else { None };
        self.fit = fit;
        self.pretrained = pretrained && self.gan.is_none();
        self.playing = false;
        self.evaluation = None;
        self.executed_on = None;
        self.arrows.clear();
        self.pending_eval = Some(PendingEval::default());
        self.refresh_data();
        self.status.changed();
        Ok(())
    }

    /// Starts again from fresh random weights.
    pub fn restart(&mut self) -> Result<(), String> {
        self.restart_with(true)
    }

    /// Steps the active model has trained, of how many.
    pub fn steps_done(&self) -> usize {
        self.gan.as_ref().map_or(self.fit.steps_done(), |g| g.steps_done())
    }

    pub fn done(&self) -> bool {
        self.gan.as_ref().map_or(self.fit.done(), |g| g.done())
    }

    pub fn toggle_play(&mut self) {
        if self.done() {
            self.notify(format!(
                "training is done ({} steps): raise the steps to go on, or start from fresh weights",
                self.steps_done()
            ));
            return;
        }
        self.playing = !self.playing;
        self.rate_window = None;
        if !self.playing {
            self.pending_eval = Some(PendingEval::default());
        }
        self.status.changed();
    }

    /// Starts the Ito/Stratonovich check (or stops the one running).
    pub fn toggle_ito(&mut self) {
        if self.pending_ito.take().is_none() {
            self.ito = None;
            self.pending_ito = Some(PendingIto { ends: Vec::new() });
        }
        self.status.changed();
    }

    pub fn ito_running(&self) -> Option<usize> {
        self.pending_ito.as_ref().map(|p| p.ends.len())
    }

    /// The fan chart's data paths before an evaluation lands (and for the SDE-GAN): independent
    /// draws. The observed marks are the training set's.
    fn refresh_data(&mut self) {
        let c = &self.fit.config;
        let observed = self.fit.train.paths.iter().take(SHOWN_PATHS).map(|p| p.iter().map(|v| v.is_finite()).collect());
        self.data = DataView {
            paired: false,
            paths: generate(c.data, SHOWN_PATHS, 0.0, c.seed).paths,
            observed: observed.collect(),
        };
    }

    /// Pairs the fan chart's data paths with the latent SDE's evaluation paths on show, from
    /// the input rows (z0, increments) that drove them.
    fn pair_data(&mut self, shown: &[[f32; 2]], rows: usize) {
        if rows == 0 || shown.len() < SHOWN_PATHS * rows {
            return;
        }
        self.data.paths = shown.chunks(rows).map(|r| paired_from_rows(&self.fit, r)).collect();
        self.data.paired = true;
    }

    /// Works for about `budget_ms`: the Ito check or an evaluation in progress first, else
    /// training while playing. Returns whether anything changed.
    pub fn tick(&mut self, budget_ms: f64, clock: &dyn Fn() -> f64) -> bool {
        let start = clock();
        // Out of time when the next piece would end past the budget (one piece a frame at least).
        let mut last = start;
        let mut per_piece = 0.0;
        let mut out_of_time = || {
            let now = clock();
            per_piece = now - last;
            last = now;
            now - start + per_piece >= budget_ms
        };
        if let Some(eval) = self.pending_eval.take() {
            return self.evaluate_some(eval, &mut out_of_time);
        }
        if let Some(mut ito) = self.pending_ito.take() {
            let horizon = 2.0;
            while ito.ends.len() < ITO_PATHS {
                match ito_path_ends(ito.ends.len() as u64, ITO_STEPS, horizon, self.settings.seed) {
                    Ok(ends) => ito.ends.push(ends),
                    Err(e) => {
                        self.report(format!("the Ito check: {e}"));
                        return true;
                    }
                }
                if ito.ends.len() % 64 == 0 && out_of_time() {
                    break;
                }
            }
            if ito.ends.len() < ITO_PATHS {
                self.pending_ito = Some(ito);
                self.status.numbers_changed();
                return false;
            }
            self.ito = Some(ito_check_of(&ito.ends, ITO_STEPS, horizon));
            self.status.changed();
            return true;
        }
        if !self.playing {
            return false;
        }
        let (since, steps_then) = *self.rate_window.get_or_insert((start, self.steps_done()));
        let mut changed = false;
        while !out_of_time() && !self.done() {
            let advanced = match &mut self.gan {
                Some(gan) => gan.advance(&mut out_of_time).map(|s| s.is_some()),
                None => self.fit.advance(&mut out_of_time).map(|s| s.is_some()),
            };
            match advanced {
                Ok(true) => {
                    self.pretrained = false;
                    self.status.numbers_changed();
                    changed = true;
                    if self.steps_done() % EVAL_EVERY == 0 {
                        self.pending_eval = Some(PendingEval::default());
                        break;
                    }
                }
                Ok(false) => break,
                Err(e) => {
                    self.playing = false;
                    self.report(format!("{e}; the weights stay as they were before that step"));
                    return true;
                }
            }
        }
        let elapsed = clock() - since;
        if elapsed > 500.0 {
            self.steps_per_s = (self.steps_done() - steps_then) as f64 / (elapsed / 1000.0);
        }
        if self.done() && self.playing {
            self.playing = false;
            self.pending_eval = Some(PendingEval::default());
            self.notify(format!("trained {} steps", self.steps_done()));
        }
        changed
    }

    /// One slice of the evaluation in progress; Some(eval) goes back when it is not done.
    fn evaluate_some(&mut self, mut eval: PendingEval, out_of_time: &mut dyn FnMut() -> bool) -> bool {
        if eval.sampled {
            self.finish_eval(eval);
            return true;
        }
        if let Some(gan) = &self.gan {
            if self.gpu == Some(false) && !self.gpu_refused {
                // A hardware GPU: draw every path's inputs in slices, then hand out one job.
                let count = if self.playing { EVAL_PATHS } else { GPU_EVAL_PATHS };
                let run = eval.gan_gpu.get_or_insert_with(|| GanGpuEval {
                    count,
                    setup: None,
                    inputs: Vec::new(),
                    done: 0,
                    job: None,
                });
                while run.job.is_none() {
                    let slice = run.done..(run.done + GAN_DRAW_SLICE).min(run.count);
                    match GeneratorPathRun::of_fit(gan, slice.clone()) {
                        Ok(part) => {
                            run.inputs.extend(part.options.inputs);
                            run.setup.get_or_insert((part.plan, part.model));
                            run.done = slice.end;
                        }
                        Err(e) => {
                            self.report(format!("sampling the model: {e}"));
                            return true;
                        }
                    }
                    if run.done == run.count {
                        run.job = Some((self.next_job, false));
                        self.next_job += 1;
                    } else if out_of_time() {
                        break;
                    }
                }
                self.pending_eval = Some(eval);
                return false;
            }
            // The generator's paths through the CPU plan executor, a few per slice of the
            // frame (core::nsde::generator_model).
            while eval.paths.len() < EVAL_PATHS {
                let slice = eval.paths.len()..(eval.paths.len() + GAN_PATH_SLICE).min(EVAL_PATHS);
                let drawn = GeneratorPathRun::of_fit(gan, slice).and_then(|run| {
                    let mut model = run.model.clone();
                    run_plan(&run.plan, &mut model, &run.options).map_err(|e| e.to_string())
                });
                match drawn {
                    Ok(result) => eval.paths.extend(generator_paths(&result, gan.scale)),
                    Err(e) => {
                        self.report(format!("sampling the model: {e}"));
                        return true;
                    }
                }
                if out_of_time() {
                    break;
                }
            }
            eval.sampled = eval.paths.len() >= EVAL_PATHS;
            self.pending_eval = Some(eval);
            return false;
        }
        if eval.latent.is_none() {
            let on_gpu = self.gpu == Some(false) && !self.gpu_refused;
            let count = if on_gpu && !self.playing { GPU_EVAL_PATHS } else { EVAL_PATHS };
            match PathSetup::of_fit(&self.fit) {
                Ok(setup) => {
                    let frames = vec![Vec::with_capacity(count); setup.times.len()];
                    eval.latent = Some(LatentEval {
                        setup,
                        count,
                        on_gpu,
                        inputs: Vec::new(),
                        shown: Vec::new(),
                        frames,
                        done: 0,
                        job: None,
                    });
                }
                Err(e) => {
                    self.report(format!("sampling the model: {e}"));
                    return true;
                }
            }
        }
        let run = eval.latent.as_mut().expect("set up above");
        let fit = &self.fit;
        let draws = |p: usize| fit.model_path_draws(fit.grid(), p);
        while run.done < run.count && run.job.is_none() {
            let slice = run.done..(run.done + PATH_SLICE).min(run.count);
            let inputs = run.setup.inputs(slice.clone(), &draws);
            let rows = run.setup.rows();
            let keep = SHOWN_PATHS.saturating_sub(slice.start).min(slice.len()) * rows;
            run.shown.extend_from_slice(&inputs[..keep]);
            if run.on_gpu {
                run.inputs.extend(inputs);
                run.done = slice.end;
                if run.done == run.count {
                    // Every path's increments are drawn: the GPU runs them as one job.
                    run.job = Some((self.next_job, false));
                    self.next_job += 1;
                    run.done = 0;
                    break;
                }
            } else {
                let mut options = run.setup.options(slice.len(), inputs);
                options.traced = slice.clone().collect();
                let mut model = run.setup.model.clone();
                match run_plan_from(&run.setup.plan, &mut model, &options, slice.start) {
                    Ok(result) => {
                        for (frame, more) in run.frames.iter_mut().zip(result.frames) {
                            frame.extend(more);
                        }
                        run.done = slice.end;
                    }
                    Err(e) => {
                        self.report(format!("sampling the model: {}", e));
                        return true;
                    }
                }
            }
            if out_of_time() {
                break;
            }
        }
        eval.sampled = !run.on_gpu && run.done == run.count;
        self.pending_eval = Some(eval);
        false
    }

    /// The page's GPU runner, if it has one: Some(whether its adapter is a software one). The
    /// evaluation runs on a hardware GPU only: on a software one (the CPU emulating a GPU) the
    /// CPU executor is the faster.
    pub fn set_gpu(&mut self, gpu: Option<bool>) {
        self.gpu = gpu;
    }

    /// The evaluation's GPU job, once its increments are drawn (handed out once).
    pub fn take_path_job(&mut self) -> Option<PathJob> {
        let eval = self.pending_eval.as_mut()?;
        if let Some(run) = eval.gan_gpu.as_mut() {
            let (id, handed) = run.job.as_mut()?;
            if *handed {
                return None;
            }
            *handed = true;
            let (plan, model) = run.setup.clone()?;
            let inputs = std::mem::take(&mut run.inputs);
            let options = RunOptions { particles: run.count, seed: 0, traced: (0..run.count).collect(), inputs };
            return Some(PathJob { id: *id, plan, model: model.data(), options });
        }
        let run = eval.latent.as_mut()?;
        let (id, handed) = run.job.as_mut()?;
        if *handed {
            return None;
        }
        *handed = true;
        let inputs = std::mem::take(&mut run.inputs);
        Some(PathJob {
            id: *id,
            plan: run.setup.plan.clone(),
            model: run.setup.model.data(),
            options: run.setup.options(run.count, inputs),
        })
    }

    /// The GPU's paths for job `id`; an error puts the lab on the CPU executor for good (and
    /// the evaluation starts again there).
    pub fn finish_path_job(&mut self, id: u64, result: Result<RunResult, String>) {
        let Some(mut eval) = self.pending_eval.take() else { return };
        if eval.gan_gpu.as_ref().is_some_and(|r| r.job.map(|j| j.0) == Some(id)) {
            let Some(gan) = &self.gan else { return };
            match result {
                Ok(result) if result.frames.len() == gan.times().len() => {
                    eval.paths = generator_paths(&result, gan.scale);
                    self.finish_eval(eval);
                }
                Ok(_) => self.fall_back_to_cpu("the GPU's paths came back in the wrong shape".into()),
                Err(e) => self.fall_back_to_cpu(format!("the GPU could not run the model's paths ({e})")),
            }
            self.status.changed();
            return;
        }
        let Some(run) = eval.latent.as_mut().filter(|r| r.job.map(|j| j.0) == Some(id)) else {
            // A stale job (the weights or settings changed since): its paths are not shown.
            self.pending_eval = Some(eval);
            return;
        };
        match result {
            Ok(result) if result.frames.len() == run.frames.len() => {
                run.frames = result.frames;
                run.done = run.count;
                self.finish_eval(eval);
            }
            Ok(_) => self.fall_back_to_cpu("the GPU's paths came back in the wrong shape".into()),
            Err(e) => self.fall_back_to_cpu(format!("the GPU could not run the model's paths ({e})")),
        }
        self.status.changed();
    }

    /// A GPU job failed: say why, and evaluate on the CPU executor from now on.
    fn fall_back_to_cpu(&mut self, why: String) {
        self.gpu_refused = true;
        self.report(format!("{why}; the CPU executor runs them from now on"));
        self.pending_eval = Some(PendingEval::default());
    }

    fn finish_eval(&mut self, eval: PendingEval) {
        let times = self.fit.train.times.clone();
        if let Some(gan) = &self.gan {
            self.arrows.clear();
            let count = eval.paths.len();
            self.executed_on = Some((if eval.gan_gpu.is_some() { "GPU" } else { "CPU" }, count));
            match evaluation_of(gan.config.data, &times, eval.paths, gan.held_out(count)) {
                Ok(e) => self.evaluation = Some((e, gan.steps_done())),
                Err(e) => self.status.error(format!("the evaluation: {e}")),
            }
            self.status.changed();
            return;
        }
        let Some(run) = eval.latent else { return };
        let latent: Vec<Vec<Vec<f64>>> = (0..run.count)
            .map(|p| run.frames.iter().map(|f| vec![f64::from(f[p][0]), f64::from(f[p][1])]).collect())
            .collect();
        self.executed_on = Some((if run.on_gpu { "GPU" } else { "CPU" }, run.count));
        let model = &self.fit.model;
        let model_paths: Vec<Vec<f64>> = latent.iter().map(|p| p.iter().map(|z| model.decode(z)).collect()).collect();
        self.arrows = latent
            .iter()
            .take(ARROW_PATHS)
            .flat_map(|p| {
                p.iter()
                    .zip(&times)
                    .step_by(3)
                    .map(|(z, &t)| Arrow { t, x: model.decode(z), slope: model.decoded_prior_drift(z) })
                    .collect::<Vec<_>>()
            })
            .collect();
        match evaluation_of(self.fit.config.data, &times, model_paths, self.fit.held_out(run.count)) {
            Ok(e) => self.evaluation = Some((e, self.fit.steps_done())),
            Err(e) => self.status.error(format!("the evaluation: {e}")),
        }
        // The model's paths on show are now these weights': pair the data with them.
        self.pair_data(&run.shown, run.setup.rows());
        self.status.changed();
    }

    /// The mean ELBO terms of the last `n` steps.
    pub fn recent(&self, n: usize) -> Option<StepRecord> {
        let h = &self.fit.history;
        let tail = &h[h.len().saturating_sub(n)..];
        let last = *tail.last()?;
        let k = tail.len() as f64;
        let mut terms = crate::core::nsde::latent::ElboTerms::default();
        tail.iter().for_each(|r| terms.add(&r.terms));
        Some(StepRecord { terms: terms.scaled(1.0 / k), loss: tail.iter().map(|r| r.loss).sum::<f64>() / k, ..last })
    }

    /// The figures of `nde lab nsde train --json` at this point of the run.
    pub fn report_json(&self) -> serde_json::Value {
        let c = &self.fit.config;
        let mut report = json!({
            "data": c.data.name(),
            "model": if self.gan.is_some() { "gan" } else { "latent" },
            "solver": c.method.name(),
            "dt": c.dt,
            "drop": c.drop,
            "steps": self.steps_done(),
            "batch": c.batch,
            "kl_weight": c.kl_weight,
            "params": self.fit.model.param_count(),
            "pretrained": self.pretrained,
        });
        if let (Some(gan), serde_json::Value::Object(map)) = (&self.gan, &mut report) {
            let tail = &gan.history[gan.history.len().saturating_sub(50)..];
            let gap = tail.iter().map(|p| p.1).sum::<f64>() / tail.len().max(1) as f64;
            map.insert("wasserstein_gap".into(), if tail.is_empty() { json!(null) } else { json!(gap) });
            map.insert("params".into(), json!(gan.g_params.len() + gan.d_params.len()));
        }
        if let (Some(r), serde_json::Value::Object(map)) = (self.recent(50).filter(|_| self.gan.is_none()), &mut report)
        {
            map.insert("elbo".into(), json!(r.terms.elbo()));
            map.insert("log_lik".into(), json!(-r.terms.nll));
            map.insert("kl0".into(), json!(r.terms.kl0));
            map.insert("kl_path".into(), json!(r.terms.kl_path));
        }
        if let (Some((e, _)), serde_json::Value::Object(map)) = (&self.evaluation, &mut report) {
            let (executor, paths) = self.executed_on.unwrap_or(("CPU", EVAL_PATHS));
            map.insert("eval_paths".into(), json!(paths));
            map.insert("eval_executor".into(), json!(executor));
            map.insert("mean_w1".into(), json!(e.mean_w1));
            map.insert("qv_rate_model".into(), json!(e.qv_rate_model));
            map.insert("qv_rate_data".into(), json!(e.qv_rate_data));
            map.insert("qv_rate_exact".into(), json!(e.qv_rate_exact));
            map.insert(
                "marginals".into(),
                json!(e
                    .marginals
                    .iter()
                    .map(|m| json!({"t": m.t, "w1": m.w1, "ks": m.ks, "mean_err": m.mean_err, "var_err": m.var_err}))
                    .collect::<Vec<_>>()),
            );
        }
        report
    }

    /// The fan chart's paths: kind (data or model), path, t, x.
    pub fn export_paths(&self) -> String {
        let mut text = String::from("kind,path,t,x\n");
        let times = &self.fit.train.times;
        for (p, path) in self.data.paths.iter().enumerate() {
            for (i, x) in path.iter().enumerate() {
                if self.data.observed[p][i] {
                    text.push_str(&format!("data,{p},{},{x}\n", times[i]));
                }
            }
        }
        if let Some((e, _)) = &self.evaluation {
            for (p, path) in e.model_paths.iter().take(SHOWN_PATHS).enumerate() {
                for (t, x) in times.iter().zip(path) {
                    text.push_str(&format!("model,{p},{t},{x}\n"));
                }
            }
        }
        text
    }

    pub fn export_weights(&self) -> String {
        serde_json::to_string(&NsdeWeights::of(&self.fit)).expect("weights encode")
    }

    /// Loads a weights file for the current data.
    pub fn load_weights(&mut self, name: &str, text: &str) -> Result<(), String> {
        let weights = NsdeWeights::parse(text).map_err(|e| format!("{name}: {e}"))?;
        let mut fit = LatentFit::new(self.settings.fit_config())?;
        weights.apply(&mut fit).map_err(|e| format!("{name}: {e}"))?;
        self.fit = fit;
        self.pretrained = false;
        self.playing = false;
        self.evaluation = None;
        self.pending_eval = Some(PendingEval::default());
        self.notify(format!("loaded {name} ({} steps trained)", self.fit.steps_done()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn clock() -> impl Fn() -> f64 {
        let t = std::cell::Cell::new(0.0);
        move || {
            t.set(t.get() + 1.0);
            t.get()
        }
    }

    /// Ticks until the lab hands out its evaluation's GPU job.
    fn next_job(lab: &mut NsdeLab) -> PathJob {
        let tick = clock();
        for _ in 0..100_000 {
            lab.tick(4.0, &tick);
            if let Some(job) = lab.take_path_job() {
                return job;
            }
        }
        panic!("no GPU job was handed out: errors {:?}", lab.status.errors);
    }

    fn run_until(lab: &mut NsdeLab, done: impl Fn(&NsdeLab) -> bool) -> usize {
        let tick = clock();
        let mut frames = 0;
        while !done(lab) {
            lab.tick(4.0, &tick);
            frames += 1;
            assert!(
                frames < 100_000,
                "the lab never finished: playing {} steps {} eval {:?} errors {:?}",
                lab.playing,
                lab.fit.steps_done(),
                lab.evaluation.as_ref().map(|e| e.1),
                lab.status.errors
            );
        }
        frames
    }

    /// The lab opens with the shipped model, evaluates it in slices, and the shipped model's
    /// marginals are close on the page's own (smaller) evaluation: mean W1 below 0.2 (the CLI
    /// measures 0.128 on 4096 paths; LABS.md's 0.1 was not reached: docs/RESULTS.md).
    #[test]
    fn the_lab_opens_with_the_shipped_model_and_evaluates_it_in_slices() {
        let mut lab = NsdeLab::new(NsdeSettings::default(), vec![]);
        assert!(lab.pretrained, "the shipped weights fit the defaults");
        assert!(lab.fit.done());
        let frames = run_until(&mut lab, |l| l.evaluation.is_some());
        assert!(frames > 1, "the evaluation took more than one slice");
        let (e, _) = lab.evaluation.as_ref().unwrap();
        assert_eq!(e.marginals.len(), 5);
        assert!(e.mean_w1 < 0.2, "shipped model W1 {}", e.mean_w1);
        // The known weakness, measured: too little diffusion.
        assert!(e.qv_rate_model < 0.5 * e.qv_rate_data, "QV {} vs {}", e.qv_rate_model, e.qv_rate_data);
        assert!(lab.arrows.len() >= ARROW_PATHS);
        assert!(lab.arrows.iter().all(|a| a.slope.is_finite() && a.x.is_finite()));
        assert_eq!(lab.brownian.as_ref().unwrap().max_shared_difference, 0.0);
        // The fan chart's data paths are paired with the evaluation's model paths.
        assert!(lab.data.paired && lab.data.paths.len() == SHOWN_PATHS);
        let tree = crate::core::nsde::paired::paired_data_path(&lab.fit, 3).unwrap();
        assert!(lab.data.paths[3].iter().zip(&tree).all(|(a, b)| (a - b).abs() < 1e-5), "path 3 as the tree pairs it");
        let report = lab.report_json();
        assert!(report["mean_w1"].as_f64().is_some() && report["elbo"].is_null());
        assert!(lab.export_paths().lines().count() > SHOWN_PATHS * 30);
        // Raising the KL weight keeps the weights; the data does not.
        let before = lab.fit.model.params.clone();
        lab.set("kl", "3").unwrap();
        assert_eq!(lab.fit.model.params, before);
        assert!(lab.settings.to_query().contains("kl=3"));
        lab.set("data", "gbm").unwrap();
        assert!(!lab.pretrained && lab.fit.steps_done() == 0);
    }

    /// On a hardware GPU the evaluation's increments are drawn in slices, then handed out as
    /// one job (once); its result gives the same evaluation as the CPU executor's slices.
    /// A failed job puts the lab on the CPU executor, which starts the evaluation again; a
    /// stale job is ignored. (The "GPU" here is the CPU executor run on the whole job.)
    #[test]
    fn gpu_jobs_carry_the_evaluation_and_a_failure_falls_back_to_the_cpu() {
        let lab = || NsdeLab::new(NsdeSettings::default(), vec![]);
        gpu_jobs_round_trip(lab, |job| {
            let ModelData::DiagonalSde(mut model) = job.model.clone() else { panic!("a neural SDE's model") };
            run_plan(&job.plan, &mut model, &job.options).unwrap()
        });
    }

    /// What a lab (from `new_lab`) does with its evaluation's GPU jobs, `run_job` standing in
    /// for the GPU: a job is handed out once, with every path's input rows; a stale result
    /// changes nothing; the job's paths give the evaluation of a CPU lab's slices; a failure is
    /// reported and the CPU executor evaluates from then on. The lab plays, so that the
    /// evaluation keeps to the CPU's path count (no 10^4 draws here).
    fn gpu_jobs_round_trip(new_lab: impl Fn() -> NsdeLab, run_job: impl Fn(&PathJob) -> RunResult) {
        let mut cpu = new_lab();
        run_until(&mut cpu, |l| l.evaluation.is_some());
        assert_eq!(cpu.executed_on, Some(("CPU", EVAL_PATHS)));
        let mut lab = new_lab();
        lab.set_gpu(Some(false));
        lab.playing = true;
        let job = next_job(&mut lab);
        assert!(lab.take_path_job().is_none(), "a job is handed out once");
        assert_eq!(job.options.particles, EVAL_PATHS);
        assert_eq!(job.options.inputs.len(), EVAL_PATHS * job.plan.input_rows());
        lab.finish_path_job(job.id + 7, Err("stale".into()));
        assert!(lab.evaluation.is_none() && lab.status.errors.is_empty(), "a stale job changes nothing");
        lab.finish_path_job(job.id, Ok(run_job(&job)));
        assert_eq!(lab.executed_on, Some(("GPU", EVAL_PATHS)));
        let (a, b) = (&lab.evaluation.as_ref().unwrap().0, &cpu.evaluation.as_ref().unwrap().0);
        assert_eq!(a.mean_w1, b.mean_w1, "the whole job and the CPU's slices give the same paths");
        lab.pending_eval = Some(PendingEval::default());
        let job = next_job(&mut lab);
        lab.finish_path_job(job.id, Err("device lost".into()));
        assert!(lab.status.errors.iter().any(|e| e.contains("device lost")), "{:?}", lab.status.errors);
        lab.playing = false;
        run_until(&mut lab, |l| l.pending_eval.is_none());
        assert_eq!(lab.executed_on, Some(("CPU", EVAL_PATHS)));
    }

    /// Training runs in slices, a step's paths over several frames, and a weights file
    /// round-trips through the lab.
    #[test]
    fn training_runs_in_slices_and_weights_round_trip() {
        let mut lab = NsdeLab::new(NsdeSettings::default(), vec![]);
        lab.set("batch", "4").unwrap();
        lab.set("dt", "0.1").unwrap();
        lab.restart().unwrap();
        lab.set("steps", "3").unwrap();
        lab.toggle_play();
        run_until(&mut lab, |l| !l.playing && l.evaluation.as_ref().is_some_and(|(_, s)| *s == 3));
        assert_eq!(lab.fit.steps_done(), 3);
        assert!(lab.recent(10).unwrap().terms.elbo().is_finite());
        let text = lab.export_weights();
        let mut other = NsdeLab::new(lab.settings.clone(), vec![]);
        other.load_weights("w.json", &text).unwrap();
        assert_eq!(other.fit.model.params, lab.fit.model.params);
        assert!(other.load_weights("bad.json", "{").unwrap_err().starts_with("bad.json: not a neural SDE"));
    }

    /// The SDE-GAN's evaluation on a hardware GPU: its inputs (V and the increments) drawn in
    /// slices, then one job, as the latent SDE's.
    #[test]
    fn the_gan_evaluation_runs_as_one_gpu_job() {
        let gan_lab = || {
            let mut lab = NsdeLab::new(NsdeSettings::default(), vec![]);
            lab.set("data", "ou-tdep").unwrap();
            lab.set("model", "gan").unwrap();
            lab
        };
        gpu_jobs_round_trip(gan_lab, |job| {
            let ModelData::Generator(mut model) = job.model.clone() else { panic!("the generator's model") };
            run_plan(&job.plan, &mut model, &job.options).unwrap()
        });
    }

    /// The SDE-GAN toggle: a short run in slices, evaluated; back to the latent SDE.
    #[test]
    fn the_gan_toggle_trains_a_short_run() {
        let mut lab = NsdeLab::new(NsdeSettings::default(), vec![]);
        lab.set("data", "ou-tdep").unwrap();
        lab.set("model", "gan").unwrap();
        lab.set("batch", "4").unwrap();
        lab.set("steps", "2").unwrap();
        assert!(lab.gan.is_some() && !lab.pretrained);
        assert!(!lab.data.paired, "the generator's noise is not paired with the data");
        lab.toggle_play();
        run_until(&mut lab, |l| !l.playing && l.evaluation.as_ref().is_some_and(|(_, s)| *s == 2));
        assert_eq!(lab.steps_done(), 2);
        let report = lab.report_json();
        assert_eq!(report["model"], "gan");
        assert!(report["wasserstein_gap"].as_f64().is_some() && report["mean_w1"].as_f64().is_some());
        assert!(lab.arrows.is_empty());
        lab.set("model", "latent").unwrap();
        assert!(lab.gan.is_none());
        run_until(&mut lab, |l| l.evaluation.is_some());
        assert!(lab.data.paired, "the latent SDE's evaluation pairs the data");
    }

    #[test]
    fn the_ito_check_runs_in_slices() {
        let mut lab = NsdeLab::new(NsdeSettings::default(), vec![]);
        run_until(&mut lab, |l| l.evaluation.is_some());
        lab.toggle_ito();
        assert_eq!(lab.ito_running(), Some(0));
        let frames = run_until(&mut lab, |l| l.ito.is_some());
        assert!(frames > 1);
        assert!(lab.ito.as_ref().unwrap().pass(), "{:?}", lab.ito);
    }
}
