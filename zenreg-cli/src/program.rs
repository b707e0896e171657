//! The name of the running binary, as users type it: hints that name commands use it, so a
//! downstream binary (`zenreg-downstream`, `acme-registry`, …) gives hints in its own name.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::OnceLock;

static NAME: OnceLock<String> = OnceLock::new();

/// The name commands are spelled with: set once from `argv[0]`, `zenreg` until then.
pub fn program() -> &'static str {
    NAME.get().map_or("zenreg", String::as_str)
}

/// Takes the program name from `argv[0]` (its file name, without a `.exe`); the first call wins.
pub(crate) fn set_from_arg0(arg0: Option<&OsStr>) {
    let name = arg0
        .and_then(|arg0| Path::new(arg0).file_stem())
        .and_then(OsStr::to_str)
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .unwrap_or("zenreg");
    let _ = NAME.set(name.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_the_file_stem_of_argv0() {
        set_from_arg0(Some(OsStr::new("/usr/local/bin/zenreg-downstream")));
        assert_eq!(program(), "zenreg-downstream");
        // Later calls do not change it.
        set_from_arg0(Some(OsStr::new("other")));
        assert_eq!(program(), "zenreg-downstream");
    }
}
