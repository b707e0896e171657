//! Config validation of arbitrary JSON by every built-in flavor and the `aws` flavor: an error
//! or a normalised config, never a panic; and normalising is idempotent (a stored config
//! validates again to itself, as a push revalidates it).

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use zenreg_aws_config as _;
use zenreg_core::{Catalog, ComponentType};

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(data) else { return };
    for entry in Catalog::global().flavors(ComponentType::ContainerRegistry) {
        let validate = entry.descriptor.config.validate;
        if let Ok(normalised) = validate(&object) {
            let again = validate(&normalised);
            assert_eq!(again.as_ref(), Ok(&normalised), "flavor {}: not idempotent", entry.descriptor.name);
        }
    }
});
