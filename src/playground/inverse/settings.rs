//! The controllable-generation lab's settings and their place in the address: every control
//! is a query key, so a link reopens the same task, observation, methods and seed.

use crate::core::inverse::degradation::Degradation;
use crate::core::inverse::replace_plan::check_lock_step;
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::sample::{build, SamplerOptions};
use crate::playground::shell::parse_number as number;

/// What the lab shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Observe x₀,₁ (G2).
    Inpaint,
    /// Observe a rotated coordinate (G3, LABS.md's "colourisation").
    Colour,
    /// Class guidance (G1).
    Class,
    /// Restoration with the mean-reverting samplers (G4).
    Restore,
}

impl Task {
    pub const ALL: [Task; 4] = [Task::Inpaint, Task::Colour, Task::Class, Task::Restore];

    pub fn name(self) -> &'static str {
        match self {
            Task::Inpaint => "inpaint",
            Task::Colour => "colour",
            Task::Class => "class",
            Task::Restore => "restore",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| format!("unknown task '{name}': choose inpaint, colour, class or restore"))
    }
}

/// The fixed-step samplers the page offers for guidance (every one runs every method).
pub const PAGE_SAMPLERS: [&str; 8] =
    ["em", "reverse-diffusion", "ancestral", "pc", "ddim", "pf-heun", "dpmpp-2m", "unipc"];

#[derive(Debug, Clone, PartialEq)]
pub struct InverseSettings {
    pub task: Task,
    /// gmm8, or the correlated Gaussian ("gauss") for inpainting.
    pub data: String,
    pub rho: f64,
    /// a: the observed value.
    pub observe: f64,
    /// The colourisation line's angle in degrees (inpainting observes at 0).
    pub angle: f64,
    pub sampler: String,
    pub nfe: usize,
    pub particles: usize,
    pub zeta: f64,
    /// Replacement and DPS use the shipped gmm8 network (the diffusion lab's) instead of the
    /// exact score.
    pub network_prior: bool,
    pub class: usize,
    pub scale: f64,
    /// Guide with the shipped trained classifier instead of the exact one.
    pub trained_classifier: bool,
    pub degradation: Degradation,
    /// Restore with the exact conditional score, or the shipped network.
    pub network: bool,
    pub restore_nfe: usize,
    /// The clean point the restoration panel degrades.
    pub clean: [f64; 2],
    pub seed: u64,
}

pub const PAGE_MAX_PARTICLES: usize = 5000;
pub const PAGE_MAX_NFE: usize = 1000;

impl Default for InverseSettings {
    fn default() -> Self {
        InverseSettings {
            task: Task::Inpaint,
            data: "gmm8".into(),
            rho: 0.8,
            observe: 1.0,
            angle: 45.0,
            sampler: "em".into(),
            nfe: 200,
            particles: 1000,
            zeta: 0.02,
            network_prior: false,
            class: 1,
            scale: 1.0,
            trained_classifier: false,
            degradation: Degradation::DropY,
            network: true,
            restore_nfe: 20,
            clean: [1.414, 1.414],
            seed: 0,
        }
    }
}

impl InverseSettings {
    /// The observed line's angle: 0 for inpainting.
    pub fn line_angle(&self) -> f64 {
        if self.task == Task::Inpaint {
            0.0
        } else {
            self.angle
        }
    }

    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let mut next = self.clone();
        match key {
            "task" => next.task = Task::from_name(value)?,
            "data" => next.data = value.to_string(),
            "rho" => next.rho = number(key, value)?,
            "observe" => next.observe = number(key, value)?,
            "angle" => next.angle = number(key, value)?,
            "sampler" => next.sampler = value.to_string(),
            "nfe" => next.nfe = number(key, value)?,
            "particles" => next.particles = number(key, value)?,
            "zeta" => next.zeta = number(key, value)?,
            "prior" => {
                next.network_prior = match value {
                    "network" => true,
                    "exact" => false,
                    _ => return Err(format!("prior: choose exact or network, not '{value}'")),
                }
            }
            "class" => next.class = number(key, value)?,
            "scale" => next.scale = number(key, value)?,
            "classifier" => {
                next.trained_classifier = match value {
                    "trained" => true,
                    "exact" => false,
                    _ => return Err(format!("classifier: choose exact or trained, not '{value}'")),
                }
            }
            "degradation" => next.degradation = Degradation::from_name(value)?,
            "model" => {
                next.network = match value {
                    "network" => true,
                    "exact" => false,
                    _ => return Err(format!("model: choose exact or network, not '{value}'")),
                }
            }
            "rnfe" => next.restore_nfe = number(key, value)?,
            "cx" => next.clean[0] = number(key, value)?,
            "cy" => next.clean[1] = number(key, value)?,
            "seed" => next.seed = number(key, value)?,
            _ => return Err(format!("unknown setting '{key}'")),
        }
        next.check()?;
        *self = next;
        Ok(())
    }

    pub fn check(&self) -> Result<(), String> {
        if !["gmm8", "gauss"].contains(&self.data.as_str()) {
            return Err(format!("data: choose gmm8 or gauss, not '{}'", self.data));
        }
        if !(self.rho.is_finite() && self.rho.abs() <= 0.99) {
            return Err(format!("ρ must be in [−0.99, 0.99], got {}", self.rho));
        }
        if !(self.observe.is_finite() && self.observe.abs() <= 4.0) {
            return Err(format!("the observed value must be within ±4, got {}", self.observe));
        }
        if !(self.angle.is_finite() && self.angle.abs() <= 180.0) {
            return Err(format!("the angle must be within ±180°, got {}", self.angle));
        }
        if !(5..=PAGE_MAX_NFE).contains(&self.nfe) {
            return Err(format!("NFE must be 5 to {PAGE_MAX_NFE} on the page"));
        }
        if !(100..=PAGE_MAX_PARTICLES).contains(&self.particles) {
            return Err(format!("particles must be 100 to {PAGE_MAX_PARTICLES} on the page"));
        }
        if !(self.zeta.is_finite() && (0.0..=1.0).contains(&self.zeta)) {
            return Err(format!("ζ must be in [0, 1], got {}", self.zeta));
        }
        if self.network_prior && self.data != "gmm8" {
            return Err("the shipped network was trained on gmm8: choose gmm8 data, or the exact score".into());
        }
        if self.class >= 8 {
            return Err(format!("class must be 0 to 7 (gmm8's components), got {}", self.class));
        }
        if !(self.scale.is_finite() && (0.0..=20.0).contains(&self.scale)) {
            return Err(format!("the guidance scale must be in [0, 20], got {}", self.scale));
        }
        if !(2..=200).contains(&self.restore_nfe) {
            return Err(format!("restoration NFE must be 2 to 200, got {}", self.restore_nfe));
        }
        if !self.clean.iter().all(|v| v.is_finite() && v.abs() <= 4.0) {
            return Err(format!("the clean point must lie within ±4, got ({}, {})", self.clean[0], self.clean[1]));
        }
        if !PAGE_SAMPLERS.contains(&self.sampler.as_str()) {
            return Err(format!("sampler: choose one of {}", PAGE_SAMPLERS.join(", ")));
        }
        let options = SamplerOptions { nfe: self.nfe, ..SamplerOptions::default() };
        let plan = build(&self.sampler, Process::vp(), Parameterisation::Score, &options)?;
        check_lock_step(&plan, "guidance")
    }

    pub fn from_query(query: &str) -> (Self, Vec<String>) {
        let mut settings = InverseSettings::default();
        let problems = crate::playground::shell::apply_query(&mut settings, query, |s, k, v| s.set(k, v));
        (settings, problems)
    }

    pub fn to_query(&self) -> String {
        let d = InverseSettings::default();
        let model = |n: bool| if n { "network" } else { "exact" }.to_string();
        let classifier = |n: bool| if n { "trained" } else { "exact" }.to_string();
        [
            ("task", self.task.name().to_string(), d.task.name().to_string()),
            ("data", self.data.clone(), d.data.clone()),
            ("rho", self.rho.to_string(), d.rho.to_string()),
            ("observe", self.observe.to_string(), d.observe.to_string()),
            ("angle", self.angle.to_string(), d.angle.to_string()),
            ("sampler", self.sampler.clone(), d.sampler.clone()),
            ("nfe", self.nfe.to_string(), d.nfe.to_string()),
            ("particles", self.particles.to_string(), d.particles.to_string()),
            ("zeta", self.zeta.to_string(), d.zeta.to_string()),
            ("prior", model(self.network_prior), model(d.network_prior)),
            ("class", self.class.to_string(), d.class.to_string()),
            ("scale", self.scale.to_string(), d.scale.to_string()),
            ("classifier", classifier(self.trained_classifier), classifier(d.trained_classifier)),
            ("degradation", self.degradation.name().to_string(), d.degradation.name().to_string()),
            ("model", model(self.network), model(d.network)),
            ("rnfe", self.restore_nfe.to_string(), d.restore_nfe.to_string()),
            ("cx", self.clean[0].to_string(), d.clean[0].to_string()),
            ("cy", self.clean[1].to_string(), d.clean[1].to_string()),
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
        let mut s = InverseSettings::default();
        assert_eq!(s.to_query(), "");
        for (k, v) in [
            ("task", "restore"),
            ("data", "gauss"),
            ("rho", "0.5"),
            ("observe", "-0.5"),
            ("angle", "30"),
            ("sampler", "ddim"),
            ("nfe", "50"),
            ("particles", "500"),
            ("zeta", "0.1"),
            ("data", "gmm8"),
            ("prior", "network"),
            ("class", "4"),
            ("scale", "3"),
            ("classifier", "trained"),
            ("degradation", "shrink"),
            ("model", "exact"),
            ("rnfe", "10"),
            ("cx", "0.5"),
            ("cy", "-1"),
            ("seed", "7"),
        ] {
            s.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
        }
        let (back, problems) = InverseSettings::from_query(&s.to_query());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(back, s);
    }

    #[test]
    fn bad_values_are_named_and_change_nothing() {
        let mut s = InverseSettings::default();
        for (k, v, needle) in [
            ("task", "paint", "task"),
            ("data", "moons", "data"),
            ("rho", "1", "ρ"),
            ("observe", "NaN", "observed"),
            ("angle", "inf", "angle"),
            ("sampler", "pf-dopri5", "sampler"),
            ("nfe", "0", "NFE"),
            ("particles", "1000000", "particles"),
            ("zeta", "-1", "ζ"),
            ("prior", "gan", "prior"),
            ("class", "8", "class"),
            ("scale", "1e9", "scale"),
            ("classifier", "svm", "classifier"),
            ("degradation", "blur", "degradation"),
            ("model", "gan", "model"),
            ("rnfe", "1", "NFE"),
            ("cx", "9", "clean point"),
            ("seed", "-2", "seed"),
            ("bogus", "1", "unknown setting"),
        ] {
            let err = s.set(k, v).unwrap_err();
            assert!(err.contains(needle), "{k}={v}: {err}");
            assert_eq!(s, InverseSettings::default());
        }
    }
}
