//! `nde sample`: run one sampler and score its samples against the target.

use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::executor::Executor;
use super::target::{load_model, ModelSpec, Target};
use crate::core::data::Point;
use crate::core::metrics::{energy_distance, mmd, projections, sliced_wasserstein, DEFAULT_BANDWIDTHS};
use crate::core::process::Process;
use crate::core::sample::grid::Schedule;
use crate::core::sample::options::DlgIntegrator;
use crate::core::sample::{build, SamplerOptions};
use crate::exec::cpu::RunOptions;

/// MMD and the energy distance cost O(n^2): they use at most this many points of each side.
pub const PAIRWISE_METRIC_POINTS: usize = 2000;

#[derive(Args, Debug, Clone)]
pub struct SamplerArgs {
    /// Time grid: time, logsnr or karras.
    #[arg(long, default_value = "logsnr")]
    pub schedule: String,
    /// Langevin corrector signal-to-noise ratio (pc, annealed-langevin).
    #[arg(long, default_value_t = 0.16)]
    pub snr: f64,
    /// Langevin corrector steps per step (pc, annealed-langevin).
    #[arg(long, default_value_t = 1)]
    pub corrector_steps: usize,
    /// DDIM's eta (0 deterministic, 1 DDPM).
    #[arg(long, default_value_t = 0.0)]
    pub eta: f64,
    /// Relative tolerance of pf-dopri5.
    #[arg(long, default_value_t = 1e-5)]
    pub rtol: f64,
    /// Absolute tolerance of pf-dopri5.
    #[arg(long, default_value_t = 1e-5)]
    pub atol: f64,
    /// Order of UniPC (1 or 2).
    #[arg(long, default_value_t = 2)]
    pub order: usize,
    /// EDM's S_churn.
    #[arg(long, default_value_t = 0.0)]
    pub churn: f64,
    /// ULA's and MALA's step size.
    #[arg(long, default_value_t = 0.01)]
    pub step_size: f64,
    /// The MR Sampler's log-SNR clip: it starts at the time where lambda = this.
    #[arg(long, default_value_t = -5.0, allow_negative_numbers = true)]
    pub lambda_min: f64,
    /// DLG: Gibbs sweeps before integrating.
    #[arg(long, default_value_t = 10)]
    pub sweeps: usize,
    /// DLG: the Langevin step eta (not scaled by the noise level).
    #[arg(long, default_value_t = 0.8)]
    pub dlg_step: f64,
    /// DLG: the integrator from the chain's level, edm-heun or ddim.
    #[arg(long, default_value = "edm-heun")]
    pub integrator: String,
    /// DLG: take the most likely level instead of drawing it (as Denoising MCMC does).
    #[arg(long)]
    pub level_argmax: bool,
    /// The condition mu of the mean-reverting process (--process mr), as x,y.
    #[arg(long, value_delimiter = ',', default_values_t = [0.0, 0.0], allow_negative_numbers = true)]
    pub mu: Vec<f64>,
}

impl SamplerArgs {
    pub fn options(&self, nfe: usize) -> Result<SamplerOptions, String> {
        for (name, value) in [
            ("--snr", self.snr),
            ("--eta", self.eta),
            ("--rtol", self.rtol),
            ("--atol", self.atol),
            ("--step-size", self.step_size),
            ("--churn", self.churn),
            ("--dlg-step", self.dlg_step),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(format!("{name} must be a non-negative number, got {value}"));
            }
        }
        if self.mu.len() != 2 || !self.mu.iter().all(|v| v.is_finite()) {
            return Err(format!("--mu takes two finite numbers x,y, got {:?}", self.mu));
        }
        if !self.lambda_min.is_finite() {
            return Err(format!("--lambda-min must be a finite number, got {}", self.lambda_min));
        }
        if self.rtol == 0.0 && self.atol == 0.0 {
            return Err("--rtol and --atol cannot both be 0".into());
        }
        Ok(SamplerOptions {
            nfe,
            schedule: Schedule::from_name(&self.schedule)?,
            snr: self.snr,
            corrector_steps: self.corrector_steps,
            eta: self.eta,
            rtol: self.rtol,
            atol: self.atol,
            order: self.order,
            churn: self.churn,
            step_size: self.step_size,
            condition: [self.mu[0], self.mu[1]],
            lambda_min: self.lambda_min,
            sweeps: self.sweeps,
            dlg_step: self.dlg_step,
            integrator: DlgIntegrator::from_name(&self.integrator)?,
            level_argmax: self.level_argmax,
            ..SamplerOptions::default()
        })
    }
}

#[derive(Args, Debug)]
pub struct SampleArgs {
    #[command(flatten)]
    pub spec: ModelSpec,
    /// Sampler name (see `nde sample --help`), or `exact` to draw from the target itself.
    #[arg(long)]
    pub sampler: String,
    /// Model evaluations per particle.
    #[arg(long, default_value_t = 50)]
    pub nfe: usize,
    #[command(flatten)]
    pub sampler_args: SamplerArgs,
    /// Number of particles.
    #[arg(long, default_value_t = 2000)]
    pub particles: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Executor: cpu, or gpu (wgpu on Vulkan; the same plans, checked against the CPU).
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    /// Write the samples here as x,y lines.
    #[arg(long)]
    pub out: Option<String>,
    /// Record the trajectories of the first N particles at every step (needs --trace-out).
    #[arg(long, default_value_t = 0)]
    pub trace: usize,
    /// Where to write the trajectories, as frame,particle,x,y lines.
    #[arg(long)]
    pub trace_out: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One sampler run's outcome.
pub struct SampleReport {
    pub samples: Vec<Point>,
    /// frames[f][k]: traced particle k at snapshot f.
    pub frames: Vec<Vec<[f32; 2]>>,
    pub nfe: f64,
    pub seconds: f64,
    pub swd: f64,
    pub mmd: f64,
    pub energy: f64,
}

/// Runs `sampler` (or draws from the target for `exact`) and scores the result.
#[allow(clippy::too_many_arguments)]
pub fn run_one(
    executor: &Executor,
    target: &Target,
    process: Process,
    model_spec: &ModelSpec,
    sampler: &str,
    options: &SamplerOptions,
    particles: usize,
    seed: u64,
    traced: usize,
) -> Result<SampleReport, String> {
    if !(2..=1_000_000).contains(&particles) {
        return Err(format!("--particles must be between 2 and 1000000, got {particles}"));
    }
    let start = Instant::now();
    let (samples, nfe, frames) = if sampler == "exact" {
        (target.sample(particles, seed.wrapping_add(7)), 0.0, Vec::new())
    } else {
        let mut model = load_model(model_spec, target, process, options.condition)?;
        let plan = build(sampler, process, model.param(), options)?;
        let traced = (0..traced.min(particles)).collect();
        let run = executor.run(&plan, model.as_mut(), &RunOptions { particles, seed, traced, inputs: vec![] })?;
        (run.positions.iter().map(|p| [f64::from(p[0]), f64::from(p[1])]).collect(), run.nfe, run.frames)
    };
    let seconds = start.elapsed().as_secs_f64();
    let reference = target.sample(particles, seed.wrapping_add(1));
    let swd = sliced_wasserstein(&reference, &samples, &projections(128, seed));
    let cap = particles.min(PAIRWISE_METRIC_POINTS);
    let (reference_part, sample_part) = (&reference[..cap], &samples[..cap]);
    let mmd = mmd(reference_part, sample_part, &DEFAULT_BANDWIDTHS);
    let energy = energy_distance(reference_part, sample_part);
    Ok(SampleReport { samples, frames, nfe, seconds, swd, mmd, energy })
}

pub fn run(args: &SampleArgs) -> Result<(), String> {
    let (target, process) = args.spec.parse()?;
    let options = args.sampler_args.options(args.nfe)?;
    if (args.trace > 0) != args.trace_out.is_some() {
        return Err("--trace N and --trace-out FILE go together".into());
    }
    let executor = Executor::from_name(&args.backend)?;
    let report = run_one(
        &executor,
        &target,
        process,
        &args.spec,
        &args.sampler,
        &options,
        args.particles,
        args.seed,
        args.trace,
    )?;
    if let Some(path) = &args.trace_out {
        let mut text = String::from("frame,particle,x,y\n");
        for (f, frame) in report.frames.iter().enumerate() {
            for (k, p) in frame.iter().enumerate() {
                text.push_str(&format!("{f},{k},{},{}\n", p[0], p[1]));
            }
        }
        std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    if let Some(path) = &args.out {
        let mut text = String::from("x,y\n");
        for p in &report.samples {
            text.push_str(&format!("{},{}\n", p[0], p[1]));
        }
        std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    if args.json {
        println!(
            "{}",
            json!({
                "sampler": args.sampler, "nfe": report.nfe, "particles": args.particles, "seconds": report.seconds,
                "swd": report.swd, "mmd": report.mmd, "energy": report.energy, "backend": args.backend,
            })
        );
    } else {
        println!(
            "{}: {} particles, {:.1} evaluations each, {:.3} s; SWD {:.4}, MMD {:.4}, energy {:.4}",
            args.sampler, args.particles, report.nfe, report.seconds, report.swd, report.mmd, report.energy
        );
    }
    Ok(())
}
