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

pub mod args;
mod component;
mod flavor;
pub mod output;
#[cfg(feature = "docker")]
mod push;
mod secret;

use crate::client::Client;
use crate::error::Error;
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// zenreg: container-registry flavors, components and pushes.
#[derive(Debug, Parser)]
#[command(name = "zenreg", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The store file [default: $ZENREG_HOME/zenreg.db, else the platform's config directory].
    #[arg(long, global = true, env = "ZENREG_STORE", value_name = "PATH")]
    store: Option<PathBuf>,
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
    /// Manage secrets (registry credentials and values that configs reference).
    #[command(subcommand)]
    Secret(secret::SecretCommand),
}

#[derive(Debug, Subcommand)]
enum ContainerRegistryCommand {
    /// List and describe the container-registry flavors linked into this binary.
    #[command(subcommand)]
    Flavor(flavor::FlavorCommand),
    #[command(flatten)]
    Component(component::ComponentCommand),
    /// Push a local image through a registered container registry and print its digest.
    #[cfg(feature = "docker")]
    Push(push::PushArgs),
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
            if error.is_usage() { ExitCode::from(2) } else { ExitCode::FAILURE }
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    let open = || match &cli.store {
        Some(path) => Client::open(path),
        None => Client::open_default(),
    };
    match cli.command {
        Command::Flavor(command) | Command::ContainerRegistry(ContainerRegistryCommand::Flavor(command)) => {
            flavor::run(command)
        }
        Command::ContainerRegistry(ContainerRegistryCommand::Component(command)) => {
            component::run(command, &mut open()?)
        }
        #[cfg(feature = "docker")]
        Command::ContainerRegistry(ContainerRegistryCommand::Push(args)) => push::run(args, &open()?),
        Command::Secret(command) => secret::run(command, &mut open()?),
    }
}

/// Prints an error as `error: …` and, when known, `hint: …`, to stderr.
pub fn report(error: &Error) {
    eprintln!("error: {error}");
    if let Some(hint) = error.hint() {
        eprintln!("hint: {hint}");
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// clap checks its own definition (duplicate short options, …) only when a command runs;
    /// this runs the checks for every subcommand at once.
    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
