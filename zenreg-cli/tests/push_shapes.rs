//! Every shape of `docker save` archive, pushed with `--from docker-archive:` and through the
//! Engine's export, then read back with skopeo: Docker ≤ 24 (`<id>/layer.tar`, what Debian's
//! Engine 20.10 writes here), Docker 25+ with the classic store (an OCI layout of uncompressed
//! blobs beside `manifest.json` with `LayerSources`), the containerd image store (gzip or zstd
//! blobs, `index.json` → image index → platform manifests, `manifest.json` without
//! `LayerSources`, no `repositories`), two-platform images and archives of several images.
//!
//! The fixtures are written by the tests from real images they build (`FROM scratch` + real
//! files): Docker's own `docker save`, skopeo's OCI layout with gzip and zstd layers, and the
//! Docker 25 and containerd shapes rewritten from those as moby's exporters write them. Debian
//! offers no Docker Engine with the containerd image store (bookworm's docker.io is 20.10), so
//! the Engine path runs against a stand-in of the Engine API on a unix socket that exports a
//! containerd-store archive.
//!
//! Also: only the chosen image's layers leave an archive (a 2 MiB entry no manifest names, and
//! the other image of a two-image archive, are never uploaded), and a layout whose files are a
//! FIFO or `/dev/zero` is refused at once.

mod e2e;
// Shared with push_oci.rs, which uses the rest of it.
#[allow(dead_code)]
#[path = "push_oci/spawned.rs"]
mod spawned;

use e2e::{Services, TempDir, Zenreg, docker, registry_digest, unique};
use serde_json::{Value, json};
use spawned::{Layout, Registry, sha256_hex_bytes};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex_bytes(bytes))
}

fn run(command: &mut Command) -> Vec<u8> {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

/// A daemonless zenreg (its DOCKER_HOST is a socket that does not exist) with `local` registered.
fn daemonless(registry: &str) -> Zenreg {
    let zenreg = Zenreg { home: TempDir::new("home"), docker_host: "unix:///nonexistent/docker.sock".into() };
    std::fs::create_dir_all(zenreg.home.path().join("docker")).unwrap();
    zenreg.register("local", registry);
    zenreg
}

fn push_json(zenreg: &Zenreg, image: &str, extra: &[&str]) -> Value {
    let mut args = vec!["container-registry", "push", image, "--registry", "local"];
    args.extend_from_slice(extra);
    args.extend(["--output", "json"]);
    serde_json::from_str(&zenreg.ok(&args)).unwrap()
}

/// Builds image `name` of real files: one `COPY` (one layer) per directory of `roots`.
fn build(services: &Services, name: &str, roots: &[&str]) {
    let context = TempDir::new("shape-image");
    // No cache lookup (`--no-cache`): for `FROM scratch` the classic builder's lookup reads every
    // image built from scratch, and fails ("unable to find image") when a parallel test removes
    // one of them between the listing and the read. The label keeps each image's id its own.
    let mut dockerfile = format!("FROM scratch\nLABEL purpose=zenreg-shapes name={name}\n");
    for (n, root) in roots.iter().enumerate() {
        run(Command::new("cp").arg("-rL").arg(root).arg(context.path().join(format!("d{n}"))));
        dockerfile.push_str(&format!("COPY d{n} /data/d{n}\n"));
    }
    std::fs::write(context.path().join("Dockerfile"), dockerfile).unwrap();
    let output = docker(services, &["build", "--no-cache", "-q", "-t", name, context.path().to_str().unwrap()]);
    assert!(output.status.success(), "docker build: {}", String::from_utf8_lossy(&output.stderr));
}

/// The test image: a small layer of docs and one of Python's `email` package (over 1 MiB).
fn build_real(services: &Services, name: &str) {
    build(services, name, &["/usr/share/doc/bash", "/usr/lib/python3.11/email", "/usr/lib/python3.11/json"]);
}

/// skopeo's OCI layout of daemon image `image`, layers compressed with `format`.
fn skopeo_layout(services: &Services, image: &str, dir: &Path, format: &str) {
    run(Command::new("skopeo")
        .args(["copy", "-q", "--dest-compress", "--dest-compress-format", format])
        .arg(format!("docker-daemon:{image}"))
        .arg(format!("oci:{}:v1", dir.display()))
        .env("DOCKER_HOST", &services.docker_host));
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

/// The only manifest of a layout: (its descriptor, the manifest).
fn layout_manifest(dir: &Path) -> (Value, Value) {
    let index = read_json(&dir.join("index.json"));
    let descriptor = index["manifests"][0].clone();
    let manifest = read_json(&blob(dir, descriptor["digest"].as_str().unwrap()));
    (descriptor, manifest)
}

/// Writes `files` (path in the archive → bytes) as a tar sorted by name, as containerd does.
fn write_tar(out: &Path, files: &[(String, Vec<u8>)]) {
    let staging = TempDir::new("tar");
    for (path, bytes) in files {
        let file = staging.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, bytes).unwrap();
    }
    let mut names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    names.sort();
    names.dedup();
    run(Command::new("tar").arg("-cf").arg(out).arg("-C").arg(staging.path()).args(&names));
}

/// A manifest descriptor and the blobs (path in the archive → bytes) it needs: manifest,
/// config, then layers.
type PlatformImage = (Value, Vec<(String, Vec<u8>)>);

/// One platform's image for a containerd-store archive: its manifest descriptor (with a
/// platform) and the blobs (config, layers, manifest) from a skopeo layout.
fn platform_image(dir: &Path, platform: (&str, &str, Option<&str>)) -> PlatformImage {
    let (mut descriptor, manifest) = layout_manifest(dir);
    let (os, architecture, variant) = platform;
    descriptor.as_object_mut().unwrap().remove("annotations");
    descriptor["platform"] = json!({"os": os, "architecture": architecture});
    if let Some(variant) = variant {
        descriptor["platform"]["variant"] = json!(variant);
    }
    let mut blobs = Vec::new();
    let digests = std::iter::once(descriptor["digest"].as_str().unwrap().to_string())
        .chain(std::iter::once(manifest["config"]["digest"].as_str().unwrap().to_string()))
        .chain(manifest["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_string()));
    for digest in digests {
        let bytes = std::fs::read(blob(dir, &digest)).unwrap();
        blobs.push((format!("blobs/sha256/{}", digest.trim_start_matches("sha256:")), bytes));
    }
    (descriptor, blobs)
}

/// An archive as the containerd image store's `docker save` writes it: `index.json` naming an
/// image index (nested) that lists the platform manifests, their blobs compressed as they are,
/// `manifest.json` without `LayerSources` (of the first platform), `oci-layout`, no
/// `repositories`. `leave_out` drops the layers of those platforms (a pulled image of which
/// only one platform is present).
fn containerd_archive(name: &str, platforms: &[PlatformImage], out: &Path, leave_out: &[usize]) {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (n, (descriptor, blobs)) in platforms.iter().enumerate() {
        for (path, bytes) in blobs {
            // The first two blobs are the manifest and config; the rest are layers.
            let is_layer = blobs.iter().position(|(p, _)| p == path).unwrap() >= 2;
            if !(leave_out.contains(&n) && is_layer) {
                files.push((path.clone(), bytes.clone()));
            }
        }
        let _ = descriptor;
    }
    let nested = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": platforms.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>(),
    });
    let nested_bytes = serde_json::to_vec(&nested).unwrap();
    let nested_digest = sha256(&nested_bytes);
    files.push((format!("blobs/sha256/{}", nested_digest.trim_start_matches("sha256:")), nested_bytes.clone()));
    let tag = name.rsplit(':').next().unwrap();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": nested_digest,
            "size": nested_bytes.len(),
            "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag},
        }],
    });
    files.push(("index.json".into(), serde_json::to_vec(&index).unwrap()));
    files.push(("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()));
    let (_, first) = &platforms[0];
    let manifest: Value = serde_json::from_slice(&first[0].1).unwrap();
    let docker_manifest = json!([{
        "Config": format!("blobs/sha256/{}", manifest["config"]["digest"].as_str().unwrap().trim_start_matches("sha256:")),
        "RepoTags": [name],
        "Layers": manifest["layers"].as_array().unwrap().iter()
            .map(|l| format!("blobs/sha256/{}", l["digest"].as_str().unwrap().trim_start_matches("sha256:")))
            .collect::<Vec<_>>(),
    }]);
    files.push(("manifest.json".into(), serde_json::to_vec(&docker_manifest).unwrap()));
    write_tar(out, &files);
}

/// Extracts `archive` into a new directory.
fn extract(archive: &Path) -> TempDir {
    let dir = TempDir::new("extract");
    run(Command::new("tar").arg("-xf").arg(archive).arg("-C").arg(dir.path()));
    dir
}

/// Rewrites a Docker ≤ 24 `docker save` archive as Docker 25+ with the classic store writes
/// it: blobs under `blobs/sha256` (layers uncompressed), an OCI manifest per image,
/// `index.json` naming them, `manifest.json` pointing at the blobs with `LayerSources`, and
/// the old `<id>/layer.tar` kept as symbolic links into `blobs/`.
fn docker25_archive(saved: &Path, out: &Path) {
    let old = extract(saved);
    let entries = read_json(&old.path().join("manifest.json"));
    let new = TempDir::new("docker25");
    std::fs::create_dir_all(new.path().join("blobs/sha256")).unwrap();
    let put = |bytes: &[u8]| -> String {
        let digest = sha256(bytes);
        std::fs::write(blob(new.path(), &digest), bytes).unwrap();
        digest
    };
    let mut manifest_json = Vec::new();
    let mut index_entries = Vec::new();
    for entry in entries.as_array().unwrap() {
        let config = std::fs::read(old.path().join(entry["Config"].as_str().unwrap())).unwrap();
        let config_digest = put(&config);
        let mut layers = Vec::new();
        let mut paths = Vec::new();
        let mut sources = serde_json::Map::new();
        for layer in entry["Layers"].as_array().unwrap() {
            let old_path = layer.as_str().unwrap();
            let bytes = std::fs::read(old.path().join(old_path)).unwrap();
            let digest = put(&bytes);
            let descriptor =
                json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": bytes.len()});
            sources.insert(digest.clone(), descriptor.clone());
            layers.push(descriptor);
            paths.push(format!("blobs/sha256/{}", digest.trim_start_matches("sha256:")));
            // `<id>/layer.tar` → `../blobs/sha256/<hex>`.
            let link = new.path().join(old_path);
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(format!("../blobs/sha256/{}", digest.trim_start_matches("sha256:")), link)
                .unwrap();
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": layers,
        });
        let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
        let manifest_digest = put(&manifest_bytes);
        let tags: Vec<String> =
            entry["RepoTags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
        index_entries.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_bytes.len(),
            "annotations": {
                "io.containerd.image.name": tags[0],
                "org.opencontainers.image.ref.name": tags[0].rsplit(':').next().unwrap(),
            },
        }));
        manifest_json.push(json!({
            "Config": format!("blobs/sha256/{}", config_digest.trim_start_matches("sha256:")),
            "RepoTags": tags,
            "Layers": paths,
            "LayerSources": sources,
        }));
    }
    std::fs::write(new.path().join("manifest.json"), serde_json::to_vec(&manifest_json).unwrap()).unwrap();
    let index =
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index_entries});
    std::fs::write(new.path().join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(new.path().join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    run(Command::new("tar").args(["--sort=name", "-cf"]).arg(out).arg("-C").arg(new.path()).arg("."));
}

/// What skopeo reads back from the registry: the manifest (bytes as served, parsed) and the
/// directory of its blobs, each checked against its digest by skopeo.
struct Back {
    digest: String,
    manifest: Value,
    dir: PathBuf,
}

fn read_back(reference: &str, work: &Path) -> Back {
    let dir = work.join(unique("back"));
    run(Command::new("skopeo")
        .args(["copy", "-q", "--src-tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .arg(format!("dir:{}", dir.display())));
    let bytes = std::fs::read(dir.join("manifest.json")).unwrap();
    Back { digest: sha256(&bytes), manifest: serde_json::from_slice(&bytes).unwrap(), dir }
}

/// The digest of `file` decompressed (gzip, zstd or as it is, by its first bytes).
fn diff_id(file: &Path) -> String {
    let mut head = [0u8; 4];
    let _ = std::fs::File::open(file).unwrap().read(&mut head).unwrap();
    let decompress = match head {
        [0x1f, 0x8b, ..] => "gzip -dc",
        [0x28, 0xb5, 0x2f, 0xfd] => "zstd -dc",
        _ => "cat",
    };
    let out = run(Command::new("sh").arg("-c").arg(format!("{decompress} \"$0\" | sha256sum")).arg(file));
    format!("sha256:{}", String::from_utf8(out).unwrap().split_whitespace().next().unwrap())
}

/// Checks an image read back: its config is `config` byte for byte (by digest), and every
/// layer decompresses to the diff id the config lists for it.
fn check_image(back: &Back, config: &str) {
    assert_eq!(back.manifest["config"]["digest"].as_str(), Some(config), "the config must be the source's");
    let config = read_json(&back.dir.join(config.trim_start_matches("sha256:")));
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    let layers = back.manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), diff_ids.len());
    for (layer, expected) in layers.iter().zip(diff_ids) {
        let file = back.dir.join(layer["digest"].as_str().unwrap().trim_start_matches("sha256:"));
        assert_eq!(diff_id(&file), expected.as_str().unwrap(), "layer {layer}");
    }
}

/// A fresh image of real files and its skopeo layouts (gzip and zstd).
struct Fixture {
    services: Services,
    image: String,
    work: TempDir,
}

impl Fixture {
    fn new(label: &str) -> Fixture {
        let services = Services::require();
        let image = format!("{}/{}:src", services.registry, unique(&format!("zenreg-e2e/{label}")));
        build_real(&services, &image);
        Fixture { services, image, work: TempDir::new(label) }
    }

    fn layout(&self, format: &str) -> PathBuf {
        let dir = self.work.path().join(format!("layout-{format}"));
        skopeo_layout(&self.services, &self.image, &dir, format);
        dir
    }

    fn save(&self, images: &[&str]) -> PathBuf {
        let out = self.work.path().join(format!("{}.tar", unique("save")));
        let mut args = vec!["save", "-o", out.to_str().unwrap()];
        args.extend_from_slice(images);
        let saved = docker(&self.services, &args);
        assert!(saved.status.success(), "{}", String::from_utf8_lossy(&saved.stderr));
        out
    }

    fn id(&self) -> String {
        let output = docker(&self.services, &["image", "inspect", "-f", "{{.Id}}", &self.image]);
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }

    fn target(&self, label: &str) -> (String, String) {
        let repository = unique(&format!("zenreg-e2e/{label}"));
        (format!("{}/{repository}:1", self.services.registry), repository)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = docker(&self.services, &["rmi", "-f", &self.image]);
    }
}

#[test]
#[ignore = "needs the Docker Engine, registries and skopeo: run the README test command (scripts/test.sh)"]
fn the_containerd_store_shape_with_gzip_and_zstd_layers_goes_up_byte_exact() {
    let fixture = Fixture::new("shape-containerd");
    let zenreg = daemonless(&fixture.services.registry);
    for format in ["gzip", "zstd"] {
        let layout = fixture.layout(format);
        let (descriptor, manifest) = layout_manifest(&layout);
        let archive = fixture.work.path().join(format!("containerd-{format}.tar"));
        containerd_archive(&fixture.image, &[platform_image(&layout, ("linux", "amd64", None))], &archive, &[]);
        let (target, repository) = fixture.target(&format!("containerd-{format}"));
        let out = push_json(&zenreg, &target, &["--from", &format!("docker-archive:{}", archive.display())]);
        // The image is its index, as on the daemon (and as `docker push` sends it), byte for
        // byte; through it, the source's own manifest: digests kept, the layers' too.
        let index = read_json(&extract(&archive).path().join("index.json"));
        let top = index["manifests"][0]["digest"].as_str().unwrap();
        assert_eq!(out["digest"], format!("{}/{repository}@{top}", fixture.services.registry));
        let source_manifest = descriptor["digest"].as_str().unwrap();
        let back = read_back(&target, fixture.work.path());
        assert_eq!(back.digest, source_manifest);
        check_image(&back, manifest["config"]["digest"].as_str().unwrap());
        for layer in back.manifest["layers"].as_array().unwrap() {
            let digest = layer["digest"].as_str().unwrap();
            let pushed = std::fs::read(back.dir.join(digest.trim_start_matches("sha256:"))).unwrap();
            assert_eq!(pushed, std::fs::read(blob(&layout, digest)).unwrap(), "layer {digest} changed on the way");
            assert!(layer["mediaType"].as_str().unwrap().ends_with(format), "{layer}");
        }
        // Pushed again: the layers are there, nothing is uploaded, the digest is the same.
        let again = push_json(&zenreg, &target, &["--from", &format!("docker-archive:{}", archive.display())]);
        assert_eq!(again["digest"], out["digest"]);
        assert_eq!(again["bytes_uploaded"], 0, "{again}");
    }
}

#[test]
#[ignore = "needs the Docker Engine, registries and skopeo: run the README test command (scripts/test.sh)"]
fn a_damaged_compressed_layer_is_refused_by_its_diff_id() {
    let fixture = Fixture::new("shape-damaged");
    let zenreg = daemonless(&fixture.services.registry);
    let layout = fixture.layout("gzip");
    let (_, mut image) = platform_image(&layout, ("linux", "amd64", None));
    // Another gzip stream (a valid one) in place of the first layer, under the same name: the
    // registry would take it (the digest is recomputed below), the diff id check must not.
    let first_layer = image[2].0.clone();
    let other = run(Command::new("sh").arg("-c").arg("tar -cf - -C /usr/share/doc/bash . | gzip -n"));
    let manifest_path = image[0].0.clone();
    let mut manifest: Value = serde_json::from_slice(&image[0].1).unwrap();
    let other_digest = sha256(&other);
    manifest["layers"][0]["digest"] = json!(other_digest);
    manifest["layers"][0]["size"] = json!(other.len());
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = sha256(&manifest_bytes);
    image.retain(|(p, _)| *p != first_layer && *p != manifest_path);
    image
        .insert(0, (format!("blobs/sha256/{}", manifest_digest.trim_start_matches("sha256:")), manifest_bytes.clone()));
    image.push((format!("blobs/sha256/{}", other_digest.trim_start_matches("sha256:")), other));
    let mut descriptor = layout_manifest(&layout).0;
    descriptor["digest"] = json!(manifest_digest);
    descriptor["size"] = json!(manifest_bytes.len());
    descriptor.as_object_mut().unwrap().remove("annotations");
    let archive = fixture.work.path().join("damaged.tar");
    containerd_archive(&fixture.image, &[(descriptor, image)], &archive, &[]);
    let (target, repository) = fixture.target("damaged");
    let error = zenreg.fails(&[
        "container-registry",
        "push",
        &target,
        "--registry",
        "local",
        "--from",
        &format!("docker-archive:{}", archive.display()),
    ]);
    assert!(error.contains("but the image config lists no such diff id"), "{error}");
    assert_eq!(registry_digest(&fixture.services.registry, &repository, "1", None), None, "nothing is tagged");
}

#[test]
#[ignore = "needs the Docker Engine, registries and skopeo: run the README test command (scripts/test.sh)"]
fn docker_save_and_the_docker_25_classic_shape_push_with_the_source_config() {
    let fixture = Fixture::new("shape-classic");
    let zenreg = daemonless(&fixture.services.registry);
    let id = fixture.id();
    let saved = fixture.save(&[&fixture.image]);
    let docker25 = fixture.work.path().join("docker25.tar");
    docker25_archive(&saved, &docker25);
    for (label, archive) in [("save", &saved), ("docker25", &docker25)] {
        let (target, _) = fixture.target(&format!("classic-{label}"));
        for compression in ["gzip", "zstd"] {
            let out = push_json(
                &zenreg,
                &target,
                &["--from", &format!("docker-archive:{}", archive.display()), "--compression", compression],
            );
            assert_eq!(out["compression"], compression);
            let back = read_back(&target, fixture.work.path());
            // Uncompressed in the archive, compressed by zenreg: the config is the image's.
            check_image(&back, &id);
            for layer in back.manifest["layers"].as_array().unwrap() {
                assert!(layer["mediaType"].as_str().unwrap().ends_with(compression), "{label}: {layer}");
            }
        }
    }
}

#[test]
#[ignore = "needs the Docker Engine, registries and skopeo: run the README test command (scripts/test.sh)"]
fn a_two_platform_index_goes_up_whole_or_one_platform_with_platform() {
    let fixture = Fixture::new("shape-platforms");
    let zenreg = daemonless(&fixture.services.registry);
    let second = format!("{}/{}:src", fixture.services.registry, unique("zenreg-e2e/shape-second"));
    build(&fixture.services, &second, &["/usr/share/doc/bash", "/usr/lib/python3.11/json"]);
    let amd64 = fixture.layout("gzip");
    let arm64 = fixture.work.path().join("layout-arm64");
    skopeo_layout(&fixture.services, &second, &arm64, "gzip");
    let _ = docker(&fixture.services, &["rmi", "-f", &second]);
    let platforms =
        vec![platform_image(&amd64, ("linux", "amd64", None)), platform_image(&arm64, ("linux", "arm64", Some("v8")))];
    let whole = fixture.work.path().join("whole.tar");
    containerd_archive(&fixture.image, &platforms, &whole, &[]);
    let nested = extract(&whole);
    let top = read_json(&nested.path().join("index.json"))["manifests"][0]["digest"].as_str().unwrap().to_string();

    // Every platform is in the archive: the index goes up whole, byte-exact.
    let (target, repository) = fixture.target("platforms-whole");
    let out = push_json(&zenreg, &target, &["--from", &format!("docker-archive:{}", whole.display())]);
    assert_eq!(out["digest"], format!("{}/{repository}@{top}", fixture.services.registry));
    for (platform, layout) in [("linux/amd64", &amd64), ("linux/arm64/v8", &arm64)] {
        let (descriptor, manifest) = layout_manifest(layout);
        let back = read_back(
            &format!("{}/{repository}@{}", fixture.services.registry, descriptor["digest"].as_str().unwrap()),
            fixture.work.path(),
        );
        assert_eq!(back.digest, descriptor["digest"].as_str().unwrap(), "{platform}");
        check_image(&back, manifest["config"]["digest"].as_str().unwrap());
    }

    // One platform asked for: its manifest alone, byte-exact.
    let (target, _) = fixture.target("platforms-one");
    push_json(
        &zenreg,
        &target,
        &["--from", &format!("docker-archive:{}", whole.display()), "--platform", "linux/arm64"],
    );
    let back = read_back(&target, fixture.work.path());
    let (descriptor, manifest) = layout_manifest(&arm64);
    assert_eq!(back.digest, descriptor["digest"].as_str().unwrap());
    check_image(&back, manifest["config"]["digest"].as_str().unwrap());

    // Only one platform's layers in the archive (a pulled image): one line that says which
    // platforms are there and how to choose one.
    let partial = fixture.work.path().join("partial.tar");
    containerd_archive(&fixture.image, &platforms, &partial, &[1]);
    let (target, _) = fixture.target("platforms-partial");
    let from = format!("docker-archive:{}", partial.display());
    let error = zenreg.fails(&["container-registry", "push", &target, "--registry", "local", "--from", &from]);
    assert!(error.contains("--platform") && error.contains("linux/amd64"), "{error}");
    push_json(&zenreg, &target, &["--from", &from, "--platform", "linux/amd64"]);
    let back = read_back(&target, fixture.work.path());
    assert_eq!(back.digest, layout_manifest(&amd64).0["digest"].as_str().unwrap());
    // `--platform` without an archive to choose in is a usage error.
    let usage =
        zenreg.run(&["container-registry", "push", &target, "--registry", "local", "--platform", "linux/amd64"]);
    assert_eq!(usage.status.code(), Some(2), "{}", String::from_utf8_lossy(&usage.stderr));
}

/// Lines of a registry's access log that close a blob upload (`PUT …/blobs/uploads/…?digest=`).
fn closed_uploads(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("\"PUT /v2/") && l.contains("/blobs/uploads/") && l.contains("digest=sha256"))
        .map(str::to_string)
        .collect()
}

#[test]
#[ignore = "needs the Docker Engine, docker-registry and skopeo: run the README test command (scripts/test.sh)"]
fn only_the_chosen_images_layers_leave_an_archive() {
    let fixture = Fixture::new("shape-extra");
    let registry = Registry::start("", "");
    let zenreg = daemonless(&registry.address);
    let other = format!("{}:other", fixture.image.rsplit_once(':').unwrap().0);
    build(&fixture.services, &other, &["/usr/lib/python3.11/xml", "/usr/lib/python3.11/asyncio"]);
    let other_id = {
        let output = docker(&fixture.services, &["image", "inspect", "-f", "{{.Id}}", &other]);
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    let saved = fixture.save(&[&fixture.image, &other]);
    let _ = docker(&fixture.services, &["rmi", "-f", &other]);
    // A 2 MiB entry of a real file that no manifest names.
    let extra_dir = TempDir::new("extra");
    let magic = std::fs::read("/usr/lib/file/magic.mgc").unwrap();
    let extra = &magic[..(2 * 1024 * 1024).min(magic.len())];
    std::fs::write(extra_dir.path().join("notes.bin"), extra).unwrap();
    run(Command::new("tar").arg("-rf").arg(&saved).arg("-C").arg(extra_dir.path()).arg("notes.bin"));
    let docker25 = fixture.work.path().join("two-docker25.tar");
    docker25_archive(&saved, &docker25);
    run(Command::new("tar").arg("-rf").arg(&docker25).arg("-C").arg(extra_dir.path()).arg("notes.bin"));

    let name = fixture.image.clone();
    for (label, archive) in [("save", &saved), ("docker25", &docker25)] {
        let before = closed_uploads(&registry.log()).len();
        let repository = unique(&format!("zenreg-e2e/extra-{label}"));
        let target = format!("{}/{repository}:1", registry.address);
        // Two images: one must be named.
        let from = format!("docker-archive:{}", archive.display());
        let error = zenreg.fails(&["container-registry", "push", &target, "--registry", "local", "--from", &from]);
        assert!(error.contains("several images") && error.contains(&name), "{error}");
        push_json(&zenreg, &target, &["--from", &format!("{from}:{name}")]);
        let log = registry.log();
        let closed = closed_uploads(&log);
        // The chosen image's three layers and its config, nothing else.
        assert_eq!(closed.len() - before, 4, "{label}: {:#?}", &closed[before..]);
        assert!(!log.contains(&sha256(extra)), "{label}: the extra entry went up");
        assert!(!log.contains(&other_id), "{label}: the other image's config went up");
        let back = read_back(&target, fixture.work.path());
        check_image(&back, &fixture.id());
    }

    // The Engine's export of the same archive (a stand-in serves it; the stream is read once):
    // the entries that are not the image's are streamed up but their uploads never closed.
    for (label, archive) in [("save", &saved), ("docker25", &docker25)] {
        let engine = EngineStandIn::start(
            "1.44",
            false,
            &fixture.id(),
            diff_ids_of_image(&fixture),
            std::fs::read(archive).unwrap(),
        );
        let through_engine = Zenreg { home: TempDir::new("home"), docker_host: engine.host() };
        std::fs::create_dir_all(through_engine.home.path().join("docker")).unwrap();
        through_engine.register("local", &registry.address);
        let before = closed_uploads(&registry.log()).len();
        let target = format!("{}/{}:1", registry.address, unique(&format!("zenreg-e2e/extra-engine-{label}")));
        assert_eq!(push_json(&through_engine, &target, &[])["engine"], "oci");
        let log = registry.log();
        let closed = closed_uploads(&log);
        assert_eq!(closed.len() - before, 4, "engine {label}: {:#?}", &closed[before..]);
        assert!(!log.contains(&other_id), "engine {label}: the other image's config went up");
        check_image(&read_back(&target, fixture.work.path()), &fixture.id());
    }
}

/// Runs `command`, killed after `limit` (a hang fails the test instead of hanging it).
fn run_with_timeout(mut command: Command, limit: Duration) -> std::process::Output {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!("zenreg still ran after {limit:?}: {}", String::from_utf8_lossy(&output.stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "needs docker-registry: run the README test command (scripts/test.sh)"]
fn layout_files_that_are_a_fifo_or_a_device_are_refused_at_once() {
    let registry = Registry::start("", "");
    let zenreg = daemonless(&registry.address);
    let work = TempDir::new("fifo");
    let roots = [Path::new("/usr/share/doc/bash"), Path::new("/usr/lib/python3.11/json")];
    type PathOf = fn(&Layout) -> PathBuf;
    let cases: [(&str, PathOf); 4] = [
        ("index.json", |l| l.dir.join("index.json")),
        ("manifest", |l| l.blob(&l.manifest)),
        ("layer", |l| l.blob(&l.layers[0].0)),
        ("index.json again", |l| l.dir.join("index.json")),
    ];
    for (n, (what, path_of)) in cases.iter().enumerate() {
        let layout = Layout::write(&work.path().join(format!("layout-{n}")), &roots);
        let path = path_of(&layout);
        std::fs::remove_file(&path).unwrap();
        // Half the cases a FIFO (that nobody writes: reading it would hang), half a link to
        // /dev/zero (reading it would never end).
        let fifo = n % 2 == 0;
        if fifo {
            run(Command::new("mkfifo").arg(&path));
        } else {
            std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        }
        let target = format!("{}/{}:1", registry.address, unique("zenreg-e2e/fifo"));
        let command =
            zenreg.command(&["container-registry", "push", &target, "--registry", "local", "--from", &layout.from()]);
        let output = run_with_timeout(command, Duration::from_secs(60));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{what}: {stderr}");
        assert!(
            stderr.contains("is not a regular file"),
            "{what} ({}): {stderr}",
            if fifo { "FIFO" } else { "/dev/zero" }
        );
    }
    // A valid index.json padded past the 4 MiB a registry takes for an index is not read.
    let layout = Layout::write(&work.path().join("layout-large"), &roots);
    let mut index = std::fs::read(layout.dir.join("index.json")).unwrap();
    index.extend(std::iter::repeat_n(b' ', 5 * 1024 * 1024));
    std::fs::write(layout.dir.join("index.json"), index).unwrap();
    let target = format!("{}/{}:1", registry.address, unique("zenreg-e2e/large-index"));
    let error = zenreg.fails(&["container-registry", "push", &target, "--registry", "local", "--from", &layout.from()]);
    assert!(error.contains("index.json is larger than"), "{error}");
}

/// A stand-in of the Docker Engine API on a unix socket: it answers `/_ping`, `/version`,
/// `/info` (the image store it claims), `/images/{name}/json`, `/images/{name}/get` (the
/// archive given) and records a `/images/{name}/push` (answering with a digest line).
struct EngineStandIn {
    socket: PathBuf,
    requests: Arc<Mutex<Vec<String>>>,
    _dir: TempDir,
}

impl EngineStandIn {
    /// `api` is the API version it speaks (`1.44`: Docker 25).
    fn start(api: &str, containerd: bool, id: &str, diff_ids: Vec<String>, archive: Vec<u8>) -> EngineStandIn {
        let dir = TempDir::new("engine");
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let driver_status = if containerd {
            json!([["driver-type", "io.containerd.snapshotter.v1"]])
        } else {
            json!([["Backing Filesystem", "extfs"], ["Supports d_type", "true"]])
        };
        let state = Arc::new((api.to_string(), driver_status, id.to_string(), diff_ids, archive));
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (state, log) = (Arc::clone(&state), Arc::clone(&log));
                std::thread::spawn(move || serve(stream, &state, &log));
            }
        });
        EngineStandIn { socket, requests, _dir: dir }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

type State = (String, Value, String, Vec<String>, Vec<u8>);

fn serve(stream: std::os::unix::net::UnixStream, state: &State, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        log.lock().unwrap().push(format!("{method} {target}"));
        let path = target.split('?').next().unwrap_or("");
        // `/v1.44/images/…` → `/images/…`.
        let path = match path.strip_prefix("/v1.") {
            Some(rest) => rest.split_once('/').map_or(path.to_string(), |(_, p)| format!("/{p}")),
            None => path.to_string(),
        };
        let (api, driver_status, id, diff_ids, archive) = state;
        let (status, content_type, body): (&str, &str, Vec<u8>) = if path == "/_ping" {
            ("200 OK", "text/plain", b"OK".to_vec())
        } else if path == "/version" {
            (
                "200 OK",
                "application/json",
                json!({"ApiVersion": api, "Version": "stand-in", "MinAPIVersion": "1.24"}).to_string().into_bytes(),
            )
        } else if path == "/info" {
            (
                "200 OK",
                "application/json",
                json!({"Driver": "overlayfs", "DriverStatus": driver_status}).to_string().into_bytes(),
            )
        } else if path.starts_with("/images/") && path.ends_with("/json") {
            let size: usize = archive.len();
            let inspect = json!({"Id": id, "RepoTags": [], "RepoDigests": [], "Size": size, "RootFS": {"Type": "layers", "Layers": diff_ids}});
            ("200 OK", "application/json", inspect.to_string().into_bytes())
        } else if path.starts_with("/images/") && path.ends_with("/get") {
            ("200 OK", "application/x-tar", archive.clone())
        } else if path.starts_with("/images/") && path.ends_with("/push") {
            let line = json!({"status": "1: digest: sha256:0000000000000000000000000000000000000000000000000000000000000000 size: 528"});
            ("200 OK", "application/json", format!("{line}\n").into_bytes())
        } else {
            (
                "404 Not Found",
                "application/json",
                json!({"message": format!("no such endpoint {path}")}).to_string().into_bytes(),
            )
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nApi-Version: {api}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(&body)).is_err() {
            return;
        }
    }
}

#[test]
#[ignore = "needs the Docker Engine, registries and skopeo: run the README test command (scripts/test.sh)"]
fn the_engine_export_of_a_containerd_store_daemon_goes_up_byte_exact_and_the_default_is_the_engines_push() {
    let fixture = Fixture::new("shape-engine");
    let layout = fixture.layout("gzip");
    let (descriptor, manifest) = layout_manifest(&layout);
    let config = std::fs::read(blob(&layout, manifest["config"]["digest"].as_str().unwrap())).unwrap();
    let config: Value = serde_json::from_slice(&config).unwrap();
    let diff_ids: Vec<String> =
        config["rootfs"]["diff_ids"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()).collect();
    let archive = fixture.work.path().join("export.tar");
    let (target, repository) = fixture.target("engine");
    containerd_archive(&target, &[platform_image(&layout, ("linux", "amd64", None))], &archive, &[]);
    let exported = extract(&archive);
    // On the containerd store, the image id is the digest of what `index.json` names.
    let id = read_json(&exported.path().join("index.json"))["manifests"][0]["digest"].as_str().unwrap().to_string();
    let engine = EngineStandIn::start("1.44", true, &id, diff_ids.clone(), std::fs::read(&archive).unwrap());
    let zenreg = Zenreg { home: TempDir::new("home"), docker_host: engine.host() };
    std::fs::create_dir_all(zenreg.home.path().join("docker")).unwrap();
    zenreg.register("local", &fixture.services.registry);

    // `--engine oci`: the export, streamed; the compressed layers and the manifest byte-exact.
    let out = push_json(&zenreg, &target, &["--engine", "oci"]);
    let source_manifest = descriptor["digest"].as_str().unwrap();
    assert_eq!(out["digest"], format!("{}/{repository}@{source_manifest}", fixture.services.registry));
    assert!(engine.requests().iter().any(|r| r.starts_with("GET") && r.ends_with("/get")), "{:?}", engine.requests());
    let back = read_back(&target, fixture.work.path());
    assert_eq!(back.digest, source_manifest);
    check_image(&back, manifest["config"]["digest"].as_str().unwrap());

    // Warm: the image id is the index's digest, not the config's; the cache knows the manifest
    // pushed for it, so nothing is exported or uploaded, and the digest stays.
    let exports = |engine: &EngineStandIn| engine.requests().iter().filter(|r| r.ends_with("/get")).count();
    let before = exports(&engine);
    let again = push_json(&zenreg, &target, &["--engine", "oci"]);
    assert_eq!(again["digest"], out["digest"]);
    assert_eq!(again["bytes_uploaded"], 0, "{again}");
    assert_eq!(exports(&engine), before, "a warm push exported the image again");
    // Another repository of the registry: the blobs are mounted, the manifest is the same.
    let elsewhere = format!("{}/{}:1", fixture.services.registry, unique("zenreg-e2e/engine-mounted"));
    let mounted = push_json(&zenreg, &elsewhere, &["--engine", "oci"]);
    assert!(mounted["digest"].as_str().unwrap().ends_with(source_manifest), "{mounted}");
    assert_eq!(mounted["bytes_uploaded"], 0, "{mounted}");
    assert_eq!(exports(&engine), before, "a mount exported the image again");

    // The default on a containerd-store daemon: the Engine's own push (its layers are
    // compressed already, so `docker push` only uploads them).
    let out = push_json(&zenreg, &target, &[]);
    assert_eq!(out["engine"], "docker", "{out}");
    assert!(engine.requests().iter().any(|r| r.starts_with("POST") && r.contains("/push")), "{:?}", engine.requests());

    // A classic-store daemon keeps zenreg's engine by default, through the export.
    let saved = fixture.save(&[&fixture.image]);
    let classic_id = fixture.id();
    let classic =
        EngineStandIn::start("1.44", false, &classic_id, diff_ids_of_image(&fixture), std::fs::read(&saved).unwrap());
    let zenreg = Zenreg { home: TempDir::new("home"), docker_host: classic.host() };
    std::fs::create_dir_all(zenreg.home.path().join("docker")).unwrap();
    zenreg.register("local", &fixture.services.registry);
    let (target, _) = fixture.target("engine-classic");
    let out = push_json(&zenreg, &target, &[]);
    assert_eq!(out["engine"], "oci", "{out}");
    assert!(classic.requests().iter().any(|r| r.ends_with("/get")), "{:?}", classic.requests());
    check_image(&read_back(&target, fixture.work.path()), &classic_id);

    // A daemon older than Docker 24 (API 1.43) has no containerd store: it is not asked.
    let old =
        EngineStandIn::start("1.41", true, &classic_id, diff_ids_of_image(&fixture), std::fs::read(&saved).unwrap());
    let zenreg = Zenreg { home: TempDir::new("home"), docker_host: old.host() };
    std::fs::create_dir_all(zenreg.home.path().join("docker")).unwrap();
    zenreg.register("local", &fixture.services.registry);
    let (target, _) = fixture.target("engine-old");
    assert_eq!(push_json(&zenreg, &target, &[])["engine"], "oci");
    assert!(!old.requests().iter().any(|r| r.contains("/info")), "{:?}", old.requests());
}

fn diff_ids_of_image(fixture: &Fixture) -> Vec<String> {
    let output = docker(&fixture.services, &["image", "inspect", "-f", "{{json .RootFS.Layers}}", &fixture.image]);
    serde_json::from_slice(&output.stdout).unwrap()
}
