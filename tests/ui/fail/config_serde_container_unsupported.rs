use zenreg_core::flavor_config;

// Every serde container attribute zenreg cannot honour, each reported with its reason.
#[flavor_config(container_registry)]
#[serde(tag = "type", untagged, content = "c", transparent)]
#[serde(from = "String", try_from = "String", into = "String", remote = "Other")]
#[serde(bound = "", field_identifier, variant_identifier, rename_all_fields = "camelCase")]
#[serde(crate = "serde")]
pub struct AcmeConfig {}

fn main() {}
