//! The built-in container-registry flavors, written with the same macros a downstream crate
//! uses. Each sits behind its own default-on cargo feature of zenreg-core.

use crate::registry::ContainerRegistry;
#[allow(unused_imports)]
use crate::{ComponentType, register_container_registry};
use crate::{ContainerRegistryConfig, Error, Flavor, flavor_config};

/// Configuration shared by every built-in flavor that needs nothing beyond the base fields.
#[flavor_config(container_registry)]
pub struct BaseContainerRegistryConfig {}

/// The implementation every built-in flavor uses: a plain registry reached through the Docker
/// Engine, with nothing to prepare before a push.
#[derive(Debug)]
pub struct DockerRegistry<F: Flavor> {
    config: F::Config,
}

impl<F> ContainerRegistry for DockerRegistry<F>
where
    F: Flavor<Config: ContainerRegistryConfig> + Send + Sync,
{
    type Flavor = F;

    fn from_config(config: F::Config) -> Result<Self, Error> {
        Ok(DockerRegistry { config })
    }

    fn config(&self) -> &F::Config {
        &self.config
    }
}

/// Any registry, e.g. a local one (`localhost:5000`).
#[cfg(feature = "default-registry")]
#[derive(crate::Flavor)]
#[flavor(
    name = "default",
    display_name = "Default",
    config = BaseContainerRegistryConfig,
    implementation = "zenreg_core::builtin::DockerRegistry",
    docs_url = "https://distribution.github.io/distribution/",
    feature = "default-registry"
)]
pub struct DefaultContainerRegistryFlavor;
#[cfg(feature = "default-registry")]
register_container_registry!(DockerRegistry<DefaultContainerRegistryFlavor>);

/// Docker Hub (`docker.io/<user>`).
#[cfg(feature = "dockerhub")]
#[derive(crate::Flavor)]
#[flavor(
    name = "dockerhub",
    display_name = "DockerHub",
    config = BaseContainerRegistryConfig,
    implementation = "zenreg_core::builtin::DockerRegistry",
    docs_url = "https://docs.docker.com/docker-hub/",
    connector_type = "docker",
    feature = "dockerhub"
)]
pub struct DockerHubContainerRegistryFlavor;
#[cfg(feature = "dockerhub")]
register_container_registry!(DockerRegistry<DockerHubContainerRegistryFlavor>);

/// The GitHub Container Registry (`ghcr.io/<owner>`).
#[cfg(feature = "github")]
#[derive(crate::Flavor)]
#[flavor(
    name = "github",
    display_name = "GitHub",
    config = BaseContainerRegistryConfig,
    implementation = "zenreg_core::builtin::DockerRegistry",
    docs_url = "https://docs.github.com/packages/working-with-a-github-packages-registry/working-with-the-container-registry",
    feature = "github"
)]
pub struct GitHubContainerRegistryFlavor;
#[cfg(feature = "github")]
register_container_registry!(DockerRegistry<GitHubContainerRegistryFlavor>);

/// Google Container Registry and Artifact Registry (`<region>-docker.pkg.dev/<project>/<repo>`).
#[cfg(feature = "gcp")]
#[derive(crate::Flavor)]
#[flavor(
    name = "gcp",
    display_name = "Google Cloud",
    config = BaseContainerRegistryConfig,
    implementation = "zenreg_core::builtin::DockerRegistry",
    docs_url = "https://cloud.google.com/artifact-registry/docs",
    connector_type = "gcp",
    feature = "gcp"
)]
pub struct GcpContainerRegistryFlavor;
#[cfg(feature = "gcp")]
register_container_registry!(DockerRegistry<GcpContainerRegistryFlavor>);

/// Azure Container Registry (`<name>.azurecr.io`).
#[cfg(feature = "azure")]
#[derive(crate::Flavor)]
#[flavor(
    name = "azure",
    display_name = "Azure",
    config = BaseContainerRegistryConfig,
    implementation = "zenreg_core::builtin::DockerRegistry",
    docs_url = "https://learn.microsoft.com/azure/container-registry/",
    connector_type = "azure",
    feature = "azure"
)]
pub struct AzureContainerRegistryFlavor;
#[cfg(feature = "azure")]
register_container_registry!(DockerRegistry<AzureContainerRegistryFlavor>);

#[cfg(feature = "digitalocean")]
pub use digitalocean::{DigitalOceanContainerRegistryConfig, DigitalOceanContainerRegistryFlavor};

/// The `digitalocean` flavor, whose config checks the registry URI.
#[cfg(feature = "digitalocean")]
pub mod digitalocean {
    use super::DockerRegistry;
    use crate::__private::validator::ValidationError;
    use crate::{flavor_config, register_container_registry};

    /// Configuration of a DigitalOcean container registry.
    #[flavor_config(container_registry)]
    pub struct DigitalOceanContainerRegistryConfig {
        /// The registry URI: `registry.digitalocean.com/<registry-name>`.
        #[validate(custom(function = "validate_uri"))]
        pub uri: String,
    }

    fn validate_uri(uri: &str) -> Result<(), ValidationError> {
        match uri.strip_prefix("registry.digitalocean.com/") {
            Some(name) if !name.is_empty() && !name.contains('/') => Ok(()),
            _ => Err(ValidationError::new("digitalocean_uri").with_message(
                format!(
                    "`{uri}` is not a DigitalOcean registry URI; expected `registry.digitalocean.com/<registry-name>`, \
                     e.g. `registry.digitalocean.com/my-registry`"
                )
                .into(),
            )),
        }
    }

    /// DigitalOcean Container Registry (`registry.digitalocean.com/<registry-name>`).
    #[derive(crate::Flavor)]
    #[flavor(
        name = "digitalocean",
        display_name = "DigitalOcean",
        config = DigitalOceanContainerRegistryConfig,
        implementation = "zenreg_core::builtin::DockerRegistry",
        docs_url = "https://docs.digitalocean.com/products/container-registry/",
        feature = "digitalocean"
    )]
    pub struct DigitalOceanContainerRegistryFlavor;
    register_container_registry!(DockerRegistry<DigitalOceanContainerRegistryFlavor>);
}
