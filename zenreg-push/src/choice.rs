//! Which engine pushes an image from a classic-store Docker Engine when none is asked for, by
//! what the pushes before measured.
//!
//! zenreg's engine compresses layers on every core, so it wins wherever compression is the
//! bottleneck (a fast link, loopback). It reads the image through the Engine's export, though,
//! and a classic-store Engine writes the whole export to a temporary directory before it sends
//! its first byte (5–6 s for a 600 MB image on this machine kind's disk). On a link slow enough
//! that compression keeps up easily, the upload is the push, and those seconds are lost where
//! `docker push`, which streams each layer from its store, loses none (measured with
//! `scripts/bench-push-link.sh`: at 20 and 100 Mbit/s `docker push` was 5–16 % faster at equal
//! bytes, while a push of the same image from a `docker save` file ran at 1.03× the link floor).
//!
//! So the choice is measured per Engine and registry: each cold push (nothing was in the
//! registry) keeps its engine's throughput, in image bytes per second, in `engine-cache.json`
//! beside the blob cache. When both engines have a throughput, the faster pushes. When only
//! zenreg's is known and that push was bound by the link while a tenth or more of it was spent
//! waiting for the export, the Engine's own push is tried once. Otherwise zenreg's engine
//! pushes. Measurements older than a week are forgotten, as links and machines change.
//!
//! Where this process can read the Engine's store (see [`crate::oci::layerstore`]), zenreg's
//! engine no longer waits for the export: a choice of the Engine's push made against runs of
//! zenreg's engine that read the export gives way ([`Choice::with_store_readable`]), and the next
//! cold push measures zenreg's engine again.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The two engines that can push an image the Docker Engine holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pusher {
    /// The Engine's own push (`docker push`).
    Daemon,
    /// zenreg's OCI engine, reading the Engine's export.
    Zenreg,
}

/// One cold push, as measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Bytes of the image (uncompressed, as the Engine counts them) per second of the push.
    pub bytes_per_second: f64,
    /// The share of the push spent waiting for the export's first byte (zenreg's engine only).
    #[serde(default)]
    pub export_wait: f64,
    /// Whether the link was the bottleneck (zenreg's engine only: its meter tells).
    #[serde(default)]
    pub link_bound: bool,
    /// Whether zenreg's engine read the layers from the Engine's store rather than its export
    /// (a run kept before zenreg could read the store says `false`).
    #[serde(default)]
    pub read_store: bool,
    /// Seconds since the Unix epoch.
    pub updated: u64,
}

/// How a push of zenreg's engine went, as [`Run::new`] keeps it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Seen {
    /// How long the export's first byte took (`None`: the export was not read).
    pub export_wait: Option<Duration>,
    /// Whether the link was the bottleneck.
    pub link_bound: bool,
    /// Whether the layers were read from the Engine's store.
    pub read_store: bool,
}

impl Run {
    /// A run of `size` image bytes in `took`, measured now.
    pub fn new(size: u64, took: Duration, seen: Seen) -> Option<Run> {
        let Seen { export_wait, link_bound, read_store } = seen;
        let seconds = took.as_secs_f64();
        // Too small or too quick to tell an engine from another by.
        if size < 10_000_000 || seconds < 0.2 {
            return None;
        }
        Some(Run {
            bytes_per_second: size as f64 / seconds,
            export_wait: export_wait.map_or(0.0, |wait| (wait.as_secs_f64() / seconds).min(1.0)),
            link_bound,
            read_store,
            updated: now(),
        })
    }
}

/// What is known of the pushes from one Engine to one registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Runs {
    /// The Engine's own push.
    #[serde(default)]
    pub daemon: Option<Run>,
    /// zenreg's engine.
    #[serde(default)]
    pub zenreg: Option<Run>,
}

/// The engine that pushes, and why when it is not zenreg's by default.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// Which.
    pub pusher: Pusher,
    /// A sentence for the progress, when measurements chose.
    pub why: Option<String>,
}

impl Choice {
    /// This choice, knowing that zenreg's engine can read this image from the Engine's store.
    /// The Engine's own push, chosen against runs of zenreg's engine that read the export
    /// (slower to start), is not chosen by evidence any more: zenreg's engine pushes, and its
    /// run replaces the old one.
    pub fn with_store_readable(self, runs: &Runs) -> Choice {
        match (self.pusher, runs.zenreg) {
            (Pusher::Daemon, Some(zenreg)) if !zenreg.read_store => Choice {
                pusher: Pusher::Zenreg,
                why: Some(
                    "it reads this image from the Engine's store, and its pushes measured before read the Engine's \
                     export"
                        .into(),
                ),
            },
            _ => self,
        }
    }
}

/// The share of a link-bound push spent waiting for the export above which the Engine's own
/// push is worth a try.
const WAIT_WORTH_A_TRY: f64 = 0.10;

/// Chooses from what `runs` holds (see the module's documentation).
pub fn choose(runs: &Runs) -> Choice {
    let mb = |run: &Run| run.bytes_per_second / 1e6;
    match (runs.daemon, runs.zenreg) {
        (Some(daemon), Some(zenreg)) => {
            let pusher =
                if daemon.bytes_per_second > zenreg.bytes_per_second { Pusher::Daemon } else { Pusher::Zenreg };
            let why = format!(
                "cold pushes to this registry ran at {:.1} MB/s of image through the Engine's own push and {:.1} \
                 MB/s through zenreg's engine",
                mb(&daemon),
                mb(&zenreg)
            );
            Choice { pusher, why: Some(why) }
        }
        (None, Some(zenreg)) if zenreg.link_bound && zenreg.export_wait >= WAIT_WORTH_A_TRY => Choice {
            pusher: Pusher::Daemon,
            why: Some(format!(
                "trying it: the link bound zenreg's last cold push to this registry, which waited {:.0} % of its \
                 time for the Engine's export",
                zenreg.export_wait * 100.0
            )),
        },
        _ => Choice { pusher: Pusher::Zenreg, why: None },
    }
}

/// A measurement older than this is forgotten.
const KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

/// The runs of each Engine and registry pair, kept in a JSON file beside the blob cache. A file
/// that cannot be read is an empty memory; one that cannot be written costs a measurement.
#[derive(Debug)]
pub struct EngineMemory {
    path: PathBuf,
    pairs: BTreeMap<String, Runs>,
}

impl EngineMemory {
    /// The memory in `path` (empty when the file is missing or unreadable).
    pub fn load(path: &Path) -> EngineMemory {
        EngineMemory { path: path.to_path_buf(), pairs: crate::memory::load(path) }
    }

    /// The memory beside the blob cache file `cache`.
    pub fn beside(cache: &Path) -> EngineMemory {
        EngineMemory::load(&cache.with_file_name("engine-cache.json"))
    }

    /// What was measured from the Engine at `daemon` to `registry` within the last week.
    pub fn runs(&self, daemon: &str, registry: &str) -> Runs {
        let fresh = |run: Option<Run>| run.filter(|run| now().saturating_sub(run.updated) <= KEEP.as_secs());
        let runs = self.pairs.get(&key(daemon, registry)).copied().unwrap_or_default();
        Runs { daemon: fresh(runs.daemon), zenreg: fresh(runs.zenreg) }
    }

    /// Keeps `run` of `pusher` (it replaces the one before: the latest push is the best guess).
    pub fn record(&mut self, daemon: &str, registry: &str, pusher: Pusher, run: Run) {
        let runs = self.pairs.entry(key(daemon, registry)).or_default();
        match pusher {
            Pusher::Daemon => runs.daemon = Some(run),
            Pusher::Zenreg => runs.zenreg = Some(run),
        }
    }

    /// Writes the memory (atomically: a temporary file renamed over it).
    pub fn save(&self) -> std::io::Result<()> {
        crate::memory::save(&self.path, &self.pairs)
    }
}

fn key(daemon: &str, registry: &str) -> String {
    format!("{daemon} -> {registry}")
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mb_per_second: f64, export_wait: f64, link_bound: bool) -> Run {
        Run { bytes_per_second: mb_per_second * 1e6, export_wait, link_bound, read_store: false, updated: now() }
    }

    #[test]
    fn zenreg_pushes_until_measurements_say_otherwise() {
        assert_eq!(choose(&Runs::default()), Choice { pusher: Pusher::Zenreg, why: None });
        // Bound by compression (a fast link): the export's wait is not what costs.
        let fast = Runs { zenreg: Some(run(80.0, 0.6, false)), daemon: None };
        assert_eq!(choose(&fast).pusher, Pusher::Zenreg);
        // Bound by the link, with little time lost to the export.
        let little = Runs { zenreg: Some(run(25.0, 0.05, true)), daemon: None };
        assert_eq!(choose(&little).pusher, Pusher::Zenreg);
    }

    #[test]
    fn a_link_bound_push_that_waited_for_the_export_tries_the_engine_s_own_push() {
        let waited = Runs { zenreg: Some(run(25.0, 0.22, true)), daemon: None };
        let choice = choose(&waited);
        assert_eq!(choice.pusher, Pusher::Daemon);
        assert!(choice.why.unwrap().contains("22 %"));
    }

    #[test]
    fn with_both_measured_the_faster_pushes() {
        let daemon_faster = Runs { zenreg: Some(run(25.0, 0.22, true)), daemon: Some(run(29.8, 0.0, false)) };
        let choice = choose(&daemon_faster);
        assert_eq!(choice.pusher, Pusher::Daemon);
        assert!(choice.why.unwrap().contains("29.8 MB/s of image through the Engine's own push and 25.0 MB/s"));
        let zenreg_faster = Runs { zenreg: Some(run(80.0, 0.6, false)), daemon: Some(run(50.0, 0.0, false)) };
        assert_eq!(choose(&zenreg_faster).pusher, Pusher::Zenreg);
    }

    #[test]
    fn the_engine_s_push_chosen_against_export_runs_gives_way_when_the_store_is_readable() {
        // The Engine's push was measured faster than zenreg's engine reading the export.
        let export = Runs { zenreg: Some(run(25.0, 0.22, true)), daemon: Some(run(29.8, 0.0, false)) };
        let choice = choose(&export).with_store_readable(&export);
        assert_eq!(choice.pusher, Pusher::Zenreg);
        assert!(choice.why.unwrap().contains("reads this image from the Engine's store"));
        // The try of the Engine's push after a slow export gives way as well.
        let waited = Runs { zenreg: Some(run(25.0, 0.22, true)), daemon: None };
        assert_eq!(choose(&waited).with_store_readable(&waited).pusher, Pusher::Zenreg);
        // Measured reading the store and still slower: the Engine's push stays chosen.
        let store = Runs { zenreg: Some(Run { read_store: true, ..run(25.0, 0.0, true) }), ..export };
        assert_eq!(choose(&store).with_store_readable(&store).pusher, Pusher::Daemon);
        // A run that says nothing of the store, as a file written before zenreg read it keeps.
        let old: Run = serde_json::from_str(r#"{"bytes_per_second": 1e6, "updated": 1}"#).unwrap();
        assert!(!old.read_store);
        let seen = Seen { export_wait: None, link_bound: true, read_store: true };
        assert!(Run::new(100_000_000, Duration::from_secs(4), seen).is_some_and(|r| r.read_store && r.link_bound));
    }

    #[test]
    fn the_memory_keeps_runs_per_engine_and_registry_and_forgets_old_ones() {
        let dir = std::env::temp_dir().join(format!("zenreg-choice-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("engine-cache.json");
        let mut memory = EngineMemory::load(&path);
        memory.record("unix:///var/run/docker.sock", "registry.example:5000", Pusher::Zenreg, run(25.0, 0.2, true));
        let old = Run { updated: now() - KEEP.as_secs() - 1, ..run(30.0, 0.0, false) };
        memory.record("unix:///var/run/docker.sock", "registry.example:5000", Pusher::Daemon, old);
        memory.save().unwrap();
        let again = EngineMemory::load(&path);
        let runs = again.runs("unix:///var/run/docker.sock", "registry.example:5000");
        assert_eq!(runs.zenreg, Some(run(25.0, 0.2, true)).map(|r| Run { updated: runs.zenreg.unwrap().updated, ..r }));
        assert_eq!(runs.daemon, None, "a week-old run is forgotten");
        assert_eq!(again.runs("unix:///other.sock", "registry.example:5000"), Runs::default());
        // Too small to tell by.
        assert_eq!(Run::new(1_000_000, Duration::from_secs(2), Seen::default()), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
