//! The config crate stays light: its normal and build dependencies hold no store, command line,
//! Docker client, async runtime, AWS SDK or implementation, so every binary can link it cheaply.
//! Read from `cargo metadata`, so a dependency added anywhere below it is caught.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// What the config crate must never pull in.
const HEAVY: &[&str] = &[
    "rusqlite",
    "libsqlite3-sys",
    "clap",
    "comfy-table",
    "bollard",
    "tokio",
    "hyper",
    "rpassword",
    "zenreg-store",
    "zenreg-push",
    "zenreg-cli",
    "{{kebab}}-impl",
];

/// Names of every package that `name` needs to build (itself excluded), dev-dependencies aside.
fn closure(name: &str) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let names: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in metadata["resolve"]["nodes"].as_array().expect("a resolved graph") {
        let deps = node["deps"].as_array().unwrap().iter().filter(|dep| {
            // Dev-dependencies never reach a user of the crate; normal and build ones do.
            dep["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null() || k["kind"] == "build")
        });
        edges.insert(node["id"].as_str().unwrap(), deps.map(|d| d["pkg"].as_str().unwrap()).collect());
    }
    let root = names.iter().find(|(_, n)| **n == name).map(|(id, _)| *id).expect(name);
    let mut seen = BTreeSet::new();
    let mut todo = vec![root];
    while let Some(id) = todo.pop() {
        for dep in edges.get(id).into_iter().flatten() {
            if seen.insert(*dep) {
                todo.push(dep);
            }
        }
    }
    seen.into_iter().map(|id| names[id].to_string()).collect()
}

#[test]
fn the_config_crate_depends_on_zenreg_core_alone() {
    let closure = closure("{{kebab}}-config");
    assert!(closure.contains("zenreg-core"), "{closure:?}");
    let heavy: Vec<&String> = closure.iter().filter(|d| HEAVY.contains(&d.as_str()) || d.starts_with("aws-")).collect();
    assert!(heavy.is_empty(), "{{kebab}}-config depends on {heavy:?}");
}
