//! `nde bench train`: training steps per second on the computation the training peer
//! (bench/peer_jax_train.py) repeats; `core::train::speed` is the computation.

use std::time::Instant;

use clap::Args;
use serde_json::json;

use crate::core::limits;
use crate::core::nn::{gemm, parallel};
use crate::core::train::speed::{bench_trainer, measure, measure_runs, TrainBench};

#[derive(Args, Debug)]
pub struct BenchTrainArgs {
    /// Where training runs: cpu (threads) or gpu (the native adapter).
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    /// Minibatch size, 1 to 4096.
    #[arg(long, default_value_t = 128, value_parser = limits::BATCH.parser())]
    pub batch: usize,
    /// Hidden width, 16 to 256.
    #[arg(long, default_value_t = 64, value_parser = limits::WIDTH.parser())]
    pub width: usize,
    /// Hidden layers, 1 to 6.
    #[arg(long, default_value_t = 3, value_parser = limits::DEPTH.parser())]
    pub depth: usize,
    /// Timed steps per run, 1 to 100000 (0.2 s or more per run gives steady figures).
    #[arg(long, default_value_t = 200, value_parser = limits::BENCH_STEPS.parser())]
    pub steps: u64,
    /// Timed runs, 1 to 100; the fastest is reported.
    #[arg(long, default_value_t = 3, value_parser = limits::REPEATS.parser())]
    pub repeats: usize,
    /// Threads: 0 for every core.
    #[arg(long, default_value_t = 0, value_parser = limits::THREADS.parser())]
    pub threads: usize,
    /// GPU only: steps submitted together before one readback, 1 to 64 (the page's runs are up
    /// to 64; 1 times each step's round trip) [default: 64].
    #[arg(long, value_parser = limits::STEPS_PER_READBACK.parser())]
    pub steps_per_readback: Option<usize>,
    /// GPU only: where each step's rows are drawn, gpu (a kernel) or host (every core, then
    /// uploaded), to see what drawing on the GPU saves [default: gpu].
    #[arg(long)]
    pub draw: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

/// Everything checked before the run.
pub fn check(args: &BenchTrainArgs) -> Result<(), String> {
    match args.backend.as_str() {
        "cpu" if args.steps_per_readback.is_some() => {
            Err("--steps-per-readback: the CPU reads nothing back; use it with --backend gpu".into())
        }
        "cpu" if args.draw.is_some() => Err("--draw: the CPU draws its rows itself; use it with --backend gpu".into()),
        "cpu" | "gpu" => match args.draw.as_deref() {
            None | Some("gpu") | Some("host") => Ok(()),
            Some(other) => Err(format!("--draw: unknown place '{other}': use gpu or host")),
        },
        other => Err(format!("--backend: unknown backend '{other}': use cpu or gpu")),
    }
}

pub fn run(args: &BenchTrainArgs) -> Result<(), String> {
    check(args)?;
    parallel::set_max_threads(args.threads);
    let bench = TrainBench {
        width: args.width,
        depth: args.depth,
        batch: args.batch,
        steps: args.steps,
        repeats: args.repeats,
        seed: args.seed,
    };
    let origin = Instant::now();
    let clock = || origin.elapsed().as_secs_f64();
    if args.backend == "gpu" {
        return run_gpu(args, &bench, &clock);
    }
    let speed = measure(&bench, &clock)?;
    let threads = parallel::available_threads();
    let instructions = gemm::instruction_set();
    if args.json {
        println!(
            "{}",
            json!({
                "bench": "train", "backend": "cpu", "batch": args.batch, "width": args.width, "depth": args.depth,
                "steps": args.steps, "seconds": speed.seconds, "steps_per_s": speed.steps_per_s,
                "samples_per_s": speed.samples_per_s, "gflops": speed.gflops, "threads": threads,
                "instructions": instructions,
            })
        );
    } else {
        println!(
            "cpu ({threads} threads, {instructions}): {}x{} MLP at batch {}: {:.1} steps/s, {:.3e} samples/s, {:.2} GFLOP/s",
            args.width, args.depth, args.batch, speed.steps_per_s, speed.samples_per_s, speed.gflops
        );
    }
    Ok(())
}

/// The same steps on the native GPU (`exec::gpu::trainer`) in runs submitted together, each
/// read back once (its losses and flags), as the page and `nde train --backend gpu` take them.
fn run_gpu(args: &BenchTrainArgs, bench: &TrainBench, clock: &dyn Fn() -> f64) -> Result<(), String> {
    use crate::exec::gpu::trainer::{GpuTrainer, MAX_STEPS_PER_RUN};
    use crate::exec::gpu::GpuContext;
    let trainer = bench_trainer(bench)?;
    let ctx = pollster::block_on(GpuContext::native())
        .map_err(|e| format!("--backend gpu: {e}; or measure the CPU with --backend cpu"))?;
    let mut gpu = pollster::block_on(GpuTrainer::new(&ctx.device, &ctx.queue, &trainer)).map_err(|e| e.to_string())?;
    let draw = args.draw.as_deref().unwrap_or("gpu");
    gpu.draw_rows_on_host(draw == "host");
    let run_length = args.steps_per_readback.unwrap_or(MAX_STEPS_PER_RUN);
    let speed = measure_runs(bench, clock, run_length, &mut |count| {
        let done = pollster::block_on(gpu.run_steps(&trainer, count)).map_err(|e| e.to_string())?;
        match done.refused {
            Some(refused) => Err(format!("the benchmark's training diverged on the GPU: {refused}")),
            None => Ok(()),
        }
    })?;
    let adapter = ctx.describe();
    if args.json {
        println!(
            "{}",
            json!({
                "bench": "train", "backend": "gpu", "adapter": adapter, "batch": args.batch, "width": args.width,
                "depth": args.depth, "steps": args.steps, "steps_per_readback": run_length, "draw": draw, "seconds": speed.seconds,
                "steps_per_s": speed.steps_per_s, "samples_per_s": speed.samples_per_s, "gflops": speed.gflops,
            })
        );
    } else {
        println!(
            "gpu ({adapter}, {run_length} steps a readback, rows drawn on the {draw}): {}x{} MLP at batch {}: {:.1} steps/s, {:.3e} samples/s, {:.2} GFLOP/s",
            args.width, args.depth, args.batch, speed.steps_per_s, speed.samples_per_s, speed.gflops
        );
    }
    Ok(())
}
