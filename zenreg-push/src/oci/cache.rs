//! The blob cache, as Docker keeps one: a layer's diff id → the digest and size of its
//! compressed blob, per registry and compression (and level, which changes the bytes), with the
//! repository that holds it. A warm push of an image whose layers went up before looks the
//! blobs up here and asks the registry (`HEAD`, or a cross-repository mount) instead of
//! exporting and compressing anything.
//!
//! A small JSON file beside the store. It is only a hint: a missing, unreadable or stale file
//! costs a compression, never a wrong push (every entry is checked against the registry).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Entries kept at most; the least recently used go first.
const MAX_ENTRIES: usize = 20_000;

/// A compressed blob the registry was seen to hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Digest of the compressed blob.
    pub digest: String,
    /// Its size.
    pub size: u64,
    /// A repository of the registry that holds it (a mount source).
    pub repository: String,
    /// Last use, seconds since the epoch.
    #[serde(default)]
    pub used: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    version: u32,
    entries: BTreeMap<String, Entry>,
}

/// The cache, loaded in memory for one push.
#[derive(Debug)]
pub struct BlobCache {
    path: PathBuf,
    entries: BTreeMap<String, Entry>,
    changed: BTreeMap<String, Entry>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn key(registry: &str, compression: &str, level: i32, diff_id: &str) -> String {
    format!("{registry}|{compression}:{level}|{diff_id}")
}

fn read(path: &Path) -> BTreeMap<String, Entry> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<File>(&bytes).ok())
        .filter(|file| file.version == 1)
        .map(|file| file.entries)
        .unwrap_or_default()
}

impl BlobCache {
    /// The cache file that goes with the store at `store`: `blob-cache.json` in its directory.
    pub fn beside(store: &Path) -> PathBuf {
        store.parent().unwrap_or(Path::new(".")).join("blob-cache.json")
    }

    /// Loads the cache at `path` (empty when absent or unreadable).
    pub fn load(path: &Path) -> BlobCache {
        BlobCache { path: path.to_path_buf(), entries: read(path), changed: BTreeMap::new() }
    }

    /// The blob of `diff_id` compressed with `compression` at `level` on `registry`.
    pub fn get(&self, registry: &str, compression: &str, level: i32, diff_id: &str) -> Option<&Entry> {
        let key = key(registry, compression, level, diff_id);
        self.changed.get(&key).or_else(|| self.entries.get(&key))
    }

    /// Records that `registry`'s `repository` holds `blob` (digest and size), the blob of `diff_id`.
    pub fn insert(
        &mut self,
        registry: &str,
        compression: &str,
        level: i32,
        diff_id: &str,
        blob: (&str, u64),
        repository: &str,
    ) {
        let (digest, size) = blob;
        let entry = Entry { digest: digest.to_string(), size, repository: repository.to_string(), used: now() };
        self.changed.insert(key(registry, compression, level, diff_id), entry);
    }

    /// Writes the changes, merged into what the file holds now (another push may have written
    /// it meanwhile), atomically and readable by the owner only.
    pub fn save(&self) -> std::io::Result<()> {
        if self.changed.is_empty() {
            return Ok(());
        }
        let mut entries = read(&self.path);
        entries.extend(self.changed.iter().map(|(k, v)| (k.clone(), v.clone())));
        if entries.len() > MAX_ENTRIES {
            let mut by_use: Vec<(u64, String)> = entries.iter().map(|(k, v)| (v.used, k.clone())).collect();
            by_use.sort();
            for (_, key) in by_use.into_iter().take(entries.len() - MAX_ENTRIES) {
                entries.remove(&key);
            }
        }
        let bytes = serde_json::to_vec(&File { version: 1, entries }).map_err(std::io::Error::other)?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = self.path.with_extension(format!("json.{}.tmp", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        {
            use std::io::Write;
            let mut file = options.open(&temporary)?;
            file.write_all(&bytes)?;
        }
        std::fs::rename(&temporary, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_blobs_per_registry_compression_and_level() {
        let dir = std::env::temp_dir().join(format!("zenreg-cache-test-{}", std::process::id()));
        let path = dir.join("blob-cache.json");
        let mut cache = BlobCache::load(&path);
        cache.insert("r:5000", "gzip", 1, "sha256:d", ("sha256:c", 10), "team/app");
        cache.save().unwrap();
        let cache = BlobCache::load(&path);
        assert_eq!(cache.get("r:5000", "gzip", 1, "sha256:d").map(|e| e.digest.as_str()), Some("sha256:c"));
        assert!(cache.get("r:5000", "gzip", 6, "sha256:d").is_none());
        assert!(cache.get("r:5000", "zstd", 1, "sha256:d").is_none());
        assert!(cache.get("other:5000", "gzip", 1, "sha256:d").is_none());
        std::fs::write(&path, b"not json").unwrap();
        assert!(BlobCache::load(&path).get("r:5000", "gzip", 1, "sha256:d").is_none());
        let _ = std::fs::remove_dir_all(dir);
    }
}
