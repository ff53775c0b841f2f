//! `nde bench`: model evaluations per second of an executor, on the computation the
//! benchmark peer (bench/peer_jax.py) repeats: DDIM with an eps-MLP of the given size, from
//! the prior, on `--particles` particles for `--nfe` steps. The network is the seeded random
//! initialisation: speed does not depend on the weights.

use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::executor::Executor;
use crate::core::nn::{Mlp, MlpConfig};
use crate::core::process::Process;
use crate::core::sample::model::MlpModel;
use crate::core::sample::{build, SamplerOptions};
use crate::core::train::objective::Parameterisation;
use crate::exec::cpu::RunOptions;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Executor: cpu or gpu.
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    #[arg(long, default_value_t = 10_000)]
    pub particles: usize,
    /// Steps (one model evaluation each).
    #[arg(long, default_value_t = 20)]
    pub nfe: usize,
    #[arg(long, default_value_t = 128)]
    pub width: usize,
    #[arg(long, default_value_t = 3)]
    pub depth: usize,
    /// Timed runs; the fastest is reported (after one untimed warm-up run).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &BenchArgs) -> Result<(), String> {
    if !(1..=10_000_000).contains(&args.particles) || args.nfe == 0 || args.repeats == 0 {
        return Err("--particles must be 1 to 10000000, --nfe and --repeats at least 1".into());
    }
    let executor = Executor::from_name(&args.backend)?;
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
                "backend": executor.name(), "adapter": executor.adapter(), "particles": args.particles, "nfe": nfe,
                "width": args.width, "depth": args.depth, "seconds": best, "evals_per_s": evals_per_s, "gflops": gflops,
            })
        );
    } else {
        println!(
            "{} ({}): {} particles x {nfe} evaluations of a {}x{} MLP in {best:.3} s: {evals_per_s:.3e} evals/s, {gflops:.2} GFLOP/s",
            executor.name(),
            executor.adapter(),
            args.particles,
            args.width,
            args.depth
        );
    }
    Ok(())
}
