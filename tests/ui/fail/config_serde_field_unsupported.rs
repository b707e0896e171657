use zenreg_core::flavor_config;

// Every serde field attribute zenreg cannot honour, each reported with its reason.
#[flavor_config(container_registry)]
pub struct AcmeConfig {
    #[serde(flatten)]
    pub extra: std::collections::BTreeMap<String, String>,
    #[serde(borrow, bound = "")]
    pub project: String,
    #[serde(getter = "Other::project")]
    pub region: String,
    #[serde(skip_serializing)]
    pub token: Option<String>,
    #[serde(serialize_with = "write_level")]
    pub level: u8,
}

fn main() {}
