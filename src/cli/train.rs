//! `nde train`: train the MLP on a data set; progress on stderr, weights to a file.

use std::io::Write;
use std::time::Instant;

use clap::Args;

use crate::core::limits;
use serde_json::json;

use super::target::{model_meta, Target};
use crate::core::nn::{weights, Activation, Mlp, MlpConfig};
use crate::core::param::Parameterisation;
use crate::core::process::Process;
use crate::core::train::{Objective, TrainConfig, Trainer, TrainingSession, Weighting};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Data set name or gmm:FILE.json.
    #[arg(long)]
    pub target: String,
    /// Forward process: vp, subvp, ve, cosine, rf (rf trains a velocity by flow matching).
    #[arg(long)]
    pub process: String,
    /// What the network predicts: eps, x0, score or v (rf models always predict the flow velocity).
    #[arg(long, default_value = "eps")]
    pub param: String,
    /// Training steps, 1 to 1000000.
    #[arg(long, value_parser = limits::TRAIN_STEPS.parser())]
    pub steps: u64,
    /// Minibatch size, 1 to 4096.
    #[arg(long, default_value_t = 256, value_parser = limits::BATCH.parser())]
    pub batch: usize,
    /// Hidden width, 16 to 256.
    #[arg(long, default_value_t = 128, value_parser = limits::WIDTH.parser())]
    pub width: usize,
    /// Hidden layers, 1 to 6.
    #[arg(long, default_value_t = 3, value_parser = limits::DEPTH.parser())]
    pub depth: usize,
    /// silu, tanh, softplus or relu.
    #[arg(long, default_value = "silu")]
    pub activation: String,
    /// Adam's learning rate, 1e-6 to 10.
    #[arg(long, default_value_t = 1e-3, value_parser = limits::LEARNING_RATE.parser())]
    pub lr: f64,
    /// Use the likelihood weighting g^2/sigma^2 instead of the parameterisation's own loss.
    #[arg(long)]
    pub likelihood_weighting: bool,
    /// Training points drawn from the target, 2 to 1000000.
    #[arg(long, default_value_t = 20_000, value_parser = limits::DATA_POINTS.parser())]
    pub points: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the weights (JSON).
    #[arg(long)]
    pub out: String,
    /// Where training runs: cpu (threads) or gpu (the native adapter; the same draws, and
    /// weights equal to the CPU's up to f32 rounding).
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    #[arg(long)]
    pub json: bool,
}

/// The process and parameterisation, checked together (what `nde` refuses before training).
pub fn model_choice(args: &TrainArgs) -> Result<(Process, Parameterisation), String> {
    let process = Process::from_name(&args.process).map_err(|e| format!("--process: {e}"))?;
    if process.is_conditional() {
        return Err("--process mr trains on (data, condition) pairs, which the command line cannot supply yet".into());
    }
    let param = Parameterisation::from_name(&args.param).map_err(|e| format!("--param: {e}"))?;
    if param == Parameterisation::Flow && !process.is_flow() {
        return Err(format!(
            "--param flow goes with --process rf only, not {}: choose eps, x0, score or v",
            process.name()
        ));
    }
    Activation::from_name(&args.activation).map_err(|e| format!("--activation: {e}"))?;
    Ok((process, param))
}

pub fn run(args: &TrainArgs) -> Result<(), String> {
    if !["cpu", "gpu"].contains(&args.backend.as_str()) {
        return Err(format!("--backend: unknown backend '{}': choose cpu or gpu", args.backend));
    }
    let target = Target::parse(&args.target)?;
    let (process, param) = model_choice(args)?;
    let config = MlpConfig {
        width: args.width,
        depth: args.depth,
        activation: Activation::from_name(&args.activation)?,
        ..MlpConfig::default()
    };
    let mlp = Mlp::new(config, args.seed)?;
    let objective = if process.is_flow() {
        Objective::FlowMatching
    } else {
        Objective::Dsm {
            param,
            weighting: if args.likelihood_weighting { Weighting::Likelihood } else { Weighting::Default },
        }
    };
    let data = target.sample(args.points, args.seed.wrapping_add(11));
    let train = TrainConfig { batch: args.batch, learning_rate: args.lr, ema_decay: 0.999, seed: args.seed };
    let trainer = Trainer::new(mlp, process, objective, data, None, train)?;
    let start = Instant::now();
    let (ema, smoothed) =
        if args.backend == "gpu" { train_on_gpu(trainer, param, args)? } else { train_on_cpu(trainer, param, args)? };
    let seconds = start.elapsed().as_secs_f64();
    let trained = Mlp { config, params: ema };
    // A flow-matching model predicts the flow velocity, whatever --param said.
    let saved_param = if process.is_flow() { Parameterisation::Flow } else { param };
    let meta = model_meta(process, saved_param, &args.target);
    std::fs::write(&args.out, weights::save(&trained, &meta)).map_err(|e| format!("cannot write {}: {e}", args.out))?;
    let steps_per_s = args.steps as f64 / seconds;
    if args.json {
        println!(
            "{}",
            json!({ "final_loss": smoothed, "steps_per_s": steps_per_s, "seconds": seconds, "backend": args.backend })
        );
    } else {
        println!(
            "trained {} steps in {seconds:.1} s ({steps_per_s:.0} steps/s), final loss {smoothed:.4}; weights in {}",
            args.steps, args.out
        );
    }
    Ok(())
}

/// Progress on stderr, a few times a run; returns the running loss.
fn report(step: u64, steps: u64, loss: f64, smoothed: f64) -> f64 {
    let smoothed = if smoothed.is_nan() { loss } else { 0.98 * smoothed + 0.02 * loss };
    if step % (steps / 100).max(1) == 0 || step == steps {
        eprint!("\rtraining: step {step}/{steps} ({:.0}%), loss {smoothed:.4}   ", 100.0 * step as f64 / steps as f64);
        let _ = std::io::stderr().flush();
    }
    smoothed
}

/// The page's driver: its divergence rule stops a run that explodes instead of writing
/// exploded weights. Returns the EMA weights and the running loss.
fn train_on_cpu(trainer: Trainer, param: Parameterisation, args: &TrainArgs) -> Result<(Vec<f32>, f64), String> {
    let mut session = TrainingSession::new(trainer, param);
    let mut smoothed = f64::NAN;
    for step in 1..=args.steps {
        let loss = session.step().map_err(|e| format!("{e}; nde train stops here: rerun with a lower --lr"))?;
        smoothed = report(step, args.steps, loss, smoothed);
    }
    eprintln!();
    Ok((session.trainer.ema.params.clone(), smoothed))
}

/// The same steps on the native GPU (`exec::gpu::trainer`), in runs up to each checkpoint,
/// taken back into the page's driver under its rules (`TrainingSession::accept_run`): a step
/// that is not finite, or a loss that explodes, stops the run as on the CPU.
fn train_on_gpu(trainer: Trainer, param: Parameterisation, args: &TrainArgs) -> Result<(Vec<f32>, f64), String> {
    use crate::exec::gpu::trainer::{train_in_slot, TrainKernels};
    use crate::exec::gpu::GpuContext;
    let ctx = pollster::block_on(GpuContext::native())
        .map_err(|e| format!("--backend gpu: {e}; or train on the CPU with --backend cpu"))?;
    eprintln!("training on {}", ctx.describe());
    let kernels = pollster::block_on(TrainKernels::new(&ctx.device)).map_err(|e| e.to_string())?;
    let mut session = TrainingSession::new(trainer, param);
    let (mut slot, mut smoothed) = (None, f64::NAN);
    while session.steps() < args.steps {
        let first = session.steps() + 1;
        let count = (session.run_length() as u64).min(args.steps - session.steps()) as usize;
        let (done, state) =
            pollster::block_on(train_in_slot(&mut slot, &ctx.device, &ctx.queue, &kernels, &session.trainer, count))
                .map_err(|e| e.to_string())?;
        let losses = done.losses.clone();
        session
            .accept_run(&done.losses, done.refused, done.row_losses, |t| state.install(t))
            .map_err(|e| format!("{e}; nde train stops here: rerun with a lower --lr"))?;
        for (k, loss) in losses.iter().enumerate() {
            smoothed = report(first + k as u64, args.steps, *loss, smoothed);
        }
    }
    eprintln!();
    Ok((session.trainer.ema.params.clone(), smoothed))
}
