use zenreg_core::flavor_config;

#[flavor_config(container_registry, validat = check)]
pub struct AcmeConfig {}

fn main() {}
