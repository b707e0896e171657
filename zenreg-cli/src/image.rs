//! `zenreg image copy|tag|ls|inspect|digest|delete|index create`: images across the registered
//! registries, each reference resolved to its registry by the longest `uri` prefix (or
//! `--registry`), with that registry's credentials. Data goes to stdout (`--output json` for
//! every command); progress to stderr, a bar on a terminal and a few lines elsewhere.

use super::component::confirm;
use super::output::{self, OutputArg, OutputFormat};
use crate::error::Error;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use zenreg_core::{Diagnostics, Level};
use zenreg_image::{CopyOptions, Event, How, ImageError, Located, Platform, connect, locate};
use zenreg_store::Client;

#[derive(Debug, Subcommand)]
pub(super) enum ImageCommand {
    /// Copy an image (or a multi-platform index) between repositories, within a registry or
    /// across registries, digests unchanged.
    Copy(CopyArgs),
    /// Put the manifest of REF under another tag in the same repository (no blob moves).
    Tag(TagArgs),
    /// List the tags of a repository.
    Ls(LsArgs),
    /// Show a manifest or index, its config and its referrers.
    Inspect(RefArgs),
    /// Print the digest of an image.
    Digest(RefArgs),
    /// Delete an image's manifest from its registry (a tag is resolved to its digest first).
    Delete(DeleteArgs),
    /// Multi-platform indexes.
    #[command(subcommand)]
    Index(IndexCommand),
}

#[derive(Debug, Subcommand)]
pub(super) enum IndexCommand {
    /// Build a multi-platform index from manifests already in registries.
    Create(IndexCreateArgs),
}

#[derive(Debug, Args)]
pub(super) struct CopyArgs {
    /// The image to copy: `HOST[:PORT]/PATH[:TAG|@DIGEST]`.
    source: String,
    /// Where to: `HOST[:PORT]/PATH[:TAG]` (the source's tag when it has none).
    destination: String,
    /// The registry of the source [default: the one whose URI is the longest prefix of it].
    #[arg(long, value_name = "NAME")]
    from_registry: Option<String>,
    /// The registry of the destination [default: the one whose URI is the longest prefix of it].
    #[arg(long, value_name = "NAME")]
    to_registry: Option<String>,
    /// Keep only this platform of a multi-platform index (repeatable): the index changes, and
    /// so does its digest.
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]", value_parser = Platform::parse)]
    platforms: Vec<Platform>,
    /// Copy what refers to the image too (signatures, SBOMs, attestations), and what refers
    /// to those.
    #[arg(long)]
    referrers: bool,
    /// With `--referrers`: only referrers of this artifact type (such as
    /// `application/spdx+json`), as the referrers API's `artifactType` filter.
    #[arg(long, value_name = "TYPE", requires = "referrers")]
    artifact_type: Option<String>,
    /// Blobs copied at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Debug, Args)]
pub(super) struct TagArgs {
    /// The image: `HOST[:PORT]/PATH[:TAG|@DIGEST]`.
    reference: String,
    /// The new tag.
    tag: String,
    /// The registry [default: the one whose URI is the longest prefix of the reference].
    #[arg(short, long, value_name = "NAME")]
    registry: Option<String>,
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Debug, Args)]
pub(super) struct LsArgs {
    /// The repository: `HOST[:PORT]/PATH`.
    repository: String,
    /// The registry [default: the one whose URI is the longest prefix of the repository].
    #[arg(short, long, value_name = "NAME")]
    registry: Option<String>,
    /// Tags asked for per page (`?n=`); every page is followed [default: the registry's].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    page_size: Option<u32>,
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Debug, Args)]
pub(super) struct RefArgs {
    /// The image: `HOST[:PORT]/PATH[:TAG|@DIGEST]`.
    reference: String,
    /// The registry [default: the one whose URI is the longest prefix of the reference].
    #[arg(short, long, value_name = "NAME")]
    registry: Option<String>,
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Debug, Args)]
pub(super) struct DeleteArgs {
    /// The image: `HOST[:PORT]/PATH[:TAG|@DIGEST]`.
    reference: String,
    /// The registry [default: the one whose URI is the longest prefix of the reference].
    #[arg(short, long, value_name = "NAME")]
    registry: Option<String>,
    /// Delete without asking.
    #[arg(short, long)]
    yes: bool,
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Debug, Args)]
pub(super) struct IndexCreateArgs {
    /// The index to create: `HOST[:PORT]/PATH[:TAG]`.
    destination: String,
    /// Its manifests: images (entered with their config's platform) or indexes (each of their
    /// manifests); those in another repository are copied into the destination's first.
    #[arg(required = true)]
    sources: Vec<String>,
    /// The registry of the destination [default: the one whose URI is the longest prefix].
    #[arg(short, long, value_name = "NAME")]
    registry: Option<String>,
    /// Keep the manifests the destination already names, and add the sources after them.
    #[arg(long)]
    append: bool,
    /// An annotation of the index, `KEY=VALUE` (repeatable).
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
    #[command(flatten)]
    output: OutputArg,
}

pub(super) fn run(command: ImageCommand, client: &Client) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let diagnostics = Diagnostics::new(|diagnostic| match diagnostic.level {
        Level::Note => say!("{}", diagnostic.message),
        _ => say!("{diagnostic}"),
    });
    let work = async {
        match command {
            ImageCommand::Copy(args) => copy(args, client, &diagnostics).await,
            ImageCommand::Tag(args) => tag(args, client, &diagnostics).await,
            ImageCommand::Ls(args) => ls(args, client, &diagnostics).await,
            ImageCommand::Inspect(args) => inspect(args, client, &diagnostics).await,
            ImageCommand::Digest(args) => digest(args, client, &diagnostics).await,
            ImageCommand::Delete(args) => delete(args, client, &diagnostics).await,
            ImageCommand::Index(IndexCommand::Create(args)) => index_create(args, client, &diagnostics).await,
        }
    };
    runtime.block_on(zenreg_image::with_budget(work)).map_err(Error::from)?
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

/// Copy progress: a bar of bytes on a terminal, a line per manifest's blobs elsewhere.
struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Progress {
    fn new(what: &str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(what.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        if bar.is_none() {
            say!("{what}");
        }
        Progress { bar, started: Instant::now() }
    }

    fn event(&self, event: &Event) {
        match (&self.bar, event) {
            (Some(bar), Event::Blobs { bytes, .. }) => bar.inc_length(*bytes),
            (Some(bar), Event::Bytes(n)) => bar.inc(*n),
            (Some(bar), Event::Blob { how: How::Mounted | How::Skipped, .. }) => bar.set_message("mounted or present"),
            (Some(bar), Event::Retry { message, pause }) => {
                bar.println(format!("Retrying in {:.1} s: {message}", pause.as_secs_f64()));
            }
            (None, Event::Blobs { count, bytes }) => say!("{count} blobs, {}", megabytes(*bytes)),
            (None, Event::Retry { message, pause }) => say!("Retrying in {:.1} s: {message}", pause.as_secs_f64()),
            _ => {}
        }
    }

    fn finish(self, line: String) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
        say!("{line} in {:.1} s", self.started.elapsed().as_secs_f64());
    }
}

async fn copy(args: CopyArgs, client: &Client, diagnostics: &Diagnostics) -> Result<(), Error> {
    let source = locate(client, &args.source, args.from_registry.as_deref(), false, diagnostics).await?;
    let destination = locate(client, &args.destination, args.to_registry.as_deref(), true, diagnostics).await?;
    let src = connect(&source, &[]).await?;
    let dst = connect(&destination, std::slice::from_ref(&source.access.repository)).await?;
    let options = CopyOptions {
        platforms: args.platforms,
        referrers: args.referrers,
        jobs: usize::from(args.jobs),
        artifact_type: args.artifact_type,
    };
    let progress = Progress::new(&format!("Copying {} to {}", source.shown(), destination.shown()));
    let result = zenreg_image::copy(&src, &dst, &source, &destination, &options, &|e| progress.event(&e)).await;
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            if let Some(bar) = progress.bar {
                bar.finish_and_clear();
            }
            return Err(error.into());
        }
    };
    progress.finish(format!(
        "Copied {} blobs ({}), mounted {}, {} already there{}",
        report.blobs_copied,
        megabytes(report.bytes_copied),
        report.blobs_mounted,
        report.blobs_skipped,
        if report.referrers.is_empty() { String::new() } else { format!(", {} referrers", report.referrers.len()) }
    ));
    if let Some(source_digest) = &report.source_digest {
        say!(
            "The index was narrowed to {}: its digest is {} (the source's is {source_digest})",
            options.platforms.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            report.digest
        );
    }
    match args.output.format {
        OutputFormat::Json => output::print_json(&report)?,
        OutputFormat::Table => output::print(&report.digest)?,
    }
    Ok(())
}

async fn tag(args: TagArgs, client: &Client, diagnostics: &Diagnostics) -> Result<(), Error> {
    let located = locate(client, &args.reference, args.registry.as_deref(), true, diagnostics).await?;
    let registry = connect(&located, &[]).await?;
    let report = zenreg_image::ops::tag(&registry, &located, &args.tag).await?;
    match args.output.format {
        OutputFormat::Json => output::print_json(&report)?,
        OutputFormat::Table => output::print(&report.digest)?,
    }
    Ok(())
}

async fn ls(args: LsArgs, client: &Client, diagnostics: &Diagnostics) -> Result<(), Error> {
    let located = locate(client, &args.repository, args.registry.as_deref(), false, diagnostics).await?;
    if located.reference.tag().is_some() || located.reference.digest().is_some() {
        return Err(Error::usage(
            format!("`{}` names an image: `image ls` takes a repository", located.shown()),
            Some(format!("write it without its tag or digest: `{}`", located.reference.name())),
        ));
    }
    let registry = connect(&located, &[]).await?;
    let tags = zenreg_image::ops::list(&registry, &located, args.page_size).await?;
    match args.output.format {
        OutputFormat::Json => output::print_json(&serde_json::json!({
            "repository": located.reference.name(),
            "tags": tags,
        }))?,
        OutputFormat::Table => {
            if !tags.is_empty() {
                output::print(&tags.iter().map(|t| output::escape(t).into_owned()).collect::<Vec<_>>().join("\n"))?;
            }
        }
    }
    Ok(())
}

async fn inspect(args: RefArgs, client: &Client, diagnostics: &Diagnostics) -> Result<(), Error> {
    let located = locate(client, &args.reference, args.registry.as_deref(), false, diagnostics).await?;
    let registry = connect(&located, &[]).await?;
    let inspection = zenreg_image::ops::inspect(&registry, &located).await?;
    if args.output.format == OutputFormat::Json {
        return Ok(output::print_json(&inspection)?);
    }
    let text = |v: &serde_json::Value, key: &str| v.get(key).and_then(|x| x.as_str()).unwrap_or_default().to_string();
    let mut rows = vec![
        vec!["reference".to_string(), inspection.reference.clone()],
        vec!["digest".to_string(), inspection.digest.clone()],
        vec!["media type".to_string(), inspection.media_type.clone()],
        vec!["size".to_string(), format!("{} bytes", inspection.size)],
    ];
    if let Some(config) = &inspection.config {
        let platform = [text(config, "os"), text(config, "architecture"), text(config, "variant")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("/");
        rows.push(vec!["platform".into(), platform]);
        rows.push(vec!["created".into(), text(config, "created")]);
    }
    output::print_rows(&["FIELD", "VALUE"], rows)?;
    let manifest = &inspection.manifest;
    let items = |key: &str| manifest.get(key).and_then(|m| m.as_array()).cloned().unwrap_or_default();
    let size = |v: &serde_json::Value| v.get("size").and_then(|s| s.as_u64()).unwrap_or_default().to_string();
    if zenreg_image::manifest::is_index(&inspection.media_type) {
        let rows = items("manifests")
            .iter()
            .map(|m| {
                let platform = m.get("platform").and_then(Platform::of).map(|p| p.to_string()).unwrap_or_default();
                vec![platform, text(m, "digest"), size(m), text(m, "mediaType")]
            })
            .collect::<Vec<_>>();
        output::print_rows(&["PLATFORM", "DIGEST", "SIZE", "MEDIA TYPE"], rows)?;
    } else {
        let mut rows = Vec::new();
        if let Some(config) = manifest.get("config") {
            rows.push(vec!["config".to_string(), text(config, "digest"), size(config), text(config, "mediaType")]);
        }
        for layer in items("layers") {
            rows.push(vec!["layer".to_string(), text(&layer, "digest"), size(&layer), text(&layer, "mediaType")]);
        }
        output::print_rows(&["BLOB", "DIGEST", "SIZE", "MEDIA TYPE"], rows)?;
    }
    if !inspection.referrers.is_empty() {
        let rows = inspection
            .referrers
            .iter()
            .map(|r| {
                let artifact = r.descriptor.as_ref().map(|d| text(d, "artifactType")).unwrap_or_default();
                vec![r.digest.clone(), artifact, r.tag.clone().unwrap_or_default()]
            })
            .collect::<Vec<_>>();
        output::print_rows(&["REFERRER", "ARTIFACT TYPE", "TAG"], rows)?;
    }
    Ok(())
}

async fn digest(args: RefArgs, client: &Client, diagnostics: &Diagnostics) -> Result<(), Error> {
    let located = locate(client, &args.reference, args.registry.as_deref(), false, diagnostics).await?;
    let registry = connect(&located, &[]).await?;
    let fetched = zenreg_image::ops::fetch(&registry, &located).await?;
    match args.output.format {
        OutputFormat::Json => output::print_json(&serde_json::json!({
            "reference": located.shown(),
            "digest": fetched.digest,
            "media_type": fetched.media_type,
        }))?,
        OutputFormat::Table => output::print(&fetched.digest)?,
    }
    Ok(())
}

async fn delete(args: DeleteArgs, client: &Client, diagnostics: &Diagnostics) -> Result<(), Error> {
    let located = locate(client, &args.reference, args.registry.as_deref(), false, diagnostics).await?;
    let registry = zenreg_image::connect_to_delete(&located).await?;
    let digest = zenreg_image::ops::resolve_digest(&registry, &located).await?;
    if !args.yes {
        confirm(&format!(
            "Delete `{}` ({digest}) from `{}`? Every tag of this manifest goes with it.",
            located.shown(),
            located.component
        ))?;
    }
    let report = zenreg_image::ops::delete(&registry, &located, &digest).await?;
    say!("Deleted {}@{}.", located.reference.name(), report.digest);
    if args.output.format == OutputFormat::Json {
        output::print_json(&report)?;
    }
    Ok(())
}

async fn index_create(args: IndexCreateArgs, client: &Client, diagnostics: &Diagnostics) -> Result<(), Error> {
    let mut annotations = BTreeMap::new();
    for annotation in &args.annotations {
        let (key, value) = crate::args::parse_label(annotation)?;
        annotations.insert(key, value);
    }
    let destination = locate(client, &args.destination, args.registry.as_deref(), true, diagnostics).await?;
    if destination.reference.digest().is_some() {
        return Err(Error::usage(
            format!("`{}` names a digest: an index goes under a tag", destination.shown()),
            Some("write the destination as `HOST[:PORT]/PATH:TAG`".into()),
        ));
    }
    let mut sources: Vec<(zenreg_push::oci::registry::Registry, Located)> = Vec::new();
    let mut pulled = Vec::new();
    for text in &args.sources {
        let located = locate(client, text, None, false, diagnostics).await?;
        pulled.push(located.access.repository.clone());
        let registry = connect(&located, &[]).await?;
        sources.push((registry, located));
    }
    let dst = connect(&destination, &pulled).await?;
    let progress = RefCell::new(Progress::new(&format!("Creating {}", destination.shown())));
    let report = zenreg_image::index::create(&dst, &destination, &sources, args.append, &annotations, &|e| {
        progress.borrow().event(&e)
    })
    .await;
    let progress = progress.into_inner();
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            if let Some(bar) = progress.bar {
                bar.finish_and_clear();
            }
            return Err(error.into());
        }
    };
    progress.finish(format!("Created an index of {} manifests", report.manifests.len()));
    match args.output.format {
        OutputFormat::Json => output::print_json(&report)?,
        OutputFormat::Table => output::print(&report.digest)?,
    }
    Ok(())
}

impl From<ImageError> for Error {
    fn from(error: ImageError) -> Self {
        Error::Image(Box::new(error))
    }
}
