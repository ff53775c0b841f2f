//! The neural ODE lab's settings and their place in the address: every control is a query
//! key, so a link reopens the same lab (and, with the same seed, replays the same training).

use crate::core::dynamics::fit::{FitConfig, GradientMethod, ModelKind, Stepping, MAX_PER_INTERVAL, SOLVERS};
use crate::core::dynamics::precision::Precision;
use crate::core::dynamics::systems::SystemId;
use crate::playground::shell::parse_number as number;

#[derive(Debug, Clone, PartialEq)]
pub struct NodeSettings {
    pub system: SystemId,
    pub model: ModelKind,
    pub width: usize,
    pub solver: String,
    pub per_interval: usize,
    /// PID step control (tsit5, dopri5) instead of fixed steps per interval.
    pub pid: bool,
    pub rtol: f64,
    pub atol: f64,
    pub method: GradientMethod,
    pub learning_rate: f64,
    pub steps: usize,
    pub seed: u64,
    /// The gradient panel's stress problem: damping, horizon and steps.
    pub damping: f64,
    pub horizon: f64,
    pub stress_steps: usize,
    /// The field's precision in the gradient panel.
    pub precision: Precision,
    /// The time scrubber, as a fraction of the data's horizon.
    pub scrub: f64,
    /// The portrait's cloud: a grid of starts flowed by the learned field.
    pub cloud: bool,
}

/// Widest network the page trains (it trains on one thread).
pub const PAGE_MAX_WIDTH: usize = 64;
/// Most training steps a page run takes.
pub const PAGE_MAX_STEPS: usize = 20_000;

impl Default for NodeSettings {
    fn default() -> Self {
        let fit = FitConfig::page_default(SystemId::Oscillator, ModelKind::Neural);
        NodeSettings {
            system: fit.system,
            model: fit.model,
            width: fit.width,
            solver: fit.solver,
            per_interval: 1,
            pid: false,
            rtol: 1e-3,
            atol: 1e-6,
            method: fit.method,
            learning_rate: fit.learning_rate,
            steps: fit.steps,
            seed: 0,
            damping: 4.0,
            horizon: 10.0,
            stress_steps: 200,
            precision: Precision::F64,
            scrub: 1.0,
            cloud: true,
        }
    }
}

impl NodeSettings {
    /// The fit these settings ask for (the page's defaults for everything else).
    pub fn fit_config(&self) -> FitConfig {
        let base = FitConfig::page_default(self.system, self.model);
        FitConfig {
            width: self.width,
            solver: self.solver.clone(),
            stepping: if self.pid {
                Stepping::Pid { rtol: self.rtol, atol: self.atol }
            } else {
                Stepping::Fixed { per_interval: self.per_interval }
            },
            method: self.method,
            learning_rate: self.learning_rate,
            steps: self.steps,
            seed: self.seed,
            ..base
        }
    }

    /// Sets one key from text, checked: the settings do not change when the value is refused.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let mut next = self.clone();
        match key {
            "system" => {
                next.system = SystemId::from_name(value)?;
                if next.model == ModelKind::Hybrid && next.system.known_part().is_none() {
                    next.model = ModelKind::Neural;
                }
            }
            "model" => next.model = ModelKind::from_name(value)?,
            "width" => next.width = number(key, value)?,
            "solver" => next.solver = value.to_string(),
            "per_interval" => next.per_interval = number(key, value)?,
            "steps_by" => {
                next.pid = match value {
                    "fixed" => false,
                    "pid" => true,
                    _ => return Err(format!("steps_by: choose fixed or pid, got '{value}'")),
                }
            }
            "rtol" => next.rtol = number(key, value)?,
            "atol" => next.atol = number(key, value)?,
            "adjoint" => next.method = GradientMethod::from_name(value)?,
            "lr" => next.learning_rate = number(key, value)?,
            "steps" => next.steps = number(key, value)?,
            "seed" => next.seed = number(key, value)?,
            "damping" => next.damping = number(key, value)?,
            "horizon" => next.horizon = number(key, value)?,
            "stress_steps" => next.stress_steps = number(key, value)?,
            "precision" => next.precision = Precision::from_name(value)?,
            "t" => next.scrub = number(key, value)?,
            "cloud" => {
                next.cloud = match value {
                    "on" => true,
                    "off" => false,
                    _ => return Err(format!("cloud: choose on or off, got '{value}'")),
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
        if !SOLVERS.contains(&self.solver.as_str()) {
            return Err(format!("solver: choose one of {}", SOLVERS.join(", ")));
        }
        if !(1..=MAX_PER_INTERVAL).contains(&self.per_interval) {
            return Err(format!("steps per interval must be 1 to {MAX_PER_INTERVAL}"));
        }
        if !(1..=PAGE_MAX_STEPS).contains(&self.steps) {
            return Err(format!("training steps must be 1 to {PAGE_MAX_STEPS}"));
        }
        if !(self.rtol > 0.0 && self.rtol < 1.0 && self.atol > 0.0 && self.atol < 1.0) {
            return Err(format!("rtol and atol must be in (0, 1), got {} and {}", self.rtol, self.atol));
        }
        if !(0.0..=1.0).contains(&self.scrub) {
            return Err("t must be between 0 and 1 (a fraction of the horizon)".into());
        }
        crate::core::adjoint::gradient_table::pendulum_stress(
            self.damping,
            self.horizon,
            self.stress_steps.min(20_000),
        )
        .map_err(|e| e.replace("--", ""))?;
        if self.stress_steps > 20_000 {
            return Err("stress steps must be at most 20000 on the page".into());
        }
        self.fit_config().validate().map_err(|e| e.replace("--", ""))
    }

    /// Reads the lab's part of the address; a bad key or value is named and left at its
    /// default.
    pub fn from_query(query: &str) -> (Self, Vec<String>) {
        let mut settings = NodeSettings::default();
        let problems = crate::playground::shell::apply_query(&mut settings, query, |s, k, v| s.set(k, v));
        (settings, problems)
    }

    /// The settings that differ from the defaults, as a query.
    pub fn to_query(&self) -> String {
        let d = NodeSettings::default();
        let mut pairs = Vec::new();
        let mut put = |key: &str, value: String, default: String| {
            if value != default {
                pairs.push(format!("{key}={value}"));
            }
        };
        put("system", self.system.name().into(), d.system.name().into());
        put("model", self.model.name().into(), d.model.name().into());
        put("width", self.width.to_string(), d.width.to_string());
        put("solver", self.solver.clone(), d.solver.clone());
        put("per_interval", self.per_interval.to_string(), d.per_interval.to_string());
        put("steps_by", if self.pid { "pid" } else { "fixed" }.into(), "fixed".into());
        put("rtol", self.rtol.to_string(), d.rtol.to_string());
        put("atol", self.atol.to_string(), d.atol.to_string());
        put("adjoint", self.method.name().into(), d.method.name().into());
        put("lr", self.learning_rate.to_string(), d.learning_rate.to_string());
        put("steps", self.steps.to_string(), d.steps.to_string());
        put("seed", self.seed.to_string(), d.seed.to_string());
        put("damping", self.damping.to_string(), d.damping.to_string());
        put("horizon", self.horizon.to_string(), d.horizon.to_string());
        put("stress_steps", self.stress_steps.to_string(), d.stress_steps.to_string());
        put("precision", self.precision.name().into(), d.precision.name().into());
        put("t", self.scrub.to_string(), d.scrub.to_string());
        put("cloud", if self.cloud { "on" } else { "off" }.into(), "on".into());
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
        let mut s = NodeSettings::default();
        assert_eq!(s.to_query(), "");
        for (k, v) in [
            ("system", "pendulum"),
            ("model", "hybrid"),
            ("width", "16"),
            ("per_interval", "2"),
            ("solver", "tsit5"),
            ("steps_by", "pid"),
            ("rtol", "0.0001"),
            ("atol", "0.00001"),
            ("adjoint", "backsolve"),
            ("lr", "0.01"),
            ("steps", "50"),
            ("seed", "3"),
            ("damping", "2"),
            ("horizon", "8"),
            ("stress_steps", "400"),
            ("precision", "f32"),
            ("t", "0.5"),
            ("cloud", "off"),
        ] {
            s.set(k, v).unwrap();
        }
        let (back, problems) = NodeSettings::from_query(&s.to_query());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(back, s);
    }

    #[test]
    fn bad_values_are_named_and_change_nothing() {
        let mut s = NodeSettings::default();
        for (k, v, needle) in [
            ("width", "0", "width"),
            ("width", "abc", "not a number"),
            ("system", "lorenz", "unknown system"),
            ("model", "hybrid", "no known part"),
            ("lr", "NaN", "lr"),
            ("damping", "-1", "damping"),
            ("t", "2", "between 0 and 1"),
            ("steps_by", "pid", "no error estimate"),
            ("steps_by", "adaptive", "fixed or pid"),
            ("rtol", "0", "rtol"),
            ("bogus", "1", "unknown setting"),
            ("cloud", "maybe", "on or off"),
        ] {
            let err = s.set(k, v).unwrap_err();
            assert!(err.contains(needle), "{k}={v}: {err}");
            assert_eq!(s, NodeSettings::default());
        }
        let (s, problems) = NodeSettings::from_query("width=9999&system=pendulum");
        assert_eq!((s.width, s.system), (NodeSettings::default().width, SystemId::Pendulum));
        assert!(problems.len() == 1 && problems[0].contains("width"), "{problems:?}");
        // A system without a known part drops the hybrid model rather than failing.
        let mut s = NodeSettings::default();
        s.set("system", "pendulum").unwrap();
        s.set("model", "hybrid").unwrap();
        s.set("system", "oscillator").unwrap();
        assert_eq!(s.model, ModelKind::Neural);
    }
}
