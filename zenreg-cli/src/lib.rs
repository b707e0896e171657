//! zenreg-cli: every built-in command (`zenreg flavor …`, `zenreg container-registry …`,
//! `zenreg secret …`) as a library, so any binary offers the same commands over the flavors it
//! links, and the `zenreg` binary itself.
//!
//! A downstream binary is a few lines:
//!
//! ```no_run
//! use zenreg_aws_config as _; // link every flavor crate you want listed
//! fn main() -> std::process::ExitCode {
//!     zenreg_cli::main()
//! }
//! # mod zenreg_aws_config {}
//! ```
//!
//! This crate owns every word users read: messages, hints (spelled with the running binary's
//! name, see [`program`]), tables and JSON. The layers below ([`zenreg_core`], [`zenreg_store`],
//! [`zenreg_push`]) report errors as data and [`Error`] wraps them.
//!
//! Conventions: data on stdout, messages on stderr; `--output json` on every listing and
//! describe; errors are `error: …` plus a `hint: …` line; exit codes 0 success, 1 failure,
//! 2 usage.
//!
//! Modules depend on each other in one direction: `program` ← `error` ← `args`, `output` ←
//! `flavor_check`, `flavor_init`, `flavor_register` ← `component`, `flavor`, `push`, `secret` ←
//! the crate root.

pub mod args;
mod component;
pub mod error;
mod flavor;
mod flavor_check;
mod flavor_init;
mod flavor_register;
pub mod output;
mod program;
mod push;
mod secret;

pub use error::Error;
pub use program::program;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use zenreg_store::Client;

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
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    program::set_from_arg0(args.first().map(OsString::as_os_str));
    let name = program();
    let parsed = Cli::command()
        .name(name)
        .bin_name(name)
        .try_get_matches_from(args)
        .and_then(|mut matches| Cli::from_arg_matches_mut(&mut matches));
    let cli = match parsed {
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
    let open = || -> Result<Client, Error> {
        Ok(match &cli.store {
            Some(path) => Client::open(path)?,
            None => Client::open_default()?,
        })
    };
    match cli.command {
        Command::Flavor(command) | Command::ContainerRegistry(ContainerRegistryCommand::Flavor(command)) => {
            flavor::run(command)
        }
        Command::ContainerRegistry(ContainerRegistryCommand::Component(command)) => {
            component::run(command, &mut open()?)
        }
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
