//! The registry login ECR hands out (GetAuthorizationToken): decoding its token, and the rule for
//! how long one may be reused.
//!
//! Both are plain functions of their inputs (no network, no clock of their own), so the rules are
//! unit-tested here and the network part stays a thin call in the crate root.

use base64::Engine;
use std::time::{Duration, SystemTime};
use zenreg_core::{Credentials, ExposeSecret, SecretString};

/// How long before its expiry a cached login is replaced by a fresh one. ECR logins last 12 hours;
/// the margin covers a push that starts just before the expiry and takes a while.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// Decodes an ECR authorization token: base64 of `user:password` (the user is always `AWS`).
pub fn decode_token(token: &str) -> Result<Credentials, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|error| format!("the ECR authorization token is not base64 ({error})"))?;
    // Held as a secret while it is split: the decoded text is `AWS:password`.
    let text = SecretString::from(
        String::from_utf8(bytes).map_err(|_| "the ECR authorization token is not UTF-8".to_string())?,
    );
    match text.expose_secret().split_once(':') {
        Some((username, password)) if !username.is_empty() && !password.is_empty() => {
            Ok(Credentials::new(username, password))
        }
        _ => Err("the ECR authorization token is not `user:password`".to_string()),
    }
}

/// At most one ECR login, kept while it is valid for longer than [`REFRESH_BEFORE_EXPIRY`].
///
/// A login whose expiry is unknown, in the past or within the margin is never kept: it may still be
/// used for the push at hand (ECR just issued it), but the next caller asks ECR again. That matters
/// for mocks and skewed clocks alike: moto, for one, dates every token `2015-01-01`.
#[derive(Debug, Default)]
pub struct LoginCache {
    entry: Option<(Credentials, SystemTime)>,
}

impl LoginCache {
    /// The cached login, if it is still good at `now`.
    pub fn get(&self, now: SystemTime) -> Option<&Credentials> {
        self.entry.as_ref().filter(|(_, refresh_at)| now < *refresh_at).map(|(credentials, _)| credentials)
    }

    /// Keeps `credentials` (issued at `now`, expiring at `expires_at`) if they stay good for longer
    /// than the margin; otherwise forgets any login kept so far. Returns whether it was kept.
    pub fn store(&mut self, credentials: Credentials, expires_at: Option<SystemTime>, now: SystemTime) -> bool {
        let refresh_at = expires_at.and_then(|expiry| expiry.checked_sub(REFRESH_BEFORE_EXPIRY));
        match refresh_at {
            Some(refresh_at) if now < refresh_at => {
                self.entry = Some((credentials, refresh_at));
                true
            }
            _ => {
                self.entry = None;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(password: &str) -> Credentials {
        Credentials::new("AWS", password)
    }

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    const NOW: u64 = 1_800_000_000;
    const HOUR: u64 = 3600;

    #[test]
    fn decodes_user_and_password() {
        // What moto returns for account 123456789012.
        let credentials = decode_token("QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu").unwrap();
        assert_eq!(credentials, login("123456789012-auth-token"));
        // The password itself may contain `:`.
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:a:b");
        assert_eq!(decode_token(&token).unwrap(), login("a:b"));
    }

    #[test]
    fn rejects_malformed_tokens() {
        assert!(decode_token("not base64!").unwrap_err().contains("not base64"));
        let no_colon = base64::engine::general_purpose::STANDARD.encode("AWS");
        assert!(decode_token(&no_colon).unwrap_err().contains("user:password"));
        let empty_password = base64::engine::general_purpose::STANDARD.encode("AWS:");
        assert!(decode_token(&empty_password).is_err());
    }

    #[test]
    fn a_login_is_reused_until_shortly_before_it_expires() {
        let mut cache = LoginCache::default();
        assert!(cache.store(login("p"), Some(at(NOW + 12 * HOUR)), at(NOW)));
        assert_eq!(cache.get(at(NOW)), Some(&login("p")));
        assert_eq!(cache.get(at(NOW + 11 * HOUR)), Some(&login("p")));
        let refresh_at = NOW + 12 * HOUR - REFRESH_BEFORE_EXPIRY.as_secs();
        assert_eq!(cache.get(at(refresh_at - 1)), Some(&login("p")));
        assert_eq!(cache.get(at(refresh_at)), None);
        assert_eq!(cache.get(at(NOW + 12 * HOUR)), None);
        assert_eq!(cache.get(at(NOW + 13 * HOUR)), None);
    }

    #[test]
    fn an_expiry_in_the_past_is_never_cached() {
        let mut cache = LoginCache::default();
        // moto's expiresAt: 2015-01-01T00:00:00Z.
        assert!(!cache.store(login("moto"), Some(at(1_420_070_400)), at(NOW)));
        assert_eq!(cache.get(at(NOW)), None);
        assert_eq!(cache.get(at(0)), None);
    }

    #[test]
    fn an_expiry_within_the_margin_or_unknown_is_not_cached() {
        let mut cache = LoginCache::default();
        assert!(!cache.store(login("soon"), Some(at(NOW + 60)), at(NOW)));
        assert!(!cache.store(login("exact"), Some(at(NOW) + REFRESH_BEFORE_EXPIRY), at(NOW)));
        assert!(!cache.store(login("unknown"), None, at(NOW)));
        assert!(!cache.store(login("epoch"), Some(at(0)), at(NOW)));
        assert_eq!(cache.get(at(NOW)), None);
    }

    #[test]
    fn a_login_that_cannot_be_cached_drops_the_previous_one() {
        let mut cache = LoginCache::default();
        assert!(cache.store(login("old"), Some(at(NOW + HOUR)), at(NOW)));
        assert!(!cache.store(login("new"), Some(at(NOW - HOUR)), at(NOW)));
        assert_eq!(cache.get(at(NOW)), None);
    }
}
