//! The errors of the flavor SDK: a flavor that cannot be found or used, an invalid config, and a
//! failure reported by an implementation.
//!
//! They carry data, not wording about commands: a program built on zenreg (the `zenreg` binary or
//! any other) turns them into hints in its own terms. `CatalogError` lives here rather than in
//! `catalog` so that implementations (`registry`) can return it without importing the catalog.

use crate::component::ComponentType;
use crate::config::ConfigErrors;

/// Everything that can go wrong in the flavor SDK.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A flavor could not be found or used.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A configuration is invalid; every problem is listed.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigErrors),
    /// A registry implementation failed.
    #[error("{message}")]
    Registry {
        /// What went wrong.
        message: String,
        /// What the user can do about it, in the flavor's terms (no program's commands).
        hint: Option<String>,
    },
}

impl Error {
    /// An implementation error with an optional hint.
    pub fn registry(message: impl Into<String>, hint: Option<String>) -> Self {
        Error::Registry { message: message.into(), hint }
    }

    /// The hint an implementation gave with its error, if any. Catalog and config errors have
    /// none here: the program showing them words what to do in its own terms.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::Registry { hint, .. } => hint.as_deref(),
            _ => None,
        }
    }
}

/// Why a flavor could not be looked up or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// No linked flavor has that name.
    #[error("unknown {component_type} flavor `{name}`; known flavors: {}", known.join(", "))]
    UnknownFlavor {
        /// The component type searched.
        component_type: ComponentType,
        /// The name asked for.
        name: String,
        /// Every flavor of that type.
        known: Vec<String>,
    },
    /// Two linked crates define a flavor with the same name and type.
    #[error("{component_type} flavor `{name}` is defined more than once: by {}", sources.join(" and "))]
    DuplicateFlavor {
        /// The component type.
        component_type: ComponentType,
        /// The conflicting name.
        name: String,
        /// Rust paths of the conflicting flavor types.
        sources: Vec<String>,
    },
    /// The flavor is known but its implementation is not compiled into this program.
    #[error("the implementation of flavor `{flavor}` is not linked into this program")]
    NotLinked {
        /// The flavor.
        flavor: String,
        /// The cargo feature that links it, if the flavor declares one.
        feature: Option<String>,
        /// Rust path of the implementation, if declared.
        implementation: Option<String>,
    },
    /// More than one implementation is registered for the flavor.
    #[error("flavor `{flavor}` has more than one implementation linked: {}", implementations.join(" and "))]
    DuplicateImplementation {
        /// The flavor.
        flavor: String,
        /// Rust paths of the conflicting implementations.
        implementations: Vec<String>,
    },
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
