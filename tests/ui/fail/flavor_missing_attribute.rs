use zenreg_core::{flavor_config, Flavor};

#[flavor_config(container_registry)]
pub struct AcmeConfig {}

#[derive(Flavor)]
pub struct AcmeFlavor;

fn main() {}
