//! Image-name/registry matching and `--retag` targets: never a panic, and a retagged image
//! always belongs to the registry it was retagged for.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zenreg_core::is_valid_image_name_for_registry;
use zenreg_push::{retag_target, split_tag};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(3, '\n');
    let (image, uri, repository) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
    let _ = is_valid_image_name_for_registry(image, uri);
    let (name, tag) = split_tag(image);
    assert!(image.starts_with(name));
    assert!(!tag.is_empty() || image.ends_with(':'));
    // Registry URIs as validation leaves them: no trailing `/`, no whitespace, not empty.
    let uri = uri.trim_end_matches('/');
    if !uri.is_empty() && !uri.contains(char::is_whitespace) && !image.contains('@') {
        let target = retag_target(image, uri, repository);
        assert!(is_valid_image_name_for_registry(&target, uri), "{target:?} is not under {uri:?}");
    }
});
