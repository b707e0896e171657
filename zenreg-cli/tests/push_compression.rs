//! Compression in zenreg's OCI engine, against real registries:
//! - the gzip layers it writes are each one gzip member, so a reader that stops after the first
//!   member (Rust's `flate2::read::GzDecoder`, among others) sees the whole layer, and `gzip -t`
//!   finds nothing wrong (layers of several 2 MiB compression blocks);
//! - `--compression-level auto` (the default) measures the link while it pushes, remembers it
//!   per registry, and picks a slower, denser level for a slow link the next time, reusing blobs
//!   compressed at any level.

mod e2e;
#[path = "push_oci/spawned.rs"]
#[allow(dead_code)]
mod spawned;

use e2e::{LocalPush, Services, TempDir, Zenreg, docker, unique};
use sha2::Digest;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// GET of a blob from the open registry over plain HTTP (the registry answers 200 with the
/// body, or a redirect this registry does not use).
fn get_blob(registry: &str, repository: &str, digest: &str) -> Vec<u8> {
    let mut stream = std::net::TcpStream::connect(registry).unwrap();
    write!(stream, "GET /v2/{repository}/blobs/{digest} HTTP/1.1\r\nHost: {registry}\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let body = response[split + 4..].to_vec();
    // Content-Length bodies only: the registry sends blobs that way.
    assert!(head.to_ascii_lowercase().contains("content-length:"), "{head}");
    body
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&sha2::Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-rL").arg(from).arg(to).status().unwrap();
    assert!(status.success(), "cp {} {}", from.display(), to.display());
}

/// Builds `image` of real files: a small layer of docs, and a layer of Python's standard library
/// modules (about 9 MB, so several compression blocks).
fn build_python_image(services: &Services, image: &str) {
    let context = TempDir::new("gzip-image");
    copy_dir(Path::new("/usr/share/doc/bash"), &context.path().join("doc"));
    std::fs::create_dir_all(context.path().join("py")).unwrap();
    for module in ["email", "asyncio", "unittest", "pydoc_data", "encodings", "distutils"] {
        copy_dir(&Path::new("/usr/lib/python3.11").join(module), &context.path().join("py").join(module));
    }
    // A file unique to the image first, and `--no-cache`: parallel builds share no cache chain,
    // and the classic builder's cache lookup never reads an image a parallel test is removing.
    std::fs::write(context.path().join("name"), image).unwrap();
    std::fs::write(context.path().join("Dockerfile"), "FROM scratch\nCOPY name /name\nCOPY doc /doc\nCOPY py /py\n")
        .unwrap();
    let output = docker(services, &["build", "--no-cache", "-q", "-t", image, context.path().to_str().unwrap()]);
    assert!(output.status.success(), "docker build: {}", String::from_utf8_lossy(&output.stderr));
}

#[test]
#[ignore = "needs the Docker Engine and registries: run the README test command (scripts/test.sh)"]
fn every_gzip_layer_is_one_member_that_gzip_checks() {
    let LocalPush { services, zenreg, repository, image } = LocalPush::new("zenreg-e2e/gzip", "1");
    build_python_image(&services, &image);

    for level in ["1", "6"] {
        // A repository per level: the second push must compress again, not reuse blobs.
        let image_at_level = format!("{}/{repository}-{level}:1", services.registry);
        let tagged = docker(&services, &["tag", &image, &image_at_level]);
        assert!(tagged.status.success());
        zenreg.ok(&[
            "container-registry",
            "push",
            &image_at_level,
            "--registry",
            "local",
            "--engine",
            "oci",
            "--compression",
            "gzip",
            "--compression-level",
            level,
        ]);
        let repository = format!("{repository}-{level}");
        let manifest = {
            let mut stream = std::net::TcpStream::connect(&services.registry).unwrap();
            write!(
                stream,
                "GET /v2/{repository}/manifests/1 HTTP/1.1\r\nHost: {}\r\nAccept: \
                 application/vnd.docker.distribution.manifest.v2+json\r\nConnection: close\r\n\r\n",
                services.registry
            )
            .unwrap();
            let mut response = Vec::new();
            stream.read_to_end(&mut response).unwrap();
            let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            serde_json::from_slice::<serde_json::Value>(&response[split + 4..]).unwrap()
        };
        let config = get_blob(&services.registry, &repository, manifest["config"]["digest"].as_str().unwrap());
        let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
        let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), diff_ids.len());
        let mut largest = 0;
        for (layer, diff_id) in layers.iter().zip(diff_ids) {
            assert!(layer["mediaType"].as_str().unwrap().ends_with("gzip"), "{layer}");
            let blob = get_blob(&services.registry, &repository, layer["digest"].as_str().unwrap());
            // The first member alone is the whole layer, and nothing follows it.
            let mut decoder = flate2::read::GzDecoder::new(&blob[..]);
            let mut tar = Vec::new();
            decoder.read_to_end(&mut tar).unwrap();
            assert_eq!(&serde_json::Value::from(sha256(&tar)), diff_id, "level {level}: {layer}");
            assert!(decoder.into_inner().is_empty(), "level {level}: bytes after the first member of {layer}");
            largest = largest.max(tar.len());
            let mut gzip =
                Command::new("gzip").arg("-t").stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("gzip runs");
            gzip.stdin.take().unwrap().write_all(&blob).unwrap();
            let checked = gzip.wait_with_output().unwrap();
            assert!(checked.status.success(), "gzip -t: {}", String::from_utf8_lossy(&checked.stderr));
            assert!(checked.stderr.is_empty(), "gzip -t: {}", String::from_utf8_lossy(&checked.stderr));
        }
        assert!(largest > 3 * 2 * 1024 * 1024, "the largest layer ({largest} bytes) spans fewer than 3 blocks");
    }
}

/// A push's `--output json`.
fn push_json(zenreg: &Zenreg, args: &[&str]) -> (serde_json::Value, String) {
    let output = zenreg.run(args);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "zenreg {args:?}: {stderr}");
    (serde_json::from_slice(&output.stdout).unwrap(), stderr)
}

#[test]
#[ignore = "needs the Docker Engine and registries: run the README test command (scripts/test.sh)"]
fn the_automatic_level_follows_the_link_measured_to_the_registry() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    // A registry of the test's own behind a proxy that lets 2.5 MB/s (20 Mbit/s) through,
    // whatever the number of connections.
    let registry = spawned::Registry::start("", "");
    let rate = 2_500_000.0;
    let mut started: Option<std::time::Instant> = None;
    let proxy = spawned::Proxy::start(&registry.address, move |before, chunk| {
        let start = *started.get_or_insert_with(std::time::Instant::now);
        let due = std::time::Duration::from_secs_f64((before + chunk.len() as u64) as f64 / rate);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        spawned::Verdict::Forward
    });
    zenreg.register("slow", &proxy.address);
    let first = format!("{}/{}:1", proxy.address, unique("zenreg-e2e/auto"));
    build_python_image(&services, &first);
    // zenreg's engine named: which engine pushes by default is another test's subject.
    let push = |image: &str, extra: &[&str]| {
        let mut args =
            vec!["container-registry", "push", image, "--registry", "slow", "--engine", "oci", "--output", "json"];
        args.extend_from_slice(extra);
        push_json(&zenreg, &args)
    };

    // Nothing known of the link: the fastest level, and the link is measured.
    let (pushed, stderr) = push(&first, &[]);
    assert_eq!(pushed["compression_level"], 1, "{pushed}");
    assert!(stderr.contains("Compressing with gzip level 1 (auto: no link measured"), "{stderr}");
    let memory: serde_json::Value =
        serde_json::from_slice(&std::fs::read(zenreg.home.path().join("link-cache.json")).unwrap()).unwrap();
    let measured = &memory[&proxy.address]["link"];
    assert_eq!(measured["kind"], "measured", "{memory}");
    let rate_seen = measured["bytes_per_second"].as_f64().unwrap();
    assert!(rate_seen > 1_000_000.0 && rate_seen < 3_000_000.0, "{memory}");

    // Another image over the same link: the slow link is the cost, so the densest level.
    let second = format!("{}/{}:1", proxy.address, unique("zenreg-e2e/auto"));
    let tagged = docker(&services, &["tag", &first, &second]);
    assert!(tagged.status.success());
    std::fs::remove_file(zenreg.home.path().join("blob-cache.json")).unwrap();
    let (pushed, stderr) = push(&second, &[]);
    assert_eq!(pushed["compression_level"], 9, "{pushed}");
    assert!(stderr.contains("Compressing with gzip level 9 (auto: the link to this registry carried"), "{stderr}");
    let dense = pushed["bytes_uploaded"].as_u64().unwrap();

    // The first image again: its level-1 blobs are in the registry and the cache, and are
    // reused whatever the level chosen now.
    let (pushed, _) = push(&first, &[]);
    assert_eq!(pushed["bytes_uploaded"], 0, "{pushed}");

    // A pinned level is kept, and zstd has its own levels.
    let third = format!("{}/{}:1", proxy.address, unique("zenreg-e2e/auto"));
    assert!(docker(&services, &["tag", &first, &third]).status.success());
    let (pushed, stderr) = push(&third, &["--compression-level", "3"]);
    assert_eq!(pushed["compression_level"], 3, "{pushed}");
    assert!(stderr.contains("Compressing with gzip level 3\n"), "{stderr}");
    assert!(pushed["bytes_uploaded"].as_u64().unwrap() > dense, "level 3 sent no more than level 9: {pushed}");
    // zstd's dense levels (9 to 12) cost about the same time on this link: which one is picked
    // depends on the rate measured to a few per cent.
    let (pushed, stderr) = push(&third, &["--compression", "zstd"]);
    let level = pushed["compression_level"].as_i64().unwrap();
    assert!((9..=12).contains(&level), "{pushed}");
    assert!(stderr.contains(&format!("Compressing with zstd level {level} (auto:")), "{stderr}");
}

/// Builds `image` of Python's whole standard library (about 50 MB of real files), with a file
/// unique to the image first.
fn build_stdlib_image(services: &Services, image: &str) {
    let context = TempDir::new("stdlib-image");
    copy_dir(Path::new("/usr/lib/python3.11"), &context.path().join("py"));
    std::fs::write(context.path().join("name"), image).unwrap();
    std::fs::write(context.path().join("Dockerfile"), "FROM scratch\nCOPY name /name\nCOPY py /py\n").unwrap();
    let output = docker(services, &["build", "--no-cache", "-q", "-t", image, context.path().to_str().unwrap()]);
    assert!(output.status.success(), "docker build: {}", String::from_utf8_lossy(&output.stderr));
}

#[test]
#[ignore = "needs the Docker Engine and registries: run the README test command (scripts/test.sh)"]
fn the_engine_of_a_default_push_follows_what_cold_pushes_measured() {
    let LocalPush { services, zenreg, repository: _, image } = LocalPush::new("zenreg-e2e/engine-choice", "1");
    build_stdlib_image(&services, &image);
    let push = |image: &str, extra: &[&str]| {
        let mut args = vec!["container-registry", "push", image, "--registry", "local", "--output", "json"];
        args.extend_from_slice(extra);
        push_json(&zenreg, &args)
    };
    // A push by a zenreg that reads the Engine's export, as one that is not root does.
    let push_reading_the_export = |image: &str| {
        let args = ["container-registry", "push", image, "--registry", "local", "--output", "json"];
        let output = zenreg.command(&args).env("ZENREG_LAYER_STORE", "off").output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(output.status.success(), "zenreg {args:?}: {stderr}");
        (serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap(), stderr)
    };
    // A fresh name under the registry for each push, so that each is a push of its own.
    let retagged = |n: u32| {
        let name = format!("{}/{}:{n}", services.registry, unique("zenreg-e2e/engine-choice"));
        assert!(docker(&services, &["tag", &image, &name]).status.success());
        name
    };

    // Nothing measured: zenreg's engine (the daemon has the classic store), which keeps what its
    // cold push measured, the wait for the Engine's export included (the export read as where
    // the store cannot be: a zenreg that is not root).
    let (pushed, stderr) = push_reading_the_export(&image);
    assert_eq!(pushed["engine"], "oci", "{pushed}");
    assert!(!stderr.contains("Pushing with"), "{stderr}");
    let path = zenreg.home.path().join("engine-cache.json");
    let memory: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let (key, runs) = memory.as_object().unwrap().iter().next().unwrap();
    assert!(key.ends_with(&format!(" -> {}", services.registry)), "{key}");
    assert!(runs["zenreg"]["bytes_per_second"].as_f64().unwrap() > 0.0, "{memory}");
    let waited = runs["zenreg"]["export_wait"].as_f64().unwrap();
    assert!(waited > 0.0 && waited < 1.0, "{memory}");
    assert!(runs["daemon"].is_null(), "{memory}");
    assert_eq!(runs["zenreg"]["read_store"], false, "{memory}");

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    // zenreg's run: (image bytes per second, the export's wait, link-bound, read the store).
    let plant = |daemon: Option<f64>, zenreg: (f64, f64, bool, bool)| {
        let run = |rate: f64, wait: f64, bound: bool, store: bool| serde_json::json!({ "bytes_per_second": rate, "export_wait": wait, "link_bound": bound, "read_store": store, "updated": now });
        let runs = serde_json::json!({ "daemon": daemon.map(|rate| run(rate, 0.0, false, false)), "zenreg": run(zenreg.0, zenreg.1, zenreg.2, zenreg.3) });
        std::fs::write(&path, serde_json::json!({ key.clone(): runs }).to_string()).unwrap();
    };

    // The image again, with the Engine's own push measured faster: zenreg's blob cache knows
    // its layers there, so zenreg's engine reuses them and uploads nothing.
    plant(Some(50e6), (10e6, 0.0, true, true));
    let (pushed, stderr) = push(&image, &[]);
    assert_eq!(pushed["engine"], "oci", "{pushed}");
    assert_eq!(pushed["bytes_uploaded"], 0, "{pushed}");
    assert!(!stderr.contains("Pushing with"), "{stderr}");

    // From here on the image's layers are new to zenreg's blob cache, as another image's would
    // be, and the choice is the memory's.
    let forget_blobs = || match std::fs::remove_file(zenreg.home.path().join("blob-cache.json")) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => panic!("{error}"),
        _ => {}
    };

    // The Engine's own push measured faster: it pushes, and its cold push is kept.
    forget_blobs();
    plant(Some(50e6), (10e6, 0.0, true, true));
    let (pushed, stderr) = push(&retagged(2), &[]);
    assert_eq!(pushed["engine"], "docker", "{pushed}");
    assert!(
        stderr.contains(
            "Pushing with the Engine's own push: cold pushes to this registry ran at 50.0 MB/s of image through \
             the Engine's own push and 10.0 MB/s through zenreg's engine"
        ),
        "{stderr}"
    );
    let memory: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let daemon = memory[key]["daemon"]["bytes_per_second"].as_f64().unwrap();
    assert!(daemon != 50e6 && daemon > 0.0, "the Engine's cold push was not kept: {memory}");

    // The same, but measured against zenreg's engine reading the export: where this zenreg can
    // read the store, that measurement no longer tells, and zenreg's engine pushes and is
    // measured again, reading the store.
    forget_blobs();
    plant(Some(50e6), (10e6, 0.3, true, false));
    let (pushed, stderr) = push(&retagged(6), &[]);
    assert_eq!(pushed["engine"], "oci", "{pushed}");
    assert!(
        stderr.contains(
            "Pushing with zenreg's engine: it reads this image from the Engine's store, and its pushes measured \
             before read the Engine's export"
        ),
        "{stderr}"
    );
    let memory: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let run = &memory[key]["zenreg"];
    // A push under 0.2 s is too quick to be kept; one that is kept read the store.
    assert!(run["bytes_per_second"] == 10e6 || (run["read_store"] == true && run["export_wait"] == 0.0), "{memory}");

    // zstd (or a pinned level) asks for zenreg's engine, whatever was measured.
    plant(Some(50e6), (10e6, 0.0, true, true));
    let (pushed, stderr) = push(&retagged(3), &["--compression", "zstd"]);
    assert_eq!(pushed["engine"], "oci", "{pushed}");
    assert!(!stderr.contains("Pushing with"), "{stderr}");

    // zenreg's engine measured faster.
    forget_blobs();
    plant(Some(10e6), (50e6, 0.0, false, true));
    let (pushed, stderr) = push(&retagged(4), &[]);
    assert_eq!(pushed["engine"], "oci", "{pushed}");
    assert!(stderr.contains("Pushing with zenreg's engine: cold pushes to this registry ran at 10.0 MB/s"), "{stderr}");

    // Only zenreg's known, bound by the link while it waited 30 % for the export: the Engine's
    // own push is tried by a zenreg that reads the export too; one that reads the store does not
    // wait for the export, and pushes with its own engine.
    forget_blobs();
    plant(None, (10e6, 0.3, true, false));
    let (pushed, stderr) = push_reading_the_export(&retagged(5));
    assert_eq!(pushed["engine"], "docker", "{pushed}");
    assert!(stderr.contains("Pushing with the Engine's own push: trying it: the link bound"), "{stderr}");
    assert!(stderr.contains("which waited 30 % of its time for the Engine's export"), "{stderr}");
    forget_blobs();
    plant(None, (10e6, 0.3, true, false));
    let (pushed, stderr) = push(&retagged(7), &[]);
    assert_eq!(pushed["engine"], "oci", "{pushed}");
    assert!(stderr.contains("it reads this image from the Engine's store"), "{stderr}");
}
