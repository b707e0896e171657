//! The Docker Engine, through bollard: connect (honouring `DOCKER_HOST`, negotiating the API
//! version), inspect and tag local images, and push with the daemon's stream turned into typed
//! events and classified errors.

use crate::error::Error;
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{PushImageOptionsBuilder, TagImageOptionsBuilder};
use futures_util::StreamExt;
use std::time::Duration;
use zenreg_core::error::one_line;

/// The daemon address when `DOCKER_HOST` is unset.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// A push may stream for a long time; the default 2-minute request timeout would cut it off.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// A connected Docker Engine.
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
    host: String,
}

/// What `inspect` tells about a local image.
#[derive(Debug, Clone)]
pub struct LocalImage {
    /// Image id (`sha256:…`).
    pub id: String,
    /// Size in bytes.
    pub size: u64,
    /// Distinct layers (diff ids), in order.
    pub layers: Vec<String>,
    /// `repository@sha256:…` digests the daemon knows.
    pub repo_digests: Vec<String>,
}

/// One event of a push stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    /// A status line (`Preparing`, `Waiting`, `Pushed`, `Layer already exists`, …) with the
    /// progress of the layer it is about, `current` clamped to `total`.
    Status {
        /// The daemon's status text.
        status: String,
        /// Bytes done and total, when the daemon says.
        progress: Option<(u64, u64)>,
    },
    /// The final line: the pushed tag's manifest digest and size.
    Digest {
        /// `sha256:…`.
        digest: String,
        /// Manifest size in bytes.
        size: u64,
    },
}

/// How a failed push should be treated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushFailure {
    /// The registry refused the credentials (or their absence).
    Unauthorized(String),
    /// Worth another try: a dropped connection, a 5xx, a timeout.
    Transient(String),
    /// Anything else: retrying will not help.
    Permanent(String),
}

impl PushFailure {
    /// Classifies the daemon's error text.
    pub fn classify(message: String) -> PushFailure {
        let lower = message.to_ascii_lowercase();
        let any = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
        if any(&["401", "unauthorized", "authentication required", "no basic auth credentials", "denied", "forbidden"])
        {
            PushFailure::Unauthorized(message)
        } else if any(&[
            "connection reset",
            "connection refused",
            "broken pipe",
            "eof",
            "timeout",
            "timed out",
            "500 internal",
            "502 bad gateway",
            "503 service",
            "504 gateway",
            "status: 5",
            "status 5",
            "temporarily unavailable",
        ]) {
            PushFailure::Transient(message)
        } else {
            PushFailure::Permanent(message)
        }
    }

    /// The daemon's message.
    pub fn message(&self) -> &str {
        match self {
            PushFailure::Unauthorized(m) | PushFailure::Transient(m) | PushFailure::Permanent(m) => m,
        }
    }
}

impl Engine {
    /// Connects to the daemon of `DOCKER_HOST` (default: the local socket) and negotiates the
    /// API version.
    pub async fn connect() -> Result<Engine, Error> {
        let host =
            std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| DEFAULT_HOST.to_string());
        let unreachable = |reason: String| Error::DaemonUnreachable { host: host.clone(), reason };
        let docker =
            Docker::connect_with_host(&host).map_err(|e| unreachable(e.to_string()))?.with_timeout(REQUEST_TIMEOUT);
        let docker = docker.negotiate_version().await.map_err(|e| unreachable(short_error(&e)))?;
        Ok(Engine { docker, host })
    }

    /// The daemon address in use.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The local image `name`, or `None` when the daemon does not have it.
    pub async fn inspect(&self, name: &str) -> Result<Option<LocalImage>, Error> {
        match self.docker.inspect_image(name).await {
            Ok(image) => {
                let mut layers: Vec<String> = Vec::new();
                for layer in image.root_fs.and_then(|r| r.layers).unwrap_or_default() {
                    if !layers.contains(&layer) {
                        layers.push(layer);
                    }
                }
                Ok(Some(LocalImage {
                    id: image.id.unwrap_or_default(),
                    size: image.size.unwrap_or(0).max(0) as u64,
                    layers,
                    repo_digests: image.repo_digests.unwrap_or_default(),
                }))
            }
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(error) => Err(self.daemon_error(&error)),
        }
    }

    /// Tags `source` as `repository:tag`.
    pub async fn tag(&self, source: &str, repository: &str, tag: &str) -> Result<(), Error> {
        let options = TagImageOptionsBuilder::new().repo(repository).tag(tag).build();
        self.docker.tag_image(source, Some(options)).await.map_err(|e| self.daemon_error(&e))
    }

    /// Pushes `repository:tag` once, reporting events; a failure is classified for retrying.
    pub async fn push(
        &self,
        repository: &str,
        tag: &str,
        credentials: Option<DockerCredentials>,
        on_event: &mut dyn FnMut(PushEvent),
    ) -> Result<(), PushFailure> {
        let options = PushImageOptionsBuilder::new().tag(tag).build();
        let mut stream = self.docker.push_image(repository, Some(options), credentials);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|error| match error {
                bollard::errors::Error::DockerStreamError { error } => PushFailure::classify(error),
                bollard::errors::Error::DockerResponseServerError { status_code, message } if status_code >= 500 => {
                    PushFailure::classify(message)
                }
                other => PushFailure::classify(short_error(&other)),
            })?;
            let Some(status) = info.status else { continue };
            if let Some((digest, size)) = parse_digest_line(&status) {
                on_event(PushEvent::Digest { digest, size });
                continue;
            }
            let progress = info.progress_detail.and_then(|p| match (p.current, p.total) {
                (Some(current), Some(total)) if total > 0 => {
                    let total = total.max(0) as u64;
                    Some(((current.max(0) as u64).min(total), total))
                }
                _ => None,
            });
            on_event(PushEvent::Status { status, progress });
        }
        Ok(())
    }

    /// Streams the `docker save` archive of image `name` (`GET /images/{name}/get`); the
    /// request starts when the stream is first polled.
    pub fn export(
        &self,
        name: &str,
    ) -> impl futures_util::Stream<Item = Result<bytes::Bytes, String>> + Send + 'static + use<> {
        self.docker.export_image(name).map(|item| item.map_err(|error| short_error(&error)))
    }

    fn daemon_error(&self, error: &bollard::errors::Error) -> Error {
        Error::Daemon { host: self.host.clone(), message: short_error(error) }
    }
}

/// The daemon's own message, without bollard's wrapping.
fn short_error(error: &bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        other => one_line(other),
    }
}

/// `1.0: digest: sha256:abc… size: 528` into the digest and size.
fn parse_digest_line(status: &str) -> Option<(String, u64)> {
    let (_, rest) = status.split_once(": digest: ")?;
    let mut parts = rest.split_whitespace();
    let digest = parts.next()?.to_string();
    let size = match (parts.next(), parts.next()) {
        (Some("size:"), Some(size)) => size.parse().ok()?,
        _ => 0,
    };
    digest.starts_with("sha256:").then_some((digest, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_digest_line() {
        assert_eq!(
            parse_digest_line("1.0: digest: sha256:0123abcd size: 528"),
            Some(("sha256:0123abcd".to_string(), 528))
        );
        assert_eq!(parse_digest_line("Pushed"), None);
    }

    #[test]
    fn classifies_failures() {
        let classify = |m: &str| PushFailure::classify(m.to_string());
        assert!(matches!(classify("unauthorized: authentication required"), PushFailure::Unauthorized(_)));
        assert!(matches!(classify("no basic auth credentials"), PushFailure::Unauthorized(_)));
        assert!(matches!(
            classify("Get \"http://127.0.0.1:5000/v2/\": dial tcp 127.0.0.1:5000: connect: connection refused"),
            PushFailure::Transient(_)
        ));
        assert!(matches!(
            classify("received unexpected HTTP status: 503 Service Unavailable"),
            PushFailure::Transient(_)
        ));
        assert!(matches!(classify("An image does not exist locally with the tag: x"), PushFailure::Permanent(_)));
    }
}
