//! The error type of zenreg's library API, with a hint of what to do next.

use crate::catalog::CatalogError;
use crate::config::ConfigErrors;
use crate::store::StoreError;

/// Everything that can go wrong in zenreg's library API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flavor could not be found or used.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A configuration is invalid; every problem is listed.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigErrors),
    /// The store could not be opened or used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A component or secret does not exist.
    #[error("{kind} `{name}` does not exist")]
    NotFound {
        /// `container registry`, `secret`, …
        kind: &'static str,
        /// The name or id asked for.
        name: String,
        /// The command that lists what exists.
        list_command: String,
    },
    /// A component or secret with that name exists already.
    #[error("a {kind} named `{name}` already exists")]
    AlreadyExists {
        /// `container registry`, `secret`, …
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// A secret cannot be deleted while components reference it.
    #[error("secret `{secret}` is used by {}", components.join(", "))]
    SecretInUse {
        /// The secret.
        secret: String,
        /// The components referencing it, as `type name`.
        components: Vec<String>,
    },
    /// Input the user gave is wrong.
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// What to do instead.
        hint: Option<String>,
    },
    /// The command line is wrong in a way the argument parser cannot see (exit code 2).
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// How to write it instead.
        hint: Option<String>,
    },
    /// Reading or writing a file or stream failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A registry implementation failed.
    #[error("{message}")]
    Registry {
        /// What went wrong.
        message: String,
        /// What the user can do about it.
        hint: Option<String>,
    },
}

impl Error {
    /// An implementation error with an optional hint.
    pub fn registry(message: impl Into<String>, hint: Option<String>) -> Self {
        Error::Registry { message: message.into(), hint }
    }

    /// A user-input error with an optional hint.
    pub fn invalid(message: impl Into<String>, hint: Option<String>) -> Self {
        Error::Invalid { message: message.into(), hint }
    }

    /// A command-line usage error with an optional hint.
    pub fn usage(message: impl Into<String>, hint: Option<String>) -> Self {
        Error::Usage { message: message.into(), hint }
    }

    /// Whether the error is a usage error (exit code 2) rather than a failure (exit code 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Usage { .. })
    }

    /// What the user can do next, if zenreg knows.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Catalog(error) => error.hint(),
            Error::Config(_) => Some("fix the fields listed above and run the command again".into()),
            Error::Store(error) => error.hint(),
            Error::NotFound { list_command, .. } => Some(format!("run `{list_command}` to see what exists")),
            Error::AlreadyExists { .. } => Some("pick another name, or change the existing one with `update`".into()),
            Error::SecretInUse { .. } => Some("point those components at another secret (or delete them) first".into()),
            Error::Invalid { hint, .. } | Error::Usage { hint, .. } | Error::Registry { hint, .. } => hint.clone(),
            Error::Io(_) => None,
        }
    }
}

/// An error and its sources on one line (`outer: inner: innermost`), each cause added only when
/// its text is not already part of what came before (many errors repeat their source's message).
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn joins_distinct_causes() {
        let error = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(one_line(&error), "outer: disk on fire");
        let repeated = std::io::Error::other("same");
        assert_eq!(one_line(&repeated), "same");
    }
}
