//! The symbolic regression lab's settings and their place in the address: every control is a
//! query key, so a link reopens the same lab (and, with the same seed, replays the same search).

use crate::core::dynamics::systems::SystemId;
use crate::core::symreg::expr::Unary;
use crate::core::symreg::options::{Operators, SearchOptions};
use crate::core::symreg::pipeline::Source;
use crate::playground::shell::parse_number as number;

#[derive(Debug, Clone, PartialEq)]
pub struct SymregSettings {
    pub system: SystemId,
    pub source: Source,
    /// States in the regression set.
    pub points: usize,
    pub populations: usize,
    pub population_size: usize,
    /// Cycles per iteration.
    pub cycles: usize,
    pub maxsize: usize,
    /// The search stops after this many iterations per output.
    pub iterations: usize,
    pub unary: Vec<Unary>,
    pub seed: u64,
    /// Adam steps of the fine-tuning through the ODE solve.
    pub tune_steps: usize,
}

/// The page's bounds (the search runs on the browser's one thread).
pub const PAGE_MAX_POINTS: usize = 5000;
pub const PAGE_MAX_POPULATIONS: usize = 32;
pub const PAGE_MAX_ITERATIONS: usize = 1000;
pub const PAGE_MAX_TUNE_STEPS: usize = 5000;

impl Default for SymregSettings {
    /// The CLI's budget (16 populations of 27, 30 iterations of 100 cycles, maxsize 20, 2000
    /// states) on the oscillator's learned field, the thesis's example. LABS.md suggests 8
    /// populations for the page; at 8 populations and 1000 states seed 0 misses dy/dt's knee
    /// in 30 iterations (docs/PLAYGROUND.md), at the CLI's budget it recovers both.
    fn default() -> Self {
        let cli = SearchOptions::cli_default();
        SymregSettings {
            system: SystemId::Oscillator,
            source: Source::Neural,
            points: 2000,
            populations: cli.populations,
            population_size: cli.population_size,
            cycles: cli.cycles,
            maxsize: cli.maxsize,
            iterations: cli.iterations,
            unary: cli.operators.unary.clone(),
            seed: 0,
            tune_steps: 500,
        }
    }
}

/// The unary operators as the address writes them ("neg,sin"; "none" for none).
fn unary_text(unary: &[Unary]) -> String {
    if unary.is_empty() {
        "none".into()
    } else {
        unary.iter().map(|u| u.name()).collect::<Vec<_>>().join(",")
    }
}

impl SymregSettings {
    /// The search these settings ask for (PySR's algorithm, the CLI's defaults for the rest).
    pub fn search_options(&self) -> SearchOptions {
        SearchOptions {
            populations: self.populations,
            population_size: self.population_size,
            iterations: self.iterations,
            cycles: self.cycles,
            maxsize: self.maxsize,
            operators: Operators::with_unary(&self.unary),
            seed: self.seed,
            ..SearchOptions::cli_default()
        }
    }

    /// Settings that change no search: how long it runs and how long fine-tuning takes.
    pub fn keeps_search(key: &str) -> bool {
        matches!(key, "iterations" | "tune_steps")
    }

    /// Sets one key from text, checked: the settings do not change when the value is refused.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let mut next = self.clone();
        match key {
            "system" => next.system = SystemId::from_name(value)?,
            "source" => next.source = Source::from_name(value)?,
            "points" => next.points = number(key, value)?,
            "populations" => next.populations = number(key, value)?,
            "population_size" => next.population_size = number(key, value)?,
            "cycles" => next.cycles = number(key, value)?,
            "maxsize" => next.maxsize = number(key, value)?,
            "iterations" => next.iterations = number(key, value)?,
            "unary" => {
                let list = if value.trim() == "none" { "" } else { value };
                next.unary = Operators::parse_unary(list)?.unary;
            }
            "seed" => next.seed = number(key, value)?,
            "tune_steps" => next.tune_steps = number(key, value)?,
            _ => return Err(format!("unknown setting '{key}'")),
        }
        next.check()?;
        *self = next;
        Ok(())
    }

    /// Turns one unary operator on or off.
    pub fn toggle_unary(&mut self, op: Unary) -> Result<(), String> {
        let mut unary = self.unary.clone();
        match unary.iter().position(|u| *u == op) {
            Some(i) => {
                unary.remove(i);
            }
            None => unary.push(op),
        }
        // Keep the order of Unary::ALL, so that a link names them one way.
        let ordered: Vec<Unary> = Unary::ALL.into_iter().filter(|u| unary.contains(u)).collect();
        self.set("unary", &unary_text(&ordered))
    }

    /// The bounds the page holds to, with messages that name the control.
    pub fn check(&self) -> Result<(), String> {
        if !(50..=PAGE_MAX_POINTS).contains(&self.points) {
            return Err(format!("points must be 50 to {PAGE_MAX_POINTS} on the page"));
        }
        if !(1..=PAGE_MAX_POPULATIONS).contains(&self.populations) {
            return Err(format!("populations must be 1 to {PAGE_MAX_POPULATIONS} on the page"));
        }
        if !(1..=PAGE_MAX_ITERATIONS).contains(&self.iterations) {
            return Err(format!("iterations must be 1 to {PAGE_MAX_ITERATIONS} on the page"));
        }
        if !(1..=PAGE_MAX_TUNE_STEPS).contains(&self.tune_steps) {
            return Err(format!("fine-tuning steps must be 1 to {PAGE_MAX_TUNE_STEPS} on the page"));
        }
        self.search_options().validate().map_err(|e| e.replace("--", "").replace('-', "_"))
    }

    /// Reads the lab's part of the address; a bad key or value is named and left at its
    /// default.
    pub fn from_query(query: &str) -> (Self, Vec<String>) {
        let mut settings = SymregSettings::default();
        let problems = crate::playground::shell::apply_query(&mut settings, query, |s, k, v| s.set(k, v));
        (settings, problems)
    }

    /// The settings that differ from the defaults, as a query.
    pub fn to_query(&self) -> String {
        let d = SymregSettings::default();
        let mut pairs = Vec::new();
        let mut put = |key: &str, value: String, default: String| {
            if value != default {
                pairs.push(format!("{key}={value}"));
            }
        };
        put("system", self.system.name().into(), d.system.name().into());
        put("source", self.source.name().into(), d.source.name().into());
        put("points", self.points.to_string(), d.points.to_string());
        put("populations", self.populations.to_string(), d.populations.to_string());
        put("population_size", self.population_size.to_string(), d.population_size.to_string());
        put("cycles", self.cycles.to_string(), d.cycles.to_string());
        put("maxsize", self.maxsize.to_string(), d.maxsize.to_string());
        put("iterations", self.iterations.to_string(), d.iterations.to_string());
        put("unary", unary_text(&self.unary), unary_text(&d.unary));
        put("seed", self.seed.to_string(), d.seed.to_string());
        put("tune_steps", self.tune_steps.to_string(), d.tune_steps.to_string());
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
        let mut s = SymregSettings::default();
        assert_eq!(s.to_query(), "");
        for (k, v) in [
            ("system", "damped-linear"),
            ("source", "differences"),
            ("points", "400"),
            ("populations", "4"),
            ("population_size", "20"),
            ("cycles", "30"),
            ("maxsize", "15"),
            ("iterations", "12"),
            ("unary", "neg,sin"),
            ("seed", "3"),
            ("tune_steps", "200"),
        ] {
            s.set(k, v).unwrap();
        }
        let (back, problems) = SymregSettings::from_query(&s.to_query());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(back, s);
        s.set("unary", "none").unwrap();
        assert!(s.unary.is_empty());
        assert_eq!(SymregSettings::from_query(&s.to_query()).0, s);
    }

    #[test]
    fn operators_toggle_in_one_order() {
        let mut s = SymregSettings::default();
        s.toggle_unary(Unary::Exp).unwrap();
        s.toggle_unary(Unary::Sin).unwrap();
        assert_eq!(s.unary, vec![Unary::Neg, Unary::Sin, Unary::Exp]);
        s.toggle_unary(Unary::Neg).unwrap();
        assert_eq!(s.to_query(), "unary=sin,exp");
    }

    #[test]
    fn bad_values_are_named_and_change_nothing() {
        let mut s = SymregSettings::default();
        for (k, v, needle) in [
            ("system", "lorenz", "lorenz"),
            ("source", "guess", "exact, neural or differences"),
            ("points", "10", "points"),
            ("points", "x", "not a number"),
            ("populations", "0", "populations"),
            ("population_size", "3", "population_size"),
            ("population_size", "10", "tournament size"),
            ("cycles", "0", "cycles"),
            ("maxsize", "2", "maxsize"),
            ("iterations", "0", "iterations"),
            ("unary", "tan", "tan"),
            ("seed", "-1", "seed"),
            ("tune_steps", "0", "fine-tuning"),
            ("bogus", "1", "unknown setting"),
        ] {
            let err = s.set(k, v).unwrap_err();
            assert!(err.contains(needle), "{k}={v}: {err}");
            assert_eq!(s, SymregSettings::default());
        }
        let (opened, problems) = SymregSettings::from_query("points=-3&seed=2");
        assert_eq!(opened.seed, 2);
        assert!(problems[0].contains("points"), "{problems:?}");
    }
}
