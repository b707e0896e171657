//! Parts the OCI push tests run themselves, so that a fault can kill or restart them and each
//! test has its own: Distribution registries (`docker-registry serve`) on a free loopback port
//! with their own storage, a test CA and its certificates (openssl), a token issuer for
//! Distribution's `auth: token`, a TCP proxy that counts and damages bytes, and OCI layouts of
//! real files written without a daemon.

use crate::e2e::{TempDir, free_port};
use base64::Engine;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs a command, fails the test with its stderr when it fails, returns its stdout.
pub fn run(command: &mut Command) -> Vec<u8> {
    let output = command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

fn openssl(dir: &Path, args: &[&str]) {
    run(Command::new("openssl").args(args).current_dir(dir));
}

/// A test CA with a server certificate it signed for `127.0.0.1` and `localhost`
/// (`ca.crt`, `server.crt`, `server.key`), and a self-signed certificate whose key signs
/// tokens (`token.crt`, `token.key`).
pub struct Pki {
    pub dir: TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = TempDir::new("pki");
        let d = dir.path();
        for (name, subject) in [("ca", "/CN=zenreg test CA"), ("token", "/CN=zenreg test token issuer")] {
            let (key, crt) = (format!("{name}.key"), format!("{name}.crt"));
            openssl(
                d,
                &[
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", subject, "-keyout", &key,
                    "-out", &crt,
                ],
            );
        }
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.crt",
            ],
        );
        Pki { dir }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A directory holding only `ca.crt`, as skopeo's `--cert-dir` takes it.
    pub fn trust_dir(&self) -> PathBuf {
        let dir = self.file("trust");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(self.file("ca.crt"), dir.join("ca.crt")).unwrap();
        dir
    }

    /// The registry's `http.tls` lines for the server certificate.
    pub fn registry_tls(&self) -> String {
        format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            self.file("server.crt").display(),
            self.file("server.key").display()
        )
    }
}

/// A Distribution registry this test started: `docker-registry serve` on a free loopback port,
/// its storage and log in a directory of its own. Killed (SIGKILL) when dropped.
pub struct Registry {
    pub address: String,
    dir: TempDir,
    child: Option<Child>,
}

impl Registry {
    /// Starts a registry; `http_extra` and `extra` are YAML lines added to its `http:` section
    /// (indented by two) and to the top level.
    pub fn start(http_extra: &str, extra: &str) -> Registry {
        Registry::start_with_storage("", http_extra, extra)
    }

    /// As [`start`](Registry::start), with `storage_extra` YAML lines added to its `storage:`
    /// section (indented by two), such as `  delete:\n    enabled: true\n`.
    pub fn start_with_storage(storage_extra: &str, http_extra: &str, extra: &str) -> Registry {
        let dir = TempDir::new("registry");
        let address = format!("127.0.0.1:{}", free_port());
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    \
             rootdirectory: {}\n  maintenance:\n    uploadpurging:\n      enabled: false\n{storage_extra}http:\n  \
             addr: {address}\n  secret: zenreg-test-upload-secret\n{http_extra}{extra}",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let mut registry = Registry { address, dir, child: None };
        registry.spawn();
        registry
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry runs (Debian's docker-registry package)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&self.address).is_err() {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("the registry exited ({status}): {}", self.log());
            }
            assert!(Instant::now() < deadline, "the registry did not listen on {}: {}", self.address, self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// Everything the registry logged (its access log included) since it was first started.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// SIGKILL, as a crash: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same storage.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a [`Proxy`] does with bytes on their way to the registry.
pub enum Verdict {
    Forward,
    /// Closes the connection (both ways) instead.
    Close,
}

/// A TCP proxy in front of a registry. Every chunk on its way upstream passes `fault` with the
/// number of bytes forwarded before it (over all connections), which may change it or end the
/// connection. Answers pass unchanged.
pub struct Proxy {
    pub address: String,
    pub upstream_bytes: Arc<AtomicU64>,
}

type Fault = dyn FnMut(u64, &mut [u8]) -> Verdict + Send;

impl Proxy {
    pub fn start(upstream: &str, fault: impl FnMut(u64, &mut [u8]) -> Verdict + Send + 'static) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let upstream_bytes = Arc::new(AtomicU64::new(0));
        let fault: Arc<Mutex<Box<Fault>>> = Arc::new(Mutex::new(Box::new(fault)));
        let (counter, upstream) = (Arc::clone(&upstream_bytes), upstream.to_string());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                let (mut client_read, mut server_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut server_read, mut client_write) = (server, client);
                let (fault, counter) = (Arc::clone(&fault), Arc::clone(&counter));
                std::thread::spawn(move || {
                    let mut buffer = vec![0u8; 64 * 1024];
                    loop {
                        let n = match client_read.read(&mut buffer) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let mut fault = fault.lock().unwrap();
                        let verdict = fault(counter.load(Ordering::SeqCst), &mut buffer[..n]);
                        if matches!(verdict, Verdict::Close) || server_write.write_all(&buffer[..n]).is_err() {
                            let _ = client_read.shutdown(Shutdown::Both);
                            let _ = server_write.shutdown(Shutdown::Both);
                            return;
                        }
                        counter.fetch_add(n as u64, Ordering::SeqCst);
                    }
                    let _ = server_write.shutdown(Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut server_read, &mut client_write);
                    let _ = client_write.shutdown(Shutdown::Write);
                });
            }
        });
        Proxy { address, upstream_bytes }
    }
}

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A token request the issuer received.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The user of its Basic credentials (empty without).
    pub user: String,
    /// Its `service` parameter.
    pub service: String,
    /// Its `scope` parameters.
    pub scopes: Vec<String>,
    /// Whether a token was issued.
    pub granted: bool,
}

/// A token issuer for Distribution's `auth: token`: takes `GET /token?service=…&scope=…` with
/// Basic credentials, checks them against its one user, and answers an RS256 JWT granting the
/// repository actions asked for, signed by `token.key` with `token.crt` in its `x5c` header
/// (the registry trusts that certificate as its `rootcertbundle`).
pub struct TokenIssuer {
    pub realm: String,
    pub requests: Arc<Mutex<Vec<TokenRequest>>>,
}

pub const TOKEN_SERVICE: &str = "zenreg-test-registry";
pub const TOKEN_ISSUER: &str = "zenreg-test-issuer";

impl TokenIssuer {
    pub fn start(pki: &Pki, user: &str, password: &str) -> TokenIssuer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let der = run(Command::new("openssl").args(["x509", "-outform", "DER", "-in"]).arg(pki.file("token.crt")));
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);
        let key = pki.file("token.key");
        let expected = format!("{user}:{password}");
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let answer = Self::answer(&stream, &expected, &x5c, &key, &seen);
                let mut stream = stream;
                let _ = stream.write_all(answer.as_bytes());
                let _ = stream.shutdown(Shutdown::Both);
            }
        });
        TokenIssuer { realm, requests }
    }

    /// The YAML of the registry's `auth:` section for this issuer.
    pub fn registry_auth(&self, pki: &Pki) -> String {
        format!(
            "auth:\n  token:\n    realm: {}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    \
             rootcertbundle: {}\n",
            self.realm,
            pki.file("token.crt").display()
        )
    }

    fn answer(stream: &TcpStream, expected: &str, x5c: &str, key: &Path, seen: &Mutex<Vec<TokenRequest>>) -> String {
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).is_err() {
            return String::new();
        }
        let mut authorization = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("authorization")
            {
                authorization = value.trim().to_string();
            }
        }
        let target = request_line.split_whitespace().nth(1).unwrap_or_default();
        let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let mut request =
            TokenRequest { user: String::new(), service: String::new(), scopes: Vec::new(), granted: false };
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "service" => request.service = percent_decode(value),
                "scope" => request.scopes.push(percent_decode(value)),
                _ => {}
            }
        }
        let credentials = authorization
            .strip_prefix("Basic ")
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        request.user = credentials.split_once(':').map(|(u, _)| u.to_string()).unwrap_or_default();
        let response = |status: &str, body: &str| {
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        };
        if credentials != expected || request.service != TOKEN_SERVICE {
            seen.lock().unwrap().push(request);
            return response(
                "401 Unauthorized",
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid username or password"}]}"#,
            );
        }
        let access: Vec<serde_json::Value> = request
            .scopes
            .iter()
            .filter_map(|scope| {
                let mut parts = scope.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                let actions: Vec<&str> =
                    actions.split(',').filter(|a| matches!(*a, "pull" | "push" | "delete")).collect();
                Some(serde_json::json!({"type": kind, "name": name, "actions": actions}))
            })
            .collect();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
        let claims = serde_json::json!({
            "iss": TOKEN_ISSUER, "sub": request.user, "aud": TOKEN_SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now - 10,
            "jti": format!("{now}-{}", seen.lock().unwrap().len()), "access": access,
        });
        let signing_input =
            format!("{}.{}", base64url(header.to_string().as_bytes()), base64url(claims.to_string().as_bytes()));
        let mut openssl = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        openssl.stdin.take().unwrap().write_all(signing_input.as_bytes()).unwrap();
        let signature = openssl.wait_with_output().unwrap().stdout;
        let token = format!("{signing_input}.{}", base64url(&signature));
        request.granted = true;
        seen.lock().unwrap().push(request);
        response("200 OK", &serde_json::json!({"token": token, "access_token": token, "expires_in": 300}).to_string())
    }
}

/// An OCI layout written from directories of real files: one gzip layer per directory
/// (`tar` + `gzip -n`), an OCI config listing their diff ids, a manifest, and `index.json`
/// naming it `v1`. Returns the manifest's digest and the layers' (digest, size).
pub struct Layout {
    pub dir: PathBuf,
    pub manifest: String,
    pub layers: Vec<(String, u64)>,
}

/// The SHA-256 of `bytes` in hex (by `sha256sum`).
pub fn sha256_hex_bytes(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap().stdout;
    String::from_utf8(out).unwrap().split_whitespace().next().unwrap().to_string()
}

fn sha256_hex(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path));
    String::from_utf8(out).unwrap().split_whitespace().next().unwrap().to_string()
}

impl Layout {
    pub fn write(dir: &Path, roots: &[&Path]) -> Layout {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let store = |path: &Path| -> (String, u64) {
            let hex = sha256_hex(path);
            let size = std::fs::metadata(path).unwrap().len();
            std::fs::rename(path, blobs.join(&hex)).unwrap();
            (format!("sha256:{hex}"), size)
        };
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for root in roots {
            let tar = dir.join("layer.tar");
            run(Command::new("tar")
                .args(["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "-cf"])
                .arg(&tar)
                .arg("-C")
                .arg(root)
                .arg("."));
            diff_ids.push(format!("sha256:{}", sha256_hex(&tar)));
            run(Command::new("gzip").args(["-n", "-6"]).arg(&tar));
            layers.push(store(&dir.join("layer.tar.gz")));
        }
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["ZENREG_TEST=1"], "Labels": {"purpose": "zenreg-oci-test"}},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let write_blob = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            store(&path)
        };
        let (config_digest, config_size) = write_blob("config.json", config.to_string().as_bytes());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
            "layers": layers.iter().map(|(digest, size)| serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size,
            })).collect::<Vec<_>>(),
        });
        let (manifest_digest, manifest_size) = write_blob("manifest.json", manifest.to_string().as_bytes());
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": "v1"},
            }],
        });
        std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
        Layout { dir: dir.to_path_buf(), manifest: manifest_digest, layers }
    }

    /// The file of blob `digest`.
    pub fn blob(&self, digest: &str) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
    }

    /// `--from` for it.
    pub fn from(&self) -> String {
        format!("oci:{}:v1", self.dir.display())
    }
}

/// A file of `size` pseudo-random bytes (that gzip cannot shrink), so a layer of it is large
/// when compressed too.
pub fn noise(path: &Path, size: usize) {
    let mut bytes = vec![0u8; size];
    let mut seed = 0x2545_F491_4F6C_DD1Du64 ^ u64::from(std::process::id()) ^ size as u64;
    for byte in bytes.iter_mut() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        *byte = seed as u8;
    }
    std::fs::write(path, bytes).unwrap();
}

/// `sha256sum` lines of every file under `dir`, sorted by path, paths relative to `dir`.
pub fn checksums(dir: &Path) -> String {
    let output = Command::new("sh")
        .arg("-c")
        .arg("find . -type f | LC_ALL=C sort | xargs sha256sum")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}
