//! The built-in commands (`zenreg flavor …`, `zenreg container-registry …`), as a library so
//! every binary that links zenreg-core offers the same commands over the flavors it links.
//!
//! A downstream binary is three lines:
//!
//! ```no_run
//! use zenreg_aws_config as _; // link every flavor crate you want listed
//! fn main() -> std::process::ExitCode {
//!     zenreg_core::cli::main()
//! }
//! # mod zenreg_aws_config {}
//! ```
//!
//! Conventions: data on stdout, messages on stderr; `--output json` on every listing and
//! describe; errors are `error: …` plus a `hint: …` line; exit codes 0 success, 1 failure,
//! 2 usage.

mod flavor;
pub mod output;

use crate::error::Error;
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::process::ExitCode;

/// zenreg: container-registry flavors, components and pushes.
#[derive(Debug, Parser)]
#[command(name = "zenreg", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List and describe the flavors linked into this binary.
    #[command(subcommand)]
    Flavor(flavor::FlavorCommand),
    /// Manage container registries.
    #[command(subcommand, name = "container-registry")]
    ContainerRegistry(ContainerRegistryCommand),
}

#[derive(Debug, Subcommand)]
enum ContainerRegistryCommand {
    /// List and describe the container-registry flavors linked into this binary.
    #[command(subcommand)]
    Flavor(flavor::FlavorCommand),
}

/// Runs the built-in commands with the process's arguments and returns the exit code.
pub fn main() -> ExitCode {
    main_from(std::env::args_os())
}

/// Runs the built-in commands with the given arguments (the first is the program name).
pub fn main_from<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            // clap prints help and version to stdout with code 0, usage errors with code 2.
            let _ = error.print();
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report(&error);
            ExitCode::FAILURE
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Flavor(command) | Command::ContainerRegistry(ContainerRegistryCommand::Flavor(command)) => {
            flavor::run(command)
        }
    }
}

/// Prints an error as `error: …` and, when known, `hint: …`, to stderr.
pub fn report(error: &Error) {
    eprintln!("error: {error}");
    if let Some(hint) = error.hint() {
        eprintln!("hint: {hint}");
    }
}
