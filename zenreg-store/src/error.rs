//! The errors of the store and the `Client` API: what went wrong, as data. Wording of what to do
//! next (which command to run) belongs to the program using the client, e.g. zenreg-cli.

use crate::crypto::CryptoError;
use crate::postgres::PostgresError;
use crate::sqlite::StoreError;
use zenreg_core::ComponentType;

/// What a name or id refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A component of this type.
    Component(ComponentType),
    /// A secret.
    Secret,
}

impl Kind {
    /// How users call one of these in messages (`container registry`, `secret`).
    pub fn human_name(self) -> &'static str {
        match self {
            Kind::Component(component_type) => component_type.human_name(),
            Kind::Secret => "secret",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.human_name())
    }
}

/// The URL schemes a store location may have.
pub const KNOWN_SCHEMES: &[&str] = &["postgresql://", "postgres://"];

/// What is wrong with a store location ([`Error::InvalidLocation`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocationProblem {
    /// A URL of a scheme zenreg does not know.
    UnknownScheme {
        /// The text before `://` (letters, digits, `+ - . :` only).
        scheme: String,
    },
    /// Whitespace before or after the location.
    Whitespace,
}

impl std::fmt::Display for LocationProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LocationProblem::UnknownScheme { scheme } => write!(
                f,
                "the store `{scheme}://…` is a URL of a scheme zenreg does not know; it knows {} URLs and file paths",
                KNOWN_SCHEMES.join(" and ")
            ),
            LocationProblem::Whitespace => f.write_str("the store location begins or ends with whitespace"),
        }
    }
}

/// Everything that can go wrong in the store and the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The flavor SDK refused: unknown flavor, invalid config, implementation failure.
    #[error(transparent)]
    Core(#[from] zenreg_core::Error),
    /// The store file could not be opened or used.
    #[error(transparent)]
    Store(StoreError),
    /// The store location is neither a file path nor a URL zenreg knows (shown without
    /// anything that could be a password).
    #[error("{problem}")]
    InvalidLocation {
        /// What is wrong.
        problem: LocationProblem,
    },
    /// The PostgreSQL store could not be reached or used (its URL shown without password).
    #[error(transparent)]
    Postgres(#[from] PostgresError),
    /// A secret value could not be sealed or opened: no key, a wrong key, a damaged value.
    #[error(transparent)]
    Secrets(#[from] CryptoError),
    /// `copy_into` found names in the target that the source has too; nothing was copied.
    #[error(
        "{} already in the target store: {}",
        if names.len() == 1 { "1 name is".to_string() } else { format!("{} names are", names.len()) },
        names.join(", ")
    )]
    CopyConflicts {
        /// The names, as ``container registry `name` `` or ``secret `name` ``.
        names: Vec<String>,
    },
    /// No component or secret has that name or id.
    #[error("{kind} `{name}` does not exist")]
    NotFound {
        /// What was looked for.
        kind: Kind,
        /// The name or id asked for.
        name: String,
    },
    /// An id prefix matches several components.
    #[error(
        "id prefix `{prefix}` is ambiguous: it matches {kind} {}",
        matches.iter().map(|(name, id)| format!("`{name}` ({id})")).collect::<Vec<_>>().join(" and ")
    )]
    Ambiguous {
        /// What was looked for.
        kind: Kind,
        /// The prefix given.
        prefix: String,
        /// (name, id) of the matches found (a few of them).
        matches: Vec<(String, String)>,
    },
    /// The stored row cannot be read in full (hand-edited or damaged JSON).
    #[error("the stored {kind} `{name}` (id {id}) is damaged: {reason}")]
    Damaged {
        /// What kind of row.
        kind: Kind,
        /// Its name.
        name: String,
        /// Its id.
        id: String,
        /// What could not be read.
        reason: String,
    },
    /// A rename to the name the component already has.
    #[error("{kind} `{name}` is already called `{name}`")]
    SameName {
        /// What kind of thing.
        kind: Kind,
        /// The name.
        name: String,
    },
    /// A field naming a secret is malformed.
    #[error("{field}: {message}")]
    InvalidSecretField {
        /// The config field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A secret value is larger than the limit.
    #[error("the value of `{key}` has {size} bytes; secret values can have at most {limit} bytes (1 MiB)")]
    ValueTooLarge {
        /// The key.
        key: String,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A secret key cannot be removed while components use it.
    #[error("key `{key}` of secret `{secret}` is used by {}", components.join(", "))]
    SecretKeyInUse {
        /// The secret.
        secret: String,
        /// The key.
        key: String,
        /// The components using it.
        components: Vec<String>,
    },
    /// A component or secret with that name exists already.
    #[error("a {kind} named `{name}` already exists")]
    AlreadyExists {
        /// What kind of thing.
        kind: Kind,
        /// The name.
        name: String,
    },
    /// A secret cannot be deleted while components reference it.
    #[error("secret `{secret}` is used by {}", components.join(", "))]
    SecretInUse {
        /// The secret.
        secret: String,
        /// The components referencing it, as ``container registry `name` ``.
        components: Vec<String>,
    },
    /// A name breaks the naming rules.
    #[error("{message}")]
    InvalidName {
        /// What kind of thing was being named.
        kind: Kind,
        /// What is wrong with it.
        message: String,
    },
    /// A label key breaks the rules.
    #[error(
        "invalid label key {key:?}: labels are `key=value` with a key of 1–255 characters without spaces, `=` or control characters"
    )]
    InvalidLabel {
        /// The key.
        key: String,
    },
    /// A required attribute cannot be removed.
    #[error("cannot remove `{attribute}`: it is a required attribute of flavor `{flavor}`")]
    RequiredAttribute {
        /// The component type.
        component_type: ComponentType,
        /// The component.
        component: String,
        /// The attribute.
        attribute: String,
        /// The component's flavor.
        flavor: String,
    },
    /// An attribute to remove is not set.
    #[error("`{component}` has no attribute `{attribute}` set")]
    NoSuchAttribute {
        /// The component type.
        component_type: ComponentType,
        /// The component.
        component: String,
        /// The attribute.
        attribute: String,
    },
    /// A label to remove is not set.
    #[error("`{component}` has no label `{label}`")]
    NoSuchLabel {
        /// The component.
        component: String,
        /// The label key.
        label: String,
    },
    /// A secret a component refers to does not exist.
    #[error("secret `{secret}` referenced by {used_by} does not exist")]
    MissingSecret {
        /// The secret.
        secret: String,
        /// The key that was wanted.
        key: String,
        /// Who refers to it, e.g. ``the `local` field `password` ``.
        used_by: String,
    },
    /// A secret a component refers to lacks the key it needs.
    #[error("secret `{secret}` referenced by {used_by} has no key `{key}`")]
    MissingSecretKey {
        /// The secret.
        secret: String,
        /// The missing key.
        key: String,
        /// Who refers to it.
        used_by: String,
    },
    /// A secret key is not an identifier.
    #[error("invalid secret key `{key}`: use letters, digits and `_`, not starting with a digit")]
    InvalidSecretKey {
        /// The key.
        key: String,
    },
    /// A new secret has no values.
    #[error("secret `{name}` needs at least one value")]
    EmptySecret {
        /// The secret.
        name: String,
    },
    /// An update would leave a secret without values.
    #[error("secret `{name}` would have no values left")]
    SecretWouldBeEmpty {
        /// The secret.
        name: String,
    },
    /// A key to remove from a secret is not there.
    #[error("secret `{name}` has no key `{key}`")]
    NoSuchSecretKey {
        /// The secret.
        name: String,
        /// The key.
        key: String,
    },
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            // A key problem reads the same whichever store it comes from.
            StoreError::Secrets(error) => Error::Secrets(error),
            other => Error::Store(other),
        }
    }
}

impl Error {
    /// The secrets-key problem behind this error, whichever store reported it.
    pub fn crypto(&self) -> Option<&CryptoError> {
        match self {
            Error::Secrets(error) | Error::Store(StoreError::Secrets(error)) => Some(error),
            Error::Postgres(error) => match &error.kind {
                crate::postgres::PgErrorKind::Secrets { source, .. } => Some(source),
                _ => None,
            },
            _ => None,
        }
    }
}

impl From<zenreg_core::CatalogError> for Error {
    fn from(error: zenreg_core::CatalogError) -> Self {
        Error::Core(error.into())
    }
}

impl From<zenreg_core::ConfigErrors> for Error {
    fn from(error: zenreg_core::ConfigErrors) -> Self {
        Error::Core(error.into())
    }
}
