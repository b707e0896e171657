use zenreg_core::flavor_config;

// Whether a type is an `Option` is for the compiler to say: this one is not.
#[flavor_config(container_registry)]
pub struct AcmeConfig {
    #[flavor(optional)]
    pub retries: u32,
}

fn main() {}
