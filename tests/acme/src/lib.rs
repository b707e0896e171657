//! A downstream crate, as a zenreg user writes one: it defines its own container-registry flavor
//! with the macros of zenreg-core (its only zenreg dependency) and registers an implementation.
//!
//! The binary `zenreg-downstream` links it next to the built-in flavors, and the tests of this
//! crate check that it is listed, described and validated like any built-in.

use zenreg_core::__private::validator::ValidationError;
use zenreg_core::{ContainerRegistry, ContainerRegistryConfig, Error, Flavor, flavor_config};

/// Configuration of the Acme registry.
#[flavor_config(container_registry, validate = check_mirror)]
pub struct AcmeRegistryConfig {
    /// Project that images are pushed into.
    #[validate(length(min = 1, max = 40))]
    pub project: String,
    /// How many pushes may run at once.
    #[validate(range(min = 1, max = 16))]
    #[serde(default = "default_parallelism")]
    pub parallelism: u32,
    /// A mirror that receives a copy of every push; must differ from `uri`.
    pub mirror: Option<String>,
    /// Extra labels attached to pushed images.
    #[serde(default)]
    pub labels: Vec<String>,
}

fn default_parallelism() -> u32 {
    4
}

fn check_mirror(config: &AcmeRegistryConfig) -> Result<(), ValidationError> {
    match &config.mirror {
        Some(mirror) if *mirror == config.uri => Err(ValidationError::new("mirror")
            .with_message("`mirror` must differ from `uri`: a registry cannot mirror itself".into())),
        _ => Ok(()),
    }
}

/// The Acme in-house registry.
#[derive(Flavor)]
#[flavor(
    name = "acme",
    display_name = "Acme Registry",
    config = AcmeRegistryConfig,
    implementation = "zenreg_acme::AcmeRegistry",
    feature = "acme",
    connector_type = "acme"
)]
pub struct AcmeRegistryFlavor;

/// The implementation of the Acme flavor.
#[derive(Debug)]
pub struct AcmeRegistry {
    config: AcmeRegistryConfig,
}

impl ContainerRegistry for AcmeRegistry {
    type Flavor = AcmeRegistryFlavor;

    fn from_config(config: AcmeRegistryConfig) -> Result<Self, Error> {
        Ok(AcmeRegistry { config })
    }

    fn config(&self) -> &AcmeRegistryConfig {
        &self.config
    }

    async fn prepare_image_push(&self, image: &str, _: &zenreg_core::Diagnostics) -> Result<(), Error> {
        if image.contains(&format!("/{}/", self.config.project)) {
            Ok(())
        } else {
            Err(Error::registry(
                format!("image `{image}` is outside project `{}`", self.config.project),
                Some(format!("tag it as `{}/{}/NAME`", self.config.uri(), self.config.project)),
            ))
        }
    }
}

zenreg_core::register_container_registry!(AcmeRegistry);

/// A flavor whose implementation is not linked anywhere, as when a cargo feature is off.
#[derive(Flavor)]
#[flavor(
    name = "acme_unlinked",
    config = zenreg_core::builtin::BaseContainerRegistryConfig,
    implementation = "acme_heavy::AcmeHeavyRegistry",
    feature = "acme-heavy"
)]
pub struct AcmeUnlinkedFlavor;

/// What `mirrorHost` holds: an `Option` behind a type alias, which the macro cannot see through
/// by its spelling (the compiler decides that it is optional).
pub type MaybeHost = Option<String>;

/// Configuration of the Camel registry, whose keys are camelCase as its HTTP API's are.
#[flavor_config(container_registry)]
#[serde(rename_all = "camelCase")]
pub struct CamelRegistryConfig {
    /// Organisation that owns the pushed images.
    #[validate(length(min = 1, max = 40))]
    pub organisation_name: String,
    /// Project inside the organisation; its key is `project`.
    #[serde(rename = "project")]
    pub project_identifier: String,
    /// How often a push is retried; `retry_count` is still accepted (its old name).
    #[serde(alias = "retry_count")]
    #[validate(range(max = 10))]
    pub max_retries: Option<u32>,
    /// Seconds a push may take.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// A mirror host, if any.
    pub mirror_host: MaybeHost,
    /// Filled in by the implementation; not a config key.
    #[serde(skip)]
    pub resolved: Vec<String>,
}

fn default_timeout() -> u64 {
    30
}

/// The Camel registry, configured in camelCase.
#[derive(Flavor)]
#[flavor(
    name = "camel",
    config = CamelRegistryConfig,
    implementation = "zenreg_acme::CamelRegistry",
    feature = "camel"
)]
pub struct CamelRegistryFlavor;

/// The implementation of the Camel flavor.
#[derive(Debug)]
pub struct CamelRegistry {
    config: CamelRegistryConfig,
}

impl ContainerRegistry for CamelRegistry {
    type Flavor = CamelRegistryFlavor;

    fn from_config(config: CamelRegistryConfig) -> Result<Self, Error> {
        Ok(CamelRegistry { config })
    }

    fn config(&self) -> &CamelRegistryConfig {
        &self.config
    }

    async fn prepare_image_push(&self, image: &str, _: &zenreg_core::Diagnostics) -> Result<(), Error> {
        let prefix = format!("{}/{}/", self.config.uri(), self.config.organisation_name);
        if image.starts_with(&prefix) {
            Ok(())
        } else {
            Err(Error::registry(
                format!("image `{image}` is outside organisation `{}`", self.config.organisation_name),
                Some(format!("tag it as `{prefix}NAME`")),
            ))
        }
    }
}

zenreg_core::register_container_registry!(CamelRegistry);
