use zenreg_core::flavor_config;

#[flavor_config(container_registry)]
pub struct AcmeConfig {
    #[flavor(optinal)]
    pub project: Option<String>,
    #[flavor(optional, required)]
    pub region: Option<String>,
    #[flavor(required)]
    #[serde(default)]
    pub zone: String,
    #[flavor(optional)]
    #[serde(deserialize_with = "read_level")]
    pub level: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "read_level")]
    pub other: Option<u8>,
}

fn read_level<'de, D: zenreg_core::__private::serde::Deserializer<'de>>(_: D) -> Result<Option<u8>, D::Error> {
    Ok(None)
}

fn main() {}
