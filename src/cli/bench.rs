//! `nde bench`: model evaluations per second of an executor, on the computation the
//! benchmark peer (bench/peer_jax.py) repeats: DDIM with an eps-MLP of the given size, from
//! the prior, on `--particles` particles for `--nfe` steps. The network is the seeded random
//! initialisation: speed does not depend on the weights.

use std::time::Instant;

use clap::Args;

use crate::core::limits;
use serde_json::json;

use super::executor::Executor;
use crate::core::nn::{Mlp, MlpConfig};
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::sample::model::MlpModel;
use crate::core::sample::{build, SamplerOptions};
use crate::exec::cpu::RunOptions;
use crate::exec::gpu::op_major::{GpuPath, Precision};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: Option<BenchKind>,
    /// Executor: cpu or gpu.
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    /// Particles, 2 to 1000000.
    #[arg(long, default_value_t = 10_000, value_parser = limits::PARTICLES.parser())]
    pub particles: usize,
    /// Steps (one model evaluation each), 1 to 10000.
    #[arg(long, default_value_t = 20, value_parser = limits::NFE.parser())]
    pub nfe: usize,
    /// Hidden width, 16 to 256.
    #[arg(long, default_value_t = 128, value_parser = limits::WIDTH.parser())]
    pub width: usize,
    /// Hidden layers, 1 to 6.
    #[arg(long, default_value_t = 3, value_parser = limits::DEPTH.parser())]
    pub depth: usize,
    /// Timed runs, 1 to 100; the fastest is reported (after one untimed warm-up run).
    #[arg(long, default_value_t = 3, value_parser = limits::REPEATS.parser())]
    pub repeats: usize,
    /// The GPU's path: auto (op-major where the plan allows it), op-major or interpreter.
    #[arg(long, default_value = "auto")]
    pub gpu_path: String,
    /// The GPU's op-major evaluations in f32 or f16 (f16 needs the adapter's shader-f16).
    #[arg(long, default_value = "f32")]
    pub precision: String,
    /// Threads for the CPU executor: 0 for every core.
    #[arg(long, default_value_t = 0, value_parser = limits::THREADS.parser())]
    pub threads: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum BenchKind {
    /// Training steps per second (DSM, eps under VP, Adam and the EMA) on the eight-Gaussians data.
    Train(super::bench_train::BenchTrainArgs),
    /// The exact-divergence pass (output and 2x2 Jacobian in x) per second, at per-point times.
    Divergence(super::bench_divergence::BenchDivergenceArgs),
}

pub fn run(args: &BenchArgs) -> Result<(), String> {
    match &args.what {
        Some(BenchKind::Train(train)) => return super::bench_train::run(train),
        Some(BenchKind::Divergence(divergence)) => return super::bench_divergence::run(divergence),
        None => {}
    }
    crate::core::nn::parallel::set_max_threads(args.threads);
    let path = GpuPath::from_name(&args.gpu_path).map_err(|e| format!("--gpu-path: {e}"))?;
    let precision = Precision::from_name(&args.precision)?;
    if precision == Precision::F16 && args.backend != "gpu" {
        return Err("--precision f16 is for the GPU executor: add --backend gpu".into());
    }
    let executor = Executor::from_name(&args.backend)?.with_gpu_path(path).with_precision(precision);
    let config = MlpConfig { width: args.width, depth: args.depth, ..MlpConfig::default() };
    let mlp = Mlp::new(config, args.seed)?;
    let plan = build(
        "ddim",
        Process::vp(),
        Parameterisation::Eps,
        &SamplerOptions { nfe: args.nfe, ..SamplerOptions::default() },
    )?;
    let mut model = MlpModel::new(mlp, Parameterisation::Eps);
    // Warm-up: shader compilation and first-touch allocations stay out of the timing.
    let warm = RunOptions { particles: args.particles.min(1024), seed: args.seed, traced: vec![], inputs: vec![] };
    executor.run(&plan, &mut model, &warm)?;
    let options = RunOptions { particles: args.particles, seed: args.seed, traced: vec![], inputs: vec![] };
    let mut best = f64::INFINITY;
    let mut nfe = 0.0;
    for _ in 0..args.repeats {
        let start = Instant::now();
        let result = executor.run(&plan, &mut model, &options)?;
        best = best.min(start.elapsed().as_secs_f64());
        nfe = result.nfe;
    }
    let evals_per_s = args.particles as f64 * nfe / best;
    let gflops = evals_per_s * 2.0 * config.macs_per_eval() as f64 / 1e9;
    if args.json {
        println!(
            "{}",
            json!({
                "backend": executor.name(), "adapter": executor.adapter(),
                "gpu_path": executor.gpu_path(&plan, &model).map(GpuPath::name), "precision": precision.name(),
                "particles": args.particles, "nfe": nfe,
                "width": args.width, "depth": args.depth, "seconds": best, "evals_per_s": evals_per_s, "gflops": gflops,
                "threads": crate::core::nn::parallel::available_threads(),
                "instructions": crate::core::nn::gemm::instruction_set(),
            })
        );
    } else {
        println!(
            "{}{} ({}): {} particles x {nfe} evaluations of a {}x{} MLP in {best:.3} s: {evals_per_s:.3e} evals/s, {gflops:.2} GFLOP/s",
            executor.name(),
            executor.gpu_path(&plan, &model).map_or(String::new(), |p| format!(", {} path", p.name())),
            executor.adapter(),
            args.particles,
            args.width,
            args.depth
        );
    }
    Ok(())
}
