//! Image references in the distribution grammar (`[DOMAIN[:PORT]/]PATH[:TAG][@DIGEST]`): one
//! parser, used wherever zenreg splits a reference, so that a name that is not a reference
//! (`host/team/../../admin:v1`, a tag `v1?x=1#f`, an upper-case repository) is one clear error
//! before any request is made. Fuzzed by `fuzz/fuzz_targets/reference.rs`.
//!
//! A parser of its own, not `oci-spec`'s: that crate brings regex, derive_builder, getset and
//! strum into every flavor crate, which zenreg-core keeps light (`tests/tests/crate_split.rs`).

use std::fmt;

/// Longest name (domain and path) the distribution grammar allows.
pub const NAME_MAX: usize = 255;
/// Longest tag.
pub const TAG_MAX: usize = 128;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: Option<String>,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// A text that is not an image reference, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{shown}` is not an image reference: {problem}")]
pub struct ReferenceError {
    /// The text, control characters escaped and cut at 200 characters.
    pub shown: String,
    /// What is wrong.
    pub problem: String,
}

impl ReferenceError {
    fn new(text: &str, problem: impl Into<String>) -> ReferenceError {
        let mut shown: String = text.chars().take(200).flat_map(char::escape_debug).collect();
        if text.chars().count() > 200 {
            shown.push('…');
        }
        ReferenceError { shown, problem: problem.into() }
    }
}

/// Whether the first component of a name is a registry domain rather than a path component:
/// it has a `.` or `:`, is `localhost`, or has upper-case letters (which a path cannot), as
/// Docker decides.
pub fn is_domain(component: &str) -> bool {
    component.contains(['.', ':']) || component == "localhost" || component.chars().any(|c| c.is_ascii_uppercase())
}

fn is_alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// A path component: lower-case letters and digits, separated by `.`, `_`, `__` or runs of `-`.
fn check_path_component(component: &str) -> Result<(), String> {
    let problem = || {
        if component.chars().any(|c| c.is_ascii_uppercase()) {
            format!("the repository part `{component}` has upper-case letters")
        } else {
            format!(
                "the repository part `{}` is not lower-case letters and digits separated by `.`, `_`, `__` or `-`",
                component.escape_debug()
            )
        }
    };
    let bytes = component.as_bytes();
    if bytes.is_empty() || !is_alnum_lower(bytes[0] as char) || !is_alnum_lower(bytes[bytes.len() - 1] as char) {
        return Err(problem());
    }
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        if is_alnum_lower(c) {
            i += 1;
            continue;
        }
        // A separator, then an alphanumeric must follow.
        let start = i;
        match c {
            '.' => i += 1,
            '_' => i += if bytes.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            '-' => {
                while bytes.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return Err(problem()),
        }
        if i == start || !bytes.get(i).is_some_and(|b| is_alnum_lower(*b as char)) {
            return Err(problem());
        }
    }
    Ok(())
}

/// A domain: host names of letters, digits and inner `-` joined by `.`, or an IPv6 address in
/// brackets; then an optional `:PORT` of digits (at most 65535).
fn check_domain(domain: &str) -> Result<(), String> {
    let problem = || format!("`{}` is not a registry host (`name[:port]`)", domain.escape_debug());
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let (address, after) = rest.split_once(']').ok_or_else(problem)?;
        if address.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(problem());
        }
        match after {
            "" => (None, None),
            _ => (None, Some(after.strip_prefix(':').ok_or_else(problem)?)),
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(domain), None),
        }
    };
    if let Some(host) = host {
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if !host.split('.').all(label_ok) {
            return Err(problem());
        }
    }
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err())
    {
        return Err(problem());
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<(), String> {
    let ok = tag.len() <= TAG_MAX
        && tag.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the tag `{}` is not 1 to {TAG_MAX} letters, digits, `_`, `.` and `-` (not starting with `.` or `-`)",
            tag.escape_debug()
        ))
    }
}

fn check_digest(digest: &str) -> Result<(), String> {
    let problem = || format!("`{}` is not a digest (`sha256:` and 64 lower-case hex digits)", digest.escape_debug());
    let (algorithm, encoded) = digest.split_once(':').ok_or_else(problem)?;
    let algorithm_ok = algorithm.split(['+', '.', '-', '_']).all(|part| {
        part.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) && part.chars().all(|c| c.is_ascii_alphanumeric())
    });
    let hex =
        |n: usize| encoded.len() == n && encoded.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let encoded_ok = match algorithm {
        "sha256" => hex(64),
        "sha512" => hex(128),
        _ => encoded.len() >= 32 && encoded.bytes().all(|b| b.is_ascii_hexdigit()),
    };
    if algorithm_ok && encoded_ok { Ok(()) } else { Err(problem()) }
}

impl Reference {
    /// Parses `text` as written (no default domain or tag is added).
    pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
        let fail = |problem: String| ReferenceError::new(text, problem);
        if text.is_empty() {
            return Err(fail("it is empty".into()));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (text, None),
        };
        // A tag follows the last `:` after the last `/` (a `:` before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(colon) => (&rest[..last_slash + colon], Some(&rest[last_slash + colon + 1..])),
            None => (rest, None),
        };
        if name.len() > NAME_MAX {
            return Err(fail(format!("the name is longer than {NAME_MAX} characters")));
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, path)) if is_domain(first) => (Some(first), path),
            _ => (None, name),
        };
        if let Some(domain) = domain {
            check_domain(domain).map_err(fail)?;
        }
        if path.is_empty() {
            return Err(fail("it names no repository".into()));
        }
        for component in path.split('/') {
            check_path_component(component).map_err(fail)?;
        }
        if let Some(tag) = tag {
            check_tag(tag).map_err(fail)?;
        }
        if let Some(digest) = digest {
            check_digest(digest).map_err(fail)?;
        }
        Ok(Reference {
            domain: domain.map(str::to_string),
            path: path.to_string(),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// The registry domain as written (with its port), if the reference names one.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// The repository path in the registry (`team/app`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if given.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if given.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The name: `[domain/]path`.
    pub fn name(&self) -> String {
        match &self.domain {
            Some(domain) => format!("{domain}/{}", self.path),
            None => self.path.clone(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(domain) = &self.domain {
            write!(f, "{domain}/")?;
        }
        f.write_str(&self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Reference::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_references() {
        let digest = format!("sha256:{}", "a".repeat(64));
        for (text, domain, path, tag) in [
            ("app", None, "app", None),
            ("team/app:1.0", None, "team/app", Some("1.0")),
            ("127.0.0.1:5000/team/app:v1", Some("127.0.0.1:5000"), "team/app", Some("v1")),
            ("localhost/a__b.c-d---e/f:_x", Some("localhost"), "a__b.c-d---e/f", Some("_x")),
            ("[::1]:5000/app", Some("[::1]:5000"), "app", None),
            ("ghcr.io/me/app", Some("ghcr.io"), "me/app", None),
        ] {
            let reference = Reference::parse(text).unwrap();
            assert_eq!((reference.domain(), reference.path(), reference.tag()), (domain, path, tag), "{text}");
            assert_eq!(reference.to_string(), text);
        }
        let with_digest = Reference::parse(&format!("r.example/app:1@{digest}")).unwrap();
        assert_eq!(with_digest.digest(), Some(digest.as_str()));
        assert_eq!(with_digest.to_string(), format!("r.example/app:1@{digest}"));
    }

    #[test]
    fn refuses_what_is_not_a_reference() {
        for (text, says) in [
            ("127.0.0.1:5000/team/../../admin:v1", "`..`"),
            ("127.0.0.1:5000/team/app:v1?x=1#f", "the tag"),
            ("127.0.0.1:5000/Team/App:1", "upper-case"),
            ("127.0.0.1:5000/team/app/:1", "repository part ``"),
            ("127.0.0.1:5000/a//b", "repository part ``"),
            ("r.example/app:", "the tag"),
            ("r.example/app:.x", "the tag"),
            ("r.example/app@sha256:zz", "not a digest"),
            ("r.example:99999/app", "not a registry host"),
            ("r.example:/app", "not a registry host"),
            ("-r.example/app", "not a registry host"),
            ("r.example/", "no repository"),
            ("", "empty"),
            ("a_/b", "repository part"),
            ("a/b c", "repository part"),
            ("a/b%2f..", "repository part"),
        ] {
            let error = Reference::parse(text).unwrap_err();
            assert!(error.to_string().contains(says), "{text}: {error}");
        }
        assert!(Reference::parse(&format!("a:{}", "x".repeat(129))).is_err());
        assert!(Reference::parse(&format!("a:{}", "x".repeat(128))).is_ok());
        assert!(Reference::parse(&format!("r.example/{}", "a".repeat(250))).is_err());
    }
}
