//! `nde lab inverse inpaint`: conditional sampling with an unconditional score (LABS.md,
//! Lab G, G2 and G3) on data with exact answers. The observation fixes one coordinate of x₀
//! (inpainting: `--angle 0`; a rotated coordinate, LABS.md's "colourisation": `--angle 45`);
//! each method runs Euler–Maruyama on the reverse SDE with the data's exact scores, and its
//! free coordinate is compared with the exact conditional. For correlated Gaussian data
//! observed at angle 0, the limit that replacement converges to is printed too: the
//! replacement bias. The page lab, the learned models (class guidance, DPS), the `Replace`
//! plan op and the MR restoration of issue 20 are not built yet.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::core::data::gmm::GaussianMixture;
use crate::core::inverse::conditional::LineConditional;
use crate::core::inverse::line::LineObservation;
use crate::core::inverse::replacement::{replacement_limit, sample_em, InverseMethod};
use crate::core::metrics_1d::{moments, wasserstein1};
use crate::core::process::Process;

/// The last time the samplers reach (as score_sde's eps).
const T_MIN: f64 = 1e-3;

#[derive(Args, Debug)]
pub struct InverseArgs {
    #[command(subcommand)]
    pub verb: InverseVerb,
}

#[derive(Subcommand, Debug)]
pub enum InverseVerb {
    /// Sample x₀ given one observed coordinate, by each method, against the exact conditional.
    Inpaint(InpaintArgs),
}

#[derive(Args, Debug)]
pub struct InpaintArgs {
    /// gauss (N(0, [[1, ρ], [ρ, 1]])) or gmm8.
    #[arg(long, default_value = "gauss")]
    pub data: String,
    /// ρ, the Gaussian data's correlation.
    #[arg(long, default_value_t = 0.8)]
    pub rho: f64,
    /// a: the observed value of the coordinate.
    #[arg(long, default_value_t = 1.0)]
    pub observe: f64,
    /// The observed coordinate's angle from the x₁ axis, in degrees (0: inpainting x₁; 45:
    /// LABS.md's colourisation).
    #[arg(long, default_value_t = 0.0)]
    pub angle: f64,
    /// Methods, comma-separated: replacement, exact, likelihood.
    #[arg(long, default_value = "replacement,exact,likelihood")]
    pub method: String,
    /// The sampler: em (Euler–Maruyama on the reverse SDE; the only one built yet).
    #[arg(long, default_value = "em")]
    pub sampler: String,
    /// Steps of the sampler.
    #[arg(long, default_value_t = 1000)]
    pub nfe: usize,
    #[arg(long, default_value_t = 20_000)]
    pub particles: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one line of JSON.
    #[arg(long)]
    pub json: bool,
}

fn prior(a: &InpaintArgs) -> Result<GaussianMixture, String> {
    match a.data.as_str() {
        "gauss" => {
            if !(a.rho.is_finite() && a.rho.abs() <= 0.99) {
                return Err(format!("--rho must be in [−0.99, 0.99], got {}", a.rho));
            }
            GaussianMixture::new(vec![1.0], vec![[0.0, 0.0]], vec![[[1.0, a.rho], [a.rho, 1.0]]])
        }
        "gmm8" => Ok(GaussianMixture::eight_gaussians()),
        other => Err(format!("--data: unknown data '{other}': choose gauss or gmm8")),
    }
}

fn checked(a: &InpaintArgs) -> Result<(GaussianMixture, LineObservation, Vec<InverseMethod>), String> {
    let prior = prior(a)?;
    if !(a.observe.is_finite() && a.observe.abs() <= 100.0) {
        return Err(format!("--observe must be within ±100, got {}", a.observe));
    }
    if !(a.angle.is_finite() && a.angle.abs() <= 360.0) {
        return Err(format!("--angle must be within ±360 degrees, got {}", a.angle));
    }
    if a.sampler != "em" {
        return Err(format!("--sampler: '{}' is not built for inverse problems yet; use em", a.sampler));
    }
    if !(10..=10_000).contains(&a.nfe) {
        return Err(format!("--nfe must be 10 to 10000, got {}", a.nfe));
    }
    if !(100..=1_000_000).contains(&a.particles) {
        return Err(format!("--particles must be 100 to 1000000, got {}", a.particles));
    }
    let methods: Result<Vec<InverseMethod>, String> =
        a.method.split(',').map(|m| InverseMethod::from_name(m.trim()).map_err(|e| format!("--method: {e}"))).collect();
    let line = LineObservation::at_angle(a.angle, a.observe)?;
    LineConditional::new(&prior, line).map_err(|e| format!("--observe: {e}"))?;
    Ok((prior, line, methods?))
}

fn inpaint(a: &InpaintArgs) -> Result<Value, String> {
    let (prior, line, methods) = checked(a)?;
    let process = Process::vp();
    let exact = LineConditional::new(&prior, line)?;
    let (exact_mean, exact_var) = exact.free_moments();
    let reference: Vec<f64> =
        exact.sample(a.particles, a.seed ^ 0x7265_6600).iter().map(|x| line.rotate(*x)[1]).collect();
    let finite = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
    let mut rows = Vec::new();
    for method in methods {
        let xs = sample_em(method, &prior, &line, &process, a.nfe, a.particles, a.seed, T_MIN)?;
        let free: Vec<f64> = xs.iter().map(|x| line.rotate(*x)[1]).collect();
        let observed: Vec<f64> = xs.iter().map(|x| line.rotate(*x)[0]).collect();
        let m = moments(&free);
        let n = free.len() as f64;
        rows.push(json!({
            "method": method.name(),
            "mean": finite(m.mean),
            "var": finite(m.variance),
            "se_mean": finite((m.variance / n).sqrt()),
            "z_mean_to_exact": finite((m.mean - exact_mean) / (m.variance / n).sqrt()),
            "w1_to_exact": finite(wasserstein1(&free, &reference)?),
            "observed_mean": finite(moments(&observed).mean),
        }));
    }
    let limit = (a.data == "gauss" && a.angle == 0.0).then(|| {
        let (m, v) = replacement_limit(a.rho, a.observe, &process, T_MIN, 20_000);
        json!({ "mean": m, "var": v })
    });
    Ok(json!({
        "data": a.data,
        "rho": if a.data == "gauss" { json!(a.rho) } else { Value::Null },
        "observe": a.observe,
        "angle": a.angle,
        "process": process.name(),
        "sampler": a.sampler,
        "nfe": a.nfe,
        "particles": a.particles,
        "seed": a.seed,
        "exact": { "mean": exact_mean, "var": exact_var },
        "replacement_limit": limit,
        "rows": rows,
    }))
}

pub fn check(args: &InverseArgs) -> Result<(), String> {
    match &args.verb {
        InverseVerb::Inpaint(a) => checked(a).map(|_| ()),
    }
}

pub fn run(args: &InverseArgs) -> Result<(), String> {
    check(args)?;
    let (report, json_only) = match &args.verb {
        InverseVerb::Inpaint(a) => (inpaint(a)?, a.json),
    };
    if json_only {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report).expect("a JSON value prints"));
    }
    Ok(())
}
