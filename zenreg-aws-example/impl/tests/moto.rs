//! `AwsContainerRegistry` against a real ECR API: moto_server on loopback, started by
//! `scripts/services.sh` (it exports `ZENREG_MOTO_ENDPOINT`).
//!
//! Every registry here is built with an explicit SDK config (endpoint, static test credentials,
//! region), so nothing in the environment can send a request to real AWS. The tests are
//! `#[ignore = "needs moto"]`: the README test command starts moto and runs them, and a missing
//! moto fails them (they never pass by skipping).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::SystemTime;
use zenreg_aws::aws_config::retry::RetryConfig;
use zenreg_aws::aws_config::{self, BehaviorVersion, SdkConfig};
use zenreg_aws::aws_sdk_ecr::config::{Credentials as AwsCredentials, Region};
use zenreg_aws::{AwsContainerRegistry, aws_sdk_ecr};
use zenreg_aws_config::AwsContainerRegistryConfig;
use zenreg_core::{ContainerRegistry, Credentials, Diagnostics, FlavorConfig, Level};

/// moto's default account, and the region the tests use.
const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

/// The moto endpoint; its absence fails the test with what to run.
fn moto() -> String {
    let endpoint = std::env::var("ZENREG_MOTO_ENDPOINT").ok().filter(|v| !v.is_empty());
    let reachable = endpoint.as_deref().is_some_and(|endpoint| {
        let address = endpoint.trim_start_matches("http://").trim_end_matches('/');
        std::net::TcpStream::connect(address).is_ok()
    });
    match endpoint {
        Some(endpoint) if reachable => endpoint,
        _ => panic!(
            "moto is not running (ZENREG_E2E={}): run `eval \"$(scripts/services.sh start)\"` first, \
             or the README test command",
            std::env::var("ZENREG_E2E").unwrap_or_default()
        ),
    }
}

/// A repository name no other test (or earlier run against the same moto) uses.
fn unique(label: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("zenreg-test/{label}-{}-{nanos}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(AwsCredentials::new("test", "test", None, None, "zenreg-tests"))
        .retry_config(RetryConfig::disabled())
        .load()
        .await
}

async fn registry(endpoint: &str, create_repository_if_missing: bool) -> AwsContainerRegistry {
    let object = serde_json::json!({ "uri": HOST, "create_repository_if_missing": create_repository_if_missing });
    let config = AwsContainerRegistryConfig::from_json(object.as_object().unwrap()).unwrap();
    AwsContainerRegistry::with_sdk_config(config, sdk_config(endpoint).await)
}

async fn exists(registry: &AwsContainerRegistry, repository: &str) -> bool {
    match registry.client().await.describe_repositories().repository_names(repository).send().await {
        Ok(output) => output.repositories().iter().any(|r| r.repository_name() == Some(repository)),
        Err(error) if error.as_service_error().is_some_and(|e| e.is_repository_not_found_exception()) => false,
        Err(error) => panic!("DescribeRepositories failed: {}", aws_sdk_ecr::error::DisplayErrorContext(&error)),
    }
}

#[tokio::test]
#[ignore = "needs moto: run the README test command (scripts/test.sh)"]
async fn an_existing_repository_passes() {
    let moto = moto();
    let registry = registry(&moto, false).await;
    let repository = unique("exists");
    assert!(registry.create_repository(&repository).await.unwrap());
    registry.prepare_image_push(&format!("{HOST}/{repository}:1.0"), &Diagnostics::default()).await.unwrap();
    registry.prepare_image_push(&format!("{HOST}/{repository}"), &Diagnostics::default()).await.unwrap();
}

#[tokio::test]
#[ignore = "needs moto: run the README test command (scripts/test.sh)"]
async fn a_missing_repository_is_an_error_showing_the_create_command() {
    let moto = moto();
    let registry = registry(&moto, false).await;
    let repository = unique("missing");
    let error =
        registry.prepare_image_push(&format!("{HOST}/{repository}:1"), &Diagnostics::default()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("ECR repository `{repository}` does not exist in account 123456789012 (us-east-1)")
    );
    let hint = error.hint().unwrap();
    assert!(
        hint.contains(&format!("`aws ecr create-repository --region us-east-1 --repository-name {repository}`")),
        "{hint}"
    );
    assert!(hint.contains("--create_repository_if_missing=true"), "{hint}");
    assert!(!exists(&registry, &repository).await, "nothing was created");
}

#[tokio::test]
#[ignore = "needs moto: run the README test command (scripts/test.sh)"]
async fn create_repository_if_missing_creates_it_once() {
    let moto = moto();
    let registry = registry(&moto, true).await;
    let repository = unique("created");
    let image = format!("{HOST}/{repository}:1");
    assert!(!exists(&registry, &repository).await);
    let (diagnostics, reported) = Diagnostics::collect();
    registry.prepare_image_push(&image, &diagnostics).await.unwrap();
    assert!(exists(&registry, &repository).await);
    // Again: the repository is found, nothing is created, nothing fails.
    registry.prepare_image_push(&image, &diagnostics).await.unwrap();
    // The creation was reported once, as a note for the caller to show.
    let reported = reported.lock().unwrap().clone();
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert_eq!(reported[0].level, Level::Note);
    assert!(reported[0].message.starts_with(&format!("Created ECR repository `{repository}` in account")));
    // A creator that lost the race (the repository appeared after its lookup) is fine too.
    assert!(!registry.create_repository(&repository).await.unwrap());
}

#[tokio::test]
#[ignore = "needs moto: run the README test command (scripts/test.sh)"]
async fn concurrent_creators_of_one_repository_all_succeed() {
    let moto = moto();
    let repository = unique("race");
    let image = format!("{HOST}/{repository}:1");
    let registries = [registry(&moto, true).await, registry(&moto, true).await, registry(&moto, true).await];
    let diagnostics = Diagnostics::default();
    let (a, b, c) = tokio::join!(
        registries[0].prepare_image_push(&image, &diagnostics),
        registries[1].prepare_image_push(&image, &diagnostics),
        registries[2].prepare_image_push(&image, &diagnostics),
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
    assert!(exists(&registries[0], &repository).await);
}

#[tokio::test]
#[ignore = "needs moto: run the README test command (scripts/test.sh)"]
async fn the_ecr_token_is_decoded_into_user_and_password() {
    let moto = moto();
    let registry = registry(&moto, false).await;
    // moto's token is base64("AWS:<account>-auth-token"), and it is dated 2015-01-01.
    let expected = Credentials::new("AWS", "123456789012-auth-token");
    let (login, expires_at) = registry.login().await.unwrap();
    assert_eq!(login, expected);
    assert!(expires_at.unwrap() < SystemTime::now(), "{expires_at:?}");
    assert_eq!(registry.credentials(&Diagnostics::default()).await.unwrap(), Some(expected.clone()));
    // The expired login was not cached; the next call asks ECR again and gets the same answer.
    assert_eq!(registry.credentials(&Diagnostics::default()).await.unwrap(), Some(expected));
}

#[tokio::test]
async fn an_unreachable_ecr_only_warns() {
    // Nothing listens on this port: the lookup and the login fail, the push goes on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let registry = registry(&format!("http://127.0.0.1:{port}"), true).await;
    let repository = unique("offline");
    let (diagnostics, reported) = Diagnostics::collect();
    registry.prepare_image_push(&format!("{HOST}/{repository}:1"), &diagnostics).await.unwrap();
    assert_eq!(registry.credentials(&diagnostics).await.unwrap(), None);
    // Both failures reach the caller as warnings (the hooks never print), one line each.
    let reported = reported.lock().unwrap().clone();
    assert_eq!(reported.len(), 2, "{reported:?}");
    assert!(reported.iter().all(|d| d.level == Level::Warning && !d.message.contains('\n')), "{reported:?}");
    assert!(reported[0].message.starts_with(&format!("could not check ECR repository `{repository}` (")));
    assert!(reported[1].message.ends_with("; trying the Docker config"), "{reported:?}");
    assert!(
        registry
            .login()
            .await
            .unwrap_err()
            .to_string()
            .starts_with(&format!("could not get an ECR login for {HOST}: "))
    );
}

#[tokio::test]
#[ignore = "needs moto: run the README test command (scripts/test.sh)"]
async fn a_repository_ecr_refuses_to_create_is_an_error() {
    let moto = moto();
    let registry = registry(&moto, true).await;
    // ECR repository names are lower case; the image name need not have been checked yet.
    let repository = format!("{}-Upper", unique("refused"));
    let error =
        registry.prepare_image_push(&format!("{HOST}/{repository}:1"), &Diagnostics::default()).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "could not create ECR repository `{repository}` in account 123456789012 (us-east-1): \
             InvalidParameterException: "
        )),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");
    assert_eq!(
        error.hint().unwrap(),
        format!("create it yourself: `aws ecr create-repository --region us-east-1 --repository-name {repository}`")
    );
}
