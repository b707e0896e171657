//! `zenreg flavor list|describe` as a user runs them, in whichever build this test is compiled
//! with: the default build (AWS implementation not linked) or `--features aws`.

use serde_json::Value;
use std::collections::BTreeSet;
use std::process::{Command, Output};

const AWS_LINKED: bool = cfg!(feature = "aws");

fn zenreg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zenreg"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("the zenreg binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}

fn json(args: &[&str]) -> Value {
    let output = zenreg(args);
    assert!(output.status.success(), "{args:?} failed: {}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("valid JSON on stdout")
}

#[test]
fn flavor_list_json_lists_exactly_the_shipped_flavors() {
    let list = json(&["flavor", "list", "--output", "json"]);
    let flavors = list.as_array().expect("an array");
    let names: Vec<&str> = flavors.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["aws", "azure", "default", "digitalocean", "dockerhub", "gcp", "github"]);
    for flavor in flavors {
        let name = flavor["name"].as_str().unwrap();
        assert_eq!(flavor["component_type"], "container_registry", "{name}");
        assert_eq!(flavor["resource_type"], "docker-registry", "{name}");
        for key in ["integration", "source", "implementation", "feature"] {
            assert!(flavor[key].is_string(), "{name}: {key} = {}", flavor[key]);
        }
        let expected_linked = name != "aws" || AWS_LINKED;
        assert_eq!(flavor["implementation_linked"], expected_linked, "{name}");
    }
    let aws = &flavors[0];
    assert_eq!(aws["integration"], "zenreg-aws-config");
    assert_eq!(aws["source"], "zenreg_aws_config::AwsContainerRegistryFlavor");
    assert_eq!(aws["implementation"], "zenreg_aws::AwsContainerRegistry");
    assert_eq!(aws["feature"], "aws");
    assert_eq!(aws["connector_type"], "aws");
    let connectors: Vec<(&str, &Value)> =
        flavors.iter().map(|f| (f["name"].as_str().unwrap(), &f["connector_type"])).collect();
    assert_eq!(
        connectors,
        [
            ("aws", &Value::from("aws")),
            ("azure", &Value::from("azure")),
            ("default", &Value::Null),
            ("digitalocean", &Value::Null),
            ("dockerhub", &Value::from("docker")),
            ("gcp", &Value::from("gcp")),
            ("github", &Value::Null),
        ]
    );
}

#[test]
fn flavor_list_table_shows_what_links_each_implementation() {
    let output = zenreg(&["flavor", "list"]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(!text.contains('\u{1b}'), "no colour off a terminal");
    let header = text.lines().next().unwrap();
    for column in ["FLAVOR", "INTEGRATION", "SOURCE", "IMPLEMENTATION", "CONNECTOR TYPE", "RESOURCE TYPE"] {
        assert!(header.contains(column), "{header}");
    }
    let aws = text.lines().find(|l| l.trim_start().starts_with("aws ")).unwrap();
    if AWS_LINKED {
        assert!(aws.contains("linked") && !aws.contains("not linked"), "{aws}");
    } else {
        assert!(aws.contains("not linked (feature `aws`)"), "{aws}");
    }
    assert_eq!(text.lines().count(), 8);
    assert!(stderr(&output).is_empty());
    // The same command is also spelled under `container-registry`.
    assert_eq!(stdout(&zenreg(&["container-registry", "flavor", "list"])), text);
}

#[test]
fn flavor_describe_shows_the_config_schema() {
    let output = zenreg(&["flavor", "describe", "aws"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with("Flavor aws (container_registry): AWS\n"), "{text}");
    let uri = text.lines().find(|l| l.trim_start().starts_with("uri ")).unwrap();
    assert!(uri.contains("string") && uri.contains("yes") && uri.contains("12-digit account id"), "{uri}");
    let secret = text.lines().find(|l| l.trim_start().starts_with("authentication_secret ")).unwrap();
    assert!(secret.contains(" no "), "{secret}");
    let expected = if AWS_LINKED { "(linked)" } else { "not linked: build with `--features aws`" };
    assert!(text.contains(expected), "{text}");

    let described = json(&["flavor", "describe", "digitalocean", "--output", "json"]);
    assert_eq!(described["name"], "digitalocean");
    let properties: Vec<(&str, &str, bool)> = described["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["type"].as_str().unwrap(), p["required"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        properties,
        [("uri", "string", true), ("authentication_secret", "string", false), ("default_repository", "string", false)]
    );
    assert_eq!(described["config_schema"]["additionalProperties"], false);
}

#[test]
fn an_unknown_flavor_is_a_one_line_error_listing_the_known_ones() {
    let output = zenreg(&["flavor", "describe", "awz"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let text = stderr(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "error: unknown container_registry flavor `awz`; known flavors: aws, azure, default, digitalocean, dockerhub, gcp, github"
    );
    assert_eq!(lines[1], "hint: run `zenreg flavor list` to see every flavor linked into this binary");
    assert_eq!(lines.len(), 2);
}

#[test]
fn usage_errors_exit_with_two() {
    let output = zenreg(&["flavor", "lst"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("unrecognized subcommand 'lst'"));
    let output = zenreg(&["flavor", "list", "--output", "yaml"]);
    assert_eq!(output.status.code(), Some(2));
}

/// `inventory` drops a crate the binary never names: every flavor crate zenreg-cli depends on
/// (in this build's features) must show up in `flavor list` as a flavor or an implementation.
/// Flavor crates say what they are in their manifest (`[package.metadata.zenreg] flavor-crate`);
/// `cargo metadata` tells which of them zenreg-cli depends on.
#[test]
fn every_flavor_dependency_is_linked() {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    let is_flavor_crate =
        |name: &str| packages.iter().any(|p| p["name"] == name && p["metadata"]["zenreg"]["flavor-crate"] == true);
    let cli = packages.iter().find(|p| p["name"] == "zenreg-cli").expect("zenreg-cli in the workspace");
    let mut expected = BTreeSet::new();
    for dependency in cli["dependencies"].as_array().unwrap() {
        let name = dependency["name"].as_str().unwrap();
        let normal = dependency["kind"].is_null();
        // An optional dependency is linked only when its feature is on in this build.
        let enabled = dependency["optional"] != true || (name == "zenreg-aws" && AWS_LINKED);
        if normal && enabled && is_flavor_crate(name) {
            expected.insert(name.to_string());
        }
    }
    assert!(expected.contains("zenreg-aws-config"), "{expected:?}");
    assert_eq!(expected.contains("zenreg-aws"), AWS_LINKED);
    let list = json(&["flavor", "list", "--output", "json"]);
    let mut linked = BTreeSet::new();
    for flavor in list.as_array().unwrap() {
        linked.insert(flavor["integration"].as_str().unwrap().to_string());
        if let Some(implementation) = flavor["implementation_integration"].as_str() {
            linked.insert(implementation.to_string());
        }
    }
    let missing: Vec<&String> = expected.difference(&linked).collect();
    assert!(missing.is_empty(), "flavor crates not linked into zenreg: {missing:?}; name them in main.rs");
}
