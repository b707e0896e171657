use zenreg_core::flavor_config;

#[flavor_config(container_registy, validat = check, crate = ::zenreg_core, crate = ::zenreg_core)]
pub struct AcmeConfig {}

fn main() {}
