//! Shared helpers for end-to-end tests against real services started by `scripts/services.sh`
//! (a Docker daemon, a registry without auth, one with htpasswd auth, moto).
//!
//! A test that needs a service is `#[ignore = "needs …"]`, so a plain `cargo test` reports it as
//! ignored; the README test command starts the services and runs it with `--include-ignored`. It
//! calls [`Services::require`], which fails the test when the service is missing: a service test
//! never passes by skipping.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The usual start of a push test: the services, a zenreg with the open registry registered as
/// `local`, and an image name of the test's own there, `REGISTRY/REPOSITORY:TAG`.
pub struct LocalPush {
    pub services: Services,
    pub zenreg: Zenreg,
    /// `PREFIX-…`, unique to the test.
    pub repository: String,
    pub image: String,
}

impl LocalPush {
    pub fn new(prefix: &str, tag: &str) -> LocalPush {
        let services = Services::require();
        let zenreg = Zenreg::new(&services);
        zenreg.register("local", &services.registry);
        let repository = unique(prefix);
        let image = format!("{}/{repository}:{tag}", services.registry);
        LocalPush { services, zenreg, repository, image }
    }
}

/// The addresses the service script exported.
pub struct Services {
    pub docker_host: String,
    pub registry: String,
    pub auth_registry: String,
    pub auth_user: String,
    pub auth_password: String,
}

impl Services {
    /// The running services; a missing one fails the test with what to run.
    pub fn require() -> Services {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let found = (|| {
            Some(Services {
                docker_host: var("DOCKER_HOST")?,
                registry: var("ZENREG_REGISTRY")?,
                auth_registry: var("ZENREG_AUTH_REGISTRY")?,
                auth_user: var("ZENREG_AUTH_REGISTRY_USER")?,
                auth_password: var("ZENREG_AUTH_REGISTRY_PASSWORD")?,
            })
        })();
        let reachable = found.as_ref().is_some_and(|s| {
            docker(s, &["version", "--format", "{{.Server.Version}}"]).status.success()
                && http_status(&s.registry, "/v2/", None).is_some()
        });
        match (found, reachable) {
            (Some(services), true) => services,
            _ => panic!(
                "the Docker daemon and registries are not running (ZENREG_E2E={}): run \
                 `eval \"$(scripts/services.sh start)\"` first, or the README test command",
                std::env::var("ZENREG_E2E").unwrap_or_default()
            ),
        }
    }
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "zenreg-e2e-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the docker CLI against the test daemon.
pub fn docker(services: &Services, args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", &services.docker_host)
        .env("DOCKER_CONFIG", std::env::temp_dir().join("zenreg-e2e-empty-docker-config"))
        .stdin(Stdio::null())
        .output()
        .expect("the docker CLI runs")
}

/// Builds a local image `name` of `layers` layers (`FROM scratch` + one `COPY` per layer of
/// `layer_bytes` random bytes each), without pulling anything.
pub fn build_image(services: &Services, name: &str, layers: usize, layer_bytes: usize) {
    let dir = TempDir::new("build");
    let mut dockerfile = String::from("FROM scratch\n");
    for layer in 0..layers {
        let mut bytes = vec![0u8; layer_bytes];
        let mut seed =
            (layer as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(std::process::id()) ^ name.len() as u64;
        for byte in bytes.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *byte = seed as u8;
        }
        bytes.extend_from_slice(name.as_bytes());
        std::fs::write(dir.path().join(format!("layer{layer}")), bytes).unwrap();
        dockerfile.push_str(&format!("COPY layer{layer} /layer{layer}\n"));
    }
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    let output = docker(services, &["build", "-q", "-t", name, dir.path().to_str().unwrap()]);
    assert!(output.status.success(), "docker build failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// A name unique to this test run.
pub fn unique(label: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{label}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A zenreg invocation with its own store and an empty Docker config.
pub struct Zenreg {
    pub home: TempDir,
    pub docker_host: String,
}

impl Zenreg {
    pub fn new(services: &Services) -> Zenreg {
        let home = TempDir::new("home");
        std::fs::create_dir_all(home.path().join("docker")).unwrap();
        Zenreg { home, docker_host: services.docker_host.clone() }
    }

    /// Registers a `default`-flavor container registry `name` at `uri`; it must succeed.
    pub fn register(&self, name: &str, uri: &str) {
        self.ok(&["container-registry", "register", name, "--flavor", "default", &format!("--uri={uri}")]);
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_zenreg"));
        command
            .args(args)
            .env("ZENREG_STORE", self.home.path().join("zenreg.db"))
            .env("DOCKER_HOST", &self.docker_host)
            .env("DOCKER_CONFIG", self.home.path().join("docker"))
            .env_remove("AWS_ENDPOINT_URL")
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("zenreg runs")
    }

    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child =
            self.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(output.status.success(), "zenreg {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs, asserts exit code 1 with a one-line `error:` (plus an optional hint); returns it.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert_eq!(output.status.code(), Some(1), "zenreg {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        let stderr = String::from_utf8(output.stderr).unwrap();
        let error_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(error_lines.len(), 1, "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        error_lines[0].to_string()
    }
}

/// The `Docker-Content-Digest` the registry serves for `repository:tag` (HEAD over plain HTTP).
pub fn registry_digest(registry: &str, repository: &str, tag: &str, basic: Option<(&str, &str)>) -> Option<String> {
    let accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";
    let response = http(registry, "HEAD", &format!("/v2/{repository}/manifests/{tag}"), basic, Some(accept))?;
    response.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("docker-content-digest").then(|| value.trim().to_string())
    })
}

/// The HTTP status of `GET path`.
pub fn http_status(registry: &str, path: &str, basic: Option<(&str, &str)>) -> Option<u16> {
    let response = http(registry, "GET", path, basic, None)?;
    response.split_whitespace().nth(1)?.parse().ok()
}

fn http(registry: &str, method: &str, path: &str, basic: Option<(&str, &str)>, accept: Option<&str>) -> Option<String> {
    use base64::Engine;
    let mut stream = TcpStream::connect(registry).ok()?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {registry}\r\nConnection: close\r\n");
    if let Some((user, password)) = basic {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.push_str(&format!("Authorization: Basic {token}\r\n"));
    }
    if let Some(accept) = accept {
        request.push_str(&format!("Accept: {accept}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response).to_string();
    Some(text.split("\r\n\r\n").next().unwrap_or_default().to_string())
}

/// A loopback port nothing listens on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A TCP proxy in front of a registry that starts listening only after `delay`: until then its
/// port refuses connections, as a registry that is restarting. (A proxy answering 503 would not
/// reach zenreg's retries: the daemon retries 5xx on its own, for up to about 30 s.)
pub struct LateProxy {
    pub address: String,
}

impl LateProxy {
    pub fn start(upstream: &str, delay: std::time::Duration) -> LateProxy {
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let upstream = upstream.to_string();
        let bind_address = address.clone();
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            let listener = std::net::TcpListener::bind(&bind_address).expect("the proxy port is still free");
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                let (mut client_read, mut server_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut server_read, mut client_write) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut client_read, &mut server_write);
                    let _ = server_write.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut server_read, &mut client_write);
                    let _ = client_write.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        LateProxy { address }
    }
}

/// moto (the ECR API) and the stand-in for ECR's data plane, as exported by `scripts/services.sh`
/// (services `moto` and `ecr`): a registry on 127.0.0.1:80 that `ecr_host` resolves to and that
/// accepts only the login moto's GetAuthorizationToken hands out.
pub struct Aws {
    /// moto's endpoint, e.g. `http://127.0.0.1:5002`.
    pub moto_endpoint: String,
    /// The ECR host moto's logins are for, e.g. `123456789012.dkr.ecr.us-east-1.amazonaws.com`.
    pub ecr_host: String,
    /// The stand-in registry's loopback address, `127.0.0.1:80`.
    pub ecr_registry: String,
    /// The stand-in's only user (`AWS`) and password (`<account>-auth-token`).
    pub ecr_user: String,
    pub ecr_password: String,
}

impl Aws {
    /// The running AWS services; their absence fails the test with what to run.
    pub fn require() -> Aws {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let found = (|| {
            Some(Aws {
                moto_endpoint: var("ZENREG_MOTO_ENDPOINT")?,
                ecr_host: var("ZENREG_ECR_HOST")?,
                ecr_registry: var("ZENREG_ECR_REGISTRY")?,
                ecr_user: var("ZENREG_ECR_USER")?,
                ecr_password: var("ZENREG_ECR_PASSWORD")?,
            })
        })();
        let reachable = found.as_ref().is_some_and(|aws| {
            use std::net::ToSocketAddrs;
            let resolves_to_loopback = (aws.ecr_host.as_str(), 80)
                .to_socket_addrs()
                .is_ok_and(|mut addresses| addresses.any(|a| a.ip() == std::net::Ipv4Addr::LOCALHOST));
            aws.moto_ecr("us-east-1", "DescribeRepositories", "{}").is_some_and(|(status, _)| status == 200)
                && http_status(&aws.ecr_registry, "/v2/", None) == Some(401)
                && resolves_to_loopback
        });
        match (found, reachable) {
            (Some(aws), true) => aws,
            _ => panic!(
                "moto and the ECR stand-in are not running (ZENREG_E2E={}): run \
                 `eval \"$(scripts/services.sh start)\"` first, or the README test command",
                std::env::var("ZENREG_E2E").unwrap_or_default()
            ),
        }
    }

    /// Calls an ECR action on moto and returns the HTTP status and body. moto checks no
    /// signature: it takes the region from the credential scope and the account from the key.
    pub fn moto_ecr(&self, region: &str, action: &str, body: &str) -> Option<(u16, String)> {
        let address = self.moto_endpoint.trim_start_matches("http://").trim_end_matches('/');
        let mut stream = TcpStream::connect(address).ok()?;
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
             Content-Type: application/x-amz-json-1.1\r\n\
             X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.{action}\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=test/20240101/{region}/ecr/aws4_request, \
             SignedHeaders=host, Signature=0\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).ok()?;
        let text = String::from_utf8_lossy(&response).to_string();
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, body.to_string()))
    }
}
