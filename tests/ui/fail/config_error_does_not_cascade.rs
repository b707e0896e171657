use zenreg_core::{flavor_config, ContainerRegistry, ContainerRegistryConfig, Error, Flavor};

// The config's two mistakes are the only errors: its flavor, its implementation and the code
// that uses its fields still compile against the fallback the macro emits.
#[flavor_config(container_registry)]
#[serde(rename_all = "camelcase")]
pub struct AcmeConfig {
    #[serde(flatten)]
    pub extra: std::collections::BTreeMap<String, String>,
    #[validate(length(min = 1))]
    pub project: String,
}

#[derive(Flavor)]
#[flavor(name = "acme", config = AcmeConfig)]
pub struct AcmeFlavor;

pub struct AcmeRegistry {
    config: AcmeConfig,
}

impl ContainerRegistry for AcmeRegistry {
    type Flavor = AcmeFlavor;

    fn from_config(config: AcmeConfig) -> Result<Self, Error> {
        let _ = (config.uri(), &config.uri, &config.authentication_secret, &config.project);
        Ok(AcmeRegistry { config })
    }

    fn config(&self) -> &AcmeConfig {
        &self.config
    }
}

zenreg_core::register_container_registry!(AcmeRegistry);

fn main() {}
