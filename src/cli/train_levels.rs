//! `nde train-levels`: train DLG's noise-level classifier on a data set, over exactly the
//! levels `nde sample --sampler dlg` will use with the same --process, --nfe and sampler options.

use std::io::Write;
use std::time::Instant;

use clap::Args;
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
    #[arg(long, default_value_t = 50)]
    pub nfe: usize,
    #[command(flatten)]
    pub sampler_args: SamplerArgs,
    #[arg(long, default_value_t = 2000)]
    pub steps: u64,
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    #[arg(long, default_value_t = 64)]
    pub width: usize,
    #[arg(long, default_value_t = 2)]
    pub depth: usize,
    /// silu, tanh, softplus or relu.
    #[arg(long, default_value = "silu")]
    pub activation: String,
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// Training points drawn from the target.
    #[arg(long, default_value_t = 20_000)]
    pub points: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the classifier (JSON weights with its level times).
    #[arg(long)]
    pub out: String,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &TrainLevelsArgs) -> Result<(), String> {
    let target = Target::parse(&args.target)?;
    let process = Process::from_name(&args.process)?;
    if process.is_conditional() || process.is_flow() {
        return Err(format!("dlg runs on vp, subvp, ve or cosine, not {}", process.name()));
    }
    if args.steps == 0 || args.batch == 0 || args.points == 0 || args.nfe == 0 {
        return Err("--steps, --batch, --points and --nfe must be at least 1".into());
    }
    if !(args.lr.is_finite() && args.lr > 0.0 && args.lr < 1.0) {
        return Err(format!("--lr must be in (0, 1), got {}", args.lr));
    }
    let options = args.sampler_args.options(args.nfe)?;
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
    let mut smoothed = f64::NAN;
    let report_every = (args.steps / 100).max(1);
    for step in 1..=args.steps {
        let loss = trainer.step()?;
        smoothed = if smoothed.is_nan() { loss } else { 0.98 * smoothed + 0.02 * loss };
        if step % report_every == 0 || step == args.steps {
            eprint!("\rtraining the level classifier: step {step}/{}, cross-entropy {smoothed:.4}   ", args.steps);
            let _ = std::io::stderr().flush();
        }
    }
    eprintln!();
    let seconds = start.elapsed().as_secs_f64();
    let meta = [("target".to_string(), args.target.clone())].into_iter().collect();
    std::fs::write(&args.out, trainer.classifier.save(&meta)).map_err(|e| format!("cannot write {}: {e}", args.out))?;
    // A classifier that knows nothing scores log K: report it so a user can judge the fit.
    let chance = (times.len() as f64).ln();
    if args.json {
        println!(
            "{}",
            json!({ "final_loss": smoothed, "chance_loss": chance, "levels": times.len(), "seconds": seconds })
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
