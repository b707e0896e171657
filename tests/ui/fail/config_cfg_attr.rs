use zenreg_core::flavor_config;

// zenreg cannot see through cfg_attr, so it refuses to guess.
#[flavor_config(container_registry)]
pub struct AcmeConfig {
    #[cfg_attr(test, serde(rename = "projectName"))]
    pub project: String,
}

fn main() {}
