//! `zenreg container-registry push --engine oci` end to end: zenreg's own registry client
//! against real registries (open, htpasswd) on loopback, images of real files read from the
//! Docker Engine, a `docker save` archive or an OCI layout (written by skopeo), and pulled back
//! by the Docker Engine (or skopeo, for zstd) to check every byte.

mod e2e;
#[path = "push_oci/spawned.rs"]
mod spawned;

use e2e::{Services, TempDir, Zenreg, docker, registry_digest, unique};
use spawned::{Layout, Pki, Proxy, Registry, TokenIssuer, Verdict};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn register(zenreg: &Zenreg, name: &str, uri: &str) {
    zenreg.ok(&["container-registry", "register", name, "--flavor", "default", &format!("--uri={uri}")]);
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-rL").arg(from).arg(to).status().unwrap();
    assert!(status.success(), "cp {} {}", from.display(), to.display());
}

/// `sha256sum` lines of every file under `dir`, sorted by path, paths relative to `dir`.
fn checksums(dir: &Path) -> String {
    let output = Command::new("sh")
        .arg("-c")
        .arg("find . -type f | LC_ALL=C sort | xargs sha256sum")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

/// An image of real files: busybox (so a command can run in it), a small layer of docs and a
/// layer of Python's standard library over 1 MiB (so it streams through the compressor).
/// Returns the build context, whose `data/` holds the files the image has under `/data`.
fn build_real_image(services: &Services, name: &str) -> TempDir {
    let context = TempDir::new("oci-image");
    std::fs::create_dir_all(context.path().join("data")).unwrap();
    std::fs::copy("/bin/busybox", context.path().join("busybox")).unwrap();
    copy_dir(Path::new("/usr/share/doc/bash"), &context.path().join("data/doc"));
    copy_dir(Path::new("/usr/lib/python3.11/email"), &context.path().join("data/email"));
    copy_dir(Path::new("/usr/lib/python3.11/json"), &context.path().join("data/json"));
    std::fs::write(context.path().join("data/name"), name).unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY data/doc /data/doc\nCOPY data/email /data/email\n\
         COPY data/json /data/json\nCOPY data/name /data/name\nENV ZENREG_TEST=1\nLABEL purpose=zenreg-oci-test\n\
         CMD [\"/bin/busybox\", \"true\"]\n",
    )
    .unwrap();
    let output = docker(services, &["build", "-q", "-t", name, context.path().to_str().unwrap()]);
    assert!(output.status.success(), "docker build: {}", String::from_utf8_lossy(&output.stderr));
    context
}

fn inspect(services: &Services, image: &str, format: &str) -> String {
    let output = docker(services, &["image", "inspect", "-f", format, image]);
    assert!(output.status.success(), "inspect {image}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// Removes `image` from the daemon, pulls `reference` (by digest) and checks that the files,
/// the image id (the config, byte for byte) and the config fields came back.
fn pull_and_check(services: &Services, image: &str, reference: &str, id: &str, context: &Path) {
    let removed = docker(services, &["rmi", "-f", image]);
    assert!(removed.status.success(), "{}", String::from_utf8_lossy(&removed.stderr));
    let pulled = docker(services, &["pull", "-q", reference]);
    assert!(pulled.status.success(), "docker pull {reference}: {}", String::from_utf8_lossy(&pulled.stderr));
    assert_eq!(inspect(services, reference, "{{.Id}}"), id, "the pulled config differs from the source");
    assert_eq!(
        inspect(services, reference, "{{json .Config.Env}} {{json .Config.Labels}} {{json .Config.Cmd}}"),
        r#"["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","ZENREG_TEST=1"] {"purpose":"zenreg-oci-test"} ["/bin/busybox","true"]"#
    );
    let run = docker(
        services,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            reference,
            "/bin/busybox",
            "sh",
            "-c",
            "cd /data && /bin/busybox find . -type f | LC_ALL=C /bin/busybox sort | /bin/busybox xargs /bin/busybox sha256sum",
        ],
    );
    assert!(run.status.success(), "docker run: {}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(String::from_utf8(run.stdout).unwrap(), checksums(&context.join("data")));
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
#[ignore = "needs the Docker Engine, registries and skopeo: run the README test command (scripts/test.sh)"]
fn an_oci_push_pulls_back_with_the_same_files_and_config_and_a_warm_push_skips_every_layer() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    register(&zenreg, "local", &services.registry);
    let repository = unique("zenreg-e2e/oci");
    let image = format!("{}/{repository}:1", services.registry);
    let context = build_real_image(&services, &image);
    let id = inspect(&services, &image, "{{.Id}}");

    let first = json(&zenreg.ok(&[
        "container-registry",
        "push",
        &image,
        "--registry",
        "local",
        "--engine",
        "oci",
        "--output",
        "json",
    ]));
    let digest = first["digest"].as_str().unwrap().to_string();
    assert_eq!(first["engine"], "oci");
    assert_eq!(first["compression"], "gzip");
    assert_eq!(first["layers_skipped"], 0);
    assert!(first["bytes_uploaded"].as_u64().unwrap() > 500_000, "{first}");
    let served = registry_digest(&services.registry, &repository, "1", None).unwrap();
    assert_eq!(digest, format!("{}/{repository}@{served}", services.registry));

    // Warm: every blob is there and the cache knows them: nothing is uploaded.
    let second = json(&zenreg.ok(&["container-registry", "push", &image, "--registry", "local", "--output", "json"]));
    assert_eq!(second["digest"], first["digest"]);
    assert_eq!(second["bytes_uploaded"], 0, "{second}");
    assert_eq!(second["layers_skipped"], 5, "{second}");

    pull_and_check(&services, &image, &digest, &id, context.path());
}

#[test]
#[ignore = "needs the Docker Engine, registries and skopeo: run the README test command (scripts/test.sh)"]
fn a_docker_archive_and_an_oci_layout_push_without_a_daemon() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    register(&zenreg, "local", &services.registry);
    let source = format!("{}/{}:src", services.registry, unique("zenreg-e2e/source"));
    let context = build_real_image(&services, &source);
    let id = inspect(&services, &source, "{{.Id}}");
    let work = TempDir::new("oci-sources");
    let archive = work.path().join("image.tar");
    let saved = docker(&services, &["save", "-o", archive.to_str().unwrap(), &source]);
    assert!(saved.status.success(), "{}", String::from_utf8_lossy(&saved.stderr));
    let layout = work.path().join("layout");
    let copied = Command::new("skopeo")
        .args(["copy", "-q", &format!("docker-daemon:{source}"), &format!("oci:{}:v1", layout.display())])
        .env("DOCKER_HOST", &services.docker_host)
        .output()
        .unwrap();
    assert!(copied.status.success(), "skopeo: {}", String::from_utf8_lossy(&copied.stderr));

    // No daemon from here on for zenreg.
    let daemonless = Zenreg { home: TempDir::new("home"), docker_host: "unix:///nonexistent/docker.sock".into() };
    std::fs::create_dir_all(daemonless.home.path().join("docker")).unwrap();
    register(&daemonless, "local", &services.registry);

    let from_archive = unique("zenreg-e2e/archive");
    let target = format!("{}/{from_archive}:1", services.registry);
    let out = json(&daemonless.ok(&[
        "container-registry",
        "push",
        &target,
        "--registry",
        "local",
        "--from",
        &format!("docker-archive:{}", archive.display()),
        "--output",
        "json",
    ]));
    let served = registry_digest(&services.registry, &from_archive, "1", None).unwrap();
    assert_eq!(out["digest"], format!("{}/{from_archive}@{served}", services.registry));

    let from_layout = unique("zenreg-e2e/layout");
    let target = format!("{}/{from_layout}:1", services.registry);
    let out = json(&daemonless.ok(&[
        "container-registry",
        "push",
        &target,
        "--registry",
        "local",
        "--from",
        &format!("oci:{}:v1", layout.display()),
        "--output",
        "json",
    ]));
    // Byte-exact: the registry serves the manifest the layout holds.
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = index["manifests"][0]["digest"].as_str().unwrap().to_string();
    assert_eq!(registry_digest(&services.registry, &from_layout, "1", None).as_deref(), Some(manifest.as_str()));
    assert_eq!(out["digest"], format!("{}/{from_layout}@{manifest}", services.registry));
    let _ = docker(&services, &["rmi", "-f", &source]);

    // Both pull back whole.
    let by_archive = out["digest"].as_str().unwrap().replace(&from_layout, &from_archive).replace(&manifest, &served);
    pull_and_check(&services, &by_archive, &by_archive, &id, context.path());
    // skopeo rewrote the config in OCI form: the layout's own config is what must come back.
    let by_layout = out["digest"].as_str().unwrap().to_string();
    let layout_manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(manifest.trim_start_matches("sha256:"))).unwrap(),
    )
    .unwrap();
    let pulled = docker(&services, &["pull", "-q", &by_layout]);
    assert!(pulled.status.success(), "{}", String::from_utf8_lossy(&pulled.stderr));
    assert_eq!(inspect(&services, &by_layout, "{{.Id}}"), layout_manifest["config"]["digest"].as_str().unwrap());
    let _ = docker(&services, &["rmi", "-f", &by_layout, &by_archive]);
}

#[test]
#[ignore = "needs the Docker Engine, registries and skopeo: run the README test command (scripts/test.sh)"]
fn a_zstd_push_decompresses_to_the_source_layers_and_config() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    register(&zenreg, "local", &services.registry);
    let repository = unique("zenreg-e2e/zstd");
    let image = format!("{}/{repository}:1", services.registry);
    let _context = build_real_image(&services, &image);
    let id = inspect(&services, &image, "{{.Id}}");
    let out = json(&zenreg.ok(&[
        "container-registry",
        "push",
        &image,
        "--registry",
        "local",
        "--compression",
        "zstd",
        "--output",
        "json",
    ]));
    assert_eq!(out["compression"], "zstd");
    let digest = out["digest"].as_str().unwrap();
    let work = TempDir::new("zstd");
    let manifest = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{digest}")])
        .output()
        .unwrap();
    assert!(manifest.status.success(), "{}", String::from_utf8_lossy(&manifest.stderr));
    let manifest = json(&String::from_utf8(manifest.stdout).unwrap());
    assert_eq!(manifest["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");
    // Debian's Engine cannot pull zstd (nor can skopeo convert it for the Engine): skopeo copies
    // the blobs out, and every layer decompressed must hash to its diff id in the config, which
    // must be the source's config byte for byte (its digest is the image id).
    let back = work.path().join("back");
    let copied = Command::new("skopeo")
        .args([
            "copy",
            "-q",
            "--src-tls-verify=false",
            &format!("docker://{digest}"),
            &format!("dir:{}", back.display()),
        ])
        .output()
        .unwrap();
    assert!(copied.status.success(), "skopeo: {}", String::from_utf8_lossy(&copied.stderr));
    assert_eq!(manifest["config"]["digest"].as_str(), Some(id.as_str()));
    let config = json(&std::fs::read_to_string(back.join(id.trim_start_matches("sha256:"))).unwrap());
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), config["rootfs"]["diff_ids"].as_array().unwrap().len());
    for (layer, diff_id) in layers.iter().zip(config["rootfs"]["diff_ids"].as_array().unwrap()) {
        let blob = back.join(layer["digest"].as_str().unwrap().trim_start_matches("sha256:"));
        let output = Command::new("sh").arg("-c").arg("zstd -dc \"$0\" | sha256sum").arg(&blob).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let hash = String::from_utf8(output.stdout).unwrap();
        assert_eq!(format!("sha256:{}", hash.split_whitespace().next().unwrap()), diff_id.as_str().unwrap());
    }
    let _ = docker(&services, &["rmi", "-f", &image]);
}

#[test]
#[ignore = "needs the Docker Engine, registries and skopeo: run the README test command (scripts/test.sh)"]
fn the_htpasswd_registry_takes_the_secret_and_a_401_names_the_credential_source() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    register(&zenreg, "private", &services.auth_registry);
    let repository = unique("zenreg-e2e/private");
    let image = format!("{}/{repository}:1", services.auth_registry);
    let _context = build_real_image(&services, &image);
    let refused = zenreg.fails(&["container-registry", "push", &image, "--registry", "private"]);
    assert!(refused.contains("credentials tried: no credentials"), "{refused}");

    let created = zenreg.run_with_stdin(
        &["secret", "create", "wrong", &format!("--username={}", services.auth_user), "--password=-"],
        "not-it",
    );
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    zenreg.ok(&["container-registry", "update", "private", "--authentication_secret=wrong"]);
    let refused = zenreg.fails(&["container-registry", "push", &image, "--registry", "private"]);
    assert!(refused.contains("authentication secret `wrong`"), "{refused}");
    assert!(!refused.contains("not-it"), "{refused}");

    let created = zenreg.run_with_stdin(
        &["secret", "create", "login", &format!("--username={}", services.auth_user), "--password=-"],
        &services.auth_password,
    );
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    zenreg.ok(&["container-registry", "update", "private", "--authentication_secret=login"]);
    let pushed = zenreg.ok(&["container-registry", "push", &image, "--registry", "private"]);
    let served = registry_digest(
        &services.auth_registry,
        &repository,
        "1",
        Some((&services.auth_user, &services.auth_password)),
    );
    assert_eq!(pushed.trim(), format!("{}/{repository}@{}", services.auth_registry, served.unwrap()));
    let _ = docker(&services, &["rmi", "-f", &image]);
}

/// Rewrites the docker archive `from` into `to` with one byte of the first large layer's
/// content changed (inside a file of the layer, so the tar stays readable).
fn corrupt_a_layer(from: &Path, to: &Path) {
    let script = r#"
import sys, tarfile, io
src, dst = sys.argv[1], sys.argv[2]
done = False
with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
    for member in tin.getmembers():
        data = tin.extractfile(member).read() if member.isfile() else None
        if data is not None and not done and member.name.endswith(".tar") and len(data) > 1024 * 1024:
            data = bytearray(data)
            data[len(data) // 2] ^= 0x55
            data = bytes(data)
            done = True
        tout.addfile(member, io.BytesIO(data) if data is not None else None)
assert done, "no large layer"
"#;
    let status = Command::new("python3").arg("-c").arg(script).arg(from).arg(to).status().unwrap();
    assert!(status.success());
}

#[test]
#[ignore = "needs the Docker Engine, registries and skopeo: run the README test command (scripts/test.sh)"]
fn a_layer_that_does_not_match_its_diff_id_is_refused() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    register(&zenreg, "local", &services.registry);
    let source = format!("{}/{}:src", services.registry, unique("zenreg-e2e/corrupt"));
    let _context = build_real_image(&services, &source);
    let work = TempDir::new("corrupt");
    let archive = work.path().join("image.tar");
    assert!(docker(&services, &["save", "-o", archive.to_str().unwrap(), &source]).status.success());
    let _ = docker(&services, &["rmi", "-f", &source]);
    let corrupt = work.path().join("corrupt.tar");
    corrupt_a_layer(&archive, &corrupt);
    let repository = unique("zenreg-e2e/corrupt");
    let target = format!("{}/{repository}:1", services.registry);
    let refused = zenreg.fails(&[
        "container-registry",
        "push",
        &target,
        "--registry",
        "local",
        "--from",
        &format!("docker-archive:{}", corrupt.display()),
    ]);
    assert!(refused.contains("diff id"), "{refused}");
    assert_eq!(registry_digest(&services.registry, &repository, "1", None), None, "no manifest may be pushed");
}

/// A TCP proxy that cuts the first connection once `cut_after` bytes have gone upstream
/// through it, as a registry that dies in the middle of an upload; later connections pass.
fn cutting_proxy(upstream: String, cut_after: u64) -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let cut = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cut);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(&upstream) else { continue };
            let flag = Arc::clone(&flag);
            let (mut client_read, mut server_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut server_read, mut client_write) = (server, client);
            std::thread::spawn(move || {
                let mut sent = 0u64;
                let mut buffer = vec![0u8; 64 * 1024];
                loop {
                    let n = match client_read.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if server_write.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                    sent += n as u64;
                    if sent > cut_after && !flag.swap(true, Ordering::SeqCst) {
                        let _ = server_write.shutdown(std::net::Shutdown::Both);
                        let _ = client_read.shutdown(std::net::Shutdown::Both);
                        break;
                    }
                }
                let _ = server_write.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut server_read, &mut client_write);
                let _ = client_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (address, cut)
}

#[test]
#[ignore = "needs the Docker Engine, registries and skopeo: run the README test command (scripts/test.sh)"]
fn an_upload_cut_in_the_middle_resumes_and_the_image_is_whole() {
    let services = Services::require();
    // A layout with one large, incompressible-enough layer, so its upload is chunked.
    let work = TempDir::new("cut");
    let layer_dir = work.path().join("rootfs");
    std::fs::create_dir_all(&layer_dir).unwrap();
    for dir in ["/usr/lib/python3.11/asyncio", "/usr/lib/python3.11/email", "/usr/share/doc"] {
        copy_dir(Path::new(dir), &layer_dir);
    }
    let mut noise = vec![0u8; 12 * 1024 * 1024];
    let mut seed = 0x2545_F491_4F6C_DD1Du64 ^ u64::from(std::process::id());
    for byte in noise.iter_mut() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        *byte = seed as u8;
    }
    std::fs::write(layer_dir.join("noise.bin"), &noise).unwrap();
    let image = format!("{}/{}:src", services.registry, unique("zenreg-e2e/cut"));
    std::fs::write(work.path().join("Dockerfile"), "FROM scratch\nCOPY rootfs /\n").unwrap();
    let built = docker(&services, &["build", "-q", "-t", &image, work.path().to_str().unwrap()]);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let layout = work.path().join("layout");
    let copied = Command::new("skopeo")
        .args(["copy", "-q", &format!("docker-daemon:{image}"), &format!("oci:{}:v1", layout.display())])
        .env("DOCKER_HOST", &services.docker_host)
        .output()
        .unwrap();
    assert!(copied.status.success(), "skopeo: {}", String::from_utf8_lossy(&copied.stderr));
    let _ = docker(&services, &["rmi", "-f", &image]);

    let (proxy, cut) = cutting_proxy(services.registry.clone(), 4 * 1024 * 1024);
    let zenreg = Zenreg::new(&services);
    register(&zenreg, "flaky", &proxy);
    let repository = unique("zenreg-e2e/cut");
    let target = format!("{proxy}/{repository}:1");
    let output = zenreg.run(&[
        "container-registry",
        "push",
        &target,
        "--registry",
        "flaky",
        "--from",
        &format!("oci:{}:v1", layout.display()),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(cut.load(Ordering::SeqCst), "the proxy never cut a connection: the test proved nothing");
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = index["manifests"][0]["digest"].as_str().unwrap();
    assert_eq!(registry_digest(&services.registry, &repository, "1", None).as_deref(), Some(manifest));
    // The registry verified each blob's digest when it was closed; skopeo reads the image whole.
    let checked = Command::new("skopeo")
        .args([
            "copy",
            "-q",
            "--src-tls-verify=false",
            &format!("docker://{}/{repository}:1", services.registry),
            &format!("dir:{}", work.path().join("back").display()),
        ])
        .output()
        .unwrap();
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
}

#[test]
fn from_with_the_docker_engine_is_a_usage_error() {
    let zenreg = Zenreg { home: TempDir::new("home"), docker_host: "unix:///nonexistent/docker.sock".into() };
    let output = zenreg.run(&[
        "container-registry",
        "push",
        "127.0.0.1:5000/a:1",
        "--registry",
        "x",
        "--engine",
        "docker",
        "--from",
        "oci:/tmp/nothing",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    let output = zenreg.run(&[
        "container-registry",
        "push",
        "127.0.0.1:5000/a:1",
        "--registry",
        "x",
        "--compression",
        "gzip",
        "--compression-level",
        "12",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
}

/// Runs zenreg with `env` added; returns its output.
fn run_with_env(zenreg: &Zenreg, env: &[(&str, &Path)], args: &[&str]) -> std::process::Output {
    let mut command = zenreg.command(args);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// Copies `reference` out of its registry with skopeo, which checks every blob's digest, and
/// returns the manifest it read (`dir:` keeps it byte for byte) and the directory.
fn fetch_whole(reference: &str, skopeo_args: &[&str], work: &Path) -> (serde_json::Value, String, std::path::PathBuf) {
    let back = work.join(format!("back-{}", unique("copy")));
    let output = Command::new("skopeo")
        .arg("copy")
        .arg("-q")
        .args(skopeo_args)
        .arg(format!("docker://{reference}"))
        .arg(format!("dir:{}", back.display()))
        .output()
        .unwrap();
    assert!(output.status.success(), "skopeo copy {reference}: {}", String::from_utf8_lossy(&output.stderr));
    let bytes = std::fs::read(back.join("manifest.json")).unwrap();
    let digest = spawned::sha256_hex_bytes(&bytes);
    (serde_json::from_slice(&bytes).unwrap(), format!("sha256:{digest}"), back)
}

#[test]
#[ignore = "needs the Docker Engine, docker-registry, openssl and skopeo: run the README test command (scripts/test.sh)"]
fn a_tls_registry_of_a_test_ca_is_refused_untrusted_and_taken_with_ssl_cert_file() {
    let services = Services::require();
    let pki = Pki::new();
    let registry = Registry::start(&pki.registry_tls(), "");
    let zenreg = Zenreg::new(&services);
    register(&zenreg, "tls", &registry.address);
    let repository = unique("zenreg-e2e/tls");
    let image = format!("{}/{repository}:1", registry.address);
    let _context = build_real_image(&services, &image);
    let id = inspect(&services, &image, "{{.Id}}");
    let push = ["container-registry", "push", &image, "--registry", "tls", "--engine", "oci", "--output", "json"];

    // The system roots do not know the test CA: one line that names the certificate problem.
    let refused = zenreg.fails(&push);
    assert!(refused.contains(&format!("TLS to {}", registry.address)), "{refused}");
    assert!(refused.contains("certificate") && refused.contains("UnknownIssuer"), "{refused}");

    let output = run_with_env(&zenreg, &[("SSL_CERT_FILE", &pki.file("ca.crt"))], &push);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let out = json(&String::from_utf8(output.stdout).unwrap());
    let digest = out["digest"].as_str().unwrap();
    assert!(digest.starts_with(&format!("{}/{repository}@sha256:", registry.address)), "{out}");
    let trust = pki.trust_dir();
    let work = TempDir::new("tls");
    let (manifest, served, _) = fetch_whole(digest, &["--src-cert-dir", trust.to_str().unwrap()], work.path());
    assert_eq!(format!("{}/{repository}@{served}", registry.address), digest);
    assert_eq!(manifest["config"]["digest"].as_str(), Some(id.as_str()), "the config must be the source's");
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 5);
    let _ = docker(&services, &["rmi", "-f", &image]);
}

/// A daemonless zenreg (its DOCKER_HOST is a socket that does not exist).
fn daemonless() -> Zenreg {
    let zenreg = Zenreg { home: TempDir::new("home"), docker_host: "unix:///nonexistent/docker.sock".into() };
    std::fs::create_dir_all(zenreg.home.path().join("docker")).unwrap();
    zenreg
}

/// An OCI layout of real files in `work/layout`: a layer of Python's `json` package and one of
/// its `email` package (over 1 MiB), and `extra` more.
fn real_layout(work: &Path, extra: &[&Path]) -> Layout {
    let mut roots = vec![Path::new("/usr/lib/python3.11/json"), Path::new("/usr/lib/python3.11/email")];
    roots.extend_from_slice(extra);
    Layout::write(&work.join("layout"), &roots)
}

fn secret(zenreg: &Zenreg, name: &str, user: &str, password: &str) {
    let created =
        zenreg.run_with_stdin(&["secret", "create", name, &format!("--username={user}"), "--password=-"], password);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
}

#[test]
#[ignore = "needs docker-registry, openssl and skopeo: run the README test command (scripts/test.sh)"]
fn a_token_auth_registry_takes_the_bearer_flow_and_a_refused_token_names_the_secret() {
    let pki = Pki::new();
    let issuer = TokenIssuer::start(&pki, "robot", "token-test-password");
    let registry = Registry::start("", &issuer.registry_auth(&pki));
    let work = TempDir::new("token");
    let layout = real_layout(work.path(), &[]);
    let zenreg = daemonless();
    register(&zenreg, "tokens", &registry.address);
    let repository = unique("zenreg-e2e/token");
    let target = format!("{}/{repository}:1", registry.address);
    let push = ["container-registry", "push", &target, "--registry", "tokens", "--from", &layout.from(), "--output", "json"];

    secret(&zenreg, "wrong", "robot", "not-the-password");
    zenreg.ok(&["container-registry", "update", "tokens", "--authentication_secret=wrong"]);
    let refused = zenreg.fails(&push);
    assert!(refused.contains("authentication secret `wrong`"), "{refused}");
    assert!(refused.contains(&issuer.realm), "the token request is what failed: {refused}");
    assert!(!refused.contains("not-the-password"), "{refused}");

    secret(&zenreg, "robot", "robot", "token-test-password");
    zenreg.ok(&["container-registry", "update", "tokens", "--authentication_secret=robot"]);
    let out = json(&zenreg.ok(&push));
    assert_eq!(out["digest"], format!("{}/{repository}@{}", registry.address, layout.manifest));
    let requests = issuer.requests.lock().unwrap().clone();
    assert!(requests.iter().all(|r| r.user == "robot" && r.service == spawned::TOKEN_SERVICE), "{requests:?}");
    let granted: Vec<_> = requests.iter().filter(|r| r.granted).collect();
    assert!(!granted.is_empty(), "{requests:?}");
    for request in granted {
        let scope = request.scopes.iter().find(|s| s.starts_with(&format!("repository:{repository}:")));
        let actions: std::collections::BTreeSet<&str> =
            scope.unwrap_or_else(|| panic!("{requests:?}")).rsplit(':').next().unwrap().split(',').collect();
        assert_eq!(actions, ["pull", "push"].into(), "{requests:?}");
    }
    // Anonymous reads are refused: skopeo must go through the issuer too.
    let anonymous = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{target}")])
        .output()
        .unwrap();
    assert!(!anonymous.status.success(), "the registry let an anonymous client read");
    let (_, served, _) =
        fetch_whole(&target, &["--src-tls-verify=false", "--src-creds", "robot:token-test-password"], work.path());
    assert_eq!(served, layout.manifest);
}
