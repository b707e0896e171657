use zenreg_core::flavor_config;

// The store and the push flow read `authentication_secret` by that name.
#[flavor_config(container_registry)]
#[serde(rename_all = "camelCase")]
pub struct AcmeConfig {
    #[serde(rename = "authSecret")]
    pub authentication_secret: Option<String>,
}

fn main() {}
