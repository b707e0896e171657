use zenreg_core::flavor_config;

// Two fields (or a field and an alias) answering to one key.
#[flavor_config(container_registry)]
pub struct AcmeConfig {
    pub project: String,
    #[serde(rename = "project")]
    pub project_name: String,
    #[serde(alias = "uri")]
    pub registry: Option<String>,
}

fn main() {}
