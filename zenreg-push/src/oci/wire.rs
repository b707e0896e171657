//! What a registry says in headers, read strictly: the `WWW-Authenticate` challenges of a 401,
//! the `Range` of an upload's status, `Retry-After`, `OCI-Chunk-Min-Length`. Pure functions with
//! checked arithmetic (a registry is untrusted input), fuzzed by `fuzz/fuzz_targets/challenge.rs`
//! and `fuzz/fuzz_targets/range.rs`.

use std::time::Duration;

/// The authentication a registry asked for, among the schemes zenreg speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic`: user name and password on every request.
    Basic,
    /// `Bearer realm=…`: the token flow of the distribution spec.
    Bearer {
        /// Where tokens come from (checked by the caller before use).
        realm: String,
        /// The `service` parameter, passed back to the realm.
        service: Option<String>,
    },
}

/// The longest piece of a challenge quoted in an error message.
const SHOWN: usize = 80;

/// Picks the challenge to answer from every `WWW-Authenticate` value of a 401: a `Bearer` with a
/// `realm` first, else `Basic`. Anything else (no challenge, `Negotiate`, `Bearer` without a
/// realm, a header that does not parse) is an error naming what was offered, so that no
/// credential is sent to a registry that did not ask for it in a way zenreg understands.
pub fn choose_challenge<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Challenge, String> {
    let mut offered = Vec::new();
    let mut basic = false;
    for value in values.into_iter().filter(|v| !v.trim().is_empty()) {
        for parsed in http_auth::parser::ChallengeParser::new(value) {
            let Ok(challenge) = parsed else {
                offered.push(format!("an unreadable challenge `{}`", shown(value)));
                break;
            };
            let param = |name: &str| {
                challenge
                    .params
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(name))
                    .map(|(_, value)| value.to_unescaped())
            };
            if challenge.scheme.eq_ignore_ascii_case("bearer") {
                match param("realm").filter(|realm| !realm.is_empty()) {
                    Some(realm) => return Ok(Challenge::Bearer { realm, service: param("service") }),
                    None => offered.push("`Bearer` without a realm".to_string()),
                }
            } else if challenge.scheme.eq_ignore_ascii_case("basic") {
                basic = true;
            } else {
                offered.push(format!("`{}`", shown(challenge.scheme)));
            }
        }
    }
    if basic {
        return Ok(Challenge::Basic);
    }
    if offered.is_empty() {
        return Err("no authentication challenge (no `WWW-Authenticate` header)".into());
    }
    offered.dedup();
    Err(offered.join(", "))
}

/// `text` cut to [`SHOWN`] characters with control characters replaced, for a message.
fn shown(text: &str) -> String {
    let mut out: String = text.chars().take(SHOWN).map(|c| if c.is_control() { '?' } else { c }).collect();
    if text.chars().count() > SHOWN {
        out.push('…');
    }
    out
}

/// How many bytes an upload holds, from the `Range` of its status (`0-N`, or `bytes=0-N`): N + 1,
/// and 0 for `0-0` (distribution's answer for an empty upload). `None` for anything else: a
/// start other than 0, an end that does not fit (`0-18446744073709551615`), text around it.
pub fn upload_range(value: &str) -> Option<u64> {
    let value = value.trim();
    let value = value.strip_prefix("bytes=").unwrap_or(value);
    let (start, end) = value.split_once('-')?;
    if start.trim() != "0" {
        return None;
    }
    let end = end.trim();
    if end.is_empty() || !end.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let end: u64 = end.parse().ok()?;
    if end == 0 { Some(0) } else { end.checked_add(1) }
}

/// A `Retry-After` in delta-seconds, capped at `cap`. (An HTTP date is not read: the pause
/// falls back to the usual backoff.)
pub fn retry_after(value: &str, cap: Duration) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() || value.len() > 12 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: u64 = value.parse().ok()?;
    Some(Duration::from_secs(seconds).min(cap))
}

/// A non-negative decimal header (`Content-Length`, `OCI-Chunk-Min-Length`); `None` when it is
/// not one or does not fit in 64 bits.
pub fn decimal(value: &str) -> Option<u64> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_bearer_with_a_realm_then_basic_and_refuses_the_rest() {
        let bearer =
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull""#;
        assert_eq!(
            choose_challenge([bearer]),
            Ok(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            })
        );
        assert_eq!(choose_challenge([r#"Basic realm="x""#]), Ok(Challenge::Basic));
        // Several headers, and several challenges in one.
        assert_eq!(choose_challenge(["Negotiate", r#"Basic realm="x""#]), Ok(Challenge::Basic));
        assert!(matches!(choose_challenge([r#"Negotiate, Bearer realm="https://a/t""#]), Ok(Challenge::Bearer { .. })));
        assert_eq!(choose_challenge(["Negotiate"]), Err("`Negotiate`".into()));
        assert_eq!(choose_challenge([r#"Bearer service="x""#]), Err("`Bearer` without a realm".into()));
        assert!(choose_challenge([]).unwrap_err().contains("no authentication challenge"));
        assert!(choose_challenge(["Bearer realm=\"unterminated"]).unwrap_err().contains("unreadable"));
    }

    #[test]
    fn reads_ranges_with_checked_arithmetic() {
        assert_eq!(upload_range("0-0"), Some(0));
        assert_eq!(upload_range("0-1023"), Some(1024));
        assert_eq!(upload_range("bytes=0-9"), Some(10));
        assert_eq!(upload_range("0-18446744073709551615"), None);
        assert_eq!(upload_range("0-18446744073709551614"), Some(u64::MAX));
        assert_eq!(upload_range("5-10"), None);
        assert_eq!(upload_range("0--1"), None);
        assert_eq!(upload_range("0-+5"), None);
        assert_eq!(upload_range("0-99999999999999999999999"), None);
    }

    #[test]
    fn reads_retry_after_in_seconds_capped() {
        let cap = Duration::from_secs(60);
        assert_eq!(retry_after("3", cap), Some(Duration::from_secs(3)));
        assert_eq!(retry_after("86400", cap), Some(cap));
        assert_eq!(retry_after("99999999999999999999", cap), None);
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT", cap), None);
        assert_eq!(decimal("12"), Some(12));
        assert_eq!(decimal("-1"), None);
    }
}
