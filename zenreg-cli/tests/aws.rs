//! The `aws` flavor end to end, in the build with `--features aws`: the `zenreg` binary talks to
//! a real ECR API (moto_server) and pushes into a registry standing in for ECR's data plane, all
//! on loopback and started by `scripts/services.sh` (services `docker`, `registry`, `moto`, `ecr`).
//!
//! Every zenreg run here gets static test credentials, an endpoint pointing at moto, no AWS config
//! files and no instance metadata, so real AWS is never contacted. The default build's side (the
//! push fails naming the feature) is tested in `push.rs`.

#![cfg(feature = "aws")]

mod e2e;

use e2e::{Aws, Services, TempDir, Zenreg, build_image, free_port, registry_digest, unique};
use serde_json::Value;
use std::process::{Command, Output};

/// The account and region of the ECR stand-in's host (`<account>.dkr.ecr.<region>.amazonaws.com`).
fn account_and_region(aws: &Aws) -> (&str, &str) {
    let labels: Vec<&str> = aws.ecr_host.split('.').collect();
    (labels[0], labels[3])
}

/// A zenreg run whose AWS SDK can only reach `endpoint` (unless `AWS_ENDPOINT_URL_ECR` is set
/// afterwards) with the test credentials.
fn aws_command(zenreg: &Zenreg, endpoint: &str, args: &[&str]) -> Command {
    let nowhere = zenreg.home.path().join("no-aws-config");
    let mut command = zenreg.command(args);
    command
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_CONFIG_FILE", &nowhere)
        .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env_remove("AWS_ENDPOINT_URL_ECR")
        .env_remove("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    command
}

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("zenreg runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (output, stdout, stderr)
}

/// The one `error:` line and the `hint:` line of a failed run (exit code 1).
fn error_and_hint(stderr: &str, output: &Output) -> (String, String) {
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    let hint = stderr.lines().find(|l| l.starts_with("hint: ")).unwrap_or_default();
    (errors[0].to_string(), hint.to_string())
}

/// Whether moto knows the repository.
fn repository_exists(aws: &Aws, repository: &str) -> bool {
    let body = format!(r#"{{"repositoryNames": ["{repository}"]}}"#);
    let (status, response) =
        aws.moto_ecr(account_and_region(aws).1, "DescribeRepositories", &body).expect("moto answers");
    match status {
        200 => true,
        400 if response.contains("RepositoryNotFoundException") => false,
        _ => panic!("DescribeRepositories: {status} {response}"),
    }
}

fn create_repository(aws: &Aws, repository: &str) {
    let body = format!(r#"{{"repositoryName": "{repository}"}}"#);
    let (status, response) = aws.moto_ecr(account_and_region(aws).1, "CreateRepository", &body).expect("moto answers");
    assert_eq!(status, 200, "CreateRepository: {response}");
}

/// A zenreg with its own store and no Docker daemon (for runs that never reach Docker).
fn zenreg_without_docker() -> Zenreg {
    let home = TempDir::new("home");
    std::fs::create_dir_all(home.path().join("docker")).unwrap();
    Zenreg { home, docker_host: "unix:///nonexistent/zenreg-e2e.sock".into() }
}

#[test]
fn register_describe_and_flavor_describe_work_with_the_implementation_linked() {
    let zenreg = zenreg_without_docker();
    let host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

    let flavor: Value = serde_json::from_str(&zenreg.ok(&["flavor", "describe", "aws", "--output", "json"])).unwrap();
    assert_eq!(flavor["implementation"], "zenreg_aws::AwsContainerRegistry");
    assert_eq!(flavor["implementation_linked"], true);
    assert_eq!(flavor["implementation_integration"], "zenreg-aws");
    assert_eq!(flavor["feature"], "aws");
    let option = flavor["properties"].as_array().unwrap().iter().find(|p| p["name"] == "create_repository_if_missing");
    let option = option.expect("the option is described");
    assert_eq!((&option["type"], &option["required"]), (&Value::from("boolean"), &Value::from(false)));
    assert!(option["description"].as_str().unwrap().starts_with("Create the image's ECR repository"));
    let text = zenreg.ok(&["container-registry", "flavor", "describe", "aws"]);
    assert!(text.contains("Implementation: zenreg_aws::AwsContainerRegistry (linked)"), "{text}");

    zenreg.ok(&["container-registry", "register", "plain", "--flavor", "aws", &format!("--uri={host}")]);
    zenreg.ok(&[
        "container-registry",
        "register",
        "creating",
        "--flavor",
        "aws",
        &format!("--uri={host}/"),
        "--create_repository_if_missing=true",
    ]);
    let describe = |name: &str| -> Value {
        serde_json::from_str(&zenreg.ok(&["container-registry", "describe", name, "--output", "json"])).unwrap()
    };
    // The option is stored only when set, so configs written before it existed read the same.
    assert_eq!(describe("plain")["config"], serde_json::json!({ "uri": host }));
    assert_eq!(
        describe("creating")["config"],
        serde_json::json!({ "uri": host, "create_repository_if_missing": true })
    );
    let text = zenreg.ok(&["container-registry", "describe", "creating"]);
    assert!(text.lines().any(|l| l == "Implementation: linked"), "{text}");

    let error = zenreg.fails(&[
        "container-registry",
        "register",
        "bad",
        "--flavor",
        "aws",
        &format!("--uri={host}"),
        "--create_repository_if_missing=maybe",
    ]);
    assert!(error.starts_with("error: invalid configuration"), "{error}");
}

#[test]
#[ignore = "needs moto and the ECR stand-in: run the README test command (scripts/test.sh)"]
fn a_missing_repository_fails_the_push_with_the_create_command() {
    let aws = Aws::require();
    // No Docker daemon: the check happens before Docker is asked anything.
    let zenreg = zenreg_without_docker();
    zenreg.ok(&["container-registry", "register", "ecr", "--flavor", "aws", &format!("--uri={}", aws.ecr_host)]);
    let repository = unique("zenreg-e2e/missing");
    let image = format!("{}/{repository}:1", aws.ecr_host);

    let (output, _, stderr) = run(&mut aws_command(
        &zenreg,
        &aws.moto_endpoint,
        &["container-registry", "push", &image, "--registry", "ecr"],
    ));
    let (error, hint) = error_and_hint(&stderr, &output);
    let (account, region) = account_and_region(&aws);
    assert_eq!(error, format!("error: ECR repository `{repository}` does not exist in account {account} ({region})"));
    assert!(
        hint.contains(&format!("`aws ecr create-repository --region {region} --repository-name {repository}`")),
        "{hint}"
    );
    assert!(hint.contains("--create_repository_if_missing=true"), "{hint}");
    assert!(!repository_exists(&aws, &repository));
}

#[test]
#[ignore = "needs moto and the ECR stand-in: run the README test command (scripts/test.sh)"]
fn the_ecr_specific_endpoint_variable_wins_over_the_general_one() {
    let aws = Aws::require();
    let zenreg = zenreg_without_docker();
    zenreg.ok(&["container-registry", "register", "ecr", "--flavor", "aws", &format!("--uri={}", aws.ecr_host)]);
    let repository = unique("zenreg-e2e/endpoint");
    let image = format!("{}/{repository}:1", aws.ecr_host);
    let dead = format!("http://127.0.0.1:{}", free_port());

    let mut command = aws_command(&zenreg, &dead, &["container-registry", "push", &image, "--registry", "ecr"]);
    command.env("AWS_ENDPOINT_URL_ECR", &aws.moto_endpoint);
    let (output, _, stderr) = run(&mut command);
    // Only moto can have answered that the repository is missing.
    let (error, _) = error_and_hint(&stderr, &output);
    assert!(error.contains(&format!("ECR repository `{repository}` does not exist")), "{stderr}");
}

#[test]
#[ignore = "needs the Docker Engine, registries, moto and the ECR stand-in: run the README test command (scripts/test.sh)"]
fn a_push_logs_in_with_the_ecr_token_and_returns_the_digest() {
    let services = Services::require();
    let aws = Aws::require();
    let zenreg = Zenreg::new(&services);
    zenreg.ok(&["container-registry", "register", "ecr", "--flavor", "aws", &format!("--uri={}", aws.ecr_host)]);
    let repository = unique("zenreg-e2e/ecr");
    create_repository(&aws, &repository);
    let image = format!("{}/{repository}:1.0", aws.ecr_host);
    build_image(&services, &image, 2, 16 * 1024);

    let push = ["container-registry", "push", image.as_str(), "--registry", "ecr"];
    let (output, stdout, stderr) = run(&mut aws_command(&zenreg, &aws.moto_endpoint, &push));
    assert!(output.status.success(), "{stderr}");
    // The stand-in accepts only AWS / <account>-auth-token: the login from moto's token got there.
    assert!(stderr.contains("with the registry login of the `aws` flavor"), "{stderr}");
    assert!(!stderr.contains("warning:"), "{stderr}");
    assert!(!format!("{stdout}{stderr}").contains(&aws.ecr_password), "the password leaked");
    let basic = Some((aws.ecr_user.as_str(), aws.ecr_password.as_str()));
    let served = registry_digest(&aws.ecr_registry, &repository, "1.0", basic).expect("the stand-in has the image");
    assert_eq!(stdout.trim(), format!("{}/{repository}@{served}", aws.ecr_host));

    // Again (every layer there already): the same digest.
    let (output, again, stderr) = run(&mut aws_command(&zenreg, &aws.moto_endpoint, &push));
    assert!(output.status.success(), "{stderr}");
    assert_eq!(again, stdout);
}

#[test]
#[ignore = "needs the Docker Engine, registries, moto and the ECR stand-in: run the README test command (scripts/test.sh)"]
fn create_repository_if_missing_creates_it_on_the_first_push_only() {
    let services = Services::require();
    let aws = Aws::require();
    let zenreg = Zenreg::new(&services);
    zenreg.ok(&[
        "container-registry",
        "register",
        "ecr",
        "--flavor",
        "aws",
        &format!("--uri={}", aws.ecr_host),
        "--create_repository_if_missing=true",
    ]);
    let repository = unique("zenreg-e2e/created");
    let image = format!("{}/{repository}:1", aws.ecr_host);
    build_image(&services, &image, 1, 4096);
    assert!(!repository_exists(&aws, &repository));

    let push = ["container-registry", "push", image.as_str(), "--registry", "ecr"];
    let (output, first, stderr) = run(&mut aws_command(&zenreg, &aws.moto_endpoint, &push));
    assert!(output.status.success(), "{stderr}");
    let (account, region) = account_and_region(&aws);
    assert!(
        stderr.contains(&format!("Created ECR repository `{repository}` in account {account} ({region})")),
        "{stderr}"
    );
    assert!(repository_exists(&aws, &repository));

    let (output, second, stderr) = run(&mut aws_command(&zenreg, &aws.moto_endpoint, &push));
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("Created ECR repository"), "{stderr}");
    assert_eq!(first, second);
}

#[test]
#[ignore = "needs the Docker Engine, registries, moto and the ECR stand-in: run the README test command (scripts/test.sh)"]
fn an_unreachable_ecr_api_only_warns_and_the_registry_has_the_last_word() {
    let services = Services::require();
    let aws = Aws::require();
    let zenreg = Zenreg::new(&services);
    zenreg.ok(&["container-registry", "register", "ecr", "--flavor", "aws", &format!("--uri={}", aws.ecr_host)]);
    let image = format!("{}/{}:1", aws.ecr_host, unique("zenreg-e2e/offline"));
    build_image(&services, &image, 1, 1024);

    let dead = format!("http://127.0.0.1:{}", free_port());
    let mut command = aws_command(&zenreg, &dead, &["container-registry", "push", &image, "--registry", "ecr"]);
    command.env("AWS_MAX_ATTEMPTS", "1");
    let (output, _, stderr) = run(&mut command);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warning: ")).collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(warnings[0].starts_with("warning: could not check ECR repository"), "{stderr}");
    assert!(warnings[0].ends_with("Connection refused (os error 111)); pushing anyway"), "{stderr}");
    assert!(warnings[1].starts_with(&format!("warning: could not get an ECR login for {}: ", aws.ecr_host)));
    // The push went on, without credentials, and the registry refused it.
    let (error, _) = error_and_hint(&stderr, &output);
    assert!(error.contains("refused the push") && error.contains("credentials tried: no credentials"), "{error}");
}
