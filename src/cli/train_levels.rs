//! `nde train-levels`: train DLG's noise-level classifier on a data set, over exactly the
//! levels `nde sample --sampler dlg` will use with the same --process, --nfe and sampler options.

use std::io::Write;
use std::time::Instant;

use clap::Args;

use crate::core::limits;
use serde_json::json;

use super::sample::SamplerArgs;
use super::target::Target;
use crate::core::nn::{Activation, MlpConfig};
use crate::core::process::Process;
use crate::core::sample::dlg::dlg_levels;
use crate::core::train::level_classifier::{LevelClassifier, LevelTrainer};

#[derive(Args, Debug)]
pub struct TrainLevelsArgs {
    /// Data set name or gmm:FILE.json.
    #[arg(long)]
    pub target: String,
    /// Forward process: vp, subvp, ve or cosine.
    #[arg(long)]
    pub process: String,
    /// The dlg sampler's --nfe: with --integrator it fixes the levels.
    #[arg(long, default_value_t = 50, value_parser = limits::NFE.parser())]
    pub nfe: usize,
    #[command(flatten)]
    pub sampler_args: SamplerArgs,
    /// Training steps, 1 to 1000000.
    #[arg(long, default_value_t = 2000, value_parser = limits::TRAIN_STEPS.parser())]
    pub steps: u64,
    /// Minibatch size, 1 to 4096.
    #[arg(long, default_value_t = 256, value_parser = limits::BATCH.parser())]
    pub batch: usize,
    /// Hidden width, 16 to 256.
    #[arg(long, default_value_t = 64, value_parser = limits::WIDTH.parser())]
    pub width: usize,
    /// Hidden layers, 1 to 6.
    #[arg(long, default_value_t = 2, value_parser = limits::DEPTH.parser())]
    pub depth: usize,
    /// silu, tanh, softplus or relu.
    #[arg(long, default_value = "silu")]
    pub activation: String,
    /// Adam's learning rate, 1e-6 to 10.
    #[arg(long, default_value_t = 3e-3, value_parser = limits::LEARNING_RATE.parser())]
    pub lr: f64,
    /// Training points drawn from the target.
    #[arg(long, default_value_t = 20_000, value_parser = limits::DATA_POINTS.parser())]
    pub points: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the classifier (JSON weights with its level times).
    #[arg(long)]
    pub out: String,
    /// Where training runs: cpu or gpu (the native adapter; the same draws, and weights equal
    /// to the CPU's up to f32 rounding).
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &TrainLevelsArgs) -> Result<(), String> {
    if !["cpu", "gpu"].contains(&args.backend.as_str()) {
        return Err(format!("--backend: unknown backend '{}': choose cpu or gpu", args.backend));
    }
    let target = Target::parse(&args.target)?;
    let process = Process::from_name(&args.process).map_err(|e| format!("--process: {e}"))?;
    if process.is_conditional() || process.is_flow() {
        return Err(format!("dlg runs on vp, subvp, ve or cosine, not {}", process.name()));
    }
    let options = args.sampler_args.options(args.nfe, &["dlg".to_string()])?;
    let times = dlg_levels(&process, &options);
    let config = MlpConfig {
        width: args.width,
        depth: args.depth,
        activation: Activation::from_name(&args.activation)?,
        ..MlpConfig::default()
    };
    let classifier = LevelClassifier::new(config, times.clone(), &process, args.seed)?;
    let data = target.sample(args.points, args.seed.wrapping_add(13));
    let mut trainer = LevelTrainer::new(classifier, process, data, args.batch, args.lr, args.seed)?;
    let start = Instant::now();
    let smoothed =
        if args.backend == "gpu" { train_on_gpu(&mut trainer, args)? } else { train_on_cpu(&mut trainer, args)? };
    eprintln!();
    let seconds = start.elapsed().as_secs_f64();
    let meta = [("target".to_string(), args.target.clone())].into_iter().collect();
    std::fs::write(&args.out, trainer.classifier.save(&meta)).map_err(|e| format!("cannot write {}: {e}", args.out))?;
    // A classifier that knows nothing scores log K: report it so a user can judge the fit.
    let chance = (times.len() as f64).ln();
    if args.json {
        println!(
            "{}",
            json!({ "final_loss": smoothed, "chance_loss": chance, "levels": times.len(), "seconds": seconds, "backend": args.backend })
        );
    } else {
        println!(
            "trained a {}-level classifier in {seconds:.1} s: cross-entropy {smoothed:.4} (chance {chance:.4}); written to {}",
            times.len(),
            args.out
        );
    }
    Ok(())
}

/// Progress on stderr, a few times a run; returns the running cross-entropy.
fn report(step: u64, steps: u64, loss: f64, smoothed: f64) -> f64 {
    let smoothed = if smoothed.is_nan() { loss } else { 0.98 * smoothed + 0.02 * loss };
    if step % (steps / 100).max(1) == 0 || step == steps {
        eprint!("\rtraining the level classifier: step {step}/{steps}, cross-entropy {smoothed:.4}   ");
        let _ = std::io::stderr().flush();
    }
    smoothed
}

fn train_on_cpu(trainer: &mut LevelTrainer, args: &TrainLevelsArgs) -> Result<f64, String> {
    let mut smoothed = f64::NAN;
    for step in 1..=args.steps {
        smoothed = report(step, args.steps, trainer.step()?, smoothed);
    }
    Ok(smoothed)
}

/// The same steps on the native GPU (`exec::gpu::trainer`, the cross-entropy row loss), in runs
/// of up to `MAX_STEPS_PER_RUN` with one readback each; a step that is not finite stops the run
/// there, as on the CPU. The trained weights go back into `trainer`'s classifier.
fn train_on_gpu(trainer: &mut LevelTrainer, args: &TrainLevelsArgs) -> Result<f64, String> {
    use crate::exec::gpu::trainer::{GpuTrainer, MAX_STEPS_PER_RUN};
    use crate::exec::gpu::GpuContext;
    let ctx = pollster::block_on(GpuContext::native())
        .map_err(|e| format!("--backend gpu: {e}; or train on the CPU with --backend cpu"))?;
    eprintln!("training on {}", ctx.describe());
    let mut gpu = pollster::block_on(GpuTrainer::new(&ctx.device, &ctx.queue, &*trainer)).map_err(|e| e.to_string())?;
    let mut smoothed = f64::NAN;
    while gpu.steps() < args.steps {
        let first = gpu.steps() + 1;
        let count = (args.steps - gpu.steps()).min(MAX_STEPS_PER_RUN as u64) as usize;
        let done = pollster::block_on(gpu.run_steps(&*trainer, count)).map_err(|e| e.to_string())?;
        for (k, loss) in done.losses.iter().enumerate() {
            smoothed = report(first + k as u64, args.steps, *loss, smoothed);
        }
        if let Some(refused) = done.refused {
            return Err(format!("{refused}; nde train-levels stops here: rerun with a lower --lr"));
        }
    }
    let (weights, _) = pollster::block_on(gpu.weights()).map_err(|e| e.to_string())?;
    trainer.classifier.mlp.params = weights;
    Ok(smoothed)
}
