//! The ODICE lab's state: the navigation data, one learner per update rule (the shipped fit,
//! or trained here a step of each rule at a time), each rule's V on a grid (a rule per
//! slice), the evaluation (rollouts from in- and out-of-distribution starts, advanced a few
//! steps per slice, then co-adaptation), a clicked start's rollout under each rule, and the
//! exports. No DOM here; `ui::odice` draws it.

use serde_json::{json, Value};

use super::settings::OdiceSettings;
use crate::core::odice::learner::{coadaptation_sample, NavEvaluation, NavLearner, EVALUATION_STARTS};
use crate::core::odice::nav::{self, Rollout, RolloutBatch, Transition};
use crate::core::odice::objective::UpdateRule;
use crate::core::odice::weights::OdiceWeights;
use crate::playground::shell::LabStatus;

/// Every rule trained 20 000 steps at the defaults (`nde lab odice run --env nav --out`;
/// docs/RESULTS.md), so the lab opens with trained networks.
pub const SHIPPED_WEIGHTS_JSON: &str = include_str!("../../../www/odice-nav.json");

/// Cells per side of each V map.
pub const GRID: usize = 32;
/// Rollouts drawn per kind of start and rule.
pub const DRAWN_ROLLOUTS: usize = 12;
/// Rollout steps advanced per slice.
const ROLLOUT_STEPS_PER_SLICE: usize = 10;
/// While training, the maps are recomputed at most this often.
const MAP_INTERVAL_MS: f64 = 1000.0;

/// Where the evaluation of one rule stands.
#[derive(Debug, Clone)]
enum Evaluating {
    Rollouts { rule: usize, in_distribution: bool, batch: RolloutBatch, runs_in: Vec<Rollout> },
    Coadaptation { rule: usize, runs_in: Vec<Rollout>, runs_ood: Vec<Rollout> },
}

pub struct OdiceLab {
    pub settings: OdiceSettings,
    pub status: LabStatus,
    pub playing: bool,
    pub data: Vec<Transition>,
    /// One learner per rule, in `UpdateRule::ALL`'s order.
    pub learners: Vec<NavLearner>,
    pub pretrained: bool,
    /// V per rule on the grid, row-major from the bottom.
    pub maps: Vec<Vec<f64>>,
    /// The next rule whose map is due (None: all fresh).
    next_map: Option<usize>,
    last_map: f64,
    pub evaluations: Vec<Option<NavEvaluation>>,
    /// A few of each rule's evaluation rollouts, to draw: (in distribution, out of it).
    pub shown: Vec<(Vec<Rollout>, Vec<Rollout>)>,
    evaluating: Option<Evaluating>,
    /// A clicked start and each rule's rollout from it.
    pub clicked: Option<([f64; 2], Vec<Rollout>)>,
    /// Per rule, bumped whenever what its map shows changes (the page repaints only those).
    pub map_revisions: Vec<u64>,
    pub steps_per_s: f64,
    rate_window: Option<(f64, usize)>,
}

fn rules() -> usize {
    UpdateRule::ALL.len()
}

impl OdiceLab {
    pub fn new(settings: OdiceSettings, problems: Vec<String>) -> Self {
        let mut status = LabStatus::with_errors(problems);
        let settings = match settings.check() {
            Ok(()) => settings,
            Err(e) => {
                status.error(format!("{e}; opening the defaults"));
                OdiceSettings::default()
            }
        };
        let data = nav::behaviour_data(settings.seed, settings.episodes, settings.noise);
        let mut lab = OdiceLab {
            learners: Self::fresh_learners(&settings).expect("checked settings"),
            settings,
            status,
            playing: false,
            data,
            pretrained: false,
            maps: vec![Vec::new(); rules()],
            next_map: Some(0),
            last_map: f64::NEG_INFINITY,
            evaluations: vec![None; rules()],
            shown: vec![(Vec::new(), Vec::new()); rules()],
            evaluating: None,
            clicked: None,
            map_revisions: vec![0; rules()],
            steps_per_s: 0.0,
            rate_window: None,
        };
        lab.pretrained = lab.load_shipped();
        lab.weights_changed();
        lab
    }

    fn fresh_learners(settings: &OdiceSettings) -> Result<Vec<NavLearner>, String> {
        UpdateRule::ALL.iter().map(|r| NavLearner::new(*r, settings.config())).collect()
    }

    /// The shipped fit, where it matches the settings.
    fn load_shipped(&mut self) -> bool {
        let Ok(w) = OdiceWeights::parse(SHIPPED_WEIGHTS_JSON) else { return false };
        if w.config != self.settings.config() {
            return false;
        }
        w.load_into(&mut self.learners, &self.settings.config(), self.settings.episodes, self.settings.noise).is_ok()
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

    /// Steps every rule has taken.
    pub fn steps_done(&self) -> usize {
        self.learners.iter().map(|l| l.steps_done).min().unwrap_or(0)
    }

    pub fn done(&self) -> bool {
        self.steps_done() >= self.settings.steps
    }

    /// Everything measured on the weights is stale: maps, evaluations, the click.
    fn weights_changed(&mut self) {
        self.bump_all_maps();
        self.next_map = Some(0);
        self.evaluations = vec![None; rules()];
        self.evaluating = Some(self.first_rollouts(0, true, Vec::new()));
        if let Some((start, _)) = self.clicked.take() {
            self.click(start);
        }
        self.status.changed();
    }

    fn bump_all_maps(&mut self) {
        for r in &mut self.map_revisions {
            *r += 1;
        }
    }

    fn first_rollouts(&self, rule: usize, in_distribution: bool, runs_in: Vec<Rollout>) -> Evaluating {
        let seed = self.settings.seed;
        let batch = RolloutBatch::new(&nav::starts(seed, EVALUATION_STARTS, in_distribution), seed);
        Evaluating::Rollouts { rule, in_distribution, batch, runs_in }
    }

    /// Changes one setting. The objective's constants, learning rates, batch and length keep
    /// the weights (training goes on under the new values); the data and seed start afresh.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let mut next = self.settings.clone();
        next.set(key, value)?;
        if OdiceSettings::keeps_weights(key) {
            let config = next.config();
            // The constants change; the networks, optimiser state and history stay.
            for l in &mut self.learners {
                l.config = config;
                l.set_learning_rates(config.value_lr, config.policy_lr);
            }
            self.settings = next;
            self.status.changed();
            return Ok(());
        }
        let learners = Self::fresh_learners(&next)?;
        self.data = nav::behaviour_data(next.seed, next.episodes, next.noise);
        self.settings = next;
        self.learners = learners;
        self.pretrained = self.load_shipped();
        self.playing = false;
        self.weights_changed();
        Ok(())
    }

    /// Fresh random weights at the current settings.
    pub fn reinitialise(&mut self) -> Result<(), String> {
        self.learners = Self::fresh_learners(&self.settings)?;
        self.pretrained = false;
        self.weights_changed();
        Ok(())
    }

    pub fn toggle_play(&mut self) {
        if self.done() {
            self.notify(format!(
                "training is done ({} steps): raise the steps or start from fresh weights",
                self.settings.steps
            ));
            return;
        }
        self.playing = !self.playing;
        self.rate_window = None;
        if !self.playing {
            self.weights_changed();
        }
        self.status.changed();
    }

    /// One step of every rule; false (and training stopped) on a non-finite gradient.
    fn train_round(&mut self) -> bool {
        for k in 0..self.learners.len() {
            if let Err(e) = self.learners[k].step(&self.data) {
                self.playing = false;
                self.report(format!(
                    "{}: {e}: training stopped; lower the learning rates or start from fresh weights",
                    self.learners[k].rule.name()
                ));
                return false;
            }
        }
        true
    }

    /// The frame's work: training (if playing), then the maps, then the evaluation.
    pub fn tick(&mut self, budget_ms: f64, clock: &dyn Fn() -> f64) {
        let start = clock();
        let mut last = start;
        let mut out_of_time = |share: f64| {
            let now = clock();
            let piece = now - last;
            last = now;
            now - start + piece >= share * budget_ms
        };
        if self.playing {
            loop {
                if !self.train_round() {
                    return;
                }
                if self.done() {
                    self.playing = false;
                    self.notify(format!("trained {} steps", self.steps_done()));
                    self.weights_changed();
                    break;
                }
                if out_of_time(0.75) {
                    break;
                }
            }
            self.update_rate(clock());
            let now = clock();
            if self.next_map.is_none() && now - self.last_map > MAP_INTERVAL_MS {
                self.next_map = Some(0);
                self.last_map = now;
            }
            self.status.numbers_changed();
        }
        while self.next_map.is_some() {
            self.map_rule();
            if out_of_time(1.0) {
                return;
            }
        }
        if !self.playing {
            while self.evaluating.is_some() {
                self.evaluate_some();
                if out_of_time(1.0) {
                    return;
                }
            }
        }
    }

    fn update_rate(&mut self, now: f64) {
        let steps = self.steps_done();
        match self.rate_window {
            Some((t0, s0)) if now - t0 >= 500.0 => {
                self.steps_per_s = (steps - s0) as f64 / ((now - t0) / 1000.0);
                self.rate_window = Some((now, steps));
            }
            None => self.rate_window = Some((now, steps)),
            _ => {}
        }
    }

    /// The centre of cell (i, j) of a map.
    pub fn cell(i: usize, j: usize) -> [f64; 2] {
        [(i as f64 + 0.5) / GRID as f64, (j as f64 + 0.5) / GRID as f64]
    }

    fn map_rule(&mut self) {
        let Some(k) = self.next_map.take() else { return };
        let cells: Vec<[f64; 2]> = (0..GRID * GRID).map(|c| Self::cell(c % GRID, c / GRID)).collect();
        let values = self.learners[k].values(&cells);
        self.maps[k] = values.into_iter().map(|v| if v.is_finite() { v } else { 0.0 }).collect();
        self.map_revisions[k] += 1;
        if k + 1 < rules() {
            self.next_map = Some(k + 1);
        } else {
            self.status.changed();
        }
    }

    /// One slice of the evaluation: a few rollout steps, or a rule's co-adaptation.
    fn evaluate_some(&mut self) {
        let Some(state) = self.evaluating.take() else { return };
        match state {
            Evaluating::Rollouts { rule, in_distribution, mut batch, runs_in } => {
                let learner = &self.learners[rule];
                batch.advance(ROLLOUT_STEPS_PER_SLICE, &mut |s, a| learner.act(s, a));
                self.evaluating = Some(if !batch.done() {
                    Evaluating::Rollouts { rule, in_distribution, batch, runs_in }
                } else if in_distribution {
                    self.first_rollouts(rule, false, batch.runs)
                } else {
                    Evaluating::Coadaptation { rule, runs_in, runs_ood: batch.runs }
                });
            }
            Evaluating::Coadaptation { rule, runs_in, runs_ood } => {
                let learner = &self.learners[rule];
                let coadapt = learner.coadaptation(&coadaptation_sample(&self.data));
                self.evaluations[rule] = Some(learner.evaluation(&runs_in, &runs_ood, coadapt));
                self.map_revisions[rule] += 1;
                self.shown[rule] = (
                    runs_in.into_iter().take(DRAWN_ROLLOUTS).collect(),
                    runs_ood.into_iter().take(DRAWN_ROLLOUTS).collect(),
                );
                if rule + 1 < rules() {
                    self.evaluating = Some(self.first_rollouts(rule + 1, true, Vec::new()));
                }
                self.status.changed();
            }
        }
    }

    /// A click on a map: each rule's rollout from there (a moment's work: three policies,
    /// at most 120 steps each).
    pub fn click(&mut self, start: [f64; 2]) {
        if !(start[0].is_finite() && start[1].is_finite()) {
            return;
        }
        let start = [start[0].clamp(0.0, 1.0), start[1].clamp(0.0, 1.0)];
        let seed = self.settings.seed;
        let runs = self.learners.iter().map(|l| l.rollouts(&[start], seed).remove(0)).collect();
        self.clicked = Some((start, runs));
        self.bump_all_maps();
        self.status.changed();
    }

    pub fn export_weights(&self) -> String {
        serde_json::to_string(&OdiceWeights::of(&self.learners, self.settings.episodes, self.settings.noise))
            .expect("weights serialise")
    }

    /// A weights file from here or `nde lab odice run --env nav --out`: it must match the
    /// seed, data and networks; its steps count as done.
    pub fn load_weights(&mut self, name: &str, text: &str) -> Result<(), String> {
        let w = OdiceWeights::parse(text).map_err(|e| format!("{name}: {e}"))?;
        let mut learners = Self::fresh_learners(&self.settings)?;
        w.load_into(&mut learners, &self.settings.config(), self.settings.episodes, self.settings.noise)
            .map_err(|e| format!("{name}: {e}"))?;
        self.learners = learners;
        self.pretrained = false;
        self.playing = false;
        self.weights_changed();
        self.notify(format!("loaded {name} ({} steps)", self.steps_done()));
        Ok(())
    }

    /// The CLI's report keys that the page measures, as JSON (non-finite numbers null).
    pub fn export_report(&self) -> String {
        let finite = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
        let s = &self.settings;
        let rows: Vec<Value> = self
            .learners
            .iter()
            .zip(&self.evaluations)
            .map(|(l, e)| {
                let mut row = json!({ "update": l.rule.name(), "steps": l.steps_done });
                if let Some(e) = e {
                    row["success_in"] = json!(e.success_in);
                    row["success_ood"] = json!(e.success_ood);
                    row["steps_in"] = finite(e.steps_in);
                    row["steps_ood"] = finite(e.steps_ood);
                    row["coadapt"] = finite(e.coadapt);
                    row["cos_fb_final"] = finite(e.cos_fb_final);
                    row["norm_forward_final"] = finite(e.norm_forward_final);
                    row["norm_backward_final"] = finite(e.norm_backward_final);
                    row["v_min"] = finite(e.v_min);
                    row["v_max"] = finite(e.v_max);
                }
                row
            })
            .collect();
        let report = json!({
            "env": "nav",
            "lambda": s.lambda,
            "eta": s.eta,
            "gamma": s.gamma,
            "steps": self.steps_done(),
            "batch": s.batch,
            "seed": s.seed,
            "episodes": s.episodes,
            "transitions": self.data.len(),
            "starts_per_kind": EVALUATION_STARTS,
            "rows": rows,
        });
        serde_json::to_string_pretty(&report).expect("a JSON value prints")
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn run(lab: &mut OdiceLab, ticks: usize) {
        let t = std::cell::Cell::new(0.0);
        let clock = || {
            t.set(t.get() + 1.0);
            t.get()
        };
        for _ in 0..ticks {
            lab.tick(8.0, &clock);
        }
    }

    /// The lab opens with the shipped fit; its maps and evaluation fill in slices, and the
    /// figures are the CLI's at the same settings (docs/RESULTS.md): the orthogonal rule at
    /// least the semi-gradient from OOD starts.
    #[test]
    fn the_lab_opens_with_the_shipped_fit_and_evaluates_it() {
        let mut lab = OdiceLab::new(OdiceSettings::default(), Vec::new());
        assert!(lab.pretrained, "{:?}", lab.status.errors);
        assert_eq!(lab.steps_done(), 20_000);
        run(&mut lab, 400);
        assert!(lab.maps.iter().all(|m| m.len() == GRID * GRID && m.iter().all(|v| v.is_finite())));
        assert!(lab.evaluations.iter().all(Option::is_some), "evaluation unfinished");
        let e: Vec<&NavEvaluation> = lab.evaluations.iter().flatten().collect();
        assert!(e[2].success_ood >= e[0].success_ood, "{e:?}");
        assert_eq!(lab.shown[0].0.len(), DRAWN_ROLLOUTS);
        let report: Value = serde_json::from_str(&lab.export_report()).unwrap();
        assert_eq!(report["rows"].as_array().unwrap().len(), 3, "{report}");
        assert!(report["rows"][1]["success_in"].as_f64().is_some(), "{report}");
    }

    /// Training in slices keeps the rules in step; a click rolls each policy out; bad input
    /// changes nothing; the weights round-trip through their file.
    #[test]
    fn trains_in_slices_clicks_and_refuses_bad_input() {
        let mut lab = OdiceLab::new(OdiceSettings::default(), Vec::new());
        lab.set("episodes", "40").unwrap();
        assert!(!lab.pretrained, "the shipped fit is for 300 episodes");
        lab.set("steps", "30").unwrap();
        lab.set("batch", "32").unwrap();
        lab.toggle_play();
        run(&mut lab, 200);
        assert!(!lab.playing);
        assert!(lab.learners.iter().all(|l| l.steps_done == 30 && l.history.len() == 30));
        lab.click([0.2, 0.8]);
        let (start, runs) = lab.clicked.clone().unwrap();
        assert_eq!(start, [0.2, 0.8]);
        assert_eq!(runs.len(), 3);
        assert!(runs.iter().all(|r| r.path[0] == start && r.path.len() >= 2));
        let before = lab.settings.clone();
        assert!(lab.set("lambda", "1.5").is_err());
        assert!(lab.load_weights("w.json", "{").unwrap_err().contains("w.json"));
        let mut other = OdiceWeights::parse(&lab.export_weights()).unwrap();
        other.episodes = 300;
        let err = lab.load_weights("w.json", &serde_json::to_string(&other).unwrap()).unwrap_err();
        assert!(err.contains("episodes"), "{err}");
        assert_eq!(lab.settings, before);
        let text = lab.export_weights();
        let value = lab.learners[1].value.clone();
        lab.reinitialise().unwrap();
        lab.load_weights("mine.json", &text).unwrap();
        assert_eq!(lab.learners[1].value, value);
        // A learning rate changes how training goes on, not the weights.
        lab.set("vlr", "0.002").unwrap();
        assert_eq!(lab.learners[1].value, value);
    }
}
