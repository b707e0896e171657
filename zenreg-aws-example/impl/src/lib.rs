//! The implementation of the `aws` container-registry flavor (Amazon ECR), with the AWS SDK.
//!
//! The flavor and its config live in `zenreg-aws-config`, which compiles without the SDK; this
//! crate adds the type that works with ECR when pushing and registers it for that flavor. A
//! binary links it behind a cargo feature (`aws` in `zenreg-cli`):
//!
//! ```toml
//! [features]
//! aws = ["dep:zenreg-aws"]
//! ```
//!
//! and names it so `inventory` keeps its registration: `#[cfg(feature = "aws")] use zenreg_aws as _;`.

use aws_config::BehaviorVersion;
use aws_sdk_ecr::config::Region;
use tokio::sync::OnceCell;
use zenreg_aws_config::{AwsContainerRegistryConfig, AwsContainerRegistryFlavor};
use zenreg_core::{ContainerRegistry, ContainerRegistryConfig, Error};

/// An Amazon ECR registry: checks that the image's repository exists before a push.
#[derive(Debug)]
pub struct AwsContainerRegistry {
    config: AwsContainerRegistryConfig,
    client: OnceCell<aws_sdk_ecr::Client>,
}

impl AwsContainerRegistry {
    /// The ECR client for the registry's region, built on first use from the default credential
    /// chain; the endpoint follows `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_ECR` as the SDK does.
    pub async fn client(&self) -> &aws_sdk_ecr::Client {
        self.client
            .get_or_init(|| async {
                let shared = aws_config::defaults(BehaviorVersion::latest())
                    .region(Region::new(self.config.region().to_string()))
                    .load()
                    .await;
                aws_sdk_ecr::Client::new(&shared)
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
}

impl ContainerRegistry for AwsContainerRegistry {
    type Flavor = AwsContainerRegistryFlavor;

    fn from_config(config: AwsContainerRegistryConfig) -> Result<Self, Error> {
        Ok(AwsContainerRegistry { config, client: OnceCell::new() })
    }

    fn config(&self) -> &AwsContainerRegistryConfig {
        &self.config
    }

    async fn prepare_image_push(&self, image: &str) -> Result<(), Error> {
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
                Err(Error::registry(
                    format!(
                        "ECR repository `{repository}` does not exist in {} ({})",
                        self.config.account_id(),
                        self.config.region()
                    ),
                    Some(format!(
                        "create it: `aws ecr create-repository --region {} --repository-name {repository}`",
                        self.config.region()
                    )),
                ))
            }
            // The daemon reports the real outcome of the push; a failed lookup must not block it.
            Err(error) => {
                eprintln!(
                    "warning: could not check ECR repository `{repository}`: {}",
                    aws_sdk_ecr::error::DisplayErrorContext(&error)
                );
                Ok(())
            }
        }
    }
}

zenreg_core::register_container_registry!(AwsContainerRegistry);

#[cfg(test)]
mod tests {
    use super::*;
    use zenreg_core::FlavorConfig;

    fn registry() -> AwsContainerRegistry {
        let object = serde_json::json!({ "uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com" });
        let config = AwsContainerRegistryConfig::from_json(object.as_object().unwrap()).unwrap();
        AwsContainerRegistry::from_config(config).unwrap()
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
}
