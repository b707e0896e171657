//! The numbers a registry sends (an upload's `Range`, `Retry-After`, `Content-Length`): never a
//! panic or an overflow; an upload range is the end plus one, checked.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::Duration;
use zenreg_push::oci::wire::{decimal, retry_after, upload_range};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(held) = upload_range(text) {
        let end = text.trim().trim_start_matches("bytes=").split_once('-').map(|(_, e)| e.trim()).unwrap_or_default();
        let end: u64 = end.parse().unwrap();
        assert_eq!(held, if end == 0 { 0 } else { end + 1 });
    }
    let cap = Duration::from_secs(60);
    assert!(retry_after(text, cap).is_none_or(|d| d <= cap));
    let _ = decimal(text);
});
