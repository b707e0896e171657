//! A client of the OCI distribution API for one repository: `/v2/` ping, anonymous, Basic and
//! Bearer-token authentication, blob `HEAD`, cross-repository mount, uploads (monolithic for
//! small blobs, chunked and resumable for large ones read from a file, one streamed `PATCH` for
//! layers compressed on the fly), and manifest `PUT`.
//!
//! HTTPS uses the system roots plus `SSL_CERT_FILE`; plain HTTP is used only for loopback
//! registries, and only when they do not speak TLS (as Docker treats 127.0.0.0/8 as insecure).
//!
//! The registry and the network are untrusted: credentials go only to the registry's own origin
//! (and Basic ones to the token realm it names); a redirect, `Location` or realm that steps down
//! from HTTPS to HTTP is refused; every body read into memory has a cap; control requests have
//! deadlines and blob transfers a progress timeout ([`policy`]); every
//! number from the network is parsed with checked arithmetic ([`wire`]).

use crate::oci::digest::sha256;
use crate::oci::error::{Cause, ErrorCode, OciError, causes, is_refused, is_tls_failure};
use crate::oci::policy::{self, Budget, Policy};
use crate::oci::wire::{self, Challenge};
use bytes::Bytes;
use futures_util::Stream;
use reqwest::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION, RANGE, RETRY_AFTER,
    WWW_AUTHENTICATE,
};
use reqwest::{Body, RequestBuilder, Response, StatusCode, Url};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use zenreg_core::{Credentials, ExposeSecret, SecretString};

/// Blobs up to this size go up in one request from memory.
pub const MONOLITHIC_MAX: u64 = 8 * 1024 * 1024;
/// Bytes of an error body read (the rest is dropped with the connection): distribution's error
/// JSON is a few hundred bytes.
pub const ERROR_BODY_MAX: usize = 4 * 1024;
/// Characters of an error body that is not distribution's JSON shown in a message.
const ERROR_SHOWN: usize = 200;
/// The largest token answer read (real ones are a few KiB; JWTs with many scopes tens).
pub const TOKEN_MAX: usize = 1024 * 1024;
/// The largest manifest or config read back: the 4 MiB distribution allows for manifests.
pub const MANIFEST_MAX: u64 = 4 * 1024 * 1024;
/// A token's lifetime when its answer gives none (the distribution token spec's default).
const TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// Slices in which a blob held in memory is handed to the connection (the progress timeout sees
/// each one go).
const SLICE: usize = 256 * 1024;
/// Redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

/// The `Authorization` in use and when it must be renewed (tokens expire). Its value (`Basic …`
/// or `Bearer TOKEN`) is held as a secret, zeroized when dropped; each request gets a header
/// marked sensitive built from it.
#[derive(Clone)]
struct Authorization {
    value: SecretString,
    renew_at: Option<Instant>,
}

impl Authorization {
    fn header(&self) -> HeaderValue {
        sensitive_header(self.value.expose_secret())
    }

    /// The credential itself: the token, or the Basic form's base64.
    fn credential(&self) -> &str {
        let value = self.value.expose_secret();
        value.split_once(' ').map_or(value, |(_, credential)| credential)
    }
}

/// A connection to one repository of one registry.
pub struct Registry {
    http: reqwest::Client,
    base: Url,
    host: String,
    repository: String,
    credentials: Option<Credentials>,
    challenge: RwLock<Option<Challenge>>,
    scopes: Vec<String>,
    authorization: RwLock<Option<Authorization>>,
    policy: Policy,
    budget: Arc<Budget>,
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

/// Why zenreg stopped a redirect: carried through reqwest's error as its source, and found
/// again by its type.
#[derive(Debug)]
struct RedirectRefused(String);

impl std::fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedirectRefused {}

/// Redirects are followed (reqwest drops `Authorization` when host or port change), except one
/// that leaves http(s), steps down from HTTPS to HTTP, or changes only the scheme (reqwest would
/// keep the credentials).
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(RedirectRefused(format!("more than {MAX_REDIRECTS} redirects")));
        }
        let Some(previous) = attempt.previous().last() else { return attempt.follow() };
        let next = attempt.url();
        let refusal = if !matches!(next.scheme(), "http" | "https") {
            Some(format!("a redirect to `{}` is not HTTP(S)", shown_url(next)))
        } else if previous.scheme() == "https" && next.scheme() == "http" {
            Some(format!("a redirect to `{}` steps down from HTTPS to plain HTTP", shown_url(next)))
        } else if previous.scheme() != next.scheme()
            && previous.host_str() == next.host_str()
            && previous.port_or_known_default() == next.port_or_known_default()
        {
            Some(format!("a redirect to `{}` changes only the scheme", shown_url(next)))
        } else {
            None
        };
        match refusal {
            Some(message) => attempt.error(RedirectRefused(message)),
            None => attempt.follow(),
        }
    })
}

/// The refusal of a redirect in a failed request, if that is why it failed.
fn redirect_refusal(error: &reqwest::Error) -> Option<String> {
    causes(error).find_map(|cause| cause.downcast_ref::<RedirectRefused>()).map(|refused| refused.0.clone())
}

fn client_builder(policy: &Policy) -> reqwest::ClientBuilder {
    // No `timeout` or `read_timeout` here: reqwest 0.12's are whole-request deadlines, which
    // would fail a long honest upload. Control requests set their own; blob transfers are
    // watched for progress instead.
    // HTTP/1.1 only, one connection per concurrent upload: uploads multiplexed on one HTTP/2
    // connection share its TCP window and its flow control, which caps a push's throughput on
    // a link with latency.
    reqwest::Client::builder()
        .http1_only()
        .connect_timeout(policy.connect)
        .redirect(redirect_policy())
        .pool_max_idle_per_host(16)
        .user_agent(concat!("zenreg/", env!("CARGO_PKG_VERSION")))
}

/// A client for plain HTTP only: it loads no root certificates (reading the system's hundreds
/// of them is a good part of a warm push to a loopback registry).
fn plain_http_client(policy: &Policy) -> Result<reqwest::Client, Cause> {
    client_builder(policy).tls_built_in_root_certs(false).build().map_err(|e| Cause::Setup(Box::new(e)))
}

fn http_client(policy: &Policy) -> Result<reqwest::Client, Cause> {
    let mut builder = client_builder(policy);
    // rustls-native-certs reads SSL_CERT_FILE in place of the system bundle; adding it here too
    // keeps the system roots when a CA of one's own is given.
    if let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
        let ca_file =
            |source: Box<dyn std::error::Error + Send + Sync>| Cause::CaFile { path: path.clone().into(), source };
        let pem = std::fs::read(&path).map_err(|e| ca_file(Box::new(e)))?;
        for certificate in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_file(Box::new(e)))? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder.build().map_err(|e| Cause::Setup(Box::new(e)))
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

/// A URL as shown in messages: no user info, query or fragment (a presigned storage URL
/// carries its signature in the query).
fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// Whether two URLs have one origin: scheme, host and port.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme() && a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

/// Query parameters shown in the log with their values: they name blobs, repositories and
/// scopes, never a credential.
const LOGGED_QUERY_KEYS: &[&str] = &["digest", "mount", "from", "service", "scope", "n", "last"];

/// A URL as logged: no user info or fragment, and the value of every query parameter other than
/// [`LOGGED_QUERY_KEYS`] replaced by `…` (presigned storage URLs carry signatures there).
fn logged_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_fragment(None);
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if LOGGED_QUERY_KEYS.contains(&key.as_ref()) { value.into_owned() } else { "…".into() };
                (key.into_owned(), value)
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

/// What kind of failure a failed request was, in a word for the log (by reqwest's kinds and the
/// causes' types).
fn failure_kind(error: &reqwest::Error) -> &'static str {
    if is_tls_failure(error) {
        "tls"
    } else if is_refused(error) {
        "connection refused"
    } else if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_redirect() {
        "redirect refused"
    } else if error.is_body() {
        "body"
    } else {
        "request"
    }
}

/// A failed request kept as the cause of an error: its URL as shown in messages (no query, no
/// user info), so that no text of its chain can show a presigned URL's signature.
fn sanitized(mut error: reqwest::Error) -> reqwest::Error {
    if let Some(url) = error.url_mut() {
        *url = Url::parse(&shown_url(url)).unwrap_or_else(|_| url.clone());
    }
    error
}

/// A transient transport failure: worth another attempt.
fn is_transient(error: &reqwest::Error) -> bool {
    error.is_connect() || error.is_timeout() || error.is_request() || error.is_body()
}

fn is_transient_status(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT
}

fn seconds(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs.fract() == 0.0 { format!("{secs:.0} s") } else { format!("{secs:.1} s") }
}

/// At most `cap` bytes of a body; the rest is dropped with the connection.
async fn read_prefix(mut response: Response, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < cap {
        match response.chunk().await {
            Ok(Some(chunk)) => out.extend_from_slice(chunk.get(..chunk.len().min(cap - out.len())).unwrap_or_default()),
            _ => break,
        }
    }
    out
}

/// A body of at most `cap` bytes: `None` when its `Content-Length` says more (nothing read) or
/// more arrive (reading stops there).
async fn read_capped(mut response: Response, cap: usize) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Ok(None);
    }
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if chunk.len() > cap - out.len() {
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Some(out))
}

/// The `errors` of a distribution API error body (its first [`ERROR_BODY_MAX`] bytes), as
/// `CODE: message; …`, and their codes.
fn error_text(bytes: &[u8]) -> (String, Vec<ErrorCode>) {
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
    match serde_json::from_slice::<Body>(bytes) {
        Ok(body) if !body.errors.is_empty() => (
            body.errors
                .iter()
                .map(|e| if e.message.is_empty() { e.code.clone() } else { format!("{}: {}", e.code, e.message) })
                .collect::<Vec<_>>()
                .join("; "),
            body.errors.iter().map(|e| ErrorCode::parse(&e.code)).collect(),
        ),
        _ => {
            let text = String::from_utf8_lossy(bytes);
            let shown = text
                .chars()
                .take(ERROR_SHOWN)
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect::<String>()
                .trim()
                .to_string();
            (shown, Vec::new())
        }
    }
}

/// A header value that `Debug` and HTTP/2's header compression treat as sensitive.
fn sensitive_header(value: &str) -> HeaderValue {
    let mut header = HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""));
    header.set_sensitive(true);
    header
}

/// `Basic base64(user:password)`, as a secret.
fn basic_value(credentials: &Credentials) -> SecretString {
    use base64::Engine;
    let pair = SecretString::from(format!("{}:{}", credentials.username, credentials.password.expose_secret()));
    SecretString::from(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair.expose_secret())))
}

fn basic_header(credentials: &Credentials) -> HeaderValue {
    sensitive_header(basic_value(credentials).expose_secret())
}

/// Every `WWW-Authenticate` value of an answer that is text.
fn challenges(headers: &HeaderMap) -> Vec<&str> {
    headers.get_all(WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok()).collect()
}

/// When a blob transfer last moved bytes: the request body's stream marks each chunk the
/// connection takes, and the time it waits on its own producer (a compressor) is not a stall.
/// Once the whole body is handed over, the kernel's buffers may still hold megabytes that drain
/// at the link's pace before the registry can answer: the wait for the answer is then bounded
/// by the closing deadline instead.
struct Stall {
    last: Mutex<Instant>,
    on_source: AtomicBool,
    sent: AtomicBool,
    handed: std::sync::atomic::AtomicU64,
    length: Option<u64>,
}

impl Stall {
    fn new(length: Option<u64>) -> Arc<Stall> {
        Arc::new(Stall {
            last: Mutex::new(Instant::now()),
            on_source: AtomicBool::new(false),
            sent: AtomicBool::new(false),
            handed: std::sync::atomic::AtomicU64::new(0),
            length,
        })
    }

    /// Whether the connection took the whole body.
    fn handed_over(&self) -> bool {
        self.sent.load(Ordering::SeqCst) || self.length.is_some_and(|n| self.handed.load(Ordering::SeqCst) >= n)
    }

    fn moved(&self) {
        if let Ok(mut last) = self.last.lock() {
            *last = Instant::now();
        }
    }

    /// How long nothing moved (zero while the body waits on its producer).
    fn idle(&self) -> Duration {
        if self.on_source.load(Ordering::SeqCst) {
            self.moved();
        }
        self.last.lock().map(|last| last.elapsed()).unwrap_or_default()
    }
}

/// A request body that reports to a [`Stall`].
struct Watched<S> {
    inner: Pin<Box<S>>,
    stall: Arc<Stall>,
}

impl<S: Stream<Item = Result<Bytes, std::io::Error>>> Stream for Watched<S> {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        // Waiting on the producer until it wakes the connection: set before polling, so that a
        // wake during the poll clears it.
        this.stall.on_source.store(true, Ordering::SeqCst);
        let waker = Waker::from(Arc::new(SourceWaker { stall: Arc::clone(&this.stall), inner: cx.waker().clone() }));
        let poll = this.inner.as_mut().poll_next(&mut Context::from_waker(&waker));
        if let Poll::Ready(item) = &poll {
            this.stall.on_source.store(false, Ordering::SeqCst);
            match item {
                None => this.stall.sent.store(true, Ordering::SeqCst),
                Some(Ok(chunk)) => {
                    this.stall.handed.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                }
                Some(Err(_)) => {}
            }
            this.stall.moved();
        }
        poll
    }
}

/// The waker a body's producer gets: when the producer is ready again, the wait on it ends
/// (the connection may then take its time to poll: that time counts).
struct SourceWaker {
    stall: Arc<Stall>,
    inner: Waker,
}

impl Wake for SourceWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.stall.on_source.swap(false, Ordering::SeqCst) {
            self.stall.moved();
        }
        self.inner.wake_by_ref();
    }
}

fn watched_body<S>(stream: S, stall: &Arc<Stall>) -> Body
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
{
    Body::wrap_stream(Watched { inner: Box::pin(stream), stall: Arc::clone(stall) })
}

/// A blob in memory as a stream of slices.
fn sliced(data: Bytes) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let length = data.len();
    futures_util::stream::iter(
        (0..length).step_by(SLICE).map(move |start| Ok(data.slice(start..start.saturating_add(SLICE).min(length)))),
    )
}

/// What an unexpected answer means for the request.
enum Failure {
    /// Worth another attempt (after `retry_after` if the registry named one).
    Retry { cause: Cause, retry_after: Option<Duration> },
    /// Final.
    Final(OciError),
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
        Registry::connect_for(host, repository, credentials, also_pull, "pull,push").await
    }

    /// As [`connect`](Registry::connect), with a token that may also delete in `repository`
    /// (a token registry refuses `DELETE` to a token of `pull,push`; one that grants less gives
    /// a token of what it grants, and the registry then says no).
    pub async fn connect_to_delete(
        host: &str,
        repository: &str,
        credentials: Option<Credentials>,
    ) -> Result<Registry, OciError> {
        Registry::connect_for(host, repository, credentials, &[], "pull,push,delete").await
    }

    async fn connect_for(
        host: &str,
        repository: &str,
        credentials: Option<Credentials>,
        also_pull: &[String],
        actions: &str,
    ) -> Result<Registry, OciError> {
        let unavailable =
            |what: &str, cause: Cause| OciError::Unavailable { host: host.to_string(), what: what.to_string(), cause };
        let policy = Policy::from_env().map_err(|message| OciError::Settings { message })?;
        let loopback = is_loopback(host);
        let http = if loopback { plain_http_client(&policy) } else { http_client(&policy) }
            .map_err(|m| unavailable("setting up HTTP", m))?;
        let mut scopes = vec![format!("repository:{repository}:{actions}")];
        scopes.extend(also_pull.iter().filter(|r| *r != repository).map(|r| format!("repository:{r}:pull")));
        let scheme = if loopback { "http" } else { "https" };
        let mut registry = Registry {
            http,
            base: Url::parse(&format!("{scheme}://{host}/"))
                .map_err(|e| unavailable("parsing the address", Cause::Setup(Box::new(e))))?,
            host: host.to_string(),
            repository: repository.to_string(),
            credentials,
            challenge: RwLock::new(None),
            scopes,
            authorization: RwLock::new(None),
            budget: policy::current_budget(&policy),
            policy,
        };
        // Plain HTTP is for loopback registries only, as Docker decides. Those are asked over
        // plain HTTP first (the ping carries no credentials), and over HTTPS when what answers
        // is a TLS server (Go's answers plain HTTP with 400) or does not speak HTTP at all; a
        // refused connection, a silent server or a refused redirect is reported as it is.
        let mut tls_ready = !loopback;
        let response = match registry.ping().await {
            Ok(response) if !(loopback && response.status() == StatusCode::BAD_REQUEST) => response,
            Err((error, refused)) if !loopback || refused || !error.is_transient() => return Err(error),
            _ => {
                registry.http = http_client(&registry.policy).map_err(|m| unavailable("setting up HTTPS", m))?;
                registry.base = Url::parse(&format!("https://{host}/"))
                    .map_err(|e| unavailable("parsing the address", Cause::Setup(Box::new(e))))?;
                tls_ready = true;
                registry.ping().await.map_err(|(error, _)| error)?
            }
        };
        match response.status() {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED => {
                let challenge = registry.challenge_of(&response, "GET /v2/")?;
                // A token service of a plain-HTTP registry may itself be on HTTPS.
                if let Challenge::Bearer { realm, .. } = &challenge
                    && !tls_ready
                    && Url::parse(realm).is_ok_and(|url| url.scheme() == "https")
                {
                    registry.http = http_client(&registry.policy).map_err(|m| unavailable("setting up HTTPS", m))?;
                }
                if let Ok(mut slot) = registry.challenge.write() {
                    *slot = Some(challenge);
                }
                registry.authenticate().await?;
            }
            status => {
                let message = registry.error_message(response).await;
                return Err(registry.rejected("GET /v2/", status.as_u16(), message));
            }
        }
        Ok(registry)
    }

    /// The challenge of a 401 that zenreg answers, or the error naming what was offered
    /// instead (no credential is sent then).
    fn challenge_of(&self, response: &Response, what: &str) -> Result<Challenge, OciError> {
        wire::choose_challenge(challenges(response.headers())).map_err(|offered| {
            self.untrusted(
                what,
                format!("the registry asks for {offered}, which zenreg does not answer; no credentials were sent"),
            )
        })
    }

    /// `GET /v2/`, with retries; a failure says whether the connection was refused (nothing
    /// listens there, so HTTPS would not do better than plain HTTP).
    async fn ping(&self) -> Result<Response, (OciError, bool)> {
        let what = "GET /v2/";
        let url = self.base.join("v2/").map_err(|e| (self.unavailable(what, Cause::Setup(Box::new(e))), false))?;
        let mut attempt = 0;
        let mut timeouts = 0;
        loop {
            let mut refused = false;
            let (cause, retry_after) =
                match self.send_as_built(self.http.get(url.clone()).timeout(self.policy.request), attempt).await {
                    Ok(response) if is_transient_status(response.status()) => {
                        let retry_after = self.retry_after(response.headers());
                        (Cause::Status { status: response.status(), message: None }, retry_after)
                    }
                    Ok(response) => return Ok(response),
                    Err(error) if is_tls_failure(&error) => {
                        return Err((OciError::Tls { host: self.host.clone(), source: sanitized(error) }, false));
                    }
                    Err(error) if url.scheme() == "http" && !error.is_connect() && !error.is_timeout() => {
                        // Plain HTTP that got an answer in another protocol (a TLS-only server): no
                        // retry, HTTPS is next (unless zenreg refused a redirect).
                        return Err((
                            match self.transport_failure(what, error, &mut timeouts, self.policy.request) {
                                Ok(cause) => self.unavailable(what, cause),
                                Err(error) => error,
                            },
                            false,
                        ));
                    }
                    Err(error) => {
                        refused = is_refused(&error);
                        match self.transport_failure(what, error, &mut timeouts, self.policy.request) {
                            Ok(cause) => (cause, None),
                            Err(error) => return Err((error, false)),
                        }
                    }
                };
            if !self.pause(attempt, retry_after, &cause.to_string()).await {
                return Err((self.unavailable(what, cause), refused));
            }
            attempt += 1;
        }
    }

    /// Takes a retry from the push's budget and waits before it; `false` when none is left.
    /// The pause is told to the budget's watcher (the progress shows it), with `reason`.
    async fn pause(&self, attempt: u32, retry_after: Option<Duration>, reason: &str) -> bool {
        if !self.budget.take() {
            return false;
        }
        let delay = self.policy.backoff(attempt, retry_after);
        self.budget.waiting(policy::Wait {
            host: self.host.clone(),
            delay,
            asked: retry_after.is_some(),
            reason: reason.to_string(),
        });
        tokio::time::sleep(delay).await;
        true
    }

    fn retry_after(&self, headers: &HeaderMap) -> Option<Duration> {
        headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| wire::retry_after(v, self.policy.retry_after_max))
    }

    /// A failed request: the cause of another attempt, or the final error (a refused
    /// redirect; a second timeout, as a silent server stays silent; a failure that is not
    /// transient).
    fn transport_failure(
        &self,
        what: &str,
        error: reqwest::Error,
        timeouts: &mut u32,
        deadline: Duration,
    ) -> Result<Cause, OciError> {
        if let Some(refusal) = redirect_refusal(&error) {
            return Err(self.untrusted(what, format!("{refusal}; zenreg sends nothing there")));
        }
        if error.is_timeout() {
            *timeouts += 1;
            let waited = if error.is_connect() {
                format!("could not connect within {}", seconds(self.policy.connect))
            } else {
                format!("no complete answer within {}", seconds(deadline))
            };
            if *timeouts > 1 {
                return Err(self.timed_out(what, waited));
            }
            return Ok(Cause::Waited { waited });
        }
        if is_transient(&error) {
            return Ok(Cause::Transport(sanitized(error)));
        }
        Err(self.unavailable(what, Cause::Transport(sanitized(error))))
    }

    /// Sets the `Authorization` header the challenge calls for (a new token for Bearer).
    async fn authenticate(&self) -> Result<(), OciError> {
        let challenge = self.challenge.read().ok().and_then(|c| c.clone());
        let authorization = match challenge {
            None => None,
            Some(Challenge::Basic) => match &self.credentials {
                Some(credentials) => Some(Authorization { value: basic_value(credentials), renew_at: None }),
                None => {
                    return Err(OciError::Unauthorized {
                        host: self.host.clone(),
                        what: "GET /v2/".into(),
                        status: 401,
                        message: "the registry asks for a user name and password".into(),
                    });
                }
            },
            Some(Challenge::Bearer { realm, service }) => Some(self.token(&realm, service.as_deref()).await?),
        };
        if let Ok(mut slot) = self.authorization.write() {
            *slot = authorization;
        }
        Ok(())
    }

    /// Renews a token that is about to expire.
    async fn fresh(&self) -> Result<(), OciError> {
        let expired = self
            .authorization
            .read()
            .ok()
            .and_then(|a| a.as_ref().and_then(|a| a.renew_at))
            .is_some_and(|at| Instant::now() >= at);
        if expired { self.authenticate().await } else { Ok(()) }
    }

    /// The realm of a Bearer challenge, if zenreg may send credentials there: HTTP(S), no user
    /// info, and not plain HTTP for an HTTPS registry.
    fn check_realm(&self, realm: &str) -> Result<Url, OciError> {
        let what = "the token realm";
        let url = Url::parse(realm).map_err(|e| self.untrusted(what, format!("`{realm}` is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(
                self.untrusted(what, format!("`{}` is not an HTTP(S) URL; no credentials were sent", url.scheme()))
            );
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(self.untrusted(
                what,
                format!("`{}` carries a user name or password; no credentials were sent", shown_url(&url)),
            ));
        }
        if self.base.scheme() == "https" && url.scheme() == "http" {
            return Err(self.untrusted(
                what,
                format!("`{}` steps down from HTTPS to plain HTTP; no credentials were sent", shown_url(&url)),
            ));
        }
        Ok(url)
    }

    /// The token flow of the distribution spec: `GET realm?service=…&scope=…` with Basic
    /// credentials when there are some, or the OAuth refresh-token grant for an identity token.
    async fn token(&self, realm: &str, service: Option<&str>) -> Result<Authorization, OciError> {
        let realm_url = self.check_realm(realm)?;
        let token_host = match (realm_url.host_str(), realm_url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (host, None) => host.unwrap_or_default().to_string(),
            (None, Some(_)) => String::new(),
        };
        let what = format!("the token request to {}", shown_url(&realm_url));
        let mut attempt = 0;
        let mut timeouts = 0;
        loop {
            let request = match &self.credentials {
                Some(c) if c.username == "<token>" => {
                    let mut form = vec![
                        ("grant_type", "refresh_token".to_string()),
                        ("refresh_token", c.password.expose_secret().to_string()),
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
            // Sent as built: the realm gets the Basic credentials above, never the registry's
            // current `Authorization`.
            let (cause, retry_after) = match self.send_as_built(request.timeout(self.policy.request), attempt).await {
                Ok(response) if response.status().is_success() => {
                    let body = match read_capped(response, TOKEN_MAX).await {
                        Ok(Some(body)) => body,
                        Ok(None) => {
                            return Err(self.untrusted(&what, format!("the answer is over {TOKEN_MAX} bytes")));
                        }
                        Err(error) => match self.transport_failure(&what, error, &mut timeouts, self.policy.request) {
                            Ok(cause) => {
                                if !self.pause(attempt, None, &cause.to_string()).await {
                                    return Err(self.unavailable(&what, cause));
                                }
                                attempt += 1;
                                continue;
                            }
                            Err(error) => return Err(error),
                        },
                    };
                    return self.parse_token(&body, &what);
                }
                Ok(response) if matches!(response.status().as_u16(), 401 | 403) => {
                    return Err(OciError::Unauthorized {
                        host: token_host,
                        what,
                        status: response.status().as_u16(),
                        message: self.error_message(response).await,
                    });
                }
                Ok(response) if is_transient_status(response.status()) => {
                    (Cause::Status { status: response.status(), message: None }, self.retry_after(response.headers()))
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    return Err(self.rejected(&what, status, self.error_message(response).await));
                }
                Err(error) => (self.transport_failure(&what, error, &mut timeouts, self.policy.request)?, None),
            };
            if !self.pause(attempt, retry_after, &cause.to_string()).await {
                return Err(self.unavailable(&what, cause));
            }
            attempt += 1;
        }
    }

    /// The token of a token answer, renewed before `expires_in` runs out (its last tenth, at
    /// most 30 s, kept as a margin for requests in flight).
    fn parse_token(&self, body: &[u8], what: &str) -> Result<Authorization, OciError> {
        let answer: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| self.rejected(what, 200, "the answer is not JSON".into()))?;
        let token = ["token", "access_token"]
            .iter()
            .find_map(|key| answer.get(key).and_then(serde_json::Value::as_str).filter(|t| !t.is_empty()))
            .ok_or_else(|| self.rejected(what, 200, "no token in the answer".into()))?;
        let lifetime = answer
            .get("expires_in")
            .and_then(serde_json::Value::as_u64)
            .filter(|seconds| *seconds > 0)
            .map_or(TOKEN_LIFETIME, |seconds| Duration::from_secs(seconds.min(365 * 24 * 3600)));
        let margin = (lifetime / 10).min(Duration::from_secs(30));
        let value = SecretString::from(format!("Bearer {token}"));
        HeaderValue::from_str(value.expose_secret())
            .map_err(|_| self.rejected(what, 200, "the token is not a valid header".into()))?;
        Ok(Authorization { value, renew_at: Instant::now().checked_add(lifetime - margin) })
    }

    fn unavailable(&self, what: &str, cause: impl Into<Cause>) -> OciError {
        OciError::Unavailable { host: self.host.clone(), what: what.to_string(), cause: cause.into() }
    }

    /// A refusal zenreg words itself (no registry error codes).
    fn rejected(&self, what: &str, status: u16, message: String) -> OciError {
        self.rejected_answer(what, status, (message, Vec::new()))
    }

    /// A refusal with the registry's own words and error codes ([`error_answer`](Self::error_answer)).
    fn rejected_answer(&self, what: &str, status: u16, (message, codes): (String, Vec<ErrorCode>)) -> OciError {
        OciError::Rejected { host: self.host.clone(), what: what.to_string(), status, message, codes }
    }

    fn untrusted(&self, what: &str, message: String) -> OciError {
        OciError::Untrusted { host: self.host.clone(), what: what.to_string(), message }
    }

    fn timed_out(&self, what: &str, waited: String) -> OciError {
        OciError::TimedOut { host: self.host.clone(), what: what.to_string(), waited }
    }

    /// The first [`ERROR_BODY_MAX`] bytes of an error answer, in words; within the control
    /// deadline (an upload's answer has none of its own).
    /// A registry that echoes what it was sent gets its credentials replaced by `********`.
    async fn error_message(&self, response: Response) -> String {
        self.error_answer(response).await.0
    }

    /// [`error_message`](Self::error_message), with the error codes of the answer.
    async fn error_answer(&self, response: Response) -> (String, Vec<ErrorCode>) {
        match tokio::time::timeout(self.policy.request, read_prefix(response, ERROR_BODY_MAX)).await {
            Ok(bytes) => {
                let (text, codes) = error_text(&bytes);
                (self.redact(text), codes)
            }
            Err(_) => (String::new(), Vec::new()),
        }
    }

    /// `text` with every credential zenreg holds for this registry (the password or identity
    /// token, its Basic form, the current token) replaced by `********`.
    fn redact(&self, mut text: String) -> String {
        let mut secrets: Vec<SecretString> = Vec::new();
        if let Some(credentials) = &self.credentials {
            secrets.push(credentials.password.clone());
            let basic = Authorization { value: basic_value(credentials), renew_at: None };
            secrets.push(SecretString::from(basic.credential()));
        }
        if let Some(authorization) = self.authorization.read().ok().and_then(|a| a.clone()) {
            secrets.push(SecretString::from(authorization.credential()));
        }
        for secret in secrets.iter().map(ExposeSecret::expose_secret).filter(|s| s.len() >= 4) {
            if text.contains(secret) {
                text = text.replace(secret, "********");
            }
        }
        text
    }

    /// The registry host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The repository pushed to.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The time limits, retries and upload settings in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether the registry is reached over plain HTTP.
    pub fn is_plain_http(&self) -> bool {
        self.base.scheme() == "http"
    }

    fn url(&self, path: &str) -> Result<Url, OciError> {
        self.base.join(path).map_err(|e| self.unavailable(path, Cause::Setup(Box::new(e))))
    }

    /// A `Location` header (absolute or relative) as a URL: HTTP(S), without user info, and not
    /// plain HTTP for an HTTPS registry. Another origin is fine (presigned storage URLs): it
    /// gets no credentials.
    fn location(&self, response: &Response, what: &str) -> Result<Url, OciError> {
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.rejected(what, status, "no Location header".into()))?;
        let url = self.base.join(location).map_err(|e| self.rejected(what, status, e.to_string()))?;
        let refusal = if !matches!(url.scheme(), "http" | "https") {
            Some("is not HTTP(S)")
        } else if !url.username().is_empty() || url.password().is_some() {
            Some("carries a user name or password")
        } else if self.base.scheme() == "https" && url.scheme() == "http" {
            Some("steps down from HTTPS to plain HTTP")
        } else {
            None
        };
        match refusal {
            Some(why) => Err(self.untrusted(
                what,
                format!("the upload Location `{}` {why}; zenreg sends nothing there", shown_url(&url)),
            )),
            None => Ok(url),
        }
    }

    /// Builds a request and adds the registry's `Authorization` when, and only when, it goes to
    /// the registry's own origin.
    async fn execute(&self, request: RequestBuilder) -> Result<Response, reqwest::Error> {
        self.execute_attempt(request, 0).await
    }

    /// [`execute`](Self::execute) of attempt `retry` (0 for the first), logged.
    async fn execute_attempt(&self, request: RequestBuilder, retry: u32) -> Result<Response, reqwest::Error> {
        let mut request = request.build()?;
        if same_origin(request.url(), &self.base)
            && let Some(authorization) = self.authorization.read().ok().and_then(|slot| slot.clone())
        {
            request.headers_mut().insert(AUTHORIZATION, authorization.header());
        }
        self.logged(request, retry).await
    }

    /// Sends a request as built (no `Authorization` added), logged.
    async fn send_as_built(&self, request: RequestBuilder, retry: u32) -> Result<Response, reqwest::Error> {
        self.logged(request.build()?, retry).await
    }

    /// Sends a request and logs the exchange at debug level (`ZENREG_LOG=debug`): method, URL
    /// (query values other than digests, mounts and scopes hidden: a presigned URL's signature
    /// is a credential), status or kind of failure, bytes each way when known, time, retry.
    /// Headers and bodies are never logged.
    async fn logged(&self, request: reqwest::Request, retry: u32) -> Result<Response, reqwest::Error> {
        if !tracing::enabled!(target: "zenreg_push::http", tracing::Level::DEBUG) {
            return self.http.execute(request).await;
        }
        let method = request.method().clone();
        let url = logged_url(request.url());
        let sent =
            request.body().and_then(reqwest::Body::as_bytes).map(|b| b.len() as u64).or_else(|| {
                request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(wire::decimal)
            });
        let started = Instant::now();
        let outcome = self.http.execute(request).await;
        let ms = started.elapsed().as_millis() as u64;
        let sent = sent.map_or_else(|| "-".to_string(), |n| n.to_string());
        match &outcome {
            Ok(response) => {
                let received = response.content_length().map_or_else(|| "-".to_string(), |n| n.to_string());
                tracing::debug!(
                    target: "zenreg_push::http",
                    "{method} {url} -> {} sent={sent} received={received} ms={ms} retry={retry}",
                    response.status().as_u16()
                );
            }
            Err(error) => {
                tracing::debug!(
                    target: "zenreg_push::http",
                    "{method} {url} -> failed ({}) sent={sent} ms={ms} retry={retry}",
                    failure_kind(error)
                );
            }
        }
        outcome
    }

    /// What an answer outside the expected statuses means.
    async fn failure(&self, what: &str, response: Response) -> Failure {
        let status = response.status();
        if matches!(status.as_u16(), 401 | 403) {
            return Failure::Final(OciError::Unauthorized {
                host: self.host.clone(),
                what: what.to_string(),
                status: status.as_u16(),
                message: self.error_message(response).await,
            });
        }
        if is_transient_status(status) {
            let retry_after = self.retry_after(response.headers());
            return Failure::Retry {
                cause: Cause::Status { status, message: Some(self.error_message(response).await) },
                retry_after,
            };
        }
        Failure::Final(self.rejected_answer(what, status.as_u16(), self.error_answer(response).await))
    }

    /// Sends a replayable control request within the control deadline, with retries from the
    /// push's budget; a 401 renews the authorization once (learning the challenge from it if the
    /// ping had none). Statuses outside `expected` are errors.
    async fn send(
        &self,
        what: &str,
        expected: &[u16],
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response, OciError> {
        self.send_within(what, expected, self.policy.request, build).await
    }

    async fn send_within(
        &self,
        what: &str,
        expected: &[u16],
        deadline: Duration,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response, OciError> {
        let mut renewed = false;
        let mut attempt = 0;
        let mut timeouts = 0;
        loop {
            self.fresh().await?;
            let (cause, retry_after) = match self.execute_attempt(build(&self.http).timeout(deadline), attempt).await {
                Ok(response) if expected.contains(&response.status().as_u16()) => return Ok(response),
                Ok(response) if response.status() == StatusCode::UNAUTHORIZED && !renewed => {
                    renewed = true;
                    self.renew(&response, what).await?;
                    continue;
                }
                Ok(response) => match self.failure(what, response).await {
                    Failure::Retry { cause, retry_after } => (cause, retry_after),
                    Failure::Final(error) => return Err(error),
                },
                Err(error) => (self.transport_failure(what, error, &mut timeouts, deadline)?, None),
            };
            if !self.pause(attempt, retry_after, &cause.to_string()).await {
                return Err(self.unavailable(what, cause));
            }
            attempt += 1;
        }
    }

    /// After a 401: the challenge it carries when none was known yet, then a new authorization.
    async fn renew(&self, response: &Response, what: &str) -> Result<(), OciError> {
        if self.challenge.read().ok().is_some_and(|c| c.is_none()) {
            let challenge = self.challenge_of(response, what)?;
            if let Ok(mut slot) = self.challenge.write() {
                *slot = Some(challenge);
            }
        }
        self.authenticate().await
    }

    /// Sends a blob transfer whose body cannot be replayed: one attempt, no deadline, failed
    /// when no byte moved for the progress timeout; classified like [`send`](Self::send).
    async fn send_blob(
        &self,
        what: &str,
        expected: &[u16],
        request: RequestBuilder,
        stall: &Stall,
    ) -> Result<Response, OciError> {
        self.fresh().await?;
        let attempt = async {
            match self.execute(request).await {
                Ok(response) if expected.contains(&response.status().as_u16()) => Ok(response),
                Ok(response) => match self.failure(what, response).await {
                    Failure::Retry { cause, .. } => Err(self.unavailable(what, cause)),
                    Failure::Final(error) => Err(error),
                },
                Err(error) => {
                    // Only a connect timeout can be a timeout here (blob transfers have no
                    // deadline): transient, the caller resumes within the budget.
                    let mut timeouts = 0;
                    match self.transport_failure(what, error, &mut timeouts, self.policy.progress) {
                        Ok(cause) => Err(self.unavailable(what, cause)),
                        Err(error) => Err(error),
                    }
                }
            }
        };
        self.watch(stall, what, attempt).await
    }

    /// Runs a blob transfer until it ends or no byte moved for the progress timeout (or, once
    /// the whole body is handed over, no answer came within the closing deadline).
    async fn watch<T>(
        &self,
        stall: &Stall,
        what: &str,
        transfer: impl Future<Output = Result<T, OciError>>,
    ) -> Result<T, OciError> {
        tokio::pin!(transfer);
        let limit =
            || if stall.handed_over() { self.policy.progress.max(self.policy.close()) } else { self.policy.progress };
        loop {
            let wait = limit().saturating_sub(stall.idle()).max(Duration::from_millis(20));
            tokio::select! {
                outcome = &mut transfer => return outcome,
                () = tokio::time::sleep(wait) => {
                    let limit = limit();
                    if stall.idle() >= limit {
                        let waited = if stall.handed_over() {
                            format!("no answer for {} after the whole blob was sent", seconds(limit))
                        } else {
                            format!("no bytes moved for {} while sending the blob", seconds(limit))
                        };
                        return Err(self.timed_out(what, waited));
                    }
                }
            }
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
            response.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(wire::decimal).unwrap_or(0),
        ))
    }

    /// Blob `digest` when the repository holds it and it is at most `limit` bytes (configs; at
    /// most [`MANIFEST_MAX`] whatever the limit): a larger one is not read past the limit.
    pub async fn get_blob(&self, digest: &str, limit: u64) -> Result<Option<Bytes>, OciError> {
        let url = self.url(&format!("v2/{}/blobs/{digest}", self.repository))?;
        let what = format!("GET blob {digest}");
        let response = self.send(&what, &[200, 404], |h| h.get(url.clone())).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let cap = usize::try_from(limit.min(MANIFEST_MAX)).unwrap_or(usize::MAX);
        let bytes = match read_capped(response, cap).await {
            Ok(Some(bytes)) => Bytes::from(bytes),
            Ok(None) => return Ok(None),
            Err(error) if error.is_timeout() => {
                return Err(
                    self.timed_out(&what, format!("no complete answer within {}", seconds(self.policy.request)))
                );
            }
            Err(error) => return Err(self.unavailable(&what, sanitized(error))),
        };
        Ok((sha256(&bytes) == digest).then_some(bytes))
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
            let _ = self.execute(self.http.delete(location).timeout(self.policy.request)).await;
        }
        Ok(false)
    }

    /// Opens an upload: its `Location`, and the smallest chunk the registry takes
    /// (`OCI-Chunk-Min-Length`).
    async fn open_upload(&self, what: &str) -> Result<(Url, u64), OciError> {
        let url = self.url(&format!("v2/{}/blobs/uploads/", self.repository))?;
        let response = self.send(what, &[202], |h| h.post(url.clone()).header(CONTENT_LENGTH, 0)).await?;
        let min_chunk = response
            .headers()
            .get("oci-chunk-min-length")
            .and_then(|v| v.to_str().ok())
            .and_then(wire::decimal)
            .unwrap_or(0);
        Ok((self.location(&response, what)?, min_chunk))
    }

    async fn start_upload(&self, what: &str) -> Result<Url, OciError> {
        self.open_upload(what).await.map(|(location, _)| location)
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
        let mut attempt = 0;
        let mut renewed = false;
        loop {
            let location = self.start_upload(&what).await?;
            let url = Self::with_digest(location, digest);
            let stall = Stall::new(Some(data.len() as u64));
            let request = self
                .http
                .put(url)
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, data.len())
                .body(watched_body(sliced(data.clone()), &stall));
            match self.send_blob(&what, &[201], request, &stall).await {
                // Some registries refuse a large monolithic PUT: the same bytes go up as a chunk.
                Err(OciError::Rejected { status: 413, .. }) => return self.upload_bytes_chunked(digest, data).await,
                // The token expired while the blob went up: a new one, and a new upload.
                Err(OciError::Unauthorized { status: 401, .. }) if !renewed && self.has_token() => {
                    renewed = true;
                    self.authenticate().await?;
                }
                Err(error) if error.is_transient() || error.is_upload_lost() => {
                    if !self.pause(attempt, None, &error.to_string()).await {
                        return Err(error);
                    }
                    attempt += 1;
                }
                other => return other.map(drop),
            }
        }
    }

    /// Uploads a blob held in memory as one `PATCH` and a closing `PUT` (for a registry that
    /// refuses it in one `PUT`); each attempt opens an upload of its own.
    async fn upload_bytes_chunked(&self, digest: &str, data: Bytes) -> Result<(), OciError> {
        let what = format!("upload of {digest}");
        let mut attempt = 0;
        loop {
            let location = self.start_upload(&what).await?;
            let stall = Stall::new(Some(data.len() as u64));
            let mut request = self
                .http
                .patch(location)
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, data.len());
            if !data.is_empty() {
                request = request.header(CONTENT_RANGE, format!("0-{}", data.len() - 1));
            }
            let result = match self
                .send_blob(&what, &[202, 201], request.body(watched_body(sliced(data.clone()), &stall)), &stall)
                .await
            {
                Ok(response) => match self.location(&response, &what) {
                    Ok(location) => self.finish_upload(location, digest, &what).await,
                    Err(error) => Err(error),
                },
                Err(error) => Err(error),
            };
            match result {
                Err(error) if error.is_transient() || error.is_upload_lost() => {
                    if !self.pause(attempt, None, &error.to_string()).await {
                        return Err(error);
                    }
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Closes the upload at `location` as blob `digest` (an empty `PUT`, within the closing
    /// deadline: the registry hashes the blob meanwhile). When an answer was lost and the retry
    /// finds the upload gone, the blob being there means the first one closed it.
    async fn finish_upload(&self, location: Url, digest: &str, what: &str) -> Result<(), OciError> {
        let url = Self::with_digest(location, digest);
        match self
            .send_within(what, &[201], self.policy.close(), |h| h.put(url.clone()).header(CONTENT_LENGTH, 0))
            .await
        {
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
        offset.checked_add(size).ok_or_else(|| {
            io(std::io::Error::new(std::io::ErrorKind::InvalidInput, "the blob's offset and size overflow"))
        })?;
        if size <= MONOLITHIC_MAX {
            let mut file = tokio::fs::File::open(path).await.map_err(io)?;
            file.seek(std::io::SeekFrom::Start(offset)).await.map_err(io)?;
            let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
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
        let (mut location, min_chunk) = self.open_upload(&what).await?;
        let chunk = self.policy.chunk_for(min_chunk);
        let mut done: u64 = 0;
        let mut interruptions = 0;
        let mut renewed = false;
        while done < size {
            let length = chunk.min(size - done);
            let mut file = tokio::fs::File::open(path).await.map_err(io)?;
            file.seek(std::io::SeekFrom::Start(offset + done)).await.map_err(io)?;
            let stall = Stall::new(Some(length));
            let stream = tokio_util::io::ReaderStream::with_capacity(file.take(length), 256 * 1024);
            let request = self
                .http
                .patch(location.clone())
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, length)
                .header(CONTENT_RANGE, format!("{}-{}", done, done + length - 1))
                .body(watched_body(stream, &stall));
            // ECR answers a chunk with 201.
            let failure = match self.send_blob(&what, &[202, 201], request, &stall).await {
                Ok(response) => {
                    location = self.location(&response, &what)?;
                    done += length;
                    on_bytes(length);
                    continue;
                }
                // The token expired during the upload: a new one, then ask where it stands.
                Err(OciError::Unauthorized { status: 401, .. }) if !renewed && self.has_token() => {
                    renewed = true;
                    self.authenticate().await?;
                    None
                }
                Err(error) if error.is_transient() => Some(error),
                Err(error) => return Err(error),
            };
            if let Some(error) = failure {
                if !self.pause(interruptions, None, &error.to_string()).await {
                    return Err(error);
                }
                interruptions += 1;
            }
            match self.upload_offset(&location, &what).await {
                Some(held) if held <= done.saturating_add(length) => {
                    if held < done {
                        // Cannot happen with a sound registry; start over to stay safe.
                        location = self.start_upload(&what).await?;
                        done = 0;
                    } else {
                        on_bytes(held - done);
                        done = held;
                    }
                }
                _ => {
                    // The registry lost the upload (or cannot say where it stands): start
                    // again, the file is still there.
                    location = self.start_upload(&what).await?;
                    done = 0;
                }
            }
        }
        self.finish_upload(location, digest, &what).await
    }

    /// Whether the authorization in use is a token (which can expire).
    fn has_token(&self) -> bool {
        self.challenge.read().ok().is_some_and(|c| matches!(*c, Some(Challenge::Bearer { .. })))
    }

    /// How many bytes of the upload at `location` the registry holds (`GET` → `Range: 0-N`);
    /// `None` when it does not know the upload or says something unreadable.
    async fn upload_offset(&self, location: &Url, what: &str) -> Option<u64> {
        let response = self.send(&format!("{what} (status)"), &[204], |h| h.get(location.clone())).await.ok()?;
        wire::upload_range(response.headers().get(RANGE)?.to_str().ok()?)
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
        let stall = Stall::new(None);
        let request = self
            .http
            .patch(location)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(watched_body(stream, &stall));
        let response = self.send_blob(what, &[202, 201], request, &stall).await?;
        let location = self.location(&response, what)?;
        // The producer drops its end of the digest channel when it fails; it reports why itself.
        let digest = digest.await.map_err(|_| self.unavailable(what, Cause::ProducerStopped))?;
        self.finish_upload(location, &digest, what).await?;
        Ok(digest)
    }

    /// Puts a manifest (or index) under `reference` (a tag or its digest); returns its digest,
    /// checked against the registry's `Docker-Content-Digest`.
    pub async fn put_manifest(&self, reference: &str, media_type: &str, bytes: Bytes) -> Result<String, OciError> {
        self.put_manifest_with_subject(reference, media_type, bytes).await.map(|(digest, _)| digest)
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

// What `zenreg image` reads and manages (manifests with their bytes, blob streams, tags,
// deletes, referrers): a module of its own, so that it reaches this client's internals.
mod images;
pub use images::{BlobReader, Fetched, MANIFEST_ACCEPT};

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
    fn origins_are_scheme_host_and_port() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert!(same_origin(&url("https://r.example/v2/"), &url("https://r.example:443/x?y")));
        assert!(!same_origin(&url("https://r.example/"), &url("http://r.example/")));
        assert!(!same_origin(&url("http://127.0.0.1:5000/"), &url("http://127.0.0.1:5001/")));
        assert!(!same_origin(&url("http://127.0.0.1:5000/"), &url("http://localhost:5000/")));
        assert_eq!(shown_url(&url("https://u:p@s3.example/b?X-Amz-Signature=s#f")), "https://s3.example/b");
    }
}
