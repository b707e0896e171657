//! zenreg's registry client against registries that misbehave on purpose, one way per test: a
//! small HTTP server of the test's own (plain, or TLS with a test CA) in front of an honest
//! in-memory registry, and `zenreg container-registry push --from oci:DIR` from a layout of real
//! files. Each test failed on the client before issue 18: credentials sent to another origin or
//! over plain HTTP, bodies read whole, hangs, odd challenges answered with the password,
//! overflowing `Range`, fixed backoff, a token expiring mid-upload, secrets echoed in messages.
//!
//! Deadlines are set short through `ZENREG_HTTP_*`, and a watchdog kills a push that outlives a
//! generous bound (the test then fails): no test asserts how fast anything is.

mod e2e;
#[path = "hostile_registry/server.rs"]
mod server;
#[allow(dead_code)]
#[path = "push_oci/spawned.rs"]
mod spawned;

use e2e::{TempDir, Zenreg};
use server::{Exchange, Honest, Server, Throttle};
use spawned::{Layout, Pki};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const USER: &str = "alice";
/// A password no message may ever show.
const PASSWORD: &str = "planted-password-7f3a9c";

/// A zenreg without a Docker daemon, with a store of its own.
fn daemonless() -> Zenreg {
    let zenreg = Zenreg { home: TempDir::new("home"), docker_host: "unix:///nonexistent/docker.sock".into() };
    std::fs::create_dir_all(zenreg.home.path().join("docker")).unwrap();
    zenreg
}

/// Registers `hostile` at `address`, with an authentication secret `USER`/`PASSWORD` when
/// `login`.
fn register(zenreg: &Zenreg, address: &str, login: bool) {
    zenreg.register("hostile", address);
    if login {
        let created = zenreg
            .run_with_stdin(&["secret", "create", "login", &format!("--username={USER}"), "--password=-"], PASSWORD);
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
        zenreg.ok(&["container-registry", "update", "hostile", "--authentication_secret=login"]);
    }
}

/// A layout of one small layer of real files.
fn small_layout(work: &Path) -> Layout {
    let root = work.join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("hello.txt"), "hello from a hostile-registry test\n").unwrap();
    std::fs::copy("/etc/os-release", root.join("os-release")).unwrap();
    Layout::write(&work.join("layout"), &[&root])
}

/// A layout of one layer of `size` bytes of noise (so it is uploaded in chunks when over 8 MiB).
fn large_layout(work: &Path, size: usize) -> Layout {
    let root = work.join("large");
    std::fs::create_dir_all(&root).unwrap();
    spawned::noise(&root.join("noise.bin"), size);
    Layout::write(&work.join("layout"), &[&root])
}

/// What a push printed and how it ended.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// Peak resident memory of zenreg in KiB (`/usr/bin/time`).
    peak_kib: u64,
}

impl Run {
    /// The one `error:` line (asserting exit code 1, no panic and nothing else wrong).
    fn error(&self) -> String {
        assert_eq!(self.code, Some(1), "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        let lines: Vec<&str> = self.stderr.lines().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(lines.len(), 1, "{}", self.stderr);
        lines[0].to_string()
    }

    fn succeeded(&self) {
        assert_eq!(self.code, Some(0), "stdout: {}\nstderr: {}", self.stdout, self.stderr);
    }

    /// Asserts that no output shows `secret`.
    fn shows_none_of(&self, secrets: &[&str]) {
        for secret in secrets {
            assert!(
                !self.stdout.contains(secret) && !self.stderr.contains(secret),
                "{secret} shown:\n{}\n{}",
                self.stdout,
                self.stderr
            );
        }
    }
}

/// Pushes `layout` to `hostile` as `ADDRESS/team/app:1` with `env` added, through
/// `/usr/bin/time` (peak memory); kills it and fails the test if it runs past `limit`.
fn push(zenreg: &Zenreg, address: &str, layout: &Layout, env: &[(&str, &str)], limit: Duration, json: bool) -> Run {
    push_image(zenreg, &format!("{address}/team/app:1"), layout, env, limit, json)
}

/// [`push`] of `image`.
fn push_image(zenreg: &Zenreg, image: &str, layout: &Layout, env: &[(&str, &str)], limit: Duration, json: bool) -> Run {
    let from = layout.from();
    let mut args = vec!["container-registry", "push", image, "--registry", "hostile", "--from", &from];
    if json {
        args.extend(["--output", "json"]);
    }
    let command = zenreg.command(&args);
    let out = zenreg.home.path().join(format!("out-{}", e2e::unique("push")));
    std::fs::create_dir_all(&out).unwrap();
    let real = command.get_program().to_owned();
    let mut timed = std::process::Command::new("/usr/bin/time");
    timed.arg("-f").arg("%M").arg("-o").arg(out.join("peak")).arg(real).args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => timed.env(name, value),
            None => timed.env_remove(name),
        };
    }
    for (name, value) in env {
        timed.env(name, value);
    }
    timed
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out.join("stdout")).unwrap())
        .stderr(std::fs::File::create(out.join("stderr")).unwrap());
    let mut child = timed.spawn().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the push did not end within {limit:?} (killed); stderr so far: {}",
                std::fs::read_to_string(out.join("stderr")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    let stderr = read("stderr");
    // `time` adds a line of its own when the command failed.
    let stderr: String =
        stderr.lines().filter(|l| !l.starts_with("Command exited with")).map(|l| format!("{l}\n")).collect();
    Run {
        code: status.code(),
        stdout: read("stdout"),
        stderr,
        peak_kib: read("peak").lines().last().unwrap_or_default().trim().parse().unwrap_or(0),
    }
}

/// The usual short limits of these tests: 2 s per control request, few retries, short pauses.
const FAST: &[(&str, &str)] = &[
    ("ZENREG_HTTP_REQUEST_TIMEOUT", "2"),
    ("ZENREG_HTTP_PROGRESS_TIMEOUT", "2"),
    ("ZENREG_HTTP_RETRIES", "2"),
    ("ZENREG_HTTP_BACKOFF", "0.05"),
];

/// A generous bound for a push that must end by itself.
const WATCHDOG: Duration = Duration::from_secs(90);

fn work() -> TempDir {
    TempDir::new("hostile")
}

#[test]
fn an_upload_location_on_another_origin_is_followed_without_credentials() {
    let work = work();
    let layout = small_layout(work.path());
    let registry = Honest::basic(USER, PASSWORD);
    let storage = Honest::storage_of(&registry);
    let storage_server = {
        let storage = Arc::clone(&storage);
        Server::start(move |ex| storage.handle(ex))
    };
    *registry.location_base.lock().unwrap() = format!("http://{}", storage_server.address);
    let server = {
        let registry = Arc::clone(&registry);
        Server::start(move |ex| registry.handle(ex))
    };
    let zenreg = daemonless();
    register(&zenreg, &server.address, true);
    push(&zenreg, &server.address, &layout, FAST, WATCHDOG, false).succeeded();
    assert!(!storage_server.seen().is_empty(), "the uploads never went to the storage origin: the test proved nothing");
    assert!(
        storage_server.authorized().is_empty(),
        "credentials went to another origin: {:?}",
        storage_server.authorized()
    );
    assert!(!server.authorized().is_empty());
}

/// A TLS registry (test CA) in front of an honest one with Basic auth, whose handler may
/// misbehave first; and a plain-HTTP server sharing its store on another port.
struct TlsSetup {
    _pki: Pki,
    ca: PathBuf,
    tls: Server,
    plain: Server,
}

fn tls_setup(hostile: impl Fn(&mut Exchange, &str) -> bool + Send + Sync + 'static) -> TlsSetup {
    let pki = Pki::new();
    let registry = Honest::basic(USER, PASSWORD);
    let plain = {
        let registry = Arc::clone(&registry);
        Server::start(move |ex| registry.handle(ex))
    };
    let plain_address = plain.address.clone();
    let tls = Server::start_tls(&pki.file("server.crt"), &pki.file("server.key"), move |ex| {
        if !hostile(ex, &plain_address) {
            registry.handle(ex);
        }
    });
    TlsSetup { ca: pki.file("ca.crt"), _pki: pki, tls, plain }
}

fn tls_push(setup: &TlsSetup, layout: &Layout) -> Run {
    let zenreg = daemonless();
    register(&zenreg, &setup.tls.address, true);
    let ca = setup.ca.to_str().unwrap().to_string();
    let mut env = FAST.to_vec();
    env.push(("SSL_CERT_FILE", &ca));
    push(&zenreg, &setup.tls.address, layout, &env, WATCHDOG, false)
}

#[test]
fn an_https_registry_pushes_with_the_test_ca() {
    // The baseline of the downgrade tests: the same setup without misbehaviour succeeds.
    let work = work();
    let layout = small_layout(work.path());
    let setup = tls_setup(|_, _| false);
    tls_push(&setup, &layout).succeeded();
    assert!(!setup.tls.authorized().is_empty());
}

#[test]
fn an_upload_location_that_steps_down_to_http_is_refused() {
    let work = work();
    let layout = small_layout(work.path());
    let setup = tls_setup(|ex, plain| {
        if ex.method == "POST" && ex.path().ends_with("/blobs/uploads/") && ex.header("authorization").is_some() {
            ex.respond(202, &[("Location", format!("http://{plain}/v2/team/app/blobs/uploads/x1"))], b"");
            return true;
        }
        false
    });
    let error = tls_push(&setup, &layout).error();
    assert!(error.contains("steps down from HTTPS to plain HTTP"), "{error}");
    assert!(setup.plain.seen().is_empty(), "zenreg went to the plain-HTTP address: {:?}", setup.plain.seen());
}

#[test]
fn a_redirect_that_steps_down_to_http_is_refused() {
    let work = work();
    let layout = small_layout(work.path());
    let setup = tls_setup(|ex, plain| {
        if ex.method == "HEAD" && ex.path().contains("/blobs/sha256:") {
            let target = format!("http://{plain}{}", ex.target);
            ex.respond(307, &[("Location", target)], b"");
            return true;
        }
        false
    });
    let error = tls_push(&setup, &layout).error();
    assert!(error.contains("steps down from HTTPS to plain HTTP"), "{error}");
    assert!(setup.plain.seen().is_empty(), "zenreg followed the redirect: {:?}", setup.plain.seen());
}

#[test]
fn a_token_realm_that_steps_down_to_http_is_refused() {
    let work = work();
    let layout = small_layout(work.path());
    let setup = tls_setup(|ex, plain| {
        if ex.path() == "/v2/" {
            let challenge = format!(r#"Bearer realm="http://{plain}/token",service="hostile""#);
            ex.respond(401, &[("WWW-Authenticate", challenge)], b"");
            return true;
        }
        false
    });
    let error = tls_push(&setup, &layout).error();
    assert!(error.contains("token realm") && error.contains("steps down from HTTPS to plain HTTP"), "{error}");
    assert!(setup.plain.seen().is_empty(), "the realm got a request: {:?}", setup.plain.seen());
}

impl Run {
    /// The one `hint:` line.
    fn hint(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().filter(|l| l.starts_with("hint: ")).collect();
        assert_eq!(lines.len(), 1, "{}", self.stderr);
        lines[0].to_string()
    }
}

#[test]
fn an_untrusted_certificate_is_a_tls_failure_told_by_its_type() {
    // The same TLS registry without SSL_CERT_FILE: rustls refuses the test CA's certificate.
    let work = work();
    let layout = small_layout(work.path());
    let setup = tls_setup(|_, _| false);
    let zenreg = daemonless();
    register(&zenreg, &setup.tls.address, true);
    let run = push(&zenreg, &setup.tls.address, &layout, FAST, WATCHDOG, false);
    let error = run.error();
    assert!(error.contains(&format!("TLS to {} failed", setup.tls.address)), "{error}");
    assert!(error.contains("UnknownIssuer"), "{error}");
    assert!(run.hint().contains("SSL_CERT_FILE"), "{}", run.stderr);
    assert!(setup.tls.authorized().is_empty(), "credentials went over a TLS connection that was not trusted");
    run.shows_none_of(&[PASSWORD]);
}

#[test]
fn a_failure_that_only_names_tls_is_not_a_tls_failure() {
    // A registry host whose name says `tls`, `handshake` and `certificate` that does not
    // resolve: a connection failure (retried, then "unavailable"), not a TLS one. Classifying
    // by the words of the error's text called it TLS and sent the user to SSL_CERT_FILE.
    let work = work();
    let layout = small_layout(work.path());
    let host = "tls-handshake-certificate.invalid";
    let zenreg = daemonless();
    register(&zenreg, host, false);
    let run = push(&zenreg, host, &layout, FAST, WATCHDOG, false);
    let error = run.error();
    assert!(!error.contains("TLS to"), "{error}");
    assert!(error.contains(&format!("pushing `{host}/team/app:1` to {host} failed after")), "{error}");
    assert!(!run.hint().contains("SSL_CERT_FILE") && run.hint().contains("registry is up"), "{}", run.stderr);
}

/// A registry whose `/v2/` answers 401 with `challenge` (`{self}` replaced by its address).
fn challenged(challenge: &'static str) -> (Server, Arc<Honest>) {
    let registry = Honest::basic(USER, PASSWORD);
    let honest = Arc::clone(&registry);
    let address = Arc::new(std::sync::Mutex::new(String::new()));
    let own = Arc::clone(&address);
    let server = Server::start(move |ex| {
        if ex.path().starts_with("/v2/") && ex.header("authorization").is_none() {
            let value = challenge.replace("{self}", &own.lock().unwrap());
            ex.respond(401, &[("WWW-Authenticate", value)], b"");
            return;
        }
        honest.handle(ex);
    });
    *address.lock().unwrap() = server.address.clone();
    (server, registry)
}

#[test]
fn challenges_zenreg_does_not_answer_get_no_credentials() {
    let work = work();
    let layout = small_layout(work.path());
    for (challenge, expected) in [
        ("Negotiate", "`Negotiate`"),
        (r#"Bearer service="hostile""#, "`Bearer` without a realm"),
        (r#"Bearer realm="http://user:pw@{self}/token""#, "carries a user name or password"),
        (r#"Bearer realm="file:///etc/passwd""#, "is not an HTTP(S) URL"),
        ("", "no authentication challenge"),
    ] {
        let (server, _) = challenged(challenge);
        let zenreg = daemonless();
        register(&zenreg, &server.address, true);
        let error = push(&zenreg, &server.address, &layout, FAST, WATCHDOG, false).error();
        assert!(error.contains(expected), "{challenge}: {error}");
        assert!(server.authorized().is_empty(), "{challenge}: credentials were sent: {:?}", server.authorized());
        assert!(server.seen().len() <= 2, "{challenge}: tried again and again: {:?}", server.seen());
    }
}

/// Writes a close-delimited answer with `head` and then a GiB of zeros, until the client goes.
fn endless(ex: &mut Exchange, head: &str) {
    let _ = ex.body();
    if !ex.write_raw(head.as_bytes()) {
        return;
    }
    let zeros = vec![b'0'; 1024 * 1024];
    for _ in 0..1024 {
        if !ex.write_raw(&zeros) {
            return;
        }
    }
}

#[test]
fn huge_bodies_are_not_read_whole() {
    let work = work();
    let layout = small_layout(work.path());
    // An error body of 1 GiB without Content-Length, then a token answer of 1 GiB.
    let registry = Honest::new();
    let server = {
        let registry = Arc::clone(&registry);
        Server::start(move |ex| {
            if ex.method == "POST" && ex.path().ends_with("/blobs/uploads/") {
                endless(ex, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
                return;
            }
            registry.handle(ex);
        })
    };
    let zenreg = daemonless();
    register(&zenreg, &server.address, false);
    let run = push(&zenreg, &server.address, &layout, FAST, WATCHDOG, false);
    let error = run.error();
    assert!(error.contains("400"), "{error}");
    eprintln!("peak RSS with an endless error body: {} KiB", run.peak_kib);
    assert!(
        run.peak_kib > 0 && run.peak_kib < 150 * 1024,
        "peak RSS {} KiB reading an endless error body",
        run.peak_kib
    );

    let tokens = Server::start(|ex| {
        endless(ex, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"token\":\"")
    });
    let realm_server = {
        let realm = format!(r#"Bearer realm="http://{}/token",service="hostile""#, tokens.address);
        Server::start(move |ex| ex.respond(401, &[("WWW-Authenticate", realm.clone())], b""))
    };
    let zenreg = daemonless();
    register(&zenreg, &realm_server.address, true);
    let run = push(&zenreg, &realm_server.address, &layout, FAST, WATCHDOG, false);
    let error = run.error();
    assert!(error.contains("over 1048576 bytes"), "{error}");
    eprintln!("peak RSS with an endless token answer: {} KiB", run.peak_kib);
    assert!(run.peak_kib > 0 && run.peak_kib < 150 * 1024, "peak RSS {} KiB reading an endless token", run.peak_kib);
    run.shows_none_of(&[PASSWORD]);
}

#[test]
fn a_silent_registry_and_a_trickling_one_end_the_push() {
    let work = work();
    let layout = small_layout(work.path());
    // Accepts, reads the request, never answers.
    let silent = Server::start(|ex| {
        let _ = ex.body();
        std::thread::sleep(Duration::from_secs(3600));
    });
    let zenreg = daemonless();
    register(&zenreg, &silent.address, false);
    let error = push(&zenreg, &silent.address, &layout, FAST, WATCHDOG, false).error();
    assert!(error.contains(&silent.address) && error.contains("no complete answer within 2 s"), "{error}");

    // Answers one byte a second.
    let trickling = Server::start(|ex| {
        let _ = ex.body();
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}" {
            if !ex.write_raw(&[*byte]) {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let zenreg = daemonless();
    register(&zenreg, &trickling.address, false);
    let error = push(&zenreg, &trickling.address, &layout, FAST, WATCHDOG, false).error();
    assert!(error.contains(&trickling.address) && error.contains("no complete answer within 2 s"), "{error}");
}

#[test]
fn an_overflowing_range_restarts_the_upload_without_a_panic() {
    let work = work();
    let layout = large_layout(work.path(), 9 * 1024 * 1024);
    let registry = Honest::new();
    let failed = Arc::new(AtomicBool::new(false));
    let asked = Arc::new(AtomicBool::new(false));
    let server = {
        let (registry, failed, asked) = (Arc::clone(&registry), Arc::clone(&failed), Arc::clone(&asked));
        Server::start(move |ex| {
            if ex.method == "PATCH" && !failed.swap(true, Ordering::SeqCst) {
                ex.respond(503, &[], b"");
                return;
            }
            if ex.method == "GET" && ex.path().contains("/blobs/uploads/") {
                asked.store(true, Ordering::SeqCst);
                ex.respond(204, &[("Range", "0-18446744073709551615".into())], b"");
                return;
            }
            registry.handle(ex);
        })
    };
    let zenreg = daemonless();
    register(&zenreg, &server.address, false);
    push(&zenreg, &server.address, &layout, FAST, WATCHDOG, false).succeeded();
    assert!(asked.load(Ordering::SeqCst), "zenreg never asked for the upload's offset: the test proved nothing");
    let store = registry.store.lock().unwrap();
    for (digest, _) in &layout.layers {
        assert!(store.blobs.contains_key(digest), "{digest} missing");
    }
}

#[test]
fn a_429_waits_for_its_retry_after() {
    let work = work();
    let layout = small_layout(work.path());
    let registry = Honest::new();
    let limited = Arc::new(AtomicBool::new(false));
    let server = {
        let (registry, limited) = (Arc::clone(&registry), Arc::clone(&limited));
        Server::start(move |ex| {
            if ex.method == "HEAD" && ex.path().contains("/blobs/") && !limited.swap(true, Ordering::SeqCst) {
                ex.respond(429, &[("Retry-After", "2".into())], br#"{"errors":[{"code":"TOOMANYREQUESTS"}]}"#);
                return;
            }
            registry.handle(ex);
        })
    };
    let zenreg = daemonless();
    register(&zenreg, &server.address, false);
    let run = push(&zenreg, &server.address, &layout, FAST, WATCHDOG, false);
    run.succeeded();
    // The progress says why the push stands still, and for how long.
    let told = format!("Retrying in 2.0 s, as {} asked (Retry-After): HTTP 429 Too Many Requests", server.address);
    assert!(run.stdout.contains(&told) || run.stderr.contains(&told), "{}\n{}", run.stdout, run.stderr);
    // The pause is a lower bound the registry asked for (backoff is 0.05 s here): the request
    // after the 429 came no sooner than 2 s later.
    let seen = server.seen();
    let limited_at = seen.iter().position(|s| s.method == "HEAD" && s.target.contains("/blobs/")).unwrap();
    let first = &seen[limited_at];
    let next = seen[limited_at + 1..].iter().find(|s| s.method == first.method && s.target == first.target).unwrap();
    let pause = next.at.duration_since(first.at);
    assert!(pause >= Duration::from_secs(2), "came back after {pause:?}");
}

/// The sizes of the `PATCH`es of a push of `layout` to a registry that announces `chunk_min`
/// (`OCI-Chunk-Min-Length`, 0 for none), with `chunk_mib` as zenreg's chunk size.
fn chunk_sizes(layout: &Layout, chunk_min: u64, chunk_mib: &str) -> Result<Vec<u64>, String> {
    let registry = Honest::new();
    registry.chunk_min.store(chunk_min, Ordering::SeqCst);
    let patches = Arc::new(Mutex::new(Vec::new()));
    let server = {
        let (registry, patches) = (Arc::clone(&registry), Arc::clone(&patches));
        Server::start(move |ex| {
            if ex.method == "PATCH" {
                let length = ex.header("content-length").and_then(|v| v.parse::<u64>().ok());
                patches.lock().unwrap().push(length.expect("a chunk states its length"));
            }
            registry.handle(ex);
        })
    };
    let zenreg = daemonless();
    register(&zenreg, &server.address, false);
    let env: Vec<(&str, &str)> = FAST.iter().copied().chain([("ZENREG_HTTP_CHUNK_MIB", chunk_mib)]).collect();
    let run = push(&zenreg, &server.address, layout, &env, WATCHDOG, false);
    if run.code != Some(0) {
        return Err(run.error());
    }
    let sizes = patches.lock().unwrap().clone();
    Ok(sizes)
}

#[test]
fn chunks_follow_the_registry_s_minimum_and_are_never_below_5_mib_but_the_last() {
    const MIB: u64 = 1024 * 1024;
    let work = work();
    // 16 MiB and a tar header: over the 8 MiB of a monolithic upload, so it goes up in chunks.
    let layout = large_layout(work.path(), 16 * 1024 * 1024);
    let blob = layout.layers[0].1;
    // zenreg's own chunk size, at its floor.
    let own = chunk_sizes(&layout, 0, "5").unwrap();
    assert_eq!(own[..3], [5 * MIB; 3], "{own:?}");
    assert_eq!(own.iter().sum::<u64>(), blob, "{own:?}");
    // A registry that wants 7 MiB gets 7 MiB.
    let announced = chunk_sizes(&layout, 7 * MIB, "5").unwrap();
    assert_eq!(announced, [7 * MIB, 7 * MIB, blob - 14 * MIB], "{announced:?}");
    // A smaller chunk is a setting error, named, before any upload.
    let refused = chunk_sizes(&layout, 0, "4").unwrap_err();
    assert!(refused.contains("ZENREG_HTTP_CHUNK_MIB=`4`") && refused.contains("5 or more"), "{refused}");
}

#[test]
fn a_slow_honest_link_succeeds_and_a_stalled_one_fails_within_the_progress_timeout() {
    let work = work();
    // 16 MiB at 2 MiB/s: about 8 s for one PATCH, four times the 2 s progress timeout.
    let layout = large_layout(work.path(), 16 * 1024 * 1024);
    let registry = Honest::new();
    let server = {
        let registry = Arc::clone(&registry);
        Server::start(move |ex| registry.handle(ex))
    };
    let slow = Throttle::start(&server.address, 2 * 1024 * 1024, None);
    let zenreg = daemonless();
    register(&zenreg, &slow.address, false);
    push(&zenreg, &slow.address, &layout, FAST, WATCHDOG, false).succeeded();
    let store = registry.store.lock().unwrap();
    assert!(layout.layers.iter().all(|(digest, _)| store.blobs.contains_key(digest)));
    drop(store);

    // The same link, to an empty registry, goes silent after 1 MiB.
    let empty = Honest::new();
    let server = Server::start(move |ex| empty.handle(ex));
    let stalled = Throttle::start(&server.address, 2 * 1024 * 1024, Some(1024 * 1024));
    let zenreg = daemonless();
    register(&zenreg, &stalled.address, false);
    let mut env = FAST.to_vec();
    env.push(("ZENREG_HTTP_RETRIES", "0"));
    let error = push(&zenreg, &stalled.address, &layout, &env, WATCHDOG, false).error();
    assert!(
        error.contains(&stalled.address) && error.contains("no bytes moved for 2 s while sending the blob"),
        "{error}"
    );
}

#[test]
fn a_token_that_expires_mid_upload_is_renewed_and_the_upload_goes_on() {
    let work = work();
    let layout = large_layout(work.path(), 9 * 1024 * 1024);
    let registry = Honest::new();
    let issued = Arc::new(AtomicU32::new(0));
    let expired_once = Arc::new(AtomicBool::new(false));
    let address = Arc::new(std::sync::Mutex::new(String::new()));
    let server = {
        let (registry, issued, expired_once, own) =
            (Arc::clone(&registry), Arc::clone(&issued), Arc::clone(&expired_once), Arc::clone(&address));
        Server::start(move |ex| {
            if ex.path() == "/token" {
                let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
                let body = format!(r#"{{"token":"token-{n}","expires_in":300}}"#);
                ex.respond(200, &[("Content-Type", "application/json".into())], body.as_bytes());
                return;
            }
            let fresh = ex.header("authorization").is_some_and(|a| a.starts_with("Bearer token-"));
            // The first token stops working during the first PATCH.
            if ex.method == "PATCH" && !expired_once.swap(true, Ordering::SeqCst) {
                let _ = ex.body();
                let challenge = format!(r#"Bearer realm="http://{}/token",service="hostile""#, own.lock().unwrap());
                ex.respond(401, &[("WWW-Authenticate", challenge)], br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#);
                return;
            }
            if !fresh || (ex.method == "PATCH" && ex.header("authorization") == Some("Bearer token-1")) {
                let challenge = format!(r#"Bearer realm="http://{}/token",service="hostile""#, own.lock().unwrap());
                ex.respond(401, &[("WWW-Authenticate", challenge)], b"");
                return;
            }
            registry.handle(ex);
        })
    };
    *address.lock().unwrap() = server.address.clone();
    let zenreg = daemonless();
    register(&zenreg, &server.address, true);
    push(&zenreg, &server.address, &layout, FAST, WATCHDOG, false).succeeded();
    assert!(issued.load(Ordering::SeqCst) >= 2, "no second token was asked for");
    let store = registry.store.lock().unwrap();
    assert!(layout.layers.iter().all(|(digest, _)| store.blobs.contains_key(digest)));
}

/// A token no message may ever show.
const TOKEN: &str = "planted-token-4b1e8d";

fn base64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Everything a registry could echo back: the `Authorization` it got, decoded, and the body.
fn echo(ex: &mut Exchange) -> String {
    use base64::Engine;
    let authorization = ex.header("authorization").unwrap_or_default().to_string();
    let decoded = authorization
        .strip_prefix("Basic ")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&ex.body()).into_owned();
    format!(r#"{{"errors":[{{"code":"DENIED","message":"you sent {authorization} ({decoded}) {body}"}}]}}"#)
}

/// Writes an executable `docker-credential-NAME` script printing `answer` (after `before`) into
/// `dir`; returns a `PATH` with `dir` first.
fn helper(dir: &Path, name: &str, before: &str, answer: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(format!("docker-credential-{name}"));
    std::fs::write(&path, format!("#!/bin/sh\ncat > /dev/null\n{before}\nprintf '%s' '{answer}'\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default())
}

#[test]
fn no_failure_path_shows_a_planted_password_or_token() {
    let work = work();
    let layout = small_layout(work.path());
    let basic = base64(&format!("{USER}:{PASSWORD}"));
    let planted = [PASSWORD, TOKEN, basic.as_str(), "cGxhbnRlZC"];
    let check = |zenreg: &Zenreg, address: &str, env: &[(&str, &str)], case: &str| {
        for json in [false, true] {
            let run = push(zenreg, address, &layout, env, WATCHDOG, json);
            let error = run.error();
            run.shows_none_of(&planted);
            eprintln!("{case} (json {json}): {error}");
        }
    };

    // A Basic registry that echoes the credentials it got when it refuses the manifest.
    let registry = Honest::basic(USER, PASSWORD);
    let server = Server::start(move |ex| {
        if ex.method == "PUT" && ex.path().contains("/manifests/") {
            let body = echo(ex);
            ex.respond(400, &[], body.as_bytes());
            return;
        }
        registry.handle(ex);
    });
    let zenreg = daemonless();
    register(&zenreg, &server.address, true);
    check(&zenreg, &server.address, FAST, "basic echo");

    // A token registry whose realm hands out TOKEN and which echoes it back.
    let address = Arc::new(std::sync::Mutex::new(String::new()));
    let own = Arc::clone(&address);
    let server = Server::start(move |ex| {
        if ex.path() == "/token" {
            if ex.method == "POST" {
                // The identity-token grant: refuse, echoing the form (refresh_token=TOKEN).
                let body = echo(ex);
                ex.respond(401, &[], body.as_bytes());
                return;
            }
            ex.respond(200, &[], format!(r#"{{"token":"{TOKEN}"}}"#).as_bytes());
            return;
        }
        if ex.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            let challenge = format!(r#"Bearer realm="http://{}/token",service="hostile""#, own.lock().unwrap());
            ex.respond(401, &[("WWW-Authenticate", challenge)], b"");
            return;
        }
        if ex.method == "HEAD" {
            ex.respond(404, &[], b"");
            return;
        }
        let body = echo(ex);
        ex.respond(400, &[], body.as_bytes());
    });
    *address.lock().unwrap() = server.address.clone();
    let zenreg = daemonless();
    register(&zenreg, &server.address, true);
    check(&zenreg, &server.address, FAST, "bearer echo");

    // The same registry with an identity token from the Docker config.
    let zenreg = daemonless();
    register(&zenreg, &server.address, false);
    let config = zenreg.home.path().join("docker/config.json");
    std::fs::write(&config, format!(r#"{{"auths": {{"{}": {{"identitytoken": "{TOKEN}"}}}}}}"#, server.address))
        .unwrap();
    check(&zenreg, &server.address, FAST, "identity token echo");

    // Docker config `auths` entries written as a bare string, or with a token where the
    // object belongs.
    for entry in [format!(r#""{basic}""#), format!(r#"["{TOKEN}"]"#), format!(r#"{{"auth": {{"x": "{TOKEN}"}}}}"#)] {
        std::fs::write(&config, format!(r#"{{"auths": {{"{}": {entry}}}}}"#, server.address)).unwrap();
        check(&zenreg, &server.address, FAST, "docker config");
    }

    // Credential helpers that print a bare string, or fail printing the password.
    let bin = work.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let failing = format!("echo {PASSWORD} >&2; exit 1");
    for (before, answer) in
        [("", format!(r#""{TOKEN}""#)), ("", PASSWORD.to_string()), (failing.as_str(), PASSWORD.to_string())]
    {
        let path = helper(&bin, "planted", before, &answer);
        std::fs::write(&config, format!(r#"{{"credHelpers": {{"{}": "planted"}}}}"#, server.address)).unwrap();
        let mut env = FAST.to_vec();
        env.push(("PATH", &path));
        check(&zenreg, &server.address, &env, "helper");
    }
}

#[test]
fn a_credential_helper_that_never_answers_is_stopped() {
    let work = work();
    let layout = small_layout(work.path());
    let registry = Honest::new();
    let server = Server::start(move |ex| registry.handle(ex));
    let zenreg = daemonless();
    register(&zenreg, &server.address, false);
    let bin = work.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = helper(&bin, "stuck", "sleep 3600", "{}");
    std::fs::write(
        zenreg.home.path().join("docker/config.json"),
        format!(r#"{{"credHelpers": {{"{}": "stuck"}}}}"#, server.address),
    )
    .unwrap();
    let mut env = FAST.to_vec();
    env.extend([("PATH", path.as_str()), ("ZENREG_CREDENTIAL_HELPER_TIMEOUT", "1")]);
    let error = push(&zenreg, &server.address, &layout, &env, WATCHDOG, false).error();
    assert!(error.contains("docker-credential-stuck") && error.contains("no answer within 1 s"), "{error}");
}

#[test]
fn a_bad_reference_is_refused_before_any_request() {
    let work = work();
    let layout = small_layout(work.path());
    let registry = Honest::basic(USER, PASSWORD);
    let server = Server::start(move |ex| registry.handle(ex));
    let zenreg = daemonless();
    register(&zenreg, &server.address, true);
    let address = &server.address;
    for (image, says) in [
        (format!("{address}/team/../../admin:v1"), "the repository part `..`"),
        (format!("{address}/team/app:v1?x=1#f"), "the tag `v1?x=1#f`"),
        (format!("{address}/Team/App:1"), "upper-case"),
    ] {
        let run = push_image(&zenreg, &image, &layout, FAST, WATCHDOG, false);
        let error = run.error();
        assert!(error.contains("is not an image reference") && error.contains(says), "{image}: {error}");
        assert!(run.stderr.contains("hint: write the image as"), "{}", run.stderr);
    }
    assert!(server.seen().is_empty(), "requests were made: {:?}", server.seen());
}

#[test]
fn registries_that_answer_chunks_with_201_and_refuse_large_puts_get_the_image() {
    // ECR answers a PATCH with 201; some registries refuse a monolithic PUT with 413.
    let work = work();
    let layout = large_layout(work.path(), 9 * 1024 * 1024);
    let small = TempDir::new("hostile-small");
    let small_layout = small_layout(small.path());
    let registry = Honest::new();
    let refused = Arc::new(AtomicU32::new(0));
    let server = {
        let (registry, refused) = (Arc::clone(&registry), Arc::clone(&refused));
        Server::start(move |ex| {
            if ex.method == "PUT" && ex.path().contains("/blobs/uploads/") && !ex.body().is_empty() {
                refused.fetch_add(1, Ordering::SeqCst);
                ex.respond(413, &[], br#"{"errors":[{"code":"SIZE_INVALID","message":"use chunks"}]}"#);
                return;
            }
            registry.handle(ex);
        })
    };
    let zenreg = daemonless();
    register(&zenreg, &server.address, false);
    push(&zenreg, &server.address, &small_layout, FAST, WATCHDOG, false).succeeded();
    assert!(refused.load(Ordering::SeqCst) > 0, "no PUT was refused: the test proved nothing");

    let ecr = Honest::new();
    let server = {
        let ecr = Arc::clone(&ecr);
        Server::start(move |ex| {
            if ex.method == "PATCH" {
                let body = ex.body();
                let id = ex.path().rsplit('/').next().unwrap_or_default().to_string();
                let mut store = ecr.store.lock().unwrap();
                let upload = store.uploads.get_mut(&id).unwrap();
                upload.extend_from_slice(&body);
                let end = upload.len().saturating_sub(1);
                drop(store);
                ex.respond(201, &[("Location", ex.path().to_string()), ("Range", format!("0-{end}"))], b"");
                return;
            }
            ecr.handle(ex);
        })
    };
    let zenreg = daemonless();
    register(&zenreg, &server.address, false);
    push(&zenreg, &server.address, &layout, FAST, WATCHDOG, false).succeeded();
    let store = ecr.store.lock().unwrap();
    assert!(layout.layers.iter().all(|(digest, _)| store.blobs.contains_key(digest)));
}

#[test]
fn a_token_is_renewed_before_its_expires_in_runs_out() {
    let work = work();
    let layout = small_layout(work.path());
    let registry = Honest::new();
    // Tokens live 2 s; a request with an older one counts as a use of an expired token.
    let issued: Arc<std::sync::Mutex<Vec<Instant>>> = Arc::default();
    let expired_uses = Arc::new(AtomicU32::new(0));
    let address = Arc::new(std::sync::Mutex::new(String::new()));
    let server = {
        let (registry, issued, expired_uses, own) =
            (Arc::clone(&registry), Arc::clone(&issued), Arc::clone(&expired_uses), Arc::clone(&address));
        Server::start(move |ex| {
            if ex.path() == "/token" {
                let mut issued = issued.lock().unwrap();
                issued.push(Instant::now());
                let body = format!(r#"{{"token":"token-{}","expires_in":2}}"#, issued.len() - 1);
                drop(issued);
                ex.respond(200, &[], body.as_bytes());
                return;
            }
            let token = ex
                .header("authorization")
                .and_then(|a| a.strip_prefix("Bearer token-"))
                .and_then(|n| n.parse::<usize>().ok());
            let Some(at) = token.and_then(|n| issued.lock().unwrap().get(n).copied()) else {
                let challenge = format!(r#"Bearer realm="http://{}/token",service="hostile""#, own.lock().unwrap());
                ex.respond(401, &[("WWW-Authenticate", challenge)], b"");
                return;
            };
            if at.elapsed() > Duration::from_secs(2) {
                expired_uses.fetch_add(1, Ordering::SeqCst);
                let challenge = format!(r#"Bearer realm="http://{}/token",service="hostile""#, own.lock().unwrap());
                ex.respond(401, &[("WWW-Authenticate", challenge)], b"");
                return;
            }
            // Slow enough that the requests after the blob checks outlive the first token.
            if ex.method == "HEAD" {
                std::thread::sleep(Duration::from_secs(2));
            }
            registry.handle(ex);
        })
    };
    *address.lock().unwrap() = server.address.clone();
    let zenreg = daemonless();
    register(&zenreg, &server.address, true);
    let mut env = FAST.to_vec();
    env.push(("ZENREG_HTTP_REQUEST_TIMEOUT", "10"));
    push(&zenreg, &server.address, &layout, &env, WATCHDOG, false).succeeded();
    assert!(issued.lock().unwrap().len() >= 2, "the push never needed a second token: the test proved nothing");
    assert_eq!(expired_uses.load(Ordering::SeqCst), 0, "zenreg used a token past its expires_in");
}

/// A token registry that works: the realm checks the Basic credentials `USER`/`PASSWORD` and
/// hands out `TOKEN`, which the registry takes.
fn token_registry() -> (Server, Arc<Honest>) {
    let registry = Honest::new();
    let address = Arc::new(std::sync::Mutex::new(String::new()));
    let server = {
        let (registry, own) = (Arc::clone(&registry), Arc::clone(&address));
        let basic = format!("Basic {}", base64(&format!("{USER}:{PASSWORD}")));
        Server::start(move |ex| {
            if ex.path() == "/token" {
                if ex.header("authorization") == Some(basic.as_str()) {
                    let body = format!(r#"{{"token":"{TOKEN}","expires_in":300}}"#);
                    ex.respond(200, &[("Content-Type", "application/json".into())], body.as_bytes());
                } else {
                    ex.respond(401, &[], br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#);
                }
                return;
            }
            if ex.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
                let challenge = format!(r#"Bearer realm="http://{}/token",service="hostile""#, own.lock().unwrap());
                ex.respond(401, &[("WWW-Authenticate", challenge)], b"");
                return;
            }
            registry.handle(ex);
        })
    };
    *address.lock().unwrap() = server.address.clone();
    (server, registry)
}

/// Lines of the `ZENREG_LOG` log in `stderr` (tracing's format: time, level, target, message).
fn log_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(" zenreg_")).collect()
}

#[test]
fn zenreg_log_is_off_by_default_and_debug_shows_each_request_and_statement() {
    let work = work();
    let layout = small_layout(work.path());
    let (server, _registry) = token_registry();
    let zenreg = daemonless();
    register(&zenreg, &server.address, true);

    let mut quiet = FAST.to_vec();
    quiet.push(("ZENREG_LOG", ""));
    let run = push(&zenreg, &server.address, &layout, &quiet, WATCHDOG, true);
    run.succeeded();
    let levels = [" ERROR ", " WARN ", " INFO ", " DEBUG ", " TRACE "];
    assert!(
        run.stderr.lines().all(|l| !levels.iter().any(|level| l.contains(level)) && !l.contains(" zenreg_")),
        "a push without ZENREG_LOG logged: {}",
        run.stderr
    );

    let mut debug = FAST.to_vec();
    debug.push(("ZENREG_LOG", "debug"));
    let run = push(&zenreg, &server.address, &layout, &debug, WATCHDOG, true);
    run.succeeded();
    let lines = log_lines(&run.stderr);
    let manifest = format!("PUT http://{}/v2/team/app/manifests/1 -> 201 ", server.address);
    assert!(
        lines.iter().any(|l| l.contains("DEBUG zenreg_push::http") && l.contains(&manifest) && l.contains(" ms=")),
        "no request line for the manifest: {}",
        run.stderr
    );
    assert!(lines.iter().any(|l| l.contains("/token?service=hostile&scope=repository") && l.contains("retry=0")));
    assert!(
        lines.iter().any(|l| l.contains("zenreg_store::sql") && l.contains("sqlite: SELECT")),
        "no store statement: {}",
        run.stderr
    );
    assert!(lines.iter().any(|l| l.contains("zenreg_push::adaptive") && l.contains("level")), "{}", run.stderr);

    // One target alone: its lines and no others.
    debug.pop();
    debug.push(("ZENREG_LOG", "zenreg_push::http=debug"));
    let run = push(&zenreg, &server.address, &layout, &debug, WATCHDOG, true);
    run.succeeded();
    let lines = log_lines(&run.stderr);
    assert!(lines.iter().any(|l| l.contains(&manifest)), "no request line: {}", run.stderr);
    assert!(lines.iter().all(|l| l.contains(" zenreg_push::http: ")), "{}", run.stderr);
    serde_json::from_str::<serde_json::Value>(&run.stdout).expect("stdout stays the JSON document alone");
}

#[test]
fn zenreg_log_trace_shows_no_password_or_token() {
    let work = work();
    let layout = small_layout(work.path());
    let (server, _registry) = token_registry();
    let zenreg = daemonless();
    register(&zenreg, &server.address, true);
    let mut trace = FAST.to_vec();
    trace.push(("ZENREG_LOG", "trace"));
    let run = push(&zenreg, &server.address, &layout, &trace, WATCHDOG, false);
    run.succeeded();
    assert!(log_lines(&run.stderr).len() > 5, "the log is on: {}", run.stderr);
    let basic = base64(&format!("{USER}:{PASSWORD}"));
    run.shows_none_of(&[PASSWORD, TOKEN, &basic, "authorization", "Authorization"]);

    // Named targets of the HTTP libraries at trace level show nothing either: only zenreg's
    // own events are written.
    trace.pop();
    trace.push(("ZENREG_LOG", "trace,hyper=trace,hyper_util=trace,reqwest=trace,h2=trace,rustls=trace"));
    let run = push(&zenreg, &server.address, &layout, &trace, WATCHDOG, false);
    run.succeeded();
    assert!(
        run.stderr.lines().filter(|l| l.contains(" TRACE ") || l.contains(" DEBUG ")).all(|l| l.contains(" zenreg_"))
    );
    run.shows_none_of(&[PASSWORD, TOKEN, &basic]);
}

#[test]
fn a_zenreg_log_that_is_not_a_filter_is_one_error() {
    let work = work();
    let layout = small_layout(work.path());
    let zenreg = daemonless();
    register(&zenreg, "127.0.0.1:9", false);
    let mut env = FAST.to_vec();
    env.push(("ZENREG_LOG", "zenreg=[[["));
    let run = push(&zenreg, "127.0.0.1:9", &layout, &env, WATCHDOG, false);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.starts_with("error: ZENREG_LOG=`zenreg=[[[` is not a log filter"), "{}", run.stderr);
    assert!(run.hint().contains("ZENREG_LOG=debug"), "{}", run.stderr);
}
