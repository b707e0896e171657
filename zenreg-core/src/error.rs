//! The error type of zenreg's library API, with a hint of what to do next.

use crate::catalog::CatalogError;
use crate::config::ConfigErrors;

/// Everything that can go wrong in zenreg's library API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flavor could not be found or used.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A configuration is invalid; every problem is listed.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigErrors),
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

    /// What the user can do next, if zenreg knows.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Catalog(error) => error.hint(),
            Error::Config(_) => Some("fix the fields listed above and run the command again".into()),
            Error::Registry { hint, .. } => hint.clone(),
            Error::Io(_) => None,
        }
    }
}
