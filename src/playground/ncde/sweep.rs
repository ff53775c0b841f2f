//! The accuracy-against-drop-rate sweep in the page: a full training run per (interpolation,
//! drop rate) at the lab's task and channels, one after another in frame slices (training,
//! then the test evaluation), each point added as its run finishes. `nde lab ncde sweep` is
//! the same sweep on the command line at its own defaults.

use crate::core::cde::data::Observation;
use crate::core::cde::fit::{CdeFit, CdeFitConfig};
use crate::core::path::Interpolation;

/// The drop rates and interpolations of LABS.md's chart.
pub const SWEEP_DROPS: [f64; 5] = [0.0, 0.3, 0.5, 0.7, 0.9];
pub const SWEEP_INTERPOLATIONS: [Interpolation; 2] = [Interpolation::Linear, Interpolation::Hermite];

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepPoint {
    pub interpolation: Interpolation,
    pub drop: f64,
    pub accuracy: f64,
}

/// The run in progress: its fit and, once trained, its test answers so far.
struct Run {
    fit: CdeFit,
    answers: Option<Vec<(f64, usize)>>,
}

pub struct Sweep {
    pub points: Vec<SweepPoint>,
    base: CdeFitConfig,
    queue: Vec<(Interpolation, f64)>,
    current: Option<Run>,
}

impl Sweep {
    pub fn new(base: CdeFitConfig) -> Self {
        let queue = SWEEP_INTERPOLATIONS.iter().flat_map(|i| SWEEP_DROPS.iter().map(move |d| (*i, *d))).rev().collect();
        Sweep { points: Vec::new(), base, queue, current: None }
    }

    pub fn total(&self) -> usize {
        SWEEP_DROPS.len() * SWEEP_INTERPOLATIONS.len()
    }

    pub fn done(&self) -> bool {
        self.queue.is_empty() && self.current.is_none()
    }

    /// Stops after the points so far (they stay on the chart).
    pub fn stop(&mut self) {
        self.queue.clear();
        self.current = None;
    }

    /// Works until `out_of_time`; Ok(true) when a point was added.
    pub fn tick(&mut self, out_of_time: &mut dyn FnMut() -> bool) -> Result<bool, String> {
        if self.current.is_none() {
            let Some((interpolation, drop)) = self.queue.pop() else { return Ok(false) };
            let config = CdeFitConfig {
                interpolation,
                observation: Observation { drop, ..self.base.observation },
                ..self.base.clone()
            };
            self.current = Some(Run { fit: CdeFit::new(config)?, answers: None });
            return Ok(false);
        }
        let run = self.current.as_mut().expect("checked above");
        while !run.fit.done() {
            if run.fit.advance(out_of_time)?.is_none() || out_of_time() {
                return Ok(false);
            }
        }
        let answers = run.answers.get_or_insert_with(Vec::new);
        while answers.len() < run.fit.test.len() {
            answers.push(run.fit.test_answer(answers.len())?);
            if out_of_time() {
                return Ok(false);
            }
        }
        let evaluation = run.fit.evaluation_of(&run.fit.test, answers);
        let c = &run.fit.config;
        self.points.push(SweepPoint {
            interpolation: c.interpolation,
            drop: c.observation.drop,
            accuracy: evaluation.accuracy,
        });
        self.current = None;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// Every (interpolation, drop) pair is run once, in order, each to a test accuracy.
    #[test]
    fn the_sweep_runs_every_point_in_slices() {
        let base = CdeFitConfig { series: 8, batch: 4, width: 4, hidden: 2, epochs: 1, ..CdeFitConfig::page_default() };
        let mut sweep = Sweep::new(base);
        let mut calls = 0;
        while !sweep.done() {
            let mut budget = 3;
            sweep
                .tick(&mut || {
                    budget -= 1;
                    budget == 0
                })
                .unwrap();
            calls += 1;
        }
        assert_eq!(sweep.points.len(), sweep.total());
        assert!(calls > sweep.total() * 2, "the runs were spread over {calls} calls");
        let order: Vec<(Interpolation, f64)> = sweep.points.iter().map(|p| (p.interpolation, p.drop)).collect();
        assert_eq!(order[0], (Interpolation::Linear, 0.0));
        assert_eq!(order[9], (Interpolation::Hermite, 0.9));
        assert!(sweep.points.iter().all(|p| (0.0..=1.0).contains(&p.accuracy)));
        sweep.stop();
        assert!(sweep.done() && sweep.points.len() == 10, "stopping keeps the points");
    }
}
