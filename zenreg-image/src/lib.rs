//! zenreg-image: what people do with images after the first push, across the registries
//! zenreg knows, with their credentials: copy (blobs streamed from registry to registry, or
//! mounted within one; manifests byte-exact; multi-platform indexes whole or narrowed; the
//! referrers with them), tag, list tags, inspect, digest, delete, and index create.
//!
//! Each reference is resolved to a registered container registry by the longest `uri` prefix
//! ([`resolve`]); the registry client is zenreg-push's ([`zenreg_push::oci::registry`]).
//!
//! Modules depend on each other in one direction: `error` ← `manifest` ← `resolve` ← `copy` ←
//! `ops` ← `index`.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

pub mod copy;
pub mod error;
pub mod index;
pub mod manifest;
pub mod ops;
pub mod resolve;

pub use copy::{CopyOptions, CopyReport, Event, How, copy};
pub use error::ImageError;
pub use manifest::Platform;
pub use resolve::{Located, connect, connect_to_delete, locate};

/// Runs `work` with one retry budget (from the `ZENREG_HTTP_*` policy) for every request in it,
/// as a push has: a registry restart costs retries once, not once per request.
pub async fn with_budget<T>(work: impl std::future::Future<Output = T>) -> Result<T, ImageError> {
    use zenreg_push::oci::policy;
    let policy = policy::Policy::from_env()
        .map_err(|message| ImageError::Oci(zenreg_push::oci::OciError::Settings { message }))?;
    Ok(policy::PUSH_BUDGET.scope(policy::Budget::new(policy.retries), work).await)
}
