//! The layers of a classic-store Docker Engine (`overlay2`), read from its own store instead
//! of its export.
//!
//! A classic-store Engine answers `GET /images/{id}/get` only after writing the whole export to
//! a temporary directory: seconds of an idle link before the first byte (5–6 s for a 607 MB
//! image here). `docker push` itself reads a layer from the store: the layer's tar is rebuilt
//! from its tar-split file (`layerdb/sha256/<chain id>/tar-split.json.gz`: every header and
//! padding byte of the original tar, and the name and size of each file's content) and the
//! files of its `overlay2/<cache id>/diff` directory. This module does the same, so each layer
//! is read on its own, at once, several at a time, byte for byte the tar `docker save` writes
//! (the diff id the image's config lists, which the push checks).
//!
//! It needs read access to the Engine's root directory, so it serves a local daemon run by the
//! same user or by root when zenreg runs as root, and nothing else: any layer it cannot find or
//! read sends the push back to the export.

use crate::oci::digest::sha256;
use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

/// Whether the Engine's store may be read instead of its export: `auto` (the default) reads
/// it when it can, `off` reads the export for every push.
pub const ENV: &str = "ZENREG_LAYER_STORE";

/// What [`ENV`] says: whether to read the store; an error names a value that is neither.
pub fn enabled_from_env() -> Result<bool, String> {
    match std::env::var(ENV).as_deref() {
        Err(_) | Ok("" | "auto") => Ok(true),
        Ok("off") => {
            tracing::debug!(target: "zenreg_push::layerstore", "{ENV}=off: the export is read");
            Ok(false)
        }
        Ok(other) => Err(format!("{ENV} is `{other}`: use `auto` (read the Engine's store when it can) or `off`")),
    }
}

/// The largest image config read.
const MAX_CONFIG: u64 = 16 * 1024 * 1024;

/// Where an image of an Engine lies in its store: the Engine's root directory (`DockerRootDir`)
/// and the image's diff ids, base first, repeats kept (they make its layers' chain ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInStore {
    root: PathBuf,
    diff_ids: Vec<String>,
}

/// An image of the store, its config read and each layer found.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// The config's bytes (their digest is the image id).
    pub config: Bytes,
    /// Its layers, base first, each once.
    pub layers: Vec<StoredLayer>,
}

/// One layer of the store.
#[derive(Debug, Clone)]
pub struct StoredLayer {
    /// What its tar hashes to.
    pub diff_id: String,
    /// The size of its files (the store's `size`): about the tar's.
    pub size: u64,
    tar_split: PathBuf,
    files: PathBuf,
}

impl ImageInStore {
    /// The image whose inspect gave `GraphDriver` `driver` with `UpperDir` `upper_dir` and
    /// `RootFS.Layers` `diff_ids`: `overlay2` keeps its top layer's files in
    /// `<root>/overlay2/<cache id>/diff`. `None` for another driver, or a root this process
    /// cannot see.
    pub fn of_graph_driver(driver: &str, upper_dir: &str, diff_ids: Vec<String>) -> Option<ImageInStore> {
        if driver != "overlay2" {
            return None;
        }
        let root = Path::new(upper_dir).parent()?.parent()?.parent()?;
        let image = ImageInStore { root: root.to_path_buf(), diff_ids };
        image.layerdb().is_dir().then_some(image)
    }

    fn layerdb(&self) -> PathBuf {
        self.root.join("image/overlay2/layerdb/sha256")
    }

    /// The image, whose id is `id` (`sha256:…`): its config, checked against the id, and where
    /// each layer's tar-split and files are. An error names what is missing or unreadable;
    /// nothing of a layer's content is read yet.
    pub fn read(&self, id: &str) -> Result<StoredImage, String> {
        let hex = hex_of(id).ok_or_else(|| format!("`{id}` is not a sha256 image id"))?;
        let config_path = self.root.join("image/overlay2/imagedb/content/sha256").join(hex);
        let config = read_small(&config_path, MAX_CONFIG)?;
        if sha256(&config) != id {
            return Err(format!("{} does not hash to the image id {id}", config_path.display()));
        }
        let mut layers: Vec<StoredLayer> = Vec::new();
        let mut chain = String::new();
        for diff_id in &self.diff_ids {
            hex_of(diff_id).ok_or_else(|| format!("`{diff_id}` is not a sha256 diff id"))?;
            chain = if chain.is_empty() { diff_id.clone() } else { sha256(format!("{chain} {diff_id}").as_bytes()) };
            if layers.iter().any(|l| &l.diff_id == diff_id) {
                continue;
            }
            layers.push(self.layer(&chain, diff_id)?);
        }
        Ok(StoredImage { config: Bytes::from(config), layers })
    }

    fn layer(&self, chain_id: &str, diff_id: &str) -> Result<StoredLayer, String> {
        let dir = self.layerdb().join(hex_of(chain_id).unwrap_or_default());
        let text = |name: &str| -> Result<String, String> {
            let bytes = read_small(&dir.join(name), 4096)?;
            String::from_utf8(bytes)
                .map(|s| s.trim().to_string())
                .map_err(|_| format!("{}/{name} is not text", dir.display()))
        };
        let stored = text("diff")?;
        if stored != diff_id {
            return Err(format!("layer {chain_id} of the store holds {stored}, not {diff_id}"));
        }
        let cache_id = text("cache-id")?;
        if cache_id.is_empty() || cache_id.contains('/') || cache_id.starts_with('.') {
            return Err(format!("{}/cache-id is not a directory name", dir.display()));
        }
        let size = text("size")?.parse::<u64>().unwrap_or(0);
        let tar_split = dir.join("tar-split.json.gz");
        // A layer without its tar-split (an empty file: layers migrated from old Engines) cannot
        // be rebuilt; the export can.
        let file = std::fs::File::open(&tar_split).map_err(|e| format!("{}: {e}", tar_split.display()))?;
        let mut first = [0u8; 1];
        match flate2::read::GzDecoder::new(file).read(&mut first) {
            Ok(1) => {}
            Ok(_) => return Err(format!("{} is empty", tar_split.display())),
            Err(e) => return Err(format!("{}: {e}", tar_split.display())),
        }
        let files = self.root.join("overlay2").join(cache_id).join("diff");
        if !files.is_dir() {
            return Err(format!("{} is not a directory", files.display()));
        }
        Ok(StoredLayer { diff_id: diff_id.to_string(), size, tar_split, files })
    }
}

impl StoredLayer {
    /// The directory of its files.
    pub fn files(&self) -> &Path {
        &self.files
    }

    /// The layer's tar, rebuilt as it streams: headers and padding from the tar-split, file
    /// contents from the layer's directory.
    pub fn open(&self) -> std::io::Result<TarSplitReader> {
        let file = std::fs::File::open(&self.tar_split)?;
        let entries = std::io::BufReader::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
        let files = self.files.canonicalize()?;
        Ok(TarSplitReader { entries, files, checked: None, line: String::new(), current: Current::None })
    }
}

fn hex_of(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// A regular file's bytes, refused past `limit`.
fn read_small(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let broken = |e: std::io::Error| format!("{}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(broken)?;
    if !file.metadata().map_err(broken)?.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(broken)?;
    if bytes.len() as u64 > limit {
        return Err(format!("{} is larger than {limit} bytes", path.display()));
    }
    Ok(bytes)
}

/// One line of a tar-split file (the format of `github.com/vbatts/tar-split`'s `storage.Entry`):
/// type 1 names a file whose content follows, type 2 carries raw tar bytes.
#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    name: Option<String>,
    /// The name's bytes when they are not UTF-8 (base64).
    #[serde(default)]
    name_raw: Option<String>,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    payload: Option<String>,
}

enum Current {
    None,
    Bytes(Vec<u8>, usize),
    File(std::fs::File, u64, PathBuf),
}

/// A layer's tar, rebuilt from its tar-split and its files (see [`StoredLayer::open`]).
pub struct TarSplitReader {
    entries: std::io::BufReader<flate2::read::GzDecoder<std::io::BufReader<std::fs::File>>>,
    /// The layer's directory, canonical.
    files: PathBuf,
    /// The last directory found to lie inside `files`.
    checked: Option<PathBuf>,
    line: String,
    current: Current,
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

impl TarSplitReader {
    /// The file of entry `name`, opened when it is a regular file inside the layer's directory
    /// (no `..`, no absolute path, no symbolic link on the way).
    fn open_file(&mut self, name: &Path) -> std::io::Result<std::fs::File> {
        use std::path::Component;
        if !name.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) {
            return Err(invalid(format!("tar-split names `{}`, outside its layer", name.display())));
        }
        let path = self.files.join(name);
        let parent = path.parent().unwrap_or(&self.files).to_path_buf();
        if self.checked.as_ref() != Some(&parent) {
            if !parent.canonicalize()?.starts_with(&self.files) {
                return Err(invalid(format!("`{}` lies outside its layer", name.display())));
            }
            self.checked = Some(parent);
        }
        if !std::fs::symlink_metadata(&path)?.is_file() {
            return Err(invalid(format!("`{}` of the layer is not a regular file", name.display())));
        }
        std::fs::File::open(&path)
    }

    /// Moves to the next entry; `false` at the end.
    fn next_entry(&mut self) -> std::io::Result<bool> {
        loop {
            self.line.clear();
            if self.entries.read_line(&mut self.line)? == 0 {
                return Ok(false);
            }
            if self.line.trim().is_empty() {
                continue;
            }
            let entry: Entry = serde_json::from_str(&self.line)
                .map_err(|e| invalid(format!("a tar-split line is not an entry: {e}")))?;
            let base64 = |text: &str| {
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|e| invalid(format!("a tar-split payload is not base64: {e}")))
            };
            match entry.kind {
                2 => {
                    let bytes = base64(entry.payload.as_deref().unwrap_or_default())?;
                    self.current = Current::Bytes(bytes, 0);
                    return Ok(true);
                }
                1 if entry.size == 0 => continue,
                1 => {
                    let name = match (&entry.name_raw, &entry.name) {
                        (Some(raw), _) => {
                            use std::os::unix::ffi::OsStringExt;
                            PathBuf::from(std::ffi::OsString::from_vec(base64(raw)?))
                        }
                        (None, Some(name)) => PathBuf::from(name),
                        (None, None) => return Err(invalid("a tar-split file entry has no name".into())),
                    };
                    let file = self.open_file(&name)?;
                    self.current = Current::File(file, entry.size, name);
                    return Ok(true);
                }
                other => return Err(invalid(format!("a tar-split entry of unknown type {other}"))),
            }
        }
    }
}

impl Read for TarSplitReader {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if buffer.is_empty() {
            return Ok(0);
        }
        loop {
            match &mut self.current {
                Current::Bytes(bytes, at) if *at < bytes.len() => {
                    let rest = bytes.get(*at..).unwrap_or_default();
                    let n = rest.len().min(buffer.len());
                    buffer.get_mut(..n).unwrap_or_default().copy_from_slice(rest.get(..n).unwrap_or_default());
                    *at += n;
                    return Ok(n);
                }
                Current::File(file, left, name) if *left > 0 => {
                    let want = buffer.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    let n = file.read(buffer.get_mut(..want).unwrap_or_default())?;
                    if n == 0 {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!(
                                "`{}` of the layer is {left} bytes shorter than its tar-split says",
                                name.display()
                            ),
                        ));
                    }
                    *left -= n as u64;
                    return Ok(n);
                }
                _ => {
                    if !self.next_entry()? {
                        self.current = Current::None;
                        return Ok(0);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// An empty directory of this test's own.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("zenreg-layerstore-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn segment(bytes: &[u8]) -> String {
        format!(
            "{{\"type\":2,\"payload\":\"{}\",\"position\":0}}\n",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    }

    fn file_entry(name: &str, size: u64) -> String {
        format!("{{\"type\":1,\"name\":\"{name}\",\"size\":{size},\"payload\":null,\"position\":1}}\n")
    }

    fn layer(dir: &Path, lines: &str) -> StoredLayer {
        let files = dir.join("diff");
        std::fs::create_dir_all(&files).unwrap();
        let tar_split = dir.join("tar-split.json.gz");
        let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(&tar_split).unwrap(), Default::default());
        gz.write_all(lines.as_bytes()).unwrap();
        gz.finish().unwrap();
        StoredLayer { diff_id: String::new(), size: 0, tar_split, files }
    }

    fn read_all(layer: &StoredLayer) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        layer.open()?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn rebuilds_segments_and_file_contents_in_order() {
        let dir = scratch("order");
        let lines =
            [segment(b"HEAD1"), file_entry("etc/a", 5), segment(b"PAD"), file_entry("empty", 0), segment(b"END")]
                .concat();
        let layer = layer(&dir, &lines);
        std::fs::create_dir_all(layer.files.join("etc")).unwrap();
        std::fs::write(layer.files.join("etc/a"), b"hello").unwrap();
        assert_eq!(read_all(&layer).unwrap(), b"HEAD1helloPADEND");
    }

    #[test]
    fn a_short_file_is_an_error_not_a_short_tar() {
        let dir = scratch("short");
        let layer = layer(&dir, &[file_entry("a", 10), segment(b"END")].concat());
        std::fs::write(layer.files.join("a"), b"abc").unwrap();
        let error = read_all(&layer).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof, "{error}");
        assert!(error.to_string().contains("7 bytes shorter"), "{error}");
    }

    #[test]
    fn names_outside_the_layer_or_through_a_link_are_refused() {
        let dir = scratch("outside");
        std::fs::write(dir.join("secret"), b"secret").unwrap();
        for name in ["../secret", "/etc/passwd", "link/secret", "direct"] {
            let layer = layer(&dir, &file_entry(name, 6));
            let _ = std::os::unix::fs::symlink(&dir, layer.files.join("link"));
            let _ = std::os::unix::fs::symlink(dir.join("secret"), layer.files.join("direct"));
            let error = read_all(&layer).unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidData, "{name}: {error}");
        }
    }

    fn write_gz(path: &Path, text: &str) {
        let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), Default::default());
        gz.write_all(text.as_bytes()).unwrap();
        gz.finish().unwrap();
    }

    #[test]
    fn layers_are_found_by_their_chain_ids_and_one_without_tar_split_is_refused() {
        let root = scratch("store");
        let config = br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let id = sha256(config);
        let content = root.join("image/overlay2/imagedb/content/sha256");
        std::fs::create_dir_all(&content).unwrap();
        std::fs::write(content.join(hex_of(&id).unwrap()), config).unwrap();
        let (a, b) = (format!("sha256:{}", "a".repeat(64)), format!("sha256:{}", "b".repeat(64)));
        let chains = [a.clone(), sha256(format!("{a} {b}").as_bytes())];
        let mut tar_splits = Vec::new();
        for (i, (diff_id, chain)) in [&a, &b].into_iter().zip(&chains).enumerate() {
            let dir = root.join("image/overlay2/layerdb/sha256").join(hex_of(chain).unwrap());
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("diff"), diff_id).unwrap();
            std::fs::write(dir.join("cache-id"), format!("cache{i}\n")).unwrap();
            std::fs::write(dir.join("size"), "1").unwrap();
            std::fs::create_dir_all(root.join(format!("overlay2/cache{i}/diff"))).unwrap();
            tar_splits.push(dir.join("tar-split.json.gz"));
        }
        write_gz(&tar_splits[0], &segment(b"x"));
        write_gz(&tar_splits[1], "");
        let upper = root.join("overlay2/cache1/diff");
        let image = ImageInStore::of_graph_driver("overlay2", upper.to_str().unwrap(), vec![a, b.clone()]).unwrap();
        let refused = image.read(&id).unwrap_err();
        assert!(refused.ends_with("tar-split.json.gz is empty"), "{refused}");

        write_gz(&tar_splits[1], &segment(b"y"));
        let stored = image.read(&id).unwrap();
        assert_eq!(&stored.config[..], config);
        assert_eq!(stored.layers.len(), 2);
        assert_eq!(stored.layers[1].diff_id, b);
        assert_eq!(read_all(&stored.layers[1]).unwrap(), b"y");
        // A config that is not the image's.
        let other = format!("sha256:{}", "c".repeat(64));
        std::fs::write(content.join(hex_of(&other).unwrap()), config).unwrap();
        assert!(image.read(&other).unwrap_err().contains("does not hash to the image id"));
    }

    #[test]
    fn a_store_is_found_only_for_overlay2_with_a_layerdb() {
        let dir = scratch("found");
        let upper = dir.join("overlay2/abc/diff");
        let upper = upper.to_str().unwrap();
        let ids = vec![format!("sha256:{}", "a".repeat(64))];
        assert_eq!(ImageInStore::of_graph_driver("overlay2", upper, ids.clone()), None);
        std::fs::create_dir_all(dir.join("image/overlay2/layerdb/sha256")).unwrap();
        assert_eq!(ImageInStore::of_graph_driver("vfs", upper, ids.clone()), None);
        assert_eq!(
            ImageInStore::of_graph_driver("overlay2", upper, ids.clone()),
            Some(ImageInStore { root: dir.clone(), diff_ids: ids })
        );
    }
}
