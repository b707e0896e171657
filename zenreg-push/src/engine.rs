//! The Docker Engine, through bollard: connect (honouring `DOCKER_HOST`, negotiating the API
//! version), inspect and tag local images, and push with the daemon's stream turned into typed
//! events and classified errors.

pub use crate::error::Daemon;
use crate::error::Error;
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{PushImageOptionsBuilder, TagImageOptionsBuilder};
use futures_util::StreamExt;
use std::time::{Duration, Instant};
use zenreg_core::error::one_line;

/// Logs one Engine API call at debug level (`ZENREG_LOG=debug`): what was asked, how it ended,
/// how long it took. Credentials are never part of `call`.
fn logged<T, E: std::fmt::Display>(call: &str, started: Instant, outcome: &Result<T, E>) {
    let ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(_) => tracing::debug!(target: "zenreg_push::engine", "{call} -> ok ms={ms}"),
        Err(error) => tracing::debug!(target: "zenreg_push::engine", "{call} -> failed: {error} ms={ms}"),
    }
}

/// The daemon address when `DOCKER_HOST` is unset.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// A push may stream for a long time; the default 2-minute request timeout would cut it off.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// A connected Docker Engine.
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
    host: String,
    daemon: Daemon,
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
    /// Where its layers lie in the Engine's store, when this process can read it (see
    /// [`crate::oci::layerstore`]).
    pub store: Option<crate::oci::layerstore::ImageInStore>,
}

/// Where the daemon keeps images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageStore {
    /// The classic graph drivers (overlay2, …): layers are kept uncompressed, `docker push`
    /// compresses them (gzip, one core per layer) and the export writes them as tars.
    Classic,
    /// The containerd image store (snapshotters; Docker 29's default on new installs, Docker
    /// Desktop's for a while): layers are kept compressed as pulled or built, `docker push`
    /// uploads them as they are and the export holds them compressed.
    Containerd,
}

/// The `DriverStatus` entry a daemon on the containerd image store reports.
const CONTAINERD_DRIVER_TYPE: &str = "io.containerd.snapshotter.v1";

/// The image store that `driver_status` (`/info`'s `DriverStatus`) describes.
pub fn image_store_of(driver_status: &[Vec<String>]) -> ImageStore {
    let containerd = driver_status
        .iter()
        .any(|pair| matches!(pair.as_slice(), [key, value] if key == "driver-type" && value == CONTAINERD_DRIVER_TYPE));
    if containerd { ImageStore::Containerd } else { ImageStore::Classic }
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
    /// The daemon spoke HTTPS to a registry that answers plain HTTP: a setting of the daemon's
    /// (which names the registry insecure) is missing.
    PlainHttp {
        /// The daemon's message.
        message: String,
        /// Which daemon, for the setting to name.
        daemon: Daemon,
    },
}

impl PushFailure {
    /// Classifies the daemon's error message by its structure, never by searching it for
    /// numbers or words anywhere (a port such as 40165 contains "401"):
    ///
    /// 1. a registry error the daemon relays starts with its error code, lowercased
    ///    (`unauthorized: …`, `denied: …`, as distribution's `errcode` prints them);
    /// 2. an HTTP status the daemon reports follows `HTTP status: ` (`… HTTP status: 503 …`);
    /// 3. a transport failure is Go's error chain `op "url": dial tcp host:port: connect:
    ///    connection refused`, whose last segment is the cause.
    ///
    /// A chain that ends in Go's `http: server gave HTTP response to HTTPS client` is a missing
    /// setting of the daemon's (`PlainHttp`, said of dockerd until [`PushFailure::of`] names
    /// the daemon).
    pub fn classify(message: String) -> PushFailure {
        match failure_kind(&message) {
            Kind::Unauthorized => PushFailure::Unauthorized(message),
            Kind::Transient => PushFailure::Transient(message),
            Kind::Permanent => PushFailure::Permanent(message),
            Kind::PlainHttp => PushFailure::PlainHttp { message, daemon: Daemon::Docker },
        }
    }

    /// The same failure, said of `daemon`.
    pub fn of(self, daemon: Daemon) -> PushFailure {
        match self {
            PushFailure::PlainHttp { message, .. } => PushFailure::PlainHttp { message, daemon },
            other => other,
        }
    }

    /// Classifies an error of the Docker API itself (not one relayed in the push stream): by
    /// the daemon's HTTP status, or as transient when the connection to the daemon failed.
    pub fn classify_error(error: &bollard::errors::Error) -> PushFailure {
        use bollard::errors::Error as E;
        match error {
            E::DockerStreamError { error } => PushFailure::classify(error.clone()),
            E::DockerResponseServerError { status_code, message } => match status_kind(*status_code) {
                Kind::Unauthorized => PushFailure::Unauthorized(message.clone()),
                Kind::Transient => PushFailure::Transient(message.clone()),
                Kind::Permanent | Kind::PlainHttp => PushFailure::classify(message.clone()),
            },
            E::IOError { .. } | E::HyperResponseError { .. } | E::RequestTimeoutError => {
                PushFailure::Transient(short_error(error))
            }
            other => PushFailure::Permanent(short_error(other)),
        }
    }

    /// The daemon's message.
    pub fn message(&self) -> &str {
        match self {
            PushFailure::Unauthorized(m) | PushFailure::Transient(m) | PushFailure::Permanent(m) => m,
            PushFailure::PlainHttp { message, .. } => message,
        }
    }

    /// The same failure with its message passed through `edit` (to redact it).
    pub fn map_message(&self, edit: impl FnOnce(&str) -> String) -> PushFailure {
        match self {
            PushFailure::Unauthorized(m) => PushFailure::Unauthorized(edit(m)),
            PushFailure::Transient(m) => PushFailure::Transient(edit(m)),
            PushFailure::Permanent(m) => PushFailure::Permanent(edit(m)),
            PushFailure::PlainHttp { message, daemon } => {
                PushFailure::PlainHttp { message: edit(message), daemon: *daemon }
            }
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
        // On a local socket, the API version comes from `/_ping`'s `Api-Version` header: the
        // Engine answers `/version` (bollard's negotiation) only after asking containerd and
        // runc for theirs, 7–240 ms on a loaded machine against under 1–6 ms for the ping, and
        // a warm push is otherwise tens of milliseconds.
        let started = Instant::now();
        if let Some(path) = host.strip_prefix("unix://")
            && let Some(ping) = ping(path).await
        {
            tracing::debug!(target: "zenreg_push::engine", "GET /_ping on {host} -> API {} ms={}", ping.version, started.elapsed().as_millis());
            let newest = *bollard::API_DEFAULT_VERSION;
            let version = if ping.version < newest { ping.version } else { newest };
            let docker = Docker::connect_with_unix(&host, REQUEST_TIMEOUT.as_secs(), &version)
                .map_err(|e| unreachable(e.to_string()))?;
            return Ok(Engine { docker, host, daemon: ping.daemon });
        }
        let docker =
            Docker::connect_with_host(&host).map_err(|e| unreachable(e.to_string()))?.with_timeout(REQUEST_TIMEOUT);
        let negotiated = docker.negotiate_version().await;
        logged(&format!("GET /version on {host}"), started, &negotiated);
        let docker = negotiated.map_err(|e| unreachable(short_error(&e)))?;
        Ok(Engine { docker, host, daemon: Daemon::Docker })
    }

    /// Which program serves the API.
    pub fn daemon(&self) -> Daemon {
        self.daemon
    }

    /// The daemon address in use.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The local image `name`, or `None` when the daemon does not have it.
    pub async fn inspect(&self, name: &str) -> Result<Option<LocalImage>, Error> {
        let started = Instant::now();
        let inspected = self.docker.inspect_image(name).await;
        logged(&format!("GET /images/{name}/json"), started, &inspected);
        match inspected {
            Ok(image) => {
                let diff_ids = image.root_fs.and_then(|r| r.layers).unwrap_or_default();
                let mut layers: Vec<String> = Vec::new();
                for layer in &diff_ids {
                    if !layers.contains(layer) {
                        layers.push(layer.clone());
                    }
                }
                let store = image.graph_driver.and_then(|driver| {
                    let upper = driver.data.get("UpperDir")?;
                    crate::oci::layerstore::ImageInStore::of_graph_driver(&driver.name, upper, diff_ids)
                });
                Ok(Some(LocalImage {
                    id: image.id.unwrap_or_default(),
                    size: image.size.unwrap_or(0).max(0) as u64,
                    layers,
                    repo_digests: image.repo_digests.unwrap_or_default(),
                    store,
                }))
            }
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(error) => Err(self.daemon_error(&error)),
        }
    }

    /// Which image store the daemon runs (`/info`'s `DriverStatus`). A daemon older than
    /// Docker 24 (API 1.43), the first to offer the containerd store, is not asked: `/info`
    /// costs 10–30 ms here (the Engine gathers its whole state), as much as a warm push.
    pub async fn image_store(&self) -> Result<ImageStore, Error> {
        let version = self.docker.client_version();
        if (version.major_version, version.minor_version) < (1, 43) {
            return Ok(ImageStore::Classic);
        }
        let started = Instant::now();
        let info = self.docker.info().await;
        logged("GET /info", started, &info);
        let info = info.map_err(|e| self.daemon_error(&e))?;
        Ok(image_store_of(&info.driver_status.unwrap_or_default()))
    }

    /// Tags `source` as `repository:tag`.
    pub async fn tag(&self, source: &str, repository: &str, tag: &str) -> Result<(), Error> {
        let options = TagImageOptionsBuilder::new().repo(repository).tag(tag).build();
        let started = Instant::now();
        let tagged = self.docker.tag_image(source, Some(options)).await;
        logged(&format!("POST /images/{source}/tag ({repository}:{tag})"), started, &tagged);
        tagged.map_err(|e| self.daemon_error(&e))
    }

    /// Pushes `repository:tag` once, reporting events; a failure is classified for retrying.
    pub async fn push(
        &self,
        repository: &str,
        tag: &str,
        credentials: Option<DockerCredentials>,
        on_event: &mut dyn FnMut(PushEvent),
    ) -> Result<(), PushFailure> {
        let started = Instant::now();
        let call = format!("POST /images/{repository}/push (tag {tag})");
        let outcome = self.push_stream(repository, tag, credentials, on_event).await;
        logged(&call, started, &outcome.as_ref().map_err(PushFailure::message));
        outcome
    }

    async fn push_stream(
        &self,
        repository: &str,
        tag: &str,
        credentials: Option<DockerCredentials>,
        on_event: &mut dyn FnMut(PushEvent),
    ) -> Result<(), PushFailure> {
        let options = PushImageOptionsBuilder::new().tag(tag).build();
        let mut stream = self.docker.push_image(repository, Some(options), credentials);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|error| PushFailure::classify_error(&error).of(self.daemon))?;
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
        let (docker, name) = (self.docker.clone(), name.to_string());
        // Asked for when first read: a push that reads the Engine's store never asks.
        futures_util::stream::once(async move {
            tracing::debug!(target: "zenreg_push::engine", "GET /images/{name}/get (streamed)");
            docker.export_image(&name)
        })
        .flatten()
        .map(|item| item.map_err(|error| short_error(&error)))
    }

    fn daemon_error(&self, error: &bollard::errors::Error) -> Error {
        Error::Daemon { host: self.host.clone(), message: short_error(error) }
    }
}

/// What a failure calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unauthorized,
    Transient,
    Permanent,
    /// The daemon spoke HTTPS to a plain-HTTP registry.
    PlainHttp,
}

/// Registry error codes (lowercased, `_` as a space) that mean the credentials were refused.
const UNAUTHORIZED_CODES: &[&str] = &["unauthorized", "denied", "forbidden"];
/// Whole messages the daemon gives when it has no credentials to offer.
const UNAUTHORIZED_MESSAGES: &[&str] = &["no basic auth credentials", "authentication required"];
/// Last segments of Go error chains that a later attempt may not meet.
const TRANSIENT_CAUSES: &[&str] = &[
    "connection refused",
    "connection reset by peer",
    "broken pipe",
    "EOF",
    "unexpected EOF",
    "i/o timeout",
    "TLS handshake timeout",
    "context deadline exceeded",
    "no route to host",
    "network is unreachable",
    "server misbehaving",
];

fn failure_kind(message: &str) -> Kind {
    let message = message.trim();
    if ends_in_scheme_mismatch(message) {
        return Kind::PlainHttp;
    }
    let first = message.split(": ").next().unwrap_or(message);
    if UNAUTHORIZED_CODES.contains(&first.to_ascii_lowercase().as_str())
        || UNAUTHORIZED_MESSAGES.contains(&message.to_ascii_lowercase().as_str())
    {
        return Kind::Unauthorized;
    }
    if let Some(status) = http_status(message) {
        return status_kind(status);
    }
    let last = message.rsplit(": ").next().unwrap_or(message).trim();
    let last = last.split(" (Client.Timeout").next().unwrap_or(last);
    if TRANSIENT_CAUSES.contains(&last) || message.ends_with("(Client.Timeout exceeded while awaiting headers)") {
        return Kind::Transient;
    }
    Kind::Permanent
}

/// Whether a Go error chain ends in net/http's scheme mismatch, `…: http: server gave HTTP
/// response to HTTPS client`.
fn ends_in_scheme_mismatch(message: &str) -> bool {
    let mut segments = message.trim().rsplit(": ");
    segments.next() == Some("server gave HTTP response to HTTPS client") && segments.next() == Some("http")
}

/// The status of `… HTTP status: 503 Service Unavailable` (the daemon's wording for an
/// unexpected registry answer): three digits right after the marker, and nothing else.
fn http_status(message: &str) -> Option<u16> {
    let (_, after) = message.split_once("HTTP status: ")?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() == 3 { digits.parse().ok() } else { None }
}

fn status_kind(status: u16) -> Kind {
    match status {
        401 | 403 => Kind::Unauthorized,
        408 | 429 | 500..=599 => Kind::Transient,
        _ => Kind::Permanent,
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

/// What the `/_ping` answer of a daemon says.
#[derive(Debug, Clone, PartialEq)]
struct Ping {
    version: bollard::ClientVersion,
    daemon: Daemon,
}

/// The API version the Engine on the unix socket `path` speaks, from the `Api-Version` header of
/// its `/_ping` answer, and which daemon it is; `None` when the socket does not answer that way
/// (bollard's own negotiation then runs and reports the problem).
async fn ping(path: &str) -> Option<Ping> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::UnixStream::connect(path).await.ok()?;
        stream.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n").await.ok()?;
        let mut head = Vec::with_capacity(1024);
        let mut buffer = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            let n = stream.read(&mut buffer).await.ok()?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(buffer.get(..n)?);
        }
        Some(head)
    };
    let head = tokio::time::timeout(Duration::from_secs(10), exchange).await.ok()??;
    let head = String::from_utf8_lossy(&head);
    let version = api_version_header(&head)?;
    let daemon = if header(&head, "libpod-api-version").is_some() { Daemon::Podman } else { Daemon::Docker };
    Some(Ping { version, daemon })
}

/// The `Api-Version: MAJOR.MINOR` header of an HTTP response head.
fn api_version_header(head: &str) -> Option<bollard::ClientVersion> {
    if head.split("\r\n").next()?.split(' ').nth(1) != Some("200") {
        return None;
    }
    let (major, minor) = header(head, "api-version")?.split_once('.')?;
    Some(bollard::ClientVersion { major_version: major.parse().ok()?, minor_version: minor.parse().ok()? })
}

/// The value of header `name` (lower case) in an HTTP response head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).take_while(|l| !l.is_empty()).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_api_version_of_a_ping_answer() {
        let answer = "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nDocker-Experimental: false\r\n\r\nOK";
        assert_eq!(api_version_header(answer), Some(bollard::ClientVersion { major_version: 1, minor_version: 41 }));
        assert_eq!(
            api_version_header("HTTP/1.1 200 OK\r\napi-version:1.53\r\n\r\n").map(|v| v.minor_version),
            Some(53)
        );
        // No header, another status, a header after the head, a malformed value.
        assert_eq!(api_version_header("HTTP/1.1 200 OK\r\nServer: x\r\n\r\nApi-Version: 1.41"), None);
        assert_eq!(api_version_header("HTTP/1.1 500 Internal Server Error\r\nApi-Version: 1.41\r\n\r\n"), None);
        assert_eq!(api_version_header("HTTP/1.1 200 OK\r\nApi-Version: one\r\n\r\n"), None);
        assert_eq!(api_version_header(""), None);
    }

    #[test]
    fn tells_podman_by_its_ping_headers() {
        let podman = "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nLibpod-Api-Version: 4.3.1\r\n\r\nOK";
        assert_eq!(header(podman, "libpod-api-version"), Some("4.3.1"));
        let docker = "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\n\r\nLibpod-Api-Version: 4.3.1";
        assert_eq!(header(docker, "libpod-api-version"), None);
    }

    #[test]
    fn tells_a_scheme_mismatch_by_the_end_of_the_chain() {
        let podman = "trying to reuse blob sha256:1711 at destination: pinging container registry \
                      127.0.0.1:45157: Get \"https://127.0.0.1:45157/v2/\": http: server gave HTTP response to HTTPS client";
        assert!(ends_in_scheme_mismatch(podman));
        assert!(!ends_in_scheme_mismatch("manifest unknown: server gave HTTP response to HTTPS client/x"));
        assert!(!ends_in_scheme_mismatch("server gave HTTP response to HTTPS client"));
        // Classified as the daemon's missing setting, said of the daemon that failed.
        let failure = PushFailure::classify(podman.to_string());
        assert_eq!(failure, PushFailure::PlainHttp { message: podman.to_string(), daemon: Daemon::Docker });
        assert_eq!(
            failure.of(Daemon::Podman),
            PushFailure::PlainHttp { message: podman.to_string(), daemon: Daemon::Podman }
        );
        let refused = PushFailure::classify("denied: requested access to the resource is denied".into());
        assert_eq!(refused.clone().of(Daemon::Podman), refused);
    }

    #[test]
    fn tells_the_containerd_image_store_by_its_driver_type() {
        let pair = |a: &str, b: &str| vec![a.to_string(), b.to_string()];
        // Docker 24+ with the containerd snapshotter, and the classic overlay2 driver.
        assert_eq!(image_store_of(&[pair("driver-type", "io.containerd.snapshotter.v1")]), ImageStore::Containerd);
        assert_eq!(
            image_store_of(&[pair("Backing Filesystem", "extfs"), pair("Supports d_type", "true")]),
            ImageStore::Classic
        );
        assert_eq!(image_store_of(&[]), ImageStore::Classic);
    }

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
        assert!(matches!(classify("denied: requested access to the resource is denied"), PushFailure::Unauthorized(_)));
        assert!(matches!(classify("received unexpected HTTP status: 401 Unauthorized"), PushFailure::Unauthorized(_)));
    }

    /// The bug of issue 10: a registry on a port containing "401" (or "500") that refuses
    /// connections was taken for a refused login. Every port of a connection refusal is
    /// transient; no number in a host, path or repository decides anything.
    #[test]
    fn numbers_in_hosts_and_names_do_not_classify() {
        for port in [401u32, 4010, 40165, 14013, 5000, 50301, 403, 65401] {
            let message =
                format!("Get \"http://127.0.0.1:{port}/v2/\": dial tcp 127.0.0.1:{port}: connect: connection refused");
            assert!(matches!(PushFailure::classify(message.clone()), PushFailure::Transient(_)), "{message}");
        }
        let name = "manifest unknown: manifest unknown for 127.0.0.1:40165/denied/unauthorized-401:503";
        assert!(matches!(PushFailure::classify(name.into()), PushFailure::Permanent(_)));
        assert!(matches!(
            PushFailure::classify("Head \"http://h:4011/v2/x/blobs/sha256:401\": EOF".into()),
            PushFailure::Transient(_)
        ));
    }
}
