//! Where the image comes from: an OCI image layout (`oci:DIR[:REF]`), a `docker save` archive
//! (`docker-archive:FILE[:NAME]`), or the Docker Engine's export of a local image (the same
//! archive format, streamed). A layout's files must be regular files and are never read past
//! the size their descriptor gives. The Engine's export is read in one pass: small entries
//! (configs, `manifest.json`) are kept in memory, large ones (layers) go to a callback as they
//! stream by, so nothing is ever written to a temporary file.

use crate::oci::digest::is_sha256;
use crate::oci::error::OciError;
use crate::oci::media::{self, Descriptor, Index};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Archive entries up to this size are kept in memory; larger ones are layers. A small layer
/// kept in memory is compressed once the archive's `manifest.json` names it.
pub const SMALL: u64 = 1024 * 1024;
/// The largest index or manifest read from a layout (what distribution accepts).
const MAX_DOCUMENT: u64 = 4 * 1024 * 1024;

/// An image source given with `--from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An OCI image layout directory and, optionally, the `org.opencontainers.image.ref.name`
    /// of the manifest to push.
    OciLayout {
        /// The layout directory.
        dir: PathBuf,
        /// The reference inside it.
        reference: Option<String>,
    },
    /// A `docker save` archive.
    DockerArchive {
        /// The tar file.
        file: PathBuf,
        /// The image to push when the archive holds several (`RepoTags`, the image name).
        reference: Option<String>,
    },
}

impl Source {
    /// Parses `oci:DIR[:REF]` or `docker-archive:FILE`.
    pub fn parse(text: &str) -> Result<Source, String> {
        if let Some(rest) = text.strip_prefix("oci:") {
            // `:REF` only when what follows the last colon is not a path.
            let (dir, reference) = match rest.rsplit_once(':') {
                Some((dir, reference)) if !reference.contains('/') && !dir.is_empty() => {
                    (dir, Some(reference.to_string()).filter(|r| !r.is_empty()))
                }
                _ => (rest, None),
            };
            if dir.is_empty() {
                return Err("`oci:` needs a directory: `oci:DIR[:REF]`".into());
            }
            return Ok(Source::OciLayout { dir: PathBuf::from(dir), reference });
        }
        if let Some(rest) = text.strip_prefix("docker-archive:") {
            // `FILE:NAME` as skopeo writes it (the name may hold colons: a port, a tag), unless
            // the whole text is a file that exists.
            let (file, reference) = match rest.split_once(':') {
                Some((file, reference)) if !Path::new(rest).exists() && !file.is_empty() => {
                    (file, Some(reference.to_string()).filter(|r| !r.is_empty()))
                }
                _ => (rest, None),
            };
            if file.is_empty() {
                return Err("`docker-archive:` needs a file: `docker-archive:FILE[:NAME]`".into());
            }
            return Ok(Source::DockerArchive { file: PathBuf::from(file), reference });
        }
        Err(format!("unknown image source `{text}` (`oci:DIR[:REF]` or `docker-archive:FILE[:NAME]`)"))
    }

    /// How the source is named in messages.
    pub fn name(&self) -> String {
        match self {
            Source::OciLayout { dir, reference: Some(r) } => format!("oci:{}:{r}", dir.display()),
            Source::OciLayout { dir, reference: None } => format!("oci:{}", dir.display()),
            Source::DockerArchive { file, reference: Some(r) } => format!("docker-archive:{}:{r}", file.display()),
            Source::DockerArchive { file, reference: None } => format!("docker-archive:{}", file.display()),
        }
    }
}

/// A manifest or index of a layout, with its bytes (pushed byte-exact).
#[derive(Debug, Clone)]
pub struct Document {
    /// Its descriptor.
    pub descriptor: Descriptor,
    /// Its bytes.
    pub bytes: Bytes,
}

/// What a layout holds for one push: the blobs (configs and layers, each once), the child
/// manifests of an index (pushed by digest first), and the top document (pushed by tag).
#[derive(Debug, Clone)]
pub struct LayoutImage {
    /// Blob descriptors, each digest once.
    pub blobs: Vec<Descriptor>,
    /// Child manifests of an index, in order.
    pub children: Vec<Document>,
    /// The manifest or index pushed under the tag.
    pub top: Document,
}

/// The path of blob `digest` in layout `dir`.
pub fn blob_path(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs").join("sha256").join(digest.trim_start_matches("sha256:"))
}

fn read_document(dir: &Path, descriptor: &Descriptor, name: &str) -> Result<Bytes, OciError> {
    if !is_sha256(&descriptor.digest) {
        return Err(source_error(name, format!("unsupported digest `{}`", descriptor.digest)));
    }
    if descriptor.size > MAX_DOCUMENT {
        return Err(source_error(
            name,
            format!("{} is {} bytes, too large for a manifest", descriptor.digest, descriptor.size),
        ));
    }
    let path = blob_path(dir, &descriptor.digest);
    let bytes = read_regular(&path, descriptor.size, name)?;
    if bytes.len() as u64 != descriptor.size {
        return Err(source_error(
            name,
            format!("blob {} is {} bytes, its descriptor says {}", descriptor.digest, bytes.len(), descriptor.size),
        ));
    }
    if crate::oci::digest::sha256(&bytes) != descriptor.digest {
        return Err(source_error(name, format!("blob {} does not match its digest", descriptor.digest)));
    }
    Ok(Bytes::from(bytes))
}

/// Refuses anything but a regular file (a FIFO would hang a read, a device never end one),
/// looked at before opening; links are followed, so a link to `/dev/zero` is refused too.
pub fn regular_file(path: &Path, name: &str) -> Result<u64, OciError> {
    let metadata = std::fs::metadata(path).map_err(|source| OciError::Io { path: path.to_path_buf(), source })?;
    if !metadata.is_file() {
        return Err(source_error(name, format!("{} is not a regular file", path.display())));
    }
    Ok(metadata.len())
}

/// The bytes of regular file `path`, at most `limit` + 1 (one more than allowed shows that the
/// file is longer than it should be, without reading the rest).
fn read_regular(path: &Path, limit: u64, name: &str) -> Result<Vec<u8>, OciError> {
    regular_file(path, name)?;
    let io = |source| OciError::Io { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    Ok(bytes)
}

/// Whether blob file `path` hashes to `digest`; the error says what it hashes to instead.
pub async fn check_blob(path: &Path, digest: &str, name: &str) -> Result<(), OciError> {
    let file = path.to_path_buf();
    let actual = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut reader = std::fs::File::open(&file)?;
        let mut hasher = crate::oci::digest::Hasher::new();
        let mut buffer = vec![0u8; 1024 * 1024];
        loop {
            match std::io::Read::read(&mut reader, &mut buffer)? {
                0 => return Ok(hasher.finish()),
                n => hasher.update(buffer.get(..n).unwrap_or_default()),
            }
        }
    })
    .await
    .map_err(|e| source_error(name, e.to_string()))?
    .map_err(|source| OciError::Io { path: path.to_path_buf(), source })?;
    if actual == digest {
        return Ok(());
    }
    Err(source_error(name, format!("blob {digest} does not match its digest: its content hashes to {actual}")))
}

fn source_error(name: &str, message: String) -> OciError {
    OciError::Source { source_name: name.to_string(), message }
}

/// Reads what to push from layout `dir`: the manifest named `reference`, else its only
/// manifest, else (several manifests) the layout's whole index.
pub fn read_layout(dir: &Path, reference: Option<&str>, name: &str) -> Result<LayoutImage, OciError> {
    let index_path = dir.join("index.json");
    let index_bytes = read_regular(&index_path, MAX_DOCUMENT, name)?;
    if index_bytes.len() as u64 > MAX_DOCUMENT {
        return Err(source_error(name, format!("index.json is larger than {MAX_DOCUMENT} bytes")));
    }
    let index: Index = serde_json::from_slice(&index_bytes)
        .map_err(|e| source_error(name, format!("index.json is not an OCI index: {e}")))?;
    let top = match reference {
        Some(reference) => {
            let matching: Vec<&Descriptor> = index
                .manifests
                .iter()
                .filter(|d| {
                    d.annotations.as_ref().and_then(|a| a.get("org.opencontainers.image.ref.name")).map(String::as_str)
                        == Some(reference)
                })
                .collect();
            match matching.as_slice() {
                [one] => {
                    let descriptor = (*one).clone();
                    Document { bytes: read_document(dir, &descriptor, name)?, descriptor }
                }
                [] => return Err(source_error(name, format!("no manifest is named `{reference}` in index.json"))),
                _ => {
                    return Err(source_error(name, format!("several manifests are named `{reference}` in index.json")));
                }
            }
        }
        None => match index.manifests.as_slice() {
            [one] => Document { bytes: read_document(dir, one, name)?, descriptor: one.clone() },
            [] => return Err(source_error(name, "index.json lists no manifest".into())),
            _ => {
                // The whole layout is one multi-platform image: push its index itself.
                let bytes = Bytes::from(index_bytes);
                let descriptor = Descriptor {
                    media_type: media::OCI_INDEX.to_string(),
                    digest: crate::oci::digest::sha256(&bytes),
                    size: bytes.len() as u64,
                    annotations: None,
                };
                Document { descriptor, bytes }
            }
        },
    };
    let mut image = LayoutImage { blobs: Vec::new(), children: Vec::new(), top: top.clone() };
    collect(dir, &top, name, &mut image, 0)?;
    Ok(image)
}

/// Adds the blobs (and, for an index, the child manifests) of `document`.
fn collect(dir: &Path, document: &Document, name: &str, image: &mut LayoutImage, depth: u32) -> Result<(), OciError> {
    let media_type =
        media::manifest_media_type(&document.bytes).unwrap_or_else(|| document.descriptor.media_type.clone());
    if media::is_index(&media_type) {
        if depth > 2 {
            return Err(source_error(name, "indexes nest too deeply".into()));
        }
        let index: Index = serde_json::from_slice(&document.bytes)
            .map_err(|e| source_error(name, format!("{} is not an index: {e}", document.descriptor.digest)))?;
        for child in index.manifests {
            let child = Document { bytes: read_document(dir, &child, name)?, descriptor: child };
            collect(dir, &child, name, image, depth + 1)?;
            if !image.children.iter().any(|c| c.descriptor.digest == child.descriptor.digest) {
                image.children.push(child);
            }
        }
        return Ok(());
    }
    let manifest: media::Manifest = serde_json::from_slice(&document.bytes)
        .map_err(|e| source_error(name, format!("{} is not an image manifest: {e}", document.descriptor.digest)))?;
    for blob in std::iter::once(manifest.config).chain(manifest.layers) {
        if !is_sha256(&blob.digest) {
            return Err(source_error(name, format!("unsupported digest `{}`", blob.digest)));
        }
        let path = blob_path(dir, &blob.digest);
        let size = regular_file(&path, name)?;
        if size != blob.size {
            return Err(source_error(
                name,
                format!("blob {} is {size} bytes, its descriptor says {}", blob.digest, blob.size),
            ));
        }
        if !image.blobs.iter().any(|b| b.digest == blob.digest) {
            image.blobs.push(blob);
        }
    }
    Ok(())
}

/// `a/./b/../c` as `a/c`, without a leading `./` or `/`: archive paths as written compare equal.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// The archive path that link entry `path` leads to: a symbolic link is relative to its
/// directory, a hard link names an archive path.
pub fn link_target(path: &str, target: &str, symbolic: bool) -> String {
    if symbolic && !target.starts_with('/') {
        let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
        normalize(&format!("{dir}/{target}"))
    } else {
        normalize(target)
    }
}

/// What one pass over an archive found: the small entries' bytes and what the callback
/// returned for each large one.
pub struct ArchiveScan<T> {
    /// Entries of at most [`SMALL`] bytes, by path.
    pub small: BTreeMap<String, Bytes>,
    /// What the callback made of each large entry, by path.
    pub large: BTreeMap<String, T>,
    /// Symbolic and hard links, by path, to the archive path they lead to.
    pub links: BTreeMap<String, String>,
}

/// What [`scan_archive`] calls with each large entry: its path, size and bytes.
pub type OnLarge<'a, T> = dyn FnMut(&str, u64, &mut dyn Read) -> Result<T, OciError> + 'a;

/// Reads a `docker save` tar once. `on_large` receives each large entry (its path, size and
/// bytes as a reader) and must read it to its end.
pub fn scan_archive<T>(
    reader: impl Read,
    name: &str,
    on_large: &mut OnLarge<'_, T>,
) -> Result<ArchiveScan<T>, OciError> {
    let broken = |e: std::io::Error| source_error(name, format!("not a readable tar archive: {e}"));
    let mut archive = tar::Archive::new(reader);
    let mut scan = ArchiveScan { small: BTreeMap::new(), large: BTreeMap::new(), links: BTreeMap::new() };
    for entry in archive.entries().map_err(broken)? {
        let mut entry = entry.map_err(broken)?;
        let path = normalize(&entry.path().map_err(broken)?.to_string_lossy());
        let kind = entry.header().entry_type();
        if (kind.is_symlink() || kind.is_hard_link())
            && let Ok(Some(target)) = entry.link_name()
        {
            let resolved = link_target(&path, &target.to_string_lossy(), kind.is_symlink());
            scan.links.insert(path, resolved);
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let size = entry.size();
        if size <= SMALL {
            let mut bytes = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut bytes).map_err(broken)?;
            scan.small.insert(path, Bytes::from(bytes));
        } else {
            let result = on_large(&path, size, &mut entry)?;
            // The callback must have consumed the entry; whatever it left is skipped by tar.
            scan.large.insert(path, result);
        }
    }
    Ok(scan)
}

/// A blocking reader over chunks that an async task sends (the Engine's export stream), so the
/// tar reader runs on a thread of its own while the export is still arriving.
pub struct ChannelReader {
    receiver: std::sync::mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl ChannelReader {
    /// A reader of what arrives on `receiver`; the sender's end closing is the end of input.
    pub fn new(receiver: std::sync::mpsc::Receiver<Result<Bytes, String>>) -> ChannelReader {
        ChannelReader { receiver, current: Bytes::new() }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.recv() {
                Ok(Ok(chunk)) => self.current = chunk,
                Ok(Err(message)) => return Err(std::io::Error::other(message)),
                Err(_) => return Ok(0),
            }
        }
        let n = buffer.len().min(self.current.len());
        if let (Some(to), Some(from)) = (buffer.get_mut(..n), self.current.get(..n)) {
            to.copy_from_slice(from);
        }
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sources() {
        assert_eq!(
            Source::parse("oci:/tmp/layout:v1"),
            Ok(Source::OciLayout { dir: "/tmp/layout".into(), reference: Some("v1".into()) })
        );
        assert_eq!(
            Source::parse("oci:/tmp/layout"),
            Ok(Source::OciLayout { dir: "/tmp/layout".into(), reference: None })
        );
        assert_eq!(Source::parse("oci:./a:b/c"), Ok(Source::OciLayout { dir: "./a:b/c".into(), reference: None }));
        assert_eq!(
            Source::parse("docker-archive:img.tar"),
            Ok(Source::DockerArchive { file: "img.tar".into(), reference: None })
        );
        assert_eq!(
            Source::parse("docker-archive:img.tar:127.0.0.1:5000/app:1"),
            Ok(Source::DockerArchive { file: "img.tar".into(), reference: Some("127.0.0.1:5000/app:1".into()) })
        );
        assert!(Source::parse("docker://x").is_err());
        assert!(Source::parse("oci:").is_err());
    }
}
