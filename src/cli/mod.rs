//! The `nde` command-line tool (native only). Errors go to stderr with exit status 2 and
//! say what to fix; `--json` prints exactly one JSON object on stdout.

mod bench;
mod bench_divergence;
mod bench_train;
mod compare;
mod executor;
mod files;
mod info;
mod lab;
mod lab_deq;
mod lab_inverse;
mod lab_inverse_class;
mod lab_inverse_restore;
mod lab_ncde;
mod lab_node;
mod lab_nsde;
mod lab_odice;
mod lab_symreg;
mod likelihood;
mod order;
mod sample;
mod target;
mod train;
mod train_levels;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::core::limits;

#[derive(Parser, Debug)]
#[command(
    name = "nde",
    version,
    about = "NDE Playground on the command line: reproducible diffusion and neural-DE experiments",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Version, the GPU adapter found natively (or none, and why), and the build's features.
    Info(info::InfoArgs),
    /// Sample with one sampler and score the samples (SWD, MMD, energy) against the target.
    #[command(after_help = sample::samplers_help())]
    Sample(sample::SampleArgs),
    /// Train the MLP on a data set and write its weights.
    Train(train::TrainArgs),
    /// Fit the convergence order of an ODE or SDE solver on a problem with a known solution.
    Order(order::OrderArgs),
    /// Quality against NFE for several samplers.
    #[command(after_help = sample::samplers_help())]
    Compare(compare::CompareArgs),
    /// Negative log-likelihood of target points along the probability-flow ODE.
    Likelihood(likelihood::LikelihoodArgs),
    /// Train the noise-level classifier that dlg uses with a trained --model (--level-model).
    TrainLevels(train_levels::TrainLevelsArgs),
    /// MLP evaluations per second of the CPU or GPU executor (DDIM with a random eps-MLP);
    /// `nde bench train`: training steps per second; `nde bench divergence`: the likelihood's
    /// exact-divergence pass per second.
    Bench(bench::BenchArgs),
    /// The labs: `nde lab <lab> <verb> ... --json` (node: train, gradients, data).
    Lab(lab::LabArgs),
}

/// Everything `nde` checks before the long computation starts (arguments, targets named by
/// name, sampler options and plans), without running it or reading files: what the fuzz layer
/// calls on every argument list clap accepts.
pub fn check(cli: &Cli) -> Result<(), String> {
    use crate::core::param::Parameterisation;
    use crate::core::sample::build;
    let by_name =
        |target: &str| if target.starts_with("gmm:") { Ok(()) } else { target::Target::parse(target).map(|_| ()) };
    match &cli.command {
        Command::Sample(args) => {
            by_name(&args.spec.target)?;
            let process =
                crate::core::process::Process::from_name(&args.spec.process).map_err(|e| format!("--process: {e}"))?;
            let options = args.sampler_args.options(args.nfe, std::slice::from_ref(&args.sampler))?;
            if args.sampler != "exact" {
                build(&args.sampler, process, Parameterisation::Score, &options)?;
            }
            executor::Executor::check_name(&args.backend)
        }
        Command::Compare(args) => {
            by_name(&args.spec.target)?;
            let process =
                crate::core::process::Process::from_name(&args.spec.process).map_err(|e| format!("--process: {e}"))?;
            limits::COMPARE_SAMPLERS.check("the number of --samplers", args.samplers.len())?;
            limits::COMPARE_BUDGETS.check("the number of --nfe budgets", args.nfe_list.len())?;
            for sampler in &args.samplers {
                for &nfe in &args.nfe_list {
                    build(sampler, process, Parameterisation::Score, &args.sampler_args.options(nfe, &args.samplers)?)?;
                }
            }
            executor::Executor::check_name(&args.backend)
        }
        Command::Train(args) => {
            by_name(&args.target)?;
            train::model_choice(args).map(|_| ())
        }
        Command::TrainLevels(args) => {
            by_name(&args.target)?;
            args.sampler_args.options(args.nfe, &["dlg".to_string()]).map(|_| ())
        }
        Command::Likelihood(args) => {
            by_name(&args.spec.target)?;
            crate::core::process::Process::from_name(&args.spec.process).map_err(|e| format!("--process: {e}"))?;
            executor::Executor::check_name(&args.backend)
        }
        Command::Bench(args) => match &args.what {
            Some(bench::BenchKind::Train(train)) => bench_train::check(train),
            Some(bench::BenchKind::Divergence(_)) => Ok(()),
            None => executor::Executor::check_name(&args.backend),
        },
        Command::Lab(args) => lab::check(args),
        Command::Order(_) | Command::Info(_) => Ok(()),
    }
}

/// Parses the arguments and runs the command. clap prints usage errors itself, with status 2.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info(args) => info::run(&args),
        Command::Sample(args) => sample::run(&args),
        Command::Train(args) => train::run(&args),
        Command::TrainLevels(args) => train_levels::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Order(args) => order::run(&args),
        Command::Compare(args) => compare::run(&args),
        Command::Likelihood(args) => likelihood::run(&args),
        Command::Lab(args) => lab::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
