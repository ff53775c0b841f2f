//! Everything a visitor chooses on the page, as one plain value, and its URL form. The page
//! writes these into the address bar after every change; a copied link reads them back, so
//! a shared view is rebuilt from the same settings (and replays the same training steps).
//! A bad value in a link is reported and replaced by its default; the rest is kept.

use crate::core::data::ToyDataset;
use crate::core::nn::{Activation, MlpConfig};
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::sample::{MR_SAMPLERS, SAMPLERS};

/// At most this many sampler panels side by side.
pub const MAX_PANELS: usize = 4;
/// Data sets drawn or uploaded with at most this many points travel inside the link, at full
/// precision (about 40 characters a point, so 16 kB at most); a larger set is refused by the
/// link, which says so and points to the data export.
pub const MAX_LINK_POINTS: usize = 400;
/// The processes the page trains (the mean-reverting one needs paired data).
pub const PAGE_PROCESSES: [&str; 5] = ["vp", "subvp", "ve", "cosine", "rf"];

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
    pub sampler: String,
    pub nfe: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// A toy set's name, or "custom" for drawn or uploaded points.
    pub dataset: String,
    pub points: usize,
    pub noise: f64,
    pub data_seed: u64,
    /// Drawn or uploaded points, when `dataset` is "custom".
    pub custom_points: Vec<[f64; 2]>,
    pub process: String,
    pub param: String,
    pub width: usize,
    pub depth: usize,
    pub activation: String,
    pub learning_rate: f64,
    pub batch: usize,
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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dataset: "gmm8".into(),
            points: 2000,
            noise: 0.0,
            data_seed: 0,
            custom_points: Vec::new(),
            process: "vp".into(),
            param: "eps".into(),
            width: 64,
            depth: 3,
            activation: "silu".into(),
            learning_rate: 2e-3,
            batch: 128,
            train_seed: 0,
            start: Start::Default,
            train_steps: 0,
            panels: vec![
                PanelSettings { sampler: "em".into(), nfe: 20 },
                PanelSettings { sampler: "dpmpp-2m".into(), nfe: 20 },
            ],
            particles: 1000,
            sample_seed: 1,
            field_t: 0.3,
            field_view: FieldView::Arrows,
            scrub: 1.0,
        }
    }
}

/// The bounds the link reader and the page's inputs share with the command line.
pub use crate::core::limits;

/// The scrubber's position, a fraction of every panel's steps.
const SCRUB: limits::Bound<f64> = limits::Bound { min: 0.0, max: 1.0, why: "a fraction of the steps" };

/// The samplers a panel can run on `process` (all of them but the mean-reverting ones, and
/// those that refuse the process: ancestral needs VP or VE; MALA needs an exact density).
pub fn samplers_for(process: &str) -> Vec<&'static str> {
    let flow = process == "rf";
    SAMPLERS
        .iter()
        .copied()
        .filter(|s| !MR_SAMPLERS.contains(s) && *s != "mala" && *s != "dlg")
        .filter(|s| {
            !(flow
                && matches!(
                    *s,
                    "em" | "reverse-diffusion" | "ancestral" | "pc" | "ula" | "annealed-langevin" | "dpmpp-2m-sde"
                ))
        })
        .filter(|s| *s != "ancestral" || matches!(process, "vp" | "ve"))
        .collect()
}

fn check_name(label: &str, text: &str, valid: Result<(), String>) -> Result<String, String> {
    valid.map(|_| text.to_string()).map_err(|e| format!("{label}: {e}"))
}

impl Settings {
    /// The query string (without '?') that rebuilds these settings.
    pub fn to_query(&self) -> String {
        let panels: Vec<String> = self.panels.iter().map(|p| format!("{}:{}", p.sampler, p.nfe)).collect();
        let mut pairs = vec![
            ("data", self.dataset.clone()),
            ("n", self.points.to_string()),
            ("noise", self.noise.to_string()),
            ("dseed", self.data_seed.to_string()),
            ("process", self.process.clone()),
            ("param", self.param.clone()),
            ("width", self.width.to_string()),
            ("depth", self.depth.to_string()),
            ("act", self.activation.clone()),
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
        if self.dataset == "custom" && self.custom_points.len() <= MAX_LINK_POINTS {
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
                "data" => {
                    let ok = if value == "custom" { Ok(()) } else { ToyDataset::from_name(&value).map(|_| ()) };
                    check_name("data", &value, ok).map(|v| s.dataset = v)
                }
                "n" => limits::PAGE_POINTS.parse("n", &value).map(|v| s.points = v),
                "noise" => limits::NOISE.parse("noise", &value).map(|v| {
                    s.noise = v;
                    explicit_noise = true;
                }),
                "dseed" => limits::LINK_SEED.parse("dseed", &value).map(|v| s.data_seed = v),
                "process" => {
                    let ok = if PAGE_PROCESSES.contains(&value.as_str()) {
                        Ok(())
                    } else {
                        Err(format!("'{value}' is not one of {}", PAGE_PROCESSES.join(", ")))
                    };
                    check_name("process", &value, ok).map(|v| s.process = v)
                }
                "param" => {
                    check_name("param", &value, Parameterisation::from_name(&value).map(|_| ())).map(|v| s.param = v)
                }
                "width" => limits::WIDTH.parse("width", &value).map(|v| s.width = v),
                "depth" => limits::DEPTH.parse("depth", &value).map(|v| s.depth = v),
                "act" => check_name("act", &value, Activation::from_name(&value).map(|_| ())).map(|v| s.activation = v),
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
                other => Err(format!("unknown setting '{other}' (ignored)")),
            };
            if let Err(e) = result {
                problems.push(format!("link: {e}"));
            }
        }
        if s.dataset == "custom" && s.custom_points.len() < 2 {
            problems.push("link: data=custom needs its points (pts=...); showing the default data set".into());
            s.dataset = Settings::default().dataset;
        }
        if !explicit_noise {
            s.noise = ToyDataset::from_name(&s.dataset).map(|d| d.default_noise()).unwrap_or(0.0);
        }
        if let Err(e) = s.check_model() {
            problems.push(format!("link: {e}; using the default model settings"));
            let d = Settings::default();
            (s.process, s.param) = (d.process, d.param);
        }
        if let Err(e) = s.check_step_cost() {
            let most = s.max_page_batch();
            problems.push(format!("link: {e}; using batch {most}"));
            s.batch = most;
        }
        let process = s.process.clone();
        s.panels.retain(|p| {
            let ok = samplers_for(&process).contains(&p.sampler.as_str());
            if !ok {
                problems.push(format!("link: sampler '{}' does not run on --process {process} (removed)", p.sampler));
            }
            ok
        });
        (s, problems)
    }

    /// The largest batch whose training step fits the page's per-step budget for this network.
    pub fn max_page_batch(&self) -> usize {
        let config = MlpConfig { width: self.width, depth: self.depth, ..MlpConfig::default() };
        let per_sample = 3.0 * config.macs_per_eval() as f64;
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
        let process = Process::from_name(&self.process)?;
        let param = Parameterisation::from_name(&self.param)?;
        if process.is_flow() != (param == Parameterisation::Flow) {
            return Err(if process.is_flow() {
                "rectified flow trains a velocity: choose param flow".into()
            } else {
                format!("param flow goes with process rf only, not {}", self.process)
            });
        }
        Ok(())
    }
}

fn parse_panels(text: &str) -> Result<Vec<PanelSettings>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut panels = Vec::new();
    for item in text.split(',') {
        let (sampler, nfe) = item.split_once(':').ok_or(format!("samplers: '{item}' is not NAME:NFE"))?;
        if !SAMPLERS.contains(&sampler) {
            return Err(format!("samplers: unknown sampler '{sampler}'"));
        }
        let nfe = limits::PAGE_NFE.parse("samplers: nfe", nfe)?;
        panels.push(PanelSettings { sampler: sampler.into(), nfe });
    }
    if panels.len() > MAX_PANELS {
        return Err(format!("samplers: {} panels, at most {MAX_PANELS}", panels.len()));
    }
    Ok(panels)
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
            dataset: "moons".into(),
            points: 1234,
            noise: 0.07,
            data_seed: 9,
            process: "ve".into(),
            param: "x0".into(),
            width: 32,
            depth: 2,
            activation: "tanh".into(),
            learning_rate: 3e-4,
            batch: 64,
            train_seed: 5,
            start: Start::Fresh,
            train_steps: 321,
            panels: vec![
                PanelSettings { sampler: "ddim".into(), nfe: 7 },
                PanelSettings { sampler: "pf-rk4".into(), nfe: 40 },
            ],
            particles: 600,
            sample_seed: 8,
            field_t: 0.25,
            field_view: FieldView::Density,
            scrub: 0.5,
            ..Settings::default()
        };
        let (back, problems) = Settings::from_query(&format!("?{}", s.to_query()));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(back, s);
    }

    #[test]
    fn custom_points_travel_in_the_link() {
        let s = Settings {
            dataset: "custom".into(),
            custom_points: vec![[1.25, -2.5], [0.0, 3.75]],
            ..Settings::default()
        };
        let (back, problems) = Settings::from_query(&s.to_query());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(back.custom_points, s.custom_points);
        assert_eq!(back.dataset, "custom");
    }

    #[test]
    fn a_bad_value_is_reported_and_the_rest_kept() {
        let (s, problems) =
            Settings::from_query("data=moons&width=abc&lr=-1&samplers=ddim:10,nosuch:5&depth=2&bogus=1");
        assert_eq!(s.dataset, "moons");
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
        assert_eq!((s.process.as_str(), s.param.as_str()), ("vp", "eps"));
        assert!(problems.iter().any(|p| p.contains("flow")), "{problems:?}");
        // A stochastic sampler on a flow is removed with a message.
        let (s, problems) = Settings::from_query("process=rf&param=flow&samplers=em:10,pf-euler:10");
        assert_eq!(s.panels, vec![PanelSettings { sampler: "pf-euler".into(), nfe: 10 }]);
        assert!(problems.iter().any(|p| p.contains("'em'")), "{problems:?}");
    }

    #[test]
    fn custom_points_keep_every_bit_and_have_the_upload_cap() {
        let points = vec![[0.123456789012345, -1.0 / 3.0], [f64::from(0.3f32), 999.999999]];
        let s = Settings { dataset: "custom".into(), custom_points: points.clone(), ..Settings::default() };
        let (back, problems) = Settings::from_query(&s.to_query());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(back.custom_points, points, "bit for bit");
        let many = vec!["0_0"; limits::UPLOAD_POINTS.max + 1].join("~");
        let (back, problems) = Settings::from_query(&format!("data=custom&pts={many}"));
        assert_eq!(back.dataset, "gmm8");
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
