//! The channel through which a flavor's hooks tell the user something without failing: a
//! repository created on the fly, a lookup that could not be made. Hooks never print; the program
//! running them decides how (and whether) to show what they report.

use std::fmt;
use std::sync::{Arc, Mutex};

/// How much a diagnostic matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Something that happened and is worth knowing (`created ECR repository …`).
    Note,
    /// Something that may go wrong later (`could not check …; pushing anyway`).
    Warning,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Note => "note",
            Level::Warning => "warning",
        })
    }
}

/// One message from a hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// How much it matters.
    pub level: Level,
    /// What happened, one line, without a `warning:` prefix.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.level, self.message)
    }
}

type Sink = dyn Fn(&Diagnostic) + Send + Sync;

/// Where hooks report diagnostics; cheap to clone, shared by every clone.
#[derive(Clone)]
pub struct Diagnostics {
    sink: Arc<Sink>,
}

impl fmt::Debug for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Diagnostics").finish_non_exhaustive()
    }
}

impl Default for Diagnostics {
    /// Drops every diagnostic.
    fn default() -> Self {
        Diagnostics::new(|_| {})
    }
}

impl Diagnostics {
    /// Diagnostics handed to `sink` as they are reported.
    pub fn new(sink: impl Fn(&Diagnostic) + Send + Sync + 'static) -> Self {
        Diagnostics { sink: Arc::new(sink) }
    }

    /// Diagnostics kept in memory, returned with the list that receives them (for tests and for
    /// callers that show them after the fact).
    pub fn collect() -> (Self, Arc<Mutex<Vec<Diagnostic>>>) {
        let list = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&list);
        let diagnostics = Diagnostics::new(move |diagnostic| {
            // A poisoned list only means another holder panicked; the message is still worth keeping.
            let mut guard = sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            guard.push(diagnostic.clone());
        });
        (diagnostics, list)
    }

    /// Reports a diagnostic.
    pub fn report(&self, level: Level, message: impl Into<String>) {
        (self.sink)(&Diagnostic { level, message: message.into() });
    }

    /// Reports a note.
    pub fn note(&self, message: impl Into<String>) {
        self.report(Level::Note, message);
    }

    /// Reports a warning.
    pub fn warn(&self, message: impl Into<String>) {
        self.report(Level::Warning, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_in_order_across_clones() {
        let (diagnostics, list) = Diagnostics::collect();
        let clone = diagnostics.clone();
        diagnostics.note("created");
        clone.warn("could not check");
        let seen: Vec<String> = list.lock().unwrap().iter().map(ToString::to_string).collect();
        assert_eq!(seen, ["note: created", "warning: could not check"]);
        Diagnostics::default().warn("dropped quietly");
    }
}
