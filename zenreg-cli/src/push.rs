//! `zenreg container-registry push IMAGE --registry NAME [--retag] [--engine docker|oci]
//! [--from SOURCE] [--compression gzip|zstd|none] [--compression-level N|auto]`: the main job. The
//! digest goes to stdout; progress goes to stderr, as bars on a terminal (one per layer with the
//! OCI engine) and a few lines elsewhere.

use super::output::{self, OutputArg, OutputFormat};
use crate::error::Error;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use zenreg_core::{Diagnostics, Level};
use zenreg_push::oci::{self, Compression, Source};
use zenreg_push::{CredentialSource, EngineKind, PushEvent, PushFailure, PushProgress, PushRequest, push};
use zenreg_store::Client;

#[derive(Debug, Args)]
pub(super) struct PushArgs {
    /// The local image to push, `name[:tag]`.
    image: String,
    /// Name or id of the container registry to push to.
    #[arg(short, long)]
    registry: String,
    /// Tag an image that is not under the registry as `URI[/DEFAULT_REPOSITORY]/NAME:TAG` first.
    #[arg(long)]
    retag: bool,
    /// Who talks to the registry: `oci`, zenreg's own client (exports the image from the Docker
    /// Engine, or reads `--from`; compresses layers on every core), or `docker`, the Docker
    /// Engine's own push.
    /// [default: `oci`, or `docker` on a daemon with the containerd image store, where layers
    /// are already compressed]
    #[arg(long, value_enum)]
    engine: Option<EngineArg>,
    /// Push from an image source instead of the Docker Engine (no daemon needed):
    /// `oci:DIR[:REF]` (an OCI image layout) or `docker-archive:FILE[:NAME]` (`docker save`, of
    /// any Docker; NAME chooses among several images).
    #[arg(long, value_name = "SOURCE", value_parser = Source::parse)]
    from: Option<Source>,
    /// Compression of layers that arrive uncompressed (OCI engine): gzip pulls everywhere,
    /// zstd needs containerd 1.5 / Docker 23 or later.
    #[arg(long, value_name = "gzip|zstd|none", default_value = "gzip", value_parser = str::parse::<Compression>)]
    compression: Compression,
    /// The platform to push of a multi-platform image in `--from docker-archive:`
    /// (`os/arch[/variant]`, such as `linux/arm64`); without it, such an image is pushed whole.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Compression level, or `auto`: the level that keeps the link busy with the fewest bytes,
    /// from the upload rate measured to this registry before (kept beside the blob cache).
    #[arg(long, value_name = "N|auto", default_value = "auto", value_parser = parse_level)]
    compression_level: LevelArg,
    #[command(flatten)]
    output: OutputArg,
}

/// `--compression-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LevelArg {
    Auto,
    Fixed(i32),
}

fn parse_level(text: &str) -> Result<LevelArg, String> {
    if text == "auto" {
        return Ok(LevelArg::Auto);
    }
    text.parse().map(LevelArg::Fixed).map_err(|_| format!("`{text}` is not a level: a number or `auto`"))
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum EngineArg {
    Docker,
    Oci,
}

pub(super) fn run(args: PushArgs, client: &Client) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let engine = args.engine.map(|engine| match engine {
        EngineArg::Docker => EngineKind::Docker,
        EngineArg::Oci => EngineKind::Oci,
    });
    if engine == Some(EngineKind::Docker) && args.from.is_some() {
        return Err(Error::usage(
            "`--from` needs the OCI engine: the Docker engine pushes only images the daemon holds",
            Some("drop `--engine docker`".into()),
        ));
    }
    if args.platform.is_some() && !matches!(args.from, Some(Source::DockerArchive { .. })) {
        return Err(Error::usage(
            "`--platform` chooses a platform of a multi-platform image in a `docker save` archive",
            Some("add `--from docker-archive:FILE`, or drop `--platform`".into()),
        ));
    }
    if let LevelArg::Fixed(level) = args.compression_level
        && !args.compression.levels().contains(&level)
    {
        let levels = args.compression.levels();
        return Err(Error::usage(
            format!("compression level {level} is out of range for {}", args.compression.name()),
            Some(format!("pick a level from {} to {}", levels.start(), levels.end())),
        ));
    }
    let mut request = PushRequest::new(args.image, args.registry);
    request.retag = args.retag;
    request.engine = engine;
    request.from = args.from;
    request.compression = args.compression;
    request.level = match args.compression_level {
        LevelArg::Auto => None,
        LevelArg::Fixed(level) => Some(level),
    };
    request.platform = args.platform;
    let mut progress: Box<dyn PushProgress> =
        if std::io::stderr().is_terminal() { Box::new(Bars::default()) } else { Box::new(Lines::default()) };
    // The flavor's hooks report through this; notes are shown as they are, warnings marked.
    let diagnostics = Diagnostics::new(|diagnostic| match diagnostic.level {
        Level::Note => say!("{}", diagnostic.message),
        _ => say!("{diagnostic}"),
    });
    let outcome = runtime.block_on(push(client, &request, progress.as_mut(), &diagnostics))?;
    match args.output.format {
        OutputFormat::Json => output::print_json(&outcome)?,
        OutputFormat::Table => output::print(&outcome.digest)?,
    }
    Ok(())
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

/// `Compressing with gzip level 6 (auto: the link to this registry carried 95 Mbit/s)`.
fn compression_line(compression: &str, level: i32, auto: bool, link_mbit: Option<(u64, bool)>) -> String {
    let why = match (auto, link_mbit) {
        (false, _) => String::new(),
        (true, None) => " (auto: no link measured to this registry yet, so the fastest level)".into(),
        (true, Some((mbit, true))) => format!(" (auto: the link to this registry carried {mbit} Mbit/s)"),
        (true, Some((mbit, false))) => format!(" (auto: the link to this registry carried at least {mbit} Mbit/s)"),
    };
    format!("Compressing with {compression} level {level}{why}")
}

/// `Retrying in 30.0 s, as 127.0.0.1:5000 asked (Retry-After): HTTP 429 Too Many Requests`.
fn wait_line(wait: &oci::policy::Wait) -> String {
    let asked = if wait.asked { format!(", as {} asked (Retry-After)", wait.host) } else { String::new() };
    format!("Retrying in {:.1} s{asked}: {}", wait.delay.as_secs_f64(), wait.reason)
}

fn layers(count: usize) -> String {
    if count == 1 { "1 layer".to_string() } else { format!("{count} layers") }
}

fn is_layer_done(status: &str) -> bool {
    status == "Pushed" || status == "Layer already exists" || status.starts_with("Mounted from")
}

/// Off a terminal: a line when the push starts, one per retry, one when it ends.
#[derive(Default)]
struct Lines {
    started: Option<Instant>,
    layers: usize,
    done: usize,
    existing: usize,
    uploaded: u64,
}

impl PushProgress for Lines {
    fn start(&mut self, image: &str, count: usize, size: u64, source: &CredentialSource) {
        self.started = Some(Instant::now());
        self.layers = count;
        if count == 0 {
            say!("Pushing {image} with {source}");
        } else {
            say!("Pushing {image} ({}, {}) with {source}", layers(count), megabytes(size));
        }
    }

    fn layer(&mut self, event: &oci::Event) {
        match event {
            oci::Event::Start { layers, .. } => self.layers = self.layers.max(*layers),
            oci::Event::Bytes { bytes, .. } => self.uploaded += bytes,
            oci::Event::Done { how, .. } => {
                self.done += 1;
                self.layers = self.layers.max(self.done);
                self.existing += usize::from(*how != oci::Done::Pushed);
            }
            oci::Event::Layer { .. } => {}
            oci::Event::Compression { compression, level, auto, link_mbit } => {
                say!("{}", compression_line(compression, *level, *auto, *link_mbit));
            }
            oci::Event::Wait(wait) => say!("{}", wait_line(wait)),
        }
    }

    fn event(&mut self, event: &PushEvent) {
        if let PushEvent::Status { status, .. } = event
            && is_layer_done(status)
        {
            self.done += 1;
            self.existing += usize::from(status == "Layer already exists");
        }
    }

    fn retry(&mut self, attempt: u32, pause: Duration, failure: &PushFailure) {
        say!("Retrying in {:.1} s (attempt {}): {}", pause.as_secs_f64(), attempt + 1, failure.message());
    }

    fn note(&mut self, note: &str) {
        say!("{note}");
    }

    fn finish(&mut self) {
        let elapsed = self.started.map(|s| s.elapsed().as_secs_f64()).unwrap_or_default();
        if self.done > 0 {
            let uploaded =
                if self.uploaded > 0 { format!(", {} uploaded", megabytes(self.uploaded)) } else { String::new() };
            say!(
                "Pushed {} of {} ({} already in the registry{uploaded}) in {elapsed:.1} s",
                self.done,
                layers(self.layers),
                self.existing
            );
        }
    }
}

/// On a terminal: a bar of layers done, with the current layer's bytes in its message.
#[derive(Default)]
struct Bars {
    bar: Option<ProgressBar>,
    /// The OCI engine's bars, one per layer in flight, under the overall bar.
    multi: Option<MultiProgress>,
    layers: HashMap<String, ProgressBar>,
}

impl Bars {
    fn layer_bar(&mut self, name: &str, total: Option<u64>) -> Option<ProgressBar> {
        if let Some(bar) = self.layers.get(name) {
            return Some(bar.clone());
        }
        let overall = self.bar.as_ref()?;
        let multi = self.multi.get_or_insert_with(|| {
            let multi = MultiProgress::new();
            multi.add(overall.clone());
            multi
        });
        let bar = multi.add(ProgressBar::new(total.unwrap_or(0)));
        bar.set_style(
            ProgressStyle::with_template("  {prefix:12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        self.layers.insert(name.to_string(), bar.clone());
        Some(bar)
    }
}

impl PushProgress for Bars {
    fn start(&mut self, image: &str, count: usize, size: u64, source: &CredentialSource) {
        let bar = ProgressBar::new(count as u64);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos}/{len} layers {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(image.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.println(format!("Pushing {image} ({}, {}) with {source}", layers(count), megabytes(size)));
        self.bar = Some(bar);
    }

    fn event(&mut self, event: &PushEvent) {
        let Some(bar) = &self.bar else { return };
        match event {
            PushEvent::Status { status, .. } if is_layer_done(status) => bar.inc(1),
            PushEvent::Status { status, progress: Some((current, total)) } => {
                bar.set_message(format!("{status} {}/{}", megabytes(*current), megabytes(*total)));
            }
            PushEvent::Status { status, progress: None } => bar.set_message(status.clone()),
            PushEvent::Digest { digest, .. } => bar.set_message(digest.clone()),
        }
    }

    fn layer(&mut self, event: &oci::Event) {
        match event {
            oci::Event::Start { layers, .. } => {
                if let Some(bar) = &self.bar
                    && *layers as u64 > bar.length().unwrap_or(0)
                {
                    bar.set_length(*layers as u64);
                }
            }
            oci::Event::Layer { name, total } => {
                self.layer_bar(name, *total);
            }
            oci::Event::Compression { compression, level, auto, link_mbit } => {
                if let Some(bar) = &self.bar {
                    bar.println(compression_line(compression, *level, *auto, *link_mbit));
                }
            }
            oci::Event::Wait(wait) => {
                if let Some(bar) = &self.bar {
                    bar.set_message(wait_line(wait));
                }
            }
            oci::Event::Bytes { name, bytes } => {
                if let Some(bar) = self.layer_bar(name, None) {
                    bar.inc(*bytes);
                }
            }
            oci::Event::Done { name, how } => {
                if let Some(bar) = self.layers.remove(name) {
                    let how = match how {
                        oci::Done::Pushed => "pushed",
                        oci::Done::Exists => "already there",
                        oci::Done::Mounted => "mounted",
                    };
                    bar.finish_with_message(how);
                }
                if let Some(bar) = &self.bar {
                    if bar.position() + 1 > bar.length().unwrap_or(0) {
                        bar.set_length(bar.position() + 1);
                    }
                    bar.inc(1);
                }
            }
        }
    }

    fn retry(&mut self, attempt: u32, pause: Duration, failure: &PushFailure) {
        if let Some(bar) = &self.bar {
            bar.println(format!(
                "Retrying in {:.1} s (attempt {}): {}",
                pause.as_secs_f64(),
                attempt + 1,
                failure.message()
            ));
            bar.set_position(0);
        }
    }

    fn note(&mut self, note: &str) {
        // Notes come before the push starts, so before its bar.
        match &self.bar {
            Some(bar) => bar.println(note),
            None => say!("{note}"),
        }
    }

    fn finish(&mut self) {
        for (_, bar) in self.layers.drain() {
            bar.finish_and_clear();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if let Some(multi) = self.multi.take() {
            let _ = multi.clear();
        }
    }
}
