//! The deep equilibrium lab's settings and their place in the address: every control is a
//! query key, so a link reopens the same lab (and, with the same seed, replays the same
//! training).

use crate::core::deq::anderson::{AndersonOptions, Regularisation};
use crate::core::deq::data::DeqData;
use crate::core::deq::layer::Backward;
use crate::core::deq::root::{SolverKind, Stopping};
use crate::core::deq::train::DeqConfig;
use crate::playground::shell::{parse_number as number, parse_on_off as on_off};

#[derive(Debug, Clone, PartialEq)]
pub struct DeqSettings {
    pub data: DeqData,
    pub width: usize,
    pub kappa: f64,
    pub fourier: bool,
    pub forward: SolverKind,
    pub tol: f64,
    pub max_iterations: usize,
    /// Anderson's memory m and whether its λ is absolute (locuslab's 1e-4) or relative.
    pub memory: usize,
    pub absolute_lambda: bool,
    pub backward: String,
    pub k: usize,
    pub steps: usize,
    pub batch: usize,
    pub learning_rate: f64,
    pub seed: u64,
    /// The plane shows the iterations per point instead of the class probability.
    pub iterations_view: bool,
}

/// The page's bounds (it trains on one thread).
pub const PAGE_MAX_WIDTH: usize = 64;
pub const PAGE_MAX_BATCH: usize = 256;
pub const PAGE_MAX_STEPS: usize = 20_000;

impl Default for DeqSettings {
    /// The CLI's defaults on moons (LABS.md).
    fn default() -> Self {
        let c = DeqConfig::cli_default(DeqData::Moons);
        DeqSettings {
            data: c.data,
            width: c.width,
            kappa: c.kappa,
            fourier: c.fourier,
            forward: c.forward,
            tol: c.stop.tol,
            max_iterations: c.stop.max_iterations,
            memory: c.anderson.memory,
            absolute_lambda: false,
            backward: "ift".into(),
            k: 10,
            steps: c.steps,
            batch: c.batch,
            learning_rate: c.learning_rate,
            seed: c.seed,
            iterations_view: false,
        }
    }
}

impl DeqSettings {
    pub fn anderson(&self) -> AndersonOptions {
        let lambda =
            if self.absolute_lambda { Regularisation::Absolute(1e-4) } else { AndersonOptions::default().lambda };
        AndersonOptions { memory: self.memory, lambda, ..AndersonOptions::default() }
    }

    /// The fit these settings ask for.
    pub fn config(&self) -> DeqConfig {
        DeqConfig {
            data: self.data,
            width: self.width,
            kappa: self.kappa,
            fourier: self.fourier,
            forward: self.forward,
            backward: Backward::from_name(&self.backward, self.k).unwrap_or(Backward::Ift),
            steps: self.steps,
            batch: self.batch,
            learning_rate: self.learning_rate,
            stop: Stopping { tol: self.tol, max_iterations: self.max_iterations },
            anderson: self.anderson(),
            seed: self.seed,
        }
    }

    /// Settings that keep the weights: how long to train, the solvers, the gradient method
    /// and the view (the model stays; what is measured on it changes).
    pub fn keeps_weights(key: &str) -> bool {
        matches!(
            key,
            "steps" | "forward" | "tol" | "iters" | "memory" | "lambda" | "backward" | "k" | "lr" | "batch" | "view"
        )
    }

    /// Sets one key from text, checked: the settings do not change when the value is refused.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let mut next = self.clone();
        match key {
            "data" => {
                next.data = DeqData::from_name(value)?;
                next.fourier = next.data.default_fourier();
            }
            "width" => next.width = number(key, value)?,
            "kappa" => next.kappa = number(key, value)?,
            "fourier" => next.fourier = on_off(key, value)?,
            "forward" => next.forward = SolverKind::from_name(value)?,
            "tol" => next.tol = number(key, value)?,
            "iters" => next.max_iterations = number(key, value)?,
            "memory" => next.memory = number(key, value)?,
            "lambda" => {
                next.absolute_lambda = match value {
                    "relative" => false,
                    "absolute" => true,
                    _ => return Err(format!("lambda: choose relative or absolute, got '{value}'")),
                }
            }
            "backward" => {
                Backward::from_name(value, 1)?;
                next.backward = value.to_string();
            }
            "k" => next.k = number(key, value)?,
            "steps" => next.steps = number(key, value)?,
            "batch" => next.batch = number(key, value)?,
            "lr" => next.learning_rate = number(key, value)?,
            "seed" => next.seed = number(key, value)?,
            "view" => {
                next.iterations_view = match value {
                    "probability" => false,
                    "iterations" => true,
                    _ => return Err(format!("view: choose probability or iterations, got '{value}'")),
                }
            }
            _ => return Err(format!("unknown setting '{key}'")),
        }
        next.check()?;
        *self = next;
        Ok(())
    }

    /// The bounds the page holds to, with messages that name the control.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=PAGE_MAX_WIDTH).contains(&self.width) {
            return Err(format!("width must be 1 to {PAGE_MAX_WIDTH} on the page (the CLI takes up to 256)"));
        }
        if !(1..=PAGE_MAX_BATCH).contains(&self.batch) {
            return Err(format!("batch must be 1 to {PAGE_MAX_BATCH} on the page"));
        }
        if !(1..=PAGE_MAX_STEPS).contains(&self.steps) {
            return Err(format!("steps must be 1 to {PAGE_MAX_STEPS} on the page"));
        }
        if !(1..=100).contains(&self.k) {
            return Err(format!("K must be 1 to 100 on the page, got {}", self.k));
        }
        if !(self.kappa > 0.0 && self.kappa < 1.0) {
            return Err(format!("κ must be in (0, 1) for a contraction, got {}", self.kappa));
        }
        if !(1..=500).contains(&self.max_iterations) {
            return Err(format!("iterations must be 1 to 500 on the page, got {}", self.max_iterations));
        }
        self.config().validate().map_err(|e| e.replace("--max-iterations", "iterations").replace("--", ""))
    }

    pub fn from_query(query: &str) -> (Self, Vec<String>) {
        let mut settings = DeqSettings::default();
        let problems = crate::playground::shell::apply_query(&mut settings, query, |s, k, v| s.set(k, v));
        (settings, problems)
    }

    /// The settings that differ from the defaults, as a query.
    pub fn to_query(&self) -> String {
        let d = DeqSettings::default();
        let mut pairs = Vec::new();
        let mut put = |key: &str, value: String, default: String| {
            if value != default {
                pairs.push(format!("{key}={value}"));
            }
        };
        let flag = |b: bool| if b { "on".to_string() } else { "off".to_string() };
        put("data", self.data.name().into(), d.data.name().into());
        put("width", self.width.to_string(), d.width.to_string());
        put("kappa", self.kappa.to_string(), d.kappa.to_string());
        put("fourier", flag(self.fourier), flag(self.data.default_fourier()));
        put("forward", self.forward.name().into(), d.forward.name().into());
        put("tol", self.tol.to_string(), d.tol.to_string());
        put("iters", self.max_iterations.to_string(), d.max_iterations.to_string());
        put("memory", self.memory.to_string(), d.memory.to_string());
        let lambda = |b: bool| if b { "absolute".to_string() } else { "relative".to_string() };
        put("lambda", lambda(self.absolute_lambda), lambda(d.absolute_lambda));
        put("backward", self.backward.clone(), d.backward.clone());
        put("k", self.k.to_string(), d.k.to_string());
        put("steps", self.steps.to_string(), d.steps.to_string());
        put("batch", self.batch.to_string(), d.batch.to_string());
        put("lr", self.learning_rate.to_string(), d.learning_rate.to_string());
        put("seed", self.seed.to_string(), d.seed.to_string());
        let view = |b: bool| if b { "iterations".to_string() } else { "probability".to_string() };
        put("view", view(self.iterations_view), view(d.iterations_view));
        pairs.join("&")
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn every_setting_round_trips_through_the_address() {
        let mut s = DeqSettings::default();
        assert_eq!(s.to_query(), "");
        for (k, v) in [
            ("data", "two-spirals"),
            ("width", "16"),
            ("kappa", "0.5"),
            ("fourier", "off"),
            ("forward", "broyden"),
            ("tol", "0.001"),
            ("iters", "30"),
            ("memory", "6"),
            ("lambda", "absolute"),
            ("backward", "neumann"),
            ("k", "5"),
            ("steps", "300"),
            ("batch", "32"),
            ("lr", "0.002"),
            ("seed", "2"),
            ("view", "iterations"),
        ] {
            s.set(k, v).unwrap();
        }
        let (back, problems) = DeqSettings::from_query(&s.to_query());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(back, s);
    }

    #[test]
    fn bad_values_are_named_and_change_nothing() {
        let mut s = DeqSettings::default();
        for (k, v, needle) in [
            ("data", "circles", "moons or two-spirals"),
            ("width", "0", "width"),
            ("width", "500", "width"),
            ("kappa", "1", "κ"),
            ("kappa", "NaN", "κ"),
            ("forward", "newton", "anderson"),
            ("tol", "0", "tolerance"),
            ("iters", "0", "iterations"),
            ("memory", "0", "memory"),
            ("lambda", "both", "relative or absolute"),
            ("backward", "adjoint", "ift"),
            ("k", "0", "K"),
            ("batch", "0", "batch"),
            ("lr", "inf", "lr"),
            ("view", "3d", "probability"),
            ("bogus", "1", "unknown setting"),
        ] {
            let err = s.set(k, v).unwrap_err();
            assert!(err.contains(needle), "{k}={v}: {err}");
            assert_eq!(s, DeqSettings::default());
        }
    }
}
