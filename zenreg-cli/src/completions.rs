//! `zenreg completions SHELL` and `zenreg man [--out-dir DIR]`: a shell completion script and a roff man page,
//! generated from the clap definitions the command line is parsed with, in the running binary's
//! name (a downstream binary built on `zenreg_cli::main()` completes and documents itself).

use crate::error::Error;
use crate::output;
use clap::Args;
use clap_complete::{Generator, Shell};
use std::path::PathBuf;

/// `completions SHELL`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to write the script for.
    #[arg(value_enum)]
    shell: Shell,
}

/// Prints the completion script of `command` (named and bin-named as the binary) for a shell.
pub(crate) fn completions(args: &CompletionsArgs, command: clap::Command) -> Result<(), Error> {
    let name = command.get_bin_name().unwrap_or_else(|| command.get_name()).to_string();
    let script = match args.shell {
        Shell::Bash if name.contains('-') => bash_for_hyphenated(command, &name)?,
        shell => generate(shell, command, &name)?,
    };
    output::print(&script)?;
    Ok(())
}

fn generate(shell: Shell, mut command: clap::Command, name: &str) -> Result<String, Error> {
    command.set_bin_name(name);
    command.build();
    let mut script = Vec::new();
    shell.try_generate(&command, &mut script)?;
    Ok(String::from_utf8_lossy(&script).into_owned())
}

/// clap_complete's bash script completes no subcommand of a binary whose name has a `-`
/// (`zenreg-downstream`): its dispatch loop and its `case` arms escape the name differently
/// (clap-rs/clap#6421). The script is generated for the name with `_` instead, which both escape
/// alike (the loop matches the command word whatever its name), and registered for the real name.
fn bash_for_hyphenated(command: clap::Command, name: &str) -> Result<String, Error> {
    let stand_in = name.replace('-', "_");
    let script = generate(Shell::Bash, command, &stand_in)?;
    let registration = format!(" {stand_in}");
    let mut out = String::with_capacity(script.len() + 8);
    for line in script.lines() {
        match line.strip_suffix(&registration) {
            Some(start) if line.trim_start().starts_with("complete -F ") => {
                out.push_str(start);
                out.push(' ');
                out.push_str(name);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    Ok(out)
}

/// `man [--out-dir DIR]`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write every page (`zenreg.1`, `zenreg-container-registry.1`, `zenreg-secret-create.1`, …)
    /// into this directory, e.g. `~/.local/share/man/man1`, instead of printing the top one.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

/// Prints the man page of `command` (section 1, roff), or writes the pages of it and of every
/// subcommand into a directory (the top page refers to them by name).
pub(crate) fn man(args: &ManArgs, command: clap::Command) -> Result<(), Error> {
    if let Some(dir) = &args.out_dir {
        return clap_mangen::generate_to(command, dir).map_err(|error| {
            Error::invalid(
                format!("could not write the man pages into `{}`: {error}", dir.display()),
                Some("give a directory that exists and that you can write to".to_string()),
            )
        });
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(command).render(&mut page)?;
    output::print(&String::from_utf8_lossy(&page))?;
    Ok(())
}
