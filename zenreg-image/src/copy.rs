//! `image copy`: a manifest (or index) and everything it names from one repository to another.
//! Blobs the destination has are skipped; within one registry they are mounted from the source
//! repository; otherwise they stream from the source's `GET` into the destination's upload,
//! hashed on the way, several at once, through a bounded channel (no temporary file, memory
//! bounded by the channel). Manifests go up byte-exact, children before the index, the tag
//! last, so that a copy that fails leaves no tag naming anything incomplete.
//!
//! With `referrers`, what refers to each manifest copied (and what refers to that) follows:
//! found with the referrers API, or the tag schema (`sha256-<hex>` indexes and cosign's
//! `.sig`, `.att`, `.sbom` tags) where the source has no API; at a destination without the API
//! the `sha256-<hex>` index is kept up to date.

use crate::error::ImageError;
use crate::manifest::{self, Desc, Platform};
use crate::resolve::Located;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use zenreg_push::oci::registry::{Fetched, Registry};
use zenreg_push::oci::{OciError, digest::Hasher, media, policy};

/// Manifests nested in indexes at most this deep (indexes of indexes).
const NESTING_MAX: usize = 4;
/// Referrers of referrers followed at most this deep.
const REFERRER_DEPTH_MAX: usize = 8;
/// Chunks in flight between a blob's download and its upload (each a few KiB to 1 MiB).
const CHANNEL: usize = 16;
/// cosign's tags beside `sha256-<hex>`.
const COSIGN_SUFFIXES: [&str; 3] = [".sig", ".att", ".sbom"];

/// How a copy runs.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Platforms to keep of a multi-platform index (all when empty).
    pub platforms: Vec<Platform>,
    /// Copy the referrers too.
    pub referrers: bool,
    /// Blobs copied at once.
    pub jobs: usize,
    /// Only referrers of this artifact type (`artifactType`, else the config's media type).
    pub artifact_type: Option<String>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions { platforms: Vec::new(), referrers: false, jobs: 4, artifact_type: None }
    }
}

/// How one blob got to the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// Streamed from the source.
    Copied,
    /// Mounted from the source repository (same registry).
    Mounted,
    /// The destination had it.
    Skipped,
}

/// Progress of a copy.
#[derive(Debug, Clone)]
pub enum Event {
    /// The blobs of one manifest are about to go: their count and bytes.
    Blobs {
        /// How many.
        count: usize,
        /// Their size.
        bytes: u64,
    },
    /// Bytes of a blob streamed.
    Bytes(u64),
    /// A blob is at the destination.
    Blob {
        /// Its digest.
        digest: String,
        /// How it got there.
        how: How,
    },
    /// A manifest was put.
    Manifest {
        /// Its digest.
        digest: String,
    },
    /// A transient failure; another attempt follows after `pause`.
    Retry {
        /// What failed.
        message: String,
        /// The pause.
        pause: Duration,
    },
}

/// What a copy did.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    /// The source reference.
    pub source: String,
    /// The destination reference.
    pub destination: String,
    /// The digest of the manifest (or index) at the destination.
    pub digest: String,
    /// The source's digest when `--platform` narrowed the index (the digest changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_digest: Option<String>,
    /// Bytes streamed from source to destination.
    pub bytes_copied: u64,
    /// Blobs streamed.
    pub blobs_copied: usize,
    /// Blobs mounted from the source repository.
    pub blobs_mounted: usize,
    /// Blobs the destination already had.
    pub blobs_skipped: usize,
    /// Digests of the referrers copied (signatures, SBOMs, attestations).
    pub referrers: Vec<String>,
}

/// The two ends of a copy, and its counters.
struct Copier<'a> {
    src: &'a Registry,
    dst: &'a Registry,
    source: &'a Located,
    destination: &'a Located,
    same_registry: bool,
    jobs: usize,
    artifact_type: Option<String>,
    events: &'a dyn Fn(Event),
    budget: Arc<policy::Budget>,
    policy: policy::Policy,
    bytes: Cell<u64>,
    copied: Cell<usize>,
    mounted: Cell<usize>,
    skipped: Cell<usize>,
    /// Manifests known to be at the destination.
    done: RefCell<HashSet<String>>,
}

/// Copies `source`'s manifest (connected as `src`) to `destination` (`dst`): see the module.
pub async fn copy(
    src: &Registry,
    dst: &Registry,
    source: &Located,
    destination: &Located,
    options: &CopyOptions,
    events: &dyn Fn(Event),
) -> Result<CopyReport, ImageError> {
    let policy = policy::Policy::from_env().map_err(|message| ImageError::Oci(OciError::Settings { message }))?;
    let copier = Copier {
        src,
        dst,
        source,
        destination,
        same_registry: src.host() == dst.host() && src.is_plain_http() == dst.is_plain_http(),
        jobs: options.jobs.max(1),
        artifact_type: options.artifact_type.clone(),
        events,
        budget: policy::current_budget(&policy),
        policy,
        bytes: Cell::new(0),
        copied: Cell::new(0),
        mounted: Cell::new(0),
        skipped: Cell::new(0),
        done: RefCell::new(HashSet::new()),
    };
    let wanted = source.tag_or_digest();
    let top = src
        .get_manifest(&wanted)
        .await
        .map_err(|e| source.error(e))?
        .ok_or_else(|| ImageError::NotFound { reference: source.shown() })?;
    let value = manifest::parse(&top.bytes).map_err(|m| damaged(&source.shown(), m))?;
    let mut source_digest = None;
    let mut subjects = vec![top.digest.clone()];
    let top = if manifest::is_index(&top.media_type) && !options.platforms.is_empty() {
        let narrowed = manifest::narrow(&value, &options.platforms).ok_or_else(|| ImageError::NoPlatform {
            reference: source.shown(),
            wanted: options.platforms.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            available: manifest::platforms(&value).join(", "),
        })?;
        source_digest = Some(top.digest.clone());
        // The narrowed index is new: what referred to the source index does not refer to it.
        subjects.clear();
        let bytes = Bytes::from(narrowed);
        Fetched { media_type: top.media_type, digest: zenreg_push::oci::digest::sha256(&bytes), bytes }
    } else {
        top
    };
    // The destination's tag: its own, else the source's; by digest when neither has one.
    let put_as = match (destination.reference.tag(), destination.reference.digest()) {
        (Some(tag), _) => tag.to_string(),
        (None, Some(digest)) => digest.to_string(),
        // A source by digest alone goes by digest; a source without tag or digest is `latest`.
        (None, None) => match (source.reference.tag(), source.reference.digest()) {
            (Some(tag), _) => tag.to_string(),
            (None, Some(_)) => top.digest.clone(),
            (None, None) => "latest".to_string(),
        },
    };
    if let Some(digest) = destination.reference.digest()
        && *digest != top.digest
    {
        return Err(ImageError::Usage {
            reference: destination.shown(),
            message: format!("the copy's digest is {}, not the one the destination names", top.digest),
        });
    }
    let top_value = manifest::parse(&top.bytes).map_err(|m| damaged(&source.shown(), m))?;
    if manifest::is_index(&top.media_type) {
        for (child, _) in manifest::children(&top_value).map_err(|m| damaged(&source.shown(), m))? {
            subjects.push(child.digest.clone());
        }
    }
    copier.contents(&top, &top_value, 0).await?;
    let (digest, _) = copier
        .dst
        .put_manifest_with_subject(&put_as, &top.media_type, top.bytes.clone())
        .await
        .map_err(|e| destination.error(e))?;
    (copier.events)(Event::Manifest { digest: digest.clone() });
    let mut referrers = Vec::new();
    if options.referrers {
        let mut seen = HashSet::new();
        for subject in subjects {
            copier.referrers(&subject, 0, &mut seen, &mut referrers).await?;
        }
    }
    Ok(CopyReport {
        source: source.shown(),
        destination: destination.shown(),
        digest,
        source_digest,
        bytes_copied: copier.bytes.get(),
        blobs_copied: copier.copied.get(),
        blobs_mounted: copier.mounted.get(),
        blobs_skipped: copier.skipped.get(),
        referrers,
    })
}

fn damaged(reference: &str, message: String) -> ImageError {
    ImageError::Damaged { reference: reference.to_string(), message }
}

impl Copier<'_> {
    /// Everything `manifest` names, at the destination: an index's manifests (each put by
    /// digest), an image's blobs.
    async fn contents(&self, fetched: &Fetched, value: &Value, depth: usize) -> Result<(), ImageError> {
        let shown = self.source.shown();
        if manifest::is_index(&fetched.media_type) {
            if depth >= NESTING_MAX {
                return Err(damaged(&shown, format!("indexes nest deeper than {NESTING_MAX}")));
            }
            for (child, _) in manifest::children(value).map_err(|m| damaged(&shown, m))? {
                self.manifest_by_digest(&child.digest, depth + 1).await?;
            }
            return Ok(());
        }
        let blobs = manifest::blobs(value).map_err(|m| damaged(&shown, m))?;
        self.blobs(&blobs).await
    }

    /// Manifest `digest` of the source at the destination, by digest, with what it names.
    /// Returns it.
    async fn manifest_by_digest(&self, digest: &str, depth: usize) -> Result<Fetched, ImageError> {
        let fetched =
            self.src.get_manifest(digest).await.map_err(|e| self.source.error(e))?.ok_or_else(|| {
                ImageError::NotFound { reference: format!("{}@{digest}", self.source.reference.name()) }
            })?;
        if self.done.borrow().contains(digest) {
            return Ok(fetched);
        }
        let exists = self
            .dst
            .manifest_exists(digest, zenreg_push::oci::registry::MANIFEST_ACCEPT)
            .await
            .map_err(|e| self.destination.error(e))?;
        if !exists {
            let value = manifest::parse(&fetched.bytes).map_err(|m| damaged(digest, m))?;
            Box::pin(self.contents(&fetched, &value, depth)).await?;
            self.put(digest, &fetched).await?;
        }
        self.done.borrow_mut().insert(digest.to_string());
        Ok(fetched)
    }

    /// Puts `fetched` under `reference` at the destination; whether the registry processed its
    /// subject (`OCI-Subject`).
    async fn put(&self, reference: &str, fetched: &Fetched) -> Result<bool, ImageError> {
        let (digest, subject) = self
            .dst
            .put_manifest_with_subject(reference, &fetched.media_type, fetched.bytes.clone())
            .await
            .map_err(|e| self.destination.error(e))?;
        (self.events)(Event::Manifest { digest });
        Ok(subject.is_some())
    }

    /// The blobs at the destination, `jobs` at once.
    async fn blobs(&self, blobs: &[Desc]) -> Result<(), ImageError> {
        let mut unique: Vec<&Desc> = Vec::new();
        for blob in blobs {
            if !unique.iter().any(|b| b.digest == blob.digest) {
                unique.push(blob);
            }
        }
        (self.events)(Event::Blobs { count: unique.len(), bytes: unique.iter().map(|b| b.size).sum() });
        let mut running =
            futures_util::stream::iter(unique.into_iter().map(|blob| self.blob(blob))).buffer_unordered(self.jobs);
        while let Some(result) = running.next().await {
            let (digest, how) = result?;
            match how {
                How::Copied => self.copied.set(self.copied.get() + 1),
                How::Mounted => self.mounted.set(self.mounted.get() + 1),
                How::Skipped => self.skipped.set(self.skipped.get() + 1),
            }
            (self.events)(Event::Blob { digest, how });
        }
        Ok(())
    }

    /// One blob at the destination: skipped, mounted, or streamed (again after a transient
    /// failure, within the retry budget).
    async fn blob(&self, blob: &Desc) -> Result<(String, How), ImageError> {
        let digest = blob.digest.clone();
        if self.dst.blob_size(&digest).await.map_err(|e| self.destination.error(e))?.is_some() {
            return Ok((digest, How::Skipped));
        }
        if self.same_registry
            && self.dst.mount(&digest, self.src.repository()).await.map_err(|e| self.destination.error(e))?
        {
            return Ok((digest, How::Mounted));
        }
        let mut attempt = 0;
        loop {
            match self.stream(blob).await {
                Ok(()) => return Ok((digest, How::Copied)),
                Err(error) if is_transient(&error) && self.budget.take() => {
                    let pause = self.policy.backoff(attempt, None);
                    attempt += 1;
                    (self.events)(Event::Retry { message: error.to_string(), pause });
                    tokio::time::sleep(pause).await;
                    // An upload whose answer was lost may have made it.
                    if self.dst.blob_size(&digest).await.map_err(|e| self.destination.error(e))?.is_some() {
                        return Ok((digest, How::Copied));
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Streams one blob: the source's `GET` body, hashed and counted, into the destination's
    /// upload, which is closed only when the bytes hash to the digest and match the size.
    async fn stream(&self, blob: &Desc) -> Result<(), ImageError> {
        let mut reader =
            self.src.read_blob(&blob.digest).await.map_err(|e| self.source.error(e))?.ok_or_else(|| {
                damaged(&self.source.shown(), format!("blob {} is missing from the source", blob.digest))
            })?;
        let (chunks, receiver) = tokio::sync::mpsc::channel::<Bytes>(CHANNEL);
        let (digest_sender, digest_receiver) = tokio::sync::oneshot::channel();
        let pump = async move {
            let mut hasher = Hasher::new();
            let mut sent = 0u64;
            while let Some(chunk) = reader.chunk().await.map_err(|e| self.source.error(e))? {
                hasher.update(&chunk);
                if hasher.bytes() > blob.size {
                    return Err(damaged(
                        &self.source.shown(),
                        format!("blob {} is larger than its descriptor's {} bytes", blob.digest, blob.size),
                    ));
                }
                let length = chunk.len() as u64;
                if chunks.send(chunk).await.is_err() {
                    // The upload ended first: its error says why.
                    return Ok(sent);
                }
                sent += length;
                self.bytes.set(self.bytes.get() + length);
                (self.events)(Event::Bytes(length));
            }
            drop(chunks);
            let got = hasher.finish();
            if got != blob.digest || sent != blob.size {
                // Dropping the digest's sender fails the upload before it is closed.
                return Err(damaged(
                    &self.source.shown(),
                    format!("blob {} arrived as {sent} bytes hashing to {got}", blob.digest),
                ));
            }
            let _ = digest_sender.send(got);
            Ok(sent)
        };
        let what = format!("copy of {}", blob.digest);
        let upload = self.dst.upload_stream(receiver, digest_receiver, &what, Arc::new(|_| {}));
        let (pumped, uploaded) = tokio::join!(pump, upload);
        pumped?;
        uploaded.map_err(|e| self.destination.error(e))?;
        Ok(())
    }

    /// What refers to `subject` at the source, copied; then what refers to those.
    async fn referrers(
        &self,
        subject: &str,
        depth: usize,
        seen: &mut HashSet<String>,
        copied: &mut Vec<String>,
    ) -> Result<(), ImageError> {
        if depth >= REFERRER_DEPTH_MAX || !seen.insert(subject.to_string()) {
            return Ok(());
        }
        let found = find_referrers(self.src, self.source, subject, self.artifact_type.as_deref()).await?;
        for Referrer { digest, descriptor, tag } in found {
            let fetched = self.manifest_by_digest(&digest, 1).await?;
            let value = manifest::parse(&fetched.bytes).map_err(|m| damaged(&digest, m))?;
            match &tag {
                Some(tag) => {
                    self.put(tag, &fetched).await?;
                }
                None => {
                    // Put again to learn whether the destination indexed its subject (cheap: a
                    // manifest of a few hundred bytes); if not, keep its tag-schema index.
                    let indexed = self.put(&digest, &fetched).await?;
                    if !indexed && manifest::subject(&value).as_deref() == Some(subject) {
                        let descriptor = descriptor.unwrap_or_else(|| {
                            serde_json::json!({"mediaType": fetched.media_type, "digest": digest, "size": fetched.bytes.len()})
                        });
                        self.add_to_fallback_index(subject, descriptor).await?;
                    }
                }
            }
            if !copied.contains(&digest) {
                copied.push(digest.clone());
            }
            Box::pin(self.referrers(&digest, depth + 1, seen, copied)).await?;
        }
        Ok(())
    }

    /// Adds `descriptor` to the destination's `sha256-<hex>` index of `subject` (made when
    /// missing), as the OCI tag schema has clients without the referrers API do.
    async fn add_to_fallback_index(&self, subject: &str, descriptor: Value) -> Result<(), ImageError> {
        let tag = manifest::fallback_tag(subject);
        let existing = self.dst.get_manifest(&tag).await.map_err(|e| self.destination.error(e))?;
        let mut index = match existing {
            Some(fetched) if manifest::is_index(&fetched.media_type) => {
                manifest::parse(&fetched.bytes).map_err(|m| damaged(&tag, m))?
            }
            _ => serde_json::json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": []}),
        };
        let digest = descriptor.get("digest").cloned();
        let Some(list) = index.get_mut("manifests").and_then(Value::as_array_mut) else {
            return Err(damaged(&tag, "the referrers index has no manifests".into()));
        };
        if list.iter().any(|d| d.get("digest") == digest.as_ref()) {
            return Ok(());
        }
        list.push(descriptor);
        let bytes = Bytes::from(serde_json::to_vec(&index).map_err(|e| damaged(&tag, e.to_string()))?);
        self.dst.put_manifest(&tag, media::OCI_INDEX, bytes).await.map_err(|e| self.destination.error(e))?;
        Ok(())
    }
}

/// A manifest that refers to another.
#[derive(Debug, Clone, Serialize)]
pub struct Referrer {
    /// Its digest.
    pub digest: String,
    /// Its descriptor in the referrers list (`None` when found by a cosign tag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptor: Option<Value>,
    /// The cosign tag it was found under (`sha256-<hex>.sig`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// The artifact type of a manifest: its `artifactType`, else its config's media type (as the
/// referrers API reports it).
fn artifact_type_of(manifest: &Value) -> Option<&str> {
    manifest
        .get("artifactType")
        .and_then(Value::as_str)
        .or_else(|| manifest.get("config").and_then(|c| c.get("mediaType")).and_then(Value::as_str))
}

/// What refers to manifest `subject` in `registry`, of `artifact_type` when given: its referrers
/// API (which filters, or is filtered here), or where it has none, the tag schema
/// (`sha256-<hex>` index, cosign's `.sig`, `.att` and `.sbom` tags).
pub async fn find_referrers(
    registry: &Registry,
    located: &Located,
    subject: &str,
    artifact_type: Option<&str>,
) -> Result<Vec<Referrer>, ImageError> {
    let mut found = Vec::new();
    if let Some(list) = registry.referrers(subject, artifact_type).await.map_err(|e| located.error(e))? {
        for descriptor in list {
            if let Some(desc) = Desc::of(&descriptor) {
                found.push(Referrer { digest: desc.digest, descriptor: Some(descriptor), tag: None });
            }
        }
        return Ok(found);
    }
    let wanted = |value: &Value| artifact_type.is_none_or(|t| artifact_type_of(value) == Some(t));
    let tag = manifest::fallback_tag(subject);
    if let Some(index) = registry.get_manifest(&tag).await.map_err(|e| located.error(e))?
        && manifest::is_index(&index.media_type)
    {
        let value = manifest::parse(&index.bytes).map_err(|m| damaged(&tag, m))?;
        for (desc, descriptor) in manifest::children(&value).map_err(|m| damaged(&tag, m))? {
            if wanted(&descriptor) {
                found.push(Referrer { digest: desc.digest, descriptor: Some(descriptor), tag: None });
            }
        }
    }
    for suffix in COSIGN_SUFFIXES {
        let cosign = format!("{tag}{suffix}");
        if let Some(fetched) = registry.get_manifest(&cosign).await.map_err(|e| located.error(e))? {
            let value = manifest::parse(&fetched.bytes).map_err(|m| damaged(&cosign, m))?;
            if wanted(&value) {
                found.push(Referrer { digest: fetched.digest, descriptor: None, tag: Some(cosign) });
            }
        }
    }
    Ok(found)
}

/// Whether another attempt at a blob can succeed: the registry was unreachable or a transfer
/// stalled (a source restarting, a connection cut), not a refusal.
fn is_transient(error: &ImageError) -> bool {
    matches!(error, ImageError::Registry { error, .. }
        if matches!(**error, OciError::Unavailable { .. } | OciError::TimedOut { .. }))
}
