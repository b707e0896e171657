//! The rules every registry URI follows, whatever its flavor adds, and the syntax of secret
//! references (`{{secret_name.key}}`). Kept apart from `config.rs` so the rules can grow
//! without touching the code the config macros generate calls into.

/// The longest registry URI: an image name (which starts with the URI) has at most 255
/// characters in Docker's reference grammar.
pub const MAX_URI_LEN: usize = 255;

/// What is wrong with a registry URI, if anything: empty, with a scheme, too long, JSON-looking,
/// holding a `{{…}}` reference (the URI is validated, so references are never resolved in it),
/// or characters an image reference cannot hold (Docker's grammar allows letters, digits, `.`,
/// `-`, `_`, `:` and `/`; `[`, `]` for IPv6 hosts).
pub fn check(uri: &str) -> Option<&'static str> {
    let trimmed = uri.trim_start();
    if uri.is_empty() {
        Some("cannot be empty: give the registry host, e.g. `localhost:5000` or `ghcr.io/my-org`")
    } else if uri.contains("://") {
        Some("must not have a scheme: drop `http://` or `https://` (e.g. `ghcr.io/my-org`)")
    } else if uri.len() > MAX_URI_LEN {
        Some("is too long: a registry URI has at most 255 characters")
    } else if uri.contains("{{") || uri.contains("}}") {
        Some("cannot hold a secret reference: the URI is checked as given, so give the host itself")
    } else if trimmed.starts_with('{') || trimmed.starts_with('[') && !trimmed.contains(']') || looks_like_json(trimmed)
    {
        Some("looks like JSON: give the registry host, e.g. `localhost:5000` or `ghcr.io/my-org`")
    } else if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("must not contain whitespace")
    } else if !uri.chars().all(|c| c.is_ascii_alphanumeric() || ".-_:/[]".contains(c)) {
        Some("can only hold letters, digits and `.`, `-`, `_`, `:`, `/` (and `[…]` around an IPv6 address)")
    } else {
        None
    }
}

/// `[1,2]`, `["a"]`, `[]`: arrays, not an IPv6 host such as `[::1]:5000`.
fn looks_like_json(text: &str) -> bool {
    text.starts_with('[') && (text.contains(',') || text.contains('"') || text == "[]")
}

/// Whether `name` can be a secret name in a reference: 1–255 ASCII letters, digits, `_`, `-`.
pub fn is_secret_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether `key` can be a secret key: an identifier (letters, digits, `_`, not starting with a
/// digit).
pub fn is_secret_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Splits a secret reference `{{secret_name.key}}` (spaces allowed inside the braces and around
/// them) into its name and key. The whole value must be one reference, with a possible secret
/// name and key: `{{{{c.p}}}}` and `{{a.b}}{{c.d}}` are not references.
pub fn parse_secret_reference(value: &str) -> Option<(&str, &str)> {
    let inner = value.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let (name, key) = inner.split_once('.')?;
    (is_secret_name(name) && is_secret_key(key)).then_some((name, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_that_are_not_registry_hosts_are_refused() {
        for uri in ["{\"a\":1}", "[1,2]", "[]", "{{s.k}}:5000", "host/{{s.k}}", "a b", "a\u{1b}b", "x?y", "é.io", ""] {
            assert!(check(uri).is_some(), "{uri:?} was accepted");
        }
        assert!(check(&"a".repeat(256)).is_some());
        for uri in
            ["localhost:5000", "ghcr.io/my-org", "[::1]:5000", "123.dkr.ecr.eu-west-1.amazonaws.com", &"a".repeat(255)]
        {
            assert_eq!(check(uri), None, "{uri:?} was refused");
        }
    }

    #[test]
    fn a_reference_is_one_whole_well_formed_reference() {
        assert_eq!(parse_secret_reference("{{creds.password}}"), Some(("creds", "password")));
        assert_eq!(parse_secret_reference(" {{ a-b.c_d }} "), Some(("a-b", "c_d")));
        for value in
            ["{{{{c.p}}}}", "{{a.b}}{{c.d}}", "{{a b.c}}", "{{a.1c}}", "{{a.b.c}}", "{{.x}}", "{{x.}}", "x{{a.b}}"]
        {
            assert_eq!(parse_secret_reference(value), None, "{value:?}");
        }
    }
}
