//! `image index create`: a multi-platform index from manifests already in registries, as
//! `docker buildx imagetools create` builds one. An image manifest is entered with the platform
//! of its config, an index with each of its manifests; sources in another repository are
//! copied (or mounted) into the destination's first, so the index names only what is there.

use crate::copy::{self, CopyOptions, Event};
use crate::error::ImageError;
use crate::manifest::{self, Platform};
use crate::ops;
use crate::resolve::Located;
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use zenreg_push::oci::media;
use zenreg_push::oci::registry::{Fetched, MANIFEST_MAX, Registry};

/// What `index create` made.
#[derive(Debug, Clone, Serialize)]
pub struct IndexReport {
    /// The index's reference.
    pub destination: String,
    /// Its digest.
    pub digest: String,
    /// Its manifests: digest and platform.
    pub manifests: Vec<IndexEntry>,
    /// Bytes streamed to bring sources into the repository.
    pub bytes_copied: u64,
}

/// One manifest of the index.
#[derive(Debug, Clone, Serialize)]
pub struct IndexEntry {
    /// Its digest.
    pub digest: String,
    /// Its platform, `os/arch[/variant]` (empty when it has none).
    pub platform: String,
}

/// The descriptors `fetched` contributes to an index: an index's own entries, or the image with
/// the platform of its config.
async fn entries(registry: &Registry, located: &Located, fetched: &Fetched) -> Result<Vec<Value>, ImageError> {
    let value = manifest::parse(&fetched.bytes)
        .map_err(|message| ImageError::Damaged { reference: located.shown(), message })?;
    if manifest::is_index(&fetched.media_type) {
        return Ok(manifest::children(&value)
            .map_err(|message| ImageError::Damaged { reference: located.shown(), message })?
            .into_iter()
            .map(|(_, descriptor)| descriptor)
            .collect());
    }
    let mut descriptor =
        serde_json::json!({"mediaType": fetched.media_type, "digest": fetched.digest, "size": fetched.bytes.len()});
    let config = value.get("config").and_then(manifest::Desc::of);
    if let Some(desc) = config.filter(|d| d.size <= MANIFEST_MAX)
        && let Some(bytes) = registry.get_blob(&desc.digest, desc.size).await.map_err(|e| located.error(e))?
        && let Ok(config) = serde_json::from_slice::<Value>(&bytes)
        && let Some(platform) = Platform::of(&config)
        && let Some(object) = descriptor.as_object_mut()
    {
        object.insert("platform".into(), platform.to_json());
    }
    Ok(vec![descriptor])
}

/// Builds the index at `destination` (connected as `dst`) from `sources` (each connected),
/// after what `destination` already names when `append`; `annotations` are the index's own.
pub async fn create(
    dst: &Registry,
    destination: &Located,
    sources: &[(Registry, Located)],
    append: bool,
    annotations: &BTreeMap<String, String>,
    events: &dyn Fn(Event),
) -> Result<IndexReport, ImageError> {
    let mut descriptors: Vec<Value> = Vec::new();
    if append
        && let Some(existing) =
            dst.get_manifest(&destination.tag_or_digest()).await.map_err(|e| destination.error(e))?
    {
        descriptors.extend(entries(dst, destination, &existing).await?);
    }
    let mut bytes_copied = 0;
    for (registry, source) in sources {
        let fetched = ops::fetch(registry, source).await?;
        let same_repository = registry.host() == dst.host() && registry.repository() == dst.repository();
        if !same_repository {
            // Into the destination's repository by digest, with everything it names.
            let mut at_digest = destination.clone();
            at_digest.reference =
                zenreg_core::Reference::parse(&format!("{}@{}", destination.reference.name(), fetched.digest))?;
            let mut from_digest = source.clone();
            from_digest.reference =
                zenreg_core::Reference::parse(&format!("{}@{}", source.reference.name(), fetched.digest))?;
            let report = copy::copy(registry, dst, &from_digest, &at_digest, &CopyOptions::default(), events).await?;
            bytes_copied += report.bytes_copied;
        }
        descriptors.extend(entries(registry, source, &fetched).await?);
    }
    let mut unique: Vec<Value> = Vec::new();
    for descriptor in descriptors {
        if !unique.iter().any(|d| d.get("digest") == descriptor.get("digest")) {
            unique.push(descriptor);
        }
    }
    let manifests: Vec<IndexEntry> = unique
        .iter()
        .map(|d| IndexEntry {
            digest: d.get("digest").and_then(Value::as_str).unwrap_or_default().to_string(),
            platform: d.get("platform").and_then(Platform::of).map(|p| p.to_string()).unwrap_or_default(),
        })
        .collect();
    let mut index = serde_json::json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": unique});
    if !annotations.is_empty()
        && let Some(object) = index.as_object_mut()
    {
        object.insert("annotations".into(), serde_json::to_value(annotations).unwrap_or_default());
    }
    let bytes = Bytes::from(
        serde_json::to_vec(&index)
            .map_err(|e| ImageError::Damaged { reference: destination.shown(), message: e.to_string() })?,
    );
    let digest = dst
        .put_manifest(&destination.tag_or_digest(), media::OCI_INDEX, bytes)
        .await
        .map_err(|e| destination.error(e))?;
    Ok(IndexReport { destination: destination.shown(), digest, manifests, bytes_copied })
}
