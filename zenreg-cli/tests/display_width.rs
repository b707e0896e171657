//! Listings line up in terminal columns, not characters: a CJK component name and an emoji
//! label take two columns a character, and every column after them still starts at one place.

mod common;

use common::{Backend, Env};
use unicode_width::UnicodeWidthStr;

/// The terminal column at which `cell` starts on `line`.
fn column_of(line: &str, cell: &str) -> usize {
    let at = line.find(cell).unwrap_or_else(|| panic!("`{cell}` not on `{line}`"));
    line[..at].width()
}

#[test]
fn a_cjk_name_and_an_emoji_label_keep_the_columns_aligned() {
    let env = Env::on(Backend::Sqlite);
    env.ok(&["container-registry", "register", "東京レジストリ", "--flavor", "default", "--uri=localhost:5000"]);
    env.ok(&[
        "container-registry",
        "register",
        "plain",
        "--flavor",
        "github",
        "--uri=ghcr.io/me",
        "--label",
        "mood=🚀",
    ]);
    let run = env.ok(&["container-registry", "list"]);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout); // sorted by name: `plain`, then the CJK one
    let (header, emoji, cjk) = (lines[0], lines[1], lines[2]);
    assert!(cjk.starts_with("東京レジストリ  ") && emoji.starts_with("plain "), "{}", run.stdout);
    // The name column is 14 columns wide (7 characters): the id column starts after it.
    let flavor = column_of(header, "FLAVOR");
    assert_eq!(column_of(cjk, "default"), flavor, "{}", run.stdout);
    assert_eq!(column_of(emoji, "github"), flavor, "{}", run.stdout);
    assert_eq!(column_of(header, "ID"), "東京レジストリ".width() + 2);
    // The labels column holds `mood=🚀` (7 columns); the one after it starts at one place.
    let updated = column_of(header, "UPDATED");
    assert!(updated >= column_of(header, "LABELS") + "mood=🚀".width() + 2, "{}", run.stdout);
    let last_start = |line: &str| line.trim_end().rfind("  ").map(|at| line[..at + 2].width()).unwrap();
    assert_eq!(last_start(cjk), updated, "{}", run.stdout);
    assert_eq!(last_start(emoji), updated, "{}", run.stdout);
}
