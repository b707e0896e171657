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
//! `completions`, `flavor_check`, `flavor_init`, `flavor_register` ← `component`, `flavor`,
//! `image`, `push`, `store` ← `secret` ← the crate root.

// Data from users, the store, the network and the environment never panics the program: no
// unwrap, expect or unchecked indexing outside tests (issue 10); exceptions carry a comment.
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::print_stderr,
        clippy::print_stdout
    )
)]

/// `eprintln!` that cannot panic: one escaped line to stderr through [`output::say`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::say(&format!($($arg)*))
    };
}

pub mod args;
mod completions;
mod component;
pub mod error;
mod flavor;
mod flavor_check;
mod flavor_init;
mod flavor_register;
mod image;
mod log;
pub mod output;
mod program;
mod push;
mod secret;
mod store;

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
    /// The store: a file (the embedded store) or a team store's `postgresql://USER@HOST[:PORT]/DB`
    /// URL [default: $ZENREG_STORE, else $ZENREG_HOME/zenreg.db, else the platform's config
    /// directory]. (An empty ZENREG_STORE counts as unset.) Secret values are encrypted with
    /// $ZENREG_SECRETS_KEY, else the key file beside a store file or $ZENREG_SECRETS_KEY_FILE.
    #[arg(long, global = true, value_name = "PATH|URL")]
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
    /// Copy, tag, list, inspect and delete images in the registered registries, and build
    /// multi-platform indexes.
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Manage secrets (registry credentials and values that configs reference).
    #[command(subcommand)]
    Secret(secret::SecretCommand),
    /// Look at the store, or copy one store into another (a laptop's file into the team's
    /// PostgreSQL database).
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell) for this binary.
    Completions(completions::CompletionsArgs),
    /// Print this binary's man page (roff), or write every command's page into a directory.
    Man(completions::ManArgs),
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
///
/// `ZENREG_LOG` turns on the diagnostic log on stderr (see the README).
pub fn main() -> ExitCode {
    if let Err(error) = log::init() {
        report(&error);
        return ExitCode::from(2);
    }
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
    let parsed = command().try_get_matches_from(&args).and_then(|mut matches| Cli::from_arg_matches_mut(&mut matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(error) => return clap_error(&error, &args),
    };
    let code = match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report(&error);
            if error.is_usage() { ExitCode::from(2) } else { ExitCode::FAILURE }
        }
    };
    // A message that could not be written (stderr on a full device) fails a successful command:
    // the user was not told what happened.
    if output::stderr_failed() && code == ExitCode::SUCCESS { ExitCode::FAILURE } else { code }
}

/// The command line's clap definition, in the running binary's name (see [`program`]).
fn command() -> clap::Command {
    Cli::command().name(program()).bin_name(program())
}

/// Shows one of clap's own outcomes the way every other error is shown: `--help` and
/// `--version` on stdout with code 0; anything else as one `error:` line and one `hint:` line
/// (clap's suggestion, or the command's usage) with code 2. A missing subcommand (`zenreg`,
/// `zenreg secret`) is such an error, naming the commands there are.
fn clap_error(error: &clap::Error, args: &[OsString]) -> ExitCode {
    use clap::error::ErrorKind;
    let rendered = error.render().to_string();
    if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        return match output::print(&rendered) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    let lines: Vec<&str> = rendered.lines().map(str::trim).collect();
    let usage = lines.iter().find_map(|l| l.strip_prefix("Usage: ")).map(|u| u.trim().to_string());
    let missing_command =
        matches!(error.kind(), ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand);
    let (message, hint) = if missing_command {
        let command = usage.as_deref().map_or_else(
            || program().to_string(),
            |u| u.split_whitespace().take_while(|w| !w.starts_with(['[', '<'])).collect::<Vec<_>>().join(" "),
        );
        let commands = subcommands_of(&command);
        (
            format!("`{command}` needs a command: {}", commands.join(", ")),
            Some(format!("run `{command} --help` to see what each one does")),
        )
    } else {
        let mut message =
            lines.first().map_or_else(|| error.kind().to_string(), |l| l.trim_start_matches("error: ").to_string());
        if let Some(values) = lines.iter().find(|l| l.starts_with("[possible values: ")) {
            message = format!("{message} {values}");
        }
        // clap may give several tips; a suggested spelling is the one worth the single hint line,
        // and clap writes it first (its `SuggestedSubcommand`/`Arg`/`Value` context before any
        // other `Suggested` tip), so the first tip is it when there is one.
        let tip = lines.iter().find_map(|l| l.strip_prefix("tip: ")).map(ToString::to_string);
        let help = || format!("run `{} --help` for usage", command_path(args));
        (message, tip.or_else(|| usage.map(|u| format!("usage: {u}"))).or_else(|| Some(help())))
    };
    output::say(&format!("error: {message}"));
    if let Some(hint) = hint {
        output::say(&format!("hint: {hint}"));
    }
    ExitCode::from(2)
}

/// `zenreg a b` for the subcommands named at the start of `args` (after the program name).
fn command_path(args: &[OsString]) -> String {
    let mut path = vec![program().to_string()];
    let mut command = Cli::command();
    for arg in args.iter().skip(1).filter_map(|a| a.to_str()) {
        match command.find_subcommand(arg) {
            Some(sub) => {
                path.push(arg.to_string());
                command = sub.clone();
            }
            None if arg.starts_with('-') => {}
            None => break,
        }
    }
    path.join(" ")
}

/// The subcommands of `zenreg a b` (given as `zenreg a b`, the binary first).
fn subcommands_of(command_line: &str) -> Vec<String> {
    let mut command = Cli::command();
    for word in command_line.split_whitespace().skip(1) {
        match command.find_subcommand(word) {
            Some(sub) => command = sub.clone(),
            None => break,
        }
    }
    command.get_subcommands().filter(|c| c.get_name() != "help").map(|c| c.get_name().to_string()).collect()
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
        Command::Image(command) => image::run(command, &open()?),
        Command::Secret(command) => secret::run(command, &mut open()?),
        Command::Store(command) => store::run(command, open),
        Command::Completions(args) => completions::completions(&args, command()),
        Command::Man(args) => completions::man(&args, command()),
    }
}

/// Prints an error as `error: …` and, when known, `hint: …`, to stderr, escaped and cut to one
/// line each (see [`output::say`]).
pub fn report(error: &Error) {
    output::say(&format!("error: {error}"));
    if let Some(hint) = error.hint() {
        output::say(&format!("hint: {hint}"));
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
