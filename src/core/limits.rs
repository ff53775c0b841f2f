//! Every bound on what a visitor or a user may ask for, stated once. The command line (through
//! clap's value parsers), the share-link reader, the page's inputs and the file readers all
//! check against these, so a value one accepts another cannot refuse (a link with `width=8`
//! once crashed the page because two places disagreed). Each bound says why it is where it
//! is; docs/LIMITS.md lists them with the machine figures they come from.
//!
//! A value outside a bound is refused with a message that names the range; nothing is
//! clamped in silence.

use std::fmt::Display;

/// How a bound's ends and a refused value are written: plain for ordinary numbers, in
/// exponent form for tiny or huge ones (1e-10, not 0.0000000001).
pub trait Shown: Copy {
    fn shown(self) -> String;
}

impl Shown for usize {
    fn shown(self) -> String {
        self.to_string()
    }
}

impl Shown for u64 {
    fn shown(self) -> String {
        self.to_string()
    }
}

impl Shown for f64 {
    fn shown(self) -> String {
        if self != 0.0 && self.is_finite() && !(1e-4..1e7).contains(&self.abs()) {
            format!("{self:e}")
        } else {
            self.to_string()
        }
    }
}

/// An inclusive range for one quantity, and the reason for its ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound<T> {
    pub min: T,
    pub max: T,
    /// Why the range ends where it does (shown in the refusal).
    pub why: &'static str,
}

impl<T: PartialOrd + Copy + Display + Shown> Bound<T> {
    pub fn contains(&self, value: T) -> bool {
        value >= self.min && value <= self.max
    }

    /// The refusal for `value`: names the field and the range.
    pub fn refusal(&self, label: &str, value: impl Display) -> String {
        format!(
            "{label} must be between {} and {} ({}), got {}",
            self.min.shown(),
            self.max.shown(),
            self.why,
            clip(&value.to_string())
        )
    }

    /// The range as a clap parser says it (clap names the flag and the value).
    fn range_text(&self) -> String {
        format!("must be between {} and {} ({})", self.min.shown(), self.max.shown(), self.why)
    }

    /// `value` if it lies within the bound, else the refusal naming `label`.
    pub fn check(&self, label: &str, value: T) -> Result<T, String> {
        if self.contains(value) {
            Ok(value)
        } else {
            Err(self.refusal(label, value))
        }
    }
}

/// The whole-number types a bound can be over.
pub trait Whole: TryFrom<u128> + PartialOrd + Copy + Display + Shown {}
impl Whole for usize {}
impl Whole for u64 {}

impl<T: Whole> Bound<T> {
    /// Parses a whole number and checks it (for the link and the page's inputs). Read as a
    /// u128 first, so a number past the type's range is refused with the range, not as junk.
    pub fn parse(&self, label: &str, text: &str) -> Result<T, String> {
        let text = text.trim();
        let value: u128 = text.parse().map_err(|_| format!("{label}: \"{}\" is not a whole number", clip(text)))?;
        match T::try_from(value) {
            Ok(v) => self.check(label, v),
            Err(_) => Err(self.refusal(label, value)),
        }
    }

    /// A clap value parser: `#[arg(value_parser = limits::NFE.parser())]`. clap names the flag.
    pub fn parser(self) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
    where
        T: Send + Sync + 'static,
    {
        move |text| {
            let value: u128 = text.trim().parse().map_err(|_| format!("\"{}\" is not a whole number", clip(text)))?;
            match T::try_from(value) {
                Ok(v) if self.contains(v) => Ok(v),
                _ => Err(self.range_text()),
            }
        }
    }
}

impl Bound<f64> {
    /// Finite and within the range.
    pub fn check_real(&self, label: &str, value: f64) -> Result<f64, String> {
        if value.is_finite() && self.contains(value) {
            Ok(value)
        } else {
            Err(self.refusal(label, value.shown()))
        }
    }

    pub fn parse(&self, label: &str, text: &str) -> Result<f64, String> {
        let text = text.trim();
        let value: f64 = text.parse().map_err(|_| format!("{label}: \"{}\" is not a number", clip(text)))?;
        self.check_real(label, value)
    }

    pub fn parser(self) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
        move |text| {
            let value: f64 = text.trim().parse().map_err(|_| format!("\"{}\" is not a number", clip(text)))?;
            if value.is_finite() && self.contains(value) {
                Ok(value)
            } else {
                Err(self.range_text())
            }
        }
    }
}

/// At most 40 characters of a refused text, so a megabyte of junk does not fill the message.
pub fn clip(text: &str) -> String {
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text.to_string()
    }
}

// ----- the network -----

/// Hidden width of the MLP: the GPU interpreter keeps rows of 256 floats per particle, and
/// below 16 the tiled CPU kernel's lanes would sit idle (and such nets learn little here).
pub const WIDTH: Bound<usize> = Bound { min: 16, max: 256, why: "the MLP's hidden width" };
/// Hidden layers.
pub const DEPTH: Bound<usize> = Bound { min: 1, max: 6, why: "the MLP's hidden layers" };
/// Largest magnitude of a parameter in a weights file: a trained net's weights are O(1); one
/// of 1e6 is a diverged or hand-edited file whose outputs overflow f32.
pub const PARAMETER_MAGNITUDE: f64 = 1e6;

// ----- sampling -----

/// Model evaluations per particle on the command line: 10^4 is far past where every sampler
/// has converged on these 2D targets, and keeps the time grid and plan a few MB.
pub const NFE: Bound<usize> = Bound { min: 1, max: 10_000, why: "model evaluations per particle" };
/// Model evaluations per particle in a page panel (a run must finish in seconds in the browser).
pub const PAGE_NFE: Bound<usize> = Bound { min: 1, max: 500, why: "evaluations per panel on the page" };
/// Particles on the command line: 10^6 particles of f32 state are 8 MB, and the GPU executor
/// was measured at that size (docs/GPU.md).
pub const PARTICLES: Bound<usize> = Bound { min: 2, max: 1_000_000, why: "particles per run" };
/// Particles in a page panel: 10^5 where the GPU runs the panels (their frames stay on the
/// GPU and are drawn in place; `PAGE_CPU_PARTICLES` where the CPU does).
pub const PAGE_PARTICLES: Bound<usize> = Bound { min: 10, max: 100_000, why: "particles per panel on the page" };
/// Particles a panel runs on the CPU (the page's thread or its workers), where every particle
/// is advanced, kept and painted on the host: more would take a visitor's frames.
pub const PAGE_CPU_PARTICLES: usize = 5000;
/// Langevin corrector steps per predictor step (pc, annealed-langevin).
pub const CORRECTOR_STEPS: Bound<usize> = Bound { min: 1, max: 100, why: "corrector steps per step" };
/// DLG's Gibbs sweeps before it integrates (each costs one evaluation per particle).
pub const SWEEPS: Bound<usize> = Bound { min: 0, max: 10_000, why: "Gibbs sweeps" };
/// UniPC's order (1 to 3, as its reference implements).
pub const UNIPC_ORDER: Bound<usize> = Bound { min: 1, max: 3, why: "UniPC's orders" };
/// The MR Sampler's order (its paper gives first- and second-order solvers).
pub const MRS_ORDER: Bound<usize> = Bound { min: 1, max: 2, why: "the MR Sampler's orders" };
/// Tolerances of the adaptive solver: below 1e-10 the step falls under f64's resolution of
/// t; above 0.1 the error control no longer controls anything.
pub const TOLERANCE: Bound<f64> = Bound { min: 1e-10, max: 0.1, why: "an adaptive solver's tolerance" };
/// The predictor-corrector's and annealed Langevin's signal-to-noise ratio.
pub const SNR: Bound<f64> = Bound { min: 0.0, max: 1.0, why: "the Langevin corrector's snr" };
/// DDIM's eta: 1 is DDPM; above it the step's noise variance would be negative.
pub const ETA: Bound<f64> = Bound { min: 0.0, max: 1.0, why: "DDIM's eta" };
/// EDM's S_churn (the paper's largest is 80).
pub const CHURN: Bound<f64> = Bound { min: 0.0, max: 100.0, why: "EDM's S_churn" };
/// ULA's and MALA's step (on data of scale ~1, a step of 1 already jumps across the data).
pub const LANGEVIN_STEP: Bound<f64> = Bound { min: 1e-8, max: 1.0, why: "the Langevin step size" };
/// DLG's Langevin step eta.
pub const DLG_STEP: Bound<f64> = Bound { min: 1e-6, max: 10.0, why: "DLG's Langevin step" };
/// The MR Sampler's log-SNR clip; the process's own range narrows it further.
pub const LAMBDA_MIN: Bound<f64> = Bound { min: -20.0, max: 20.0, why: "the MR Sampler's log-SNR clip" };
/// Trajectories recorded per run (each is a point per step in a CSV).
pub const TRACE: Bound<usize> = Bound { min: 0, max: 10_000, why: "traced particles" };
/// Points a trace may record in all (traced particles x snapshots): 10^7 lines of CSV are
/// about 400 MB.
pub const TRACE_POINTS: usize = 10_000_000;
/// `nde bench` repeats.
pub const REPEATS: Bound<usize> = Bound { min: 1, max: 100, why: "benchmark repeats" };
/// Threads of `nde bench` (0: every core).
pub const THREADS: Bound<usize> = Bound { min: 0, max: 1024, why: "threads" };
/// Steps timed by one `nde bench train` run.
pub const BENCH_STEPS: Bound<u64> = Bound { min: 1, max: 100_000, why: "timed training steps" };
/// Steps one GPU training run submits before its one readback (`exec::gpu::trainer`'s
/// `MAX_STEPS_PER_RUN`).
pub const STEPS_PER_READBACK: Bound<usize> = Bound { min: 1, max: 64, why: "steps per readback" };
/// NFE budgets in one `nde compare`.
pub const COMPARE_BUDGETS: Bound<usize> = Bound { min: 1, max: 32, why: "NFE budgets per comparison" };
/// Samplers in one `nde compare`.
pub const COMPARE_SAMPLERS: Bound<usize> = Bound { min: 1, max: 32, why: "samplers per comparison" };

// ----- training -----

/// Training points drawn from a target on the command line.
pub const DATA_POINTS: Bound<usize> = Bound { min: 2, max: 1_000_000, why: "training points" };
/// Data points on the page (drawn, generated or uploaded).
pub const PAGE_POINTS: Bound<usize> = Bound { min: 50, max: 20_000, why: "data points on the page" };
/// Points an uploaded CSV may hold on the page.
pub const UPLOAD_POINTS: Bound<usize> = Bound { min: 2, max: 20_000, why: "points in an uploaded file" };
/// Points scored by `nde likelihood` (each is an adaptive ODE solve).
pub const LIKELIHOOD_POINTS: Bound<usize> = Bound { min: 1, max: 100_000, why: "points scored" };
/// Training steps of one command (about an hour at the largest network and batch here).
pub const TRAIN_STEPS: Bound<u64> = Bound { min: 1, max: 1_000_000, why: "training steps" };
/// Training steps a share link may record (replayed when the link opens).
pub const LINK_STEPS: Bound<u64> = Bound { min: 0, max: 1_000_000, why: "training steps in a link" };
/// Minibatch size.
pub const BATCH: Bound<usize> = Bound { min: 1, max: 4096, why: "the minibatch size" };
/// Training work the page does per second on one browser thread, in multiply-adds of the
/// forward and backward passes: a cautious figure for a slower machine than this project's
/// (here, batched in f32 with SIMD128, Chromium measured 3e9 to 7e9: about 830 steps/s at
/// width 64, depth 3, batch 128; docs/BENCHMARKS.md). It sizes the two bounds below it.
pub const BROWSER_TRAINING_MACS_PER_S: f64 = 1e9;
/// The work of one training step on the page, in multiply-adds (batch x 3 passes x the
/// network's multiply-adds per sample): about 100 ms. A step cannot be split across frames, so
/// a larger one would stall the page (width 256, depth 6 at batch 2048 once took seconds per
/// frame).
pub const PAGE_STEP_MACS: f64 = 0.1 * BROWSER_TRAINING_MACS_PER_S;
/// A link whose replay would take longer than this opens with its settings and waits for the
/// visitor to start the replay.
pub const REPLAY_AUTO_SECONDS: f64 = 10.0;
/// Adam's learning rate: up to 10 on the page, so a visitor can make training diverge and see
/// the rollback.
pub const LEARNING_RATE: Bound<f64> = Bound { min: 1e-6, max: 10.0, why: "the learning rate" };
/// The data noise of a toy set on the page.
pub const NOISE: Bound<f64> = Bound { min: 0.0, max: 1.0, why: "the data noise" };
/// The page's field time.
pub const FIELD_T: Bound<f64> = Bound { min: 0.001, max: 1.0, why: "the field's time t" };
/// Seeds are 32-bit in links so they survive every JSON reader; the CLI takes any u64.
pub const LINK_SEED: Bound<u64> = Bound { min: 0, max: u32::MAX as u64, why: "a seed" };

// ----- data -----

/// Largest |coordinate| of a data point, a mixture mean or a condition mu. The processes'
/// priors and the f32 GPU state are sized for data of
/// scale ~1-10 (VE's sigma_max is 10): data far outside that samples poorly but stays finite,
/// and at 1000 every squared distance stays far from f32's overflow.
pub const COORDINATE: f64 = 1000.0;
/// A particle farther out than this at the end of a run has diverged (data lie within
/// ±COORDINATE): the run is refused rather than scored (a weak model once sent DLG's chain to
/// 1e33, finite but meaningless).
pub const DIVERGED_COORDINATE: f64 = 1e6;

/// Whether an end point is a usable result: finite and not diverged.
pub fn is_settled(p: [f32; 2]) -> bool {
    p.iter().all(|v| v.is_finite() && f64::from(v.abs()) <= DIVERGED_COORDINATE)
}

/// Components of a mixture file (each costs an evaluation per particle per step).
pub const MIXTURE_COMPONENTS: Bound<usize> = Bound { min: 1, max: 256, why: "mixture components" };
/// Eigenvalues of a mixture component's covariance: the GPU evaluates the mixture in f32,
/// whose 24-bit mantissa keeps 1e-3 relative accuracy in the precision matrix only while the
/// condition number stays below about 1e4.
pub const COVARIANCE_EIGENVALUE: Bound<f64> = Bound { min: 1e-6, max: 1e6, why: "a covariance eigenvalue" };
pub const COVARIANCE_CONDITION: f64 = 1e4;
/// Largest file read (weights, mixtures, CSV): a 256x6 network's weights are about 8 MB.
pub const FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Checks a data point's coordinates (finite, within COORDINATE), naming `what`.
pub fn check_point(what: &str, p: [f64; 2]) -> Result<(), String> {
    if p.iter().all(|v| v.is_finite() && v.abs() <= COORDINATE) {
        Ok(())
    } else {
        Err(format!("{what} ({}, {}) is not within ±{COORDINATE} in both coordinates", p[0].shown(), p[1].shown()))
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn refusals_name_the_field_and_the_range() {
        let e = NFE.check("--nfe", 0).unwrap_err();
        assert!(e.contains("--nfe") && e.contains("1 and 10000"), "{e}");
        let e = WIDTH.parse("width", "8").unwrap_err();
        assert!(e.contains("width") && e.contains("16 and 256"), "{e}");
        let e = NFE.parse("nfe", "18446744073709551616000").unwrap_err();
        assert!(e.contains("between"), "{e}");
        assert!(NFE.parse("nfe", "abc").unwrap_err().contains("not a whole number"));
        assert!(TOLERANCE.parse("rtol", "NaN").is_err());
        assert!(TOLERANCE.parse("rtol", "1e300").unwrap_err().contains("0.1"));
        assert_eq!(TOLERANCE.parse("rtol", "1e-5"), Ok(1e-5));
        assert_eq!(LINK_STEPS.parse("steps", " 12 "), Ok(12));
    }

    #[test]
    fn clap_parsers_check_the_same_bound() {
        let nfe = NFE.parser();
        assert_eq!(nfe("20"), Ok(20));
        assert!(nfe("18446744073709551615").unwrap_err().contains("between 1 and 10000"));
        let tol = TOLERANCE.parser();
        assert!(tol("inf").is_err());
        assert!(tol("1e-300").is_err());
    }

    #[test]
    fn points_outside_the_coordinate_bound_are_refused() {
        assert!(check_point("point 1", [1.0, -2.0]).is_ok());
        assert!(check_point("point 1", [1e200, 0.0]).unwrap_err().contains("point 1"));
        assert!(check_point("p", [f64::NAN, 0.0]).is_err());
    }
}
