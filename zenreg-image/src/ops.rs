//! The small image operations: `digest`, `tag` (the same manifest under a new tag, no blob
//! request), `ls` (every page of the tag list), `inspect` (the manifest or index, the config,
//! the referrers) and `delete` (a tag resolved to its digest, the manifest deleted).

use crate::copy::{Referrer, find_referrers};
use crate::error::ImageError;
use crate::manifest;
use crate::resolve::Located;
use serde::Serialize;
use serde_json::Value;
use zenreg_push::oci::OciError;
use zenreg_push::oci::registry::{Fetched, MANIFEST_MAX, Registry};

/// The manifest `located` names, as the registry holds it.
pub async fn fetch(registry: &Registry, located: &Located) -> Result<Fetched, ImageError> {
    registry
        .get_manifest(&located.tag_or_digest())
        .await
        .map_err(|e| located.error(e))?
        .ok_or_else(|| ImageError::NotFound { reference: located.shown() })
}

/// What `tag` did.
#[derive(Debug, Clone, Serialize)]
pub struct TagReport {
    /// The reference tagged.
    pub source: String,
    /// The new reference.
    pub destination: String,
    /// The manifest's digest (the same under both).
    pub digest: String,
}

/// Puts the manifest `located` names under `new_tag` in the same repository: its bytes as they
/// are, so the digest is the same, and no blob is read or written.
pub async fn tag(registry: &Registry, located: &Located, new_tag: &str) -> Result<TagReport, ImageError> {
    let checked = zenreg_core::Reference::parse(&format!("{}:{new_tag}", located.reference.name()))?;
    if checked.tag() != Some(new_tag) {
        return Err(ImageError::Usage { reference: new_tag.into(), message: "is not a tag".into() });
    }
    let fetched = fetch(registry, located).await?;
    let digest =
        registry.put_manifest(new_tag, &fetched.media_type, fetched.bytes).await.map_err(|e| located.error(e))?;
    Ok(TagReport { source: located.shown(), destination: checked.to_string(), digest })
}

/// Every tag of the repository (`page` tags asked for per page).
pub async fn list(registry: &Registry, located: &Located, page: Option<u32>) -> Result<Vec<String>, ImageError> {
    registry.tags(page).await.map_err(|error| match error {
        OciError::Rejected { status: 404, .. } => ImageError::NotFound { reference: located.reference.name() },
        error => located.error(error),
    })
}

/// What `inspect` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// The reference.
    pub reference: String,
    /// The manifest's digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: usize,
    /// The manifest or index itself.
    pub manifest: Value,
    /// The image config (an image manifest's, when it is JSON of at most 4 MiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// What refers to it (signatures, SBOMs, attestations).
    pub referrers: Vec<Referrer>,
}

/// The manifest or index `located` names, its config and its referrers.
pub async fn inspect(registry: &Registry, located: &Located) -> Result<Inspection, ImageError> {
    let fetched = fetch(registry, located).await?;
    let value = manifest::parse(&fetched.bytes)
        .map_err(|message| ImageError::Damaged { reference: located.shown(), message })?;
    let mut config = None;
    if !manifest::is_index(&fetched.media_type)
        && let Some(desc) = value.get("config").and_then(manifest::Desc::of)
        && desc.size <= MANIFEST_MAX
        && let Some(bytes) = registry.get_blob(&desc.digest, desc.size).await.map_err(|e| located.error(e))?
    {
        config = serde_json::from_slice(&bytes).ok();
    }
    let referrers = find_referrers(registry, located, &fetched.digest, None).await?;
    Ok(Inspection {
        reference: located.shown(),
        size: fetched.bytes.len(),
        digest: fetched.digest,
        media_type: fetched.media_type,
        manifest: value,
        config,
        referrers,
    })
}

/// What `delete` did.
#[derive(Debug, Clone, Serialize)]
pub struct DeleteReport {
    /// The reference.
    pub reference: String,
    /// The manifest deleted.
    pub digest: String,
}

/// The digest `located` names (its own, or its tag's).
pub async fn resolve_digest(registry: &Registry, located: &Located) -> Result<String, ImageError> {
    match located.reference.digest() {
        Some(digest) => Ok(digest.to_string()),
        None => Ok(fetch(registry, located).await?.digest),
    }
}

/// Deletes manifest `digest` (which `located` resolved to).
pub async fn delete(registry: &Registry, located: &Located, digest: &str) -> Result<DeleteReport, ImageError> {
    registry.delete_manifest(digest).await.map_err(|error| match error {
        OciError::Rejected { status: 405, ref host, .. } => {
            ImageError::DeletesDisabled { host: host.clone(), reference: located.shown() }
        }
        OciError::Rejected { status: 404, .. } => ImageError::NotFound { reference: located.shown() },
        error => located.error(error),
    })?;
    Ok(DeleteReport { reference: located.shown(), digest: digest.to_string() })
}
