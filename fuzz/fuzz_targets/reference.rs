//! The image-reference parser: never a panic; a parsed reference displays as the text it came
//! from and parses again to the same value; its parts obey the grammar's limits.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zenreg_core::Reference;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(reference) = Reference::parse(text) else { return };
    assert_eq!(reference.to_string(), text);
    assert_eq!(Reference::parse(&reference.to_string()).as_ref(), Ok(&reference));
    assert!(!reference.path().is_empty() && reference.name().len() <= zenreg_core::reference::NAME_MAX);
    assert!(!reference.path().contains(['?', '#', '%', ' ']) && !reference.path().split('/').any(|c| c == ".."));
    assert!(reference.path().chars().all(|c| !c.is_ascii_uppercase()));
    if let Some(tag) = reference.tag() {
        assert!(!tag.is_empty() && tag.len() <= zenreg_core::reference::TAG_MAX);
    }
});
