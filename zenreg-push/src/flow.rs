//! The push flow: load and revalidate the component, find its implementation, check that the
//! image belongs to the registry, prepare, resolve credentials, push through the Docker Engine
//! or zenreg's own OCI engine with retries, and return the repository digest.

use crate::choice;
use crate::docker_config::{self, CredentialSource};
use crate::engine::{Engine, PushEvent, PushFailure};
use crate::error::Error;
use crate::oci::{self, Compression, OciError, Source};
use bollard::auth::DockerCredentials;
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use zenreg_core::ExposeSecret;
use zenreg_core::{
    ComponentType, Credentials, Diagnostics, DynContainerRegistry, Reference, is_valid_image_name_for_registry,
};
use zenreg_store::{Client, Component};

/// How many times a transient failure is retried, and the first pause (doubled each time).
const RETRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// What to push where.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// The local image, `name[:tag]`.
    pub image: String,
    /// Name or id of the container-registry component.
    pub registry: String,
    /// Tag an image that is not under the registry as `uri[/default_repository]/name:tag` first.
    pub retag: bool,
    /// Which engine pushes; `None` chooses by the daemon's image store (see [`default_engine`]).
    pub engine: Option<EngineKind>,
    /// Where the image comes from when not from the Docker Engine (OCI engine only).
    pub from: Option<Source>,
    /// Compression of layers that arrive uncompressed (OCI engine only).
    pub compression: Compression,
    /// Its level; `None` chooses it for the link (see [`oci::adaptive`]).
    pub level: Option<i32>,
    /// `os/arch[/variant]` of a multi-platform image in an archive to push alone (OCI engine).
    pub platform: Option<String>,
}

impl PushRequest {
    /// A push of `image` through `registry` with the default engine and settings.
    pub fn new(image: impl Into<String>, registry: impl Into<String>) -> PushRequest {
        PushRequest {
            image: image.into(),
            registry: registry.into(),
            retag: false,
            engine: None,
            from: None,
            compression: Compression::Gzip,
            level: None,
            platform: None,
        }
    }
}

/// The engine that talks to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// The Docker Engine pushes (`docker push`).
    Docker,
    /// zenreg's own OCI client pushes (the default: faster, and needs no daemon with `--from`;
    /// see BENCHMARKS.md).
    #[default]
    Oci,
}

impl EngineKind {
    /// The name used on the command line and in output.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Docker => "docker",
            EngineKind::Oci => "oci",
        }
    }
}

/// What was pushed.
#[derive(Debug, Clone, Serialize)]
pub struct PushOutcome {
    /// The image reference pushed (after `--retag`).
    pub image: String,
    /// The registry component's name.
    pub registry: String,
    /// The repository digest, `repository@sha256:…`.
    pub digest: String,
    /// The image's size in bytes.
    pub size: u64,
    /// The engine that pushed.
    pub engine: EngineKind,
    /// The compression of layers compressed by zenreg (OCI engine).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<&'static str>,
    /// Bytes of blobs uploaded (OCI engine).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_uploaded: Option<u64>,
    /// Layers the registry already had (or mounted from another repository).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers_skipped: Option<usize>,
    /// The level layers were compressed at (OCI engine, gzip or zstd).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression_level: Option<i32>,
}

/// Receives progress of a push (the CLI draws bars on a terminal and a few lines elsewhere).
pub trait PushProgress {
    /// The push of `image` starts: `layers` distinct layers, `size` bytes, credentials from `source`.
    fn start(&mut self, image: &str, layers: usize, size: u64, source: &CredentialSource);
    /// An event of the daemon's stream.
    fn event(&mut self, event: &PushEvent);
    /// A transient failure; another attempt follows after `pause`.
    fn retry(&mut self, attempt: u32, pause: Duration, failure: &PushFailure);
    /// Progress of the OCI engine (per layer, in bytes).
    fn layer(&mut self, event: &oci::Event) {
        let _ = event;
    }
    /// A sentence about the push, before it starts (why an engine was chosen).
    fn note(&mut self, note: &str) {
        let _ = note;
    }
    /// The push ended (successfully or not).
    fn finish(&mut self);
}

/// A progress sink that shows nothing.
#[derive(Debug, Default)]
pub struct NoProgress;

impl PushProgress for NoProgress {
    fn start(&mut self, _: &str, _: usize, _: u64, _: &CredentialSource) {}
    fn event(&mut self, _: &PushEvent) {}
    fn retry(&mut self, _: u32, _: Duration, _: &PushFailure) {}
    fn finish(&mut self) {}
}

/// `name[:tag]` split into repository and tag (`latest` when absent).
pub fn split_tag(image: &str) -> (&str, &str) {
    // The positions come from `rfind` of ASCII characters: char boundaries, in bounds.
    let name_start = image.rfind('/').map_or(0, |slash| slash + 1);
    match image[name_start..].rfind(':') {
        Some(colon) => (&image[..name_start + colon], &image[name_start + colon + 1..]),
        None => (image, "latest"),
    }
}

/// Where `--retag` puts an image: `uri[/default_repository]/name:tag`, `name` being the last
/// path component of the image's repository.
pub fn retag_target(image: &str, uri: &str, default_repository: Option<&str>) -> String {
    let (repository, tag) = split_tag(image);
    let name = repository.rsplit('/').next().unwrap_or(repository);
    match default_repository.map(|r| r.trim_matches('/')).filter(|r| !r.is_empty()) {
        Some(prefix) => format!("{uri}/{prefix}/{name}:{tag}"),
        None => format!("{uri}/{name}:{tag}"),
    }
}

/// Pushes an image through a registered container registry and returns its digest.
/// `diagnostics` receives what the flavor's hooks report (a repository created, a lookup that
/// failed but did not stop the push).
pub async fn push(
    client: &Client,
    request: &PushRequest,
    progress: &mut dyn PushProgress,
    diagnostics: &Diagnostics,
) -> Result<PushOutcome, Error> {
    let component = client.component(ComponentType::ContainerRegistry, &request.registry)?;
    let registry = client.container_registry(&component)?;
    if request.image.contains('@') {
        return Err(Error::DigestReference { image: request.image.clone() });
    }
    // A name that is not a reference (`host/team/../../admin`, a tag with `?`, upper case) is
    // refused before anything is contacted.
    Reference::parse(&request.image)?;
    // Everything shown (messages, progress, the outcome) is built from the stored config, whose
    // secret references are unresolved: output must never show a secret's value.
    let stored = |field: &str| component.config.get(field).and_then(Value::as_str);
    let redact = Redact::new(&component.config, &client.resolved_config(&component)?);
    let (image, shown) = if is_valid_image_name_for_registry(&request.image, registry.uri()) {
        (request.image.clone(), request.image.clone())
    } else if request.retag {
        (
            retag_target(&request.image, registry.uri(), registry.default_repository()),
            retag_target(&request.image, stored("uri").unwrap_or_default(), stored("default_repository")),
        )
    } else {
        let uri = stored("uri").unwrap_or_default().to_string();
        return Err(Error::NotUnderRegistry {
            retag_target: retag_target(&request.image, &uri, stored("default_repository")),
            image: request.image.clone(),
            registry: component.name.clone(),
            uri,
        });
    };
    Reference::parse(&image)?;
    let names = Names { image: &image, shown: &shown };
    let outcome = push_as(client, &component, registry.as_ref(), request, names, &redact, progress, diagnostics).await;
    outcome.map_err(|error| redact.error(error))
}

/// The push once the image name is known: `image` is pushed, `shown` (the same name built from
/// the unresolved config) is what the user sees.
#[allow(clippy::too_many_arguments)] // each is one thing the push needs; a struct would only rename them
async fn push_as(
    client: &Client,
    component: &Component,
    registry: &dyn DynContainerRegistry,
    request: &PushRequest,
    Names { image, shown }: Names<'_>,
    redact: &Redact,
    progress: &mut dyn PushProgress,
    diagnostics: &Diagnostics,
) -> Result<PushOutcome, Error> {
    registry.prepare_image_push(image, diagnostics).await.map_err(Error::Core)?;
    let (credentials, source) = resolve_credentials(client, component, registry, image, diagnostics).await?;
    let engine_kind = match request.engine {
        Some(kind) => kind,
        None if request.from.is_some() => EngineKind::Oci,
        None => {
            let engine = Engine::connect().await?;
            match default_engine(&engine).await {
                // What `docker push` does too (gzip at the level that suits the link): the
                // pushes before may show which engine is faster to this registry.
                EngineKind::Oci if measured_choice_applies(request) => {
                    measured_engine(&engine, client, request, image, progress).await?
                }
                kind => kind,
            }
        }
    };
    if engine_kind == EngineKind::Oci {
        let cache = Some(oci::cache::BlobCache::beside(&client.local_path()));
        let mut shown_progress = Redacted { inner: progress, redact };
        let mut outcome =
            push_oci(request, image.to_string(), credentials, source, cache, &component.name, &mut shown_progress)
                .await?;
        // What is shown is built from the unresolved config, as for the Docker engine.
        outcome.image = shown.to_string();
        outcome.digest = redact.text(&outcome.digest);
        return Ok(outcome);
    }
    if request.from.is_some() {
        return Err(Error::SourceNeedsOci);
    }

    let engine = Engine::connect().await?;
    if image != request.image {
        if engine.inspect(&request.image).await?.is_none() {
            return Err(missing_image(&request.image));
        }
        let (repository, tag) = split_tag(image);
        engine.tag(&request.image, repository, tag).await?;
    }
    let local = engine.inspect(image).await?.ok_or_else(|| missing_image(shown))?;
    let (repository, tag) = split_tag(image);
    let auth = credentials.as_ref().map(|c| docker_credentials(c, docker_config::registry_host(image)));

    progress.start(shown, local.layers.len(), local.size, &source);
    let mut digest = None;
    let mut attempt = 0;
    let started = std::time::Instant::now();
    // Cold: every layer went up (none was in the registry, none mounted).
    let mut cold = true;
    let result = loop {
        let mut on_event = |event: PushEvent| match event {
            PushEvent::Digest { digest: ref d, .. } => {
                digest = Some(d.clone());
                progress.event(&event);
            }
            PushEvent::Status { status, progress: done } => {
                cold &= status != "Layer already exists" && !status.starts_with("Mounted from");
                progress.event(&PushEvent::Status { status: redact.text(&status), progress: done });
            }
        };
        match engine.push(repository, tag, auth.clone(), &mut on_event).await {
            Ok(()) => break Ok(()),
            Err(PushFailure::Transient(message)) if attempt < RETRIES => {
                let pause = FIRST_BACKOFF * 2u32.pow(attempt);
                attempt += 1;
                progress.retry(attempt, pause, &PushFailure::Transient(redact.text(&message)));
                tokio::time::sleep(pause).await;
            }
            Err(failure) => break Err(failure),
        }
    };
    progress.finish();
    let host = docker_config::registry_host(image);
    result.map_err(|failure| push_error(failure, shown, host, &component.name, &source, attempt))?;
    if cold
        && attempt == 0
        && let Some(run) = choice::Run::new(local.size, started.elapsed(), choice::Seen::default())
    {
        tracing::debug!(target: "zenreg_push::choice", "the Engine's push: cold push kept as {run:?}");
        let mut memory = choice::EngineMemory::beside(&oci::cache::BlobCache::beside(&client.local_path()));
        memory.record(engine.host(), host, choice::Pusher::Daemon, run);
        // A memory that cannot be written costs the next push a measurement, nothing more.
        let _ = memory.save();
    }

    let digest = match digest {
        Some(digest) => digest,
        // Older daemons may not print the digest line: the image's repo digests have it.
        None => engine
            .inspect(image)
            .await?
            .and_then(|i| i.repo_digests.into_iter().find_map(|d| d.split_once('@').map(|(_, d)| d.to_string())))
            .ok_or_else(|| Error::NoDigest { image: shown.to_string() })?,
    };
    let (shown_repository, _) = split_tag(shown);
    Ok(PushOutcome {
        digest: format!("{shown_repository}@{digest}"),
        image: shown.to_string(),
        registry: component.name.clone(),
        size: local.size,
        engine: EngineKind::Docker,
        compression: None,
        bytes_uploaded: None,
        layers_skipped: None,
        compression_level: None,
    })
}

/// The engine that pushes when none is asked for. With the classic image store, zenreg's own
/// (the Engine's export, layers compressed on every core: `docker push` compresses each layer
/// on one core). With the containerd image store, the Engine's own push: its layers are kept
/// compressed, so `docker push` only uploads them, from its content store, several at once,
/// while a push through the export would read every layer through one tar stream and decompress
/// it to check its diff id: as fast at best, slower on a fast link. A daemon that cannot say
/// which store it runs keeps zenreg's engine.
pub async fn default_engine(engine: &Engine) -> EngineKind {
    match engine.image_store().await {
        Ok(crate::engine::ImageStore::Containerd) => EngineKind::Docker,
        _ => EngineKind::Oci,
    }
}

/// The engine for a push from a classic-store Engine, by what cold pushes to the registry
/// measured (see [`choice`]); zenreg's own when its blob cache knows a layer of the image there
/// (its blobs are reused, where the Engine's push would send its own compression of them). The
/// image and the blob cache are read only when the measurements point to the Engine's push.
async fn measured_engine(
    engine: &Engine,
    client: &Client,
    request: &PushRequest,
    image: &str,
    progress: &mut dyn PushProgress,
) -> Result<EngineKind, Error> {
    let cache = oci::cache::BlobCache::beside(&client.local_path());
    let runs = choice::EngineMemory::beside(&cache).runs(engine.host(), docker_config::registry_host(image));
    let mut chosen = choice::choose(&runs);
    tracing::debug!(target: "zenreg_push::choice", "{:?} chosen from {runs:?}", chosen.pusher);
    let kind = match chosen.pusher {
        choice::Pusher::Zenreg => EngineKind::Oci,
        choice::Pusher::Daemon => match engine.inspect(&request.image).await? {
            // A missing image: the push names it.
            None => return Ok(EngineKind::Oci),
            Some(local) if cache_knows(&cache, image, &local.layers) => return Ok(EngineKind::Oci),
            // Measured against zenreg's engine reading the export, which it no longer needs.
            Some(local) if local.store.is_some() && oci::layerstore::enabled_from_env() == Ok(true) => {
                chosen = chosen.with_store_readable(&runs);
                match chosen.pusher {
                    choice::Pusher::Zenreg => EngineKind::Oci,
                    choice::Pusher::Daemon => EngineKind::Docker,
                }
            }
            Some(_) => EngineKind::Docker,
        },
    };
    if let Some(why) = &chosen.why {
        let name = if kind == EngineKind::Docker { "the Engine's own push" } else { "zenreg's engine" };
        progress.note(&format!("Pushing with {name}: {why}"));
    }
    Ok(kind)
}

/// Whether the blob cache at `cache` holds a gzip blob (of any level) of one of `layers` (diff
/// ids) in `image`'s registry.
fn cache_knows(cache: &std::path::Path, image: &str, layers: &[String]) -> bool {
    let Ok(reference) = Reference::parse(image) else { return false };
    let (host, _) = api_target(&reference);
    let gzip = Compression::Gzip;
    let cache = oci::cache::BlobCache::load(cache).with_any_level(gzip.levels());
    layers.iter().any(|diff_id| cache.get(&host, gzip.name(), gzip.default_level(), diff_id).is_some())
}

/// Whether the engine may be chosen by measurement: layers in gzip at the level that suits the
/// link, as `docker push` sends them too (zstd or a pinned level asks for zenreg's engine).
fn measured_choice_applies(request: &PushRequest) -> bool {
    request.compression == Compression::Gzip && request.level.is_none()
}

/// The Engine's export, noting in `waited` how long its first byte took from the first poll.
fn timed_export(
    export: impl futures_util::Stream<Item = Result<bytes::Bytes, String>> + Send + 'static,
    waited: &std::sync::Arc<std::sync::OnceLock<Duration>>,
) -> oci::push::ExportStream {
    use futures_util::StreamExt;
    let (mut export, waited) = (Box::pin(export), std::sync::Arc::clone(waited));
    let mut polled: Option<std::time::Instant> = None;
    Box::pin(futures_util::stream::poll_fn(move |context| {
        let start = *polled.get_or_insert_with(std::time::Instant::now);
        let item = export.poll_next_unpin(context);
        if item.is_ready() && waited.set(start.elapsed()).is_ok() {
            tracing::debug!(target: "zenreg_push::engine", "the export's first byte after {:?}", start.elapsed());
        }
        item
    }))
}

/// The registry API host and repository path of `reference` (Docker Hub's API lives on
/// `registry-1.docker.io`, and its official images under `library/`).
fn api_target(reference: &Reference) -> (String, String) {
    let path = reference.path();
    match reference.domain() {
        None | Some("docker.io" | "index.docker.io") => {
            let path = if path.contains('/') { path.to_string() } else { format!("library/{path}") };
            ("registry-1.docker.io".to_string(), path)
        }
        Some(host) => (host.to_string(), path.to_string()),
    }
}

/// The push through zenreg's own OCI engine: the image from `--from`, or exported from the
/// Docker Engine; transient failures retried from the start (blobs already sent are skipped).
async fn push_oci(
    request: &PushRequest,
    image: String,
    credentials: Option<Credentials>,
    source: CredentialSource,
    cache: Option<std::path::PathBuf>,
    registry_name: &str,
    progress: &mut dyn PushProgress,
) -> Result<PushOutcome, Error> {
    let reference = Reference::parse(&image)?;
    let (repository, tag) = (reference.name(), reference.tag().unwrap_or("latest"));
    let (host, path) = api_target(&reference);
    let target = oci::Target { host: host.clone(), repository: path, tag: tag.to_string(), credentials };
    // The link memory lives beside the blob cache; without a cache nothing is remembered.
    let mut links =
        cache.as_deref().map(|cache| oci::adaptive::LinkMemory::load(&cache.with_file_name("link-cache.json")));
    let known = links.as_ref().and_then(|links| links.get(&host));
    let auto = request.level.is_none() && request.compression != oci::compress::Compression::None;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let level = match request.level {
        Some(level) => level,
        None if auto => oci::adaptive::choose(request.compression, known, cores),
        None => request.compression.default_level(),
    };
    let options =
        oci::Options { compression: request.compression, level, auto, cache, platform: request.platform.clone() };
    let engine = match &request.from {
        Some(_) => None,
        None => {
            let engine = Engine::connect().await?;
            if image != request.image {
                if engine.inspect(&request.image).await?.is_none() {
                    return Err(missing_image(&request.image));
                }
                engine.tag(&request.image, &repository, tag).await?;
            }
            let local = engine.inspect(&image).await?.ok_or_else(|| missing_image(&image))?;
            Some((engine, local))
        }
    };
    // One retry budget for the whole push: its requests' retries and its restarts draw on it.
    let policy = oci::policy::Policy::from_env().map_err(|message| Error::Oci(OciError::Settings { message }))?;
    let budget = oci::policy::Budget::new(policy.retries);
    let read_store =
        oci::layerstore::enabled_from_env().map_err(|message| Error::Oci(OciError::Settings { message }))?;
    let layers = engine.as_ref().map_or(0, |(_, local)| local.layers.len());
    let size = engine.as_ref().map_or(0, |(_, local)| local.size);
    progress.start(&image, layers, size, &source);
    if request.compression != oci::compress::Compression::None {
        let link_mbit = known.map(|link| match link {
            oci::adaptive::Link::Measured(rate) => ((rate * 8.0 / 1e6) as u64, true),
            oci::adaptive::Link::AtLeast(rate) => ((rate * 8.0 / 1e6) as u64, false),
        });
        let compression = request.compression.name();
        progress.layer(&oci::Event::Compression { compression, level, auto, link_mbit });
    }
    // One channel for every attempt: the budget's watcher sends the requests' pauses on it.
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let waits = sender.clone();
    budget.watch(move |wait| {
        let _ = waits.send(oci::Event::Wait(wait));
    });
    let mut attempt = 0;
    let started = std::time::Instant::now();
    // How long the Engine's export kept the push waiting for its first byte (a classic-store
    // Engine writes the whole export to disk first).
    let export_wait = std::sync::Arc::new(std::sync::OnceLock::new());
    let result = loop {
        let input = match (&request.from, &engine) {
            (Some(Source::OciLayout { dir, reference }), _) => {
                oci::Input::Layout { dir: dir.clone(), reference: reference.clone() }
            }
            (Some(Source::DockerArchive { file, reference }), _) => {
                oci::Input::Archive { file: file.clone(), reference: reference.clone() }
            }
            (None, Some((engine, local))) => oci::Input::Engine {
                image: image.clone(),
                id: local.id.clone(),
                layers: local.layers.clone(),
                // By id: the export then names exactly the image inspected.
                export: timed_export(engine.export(&local.id), &export_wait),
                store: local.store.clone().filter(|_| read_store),
            },
            (None, None) => return Err(missing_image(&image)),
        };
        let pushing = oci::policy::PUSH_BUDGET
            .scope(std::sync::Arc::clone(&budget), oci::push(&target, input, &options, sender.clone()));
        tokio::pin!(pushing);
        let outcome = loop {
            tokio::select! {
                outcome = &mut pushing => break outcome,
                Some(event) = events.recv() => progress.layer(&event),
            }
        };
        while let Ok(event) = events.try_recv() {
            progress.layer(&event);
        }
        match outcome {
            Err(error) if error.is_transient() && budget.take() => {
                let pause = policy.backoff(attempt, None);
                attempt += 1;
                progress.retry(attempt, pause, &PushFailure::Transient(error.to_string()));
                tokio::time::sleep(pause).await;
            }
            other => break other,
        }
    };
    progress.finish();
    // Every attempt counts, the requests' own retries included (they share the budget).
    let retries = policy.retries.saturating_sub(budget.left()).max(attempt);
    let report = result.map_err(|error| oci_error(error, &image, registry_name, &source, retries))?;
    if let (Some((engine, local)), Some(cache)) = (&engine, &options.cache)
        && attempt == 0
        && report.layers_skipped == 0
        && measured_choice_applies(request)
        && let Some(run) = choice::Run::new(
            local.size,
            started.elapsed(),
            choice::Seen {
                export_wait: export_wait.get().copied(),
                link_bound: report.link.is_some_and(|link| link.measured),
                read_store: report.read_store,
            },
        )
    {
        tracing::debug!(target: "zenreg_push::choice", "zenreg's engine: cold push kept as {run:?}");
        let mut memory = choice::EngineMemory::beside(cache);
        memory.record(engine.host(), docker_config::registry_host(&image), choice::Pusher::Zenreg, run);
        // A memory that cannot be written costs the next push a measurement, nothing more.
        let _ = memory.save();
    }
    if let (Some(links), Some(sample)) = (&mut links, report.link) {
        let rate = sample.bytes_per_second as f64;
        let link =
            if sample.measured { oci::adaptive::Link::Measured(rate) } else { oci::adaptive::Link::AtLeast(rate) };
        links.record(&host, link);
        // A memory that cannot be written costs the next push a measurement, nothing more.
        let _ = links.save();
    }
    Ok(PushOutcome {
        digest: format!("{repository}@{}", report.digest),
        image,
        registry: registry_name.to_string(),
        size: report.size,
        engine: EngineKind::Oci,
        compression: Some(request.compression.name()),
        bytes_uploaded: Some(report.bytes_uploaded),
        layers_skipped: Some(report.layers_skipped),
        compression_level: (request.compression != oci::compress::Compression::None).then_some(level),
    })
}

fn oci_error(error: OciError, image: &str, registry: &str, source: &CredentialSource, retries: u32) -> Error {
    match error {
        OciError::Unauthorized { ref host, .. } => Error::Unauthorized {
            message: error.to_string(),
            host: host.clone(),
            image: image.to_string(),
            registry: registry.to_string(),
            credentials: source.clone(),
        },
        OciError::Unavailable { ref host, .. } => Error::Unavailable {
            message: error.to_string(),
            host: host.clone(),
            image: image.to_string(),
            attempts: retries + 1,
        },
        other => Error::Oci(other),
    }
}

/// Progress as the user sees it: every text a secret's value could reach (the image name, the
/// registry's status and failure messages) has the value replaced by its reference.
struct Redacted<'a> {
    inner: &'a mut dyn PushProgress,
    redact: &'a Redact,
}

impl PushProgress for Redacted<'_> {
    fn start(&mut self, image: &str, layers: usize, size: u64, source: &CredentialSource) {
        self.inner.start(&self.redact.text(image), layers, size, source);
    }

    fn event(&mut self, event: &PushEvent) {
        match event {
            PushEvent::Status { status, progress } => {
                self.inner.event(&PushEvent::Status { status: self.redact.text(status), progress: *progress });
            }
            other => self.inner.event(other),
        }
    }

    fn retry(&mut self, attempt: u32, pause: Duration, failure: &PushFailure) {
        self.inner.retry(attempt, pause, &failure.map_message(|m| self.redact.text(m)));
    }

    fn note(&mut self, note: &str) {
        self.inner.note(&self.redact.text(note));
    }

    fn layer(&mut self, event: &oci::Event) {
        match event {
            // The reason of a pause is the registry's text.
            oci::Event::Wait(wait) => self
                .inner
                .layer(&oci::Event::Wait(oci::policy::Wait { reason: self.redact.text(&wait.reason), ..wait.clone() })),
            // Layer events name layers by digest only.
            other => self.inner.layer(other),
        }
    }

    fn finish(&mut self) {
        self.inner.finish();
    }
}

/// The image pushed, and the same name as shown (built from the unresolved config).
#[derive(Clone, Copy)]
struct Names<'a> {
    image: &'a str,
    shown: &'a str,
}

/// Replaces resolved secret values in text from the daemon or the registry by the references
/// they came from (`{{secret.key}}`), so that no message shows a value.
struct Redact {
    pairs: Vec<(String, String)>,
}

impl Redact {
    fn new(stored: &zenreg_core::JsonObject, resolved: &zenreg_core::JsonObject) -> Redact {
        let mut pairs: Vec<(String, String)> = stored
            .iter()
            .filter_map(|(field, value)| {
                let reference = value.as_str()?;
                let value = resolved.get(field)?.as_str()?;
                (reference != value && !value.is_empty()).then(|| (value.to_string(), reference.to_string()))
            })
            .collect();
        // Longest first, so a value containing another is replaced whole.
        pairs.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        Redact { pairs }
    }

    fn text(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (value, reference) in &self.pairs {
            if text.contains(value.as_str()) {
                text = text.replace(value.as_str(), reference);
            }
        }
        text
    }

    fn error(&self, error: Error) -> Error {
        if self.pairs.is_empty() {
            return error;
        }
        match error {
            Error::Daemon { host, message } => Error::Daemon { host, message: self.text(&message) },
            Error::MissingImage { image } => Error::MissingImage { image: self.text(&image) },
            Error::Unauthorized { host, image, registry, message, credentials } => Error::Unauthorized {
                host,
                image: self.text(&image),
                registry,
                message: self.text(&message),
                credentials,
            },
            Error::Unavailable { host, image, attempts, message } => {
                Error::Unavailable { host, image: self.text(&image), attempts, message: self.text(&message) }
            }
            Error::Rejected { image, message } => {
                Error::Rejected { image: self.text(&image), message: self.text(&message) }
            }
            Error::PlainHttpRegistry { host, image, message, daemon } => {
                Error::PlainHttpRegistry { host, image: self.text(&image), message: self.text(&message), daemon }
            }
            Error::NoDigest { image } => Error::NoDigest { image: self.text(&image) },
            Error::Core(zenreg_core::Error::Registry { message, hint }) => Error::Core(zenreg_core::Error::Registry {
                message: self.text(&message),
                hint: hint.map(|h| self.text(&h)),
            }),
            other => other,
        }
    }
}

/// What talking to one repository of a registered registry takes: where its API is, and the
/// credentials of the component's chain (the same as a push's).
#[derive(Clone)]
pub struct RegistryAccess {
    /// The registry API host (`registry-1.docker.io` for Docker Hub).
    pub host: String,
    /// The repository path there (`library/…` for Docker Hub's official images).
    pub repository: String,
    /// The credentials found, if any.
    pub credentials: Option<Credentials>,
    /// Where they came from.
    pub source: CredentialSource,
}

impl std::fmt::Debug for RegistryAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAccess")
            .field("host", &self.host)
            .field("repository", &self.repository)
            .field("credentials", &self.credentials.as_ref().map(|_| "********"))
            .field("source", &self.source)
            .finish()
    }
}

/// The access to `image`'s repository through `component`: its config revalidated, its
/// implementation found, the flavor's `prepare_image_push` run first when the image is to be
/// written (`for_push`: it may create the repository), and credentials resolved as for a push.
pub async fn registry_access(
    client: &Client,
    component: &Component,
    image: &Reference,
    for_push: bool,
    diagnostics: &Diagnostics,
) -> Result<RegistryAccess, Error> {
    let registry = client.container_registry(component)?;
    let name = image.name();
    if for_push {
        registry.prepare_image_push(&name, diagnostics).await.map_err(Error::Core)?;
    }
    let (credentials, source) = resolve_credentials(client, component, registry.as_ref(), &name, diagnostics).await?;
    let (host, repository) = api_target(image);
    Ok(RegistryAccess { host, repository, credentials, source })
}

/// Credentials in order: the component's authentication secret, the implementation's own login,
/// the user's Docker config (and credential helpers), none.
async fn resolve_credentials(
    client: &Client,
    component: &Component,
    registry: &dyn DynContainerRegistry,
    image: &str,
    diagnostics: &Diagnostics,
) -> Result<(Option<Credentials>, CredentialSource), Error> {
    if let Some(credentials) = client.credentials(component)? {
        let secret = registry.authentication_secret().unwrap_or_default().to_string();
        return Ok((Some(credentials), CredentialSource::Secret(secret)));
    }
    if let Some(credentials) = registry.credentials(diagnostics).await? {
        return Ok((Some(credentials), CredentialSource::Flavor(component.flavor.clone())));
    }
    Ok(match docker_config::lookup(docker_config::registry_host(image))? {
        Some((credentials, source)) => (Some(credentials), source),
        None => (None, CredentialSource::None),
    })
}

fn docker_credentials(credentials: &Credentials, host: &str) -> DockerCredentials {
    let server = if host == "docker.io" { docker_config::DOCKER_HUB_SERVER.to_string() } else { host.to_string() };
    if credentials.username == "<token>" {
        return DockerCredentials {
            // bollard's type holds plain strings: the value leaves the secret type here only.
            identitytoken: Some(credentials.password.expose_secret().to_string()),
            serveraddress: Some(server),
            ..Default::default()
        };
    }
    DockerCredentials {
        username: Some(credentials.username.clone()),
        password: Some(credentials.password.expose_secret().to_string()),
        serveraddress: Some(server),
        ..Default::default()
    }
}

fn missing_image(image: &str) -> Error {
    Error::MissingImage { image: image.to_string() }
}

fn push_error(
    failure: PushFailure,
    image: &str,
    host: &str,
    registry: &str,
    source: &CredentialSource,
    retries: u32,
) -> Error {
    match failure {
        PushFailure::Unauthorized(message) => Error::Unauthorized {
            host: host.to_string(),
            image: image.to_string(),
            registry: registry.to_string(),
            message,
            credentials: source.clone(),
        },
        PushFailure::Transient(message) => {
            Error::Unavailable { host: host.to_string(), image: image.to_string(), attempts: retries + 1, message }
        }
        PushFailure::Permanent(message) => Error::Rejected { image: image.to_string(), message },
        PushFailure::PlainHttp { message, daemon } => {
            Error::PlainHttpRegistry { host: host.to_string(), image: image.to_string(), message, daemon }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_tags() {
        assert_eq!(split_tag("localhost:5000/app:1.0"), ("localhost:5000/app", "1.0"));
        assert_eq!(split_tag("localhost:5000/app"), ("localhost:5000/app", "latest"));
        assert_eq!(split_tag("app"), ("app", "latest"));
    }

    #[test]
    fn finds_the_api_host_and_repository() {
        let target = |image: &str| api_target(&Reference::parse(image).unwrap());
        assert_eq!(target("127.0.0.1:5000/team/app"), ("127.0.0.1:5000".into(), "team/app".into()));
        assert_eq!(target("docker.io/me/app"), ("registry-1.docker.io".into(), "me/app".into()));
        assert_eq!(target("docker.io/app"), ("registry-1.docker.io".into(), "library/app".into()));
        assert_eq!(target("me/app:1"), ("registry-1.docker.io".into(), "me/app".into()));
        assert_eq!(target("ghcr.io/me/app"), ("ghcr.io".into(), "me/app".into()));
    }

    #[test]
    fn retags_under_the_registry() {
        assert_eq!(retag_target("app:1", "localhost:5000", None), "localhost:5000/app:1");
        assert_eq!(retag_target("ghcr.io/me/app", "localhost:5000", Some("team/")), "localhost:5000/team/app:latest");
    }
}
