//! The Docker config parser (`auths`, `credHelpers`, `credsStore`): any file gives credentials,
//! a helper to run, nothing, or an error, never a panic. Helpers are named, not run.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use zenreg_push::docker_config::{ConfigAnswer, answer_from_text, registry_host};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (config, image) = text.split_once('\u{1}').unwrap_or((text, "localhost:5000/app"));
    let host = registry_host(image);
    match answer_from_text(config, Path::new("config.json"), host) {
        Ok(ConfigAnswer::Helper { name, .. }) => assert!(!name.is_empty()),
        Ok(_) | Err(_) => {}
    }
});
