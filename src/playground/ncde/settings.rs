//! The neural CDE lab's settings and their place in the address: every control is a query
//! key, so a link reopens the same lab (and, with the same seed, replays the same training).

use crate::core::cde::data::{CdeDataId, Observation};
use crate::core::cde::fit::{CdeFitConfig, CDE_SOLVERS};
use crate::core::path::Interpolation;
use crate::playground::shell::{parse_number as number, parse_on_off as on_off};

#[derive(Debug, Clone, PartialEq)]
pub struct NcdeSettings {
    pub data: CdeDataId,
    pub interpolation: Interpolation,
    pub drop: f64,
    /// Drop single values instead of whole rows.
    pub per_channel: bool,
    pub time_channel: bool,
    pub masks: bool,
    pub solver: String,
    /// PID steps (tsit5, dopri5) instead of one fixed step per knot interval.
    pub pid: bool,
    pub epochs: usize,
    pub learning_rate: f64,
    pub seed: u64,
    /// The test series on show.
    pub show: usize,
}

/// Most epochs a page run takes.
pub const PAGE_MAX_EPOCHS: usize = 200;

impl Default for NcdeSettings {
    fn default() -> Self {
        let fit = CdeFitConfig::page_default();
        NcdeSettings {
            data: fit.data,
            interpolation: fit.interpolation,
            drop: fit.observation.drop,
            per_channel: fit.observation.per_channel,
            time_channel: fit.observation.time_channel,
            masks: fit.observation.masks,
            solver: fit.solver,
            pid: fit.pid,
            epochs: fit.epochs,
            learning_rate: fit.learning_rate,
            seed: fit.seed,
            show: 0,
        }
    }
}

impl NcdeSettings {
    /// The fit these settings ask for (the page's defaults for everything else).
    pub fn fit_config(&self) -> CdeFitConfig {
        let base = CdeFitConfig::page_default();
        CdeFitConfig {
            data: self.data,
            interpolation: self.interpolation,
            observation: Observation {
                drop: self.drop,
                per_channel: self.per_channel,
                time_channel: self.time_channel,
                masks: self.masks,
                ..base.observation
            },
            solver: self.solver.clone(),
            pid: self.pid,
            epochs: self.epochs,
            learning_rate: self.learning_rate,
            seed: self.seed,
            ..base
        }
    }

    /// Sets one key from text, checked: the settings do not change when the value is refused.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let mut next = self.clone();
        match key {
            "data" => next.data = CdeDataId::from_name(value)?,
            "interp" => next.interpolation = Interpolation::from_name(value)?,
            "drop" => next.drop = number(key, value)?,
            "drop_by" => {
                next.per_channel = match value {
                    "row" => false,
                    "value" => true,
                    _ => return Err(format!("drop_by: choose row or value, got '{value}'")),
                }
            }
            "time" => next.time_channel = on_off(key, value)?,
            "masks" => next.masks = on_off(key, value)?,
            "solver" => next.solver = value.to_string(),
            "steps_by" => {
                next.pid = match value {
                    "fixed" => false,
                    "pid" => true,
                    _ => return Err(format!("steps_by: choose fixed or pid, got '{value}'")),
                }
            }
            "epochs" => next.epochs = number(key, value)?,
            "lr" => next.learning_rate = number(key, value)?,
            "seed" => next.seed = number(key, value)?,
            "show" => next.show = number(key, value)?,
            _ => return Err(format!("unknown setting '{key}'")),
        }
        next.check()?;
        *self = next;
        Ok(())
    }

    /// The bounds the page holds to, with messages that name the control.
    pub fn check(&self) -> Result<(), String> {
        if !CDE_SOLVERS.contains(&self.solver.as_str()) {
            return Err(format!("solver: choose one of {}", CDE_SOLVERS.join(", ")));
        }
        if !(1..=PAGE_MAX_EPOCHS).contains(&self.epochs) {
            return Err(format!("epochs must be 1 to {PAGE_MAX_EPOCHS} on the page"));
        }
        let series = CdeFitConfig::page_default().series;
        if self.show >= series {
            return Err(format!("show must be a test series, 0 to {}", series - 1));
        }
        self.fit_config().validate().map_err(|e| e.replace("--", ""))
    }

    /// Reads the lab's part of the address; a bad key or value is named and left at its
    /// default.
    pub fn from_query(query: &str) -> (Self, Vec<String>) {
        let mut settings = NcdeSettings::default();
        let problems = crate::playground::shell::apply_query(&mut settings, query, |s, k, v| s.set(k, v));
        (settings, problems)
    }

    /// The settings that differ from the defaults, as a query.
    pub fn to_query(&self) -> String {
        let d = NcdeSettings::default();
        let on = |b: bool| if b { "on" } else { "off" }.to_string();
        let mut pairs = Vec::new();
        let mut put = |key: &str, value: String, default: String| {
            if value != default {
                pairs.push(format!("{key}={value}"));
            }
        };
        put("data", self.data.name().into(), d.data.name().into());
        put("interp", self.interpolation.name().into(), d.interpolation.name().into());
        put("drop", self.drop.to_string(), d.drop.to_string());
        put("drop_by", if self.per_channel { "value" } else { "row" }.into(), "row".into());
        put("time", on(self.time_channel), on(d.time_channel));
        put("masks", on(self.masks), on(d.masks));
        put("solver", self.solver.clone(), d.solver.clone());
        put("steps_by", if self.pid { "pid" } else { "fixed" }.into(), "fixed".into());
        put("epochs", self.epochs.to_string(), d.epochs.to_string());
        put("lr", self.learning_rate.to_string(), d.learning_rate.to_string());
        put("seed", self.seed.to_string(), d.seed.to_string());
        put("show", self.show.to_string(), d.show.to_string());
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
        let mut s = NcdeSettings::default();
        assert_eq!(s.to_query(), "");
        for (k, v) in [
            ("data", "speed"),
            ("interp", "linear"),
            ("drop", "0.5"),
            ("drop_by", "value"),
            ("time", "off"),
            ("masks", "on"),
            ("solver", "tsit5"),
            ("steps_by", "pid"),
            ("epochs", "3"),
            ("lr", "0.005"),
            ("seed", "4"),
            ("show", "7"),
        ] {
            s.set(k, v).unwrap();
        }
        let (back, problems) = NcdeSettings::from_query(&s.to_query());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(back, s);
    }

    #[test]
    fn bad_values_are_named_and_change_nothing() {
        let mut s = NcdeSettings::default();
        for (k, v, needle) in [
            ("drop", "1", "drop"),
            ("drop", "x", "not a number"),
            ("data", "lorenz", "unknown data set"),
            ("interp", "spline", "unknown interpolation"),
            ("time", "maybe", "on or off"),
            ("epochs", "0", "epochs"),
            ("show", "64", "show"),
            ("lr", "NaN", "lr"),
            ("solver", "rk45", "solver"),
            ("steps_by", "pid", "error estimate"),
            ("steps_by", "adaptive", "fixed or pid"),
            ("bogus", "1", "unknown setting"),
        ] {
            let err = s.set(k, v).unwrap_err();
            assert!(err.contains(needle), "{k}={v}: {err}");
            assert_eq!(s, NcdeSettings::default());
        }
        // Rectilinear needs the time channel.
        s.set("interp", "rectilinear").unwrap();
        assert!(s.set("time", "off").unwrap_err().contains("time"));
    }
}
