//! The neural CDE lab's state: the classifier's training in frame-sized slices (one series at
//! a time), its test evaluation (also in slices, after every epoch), and the view of one test
//! series: every point of its grid (the dropped ones marked), the linear and Hermite paths
//! through what was observed, and the model's answer p(label 1 | the path so far) as time runs.
//! No DOM here; `ui::ncde` draws it.

use serde_json::json;

use super::settings::NcdeSettings;
use super::sweep::Sweep;
use crate::core::cde::data::{series_at, Observation};
use crate::core::cde::fit::{CdeFit, Evaluation};
use crate::core::cde::solve::CdeStepping;
use crate::core::path::{ControlPath, Interpolation};
use crate::playground::shell::LabStatus;

/// Curve samples per knot interval in the view.
const SAMPLES: usize = 6;

/// One point of the shown series' full grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridPoint {
    pub t: f64,
    pub xy: [f64; 2],
    pub observed: bool,
}

/// What the series view shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesView {
    pub label: bool,
    pub points: Vec<GridPoint>,
    /// The linear and the Hermite path through the observed points (x, y), sampled.
    pub linear: Vec<[f64; 2]>,
    pub hermite: Vec<[f64; 2]>,
    /// (t, p(label 1)) at every observation: the model's answer so far.
    pub probability: Vec<(f64, f64)>,
    /// The hidden state z(t) at every observation (h values each).
    pub hidden: Vec<(f64, Vec<f64>)>,
    /// Field evaluations for this series under each interpolation.
    pub nfe: Vec<(Interpolation, usize)>,
}

/// A test evaluation in progress.
struct PendingEval {
    next: usize,
    answers: Vec<(f64, usize)>,
}

pub struct NcdeLab {
    pub settings: NcdeSettings,
    pub fit: CdeFit,
    pub playing: bool,
    pub status: LabStatus,
    /// (step, minibatch loss).
    pub losses: Vec<(usize, f64)>,
    /// The last finished test evaluation, and the step it was made at.
    pub evaluation: Option<(Evaluation, usize)>,
    pub view: SeriesView,
    /// The accuracy-against-drop-rate sweep, when one has been started.
    pub sweep: Option<Sweep>,
    pending_eval: Option<PendingEval>,
}

impl NcdeLab {
    pub fn new(settings: NcdeSettings, problems: Vec<String>) -> Self {
        let mut status = LabStatus::with_errors(problems);
        let (settings, fit) = match CdeFit::new(settings.fit_config()) {
            Ok(fit) => (settings, fit),
            Err(e) => {
                status.error(format!("{e}; opening the defaults"));
                let d = NcdeSettings::default();
                let fit = CdeFit::new(d.fit_config()).expect("the defaults fit");
                (d, fit)
            }
        };
        let mut lab = NcdeLab {
            settings,
            fit,
            playing: false,
            status,
            losses: Vec::new(),
            evaluation: None,
            view: SeriesView::default(),
            sweep: None,
            pending_eval: Some(PendingEval { next: 0, answers: Vec::new() }),
        };
        lab.refresh_view();
        lab
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

    /// Changes one setting; settings that change the data or the model start a new fit.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let before = self.settings.fit_config();
        self.settings.set(key, value)?;
        if self.settings.fit_config() != before {
            self.restart()?;
        } else {
            self.refresh_view();
        }
        self.status.changed();
        Ok(())
    }

    /// A new fit from the settings (fresh weights).
    pub fn restart(&mut self) -> Result<(), String> {
        self.fit = CdeFit::new(self.settings.fit_config())?;
        self.playing = false;
        self.losses.clear();
        self.evaluation = None;
        self.pending_eval = Some(PendingEval { next: 0, answers: Vec::new() });
        self.refresh_view();
        self.status.changed();
        Ok(())
    }

    pub fn toggle_play(&mut self) {
        if self.fit.done() {
            self.notify(format!("training is done ({} epochs): raise the epochs or start again", self.settings.epochs));
            return;
        }
        self.playing = !self.playing;
        self.status.changed();
    }

    /// Starts the sweep at the current task and channels (or stops the one running).
    pub fn toggle_sweep(&mut self) {
        match &mut self.sweep {
            Some(running) if !running.done() => running.stop(),
            _ => self.sweep = Some(Sweep::new(self.fit.config.clone())),
        }
        self.status.changed();
    }

    /// Shows another test series.
    pub fn show_next(&mut self, forward: bool) -> Result<(), String> {
        let n = self.fit.test.len();
        let next = if forward { (self.settings.show + 1) % n } else { (self.settings.show + n - 1) % n };
        self.set("show", &next.to_string())
    }

    /// Works for about `budget_ms`: a test evaluation in progress first, else training steps
    /// while playing (an evaluation follows each epoch). Returns whether anything changed.
    pub fn tick(&mut self, budget_ms: f64, clock: &dyn Fn() -> f64) -> bool {
        let start = clock();
        // Out of time when the next series would end past the budget (one series a frame at least).
        let mut last = start;
        let mut per_series = 0.0;
        let mut out_of_time = || {
            let now = clock();
            per_series = now - last;
            last = now;
            now - start + per_series >= budget_ms
        };
        if let Some(mut eval) = self.pending_eval.take() {
            while eval.next < self.fit.test.len() {
                match self.fit.test_answer(eval.next) {
                    Ok(a) => eval.answers.push(a),
                    Err(e) => {
                        self.report(e);
                        return true;
                    }
                }
                eval.next += 1;
                if out_of_time() {
                    break;
                }
            }
            if eval.next < self.fit.test.len() {
                self.pending_eval = Some(eval);
                return false;
            }
            self.finish_eval(&eval.answers);
            return true;
        }
        // The sweep runs while the lab's own fit rests.
        if !self.playing {
            if let Some(sweep) = &mut self.sweep {
                return match sweep.tick(&mut out_of_time) {
                    Ok(added) => {
                        if added {
                            self.status.changed();
                        }
                        added
                    }
                    Err(e) => {
                        self.sweep = None;
                        self.report(format!("the sweep stopped: {e}"));
                        true
                    }
                };
            }
        }
        if !self.playing {
            return false;
        }
        let mut changed = false;
        while !out_of_time() && !self.fit.done() {
            match self.fit.advance(&mut out_of_time) {
                Ok(Some(loss)) => {
                    self.losses.push((self.fit.steps_done(), loss));
                    self.status.numbers_changed();
                    changed = true;
                    if self.fit.steps_done() % self.fit.config.steps_per_epoch() == 0 || self.fit.done() {
                        self.pending_eval = Some(PendingEval { next: 0, answers: Vec::new() });
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.playing = false;
                    self.report(e);
                    return true;
                }
            }
        }
        if self.fit.done() && self.playing {
            self.playing = false;
            self.notify(format!("trained {} epochs ({} steps)", self.settings.epochs, self.fit.steps_done()));
        }
        changed
    }

    fn finish_eval(&mut self, answers: &[(f64, usize)]) {
        self.evaluation = Some((self.fit.evaluation_of(&self.fit.test, answers), self.fit.steps_done()));
        self.refresh_view();
        self.status.changed();
    }

    /// Recomputes the series view (one series: cheap).
    fn refresh_view(&mut self) {
        match self.series_view() {
            Ok(view) => self.view = view,
            Err(e) => self.status.error(format!("the series view: {e}")),
        }
    }

    fn series_view(&self) -> Result<SeriesView, String> {
        let config = &self.fit.config;
        let k = self.settings.show.min(self.fit.test.len() - 1);
        let obs = config.observation;
        // The same draws without dropping: the full grid behind the observed series.
        let test_seed = config.seed ^ 0x7465_7374;
        let full = &series_at(config.data, test_seed, &Observation { drop: 0.0, ..obs }, k);
        let observed = &series_at(config.data, test_seed, &obs, k);
        let xy = usize::from(obs.time_channel);
        let points = full
            .times
            .iter()
            .zip(&full.rows)
            .map(|(t, row)| {
                let seen = observed
                    .times
                    .iter()
                    .position(|s| s == t)
                    .is_some_and(|i| !observed.rows[i][xy].is_nan() || !observed.rows[i][xy + 1].is_nan());
                GridPoint { t: *t, xy: [row[xy], row[xy + 1]], observed: seen }
            })
            .collect();
        let values: Vec<Vec<f64>> = observed.rows.iter().map(|r| vec![r[xy], r[xy + 1]]).collect();
        let curve = |kind: Interpolation| -> Result<Vec<[f64; 2]>, String> {
            let path = ControlPath::new(kind, &observed.times, &values, None)?;
            let mut out = Vec::new();
            let mut v = [0.0; 2];
            for i in 0..path.intervals() {
                for j in 0..SAMPLES {
                    let t = path.knots[i] + (path.knots[i + 1] - path.knots[i]) * j as f64 / SAMPLES as f64;
                    path.evaluate_on(i, t, &mut v);
                    out.push(v);
                }
            }
            path.evaluate(path.end(), &mut v);
            out.push(v);
            Ok(out)
        };
        let solver = config.cde_solver()?;
        let states = self.fit.model.states_along(&self.fit.params, &self.fit.test[k].path, &solver)?;
        // The same series' field evaluations under each interpolation (PID steps differ).
        let time_channel = obs.time_channel.then_some(0);
        let mut nfe = Vec::new();
        for kind in Interpolation::ALL {
            if kind == Interpolation::Rectilinear && time_channel.is_none() {
                continue;
            }
            let channel = if kind == Interpolation::Rectilinear { time_channel } else { None };
            let path = ControlPath::new(kind, &observed.times, &observed.rows, channel)?;
            // Fixed steps cost a known count; PID steps are counted by solving (a frame's
            // work: only then).
            let count = match solver.stepping {
                CdeStepping::Fixed { per_interval } => path.intervals() * per_interval * solver.tableau.stages(),
                CdeStepping::Pid { .. } => self.fit.model.logit(&self.fit.params, &path, &solver)?.1,
            };
            nfe.push((kind, count));
        }
        // A rectilinear path has two knots per observation after the first: its state at an
        // observation is at the even knots.
        let step = if config.interpolation == Interpolation::Rectilinear { 2 } else { 1 };
        let hidden: Vec<(f64, Vec<f64>)> =
            observed.times.iter().zip(states.into_iter().step_by(step)).map(|(t, z)| (*t, z)).collect();
        let probability = hidden
            .iter()
            .map(|(t, z)| (*t, 1.0 / (1.0 + (-self.fit.model.readout(&self.fit.params, z)).exp())))
            .collect();
        Ok(SeriesView {
            label: observed.label,
            points,
            linear: curve(Interpolation::Linear)?,
            hermite: curve(Interpolation::Hermite)?,
            probability,
            hidden,
            nfe,
        })
    }

    /// The figures of `nde lab ncde train --json` at this point of the run.
    pub fn report_json(&self) -> serde_json::Value {
        let c = &self.fit.config;
        let e = self.evaluation.map(|(e, _)| e);
        json!({
            "data": c.data.name(),
            "interp": c.interpolation.name(),
            "drop": c.observation.drop,
            "per_channel": c.observation.per_channel,
            "time_channel": c.observation.time_channel,
            "masks": c.observation.masks,
            "solver": c.solver,
            "epochs": c.epochs,
            "steps": self.fit.steps_done(),
            "params": self.fit.params.len(),
            "test_accuracy": e.map(|e| e.accuracy),
            "test_bce": e.map(|e| e.bce),
            "loss_last": self.fit.last_loss,
            "nfe_per_series": e.map(|e| e.nfe_per_series),
        })
    }

    /// The shown series: t, x, y, observed (0/1), p(label 1) (empty where not observed).
    pub fn export_series(&self) -> String {
        let mut text = String::from("t,x,y,observed,p_label1\n");
        for p in &self.view.points {
            let prob =
                self.view.probability.iter().find(|(t, _)| *t == p.t).map_or(String::new(), |(_, q)| q.to_string());
            text.push_str(&format!("{},{},{},{},{prob}\n", p.t, p.xy[0], p.xy[1], u8::from(p.observed)));
        }
        text
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

    /// The lab opens with the series drawn and evaluates in slices; training runs in slices
    /// to the end, with an evaluation after each epoch.
    #[test]
    fn the_lab_opens_evaluates_and_trains_in_slices() {
        let mut lab = NcdeLab::new(NcdeSettings::default(), vec![]);
        assert_eq!(lab.view.points.len(), crate::core::cde::data::POINTS);
        assert!(lab.view.points.iter().all(|p| p.observed), "nothing dropped by default");
        let tick = clock();
        let mut frames = 0;
        while lab.evaluation.is_none() {
            lab.tick(4.0, &tick);
            frames += 1;
        }
        assert!(frames > 1, "the evaluation took more than one slice");
        lab.set("epochs", "1").unwrap();
        lab.toggle_play();
        while lab.playing || lab.evaluation.is_none_or(|(_, step)| step == 0) {
            lab.tick(4.0, &tick);
        }
        assert_eq!(lab.fit.steps_done(), lab.fit.config.steps_per_epoch());
        assert_eq!(lab.evaluation.unwrap().1, lab.fit.steps_done());
        assert_eq!(lab.view.probability.len(), lab.view.points.len());
        assert_eq!(lab.view.hidden.len(), lab.view.points.len());

        assert!(lab.view.hidden.iter().all(|(_, z)| z.len() == lab.fit.config.hidden));
        let report = lab.report_json();
        assert!(report["test_accuracy"].as_f64().is_some());
        assert_eq!(lab.export_series().lines().count(), 1 + lab.view.points.len());
        // Fixed steps: linear and Hermite take the same evaluations, rectilinear twice the knots.
        let nfe: Vec<usize> = lab.view.nfe.iter().map(|n| n.1).collect();
        assert_eq!(nfe, vec![4 * 99, 4 * 99, 4 * 198]);
        lab.set("solver", "tsit5").unwrap();
        lab.set("steps_by", "pid").unwrap();
        assert!(lab.view.nfe.iter().all(|n| n.1 >= 6 * 99), "{:?}", lab.view.nfe);
    }

    /// Dropped points show hollow; the paths go through the observed ones only.
    #[test]
    fn dropped_points_are_marked_and_settings_refresh_the_view() {
        let mut lab = NcdeLab::new(NcdeSettings::default(), vec![]);
        lab.set("drop", "0.5").unwrap();
        let dropped = lab.view.points.iter().filter(|p| !p.observed).count();
        assert!(dropped > 20 && dropped < 80, "{dropped}");
        assert!(lab.view.points.first().unwrap().observed && lab.view.points.last().unwrap().observed);
        let observed = lab.view.points.len() - dropped;
        assert_eq!(lab.view.probability.len(), observed);
        assert_eq!(lab.view.linear.len(), (observed - 1) * SAMPLES + 1);
        lab.show_next(true).unwrap();
        assert_eq!(lab.settings.show, 1);
        lab.show_next(false).unwrap();
        lab.show_next(false).unwrap();
        assert_eq!(lab.settings.show, lab.fit.test.len() - 1);
        lab.set("interp", "rectilinear").unwrap();
        let observed = lab.view.points.iter().filter(|p| p.observed).count();
        assert_eq!(lab.view.probability.len(), observed, "one answer per observation on a rectilinear path");
        assert!(lab.set("drop", "2").is_err());
    }
}
