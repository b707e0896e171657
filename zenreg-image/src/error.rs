//! The errors of image operations, as data; the command line words their hints.

use zenreg_push::CredentialSource;
use zenreg_push::oci::OciError;

/// Everything an image operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// No registered container registry's `uri` is a prefix of the reference.
    #[error("no registered container registry covers `{reference}`{}", closest_text(.closest))]
    NoComponent {
        /// The reference.
        reference: String,
        /// The closest components, `(name, uri)`, best first.
        closest: Vec<(String, String)>,
    },
    /// The registry named explicitly does not cover the reference.
    #[error("container registry `{registry}` ({uri}) does not cover `{reference}`")]
    NotCovered {
        /// The reference.
        reference: String,
        /// The component named.
        registry: String,
        /// Its `uri`.
        uri: String,
    },
    /// The text is not an image reference.
    #[error(transparent)]
    Reference(#[from] zenreg_core::ReferenceError),
    /// The reference names something the operation cannot take.
    #[error("`{reference}`: {message}")]
    Usage {
        /// The reference.
        reference: String,
        /// What is wrong with it.
        message: String,
    },
    /// The registry has no such manifest.
    #[error("`{reference}` is not in the registry")]
    NotFound {
        /// The reference.
        reference: String,
    },
    /// `--platform` matched no manifest of the index.
    #[error("`{reference}` has no manifest for {wanted} (it has {available})")]
    NoPlatform {
        /// The index.
        reference: String,
        /// The platforms asked for.
        wanted: String,
        /// Those the index has.
        available: String,
    },
    /// The registry refuses deletes (distribution's `storage.delete.enabled: false`).
    #[error("{host} has deletes disabled: it refused to delete `{reference}`")]
    DeletesDisabled {
        /// The registry host.
        host: String,
        /// The reference.
        reference: String,
    },
    /// A manifest or blob is not what it claims to be.
    #[error("`{reference}`: {message}")]
    Damaged {
        /// The reference (or blob digest).
        reference: String,
        /// What is wrong.
        message: String,
    },
    /// A request to a registry failed.
    #[error("{error}")]
    Registry {
        /// The component.
        registry: String,
        /// Where its credentials came from.
        credentials: CredentialSource,
        /// What failed (boxed: it carries several strings).
        error: Box<OciError>,
    },
    /// The registry client itself failed (settings).
    #[error(transparent)]
    Oci(OciError),
    /// Loading the component or its credentials failed.
    #[error(transparent)]
    Push(Box<zenreg_push::Error>),
}

impl From<zenreg_push::Error> for ImageError {
    fn from(error: zenreg_push::Error) -> Self {
        ImageError::Push(Box::new(error))
    }
}

impl From<zenreg_store::Error> for ImageError {
    fn from(error: zenreg_store::Error) -> Self {
        ImageError::Push(Box::new(zenreg_push::Error::Store(error)))
    }
}

fn closest_text(closest: &[(String, String)]) -> String {
    if closest.is_empty() {
        return " (none is registered)".into();
    }
    let names: Vec<String> = closest.iter().map(|(name, uri)| format!("`{name}` ({uri})")).collect();
    format!("; the closest: {}", names.join(", "))
}
