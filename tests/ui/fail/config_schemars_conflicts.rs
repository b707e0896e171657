use zenreg_core::flavor_config;

// schemars keys that would make the schema disagree with serde.
#[flavor_config(container_registry)]
#[schemars(rename_all = "camelCase", crate = "schemars")]
pub struct AcmeConfig {
    #[schemars(rename = "projectName")]
    pub project_name: String,
    #[schemars(default, flatten)]
    pub region: String,
}

fn main() {}
