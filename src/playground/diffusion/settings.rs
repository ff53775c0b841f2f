//! Everything a visitor chooses on the page, as one plain value, and its URL form. The page
//! writes these into the address bar after every change; a copied link reads them back, so
//! a shared view is rebuilt from the same settings (and replays the same training steps).
//! A bad value in a link is reported and replaced by its default; the rest is kept.

use crate::core::data::ToyDataset;
use crate::core::nn::{Activation, MlpConfig};
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::sample::registry::{self, ModelCaps, Sampler};
use crate::core::train::RateChange;
use crate::exec::gpu::op_major::Precision;

/// At most this many sampler panels side by side.
pub const MAX_PANELS: usize = 4;
/// Data sets drawn or uploaded with at most this many points travel inside the link, at full
/// precision (about 40 characters a point, so 16 kB at most); a larger set is refused by the
/// link, which says so and points to the data export.
pub const MAX_LINK_POINTS: usize = 400;
/// The processes the page trains (the mean-reverting one needs paired data).
pub fn page_processes() -> [Process; 5] {
    [Process::vp(), Process::sub_vp(), Process::ve(), Process::cosine(), Process::RectifiedFlow]
}

/// A process the page trains, from its name (at the edges: a link, a menu, a weights file).
pub fn page_process(name: &str) -> Result<Process, String> {
    let process = Process::from_name(name)?;
    if !page_processes().contains(&process) {
        let names: Vec<&str> = page_processes().iter().map(|p| p.name()).collect();
        return Err(format!("process {name} is not available on the page: choose one of {}", names.join(", ")));
    }
    Ok(process)
}

/// The data the model trains on: a toy set, or points drawn or uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataChoice {
    Toy(ToyDataset),
    Custom,
}

impl DataChoice {
    pub fn name(&self) -> &'static str {
        match self {
            DataChoice::Toy(set) => set.name(),
            DataChoice::Custom => "custom",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        if name == "custom" {
            Ok(DataChoice::Custom)
        } else {
            ToyDataset::from_name(name).map(DataChoice::Toy)
        }
    }

    /// The jitter a toy set is drawn with by default (none for custom points).
    pub fn default_noise(&self) -> f64 {
        match self {
            DataChoice::Toy(set) => set.default_noise(),
            DataChoice::Custom => 0.0,
        }
    }
}

/// What the canvas shows under the particles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldView {
    Off,
    /// Arrows of the learned score (velocity for flows), with the exact ones where known.
    Arrows,
    /// |learned - exact| as a colour map (mixtures only).
    Error,
    /// The density of x_t as a heat map (exact for mixtures, else a histogram).
    Density,
}

impl FieldView {
    pub const ALL: [FieldView; 4] = [FieldView::Off, FieldView::Arrows, FieldView::Error, FieldView::Density];

    pub fn name(&self) -> &'static str {
        match self {
            FieldView::Off => "off",
            FieldView::Arrows => "arrows",
            FieldView::Error => "error",
            FieldView::Density => "density",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.name() == name)
            .ok_or_else(|| format!("unknown field view '{name}': choose off, arrows, error or density"))
    }
}

/// Where the model's weights start before the training steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The model shipped in www/ (only when the settings match what it was trained for).
    Default,
    /// Fresh weights from the training seed.
    Fresh,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PanelSettings {
    pub sampler: &'static Sampler,
    pub nfe: usize,
}

impl PanelSettings {
    /// A panel of the registry's sampler `name` (which must exist: for literals in code).
    pub fn named(name: &str, nfe: usize) -> Self {
        PanelSettings { sampler: registry::find(name).expect("a sampler of the registry"), nfe }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub dataset: DataChoice,
    pub points: usize,
    pub noise: f64,
    pub data_seed: u64,
    /// Drawn or uploaded points, when `dataset` is `Custom`.
    pub custom_points: Vec<[f64; 2]>,
    pub process: Process,
    pub param: Parameterisation,
    pub width: usize,
    pub depth: usize,
    pub activation: Activation,
    /// The learning rate and batch training runs at now.
    pub learning_rate: f64,
    pub batch: usize,
    /// The changes of rate and batch behind the weights (empty, or starting at step 0): a
    /// link replays them at their steps.
    pub rate_changes: Vec<RateChange>,
    pub train_seed: u64,
    pub start: Start,
    /// Training steps taken since `start` (a link replays them).
    pub train_steps: u64,
    pub panels: Vec<PanelSettings>,
    pub particles: usize,
    pub sample_seed: u64,
    pub field_t: f64,
    pub field_view: FieldView,
    /// The shared scrubber, as a fraction of every panel's steps (1 = the end).
    pub scrub: f64,
    /// Whether the main view draws every panel's samples over the data.
    pub show_samples: bool,
    /// The precision of the network's evaluations on the GPU's op-major path (f16 where the
    /// adapter offers it and the page's check passed; f32 elsewhere, whatever this says).
    pub gpu_precision: Precision,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dataset: DataChoice::Toy(ToyDataset::EightGaussians),
            points: 2000,
            noise: 0.0,
            data_seed: 0,
            custom_points: Vec::new(),
            process: Process::vp(),
            param: Parameterisation::Eps,
            width: 64,
            depth: 3,
            activation: Activation::Silu,
            learning_rate: 2e-3,
            batch: 128,
            rate_changes: Vec::new(),
            train_seed: 0,
            start: Start::Default,
            train_steps: 0,
            panels: vec![PanelSettings::named("em", 20), PanelSettings::named("dpmpp-2m", 20)],
            particles: 1000,
            sample_seed: 1,
            field_t: 0.3,
            field_view: FieldView::Arrows,
            scrub: 1.0,
            show_samples: false,
            gpu_precision: Precision::F32,
        }
    }
}

/// The bounds the link reader and the page's inputs share with the command line.
pub use crate::core::limits;

/// The scrubber's position, a fraction of every panel's steps.
const SCRUB: limits::Bound<f64> = limits::Bound { min: 0.0, max: 1.0, why: "a fraction of the steps" };

/// The samplers a panel can run on `process` with a trained network of `param`: the
/// registry's rule, the same one `nde` applies.
pub fn samplers_for(process: &Process, param: Parameterisation) -> Vec<&'static Sampler> {
    registry::supported(process, &ModelCaps::network(param)).collect()
}

/// The parameterisation a page model of `process` starts with (flows predict a velocity).
pub fn default_param(process: &Process) -> Parameterisation {
    if process.is_flow() {
        Parameterisation::Flow
    } else {
        Parameterisation::Eps
    }
}

/// A link's named value, its complaint prefixed with the key.
fn named<T>(label: &str, parsed: Result<T, String>) -> Result<T, String> {
    parsed.map_err(|e| format!("{label}: {e}"))
}

impl Settings {
    /// The query string (without '?') that rebuilds these settings.
    pub fn to_query(&self) -> String {
        let panels: Vec<String> = self.panels.iter().map(|p| format!("{}:{}", p.sampler.name, p.nfe)).collect();
        let mut pairs = vec![
            ("data", self.dataset.name().to_string()),
            ("n", self.points.to_string()),
            ("noise", self.noise.to_string()),
            ("dseed", self.data_seed.to_string()),
            ("process", self.process.name().to_string()),
            ("param", self.param.name().to_string()),
            ("width", self.width.to_string()),
            ("depth", self.depth.to_string()),
            ("act", self.activation.name().to_string()),
            ("lr", self.learning_rate.to_string()),
            ("batch", self.batch.to_string()),
            ("tseed", self.train_seed.to_string()),
            ("start", if self.start == Start::Default { "default" } else { "fresh" }.to_string()),
            ("steps", self.train_steps.to_string()),
            ("samplers", panels.join(",")),
            ("particles", self.particles.to_string()),
            ("sseed", self.sample_seed.to_string()),
            ("t", self.field_t.to_string()),
            ("field", self.field_view.name().to_string()),
            ("scrub", self.scrub.to_string()),
        ];
        if self.show_samples {
            pairs.push(("overlay", "samples".to_string()));
        }
        if self.gpu_precision != Precision::F32 {
            pairs.push(("precision", self.gpu_precision.name().to_string()));
        }
        if !self.rate_changes.is_empty() {
            let changes: Vec<String> =
                self.rate_changes.iter().map(|c| format!("{}:{}:{}", c.step, c.learning_rate, c.batch)).collect();
            pairs.push(("changes", changes.join(",")));
        }
        if self.dataset == DataChoice::Custom && self.custom_points.len() <= MAX_LINK_POINTS {
            pairs.push(("pts", encode_points(&self.custom_points)));
        }
        pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
    }

    /// Settings from a query string (with or without '?'). Every bad or unknown value is
    /// described in the returned list and left at its default; nothing else is lost.
    pub fn from_query(query: &str) -> (Settings, Vec<String>) {
        let mut s = Settings::default();
        let mut problems = Vec::new();
        let query = query.trim_start_matches('?');
        let mut explicit_noise = false;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            let result: Result<(), String> = match key {
                "data" => named("data", DataChoice::from_name(&value)).map(|v| s.dataset = v),
                "n" => limits::PAGE_POINTS.parse("n", &value).map(|v| s.points = v),
                "noise" => limits::NOISE.parse("noise", &value).map(|v| {
                    s.noise = v;
                    explicit_noise = true;
                }),
                "dseed" => limits::LINK_SEED.parse("dseed", &value).map(|v| s.data_seed = v),
                "process" => named("process", page_process(&value)).map(|v| s.process = v),
                "param" => named("param", Parameterisation::from_name(&value)).map(|v| s.param = v),
                "width" => limits::WIDTH.parse("width", &value).map(|v| s.width = v),
                "depth" => limits::DEPTH.parse("depth", &value).map(|v| s.depth = v),
                "act" => named("act", Activation::from_name(&value)).map(|v| s.activation = v),
                "lr" => limits::LEARNING_RATE.parse("lr", &value).map(|v| s.learning_rate = v),
                "batch" => limits::BATCH.parse("batch", &value).map(|v| s.batch = v),
                "tseed" => limits::LINK_SEED.parse("tseed", &value).map(|v| s.train_seed = v),
                "start" => match value.as_str() {
                    "default" => {
                        s.start = Start::Default;
                        Ok(())
                    }
                    "fresh" => {
                        s.start = Start::Fresh;
                        Ok(())
                    }
                    other => Err(format!("start: '{other}' is not default or fresh")),
                },
                "steps" => limits::LINK_STEPS.parse("steps", &value).map(|v| s.train_steps = v),
                "samplers" => parse_panels(&value).map(|v| s.panels = v),
                "particles" => limits::PAGE_PARTICLES.parse("particles", &value).map(|v| s.particles = v),
                "sseed" => limits::LINK_SEED.parse("sseed", &value).map(|v| s.sample_seed = v),
                "t" => limits::FIELD_T.parse("t", &value).map(|v| s.field_t = v),
                "field" => FieldView::from_name(&value).map(|v| s.field_view = v),
                "scrub" => SCRUB.parse("scrub", &value).map(|v| s.scrub = v),
                "pts" => decode_points(&value).map(|v| s.custom_points = v),
                "changes" => parse_changes(&value).map(|v| s.rate_changes = v),
                "precision" => named("precision", Precision::from_name(&value)).map(|v| s.gpu_precision = v),
                "overlay" => match value.as_str() {
                    "samples" | "none" => {
                        s.show_samples = value == "samples";
                        Ok(())
                    }
                    other => Err(format!("overlay: '{other}' is not samples or none")),
                },
                // A switch the page reads itself (draw on a WebGPU canvas on a software
                // adapter, `ui::app`), not a setting of the lab.
                "gpu-canvas" => Ok(()),
                // Likewise the GPU path to use (`ui::gpu_runner::choose_path`).
                "gpu-path" => match value.as_str() {
                    "op-major" | "interpreter" => Ok(()),
                    other => Err(format!("gpu-path: '{other}' is not op-major or interpreter (ignored)")),
                },
                other => Err(format!("unknown setting '{other}' (ignored)")),
            };
            if let Err(e) = result {
                problems.push(format!("link: {e}"));
            }
        }
        if s.dataset == DataChoice::Custom && s.custom_points.len() < 2 {
            problems.push("link: data=custom needs its points (pts=...); showing the default data set".into());
            s.dataset = Settings::default().dataset;
        }
        if !explicit_noise {
            s.noise = s.dataset.default_noise();
        }
        if let Err(e) = s.check_model() {
            problems.push(format!("link: {e}; using the default model settings"));
            let d = Settings::default();
            (s.process, s.param) = (d.process, d.param);
        }
        if let Err(e) = s.check_step_cost() {
            let most = s.max_page_batch();
            problems.push(format!(
                "link: {e}; using batch {most} (the link's batch {} comes back if training moves to the GPU)",
                s.batch
            ));
            s.batch = most;
        }
        let most = s.max_page_batch();
        if s.rate_changes.iter().any(|c| c.batch > most) {
            problems.push(format!(
                "link: changes: a batch above {most} is more work per step than the page can do for this network; the training steps are not replayed"
            ));
            s.rate_changes.clear();
            s.train_steps = 0;
        }
        let (process, param) = (s.process, s.param);
        s.panels.retain(|p| match p.sampler.supports(&process, &ModelCaps::network(param)) {
            Ok(()) => true,
            Err(refusal) => {
                problems.push(format!("link: samplers: {refusal} (panel removed)"));
                false
            }
        });
        (s, problems)
    }

    /// The batch a link asks for (`batch=`, the last one), when it is within the setting's
    /// bounds. `from_query` lowers a batch above the CPU's per-frame bound; the page keeps
    /// this one for when training moves to the GPU (`Engine::keep_link_batch_for_gpu`).
    pub fn link_batch(query: &str) -> Option<usize> {
        let value = query
            .trim_start_matches('?')
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(key, _)| *key == "batch")
            .last()?
            .1;
        limits::BATCH.parse("batch", &percent_decode(value)).ok()
    }

    /// The largest batch whose training step fits the page's per-step budget for this network.
    pub fn max_page_batch(&self) -> usize {
        let per_sample = 3.0 * self.network().macs_per_eval() as f64;
        ((limits::PAGE_STEP_MACS / per_sample) as usize).clamp(1, limits::BATCH.max)
    }

    /// Whether one training step of these settings fits in the page's budget.
    pub fn check_step_cost(&self) -> Result<(), String> {
        let most = self.max_page_batch();
        if self.batch > most {
            return Err(format!(
                "a batch of {} on a width-{} depth-{} network is more work per training step than the page can do without stalling (at most {most} for this network)",
                self.batch, self.width, self.depth
            ));
        }
        Ok(())
    }

    /// Whether the process and parameterisation go together (flows predict a velocity).
    pub fn check_model(&self) -> Result<(), String> {
        if self.process.is_flow() != (self.param == Parameterisation::Flow) {
            return Err(if self.process.is_flow() {
                "rectified flow trains a velocity: choose param flow".into()
            } else {
                format!("param flow goes with process rf only, not {}", self.process.name())
            });
        }
        Ok(())
    }

    /// The network these settings describe.
    pub fn network(&self) -> MlpConfig {
        MlpConfig { width: self.width, depth: self.depth, activation: self.activation, ..MlpConfig::default() }
    }
}

fn parse_panels(text: &str) -> Result<Vec<PanelSettings>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut panels = Vec::new();
    for item in text.split(',') {
        let (sampler, nfe) = item.split_once(':').ok_or(format!("samplers: '{item}' is not NAME:NFE"))?;
        let sampler = registry::find(sampler).map_err(|e| format!("samplers: {e}"))?;
        let nfe = limits::PAGE_NFE.parse("samplers: nfe", nfe)?;
        panels.push(PanelSettings { sampler, nfe });
    }
    if panels.len() > MAX_PANELS {
        return Err(format!("samplers: {} panels, at most {MAX_PANELS}", panels.len()));
    }
    Ok(panels)
}

/// Most rate and batch changes a link may carry.
pub const MAX_RATE_CHANGES: usize = 200;

/// "STEP:LR:BATCH" entries joined by ',', in step order, the first at step 0.
fn parse_changes(text: &str) -> Result<Vec<RateChange>, String> {
    let mut changes: Vec<RateChange> = Vec::new();
    for item in text.split(',').filter(|i| !i.is_empty()) {
        if changes.len() == MAX_RATE_CHANGES {
            return Err(format!("changes: more than {MAX_RATE_CHANGES} rate changes"));
        }
        let parts: Vec<&str> = item.split(':').collect();
        let [step, lr, batch] = parts[..] else {
            return Err(format!("changes: '{}' is not STEP:LR:BATCH", limits::clip(item)));
        };
        let change = RateChange {
            step: limits::LINK_STEPS.parse("changes: step", step)?,
            learning_rate: limits::LEARNING_RATE.parse("changes: lr", lr)?,
            batch: limits::BATCH.parse("changes: batch", batch)?,
        };
        if changes.last().is_some_and(|c| c.step >= change.step) || (changes.is_empty() && change.step != 0) {
            return Err("changes: the steps must start at 0 and increase".into());
        }
        changes.push(change);
    }
    Ok(changes)
}

/// Points as "x_y" pairs joined by '~' (URL-safe). Rust prints an f64 as the shortest text
/// that reads back to the same bits, so a link rebuilds the data exactly.
fn encode_points(points: &[[f64; 2]]) -> String {
    points.iter().map(|p| format!("{}_{}", p[0], p[1])).collect::<Vec<_>>().join("~")
}

/// The inverse of `encode_points`, with the upload's cap on the count and the shared bound
/// on coordinates.
fn decode_points(text: &str) -> Result<Vec<[f64; 2]>, String> {
    let cap = limits::UPLOAD_POINTS.max;
    let mut points = Vec::new();
    for (i, pair) in text.split('~').filter(|p| !p.is_empty()).enumerate() {
        if i == cap {
            return Err(format!("pts: more than {cap} points (the most an upload may have)"));
        }
        let pair = limits::clip(pair);
        let (x, y) = pair.split_once('_').ok_or(format!("pts: point {} ('{pair}') is not x_y", i + 1))?;
        let parse = |v: &str| v.parse::<f64>().map_err(|_| format!("pts: point {} ('{pair}') has a bad number", i + 1));
        let point = [parse(x)?, parse(y)?];
        limits::check_point(&format!("pts: point {}", i + 1), point)?;
        points.push(point);
    }
    Ok(points)
}

/// Decodes %XX escapes and '+' (what browsers may do to a pasted link).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn every_setting_survives_the_link() {
        let s = Settings {
            dataset: DataChoice::Toy(ToyDataset::Moons),
            points: 1234,
            noise: 0.07,
            data_seed: 9,
            process: Process::ve(),
            param: Parameterisation::X0,
            width: 32,
            depth: 2,
            activation: Activation::Tanh,
            learning_rate: 3e-4,
            batch: 64,
            train_seed: 5,
            start: Start::Fresh,
            train_steps: 321,
            panels: vec![PanelSettings::named("ddim", 7), PanelSettings::named("pf-rk4", 40)],
            particles: 600,
            sample_seed: 8,
            field_t: 0.25,
            field_view: FieldView::Density,
            scrub: 0.5,
            show_samples: true,
            gpu_precision: Precision::F16,
            rate_changes: vec![
                RateChange { step: 0, learning_rate: 1e-3, batch: 32 },
                RateChange { step: 250, learning_rate: 3e-4, batch: 64 },
            ],
            ..Settings::default()
        };
        let (back, problems) = Settings::from_query(&format!("?{}", s.to_query()));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(back, s);
    }

    /// The page's own switches pass the link's check; a GPU path it does not know is reported.
    #[test]
    fn the_pages_gpu_switches_are_not_settings_problems() {
        let (s, problems) = Settings::from_query("?gpu-canvas&gpu-path=op-major&batch=64");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(s.batch, 64);
        let (_, problems) = Settings::from_query("?gpu-path=interpreter");
        assert!(problems.is_empty(), "{problems:?}");
        let (_, problems) = Settings::from_query("?gpu-path=fastest");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("'fastest' is not op-major or interpreter"), "{problems:?}");
    }

    #[test]
    fn custom_points_travel_in_the_link() {
        let s = Settings {
            dataset: DataChoice::Custom,
            custom_points: vec![[1.25, -2.5], [0.0, 3.75]],
            ..Settings::default()
        };
        let (back, problems) = Settings::from_query(&s.to_query());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(back.custom_points, s.custom_points);
        assert_eq!(back.dataset, DataChoice::Custom);
    }

    #[test]
    fn a_bad_value_is_reported_and_the_rest_kept() {
        let (s, problems) =
            Settings::from_query("data=moons&width=abc&lr=-1&samplers=ddim:10,nosuch:5&depth=2&bogus=1");
        assert_eq!(s.dataset, DataChoice::Toy(ToyDataset::Moons));
        assert_eq!(s.depth, 2);
        assert_eq!(s.width, Settings::default().width);
        assert_eq!(s.learning_rate, Settings::default().learning_rate);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("width") && p.contains("abc")));
        assert!(problems.iter().any(|p| p.contains("nosuch")));
        assert!(problems.iter().any(|p| p.contains("bogus")));
    }

    #[test]
    fn mismatched_process_and_param_fall_back() {
        let (s, problems) = Settings::from_query("process=rf&param=eps&samplers=em:10");
        assert_eq!((s.process, s.param), (Process::vp(), Parameterisation::Eps));
        assert!(problems.iter().any(|p| p.contains("flow")), "{problems:?}");
        // A sampler that does not run on the process is removed with the registry's reason:
        // every sampler runs on a flow now but edm-heun (its sigma~ form needs a diffusion).
        let (s, problems) = Settings::from_query("process=rf&param=flow&samplers=edm-heun:10,pf-euler:10");
        assert_eq!(s.panels, vec![PanelSettings::named("pf-euler", 10)]);
        assert!(problems.iter().any(|p| p.contains("edm-heun") && p.contains("diffusions")), "{problems:?}");
        // Ancestral sampling runs on cosine (the page once hid it there; the core accepts it).
        let (s, problems) = Settings::from_query("process=cosine&samplers=ancestral:10");
        assert!(problems.is_empty() && s.panels.len() == 1, "{problems:?}");
    }

    #[test]
    fn custom_points_keep_every_bit_and_have_the_upload_cap() {
        let points = vec![[0.123456789012345, -1.0 / 3.0], [f64::from(0.3f32), 999.999999]];
        let s = Settings { dataset: DataChoice::Custom, custom_points: points.clone(), ..Settings::default() };
        let (back, problems) = Settings::from_query(&s.to_query());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(back.custom_points, points, "bit for bit");
        let many = vec!["0_0"; limits::UPLOAD_POINTS.max + 1].join("~");
        let (back, problems) = Settings::from_query(&format!("data=custom&pts={many}"));
        assert_eq!(back.dataset, Settings::default().dataset);
        assert!(problems.iter().any(|p| p.contains("more than 20000 points")), "{problems:?}");
        let (_, problems) = Settings::from_query("data=custom&pts=1e200_0~1_1");
        assert!(problems.iter().any(|p| p.contains("point 1") && p.contains("1000")), "{problems:?}");
    }

    #[test]
    fn a_width_below_the_network_minimum_is_refused_by_the_link() {
        let (s, problems) = Settings::from_query("width=8");
        assert_eq!(s.width, Settings::default().width);
        assert!(problems.iter().any(|p| p.contains("width") && p.contains("16 and 256")), "{problems:?}");
    }

    #[test]
    fn a_training_step_the_page_cannot_take_is_refused_by_the_link() {
        let (s, problems) = Settings::from_query("width=256&depth=6&batch=2048");
        assert_eq!((s.width, s.depth), (256, 6));
        assert!(s.batch < 2048 && s.batch == s.max_page_batch(), "{}", s.batch);
        assert!(problems.iter().any(|p| p.contains("batch") && p.contains("using batch")), "{problems:?}");
        // The defaults fit, with room.
        assert!(Settings::default().max_page_batch() >= 4 * Settings::default().batch);
    }

    #[test]
    fn escapes_decode() {
        assert_eq!(percent_decode("a%3Ab+c%"), "a:b c%");
    }
}
