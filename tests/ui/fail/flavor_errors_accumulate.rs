use zenreg_core::{flavor_config, Flavor};

#[flavor_config(container_registry)]
pub struct AcmeConfig {}

// A duplicated key does not stop the reading: the misspelt key after it is reported too.
#[derive(Flavor)]
#[flavor(name = "acme", name = "acme2", nmae = "acme3", config = AcmeConfig)]
pub struct AcmeFlavor;

// Every wrong value, unknown key and bad name at once.
#[derive(Flavor)]
#[flavor(name = "Bad Name", config = AcmeConfig, feature = "", logo_url = 42, colour = "red")]
pub struct OtherFlavor;

fn main() {}
