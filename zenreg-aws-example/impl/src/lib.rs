//! The implementation of the `aws` container-registry flavor (Amazon ECR), with the AWS SDK.
//!
//! This crate is step 2 of the worked example of a flavor with heavy dependencies (the whole walk
//! is in `zenreg-aws-example/README.md`):
//!
//! 1. **Config crate** (`zenreg-aws-config`): the flavor and its config, depending on `zenreg-core`
//!    alone, so every build can list the flavor, describe it and register `aws` components.
//! 2. **Implementation crate** (this one): [`AwsContainerRegistry`] implements
//!    [`ContainerRegistry`] with `type Flavor = AwsContainerRegistryFlavor`, which makes
//!    [`from_config`](ContainerRegistry::from_config) take exactly that flavor's config; one line,
//!    `zenreg_core::register_container_registry!(AwsContainerRegistry);`, registers it.
//! 3. **A feature in the binary**: `zenreg-cli` depends on this crate optionally,
//!    ```toml
//!    [dependencies]
//!    zenreg-aws = { workspace = true, optional = true }
//!
//!    [features]
//!    aws = ["dep:zenreg-aws"]
//!    ```
//!    and the flavor names that feature (`feature = "aws"` in its `#[flavor(...)]`), so a build
//!    without it says "rebuild zenreg with `--features aws`" instead of failing obscurely.
//! 4. **Linking**: `inventory` only collects registrations from crates the binary names, so the
//!    binary says `#[cfg(feature = "aws")] use zenreg_aws as _;` next to
//!    `use zenreg_aws_config as _;`.
//!
//! # What the implementation does
//!
//! - Talks to ECR through `aws-sdk-ecr`, configured by `aws-config`'s default chain (environment,
//!   profiles, SSO, web identity, container and instance credentials) in the region of the
//!   registry's URI. The endpoint follows `AWS_ENDPOINT_URL_ECR`, then `AWS_ENDPOINT_URL` (or
//!   `endpoint_url` in the profile), as every AWS SDK does; that is how the tests point it at moto.
//!   [`AwsContainerRegistry::with_sdk_config`] takes an explicit SDK configuration instead.
//! - [`prepare_image_push`](ContainerRegistry::prepare_image_push) looks up exactly the image's
//!   repository (`DescribeRepositories` by name). A missing repository is an error that shows the
//!   command creating it, or, with `create_repository_if_missing = true`, is created (someone
//!   creating it at the same moment is fine). A lookup that is denied or fails only warns: the
//!   push goes on and the daemon reports the real outcome.
//! - [`credentials`](ContainerRegistry::credentials), asked only when the component has no
//!   authentication secret, returns the registry login from `GetAuthorizationToken`, kept in
//!   memory until shortly before it expires (see [`login`]). When there is none to be had it warns
//!   and returns `None`, so the push falls back to the user's Docker config (where
//!   `docker login` or the ECR credential helper may have put one).
//!
//! ```no_run
//! # async fn example() -> Result<(), zenreg_core::Error> {
//! use zenreg_aws::AwsContainerRegistry;
//! use zenreg_aws_config::AwsContainerRegistryConfig;
//! use zenreg_core::{ContainerRegistry, FlavorConfig};
//!
//! let object = serde_json::json!({ "uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com" });
//! let config = AwsContainerRegistryConfig::from_json(object.as_object().unwrap())?;
//! let registry = AwsContainerRegistry::from_config(config)?;
//! let diagnostics = zenreg_core::Diagnostics::default();
//! registry.prepare_image_push("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1", &diagnostics).await?;
//! let login = registry.credentials(&diagnostics).await?; // Some(AWS / token) with working AWS credentials
//! # let _ = login;
//! # Ok(())
//! # }
//! ```

pub mod login;

/// The AWS SDK configuration loader, for building the `SdkConfig` that
/// [`AwsContainerRegistry::with_sdk_config`] takes.
pub use aws_config;
/// The ECR client this crate uses, e.g. to look at repositories from tests or tools.
pub use aws_sdk_ecr;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ecr::config::{Region, SharedHttpClient};
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use login::{LoginCache, decode_token};
use std::time::SystemTime;
use tokio::sync::{Mutex, OnceCell};
use zenreg_aws_config::{AwsContainerRegistryConfig, AwsContainerRegistryFlavor};
use zenreg_core::{ContainerRegistry, ContainerRegistryConfig, Credentials, Diagnostics, Error};

/// The HTTPS client the AWS SDK talks through here: hyper 1 with rustls on ring, the TLS stack
/// the rest of the workspace uses, and the system's root certificates.
///
/// `aws-config` and `aws-sdk-ecr` are built without their default client, which brings rustls on
/// aws-lc-rs (C compiled through cmake on every clean build). Without it they have no HTTP client
/// at all, so an `SdkConfig` built by hand for [`AwsContainerRegistry::with_sdk_config`] should
/// name this one (`aws_config::defaults(..).http_client(zenreg_aws::https_client())`); when it
/// names none, the ECR client uses this one anyway, but the SDK's own credential providers (SSO,
/// web identity, instance metadata) only reach the network through the loader's client.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// An Amazon ECR registry: checks (or creates) the image's repository before a push and logs in
/// with a token from ECR.
///
/// The ECR client and the registry login live as long as the value: keep one to reuse them across
/// pushes.
#[derive(Debug)]
pub struct AwsContainerRegistry {
    config: AwsContainerRegistryConfig,
    sdk_config: Option<SdkConfig>,
    client: OnceCell<aws_sdk_ecr::Client>,
    // A tokio mutex, held while a login is fetched, so concurrent pushes share one request.
    login: Mutex<LoginCache>,
}

impl AwsContainerRegistry {
    /// A registry that uses `sdk_config` (credentials, endpoint, retries, …) instead of loading
    /// one from the environment. The region is still the one in the registry's URI.
    pub fn with_sdk_config(config: AwsContainerRegistryConfig, sdk_config: SdkConfig) -> Self {
        AwsContainerRegistry { config, sdk_config: Some(sdk_config), client: OnceCell::new(), login: Mutex::default() }
    }

    /// The ECR client for the registry's region, built on first use.
    pub async fn client(&self) -> &aws_sdk_ecr::Client {
        self.client
            .get_or_init(|| async {
                let region = Region::new(self.config.region().to_string());
                let shared = match &self.sdk_config {
                    Some(sdk_config) => sdk_config.clone(),
                    None => {
                        aws_config::defaults(BehaviorVersion::latest())
                            .http_client(https_client())
                            .region(region.clone())
                            .load()
                            .await
                    }
                };
                // `From<&SdkConfig>` is where `AWS_ENDPOINT_URL_ECR` is honoured.
                let mut ecr = aws_sdk_ecr::config::Builder::from(&shared).region(region);
                // The SDK is built without an HTTPS client of its own (see `https_client`): an
                // `SdkConfig` given without one gets ours rather than failing every request.
                if shared.http_client().is_none() {
                    ecr = ecr.http_client(https_client());
                }
                // A FIPS registry host implies the FIPS API endpoint; otherwise the SDK's own
                // setting (`AWS_USE_FIPS_ENDPOINT`, profile) stands.
                if self.config.host().fips {
                    ecr = ecr.use_fips(true);
                }
                aws_sdk_ecr::Client::from_conf(ecr.build())
            })
            .await
    }

    /// The ECR repository an image goes to: its name between the registry host and the tag.
    pub fn repository_of<'a>(&self, image: &'a str) -> Option<&'a str> {
        let rest = image.strip_prefix(self.config.uri())?.strip_prefix('/')?;
        let rest = rest.split('@').next().unwrap_or(rest);
        let name = match rest.rfind(':') {
            Some(colon) if !rest[colon..].contains('/') => &rest[..colon],
            _ => rest,
        };
        (!name.is_empty()).then_some(name)
    }

    /// Creates an ECR repository in the registry. Returns `false` when it exists already, e.g.
    /// because a concurrent push created it since it was looked up.
    pub async fn create_repository(&self, repository: &str) -> Result<bool, Error> {
        let created = self
            .client()
            .await
            .create_repository()
            .registry_id(self.config.account_id())
            .repository_name(repository)
            .send()
            .await;
        match created {
            Ok(_) => Ok(true),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_repository_already_exists_exception()) => {
                Ok(false)
            }
            Err(error) => Err(Error::registry(
                format!("could not create ECR repository `{repository}` in {}: {}", self.location(), one_line(&error)),
                Some(format!("create it yourself: `{}`", self.create_command(repository))),
            )),
        }
    }

    /// A fresh registry login from ECR's `GetAuthorizationToken` and when it expires. Not cached;
    /// [`credentials`](ContainerRegistry::credentials) is.
    pub async fn login(&self) -> Result<(Credentials, Option<SystemTime>), Error> {
        let failed =
            |why: String| Error::registry(format!("could not get an ECR login for {}: {why}", self.config.uri), None);
        // No registry ids: they are deprecated, and the token works for every registry the
        // caller may push to, cross-account ones included.
        let output =
            self.client().await.get_authorization_token().send().await.map_err(|error| failed(one_line(&error)))?;
        let data = output.authorization_data().first().ok_or_else(|| failed("ECR returned no login".into()))?;
        let token = data.authorization_token().ok_or_else(|| failed("ECR returned no token".into()))?;
        let credentials = decode_token(token).map_err(failed)?;
        let expires_at = data.expires_at().and_then(|at| SystemTime::try_from(*at).ok());
        Ok((credentials, expires_at))
    }

    fn location(&self) -> String {
        format!("account {} ({})", self.config.account_id(), self.config.region())
    }

    fn create_command(&self, repository: &str) -> String {
        format!("aws ecr create-repository --region {} --repository-name {repository}", self.config.region())
    }
}

impl ContainerRegistry for AwsContainerRegistry {
    type Flavor = AwsContainerRegistryFlavor;

    fn from_config(config: AwsContainerRegistryConfig) -> Result<Self, Error> {
        Ok(AwsContainerRegistry { config, sdk_config: None, client: OnceCell::new(), login: Mutex::default() })
    }

    fn config(&self) -> &AwsContainerRegistryConfig {
        &self.config
    }

    async fn prepare_image_push(&self, image: &str, diagnostics: &Diagnostics) -> Result<(), Error> {
        let Some(repository) = self.repository_of(image) else {
            return Err(Error::registry(
                format!("image `{image}` has no repository under `{}`", self.config.uri),
                Some(format!("name the image `{}/REPOSITORY:TAG`", self.config.uri)),
            ));
        };
        let lookup = self
            .client()
            .await
            .describe_repositories()
            .registry_id(self.config.account_id())
            .repository_names(repository)
            .send()
            .await;
        match lookup {
            Ok(_) => Ok(()),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_repository_not_found_exception()) => {
                if !self.config.create_repository_if_missing {
                    return Err(Error::registry(
                        format!("ECR repository `{repository}` does not exist in {}", self.location()),
                        Some(format!(
                            "create it (`{}`), or let zenreg create missing repositories \
                             (`--create_repository_if_missing=true` on the registry)",
                            self.create_command(repository)
                        )),
                    ));
                }
                if self.create_repository(repository).await? {
                    diagnostics.note(format!("Created ECR repository `{repository}` in {}", self.location()));
                }
                Ok(())
            }
            // The daemon reports the real outcome of the push; a failed lookup must not block it.
            Err(error) => {
                diagnostics.warn(format!(
                    "could not check ECR repository `{repository}` ({}); pushing anyway",
                    one_line(&error)
                ));
                Ok(())
            }
        }
    }

    async fn credentials(&self, diagnostics: &Diagnostics) -> Result<Option<Credentials>, Error> {
        let mut cache = self.login.lock().await;
        if let Some(credentials) = cache.get(SystemTime::now()) {
            return Ok(Some(credentials.clone()));
        }
        match self.login().await {
            Ok((credentials, expires_at)) => {
                cache.store(credentials.clone(), expires_at, SystemTime::now());
                Ok(Some(credentials))
            }
            // Without AWS credentials the user may still have logged in with `docker login` or
            // the ECR credential helper: let the push try the Docker config.
            Err(error) => {
                diagnostics.warn(format!("{error}; trying the Docker config"));
                Ok(None)
            }
        }
    }
}

zenreg_core::register_container_registry!(AwsContainerRegistry);

/// An SDK error on one line: the service's error code and message, or, for a request that never
/// got an answer, the chain of causes (`dispatch failure: io error: …: Connection refused`).
fn one_line<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if let Some(code) = error.as_service_error().and_then(|e| e.code()) {
        return match error.as_service_error().and_then(|e| e.message()) {
            Some(message) => format!("{code}: {message}"),
            None => code.to_string(),
        };
    }
    zenreg_core::error::one_line(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zenreg_core::FlavorConfig;

    fn config(extra: serde_json::Value) -> AwsContainerRegistryConfig {
        let mut object = serde_json::json!({ "uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com" });
        object.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        AwsContainerRegistryConfig::from_json(object.as_object().unwrap()).unwrap()
    }

    fn registry() -> AwsContainerRegistry {
        AwsContainerRegistry::from_config(config(serde_json::json!({}))).unwrap()
    }

    #[test]
    fn finds_the_repository_of_an_image() {
        let registry = registry();
        let host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
        assert_eq!(registry.repository_of(&format!("{host}/team/app:1.0")), Some("team/app"));
        assert_eq!(registry.repository_of(&format!("{host}/app")), Some("app"));
        assert_eq!(registry.repository_of(&format!("{host}/app@sha256:abc")), Some("app"));
        assert_eq!(registry.repository_of(&format!("{host}/")), None);
        assert_eq!(registry.repository_of("ghcr.io/app"), None);
    }

    #[test]
    fn the_create_command_names_region_and_repository() {
        assert_eq!(
            registry().create_command("team/app"),
            "aws ecr create-repository --region eu-west-1 --repository-name team/app"
        );
    }

    #[test]
    fn creating_missing_repositories_is_opt_in() {
        assert!(!registry().config().create_repository_if_missing);
        assert!(config(serde_json::json!({ "create_repository_if_missing": true })).create_repository_if_missing);
    }

    #[tokio::test]
    async fn the_region_is_the_one_of_the_uri() {
        let elsewhere =
            SdkConfig::builder().behavior_version(BehaviorVersion::latest()).region(Region::new("ap-south-1")).build();
        let registry = AwsContainerRegistry::with_sdk_config(config(serde_json::json!({})), elsewhere);
        assert_eq!(registry.client().await.config().region().map(|r| r.as_ref()), Some("eu-west-1"));
    }

    #[tokio::test]
    async fn an_sdk_config_without_an_http_client_gets_the_ring_one() {
        // The SDK is built without its default client: one given without a client must not leave
        // the ECR client without one (every request would fail "no HTTP client").
        let bare = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build();
        assert!(bare.http_client().is_none());
        let registry = AwsContainerRegistry::with_sdk_config(config(serde_json::json!({})), bare);
        assert!(registry.client().await.config().http_client().is_some());
    }

    #[tokio::test]
    async fn an_image_outside_any_repository_is_refused_before_ecr_is_asked() {
        let error = registry()
            .prepare_image_push("123456789012.dkr.ecr.eu-west-1.amazonaws.com/", &Diagnostics::default())
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "image `123456789012.dkr.ecr.eu-west-1.amazonaws.com/` has no repository under `123456789012.dkr.ecr.eu-west-1.amazonaws.com`"
        );
    }
}
