//! The controllable-generation lab's state: for the chosen task, a run per method (inpainting
//! and colourisation: replacement, exact conditional score, exact likelihood guidance, DPS;
//! class guidance: one run; restoration: one run per MR sampler), each a plan on the CPU
//! executor advanced a slice of particles per frame, its metrics against the exact answer
//! once it is done, and the exports. No DOM here; `ui::inverse` draws it.

use serde_json::{json, Value};

use super::settings::{InverseSettings, Task};
use crate::core::data::gmm::GaussianMixture;
use crate::core::inverse::conditional::LineConditional;
use crate::core::inverse::degradation::{posterior_modes, Degradation};
use crate::core::inverse::guided_model::{Guidance, GuidedModel};
use crate::core::inverse::line::LineObservation;
use crate::core::inverse::method_plan::{Inpainting, Unconditional};
use crate::core::inverse::noisy_classifier::NoisyClassifier;
use crate::core::inverse::replacement::{replacement_limit, InverseMethod};
use crate::core::inverse::restore::{Restorer, RESTORE_SAMPLERS};
use crate::core::metrics::{projections, sliced_wasserstein};
use crate::core::metrics_1d::{moments, wasserstein1};
use crate::core::nn::weights;
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::rng::RngStream;
use crate::core::sample::grid::T_EPS_SAMPLE;
use crate::core::sample::model::Model;
use crate::core::sample::plan::Plan;
use crate::core::sample::{build, SamplerOptions};
use crate::exec::cpu::{run_plan_from, RunOptions};
use crate::playground::shell::LabStatus;

/// The restoration networks shipped with the page (`nde lab inverse train-restore
/// --degradation D --steps 8000 --out www/restore-D.json`; docs/RESULTS.md).
pub const SHIPPED_DROP_Y: &str = include_str!("../../../www/restore-drop-y.json");
pub const SHIPPED_SHRINK: &str = include_str!("../../../www/restore-shrink.json");
/// The noise-conditional classifier of class guidance (`nde lab inverse train-classifier
/// --steps 20000 --out www/class-gmm8.json`).
/// The diffusion lab's shipped gmm8 model (ε-prediction under VP): the unconditional network
/// replacement and DPS can use.
pub const SHIPPED_PRIOR: &str = include_str!("../../../www/default-model.json");
pub const SHIPPED_CLASSIFIER: &str = include_str!("../../../www/class-gmm8.json");

/// Particles in a run's first call of the executor; later calls are sized to take about
/// SLICE_MS each (a guided score costs ten times an exact one), so a frame that runs as many
/// slices as its budget allows overshoots it by little.
const FIRST_SLICE: usize = 10;
const SLICE_MS: f64 = 4.0;
const MAX_SLICE: usize = 500;
/// Particles whose paths are kept, per run.
pub const TRACED: usize = 4;
/// Components of a restoration posterior lighter than this are not modes.
const MODE_WEIGHT: f64 = 0.05;

/// What a finished run measured.
#[derive(Debug, Clone, PartialEq)]
pub enum RunMetrics {
    /// Inpainting and colourisation: the free coordinate against the exact conditional.
    Line { mean: f64, var: f64, w1: f64, z_mean: f64, off_line: f64 },
    /// Class guidance: the share of samples whose most likely component is the class, and
    /// the SWD to the component (with the floor of two exact draws).
    Class { share: f64, swd: f64, floor: f64 },
    /// Restoration: SWD to exact posterior draws (with their floor), the MMSE estimate (the
    /// samples' mean) and its distance to the nearest mode, and the median sample's.
    Restore { swd: f64, floor: f64, mmse: [f64; 2], mmse_to_mode: f64, sample_to_mode: f64 },
}

/// One method's (or sampler's) run.
pub struct Run {
    pub label: String,
    plan: Plan,
    model: Box<dyn Model>,
    pub particles: usize,
    pub done: usize,
    pub positions: Vec<[f64; 2]>,
    /// The traced particles' states after each step.
    pub paths: Vec<Vec<[f64; 2]>>,
    pub nfe: f64,
    pub metrics: Option<RunMetrics>,
    pub error: Option<String>,
    /// Particles per call of the executor.
    slice: usize,
}

impl Run {
    fn new(label: &str, plan: Plan, model: Box<dyn Model>, particles: usize) -> Self {
        Run {
            label: label.to_string(),
            plan,
            model,
            particles,
            done: 0,
            positions: Vec::new(),
            paths: Vec::new(),
            nfe: 0.0,
            metrics: None,
            error: None,
            slice: FIRST_SLICE,
        }
    }

    pub fn finished(&self) -> bool {
        self.done >= self.particles || self.error.is_some()
    }
}

pub struct InverseLab {
    pub settings: InverseSettings,
    pub status: LabStatus,
    pub prior: GaussianMixture,
    /// The observed line (inpainting, colourisation).
    pub line: Option<LineObservation>,
    /// The exact conditional on the line.
    pub conditional: Option<LineConditional>,
    /// Replacement's limit (correlated Gaussian data observed at angle 0).
    pub limit: Option<(f64, f64)>,
    /// Restoration: the degraded point and its exact posterior.
    pub degraded: Option<[f64; 2]>,
    pub posterior: Option<GaussianMixture>,
    pub modes: Vec<[f64; 2]>,
    pub runs: Vec<Run>,
    /// Bumped whenever what the plane shows changes.
    pub revision: u64,
    /// Counts the restarts: the shaded density (the prior, or the posterior) changes only then.
    pub scene: u64,
    networks: [Option<Restorer>; 2],
    classifier: Option<NoisyClassifier>,
}

fn restorer_from(text: &str) -> Option<Restorer> {
    let (mlp, meta) = weights::load(text).ok()?;
    let param = Parameterisation::from_name(meta.get("param")?).ok()?;
    Some(Restorer::Network { mlp, param })
}

impl InverseLab {
    pub fn new(settings: InverseSettings, problems: Vec<String>) -> Self {
        let mut status = LabStatus::with_errors(problems);
        let settings = match settings.check() {
            Ok(()) => settings,
            Err(e) => {
                status.error(format!("{e}; opening the defaults"));
                InverseSettings::default()
            }
        };
        let mut lab = InverseLab {
            settings,
            status,
            prior: GaussianMixture::eight_gaussians(),
            line: None,
            conditional: None,
            limit: None,
            degraded: None,
            posterior: None,
            modes: Vec::new(),
            runs: Vec::new(),
            revision: 0,
            scene: 0,
            networks: [restorer_from(SHIPPED_DROP_Y), restorer_from(SHIPPED_SHRINK)],
            classifier: NoisyClassifier::load(SHIPPED_CLASSIFIER).ok(),
        };
        if let Err(e) = lab.restart() {
            lab.report(e);
        }
        lab
    }

    pub fn report(&mut self, message: impl Into<String>) {
        self.status.error(message);
        self.status.changed();
    }

    pub fn dismiss_messages(&mut self) {
        self.status.dismiss();
    }

    /// Sets one key, checked; the runs start over.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let before = self.settings.clone();
        self.settings.set(key, value)?;
        if let Err(e) = self.restart() {
            self.settings = before;
            self.restart()?;
            return Err(e);
        }
        Ok(())
    }

    /// A point of the plane chosen by the pointer: the observed value (inpainting and
    /// colourisation: its coordinate along the line's normal), the nearest class, or the clean
    /// point to degrade.
    pub fn point(&mut self, p: [f64; 2]) -> Result<(), String> {
        if !(p[0].is_finite() && p[1].is_finite()) {
            return Ok(());
        }
        let clamp = |v: f64| (v.clamp(-4.0, 4.0) * 100.0).round() / 100.0;
        match self.settings.task {
            Task::Inpaint | Task::Colour => {
                let line = LineObservation::at_angle(self.settings.line_angle(), 0.0)?;
                self.set("observe", &clamp(line.rotate(p)[0]).to_string())
            }
            Task::Class => {
                let spec = self.prior.to_spec();
                let nearest = (0..spec.means.len())
                    .min_by(|a, b| {
                        let d = |k: usize| (spec.means[k][0] - p[0]).powi(2) + (spec.means[k][1] - p[1]).powi(2);
                        d(*a).total_cmp(&d(*b))
                    })
                    .unwrap_or(0);
                self.set("class", &nearest.to_string())
            }
            Task::Restore => {
                let before = self.settings.clone();
                self.settings.clean = [clamp(p[0]), clamp(p[1])];
                if let Err(e) = self.settings.check().and_then(|_| self.restart()) {
                    self.settings = before;
                    self.restart()?;
                    return Err(e);
                }
                Ok(())
            }
        }
    }

    /// The data the guided tasks sample.
    fn data(&self) -> Result<GaussianMixture, String> {
        match (self.settings.task, self.settings.data.as_str()) {
            (Task::Inpaint | Task::Colour, "gauss") => {
                let rho = self.settings.rho;
                GaussianMixture::new(vec![1.0], vec![[0.0, 0.0]], vec![[[1.0, rho], [rho, 1.0]]])
            }
            _ => Ok(GaussianMixture::eight_gaussians()),
        }
    }

    /// Builds the task's runs from the settings.
    pub fn restart(&mut self) -> Result<(), String> {
        let s = self.settings.clone();
        self.prior = self.data()?;
        self.line = None;
        self.conditional = None;
        self.limit = None;
        self.degraded = None;
        self.posterior = None;
        self.modes.clear();
        self.runs.clear();
        let process = Process::vp();
        let options = SamplerOptions { nfe: s.nfe, ..SamplerOptions::default() };
        match s.task {
            Task::Inpaint | Task::Colour => {
                let line = LineObservation::at_angle(s.line_angle(), s.observe)?;
                let conditional = LineConditional::new(&self.prior, line)?;
                let unconditional = if s.network_prior {
                    let (mlp, meta) = weights::load(SHIPPED_PRIOR)?;
                    let param = Parameterisation::from_name(meta.get("param").map(String::as_str).unwrap_or(""))?;
                    Unconditional::Network(mlp, param)
                } else {
                    Unconditional::Exact
                };
                let inpainting = Inpainting {
                    prior: &self.prior,
                    line,
                    sampler: &s.sampler,
                    nfe: s.nfe,
                    zeta: s.zeta,
                    unconditional: &unconditional,
                };
                for method in InverseMethod::ALL {
                    let (plan, model) = inpainting.method_plan(method)?;
                    self.runs.push(Run::new(method.name(), plan, model, s.particles));
                }
                if s.data == "gauss" && s.line_angle() == 0.0 {
                    self.limit = Some(replacement_limit(s.rho, s.observe, &process, T_EPS_SAMPLE, 4000));
                }
                self.line = Some(line);
                self.conditional = Some(conditional);
            }
            Task::Class => {
                let plan = build(&s.sampler, process, Parameterisation::Score, &options)?;
                let guidance = if s.trained_classifier {
                    let classifier = self.classifier.clone().ok_or("the shipped classifier did not load")?;
                    Guidance::TrainedClass { class: s.class, scale: s.scale, classifier: Box::new(classifier) }
                } else {
                    Guidance::Class { class: s.class, scale: s.scale }
                };
                let model = GuidedModel::new(self.prior.clone(), process, guidance)?;
                self.runs.push(Run::new("class guidance", plan, Box::new(model), s.particles));
            }
            Task::Restore => {
                let degradation = s.degradation;
                let mut rng = RngStream::new(s.seed, 0x636c_6963); // "clic"
                let mu = degradation.degrade(s.clean, &mut rng);
                let posterior = degradation.posterior(&self.prior, mu)?;
                let restorer = if s.network {
                    let slot = if degradation == Degradation::DropY { 0 } else { 1 };
                    self.networks[slot].clone().ok_or("the shipped restoration network did not load")?
                } else {
                    Restorer::Exact
                };
                for sampler in RESTORE_SAMPLERS {
                    let options = SamplerOptions { nfe: s.restore_nfe, condition: mu, ..SamplerOptions::default() };
                    let param = if s.network { Parameterisation::Eps } else { Parameterisation::Score };
                    let plan = build(sampler, Process::mean_reverting(), param, &options)?;
                    let model = restorer.model(&self.prior, degradation, mu)?;
                    self.runs.push(Run::new(sampler, plan, model, s.particles));
                }
                self.modes = posterior_modes(&posterior, MODE_WEIGHT);
                self.degraded = Some(mu);
                self.posterior = Some(posterior);
            }
        }
        self.scene += 1;
        self.revision += 1;
        self.status.changed();
        Ok(())
    }

    pub fn done(&self) -> bool {
        self.runs.iter().all(Run::finished)
    }

    /// The frame's work: slices of particles, run by run, within the budget.
    pub fn tick(&mut self, budget_ms: f64, clock: &dyn Fn() -> f64) {
        let start = clock();
        let mut worked = false;
        while let Some(k) = self.runs.iter().position(|r| !r.finished()) {
            let before = clock();
            self.advance(k);
            let took = clock() - before;
            let run = &mut self.runs[k];
            if took > 0.0 {
                let scaled = (run.slice as f64 * SLICE_MS / took).clamp(1.0, MAX_SLICE as f64);
                // Grow gently (timer resolution is coarse in browsers), shrink at once.
                run.slice = (scaled as usize).min(2 * run.slice).max(1);
            } else {
                run.slice = (2 * run.slice).min(MAX_SLICE);
            }
            worked = true;
            if clock() - start + SLICE_MS >= budget_ms {
                break;
            }
        }
        if worked {
            self.revision += 1;
            self.status.changed();
        }
    }

    fn advance(&mut self, k: usize) {
        let seed = self.settings.seed;
        let run = &mut self.runs[k];
        let first = run.done;
        let n = run.slice.min(run.particles - first);
        let options = RunOptions { particles: n, seed, traced: (0..TRACED).collect(), inputs: vec![] };
        match run_plan_from(&run.plan, run.model.as_mut(), &options, first) {
            Ok(out) => {
                run.positions.extend(out.positions.iter().map(|p| [f64::from(p[0]), f64::from(p[1])]));
                if first == 0 {
                    let traced = out.frames.first().map_or(0, Vec::len);
                    run.paths = (0..traced)
                        .map(|i| out.frames.iter().map(|f| [f64::from(f[i][0]), f64::from(f[i][1])]).collect())
                        .collect();
                }
                run.nfe = out.nfe;
                run.done += n;
                if run.done >= run.particles {
                    let metrics = self.measure(k);
                    self.runs[k].metrics = metrics;
                }
            }
            Err(e) => {
                run.error = Some(e.to_string());
                let message = format!("{}: {e}", run.label);
                self.report(message);
            }
        }
    }

    fn measure(&self, k: usize) -> Option<RunMetrics> {
        let xs = &self.runs[k].positions;
        let n = xs.len();
        let seed = self.settings.seed;
        let dirs = projections(64, 3);
        match self.settings.task {
            Task::Inpaint | Task::Colour => {
                let (line, exact) = (self.line?, self.conditional.as_ref()?);
                let free: Vec<f64> = xs.iter().map(|x| line.rotate(*x)[1]).collect();
                let reference: Vec<f64> =
                    exact.sample(n, seed ^ 0x7265_6600).iter().map(|x| line.rotate(*x)[1]).collect();
                let m = moments(&free);
                let (exact_mean, _) = exact.free_moments();
                let off_line = xs.iter().map(|x| (line.rotate(*x)[0] - line.value).abs()).sum::<f64>() / n as f64;
                Some(RunMetrics::Line {
                    mean: m.mean,
                    var: m.variance,
                    w1: wasserstein1(&free, &reference).ok()?,
                    z_mean: (m.mean - exact_mean) / (m.variance / n as f64).sqrt(),
                    off_line,
                })
            }
            Task::Class => {
                let class = self.settings.class;
                let spec = self.prior.to_spec();
                let component =
                    GaussianMixture::new(vec![1.0], vec![spec.means[class]], vec![spec.covs[class]]).ok()?;
                let share = xs
                    .iter()
                    .filter(|x| {
                        let r = self.prior.responsibilities(**x);
                        r.iter().all(|v| *v <= r[class])
                    })
                    .count() as f64
                    / n as f64;
                let swd = sliced_wasserstein(xs, &component.sample(n, seed ^ 0xc1a5), &dirs);
                let floor =
                    sliced_wasserstein(&component.sample(n, seed ^ 0xf1), &component.sample(n, seed ^ 0xf2), &dirs);
                Some(RunMetrics::Class { share, swd, floor })
            }
            Task::Restore => {
                let posterior = self.posterior.as_ref()?;
                let nearest = |x: [f64; 2]| {
                    self.modes
                        .iter()
                        .map(|m| ((x[0] - m[0]).powi(2) + (x[1] - m[1]).powi(2)).sqrt())
                        .fold(f64::INFINITY, f64::min)
                };
                let mmse =
                    [xs.iter().map(|x| x[0]).sum::<f64>() / n as f64, xs.iter().map(|x| x[1]).sum::<f64>() / n as f64];
                let mut d: Vec<f64> = xs.iter().map(|x| nearest(*x)).collect();
                d.sort_by(f64::total_cmp);
                Some(RunMetrics::Restore {
                    swd: sliced_wasserstein(xs, &posterior.sample(n, seed ^ 0x5eed), &dirs),
                    floor: sliced_wasserstein(
                        &posterior.sample(n, seed ^ 0xf1),
                        &posterior.sample(n, seed ^ 0xf2),
                        &dirs,
                    ),
                    mmse,
                    mmse_to_mode: nearest(mmse),
                    sample_to_mode: d[d.len() / 2],
                })
            }
        }
    }

    /// The report: settings and every finished run's figures (no NaN reaches the JSON).
    pub fn export_report(&self) -> String {
        let finite = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
        let rows: Vec<Value> = self
            .runs
            .iter()
            .map(|r| {
                let figures = match &r.metrics {
                    Some(RunMetrics::Line { mean, var, w1, z_mean, off_line }) => json!({
                        "mean": finite(*mean), "var": finite(*var), "w1_to_exact": finite(*w1),
                        "z_mean_to_exact": finite(*z_mean), "mean_off_line": finite(*off_line),
                    }),
                    Some(RunMetrics::Class { share, swd, floor }) => {
                        json!({ "share_in_class": finite(*share), "swd_to_component": finite(*swd), "swd_floor": finite(*floor) })
                    }
                    Some(RunMetrics::Restore { swd, floor, mmse, mmse_to_mode, sample_to_mode }) => json!({
                        "swd_posterior": finite(*swd), "swd_floor": finite(*floor),
                        "mmse": [finite(mmse[0]), finite(mmse[1])], "mmse_to_mode": finite(*mmse_to_mode),
                        "sample_to_mode": finite(*sample_to_mode),
                    }),
                    None => Value::Null,
                };
                json!({ "method": r.label, "particles": r.done, "nfe": finite(r.nfe), "figures": figures, "error": r.error })
            })
            .collect();
        let exact = self.conditional.as_ref().map(|c| {
            let (m, v) = c.free_moments();
            json!({ "mean": finite(m), "var": finite(v) })
        });
        serde_json::to_string_pretty(&json!({
            "lab": "inverse",
            "settings": self.settings.to_query(),
            "task": self.settings.task.name(),
            "exact_conditional": exact,
            "replacement_limit": self.limit.map(|(m, v)| json!({ "mean": finite(m), "var": finite(v) })),
            "degraded": self.degraded.map(|m| json!([finite(m[0]), finite(m[1])])),
            "rows": rows,
        }))
        .expect("a JSON value prints")
    }

    /// Every run's samples as CSV: method, x1, x2.
    pub fn export_samples(&self) -> String {
        let mut out = String::from("method,x1,x2\n");
        for r in &self.runs {
            for x in &r.positions {
                out.push_str(&format!("{},{},{}\n", r.label, x[0], x[1]));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn finish(lab: &mut InverseLab) {
        for _ in 0..10_000 {
            if lab.done() {
                return;
            }
            lab.tick(1e9, &|| 0.0);
        }
        panic!("the runs did not finish");
    }

    /// Inpainting on correlated Gaussian data: every method finishes; the exact and likelihood
    /// runs land on the conditional's mean, replacement near its limit, away from it.
    #[test]
    fn inpainting_runs_every_method_against_the_exact_conditional() {
        let (settings, problems) = InverseSettings::from_query("data=gauss&nfe=200&particles=1000");
        assert!(problems.is_empty());
        let mut lab = InverseLab::new(settings, vec![]);
        assert_eq!(lab.runs.len(), 4);
        finish(&mut lab);
        let mean = |name: &str| match lab.runs.iter().find(|r| r.label == name).unwrap().metrics {
            Some(RunMetrics::Line { mean, .. }) => mean,
            ref other => panic!("{other:?}"),
        };
        let (limit, _) = lab.limit.unwrap();
        assert!((mean("exact") - 0.8).abs() < 0.1 && (mean("likelihood") - 0.8).abs() < 0.1);
        assert!((mean("replacement") - limit).abs() < 0.1 && (mean("replacement") - 0.8).abs() > 0.15);
        let report: Value = serde_json::from_str(&lab.export_report()).unwrap();
        assert_eq!(report["rows"].as_array().unwrap().len(), 4);
        assert!(lab.export_samples().lines().count() == 4001);
    }

    /// A point chosen on the plane moves the observation (colourisation: along the normal),
    /// picks the class, or degrades a new clean point; bad input changes nothing.
    #[test]
    fn pointing_moves_the_observation_the_class_and_the_clean_point() {
        let (settings, _) = InverseSettings::from_query("task=colour&angle=45&particles=100&nfe=20");
        let mut lab = InverseLab::new(settings, vec![]);
        lab.point([1.0, 1.0]).unwrap();
        assert!((lab.settings.observe - 1.41).abs() < 1e-9, "{}", lab.settings.observe);
        lab.set("prior", "network").unwrap();
        assert!(lab.set("data", "gauss").is_err(), "the shipped network is gmm8's");
        lab.set("task", "class").unwrap();
        lab.point([0.1, 2.1]).unwrap();
        assert_eq!(lab.settings.class, 2);
        lab.set("classifier", "trained").unwrap();
        assert_eq!(lab.runs.len(), 1);
        lab.set("task", "restore").unwrap();
        lab.point([-1.0, 0.5]).unwrap();
        assert_eq!(lab.settings.clean, [-1.0, 0.5]);
        assert!(lab.degraded.is_some() && lab.runs.len() == 4);
        let before = lab.settings.clone();
        assert!(lab.set("rnfe", "0").is_err());
        assert_eq!(lab.settings, before);
        lab.point([f64::NAN, 0.0]).unwrap();
        assert_eq!(lab.settings, before);
    }

    /// Restoration with the shipped drop-y network: every MR sampler finishes, the MMSE
    /// estimate of a bimodal posterior lies between its modes while the samples lie nearer them
    /// (at 20 NFE the stochastic MR Sampler's samples still spread: median 0.53 from a mode).
    #[test]
    fn the_shipped_network_restores_drop_y() {
        let (settings, _) = InverseSettings::from_query("task=restore&particles=1000");
        let mut lab = InverseLab::new(settings, vec![]);
        assert!(lab.status.errors.is_empty(), "{:?}", lab.status.errors);
        assert_eq!(lab.modes.len(), 2, "{:?}", lab.modes);
        finish(&mut lab);
        for run in &lab.runs {
            match run.metrics {
                Some(RunMetrics::Restore { mmse_to_mode, sample_to_mode, .. }) => {
                    assert!(
                        mmse_to_mode > 1.0 && sample_to_mode < 0.5 * mmse_to_mode,
                        "{}: {:?}",
                        run.label,
                        run.metrics
                    )
                }
                ref other => panic!("{}: {other:?}", run.label),
            }
        }
    }
}
