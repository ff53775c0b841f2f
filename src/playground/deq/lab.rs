//! The deep equilibrium lab's state: the DEQ classifier (the shipped fit, or trained here in
//! slices of a few samples' gradients), the plane coloured by class probability or by the
//! forward's iterations (computed a few rows per slice), a clicked point's residual curves
//! under each root finder and its iterates' path, each solver's figures on the test set, the
//! gradient check and the exports. No DOM here; `ui::deq` draws it.

use nalgebra::DMatrix;
use serde_json::{json, Value};

use super::settings::DeqSettings;
use crate::core::deq::root::SolverKind;
use crate::core::deq::train::{DeqFit, DeqWeights, GradientReport, PendingStep, SolverFigures};
use crate::playground::shell::LabStatus;

/// The moons fit trained ahead at the defaults (`nde lab deq train --out`; docs/RESULTS.md),
/// so the lab opens with a trained layer.
pub const SHIPPED_WEIGHTS_JSON: &str = include_str!("../../../www/deq-moons.json");

/// Cells per side of the plane's map.
pub const GRID: usize = 40;
/// The plane's box: the data lie within it.
pub const BOUNDS: [f64; 4] = [-3.0, 3.0, -3.0, 3.0];
/// Test points drawn on the plane.
pub const DRAWN_POINTS: usize = 300;
/// Samples of a minibatch's gradient per slice.
const SAMPLES_PER_SLICE: usize = 8;
/// Plain-iteration steps recorded for a clicked point's path.
const PATH_STEPS: usize = 40;
/// While training, the map is recomputed at most this often.
const MAP_INTERVAL_MS: f64 = 1000.0;

/// The plane's map, filled a row per slice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlaneMap {
    /// P(class 1) per cell, row-major from the bottom.
    pub probability: Vec<f64>,
    /// The forward's iterations per cell.
    pub iterations: Vec<f64>,
    /// Rows filled so far.
    pub rows: usize,
}

/// A clicked point: each solver's residual per iteration, plain iteration's path projected
/// on its two principal components, and ρ(J_f(z*)).
#[derive(Debug, Clone, PartialEq)]
pub struct ClickedPoint {
    pub x: [f64; 2],
    pub curves: Vec<(SolverKind, Vec<f64>)>,
    pub path: Vec<[f64; 2]>,
    pub spectral_radius: f64,
    pub probability: f64,
}

pub struct DeqLab {
    pub settings: DeqSettings,
    pub status: LabStatus,
    pub playing: bool,
    pub fit: DeqFit,
    pub pretrained: bool,
    pending: Option<PendingStep>,
    pub map: PlaneMap,
    /// The map being recomputed (shown once complete).
    next_map: Option<PlaneMap>,
    last_map: f64,
    /// Each solver's figures on the test set, filled in slices.
    pub figures: Vec<SolverFigures>,
    evaluating: Option<(usize, usize, Vec<(f64, f64, f64)>)>,
    pub clicked: Option<ClickedPoint>,
    pub gradients: Option<GradientReport>,
    pub steps_per_s: f64,
    rate_window: Option<(f64, usize)>,
}

fn shipped() -> Option<DeqWeights> {
    DeqWeights::parse(SHIPPED_WEIGHTS_JSON).ok()
}

impl DeqLab {
    pub fn new(settings: DeqSettings, problems: Vec<String>) -> Self {
        let mut status = LabStatus::with_errors(problems);
        let (settings, fit, pretrained) = match Self::fresh_fit(&settings) {
            Ok((fit, pretrained)) => (settings, fit, pretrained),
            Err(e) => {
                status.error(format!("{e}; opening the defaults"));
                let defaults = DeqSettings::default();
                let (fit, pretrained) = Self::fresh_fit(&defaults).expect("the defaults fit");
                (defaults, fit, pretrained)
            }
        };
        DeqLab {
            settings,
            status,
            playing: false,
            fit,
            pretrained,
            pending: None,
            map: PlaneMap::default(),
            next_map: Some(PlaneMap::default()),
            last_map: f64::NEG_INFINITY,
            figures: Vec::new(),
            evaluating: Some((0, 0, Vec::new())),
            clicked: None,
            gradients: None,
            steps_per_s: 0.0,
            rate_window: None,
        }
    }

    /// A new fit for the settings, from the shipped weights where they fit.
    fn fresh_fit(settings: &DeqSettings) -> Result<(DeqFit, bool), String> {
        settings.check()?;
        let mut fit = DeqFit::new(settings.config())?;
        let pretrained = shipped().is_some_and(|w| fit.load(&w).is_ok());
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

    /// Everything measured on the weights is stale: the map, the figures, the click.
    fn weights_changed(&mut self) {
        self.next_map = Some(PlaneMap::default());
        self.evaluating = Some((0, 0, Vec::new()));
        self.gradients = None;
        if let Some(c) = &self.clicked {
            let x = c.x;
            self.clicked = None;
            self.click(x);
        }
        self.status.changed();
    }

    /// Changes one setting. The model, data and seed start a new fit; the solvers, the
    /// gradient method and the training length keep the weights.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let mut next = self.settings.clone();
        next.set(key, value)?;
        if DeqSettings::keeps_weights(key) {
            let config = next.config();
            self.fit.config.steps = config.steps;
            self.fit.config.forward = config.forward;
            self.fit.config.stop = config.stop;
            self.fit.config.anderson = config.anderson;
            self.fit.config.backward = config.backward;
            self.fit.config.batch = config.batch;
            self.fit.config.learning_rate = config.learning_rate;
            self.settings = next;
            self.pending = None;
            if key != "view" && key != "steps" {
                self.weights_changed();
            }
            self.status.changed();
            return Ok(());
        }
        let (fit, pretrained) = Self::fresh_fit(&next)?;
        self.settings = next;
        self.fit = fit;
        self.pretrained = pretrained;
        self.pending = None;
        self.playing = false;
        self.weights_changed();
        Ok(())
    }

    /// Fresh random weights at the current settings.
    pub fn reinitialise(&mut self) -> Result<(), String> {
        self.fit = DeqFit::new(self.settings.config())?;
        self.pretrained = false;
        self.pending = None;
        self.weights_changed();
        Ok(())
    }

    pub fn toggle_play(&mut self) {
        if self.fit.done() {
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

    /// The frame's work: training (if playing), then the map, then the test figures.
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
            // Training takes most of the frame; the map gets the rest.
            loop {
                let mut step = self.pending.take().unwrap_or_else(|| self.fit.begin_step());
                if self.fit.advance_step(&mut step, SAMPLES_PER_SLICE) {
                    if let Err(e) = self.fit.finish_step(step) {
                        self.playing = false;
                        self.report(format!(
                            "{e}: training stopped; lower the learning rate or start from fresh weights"
                        ));
                        return;
                    }
                    if self.fit.done() {
                        self.playing = false;
                        self.notify(format!("trained {} steps", self.fit.steps_done));
                        self.weights_changed();
                        break;
                    }
                } else {
                    self.pending = Some(step);
                }
                if out_of_time(0.75) {
                    break;
                }
            }
            self.update_rate(clock());
            let now = clock();
            if self.next_map.is_none() && now - self.last_map > MAP_INTERVAL_MS {
                self.next_map = Some(PlaneMap::default());
                self.last_map = now;
            }
            self.status.numbers_changed();
        }
        while self.next_map.is_some() {
            self.map_row();
            if out_of_time(1.0) {
                return;
            }
        }
        if !self.playing {
            while self.evaluating.is_some() {
                self.evaluate_some(25);
                if out_of_time(1.0) {
                    return;
                }
            }
        }
    }

    fn update_rate(&mut self, now: f64) {
        let steps = self.fit.steps_done;
        match self.rate_window {
            Some((t0, s0)) if now - t0 >= 500.0 => {
                self.steps_per_s = (steps - s0) as f64 / ((now - t0) / 1000.0);
                self.rate_window = Some((now, steps));
            }
            None => self.rate_window = Some((now, steps)),
            _ => {}
        }
    }

    /// The centre of cell (i, j) of the map.
    pub fn cell(i: usize, j: usize) -> [f64; 2] {
        let b = BOUNDS;
        [b[0] + (i as f64 + 0.5) / GRID as f64 * (b[1] - b[0]), b[2] + (j as f64 + 0.5) / GRID as f64 * (b[3] - b[2])]
    }

    fn probability(&self, x: [f64; 2]) -> (f64, f64) {
        let layer = self.fit.model.at(&self.fit.model.params);
        let input = self.fit.features.of(x);
        let c = &self.fit.config;
        let s = layer.equilibrium(&input, c.forward, c.stop, c.anderson);
        let l = layer.logits(&s.z);
        let p = 1.0 / (1.0 + (l[0] - l[1]).exp());
        (p, s.iterations() as f64)
    }

    fn map_row(&mut self) {
        let Some(mut map) = self.next_map.take() else { return };
        let j = map.rows;
        for i in 0..GRID {
            let (p, iterations) = self.probability(Self::cell(i, j));
            map.probability.push(if p.is_finite() { p } else { 0.5 });
            map.iterations.push(iterations);
        }
        map.rows += 1;
        if map.rows == GRID {
            self.map = map;
            self.status.changed();
        } else {
            self.next_map = Some(map);
        }
    }

    /// `count` test points more of the solver being measured.
    fn evaluate_some(&mut self, count: usize) {
        let Some((solver, next, mut rows)) = self.evaluating.take() else { return };
        let kind = SolverKind::ALL[solver];
        let end = (next + count).min(self.fit.test.len());
        let figures = self.fit.evaluate(&self.fit.test[next..end], kind);
        let n = (end - next) as f64;
        if rows.len() <= solver {
            rows.push((0.0, 0.0, 0.0));
        }
        rows[solver].0 += figures.iterations * n;
        rows[solver].1 += figures.accuracy * n;
        rows[solver].2 += figures.converged * n;
        if end < self.fit.test.len() {
            self.evaluating = Some((solver, end, rows));
        } else if solver + 1 < SolverKind::ALL.len() {
            self.evaluating = Some((solver + 1, 0, rows));
        } else {
            let total = self.fit.test.len() as f64;
            self.figures = SolverKind::ALL
                .iter()
                .zip(&rows)
                .map(|(s, r)| SolverFigures {
                    solver: *s,
                    iterations: r.0 / total,
                    accuracy: r.1 / total,
                    converged: r.2 / total,
                })
                .collect();
            self.status.changed();
        }
    }

    /// The test accuracy with the lab's forward solver, once measured.
    pub fn test_accuracy(&self) -> Option<f64> {
        self.figures.iter().find(|f| f.solver == self.settings.forward).map(|f| f.accuracy)
    }

    /// A click on the plane: each solver's residual curve there and plain iteration's path.
    pub fn click(&mut self, x: [f64; 2]) {
        if !(x[0].is_finite() && x[1].is_finite()) {
            return;
        }
        let layer = self.fit.model.at(&self.fit.model.params);
        let input = self.fit.features.of(x);
        let c = &self.fit.config;
        let curves: Vec<(SolverKind, Vec<f64>)> =
            SolverKind::ALL.iter().map(|s| (*s, layer.equilibrium(&input, *s, c.stop, c.anderson).residuals)).collect();
        let d = c.width;
        let mut path = vec![vec![0.0; d]];
        for _ in 0..PATH_STEPS {
            let mut next = vec![0.0; d];
            layer.apply(&input, path.last().expect("a start"), &mut next);
            path.push(next);
        }
        let star = path.last().expect("iterates").clone();
        let spectral_radius = layer.jacobian_spectral_radius(&input, &star);
        let logits = layer.logits(&star);
        let probability = 1.0 / (1.0 + (logits[0] - logits[1]).exp());
        self.clicked = Some(ClickedPoint { x, curves, path: principal_plane(&path), spectral_radius, probability });
        self.status.changed();
    }

    /// The gradient methods against the IFT on 8 test points (a moment's work).
    pub fn run_gradients(&mut self) -> Result<(), String> {
        self.gradients = Some(self.fit.gradient_report(8));
        self.status.changed();
        Ok(())
    }

    pub fn export_weights(&self) -> String {
        serde_json::to_string(&self.fit.weights()).expect("weights serialise")
    }

    /// A weights file from here or `nde lab deq train --out`: it must match the data, width,
    /// κ, features and seed; its steps count as done.
    pub fn load_weights(&mut self, name: &str, text: &str) -> Result<(), String> {
        let w = DeqWeights::parse(text).map_err(|e| format!("{name}: {e}"))?;
        let mut fit = DeqFit::new(self.settings.config())?;
        fit.load(&w).map_err(|e| format!("{name}: {e}"))?;
        self.fit = fit;
        self.pretrained = false;
        self.pending = None;
        self.playing = false;
        self.weights_changed();
        self.notify(format!("loaded {name} ({} steps)", self.fit.steps_done));
        Ok(())
    }

    /// The CLI's report keys that the page measures, as JSON (non-finite numbers null).
    pub fn export_report(&self) -> String {
        let finite = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
        let c = &self.fit.config;
        let by = |f: fn(&SolverFigures) -> f64| -> Value {
            self.figures
                .iter()
                .map(|s| (s.solver.name().to_string(), finite(f(s))))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let report = json!({
            "data": c.data.name(),
            "width": c.width,
            "kappa": c.kappa,
            "fourier": c.fourier,
            "forward": c.forward.name(),
            "backward": c.backward.name(),
            "steps": self.fit.steps_done,
            "seed": c.seed,
            "loss_last": self.fit.losses.last().copied().map(finite),
            "test_accuracy": self.test_accuracy().map(finite),
            "test_accuracy_by_solver": by(|s| s.accuracy),
            "forward_iters_mean": by(|s| s.iterations),
            "forward_converged": by(|s| s.converged),
            "grad": self.gradients.as_ref().map(|g| json!({
                "unrolled_k10_rel": finite(g.unrolled_k10_rel),
                "jfb_cos": finite(g.jfb_cos),
                "neumann_k5_rel": finite(g.neumann_k5_rel),
                "ift_vs_fd_rel": finite(g.ift_vs_fd_rel),
                "spectral_radius": finite(g.spectral_radius),
            })),
        });
        serde_json::to_string_pretty(&report).expect("a JSON value prints")
    }
}

/// Points projected on the first two principal components of their centred cloud.
fn principal_plane(points: &[Vec<f64>]) -> Vec<[f64; 2]> {
    let (n, d) = (points.len(), points.first().map_or(0, Vec::len));
    if n < 2 || d == 0 {
        return vec![[0.0, 0.0]; n];
    }
    let mean: Vec<f64> = (0..d).map(|k| points.iter().map(|p| p[k]).sum::<f64>() / n as f64).collect();
    let m = DMatrix::<f64>::from_fn(n, d, |i, k| points[i][k] - mean[k]);
    let svd = m.clone().svd(false, true);
    let Some(vt) = svd.v_t else { return vec![[0.0, 0.0]; n] };
    (0..n)
        .map(|i| {
            let row = m.row(i);
            let a = (0..d).map(|k| row[k] * vt[(0, k)]).sum::<f64>();
            let b = if vt.nrows() > 1 { (0..d).map(|k| row[k] * vt[(1, k)]).sum::<f64>() } else { 0.0 };
            [a, b]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn run(lab: &mut DeqLab, ticks: usize) {
        let t = std::cell::Cell::new(0.0);
        let clock = || {
            t.set(t.get() + 1.0);
            t.get()
        };
        for _ in 0..ticks {
            lab.tick(8.0, &clock);
        }
    }

    /// The lab opens with the shipped moons fit; its map and test figures fill in slices, and
    /// the accuracy is LABS.md's.
    #[test]
    #[cfg(not(target_arch = "wasm32"))] // 4000 test solves: seconds in the browser's one thread
    fn the_lab_opens_with_the_shipped_fit_and_measures_it() {
        let mut lab = DeqLab::new(DeqSettings::default(), Vec::new());
        assert!(lab.pretrained, "{:?}", lab.status.errors);
        run(&mut lab, 3000);
        assert_eq!(lab.map.rows, GRID);
        assert!(lab.map.probability.iter().all(|p| (0.0..=1.0).contains(p)));
        assert_eq!(lab.figures.len(), 4);
        assert!(lab.test_accuracy().unwrap() >= 0.97, "{:?}", lab.figures);
        let report: Value = serde_json::from_str(&lab.export_report()).unwrap();
        assert!(report["forward_iters_mean"]["anderson"].as_f64().unwrap() > 0.0, "{report}");
    }

    /// Training in slices sums a minibatch's gradient a few samples at a time; a click gives
    /// each solver's residual curve; bad input changes nothing.
    #[test]
    fn trains_in_slices_clicks_and_refuses_bad_input() {
        let mut lab = DeqLab::new(DeqSettings::default(), Vec::new());
        lab.set("width", "8").unwrap();
        assert!(!lab.pretrained, "the shipped fit is for width 32");
        lab.set("batch", "16").unwrap();
        lab.set("steps", "3").unwrap();
        lab.toggle_play();
        run(&mut lab, 200);
        assert!(!lab.playing);
        assert_eq!(lab.fit.steps_done, 3);
        assert_eq!(lab.fit.losses.len(), 3);
        lab.click([0.5, 0.25]);
        let clicked = lab.clicked.clone().unwrap();
        assert_eq!(clicked.curves.len(), 4);
        assert!(clicked.curves.iter().all(|(_, r)| r.last().is_some_and(|v| *v < 1e-4)), "{:?}", clicked.curves);
        assert_eq!(clicked.path.len(), PATH_STEPS + 1);
        let before = lab.settings.clone();
        assert!(lab.set("kappa", "1.5").is_err());
        assert!(lab.load_weights("w.json", "{").unwrap_err().contains("w.json"));
        let other = DeqWeights { width: 32, ..lab.fit.weights() };
        let err = lab.load_weights("w.json", &serde_json::to_string(&other).unwrap()).unwrap_err();
        assert!(err.contains("width 32"), "{err}");
        assert_eq!(lab.settings, before);
        // The weights round-trip through their file.
        let text = lab.export_weights();
        let params = lab.fit.model.params.clone();
        lab.reinitialise().unwrap();
        lab.load_weights("mine.json", &text).unwrap();
        assert_eq!(lab.fit.model.params, params);
    }
}
