//! The neural SDE lab's settings and their place in the address: every control is a query
//! key, so a link reopens the same lab (and, with the same seed, replays the same training).

use crate::core::nsde::data::NsdeDataId;
use crate::core::nsde::fit::NsdeFitConfig;
use crate::core::nsde::gan::GanConfig;
use crate::core::nsde::solve::SdeMethod;
use crate::playground::shell::parse_number as number;

#[derive(Debug, Clone, PartialEq)]
pub struct NsdeSettings {
    /// The SDE-GAN instead of the latent SDE (the advanced toggle).
    pub gan: bool,
    pub data: NsdeDataId,
    pub drop: f64,
    pub method: SdeMethod,
    pub dt: f64,
    pub batch: usize,
    pub steps: usize,
    pub anneal: usize,
    pub kl_weight: f64,
    pub learning_rate: f64,
    pub seed: u64,
}

/// The page's bounds (one thread in the browser).
pub const PAGE_MAX_STEPS: usize = 20_000;
pub const PAGE_MAX_BATCH: usize = 512;
pub const PAGE_MIN_DT: f64 = 0.005;

impl Default for NsdeSettings {
    fn default() -> Self {
        let fit = NsdeFitConfig::cli_default();
        NsdeSettings {
            gan: false,
            data: fit.data,
            drop: fit.drop,
            method: fit.method,
            dt: fit.dt,
            batch: fit.batch,
            steps: fit.steps,
            anneal: fit.kl_anneal,
            kl_weight: fit.kl_weight,
            learning_rate: fit.learning_rate,
            seed: fit.seed,
        }
    }
}

impl NsdeSettings {
    /// The fit these settings ask for (the CLI's defaults for everything else).
    pub fn fit_config(&self) -> NsdeFitConfig {
        NsdeFitConfig {
            data: self.data,
            drop: self.drop,
            method: self.method,
            dt: self.dt,
            batch: self.batch,
            steps: self.steps,
            kl_anneal: self.anneal,
            kl_weight: self.kl_weight,
            learning_rate: self.learning_rate,
            seed: self.seed,
            ..NsdeFitConfig::cli_default()
        }
    }

    /// The SDE-GAN these settings ask for: its own sizes and rates (GanConfig's defaults),
    /// the data, drop rate, batch, length and seed from here.
    pub fn gan_config(&self) -> GanConfig {
        GanConfig {
            data: self.data,
            drop: self.drop,
            batch: self.batch,
            steps: self.steps,
            seed: self.seed,
            ..GanConfig::cli_default()
        }
    }

    /// The settings that leave the weights alone when they change: how long to train and
    /// the KL weight (so raising it goes on from the model on show).
    pub fn keeps_weights(key: &str) -> bool {
        matches!(key, "steps" | "kl")
    }

    /// Sets one key from text, checked: the settings do not change when the value is refused.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let mut next = self.clone();
        match key {
            "model" => {
                next.gan = match value {
                    "latent" => false,
                    "gan" => true,
                    _ => return Err(format!("model: choose latent or gan, got '{value}'")),
                }
            }
            "data" => {
                next.data = NsdeDataId::from_name(value)?;
                next.drop = next.data.default_drop();
            }
            "drop" => next.drop = number(key, value)?,
            "solver" => next.method = SdeMethod::from_name(value)?,
            "dt" => next.dt = number(key, value)?,
            "batch" => next.batch = number(key, value)?,
            "steps" => next.steps = number(key, value)?,
            "anneal" => next.anneal = number(key, value)?,
            "kl" => next.kl_weight = number(key, value)?,
            "lr" => next.learning_rate = number(key, value)?,
            "seed" => next.seed = number(key, value)?,
            _ => return Err(format!("unknown setting '{key}'")),
        }
        next.check()?;
        *self = next;
        Ok(())
    }

    /// The bounds the page holds to, with messages that name the control.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=PAGE_MAX_STEPS).contains(&self.steps) {
            return Err(format!("steps must be 1 to {PAGE_MAX_STEPS} on the page"));
        }
        if !(1..=PAGE_MAX_BATCH).contains(&self.batch) {
            return Err(format!("batch must be 1 to {PAGE_MAX_BATCH} on the page"));
        }
        if !(self.dt >= PAGE_MIN_DT) {
            return Err(format!("dt must be at least {PAGE_MIN_DT} on the page"));
        }
        if self.anneal > PAGE_MAX_STEPS {
            return Err(format!("anneal must be 0 to {PAGE_MAX_STEPS}"));
        }
        self.fit_config().validate().map_err(|e| e.replace("--kl-weight", "kl").replace("--", ""))?;
        self.gan_config().validate().map_err(|e| e.replace("--", ""))
    }

    /// Reads the lab's part of the address; a bad key or value is named and left at its
    /// default.
    pub fn from_query(query: &str) -> (Self, Vec<String>) {
        let mut settings = NsdeSettings::default();
        let problems = crate::playground::shell::apply_query(&mut settings, query, |s, k, v| s.set(k, v));
        (settings, problems)
    }

    /// The settings that differ from the defaults, as a query.
    pub fn to_query(&self) -> String {
        let d = NsdeSettings::default();
        let mut pairs = Vec::new();
        let mut put = |key: &str, value: String, default: String| {
            if value != default {
                pairs.push(format!("{key}={value}"));
            }
        };
        put("model", if self.gan { "gan" } else { "latent" }.into(), "latent".into());
        put("data", self.data.name().into(), d.data.name().into());
        put("drop", self.drop.to_string(), self.data.default_drop().to_string());
        put("solver", self.method.name().into(), d.method.name().into());
        put("dt", self.dt.to_string(), d.dt.to_string());
        put("batch", self.batch.to_string(), d.batch.to_string());
        put("steps", self.steps.to_string(), d.steps.to_string());
        put("anneal", self.anneal.to_string(), d.anneal.to_string());
        put("kl", self.kl_weight.to_string(), d.kl_weight.to_string());
        put("lr", self.learning_rate.to_string(), d.learning_rate.to_string());
        put("seed", self.seed.to_string(), d.seed.to_string());
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
        let mut s = NsdeSettings::default();
        assert_eq!(s.to_query(), "");
        for (k, v) in [
            ("model", "gan"),
            ("data", "gbm"),
            ("drop", "0.2"),
            ("solver", "em"),
            ("dt", "0.05"),
            ("batch", "16"),
            ("steps", "300"),
            ("anneal", "50"),
            ("kl", "3"),
            ("lr", "0.005"),
            ("seed", "4"),
        ] {
            s.set(k, v).unwrap();
        }
        let (back, problems) = NsdeSettings::from_query(&s.to_query());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(back, s);
        // The SDE-GAN toy drops 30% unless told otherwise, and its link says nothing of it.
        let mut t = NsdeSettings::default();
        t.set("data", "ou-tdep").unwrap();
        assert_eq!((t.drop, t.to_query()), (0.3, "data=ou-tdep".to_string()));
    }

    #[test]
    fn bad_values_are_named_and_change_nothing() {
        let mut s = NsdeSettings::default();
        for (k, v, needle) in [
            ("drop", "0.95", "drop"),
            ("drop", "x", "not a number"),
            ("data", "lorenz", "ou, ou-tdep or gbm"),
            ("solver", "milstein", "reversible-heun or em"),
            ("dt", "0", "dt"),
            ("dt", "NaN", "dt"),
            ("batch", "0", "batch"),
            ("batch", "100000", "batch"),
            ("steps", "0", "steps"),
            ("kl", "-1", "kl"),
            ("lr", "inf", "lr"),
            ("model", "vae", "latent or gan"),
            ("bogus", "1", "unknown setting"),
        ] {
            let err = s.set(k, v).unwrap_err();
            assert!(err.contains(needle), "{k}={v}: {err}");
            assert_eq!(s, NsdeSettings::default());
        }
        let (opened, problems) = NsdeSettings::from_query("batch=-3&kl=2");
        assert_eq!(opened.kl_weight, 2.0);
        assert!(problems[0].contains("batch"), "{problems:?}");
    }
}
