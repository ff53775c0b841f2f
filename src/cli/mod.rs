//! The `nde` command-line tool (native only). Errors go to stderr with exit status 2 and
//! say what to fix; `--json` prints exactly one JSON object on stdout.

mod bench;
mod compare;
mod executor;
mod info;
mod likelihood;
mod order;
mod sample;
mod target;
mod train;
mod train_levels;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Samplers: em, reverse-diffusion, ancestral, pc, pf-euler, pf-heun, pf-rk4, pf-dopri5,
    /// ddim, dpm-solver-1, dpm-solver-2, dpm-solver-3, dpmpp-2m, dpmpp-3m, dpmpp-2m-sde,
    /// unipc, edm-heun, ula, annealed-langevin, mala (exact models), dlg, mr-em, mrs-ode,
    /// mrs-ode-noise, mrs-sde (--process mr), or exact (draws from the target).
    Sample(sample::SampleArgs),
    /// Train the MLP on a data set and write its weights.
    Train(train::TrainArgs),
    /// Fit the convergence order of an ODE or SDE solver on a problem with a known solution.
    Order(order::OrderArgs),
    /// Quality against NFE for several samplers.
    Compare(compare::CompareArgs),
    /// Negative log-likelihood of target points along the probability-flow ODE.
    Likelihood(likelihood::LikelihoodArgs),
    /// Train the noise-level classifier that dlg uses with a trained --model (--level-model).
    TrainLevels(train_levels::TrainLevelsArgs),
    /// MLP evaluations per second of the CPU or GPU executor (DDIM with a random eps-MLP).
    Bench(bench::BenchArgs),
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
