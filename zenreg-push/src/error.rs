//! The errors of the push flow, as data: the program running a push words the hints (which
//! command fixes what).

use crate::docker_config::{CredentialSource, DockerConfigError};
use crate::oci::OciError;

/// Everything that can go wrong while pushing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store or client refused (unknown component, missing secret, …).
    #[error(transparent)]
    Store(#[from] zenreg_store::Error),
    /// The flavor SDK refused (implementation not linked, invalid config, a hook failed).
    #[error(transparent)]
    Core(#[from] zenreg_core::Error),
    /// A digest reference was given where a tag is needed.
    #[error("`{image}` is a digest reference; push a tagged image (`name:tag`)")]
    DigestReference {
        /// The image reference.
        image: String,
    },
    /// The image name is not a reference of the distribution grammar (refused before any
    /// request).
    #[error(transparent)]
    Reference(#[from] zenreg_core::ReferenceError),
    /// The image is not under the registry's URI.
    #[error("image `{image}` does not belong to container registry `{registry}` (uri `{uri}`)")]
    NotUnderRegistry {
        /// The image reference.
        image: String,
        /// The registry component's name.
        registry: String,
        /// The registry's URI, as stored (secret references unresolved).
        uri: String,
        /// Where `--retag` would put it, built from the stored (unresolved) config.
        retag_target: String,
    },
    /// The Docker daemon does not have the image.
    #[error("image `{image}` does not exist locally")]
    MissingImage {
        /// The image reference.
        image: String,
    },
    /// The Docker daemon cannot be reached.
    #[error("cannot reach the Docker daemon at {host}: {reason}")]
    DaemonUnreachable {
        /// The daemon address.
        host: String,
        /// Why.
        reason: String,
    },
    /// The Docker daemon answered with an error.
    #[error("Docker daemon at {host}: {message}")]
    Daemon {
        /// The daemon address.
        host: String,
        /// Its message.
        message: String,
    },
    /// The registry refused the credentials (or their absence).
    #[error("{host} refused the push of `{image}` ({message}); credentials tried: {credentials}")]
    Unauthorized {
        /// The registry host.
        host: String,
        /// The image.
        image: String,
        /// The registry component's name.
        registry: String,
        /// The daemon's message.
        message: String,
        /// Where the credentials came from.
        credentials: CredentialSource,
    },
    /// A transient failure outlasted every retry.
    #[error("pushing `{image}` to {host} failed after {attempts} attempts: {message}")]
    Unavailable {
        /// The registry host.
        host: String,
        /// The image.
        image: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        message: String,
    },
    /// The push failed in a way retrying cannot fix.
    #[error("pushing `{image}` failed: {message}")]
    Rejected {
        /// The image.
        image: String,
        /// The daemon's message.
        message: String,
    },
    /// The daemon spoke HTTPS to a registry that answers plain HTTP.
    #[error("{daemon} could not push `{image}`: {host} answers plain HTTP where {daemon} expected HTTPS ({message})")]
    PlainHttpRegistry {
        /// The registry host.
        host: String,
        /// The image.
        image: String,
        /// The daemon's message.
        message: String,
        /// Which daemon.
        daemon: Daemon,
    },
    /// The push ended without a digest.
    #[error("the push of `{image}` finished without a digest")]
    NoDigest {
        /// The image.
        image: String,
    },
    /// The user's Docker config or a credential helper could not be used.
    #[error(transparent)]
    DockerConfig(#[from] DockerConfigError),
    /// An image source (`--from`) was given with the Docker engine, which pushes only what the
    /// daemon holds.
    #[error("an image source (`--from`) needs the OCI engine")]
    SourceNeedsOci,
    /// zenreg's OCI engine failed (a broken source, a layer not matching its diff id, a
    /// registry that refused a blob or manifest, TLS).
    #[error(transparent)]
    Oci(OciError),
    /// The async runtime could not be started.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Which program serves the Docker Engine API: they differ in what a user configures (a
/// plain-HTTP registry is `insecure-registries` in dockerd's `daemon.json`, `insecure = true` in
/// Podman's `registries.conf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemon {
    /// dockerd (or anything not known to be another).
    Docker,
    /// `podman system service`, told by the `Libpod-Api-Version` header of its `/_ping` answer.
    Podman,
}

impl std::fmt::Display for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Daemon::Docker => "the Docker Engine",
            Daemon::Podman => "Podman",
        })
    }
}
