//! `zenreg container-registry push IMAGE --registry NAME [--retag]`: the main job. The digest
//! goes to stdout; progress goes to stderr, as bars on a terminal and a few lines elsewhere.

use super::output::{self, OutputArg, OutputFormat};
use crate::error::Error;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use zenreg_core::{Diagnostics, Level};
use zenreg_push::{CredentialSource, PushEvent, PushFailure, PushProgress, PushRequest, push};
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
    #[command(flatten)]
    output: OutputArg,
}

pub(super) fn run(args: PushArgs, client: &Client) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let request = PushRequest { image: args.image, registry: args.registry, retag: args.retag };
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
}

impl PushProgress for Lines {
    fn start(&mut self, image: &str, count: usize, size: u64, source: &CredentialSource) {
        self.started = Some(Instant::now());
        self.layers = count;
        say!("Pushing {image} ({}, {}) with {source}", layers(count), megabytes(size));
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

    fn finish(&mut self) {
        let elapsed = self.started.map(|s| s.elapsed().as_secs_f64()).unwrap_or_default();
        if self.done > 0 {
            say!(
                "Pushed {} of {} ({} already in the registry) in {elapsed:.1} s",
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

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
