use zenreg_core::flavor_config;

#[flavor_config(container_registry)]
#[validate(crate = "validator", context = Ctx)]
pub struct AcmeConfig {}

fn main() {}
