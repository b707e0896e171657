//! How commands print: tables for people, JSON for programs, nothing coloured off a terminal,
//! and a closed pipe (`zenreg flavor list | head`) is not an error.

use clap::ValueEnum;
use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;
use std::io::{self, IsTerminal, Write};

/// The `--output` format of listings and describes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A table sized to the terminal.
    #[default]
    Table,
    /// JSON, with stable field names.
    Json,
}

/// A table with zenreg's style: boxed and fitted to the width on a terminal, plain otherwise.
pub fn table<I, S>(header: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<comfy_table::Cell>,
{
    let mut table = Table::new();
    if io::stdout().is_terminal() {
        table.load_style(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        table.load_style(presets::NOTHING).force_no_tty();
    }
    table.set_header(header.into_iter().map(Into::into).collect::<Vec<comfy_table::Cell>>());
    table
}

/// Writes text to stdout with a final newline; a closed pipe ends output quietly.
pub fn print(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    let result = stdout
        .write_all(text.as_bytes())
        .and_then(|()| if text.ends_with('\n') { Ok(()) } else { stdout.write_all(b"\n") })
        .and_then(|()| stdout.flush());
    match result {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes `value` as pretty JSON to stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    print(&text)
}

/// Prints a table, trimming the trailing spaces the borderless style leaves.
pub fn print_table(table: &Table) -> io::Result<()> {
    let text: Vec<String> = table.lines().map(|line| line.trim_end().to_string()).collect();
    print(&text.join("\n"))
}
