//! The ODICE lab's settings and their place in the address: every control is a query key,
//! so a link reopens the same lab (and, with the same seed, replays the same training).

use crate::core::odice::learner::NavConfig;
use crate::core::odice::nav;
use crate::playground::shell::parse_number as number;

#[derive(Debug, Clone, PartialEq)]
pub struct OdiceSettings {
    pub lambda: f64,
    pub eta: f64,
    pub gamma: f64,
    pub value_lr: f64,
    pub policy_lr: f64,
    pub batch: usize,
    pub steps: usize,
    /// The behaviour data's episodes and action noise.
    pub episodes: usize,
    pub noise: f64,
    pub seed: u64,
}

/// The page's bounds (it trains on one thread).
pub const PAGE_MAX_BATCH: usize = 512;
pub const PAGE_MAX_STEPS: usize = 40_000;
pub const PAGE_MAX_EPISODES: usize = 1000;

impl Default for OdiceSettings {
    /// The CLI's defaults (`nde lab odice run --env nav`).
    fn default() -> Self {
        let c = NavConfig::default();
        OdiceSettings {
            lambda: c.lambda,
            eta: c.eta,
            gamma: c.gamma,
            value_lr: c.value_lr,
            policy_lr: c.policy_lr,
            batch: c.batch,
            steps: 20_000,
            episodes: nav::EPISODES,
            noise: nav::ACTION_NOISE,
            seed: c.seed,
        }
    }
}

impl OdiceSettings {
    pub fn config(&self) -> NavConfig {
        NavConfig {
            lambda: self.lambda,
            eta: self.eta,
            gamma: self.gamma,
            value_lr: self.value_lr,
            policy_lr: self.policy_lr,
            batch: self.batch,
            seed: self.seed,
            ..NavConfig::default()
        }
    }

    /// Settings that keep the data and the weights (they change how training goes on).
    pub fn keeps_weights(key: &str) -> bool {
        matches!(key, "lambda" | "eta" | "gamma" | "vlr" | "plr" | "batch" | "steps")
    }

    /// Sets one key from text, checked: the settings do not change when the value is refused.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let mut next = self.clone();
        match key {
            "lambda" => next.lambda = number(key, value)?,
            "eta" => next.eta = number(key, value)?,
            "gamma" => next.gamma = number(key, value)?,
            "vlr" => next.value_lr = number(key, value)?,
            "plr" => next.policy_lr = number(key, value)?,
            "batch" => next.batch = number(key, value)?,
            "steps" => next.steps = number(key, value)?,
            "episodes" => next.episodes = number(key, value)?,
            "noise" => next.noise = number(key, value)?,
            "seed" => next.seed = number(key, value)?,
            _ => return Err(format!("unknown setting '{key}'")),
        }
        next.check()?;
        *self = next;
        Ok(())
    }

    /// The bounds the page holds to, with messages that name the control.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=PAGE_MAX_BATCH).contains(&self.batch) {
            return Err(format!("batch must be 1 to {PAGE_MAX_BATCH} on the page"));
        }
        if !(1..=PAGE_MAX_STEPS).contains(&self.steps) {
            return Err(format!("steps must be 1 to {PAGE_MAX_STEPS} on the page"));
        }
        if !(10..=PAGE_MAX_EPISODES).contains(&self.episodes) {
            return Err(format!("episodes must be 10 to {PAGE_MAX_EPISODES} on the page"));
        }
        if !(self.noise.is_finite() && (0.0..=2.0).contains(&self.noise)) {
            return Err(format!("action noise must be 0 to 2, got {}", self.noise));
        }
        self.config()
            .validate()
            .map_err(|e| e.replace("value-lr", "value learning rate").replace("policy-lr", "policy learning rate"))
    }

    pub fn from_query(query: &str) -> (Self, Vec<String>) {
        let mut settings = OdiceSettings::default();
        let problems = crate::playground::shell::apply_query(&mut settings, query, |s, k, v| s.set(k, v));
        (settings, problems)
    }

    /// The settings that differ from the defaults, as a query.
    pub fn to_query(&self) -> String {
        let d = OdiceSettings::default();
        [
            ("lambda", self.lambda.to_string(), d.lambda.to_string()),
            ("eta", self.eta.to_string(), d.eta.to_string()),
            ("gamma", self.gamma.to_string(), d.gamma.to_string()),
            ("vlr", self.value_lr.to_string(), d.value_lr.to_string()),
            ("plr", self.policy_lr.to_string(), d.policy_lr.to_string()),
            ("batch", self.batch.to_string(), d.batch.to_string()),
            ("steps", self.steps.to_string(), d.steps.to_string()),
            ("episodes", self.episodes.to_string(), d.episodes.to_string()),
            ("noise", self.noise.to_string(), d.noise.to_string()),
            ("seed", self.seed.to_string(), d.seed.to_string()),
        ]
        .into_iter()
        .filter(|(_, value, default)| value != default)
        .map(|(key, value, _)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("&")
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn every_setting_round_trips_through_the_address() {
        let mut s = OdiceSettings::default();
        assert_eq!(s.to_query(), "");
        for (k, v) in [
            ("lambda", "0.8"),
            ("eta", "0.5"),
            ("gamma", "0.95"),
            ("vlr", "0.0003"),
            ("plr", "0.002"),
            ("batch", "64"),
            ("steps", "500"),
            ("episodes", "100"),
            ("noise", "0.5"),
            ("seed", "3"),
        ] {
            s.set(k, v).unwrap();
        }
        let (back, problems) = OdiceSettings::from_query(&s.to_query());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(back, s);
    }

    #[test]
    fn bad_values_are_named_and_change_nothing() {
        let mut s = OdiceSettings::default();
        for (k, v, needle) in [
            ("lambda", "1", "lambda"),
            ("lambda", "NaN", "lambda"),
            ("eta", "-1", "eta"),
            ("gamma", "1", "gamma"),
            ("vlr", "0", "value learning rate"),
            ("plr", "inf", "policy learning rate"),
            ("batch", "0", "batch"),
            ("steps", "100000", "steps"),
            ("episodes", "5", "episodes"),
            ("noise", "3", "noise"),
            ("seed", "-1", "seed"),
            ("bogus", "1", "unknown setting"),
        ] {
            let err = s.set(k, v).unwrap_err();
            assert!(err.contains(needle), "{k}={v}: {err}");
            assert_eq!(s, OdiceSettings::default());
        }
    }
}
