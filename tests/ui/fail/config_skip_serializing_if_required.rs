use zenreg_core::flavor_config;

pub type Labels = Vec<String>;

// A stored config without `labels` would no longer validate: it is required.
#[flavor_config(container_registry)]
pub struct AcmeConfig {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Labels,
}

fn main() {}
