//! The fuzz layer (`bash scripts/test.sh fuzz`): generated and mutated inputs for every parser
//! a visitor or a user can reach, FUZZ_INPUTS of each per run (10^5 by default), drawn from
//! the project's counter-based RNG so that a failure names its seed and case and repeats.
//!
//! For every input: no panic, a time bound, and then
//! - a refusal names the field it refuses (the key, the line, the flag or the JSON field);
//! - an accepted input is built into what it describes (the page's engine, a sampler plan, a
//!   mixture's score, a network's output) and everything it yields is finite, or it is
//!   refused there with a message.
//!
//! Each test prints one `fuzz: <parser>: N inputs, A accepted, R refused, slowest S ms` line
//! that scripts/test.sh gathers into the test summary. The issue's reproducers are in
//! `reproducers_from_the_hardening_issue`.
#![cfg(not(target_arch = "wasm32"))]

use std::time::Instant;

use clap::Parser;
use nde_playground::cli::Cli;
use nde_playground::core::data::csv::parse_points;
use nde_playground::core::data::GaussianMixture;
use nde_playground::core::metrics::{projections, sliced_wasserstein};
use nde_playground::core::nn::{weights, Mlp, MlpConfig};
use nde_playground::core::param::Parameterisation;
use nde_playground::core::process::Process;
use nde_playground::core::rng::RngStream;
use nde_playground::core::sample::model::{ExactMixtureModel, MlpModel, Model};
use nde_playground::core::sample::{build, SamplerOptions, MR_SAMPLERS, SAMPLERS};
use nde_playground::exec::cpu::{run_plan, RunOptions};
use nde_playground::playground::diffusion::engine::Engine;
use nde_playground::playground::diffusion::settings::{samplers_for, Settings};
use nde_playground::playground::shell::Location;

/// Inputs per parser and run; FUZZ_INPUTS overrides it (a longer local campaign, or a quick look).
fn inputs_per_parser() -> usize {
    std::env::var("FUZZ_INPUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
}

/// No parser may take longer than this on one input (debug build, loaded 2-core machine; the
/// slowest measured is under 20 ms).
const PARSE_BOUND_MS: f64 = 1000.0;
/// Building and running what an input describes (an engine with a width-256 network and its
/// first frames, a sampler run) in the debug build: seconds, not a hang.
const BUILD_BOUND_MS: f64 = 20_000.0;

/// What one campaign saw.
struct Tally {
    parser: &'static str,
    inputs: usize,
    accepted: usize,
    slowest_ms: f64,
}

impl Tally {
    fn new(parser: &'static str) -> Self {
        Tally { parser, inputs: 0, accepted: 0, slowest_ms: 0.0 }
    }

    /// Times one input and holds it to the bound.
    fn time<T>(&mut self, case: &str, f: impl FnOnce() -> T) -> T {
        self.time_within(PARSE_BOUND_MS, case, f)
    }

    /// Times building or running what an input describes.
    fn build<T>(&mut self, case: &str, f: impl FnOnce() -> T) -> T {
        self.time_within(BUILD_BOUND_MS, case, f)
    }

    fn time_within<T>(&mut self, bound_ms: f64, case: &str, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        let ms = start.elapsed().as_secs_f64() * 1e3;
        if bound_ms == PARSE_BOUND_MS {
            self.slowest_ms = self.slowest_ms.max(ms);
        }
        assert!(ms < bound_ms, "{}: input took {ms:.0} ms (bound {bound_ms} ms): {case}", self.parser);
        out
    }

    fn report(&self) {
        println!(
            "fuzz: {}: {} inputs, {} accepted, {} refused, slowest parse {:.1} ms",
            self.parser,
            self.inputs,
            self.accepted,
            self.inputs - self.accepted,
            self.slowest_ms
        );
        assert!(self.accepted > 0 && self.accepted < self.inputs, "{}: a campaign must see both outcomes", self.parser);
    }
}

/// A generator of edge cases on the project's RNG.
struct Gen(RngStream);

impl Gen {
    fn new(stream: u64) -> Self {
        Gen(RngStream::new(0x00f0_22ed, stream))
    }
    fn below(&mut self, n: usize) -> usize {
        ((self.0.uniform() * n as f64) as usize).min(n.saturating_sub(1))
    }
    fn chance(&mut self, p: f64) -> bool {
        self.0.uniform() < p
    }
    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }
    /// A number as text: ordinary, at a bound, huge, tiny, negative, not a number, or junk.
    fn number(&mut self) -> String {
        match self.below(14) {
            0 => self.below(10).to_string(),
            1 => self.below(5000).to_string(),
            2 => format!("{}", self.0.normal()),
            3 => format!("{:e}", 10f64.powf(self.0.uniform() * 640.0 - 320.0)),
            4 => format!("-{}", self.below(100)),
            5 => "18446744073709551615".into(),
            6 => "340282366920938463463374607431768211457".into(),
            7 => self.pick(&["NaN", "inf", "-inf", "nan", "infinity", "1e309", "-0"]).into(),
            8 => self.pick(&["", " ", "0x10", "1_000", "1,5", "+3", "٣", "1e", ".", "--1"]).into(),
            9 => self.pick(&["15", "16", "256", "257", "4", "3", "6", "7", "0", "1", "2"]).into(),
            10 => self.pick(&["499", "500", "501", "4096", "4097", "10000", "10001", "1000000", "1000001"]).into(),
            11 => format!("{}", self.0.uniform()),
            12 => format!("{}", 1e-6 * self.0.uniform()),
            _ => self.junk(8),
        }
    }
    fn junk(&mut self, max_len: usize) -> String {
        let len = self.below(max_len + 1);
        (0..len)
            .map(|_| match self.below(6) {
                0 => char::from_u32(0x20 + self.below(0x5f) as u32).unwrap(),
                1 => *self.pick(&[&'&', &'=', &'%', &'~', &'_', &':', &',', &'\n', &'"', &'\\']),
                2 => char::from_u32(0x80 + self.below(0x2000) as u32).unwrap_or('?'),
                _ => char::from_u32(u32::from(b'0') + self.below(10) as u32).unwrap(),
            })
            .collect()
    }
    /// `text` with a few characters deleted, duplicated or replaced.
    fn mutate(&mut self, text: &str) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for _ in 0..1 + self.below(4) {
            if chars.is_empty() {
                break;
            }
            let at = self.below(chars.len());
            match self.below(4) {
                0 => {
                    chars.remove(at);
                }
                1 => chars.insert(at, chars[at]),
                2 => chars[at] = self.junk(1).chars().next().unwrap_or('x'),
                _ => {
                    let end = (at + self.below(12)).min(chars.len());
                    chars.drain(at..end);
                }
            }
        }
        chars.into_iter().collect()
    }
}

// ----- the share link -----

const LINK_KEYS: [&str; 24] = [
    "lab",
    "changes",
    "overlay",
    "data",
    "n",
    "noise",
    "dseed",
    "process",
    "param",
    "width",
    "depth",
    "act",
    "lr",
    "batch",
    "tseed",
    "start",
    "steps",
    "samplers",
    "particles",
    "sseed",
    "t",
    "field",
    "scrub",
    "pts",
];

fn link_value(g: &mut Gen, key: &str) -> String {
    if g.chance(0.5) {
        return g.number();
    }
    match key {
        "data" => g.pick(&["gmm8", "gmm25", "moons", "custom", "swissroll", "nosuch", ""]).into(),
        "process" => g.pick(&["vp", "ve", "subvp", "cosine", "rf", "mr", "x"]).into(),
        "param" => g.pick(&["eps", "x0", "score", "v", "flow", "y"]).into(),
        "act" => g.pick(&["silu", "tanh", "relu", "softplus", "gelu"]).into(),
        "start" => g.pick(&["default", "fresh", "other"]).into(),
        "field" => g.pick(&["off", "arrows", "error", "density", "x"]).into(),
        "lab" => g.pick(&["diffusion", "ode", ""]).into(),
        "overlay" => g.pick(&["samples", "none", "x"]).into(),
        "changes" => {
            let count = g.below(5);
            let mut step = 0u64;
            let changes: Vec<String> = (0..count)
                .map(|i| {
                    step += if i == 0 && g.chance(0.8) { 0 } else { 1 + g.below(50) as u64 };
                    let batch = if g.chance(0.8) { (1 + g.below(300)).to_string() } else { g.number() };
                    format!("{step}:{}:{batch}", if g.chance(0.8) { "0.001".to_string() } else { g.number() })
                })
                .collect();
            changes.join(",")
        }
        "samplers" => {
            let count = g.below(6);
            let panels: Vec<String> = (0..count)
                .map(|_| {
                    let sampler = if g.chance(0.9) { SAMPLERS[g.below(SAMPLERS.len())] } else { "nosuch" };
                    format!("{sampler}:{}", g.number())
                })
                .collect();
            panels.join(",")
        }
        "pts" => {
            let count = if g.chance(0.02) { 20_001 } else { g.below(60) };
            let points: Vec<String> = (0..count)
                .map(|_| {
                    if g.chance(0.05) {
                        g.junk(6)
                    } else if g.chance(0.1) {
                        format!("{}_{}", g.number(), g.number())
                    } else {
                        format!("{}_{}", 3.0 * g.0.normal(), 3.0 * g.0.normal())
                    }
                })
                .collect();
            points.join("~")
        }
        _ => g.number(),
    }
}

fn random_link(g: &mut Gen) -> String {
    let valid = Settings::default().to_query();
    if g.chance(0.2) {
        return g.mutate(&valid);
    }
    let mut pairs: Vec<String> = Vec::new();
    for _ in 0..g.below(8) {
        let key = if g.chance(0.95) { LINK_KEYS[g.below(LINK_KEYS.len())] } else { "bogus" };
        let value = link_value(g, key);
        pairs.push(format!("{key}={value}"));
    }
    pairs.join("&")
}

#[test]
fn share_links() {
    let mut g = Gen::new(1);
    let mut tally = Tally::new("share link");
    let mut engines = 0;
    for case in 0..inputs_per_parser() {
        let link = random_link(&mut g);
        let label = format!("case {case}: ?{}", link.chars().take(300).collect::<String>());
        tally.inputs += 1;
        // As the page reads it: the shell takes `lab=`, the lab the rest.
        let (settings, problems) = tally.time(&label, || {
            let location = Location::parse(&link);
            let (settings, mut problems) = Settings::from_query(&location.lab_query);
            problems.extend(location.problem);
            (settings, problems)
        });
        // Every refusal names its field: "link: <key>..." for one of the keys, or the whole.
        for p in &problems {
            let named = LINK_KEYS.iter().chain(["bogus", "unknown setting", "sampler", "data=custom", "param"].iter());
            assert!(p.starts_with("link: ") && named.clone().any(|k| p.contains(k)), "{label}: {p}");
        }
        if problems.is_empty() {
            tally.accepted += 1;
        }
        // What the reader returns is always within the bounds the engine needs.
        assert!(settings.check_model().is_ok(), "{label}: {settings:?}");
        assert!(settings.check_step_cost().is_ok(), "{label}: {settings:?}");
        for panel in &settings.panels {
            assert!(samplers_for(&settings.process, settings.param).contains(&panel.sampler), "{label}");
            let options = SamplerOptions { nfe: panel.nfe, ..SamplerOptions::default() };
            panel.sampler.build(settings.process, settings.param, &options).unwrap_or_else(|e| panic!("{label}: {e}"));
        }
        // The page itself from every 200th link: it opens, ticks and never panics.
        if case % 200 == 0 {
            engines += 1;
            let mut engine = tally.build(&label, || Engine::new(settings.clone(), problems.clone()));
            let clock = counting_clock();
            tally.build(&label, || {
                for _ in 0..3 {
                    engine.tick(8.0, &clock);
                }
            });
            // A NaN in a message can only be the visitor's own text, echoed.
            let typed_nan = link.to_lowercase().contains("nan");
            assert!(
                typed_nan || engine.status.errors.iter().all(|e| !e.contains("NaN")),
                "{label}: {:?}",
                engine.status.errors
            );
            for run in engine.panels.iter().filter_map(|p| p.run.as_ref()) {
                if let Some(q) = &run.quality {
                    assert!(q.swd.is_finite() && q.mmd.is_finite(), "{label}");
                }
            }
        }
    }
    println!("fuzz: share link: {engines} engines built and ticked");
    tally.report();
}

// ----- CSV uploads -----

fn random_csv(g: &mut Gen) -> String {
    let rows = g.below(40);
    let mut text = if g.chance(0.5) { "x,y\n".to_string() } else { String::new() };
    for _ in 0..rows {
        let line = match g.below(10) {
            0 => format!("{},{}", g.number(), g.number()),
            1 => g.junk(12),
            2 => format!("{},{},{}", g.0.normal(), g.0.normal(), g.0.normal()),
            _ => format!("{},{}", 2.0 * g.0.normal(), 2.0 * g.0.normal()),
        };
        text.push_str(&line);
        text.push_str(if g.chance(0.1) { "\r\n" } else { "\n" });
    }
    if g.chance(0.2) {
        text = g.mutate(&text);
    }
    text
}

#[test]
fn csv_uploads() {
    let mut g = Gen::new(2);
    let mut tally = Tally::new("CSV upload");
    let mut engine = Engine::new(Settings::default(), Vec::new());
    for case in 0..inputs_per_parser() {
        let text = random_csv(&mut g);
        let label = format!("case {case}: {text:?}");
        tally.inputs += 1;
        match tally.time(&label, || parse_points(&text)) {
            Ok(points) => {
                assert!(points.iter().all(|p| p[0].is_finite() && p[1].is_finite()), "{label}");
                // The page takes it or says why (too few, too far out), never panics.
                if case % 50 == 0 {
                    let before = engine.data.clone();
                    match tally.build(&label, || engine.load_csv("upload.csv", &text)) {
                        Ok(()) => {
                            tally.accepted += 1;
                            let reference = engine.data.clone();
                            let swd = sliced_wasserstein(&reference, &points, &projections(16, 1));
                            assert!(swd.is_finite(), "{label}: SWD {swd}");
                        }
                        Err(e) => {
                            assert!(e.starts_with("upload.csv: "), "{label}: {e}");
                            assert_eq!(engine.data, before, "{label}: a refused upload changed the data");
                        }
                    }
                } else {
                    tally.accepted += 1;
                }
            }
            Err(e) => {
                let message = e.to_string();
                assert!(message.starts_with("line ") || message.contains("no data rows"), "{label}: {message}");
            }
        }
    }
    tally.report();
}

// ----- mixture files -----

fn random_mixture_json(g: &mut Gen) -> String {
    let k = if g.chance(0.01) { 300 } else { 1 + g.below(4) };
    let scale = |g: &mut Gen| if g.chance(0.15) { g.number() } else { format!("{}", 0.05 + g.0.uniform()) };
    let weights: Vec<String> = (0..k).map(|_| scale(g)).collect();
    let means: Vec<String> = (0..k)
        .map(|_| {
            if g.chance(0.15) {
                format!("[{},{}]", g.number(), g.number())
            } else {
                format!("[{},{}]", 2.0 * g.0.normal(), 2.0 * g.0.normal())
            }
        })
        .collect();
    let covs: Vec<String> = (0..k)
        .map(|_| {
            if g.chance(0.2) {
                let (a, b, c) = (g.number(), g.number(), g.number());
                format!("[[{a},{b}],[{b},{c}]]")
            } else {
                let (a, c) = (0.01 + g.0.uniform(), 0.01 + g.0.uniform());
                let b = 0.9 * (a * c as f64).sqrt() * (2.0 * g.0.uniform() - 1.0);
                format!("[[{a},{b}],[{b},{c}]]")
            }
        })
        .collect();
    let mut json = format!(
        "{{\"weights\":[{}],\"means\":[{}],\"covs\":[{}]}}",
        weights.join(","),
        means.join(","),
        covs.join(",")
    );
    if g.chance(0.1) {
        json = g.mutate(&json);
    }
    json
}

/// Every accepted mixture is sampled with its exact score and its likelihood evaluated: all finite.
fn exercise_mixture(mixture: &GaussianMixture, g: &mut Gen, label: &str) {
    let process = [Process::vp(), Process::ve(), Process::sub_vp(), Process::cosine()][g.below(4)];
    let sampler = ["ddim", "em", "dpmpp-2m", "pf-dopri5", "unipc", "edm-heun", "dlg"][g.below(7)];
    let options = SamplerOptions { nfe: 6, sweeps: 2, ..SamplerOptions::default() };
    let plan = match build(sampler, process, Parameterisation::Score, &options) {
        Ok(plan) => plan,
        Err(e) => {
            assert!(e.contains(sampler) || e.contains("process"), "{label}: {e}");
            return;
        }
    };
    let mut model = ExactMixtureModel::new(mixture.clone(), process);
    let run = run_plan(&plan, &mut model, &RunOptions { particles: 8, seed: 3, traced: vec![], inputs: vec![] });
    match run {
        Ok(run) => {
            for p in &run.positions {
                assert!(p[0].is_finite() && p[1].is_finite(), "{label}: {sampler} on {}: {p:?}", process.name());
            }
        }
        Err(e) => assert!(!e.to_string().is_empty(), "{label}"),
    }
    let samples = mixture.sample(8, 1);
    for x in &samples {
        let log_p = mixture.log_density(*x);
        let score = mixture.score(*x);
        assert!(log_p.is_finite() && score.iter().all(|s| s.is_finite()), "{label}: at {x:?}");
    }
}

#[test]
fn mixture_files() {
    let mut g = Gen::new(3);
    let mut tally = Tally::new("mixture JSON");
    for case in 0..inputs_per_parser() {
        let json = random_mixture_json(&mut g);
        let label = format!("case {case}: {}", json.chars().take(400).collect::<String>());
        tally.inputs += 1;
        match tally.time(&label, || GaussianMixture::from_json(&json)) {
            Ok(mixture) => {
                tally.accepted += 1;
                // Every 20th accepted file is run; parsing and checks are what most cases test.
                if tally.accepted % 20 == 1 {
                    tally.build(&label, || exercise_mixture(&mixture, &mut g, &label));
                }
            }
            Err(e) => {
                let named = ["weight", "mean", "covariance", "components", "mixture file", "the weights"];
                assert!(named.iter().any(|n| e.contains(n)), "{label}: {e}");
            }
        }
    }
    tally.report();
}

// ----- weights files -----

fn random_weights_json(g: &mut Gen, good: &serde_json::Value) -> String {
    let mut v = good.clone();
    for _ in 0..1 + g.below(3) {
        match g.below(9) {
            0 => v["config"]["width"] = serde_json::Value::from(g.number().parse::<i64>().unwrap_or(-1)),
            1 => v["config"]["depth"] = serde_json::Value::from(g.below(9)),
            2 => v["config"]["activation"] = g.pick(&["silu", "tanh", "relu", "softplus", "gelu"]).into(),
            3 => {
                let n = v["params"].as_array().unwrap().len();
                let at = g.below(n);
                let value: serde_json::Value = match g.number().parse::<f64>() {
                    Ok(x) if x.is_finite() => x.into(),
                    _ => serde_json::Value::Null,
                };
                v["params"][at] = value;
            }
            4 => {
                let scale = 10f64.powf(g.0.uniform() * 8.0);
                for p in v["params"].as_array_mut().unwrap() {
                    *p = (p.as_f64().unwrap_or(0.0) * scale).into();
                }
            }
            5 => {
                v["params"].as_array_mut().unwrap().pop();
            }
            6 => v["version"] = g.below(3).into(),
            7 => v["meta"]["process"] = g.pick(&["vp", "ve", "rf", "mr"]).into(),
            _ => v["config"]["outputs"] = g.below(70).into(),
        }
    }
    let text = v.to_string();
    if g.chance(0.1) {
        g.mutate(&text)
    } else {
        text
    }
}

#[test]
fn weights_files() {
    let mut g = Gen::new(4);
    let mut tally = Tally::new("weights JSON");
    let mlp = Mlp::new(MlpConfig { width: 16, depth: 1, ..MlpConfig::default() }, 7).unwrap();
    let meta = [("process".to_string(), "vp".to_string()), ("param".to_string(), "eps".to_string())].into();
    let good: serde_json::Value = serde_json::from_str(&weights::save(&mlp, &meta)).unwrap();
    let mut refused_at_run = 0;
    for case in 0..inputs_per_parser() {
        let text = random_weights_json(&mut g, &good);
        let label = format!("case {case}: {}", text.chars().take(300).collect::<String>());
        tally.inputs += 1;
        match tally.time(&label, || weights::load(&text)) {
            Ok((mlp, _)) => {
                tally.accepted += 1;
                if tally.accepted % 10 != 1 || mlp.config.outputs != 2 {
                    continue;
                }
                // A network whose weights the file scaled up may overflow f32: the run says so
                // (`nde` and the page check every particle), it never hands out a NaN.
                let mut model = MlpModel::new(mlp, Parameterisation::Eps);
                let plan = build(
                    "ddim",
                    Process::vp(),
                    Parameterisation::Eps,
                    &SamplerOptions { nfe: 3, ..SamplerOptions::default() },
                )
                .unwrap();
                let run = tally.build(&label, || {
                    run_plan(&plan, &mut model, &RunOptions { particles: 4, seed: 1, traced: vec![], inputs: vec![] })
                });
                let finite =
                    run.as_ref().is_ok_and(|r| r.positions.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
                if !finite {
                    refused_at_run += 1;
                    let out = model.eval([0.5, 0.5], 0.5);
                    assert!(!(out[0].is_finite() && out[1].is_finite()) || run.is_err(), "{label}");
                }
            }
            Err(e) => {
                let named = ["format", "version", "config", "params", "parameters", "JSON", "weights"];
                assert!(named.iter().any(|n| e.contains(n)), "{label}: {e}");
            }
        }
    }
    println!("fuzz: weights JSON: {refused_at_run} accepted files overflowed f32 when run (the run's finite check reports them)");
    tally.report();
}

/// A hostile lab link: a mutation of a good one, or up to five keys (now and then an unknown
/// one) with values from `value`.
fn lab_link(g: &mut Gen, good: &str, keys: &[&str], value: fn(&mut Gen, &str) -> String) -> String {
    if g.chance(0.2) {
        return g.mutate(good);
    }
    (0..g.below(6))
        .map(|_| {
            let key = if g.chance(0.95) { keys[g.below(keys.len())] } else { "bogus" };
            format!("{key}={}", value(g, key))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A clock that advances 1 ms each time it is read, so a lab's tick does a few pieces.
fn counting_clock() -> impl Fn() -> f64 {
    let now = std::cell::Cell::new(0.0);
    move || {
        now.set(now.get() + 1.0);
        now.get()
    }
}

// ----- The neural CDE lab: links -----

const NCDE_KEYS: [&str; 11] =
    ["data", "interp", "drop", "drop_by", "time", "masks", "solver", "epochs", "lr", "seed", "show"];

fn ncde_value(g: &mut Gen, key: &str) -> String {
    if g.chance(0.3) {
        return g.number();
    }
    match key {
        "data" => g.pick(&["spirals", "spirals-expm", "speed", "lorenz"]).into(),
        "interp" => g.pick(&["linear", "hermite", "rectilinear", "spline"]).into(),
        "drop_by" => g.pick(&["row", "value", "x"]).into(),
        "steps_by" => g.pick(&["fixed", "pid", "x"]).into(),
        "time" | "masks" => g.pick(&["on", "off", "x"]).into(),
        "solver" => g.pick(&["euler", "heun", "rk4", "tsit5", "dopri5", "rk45"]).into(),
        _ => g.junk(6),
    }
}

#[test]
fn ncde_lab_links() {
    use nde_playground::playground::ncde::{NcdeLab, NcdeSettings};
    let mut g = Gen::new(13);
    let mut tally = Tally::new("ncde lab link");
    let mut labs = 0;
    for case in 0..inputs_per_parser() {
        let link = lab_link(&mut g, "data=speed&interp=linear&time=off&drop=0.3", &NCDE_KEYS, ncde_value);
        let label = format!("case {case}: ?lab=ncde&{}", link.chars().take(300).collect::<String>());
        tally.inputs += 1;
        let (settings, problems) = tally.time(&label, || NcdeSettings::from_query(&link));
        for p in &problems {
            assert!(
                // It names the key: a known one, or the unknown one as given.
                p.starts_with("link: ") && (NCDE_KEYS.iter().any(|k| p.contains(k)) || p.contains("unknown setting")),
                "{label}: {p}"
            );
            assert!(link.to_lowercase().contains("nan") || !p.contains("NaN"), "{label}: {p}");
        }
        if problems.is_empty() {
            tally.accepted += 1;
        }
        assert!(settings.check().is_ok(), "{label}: {settings:?}");
        // The lab itself from some links: it opens, ticks and never panics.
        if case % 5000 == 0 {
            labs += 1;
            let mut lab = tally.build(&label, || NcdeLab::new(settings.clone(), problems.clone()));
            let clock = counting_clock();
            lab.toggle_play();
            tally.build(&label, || {
                for _ in 0..3 {
                    lab.tick(8.0, &clock);
                }
            });
        }
    }
    println!("fuzz: ncde lab link: {labs} labs built and ticked");
    tally.report();
}

// ----- The neural SDE lab: links -----

const NSDE_KEYS: [&str; 11] = ["model", "data", "drop", "solver", "dt", "batch", "steps", "anneal", "kl", "lr", "seed"];

fn nsde_value(g: &mut Gen, key: &str) -> String {
    if g.chance(0.3) {
        return g.number();
    }
    match key {
        "model" => g.pick(&["latent", "gan", "vae"]).into(),
        "data" => g.pick(&["ou", "ou-tdep", "gbm", "lorenz"]).into(),
        "solver" => g.pick(&["reversible-heun", "em", "milstein"]).into(),
        "dt" => g.pick(&["0.02", "0.5", "0.001", "1e-9", "-1", "inf"]).into(),
        "batch" => g.pick(&["1", "16", "512", "513", "0"]).into(),
        _ => g.junk(6),
    }
}

// ----- The controllable-generation lab: links -----

const INVERSE_KEYS: [&str; 19] = [
    "task",
    "data",
    "rho",
    "observe",
    "angle",
    "sampler",
    "nfe",
    "particles",
    "zeta",
    "prior",
    "class",
    "scale",
    "classifier",
    "degradation",
    "model",
    "rnfe",
    "cx",
    "cy",
    "seed",
];

fn inverse_value(g: &mut Gen, key: &str) -> String {
    if g.chance(0.3) {
        return g.number();
    }
    match key {
        "task" => g.pick(&["inpaint", "colour", "class", "restore", "paint"]).into(),
        "data" => g.pick(&["gmm8", "gauss", "moons"]).into(),
        "sampler" => g.pick(&["em", "ddim", "pc", "dopri5", "mala", "dpmpp-2m"]).into(),
        "prior" | "model" => g.pick(&["exact", "network", "gan"]).into(),
        "classifier" => g.pick(&["exact", "trained", "svm"]).into(),
        "degradation" => g.pick(&["shrink", "drop-y", "blur"]).into(),
        "particles" => g.pick(&["100", "99", "1000", "100000000"]).into(),
        "nfe" | "rnfe" => g.pick(&["2", "5", "200", "201", "0"]).into(),
        _ => g.junk(6),
    }
}

/// Hostile `?lab=inverse` links: every problem is a link message, no NaN is invented, the
/// settings kept are valid and their own link reopens them exactly; some labs are built and
/// ticked (with few particles), and none panics.
#[test]
fn inverse_lab_links() {
    use nde_playground::playground::inverse::{InverseLab, InverseSettings};
    let mut g = Gen::new(29);
    let mut tally = Tally::new("inverse lab link");
    let mut labs = 0;
    for case in 0..inputs_per_parser() {
        let link = lab_link(
            &mut g,
            "task=restore&degradation=drop-y&model=network&rnfe=20&cx=1.42&cy=-1.42",
            &INVERSE_KEYS,
            inverse_value,
        );
        let label = format!("case {case}: ?lab=inverse&{}", link.chars().take(300).collect::<String>());
        tally.inputs += 1;
        let (settings, problems) = tally.time(&label, || InverseSettings::from_query(&link));
        for p in &problems {
            assert!(p.starts_with("link: ") && p.contains("kept"), "{label}: {p}");
            assert!(link.to_lowercase().contains("nan") || !p.contains("NaN"), "{label}: {p}");
        }
        if problems.is_empty() {
            tally.accepted += 1;
        }
        assert!(settings.check().is_ok(), "{label}: {settings:?}");
        let (again, more) = InverseSettings::from_query(&settings.to_query());
        assert!(more.is_empty() && again == settings, "{label}: its own link reopens it: {more:?}");
        if case % 5000 == 0 {
            labs += 1;
            let mut small = settings.clone();
            small.particles = 100;
            let mut lab = tally.build(&label, || InverseLab::new(small.clone(), problems.clone()));
            let clock = counting_clock();
            tally.build(&label, || {
                for _ in 0..3 {
                    lab.tick(8.0, &clock);
                }
            });
        }
    }
    println!("fuzz: inverse lab link: {labs} labs built and ticked");
    tally.report();
}

#[test]
fn nsde_lab_links() {
    use nde_playground::playground::nsde::{NsdeLab, NsdeSettings};
    let mut g = Gen::new(17);
    let mut tally = Tally::new("nsde lab link");
    let mut labs = 0;
    for case in 0..inputs_per_parser() {
        let link = lab_link(&mut g, "model=gan&data=ou-tdep&batch=16&kl=3&dt=0.05", &NSDE_KEYS, nsde_value);
        let label = format!("case {case}: ?lab=nsde&{}", link.chars().take(300).collect::<String>());
        tally.inputs += 1;
        let (settings, problems) = tally.time(&label, || NsdeSettings::from_query(&link));
        for p in &problems {
            assert!(
                p.starts_with("link: ") && (NSDE_KEYS.iter().any(|k| p.contains(k)) || p.contains("unknown setting")),
                "{label}: {p}"
            );
            assert!(link.to_lowercase().contains("nan") || !p.contains("NaN"), "{label}: {p}");
        }
        if problems.is_empty() {
            tally.accepted += 1;
        }
        assert!(settings.check().is_ok(), "{label}: {settings:?}");
        // The lab itself from some links (small batches, so a tick is short): it opens, ticks
        // and never panics.
        if case % 5000 == 0 {
            labs += 1;
            let mut small = settings.clone();
            small.batch = small.batch.min(4);
            let mut lab = tally.build(&label, || NsdeLab::new(small.clone(), problems.clone()));
            let clock = counting_clock();
            lab.toggle_play();
            tally.build(&label, || {
                for _ in 0..3 {
                    lab.tick(8.0, &clock);
                }
            });
        }
    }
    println!("fuzz: nsde lab link: {labs} labs built and ticked");
    tally.report();
}

// ----- command-line arguments -----

const COMMANDS: [&str; 25] = [
    "lab odice run",
    "lab deq solvers",
    "lab deq train",
    "lab symreg run",
    "lab nsde train",
    "lab nsde paths",
    "lab nsde check",
    "lab nsde ito",
    "lab nsde brownian",
    "lab ncde train",
    "lab ncde sweep",
    "lab node train",
    "lab node flow",
    "lab node gradients",
    "lab node data",
    "sample",
    "compare",
    "train",
    "train-levels",
    "likelihood",
    "bench",
    "bench train",
    "bench divergence",
    "order",
    "info",
];
const FLAGS: [&str; 90] = [
    "--steps-per-readback",
    "--env",
    "--update",
    "--eta",
    "--kappa",
    "--fourier",
    "--forward",
    "--backward",
    "--k",
    "--dim",
    "--affine",
    "--norm",
    "--tol",
    "--max-iterations",
    "--memory",
    "--lambda",
    "--source",
    "--node-model",
    "--populations",
    "--population-size",
    "--iterations",
    "--cycles",
    "--maxsize",
    "--unary",
    "--tune-steps",
    "--kl-weight",
    "--kl-anneal",
    "--paths",
    "--eval-paths",
    "--dt",
    "--stepping",
    "--data",
    "--interp",
    "--drop",
    "--time-channel",
    "--masks",
    "--per-channel",
    "--epochs",
    "--side",
    "--frames",
    "--weights",
    "--check",
    "--precision",
    "--system",
    "--adjoint",
    "--damping",
    "--horizon",
    "--steps-per-interval",
    "--series",
    "--train-until",
    "--out",
    "--threads",
    "--target",
    "--process",
    "--model",
    "--sampler",
    "--samplers",
    "--nfe",
    "--particles",
    "--seed",
    "--schedule",
    "--snr",
    "--corrector-steps",
    "--eta",
    "--rtol",
    "--atol",
    "--order",
    "--churn",
    "--step-size",
    "--lambda-min",
    "--sweeps",
    "--dlg-step",
    "--integrator",
    "--level-argmax",
    "--mu",
    "--exact-prior",
    "--steps",
    "--batch",
    "--width",
    "--depth",
    "--lr",
    "--points",
    "--repeats",
    "--trace",
    "--backend",
    "--json",
    "--param",
    "--solver",
    "--problem",
    "--activation",
];

fn flag_value(g: &mut Gen, flag: &str) -> Option<String> {
    if matches!(flag, "--level-argmax" | "--exact-prior" | "--json" | "--check" | "--per-channel" | "--affine") {
        return None;
    }
    if g.chance(0.5) {
        return Some(g.number());
    }
    Some(match flag {
        "--target" => g.pick(&["gmm8", "gmm25", "moons", "nosuch", "gmm:/dev/null"]).into(),
        "--process" => g.pick(&["vp", "ve", "subvp", "cosine", "rf", "mr", "x"]).into(),
        "--model" => g.pick(&["exact", "/no/such.json", "neural", "hybrid", "latent", "gan"]).into(),
        "--sampler" => {
            let all: Vec<&str> = SAMPLERS.iter().chain(MR_SAMPLERS.iter()).copied().chain(["exact", "x"]).collect();
            all[g.below(all.len())].into()
        }
        "--samplers" => format!("{},{}", SAMPLERS[g.below(SAMPLERS.len())], SAMPLERS[g.below(SAMPLERS.len())]),
        "--nfe" => format!("{},{}", g.number(), g.below(30)),
        "--mu" => format!("{},{}", g.number(), g.number()),
        "--schedule" => g.pick(&["time", "logsnr", "karras", "x"]).into(),
        "--integrator" => g.pick(&["edm-heun", "ddim", "x"]).into(),
        "--backend" => g.pick(&["cpu", "tpu"]).into(),
        "--param" => g.pick(&["eps", "x0", "flow", "v"]).into(),
        "--system" => {
            g.pick(&["oscillator", "damped-linear", "pendulum", "lotka-volterra", "cubic-spiral", "lorenz"]).into()
        }
        "--adjoint" => g.pick(&["backprop", "backsolve", "reversible-heun", "x"]).into(),
        "--solver" => g.pick(&["rk4", "tsit5", "em", "reversible-heun", "x"]).into(),
        "--precision" => g.pick(&["f64", "f32", "f16"]).into(),
        "--out" => "/dev/null".into(),
        "--weights" => g.pick(&["/dev/null", "/no/such.json", "www/node-oscillator.json"]).into(),
        "--data" => {
            g.pick(&["spirals", "speed", "spirals-expm", "ou", "ou-tdep", "gbm", "moons", "two-spirals", "x"]).into()
        }
        "--interp" => g.pick(&["linear", "hermite", "rectilinear", "linear,hermite", "x"]).into(),
        "--drop" => g.pick(&["0", "0.5", "0,0.3", "1", "x"]).into(),
        "--time-channel" | "--masks" => g.pick(&["on", "off", "x"]).into(),
        "--stepping" => g.pick(&["fixed", "pid", "x"]).into(),
        "--source" => g.pick(&["exact", "neural", "differences", "x"]).into(),
        "--node-model" => {
            g.pick(&["/dev/null", "/no/such.json", "www/node-oscillator.json", "www/nsde-ou.json"]).into()
        }
        "--unary" => g.pick(&["neg", "neg,square", "sin,cos,exp", "", "tan"]).into(),
        "--fourier" => g.pick(&["on", "off", "x"]).into(),
        "--env" => g.pick(&["grid", "nav", "x"]).into(),
        "--update" => g.pick(&["semi", "semi,true,orthogonal", "orthogonal", "", "x"]).into(),
        "--forward" => g.pick(&["fixed-point", "anderson", "broyden", "ode-steady", "x"]).into(),
        "--backward" => g.pick(&["ift", "unrolled", "jfb", "neumann", "x"]).into(),
        _ => g.number(),
    })
}

/// What `nde` checks before it computes (`cli::check`).
fn plan_of(cli: &Cli) -> Result<(), String> {
    nde_playground::cli::check(cli)
}

#[test]
fn command_line_arguments() {
    let mut g = Gen::new(5);
    let mut tally = Tally::new("CLI arguments");
    let mut planned = 0;
    for case in 0..inputs_per_parser() {
        let mut args = vec!["nde".to_string()];
        args.extend(COMMANDS[g.below(COMMANDS.len())].split_whitespace().map(String::from));
        // Start from a valid command most of the time, so that the deep checks are reached.
        if g.chance(0.7) {
            let spec = ["--target", "gmm8", "--process", "vp", "--model", "exact"];
            let prefix: Vec<&str> = match args[1].as_str() {
                "sample" => [&spec[..], &["--sampler", SAMPLERS[g.below(SAMPLERS.len())]]].concat(),
                "compare" => [&spec[..], &["--samplers", SAMPLERS[g.below(SAMPLERS.len())]]].concat(),
                "likelihood" => spec.to_vec(),
                "train" | "train-levels" => vec!["--target", "moons", "--process", "vp", "--steps", "10", "--out", "x"],
                "order" => vec!["--solver", "rk4", "--problem", "linear"],
                "lab" if args[2] == "deq" && args[3] == "solvers" => vec!["--affine"],
                _ => vec![],
            };
            args.extend(prefix.into_iter().map(String::from));
        }
        for _ in 0..g.below(5) {
            let flag = FLAGS[g.below(FLAGS.len())];
            args.push(flag.into());
            if let Some(value) = flag_value(&mut g, flag) {
                args.push(value);
            }
        }
        let label = format!("case {case}: {}", args.join(" "));
        tally.inputs += 1;
        match tally.time(&label, || Cli::try_parse_from(&args)) {
            Ok(cli) => {
                tally.accepted += 1;
                if let Err(e) = tally.build(&label, || plan_of(&cli)) {
                    planned += 1;
                    // It names what it refuses, and a NaN in it is only the user's own text.
                    let named = ["--", "sampler", "process", "target", "backend", "dlg", "order"];
                    assert!(named.iter().any(|n| e.contains(n)), "{label}: {e}");
                    assert!(label.to_lowercase().contains("nan") || !e.contains("NaN"), "{label}: {e}");
                }
            }
            Err(e) => {
                // clap's message names the flag, the argument or the command it refuses.
                let message = e.to_string();
                assert!(
                    message.contains("--") || message.contains("unrecognized subcommand") || message.contains("<"),
                    "{label}: {message}"
                );
            }
        }
    }
    println!("fuzz: CLI arguments: {planned} accepted by clap were refused by the command's own checks");
    tally.report();
}

/// The hardening issue's reproducers, each a clear refusal or a correct result.
#[test]
fn reproducers_from_the_hardening_issue() {
    let big = "18446744073709551615";
    let refused = |args: &[&str], expect: &str| {
        let mut full = vec!["nde"];
        full.extend_from_slice(args);
        let outcome = Cli::try_parse_from(&full).map_err(|e| e.to_string()).and_then(|cli| plan_of(&cli));
        let e = outcome.expect_err(&format!("accepted: {args:?}"));
        assert!(e.contains(expect), "{args:?}: {e}");
    };
    let sample = ["sample", "--target", "gmm8", "--process", "vp", "--model", "exact"];
    let with = |extra: &[&'static str]| [&sample[..], extra].concat();
    refused(&with(&["--sampler", "em", "--nfe", big]), "between 1 and 10000");
    refused(
        &["compare", "--target", "gmm8", "--process", "vp", "--model", "exact", "--samplers", "em", "--nfe", big],
        "--nfe",
    );
    refused(&["bench", "--nfe", big], "--nfe");
    refused(&["train-levels", "--target", "gmm8", "--process", "vp", "--nfe", big, "--out", "x"], "--nfe");
    refused(
        &["train", "--target", "gmm8", "--process", "vp", "--steps", "1", "--points", big, "--out", "x"],
        "--points",
    );
    refused(&with(&["--sampler", "pc", "--corrector-steps", big]), "--corrector-steps");
    refused(&["likelihood", "--target", "gmm8", "--process", "vp", "--model", "exact", "--rtol", "1e300"], "--rtol");
    refused(&["likelihood", "--target", "gmm8", "--process", "vp", "--model", "exact", "--rtol", "1e-300"], "--rtol");
    refused(&with(&["--sampler", "em", "--particles", big]), "--particles");
    refused(&with(&["--sampler", "dlg", "--sweeps", big]), "--sweeps");
    refused(&["bench", "--repeats", big], "--repeats");
    refused(&with(&["--sampler", "unipc", "--order", "4"]), "between 1 and 3");
    refused(&with(&["--sampler", "em", "--mu", "1,2"]), "--mu is not read by em");
    refused(&with(&["--sampler", "em", "--eta", "0.5"]), "--eta is not read by em");
    let mr = ["sample", "--target", "gmm8", "--process", "mr", "--model", "exact", "--sampler", "mrs-ode"];
    refused(&[&mr[..], &["--lambda-min", "20"]].concat(), "--lambda-min 20");
    refused(
        &["train", "--target", "gmm8", "--process", "vp", "--steps", "1", "--param", "flow", "--out", "x"],
        "rf only",
    );
    // Mixtures the numerics cannot carry are refused by name.
    for (json, expect) in [
        (r#"{"weights":[1],"means":[[0,0]],"covs":[[[1e100,1e100],[1e100,1e100]]]}"#, "covariance 0"),
        (r#"{"weights":[1,1],"means":[[1e200,0],[0,0]],"covs":[[[1,0],[0,1]],[[1,0],[0,1]]]}"#, "mean 0"),
        (r#"{"weights":[1],"means":[[0,0]],"covs":[[[1e308,0],[0,1]]]}"#, "covariance 0"),
        (r#"{"weights":[1],"means":[[0,0]],"covs":[[[1,0],[0,1e-5]]]}"#, "condition number"),
    ] {
        let e = GaussianMixture::from_json(json).unwrap_err();
        assert!(e.contains(expect), "{json}: {e}");
    }
    // A link with a width below the network's minimum opens the default, with a message.
    let (settings, problems) = Settings::from_query("width=8");
    assert_eq!(settings.width, Settings::default().width);
    assert!(problems.iter().any(|p| p.contains("width")));
    Engine::new(settings, problems);
    // A huge CSV coordinate is refused by the page, not scored as infinity.
    let mut engine = Engine::new(Settings::default(), Vec::new());
    let e = engine.load_csv("far.csv", "x,y\n1e200,0\n1,1\n2,2\n").unwrap_err();
    assert!(e.contains("row 1") && e.contains("outside"), "{e}");
}

// ----- The neural ODE lab: links and weights files -----

const NODE_KEYS: [&str; 18] = [
    "steps_by",
    "rtol",
    "atol",
    "system",
    "model",
    "width",
    "solver",
    "per_interval",
    "adjoint",
    "lr",
    "steps",
    "seed",
    "damping",
    "horizon",
    "stress_steps",
    "precision",
    "t",
    "cloud",
];

fn node_value(g: &mut Gen, key: &str) -> String {
    if g.chance(0.3) {
        return g.number();
    }
    match key {
        "system" => {
            g.pick(&["oscillator", "damped-linear", "pendulum", "lotka-volterra", "cubic-spiral", "lorenz"]).into()
        }
        "model" => g.pick(&["neural", "hybrid", "x"]).into(),
        "solver" => g.pick(&["euler", "heun", "rk4", "tsit5", "dopri5", "rk45"]).into(),
        "adjoint" => g.pick(&["backprop", "backsolve", "reversible-heun", "x"]).into(),
        "precision" => g.pick(&["f64", "f32", "f16"]).into(),
        "steps_by" => g.pick(&["fixed", "pid", "x"]).into(),
        "cloud" => g.pick(&["on", "off", "x"]).into(),
        _ => g.junk(6),
    }
}

#[test]
fn node_lab_links_and_weights_files() {
    use nde_playground::core::dynamics::fit::NodeWeights;
    use nde_playground::playground::node::{NodeLab, NodeSettings};
    let mut g = Gen::new(11);
    let mut tally = Tally::new("node lab link");
    let mut labs = 0;
    let valid_weights = nde_playground::playground::node::lab::DEFAULT_WEIGHTS_JSON;
    for case in 0..inputs_per_parser() {
        let link = lab_link(&mut g, "system=pendulum&model=hybrid&width=16&damping=2", &NODE_KEYS, node_value);
        let label = format!("case {case}: ?lab=node&{}", link.chars().take(300).collect::<String>());
        tally.inputs += 1;
        let (settings, problems) = tally.time(&label, || NodeSettings::from_query(&link));
        for p in &problems {
            assert!(
                p.starts_with("link: ") && (NODE_KEYS.iter().any(|k| p.contains(k)) || p.contains("bogus")),
                "{label}: {p}"
            );
            assert!(link.to_lowercase().contains("nan") || !p.contains("NaN"), "{label}: {p}");
        }
        if problems.is_empty() {
            tally.accepted += 1;
        }
        assert!(settings.check().is_ok(), "{label}: {settings:?}");
        // The lab itself from some links: it opens, ticks and never panics.
        if case % 5000 == 0 {
            labs += 1;
            let mut lab = tally.build(&label, || NodeLab::new(settings.clone(), problems.clone()));
            let clock = counting_clock();
            lab.toggle_play();
            tally.build(&label, || {
                for _ in 0..3 {
                    lab.tick(8.0, &clock);
                }
            });
        }
        // A weights file: a mutated copy of the shipped one is read or refused, never a panic,
        // and what is read holds only finite numbers.
        if case % 500 == 0 {
            let text = g.mutate(valid_weights);
            if let Ok(w) = tally.time(&label, || NodeWeights::parse(&text)) {
                assert!(w.params.iter().all(|p| p.is_finite()), "{label}");
            }
        }
    }
    println!("fuzz: node lab link: {labs} labs built and ticked");
    tally.report();
}
