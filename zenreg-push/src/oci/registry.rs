//! A client of the OCI distribution API for one repository: `/v2/` ping, anonymous, Basic and
//! Bearer-token authentication, blob `HEAD`, cross-repository mount, uploads (monolithic for
//! small blobs, chunked and resumable for large ones read from a file, one streamed `PATCH` for
//! layers compressed on the fly), and manifest `PUT`.
//!
//! HTTPS uses the system roots plus `SSL_CERT_FILE`; plain HTTP is used only for loopback
//! registries, and only when they do not speak TLS (as Docker treats 127.0.0.0/8 as insecure).

use crate::oci::digest::sha256;
use crate::oci::error::OciError;
use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderValue, LOCATION, RANGE};
use reqwest::{Body, RequestBuilder, Response, StatusCode, Url};
use std::path::Path;
use std::sync::RwLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use zenreg_core::Credentials;

/// Requests that can be replayed are tried this many times in all.
const ATTEMPTS: u32 = 4;
/// First pause between attempts, doubled each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// A resumable upload survives this many interruptions (a registry restart takes a few seconds,
/// and the pauses add up to about half a minute).
const RESUMES: u32 = 8;
/// Blobs up to this size go up in one request from memory.
pub const MONOLITHIC_MAX: u64 = 8 * 1024 * 1024;
/// Chunk of a resumable upload: large enough that per-request costs vanish on a fast link,
/// small enough that an interruption loses little.
const CHUNK: u64 = 64 * 1024 * 1024;

/// The authentication the registry asked for.
#[derive(Debug, Clone)]
enum Challenge {
    None,
    Basic,
    Bearer { realm: String, service: Option<String> },
}

/// A connection to one repository of one registry.
pub struct Registry {
    http: reqwest::Client,
    base: Url,
    host: String,
    repository: String,
    credentials: Option<Credentials>,
    challenge: Challenge,
    scopes: Vec<String>,
    authorization: RwLock<Option<HeaderValue>>,
}

/// Whether `host` (with an optional port) is a loopback address, `localhost`, or a name that
/// resolves to loopback addresses only — as the Docker daemon decides, which treats a registry
/// in 127.0.0.0/8 as insecure whatever its name (e.g. a hosts-file entry for a local stand-in).
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    if name == "localhost" {
        return true;
    }
    if let Ok(ip) = name.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    use std::net::ToSocketAddrs;
    match (name, 0).to_socket_addrs() {
        Ok(addresses) => {
            let addresses: Vec<_> = addresses.collect();
            !addresses.is_empty() && addresses.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(16)
        .user_agent(concat!("zenreg/", env!("CARGO_PKG_VERSION")))
}

/// A client for plain HTTP only: it loads no root certificates (reading the system's hundreds
/// of them is a good part of a warm push to a loopback registry).
fn plain_http_client() -> Result<reqwest::Client, String> {
    client_builder().tls_built_in_root_certs(false).build().map_err(|e| error_chain(&e))
}

fn http_client() -> Result<reqwest::Client, String> {
    let mut builder = client_builder();
    // rustls-native-certs reads SSL_CERT_FILE in place of the system bundle; adding it here too
    // keeps the system roots when a CA of one's own is given.
    if let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
        let pem = std::fs::read(&path).map_err(|e| format!("SSL_CERT_FILE {}: {e}", Path::new(&path).display()))?;
        for certificate in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("SSL_CERT_FILE {}: {e}", Path::new(&path).display()))?
        {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder.build().map_err(|e| error_chain(&e))
}

/// An error with its causes, on one line (reqwest's own text stops at the outermost).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether a request failed because nothing accepts connections at its address.
fn is_refused(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused) {
            return true;
        }
        source = cause.source();
    }
    false
}

/// A failed request in words: a refused connection said plainly (found by the error's kind,
/// not its text), anything else with its causes.
fn describe(error: &reqwest::Error) -> String {
    if is_refused(error) {
        let url = error.url().map(|u| format!(" ({u})")).unwrap_or_default();
        return format!("connection refused{url}");
    }
    error_chain(error)
}

/// Whether a failed request failed in TLS (a certificate not trusted, a handshake refused).
fn is_tls_failure(error: &reqwest::Error) -> bool {
    let text = error_chain(error).to_ascii_lowercase();
    ["certificate", "tls", "handshake", "invalidcontenttype", "corrupt message"].iter().any(|w| text.contains(w))
}

/// A transient transport failure: worth another attempt.
fn is_transient(error: &reqwest::Error) -> bool {
    error.is_connect() || error.is_timeout() || error.is_request() || error.is_body()
}

fn is_transient_status(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT
}

/// The `errors` of a distribution API error body, as `CODE: message; …`.
async fn error_message(response: Response) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let bytes = response.bytes().await.unwrap_or_default();
    match serde_json::from_slice::<Body>(&bytes) {
        Ok(body) if !body.errors.is_empty() => body
            .errors
            .iter()
            .map(|e| if e.message.is_empty() { e.code.clone() } else { format!("{}: {}", e.code, e.message) })
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::from_utf8_lossy(bytes.get(..bytes.len().min(200)).unwrap_or_default()).trim().to_string(),
    }
}

/// `key="value"` pairs of a `WWW-Authenticate` header after its scheme.
fn challenge_params(value: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut rest = value;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = &rest[eq + 1..];
        let (val, next) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        params.push((key, val.trim().to_string()));
        rest = next;
    }
    params
}

fn parse_challenge(value: &str) -> Challenge {
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Challenge::Basic;
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        let params = challenge_params(rest);
        let get = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        if let Some(realm) = get("realm") {
            return Challenge::Bearer { realm, service: get("service") };
        }
    }
    Challenge::Basic
}

fn basic_header(credentials: &Credentials) -> HeaderValue {
    use base64::Engine;
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", credentials.username, credentials.password));
    let mut value = HeaderValue::from_str(&format!("Basic {token}")).unwrap_or_else(|_| HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

impl Registry {
    /// Connects to `host` for pushing to `repository` (and pulling from `also_pull`, the sources
    /// of cross-repository mounts): pings `/v2/` and obtains a token when the registry asks.
    pub async fn connect(
        host: &str,
        repository: &str,
        credentials: Option<Credentials>,
        also_pull: &[String],
    ) -> Result<Registry, OciError> {
        let unavailable = |what: &str, message: String| OciError::Unavailable {
            host: host.to_string(),
            what: what.to_string(),
            message,
        };
        let loopback = is_loopback(host);
        let http = if loopback { plain_http_client() } else { http_client() }
            .map_err(|m| unavailable("setting up HTTP", m))?;
        let mut scopes = vec![format!("repository:{repository}:pull,push")];
        scopes.extend(also_pull.iter().filter(|r| *r != repository).map(|r| format!("repository:{r}:pull")));
        let scheme = if loopback { "http" } else { "https" };
        let mut registry = Registry {
            http,
            base: Url::parse(&format!("{scheme}://{host}/"))
                .map_err(|e| unavailable("parsing the address", e.to_string()))?,
            host: host.to_string(),
            repository: repository.to_string(),
            credentials,
            challenge: Challenge::None,
            scopes,
            authorization: RwLock::new(None),
        };
        // Plain HTTP is for loopback registries only, as Docker decides. Those are asked over
        // plain HTTP first (the ping carries no credentials), and over HTTPS when what answers
        // is a TLS server (Go's answers plain HTTP with 400) or does not speak HTTP at all; a
        // refused connection is reported as it is.
        let mut tls_ready = !loopback;
        let response = match registry.ping(ATTEMPTS).await {
            Ok(response) if !(loopback && response.status() == StatusCode::BAD_REQUEST) => response,
            Err((error, refused)) if !loopback || refused => return Err(error),
            _ => {
                registry.http = http_client().map_err(|m| unavailable("setting up HTTPS", m))?;
                registry.base = Url::parse(&format!("https://{host}/"))
                    .map_err(|e| unavailable("parsing the address", e.to_string()))?;
                tls_ready = true;
                registry.ping(ATTEMPTS).await.map_err(|(error, _)| error)?
            }
        };
        match response.status() {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED => {
                let header = response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("");
                registry.challenge = parse_challenge(header);
                // A token service of a plain-HTTP registry may itself be on HTTPS.
                if let Challenge::Bearer { realm, .. } = &registry.challenge
                    && !tls_ready
                    && !realm.starts_with("http://")
                {
                    registry.http = http_client().map_err(|m| unavailable("setting up HTTPS", m))?;
                }
                registry.authenticate().await?;
            }
            status => {
                return Err(OciError::Rejected {
                    host: host.to_string(),
                    what: "GET /v2/".into(),
                    status: status.as_u16(),
                    message: error_message(response).await,
                });
            }
        }
        Ok(registry)
    }

    /// `GET /v2/`, with retries; a failure says whether the connection was refused (nothing
    /// listens there, so HTTPS would not do better than plain HTTP).
    async fn ping(&self, attempts: u32) -> Result<Response, (OciError, bool)> {
        let url = self.base.join("v2/").map_err(|e| (self.unavailable("GET /v2/", e.to_string()), false))?;
        let mut last = String::new();
        let mut refused = false;
        for attempt in 0..attempts {
            match self.http.get(url.clone()).send().await {
                Ok(response) if is_transient_status(response.status()) && attempt + 1 < attempts => {
                    last = format!("HTTP {}", response.status());
                }
                Ok(response) => return Ok(response),
                Err(error) if is_tls_failure(&error) => {
                    return Err((OciError::Tls { host: self.host.clone(), message: error_chain(&error) }, false));
                }
                // Plain HTTP that got an answer in another protocol (a TLS-only server): no
                // retry, HTTPS is next.
                Err(error) if url.scheme() == "http" && !error.is_connect() && !error.is_timeout() => {
                    return Err((self.unavailable("GET /v2/", describe(&error)), false));
                }
                Err(error) => {
                    refused = is_refused(&error);
                    last = describe(&error);
                }
            }
            if attempt + 1 < attempts {
                tokio::time::sleep(FIRST_BACKOFF * 2u32.pow(attempt)).await;
            }
        }
        Err((self.unavailable("GET /v2/", last), refused))
    }

    /// Sets the `Authorization` header the challenge calls for (a new token for Bearer).
    async fn authenticate(&self) -> Result<(), OciError> {
        let header = match &self.challenge {
            Challenge::None => None,
            Challenge::Basic => match &self.credentials {
                Some(credentials) => Some(basic_header(credentials)),
                None => {
                    return Err(OciError::Unauthorized {
                        host: self.host.clone(),
                        what: "GET /v2/".into(),
                        status: 401,
                        message: "the registry asks for a user name and password".into(),
                    });
                }
            },
            Challenge::Bearer { realm, service } => Some(self.token(realm, service.as_deref()).await?),
        };
        if let Ok(mut slot) = self.authorization.write() {
            *slot = header;
        }
        Ok(())
    }

    /// The token flow of the distribution spec: `GET realm?service=…&scope=…` with Basic
    /// credentials when there are some, or the OAuth refresh-token grant for an identity token.
    async fn token(&self, realm: &str, service: Option<&str>) -> Result<HeaderValue, OciError> {
        let realm_url = Url::parse(realm).map_err(|e| self.rejected("token realm", 0, format!("`{realm}`: {e}")))?;
        let token_host = match (realm_url.host_str(), realm_url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (host, None) => host.unwrap_or_default().to_string(),
            (None, Some(_)) => String::new(),
        };
        let what = format!("the token request to {realm}");
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            let request = match &self.credentials {
                Some(c) if c.username == "<token>" => {
                    let mut form = vec![
                        ("grant_type", "refresh_token".to_string()),
                        ("refresh_token", c.password.clone()),
                        ("client_id", "zenreg".to_string()),
                        ("scope", self.scopes.join(" ")),
                    ];
                    if let Some(service) = service {
                        form.push(("service", service.to_string()));
                    }
                    self.http.post(realm_url.clone()).form(&form)
                }
                credentials => {
                    let mut url = realm_url.clone();
                    {
                        let mut query = url.query_pairs_mut();
                        if let Some(service) = service {
                            query.append_pair("service", service);
                        }
                        for scope in &self.scopes {
                            query.append_pair("scope", scope);
                        }
                    }
                    let request = self.http.get(url);
                    match credentials {
                        Some(c) => request.header(AUTHORIZATION, basic_header(c)),
                        None => request,
                    }
                }
            };
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    #[derive(serde::Deserialize)]
                    struct Token {
                        token: Option<String>,
                        access_token: Option<String>,
                    }
                    let body = response.bytes().await.map_err(|e| self.unavailable(&what, error_chain(&e)))?;
                    let token: Token =
                        serde_json::from_slice(&body).map_err(|e| self.rejected(&what, 200, e.to_string()))?;
                    let token = token.token.or(token.access_token).filter(|t| !t.is_empty());
                    let token = token.ok_or_else(|| self.rejected(&what, 200, "no token in the answer".into()))?;
                    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                        .map_err(|_| self.rejected(&what, 200, "the token is not a valid header".into()))?;
                    value.set_sensitive(true);
                    return Ok(value);
                }
                Ok(response) if matches!(response.status().as_u16(), 401 | 403) => {
                    return Err(OciError::Unauthorized {
                        host: token_host,
                        what,
                        status: response.status().as_u16(),
                        message: error_message(response).await,
                    });
                }
                Ok(response) if is_transient_status(response.status()) => last = format!("HTTP {}", response.status()),
                Ok(response) => {
                    let status = response.status().as_u16();
                    return Err(self.rejected(&what, status, error_message(response).await));
                }
                Err(error) if is_transient(&error) => last = error_chain(&error),
                Err(error) => return Err(self.unavailable(&what, error_chain(&error))),
            }
            tokio::time::sleep(FIRST_BACKOFF * 2u32.pow(attempt)).await;
        }
        Err(self.unavailable(&what, last))
    }

    fn unavailable(&self, what: &str, message: String) -> OciError {
        OciError::Unavailable { host: self.host.clone(), what: what.to_string(), message }
    }

    fn rejected(&self, what: &str, status: u16, message: String) -> OciError {
        OciError::Rejected { host: self.host.clone(), what: what.to_string(), status, message }
    }

    /// The registry host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The repository pushed to.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// Whether the registry is reached over plain HTTP.
    pub fn is_plain_http(&self) -> bool {
        self.base.scheme() == "http"
    }

    fn url(&self, path: &str) -> Result<Url, OciError> {
        self.base.join(path).map_err(|e| self.unavailable(path, e.to_string()))
    }

    /// A `Location` header (absolute or relative) as a URL.
    fn location(&self, response: &Response, what: &str) -> Result<Url, OciError> {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.rejected(what, response.status().as_u16(), "no Location header".into()))?;
        self.base.join(location).map_err(|e| self.rejected(what, response.status().as_u16(), e.to_string()))
    }

    fn with_auth(&self, request: RequestBuilder) -> RequestBuilder {
        match self.authorization.read().ok().and_then(|slot| slot.clone()) {
            Some(value) => request.header(AUTHORIZATION, value),
            None => request,
        }
    }

    /// Sends a replayable request with retries; a 401 renews the token once. Statuses outside
    /// `expected` are errors.
    async fn send(
        &self,
        what: &str,
        expected: &[u16],
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response, OciError> {
        let mut renewed = false;
        let mut last = String::new();
        let mut attempt = 0;
        while attempt < ATTEMPTS {
            match self.with_auth(build(&self.http)).send().await {
                Ok(response) if expected.contains(&response.status().as_u16()) => return Ok(response),
                Ok(response) if response.status() == StatusCode::UNAUTHORIZED && !renewed => {
                    renewed = true;
                    self.authenticate().await?;
                    continue;
                }
                Ok(response) if matches!(response.status().as_u16(), 401 | 403) => {
                    return Err(OciError::Unauthorized {
                        host: self.host.clone(),
                        what: what.to_string(),
                        status: response.status().as_u16(),
                        message: error_message(response).await,
                    });
                }
                Ok(response) if is_transient_status(response.status()) => {
                    last = format!("HTTP {}: {}", response.status(), error_message(response).await);
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    return Err(self.rejected(what, status, error_message(response).await));
                }
                Err(error) if is_transient(&error) => last = describe(&error),
                Err(error) => return Err(self.unavailable(what, describe(&error))),
            }
            tokio::time::sleep(FIRST_BACKOFF * 2u32.pow(attempt)).await;
            attempt += 1;
        }
        Err(self.unavailable(what, last))
    }

    /// Sends a request whose body cannot be replayed: one attempt, classified like [`send`].
    async fn send_once(&self, what: &str, expected: &[u16], request: RequestBuilder) -> Result<Response, OciError> {
        match self.with_auth(request).send().await {
            Ok(response) if expected.contains(&response.status().as_u16()) => Ok(response),
            Ok(response) if matches!(response.status().as_u16(), 401 | 403) => Err(OciError::Unauthorized {
                host: self.host.clone(),
                what: what.to_string(),
                status: response.status().as_u16(),
                message: error_message(response).await,
            }),
            Ok(response) if is_transient_status(response.status()) => {
                let message = format!("HTTP {}: {}", response.status(), error_message(response).await);
                Err(self.unavailable(what, message))
            }
            Ok(response) => {
                let status = response.status().as_u16();
                Err(self.rejected(what, status, error_message(response).await))
            }
            Err(error) => Err(self.unavailable(what, error_chain(&error))),
        }
    }

    /// The size of blob `digest` in the repository, or `None` when it is not there.
    pub async fn blob_size(&self, digest: &str) -> Result<Option<u64>, OciError> {
        let url = self.url(&format!("v2/{}/blobs/{digest}", self.repository))?;
        let response = self.send(&format!("HEAD blob {digest}"), &[200, 404], |h| h.head(url.clone())).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(
            response
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        ))
    }

    /// Blob `digest` when the repository holds it and it is at most `limit` bytes (configs).
    pub async fn get_blob(&self, digest: &str, limit: u64) -> Result<Option<Bytes>, OciError> {
        let url = self.url(&format!("v2/{}/blobs/{digest}", self.repository))?;
        let what = format!("GET blob {digest}");
        let response = self.send(&what, &[200, 404], |h| h.get(url.clone())).await?;
        if response.status() == StatusCode::NOT_FOUND || response.content_length().is_some_and(|n| n > limit) {
            return Ok(None);
        }
        let bytes = response.bytes().await.map_err(|e| self.unavailable(&what, error_chain(&e)))?;
        Ok((bytes.len() as u64 <= limit && sha256(&bytes) == digest).then_some(bytes))
    }

    /// Asks the registry to mount blob `digest` from repository `from`; `true` when it did.
    pub async fn mount(&self, digest: &str, from: &str) -> Result<bool, OciError> {
        let mut url = self.url(&format!("v2/{}/blobs/uploads/", self.repository))?;
        url.query_pairs_mut().append_pair("mount", digest).append_pair("from", from);
        let what = format!("mount of {digest} from {from}");
        let response = self.send(&what, &[201, 202], |h| h.post(url.clone()).header(CONTENT_LENGTH, 0)).await?;
        if response.status() == StatusCode::CREATED {
            return Ok(true);
        }
        // 202: the registry opened an upload instead; it is not needed.
        if let Ok(location) = self.location(&response, &what) {
            let _ = self.with_auth(self.http.delete(location)).send().await;
        }
        Ok(false)
    }

    async fn start_upload(&self, what: &str) -> Result<Url, OciError> {
        let url = self.url(&format!("v2/{}/blobs/uploads/", self.repository))?;
        let response = self.send(what, &[202], |h| h.post(url.clone()).header(CONTENT_LENGTH, 0)).await?;
        self.location(&response, what)
    }

    fn with_digest(mut url: Url, digest: &str) -> Url {
        url.query_pairs_mut().append_pair("digest", digest);
        url
    }

    /// Uploads a blob held in memory (small blobs, configs). Each attempt opens an upload of
    /// its own: a registry keeps the part of a `PUT` it received before the connection broke, so
    /// sending the whole body again to the same upload is refused (`BLOB_UPLOAD_INVALID`).
    pub async fn upload_bytes(&self, digest: &str, data: Bytes) -> Result<(), OciError> {
        let what = format!("upload of {digest}");
        for attempt in 0..ATTEMPTS {
            let location = self.start_upload(&what).await?;
            let url = Self::with_digest(location, digest);
            let request = self.http.put(url).header(CONTENT_TYPE, "application/octet-stream").body(data.clone());
            match self.send_once(&what, &[201], request).await {
                Err(error) if (error.is_transient() || error.is_upload_lost()) && attempt + 1 < ATTEMPTS => {
                    tokio::time::sleep(FIRST_BACKOFF * 2u32.pow(attempt)).await;
                }
                other => return other.map(drop),
            }
        }
        Err(self.unavailable(&what, "no attempt left".into()))
    }

    /// Closes the upload at `location` as blob `digest` (an empty `PUT`). When an answer was
    /// lost and the retry finds the upload gone, the blob being there means the first one
    /// closed it.
    async fn finish_upload(&self, location: Url, digest: &str, what: &str) -> Result<(), OciError> {
        let url = Self::with_digest(location, digest);
        match self.send(what, &[201], |h| h.put(url.clone()).header(CONTENT_LENGTH, 0)).await {
            Err(error) if error.is_upload_lost() && self.blob_size(digest).await?.is_some() => Ok(()),
            other => other.map(drop),
        }
    }

    /// Uploads `size` bytes of `path` from `offset` as blob `digest`: in one request when small,
    /// else in chunks, resuming from the offset the registry reports after an interruption (or
    /// from the start when the registry lost the upload). `on_bytes` hears of bytes sent.
    pub async fn upload_file(
        &self,
        digest: &str,
        path: &Path,
        offset: u64,
        size: u64,
        on_bytes: &(dyn Fn(u64) + Sync),
    ) -> Result<(), OciError> {
        let io = |source| OciError::Io { path: path.to_path_buf(), source };
        if size <= MONOLITHIC_MAX {
            let mut file = tokio::fs::File::open(path).await.map_err(io)?;
            file.seek(std::io::SeekFrom::Start(offset)).await.map_err(io)?;
            let mut data = Vec::with_capacity(size as usize);
            file.take(size).read_to_end(&mut data).await.map_err(io)?;
            if data.len() as u64 != size {
                return Err(io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file is shorter than its blob",
                )));
            }
            self.upload_bytes(digest, Bytes::from(data)).await?;
            on_bytes(size);
            return Ok(());
        }
        let what = format!("upload of {digest}");
        let mut location = self.start_upload(&what).await?;
        let mut done: u64 = 0;
        let mut interruptions = 0;
        while done < size {
            let length = CHUNK.min(size - done);
            let mut file = tokio::fs::File::open(path).await.map_err(io)?;
            file.seek(std::io::SeekFrom::Start(offset + done)).await.map_err(io)?;
            let stream = tokio_util::io::ReaderStream::with_capacity(file.take(length), 256 * 1024);
            let request = self
                .http
                .patch(location.clone())
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, length)
                .header(CONTENT_RANGE, format!("{}-{}", done, done + length - 1))
                .body(Body::wrap_stream(stream));
            match self.send_once(&what, &[202], request).await {
                Ok(response) => {
                    location = self.location(&response, &what)?;
                    done += length;
                    on_bytes(length);
                }
                Err(error) if error.is_transient() && interruptions < RESUMES => {
                    tokio::time::sleep(FIRST_BACKOFF * 2u32.pow(interruptions.min(4))).await;
                    interruptions += 1;
                    match self.upload_offset(&location).await {
                        Some(offset) if offset <= done + length => {
                            if offset < done {
                                // Cannot happen with a sound registry; start over to stay safe.
                                location = self.start_upload(&what).await?;
                                done = 0;
                            } else {
                                on_bytes(offset - done);
                                done = offset;
                            }
                        }
                        _ => {
                            // The registry lost the upload (or cannot say where it stands):
                            // start again, the file is still there.
                            location = match self.start_upload(&what).await {
                                Ok(location) => location,
                                Err(error) if error.is_transient() => continue,
                                Err(error) => return Err(error),
                            };
                            done = 0;
                        }
                    }
                }
                Err(error) => return Err(error),
            }
        }
        self.finish_upload(location, digest, &what).await
    }

    /// How many bytes of the upload at `location` the registry holds (`GET` → `Range: 0-N`).
    async fn upload_offset(&self, location: &Url) -> Option<u64> {
        for attempt in 0..ATTEMPTS {
            match self.with_auth(self.http.get(location.clone())).send().await {
                Ok(response) if response.status() == StatusCode::NO_CONTENT => {
                    let range = response.headers().get(RANGE)?.to_str().ok()?;
                    let end: u64 = range.split_once('-')?.1.trim().parse().ok()?;
                    // `0-0` is what an empty upload reports (distribution's convention).
                    return Some(if end == 0 { 0 } else { end + 1 });
                }
                Ok(response) if is_transient_status(response.status()) => {}
                Ok(_) => return None,
                Err(_) => {}
            }
            tokio::time::sleep(FIRST_BACKOFF * 2u32.pow(attempt + 1)).await;
        }
        None
    }

    /// Uploads a blob whose bytes arrive on `chunks` and whose digest is known only when they
    /// have all arrived (`digest`): one streamed `PATCH`, then the closing `PUT`.
    pub async fn upload_stream(
        &self,
        chunks: tokio::sync::mpsc::Receiver<Bytes>,
        digest: tokio::sync::oneshot::Receiver<String>,
        what: &str,
        on_bytes: std::sync::Arc<dyn Fn(u64) + Send + Sync>,
    ) -> Result<String, OciError> {
        let location = self.start_upload(what).await?;
        let stream = futures_util::stream::unfold(chunks, move |mut rx| {
            let on_bytes = std::sync::Arc::clone(&on_bytes);
            async move {
                let chunk = rx.recv().await?;
                on_bytes(chunk.len() as u64);
                Some((Ok::<Bytes, std::io::Error>(chunk), rx))
            }
        });
        let request =
            self.http.patch(location).header(CONTENT_TYPE, "application/octet-stream").body(Body::wrap_stream(stream));
        let response = self.send_once(what, &[202], request).await?;
        let location = self.location(&response, what)?;
        // The producer drops its end of the digest channel when it fails; it reports why itself.
        let digest =
            digest.await.map_err(|_| self.unavailable(what, "the layer's producer stopped before its end".into()))?;
        self.finish_upload(location, &digest, what).await?;
        Ok(digest)
    }

    /// Puts a manifest (or index) under `reference` (a tag or its digest); returns its digest,
    /// checked against the registry's `Docker-Content-Digest`.
    pub async fn put_manifest(&self, reference: &str, media_type: &str, bytes: Bytes) -> Result<String, OciError> {
        let digest = sha256(&bytes);
        let url = self.url(&format!("v2/{}/manifests/{reference}", self.repository))?;
        let what = format!("PUT manifest {}:{reference}", self.repository);
        let response = self
            .send(&what, &[200, 201], |h| h.put(url.clone()).header(CONTENT_TYPE, media_type).body(bytes.clone()))
            .await?;
        if let Some(served) = response.headers().get("docker-content-digest").and_then(|v| v.to_str().ok())
            && served != digest
        {
            return Err(self.rejected(
                &what,
                response.status().as_u16(),
                format!("the registry stored {served}, zenreg sent {digest}"),
            ));
        }
        Ok(digest)
    }

    /// The digest of the manifest `reference` (a tag) names, of type `accept`, or `None` when the
    /// repository has no such tag.
    pub async fn manifest_digest(&self, reference: &str, accept: &str) -> Result<Option<String>, OciError> {
        let url = self.url(&format!("v2/{}/manifests/{reference}", self.repository))?;
        let what = format!("HEAD manifest {}:{reference}", self.repository);
        let response = self.send(&what, &[200, 404], |h| h.head(url.clone()).header("accept", accept)).await?;
        if response.status() != StatusCode::OK {
            return Ok(None);
        }
        Ok(response.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_string))
    }

    /// Whether manifest `digest` exists in the repository.
    pub async fn manifest_exists(&self, digest: &str, accept: &str) -> Result<bool, OciError> {
        let url = self.url(&format!("v2/{}/manifests/{digest}", self.repository))?;
        let what = format!("HEAD manifest {digest}");
        let response = self.send(&what, &[200, 404], |h| h.head(url.clone()).header("accept", accept)).await?;
        Ok(response.status() == StatusCode::OK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_loopback_hosts() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(is_loopback("127.3.4.5"));
        assert!(!is_loopback("registry.example.invalid"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }

    #[test]
    fn reads_challenges() {
        match parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull""#,
        ) {
            Challenge::Bearer { realm, service } => {
                assert_eq!(realm, "https://auth.docker.io/token");
                assert_eq!(service.as_deref(), Some("registry.docker.io"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_challenge(r#"Basic realm="x""#), Challenge::Basic));
    }
}
