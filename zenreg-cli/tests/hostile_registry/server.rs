//! A small HTTP/1.1 server the hostile-registry tests run in their own process (std threads on
//! 127.0.0.1:0, plain or TLS with a test CA's certificate): an honest, in-memory implementation
//! of the distribution push API, and a handler per test that misbehaves in one way before
//! handing the rest to it. Every request is logged with its `Authorization`.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A connection, plain or TLS.
pub trait Conn: Read + Write + Send {}
impl<T: Read + Write + Send> Conn for T {}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub authorization: Option<String>,
    pub at: Instant,
}

/// One request on a connection: its head, a body read on demand, and the way to answer.
pub struct Exchange {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    reader: BufReader<Box<dyn Conn>>,
    body: Option<Vec<u8>>,
    /// Set to end the connection after this exchange.
    pub close: bool,
}

impl Exchange {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    pub fn query(&self, key: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key).then(|| v.replace("%3A", ":").replace("%3a", ":"))
        })
    }

    /// The request body (`Content-Length` or chunked), read once.
    pub fn body(&mut self) -> Vec<u8> {
        if let Some(body) = &self.body {
            return body.clone();
        }
        let mut body = Vec::new();
        if self.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                let mut line = String::new();
                if self.reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
                if size == 0 {
                    let mut end = String::new();
                    let _ = self.reader.read_line(&mut end);
                    break;
                }
                let mut chunk = vec![0u8; size];
                if self.reader.read_exact(&mut chunk).is_err() {
                    break;
                }
                body.extend_from_slice(&chunk);
                let mut crlf = [0u8; 2];
                let _ = self.reader.read_exact(&mut crlf);
            }
        } else if let Some(length) = self.header("content-length").and_then(|v| v.trim().parse::<usize>().ok()) {
            body = vec![0u8; length];
            if self.reader.read_exact(&mut body).is_err() {
                self.close = true;
            }
        }
        self.body = Some(body.clone());
        body
    }

    /// Answers with `status`, `headers` and `body` (and its `Content-Length`).
    pub fn respond(&mut self, status: u16, headers: &[(&str, String)], body: &[u8]) {
        let _ = self.body();
        let mut head = format!("HTTP/1.1 {status} {}\r\nContent-Length: {}\r\n", reason(status), body.len());
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let stream = self.reader.get_mut();
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
        let _ = stream.flush();
    }

    /// Writes raw bytes (a hand-made answer); the connection is closed afterwards.
    pub fn write_raw(&mut self, bytes: &[u8]) -> bool {
        self.close = true;
        let stream = self.reader.get_mut();
        stream.write_all(bytes).and_then(|()| stream.flush()).is_ok()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

type Handler = dyn Fn(&mut Exchange) + Send + Sync;

/// A running server; its threads live as long as the test process.
pub struct Server {
    pub address: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    pub fn start(handler: impl Fn(&mut Exchange) + Send + Sync + 'static) -> Server {
        Self::spawn(None, Arc::new(handler))
    }

    /// A TLS server with the certificate and key of a test CA (`server.crt`, `server.key`).
    pub fn start_tls(cert: &Path, key: &Path, handler: impl Fn(&mut Exchange) + Send + Sync + 'static) -> Server {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(cert).unwrap().collect::<Result<_, _>>().unwrap();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        Self::spawn(Some(Arc::new(config)), Arc::new(handler))
    }

    fn spawn(tls: Option<Arc<rustls::ServerConfig>>, handler: Arc<Handler>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (handler, log, tls) = (Arc::clone(&handler), Arc::clone(&log), tls.clone());
                std::thread::spawn(move || {
                    let conn: Box<dyn Conn> = match tls {
                        Some(config) => match rustls::ServerConnection::new(config) {
                            Ok(server) => Box::new(rustls::StreamOwned::new(server, stream)),
                            Err(_) => return,
                        },
                        None => Box::new(stream),
                    };
                    serve(conn, &*handler, &log);
                });
            }
        });
        Server { address: format!("127.0.0.1:{port}"), seen }
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests that carried an `Authorization` header.
    pub fn authorized(&self) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.authorization.is_some()).collect()
    }
}

fn serve(conn: Box<dyn Conn>, handler: &Handler, log: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(conn);
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = request_line.split_whitespace();
        let (method, target) =
            (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string());
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
        let authorization =
            headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("authorization")).map(|(_, v)| v.clone());
        log.lock().unwrap().push(Seen {
            method: method.clone(),
            target: target.clone(),
            authorization,
            at: Instant::now(),
        });
        let mut exchange = Exchange { method, target, headers, reader, body: None, close: false };
        let close_asked = exchange.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        handler(&mut exchange);
        if exchange.close || close_asked {
            let _ = exchange.reader.get_mut().flush();
            return;
        }
        let _ = exchange.body();
        reader = exchange.reader;
    }
}

/// The digest of `bytes` as a registry writes it.
pub fn digest(bytes: &[u8]) -> String {
    zenreg_push::oci::digest::sha256(bytes)
}

/// What the honest registry holds.
#[derive(Default)]
pub struct Store {
    pub blobs: HashMap<String, Vec<u8>>,
    pub uploads: HashMap<String, Vec<u8>>,
    pub manifests: HashMap<String, Vec<u8>>,
}

/// An honest registry: the distribution push API in memory, with Basic authentication when
/// `basic` is set. `location_base` (e.g. `http://127.0.0.1:P`) makes upload `Location`s
/// absolute URLs of another server sharing the store (a storage backend).
pub struct Honest {
    pub store: Arc<Mutex<Store>>,
    pub basic: Option<String>,
    pub location_base: Mutex<String>,
    /// `OCI-Chunk-Min-Length` announced when an upload opens (0: none).
    pub chunk_min: AtomicU64,
    next: AtomicU64,
}

impl Honest {
    pub fn new() -> Arc<Honest> {
        Arc::new(Honest {
            store: Arc::default(),
            basic: None,
            location_base: Mutex::new(String::new()),
            chunk_min: AtomicU64::new(0),
            next: AtomicU64::new(1),
        })
    }

    /// One that asks for `user:password` with Basic.
    pub fn basic(user: &str, password: &str) -> Arc<Honest> {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Arc::new(Honest {
            store: Arc::default(),
            basic: Some(format!("Basic {token}")),
            location_base: Mutex::new(String::new()),
            chunk_min: AtomicU64::new(0),
            next: AtomicU64::new(1),
        })
    }

    /// A second server's view of the same store (a storage backend that needs no credentials).
    pub fn storage_of(other: &Honest) -> Arc<Honest> {
        Arc::new(Honest {
            store: Arc::clone(&other.store),
            basic: None,
            location_base: Mutex::new(String::new()),
            chunk_min: AtomicU64::new(0),
            next: AtomicU64::new(1_000_000),
        })
    }

    fn location(&self, path: &str) -> String {
        format!("{}{path}", self.location_base.lock().unwrap())
    }

    pub fn handle(&self, ex: &mut Exchange) {
        if let Some(expected) = &self.basic
            && ex.path().starts_with("/v2/")
            && ex.header("authorization") != Some(expected.as_str())
        {
            ex.respond(
                401,
                &[("WWW-Authenticate", r#"Basic realm="hostile-test""#.into())],
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            );
            return;
        }
        let path = ex.path().to_string();
        if path == "/v2/" || path == "/v2" {
            ex.respond(200, &[("Content-Type", "application/json".into())], b"{}");
            return;
        }
        if let Some(at) = path.find("/blobs/uploads/") {
            let prefix = &path[..at + "/blobs/uploads/".len()];
            let id = &path[at + "/blobs/uploads/".len()..];
            self.upload(ex, prefix, id);
            return;
        }
        let Some(rest) = path.strip_prefix("/v2/") else {
            ex.respond(404, &[], b"");
            return;
        };
        if let Some((_, digest)) = rest.rsplit_once("/blobs/") {
            let blob = self.store.lock().unwrap().blobs.get(digest).cloned();
            match (ex.method.as_str(), blob) {
                ("HEAD", Some(blob)) => {
                    let _ = ex.body();
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", blob.len());
                    let _ = ex.reader.get_mut().write_all(head.as_bytes());
                }
                ("GET", Some(blob)) => ex.respond(200, &[], &blob),
                _ => ex.respond(404, &[], b""),
            }
            return;
        }
        if let Some(name) = rest.strip_suffix("/tags/list")
            && ex.method == "GET"
        {
            self.tags(ex, name);
            return;
        }
        if let Some((_, subject)) = rest.rsplit_once("/referrers/")
            && ex.method == "GET"
        {
            self.referrers(ex, subject);
            return;
        }
        if let Some((_, reference)) = rest.rsplit_once("/manifests/") {
            match ex.method.as_str() {
                "PUT" => {
                    let body = ex.body();
                    let digest = digest(&body);
                    // The OCI 1.1 referrers API: a manifest's subject is acknowledged.
                    let subject = serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|m| m["subject"]["digest"].as_str().map(str::to_string));
                    let mut store = self.store.lock().unwrap();
                    store.manifests.insert(reference.to_string(), body.clone());
                    store.manifests.insert(digest.clone(), body);
                    drop(store);
                    let mut headers = vec![("Docker-Content-Digest", digest)];
                    if let Some(subject) = subject {
                        headers.push(("OCI-Subject", subject));
                    }
                    ex.respond(201, &headers, b"");
                }
                "HEAD" | "GET" => {
                    let manifest = self.store.lock().unwrap().manifests.get(reference).cloned();
                    match manifest {
                        Some(body) => {
                            let _ = ex.body();
                            let head = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nDocker-Content-Digest: {}\r\n\r\n",
                                body.len(),
                                digest(&body)
                            );
                            let stream = ex.reader.get_mut();
                            let _ = stream.write_all(head.as_bytes());
                            if ex.method == "GET" {
                                let _ = stream.write_all(&body);
                            }
                        }
                        None => ex.respond(404, &[], b""),
                    }
                }
                _ => ex.respond(404, &[], b""),
            }
            return;
        }
        ex.respond(404, &[], b"");
    }

    /// `GET /v2/<name>/tags/list[?n=N[&last=T]]`: the tags in order, `n` a page, with a `Link`
    /// to the next page as the distribution spec has it (every repository's tags: the store is
    /// one).
    fn tags(&self, ex: &mut Exchange, name: &str) {
        let mut tags: Vec<String> =
            self.store.lock().unwrap().manifests.keys().filter(|k| !k.starts_with("sha256:")).cloned().collect();
        tags.sort();
        let last = ex.query("last");
        let after: Vec<String> = tags.into_iter().filter(|t| last.as_ref().is_none_or(|l| t > l)).collect();
        let n = ex.query("n").and_then(|n| n.parse::<usize>().ok()).unwrap_or(usize::MAX);
        let page: Vec<String> = after.iter().take(n).cloned().collect();
        let mut headers = vec![("Content-Type", "application/json".to_string())];
        if after.len() > page.len()
            && let Some(last) = page.last()
        {
            headers.push(("Link", format!("</v2/{name}/tags/list?n={n}&last={last}>; rel=\"next\"")));
        }
        let body = serde_json::json!({"name": name, "tags": page}).to_string();
        ex.respond(200, &headers, body.as_bytes());
    }

    /// `GET /v2/<name>/referrers/<digest>[?artifactType=T]`: an OCI index of the manifests
    /// whose `subject` is `digest` (every repository's: the store is one).
    fn referrers(&self, ex: &mut Exchange, subject: &str) {
        let wanted = ex.query("artifactType").map(|t| t.replace("%2F", "/").replace("%2B", "+"));
        let store = self.store.lock().unwrap();
        let mut manifests: Vec<serde_json::Value> = Vec::new();
        for (key, body) in &store.manifests {
            if !key.starts_with("sha256:") {
                continue;
            }
            let Ok(manifest) = serde_json::from_slice::<serde_json::Value>(body) else { continue };
            if manifest["subject"]["digest"].as_str() != Some(subject) {
                continue;
            }
            let artifact_type = manifest["artifactType"]
                .as_str()
                .or_else(|| manifest["config"]["mediaType"].as_str())
                .unwrap_or_default();
            if wanted.as_deref().is_some_and(|w| w != artifact_type) {
                continue;
            }
            let mut descriptor = serde_json::json!({
                "mediaType": manifest["mediaType"], "digest": key, "size": body.len(), "artifactType": artifact_type,
            });
            if manifest.get("annotations").is_some() {
                descriptor["annotations"] = manifest["annotations"].clone();
            }
            manifests.push(descriptor);
        }
        drop(store);
        manifests.sort_by(|a, b| a["digest"].as_str().cmp(&b["digest"].as_str()));
        let index = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests,
        });
        let mut headers = vec![("Content-Type", "application/vnd.oci.image.index.v1+json".to_string())];
        if wanted.is_some() {
            headers.push(("OCI-Filters-Applied", "artifactType".into()));
        }
        ex.respond(200, &headers, index.to_string().as_bytes());
    }

    fn upload(&self, ex: &mut Exchange, prefix: &str, id: &str) {
        let range = |length: usize| format!("0-{}", length.saturating_sub(1));
        match (ex.method.as_str(), id.is_empty()) {
            ("POST", true) => {
                let id = self.next.fetch_add(1, Ordering::SeqCst).to_string();
                self.store.lock().unwrap().uploads.insert(id.clone(), Vec::new());
                let mut headers = vec![("Location", self.location(&format!("{prefix}{id}"))), ("Range", "0-0".into())];
                let chunk_min = self.chunk_min.load(Ordering::SeqCst);
                if chunk_min > 0 {
                    headers.push(("OCI-Chunk-Min-Length", chunk_min.to_string()));
                }
                ex.respond(202, &headers, b"");
            }
            ("PATCH", false) => {
                let body = ex.body();
                let mut store = self.store.lock().unwrap();
                let Some(upload) = store.uploads.get_mut(id) else {
                    drop(store);
                    ex.respond(404, &[], br#"{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN"}]}"#);
                    return;
                };
                upload.extend_from_slice(&body);
                let length = upload.len();
                drop(store);
                ex.respond(
                    202,
                    &[("Location", self.location(&format!("{prefix}{id}"))), ("Range", range(length))],
                    b"",
                );
            }
            ("PUT", false) => {
                let body = ex.body();
                let digest_asked = ex.query("digest").unwrap_or_default();
                let mut store = self.store.lock().unwrap();
                let Some(mut upload) = store.uploads.remove(id) else {
                    drop(store);
                    ex.respond(404, &[], br#"{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN"}]}"#);
                    return;
                };
                upload.extend_from_slice(&body);
                if digest(&upload) != digest_asked {
                    drop(store);
                    ex.respond(400, &[], br#"{"errors":[{"code":"DIGEST_INVALID"}]}"#);
                    return;
                }
                store.blobs.insert(digest_asked.clone(), upload);
                drop(store);
                ex.respond(201, &[("Docker-Content-Digest", digest_asked)], b"");
            }
            ("GET", false) => {
                let length = self.store.lock().unwrap().uploads.get(id).map(Vec::len);
                match length {
                    Some(length) => ex.respond(204, &[("Range", range(length))], b""),
                    None => ex.respond(404, &[], br#"{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN"}]}"#),
                }
            }
            ("DELETE", false) => ex.respond(204, &[], b""),
            _ => ex.respond(404, &[], b""),
        }
    }
}

/// A TCP proxy that passes answers unchanged and requests at most `rate` bytes a second, or
/// stops passing them after `stall_after` bytes (the link goes silent).
pub struct Throttle {
    pub address: String,
}

impl Throttle {
    pub fn start(upstream: &str, rate: usize, stall_after: Option<u64>) -> Throttle {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let upstream = upstream.to_string();
        let total = Arc::new(AtomicU64::new(0));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                let (mut client_read, mut server_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut server_read, mut client_write) = (server, client);
                let total = Arc::clone(&total);
                std::thread::spawn(move || {
                    let step = (rate / 20).max(1);
                    let mut buffer = vec![0u8; step];
                    loop {
                        if stall_after.is_some_and(|limit| total.load(Ordering::SeqCst) >= limit) {
                            std::thread::sleep(std::time::Duration::from_secs(3600));
                        }
                        let n = match client_read.read(&mut buffer) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if server_write.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                        total.fetch_add(n as u64, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                    let _ = server_write.shutdown(Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut server_read, &mut client_write);
                    let _ = client_write.shutdown(Shutdown::Write);
                });
            }
        });
        Throttle { address }
    }
}
