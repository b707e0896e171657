use zenreg_core::{flavor_config, Flavor};

#[flavor_config(container_registry)]
pub struct AcmeConfig {}

/// A plain struct, not annotated with #[flavor_config].
pub struct PlainSettings {
    pub uri: String,
}

#[derive(Flavor)]
#[flavor(name = "acme", config = PlainSettings)]
pub struct AcmeFlavor;

fn main() {}
