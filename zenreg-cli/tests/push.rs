//! `zenreg container-registry push` end to end: a real Docker daemon and real registries (one
//! open, one with htpasswd auth) on loopback, started by the test command.

mod e2e;

use e2e::{LocalPush, Services, Zenreg, build_image, free_port, registry_digest, unique};

#[test]
#[ignore = "needs the Docker Engine and registries: run the README test command (scripts/test.sh)"]
fn a_push_returns_the_digest_the_registry_serves_and_is_repeatable() {
    let LocalPush { services, zenreg, repository, image } = LocalPush::new("zenreg-e2e/app", "1.0");
    build_image(&services, &image, 2, 64 * 1024);

    let first = zenreg.ok(&["container-registry", "push", &image, "--registry", "local"]);
    let digest = first.trim().strip_prefix(&format!("{}/{repository}@", services.registry)).expect(&first).to_string();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    assert_eq!(registry_digest(&services.registry, &repository, "1.0", None).as_deref(), Some(digest.as_str()));

    // Pushing again (every layer already there) succeeds with the same digest.
    let second = zenreg.ok(&["container-registry", "push", &image, "--registry", "local", "--output", "json"]);
    let outcome: serde_json::Value = serde_json::from_str(&second).unwrap();
    assert_eq!(outcome["digest"], first.trim());
    assert_eq!(outcome["image"], image);
    assert_eq!(outcome["registry"], "local");
    assert!(outcome["size"].as_u64().unwrap() >= 2 * 64 * 1024);
}

#[test]
#[ignore = "needs the Docker Engine and registries: run the README test command (scripts/test.sh)"]
fn a_five_layer_image_pushes_with_the_right_digest() {
    let LocalPush { services, zenreg, repository, image } = LocalPush::new("zenreg-e2e/layers", "5");
    build_image(&services, &image, 6, 256 * 1024);
    let output = zenreg.run(&["container-registry", "push", &image, "--registry", "local"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("(6 layers,"), "{stderr}");
    assert!(stderr.contains("Pushed 6 of 6 layers ("), "{stderr}");
    let digest = String::from_utf8(output.stdout).unwrap();
    let served = registry_digest(&services.registry, &repository, "5", None).unwrap();
    assert_eq!(digest.trim(), format!("{}/{repository}@{served}", services.registry));
}

#[test]
#[ignore = "needs the Docker Engine and registries: run the README test command (scripts/test.sh)"]
fn retag_puts_the_image_under_the_registry_and_default_repository() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    let team = unique("team");
    zenreg.ok(&[
        "container-registry",
        "register",
        "local",
        "-f",
        "default",
        &format!("--uri={}", services.registry),
        &format!("--default_repository={team}"),
    ]);
    let local_name = unique("plain-app");
    build_image(&services, &format!("{local_name}:7"), 1, 1024);
    let refused = zenreg.fails(&["container-registry", "push", &format!("{local_name}:7"), "--registry", "local"]);
    assert!(refused.contains("does not belong to container registry `local`"), "{refused}");
    let pushed =
        zenreg.ok(&["container-registry", "push", &format!("{local_name}:7"), "--registry", "local", "--retag"]);
    let expected_repository = format!("{team}/{local_name}");
    assert!(pushed.starts_with(&format!("{}/{expected_repository}@sha256:", services.registry)), "{pushed}");
    assert!(registry_digest(&services.registry, &expected_repository, "7", None).is_some());
}

#[test]
#[ignore = "needs the Docker Engine and registries: run the README test command (scripts/test.sh)"]
fn an_image_outside_the_registry_is_refused_before_docker_is_contacted() {
    let services = Services::require();
    let mut zenreg = Zenreg::new(&services);
    zenreg.register("local", &services.registry);
    // With no daemon at all the refusal still comes first: Docker was never asked.
    zenreg.docker_host = "unix:///nonexistent/zenreg-e2e.sock".into();
    for image in ["ghcr.io/someone/app:1", "127.0.0.1:50001/app:1", "app:1"] {
        let error = zenreg.fails(&["container-registry", "push", image, "--registry", "local"]);
        assert_eq!(
            error,
            format!(
                "error: image `{image}` does not belong to container registry `local` (uri `{}`)",
                services.registry
            )
        );
    }
}

#[test]
#[ignore = "needs the Docker Engine and registries: run the README test command (scripts/test.sh)"]
fn the_auth_registry_needs_the_right_credentials() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    zenreg.register("private", &services.auth_registry);
    let repository = unique("zenreg-e2e/private");
    let image = format!("{}/{repository}:1", services.auth_registry);
    build_image(&services, &image, 1, 4096);

    // No credentials anywhere.
    let error = zenreg.fails(&["container-registry", "push", &image, "--registry", "private"]);
    assert!(error.contains("refused the push"), "{error}");
    assert!(error.contains("credentials tried: no credentials"), "{error}");

    // A secret with the wrong password.
    let created = zenreg.run_with_stdin(
        &["secret", "create", "wrong", &format!("--username={}", services.auth_user), "--password=-"],
        "not-the-password\n",
    );
    assert!(created.status.success());
    zenreg.ok(&["container-registry", "update", "private", "--authentication_secret=wrong"]);
    let error = zenreg.fails(&["container-registry", "push", &image, "--registry", "private"]);
    assert!(error.contains("credentials tried: authentication secret `wrong`"), "{error}");
    assert!(!error.contains("not-the-password"));

    // The right secret.
    let created = zenreg.run_with_stdin(
        &["secret", "create", "right", &format!("--username={}", services.auth_user), "--password=-"],
        &format!("{}\n", services.auth_password),
    );
    assert!(created.status.success());
    zenreg.ok(&["container-registry", "update", "private", "--authentication_secret=right"]);
    let output = zenreg.run(&["container-registry", "push", &image, "--registry", "private"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let all_output = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!all_output.contains(&services.auth_password), "the password leaked: {all_output}");
    let basic = Some((services.auth_user.as_str(), services.auth_password.as_str()));
    let served = registry_digest(&services.auth_registry, &repository, "1", basic).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("{}/{repository}@{served}", services.auth_registry)
    );
}

#[test]
#[ignore = "needs the Docker Engine and registries: run the README test command (scripts/test.sh)"]
fn credentials_come_from_the_docker_config_when_there_is_no_secret() {
    let services = Services::require();
    use base64::Engine;
    let zenreg = Zenreg::new(&services);
    zenreg.register("private", &services.auth_registry);
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", services.auth_user, services.auth_password));
    std::fs::write(
        zenreg.home.path().join("docker/config.json"),
        format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, services.auth_registry),
    )
    .unwrap();
    let repository = unique("zenreg-e2e/docker-config");
    let image = format!("{}/{repository}:1", services.auth_registry);
    build_image(&services, &image, 1, 4096);
    let output = zenreg.run(&["container-registry", "push", &image, "--registry", "private"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("with Docker config"));
    assert!(String::from_utf8_lossy(&output.stdout).contains("@sha256:"));
}

#[test]
#[ignore = "needs the Docker Engine and registries: run the README test command (scripts/test.sh)"]
fn failures_are_one_line_errors() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    zenreg.register("local", &services.registry);

    // The image does not exist locally.
    let missing = format!("{}/{}:1", services.registry, unique("zenreg-e2e/missing"));
    let error = zenreg.fails(&["container-registry", "push", &missing, "--registry", "local"]);
    assert_eq!(error, format!("error: image `{missing}` does not exist locally"));

    // The registry is down (nothing listens on the port): retried, then a clear error.
    let down = format!("127.0.0.1:{}", free_port());
    zenreg.register("down", &down);
    let image = format!("{down}/{}:1", unique("zenreg-e2e/down"));
    build_image(&services, &image, 1, 1024);
    let error = zenreg.fails(&["container-registry", "push", &image, "--registry", "down"]);
    // Every attempt counts: the first and the 6 retries of the push's budget (issue 18).
    assert!(error.starts_with(&format!("error: pushing `{image}` to {down} failed after 7 attempts:")), "{error}");
    assert!(error.contains("connection refused"), "{error}");

    // The daemon is unreachable.
    let mut unreachable = Zenreg::new(&services);
    unreachable.docker_host = "unix:///nonexistent/zenreg-e2e.sock".into();
    unreachable.register("local", &services.registry);
    let image = format!("{}/app:1", services.registry);
    let error = unreachable.fails(&["container-registry", "push", &image, "--registry", "local"]);
    assert!(
        error.starts_with("error: cannot reach the Docker daemon at unix:///nonexistent/zenreg-e2e.sock"),
        "{error}"
    );

    // An unknown registry component.
    let error = zenreg.fails(&["container-registry", "push", &image, "--registry", "nope"]);
    assert_eq!(error, "error: container registry `nope` does not exist");
}

/// In the default build the AWS implementation is not linked: registering works, pushing names
/// the feature.
#[cfg(not(feature = "aws"))]
#[test]
#[ignore = "needs the Docker Engine and registries: run the README test command (scripts/test.sh)"]
fn pushing_through_an_unlinked_implementation_names_the_feature() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    let host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
    zenreg.ok(&["container-registry", "register", "ecr", "--flavor", "aws", &format!("--uri={host}")]);
    let error = zenreg.fails(&["container-registry", "push", &format!("{host}/app:1"), "--registry", "ecr"]);
    assert_eq!(error, "error: the implementation of flavor `aws` is not linked into this program");
    let output = zenreg.run(&["container-registry", "push", &format!("{host}/app:1"), "--registry", "ecr"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("hint: rebuild zenreg with `--features aws`"));
}

#[test]
#[ignore = "needs the Docker Engine and registries: run the README test command (scripts/test.sh)"]
fn a_registry_that_comes_back_is_retried_until_the_push_succeeds() {
    let services = Services::require();
    // The image is built before the proxy's delay starts: on a loaded machine building took
    // longer than the delay, the registry was back before the first attempt, and nothing was
    // retried. Tagging is quick, and the delay outlasts it with room to spare.
    let source = format!("{}:1", unique("flaky-source"));
    build_image(&services, &source, 1, 2048);
    let proxy = e2e::LateProxy::start(&services.registry, std::time::Duration::from_millis(2000));
    let zenreg = Zenreg::new(&services);
    zenreg.register("flaky", &proxy.address);
    let repository = unique("zenreg-e2e/flaky");
    let image = format!("{}/{repository}:1", proxy.address);
    assert!(e2e::docker(&services, &["tag", &source, &image]).status.success());
    // The Docker engine's retries are visible as lines; the OCI engine's (per request) are
    // covered by push_oci.rs.
    let output = zenreg.run(&["container-registry", "push", &image, "--registry", "flaky", "--engine", "docker"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("Retrying in 0.5 s (attempt 2)"), "{stderr}");
    let served = registry_digest(&services.registry, &repository, "1", None).unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), format!("{}/{repository}@{served}", proxy.address));
}

#[test]
#[ignore = "needs the Docker Engine and registries: run the README test command (scripts/test.sh)"]
fn an_authorization_failure_is_not_retried() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    zenreg.register("private", &services.auth_registry);
    let image = format!("{}/{}:1", services.auth_registry, unique("zenreg-e2e/noretry"));
    build_image(&services, &image, 1, 1024);
    let output = zenreg.run(&["container-registry", "push", &image, "--registry", "private"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("Retrying"));
}

/// Issue 10, case 2: with `default_repository` taken from a secret, neither the refusal's hint,
/// nor the progress lines, nor the digest of a `--retag` push show the secret's value.
#[test]
#[ignore = "needs the Docker Engine and registries: run the README test command (scripts/test.sh)"]
fn a_secret_in_default_repository_never_reaches_the_output() {
    let services = Services::require();
    let zenreg = Zenreg::new(&services);
    let hidden = unique("hiddenteam");
    let created = zenreg.run_with_stdin(&["secret", "create", "repo", "--name=-"], &hidden);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    zenreg.ok(&[
        "container-registry",
        "register",
        "local",
        "-f",
        "default",
        &format!("--uri={}", services.registry),
        "--default_repository={{repo.name}}",
    ]);
    let local_name = unique("plain-app");
    build_image(&services, &format!("{local_name}:3"), 1, 1024);
    let image = format!("{local_name}:3");
    for args in [
        &["container-registry", "push", &image, "--registry", "local"][..],
        &["container-registry", "push", &image, "--registry", "local", "--retag"],
        &["container-registry", "push", &image, "--registry", "local", "--retag", "--output", "json"],
    ] {
        let output = zenreg.run(args);
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(
            !stdout.contains(&hidden) && !stderr.contains(&hidden),
            "{args:?} showed the secret:\n{stdout}\n{stderr}"
        );
        if args.contains(&"--retag") {
            assert!(output.status.success(), "{stderr}");
            assert!(stdout.contains("{{repo.name}}"), "{stdout}");
        } else {
            assert!(stderr.contains("{{repo.name}}"), "{stderr}");
        }
    }
    // The push itself went where the secret says.
    assert!(registry_digest(&services.registry, &format!("{hidden}/{local_name}"), "3", None).is_some());
}
