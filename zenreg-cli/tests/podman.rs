//! `zenreg container-registry push` against Podman's Docker-compatible API (`podman system
//! service`, started by `scripts/services.sh` as the `podman` service), with both engines:
//! the OCI engine reading Podman's image export, and `--engine docker` asking Podman to push.
//! Podman reaches a plain-HTTP registry only when its `registries.conf` marks it `insecure =
//! true`; the service's own file marks the open registry so and nothing else.

mod e2e;
#[path = "push_oci/spawned.rs"]
#[allow(dead_code)]
mod spawned;

use e2e::{Services, TempDir, Zenreg, registry_digest, unique};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

/// The Podman service's API socket, with the open registry the tests push to.
struct Podman {
    host: String,
    services: Services,
}

impl Podman {
    /// The running Podman service; its absence fails the test with what to run.
    fn require() -> Podman {
        let services = Services::require();
        let host = std::env::var("ZENREG_PODMAN_HOST").ok().filter(|h| !h.is_empty());
        let podman = host.map(|host| Podman { host, services });
        match podman {
            Some(podman) if podman.docker(&["version", "--format", "{{.Server.Version}}"]).status.success() => podman,
            _ => panic!(
                "the Podman API service is not running (ZENREG_E2E={}): run \
                 `eval \"$(scripts/services.sh start)\"` first, or the README test command",
                std::env::var("ZENREG_E2E").unwrap_or_default()
            ),
        }
    }

    /// The docker CLI against Podman's socket (Podman serves the Docker API).
    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", std::env::temp_dir().join("zenreg-e2e-empty-docker-config"))
            .stdin(Stdio::null())
            .output()
            .expect("the docker CLI runs")
    }

    /// A zenreg whose Docker Engine is Podman.
    fn zenreg(&self) -> Zenreg {
        let mut zenreg = Zenreg::new(&self.services);
        zenreg.docker_host = self.host.clone();
        zenreg
    }

    /// Builds `name` in Podman from real files: two layers (Podman's own documentation and a
    /// piece of Python's standard library), and a third file unique to the image.
    fn build(&self, name: &str) {
        let dir = TempDir::new("podman-build");
        copy_tree(Path::new("/usr/share/doc/podman"), &dir.path().join("doc"));
        copy_tree(Path::new("/usr/share/doc/skopeo"), &dir.path().join("skopeo"));
        std::fs::write(dir.path().join("name"), name).unwrap();
        std::fs::write(
            dir.path().join("Dockerfile"),
            "FROM scratch\nCOPY doc /doc\nCOPY skopeo /skopeo\nCOPY name /name\n",
        )
        .unwrap();
        let output = self.docker(&["build", "--no-cache", "-q", "-t", name, dir.path().to_str().unwrap()]);
        assert!(output.status.success(), "build through Podman failed: {}", String::from_utf8_lossy(&output.stderr));
    }

    /// The image's diff ids as Podman lists them.
    fn diff_ids(&self, name: &str) -> Vec<String> {
        let output = self.docker(&["image", "inspect", "--format", "{{json .RootFS.Layers}}", name]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

/// Copies a directory of real files (regular files and folders; links are skipped).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Reads `registry/repository:tag` back with skopeo (a client of its own) into a `dir:` copy and
/// returns its config's diff ids after checking that every layer decompresses to its diff id.
fn read_back(registry: &str, repository: &str, tag: &str) -> Vec<String> {
    let dir = TempDir::new("podman-readback");
    let copy = dir.path().join("copy");
    let output = Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false", &format!("docker://{registry}/{repository}:{tag}")])
        .arg(format!("dir:{}", copy.display()))
        .output()
        .expect("skopeo runs");
    assert!(output.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&output.stderr));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copy.join("manifest.json")).unwrap()).unwrap();
    let hex = |digest: &str| digest.trim_start_matches("sha256:").to_string();
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copy.join(hex(config_digest))).unwrap()).unwrap();
    let diff_ids: Vec<String> = serde_json::from_value(config["rootfs"]["diff_ids"].clone()).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), diff_ids.len(), "{manifest}");
    for (layer, diff_id) in layers.iter().zip(&diff_ids) {
        let blob = std::fs::read(copy.join(hex(layer["digest"].as_str().unwrap()))).unwrap();
        let mut tar = Vec::new();
        if layer["mediaType"].as_str().unwrap().ends_with("gzip") {
            flate2::read::MultiGzDecoder::new(&blob[..]).read_to_end(&mut tar).unwrap();
        } else {
            tar = blob;
        }
        assert_eq!(&format!("sha256:{}", spawned::sha256_hex_bytes(&tar)), diff_id, "layer {layer}");
    }
    diff_ids
}

#[test]
#[ignore = "needs Podman's API service, the registries and skopeo: run the README test command (scripts/test.sh)"]
fn the_default_engine_pushes_an_image_podman_built() {
    let podman = Podman::require();
    let zenreg = podman.zenreg();
    zenreg.register("local", &podman.services.registry);
    let repository = unique("zenreg-e2e/podman-oci");
    let image = format!("{}/{repository}:1", podman.services.registry);
    podman.build(&image);

    let pushed = zenreg.ok(&["container-registry", "push", &image, "--registry", "local", "--output", "json"]);
    let pushed: serde_json::Value = serde_json::from_str(&pushed).unwrap();
    assert_eq!(pushed["engine"], "oci", "{pushed}");
    let served = registry_digest(&podman.services.registry, &repository, "1", None).unwrap();
    assert_eq!(pushed["digest"], format!("{}/{repository}@{served}", podman.services.registry));
    assert_eq!(read_back(&podman.services.registry, &repository, "1"), podman.diff_ids(&image));

    // Again: every layer is known, nothing is uploaded, the digest stays.
    let again = zenreg.ok(&["container-registry", "push", &image, "--registry", "local", "--output", "json"]);
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["digest"], pushed["digest"]);
    assert_eq!(again["bytes_uploaded"], 0, "{again}");
}

#[test]
#[ignore = "needs Podman's API service, the registries and skopeo: run the README test command (scripts/test.sh)"]
fn podman_pushes_through_the_docker_engine_path_to_a_registry_marked_insecure() {
    let podman = Podman::require();
    let zenreg = podman.zenreg();
    zenreg.register("local", &podman.services.registry);
    let repository = unique("zenreg-e2e/podman-engine");
    let image = format!("{}/{repository}:1", podman.services.registry);
    podman.build(&image);

    let pushed = zenreg.ok(&["container-registry", "push", &image, "--registry", "local", "--engine", "docker"]);
    let served = registry_digest(&podman.services.registry, &repository, "1", None).unwrap();
    assert_eq!(pushed.trim(), format!("{}/{repository}@{served}", podman.services.registry));
    assert_eq!(read_back(&podman.services.registry, &repository, "1"), podman.diff_ids(&image));
}

#[test]
#[ignore = "needs Podman's API service, the registries and skopeo: run the README test command (scripts/test.sh)"]
fn podman_refusing_a_plain_http_registry_gets_a_hint_naming_registries_conf() {
    let podman = Podman::require();
    // A registry of the test's own: Podman's registries.conf does not mark it insecure.
    let registry = spawned::Registry::start("", "");
    let zenreg = podman.zenreg();
    zenreg.register("plain", &registry.address);
    let image = format!("{}/{}:1", registry.address, unique("zenreg-e2e/podman-https"));
    podman.build(&image);

    let output = zenreg.run(&["container-registry", "push", &image, "--registry", "plain", "--engine", "docker"]);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    let hint = stderr.lines().find(|l| l.starts_with("hint: ")).unwrap_or_else(|| panic!("no hint: {stderr}"));
    assert!(hint.contains("registries.conf") && hint.contains("insecure = true"), "{hint}");
    assert!(hint.contains(&registry.address), "{hint}");
    assert!(hint.contains("--engine oci"), "{hint}");

    // The default engine speaks plain HTTP to a loopback registry itself: the same image lands.
    zenreg.ok(&["container-registry", "push", &image, "--registry", "plain"]);
}
