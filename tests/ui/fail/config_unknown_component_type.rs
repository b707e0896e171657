use zenreg_core::flavor_config;

#[flavor_config(container_registy)]
pub struct AcmeConfig {}

fn main() {}
