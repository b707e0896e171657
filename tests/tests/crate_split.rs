//! The flavor SDK stays light, proven from `cargo metadata`: a config crate (and any downstream
//! flavor crate that depends on zenreg-core alone) builds without the store, the command line,
//! Docker, an async runtime, the AWS SDK or a C compiler; the implementation crate has the SDK,
//! on the workspace's one TLS stack (rustls on ring) and one hyper.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// What a flavor's config crate must never pull in (as normal or build dependencies).
const HEAVY: &[&str] =
    &["rusqlite", "libsqlite3-sys", "clap", "comfy-table", "bollard", "tokio", "hyper", "rpassword", "indicatif"];

/// The workspace's resolved dependency graph: package id → (name, normal and build deps).
struct Graph {
    names: BTreeMap<String, String>,
    edges: BTreeMap<String, Vec<String>>,
}

impl Graph {
    fn load() -> Graph {
        let output = Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1", "--locked"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo metadata runs");
        assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
        let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
        let names = metadata["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .map(|p| (p["id"].as_str().unwrap().to_string(), p["name"].as_str().unwrap().to_string()))
            .collect();
        let mut edges = BTreeMap::new();
        for node in metadata["resolve"]["nodes"].as_array().expect("a resolved graph") {
            let deps = node["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|dep| {
                    // Dev-dependencies do not reach a user of the crate; normal and build ones do.
                    dep["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null() || k["kind"] == "build")
                })
                .map(|dep| dep["pkg"].as_str().unwrap().to_string())
                .collect();
            edges.insert(node["id"].as_str().unwrap().to_string(), deps);
        }
        Graph { names, edges }
    }

    /// Names of every package `name` needs to build (itself excluded).
    fn closure(&self, name: &str) -> BTreeSet<String> {
        self.closure_ids(name).iter().map(|id| self.names[id].clone()).collect()
    }

    /// Package ids (name and version) of every package `name` needs to build (itself excluded).
    fn closure_ids(&self, name: &str) -> BTreeSet<String> {
        let root = self.names.iter().find(|(_, n)| *n == name).map(|(id, _)| id.clone()).expect(name);
        let mut seen = BTreeSet::new();
        let mut todo = vec![root.clone()];
        while let Some(id) = todo.pop() {
            for dep in self.edges.get(&id).into_iter().flatten() {
                if seen.insert(dep.clone()) {
                    todo.push(dep.clone());
                }
            }
        }
        seen
    }
}

fn assert_light(graph: &Graph, name: &str) -> BTreeSet<String> {
    let closure = graph.closure(name);
    let heavy: Vec<&String> =
        closure.iter().filter(|d| HEAVY.contains(&d.as_str()) || d.starts_with("aws-") || *d == "cc").collect();
    assert!(heavy.is_empty(), "{name} depends on {heavy:?} ({} crates in all)", closure.len());
    let zenreg: Vec<&String> = closure.iter().filter(|d| d.starts_with("zenreg-")).collect();
    assert!(
        zenreg.iter().all(|d| ["zenreg-core", "zenreg-derive"].contains(&d.as_str())),
        "{name} depends on {zenreg:?}: a flavor crate needs zenreg-core alone"
    );
    closure
}

#[test]
fn the_aws_config_crate_is_light() {
    let graph = Graph::load();
    let closure = assert_light(&graph, "zenreg-aws-config");
    assert!(closure.contains("zenreg-core"));
    // The budget for the flavor SDK, `cargo tree -p zenreg-aws-config -e normal` included:
    // 70, plus secrecy and zeroize (issue 21: `Credentials` holds its password as a
    // `SecretString`; two small crates without build scripts or dependencies of their own).
    assert!(closure.len() <= 72, "zenreg-aws-config needs {} crates: {closure:?}", closure.len());
}

#[test]
fn a_downstream_flavor_crate_is_light() {
    assert_light(&Graph::load(), "zenreg-acme");
}

#[test]
fn the_flavor_sdk_itself_is_light() {
    assert_light(&Graph::load(), "zenreg-core");
}

#[test]
fn the_aws_implementation_crate_has_the_sdk() {
    let closure = Graph::load().closure("zenreg-aws");
    assert!(closure.contains("aws-sdk-ecr"), "{closure:?}");
    assert!(closure.contains("zenreg-aws-config"));
}

/// Packages the `aws` build must not bring back: aws-lc-rs compiles C through cmake on every clean
/// build, and the SDK's default HTTPS client is what pulls it in.
const NOT_IN_THE_AWS_BUILD: &[&str] = &["aws-lc-rs", "aws-lc-sys", "aws-lc-fips-sys", "cmake"];

#[test]
fn the_aws_build_has_one_tls_stack_on_ring_and_no_cmake() {
    let graph = Graph::load();
    // `zenreg --features aws` is zenreg-cli plus zenreg-aws.
    let ids: BTreeSet<String> =
        graph.closure_ids("zenreg-cli").into_iter().chain(graph.closure_ids("zenreg-aws")).collect();
    let names: Vec<&str> = ids.iter().map(|id| graph.names[id].as_str()).collect();
    let unwanted: Vec<&&str> = names.iter().filter(|n| NOT_IN_THE_AWS_BUILD.contains(n)).collect();
    assert!(unwanted.is_empty(), "the aws build depends on {unwanted:?}: choose the AWS SDK's features again");
    assert!(names.contains(&"ring"), "rustls's provider is ring");
    for one in ["rustls", "hyper", "h2", "hyper-rustls", "tokio-rustls", "http"] {
        let versions: Vec<&String> = ids.iter().filter(|id| graph.names[*id] == one).collect();
        assert_eq!(versions.len(), 1, "the aws build has {} versions of {one}: {versions:?}", versions.len());
    }
}

#[test]
fn the_store_and_push_layers_point_down_only() {
    let graph = Graph::load();
    let store = graph.closure("zenreg-store");
    assert!(store.contains("zenreg-core") && store.contains("rusqlite"));
    for upper in ["zenreg-push", "zenreg-cli", "bollard", "clap"] {
        assert!(!store.contains(upper), "zenreg-store depends on {upper}");
    }
    let push = graph.closure("zenreg-push");
    assert!(push.contains("zenreg-store") && push.contains("bollard"));
    for upper in ["zenreg-cli", "clap", "comfy-table", "rpassword"] {
        assert!(!push.contains(upper), "zenreg-push depends on {upper}");
    }
}
