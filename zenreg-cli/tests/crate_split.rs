//! The config/implementation split is a crate boundary: the AWS config crate must not pull in
//! any AWS SDK crate, while the implementation crate does.

use std::process::Command;

fn normal_dependencies(package: &str) -> Vec<String> {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--package", package, "--edges", "normal,build", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(String::from))
        .collect()
}

#[test]
fn the_aws_config_crate_has_no_aws_dependency() {
    let dependencies = normal_dependencies("zenreg-aws-config");
    assert!(dependencies.iter().any(|d| d == "zenreg-core"), "{dependencies:?}");
    let aws: Vec<&String> = dependencies.iter().filter(|d| d.starts_with("aws-")).collect();
    assert!(aws.is_empty(), "zenreg-aws-config depends on {aws:?}");
}

#[test]
fn the_aws_implementation_crate_has_the_sdk() {
    let dependencies = normal_dependencies("zenreg-aws");
    assert!(dependencies.iter().any(|d| d == "aws-sdk-ecr"), "{dependencies:?}");
    assert!(dependencies.iter().any(|d| d == "zenreg-aws-config"));
}
