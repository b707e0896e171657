//! `zenreg image …` end to end against real registries on loopback: the services' open
//! (5000) and htpasswd (5001) registries, Distribution registries the tests start themselves
//! (deletes on or off, TLS with a test CA, token authentication, killed and restarted mid-copy),
//! and a small server of the tests' own for the OCI 1.1 referrers API. Images are OCI layouts of
//! real files written by the tests (each with a unique first layer), put in place by skopeo;
//! what arrives is checked with `skopeo inspect --raw` (byte-exact manifests), `skopeo copy`
//! (every blob's digest) and `docker pull` (the files unpack equal).

mod e2e;
#[allow(dead_code)]
#[path = "hostile_registry/server.rs"]
mod server;
#[allow(dead_code)]
#[path = "push_oci/spawned.rs"]
mod spawned;

use e2e::{Services, TempDir, Zenreg, docker, unique};
use spawned::{Layout, Pki, Proxy, Registry, TokenIssuer, Verdict, checksums, noise, sha256_hex_bytes};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex_bytes(bytes))
}

/// A directory of real files, its first file unique to `label` (so no two images share their
/// first layer), and a second directory of files every image has.
fn roots(work: &Path, label: &str) -> (PathBuf, PathBuf) {
    let own = work.join(format!("own-{label}"));
    std::fs::create_dir_all(&own).unwrap();
    std::fs::write(own.join("name"), unique(label)).unwrap();
    std::fs::copy("/bin/busybox", own.join("busybox")).unwrap();
    let shared = work.join(format!("shared-{label}"));
    let status = Command::new("cp").arg("-rL").arg("/usr/lib/python3.11/json").arg(&shared).status().unwrap();
    assert!(status.success());
    (own, shared)
}

fn skopeo(args: &[&str]) -> Output {
    Command::new("skopeo").args(args).stdin(Stdio::null()).output().expect("skopeo runs")
}

/// Writes a layout of `roots` and copies it to `reference` with skopeo, byte-exact; returns
/// the layout.
fn seed(work: &Path, roots: &[&Path], reference: &str, creds: Option<&str>) -> Layout {
    let dir = work.join(unique("layout"));
    let layout = Layout::write(&dir, roots);
    let destination = format!("docker://{reference}");
    let mut args = vec!["copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false"];
    if let Some(creds) = creds {
        args.extend(["--dest-creds", creds]);
    }
    let from = layout.from();
    args.extend([from.as_str(), destination.as_str()]);
    let output = skopeo(&args);
    assert!(output.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&output.stderr));
    layout
}

/// Registers component `token` at `address` with secret `tok` of `tokenuser` and `password`.
fn register_token(zenreg: &Zenreg, address: &str, password: &str) {
    zenreg.ok(&["secret", "create", "tok", "--username=tokenuser", &format!("--password={password}")]);
    zenreg.ok(&[
        "container-registry",
        "register",
        "token",
        "--flavor",
        "default",
        &format!("--uri={address}"),
        "--authentication_secret=tok",
    ]);
}

/// The raw manifest `skopeo inspect --raw` reads for `reference`.
fn raw_manifest(reference: &str, extra: &[&str]) -> Vec<u8> {
    let target = format!("docker://{reference}");
    let mut args = vec!["inspect", "--raw", "--tls-verify=false"];
    args.extend_from_slice(extra);
    args.push(&target);
    let output = skopeo(&args);
    assert!(output.status.success(), "skopeo inspect {reference}: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

/// A plain-HTTP request to a registry: status, headers (lower-case names), body.
fn http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(address).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, response[split + 4..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// Uploads `bytes` as a blob of `repository` (plain HTTP, no auth); returns its digest.
fn put_blob(address: &str, repository: &str, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let (status, headers, _) = http(address, "POST", &format!("/v2/{repository}/blobs/uploads/"), &[], b"");
    assert_eq!(status, 202);
    let location = header(&headers, "location").unwrap().to_string();
    let path = location.split_once("//").map_or(location.as_str(), |(_, rest)| &rest[rest.find('/').unwrap()..]);
    let separator = if path.contains('?') { '&' } else { '?' };
    let (status, _, body) = http(
        address,
        "PUT",
        &format!("{path}{separator}digest={digest}"),
        &[("Content-Type", "application/octet-stream")],
        bytes,
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    digest
}

fn put_manifest(address: &str, repository: &str, reference: &str, media_type: &str, bytes: &[u8]) -> String {
    let (status, _, body) = http(
        address,
        "PUT",
        &format!("/v2/{repository}/manifests/{reference}"),
        &[("Content-Type", media_type)],
        bytes,
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    sha256(bytes)
}

/// Whether `repository:reference` is in the registry (plain HTTP, no auth).
fn has_manifest(address: &str, repository: &str, reference: &str) -> bool {
    let accept = format!("{OCI_MANIFEST}, {OCI_INDEX}");
    http(address, "HEAD", &format!("/v2/{repository}/manifests/{reference}"), &[("Accept", &accept)], b"").0 == 200
}

fn get_manifest(address: &str, repository: &str, reference: &str) -> Vec<u8> {
    let accept = format!("{OCI_MANIFEST}, {OCI_INDEX}");
    let (status, _, body) =
        http(address, "GET", &format!("/v2/{repository}/manifests/{reference}"), &[("Accept", &accept)], b"");
    assert_eq!(status, 200, "{repository}:{reference}");
    body
}

/// A signature-like artifact referring to `subject` (an OCI 1.1 manifest with `subject` and
/// `artifactType`), pushed by digest; returns its digest and bytes.
fn push_signature(
    address: &str,
    repository: &str,
    subject: &str,
    subject_size: usize,
    label: &str,
) -> (String, Vec<u8>) {
    let payload =
        format!("{{\"critical\":{{\"image\":{{\"docker-manifest-digest\":\"{subject}\"}}}},\"label\":\"{label}\"}}");
    let layer = put_blob(address, repository, payload.as_bytes());
    let empty = put_blob(address, repository, b"{}");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": if label.contains("sbom") { "application/spdx+json" } else { "application/vnd.dev.cosign.artifact.sig.v1+json" },
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": layer, "size": payload.len()}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_size},
        "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z", "label": label},
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let digest = put_manifest(address, repository, &sha256(&bytes), OCI_MANIFEST, &bytes);
    (digest, bytes)
}

/// The access-log lines of requests for blobs (`/blobs/`) in a Distribution log.
fn blob_requests(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| {
            l.contains("\"GET /v2/")
                || l.contains("\"HEAD /v2/")
                || l.contains("\"PUT /v2/")
                || l.contains("\"POST /v2/")
                || l.contains("\"PATCH /v2/")
        })
        .filter(|l| l.contains("/blobs/"))
        .map(str::to_string)
        .collect()
}

/// The files of `reference` as the Docker Engine unpacks them: pulled, exported from a
/// container made of it (never started).
fn pulled_files(services: &Services, reference: &str, work: &Path) -> PathBuf {
    let pulled = docker(services, &["pull", "-q", reference]);
    assert!(pulled.status.success(), "docker pull {reference}: {}", String::from_utf8_lossy(&pulled.stderr));
    let created = docker(services, &["create", reference, "/none"]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let container = String::from_utf8(created.stdout).unwrap().trim().to_string();
    let dir = work.join(unique("unpacked"));
    std::fs::create_dir_all(&dir).unwrap();
    let tar = dir.with_extension("tar");
    let exported = docker(services, &["export", "-o", tar.to_str().unwrap(), &container]);
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    let _ = docker(services, &["rm", "-f", &container]);
    let _ = docker(services, &["rmi", "-f", reference]);
    let status = Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(&dir).status().unwrap();
    assert!(status.success());
    dir
}

/// `image copy … --output json`, which must succeed; the report and stderr.
fn copy_json(zenreg: &Zenreg, args: &[&str]) -> (serde_json::Value, String) {
    let mut all = vec!["image", "copy"];
    all.extend_from_slice(args);
    all.extend(["--output", "json"]);
    let output = zenreg.run(&all);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "zenreg {all:?}: {stderr}");
    (json(&String::from_utf8(output.stdout).unwrap()), stderr)
}

#[test]
#[ignore = "needs the Docker Engine, registries, docker-registry and skopeo: run the README test command"]
fn a_copy_across_registries_streams_every_blob_keeps_the_digest_and_unpacks_equal_and_within_one_mounts() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    let work = TempDir::new("image-copy");
    let source = Registry::start("", "");
    zenreg.register("src", &source.address);
    zenreg.register("local", &services.registry);
    zenreg.ok(&[
        "secret",
        "create",
        "auth",
        &format!("--username={}", services.auth_user),
        &format!("--password={}", services.auth_password),
    ]);
    zenreg.ok(&[
        "container-registry",
        "register",
        "authed",
        "--flavor",
        "default",
        &format!("--uri={}", services.auth_registry),
        "--authentication_secret=auth",
    ]);
    let (own, shared) = roots(work.path(), "copy");
    let repository = unique("zenreg-image/copy");
    let layout = seed(work.path(), &[&own, &shared], &format!("{}/{repository}:v1", source.address), None);
    let raw = raw_manifest(&format!("{}/{repository}:v1", source.address), &[]);
    assert_eq!(sha256(&raw), layout.manifest);

    // Across registries: open → htpasswd, every blob streamed, the digest the same.
    let to_auth = format!("{}/{repository}:v1", services.auth_registry);
    let (report, stderr) = copy_json(&zenreg, &[&format!("{}/{repository}:v1", source.address), &to_auth]);
    assert_eq!(report["digest"], layout.manifest.as_str(), "{stderr}");
    assert_eq!(report["source"], format!("{}/{repository}:v1", source.address));
    assert_eq!(report["destination"], to_auth.as_str());
    assert_eq!(report["blobs_mounted"], 0);
    assert_eq!(report["blobs_skipped"], 0);
    let blob_bytes: u64 = layout.layers.iter().map(|(_, size)| size).sum::<u64>();
    assert!(report["bytes_copied"].as_u64().unwrap() > blob_bytes, "{report}");
    assert_eq!(report["referrers"], serde_json::json!([]));
    let creds = format!("{}:{}", services.auth_user, services.auth_password);
    let copied = raw_manifest(&to_auth, &["--creds", &creds]);
    assert_eq!(copied, raw, "the manifest arrived byte-exact");
    // skopeo reads every blob back and checks its digest.
    let back = work.path().join("back");
    let target = format!("dir:{}", back.display());
    let output = skopeo(&[
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &format!("docker://{to_auth}"),
        &target,
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    for (digest, _) in &layout.layers {
        let hex = digest.trim_start_matches("sha256:");
        assert_eq!(std::fs::read(back.join(hex)).unwrap(), std::fs::read(layout.blob(digest)).unwrap());
    }

    // Back to the open registry the daemon pulls from: the files unpack equal.
    let to_open = format!("{}/{repository}:v1", services.registry);
    let (report, _) = copy_json(&zenreg, &[&to_auth, &to_open]);
    assert_eq!(report["digest"], layout.manifest.as_str());
    let unpacked =
        pulled_files(&services, &format!("{}/{repository}@{}", services.registry, layout.manifest), work.path());
    let expected = {
        let both = work.path().join("expected");
        std::fs::create_dir_all(&both).unwrap();
        for root in [&own, &shared] {
            let status = Command::new("cp").arg("-a").arg(format!("{}/.", root.display())).arg(&both).status().unwrap();
            assert!(status.success());
        }
        checksums(&both)
    };
    // Less what Docker adds to every container (`/.dockerenv`, `/etc/hosts`, …).
    let unpacked: String = checksums(&unpacked)
        .lines()
        .filter(|l| !l.ends_with("./.dockerenv") && !l.contains("  ./dev/") && !l.contains("  ./etc/"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(unpacked, expected);

    // Within one registry: every blob mounted, none read or written.
    let log_before = source.log().len();
    let other = format!("{}/{repository}-promoted:v1", source.address);
    let (report, _) = copy_json(&zenreg, &[&format!("{}/{repository}:v1", source.address), &other]);
    assert_eq!(report["digest"], layout.manifest.as_str());
    assert_eq!(report["blobs_mounted"], layout.layers.len() + 1, "{report}");
    assert_eq!(report["bytes_copied"], 0);
    let log = source.log()[log_before..].to_string();
    let transfers: Vec<String> = blob_requests(&log)
        .into_iter()
        .filter(|l| l.contains("\"GET ") || l.contains("\"PATCH ") || l.contains("\"PUT "))
        .collect();
    assert!(transfers.is_empty(), "a mount moves no blob: {transfers:?}");
    assert!(log.contains("mount="), "{log}");

    // Warm: the destination has everything.
    let (report, _) = copy_json(&zenreg, &[&format!("{}/{repository}:v1", source.address), &to_auth]);
    assert_eq!(report["blobs_skipped"], layout.layers.len() + 1);
    assert_eq!(report["bytes_copied"], 0);
}

#[test]
#[ignore = "needs docker-registry, openssl and skopeo: run the README test command"]
fn a_copy_from_a_tls_registry_to_a_token_registry_keeps_the_digest() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    let work = TempDir::new("image-tls");
    let pki = Pki::new();
    let tls = Registry::start(&pki.registry_tls(), "");
    let issuer = TokenIssuer::start(&pki, "tokenuser", "token-password-1");
    let token = Registry::start("", &issuer.registry_auth(&pki));
    zenreg.register("tls", &tls.address);
    register_token(&zenreg, &token.address, "token-password-1");
    let (own, shared) = roots(work.path(), "tls");
    let repository = unique("zenreg-image/tls");
    // skopeo trusts the test CA through --dest-cert-dir.
    let dir = work.path().join("layout");
    let layout = Layout::write(&dir, &[&own, &shared]);
    let trust = pki.trust_dir();
    let from = layout.from();
    let output = skopeo(&[
        "copy",
        "--quiet",
        "--dest-cert-dir",
        trust.to_str().unwrap(),
        &from,
        &format!("docker://{}/{repository}:v1", tls.address),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let args = [
        "image",
        "copy",
        &format!("{}/{repository}:v1", tls.address),
        &format!("{}/{repository}:v1", token.address),
        "--output",
        "json",
    ];
    let output = zenreg.command(&args).env("SSL_CERT_FILE", pki.file("ca.crt")).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report = json(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(report["digest"], layout.manifest.as_str());
    assert_eq!(report["blobs_copied"], layout.layers.len() + 1);
    // The token issuer was asked, with the component's user, for this repository.
    let requests = issuer.requests.lock().unwrap().clone();
    assert!(
        requests.iter().any(|r| r.granted && r.user == "tokenuser" && r.scopes.iter().any(|s| s.contains(&repository))),
        "{requests:?}"
    );
    let raw = raw_manifest(&format!("{}/{repository}:v1", token.address), &["--creds", "tokenuser:token-password-1"]);
    assert_eq!(sha256(&raw), layout.manifest);
    // Without the CA, the TLS registry is refused with the hint to trust it.
    let stderr =
        String::from_utf8(zenreg.command(&args).env("SSL_CERT_FILE", "/dev/null").output().unwrap().stderr).unwrap();
    assert!(stderr.contains("SSL_CERT_FILE"), "{stderr}");
}

#[test]
#[ignore = "needs docker-registry and skopeo: run the README test command"]
fn tag_ls_digest_and_inspect_read_and_write_manifests_only() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    let work = TempDir::new("image-tag");
    let registry = Registry::start("", "");
    zenreg.register("reg", &registry.address);
    let (own, shared) = roots(work.path(), "tag");
    let repository = unique("zenreg-image/tag");
    let image = format!("{}/{repository}", registry.address);
    let layout = seed(work.path(), &[&own, &shared], &format!("{image}:v1"), None);

    let before = registry.log().len();
    for tag in ["v2", "v3", "v4", "latest"] {
        let digest = zenreg.ok(&["image", "tag", &format!("{image}:v1"), tag]);
        assert_eq!(digest.trim(), layout.manifest);
    }
    let log = registry.log()[before..].to_string();
    assert!(blob_requests(&log).is_empty(), "`tag` made blob requests: {:?}", blob_requests(&log));
    assert_eq!(sha256(&raw_manifest(&format!("{image}:v4"), &[])), layout.manifest);
    let report = json(&zenreg.ok(&["image", "tag", &format!("{image}:v1"), "v5", "--output", "json"]));
    assert_eq!(report["destination"], format!("{image}:v5"));
    assert_eq!(report["digest"], layout.manifest.as_str());

    // (Debian's distribution 2.8 answers every tag at once, whatever `n`: the pages are
    // tested against the tests' own server below.)
    let listed = json(&zenreg.ok(&["image", "ls", &image, "--page-size", "2", "--output", "json"]));
    let mut tags: Vec<String> =
        listed["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
    tags.sort();
    assert_eq!(tags, ["latest", "v1", "v2", "v3", "v4", "v5"]);
    assert_eq!(listed["repository"], image.as_str());
    let plain = zenreg.ok(&["image", "ls", &image]);
    assert_eq!(plain.lines().count(), 6);

    assert_eq!(zenreg.ok(&["image", "digest", &format!("{image}:v3")]).trim(), layout.manifest);
    let digest = json(&zenreg.ok(&["image", "digest", &format!("{image}:v3"), "--output", "json"]));
    assert_eq!(digest["digest"], layout.manifest.as_str());
    assert_eq!(digest["media_type"], OCI_MANIFEST);

    let inspected = json(&zenreg.ok(&["image", "inspect", &format!("{image}:v1"), "--output", "json"]));
    assert_eq!(inspected["digest"], layout.manifest.as_str());
    assert_eq!(inspected["media_type"], OCI_MANIFEST);
    assert_eq!(inspected["manifest"]["layers"].as_array().unwrap().len(), 2);
    assert_eq!(inspected["config"]["architecture"], "amd64");
    assert_eq!(inspected["config"]["config"]["Labels"]["purpose"], "zenreg-oci-test");
    assert_eq!(inspected["referrers"], serde_json::json!([]));
    let table = zenreg.ok(&["image", "inspect", &format!("{image}:v1")]);
    assert!(table.contains("linux/amd64") && table.contains(&layout.layers[0].0), "{table}");

    // A tag that is not one, a tag not there.
    let error = zenreg.fails(&["image", "tag", &format!("{image}:v1"), "no/tag"]);
    assert!(error.contains("no/tag"), "{error}");
    let error = zenreg.fails(&["image", "digest", &format!("{image}:missing")]);
    assert!(error.contains("is not in the registry"), "{error}");
}

#[test]
#[ignore = "needs docker-registry and skopeo: run the README test command"]
fn delete_removes_the_manifest_where_deletes_are_on_says_so_where_they_are_off_and_asks_first() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    let work = TempDir::new("image-delete");
    let on = Registry::start_with_storage("  delete:\n    enabled: true\n", "", "");
    let off = Registry::start("", "");
    zenreg.register("on", &on.address);
    zenreg.register("off", &off.address);
    let (own, shared) = roots(work.path(), "delete");
    let repository = unique("zenreg-image/delete");
    let layout = seed(work.path(), &[&own, &shared], &format!("{}/{repository}:v1", on.address), None);
    seed(work.path(), &[&own, &shared], &format!("{}/{repository}:v1", off.address), None);

    // Without --yes and without a terminal: refused, nothing deleted.
    let error = zenreg.fails(&["image", "delete", &format!("{}/{repository}:v1", on.address)]);
    assert!(error.contains("confirmation"), "{error}");
    assert!(has_manifest(&on.address, &repository, &layout.manifest));

    let report =
        json(&zenreg.ok(&["image", "delete", &format!("{}/{repository}:v1", on.address), "--yes", "--output", "json"]));
    assert_eq!(report["digest"], layout.manifest.as_str());
    assert!(!has_manifest(&on.address, &repository, &layout.manifest));
    assert!(!has_manifest(&on.address, &repository, "v1"));
    assert!(on.log().contains(&format!("\"DELETE /v2/{repository}/manifests/{}", layout.manifest)));

    let output = zenreg.run(&["image", "delete", &format!("{}/{repository}:v1", off.address), "--yes"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].starts_with("error: ") && lines[0].contains("deletes disabled"), "{stderr}");
    assert!(lines[1].starts_with("hint: ") && lines[1].contains("storage.delete.enabled"), "{stderr}");
    assert!(has_manifest(&off.address, &repository, "v1"));
}

#[test]
#[ignore = "needs docker-registry and skopeo: run the README test command"]
fn delete_on_a_token_registry_asks_for_a_token_that_may_delete() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    let work = TempDir::new("image-delete-token");
    let pki = Pki::new();
    let issuer = TokenIssuer::start(&pki, "tokenuser", "token-password-2");
    let token = Registry::start_with_storage("  delete:\n    enabled: true\n", "", &issuer.registry_auth(&pki));
    register_token(&zenreg, &token.address, "token-password-2");
    let (own, shared) = roots(work.path(), "delete-token");
    let repository = unique("zenreg-image/delete-token");
    let reference = format!("{}/{repository}:v1", token.address);
    let layout = seed(work.path(), &[&own, &shared], &reference, Some("tokenuser:token-password-2"));

    let report = json(&zenreg.ok(&["image", "delete", &reference, "--yes", "--output", "json"]));
    assert_eq!(report["digest"], layout.manifest.as_str());
    // The token asked for may delete in the repository (one of pull,push is refused a DELETE),
    // and the registry took the DELETE.
    let scope = format!("repository:{repository}:pull,push,delete");
    let requests = issuer.requests.lock().unwrap().clone();
    assert!(requests.iter().any(|r| r.granted && r.scopes.contains(&scope)), "{requests:?}");
    let log = token.log();
    let deleted = format!("\"DELETE /v2/{repository}/manifests/{}", layout.manifest);
    assert!(log.lines().any(|l| l.contains(&deleted) && l.contains("\" 202 ")), "{log}");
}

/// An OCI layout with a two-platform index tagged `multi`: linux/amd64 and linux/arm64, each a
/// manifest of two real layers (the first unique to it). Returns the layout directory, the
/// index digest and the two manifests' digests.
fn two_platform_layout(work: &Path) -> (PathBuf, String, [String; 2]) {
    let dir = work.join(unique("multi"));
    let mut descriptors = Vec::new();
    let mut digests = Vec::new();
    for architecture in ["amd64", "arm64"] {
        let (own, shared) = roots(work, &format!("multi-{architecture}"));
        let single = work.join(unique("single"));
        let layout = Layout::write(&single, &[&own, &shared]);
        // The config again, for this architecture; the manifest names it.
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(layout.blob(&layout.manifest)).unwrap()).unwrap();
        let config_digest = manifest["config"]["digest"].as_str().unwrap();
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(layout.blob(config_digest)).unwrap()).unwrap();
        config["architecture"] = architecture.into();
        let config_bytes = serde_json::to_vec(&config).unwrap();
        let mut manifest = manifest.clone();
        manifest["config"]["digest"] = sha256(&config_bytes).into();
        manifest["config"]["size"] = config_bytes.len().into();
        let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        for (digest, _) in &layout.layers {
            std::fs::copy(layout.blob(digest), blobs.join(digest.trim_start_matches("sha256:"))).unwrap();
        }
        for bytes in [&config_bytes, &manifest_bytes] {
            std::fs::write(blobs.join(sha256_hex_bytes(bytes)), bytes).unwrap();
        }
        descriptors.push(serde_json::json!({
            "mediaType": OCI_MANIFEST, "digest": sha256(&manifest_bytes), "size": manifest_bytes.len(),
            "platform": {"architecture": architecture, "os": "linux"},
        }));
        digests.push(sha256(&manifest_bytes));
    }
    let index =
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}))
            .unwrap();
    let blobs = dir.join("blobs/sha256");
    std::fs::write(blobs.join(sha256_hex_bytes(&index)), &index).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut refs = vec![serde_json::json!({
        "mediaType": OCI_INDEX, "digest": sha256(&index), "size": index.len(),
        "annotations": {"org.opencontainers.image.ref.name": "multi"},
    })];
    for (descriptor, name) in descriptors.iter().zip(["amd64", "arm64"]) {
        let mut named = descriptor.clone();
        named["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": name});
        refs.push(named);
    }
    let top = serde_json::json!({"schemaVersion": 2, "manifests": refs});
    std::fs::write(dir.join("index.json"), top.to_string()).unwrap();
    (dir, sha256(&index), [digests[0].clone(), digests[1].clone()])
}

#[test]
#[ignore = "needs docker-registry and skopeo: run the README test command"]
fn a_multi_platform_index_is_copied_whole_or_narrowed_and_a_platform_it_lacks_is_an_error() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    let work = TempDir::new("image-multi");
    let source = Registry::start("", "");
    let destination = Registry::start("", "");
    zenreg.register("src", &source.address);
    zenreg.register("dst", &destination.address);
    let (dir, index_digest, [amd64, arm64]) = two_platform_layout(work.path());
    let repository = unique("zenreg-image/multi");
    let output = skopeo(&[
        "copy",
        "--quiet",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &format!("oci:{}:multi", dir.display()),
        &format!("docker://{}/{repository}:multi", source.address),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let src = format!("{}/{repository}:multi", source.address);

    // Whole: the index and both manifests, byte-exact.
    let (report, _) = copy_json(&zenreg, &[&src, &format!("{}/{repository}:whole", destination.address)]);
    assert_eq!(report["digest"], index_digest.as_str());
    assert!(report.get("source_digest").is_none(), "{report}");
    assert_eq!(
        get_manifest(&destination.address, &repository, "whole"),
        get_manifest(&source.address, &repository, "multi")
    );
    for digest in [&amd64, &arm64] {
        assert_eq!(
            get_manifest(&destination.address, &repository, digest),
            get_manifest(&source.address, &repository, digest)
        );
    }
    // skopeo reads the arm64 image of the copy and checks its blobs.
    let back = work.path().join("back-arm64");
    let output = skopeo(&[
        "copy",
        "--quiet",
        "--override-arch",
        "arm64",
        "--src-tls-verify=false",
        &format!("docker://{}/{repository}:whole", destination.address),
        &format!("dir:{}", back.display()),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(sha256(&std::fs::read(back.join("manifest.json")).unwrap()), arm64);

    // Narrowed to arm64: a new index of one manifest, and the command says the digest changed.
    let (report, stderr) =
        copy_json(&zenreg, &[&src, &format!("{}/{repository}:arm", destination.address), "--platform", "linux/arm64"]);
    let narrowed = get_manifest(&destination.address, &repository, "arm");
    assert_eq!(report["digest"], sha256(&narrowed).as_str());
    assert_ne!(report["digest"], index_digest.as_str());
    assert_eq!(report["source_digest"], index_digest.as_str());
    assert!(stderr.contains("narrowed") && stderr.contains(&index_digest), "{stderr}");
    let value: serde_json::Value = serde_json::from_slice(&narrowed).unwrap();
    assert_eq!(value["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(value["manifests"][0]["digest"], arm64.as_str());

    // By digest, narrowed, to a destination without a tag: the new index goes by its own digest.
    let (report, _) = copy_json(
        &zenreg,
        &[
            &format!("{}/{repository}@{index_digest}", source.address),
            &format!("{}/{repository}", destination.address),
            "--platform",
            "linux/amd64",
        ],
    );
    let digest = report["digest"].as_str().unwrap().to_string();
    assert_ne!(digest, index_digest);
    assert_eq!(sha256(&get_manifest(&destination.address, &repository, &digest)), digest);

    // A platform the index lacks: one error naming those it has; nothing tagged.
    let error = zenreg.fails(&[
        "image",
        "copy",
        &src,
        &format!("{}/{repository}:s390x", destination.address),
        "--platform",
        "linux/s390x",
    ]);
    assert!(error.contains("linux/s390x") && error.contains("linux/amd64, linux/arm64"), "{error}");
    assert!(!has_manifest(&destination.address, &repository, "s390x"));
    let usage =
        zenreg.run(&["image", "copy", &src, &format!("{}/{repository}:x", destination.address), "--platform", "linux"]);
    assert_eq!(usage.status.code(), Some(2));

    // Inspect shows the platforms.
    let table = zenreg.ok(&["image", "inspect", &src]);
    assert!(table.contains("linux/amd64") && table.contains("linux/arm64"), "{table}");
}

#[test]
#[ignore = "needs docker-registry and skopeo: run the README test command"]
fn referrers_follow_a_copy_through_the_tag_schema_between_distribution_registries() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    let work = TempDir::new("image-referrers");
    let source = Registry::start("", "");
    let destination = Registry::start("", "");
    zenreg.register("src", &source.address);
    zenreg.register("dst", &destination.address);
    let (own, shared) = roots(work.path(), "referrers");
    let repository = unique("zenreg-image/signed");
    let layout = seed(work.path(), &[&own, &shared], &format!("{}/{repository}:v1", source.address), None);
    let subject_size = get_manifest(&source.address, &repository, "v1").len();

    // A signature referring to the image, and an attestation referring to the signature, each
    // listed in its subject's `sha256-<hex>` index as the tag schema has it (distribution 2.8
    // has no referrers API); and a cosign-style `.sig` tag.
    let (signature, signature_bytes) =
        push_signature(&source.address, &repository, &layout.manifest, subject_size, "sig");
    let (attestation, _) = push_signature(&source.address, &repository, &signature, signature_bytes.len(), "att");
    for (subject, referrer) in [(&layout.manifest, &signature), (&signature, &attestation)] {
        let size = get_manifest(&source.address, &repository, referrer).len();
        let index = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": referrer, "size": size, "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json"},
        ]})).unwrap();
        put_manifest(&source.address, &repository, &subject.replacen(':', "-", 1), OCI_INDEX, &index);
    }
    let cosign_tag = format!("{}.sig", layout.manifest.replacen(':', "-", 1));
    let (cosign, _) = push_signature(&source.address, &repository, &layout.manifest, subject_size, "cosign");
    let cosign_bytes = get_manifest(&source.address, &repository, &cosign);
    put_manifest(&source.address, &repository, &cosign_tag, OCI_MANIFEST, &cosign_bytes);

    let inspected =
        json(&zenreg.ok(&["image", "inspect", &format!("{}/{repository}:v1", source.address), "--output", "json"]));
    let found: Vec<&str> =
        inspected["referrers"].as_array().unwrap().iter().map(|r| r["digest"].as_str().unwrap()).collect();
    assert!(found.contains(&signature.as_str()) && found.contains(&cosign.as_str()), "{inspected}");

    let (report, _) = copy_json(
        &zenreg,
        &[
            &format!("{}/{repository}:v1", source.address),
            &format!("{}/{repository}:v1", destination.address),
            "--referrers",
        ],
    );
    assert_eq!(report["digest"], layout.manifest.as_str());
    let referrers: Vec<&str> = report["referrers"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    for digest in [&signature, &attestation, &cosign] {
        assert!(referrers.contains(&digest.as_str()), "{digest} not in {report}");
        assert_eq!(
            get_manifest(&destination.address, &repository, digest),
            get_manifest(&source.address, &repository, digest)
        );
    }
    // The destination (no API either) has the tag-schema indexes and the cosign tag.
    let index: serde_json::Value = serde_json::from_slice(&get_manifest(
        &destination.address,
        &repository,
        &layout.manifest.replacen(':', "-", 1),
    ))
    .unwrap();
    assert!(index["manifests"].as_array().unwrap().iter().any(|d| d["digest"] == signature.as_str()), "{index}");
    let index: serde_json::Value =
        serde_json::from_slice(&get_manifest(&destination.address, &repository, &signature.replacen(':', "-", 1)))
            .unwrap();
    assert!(index["manifests"].as_array().unwrap().iter().any(|d| d["digest"] == attestation.as_str()), "{index}");
    assert_eq!(get_manifest(&destination.address, &repository, &cosign_tag), cosign_bytes);

    // The tag schema filtered here: no SBOM among them, every signature of that type.
    let typed = |artifact_type: &str, repo: &str| {
        let (report, _) = copy_json(
            &zenreg,
            &[
                &format!("{}/{repository}:v1", source.address),
                &format!("{}/{repository}-{repo}:v1", destination.address),
                "--referrers",
                "--artifact-type",
                artifact_type,
            ],
        );
        report["referrers"].as_array().unwrap().len()
    };
    assert_eq!(typed("application/spdx+json", "sbom"), 0);
    assert_eq!(typed("application/vnd.dev.cosign.artifact.sig.v1+json", "sig"), 3);

    // Without --referrers nothing else goes.
    let (report, _) = copy_json(
        &zenreg,
        &[&format!("{}/{repository}:v1", source.address), &format!("{}/{repository}-bare:v1", destination.address)],
    );
    assert_eq!(report["referrers"], serde_json::json!([]));
    assert!(!has_manifest(&destination.address, &format!("{repository}-bare"), &signature));
}

#[test]
#[ignore = "needs docker-registry: run the README test command"]
fn referrers_found_with_the_referrers_api_arrive_and_a_destination_without_it_gets_the_tag_schema_index() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    // The source: the tests' own registry with the OCI 1.1 referrers API.
    let honest = server::Honest::new();
    let handler = std::sync::Arc::clone(&honest);
    let api = server::Server::start(move |ex| handler.handle(ex));
    let destination = Registry::start("", "");
    zenreg.register("api", &api.address);
    zenreg.register("dst", &destination.address);
    let repository = "team/signed";
    let layer = put_blob(&api.address, repository, format!("layer of {}", unique("api")).as_bytes());
    let config = put_blob(
        &api.address,
        repository,
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 83},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 1}],
    }))
    .unwrap();
    // Sizes as the store holds them.
    let store = honest.store.lock().unwrap();
    let (config_size, layer_size) = (store.blobs[&config].len(), store.blobs[&layer].len());
    drop(store);
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let mut manifest = manifest;
    manifest["config"]["size"] = config_size.into();
    manifest["layers"][0]["size"] = layer_size.into();
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let subject = put_manifest(&api.address, repository, "v1", OCI_MANIFEST, &manifest);
    let (signature, _) = push_signature(&api.address, repository, &subject, manifest.len(), "api-sig");
    let (sbom, _) = push_signature(&api.address, repository, &subject, manifest.len(), "api-sbom");

    // `--artifact-type` is the API's filter: only the SBOM.
    let (report, _) = copy_json(
        &zenreg,
        &[
            &format!("{}/{repository}:v1", api.address),
            &format!("{}/{repository}-sbom:v1", destination.address),
            "--referrers",
            "--artifact-type",
            "application/spdx+json",
        ],
    );
    assert_eq!(report["referrers"], serde_json::json!([sbom]));
    assert!(api.seen().iter().any(|s| s.target.contains("artifactType=application%2Fspdx%2Bjson")), "{:?}", api.seen());
    assert!(!has_manifest(&destination.address, &format!("{repository}-sbom"), &signature));
    // The SBOM is not what the rest of this test follows.
    honest.store.lock().unwrap().manifests.remove(&sbom);

    let (report, stderr) = copy_json(
        &zenreg,
        &[
            &format!("{}/{repository}:v1", api.address),
            &format!("{}/{repository}:v1", destination.address),
            "--referrers",
        ],
    );
    assert_eq!(report["digest"], subject.as_str(), "{stderr}");
    assert_eq!(report["referrers"], serde_json::json!([signature]));
    assert!(api.seen().iter().any(|s| s.method == "GET" && s.target.contains(&format!("/referrers/{subject}"))));
    assert!(
        !api.seen().iter().any(|s| s.target.contains(&format!("/manifests/{}", subject.replacen(':', "-", 1)))),
        "the API answered: no fallback tag is read"
    );
    assert_eq!(
        get_manifest(&destination.address, repository, &signature),
        honest.store.lock().unwrap().manifests[&signature]
    );
    let index: serde_json::Value =
        serde_json::from_slice(&get_manifest(&destination.address, repository, &subject.replacen(':', "-", 1)))
            .unwrap();
    assert_eq!(index["manifests"][0]["digest"], signature.as_str());
    assert_eq!(index["manifests"][0]["artifactType"], "application/vnd.dev.cosign.artifact.sig.v1+json");

    // Back into a registry with the API: the signature is there by digest, the API lists it,
    // and no tag-schema index is made.
    let second = server::Honest::new();
    let handler = std::sync::Arc::clone(&second);
    let api2 = server::Server::start(move |ex| handler.handle(ex));
    zenreg.register("api2", &api2.address);
    let (report, _) = copy_json(
        &zenreg,
        &[
            &format!("{}/{repository}:v1", destination.address),
            &format!("{}/{repository}:v1", api2.address),
            "--referrers",
        ],
    );
    assert_eq!(report["referrers"], serde_json::json!([signature]));
    let (_, _, body) = http(&api2.address, "GET", &format!("/v2/{repository}/referrers/{subject}"), &[], b"");
    let listed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(listed["manifests"][0]["digest"], signature.as_str());
    assert!(!second.store.lock().unwrap().manifests.contains_key(&subject.replacen(':', "-", 1)));
}

#[test]
#[ignore = "needs docker-registry and skopeo: run the README test command"]
fn index_create_builds_a_multi_platform_index_from_images_in_other_repositories_and_appends() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    let work = TempDir::new("image-index");
    let registry = Registry::start("", "");
    let other = Registry::start("", "");
    zenreg.register("reg", &registry.address);
    zenreg.register("other", &other.address);
    let (dir, _, [amd64, arm64]) = two_platform_layout(work.path());
    let repository = unique("zenreg-image/index");
    // The two images, each alone, in other repositories (one in another registry).
    for (address, repo, name) in [
        (&registry.address, format!("{repository}-amd64"), "amd64"),
        (&other.address, format!("{repository}-arm64"), "arm64"),
    ] {
        let output = skopeo(&[
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &format!("oci:{}:{name}", dir.display()),
            &format!("docker://{address}/{repo}:v1"),
        ]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let target = format!("{}/{repository}:v1", registry.address);
    let report = json(&zenreg.ok(&[
        "image",
        "index",
        "create",
        &target,
        &format!("{}/{repository}-amd64:v1", registry.address),
        "--annotation",
        "org.opencontainers.image.version=1",
        "--output",
        "json",
    ]));
    let index: serde_json::Value = serde_json::from_slice(&get_manifest(&registry.address, &repository, "v1")).unwrap();
    assert_eq!(report["digest"], sha256(&get_manifest(&registry.address, &repository, "v1")).as_str());
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(index["manifests"][0]["platform"]["architecture"], "amd64");
    assert_eq!(index["annotations"]["org.opencontainers.image.version"], "1");
    assert!(has_manifest(&registry.address, &repository, &amd64), "the source is brought into the repository");

    let report = json(&zenreg.ok(&[
        "image",
        "index",
        "create",
        &target,
        &format!("{}/{repository}-arm64:v1", other.address),
        "--append",
        "--output",
        "json",
    ]));
    let index: serde_json::Value = serde_json::from_slice(&get_manifest(&registry.address, &repository, "v1")).unwrap();
    let digests: Vec<&str> =
        index["manifests"].as_array().unwrap().iter().map(|m| m["digest"].as_str().unwrap()).collect();
    assert_eq!(digests, [amd64.as_str(), arm64.as_str()]);
    assert_eq!(report["manifests"][1]["platform"], "linux/arm64");
    assert!(report["bytes_copied"].as_u64().unwrap() > 0, "{report}");
    // skopeo pulls the arm64 image through the new index, every blob checked.
    let back = work.path().join("back");
    let output = skopeo(&[
        "copy",
        "--quiet",
        "--override-arch",
        "arm64",
        "--src-tls-verify=false",
        &format!("docker://{target}"),
        &format!("dir:{}", back.display()),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
#[ignore = "needs docker-registry and skopeo: run the README test command"]
fn bad_input_is_one_error_line_with_a_hint() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    zenreg.register("local", &services.registry);
    zenreg.register("other", "127.0.0.1:5999");
    // No component covers the reference: the closest are named.
    let output = zenreg.run(&["image", "digest", "ghcr.io/acme/app:1"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("error: no registered container registry covers `ghcr.io/acme/app:1`; the closest: "),
        "{stderr}"
    );
    assert!(stderr.contains("`local` (") && stderr.contains("hint: register the registry"), "{stderr}");
    assert_eq!(stderr.lines().count(), 2);
    // A registry named that does not cover it.
    let error = zenreg.fails(&["image", "ls", &format!("{}/x", services.registry), "--registry", "other"]);
    assert!(error.contains("does not cover"), "{error}");
    // Not a reference.
    let error = zenreg.fails(&["image", "inspect", &format!("{}/UPPER:1", services.registry)]);
    assert!(error.contains("upper-case"), "{error}");
    // `ls` of an image.
    let output = zenreg.run(&["image", "ls", &format!("{}/x:1", services.registry)]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
#[ignore = "needs docker-registry and skopeo: run the README test command"]
fn a_source_killed_and_restarted_mid_copy_is_resumed_or_fails_in_one_line_and_nothing_is_half_tagged() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    let work = TempDir::new("image-kill");
    let mut source = Registry::start("", "");
    let destination = Registry::start("", "");
    // Uploads to the destination pass a throttle (about 6 MB/s) so the copy is still running
    // when the source dies.
    let proxy = Proxy::start(&destination.address, |_, _| {
        std::thread::sleep(Duration::from_millis(10));
        Verdict::Forward
    });
    zenreg.register("src", &source.address);
    zenreg.register("dst", &proxy.address);
    let (own, shared) = roots(work.path(), "kill");
    noise(&shared.join("noise"), 24 * 1024 * 1024);
    let repository = unique("zenreg-image/kill");
    let layout = seed(work.path(), &[&own, &shared], &format!("{}/{repository}:v1", source.address), None);

    let child = zenreg
        .command(&[
            "image",
            "copy",
            &format!("{}/{repository}:v1", source.address),
            &format!("{}/{repository}:v1", proxy.address),
            "--output",
            "json",
        ])
        .env("ZENREG_HTTP_BACKOFF", "0.5")
        .env("ZENREG_HTTP_RETRIES", "8")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while proxy.upstream_bytes.load(std::sync::atomic::Ordering::SeqCst) < 4 * 1024 * 1024 {
        assert!(std::time::Instant::now() < deadline, "the copy never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    source.kill();
    std::thread::sleep(Duration::from_millis(700));
    source.restart();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Which way it went, for whoever reads the test's output.
    eprintln!("zenreg's stderr: {stderr}");
    if output.status.success() {
        let report = json(&String::from_utf8(output.stdout).unwrap());
        assert_eq!(report["digest"], layout.manifest.as_str());
        assert!(stderr.contains("Retrying"), "the copy went on after the source came back: {stderr}");
        let back = work.path().join("back");
        let out = skopeo(&[
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            &format!("docker://{}/{repository}:v1", destination.address),
            &format!("dir:{}", back.display()),
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    } else {
        assert_eq!(output.status.code(), Some(1));
        assert_eq!(stderr.lines().filter(|l| l.starts_with("error: ")).count(), 1, "{stderr}");
        assert!(!has_manifest(&destination.address, &repository, "v1"), "a failed copy left a tag");
    }
}

#[test]
#[ignore = "needs nothing but loopback; with the image suite in the README test command"]
fn ls_follows_every_link_page() {
    let zenreg = Zenreg { home: TempDir::new("home"), docker_host: String::new() };
    std::fs::create_dir_all(zenreg.home.path().join("docker")).unwrap();
    let honest = server::Honest::new();
    let handler = std::sync::Arc::clone(&honest);
    let api = server::Server::start(move |ex| handler.handle(ex));
    zenreg.register("paged", &api.address);
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    for tag in ["a", "b", "c", "d", "e"] {
        put_manifest(&api.address, "team/app", tag, OCI_MANIFEST, manifest);
    }
    let listed = json(&zenreg.ok(&[
        "image",
        "ls",
        &format!("{}/team/app", api.address),
        "--page-size",
        "2",
        "--output",
        "json",
    ]));
    assert_eq!(listed["tags"], serde_json::json!(["a", "b", "c", "d", "e"]));
    let pages: Vec<String> =
        api.seen().into_iter().filter(|s| s.target.contains("/tags/list")).map(|s| s.target).collect();
    assert_eq!(
        pages,
        ["/v2/team/app/tags/list?n=2", "/v2/team/app/tags/list?n=2&last=b", "/v2/team/app/tags/list?n=2&last=d"]
    );
}
