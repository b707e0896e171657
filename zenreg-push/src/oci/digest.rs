//! SHA-256 digests in the `sha256:<hex>` form registries use. `sha2` picks the CPU's SHA
//! extensions at run time, so hashing every byte of a push costs little next to compressing it.

use sha2::{Digest as _, Sha256};

/// A running SHA-256 over bytes that pass through, with their count.
#[derive(Clone, Default)]
pub struct Hasher {
    inner: Sha256,
    bytes: u64,
}

impl Hasher {
    /// An empty hasher.
    pub fn new() -> Hasher {
        Hasher::default()
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
        self.bytes += data.len() as u64;
    }

    /// How many bytes were hashed.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The digest, `sha256:<hex>`.
    pub fn finish(self) -> String {
        format!("sha256:{}", hex(&self.inner.finalize()))
    }
}

/// The digest of `data`, `sha256:<hex>`.
pub fn sha256(data: &[u8]) -> String {
    let mut hasher = Hasher::new();
    hasher.update(data);
    hasher.finish()
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        for nibble in [byte >> 4, byte & 15] {
            // A nibble is below 16, so it is always a hex digit.
            out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
    out
}

/// Whether `digest` is `sha256:` and 64 lower-case hex digits: anything else is refused before it
/// becomes part of a path or a URL.
pub fn is_sha256(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_known_values() {
        assert_eq!(sha256(b""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let mut split = Hasher::new();
        split.update(b"ab");
        split.update(b"c");
        assert_eq!(split.bytes(), 3);
        assert_eq!(split.finish(), sha256(b"abc"));
    }

    #[test]
    fn checks_the_digest_form() {
        assert!(is_sha256(&sha256(b"x")));
        assert!(!is_sha256("sha256:../../etc"));
        assert!(!is_sha256("sha512:00"));
    }
}
