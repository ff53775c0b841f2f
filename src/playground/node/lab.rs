//! The neural ODE lab's state: the fit, its training in frame-sized slices, the phase
//! portrait (true and model paths, both fields, clicked starts), the gradient panel and the
//! exports. No DOM here; `ui::node` draws it and forwards events.

use serde_json::json;

use super::cloud::{CloudState, FlowJob};
use super::settings::NodeSettings;
use crate::core::adjoint::gradient_table::{gradient_table_against, pendulum_stress, report_json, GradientRow};
use crate::core::dynamics::fit::{LearnedField, ModelKind, NodeFit, NodeWeights};
use crate::core::dynamics::flow_plan::padded_bounds;
use crate::core::dynamics::systems::{solve_accurately, System, SystemId};
use crate::core::dynamics::VectorField;
use crate::core::solve::tableau::ButcherTableau;
use crate::exec::cpu::RunResult;
use crate::playground::shell::LabStatus;

/// Weights of the page's default fit (the oscillator, trained ahead by `nde lab node
/// train`; docs/RESULTS.md has the command), so the lab opens with a fitted field.
pub const DEFAULT_WEIGHTS_JSON: &str = include_str!("../../../www/node-oscillator.json");

/// Series drawn in the portrait.
pub const DRAWN_SERIES: usize = 12;
/// Arrows per side of the field grid.
pub const ARROWS: usize = 15;
/// Most clicked starts kept.
pub const MAX_CLICKS: usize = 6;
/// While training, the model's paths are recomputed at most this often (they cost a frame).
const PORTRAIT_INTERVAL_MS: f64 = 500.0;

/// A path through the data's times.
pub type Path = Vec<[f64; 2]>;

/// What the portrait shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Portrait {
    /// [x_min, x_max, y_min, y_max].
    pub bounds: [f64; 4],
    pub times: Vec<f64>,
    pub data: Vec<Vec<[f64; 2]>>,
    pub model: Vec<Vec<[f64; 2]>>,
    /// Clicked starts: (true path, model path) over the data's times.
    pub clicked: Vec<(Path, Path)>,
    /// The true and learned fields on an ARROWS x ARROWS grid (row-major from the bottom).
    pub true_field: Vec<[f64; 2]>,
    pub learned_field: Vec<[f64; 2]>,
    /// Hybrid only: (missing term, learned term) at the drawn data points, per component.
    pub residual: Vec<([f64; 2], [f64; 2])>,
}

/// The model's paths computed so far in a redraw (the drawn series', then the clicks').
#[derive(Debug, Clone, Default)]
struct ModelRedraw {
    paths: Vec<Vec<[f64; 2]>>,
}

/// One point of the loss history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossPoint {
    pub step: usize,
    pub loss: f64,
}

pub struct NodeLab {
    pub settings: NodeSettings,
    pub fit: NodeFit,
    pub playing: bool,
    pub status: LabStatus,
    pub portrait: Portrait,
    pub losses: Vec<LossPoint>,
    pub gradients: Option<Vec<GradientRow>>,
    /// Whether the fit started from the shipped weights.
    pub pretrained: bool,
    /// Training steps per second of wall time while training runs.
    pub steps_per_s: f64,
    /// The portrait's cloud of flowed starts (GPU or CPU executor).
    pub cloud: CloudState,
    /// (time, steps done) where the current rate window began.
    rate_window: Option<(f64, usize)>,
    /// A redraw of the model's paths in progress (spread over frames while training).
    redraw: Option<ModelRedraw>,
    clicks: Vec<[f64; 2]>,
    last_portrait: f64,
    portrait_stale: bool,
}

impl NodeLab {
    pub fn new(settings: NodeSettings, problems: Vec<String>) -> Self {
        let mut status = LabStatus::with_errors(problems);
        let (fit, pretrained) = match Self::fresh_fit(&settings) {
            Ok(pair) => pair,
            Err(e) => {
                status.error(format!("{e}; opening the defaults"));
                Self::fresh_fit(&NodeSettings::default()).expect("the defaults fit")
            }
        };
        let mut lab = NodeLab {
            settings,
            fit,
            playing: false,
            status,
            portrait: Portrait::default(),
            losses: Vec::new(),
            gradients: None,
            pretrained,
            steps_per_s: 0.0,
            cloud: CloudState::default(),
            rate_window: None,
            redraw: None,
            clicks: Vec::new(),
            last_portrait: f64::NEG_INFINITY,
            portrait_stale: true,
        };
        lab.refresh_portrait();
        lab
    }

    /// A new fit for the settings, starting from the shipped weights where they fit.
    fn fresh_fit(settings: &NodeSettings) -> Result<(NodeFit, bool), String> {
        let mut fit = NodeFit::new(settings.fit_config())?;
        let pretrained = settings.fit_config() == NodeSettings::default().fit_config()
            && NodeWeights::parse(DEFAULT_WEIGHTS_JSON).and_then(|w| w.apply(&mut fit)).is_ok();
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

    /// Changes one setting. Settings that change the model or its data start a new fit;
    /// the others (the stress problem, the scrubber) keep it.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let before = self.settings.fit_config();
        self.settings.set(key, value)?;
        if self.settings.fit_config() != before {
            self.restart()?;
        } else if matches!(key, "damping" | "horizon" | "stress_steps" | "precision") {
            self.gradients = None;
        }
        self.status.changed();
        Ok(())
    }

    /// A new fit from the current settings (fresh weights, or the shipped ones).
    pub fn restart(&mut self) -> Result<(), String> {
        let (fit, pretrained) = Self::fresh_fit(&self.settings)?;
        self.fit = fit;
        self.pretrained = pretrained;
        self.losses.clear();
        self.playing = false;
        self.clicks.retain(|_| true);
        // The data (and so the portrait's bounds) may have changed with the settings.
        self.cloud.clear();
        self.portrait_stale = true;
        self.refresh_portrait();
        self.status.changed();
        Ok(())
    }

    /// Starts from fresh random weights (not the shipped ones).
    pub fn reinitialise(&mut self) -> Result<(), String> {
        self.fit = NodeFit::new(self.settings.fit_config())?;
        self.pretrained = false;
        self.losses.clear();
        self.portrait_stale = true;
        self.refresh_portrait();
        self.status.changed();
        Ok(())
    }

    pub fn toggle_play(&mut self) {
        if self.fit.done() {
            self.notify(format!("training is done ({} steps): raise the steps or start again", self.settings.steps));
            return;
        }
        self.playing = !self.playing;
        self.rate_window = None;
        self.status.changed();
    }

    /// One training step now.
    pub fn step_once(&mut self) -> Result<(), String> {
        self.train_step()?;
        self.refresh_model();
        self.status.changed();
        Ok(())
    }

    fn train_step(&mut self) -> Result<(), String> {
        if self.fit.done() {
            return Err(format!("training is done ({} steps): raise the steps or start again", self.settings.steps));
        }
        // A step that fails leaves the weights as they were (the fit only updates on a
        // finite gradient): training stops and says why.
        let record = self.fit.step().inspect_err(|_| self.playing = false)?;
        self.losses.push(LossPoint { step: record.step, loss: record.loss });
        Ok(())
    }

    /// Works for about `budget_ms`: training steps while playing, and the portrait when it
    /// is due. Returns whether anything changed.
    pub fn tick(&mut self, budget_ms: f64, clock: &dyn Fn() -> f64) -> bool {
        let start = clock();
        let mut changed = false;
        // The model's part of the portrait, when due, path by path within the budget (the
        // whole of it costs more than a frame in the browser); training takes what is left.
        if self.portrait_stale
            && self.redraw.is_none()
            && (!self.playing || start - self.last_portrait > PORTRAIT_INTERVAL_MS)
        {
            self.last_portrait = start;
            self.portrait_stale = false;
            self.redraw = Some(ModelRedraw::default());
        }
        if let Some(mut pending) = self.redraw.take() {
            let mut finished = false;
            while clock() - start < budget_ms {
                if self.redraw_one(&mut pending) {
                    finished = true;
                    break;
                }
            }
            if finished {
                self.finish_redraw(pending);
                changed = true;
            } else {
                self.redraw = Some(pending);
            }
        }
        // The cloud: a GPU job whenever the weights moved (it costs the page nothing), or
        // CPU slices once training pauses.
        if self.settings.cloud {
            self.cloud.request(&self.fit, self.portrait.bounds, start, !self.playing);
            if !self.playing {
                let left = budget_ms - (clock() - start);
                if left > 0.0 && self.cloud.tick_cpu(left, clock) {
                    self.status.changed();
                    changed = true;
                }
            }
        }
        if self.playing {
            let mut steps = 0;
            while clock() - start < budget_ms && !self.fit.done() {
                // A step is summed series by series, so that one frame never holds a whole
                // minibatch (tens of milliseconds in the browser).
                match self.fit.advance(&mut || clock() - start >= budget_ms) {
                    Ok(Some(record)) => {
                        self.losses.push(LossPoint { step: record.step, loss: record.loss });
                        steps += 1;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        self.playing = false;
                        self.report(e);
                        break;
                    }
                }
            }
            // Steps per second of wall time, over windows of about a second.
            let (t0, steps0) = *self.rate_window.get_or_insert((start, self.fit.steps_done() - steps));
            if start - t0 > 1000.0 {
                self.steps_per_s = 1000.0 * (self.fit.steps_done() - steps0) as f64 / (start - t0);
                self.rate_window = Some((start, self.fit.steps_done()));
            }
            if steps > 0 {
                self.portrait_stale = true;
                self.status.numbers_changed();
                changed = true;
            }
            if self.fit.done() {
                self.playing = false;
                let last = self.losses.last().map_or(f64::NAN, |p| p.loss);
                self.notify(format!("trained {} steps; last minibatch loss {last:.3e}", self.fit.steps_done()));
            }
        }
        changed
    }

    /// The page's GPU runner, if it has one: Some(whether its adapter is a software one).
    pub fn set_gpu(&mut self, gpu: Option<bool>) {
        self.cloud.set_gpu(gpu);
    }

    /// The cloud's job for the GPU runner, if one is waiting.
    pub fn take_flow_job(&mut self) -> Option<FlowJob> {
        self.cloud.take_job()
    }

    /// A GPU cloud's result.
    pub fn finish_flow_job(&mut self, id: u64, result: Result<RunResult, String>, now: f64) {
        if self.cloud.finish_job(id, result, now) {
            self.status.changed();
        }
    }

    /// Adds a start where the visitor clicked (data coordinates), with both flows from it.
    pub fn click(&mut self, point: [f64; 2]) -> Result<(), String> {
        if !(point[0].is_finite() && point[1].is_finite()) {
            return Err("that point is not on the portrait".into());
        }
        if self.fit.config.system == SystemId::LotkaVolterra && (point[0] <= 0.0 || point[1] <= 0.0) {
            return Err("Lotka-Volterra populations must be positive: click in the upper right quadrant".into());
        }
        if self.clicks.len() == MAX_CLICKS {
            self.clicks.remove(0);
        }
        self.clicks.push(point);
        self.portrait_stale = true;
        self.refresh_portrait();
        Ok(())
    }

    pub fn clear_clicks(&mut self) {
        self.clicks.clear();
        self.portrait_stale = true;
        self.refresh_portrait();
    }

    /// The trained field's path, or a path cut where it failed (the portrait draws what it
    /// has).
    fn model_path(&self, y0: [f64; 2], times: &[f64]) -> Vec<[f64; 2]> {
        self.fit
            .predict(y0, times)
            .unwrap_or_default()
            .into_iter()
            .take_while(|y| y[0].is_finite() && y[1].is_finite() && y[0].abs() < 1e6 && y[1].abs() < 1e6)
            .collect()
    }

    /// Recomputes the whole portrait (after the data, the clicks or the weights changed at
    /// once).
    fn refresh_portrait(&mut self) {
        let times = self.fit.data.times.clone();
        let data: Vec<Vec<[f64; 2]>> = self.fit.data.series.iter().take(DRAWN_SERIES).cloned().collect();
        let system = System(self.fit.config.system);
        let params = self.fit.config.system.default_params();
        let bounds = padded_bounds(data.iter().flatten());
        let true_field = (0..ARROWS * ARROWS)
            .map(|k| {
                let mut v = [0.0; 2];
                system.eval(&params, 0.0, &grid_point(&bounds, k % ARROWS, k / ARROWS), &mut v);
                v
            })
            .collect();
        let truth: Vec<Vec<[f64; 2]>> =
            self.clicks.iter().map(|&c| solve_accurately(&system, &params, c, &times).unwrap_or_default()).collect();
        self.portrait = Portrait {
            bounds,
            times,
            data,
            clicked: truth.into_iter().map(|t| (t, Vec::new())).collect(),
            true_field,
            ..Portrait::default()
        };
        self.refresh_model();
    }

    /// Recomputes what the weights draw (the model's paths, the learned field, the hybrid
    /// view) at once, keeping the data's part.
    fn refresh_model(&mut self) {
        // A redraw spread over frames is superseded (its paths may be for other starts).
        self.redraw = None;
        let mut pending = ModelRedraw::default();
        while !self.redraw_one(&mut pending) {}
        self.finish_redraw(pending);
    }

    /// One more path of a redraw in progress; true when every path is done.
    fn redraw_one(&mut self, pending: &mut ModelRedraw) -> bool {
        let (series, clicks) = (self.portrait.data.len(), self.clicks.len());
        if pending.paths.len() == series + clicks {
            return true;
        }
        let k = pending.paths.len();
        let start = if k < series { self.portrait.data[k][0] } else { self.clicks[k - series] };
        let path = self.model_path(start, &self.portrait.times);
        pending.paths.push(path);
        pending.paths.len() == series + clicks
    }

    /// Swaps a finished redraw in, with the learned field and the hybrid view (cheap: one
    /// evaluation per arrow and per drawn point).
    fn finish_redraw(&mut self, mut pending: ModelRedraw) {
        self.portrait_stale = false;
        let clicked_model = pending.paths.split_off(self.portrait.data.len());
        self.portrait.model = pending.paths;
        for ((_, path), m) in self.portrait.clicked.iter_mut().zip(clicked_model) {
            *path = m;
        }
        let bounds = self.portrait.bounds;
        let learned_field = (0..ARROWS * ARROWS)
            .map(|k| {
                let mut v = [0.0; 2];
                self.fit.field.eval(&self.fit.params, 0.0, &grid_point(&bounds, k % ARROWS, k / ARROWS), &mut v);
                v
            })
            .collect();
        let system = System(self.fit.config.system);
        let params = self.fit.config.system.default_params();
        let residual = match &self.fit.field {
            LearnedField::Hybrid(h) => self
                .portrait
                .data
                .iter()
                .flatten()
                .step_by(4)
                .map(|y| {
                    let (mut full, mut known) = ([0.0; 2], [0.0; 2]);
                    system.eval(&params, 0.0, y, &mut full);
                    system.eval(&h.known_params, 0.0, y, &mut known);
                    let learned = h.learned_term(&self.fit.params, y);
                    ([full[0] - known[0], full[1] - known[1]], [learned[0], learned[1]])
                })
                .collect(),
            LearnedField::Neural(_) => Vec::new(),
        };
        self.portrait.learned_field = learned_field;
        self.portrait.residual = residual;
        self.status.changed();
    }

    /// Index into the times for the scrubber.
    pub fn scrub_index(&self) -> usize {
        let n = self.portrait.times.len();
        ((self.settings.scrub * (n.saturating_sub(1)) as f64).round() as usize).min(n.saturating_sub(1))
    }

    /// Runs every gradient method on the stress problem of the settings.
    pub fn run_gradients(&mut self, clock: &dyn Fn() -> f64) -> Result<(), String> {
        let stress = pendulum_stress(self.settings.damping, self.settings.horizon, self.settings.stress_steps)?;
        let tableau = ButcherTableau::from_name(&self.settings.solver)?;
        let t0 = clock();
        let seconds = || (clock() - t0) / 1000.0;
        let rows =
            gradient_table_against(&tableau, &stress.problem_in(self.settings.precision), &stress.problem(), &seconds);
        self.gradients = Some(rows);
        self.status.changed();
        Ok(())
    }

    /// The gradient table as `nde lab node gradients --json` prints it.
    pub fn export_gradients(&self) -> Result<String, String> {
        let rows = self.gradients.as_ref().ok_or("run the gradient check first")?;
        let s = &self.settings;
        Ok(report_json(&s.solver, s.precision, s.damping, s.horizon, s.stress_steps, rows).to_string())
    }

    pub fn export_weights(&self) -> String {
        serde_json::to_string(&NodeWeights::of(&self.fit)).expect("weights encode")
    }

    /// Data and model paths of the drawn series: series, kind, t, y1, y2.
    pub fn export_trajectories(&self) -> String {
        let mut text = String::from("series,kind,t,y1,y2\n");
        for (s, (data, model)) in self.portrait.data.iter().zip(&self.portrait.model).enumerate() {
            for (kind, path) in [("data", data), ("model", model)] {
                for (t, y) in self.portrait.times.iter().zip(path) {
                    text.push_str(&format!("{s},{kind},{t},{},{}\n", y[0], y[1]));
                }
            }
        }
        text
    }

    /// Loads a weights file for the current system and model.
    pub fn load_weights(&mut self, name: &str, text: &str) -> Result<(), String> {
        let weights = NodeWeights::parse(text).map_err(|e| format!("{name}: {e}"))?;
        if weights.system != self.settings.system.name()
            || weights.model != self.settings.model.name()
            || weights.width != self.settings.width
        {
            // Switch to the file's system, model and width when they are the page's to show.
            let mut next = self.settings.clone();
            next.set("system", &weights.system).map_err(|e| format!("{name}: {e}"))?;
            next.set("model", &weights.model).map_err(|e| format!("{name}: {e}"))?;
            next.set("width", &weights.width.to_string()).map_err(|e| format!("{name}: {e}"))?;
            let mut fit = NodeFit::new(next.fit_config()).map_err(|e| format!("{name}: {e}"))?;
            weights.apply(&mut fit).map_err(|e| format!("{name}: {e}"))?;
            self.settings = next;
            self.fit = fit;
            self.cloud.clear();
        } else {
            weights.apply(&mut self.fit).map_err(|e| format!("{name}: {e}"))?;
        }
        self.pretrained = false;
        self.losses.clear();
        self.playing = false;
        self.portrait_stale = true;
        self.refresh_portrait();
        self.notify(format!("loaded {name}"));
        Ok(())
    }

    /// The figures the page shows beside the portrait (the CLI's train report's keys).
    pub fn summary(&self) -> serde_json::Value {
        json!({
            "system": self.fit.config.system.name(),
            "model": self.fit.config.model.name(),
            "steps_done": self.fit.steps_done(),
            "loss": self.losses.last().map(|p| p.loss),
            "pretrained": self.pretrained,
            "hybrid": self.fit.config.model == ModelKind::Hybrid,
        })
    }
}

/// The centre of grid cell (i, j) of the portrait.
pub fn grid_point(bounds: &[f64; 4], i: usize, j: usize) -> [f64; 2] {
    let fx = (i as f64 + 0.5) / ARROWS as f64;
    let fy = (j as f64 + 0.5) / ARROWS as f64;
    [bounds[0] + fx * (bounds[1] - bounds[0]), bounds[2] + fy * (bounds[3] - bounds[2])]
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn clock() -> impl Fn() -> f64 {
        let start = std::cell::Cell::new(0.0);
        move || {
            start.set(start.get() + 1.0);
            start.get()
        }
    }

    #[test]
    fn the_lab_opens_ready_with_the_shipped_fit() {
        let lab = NodeLab::new(NodeSettings::default(), vec![]);
        assert!(lab.pretrained, "the default weights fit the default settings");
        assert!(lab.status.errors.is_empty(), "{:?}", lab.status.errors);
        assert_eq!(lab.portrait.data.len(), DRAWN_SERIES);
        assert_eq!(lab.portrait.model.len(), DRAWN_SERIES);
        assert!(lab.portrait.model.iter().all(|p| p.len() == lab.portrait.times.len()));
        // The shipped fit is a fit: the model's paths stay near the data's.
        let mse = lab.fit.train_mse().unwrap();
        assert!(mse < 0.02, "shipped fit MSE {mse}");
    }

    #[test]
    fn training_runs_in_slices_and_every_export_reads_back() {
        let mut lab = NodeLab::new(NodeSettings::default(), vec![]);
        lab.set("steps", "3").unwrap();
        lab.set("width", "8").unwrap();
        assert!(!lab.pretrained);
        lab.toggle_play();
        let tick = clock();
        while lab.playing {
            lab.tick(8.0, &tick);
        }
        assert_eq!(lab.fit.steps_done(), 3);
        assert_eq!(lab.losses.len(), 3);
        assert!(lab.status.notices.iter().any(|n| n.contains("trained 3 steps")));
        let weights = lab.export_weights();
        let mut other = NodeLab::new(NodeSettings::default(), vec![]);
        other.load_weights("w.json", &weights).unwrap();
        assert_eq!((other.settings.width, &other.fit.params), (8, &lab.fit.params));
        assert!(other.load_weights("x.json", "{").unwrap_err().starts_with("x.json"));
        let csv = lab.export_trajectories();
        assert_eq!(csv.lines().count(), 1 + DRAWN_SERIES * 2 * lab.portrait.times.len());
        assert!(lab.export_gradients().is_err());
        lab.run_gradients(&clock()).unwrap();
        let table: serde_json::Value = serde_json::from_str(&lab.export_gradients().unwrap()).unwrap();
        assert_eq!(table["rows"].as_array().unwrap().len(), 3);
        assert!(table["rows"][1]["rel_error"].as_f64().unwrap() > 1.0, "backsolve fails at damping 4: {table}");
    }

    #[test]
    fn clicks_draw_both_flows_and_bad_clicks_are_refused() {
        let mut lab = NodeLab::new(NodeSettings::default(), vec![]);
        lab.click([0.2, 0.3]).unwrap();
        assert_eq!(lab.portrait.clicked.len(), 1);
        assert_eq!(lab.portrait.clicked[0].0.len(), lab.portrait.times.len());
        assert!(lab.click([f64::NAN, 0.0]).is_err());
        for _ in 0..10 {
            lab.click([0.1, 0.1]).unwrap();
        }
        assert_eq!(lab.portrait.clicked.len(), MAX_CLICKS);
        lab.set("system", "lotka-volterra").unwrap();
        assert!(lab.click([-1.0, 1.0]).unwrap_err().contains("positive"));
    }

    #[test]
    fn the_hybrid_view_pairs_the_missing_term_with_the_learned_one() {
        let mut lab = NodeLab::new(NodeSettings::default(), vec![]);
        lab.set("system", "pendulum").unwrap();
        lab.set("model", "hybrid").unwrap();
        assert!(!lab.portrait.residual.is_empty());
        // The pendulum's missing term is friction: (0, -gamma v).
        assert!(lab.portrait.residual.iter().all(|(missing, _)| missing[0] == 0.0));
    }

    #[test]
    fn the_page_trains_with_pid_steps_too() {
        let mut lab = NodeLab::new(NodeSettings::default(), vec![]);
        assert!(lab.set("steps_by", "pid").unwrap_err().contains("no error estimate"));
        lab.set("solver", "tsit5").unwrap();
        lab.set("steps_by", "pid").unwrap();
        lab.set("width", "8").unwrap();
        lab.set("steps", "2").unwrap();
        lab.toggle_play();
        let tick = clock();
        while lab.playing {
            lab.tick(8.0, &tick);
        }
        assert_eq!(lab.fit.steps_done(), 2);
        assert!(lab.losses.iter().all(|p| p.loss.is_finite()));
        assert!(lab.portrait.model.iter().all(|p| p.len() == lab.portrait.times.len()));
        assert!(lab.settings.to_query().contains("steps_by=pid"));
    }
}
