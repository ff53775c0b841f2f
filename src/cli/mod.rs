//! The `nde` command-line tool (native only). Errors go to stderr with exit status 2 and
//! say what to fix; `--json` prints exactly one JSON object on stdout.

mod info;

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
}

/// Parses the arguments and runs the command. clap prints usage errors itself, with status 2.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info(args) => info::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
