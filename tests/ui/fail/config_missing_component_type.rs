use zenreg_core::flavor_config;

#[flavor_config]
pub struct AcmeConfig {}

fn main() {}
