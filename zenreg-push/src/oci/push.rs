//! One push through the OCI engine: connect to the registry, then push the image of the given
//! input. An OCI layout's blobs go up byte-exact (skipped when present). An archive's layers
//! that came compressed (the containerd store's) go up byte-exact too, their diff ids checked by
//! decompressing them on the side; the others are compressed while they stream and uploaded as
//! they are compressed, several at once. Only the chosen image's layers are uploaded (see
//! `archive`). An image in the Engine whose blobs the cache knows is pushed without exporting
//! anything.

use crate::oci::adaptive::{Link, Meter};
use crate::oci::archive::{self, Choice, FileDocuments, ImagePlan, LayerRef, MemoryDocuments, Plan, TarIndex};
use crate::oci::cache::BlobCache;
use crate::oci::compress::{self, CompressError, Compressed, Compression, Form, Pool};
use crate::oci::digest::sha256;
use crate::oci::error::OciError;
use crate::oci::layerstore::{self, ImageInStore, StoredImage};
use crate::oci::media::{self, Descriptor, ImageConfig, Manifest};
use crate::oci::registry::Registry;
use crate::oci::source::{self, ArchiveScan, ChannelReader, LayoutImage};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::mpsc::UnboundedSender;
use zenreg_core::Credentials;

/// Blob checks (and mounts) of a warm push at once: requests without bodies, answered in
/// milliseconds.
const WARM_CHECKS: usize = 8;
/// The largest image config read back from a registry.
const MAX_CONFIG: u64 = 16 * 1024 * 1024;

/// Where to push.
#[derive(Debug, Clone)]
pub struct Target {
    /// Registry host (`host[:port]`).
    pub host: String,
    /// Repository in the registry.
    pub repository: String,
    /// Tag.
    pub tag: String,
    /// Credentials, if any.
    pub credentials: Option<Credentials>,
}

/// How to push.
#[derive(Debug, Clone)]
pub struct Options {
    /// Compression of layers that arrive uncompressed.
    pub compression: Compression,
    /// Its level.
    pub level: i32,
    /// Whether the level was chosen for the link (`--compression-level auto`): cached blobs of
    /// any level are then reused.
    pub auto: bool,
    /// The blob cache file, if one is kept.
    pub cache: Option<PathBuf>,
    /// `os/arch[/variant]` of a multi-platform image to push alone.
    pub platform: Option<String>,
}

/// The Engine's export stream of an image (`docker save` format).
pub type ExportStream = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// The image to push.
pub enum Input {
    /// An OCI image layout.
    Layout {
        /// Directory.
        dir: PathBuf,
        /// Reference of the manifest inside.
        reference: Option<String>,
    },
    /// A `docker save` archive.
    Archive {
        /// The file.
        file: PathBuf,
        /// The image to push when it holds several (its name); the target's name otherwise.
        reference: Option<String>,
    },
    /// An image in the Docker Engine.
    Engine {
        /// Its name.
        image: String,
        /// Its id: the digest of its config.
        id: String,
        /// Its diff ids, as the Engine lists them (to find mount sources in the cache).
        layers: Vec<String>,
        /// Its export, started only when read.
        export: ExportStream,
        /// Where its layers lie in the Engine's store, read instead of the export when they
        /// can be (see [`layerstore`]).
        store: Option<ImageInStore>,
    },
}

/// How a layer (or blob) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// Uploaded.
    Pushed,
    /// The registry had it.
    Exists,
    /// Mounted from another repository of the registry.
    Mounted,
}

/// Progress of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The image has `layers` layers (blobs for a layout) of `size` bytes (uncompressed when
    /// not known otherwise; 0 when unknown before reading).
    Start {
        /// Layers or blobs.
        layers: usize,
        /// Bytes.
        size: u64,
    },
    /// A layer starts: `name` is a short id, `total` its bytes when known.
    Layer {
        /// Short id.
        name: String,
        /// Bytes expected.
        total: Option<u64>,
    },
    /// `bytes` more bytes of layer `name` went to the registry.
    Bytes {
        /// Short id.
        name: String,
        /// Bytes sent since the last event.
        bytes: u64,
    },
    /// Layers that arrive uncompressed are compressed with `compression` at `level`; `auto`
    /// when the level was chosen for the link, whose rate (Mbit/s) was `link_mbit`.
    Compression {
        /// `gzip` or `zstd`.
        compression: &'static str,
        /// The level.
        level: i32,
        /// Chosen for the link.
        auto: bool,
        /// What was known of the link: its rate in Mbit/s, and whether it was measured (or only
        /// a lower bound).
        link_mbit: Option<(u64, bool)>,
    },
    /// A request failed and is tried again after a pause (the registry's `Retry-After` when it
    /// named one).
    Wait(crate::oci::policy::Wait),
    /// Layer `name` is in the registry.
    Done {
        /// Short id.
        name: String,
        /// How.
        how: Done,
    },
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The digest of the manifest (or index) pushed under the tag.
    pub digest: String,
    /// Layers (or blobs of a layout) in the image.
    pub layers: usize,
    /// Of these, already in the registry (or mounted).
    pub layers_skipped: usize,
    /// Bytes of blobs uploaded.
    pub bytes_uploaded: u64,
    /// What the push found of the link (for an adaptive level next time).
    pub link: Option<LinkSample>,
    /// The image's size: its blobs' sizes as pushed.
    pub size: u64,
    /// Whether the layers were read from the Engine's store (not from its export).
    pub read_store: bool,
}

fn short(digest_or_path: &str) -> String {
    let text = digest_or_path.trim_start_matches("sha256:").trim_start_matches("blobs/sha256/");
    text.chars().take(12).collect()
}

/// The link's upload rate as one push saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkSample {
    /// Bytes per second.
    pub bytes_per_second: u64,
    /// Measured while the link was the bottleneck; else a lower bound.
    pub measured: bool,
}

/// Shared counters and the event channel of one push.
struct Tally {
    events: UnboundedSender<Event>,
    uploaded: AtomicU64,
    skipped: AtomicUsize,
    /// When the compressors produced, against when the uploads ended.
    meter: Meter,
}

impl Tally {
    /// The report of a push that uploaded what this tally counted.
    fn report(&self, digest: String, layers: usize, size: u64) -> Report {
        Report {
            digest,
            layers,
            layers_skipped: self.skipped.load(Ordering::Relaxed),
            bytes_uploaded: self.uploaded.load(Ordering::Relaxed),
            link: None,
            size,
            read_store: false,
        }
    }

    fn send(&self, event: Event) {
        // The receiver only draws progress; a push goes on without it.
        let _ = self.events.send(event);
    }

    fn on_bytes(self: &Arc<Self>, name: String) -> Arc<dyn Fn(u64) + Send + Sync> {
        let tally = Arc::clone(self);
        Arc::new(move |bytes| {
            tally.uploaded.fetch_add(bytes, Ordering::Relaxed);
            tally.send(Event::Bytes { name: name.clone(), bytes });
        })
    }

    /// A sink for compressed chunks that passes them to `send` and tells the meter when each
    /// was produced and how long the upload queue kept it waiting.
    fn metered<'a>(
        self: &Arc<Self>,
        mut send: impl FnMut(Bytes) -> bool + Send + 'a,
    ) -> impl FnMut(Bytes) -> bool + Send + 'a {
        let tally = Arc::clone(self);
        move |chunk| {
            tally.meter.produced();
            let waiting = std::time::Instant::now();
            let sent = send(chunk);
            tally.meter.held_back(waiting.elapsed());
            sent
        }
    }

    fn done(&self, name: String, how: Done) {
        if how != Done::Pushed {
            self.skipped.fetch_add(1, Ordering::Relaxed);
        }
        self.send(Event::Done { name, how });
    }
}

/// What the paths of one push share: the registry it goes to, where in it, how its layers are
/// compressed, the level the blob cache keys them by, and the push's tally.
#[derive(Clone, Copy)]
struct Session<'a> {
    registry: &'a Arc<Registry>,
    target: &'a Target,
    options: &'a Options,
    /// The level of the blob cache's keys (0 when nothing is compressed).
    cache_level: i32,
    tally: &'a Arc<Tally>,
}

/// Pushes `input` to `target`.
pub async fn push(
    target: &Target,
    input: Input,
    options: &Options,
    events: UnboundedSender<Event>,
) -> Result<Report, OciError> {
    let tally =
        Arc::new(Tally { events, uploaded: AtomicU64::new(0), skipped: AtomicUsize::new(0), meter: Meter::default() });
    let mut cache = options.cache.as_deref().map(BlobCache::load);
    if options.auto {
        cache = cache.map(|cache| cache.with_any_level(options.compression.levels()));
    }
    let cache_level = if options.compression == Compression::None { 0 } else { options.level };
    // Repositories the cache says hold this image's blobs: the token must allow pulling them
    // to mount from there.
    let mut mount_sources: Vec<String> = Vec::new();
    if let (Input::Engine { layers, id, .. }, Some(cache)) = (&input, &cache) {
        if let Some(record) = cache.image(&target.host, options.compression.name(), cache_level, id) {
            mount_sources.push(record.repository.clone());
        }
        for layer in layers {
            if let Some(entry) = cache.get(&target.host, options.compression.name(), cache_level, layer)
                && !mount_sources.contains(&entry.repository)
            {
                mount_sources.push(entry.repository.clone());
            }
        }
    }
    let registry = Arc::new(
        Registry::connect(&target.host, &target.repository, target.credentials.clone(), &mount_sources).await?,
    );
    let session = Session { registry: &registry, target, options, cache_level, tally: &tally };
    let report = match input {
        Input::Layout { dir, reference } => {
            let name = match &reference {
                Some(r) => format!("oci:{}:{r}", dir.display()),
                None => format!("oci:{}", dir.display()),
            };
            let image = tokio::task::spawn_blocking(move || {
                source::read_layout(&dir, reference.as_deref(), &name).map(|i| (dir, name, i))
            })
            .await
            .map_err(|e| OciError::Source { source_name: "oci layout".into(), message: e.to_string() })??;
            push_layout(&registry, &image.0, &image.1, &image.2, &target.tag, &tally).await?
        }
        Input::Archive { file, reference } => {
            let name = format!("docker-archive:{}", file.display());
            let choice = reference.unwrap_or_else(|| format!("{}:{}", target.repository, target.tag));
            push_archive_file(&session, file, Some(choice), &name, cache.as_mut()).await?
        }
        Input::Engine { image, id, export, layers, store } => {
            if let Some(cache) = &mut cache
                && let Some(report) = match cache.image(&target.host, options.compression.name(), cache_level, &id) {
                    Some(record) => push_recorded(&registry, &record.clone(), &layers, target, cache, &tally).await?,
                    None => push_warm(&session, &id, &mount_sources, cache).await?,
                }
            {
                // A cache that cannot be written costs the next push a read of the config.
                let _ = cache.save();
                return Ok(report);
            }
            if let Some(stored) = read_store(store, &id).await {
                let report = push_stored(&session, stored, &image, cache.as_mut()).await?;
                return Ok(finish_report(report, cache.as_ref(), &tally));
            }
            let (sender, receiver) = std::sync::mpsc::sync_channel::<Result<Bytes, String>>(64);
            // The export arrives on the runtime; the tar is read on a thread of its own.
            let forward = tokio::spawn(async move {
                let mut export = export;
                while let Some(item) = export.next().await {
                    let failed = item.is_err();
                    let sender = sender.clone();
                    // A full channel means the reader is busy: wait off the runtime's threads.
                    let sent = tokio::task::spawn_blocking(move || sender.send(item).is_ok()).await.unwrap_or(false);
                    if !sent || failed {
                        break;
                    }
                }
            });
            let reader: Box<dyn Read + Send> = Box::new(ChannelReader::new(receiver));
            let result = push_archive_stream(&session, reader, (&image, &id), &layers, &image, cache.as_mut()).await;
            forward.abort();
            result.map_err(|error| match error {
                OciError::Source { message, .. } => OciError::Export { image: image.clone(), message },
                other => other,
            })?
        }
    };
    Ok(finish_report(report, cache.as_ref(), &tally))
}

/// Saves the cache and adds the link measured to a cold push's report.
fn finish_report(report: Report, cache: Option<&BlobCache>, tally: &Tally) -> Report {
    if let Some(cache) = cache {
        // A cache that cannot be written costs the next push a compression, nothing more.
        let _ = cache.save();
    }
    let link = tally.meter.link(report.bytes_uploaded).map(|link| match link {
        Link::Measured(rate) => LinkSample { bytes_per_second: rate as u64, measured: true },
        Link::AtLeast(rate) => LinkSample { bytes_per_second: rate as u64, measured: false },
    });
    Report { link, ..report }
}

/// Image `id` as the Engine's store holds it, or `None` (the export then serves the push): no
/// store given, or a part of it missing or unreadable (said at debug).
async fn read_store(store: Option<ImageInStore>, id: &str) -> Option<StoredImage> {
    let store = store?;
    let id = id.to_string();
    match tokio::task::spawn_blocking(move || store.read(&id)).await {
        Ok(Ok(stored)) => {
            tracing::debug!(target: "zenreg_push::layerstore", "{} layers read from the Engine's store", stored.layers.len());
            Some(stored)
        }
        Ok(Err(reason)) => {
            tracing::debug!(target: "zenreg_push::layerstore", "the export is read: {reason}");
            None
        }
        Err(_) => None,
    }
}

/// Pushes an image read from the Engine's store: every layer on its own, the largest first,
/// several at once (each compressed on the shared pool), then the config and a manifest built
/// for the blobs. Each layer's diff id is checked against the config's before the manifest
/// goes up.
async fn push_stored(
    session: &Session<'_>,
    stored: StoredImage,
    image: &str,
    cache: Option<&mut BlobCache>,
) -> Result<Report, OciError> {
    let Session { registry, target, options, cache_level: level, tally } = *session;
    let name = format!("the store of the Engine's image {image}");
    let plan = ImagePlan {
        layers: diff_ids(&stored.config, &name)?
            .into_iter()
            .map(|diff_id| LayerRef { path: diff_id.clone(), diff_id, descriptor: None })
            .collect(),
        config: stored.config.clone(),
        config_media_type: None,
        manifest: None,
    };
    // Each layer, what the config calls it, and the blob the cache knows for it.
    type Job = (layerstore::StoredLayer, LayerRef, Option<(String, u64)>);
    let mut jobs: Vec<Job> = Vec::new();
    for layer in stored.layers {
        let Some(reference) = plan.layers.iter().find(|l| l.diff_id == layer.diff_id) else {
            return Err(OciError::Source {
                source_name: name,
                message: format!("layer {} is not one of the config's", layer.diff_id),
            });
        };
        let known = cache
            .as_deref()
            .and_then(|c| c.get(&target.host, options.compression.name(), level, &layer.diff_id))
            .map(|e| (e.digest.clone(), e.size));
        jobs.push((layer, reference.clone(), known));
    }
    jobs.sort_by_key(|(layer, ..)| std::cmp::Reverse(layer.size));
    tally.send(Event::Start { layers: jobs.len(), size: jobs.iter().map(|(l, ..)| l.size).sum() });
    let pool = Pool::per_core();
    let results = futures_util::stream::iter(jobs)
        .map(|(stored, layer, known)| {
            let (registry, pool, tally) = (Arc::clone(registry), Arc::clone(&pool), Arc::clone(tally));
            async move {
                let name = short(&layer.diff_id);
                tally.send(Event::Layer { name: name.clone(), total: Some(stored.size) });
                let path = stored.files().to_path_buf();
                let open: Opener = Arc::new(move || Ok(Box::new(stored.open()?) as Box<dyn Read + Send>));
                let job = TarLayer { open, path, layer: &layer, known, name };
                let pushed = push_tar_layer(&registry, job, options, &pool, &tally).await?;
                Ok::<_, OciError>((layer.path.clone(), pushed))
            }
        })
        .buffer_unordered(registry.policy().uploads)
        .collect::<Vec<_>>()
        .await;
    let done: BTreeMap<String, Pushed> = results.into_iter().collect::<Result<_, _>>()?;
    let mut pushed = Vec::new();
    for layer in &plan.layers {
        let Some(layer_pushed) = done.get(&layer.path) else {
            return Err(OciError::Source {
                source_name: name,
                message: format!("layer {} was not read", layer.diff_id),
            });
        };
        check_diff_id(layer, layer_pushed, &name)?;
        pushed.push(layer_pushed);
    }
    let (digest, ..) = finish_image(registry, &plan, &pushed, &target.tag).await?;
    let size = done.values().map(|p| p.size).sum::<u64>() + plan.config.len() as u64;
    if let Some(cache) = cache {
        remember(cache, session, &[&plan], &done);
    }
    Ok(Report { read_store: true, ..tally.report(digest, done.len(), size) })
}

async fn push_layout(
    registry: &Arc<Registry>,
    dir: &std::path::Path,
    source_name: &str,
    image: &LayoutImage,
    tag: &str,
    tally: &Arc<Tally>,
) -> Result<Report, OciError> {
    tally.send(Event::Start { layers: image.blobs.len(), size: image.blobs.iter().map(|b| b.size).sum() });
    let results = futures_util::stream::iter(image.blobs.iter().cloned())
        .map(|blob| {
            let registry = Arc::clone(registry);
            let tally = Arc::clone(tally);
            let path = source::blob_path(dir, &blob.digest);
            async move {
                let name = short(&blob.digest);
                tally.send(Event::Layer { name: name.clone(), total: Some(blob.size) });
                if registry.blob_size(&blob.digest).await?.is_some() {
                    tally.done(name, Done::Exists);
                    return Ok(());
                }
                let on_bytes = tally.on_bytes(name.clone());
                match registry.upload_file(&blob.digest, &path, 0, blob.size, &*on_bytes).await {
                    Ok(()) => {}
                    // The registry found other bytes than the digest says: a damaged layout is
                    // said as such; bytes changed on the way stay the registry's answer.
                    Err(error) if error.is_digest_invalid() => {
                        return Err(source::check_blob(&path, &blob.digest, source_name).await.err().unwrap_or(error));
                    }
                    Err(error) => return Err(error),
                }
                tally.done(name, Done::Pushed);
                Ok::<(), OciError>(())
            }
        })
        .buffer_unordered(registry.policy().uploads)
        .collect::<Vec<_>>()
        .await;
    results.into_iter().collect::<Result<Vec<()>, OciError>>()?;
    for child in &image.children {
        let media_type =
            media::manifest_media_type(&child.bytes).unwrap_or_else(|| child.descriptor.media_type.clone());
        if !registry.manifest_exists(&child.descriptor.digest, &media_type).await? {
            registry.put_manifest(&child.descriptor.digest, &media_type, child.bytes.clone()).await?;
        }
    }
    let media_type =
        media::manifest_media_type(&image.top.bytes).unwrap_or_else(|| image.top.descriptor.media_type.clone());
    let digest = registry.put_manifest(tag, &media_type, image.top.bytes.clone()).await?;
    Ok(tally.report(digest, image.blobs.len(), image.blobs.iter().map(|b| b.size).sum()))
}

/// The manifest of an image whose layers were compressed with `compression`: Docker schema 2
/// for gzip and none (what Docker itself pushes), OCI for zstd (schema 2 has no zstd type).
fn build_manifest(config: &[u8], layers: &[(String, u64)], compression: Compression) -> (String, Bytes) {
    let form = Form::of(compression);
    let layers: Vec<(String, u64, Form)> = layers.iter().map(|(d, s)| (d.clone(), *s, form)).collect();
    build_manifest_forms(config, &layers)
}

/// The manifest of an image whose layers are in the forms given: Docker schema 2 unless a
/// layer is zstd (schema 2 has no zstd type), each layer's media type following its form.
fn build_manifest_forms(config: &[u8], layers: &[(String, u64, Form)]) -> (String, Bytes) {
    let oci = layers.iter().any(|(_, _, form)| *form == Form::Zstd);
    let (manifest_type, config_type) =
        if oci { (media::OCI_MANIFEST, media::OCI_CONFIG) } else { (media::DOCKER_MANIFEST, media::DOCKER_CONFIG) };
    let layer_type = |form: Form| match (oci, form) {
        (false, Form::Gzip) => media::DOCKER_LAYER_GZIP,
        (false, _) => media::DOCKER_LAYER_TAR,
        (true, Form::Gzip) => media::OCI_LAYER_GZIP,
        (true, Form::Zstd) => media::OCI_LAYER_ZSTD,
        (true, Form::Tar) => media::OCI_LAYER_TAR,
    };
    let descriptor = |media_type: &str, digest: &str, size: u64| Descriptor {
        media_type: media_type.to_string(),
        digest: digest.to_string(),
        size,
        annotations: None,
    };
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(manifest_type.to_string()),
        config: descriptor(config_type, &sha256(config), config.len() as u64),
        layers: layers.iter().map(|(digest, size, form)| descriptor(layer_type(*form), digest, *size)).collect(),
    };
    // Serialising plain strings and numbers cannot fail.
    let bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    (manifest_type.to_string(), Bytes::from(bytes))
}

fn diff_ids(config: &[u8], name: &str) -> Result<Vec<String>, OciError> {
    serde_json::from_slice::<ImageConfig>(config)
        .map(|c| c.rootfs.diff_ids)
        .map_err(|e| OciError::Source { source_name: name.to_string(), message: format!("the image config: {e}") })
}

/// An image the registry already holds whole (per the cache): every layer is there or can be
/// mounted. Pushed without reading the image at all: the config comes from the cache (checked
/// against its digest, the image id) or, the first time, from the registry; a config the
/// registry lacks is mounted or uploaded (it is small), alongside the layers' checks.
async fn push_warm(
    session: &Session<'_>,
    id: &str,
    mount_sources: &[String],
    cache: &mut BlobCache,
) -> Result<Option<Report>, OciError> {
    let Session { registry, target, options, cache_level: level, tally } = *session;
    let (config, config_checked) = match cache.config(id) {
        Some(config) => (Bytes::from(config), false),
        None => {
            let mut config = registry.get_blob(id, MAX_CONFIG).await?;
            // Pushed before to another repository of this registry: the config comes along by
            // a mount from one of those the cache names, as the layers do.
            for from in mount_sources.iter().filter(|r| *r != registry.repository()) {
                if config.is_some() {
                    break;
                }
                if registry.mount(id, from).await? {
                    config = registry.get_blob(id, MAX_CONFIG).await?;
                }
            }
            let Some(config) = config else { return Ok(None) };
            (config, true)
        }
    };
    let Ok(diff_ids) = diff_ids(&config, id) else { return Ok(None) };
    let mut layers = Vec::new();
    for diff_id in &diff_ids {
        let Some(entry) = cache.get(&target.host, options.compression.name(), level, diff_id) else { return Ok(None) };
        layers.push(entry.clone());
    }
    tally.send(Event::Start { layers: layers.len(), size: layers.iter().map(|l| l.size).sum() });
    let pairs: Vec<(String, u64)> = layers.iter().map(|l| (l.digest.clone(), l.size)).collect();
    let (media_type, manifest) = build_manifest(&config, &pairs, options.compression);
    let report = |digest: String| Report {
        digest,
        layers: layers.len(),
        layers_skipped: layers.len(),
        bytes_uploaded: 0,
        link: None,
        size: pairs.iter().map(|(_, s)| s).sum::<u64>() + config.len() as u64,
        read_store: false,
    };
    // The tag already names this very manifest: the registry holds it and every blob it lists
    // (a registry takes a manifest only when its blobs are there), so one `HEAD` replaces the
    // blobs' checks and the manifest's `PUT`.
    let digest = sha256(&manifest);
    if registry.manifest_digest(&target.tag, &media_type).await?.as_deref() == Some(digest.as_str()) {
        for entry in &layers {
            tally.done(short(&entry.digest), Done::Exists);
        }
        cache.insert_config(id, &config);
        return Ok(Some(report(digest)));
    }
    let checks = futures_util::stream::iter(layers.iter().cloned())
        .map(|entry| {
            let registry = Arc::clone(registry);
            async move {
                if registry.blob_size(&entry.digest).await?.is_some() {
                    return Ok::<_, OciError>(Some(Done::Exists));
                }
                if entry.repository != registry.repository() && registry.mount(&entry.digest, &entry.repository).await?
                {
                    return Ok(Some(Done::Mounted));
                }
                Ok(None)
            }
        })
        .buffered(WARM_CHECKS)
        .collect::<Vec<_>>();
    let config_present =
        async { if config_checked { Ok(()) } else { ensure_config(registry, id, &config, mount_sources).await } };
    let (checks, config_present) = futures_util::future::join(checks, config_present).await;
    config_present?;
    cache.insert_config(id, &config);
    let mut outcomes = Vec::new();
    for check in checks {
        match check? {
            Some(how) => outcomes.push(how),
            None => return Ok(None),
        }
    }
    for (entry, how) in layers.iter().zip(outcomes) {
        tally.done(short(&entry.digest), how);
    }
    let digest = registry.put_manifest(&target.tag, &media_type, manifest).await?;
    Ok(Some(report(digest)))
}

/// Makes sure the registry's repository holds config blob `id`: there already, mounted from a
/// repository that holds it, or uploaded.
async fn ensure_config(
    registry: &Registry,
    id: &str,
    config: &Bytes,
    mount_sources: &[String],
) -> Result<(), OciError> {
    if registry.blob_size(id).await?.is_some() {
        return Ok(());
    }
    for from in mount_sources.iter().filter(|r| *r != registry.repository()) {
        if registry.mount(id, from).await? {
            return Ok(());
        }
    }
    registry.upload_bytes(id, config.clone()).await
}

/// A large archive entry handed from the tar reader to an upload task.
struct NewBlob {
    path: String,
    size: u64,
    chunks: tokio::sync::mpsc::Receiver<Bytes>,
    digest: tokio::sync::oneshot::Receiver<String>,
}

fn compress_error(layer: &str, error: CompressError) -> OciError {
    match error {
        CompressError::Read(e) => OciError::Source { source_name: layer.to_string(), message: e.to_string() },
        CompressError::Codec(message) => OciError::Compress { layer: layer.to_string(), message },
        CompressError::SinkClosed => {
            OciError::Compress { layer: layer.to_string(), message: "its upload stopped".into() }
        }
    }
}

/// A layer of an archive as it is in the registry now.
#[derive(Debug, Clone)]
struct Pushed {
    /// Digest and size of the blob.
    digest: String,
    size: u64,
    /// What it decompresses to.
    diff_id: String,
    /// Its form in the registry (the source's when it came compressed).
    form: Form,
}

/// The digest an archive path claims for its content (`blobs/sha256/<hex>`).
fn claimed_digest(path: &str) -> Option<String> {
    let digest = format!("sha256:{}", path.strip_prefix("blobs/sha256/")?);
    crate::oci::digest::is_sha256(&digest).then_some(digest)
}

/// Reads `size` bytes of `file` from `offset` (a layer inside a tar).
fn open_range(file: &std::path::Path, offset: u64, size: u64) -> std::io::Result<impl Read + use<>> {
    use std::io::Seek;
    let mut opened = std::fs::File::open(file)?;
    opened.seek(std::io::SeekFrom::Start(offset))?;
    Ok(std::io::BufReader::with_capacity(1024 * 1024, opened.take(size)))
}

/// Everything an archive layer's push needs besides the registry.
struct LayerJob {
    file: PathBuf,
    offset: u64,
    size: u64,
    layer: LayerRef,
    /// The blob the cache knows for its diff id, with this push's compression.
    known: Option<(String, u64)>,
    source_name: String,
}

/// Pushes one layer of a regular-file archive. A compressed layer goes up byte-exact, straight
/// from the archive (resumable), while another thread decompresses the same bytes to check its
/// digest and diff id; an uncompressed one is compressed as it streams to the registry.
async fn push_file_layer(
    registry: &Arc<Registry>,
    job: LayerJob,
    options: &Options,
    pool: &Arc<Pool>,
    tally: &Arc<Tally>,
) -> Result<Pushed, OciError> {
    let LayerJob { file, offset, size, layer, known, source_name } = job;
    let io = |source| OciError::Io { path: file.clone(), source };
    let head = {
        use std::os::unix::fs::FileExt;
        let opened = std::fs::File::open(&file).map_err(io)?;
        let mut head = [0u8; 4];
        let n = opened.read_at(&mut head, offset).map_err(io)?.min(size as usize);
        head.get(..n).unwrap_or_default().to_vec()
    };
    let form = Form::sniff(&head);
    let name = short(layer.descriptor.as_ref().map_or(&layer.path, |d| &d.digest));
    tally.send(Event::Layer { name: name.clone(), total: Some(size) });
    // Reads the layer once without uploading: its digest and diff id.
    let check = |form: Form| {
        let file = file.clone();
        let source_name = source_name.clone();
        let path = layer.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut reader = open_range(&file, offset, size).map_err(|source| OciError::Io { path: file, source })?;
            compress::pass_through(&mut reader, form, &mut |_| true).map_err(|e| match e {
                CompressError::Codec(message) => OciError::Source {
                    source_name,
                    message: format!("layer {path} is not valid {}: {message}", form_name(form)),
                },
                other => compress_error(&path, other),
            })
        })
    };
    let joined = |e: tokio::task::JoinError| OciError::Compress { layer: layer.path.clone(), message: e.to_string() };
    if form != Form::Tar {
        let claimed = layer.descriptor.as_ref().map(|d| d.digest.clone()).or_else(|| claimed_digest(&layer.path));
        let (checked, digest) = match claimed {
            Some(digest) => {
                let exists = registry.blob_size(&digest).await?.is_some();
                let upload = async {
                    if exists {
                        return Ok(Done::Exists);
                    }
                    let on_bytes = tally.on_bytes(name.clone());
                    registry.upload_file(&digest, &file, offset, size, &*on_bytes).await.map(|()| Done::Pushed)
                };
                let (checked, uploaded) = futures_util::future::join(check(form), upload).await;
                let checked = checked.map_err(joined)??;
                // A source that is not what it says is told as such, before the registry's view.
                if checked.digest != digest {
                    return Err(OciError::Source {
                        source_name,
                        message: format!(
                            "layer {} hashes to {}, not to its digest {digest}",
                            layer.path, checked.digest
                        ),
                    });
                }
                tally.done(name, uploaded?);
                (checked, digest)
            }
            None => {
                let checked = check(form).await.map_err(joined)??;
                let digest = checked.digest.clone();
                if registry.blob_size(&digest).await?.is_some() {
                    tally.done(name, Done::Exists);
                } else {
                    let on_bytes = tally.on_bytes(name.clone());
                    registry.upload_file(&digest, &file, offset, size, &*on_bytes).await?;
                    tally.done(name, Done::Pushed);
                }
                (checked, digest)
            }
        };
        return Ok(Pushed { digest, size: checked.size, diff_id: checked.diff_id, form });
    }
    let opened = file.clone();
    let open: Opener = Arc::new(move || Ok(Box::new(open_range(&opened, offset, size)?) as Box<dyn Read + Send>));
    push_tar_layer(registry, TarLayer { open, path: file, layer: &layer, known, name }, options, pool, tally).await
}

/// Opens a layer's uncompressed tar at its start (once to hash it, once to compress it).
type Opener = Arc<dyn Fn() -> std::io::Result<Box<dyn Read + Send>> + Send + Sync>;

/// A layer whose source is an uncompressed tar.
struct TarLayer<'a> {
    open: Opener,
    /// What a read error names.
    path: PathBuf,
    layer: &'a LayerRef,
    /// The blob the cache knows for its diff id, with this push's compression.
    known: Option<(String, u64)>,
    /// Its name in progress.
    name: String,
}

/// Pushes an uncompressed layer: nothing when the cache knows its blob and the registry has it
/// (the layer is hashed to be sure it is the same), else compressed as it streams to the
/// registry.
async fn push_tar_layer(
    registry: &Arc<Registry>,
    TarLayer { open, path: source_path, layer, known, name }: TarLayer<'_>,
    options: &Options,
    pool: &Arc<Pool>,
    tally: &Arc<Tally>,
) -> Result<Pushed, OciError> {
    let joined = |e: tokio::task::JoinError| OciError::Compress { layer: layer.path.clone(), message: e.to_string() };
    let final_form = Form::of(options.compression);
    if let Some((digest, blob_size)) = known
        && registry.blob_size(&digest).await?.is_some()
    {
        // Compressed before and still there: hashing the layer shows it is the same one.
        let (open, source_path, path) = (Arc::clone(&open), source_path.clone(), layer.path.clone());
        let checked = tokio::task::spawn_blocking(move || {
            let mut reader = open().map_err(|source| OciError::Io { path: source_path, source })?;
            compress::pass_through(&mut reader, Form::Tar, &mut |_| true).map_err(|e| compress_error(&path, e))
        })
        .await
        .map_err(joined)??;
        if checked.diff_id == layer.diff_id {
            tally.done(name, Done::Exists);
            return Ok(Pushed { digest, size: blob_size, diff_id: checked.diff_id, form: final_form });
        }
    }
    let (chunk_sender, chunks) = tokio::sync::mpsc::channel::<Bytes>(8);
    let (digest_sender, digest) = tokio::sync::oneshot::channel();
    let compressing = {
        let (pool, compression, level) = (Arc::clone(pool), options.compression, options.level);
        let path = layer.path.clone();
        let mut sink = tally.metered(move |chunk| chunk_sender.blocking_send(chunk).is_ok());
        tokio::task::spawn_blocking(move || {
            let mut reader = open().map_err(|source| OciError::Io { path: source_path, source })?;
            let compressed = compress::compress(&mut reader, compression, level, &pool, &mut sink)
                .map_err(|e| compress_error(&path, e))?;
            let _ = digest_sender.send(compressed.digest.clone());
            Ok::<Compressed, OciError>(compressed)
        })
    };
    let what = format!("upload of layer {}", layer.path);
    let uploaded = registry.upload_stream(chunks, digest, &what, tally.on_bytes(name.clone())).await;
    let compressed = compressing.await.map_err(joined)?;
    // An upload's own error explains a compression that stopped because its upload did.
    let compressed = match (compressed, uploaded) {
        (Ok(compressed), Ok(_)) => compressed,
        (Err(OciError::Compress { .. }), Err(error)) | (Ok(_), Err(error)) => return Err(error),
        (Err(error), _) => return Err(error),
    };
    tally.done(name, Done::Pushed);
    Ok(Pushed { digest: compressed.digest, size: compressed.size, diff_id: compressed.diff_id, form: final_form })
}

fn form_name(form: Form) -> &'static str {
    match form {
        Form::Gzip => "gzip",
        Form::Zstd => "zstd",
        Form::Tar => "tar",
    }
}

/// Refuses a layer whose content is not what the config says.
fn check_diff_id(layer: &LayerRef, pushed: &Pushed, source_name: &str) -> Result<(), OciError> {
    if pushed.diff_id == layer.diff_id {
        return Ok(());
    }
    Err(OciError::DiffIdMismatch {
        source_name: source_name.to_string(),
        layer: layer.path.clone(),
        actual: pushed.diff_id.clone(),
        expected: layer.diff_id.clone(),
    })
}

/// Whether `image` can go up with its source's own manifest: every layer kept its source bytes
/// and the manifest says what they are.
fn keeps_source_manifest(image: &ImagePlan, pushed: &[&Pushed]) -> bool {
    image.manifest.is_some()
        && image.layers.iter().zip(pushed).all(|(layer, pushed)| {
            pushed.form != Form::Tar
                && layer.descriptor.as_ref().is_some_and(|d| {
                    d.digest == pushed.digest && Form::of_media_type(&d.media_type) == Some(pushed.form)
                })
        })
}

/// Puts the config and manifest of one image of an archive under `reference`: the source's
/// manifest byte-exact when it still describes the blobs, else one built for them.
/// Returns the manifest's digest, media type and bytes.
async fn finish_image(
    registry: &Registry,
    image: &ImagePlan,
    pushed: &[&Pushed],
    reference: &str,
) -> Result<(String, String, Bytes), OciError> {
    let config_digest = sha256(&image.config);
    if registry.blob_size(&config_digest).await?.is_none() {
        registry.upload_bytes(&config_digest, image.config.clone()).await?;
    }
    let (media_type, manifest) = match (keeps_source_manifest(image, pushed), &image.manifest) {
        (true, Some(manifest)) => (
            media::manifest_media_type(&manifest.bytes).unwrap_or_else(|| manifest.descriptor.media_type.clone()),
            manifest.bytes.clone(),
        ),
        _ => {
            let layers: Vec<(String, u64, Form)> = pushed.iter().map(|p| (p.digest.clone(), p.size, p.form)).collect();
            build_manifest_forms(&image.config, &layers)
        }
    };
    let digest = registry.put_manifest(reference, &media_type, manifest.clone()).await?;
    Ok((digest, media_type, manifest))
}

/// A warm push of an image whose id is not its config's digest (the containerd store), by the
/// manifest its first push sent (kept in the cache): the registry is asked for the tag, else
/// for each blob (or a mount), and the manifest is put again. Nothing is exported. `None` when
/// the record no longer fits the image or a blob is missing (the image is then pushed whole).
async fn push_recorded(
    registry: &Arc<Registry>,
    record: &crate::oci::cache::ImageRecord,
    layers: &[String],
    target: &Target,
    cache: &BlobCache,
    tally: &Arc<Tally>,
) -> Result<Option<Report>, OciError> {
    let bytes = Bytes::from(record.manifest.clone());
    let Ok(manifest) = serde_json::from_slice::<Manifest>(&bytes) else { return Ok(None) };
    let Some(config) = cache.config(&record.config).map(Bytes::from) else { return Ok(None) };
    let Ok(diff_ids) = diff_ids(&config, &record.config) else { return Ok(None) };
    let mut distinct: Vec<String> = Vec::new();
    for diff_id in diff_ids {
        if !distinct.contains(&diff_id) {
            distinct.push(diff_id);
        }
    }
    if manifest.config.digest != record.config || distinct != layers {
        return Ok(None);
    }
    tally.send(Event::Start { layers: manifest.layers.len(), size: manifest.layers.iter().map(|l| l.size).sum() });
    let report = |digest: String, uploaded: u64| Report {
        digest,
        layers: manifest.layers.len(),
        layers_skipped: manifest.layers.len(),
        bytes_uploaded: uploaded,
        link: None,
        size: manifest.layers.iter().map(|l| l.size).sum::<u64>() + config.len() as u64,
        read_store: false,
    };
    let digest = sha256(&bytes);
    if registry.manifest_digest(&target.tag, &record.media_type).await?.as_deref() == Some(digest.as_str()) {
        for layer in &manifest.layers {
            tally.done(short(&layer.digest), Done::Exists);
        }
        return Ok(Some(report(digest, 0)));
    }
    let mut outcomes = Vec::new();
    for layer in &manifest.layers {
        if registry.blob_size(&layer.digest).await?.is_some() {
            outcomes.push(Done::Exists);
        } else if record.repository != registry.repository()
            && registry.mount(&layer.digest, &record.repository).await?
        {
            outcomes.push(Done::Mounted);
        } else {
            return Ok(None);
        }
    }
    ensure_config(registry, &record.config, &config, std::slice::from_ref(&record.repository)).await?;
    for (layer, how) in manifest.layers.iter().zip(outcomes) {
        tally.done(short(&layer.digest), how);
    }
    let digest = registry.put_manifest(&target.tag, &record.media_type, bytes).await?;
    Ok(Some(report(digest, 0)))
}

/// Pushes the image of a `docker save` archive file: its index is read first (headers only),
/// then its documents by seeking, then exactly the layers the chosen image names, from their
/// offsets. Nothing else of the archive is read or uploaded.
async fn push_archive_file(
    session: &Session<'_>,
    file: PathBuf,
    choice_name: Option<String>,
    name: &str,
    cache: Option<&mut BlobCache>,
) -> Result<Report, OciError> {
    let Session { registry, target, options, cache_level: level, tally } = *session;
    let (index, plan) = {
        let (file, source_name, platform) = (file.clone(), name.to_string(), options.platform.clone());
        tokio::task::spawn_blocking(move || -> Result<(TarIndex, Plan), OciError> {
            source::regular_file(&file, &source_name)?;
            let index = TarIndex::read(&file, &source_name)?;
            let opened = std::fs::File::open(&file).map_err(|source| OciError::Io { path: file.clone(), source })?;
            let docs = FileDocuments { file: &opened, index: &index, name: &source_name };
            let choice = Choice { name: choice_name.as_deref(), platform: platform.as_deref(), diff_ids: None };
            let plan = archive::plan(&docs, &choice, &source_name)?;
            Ok((index, plan))
        })
        .await
        .map_err(|e| OciError::Source { source_name: name.to_string(), message: e.to_string() })??
    };
    let images: Vec<&ImagePlan> = match &plan {
        Plan::Image(image) => vec![image],
        Plan::Index { images, .. } => images.iter().collect(),
    };
    let mut jobs: Vec<LayerJob> = Vec::new();
    for layer in images.iter().flat_map(|i| &i.layers) {
        if jobs.iter().any(|j| j.layer.path == layer.path) {
            continue;
        }
        let (offset, size) = index.get(&layer.path).ok_or_else(|| OciError::Source {
            source_name: name.to_string(),
            message: format!("layer `{}` is not a file of the archive", layer.path),
        })?;
        let known = cache
            .as_deref()
            .and_then(|c| c.get(&target.host, options.compression.name(), level, &layer.diff_id))
            .map(|e| (e.digest.clone(), e.size));
        jobs.push(LayerJob {
            file: file.clone(),
            offset,
            size,
            layer: layer.clone(),
            known,
            source_name: name.to_string(),
        });
    }
    tally.send(Event::Start { layers: jobs.len(), size: jobs.iter().map(|j| j.size).sum() });
    let pool = Pool::per_core();
    let results = futures_util::stream::iter(jobs)
        .map(|job| {
            let (registry, pool, tally) = (Arc::clone(registry), Arc::clone(&pool), Arc::clone(tally));
            async move {
                let path = job.layer.path.clone();
                push_file_layer(&registry, job, options, &pool, &tally).await.map(|pushed| (path, pushed))
            }
        })
        .buffer_unordered(registry.policy().uploads)
        .collect::<Vec<_>>()
        .await;
    let done: BTreeMap<String, Pushed> = results.into_iter().collect::<Result<_, _>>()?;
    let layers_of = |image: &ImagePlan| -> Result<Vec<&Pushed>, OciError> {
        let mut out = Vec::new();
        for layer in &image.layers {
            let pushed = done.get(&layer.path).ok_or_else(|| OciError::Source {
                source_name: name.to_string(),
                message: format!("layer `{}` was not read", layer.path),
            })?;
            check_diff_id(layer, pushed, name)?;
            out.push(pushed);
        }
        Ok(out)
    };
    let digest = match &plan {
        Plan::Image(image) => finish_image(registry, image, &layers_of(image)?, &target.tag).await?.0,
        Plan::Index { top, images } => {
            for image in images {
                let pushed = layers_of(image)?;
                let Some(manifest) = image.manifest.as_ref().filter(|_| keeps_source_manifest(image, &pushed)) else {
                    return Err(OciError::Source {
                        source_name: name.to_string(),
                        message: "a multi-platform image with uncompressed layers cannot be pushed whole: choose \
                                  one platform with `--platform`"
                            .into(),
                    });
                };
                finish_image(registry, image, &pushed, &manifest.descriptor.digest).await?;
            }
            let media_type =
                media::manifest_media_type(&top.bytes).unwrap_or_else(|| top.descriptor.media_type.clone());
            registry.put_manifest(&target.tag, &media_type, top.bytes.clone()).await?
        }
    };
    if let Some(cache) = cache {
        remember(cache, session, &images, &done);
    }
    let config_bytes: u64 = images.iter().map(|i| i.config.len() as u64).sum();
    Ok(tally.report(digest, done.len(), done.values().map(|p| p.size).sum::<u64>() + config_bytes))
}

/// Records the configs and the layers zenreg compressed in the blob cache (a layer that came
/// compressed keeps its own digest, which no compression setting of zenreg reproduces).
fn remember(cache: &mut BlobCache, session: &Session<'_>, images: &[&ImagePlan], done: &BTreeMap<String, Pushed>) {
    let Session { target, options, cache_level: level, .. } = *session;
    for image in images {
        cache.insert_config(&sha256(&image.config), &image.config);
        for layer in &image.layers {
            let Some(pushed) = done.get(&layer.path) else { continue };
            let compression = match pushed.form {
                form if form == Form::of(options.compression) => options.compression.name(),
                _ => continue,
            };
            cache.insert(
                &target.host,
                compression,
                level,
                &pushed.diff_id,
                (&pushed.digest, pushed.size),
                &target.repository,
            );
        }
    }
}

/// What the tar reader made of a large entry of the Engine's export.
struct StreamLayer {
    pushed: Pushed,
    /// Whether its upload was closed (its diff id is one of the image's).
    kept: bool,
}

/// Pushes the image of the Engine's export stream, read once. Each large entry is uploaded as
/// it streams by (compressed layers unchanged, others compressed), and its upload is closed
/// only when its diff id turns out to be one of the image's (`wanted`, from the Engine's
/// inspect); any other entry's upload is abandoned, so nothing but the image's layers becomes
/// a blob.
async fn push_archive_stream(
    session: &Session<'_>,
    reader: Box<dyn Read + Send>,
    (image, id): (&str, &str),
    wanted: &[String],
    name: &str,
    cache: Option<&mut BlobCache>,
) -> Result<Report, OciError> {
    let Session { registry, target, options, cache_level: level, tally } = *session;
    let pool = Pool::per_core();
    let (blob_sender, mut blobs) = tokio::sync::mpsc::unbounded_channel::<NewBlob>();
    let scanner = {
        let pool = Arc::clone(&pool);
        let name = name.to_string();
        let wanted = wanted.to_vec();
        let (compression, level) = (options.compression, options.level);
        let tally = Arc::clone(tally);
        tokio::task::spawn_blocking(move || -> Result<ArchiveScan<StreamLayer>, OciError> {
            source::scan_archive(reader, &name, &mut |path, size, entry| {
                let (chunk_sender, chunks) = tokio::sync::mpsc::channel::<Bytes>(8);
                let (digest_sender, digest) = tokio::sync::oneshot::channel();
                let blob = NewBlob { path: path.to_string(), size, chunks, digest };
                if blob_sender.send(blob).is_err() {
                    return Err(compress_error(path, CompressError::SinkClosed));
                }
                let mut head = [0u8; 4];
                let mut filled = 0;
                while filled < head.len() {
                    let Some(rest) = head.get_mut(filled..) else { break };
                    match entry.read(rest).map_err(|e| compress_error(path, CompressError::Read(e)))? {
                        0 => break,
                        n => filled += n,
                    }
                }
                let head = head.get(..filled).unwrap_or_default();
                let form = Form::sniff(head);
                let mut input = head.chain(entry);
                let mut sink = tally.metered(|chunk| chunk_sender.blocking_send(chunk).is_ok());
                let result = match form {
                    Form::Tar => compress::compress(&mut input, compression, level, &pool, &mut sink),
                    compressed => compress::pass_through(&mut input, compressed, &mut sink),
                }
                .map_err(|e| compress_error(path, e))?;
                let kept = wanted.contains(&result.diff_id);
                if kept {
                    let _ = digest_sender.send(result.digest.clone());
                }
                let form = if form == Form::Tar { Form::of(compression) } else { form };
                let pushed = Pushed { digest: result.digest, size: result.size, diff_id: result.diff_id, form };
                Ok(StreamLayer { pushed, kept })
            })
        })
    };
    let mut uploads = Vec::new();
    tally.send(Event::Start { layers: 0, size: 0 });
    while let Some(blob) = blobs.recv().await {
        let registry = Arc::clone(registry);
        let tally = Arc::clone(tally);
        let path = blob.path.clone();
        uploads.push((
            path,
            tokio::spawn(async move {
                let name = short(&blob.path);
                tally.send(Event::Layer { name: name.clone(), total: Some(blob.size) });
                let on_bytes = tally.on_bytes(name.clone());
                let what = format!("upload of layer {}", blob.path);
                let result = registry.upload_stream(blob.chunks, blob.digest, &what, on_bytes).await;
                (name, result)
            }),
        ));
    }
    let scanned =
        scanner.await.map_err(|e| OciError::Source { source_name: name.to_string(), message: e.to_string() })?;
    let mut upload_results = Vec::new();
    for (path, upload) in uploads {
        let result =
            upload.await.map_err(|e| OciError::Compress { layer: name.to_string(), message: e.to_string() })?;
        upload_results.push((path, result));
    }
    let scan = match scanned {
        Ok(scan) => scan,
        // An upload's own error explains a compression that stopped because its upload did.
        Err(error @ OciError::Compress { .. }) => {
            return Err(upload_results.into_iter().find_map(|(_, (_, r))| r.err()).unwrap_or(error));
        }
        Err(error) => return Err(error),
    };
    for (path, (short_name, result)) in upload_results {
        // An abandoned upload ends in an error of its own: it is not one of the image's.
        if !scan.large.get(&path).is_some_and(|l| l.kept) {
            continue;
        }
        result?;
        tally.done(short_name, Done::Pushed);
    }
    let is_large = |path: &str| scan.large.contains_key(path);
    let docs = MemoryDocuments { small: &scan.small, large: &is_large, links: &scan.links, name };
    let choice = Choice { name: Some(image), platform: options.platform.as_deref(), diff_ids: Some(wanted) };
    let image_plan = match archive::plan(&docs, &choice, name)? {
        Plan::Image(image) => image,
        Plan::Index { .. } => {
            return Err(OciError::Source {
                source_name: name.to_string(),
                message: "the export holds a multi-platform image: push it with `--from docker-archive:`".into(),
            });
        }
    };
    let mut done: BTreeMap<String, Pushed> = scan.large.iter().map(|(p, l)| (p.clone(), l.pushed.clone())).collect();
    for layer in &image_plan.layers {
        if done.contains_key(&layer.path) {
            continue;
        }
        // A small layer, kept in memory: its bytes go up now.
        let data = scan.small.get(&layer.path).cloned().ok_or_else(|| OciError::Source {
            source_name: name.to_string(),
            message: format!("the export names `{}`, which it does not hold", layer.path),
        })?;
        let (pool, compression, level, path) =
            (Arc::clone(&pool), options.compression, options.level, layer.path.clone());
        let (pushed, blob) = tokio::task::spawn_blocking(move || {
            let mut blob = Vec::new();
            let form = Form::sniff(&data);
            let mut sink = |chunk: Bytes| {
                blob.extend_from_slice(&chunk);
                true
            };
            let result = match form {
                Form::Tar => compress::compress(&mut &data[..], compression, level, &pool, &mut sink),
                compressed => compress::pass_through(&mut &data[..], compressed, &mut sink),
            };
            let form = if form == Form::Tar { Form::of(compression) } else { form };
            result.map(|c| (Pushed { digest: c.digest, size: c.size, diff_id: c.diff_id, form }, blob))
        })
        .await
        .map_err(|e| OciError::Compress { layer: path.clone(), message: e.to_string() })?
        .map_err(|e| compress_error(&path, e))?;
        check_diff_id(layer, &pushed, name)?;
        let short_name = short(&layer.path);
        tally.send(Event::Layer { name: short_name.clone(), total: Some(pushed.size) });
        if registry.blob_size(&pushed.digest).await?.is_some() {
            tally.done(short_name, Done::Exists);
        } else {
            registry.upload_bytes(&pushed.digest, Bytes::from(blob)).await?;
            (tally.on_bytes(short_name.clone()))(pushed.size);
            tally.done(short_name, Done::Pushed);
        }
        done.insert(layer.path.clone(), pushed);
    }
    let mut pushed = Vec::new();
    for layer in &image_plan.layers {
        let Some(layer_pushed) = done.get(&layer.path) else {
            return Err(OciError::Source {
                source_name: name.to_string(),
                message: format!("layer `{}` was not read", layer.path),
            });
        };
        check_diff_id(layer, layer_pushed, name)?;
        pushed.push(layer_pushed);
    }
    let (digest, media_type, manifest) = finish_image(registry, &image_plan, &pushed, &target.tag).await?;
    let size = pushed.iter().map(|p| p.size).sum::<u64>() + image_plan.config.len() as u64;
    let layers = pushed.len();
    if let Some(cache) = cache {
        remember(cache, session, &[&image_plan], &done);
        let config = sha256(&image_plan.config);
        // The containerd store's image id is not its config's digest: the manifest pushed is
        // kept under the id, for a warm push to send it again.
        if config != id {
            let compression = options.compression.name();
            let manifest = (media_type.as_str(), &manifest[..]);
            cache.insert_image(&target.host, compression, level, id, manifest, &config, &target.repository);
        }
    }
    Ok(tally.report(digest, layers, size))
}
