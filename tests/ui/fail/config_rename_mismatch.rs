use zenreg_core::flavor_config;

// A stored config is read back: serialize and deserialize names must be the same.
#[flavor_config(container_registry)]
#[serde(rename_all(serialize = "camelCase"))]
pub struct AcmeConfig {
    #[serde(rename(serialize = "projectName", deserialize = "project"))]
    pub project_name: String,
    #[serde(rename(deserialize = "region"))]
    pub region_name: String,
}

#[flavor_config(container_registry)]
#[serde(rename_all = "camelcase")]
pub struct OtherConfig {}

fn main() {}
