//! `nde bench divergence`: the exact-divergence pass (the network's output and its 2x2
//! Jacobian in x, forward mode) per second, the likelihood's hot path, on the computation
//! bench/peer_jax_divergence.py repeats with `jax.jvp`: `--particles` points, each at its own
//! time, through a random eps-MLP. The best of `--repeats` passes after an untimed one.

use std::time::Instant;

use clap::Args;
use serde_json::json;

use crate::core::limits;
use crate::core::nn::{gemm, parallel, Mlp, MlpConfig};
use crate::core::param::Parameterisation;
use crate::core::rng::RngStream;
use crate::core::sample::model::{MlpModel, Model};

#[derive(Args, Debug)]
pub struct BenchDivergenceArgs {
    /// Points, 2 to 1000000.
    #[arg(long, default_value_t = 10_000, value_parser = limits::PARTICLES.parser())]
    pub particles: usize,
    /// Hidden width, 16 to 256.
    #[arg(long, default_value_t = 128, value_parser = limits::WIDTH.parser())]
    pub width: usize,
    /// Hidden layers, 1 to 6.
    #[arg(long, default_value_t = 3, value_parser = limits::DEPTH.parser())]
    pub depth: usize,
    /// Timed passes, 1 to 100; the fastest is reported.
    #[arg(long, default_value_t = 5, value_parser = limits::REPEATS.parser())]
    pub repeats: usize,
    /// Threads: 0 for every core.
    #[arg(long, default_value_t = 0, value_parser = limits::THREADS.parser())]
    pub threads: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &BenchDivergenceArgs) -> Result<(), String> {
    parallel::set_max_threads(args.threads);
    let config = MlpConfig { width: args.width, depth: args.depth, ..MlpConfig::default() };
    let mut model = MlpModel::new(Mlp::new(config, args.seed)?, Parameterisation::Eps);
    let mut rng = RngStream::new(args.seed, 0x6469_7667); // stream: "divg"
    let xs: Vec<[f32; 2]> = (0..args.particles).map(|_| [rng.normal() as f32, rng.normal() as f32]).collect();
    let ts: Vec<f64> = (0..args.particles).map(|_| 1e-3 + (1.0 - 1e-3) * rng.uniform()).collect();
    let (mut out, mut jacobian) = (vec![[0.0f32; 2]; xs.len()], vec![[[0.0f32; 2]; 2]; xs.len()]);
    model.eval_with_jacobian_batch(&xs, &ts, &mut out, &mut jacobian);
    let mut best = f64::INFINITY;
    for _ in 0..args.repeats {
        let start = Instant::now();
        model.eval_with_jacobian_batch(&xs, &ts, &mut out, &mut jacobian);
        best = best.min(start.elapsed().as_secs_f64());
    }
    if jacobian.iter().flatten().flatten().any(|v| !v.is_finite()) {
        return Err("the Jacobian is not finite: report this as a bug".into());
    }
    let best = best.max(1e-9);
    let evals_per_s = args.particles as f64 / best;
    // The value and two tangents pass every layer but the first (whose tangents are rows of
    // its weights): three products in the hidden and output layers, one in the first.
    let layers = config.layers();
    let macs = 3 * config.macs_per_eval() - 2 * layers[0].inputs * layers[0].outputs;
    let gflops = evals_per_s * 2.0 * macs as f64 / 1e9;
    let threads = parallel::available_threads();
    if args.json {
        println!(
            "{}",
            json!({
                "bench": "divergence", "backend": "cpu", "particles": args.particles, "width": args.width,
                "depth": args.depth, "seconds": best, "evals_per_s": evals_per_s, "gflops": gflops,
                "threads": threads, "instructions": gemm::instruction_set(),
            })
        );
    } else {
        println!(
            "cpu ({threads} threads): output and Jacobian of a {}x{} MLP at {} points: {evals_per_s:.3e} evals/s, {gflops:.2} GFLOP/s",
            args.width, args.depth, args.particles
        );
    }
    Ok(())
}
