//! The symbolic regression lab's state: the system's trajectories, the learned field (a
//! shipped or imported neural ODE), the regression set, one regularised-evolution search per
//! output run in frame-sized slices, the selected expressions, their fine-tuning through the
//! ODE solve and rounding, the phase portrait with its residual map, and the exports. No DOM
//! here; `ui::symreg` draws it and forwards events.

use serde_json::{json, Value};

use super::settings::SymregSettings;
use crate::core::dynamics::fit::{NodeFit, NodeWeights};
use crate::core::dynamics::flow_plan::padded_bounds;
use crate::core::dynamics::systems::{generate, System, SystemId, Trajectories};
use crate::core::dynamics::VectorField;
use crate::core::symreg::evolve::{PendingTidy, Search};
use crate::core::symreg::expr::Expr;
use crate::core::symreg::pareto::{highest_score, FrontEntry};
use crate::core::symreg::pipeline::{quantise, regression_set, FineTuner, RegressionSet, Source};
use crate::playground::node::lab::{grid_point, ARROWS, DEFAULT_WEIGHTS_JSON};
use crate::playground::shell::LabStatus;

/// The damped linear system's neural ODE, trained ahead like the oscillator's (docs/RESULTS.md
/// has the command), so both of LABS.md's targets open with a learned field.
pub const DAMPED_LINEAR_WEIGHTS_JSON: &str = include_str!("../../../www/node-damped-linear.json");

/// The neural ODE weights shipped for `system`, if any.
pub fn shipped_weights(system: SystemId) -> Option<&'static str> {
    match system {
        SystemId::Oscillator => Some(DEFAULT_WEIGHTS_JSON),
        SystemId::DampedLinear => Some(DAMPED_LINEAR_WEIGHTS_JSON),
        _ => None,
    }
}

/// Series drawn in the portrait.
pub const DRAWN_SERIES: usize = 12;
/// Regression states drawn in the portrait.
pub const DRAWN_POINTS: usize = 400;
/// Cells per side of the residual map.
pub const RESIDUAL_CELLS: usize = 40;
/// The thesis's rounding step and fine-tuning (Adam, rate, series).
pub const QUANTUM: f64 = 0.01;
const TUNE_LR: f64 = 3e-3;
const TUNE_SERIES: usize = 16;

/// Where one output's search is within its iteration.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// The next cycle to run.
    Cycles(usize),
    /// The next member to tidy (simplify, fit constants): population, member.
    Tidy(usize, usize),
    /// A member's constant fit, a Levenberg-Marquardt start per slice; then the next member.
    Fit(PendingTidy, usize, usize),
}

/// One output's search, run a cycle (or one member's tidying) at a time.
pub struct OutputSearch {
    pub search: Search,
    phase: Phase,
    /// The Pareto front after the last closed iteration.
    pub front: Vec<FrontEntry>,
    /// The complexity the visitor picked; None follows the highest score (the thesis's rule).
    pub pinned: Option<usize>,
}

impl OutputSearch {
    fn new(settings: &SymregSettings, set: &RegressionSet, output: usize) -> Result<Self, String> {
        let search = Search::new(settings.search_options(), set.dataset(output)?)?;
        let front = search.hall_of_fame.front();
        Ok(OutputSearch { search, phase: Phase::Cycles(0), front, pinned: None })
    }

    /// One slice of work; true when it closed an iteration.
    fn work(&mut self) -> bool {
        let cycles = self.search.options.cycles;
        let populations = self.search.populations.len();
        let size = self.search.options.population_size;
        let after = |k: usize, i: usize| if i + 1 < size { Phase::Tidy(k, i + 1) } else { Phase::Tidy(k + 1, 0) };
        match std::mem::replace(&mut self.phase, Phase::Cycles(0)) {
            Phase::Cycles(c) => {
                self.search.evolve_cycles(c, 1);
                self.phase = if c + 1 < cycles { Phase::Cycles(c + 1) } else { Phase::Tidy(0, 0) };
                false
            }
            Phase::Tidy(k, i) if k < populations => {
                self.phase = match self.search.begin_tidy(k, i) {
                    Some(pending) => Phase::Fit(pending, k, i),
                    None => after(k, i),
                };
                false
            }
            Phase::Fit(mut pending, k, i) => {
                self.phase =
                    if self.search.advance_tidy(&mut pending) { after(k, i) } else { Phase::Fit(pending, k, i) };
                false
            }
            Phase::Tidy(..) => {
                self.search.close_iteration();
                self.front = self.search.hall_of_fame.front();
                self.phase = Phase::Cycles(0);
                true
            }
        }
    }

    /// Cycles run in the current iteration (for the progress line).
    pub fn cycle(&self) -> usize {
        match &self.phase {
            Phase::Cycles(c) => *c,
            Phase::Tidy(..) | Phase::Fit(..) => self.search.options.cycles,
        }
    }

    /// The front member on show: the pinned complexity, else the highest score.
    pub fn selected(&self) -> Option<&FrontEntry> {
        self.pinned.and_then(|c| self.front.iter().find(|e| e.complexity == c)).or_else(|| highest_score(&self.front))
    }
}

/// The fine-tuning in progress.
struct Tuning {
    tuner: FineTuner,
    steps: usize,
}

/// Fine-tuned expressions and the trajectory loss before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuned {
    /// The selected expressions it started from.
    pub from: [Expr; 2],
    pub exprs: [Expr; 2],
    pub loss_before: f64,
    pub loss_after: f64,
}

/// Which of the expressions the portrait and the residual show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Selected,
    Tuned,
    Quantised,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Selected => "selected",
            Stage::Tuned => "fine-tuned",
            Stage::Quantised => "quantised",
        }
    }
}

/// What the portrait shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Portrait {
    /// [x_min, x_max, y_min, y_max].
    pub bounds: [f64; 4],
    pub data: Vec<Vec<[f64; 2]>>,
    /// Some of the regression states.
    pub points: Vec<[f64; 2]>,
    /// The regression's reference field (learned for the neural source, else the true one)
    /// and the shown expressions' field, on an ARROWS x ARROWS grid (row-major from the bottom).
    pub reference_field: Vec<[f64; 2]>,
    pub expr_field: Vec<[f64; 2]>,
    /// |f_expr − f_reference| on a RESIDUAL_CELLS square grid (row-major from the bottom); NaN
    /// where an expression is undefined.
    pub residual: Vec<f64>,
    /// The reference field's largest speed on the residual map: its colour scale's top.
    pub field_scale: f64,
    /// The reference field at the residual map's cells (fixed while the lab lives).
    residual_reference: Vec<[f64; 2]>,
}

pub struct SymregLab {
    pub settings: SymregSettings,
    pub status: LabStatus,
    pub playing: bool,
    /// Stop when every output has closed this many iterations (One iteration's target).
    stop_at: Option<usize>,
    pub data: Trajectories,
    learned: Option<NodeFit>,
    /// Where the learned field came from, for the caption ("shipped", a file's name).
    pub learned_from: Option<String>,
    /// Weights the visitor imported, used while their system is chosen.
    imported: Option<(NodeWeights, String)>,
    pub set: RegressionSet,
    pub outputs: Vec<OutputSearch>,
    tuning: Option<Tuning>,
    pub tuned: Option<Tuned>,
    /// Rounded expressions and the expressions they were rounded from.
    pub quantised: Option<([Expr; 2], [Expr; 2])>,
    pub portrait: Portrait,
    /// Expression evaluations (on the whole set) per second of wall time while searching.
    pub evals_per_s: f64,
    rate_window: Option<(f64, u64)>,
}

/// The centre of the residual map's cell `k` (row-major from the bottom).
fn residual_cell(bounds: &[f64; 4], k: usize) -> [f64; 2] {
    let n = RESIDUAL_CELLS;
    let fx = ((k % n) as f64 + 0.5) / n as f64;
    let fy = ((k / n) as f64 + 0.5) / n as f64;
    [bounds[0] + fx * (bounds[1] - bounds[0]), bounds[2] + fy * (bounds[3] - bounds[2])]
}

/// The NodeFit for the neural source: imported weights of this system, else the shipped ones.
fn learned_field(system: SystemId, imported: &Option<(NodeWeights, String)>) -> Result<(NodeFit, String), String> {
    if let Some((w, name)) = imported.as_ref().filter(|(w, _)| w.system == system.name()) {
        return Ok((w.to_fit()?, name.clone()));
    }
    let text = shipped_weights(system).ok_or_else(|| {
        format!(
            "no trained neural ODE for {} ships with the page: train one in the Neural ODE lab, export its weights and import them here, or choose the exact or differences source",
            system.name()
        )
    })?;
    let fit = NodeWeights::parse(text)?.to_fit()?;
    Ok((fit, "shipped fit".into()))
}

impl SymregLab {
    pub fn new(settings: SymregSettings, problems: Vec<String>) -> Self {
        let mut status = LabStatus::with_errors(problems);
        let lab = match Self::build(settings, None) {
            Ok(lab) => lab,
            Err(e) => {
                status.error(format!("{e}; opening the defaults"));
                Self::build(SymregSettings::default(), None).expect("the defaults build")
            }
        };
        SymregLab { status, ..lab }
    }

    /// A lab for the settings: data, learned field, regression set and fresh searches.
    fn build(settings: SymregSettings, imported: Option<(NodeWeights, String)>) -> Result<Self, String> {
        settings.check()?;
        let data = generate(settings.system, 0, settings.seed)?;
        let learned = match settings.source {
            Source::Neural => Some(learned_field(settings.system, &imported)?),
            _ => None,
        };
        let field = learned.as_ref().map(|(f, _)| (&f.field as &dyn VectorField, f.params.as_slice()));
        let set = regression_set(&data, settings.source, field, settings.points, settings.seed)?;
        let outputs = (0..2).map(|o| OutputSearch::new(&settings, &set, o)).collect::<Result<Vec<_>, _>>()?;
        let (learned, learned_from) = match learned {
            Some((f, from)) => (Some(f), Some(from)),
            None => (None, None),
        };
        let mut lab = SymregLab {
            settings,
            status: LabStatus::default(),
            playing: false,
            stop_at: None,
            data,
            learned,
            learned_from,
            imported,
            set,
            outputs,
            tuning: None,
            tuned: None,
            quantised: None,
            portrait: Portrait::default(),
            evals_per_s: 0.0,
            rate_window: None,
        };
        lab.refresh_portrait();
        Ok(lab)
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

    /// Replaces the lab by one built for `settings`, keeping the status; on an error nothing
    /// changes.
    fn rebuild(&mut self, settings: SymregSettings, imported: Option<(NodeWeights, String)>) -> Result<(), String> {
        let lab = Self::build(settings, imported)?;
        let status = std::mem::take(&mut self.status);
        *self = SymregLab { status, ..lab };
        self.status.changed();
        Ok(())
    }

    /// Changes one setting: the search starts again unless the setting leaves it alone (how
    /// many iterations to run, how long to fine-tune). A refused value changes nothing.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let mut next = self.settings.clone();
        next.set(key, value)?;
        if SymregSettings::keeps_search(key) {
            self.settings = next;
            self.status.changed();
            return Ok(());
        }
        self.rebuild(next, self.imported.clone())
    }

    /// Turns a unary operator on or off (a new search).
    pub fn toggle_unary(&mut self, op: crate::core::symreg::expr::Unary) -> Result<(), String> {
        let mut next = self.settings.clone();
        next.toggle_unary(op)?;
        self.rebuild(next, self.imported.clone())
    }

    /// Starts the search again from new random populations (same settings).
    pub fn restart(&mut self) -> Result<(), String> {
        self.rebuild(self.settings.clone(), self.imported.clone())
    }

    /// A neural ODE weights file from the Neural ODE lab: its system becomes the lab's, the
    /// source the neural one, and the search starts again on its field.
    pub fn load_weights(&mut self, name: &str, text: &str) -> Result<(), String> {
        let weights = NodeWeights::parse(text).map_err(|e| format!("{name}: {e}"))?;
        let system = SystemId::from_name(&weights.system).map_err(|e| format!("{name}: {e}"))?;
        weights.to_fit().map_err(|e| format!("{name}: {e}"))?;
        let mut next = self.settings.clone();
        next.system = system;
        next.source = Source::Neural;
        self.rebuild(next, Some((weights, format!("imported {name}"))))?;
        self.notify(format!("searching the field of {name} ({})", system.name()));
        Ok(())
    }

    pub fn iterations_done(&self) -> usize {
        self.outputs.iter().map(|o| o.search.iterations_done).min().unwrap_or(0)
    }

    pub fn evaluations(&self) -> u64 {
        self.outputs.iter().map(|o| o.search.evaluations).sum()
    }

    /// Whether the search has run the settings' iterations.
    pub fn search_done(&self) -> bool {
        self.iterations_done() >= self.settings.iterations
    }

    pub fn toggle_play(&mut self) {
        if !self.playing && self.search_done() {
            self.notify(format!(
                "the search has run its {} iterations: raise Iterations to go on",
                self.settings.iterations
            ));
            return;
        }
        self.playing = !self.playing;
        self.stop_at = None;
        self.rate_window = None;
        self.status.changed();
    }

    /// Runs until every output has closed one more iteration (in slices, like Evolve).
    pub fn step_iteration(&mut self) {
        self.stop_at = Some(self.iterations_done() + 1);
        self.playing = true;
        self.rate_window = None;
        self.status.changed();
    }

    pub fn is_tuning(&self) -> bool {
        self.tuning.is_some()
    }

    /// Fine-tuning progress (steps done, steps asked).
    pub fn tuning_progress(&self) -> Option<(usize, usize)> {
        self.tuning.as_ref().map(|t| (t.tuner.steps_done, t.steps))
    }

    /// The selected expression of each output.
    pub fn selected(&self) -> Option<[Expr; 2]> {
        let a = self.outputs[0].selected()?.expr.clone();
        let b = self.outputs[1].selected()?.expr.clone();
        Some([a, b])
    }

    /// Pins output `output`'s selection to complexity `complexity` (a row of its front).
    pub fn pick(&mut self, output: usize, complexity: usize) -> Result<(), String> {
        let search = self.outputs.get_mut(output).ok_or("no such output")?;
        if !search.front.iter().any(|e| e.complexity == complexity) {
            return Err(format!("the front of output {output} has no member of complexity {complexity}"));
        }
        search.pinned = Some(complexity);
        self.selection_changed();
        Ok(())
    }

    /// Back to the thesis's rule (the highest score) for both outputs.
    pub fn follow_score(&mut self) {
        for o in &mut self.outputs {
            o.pinned = None;
        }
        self.selection_changed();
    }

    /// Drops the fine-tuned and rounded expressions that no longer descend from the
    /// selection, and redraws.
    fn selection_changed(&mut self) {
        let selected = self.selected();
        if self.tuned.as_ref().is_some_and(|t| Some(&t.from) != selected.as_ref()) {
            self.tuned = None;
            self.tuning = None;
        }
        let source = self.tuned.as_ref().map(|t| t.exprs.clone()).or(selected);
        if self.quantised.as_ref().is_some_and(|(_, from)| Some(from) != source.as_ref()) {
            self.quantised = None;
        }
        self.refresh_expressions();
        self.status.changed();
    }

    /// The expressions on show and which stage they are.
    pub fn shown(&self) -> Option<(Stage, [Expr; 2])> {
        if let Some((q, _)) = &self.quantised {
            return Some((Stage::Quantised, q.clone()));
        }
        if let Some(t) = &self.tuned {
            return Some((Stage::Tuned, t.exprs.clone()));
        }
        self.selected().map(|s| (Stage::Selected, s))
    }

    /// Starts fine-tuning the selected expressions' constants through the ODE solve (Adam,
    /// the settings' steps, on the first 16 series); it runs in slices.
    pub fn fine_tune(&mut self) -> Result<(), String> {
        let selected = self.selected().ok_or("the fronts are empty: evolve first")?;
        let tuner = FineTuner::new(selected, &self.data, TUNE_SERIES, TUNE_LR)?;
        if !tuner.has_constants() {
            return Err("the selected expressions have no constants to fine-tune".into());
        }
        self.tuning = Some(Tuning { tuner, steps: self.settings.tune_steps });
        self.tuned = None;
        self.quantised = None;
        self.status.changed();
        Ok(())
    }

    /// Rounds the fine-tuned expressions' constants (the selected ones' if none) to 0.01.
    pub fn quantise(&mut self) -> Result<(), String> {
        let from = match &self.tuned {
            Some(t) => t.exprs.clone(),
            None => self.selected().ok_or("the fronts are empty: evolve first")?,
        };
        let rounded = [quantise(&from[0], QUANTUM), quantise(&from[1], QUANTUM)];
        self.quantised = Some((rounded, from));
        self.refresh_expressions();
        self.status.changed();
        Ok(())
    }

    /// Largest |f_shown − f_true| over the regression states (how far the shown expressions
    /// are from the system's equations); None when nothing is shown, infinite where undefined.
    pub fn error_to_truth(&self) -> Option<f64> {
        let (_, exprs) = self.shown()?;
        let truth = System(self.settings.system);
        let params = self.settings.system.default_params();
        let mut worst = 0.0f64;
        for y in &self.set.points {
            let mut dy = [0.0; 2];
            truth.eval(&params, 0.0, y, &mut dy);
            for o in 0..2 {
                let e = (exprs[o].eval(y) - dy[o]).abs();
                worst = worst.max(if e.is_nan() { f64::INFINITY } else { e });
            }
        }
        Some(worst)
    }

    /// The frame's work: fine-tuning steps, then search slices, for `budget_ms`.
    pub fn tick(&mut self, budget_ms: f64, now: &dyn Fn() -> f64) {
        let start = now();
        if self.tuning.is_some() {
            self.tune_slice(start, budget_ms, now);
        }
        if !self.playing {
            return;
        }
        let target = self.stop_at.unwrap_or(self.settings.iterations).min(self.settings.iterations);
        let mut closed = false;
        // Out of time when the next piece would end past the budget (one piece a frame at least).
        let mut last = start;
        loop {
            // The output behind (the first on a tie) gets the slice.
            let next = (0..self.outputs.len())
                .filter(|&o| self.outputs[o].search.iterations_done < target)
                .min_by_key(|&o| self.outputs[o].search.iterations_done);
            let Some(o) = next else {
                self.playing = false;
                self.stop_at = None;
                if self.search_done() {
                    self.notify(format!("the search ran its {} iterations", self.settings.iterations));
                }
                break;
            };
            closed |= self.outputs[o].work();
            let t = now();
            let piece = t - last;
            last = t;
            if t - start + piece >= budget_ms {
                break;
            }
        }
        self.update_rate(now());
        if closed {
            self.selection_changed();
        } else {
            self.status.numbers_changed();
        }
    }

    fn tune_slice(&mut self, start: f64, budget_ms: f64, now: &dyn Fn() -> f64) {
        let Some(tuning) = &mut self.tuning else { return };
        while tuning.tuner.steps_done < tuning.steps {
            if let Err(e) = tuning.tuner.step(&self.data) {
                self.tuning = None;
                self.report(format!("fine-tuning stopped: {e}; the selected expressions are kept"));
                return;
            }
            if now() - start >= budget_ms {
                self.status.numbers_changed();
                return;
            }
        }
        let Some(tuning) = self.tuning.take() else { return };
        match tuning.tuner.loss(&self.data) {
            Ok(after) => {
                let from = self.selected().unwrap_or_else(|| tuning.tuner.exprs());
                self.tuned = Some(Tuned {
                    from,
                    exprs: tuning.tuner.exprs(),
                    loss_before: tuning.tuner.loss_before,
                    loss_after: after,
                });
                self.refresh_expressions();
                self.status.changed();
            }
            Err(e) => self.report(format!("fine-tuning stopped: {e}; the selected expressions are kept")),
        }
    }

    fn update_rate(&mut self, now: f64) {
        let evaluations = self.evaluations();
        match self.rate_window {
            Some((t0, e0)) if now - t0 >= 500.0 => {
                self.evals_per_s = (evaluations - e0) as f64 / ((now - t0) / 1000.0);
                self.rate_window = Some((now, evaluations));
            }
            None => self.rate_window = Some((now, evaluations)),
            _ => {}
        }
    }

    /// The reference field: the learned one for the neural source, else the system's.
    fn reference(&self, y: &[f64; 2]) -> [f64; 2] {
        let mut dy = [0.0; 2];
        match &self.learned {
            Some(fit) => fit.field.eval(&fit.params, 0.0, y, &mut dy),
            None => System(self.settings.system).eval(&self.settings.system.default_params(), 0.0, y, &mut dy),
        }
        dy
    }

    /// Data, states and the reference field: what does not change while the search runs.
    fn refresh_portrait(&mut self) {
        let bounds = padded_bounds(self.data.series.iter().take(DRAWN_SERIES).flatten().chain(&self.set.points));
        let reference_field =
            (0..ARROWS * ARROWS).map(|k| self.reference(&grid_point(&bounds, k % ARROWS, k / ARROWS))).collect();
        let n = RESIDUAL_CELLS;
        let residual_reference: Vec<[f64; 2]> =
            (0..n * n).map(|k| self.reference(&residual_cell(&bounds, k))).collect();
        let field_scale =
            residual_reference.iter().map(|r| r[0].hypot(r[1])).filter(|v| v.is_finite()).fold(0.0, f64::max);
        self.portrait = Portrait {
            bounds,
            data: self.data.series.iter().take(DRAWN_SERIES).cloned().collect(),
            points: self.set.points.iter().take(DRAWN_POINTS).copied().collect(),
            reference_field,
            field_scale,
            residual_reference,
            ..Portrait::default()
        };
        self.refresh_expressions();
    }

    /// The shown expressions' field and the residual map.
    fn refresh_expressions(&mut self) {
        let bounds = self.portrait.bounds;
        let Some((_, exprs)) = self.shown() else {
            self.portrait.expr_field.clear();
            self.portrait.residual.clear();
            return;
        };
        let field = |y: &[f64; 2]| [exprs[0].eval(y), exprs[1].eval(y)];
        self.portrait.expr_field =
            (0..ARROWS * ARROWS).map(|k| field(&grid_point(&bounds, k % ARROWS, k / ARROWS))).collect();
        self.portrait.residual = (self.portrait.residual_reference.iter().enumerate())
            .map(|(k, r)| {
                let e = field(&residual_cell(&bounds, k));
                (e[0] - r[0]).hypot(e[1] - r[1])
            })
            .collect();
    }

    /// The fronts and expressions as JSON (the CLI's fields for each output); non-finite
    /// numbers become null.
    pub fn export_front(&self) -> String {
        let finite = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
        let text = |e: Option<&Expr>| e.map_or(Value::Null, |e| json!(e.to_string()));
        let outputs: Vec<Value> = self
            .outputs
            .iter()
            .enumerate()
            .map(|(o, s)| {
                let front: Vec<Value> = s
                    .front
                    .iter()
                    .map(|e| {
                        json!({"complexity": e.complexity, "loss": finite(e.loss), "score": finite(e.score), "expr": e.expr.to_string()})
                    })
                    .collect();
                json!({
                    "output": o,
                    "front": front,
                    "selected": text(s.selected().map(|e| &e.expr)),
                    "selected_complexity": s.selected().map(|e| e.complexity),
                    "after_finetune": text(self.tuned.as_ref().map(|t| &t.exprs[o])),
                    "quantised": text(self.quantised.as_ref().map(|q| &q.0[o])),
                })
            })
            .collect();
        let report = json!({
            "system": self.settings.system.name(),
            "source": self.settings.source.name(),
            "points": self.settings.points,
            "seed": self.settings.seed,
            "iterations": self.iterations_done(),
            "outputs": outputs,
            "tune_loss_before": self.tuned.as_ref().map(|t| finite(t.loss_before)),
            "tune_loss_after": self.tuned.as_ref().map(|t| finite(t.loss_after)),
            "max_error_to_truth": self.error_to_truth().map(finite),
            "evaluations": self.evaluations(),
        });
        serde_json::to_string_pretty(&report).expect("a JSON value prints")
    }

    /// The expressions as text: each stage that exists, one line per output.
    pub fn export_expressions(&self) -> String {
        let s = &self.settings;
        let mut lines = vec![format!(
            "# nde symbolic regression: {} ({} source), seed {}, {} iterations; x0 = x, x1 = y",
            s.system.name(),
            s.source.name(),
            s.seed,
            self.iterations_done()
        )];
        let mut stage = |name: &str, exprs: Option<[Expr; 2]>| {
            if let Some(e) = exprs {
                lines.push(format!("# {name}"));
                lines.push(format!("dx/dt = {}", e[0]));
                lines.push(format!("dy/dt = {}", e[1]));
            }
        };
        stage("selected", self.selected());
        stage("fine-tuned", self.tuned.as_ref().map(|t| t.exprs.clone()));
        stage("quantised", self.quantised.as_ref().map(|q| q.0.clone()));
        lines.join("\n") + "\n"
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

    fn small(system: &str, source: &str) -> SymregSettings {
        let mut s = SymregSettings::default();
        for (k, v) in
            [("system", system), ("source", source), ("points", "200"), ("populations", "3"), ("cycles", "10")]
        {
            s.set(k, v).unwrap();
        }
        s
    }

    /// The lab opens ready: the oscillator's shipped learned field, a front per output from
    /// the first populations, a selection and its residual map, all finite where defined.
    #[test]
    fn the_lab_opens_with_a_front_and_a_selection() {
        let lab = SymregLab::new(SymregSettings::default(), Vec::new());
        assert!(lab.status.errors.is_empty(), "{:?}", lab.status.errors);
        assert_eq!(lab.learned_from.as_deref(), Some("shipped fit"));
        assert!(lab.outputs.iter().all(|o| !o.front.is_empty()));
        let (stage, _) = lab.shown().unwrap();
        assert_eq!(stage, Stage::Selected);
        assert_eq!(lab.portrait.residual.len(), RESIDUAL_CELLS * RESIDUAL_CELLS);
        assert_eq!(lab.portrait.reference_field.len(), ARROWS * ARROWS);
        assert!(lab.portrait.reference_field.iter().flatten().all(|v| v.is_finite()));
    }

    /// The page's slices give the search the core's whole iterations give (the CLI's), so a
    /// link with a seed replays the same fronts.
    #[test]
    fn sliced_search_equals_whole_iterations() {
        let settings = small("damped-linear", "exact");
        let mut lab = SymregLab::new(settings.clone(), Vec::new());
        lab.set("iterations", "2").unwrap();
        lab.toggle_play();
        let now = clock();
        for _ in 0..10_000 {
            lab.tick(3.0, &now);
            if !lab.playing {
                break;
            }
        }
        assert_eq!(lab.iterations_done(), 2);
        assert!(lab.status.notices.iter().any(|n| n.contains("ran its 2 iterations")));
        for o in 0..2 {
            let mut whole = Search::new(
                SymregSettings { iterations: 2, ..settings.clone() }.search_options(),
                lab.set.dataset(o).unwrap(),
            )
            .unwrap();
            whole.iterate();
            whole.iterate();
            let key = |f: &[FrontEntry]| f.iter().map(|e| (e.complexity, e.loss.to_bits())).collect::<Vec<_>>();
            assert_eq!(key(&whole.hall_of_fame.front()), key(&lab.outputs[o].front), "output {o}");
        }
        assert!(lab.evaluations() > 0);
        // One iteration more, then it stops by itself.
        lab.set("iterations", "5").unwrap();
        lab.step_iteration();
        for _ in 0..10_000 {
            lab.tick(3.0, &now);
            if !lab.playing {
                break;
            }
        }
        assert_eq!(lab.iterations_done(), 3);
    }

    /// Picking a row shows it; fine-tuning runs in slices to the asked steps and lowers the
    /// trajectory loss; rounding x − c·y gives the system's constant; a new pick drops both.
    #[test]
    fn pick_fine_tune_and_quantise() {
        let mut lab = SymregLab::new(small("damped-linear", "exact"), Vec::new());
        // A known front member with a wrong constant, as if the search had found it.
        let minus_y = Expr::unary(crate::core::symreg::expr::Unary::Neg, &Expr::var(1));
        let wrong = crate::core::symreg::expr::Expr::binary(
            crate::core::symreg::expr::Binary::Sub,
            &Expr::var(0),
            &Expr::binary(crate::core::symreg::expr::Binary::Mul, &Expr::constant(0.13), &Expr::var(1)),
        );
        for (o, e) in [(0, &minus_y), (1, &wrong)] {
            let loss = lab.set.dataset(o).unwrap().loss(e);
            lab.outputs[o].front.push(FrontEntry { complexity: e.complexity(), loss, score: 0.0, expr: e.clone() });
            lab.pick(o, e.complexity()).unwrap();
        }
        assert_eq!(lab.selected().unwrap(), [minus_y.clone(), wrong.clone()]);
        assert!(lab.pick(0, 19).unwrap_err().contains("complexity 19"));
        lab.set("tune_steps", "300").unwrap();
        lab.fine_tune().unwrap();
        let now = clock();
        while lab.is_tuning() {
            lab.tick(5.0, &now);
        }
        let tuned = lab.tuned.clone().unwrap();
        assert!(tuned.loss_after < 0.1 * tuned.loss_before, "{} -> {}", tuned.loss_before, tuned.loss_after);
        assert_eq!(lab.shown().unwrap().0, Stage::Tuned);
        lab.quantise().unwrap();
        let (stage, exprs) = lab.shown().unwrap();
        assert_eq!(stage, Stage::Quantised);
        assert_eq!(exprs[1].constants(), vec![0.1], "{}", exprs[1]);
        assert!(lab.error_to_truth().unwrap() < 1e-12);
        assert!(lab.portrait.residual.iter().all(|r| *r < 1e-9));
        let text = lab.export_expressions();
        assert!(text.contains("# quantised") && text.contains("dy/dt = "), "{text}");
        let json: Value = serde_json::from_str(&lab.export_front()).unwrap();
        assert_eq!(json["outputs"][1]["quantised"], json!(exprs[1].to_string()));
        // Another pick: the tuned and rounded expressions went with the old one.
        let other = lab.outputs[1].front.iter().find(|e| e.expr != wrong).unwrap().complexity;
        lab.pick(1, other).unwrap();
        assert!(lab.tuned.is_none() && lab.quantised.is_none());
        assert_eq!(lab.shown().unwrap().0, Stage::Selected);
    }

    /// Bad input changes nothing and says what to do: a weights file for another lab, a
    /// neural source on a system without shipped weights, a bad value.
    #[test]
    fn bad_input_is_refused_and_loses_nothing() {
        let mut lab = SymregLab::new(small("oscillator", "neural"), Vec::new());
        let before = lab.settings.clone();
        let err = lab.set("system", "pendulum").unwrap_err();
        assert!(err.contains("import") && err.contains("pendulum"), "{err}");
        assert_eq!(lab.settings, before);
        assert!(lab.load_weights("w.json", "{}").unwrap_err().contains("w.json"));
        assert!(lab.load_weights("w.json", include_str!("../../../www/nsde-ou.json")).is_err());
        assert!(lab.set("points", "1").is_err());
        assert_eq!(lab.settings, before);
        // The exact source needs no learned field.
        lab.set("source", "exact").unwrap();
        lab.set("system", "pendulum").unwrap();
        assert!(lab.learned_from.is_none());
        // A link that asks for the impossible opens the defaults and says so.
        let (settings, problems) = SymregSettings::from_query("system=pendulum");
        let opened = SymregLab::new(settings, problems);
        assert!(opened.status.errors.iter().any(|e| e.contains("opening the defaults")), "{:?}", opened.status.errors);
        assert_eq!(opened.settings, SymregSettings::default());
    }

    /// Importing the Neural ODE lab's weights switches to their system and field.
    #[test]
    fn imported_weights_become_the_learned_field() {
        let mut lab = SymregLab::new(small("oscillator", "exact"), Vec::new());
        lab.load_weights("dl.json", DAMPED_LINEAR_WEIGHTS_JSON).unwrap();
        assert_eq!(lab.settings.system, SystemId::DampedLinear);
        assert_eq!(lab.settings.source, Source::Neural);
        assert_eq!(lab.learned_from.as_deref(), Some("imported dl.json"));
        // A learned field close to the true one: targets near −y and x − 0.1y.
        let err: f64 = lab.set.points.iter().zip(&lab.set.targets[0]).map(|(y, t)| (t + y[1]).abs()).sum::<f64>()
            / lab.set.points.len() as f64;
        assert!(err < 0.05, "mean |f_NN,0 + y| = {err}");
    }
}
