//! The `WWW-Authenticate` reading (http-auth's parser and zenreg's choice among the challenges):
//! never a panic; a Bearer answer always has a non-empty realm; a refusal always says something.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zenreg_push::oci::wire::{Challenge, choose_challenge};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Several headers, split on NUL.
    match choose_challenge(text.split('\0')) {
        Ok(Challenge::Bearer { realm, .. }) => assert!(!realm.is_empty()),
        Ok(Challenge::Basic) => {}
        Err(offered) => assert!(!offered.is_empty()),
    }
});
