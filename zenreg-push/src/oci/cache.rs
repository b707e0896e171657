//! The blob cache, as Docker keeps one: a layer's diff id → the digest and size of its
//! compressed blob, per registry and compression (and level, which changes the bytes), with the
//! repository that holds it. A warm push of an image whose layers went up before looks the
//! blobs up here and asks the registry (`HEAD`, or a cross-repository mount) instead of
//! exporting and compressing anything.
//!
//! It also keeps small image configs by image id (the id is their digest), so that a warm push
//! builds its manifest without reading the config back from the registry; and, for images whose
//! id is not their config's digest (the containerd image store's), the manifest pushed.
//!
//! A small JSON file beside the store. It is only a hint: a missing, unreadable or stale file
//! costs a compression, never a wrong push (every entry is checked against the registry, and a
//! config against its digest).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Entries kept at most; the least recently used go first.
const MAX_ENTRIES: usize = 20_000;

/// Image configs kept at most, and the largest one kept (configs are a few KiB).
const MAX_CONFIGS: usize = 500;
const MAX_CONFIG_BYTES: usize = 64 * 1024;

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

/// An image config, as the bytes its digest (the image id) is computed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Config {
    json: String,
    #[serde(default)]
    used: u64,
}

/// The manifest pushed for an image whose id is not its config's digest (the containerd image
/// store's ids are the digest of the image's manifest or index), so that a warm push sends the
/// very manifest the first push sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The manifest's media type.
    pub media_type: String,
    /// The manifest, as pushed.
    pub manifest: String,
    /// The digest of the image's config.
    pub config: String,
    /// A repository of the registry that holds the image's blobs (a mount source).
    pub repository: String,
    /// Last use, seconds since the epoch.
    #[serde(default)]
    pub used: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    version: u32,
    entries: BTreeMap<String, Entry>,
    #[serde(default)]
    configs: BTreeMap<String, Config>,
    #[serde(default)]
    images: BTreeMap<String, ImageRecord>,
}

/// The cache, loaded in memory for one push.
#[derive(Debug)]
pub struct BlobCache {
    path: PathBuf,
    entries: BTreeMap<String, Entry>,
    configs: BTreeMap<String, Config>,
    images: BTreeMap<String, ImageRecord>,
    changed: BTreeMap<String, Entry>,
    changed_configs: BTreeMap<String, Config>,
    changed_images: BTreeMap<String, ImageRecord>,
    /// With an adaptive level, a blob compressed at any of these levels is as good as one at
    /// the level chosen now: the registry holds it, and its digest is its own.
    any_level: Option<std::ops::RangeInclusive<i32>>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn key(registry: &str, compression: &str, level: i32, diff_id: &str) -> String {
    format!("{registry}|{compression}:{level}|{diff_id}")
}

fn read(path: &Path) -> File {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<File>(&bytes).ok())
        .filter(|file| file.version == 1)
        .unwrap_or_default()
}

/// Drops the least recently used of `map` beyond `max`.
fn trim<V>(map: &mut BTreeMap<String, V>, max: usize, used: impl Fn(&V) -> u64) {
    if map.len() > max {
        let mut by_use: Vec<(u64, String)> = map.iter().map(|(k, v)| (used(v), k.clone())).collect();
        by_use.sort();
        for (_, key) in by_use.into_iter().take(map.len() - max) {
            map.remove(&key);
        }
    }
}

impl BlobCache {
    /// The cache file that goes with the store at `store`: `blob-cache.json` in its directory.
    pub fn beside(store: &Path) -> PathBuf {
        store.parent().unwrap_or(Path::new(".")).join("blob-cache.json")
    }

    /// Loads the cache at `path` (empty when absent or unreadable).
    pub fn load(path: &Path) -> BlobCache {
        let file = read(path);
        BlobCache {
            path: path.to_path_buf(),
            entries: file.entries,
            configs: file.configs,
            images: file.images,
            changed: BTreeMap::new(),
            changed_configs: BTreeMap::new(),
            changed_images: BTreeMap::new(),
            any_level: None,
        }
    }

    /// The same cache, whose lookups take a blob (or image) of any level in `levels` when the
    /// level asked for has none: the most recently used one.
    pub fn with_any_level(mut self, levels: std::ops::RangeInclusive<i32>) -> BlobCache {
        self.any_level = Some(levels);
        self
    }

    /// What `lookup` finds at `level`, else (with any level allowed) the most recently used
    /// of what it finds at the other levels.
    fn at_level<'a, T>(
        &'a self,
        level: i32,
        lookup: impl Fn(i32) -> Option<&'a T>,
        used: impl Fn(&T) -> u64,
    ) -> Option<&'a T> {
        lookup(level).or_else(|| {
            let levels = self.any_level.clone()?;
            levels.filter(|l| *l != level).filter_map(&lookup).max_by_key(|found| used(found))
        })
    }

    /// The manifest pushed to `registry` for image `id` with `compression` at `level`, when
    /// kept and still matching the config it names.
    pub fn image(&self, registry: &str, compression: &str, level: i32, id: &str) -> Option<&ImageRecord> {
        self.at_level(
            level,
            |level| {
                let key = key(registry, compression, level, id);
                self.changed_images.get(&key).or_else(|| self.images.get(&key))
            },
            |record| record.used,
        )
    }

    /// Keeps the manifest pushed to `registry` for image `id` (manifests over 64 KiB are not kept).
    #[allow(clippy::too_many_arguments)]
    pub fn insert_image(
        &mut self,
        registry: &str,
        compression: &str,
        level: i32,
        id: &str,
        manifest: (&str, &[u8]),
        config: &str,
        repository: &str,
    ) {
        let (media_type, bytes) = manifest;
        let Ok(json) = std::str::from_utf8(bytes) else { return };
        if bytes.len() > MAX_CONFIG_BYTES {
            return;
        }
        let record = ImageRecord {
            media_type: media_type.to_string(),
            manifest: json.to_string(),
            config: config.to_string(),
            repository: repository.to_string(),
            used: now(),
        };
        self.changed_images.insert(key(registry, compression, level, id), record);
    }

    /// The blob of `diff_id` compressed with `compression` at `level` on `registry`.
    pub fn get(&self, registry: &str, compression: &str, level: i32, diff_id: &str) -> Option<&Entry> {
        self.at_level(
            level,
            |level| {
                let key = key(registry, compression, level, diff_id);
                self.changed.get(&key).or_else(|| self.entries.get(&key))
            },
            |entry| entry.used,
        )
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

    /// The config of image `id` (its exact bytes), when kept and still matching its digest.
    pub fn config(&self, id: &str) -> Option<Vec<u8>> {
        let config = self.changed_configs.get(id).or_else(|| self.configs.get(id))?;
        (super::digest::sha256(config.json.as_bytes()) == id).then(|| config.json.clone().into_bytes())
    }

    /// Keeps the config of image `id`; configs that are not UTF-8 (JSON always is), larger than
    /// 64 KiB, or not matching `id` are not kept.
    pub fn insert_config(&mut self, id: &str, bytes: &[u8]) {
        if bytes.len() > MAX_CONFIG_BYTES || super::digest::sha256(bytes) != id {
            return;
        }
        let Ok(json) = std::str::from_utf8(bytes) else { return };
        // A config kept and used within the day stays as it is: a warm push that changes
        // nothing then writes nothing (the file can hold thousands of blobs).
        let now = now();
        if self.configs.get(id).is_some_and(|kept| kept.json == json && now.saturating_sub(kept.used) < 24 * 60 * 60) {
            return;
        }
        self.changed_configs.insert(id.to_string(), Config { json: json.to_string(), used: now });
    }

    /// Writes the changes, merged into what the file holds now (another push may have written
    /// it meanwhile), atomically and readable by the owner only.
    pub fn save(&self) -> std::io::Result<()> {
        if self.changed.is_empty() && self.changed_configs.is_empty() && self.changed_images.is_empty() {
            return Ok(());
        }
        let File { mut entries, mut configs, mut images, .. } = read(&self.path);
        entries.extend(self.changed.iter().map(|(k, v)| (k.clone(), v.clone())));
        trim(&mut entries, MAX_ENTRIES, |e| e.used);
        configs.extend(self.changed_configs.iter().map(|(k, v)| (k.clone(), v.clone())));
        trim(&mut configs, MAX_CONFIGS, |c| c.used);
        images.extend(self.changed_images.iter().map(|(k, v)| (k.clone(), v.clone())));
        trim(&mut images, MAX_CONFIGS, |i| i.used);
        let bytes =
            serde_json::to_vec(&File { version: 1, entries, configs, images }).map_err(std::io::Error::other)?;
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
        // Configs are kept by id, and only when the bytes are what the id says.
        let mut cache = BlobCache::load(&path);
        let config = br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let id = super::super::digest::sha256(config);
        cache.insert_config(&id, config);
        cache.insert_config("sha256:0000", config);
        cache.save().unwrap();
        let cache = BlobCache::load(&path);
        assert_eq!(cache.config(&id).as_deref(), Some(&config[..]));
        assert!(cache.config("sha256:0000").is_none());
        assert!(cache.get("r:5000", "gzip", 1, "sha256:d").is_some(), "saving configs lost the blobs");
        // Kept today: keeping it again changes nothing, so nothing is written.
        let mut again = BlobCache::load(&path);
        again.insert_config(&id, config);
        assert!(again.changed_configs.is_empty());
        // A config edited in the file no longer matches its id and is not used.
        let text = std::fs::read_to_string(&path).unwrap().replace("layers", "Layers");
        std::fs::write(&path, text).unwrap();
        assert!(BlobCache::load(&path).config(&id).is_none());
        // The manifest pushed for an image whose id is not its config's digest.
        let mut cache = BlobCache::load(&path);
        cache.insert_image("r:5000", "gzip", 1, "sha256:index", ("application/x", b"{}"), &id, "team/app");
        cache.save().unwrap();
        let cache = BlobCache::load(&path);
        let record = cache.image("r:5000", "gzip", 1, "sha256:index").unwrap();
        assert_eq!((record.manifest.as_str(), record.config.as_str()), ("{}", id.as_str()));
        assert!(cache.image("r:5000", "zstd", 1, "sha256:index").is_none());
        std::fs::write(&path, b"not json").unwrap();
        assert!(BlobCache::load(&path).get("r:5000", "gzip", 1, "sha256:d").is_none());
        let _ = std::fs::remove_dir_all(dir);
    }
}
