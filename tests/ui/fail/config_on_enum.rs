use zenreg_core::flavor_config;

#[flavor_config(container_registry)]
pub enum AcmeConfig {
    Local,
}

fn main() {}
