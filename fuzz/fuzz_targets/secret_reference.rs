//! Secret-reference parsing (`{{secret.key}}`): never a panic, and whatever parses names a
//! secret and key that write back to a reference parsing to the same pair.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zenreg_core::config::parse_secret_reference;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some((name, key)) = parse_secret_reference(text) {
        for part in [name, key] {
            assert!(!part.is_empty());
            assert!(!part.contains(['{', '}', '.']), "{part:?} from {text:?}");
        }
        let written = format!("{{{{{name}.{key}}}}}");
        assert_eq!(parse_secret_reference(&written), Some((name, key)));
    }
});
