//! Small JSON files that pushes keep beside the blob cache (`link-cache.json`,
//! `engine-cache.json`): what a push measured, for the next one to choose by. A file that cannot
//! be read is an empty memory, and one that cannot be written costs the next push a measurement,
//! nothing more; so neither is an error.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// A memory of a few entries is a few KiB; anything larger is not ours.
const LIMIT: u64 = 1024 * 1024;

/// The memory in `path`, or an empty one when the file is missing, unreadable, too large or not
/// what it should be.
pub fn load<T: DeserializeOwned + Default>(path: &Path) -> T {
    std::fs::File::open(path)
        .ok()
        .and_then(|file| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::Read::take(file, LIMIT), &mut text).ok()?;
            serde_json::from_str(&text).ok()
        })
        .unwrap_or_default()
}

/// Writes `memory` to `path` atomically (a temporary file renamed over it), so that a reader
/// never sees half of it.
pub fn save<T: Serialize>(path: &Path, memory: &T) -> std::io::Result<()> {
    let text = serde_json::to_vec_pretty(memory).map_err(std::io::Error::other)?;
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}
