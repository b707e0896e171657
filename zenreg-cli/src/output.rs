//! How commands print: tables for people, JSON for programs, nothing coloured off a terminal,
//! and a closed pipe (`zenreg flavor list | head`) is not an error. Messages go to stderr
//! through [`say`], which never panics (unlike `eprintln!` on a full device): a failed write is
//! remembered and turns the exit code into 1. Text from users or the store is shown through
//! [`escape`], so that no control character reaches the terminal.

use clap::ValueEnum;
use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;
use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use unicode_width::UnicodeWidthStr;

/// Set when a message could not be written to stderr.
static STDERR_FAILED: AtomicBool = AtomicBool::new(false);

/// The longest message line shown; longer ones (a 1 MiB value echoed by a validation error)
/// are cut with an ellipsis.
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// Writes one message line to stderr, escaped and cut to [`MAX_MESSAGE_CHARS`]. Never panics: a
/// failed write (a full device, a closed pipe) is remembered for [`stderr_failed`].
pub fn say(line: &str) {
    let text = shorten(&escape(line), MAX_MESSAGE_CHARS).into_owned() + "\n";
    write_stderr(text.as_bytes());
}

/// Writes a prompt (no newline) to stderr; see [`say`].
pub fn prompt(text: &str) {
    write_stderr(escape(text).as_bytes());
}

fn write_stderr(bytes: &[u8]) {
    let mut stderr = io::stderr().lock();
    if stderr.write_all(bytes).and_then(|()| stderr.flush()).is_err() {
        STDERR_FAILED.store(true, Ordering::Relaxed);
    }
}

/// Whether a message could not be written to stderr during this run.
pub fn stderr_failed() -> bool {
    STDERR_FAILED.load(Ordering::Relaxed)
}

/// `text` with every character a terminal would interpret (control characters, and invisible
/// ones that reorder or hide text) written as an escape: `\n`, `\t`, `\r`, `\e`, `\u{202e}`.
/// Backslashes are left alone: only what cannot be seen is changed.
pub fn escape(text: &str) -> Cow<'_, str> {
    // Printable ASCII, nearly every cell, needs no escape: checked a byte at a time.
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) || text.chars().all(zenreg_store::is_name_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            c if zenreg_store::is_name_char(c) => out.push(c),
            c => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        }
    }
    Cow::Owned(out)
}

/// `rows` under `header` in columns two spaces apart, each as wide as its widest cell, without
/// trailing blanks. This path prints tens of thousands of rows: the text is built in one buffer
/// sized up front, and padding is copied from a run of spaces.
fn aligned_columns<R: AsRef<[String]>>(header: &[&str], rows: &[R]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| text_width(h)).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row.as_ref()) {
            *width = (*width).max(text_width(cell));
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
            let mut pad = widths.get(index).copied().unwrap_or_default().saturating_sub(text_width(cell));
            while pad > 0 {
                let run = pad.min(SPACES.len());
                out.push_str(SPACES.get(..run).unwrap_or_default());
                pad -= run;
            }
        }
        let trimmed = out.get(start..).map_or(0, |line| line.trim_end().len());
        out.truncate(start + trimmed);
        out.push('\n');
    };
    push_line(&mut header.iter().copied());
    for row in rows {
        push_line(&mut row.as_ref().iter().map(String::as_str));
    }
    out
}

/// Padding for aligned columns, copied a run at a time.
const SPACES: &str = "                                                                ";

/// The width of a cell in terminal columns: CJK characters and most emoji take two, combining
/// marks none (ASCII text, nearly every cell, is its length). The boxed table on a terminal
/// measures cells the same way (comfy-table uses `unicode-width` too).
fn text_width(text: &str) -> usize {
    if text.is_ascii() { text.len() } else { UnicodeWidthStr::width(text) }
}

/// `text` cut to `max` characters, an ellipsis marking the cut.
pub fn shorten(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}…", text.get(..end).unwrap_or_default())),
    }
}

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
pub fn print_rows<I, R>(header: &[&str], rows: I) -> io::Result<()>
where
    I: IntoIterator<Item = R>,
    R: AsMut<[String]> + AsRef<[String]>,
{
    // Cells hold names, labels and values as stored: a value may hold escape sequences. They
    // are escaped in place, so a cell that needs none (nearly all) is neither copied nor moved.
    let rows = rows.into_iter().map(|mut row| {
        for cell in row.as_mut() {
            if let Cow::Owned(escaped) = escape(cell) {
                *cell = escaped;
            }
        }
        row
    });
    if io::stdout().is_terminal() {
        let mut table = Table::new();
        table.load_style(presets::UTF8_FULL_CONDENSED).set_header(header.to_vec());
        // A pseudo-terminal without a size (e.g. under `script`) reports 0 columns: fitting to
        // that would squeeze every column to one character, so only fit to a real width.
        if table.width().is_some_and(|width| width >= 40) {
            table.set_content_arrangement(ContentArrangement::Dynamic);
        }
        for row in rows {
            table.add_row(row.as_ref());
        }
        return print(&table.to_string());
    }
    // Cells are escaped above, so each record is one line.
    let rows: Vec<R> = rows.collect();
    let out = aligned_columns(header, &rows);
    drop(rows);
    let mut stdout = io::stdout().lock();
    ignore_broken_pipe(stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn columns_are_as_wide_as_their_widest_cell_in_terminal_columns() {
        let rows = [row(&["zürich", "a"]), row(&["x", "b=c,d=e"])];
        assert_eq!(aligned_columns(&["NAME", "LABELS"], &rows), "NAME    LABELS\nzürich  a\nx       b=c,d=e\n");
    }

    #[test]
    fn cjk_and_emoji_cells_take_two_columns_a_character() {
        // 東京 is 2 characters and 4 columns; 🚀 is 1 character and 2 columns.
        let rows = [row(&["東京", "team=🚀", "default"]), row(&["ecr", "x=y", "aws"])];
        let text = aligned_columns(&["NAME", "LABELS", "FLAVOR"], &rows);
        assert_eq!(text, "NAME  LABELS   FLAVOR\n東京  team=🚀  default\necr   x=y      aws\n");
        // Every line puts the last column at the same terminal column.
        let starts: Vec<usize> =
            text.lines().map(|line| text_width(line) - text_width(line.rsplit("  ").next().unwrap())).collect();
        assert_eq!(starts, [15, 15, 15]);
        assert_eq!(text_width("東京"), 4);
        assert_eq!(text_width("🚀"), 2);
        assert_eq!(text_width("e\u{301}"), 1);
    }

    #[test]
    fn padding_longer_than_one_run_of_spaces_and_empty_last_cells_leave_no_trailing_blanks() {
        let long = "n".repeat(SPACES.len() * 2 + 3);
        let rows = [row(&[&long, "v"]), row(&["", ""])];
        let text = aligned_columns(&["K", "V"], &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines, [format!("K{}  V", " ".repeat(long.len() - 1)), format!("{long}  v"), String::new()]);
    }

    #[test]
    fn printable_ascii_is_kept_as_it_is_and_invisible_characters_are_escaped() {
        assert!(matches!(escape("ghcr.io/org:5000 a=b,c"), Cow::Borrowed(_)));
        assert!(matches!(escape("zürich 東京"), Cow::Borrowed(_)));
        assert_eq!(escape("a\tb\u{1b}[31m\u{202e}"), "a\\tb\\e[31m\\u{202e}");
        assert_eq!(escape("del\u{7f}"), "del\\u{7f}");
    }
}
