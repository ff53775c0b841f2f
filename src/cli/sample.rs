//! `nde sample`: run one sampler and score its samples against the target.

use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::executor::Executor;
use super::target::{load_model, ModelSpec, Target};
use crate::core::data::Point;
use crate::core::limits;
use crate::core::metrics::{energy_distance, mmd, projections, sliced_wasserstein, DEFAULT_BANDWIDTHS};
use crate::core::process::Process;
use crate::core::sample::grid::Schedule;
use crate::core::sample::options::flags_read_by;
use crate::core::sample::options::DlgIntegrator;
use crate::core::sample::{build, registry, SamplerOptions, MR_SAMPLERS, SAMPLERS};
use crate::exec::cpu::RunOptions;

/// MMD and the energy distance cost O(n^2): they use at most this many points of each side.
pub const PAIRWISE_METRIC_POINTS: usize = 2000;

/// The sampler flags. Each is optional so that we know whether it was given: a flag that none
/// of the chosen samplers reads is an error, not a setting dropped in silence. The defaults
/// (in `SamplerArgs::DEFAULTS`) are score_sde's, DPM-Solver's, EDM's and MRS's.
#[derive(Args, Debug, Clone)]
pub struct SamplerArgs {
    /// Time grid: time, logsnr (default) or karras.
    #[arg(long)]
    pub schedule: Option<String>,
    /// Langevin corrector signal-to-noise ratio, 0 to 1 (pc, annealed-langevin; default 0.16).
    #[arg(long, value_parser = limits::SNR.parser())]
    pub snr: Option<f64>,
    /// Langevin corrector steps per step, 1 to 100 (pc, annealed-langevin; default 1).
    #[arg(long, value_parser = limits::CORRECTOR_STEPS.parser())]
    pub corrector_steps: Option<usize>,
    /// DDIM's eta, 0 (deterministic) to 1 (DDPM) (ddim, dlg with --integrator ddim; default 0).
    #[arg(long, value_parser = limits::ETA.parser())]
    pub eta: Option<f64>,
    /// Relative tolerance of pf-dopri5, 1e-10 to 0.1 (default 1e-5).
    #[arg(long, value_parser = limits::TOLERANCE.parser())]
    pub rtol: Option<f64>,
    /// Absolute tolerance of pf-dopri5, 1e-10 to 0.1 (default 1e-5).
    #[arg(long, value_parser = limits::TOLERANCE.parser())]
    pub atol: Option<f64>,
    /// Order of UniPC (1 to 3; default 2) or of the MR Sampler (1 or 2; default 2).
    #[arg(long)]
    pub order: Option<usize>,
    /// EDM's S_churn, 0 to 100 (edm-heun, dlg; default 0).
    #[arg(long, value_parser = limits::CHURN.parser())]
    pub churn: Option<f64>,
    /// ULA's and MALA's step size, 1e-8 to 1 (default 0.01).
    #[arg(long, value_parser = limits::LANGEVIN_STEP.parser())]
    pub step_size: Option<f64>,
    /// The MR Sampler's log-SNR clip: it starts at the time where lambda = this (default -5).
    #[arg(long, allow_negative_numbers = true, value_parser = limits::LAMBDA_MIN.parser())]
    pub lambda_min: Option<f64>,
    /// DLG: Gibbs sweeps before integrating, 0 to 10000 (default 200).
    #[arg(long, value_parser = limits::SWEEPS.parser())]
    pub sweeps: Option<usize>,
    /// DLG: the Langevin step eta, not scaled by the noise level (default 0.1).
    #[arg(long, value_parser = limits::DLG_STEP.parser())]
    pub dlg_step: Option<f64>,
    /// DLG: the integrator from the chain's level, edm-heun (default) or ddim.
    #[arg(long)]
    pub integrator: Option<String>,
    /// DLG: take the most likely level instead of drawing it (as Denoising MCMC does).
    #[arg(long)]
    pub level_argmax: bool,
    /// The condition mu of the mean-reverting process (--process mr), as x,y (default 0,0).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub mu: Option<Vec<f64>>,
    /// Start from the exact marginal at t_max instead of the process's prior (exact mixture
    /// models only). VE's prior N(0, sigma_max^2 I) ignores the data's mean, which biases
    /// every deterministic sampler on a mixture that is not centred (docs/RESULTS.md).
    #[arg(long)]
    pub exact_prior: bool,
}

impl SamplerArgs {
    /// What a flag left out means on the command line.
    pub const DEFAULTS: SamplerOptions =
        SamplerOptions { schedule: Schedule::LogSnr, step_size: 0.01, ..SamplerOptions::DEFAULT };

    /// The flags given, by name.
    fn given(&self) -> Vec<&'static str> {
        let flags = [
            ("--schedule", self.schedule.is_some()),
            ("--snr", self.snr.is_some()),
            ("--corrector-steps", self.corrector_steps.is_some()),
            ("--eta", self.eta.is_some()),
            ("--rtol", self.rtol.is_some()),
            ("--atol", self.atol.is_some()),
            ("--order", self.order.is_some()),
            ("--churn", self.churn.is_some()),
            ("--step-size", self.step_size.is_some()),
            ("--lambda-min", self.lambda_min.is_some()),
            ("--sweeps", self.sweeps.is_some()),
            ("--dlg-step", self.dlg_step.is_some()),
            ("--integrator", self.integrator.is_some()),
            ("--level-argmax", self.level_argmax),
            ("--mu", self.mu.is_some()),
        ];
        flags.into_iter().filter(|(_, given)| *given).map(|(flag, _)| flag).collect()
    }

    /// The options for `samplers` at `nfe`. A sampler flag that none of them reads is refused.
    pub fn options(&self, nfe: usize, samplers: &[String]) -> Result<SamplerOptions, String> {
        limits::NFE.check("--nfe", nfe)?;
        for flag in self.given() {
            if !samplers.iter().any(|s| flags_read_by(s).contains(&flag)) {
                let readers: Vec<&str> = SAMPLERS
                    .iter()
                    .chain(MR_SAMPLERS.iter())
                    .copied()
                    .filter(|s| flags_read_by(s).contains(&flag))
                    .collect();
                return Err(format!(
                    "{flag} is not read by {}: it applies to {}",
                    samplers.join(", "),
                    readers.join(", ")
                ));
            }
        }
        let d = Self::DEFAULTS;
        let order = self.order.unwrap_or(d.order);
        if samplers.iter().any(|s| s == "unipc") {
            limits::UNIPC_ORDER.check("--order (unipc)", order)?;
        }
        if samplers.iter().any(|s| MR_SAMPLERS.contains(&s.as_str())) {
            limits::MRS_ORDER.check("--order (the MR Sampler)", order)?;
        }
        let mu = self.mu.clone().unwrap_or(vec![0.0, 0.0]);
        if mu.len() != 2 {
            return Err(format!("--mu takes two numbers x,y, got {} number(s)", mu.len()));
        }
        let condition = [mu[0], mu[1]];
        limits::check_point("--mu", condition)?;
        let schedule = match &self.schedule {
            Some(name) => Schedule::from_name(name).map_err(|e| format!("--schedule: {e}"))?,
            None => d.schedule,
        };
        let integrator = match &self.integrator {
            Some(name) => DlgIntegrator::from_name(name)?,
            None => d.integrator,
        };
        Ok(SamplerOptions {
            nfe,
            schedule,
            snr: self.snr.unwrap_or(d.snr),
            corrector_steps: self.corrector_steps.unwrap_or(d.corrector_steps),
            eta: self.eta.unwrap_or(d.eta),
            rtol: self.rtol.unwrap_or(d.rtol),
            atol: self.atol.unwrap_or(d.atol),
            order,
            churn: self.churn.unwrap_or(d.churn),
            step_size: self.step_size.unwrap_or(d.step_size),
            condition,
            lambda_min: self.lambda_min.unwrap_or(d.lambda_min),
            sweeps: self.sweeps.unwrap_or(d.sweeps),
            dlg_step: self.dlg_step.unwrap_or(d.dlg_step),
            integrator,
            level_argmax: self.level_argmax,
            exact_prior: self.exact_prior,
            ..d
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
    /// Model evaluations per particle, 1 to 10000.
    #[arg(long, default_value_t = 50, value_parser = limits::NFE.parser())]
    pub nfe: usize,
    #[command(flatten)]
    pub sampler_args: SamplerArgs,
    /// Number of particles, 2 to 1000000.
    #[arg(long, default_value_t = 2000, value_parser = limits::PARTICLES.parser())]
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
    #[arg(long, default_value_t = 0, value_parser = limits::TRACE.parser())]
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
    /// |sample mean - the target's exact mean| for a mixture target (a bias SWD can hide).
    pub mean_error: Option<f64>,
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
    limits::PARTICLES.check("--particles", particles)?;
    let start = Instant::now();
    if model_spec.level_model.is_some() && sampler != "dlg" {
        return Err(format!("--level-model is read by dlg only, not {sampler}: drop it or choose --sampler dlg"));
    }
    let (samples, nfe, frames) = if sampler == "exact" {
        (target.sample(particles, seed.wrapping_add(7)), 0.0, Vec::new())
    } else {
        let mut model = load_model(model_spec, target, process, options.condition)?;
        registry::find(sampler)?
            .supports(&process, &model.caps())
            .map_err(|refusal| format!("{refusal}; {}", refusal.reason.cli_advice()))?;
        let mut plan = build(sampler, process, model.param(), options)?;
        let mut inputs = Vec::new();
        if options.exact_prior {
            let mixture = match (target.mixture(), model_spec.model.as_str()) {
                (Some(mixture), "exact") => mixture,
                _ => return Err(
                    "--exact-prior needs --model exact and a mixture target: only then is the marginal at t_max known"
                        .into(),
                ),
            };
            plan = plan.with_loaded_start()?;
            let start = mixture.marginal(&process, process.t_max(), options.condition);
            inputs =
                start.sample(particles, seed.wrapping_add(29)).iter().map(|p| [p[0] as f32, p[1] as f32]).collect();
        }
        let traced = (0..traced.min(particles)).collect();
        let run = executor.run(&plan, model.as_mut(), &RunOptions { particles, seed, traced, inputs })?;
        (run.positions.iter().map(|p| [f64::from(p[0]), f64::from(p[1])]).collect(), run.nfe, run.frames)
    };
    let seconds = start.elapsed().as_secs_f64();
    let diverged = samples.iter().filter(|p| !limits::is_settled([p[0] as f32, p[1] as f32])).count();
    if diverged > 0 {
        return Err(format!(
            "{sampler}: {diverged} of {particles} particles diverged (not finite, or beyond ±{:e}): the sampler or the model is unstable here; try a larger --nfe, a smaller step or another sampler",
            limits::DIVERGED_COORDINATE
        ));
    }
    let reference = target.sample(particles, seed.wrapping_add(1));
    let swd = sliced_wasserstein(&reference, &samples, &projections(128, seed));
    let cap = particles.min(PAIRWISE_METRIC_POINTS);
    let (reference_part, sample_part) = (&reference[..cap], &samples[..cap]);
    let mmd = mmd(reference_part, sample_part, &DEFAULT_BANDWIDTHS);
    let energy = energy_distance(reference_part, sample_part);
    for (name, value) in [("SWD", swd), ("MMD", mmd), ("energy distance", energy)] {
        finite_metric(sampler, name, value)?;
    }
    let mean_error = target.mixture().map(|mixture| {
        let (truth, _) = mixture.moments();
        let n = samples.len() as f64;
        let m = [samples.iter().map(|p| p[0]).sum::<f64>() / n, samples.iter().map(|p| p[1]).sum::<f64>() / n];
        ((m[0] - truth[0]).powi(2) + (m[1] - truth[1]).powi(2)).sqrt()
    });
    Ok(SampleReport { samples, frames, nfe, seconds, swd, mmd, energy, mean_error })
}

/// A metric about to be printed must be a number: NaN and infinity never reach the output.
pub fn finite_metric(what: &str, name: &str, value: f64) -> Result<f64, String> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!(
            "{what}: the {name} came out as {value}: the data are too spread out for the metric's arithmetic; rescale the target"
        ))
    }
}

pub fn run(args: &SampleArgs) -> Result<(), String> {
    let (target, process) = args.spec.parse()?;
    let options = args.sampler_args.options(args.nfe, std::slice::from_ref(&args.sampler))?;
    if (args.trace > 0) != args.trace_out.is_some() {
        return Err("--trace N and --trace-out FILE go together".into());
    }
    let traced_points = args.trace.min(args.particles).saturating_mul(args.nfe + 1);
    if traced_points > limits::TRACE_POINTS {
        return Err(format!(
            "--trace {} at --nfe {} records about {traced_points} points, more than {}: trace fewer particles or take fewer steps",
            args.trace,
            args.nfe,
            limits::TRACE_POINTS
        ));
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
        let mut out = json!({
            "sampler": args.sampler, "nfe": report.nfe, "particles": args.particles, "seconds": report.seconds,
            "swd": report.swd, "mmd": report.mmd, "energy": report.energy, "backend": args.backend,
        });
        if let Some(e) = report.mean_error {
            out["mean_error"] = json!(e);
        }
        println!("{out}");
    } else {
        let mean = report.mean_error.map(|e| format!(", mean error {e:.4}")).unwrap_or_default();
        println!(
            "{}: {} particles, {:.1} evaluations each, {:.3} s; SWD {:.4}, MMD {:.4}, energy {:.4}{mean}",
            args.sampler, args.particles, report.nfe, report.seconds, report.swd, report.mmd, report.energy
        );
    }
    Ok(())
}

/// The samplers' list for `nde sample --help` and `nde compare --help`, from the registry.
pub fn samplers_help() -> String {
    let mut out = String::from("Samplers (or exact, which draws from the target itself):\n");
    for sampler in registry::REGISTRY.iter() {
        out.push_str(&format!("  {:<18} {} [{}]\n", sampler.name, sampler.summary, sampler.family.label()));
    }
    out.push_str(
        "mala needs --model exact; dlg needs --model exact or --level-model; mr-em and mrs-* need --process mr.\n",
    );
    out
}
