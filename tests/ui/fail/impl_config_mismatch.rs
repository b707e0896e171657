use zenreg_core::{flavor_config, ContainerRegistry, Error, Flavor};

#[flavor_config(container_registry)]
pub struct AcmeConfig {}

#[flavor_config(container_registry)]
pub struct OtherConfig {}

#[derive(Flavor)]
#[flavor(name = "acme", config = AcmeConfig)]
pub struct AcmeFlavor;

pub struct AcmeRegistry {
    config: AcmeConfig,
}

impl ContainerRegistry for AcmeRegistry {
    type Flavor = AcmeFlavor;

    fn from_config(config: OtherConfig) -> Result<Self, Error> {
        let _ = config;
        unimplemented!()
    }

    fn config(&self) -> &AcmeConfig {
        &self.config
    }
}

zenreg_core::register_container_registry!(AcmeRegistry);

fn main() {}
