use zenreg_core::{flavor_config, Flavor};

#[flavor_config(container_registry)]
pub struct AcmeConfig {}

#[flavor_config(container_registry)]
pub struct OtherConfig {}

#[derive(Flavor)]
#[flavor(name = "acme", config = AcmeConfig)]
pub struct AcmeFlavor;

pub struct NotARegistry;

zenreg_core::register_container_registry!(NotARegistry);

fn main() {}
