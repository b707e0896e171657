//! One push through the OCI engine: connect to the registry, then push the image of the given
//! input. An OCI layout's blobs go up byte-exact (skipped when present); an archive's layers are
//! compressed while they stream in and uploaded as they are compressed, several at once; an
//! image in the Engine whose blobs the cache knows is pushed without exporting anything.

use crate::oci::cache::BlobCache;
use crate::oci::compress::{self, CompressError, Compressed, Compression, Pool};
use crate::oci::digest::sha256;
use crate::oci::error::OciError;
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

/// Blob uploads of a layout at once: enough to overlap requests, few enough for small hosts.
const PARALLEL_UPLOADS: usize = 4;
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
    /// The blob cache file, if one is kept.
    pub cache: Option<PathBuf>,
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
    /// The image's size: its blobs' sizes as pushed.
    pub size: u64,
}

fn short(digest_or_path: &str) -> String {
    let text = digest_or_path.trim_start_matches("sha256:").trim_start_matches("blobs/sha256/");
    text.chars().take(12).collect()
}

/// Shared counters and the event channel of one push.
struct Tally {
    events: UnboundedSender<Event>,
    uploaded: AtomicU64,
    skipped: AtomicUsize,
}

impl Tally {
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

    fn done(&self, name: String, how: Done) {
        if how != Done::Pushed {
            self.skipped.fetch_add(1, Ordering::Relaxed);
        }
        self.send(Event::Done { name, how });
    }
}

/// Pushes `input` to `target`.
pub async fn push(
    target: &Target,
    input: Input,
    options: &Options,
    events: UnboundedSender<Event>,
) -> Result<Report, OciError> {
    let tally = Arc::new(Tally { events, uploaded: AtomicU64::new(0), skipped: AtomicUsize::new(0) });
    let mut cache = options.cache.as_deref().map(BlobCache::load);
    let cache_level = if options.compression == Compression::None { 0 } else { options.level };
    // Repositories the cache says hold this image's blobs: the token must allow pulling them
    // to mount from there.
    let mut mount_sources: Vec<String> = Vec::new();
    if let (Input::Engine { layers, .. }, Some(cache)) = (&input, &cache) {
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
        Input::Archive { file } => {
            let name = format!("docker-archive:{}", file.display());
            let opened = std::fs::File::open(&file).map_err(|source| OciError::Io { path: file.clone(), source })?;
            let reader: Box<dyn Read + Send> = Box::new(std::io::BufReader::with_capacity(1024 * 1024, opened));
            push_archive(&registry, reader, None, &name, target, options, cache_level, cache.as_mut(), &tally).await?
        }
        Input::Engine { image, id, export, .. } => {
            if let Some(cache) = &mut cache
                && let Some(report) =
                    push_warm(&registry, &id, &mount_sources, target, options, cache_level, cache, &tally).await?
            {
                // A cache that cannot be written costs the next push a read of the config.
                let _ = cache.save();
                return Ok(report);
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
            let result = push_archive(
                &registry,
                reader,
                Some(&image),
                &image,
                target,
                options,
                cache_level,
                cache.as_mut(),
                &tally,
            )
            .await;
            forward.abort();
            result.map_err(|error| match error {
                OciError::Source { message, .. } => OciError::Export { image: image.clone(), message },
                other => other,
            })?
        }
    };
    if let Some(cache) = &cache {
        // A cache that cannot be written costs the next push a compression, nothing more.
        let _ = cache.save();
    }
    Ok(report)
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
        .buffer_unordered(PARALLEL_UPLOADS)
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
    Ok(Report {
        digest,
        layers: image.blobs.len(),
        layers_skipped: tally.skipped.load(Ordering::Relaxed),
        bytes_uploaded: tally.uploaded.load(Ordering::Relaxed),
        size: image.blobs.iter().map(|b| b.size).sum(),
    })
}

/// The manifest of an image whose layers were compressed with `compression`: Docker schema 2
/// for gzip and none (what Docker itself pushes), OCI for zstd (schema 2 has no zstd type).
fn build_manifest(config: &[u8], layers: &[(String, u64)], compression: Compression) -> (String, Bytes) {
    let (manifest_type, config_type, layer_type) = match compression {
        Compression::Gzip => (media::DOCKER_MANIFEST, media::DOCKER_CONFIG, media::DOCKER_LAYER_GZIP),
        Compression::None => (media::DOCKER_MANIFEST, media::DOCKER_CONFIG, media::DOCKER_LAYER_TAR),
        Compression::Zstd => (media::OCI_MANIFEST, media::OCI_CONFIG, media::OCI_LAYER_ZSTD),
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
        layers: layers.iter().map(|(digest, size)| descriptor(layer_type, digest, *size)).collect(),
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
#[allow(clippy::too_many_arguments)]
async fn push_warm(
    registry: &Arc<Registry>,
    id: &str,
    mount_sources: &[String],
    target: &Target,
    options: &Options,
    level: i32,
    cache: &mut BlobCache,
    tally: &Arc<Tally>,
) -> Result<Option<Report>, OciError> {
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
        size: pairs.iter().map(|(_, s)| s).sum::<u64>() + config.len() as u64,
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
        .buffered(PARALLEL_UPLOADS * 2)
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

#[allow(clippy::too_many_arguments)]
async fn push_archive(
    registry: &Arc<Registry>,
    reader: Box<dyn Read + Send>,
    image: Option<&str>,
    name: &str,
    target: &Target,
    options: &Options,
    level: i32,
    cache: Option<&mut BlobCache>,
    tally: &Arc<Tally>,
) -> Result<Report, OciError> {
    let pool = Pool::per_core();
    let (blob_sender, mut blobs) = tokio::sync::mpsc::unbounded_channel::<NewBlob>();
    let scanner = {
        let pool = Arc::clone(&pool);
        let name = name.to_string();
        let (compression, level) = (options.compression, options.level);
        tokio::task::spawn_blocking(move || -> Result<ArchiveScan<Compressed>, OciError> {
            source::scan_archive(reader, &name, &mut |path, size, entry| {
                let (chunk_sender, chunks) = tokio::sync::mpsc::channel::<Bytes>(8);
                let (digest_sender, digest) = tokio::sync::oneshot::channel();
                let blob = NewBlob { path: path.to_string(), size, chunks, digest };
                if blob_sender.send(blob).is_err() {
                    return Err(compress_error(path, CompressError::SinkClosed));
                }
                let compressed = compress::compress(entry, compression, level, &pool, &mut |chunk| {
                    chunk_sender.blocking_send(chunk).is_ok()
                })
                .map_err(|e| compress_error(path, e))?;
                let _ = digest_sender.send(compressed.digest.clone());
                Ok(compressed)
            })
        })
    };
    let mut uploads = Vec::new();
    tally.send(Event::Start { layers: 0, size: 0 });
    while let Some(blob) = blobs.recv().await {
        let registry = Arc::clone(registry);
        let tally = Arc::clone(tally);
        uploads.push(tokio::spawn(async move {
            let name = short(&blob.path);
            tally.send(Event::Layer { name: name.clone(), total: Some(blob.size) });
            let on_bytes = tally.on_bytes(name.clone());
            let what = format!("upload of layer {}", blob.path);
            let result = registry.upload_stream(blob.chunks, blob.digest, &what, on_bytes).await;
            if result.is_ok() {
                tally.done(name, Done::Pushed);
            }
            result
        }));
    }
    let scanned =
        scanner.await.map_err(|e| OciError::Source { source_name: name.to_string(), message: e.to_string() })?;
    // An upload's own error explains a compression that stopped because its upload did.
    for upload in uploads {
        upload.await.map_err(|e| OciError::Compress { layer: name.to_string(), message: e.to_string() })??;
    }
    let scan = scanned?;
    let entry = source::archive_entry(&scan.small, image, name)?;
    let config = scan.small.get(&entry.config).cloned().ok_or_else(|| OciError::Source {
        source_name: name.to_string(),
        message: format!("the config `{}` is missing or larger than 1 MiB", entry.config),
    })?;
    let expected = diff_ids(&config, name)?;
    if expected.len() != entry.layers.len() {
        return Err(OciError::Source {
            source_name: name.to_string(),
            message: format!("the config lists {} diff ids for {} layers", expected.len(), entry.layers.len()),
        });
    }
    let mut done: BTreeMap<String, Compressed> = scan.large;
    let mut layers = Vec::new();
    for (path, diff_id) in entry.layers.iter().zip(&expected) {
        if !done.contains_key(path) {
            // A small layer, kept in memory: compress it now.
            let data = scan.small.get(path).cloned().ok_or_else(|| OciError::Source {
                source_name: name.to_string(),
                message: format!("manifest.json names `{path}`, which the archive does not hold"),
            })?;
            let (pool, compression, level) = (Arc::clone(&pool), options.compression, options.level);
            let (compressed, blob) = tokio::task::spawn_blocking(move || {
                let mut blob = Vec::new();
                compress::compress(&mut &data[..], compression, level, &pool, &mut |chunk| {
                    blob.extend_from_slice(&chunk);
                    true
                })
                .map(|c| (c, blob))
            })
            .await
            .map_err(|e| OciError::Compress { layer: path.clone(), message: e.to_string() })?
            .map_err(|e| compress_error(path, e))?;
            let short_name = short(path);
            tally.send(Event::Layer { name: short_name.clone(), total: Some(compressed.size) });
            if compressed.diff_id == *diff_id && registry.blob_size(&compressed.digest).await?.is_some() {
                tally.done(short_name, Done::Exists);
            } else if compressed.diff_id == *diff_id {
                registry.upload_bytes(&compressed.digest, Bytes::from(blob)).await?;
                (tally.on_bytes(short_name.clone()))(compressed.size);
                tally.done(short_name, Done::Pushed);
            }
            done.insert(path.clone(), compressed);
        }
        let Some(compressed) = done.get(path) else {
            return Err(OciError::Source {
                source_name: name.to_string(),
                message: format!("layer `{path}` was not read"),
            });
        };
        if compressed.diff_id != *diff_id {
            return Err(OciError::DiffIdMismatch {
                source_name: name.to_string(),
                layer: path.clone(),
                actual: compressed.diff_id.clone(),
                expected: diff_id.clone(),
            });
        }
        layers.push((compressed.digest.clone(), compressed.size));
    }
    let config_digest = sha256(&config);
    if registry.blob_size(&config_digest).await?.is_none() {
        registry.upload_bytes(&config_digest, config.clone()).await?;
    }
    let (media_type, manifest) = build_manifest(&config, &layers, options.compression);
    let digest = registry.put_manifest(&target.tag, &media_type, manifest).await?;
    if let Some(cache) = cache {
        cache.insert_config(&config_digest, &config);
        for (path, diff_id) in entry.layers.iter().zip(&expected) {
            let Some(c) = done.get(path) else { continue };
            cache.insert(
                &target.host,
                options.compression.name(),
                level,
                diff_id,
                (&c.digest, c.size),
                &target.repository,
            );
        }
    }
    Ok(Report {
        digest,
        layers: layers.len(),
        layers_skipped: tally.skipped.load(Ordering::Relaxed),
        bytes_uploaded: tally.uploaded.load(Ordering::Relaxed),
        size: layers.iter().map(|(_, s)| s).sum::<u64>() + config.len() as u64,
    })
}
