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

/// The `--output` option every listing and describe takes.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct OutputArg {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// Writes text to stdout with a final newline; a closed pipe ends output quietly.
pub fn print(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    let result = stdout
        .write_all(text.as_bytes())
        .and_then(|()| if text.ends_with('\n') { Ok(()) } else { stdout.write_all(b"\n") })
        .and_then(|()| stdout.flush());
    ignore_broken_pipe(result)
}

fn ignore_broken_pipe(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes `value` as pretty JSON to stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> io::Result<()> {
    let mut stdout = io::BufWriter::new(io::stdout().lock());
    let result = serde_json::to_writer_pretty(&mut stdout, value)
        .map_err(io::Error::other)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    ignore_broken_pipe(result)
}

/// Prints items as a pretty JSON array, exactly as [`print_json`] prints them collected, while
/// `produce` hands them over one at a time (so a long listing is never held twice). Nothing is
/// printed when `produce` fails.
pub fn print_json_items<T, E>(produce: impl FnOnce(&mut dyn FnMut(T)) -> Result<(), E>) -> Result<(), E>
where
    T: Serialize,
    E: From<io::Error>,
{
    use serde::ser::{SerializeSeq, Serializer};
    let mut buffer = Vec::new();
    let mut serializer = serde_json::Serializer::pretty(&mut buffer);
    let mut items = serializer.serialize_seq(None).map_err(io::Error::other)?;
    let mut failure = None;
    produce(&mut |item| {
        if failure.is_none() {
            failure = items.serialize_element(&item).err();
        }
    })?;
    if let Some(error) = failure {
        return Err(io::Error::other(error).into());
    }
    items.end().map_err(io::Error::other)?;
    buffer.push(b'\n');
    let mut stdout = io::stdout().lock();
    Ok(ignore_broken_pipe(stdout.write_all(&buffer).and_then(|()| stdout.flush()))?)
}

/// Prints rows under a header: a boxed table fitted to the width on a terminal; plain aligned
/// columns otherwise (cheap enough for tens of thousands of rows, and easy to `grep`/`awk`).
pub fn print_rows<I>(header: &[&str], rows: I) -> io::Result<()>
where
    I: IntoIterator<Item = Vec<String>>,
{
    if io::stdout().is_terminal() {
        let mut table = Table::new();
        table.load_style(presets::UTF8_FULL_CONDENSED).set_header(header.to_vec());
        // A pseudo-terminal without a size (e.g. under `script`) reports 0 columns: fitting to
        // that would squeeze every column to one character, so only fit to a real width.
        if table.width().is_some_and(|width| width >= 40) {
            table.set_content_arrangement(ContentArrangement::Dynamic);
        }
        for row in rows {
            table.add_row(row);
        }
        return print(&table.to_string());
    }
    // A multi-line cell is flattened: one record, one line. (Cells without one are moved, not
    // copied: this path prints tens of thousands of rows.)
    let flatten = |cell: String| if cell.contains('\n') { cell.replace('\n', " ") } else { cell };
    let rows: Vec<Vec<String>> = rows.into_iter().map(|row| row.into_iter().map(flatten).collect()).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line_width = widths.iter().sum::<usize>() + 2 * widths.len() + 1;
    let mut out = String::with_capacity((rows.len() + 1) * line_width);
    let mut push_line = |cells: &mut dyn Iterator<Item = &str>| {
        let start = out.len();
        for (index, cell) in cells.enumerate() {
            if index > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            let pad = widths[index].saturating_sub(cell.chars().count());
            out.extend(std::iter::repeat_n(' ', pad));
        }
        let trimmed = out[start..].trim_end().len();
        out.truncate(start + trimmed);
        out.push('\n');
    };
    push_line(&mut header.iter().copied());
    for row in &rows {
        push_line(&mut row.iter().map(String::as_str));
    }
    let mut stdout = io::stdout().lock();
    ignore_broken_pipe(stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush()))
}
