//! The registry client's one written policy for time and retries: a connect timeout, a total
//! deadline for every control request, a progress timeout (no bytes moved) for blob transfers
//! instead of any whole-request deadline, and one retry budget for a whole push with exponential
//! backoff, jitter and `Retry-After`. Defaults are documented in the README; `ZENREG_HTTP_*`
//! environment variables override them (tests use short ones).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// TCP and TLS handshake: seconds on any working link; a dead address fails fast.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Every control request (ping, token, `HEAD`, manifest, mount, upload start), body included:
/// they carry at most a few MiB, so a registry silent or trickling for this long is not coming
/// back; a timed-out request is tried once more, so a silent registry fails in about a minute.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Blob transfers fail only when no byte moved for this long (waiting for the registry's answer
/// to an upload counts too), never for lasting long: a 5 GB layer over a slow uplink takes
/// hours and must succeed.
pub const PROGRESS_TIMEOUT: Duration = Duration::from_secs(60);
/// The closing `PUT` of an upload, during which the registry hashes the whole blob (minutes for
/// gigabytes on network storage), waits this many control deadlines.
pub const CLOSE_FACTOR: u32 = 10;
/// Retries of one whole push, every request and whole-push restart drawing on it: with the
/// doubling backoff they span 16–31 s, enough for a registry restart or a few rate limits, and
/// they no longer multiply (4 per request × 4 per push before, over an hour for a silent host).
pub const RETRIES: u32 = 6;
/// First pause between attempts, doubled each time, with jitter.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest pause of the doubling.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The longest `Retry-After` honoured (Docker Hub's rate limits say minutes or hours: past this
/// the push fails with the registry's message rather than sleeping).
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);

/// A chunk of a resumable upload: large enough that per-request costs vanish on a fast link,
/// small enough that an interruption loses little. A registry's `OCI-Chunk-Min-Length` raises it.
pub const CHUNK_SIZE: u64 = 64 * 1024 * 1024;
/// The smallest chunk ever sent but the last: ECR (S3 multipart underneath) refuses smaller ones.
pub const CHUNK_FLOOR: u64 = 5 * 1024 * 1024;
/// Blobs uploaded at once, each on a connection of its own (BENCHMARKS.md §7 measured 1, 2, 4
/// and 8 on the links there).
pub const UPLOADS: usize = 4;
/// The most uploads at once a setting may ask for.
pub const UPLOADS_MAX: usize = 32;

/// The environment variables that override the defaults (seconds, decimals allowed; a count for
/// the retries).
pub const ENV_CONNECT: &str = "ZENREG_HTTP_CONNECT_TIMEOUT";
/// See [`ENV_CONNECT`].
pub const ENV_REQUEST: &str = "ZENREG_HTTP_REQUEST_TIMEOUT";
/// See [`ENV_CONNECT`].
pub const ENV_PROGRESS: &str = "ZENREG_HTTP_PROGRESS_TIMEOUT";
/// See [`ENV_CONNECT`].
pub const ENV_RETRIES: &str = "ZENREG_HTTP_RETRIES";
/// See [`ENV_CONNECT`].
pub const ENV_BACKOFF: &str = "ZENREG_HTTP_BACKOFF";
/// See [`ENV_CONNECT`].
pub const ENV_RETRY_AFTER_MAX: &str = "ZENREG_HTTP_RETRY_AFTER_MAX";
/// The chunk size in MiB, at least [`CHUNK_FLOOR`] (a proxy in front of a registry may cap
/// request bodies: Cloudflare's is 100 MB).
pub const ENV_CHUNK: &str = "ZENREG_HTTP_CHUNK_MIB";
/// Blobs uploaded at once, 1 to [`UPLOADS_MAX`].
pub const ENV_UPLOADS: &str = "ZENREG_HTTP_UPLOADS";

/// The time limits and retries in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// See [`CONNECT_TIMEOUT`].
    pub connect: Duration,
    /// See [`REQUEST_TIMEOUT`].
    pub request: Duration,
    /// See [`PROGRESS_TIMEOUT`].
    pub progress: Duration,
    /// See [`RETRIES`].
    pub retries: u32,
    /// See [`FIRST_BACKOFF`].
    pub first_backoff: Duration,
    /// See [`RETRY_AFTER_MAX`].
    pub retry_after_max: Duration,
    /// See [`CHUNK_SIZE`].
    pub chunk: u64,
    /// See [`UPLOADS`].
    pub uploads: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            connect: CONNECT_TIMEOUT,
            request: REQUEST_TIMEOUT,
            progress: PROGRESS_TIMEOUT,
            retries: RETRIES,
            first_backoff: FIRST_BACKOFF,
            retry_after_max: RETRY_AFTER_MAX,
            chunk: CHUNK_SIZE,
            uploads: UPLOADS,
        }
    }
}

impl Policy {
    /// The defaults with the `ZENREG_HTTP_*` overrides of the environment; a value that is not
    /// a number is an error naming the variable.
    pub fn from_env() -> Result<Policy, String> {
        let mut policy = Policy::default();
        let read = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let seconds = |name: &str, slot: &mut Duration| -> Result<(), String> {
            if let Some(value) = read(name) {
                *slot = value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .filter(|d| !d.is_zero() || name == ENV_BACKOFF)
                    .ok_or_else(|| format!("{name}=`{value}` is not a positive number of seconds"))?;
            }
            Ok(())
        };
        seconds(ENV_CONNECT, &mut policy.connect)?;
        seconds(ENV_REQUEST, &mut policy.request)?;
        seconds(ENV_PROGRESS, &mut policy.progress)?;
        seconds(ENV_BACKOFF, &mut policy.first_backoff)?;
        seconds(ENV_RETRY_AFTER_MAX, &mut policy.retry_after_max)?;
        if let Some(value) = read(ENV_RETRIES) {
            policy.retries =
                value.trim().parse().map_err(|_| format!("{ENV_RETRIES}=`{value}` is not a number of retries"))?;
        }
        if let Some(value) = read(ENV_CHUNK) {
            policy.chunk = value
                .trim()
                .parse::<u64>()
                .ok()
                .and_then(|mib| mib.checked_mul(1024 * 1024))
                .filter(|bytes| *bytes >= CHUNK_FLOOR)
                .ok_or_else(|| format!("{ENV_CHUNK}=`{value}` is not a whole number of MiB, 5 or more"))?;
        }
        if let Some(value) = read(ENV_UPLOADS) {
            policy.uploads =
                value.trim().parse::<usize>().ok().filter(|n| (1..=UPLOADS_MAX).contains(n)).ok_or_else(|| {
                    format!("{ENV_UPLOADS}=`{value}` is not a number of uploads from 1 to {UPLOADS_MAX}")
                })?;
        }
        Ok(policy)
    }

    /// The chunk size of an upload to a registry that announced `min_chunk`
    /// (`OCI-Chunk-Min-Length`, 0 when it did not): never below [`CHUNK_FLOOR`].
    pub fn chunk_for(&self, min_chunk: u64) -> u64 {
        self.chunk.max(min_chunk).max(CHUNK_FLOOR)
    }

    /// The deadline of an upload's closing `PUT`.
    pub fn close(&self) -> Duration {
        self.request.saturating_mul(CLOSE_FACTOR)
    }

    /// The pause before retry number `attempt` (0 for the first): doubling from the first
    /// backoff up to [`MAX_BACKOFF`], the upper half of it drawn at random so that many clients
    /// do not come back at once; at least `retry_after` when the registry named one.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let doubled = self.first_backoff.saturating_mul(2u32.saturating_pow(attempt.min(16))).min(MAX_BACKOFF);
        let jittered = doubled / 2 + doubled.mul_f64(random_fraction() / 2.0);
        jittered.max(retry_after.unwrap_or_default().min(self.retry_after_max))
    }
}

/// A number in [0, 1) that differs between calls and processes (std's randomly keyed hasher;
/// jitter needs no more).
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// A pause before a request is tried again, as the progress shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// The registry (`host[:port]`).
    pub host: String,
    /// How long the pause lasts.
    pub delay: Duration,
    /// Whether the registry asked for it with `Retry-After` (else it is zenreg's backoff).
    pub asked: bool,
    /// What failed, in a few words (`HTTP 429 Too Many Requests`).
    pub reason: String,
}

/// Who hears of the pauses of one push.
type Watcher = Box<dyn Fn(Wait) + Send + Sync>;

/// The retries left to one push, shared by every request of it and by restarts of the push.
pub struct Budget {
    left: AtomicU32,
    watcher: OnceLock<Watcher>,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget").field("left", &self.left).finish_non_exhaustive()
    }
}

impl Budget {
    /// A budget of `retries`.
    pub fn new(retries: u32) -> Arc<Budget> {
        Arc::new(Budget { left: AtomicU32::new(retries), watcher: OnceLock::new() })
    }

    /// Tells `watcher` of every pause taken from this budget (the first watcher set stays).
    pub fn watch(&self, watcher: impl Fn(Wait) + Send + Sync + 'static) {
        let _ = self.watcher.set(Box::new(watcher));
    }

    /// A pause is about to start.
    pub fn waiting(&self, wait: Wait) {
        if let Some(watcher) = self.watcher.get() {
            watcher(wait);
        }
    }

    /// Takes one retry; `false` when none is left.
    pub fn take(&self) -> bool {
        self.left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1)).is_ok()
    }

    /// Retries left.
    pub fn left(&self) -> u32 {
        self.left.load(Ordering::SeqCst)
    }
}

tokio::task_local! {
    /// The budget of the push running in this task: the push flow sets it around a push and its
    /// restarts, and a registry connection made inside takes it (else it starts its own).
    pub static PUSH_BUDGET: Arc<Budget>;
}

/// The budget of the current push, or a new one from `policy`.
pub fn current_budget(policy: &Policy) -> Arc<Budget> {
    PUSH_BUDGET.try_with(Arc::clone).unwrap_or_else(|_| Budget::new(policy.retries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_honours_retry_after_up_to_its_cap() {
        let policy = Policy::default();
        for attempt in 0..20 {
            let full = FIRST_BACKOFF.saturating_mul(2u32.saturating_pow(attempt)).min(MAX_BACKOFF);
            let pause = policy.backoff(attempt, None);
            assert!(pause >= full / 2 && pause <= full, "{attempt}: {pause:?}");
        }
        assert_eq!(policy.backoff(0, Some(Duration::from_secs(7))), Duration::from_secs(7));
        assert_eq!(policy.backoff(0, Some(Duration::from_secs(7200))), RETRY_AFTER_MAX);
    }

    #[test]
    fn a_budget_runs_out() {
        let budget = Budget::new(2);
        assert!(budget.take() && budget.take());
        assert!(!budget.take());
        assert_eq!(budget.left(), 0);
    }
}
