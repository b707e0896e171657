//! `zenreg container-registry push --engine oci` end to end: zenreg's own registry client
//! against real registries (open, htpasswd) on loopback, images of real files read from the
//! Docker Engine, a `docker save` archive or an OCI layout (written by skopeo), and pulled back
//! by the Docker Engine (or skopeo, for zstd) to check every byte.

mod e2e;
#[path = "push_oci/spawned.rs"]
mod spawned;

use e2e::{LocalPush, Services, TempDir, Zenreg, docker, registry_digest, unique};
use spawned::{Layout, Pki, Proxy, Registry, TokenIssuer, Verdict, checksums};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-rL").arg(from).arg(to).status().unwrap();
    assert!(status.success(), "cp {} {}", from.display(), to.display());
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
        // The file unique to the image first, and `--no-cache` below: the classic builder's cache
        // lookup reads every image with the same parent (for `FROM scratch`, every image built
        // from scratch) and fails with "unable to find image" or "unknown parent image ID" when
        // a parallel test removes one of them between the listing and the read.
        "FROM scratch\nCOPY data/name /data/name\nCOPY busybox /bin/busybox\nCOPY data/doc /data/doc\n\
         COPY data/email /data/email\nCOPY data/json /data/json\nENV ZENREG_TEST=1\nLABEL purpose=zenreg-oci-test\n\
         CMD [\"/bin/busybox\", \"true\"]\n",
    )
    .unwrap();
    let output = docker(services, &["build", "--no-cache", "-q", "-t", name, context.path().to_str().unwrap()]);
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

/// `container-registry push IMAGE --registry REGISTRY EXTRA… --output json`, which must succeed.
fn push_json(zenreg: &Zenreg, image: &str, registry: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["container-registry", "push", image, "--registry", registry];
    args.extend_from_slice(extra);
    args.extend(["--output", "json"]);
    json(&zenreg.ok(&args))
}

#[test]
#[ignore = "needs the Docker Engine, registries and skopeo: run the README test command (scripts/test.sh)"]
fn an_oci_push_pulls_back_with_the_same_files_and_config_and_a_warm_push_skips_every_layer() {
    let LocalPush { services, zenreg, repository, image } = LocalPush::new("zenreg-e2e/oci", "1");
    let context = build_real_image(&services, &image);
    let id = inspect(&services, &image, "{{.Id}}");

    let first = push_json(&zenreg, &image, "local", &["--engine", "oci"]);
    let digest = first["digest"].as_str().unwrap().to_string();
    assert_eq!(first["engine"], "oci");
    assert_eq!(first["compression"], "gzip");
    assert_eq!(first["layers_skipped"], 0);
    assert!(first["bytes_uploaded"].as_u64().unwrap() > 500_000, "{first}");
    let served = registry_digest(&services.registry, &repository, "1", None).unwrap();
    assert_eq!(digest, format!("{}/{repository}@{served}", services.registry));

    // Warm: every blob is there and the cache knows them: nothing is uploaded.
    let second = push_json(&zenreg, &image, "local", &[]);
    assert_eq!(second["digest"], first["digest"]);
    assert_eq!(second["bytes_uploaded"], 0, "{second}");
    assert_eq!(second["layers_skipped"], 5, "{second}");

    pull_and_check(&services, &image, &digest, &id, context.path());
}

/// A push as `push_json`, with `env` added; returns its JSON and its standard error.
fn push_json_with_env(
    zenreg: &Zenreg,
    image: &str,
    env: &[(&str, &str)],
    extra: &[&str],
) -> (serde_json::Value, String) {
    let mut args = vec!["container-registry", "push", image, "--registry", "local", "--output", "json"];
    args.extend_from_slice(extra);
    let mut command = zenreg.command(&args);
    command.envs(env.iter().copied());
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "zenreg {args:?}: {stderr}");
    (json(&String::from_utf8_lossy(&output.stdout)), stderr)
}

#[test]
#[ignore = "needs the Docker Engine and docker-registry: run the README test command (scripts/test.sh)"]
fn layers_read_from_the_engine_s_store_push_the_same_bytes_as_its_export() {
    let LocalPush { services, zenreg, image, .. } = LocalPush::new("zenreg-e2e/store", "1");
    let _context = build_real_image(&services, &image);
    let pinned = ["--engine", "oci", "--compression-level", "6"];
    let log = ("ZENREG_LOG", "zenreg_push::layerstore=debug");

    let (stored, said) = push_json_with_env(&zenreg, &image, &[log, ("ZENREG_LAYER_STORE", "auto")], &pinned);
    assert!(said.contains("5 layers read from the Engine's store"), "{said}");
    assert!(stored["bytes_uploaded"].as_u64().unwrap() > 500_000, "{stored}");

    // Another home (no blob cache): the same image through the Engine's export.
    let other = Zenreg::new(&services);
    other.register("local", &services.registry);
    let (exported, said) = push_json_with_env(&other, &image, &[log, ("ZENREG_LAYER_STORE", "off")], &pinned);
    assert!(said.contains("ZENREG_LAYER_STORE=off: the export is read"), "{said}");
    assert!(exported["bytes_uploaded"].as_u64().unwrap() > 500_000, "{exported}");
    // Every layer's tar was the export's, byte for byte: the same blobs, the same manifest.
    assert_eq!(stored["digest"], exported["digest"]);
    assert_eq!(stored["size"], exported["size"]);

    let output = zenreg
        .command(&["container-registry", "push", &image, "--registry", "local", "--engine", "oci"])
        .env("ZENREG_LAYER_STORE", "sometimes")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: ZENREG_LAYER_STORE is `sometimes`: use `auto`"), "{stderr}");
}

#[test]
#[ignore = "needs the Docker Engine, registries and skopeo: run the README test command (scripts/test.sh)"]
fn a_docker_archive_and_an_oci_layout_push_without_a_daemon() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    zenreg.register("local", &services.registry);
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
    daemonless.register("local", &services.registry);

    let from_archive = unique("zenreg-e2e/archive");
    let target = format!("{}/{from_archive}:1", services.registry);
    let out = push_json(&daemonless, &target, "local", &["--from", &format!("docker-archive:{}", archive.display())]);
    let served = registry_digest(&services.registry, &from_archive, "1", None).unwrap();
    assert_eq!(out["digest"], format!("{}/{from_archive}@{served}", services.registry));

    let from_layout = unique("zenreg-e2e/layout");
    let target = format!("{}/{from_layout}:1", services.registry);
    let out = push_json(&daemonless, &target, "local", &["--from", &format!("oci:{}:v1", layout.display())]);
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
    let LocalPush { services, zenreg, repository: _, image } = LocalPush::new("zenreg-e2e/zstd", "1");
    let _context = build_real_image(&services, &image);
    let id = inspect(&services, &image, "{{.Id}}");
    let out = push_json(&zenreg, &image, "local", &["--compression", "zstd"]);
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
    zenreg.register("private", &services.auth_registry);
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
    zenreg.register("local", &services.registry);
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

#[test]
#[ignore = "needs docker-registry and skopeo: run the README test command (scripts/test.sh)"]
fn an_upload_cut_in_the_middle_resumes_and_the_image_is_whole() {
    // A layout with one large layer that gzip cannot shrink, so its upload is chunked.
    let work = TempDir::new("cut");
    let layout = large_layout(work.path());
    // The first connection to carry more than 4 MiB is cut, as a registry that drops it.
    let cut = Arc::new(AtomicBool::new(false));
    let registry = Registry::start("", "");
    let proxy = {
        let cut = Arc::clone(&cut);
        Proxy::start(&registry.address, move |before, _| {
            if before > 4 * 1024 * 1024 && !cut.swap(true, Ordering::SeqCst) {
                Verdict::Close
            } else {
                Verdict::Forward
            }
        })
    };
    let zenreg = daemonless();
    zenreg.register("flaky", &proxy.address);
    let repository = unique("zenreg-e2e/cut");
    let target = format!("{}/{repository}:1", proxy.address);
    let output = zenreg.run(&["container-registry", "push", &target, "--registry", "flaky", "--from", &layout.from()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(cut.load(Ordering::SeqCst), "the proxy never cut a connection: the test proved nothing");
    assert_eq!(registry_digest(&registry.address, &repository, "1", None).as_deref(), Some(layout.manifest.as_str()));
    // The registry verified each blob's digest when it was closed; skopeo reads the image whole.
    let (_, served, _) =
        fetch_whole(&format!("{}/{repository}:1", registry.address), &["--src-tls-verify=false"], work.path());
    assert_eq!(served, layout.manifest);
}

#[test]
fn push_settings_out_of_their_range_are_one_error_naming_the_variable() {
    let zenreg = daemonless();
    zenreg.register("local", "127.0.0.1:5000");
    let push =
        ["container-registry", "push", "127.0.0.1:5000/a:1", "--registry", "local", "--from", "oci:/nonexistent"];
    for (variable, value, said) in [
        ("ZENREG_HTTP_UPLOADS", "0", "ZENREG_HTTP_UPLOADS=`0` is not a number of uploads from 1 to 32"),
        ("ZENREG_HTTP_UPLOADS", "many", "ZENREG_HTTP_UPLOADS=`many` is not a number of uploads from 1 to 32"),
        ("ZENREG_LAYER_STORE", "on", "ZENREG_LAYER_STORE is `on`: use `auto`"),
    ] {
        let output = zenreg.command(&push).env(variable, value).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.starts_with(&format!("error: {said}")), "{stderr}");
        assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    }
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
    zenreg.register("tls", &registry.address);
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
    // The registry offers HTTP/2 over TLS; uploads go over HTTP/1.1, one connection each, as
    // uploads multiplexed on one HTTP/2 connection share one TCP window.
    let log = registry.log();
    let uploads: Vec<&str> = log.lines().filter(|l| l.contains("\"PATCH /v2/") || l.contains("\"PUT /v2/")).collect();
    assert!(!uploads.is_empty(), "no upload in the access log: {log}");
    assert!(uploads.iter().all(|l| l.contains(" HTTP/1.1\"")), "{uploads:#?}");
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
    zenreg.register("tokens", &registry.address);
    let repository = unique("zenreg-e2e/token");
    let target = format!("{}/{repository}:1", registry.address);
    let push =
        ["container-registry", "push", &target, "--registry", "tokens", "--from", &layout.from(), "--output", "json"];

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

/// A layout whose second layer holds 12 MiB that gzip cannot shrink besides real files, so its
/// blob goes up in a chunked upload; and a registry of the test's own behind a [`Proxy`].
fn large_layout(work: &Path) -> Layout {
    let large = work.join("large");
    copy_dir(Path::new("/usr/lib/python3.11/asyncio"), &large);
    spawned::noise(&large.join("noise.bin"), 12 * 1024 * 1024);
    real_layout(work, &[&large])
}

/// Pushes `--from from` through a proxy to a registry of its own that is SIGKILLed once 4 MiB
/// have gone through and restarted on the same port with the same storage. The push must
/// succeed; returns its JSON output and the manifest, its digest and the blobs as skopeo read
/// them back from the restarted registry (every digest checked).
fn push_through_a_crash(work: &Path, from: &str) -> (serde_json::Value, serde_json::Value, String, std::path::PathBuf) {
    let registry = Arc::new(std::sync::Mutex::new(Registry::start("", "")));
    let address = registry.lock().unwrap().address.clone();
    let killed = Arc::new(AtomicBool::new(false));
    let proxy = {
        // Weak: the proxy outlives the test, the registry must not (it is killed on drop).
        let (registry, killed) = (Arc::downgrade(&registry), Arc::clone(&killed));
        Proxy::start(&address, move |before, _chunk| {
            if before > 4 * 1024 * 1024
                && !killed.swap(true, Ordering::SeqCst)
                && let Some(registry) = registry.upgrade()
            {
                registry.lock().unwrap().restart();
                return Verdict::Close;
            }
            Verdict::Forward
        })
    };
    let zenreg = daemonless();
    zenreg.register("crashing", &proxy.address);
    let repository = unique("zenreg-e2e/killed");
    let target = format!("{}/{repository}:1", proxy.address);
    let push = ["container-registry", "push", &target, "--registry", "crashing", "--from", from, "--output", "json"];
    let out = json(&zenreg.ok(&push));
    assert!(killed.load(Ordering::SeqCst), "the registry was never killed: the test proved nothing");
    let registry = registry.lock().unwrap();
    assert_eq!(registry.log().matches("listening on").count(), 2, "{}", registry.log());
    let (manifest, served, back) =
        fetch_whole(&format!("{}/{repository}:1", registry.address), &["--src-tls-verify=false"], work);
    assert_eq!(out["digest"], format!("{}/{repository}@{served}", proxy.address));
    // Part of the image went up twice: the kill cut an upload, which was made again.
    let sizes: u64 = manifest["layers"].as_array().unwrap().iter().map(|l| l["size"].as_u64().unwrap()).sum();
    assert!(proxy.upstream_bytes.load(Ordering::SeqCst) > sizes + 1024 * 1024, "nothing was sent again");
    (out, manifest, served, back)
}

#[test]
#[ignore = "needs docker-registry and skopeo: run the README test command (scripts/test.sh)"]
fn a_registry_killed_in_the_middle_of_an_upload_and_restarted_gets_the_whole_image() {
    let work = TempDir::new("killed");
    let layout = large_layout(work.path());
    let (_, manifest, served, back) = push_through_a_crash(work.path(), &layout.from());
    assert_eq!(served, layout.manifest);
    for (layer, (digest, size)) in manifest["layers"].as_array().unwrap().iter().zip(&layout.layers) {
        assert_eq!(layer["digest"].as_str(), Some(digest.as_str()));
        let blob = back.join(digest.trim_start_matches("sha256:"));
        assert_eq!(std::fs::metadata(&blob).unwrap().len(), *size);
        assert_eq!(std::fs::read(&blob).unwrap(), std::fs::read(layout.blob(digest)).unwrap());
    }
}

#[test]
#[ignore = "needs docker-registry and skopeo: run the README test command (scripts/test.sh)"]
fn a_registry_killed_while_an_archive_layer_streams_up_gets_the_whole_image_on_a_second_attempt() {
    // A streamed upload (compressed as it goes) cannot be resumed: the whole push is made again.
    let work = TempDir::new("killed-archive");
    let layout = large_layout(work.path());
    let archive = work.path().join("image.tar");
    spawned::run(Command::new("skopeo").args([
        "copy",
        "-q",
        &layout.from(),
        &format!("docker-archive:{}", archive.display()),
    ]));
    let (_, manifest, _, back) = push_through_a_crash(work.path(), &format!("docker-archive:{}", archive.display()));
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config = json(&std::fs::read_to_string(back.join(config_digest.trim_start_matches("sha256:"))).unwrap());
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(diff_ids.len(), layout.layers.len());
    for (layer, diff_id) in manifest["layers"].as_array().unwrap().iter().zip(diff_ids) {
        let blob = back.join(layer["digest"].as_str().unwrap().trim_start_matches("sha256:"));
        let content = spawned::run(Command::new("sh").arg("-c").arg("gzip -dc \"$0\" | sha256sum").arg(&blob));
        let hash = String::from_utf8(content).unwrap();
        assert_eq!(format!("sha256:{}", hash.split_whitespace().next().unwrap()), diff_id.as_str().unwrap());
    }
}

#[test]
#[ignore = "needs docker-registry: run the README test command (scripts/test.sh)"]
fn a_blob_damaged_on_the_way_is_refused_by_the_registry_in_one_line_and_nothing_is_tagged() {
    let work = TempDir::new("damaged");
    let layout = large_layout(work.path());
    let registry = Registry::start("", "");
    let damaged = Arc::new(AtomicBool::new(false));
    let proxy = {
        let damaged = Arc::clone(&damaged);
        Proxy::start(&registry.address, move |before, chunk| {
            if before > 4 * 1024 * 1024 && !damaged.swap(true, Ordering::SeqCst) {
                let middle = chunk.len() / 2;
                chunk[middle] ^= 0x01;
            }
            Verdict::Forward
        })
    };
    let zenreg = daemonless();
    zenreg.register("damaging", &proxy.address);
    let repository = unique("zenreg-e2e/damaged");
    let target = format!("{}/{repository}:1", proxy.address);
    let output =
        zenreg.run(&["container-registry", "push", &target, "--registry", "damaging", "--from", &layout.from()]);
    assert!(damaged.load(Ordering::SeqCst), "no byte was damaged: the test proved nothing");
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("DIGEST_INVALID"), "{stderr}");
    assert!(errors[0].contains(&layout.layers[2].0), "the error names the large blob: {stderr}");
    assert!(stderr.lines().any(|l| l.starts_with("hint: ")), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(registry_digest(&registry.address, &repository, "1", None), None, "nothing may be tagged");
}

#[test]
#[ignore = "needs docker-registry: run the README test command (scripts/test.sh)"]
fn a_layout_blob_that_does_not_match_its_digest_is_refused_and_nothing_is_tagged() {
    let work = TempDir::new("rotten");
    let layout = real_layout(work.path(), &[]);
    let (digest, _) = &layout.layers[1];
    let mut bytes = std::fs::read(layout.blob(digest)).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(layout.blob(digest), bytes).unwrap();
    let registry = Registry::start("", "");
    let zenreg = daemonless();
    zenreg.register("local", &registry.address);
    let repository = unique("zenreg-e2e/rotten");
    let target = format!("{}/{repository}:1", registry.address);
    let refused =
        zenreg.fails(&["container-registry", "push", &target, "--registry", "local", "--from", &layout.from()]);
    assert!(refused.contains(&layout.from()), "the error names the source: {refused}");
    assert!(refused.contains(&format!("blob {digest} does not match its digest")), "{refused}");
    assert_eq!(registry_digest(&registry.address, &repository, "1", None), None, "nothing may be tagged");
}

#[test]
#[ignore = "needs the Docker Engine, docker-registry and skopeo: run the README test command (scripts/test.sh)"]
fn the_same_image_pushed_to_a_second_repository_is_mounted_not_uploaded() {
    let services = Services::require();
    let registry = Registry::start("", "");
    let zenreg = Zenreg::new(&services);
    zenreg.register("mounts", &registry.address);
    let (first, second) = (unique("zenreg-e2e/mount-a"), unique("zenreg-e2e/mount-b"));
    let image = format!("{}/{first}:1", registry.address);
    let _context = build_real_image(&services, &image);
    let id = inspect(&services, &image, "{{.Id}}");
    let again = format!("{}/{second}:1", registry.address);
    assert!(docker(&services, &["tag", &image, &again]).status.success());
    let push = |image: &str| push_json(&zenreg, image, "mounts", &[]);

    let out = push(&image);
    assert_eq!((out["layers_skipped"].as_u64(), out["engine"].as_str()), (Some(0), Some("oci")), "{out}");
    let out = push(&again);
    assert_eq!(out["bytes_uploaded"], 0, "{out}");
    assert_eq!(out["layers_skipped"], 5, "{out}");
    // The registry's access log: a mount per layer and one for the config, each answered 201.
    let log = registry.log();
    let mounts: Vec<&str> =
        log.lines().filter(|l| l.contains(&format!("\"POST /v2/{second}/blobs/uploads/?mount=sha256%3A"))).collect();
    assert_eq!(mounts.len(), 6, "{log}");
    let from = format!("&from={}", first.replace('/', "%2F"));
    assert!(mounts.iter().all(|l| l.contains(&from) && l.contains("\" 201 ")), "{mounts:#?}");
    assert!(!log.contains(&format!("PATCH /v2/{second}/")), "a blob of the second push was uploaded: {log}");
    let work = TempDir::new("mount");
    let (manifest, served, _) =
        fetch_whole(&format!("{}/{second}:1", registry.address), &["--src-tls-verify=false"], work.path());
    assert_eq!(out["digest"], format!("{}/{second}@{served}", registry.address));
    assert_eq!(manifest["config"]["digest"].as_str(), Some(id.as_str()));

    // Warm again: the config comes from the blob cache and the tag already names the very
    // manifest, so one `HEAD` of it is the whole push: no blob is asked about or read back.
    let before = registry.log().len();
    let out = push(&again);
    assert_eq!((out["bytes_uploaded"].as_u64(), out["layers_skipped"].as_u64()), (Some(0), Some(5)), "{out}");
    assert_eq!(out["digest"], format!("{}/{second}@{served}", registry.address));
    let log = registry.log();
    let later = log.get(before..).unwrap_or_default();
    assert!(later.contains(&format!("\"HEAD /v2/{second}/manifests/1 ")), "{later}");
    assert!(!later.contains(&format!("/v2/{second}/blobs/")), "a blob was asked about: {later}");
    assert!(!later.contains(&format!("\"PUT /v2/{second}/manifests/")), "the manifest was put again: {later}");
    let _ = docker(&services, &["rmi", "-f", &image, &again]);
}
