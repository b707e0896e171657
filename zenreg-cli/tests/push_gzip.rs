//! The gzip layers zenreg's OCI engine writes, read back from a real registry: each is one gzip
//! member, so a reader that stops after the first member (Rust's `flate2::read::GzDecoder`,
//! among others) sees the whole layer, and `gzip -t` finds nothing wrong. Layers of several
//! compression blocks (2 MiB each) are what this is about: the image has one of about 6 MB.

mod e2e;

use e2e::{LocalPush, TempDir, docker};
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

#[test]
#[ignore = "needs the Docker Engine and registries: run the README test command (scripts/test.sh)"]
fn every_gzip_layer_is_one_member_that_gzip_checks() {
    let LocalPush { services, zenreg, repository, image } = LocalPush::new("zenreg-e2e/gzip", "1");
    // Real files: a small layer of docs, and Python's standard library modules (several MB,
    // so several compression blocks).
    let context = TempDir::new("gzip-image");
    copy_dir(Path::new("/usr/share/doc/bash"), &context.path().join("doc"));
    std::fs::create_dir_all(context.path().join("py")).unwrap();
    for module in ["email", "asyncio", "unittest", "pydoc_data", "encodings", "distutils"] {
        copy_dir(&Path::new("/usr/lib/python3.11").join(module), &context.path().join("py").join(module));
    }
    std::fs::write(context.path().join("Dockerfile"), "FROM scratch\nCOPY doc /doc\nCOPY py /py\n").unwrap();
    let output = docker(&services, &["build", "-q", "-t", &image, context.path().to_str().unwrap()]);
    assert!(output.status.success(), "docker build: {}", String::from_utf8_lossy(&output.stderr));

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
