//! `--compression-level auto`: the level that keeps the link busy with the fewest bytes.
//!
//! A push is bound by whichever is slower: compressing (CPU) or uploading (the link). Per
//! uncompressed byte, level `L` costs `1 / (cores × speed(L))` seconds of compression and
//! `ratio(L) / link` seconds of upload, and the two overlap, so a push takes about the larger of
//! them. The chooser takes the level with the least of that, and among the levels within 5 % of
//! it the one that sends the fewest bytes. On loopback or a fast link that is a fast level; on a
//! slow uplink, a slow one: at 20 Mbit/s gzip 9 costs nothing that the link does not already.
//!
//! The link's rate comes from pushes before (kept per registry host in `link-cache.json`
//! beside the blob cache). A push measures it when the link was the bottleneck (its uploads went
//! on long after the last byte was compressed, or its compressors waited on full upload queues
//! for a third of the time); when it was not, what went up is only a lower bound of the link's
//! rate, and is kept as one. With nothing known, the link
//! is taken to be fast: the first push to a host spends no CPU on bytes it may not need to save.

use crate::oci::compress::Compression;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A level's cost and effect on layers of real files: its compression speed per core
/// (uncompressed bytes per second) and its ratio (compressed ÷ uncompressed bytes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// The codec's level.
    pub level: i32,
    /// Uncompressed bytes per second on one core.
    pub speed: f64,
    /// Compressed bytes per uncompressed byte.
    pub ratio: f64,
}

const MB: f64 = 1_000_000.0;

/// What a push can count on of a core's compression speed, measured alone: a push also reads,
/// hashes twice and uploads (at gzip level 1 on loopback it compressed 105 MB/s per core where
/// the compressor alone does 141), and files differ (the 7-layer bench image compressed about
/// 1.6× slower than these at gzip 9 and zstd 12, so at 0.75 both were chosen at 100 Mbit/s and
/// kept the link waiting; BENCHMARKS.md §7).
const IN_A_PUSH: f64 = 0.5;

/// gzip (zlib-rs; level 6 compresses as zlib-rs 7, see `compress`) through zenreg's
/// block-parallel compressor on 311 MB of real files (tars of Python 3.11's standard library,
/// /usr/share/doc, perl's library and gcc's libraries), a quiet 2-core machine of this kind:
/// the speed per core alone (all cores' speed ÷ cores) times [`IN_A_PUSH`], and the ratio.
/// Level 8 is slower than 9 and sends more: zlib-rs' 9 hashes differently.
const GZIP: &[Profile] = &[
    Profile { level: 1, speed: 141.0 * MB * IN_A_PUSH, ratio: 0.507 },
    Profile { level: 2, speed: 92.0 * MB * IN_A_PUSH, ratio: 0.441 },
    Profile { level: 3, speed: 79.0 * MB * IN_A_PUSH, ratio: 0.428 },
    Profile { level: 4, speed: 70.0 * MB * IN_A_PUSH, ratio: 0.423 },
    Profile { level: 5, speed: 66.0 * MB * IN_A_PUSH, ratio: 0.418 },
    Profile { level: 6, speed: 39.0 * MB * IN_A_PUSH, ratio: 0.416 },
    Profile { level: 7, speed: 39.0 * MB * IN_A_PUSH, ratio: 0.416 },
    Profile { level: 8, speed: 22.0 * MB * IN_A_PUSH, ratio: 0.415 },
    Profile { level: 9, speed: 24.0 * MB * IN_A_PUSH, ratio: 0.411 },
];

/// zstd on the same files, the same way (the library's multithreaded encoder on every core).
/// Levels above 12 cost far more CPU than any link here saves.
const ZSTD: &[Profile] = &[
    Profile { level: 1, speed: 239.0 * MB * IN_A_PUSH, ratio: 0.429 },
    Profile { level: 2, speed: 226.0 * MB * IN_A_PUSH, ratio: 0.407 },
    Profile { level: 3, speed: 177.0 * MB * IN_A_PUSH, ratio: 0.388 },
    Profile { level: 4, speed: 174.0 * MB * IN_A_PUSH, ratio: 0.386 },
    Profile { level: 5, speed: 115.0 * MB * IN_A_PUSH, ratio: 0.377 },
    Profile { level: 6, speed: 88.0 * MB * IN_A_PUSH, ratio: 0.370 },
    Profile { level: 7, speed: 74.0 * MB * IN_A_PUSH, ratio: 0.367 },
    Profile { level: 8, speed: 61.0 * MB * IN_A_PUSH, ratio: 0.365 },
    Profile { level: 9, speed: 54.0 * MB * IN_A_PUSH, ratio: 0.356 },
    Profile { level: 10, speed: 44.0 * MB * IN_A_PUSH, ratio: 0.354 },
    Profile { level: 12, speed: 28.0 * MB * IN_A_PUSH, ratio: 0.353 },
];

/// The profiles of `compression` (none for uncompressed layers).
pub fn profiles(compression: Compression) -> &'static [Profile] {
    match compression {
        Compression::Gzip => GZIP,
        Compression::Zstd => ZSTD,
        Compression::None => &[],
    }
}

/// What is known of a link's upload rate, in bytes per second.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "bytes_per_second", rename_all = "snake_case")]
pub enum Link {
    /// Measured while the link was the bottleneck.
    Measured(f64),
    /// The link carried this much while the compressors were the bottleneck: it can do more.
    AtLeast(f64),
}

/// Levels within this factor of the fastest push count as fast; of those, the fewest bytes win.
const SLACK: f64 = 1.05;

/// The level for pushing with `compression` on `cores` cores over `link` (`None`: not known).
pub fn choose(compression: Compression, link: Option<Link>, cores: usize) -> i32 {
    let profiles = profiles(compression);
    let Some(first) = profiles.first() else { return 0 };
    let cores = cores.max(1) as f64;
    // A link known only from below is taken at twice what it carried: a compressor that could
    // not keep it busy says little more, and the next push measures again.
    let rate = match link {
        Some(Link::Measured(rate)) => rate,
        Some(Link::AtLeast(rate)) => rate * 2.0,
        None => f64::INFINITY,
    };
    if rate.is_nan() || rate <= 0.0 {
        return first.level;
    }
    let seconds = |p: &Profile| (1.0 / (cores * p.speed)).max(p.ratio / rate);
    let fastest = profiles.iter().map(seconds).fold(f64::INFINITY, f64::min);
    let level = profiles
        .iter()
        .filter(|p| seconds(p) <= fastest * SLACK)
        .min_by(|a, b| a.ratio.total_cmp(&b.ratio))
        .map_or(first.level, |p| p.level);
    tracing::debug!(
        target: "zenreg_push::adaptive",
        "{} level {level} chosen for link {link:?} on {cores} cores (fastest {:.1} ns per byte, within {SLACK})",
        compression.name(),
        fastest * 1e9
    );
    level
}

/// How a push used its link, measured while it runs: when the compressors produced their first
/// and last bytes. A push whose uploads go on long after the last byte was compressed was held
/// back by the link (the bytes waited in the upload queues), and its upload rate is the link's; a
/// push whose uploads end with the compression was held back by the CPU, and its rate is only a
/// lower bound of the link's.
#[derive(Debug, Default)]
pub struct Meter {
    times: Mutex<Option<(Instant, Instant)>>,
    /// Time the compressors spent waiting for a full upload queue to take their output.
    held_ns: AtomicU64,
}

impl Meter {
    /// A compressor waited `waited` for an upload queue to take its output: the link is
    /// behind (a bounded queue ends compression with the upload, so the tail alone misses it).
    pub fn held_back(&self, waited: Duration) {
        self.held_ns.fetch_add(u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Compressed bytes were handed to an upload now.
    pub fn produced(&self) {
        let now = Instant::now();
        if let Ok(mut times) = self.times.lock() {
            let first = times.map_or(now, |(first, _)| first);
            *times = Some((first, now));
        }
    }

    /// What `bytes` uploaded by now say of the link (see [`judge`]); nothing when no byte was
    /// compressed (a layout's blobs go up as they are).
    pub fn link(&self, bytes: u64) -> Option<Link> {
        let (first, last) = (*self.times.lock().ok()?)?;
        let held = Duration::from_nanos(self.held_ns.load(Ordering::Relaxed));
        let uploading = first.elapsed();
        let link = match judge(bytes, last - first, uploading) {
            // Compressors held back for a third of the push: the link was the bottleneck.
            Some(Link::AtLeast(rate)) if held.as_secs_f64() >= uploading.as_secs_f64() / 3.0 => {
                Some(Link::Measured(rate))
            }
            link => link,
        };
        tracing::debug!(
            target: "zenreg_push::adaptive",
            "link judged {link:?} from {bytes} bytes in {} ms (compressing {} ms, compressors held back {} ms)",
            uploading.as_millis(),
            (last - first).as_millis(),
            held.as_millis()
        );
        link
    }
}

/// The link as one push saw it: `bytes` went up in `uploading` (from the first compressed byte
/// to the push's end), and the compressors were done after `compressing`. When the uploads
/// went on for at least a third of their time after the compression ended, the link was the
/// bottleneck: a measurement. Else a lower bound. Too little to tell (under 1 MB or 200 ms)
/// says nothing.
pub fn judge(bytes: u64, compressing: Duration, uploading: Duration) -> Option<Link> {
    if bytes < 1_000_000 || uploading < Duration::from_millis(200) {
        return None;
    }
    let rate = bytes as f64 / uploading.as_secs_f64();
    let tail = uploading.saturating_sub(compressing);
    if tail.as_secs_f64() >= uploading.as_secs_f64() / 3.0 {
        Some(Link::Measured(rate))
    } else {
        Some(Link::AtLeast(rate))
    }
}

/// A measurement older than this is forgotten: laptops move between links.
const KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Entry {
    link: Link,
    /// Seconds since the Unix epoch.
    updated: u64,
}

/// What pushes measured of each registry host's link, kept in a JSON file beside the blob
/// cache. A file that cannot be read is an empty memory; one that cannot be written costs the
/// next push a measurement, nothing more.
#[derive(Debug)]
pub struct LinkMemory {
    path: PathBuf,
    hosts: BTreeMap<String, Entry>,
}

impl LinkMemory {
    /// The memory in `path` (empty when the file is missing or unreadable).
    pub fn load(path: &Path) -> LinkMemory {
        LinkMemory { path: path.to_path_buf(), hosts: crate::memory::load(path) }
    }

    /// What is known of `host`'s link, if measured within the last week.
    pub fn get(&self, host: &str) -> Option<Link> {
        let entry = self.hosts.get(host)?;
        (now().saturating_sub(entry.updated) <= KEEP.as_secs()).then_some(entry.link)
    }

    /// Keeps what a push found of `host`'s link. A measurement replaces a lower bound and is
    /// averaged with an earlier one; a lower bound only raises what is known from below, and
    /// replaces a measurement only when it exceeds it (the link got faster).
    pub fn record(&mut self, host: &str, link: Link) {
        let merged = match (self.get(host), link) {
            (Some(Link::Measured(old)), Link::Measured(new)) => Link::Measured((old + new) / 2.0),
            (Some(Link::Measured(old)), Link::AtLeast(new)) if new <= old => Link::Measured(old),
            (Some(Link::AtLeast(old)), Link::AtLeast(new)) => Link::AtLeast(old.max(new)),
            (_, new) => new,
        };
        self.hosts.insert(host.to_string(), Entry { link: merged, updated: now() });
    }

    /// Writes the memory (atomically: a temporary file renamed over it).
    pub fn save(&self) -> std::io::Result<()> {
        crate::memory::save(&self.path, &self.hosts)
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MBIT: f64 = 1_000_000.0 / 8.0;

    #[test]
    fn the_level_follows_the_link() {
        let gzip = |link| choose(Compression::Gzip, link, 2);
        // Nothing known, or a fast link: the fastest level.
        assert_eq!(gzip(None), 1);
        assert_eq!(gzip(Some(Link::Measured(1000.0 * MBIT))), 1);
        // A slow uplink: the link is the cost, so the fewest bytes.
        assert_eq!(gzip(Some(Link::Measured(20.0 * MBIT))), 9);
        // 100 Mbit/s on 2 cores: level 6 (`gzip -6`'s bytes, what `docker push` sends) keeps up
        // with the link with a third of the CPU to spare; at 80 Mbit/s level 9 does; at 200
        // Mbit/s level 5, at 300 Mbit/s level 2.
        assert_eq!(gzip(Some(Link::Measured(100.0 * MBIT))), 6);
        assert_eq!(gzip(Some(Link::Measured(80.0 * MBIT))), 9);
        assert_eq!(gzip(Some(Link::Measured(200.0 * MBIT))), 5);
        assert_eq!(gzip(Some(Link::Measured(300.0 * MBIT))), 2);
        // More cores afford a slower level on the same link.
        assert_eq!(choose(Compression::Gzip, Some(Link::Measured(300.0 * MBIT)), 16), 9);
        // A lower bound is taken at twice its value.
        assert_eq!(gzip(Some(Link::AtLeast(150.0 * MBIT))), 2);

        let zstd = |link| choose(Compression::Zstd, link, 2);
        assert_eq!(zstd(None), 1);
        assert_eq!(zstd(Some(Link::Measured(20.0 * MBIT))), 12);
        assert_eq!(zstd(Some(Link::Measured(100.0 * MBIT))), 10);
        assert_eq!(zstd(Some(Link::Measured(300.0 * MBIT))), 5);
        assert_eq!(zstd(Some(Link::Measured(1000.0 * MBIT))), 1);
        assert_eq!(choose(Compression::None, Some(Link::Measured(MBIT)), 2), 0);
        // Nonsense rates fall back to the fastest level.
        assert_eq!(gzip(Some(Link::Measured(0.0))), 1);
        assert_eq!(gzip(Some(Link::Measured(f64::NAN))), 1);
    }

    #[test]
    fn a_long_upload_tail_is_a_busy_link() {
        let s = Duration::from_secs;
        // Compressed in 1 s, uploaded in 2: the link held the bytes back.
        assert_eq!(judge(10_000_000, s(1), s(2)), Some(Link::Measured(5_000_000.0)));
        // The uploads ended with the compression: the CPU was the bottleneck.
        assert_eq!(judge(10_000_000, s(2), s(2)), Some(Link::AtLeast(5_000_000.0)));
        assert_eq!(judge(1_000, s(1), s(2)), None);
        assert_eq!(judge(10_000_000, Duration::ZERO, Duration::from_millis(10)), None);
        let meter = Meter::default();
        assert_eq!(meter.link(10_000_000), None);
        // Held back by full queues (bounded queues end compression with the upload): measured.
        meter.produced();
        std::thread::sleep(Duration::from_millis(250));
        meter.produced();
        assert!(matches!(meter.link(10_000_000), Some(Link::AtLeast(_))));
        meter.held_back(Duration::from_millis(200));
        assert!(matches!(meter.link(10_000_000), Some(Link::Measured(_))));
    }

    #[test]
    fn the_memory_keeps_measurements_per_host() {
        let dir = std::env::temp_dir().join(format!("zenreg-link-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("link-cache.json");
        let mut memory = LinkMemory::load(&path);
        assert_eq!(memory.get("r.example"), None);
        memory.record("r.example", Link::AtLeast(10.0));
        memory.record("r.example", Link::AtLeast(5.0));
        assert_eq!(memory.get("r.example"), Some(Link::AtLeast(10.0)));
        memory.record("r.example", Link::Measured(8.0));
        memory.record("r.example", Link::Measured(12.0));
        assert_eq!(memory.get("r.example"), Some(Link::Measured(10.0)));
        // A lower bound below a measurement says nothing new; one above it is a faster link.
        memory.record("r.example", Link::AtLeast(4.0));
        assert_eq!(memory.get("r.example"), Some(Link::Measured(10.0)));
        memory.record("r.example", Link::AtLeast(40.0));
        assert_eq!(memory.get("r.example"), Some(Link::AtLeast(40.0)));
        memory.save().unwrap();
        assert_eq!(LinkMemory::load(&path).get("r.example"), Some(Link::AtLeast(40.0)));
        assert_eq!(LinkMemory::load(&path).get("other"), None);
        std::fs::write(&path, "not json").unwrap();
        assert_eq!(LinkMemory::load(&path).get("r.example"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
