use zenreg_core::flavor_config;

#[flavor_config(container_registry)]
pub struct AcmeConfig(String);

fn main() {}
