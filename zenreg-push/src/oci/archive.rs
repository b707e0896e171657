//! What a `docker save` archive holds, whichever Docker wrote it: the classic store's
//! `<id>/layer.tar` + `manifest.json` (Docker ≤ 24), its OCI layout + `manifest.json` with
//! uncompressed blobs (Docker 25+), and the containerd store's layout with compressed blobs, an
//! `index.json` that points to an image index, and a `manifest.json` without `LayerSources`.
//! The OCI side (`index.json`) is read when present, `manifest.json` otherwise.
//!
//! The result is a [`Plan`]: the config, the layers by their path in the archive with the diff
//! id each must decompress to, and the source's own manifest (pushed byte-exact when every
//! layer goes up as it is). Documents are read through [`Documents`], so a regular file (read
//! by seeking, see [`TarIndex`]) and the Engine's export stream (small entries kept in memory)
//! share one reading.

use crate::oci::digest::{is_sha256, sha256};
use crate::oci::error::OciError;
use crate::oci::media::{self, Descriptor, ImageConfig, Index, Manifest};
use crate::oci::source::{Document, link_target, normalize};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::path::Path;

/// The largest manifest, index or `manifest.json` read (what distribution accepts).
pub const MAX_MANIFEST: u64 = 4 * 1024 * 1024;
/// The largest image config read.
pub const MAX_CONFIG: u64 = 16 * 1024 * 1024;
/// Symbolic links followed in a row before giving up.
const MAX_LINKS: usize = 8;

/// Annotation of the image name in an index (containerd and Docker's exports).
const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// Annotation of the reference in an OCI layout's index.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn error(name: &str, message: String) -> OciError {
    OciError::Source { source_name: name.to_string(), message }
}

/// Where each regular file of a tar starts and how long it is, and where its links point.
#[derive(Debug, Default, Clone)]
pub struct TarIndex {
    files: BTreeMap<String, (u64, u64)>,
    links: BTreeMap<String, String>,
}

impl TarIndex {
    /// Indexes the tar at `path`, seeking over the entries' data (nothing but headers is read).
    pub fn read(path: &Path, name: &str) -> Result<TarIndex, OciError> {
        let io = |source| OciError::Io { path: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        let broken = |e: std::io::Error| error(name, format!("not a readable tar archive: {e}"));
        let mut archive = tar::Archive::new(std::io::BufReader::with_capacity(64 * 1024, file));
        let mut index = TarIndex::default();
        for entry in archive.entries_with_seek().map_err(broken)? {
            let entry = entry.map_err(broken)?;
            let entry_path = normalize(&entry.path().map_err(broken)?.to_string_lossy());
            index.add(&entry, entry_path);
        }
        Ok(index)
    }

    fn add<R: std::io::Read>(&mut self, entry: &tar::Entry<'_, R>, path: String) {
        let kind = entry.header().entry_type();
        if kind.is_file() {
            self.files.insert(path, (entry.raw_file_position(), entry.size()));
        } else if kind.is_symlink() || kind.is_hard_link() {
            let Ok(Some(target)) = entry.link_name() else { return };
            self.links.insert(path.clone(), link_target(&path, &target.to_string_lossy(), kind.is_symlink()));
        }
    }

    /// Offset and size of regular file `path` (links followed).
    pub fn get(&self, path: &str) -> Option<(u64, u64)> {
        let mut path = normalize(path);
        for _ in 0..MAX_LINKS {
            if let Some(found) = self.files.get(&path) {
                return Some(*found);
            }
            path = self.links.get(&path)?.clone();
        }
        None
    }
}

/// The path a link `path` leads to in `links` (itself when it is no link).
pub fn resolve_link(links: &BTreeMap<String, String>, path: &str) -> String {
    let mut path = normalize(path);
    for _ in 0..MAX_LINKS {
        match links.get(&path) {
            Some(target) => path = target.clone(),
            None => break,
        }
    }
    path
}

/// Read access to an archive's documents by path.
pub trait Documents {
    /// The bytes of `path` when the archive holds it, refused when longer than `limit`.
    fn read(&self, path: &str, limit: u64) -> Result<Option<Bytes>, OciError>;
    /// Whether the archive holds `path` (whatever its size).
    fn has(&self, path: &str) -> bool;
}

/// A regular-file archive and its index.
pub struct FileDocuments<'a> {
    /// The archive.
    pub file: &'a std::fs::File,
    /// Its index.
    pub index: &'a TarIndex,
    /// The source's name in messages.
    pub name: &'a str,
}

impl Documents for FileDocuments<'_> {
    fn read(&self, path: &str, limit: u64) -> Result<Option<Bytes>, OciError> {
        use std::os::unix::fs::FileExt;
        let Some((offset, size)) = self.index.get(path) else { return Ok(None) };
        if size > limit {
            return Err(error(self.name, format!("`{path}` is {size} bytes, more than the {limit} allowed")));
        }
        let mut bytes = vec![0u8; size as usize];
        self.file
            .read_exact_at(&mut bytes, offset)
            .map_err(|e| error(self.name, format!("cannot read `{path}`: {e}")))?;
        Ok(Some(Bytes::from(bytes)))
    }

    fn has(&self, path: &str) -> bool {
        self.index.get(path).is_some()
    }
}

/// The small entries of a streamed archive, kept in memory, and the paths of the large ones.
pub struct MemoryDocuments<'a> {
    /// Small entries by path.
    pub small: &'a BTreeMap<String, Bytes>,
    /// Paths of entries too large to keep.
    pub large: &'a dyn Fn(&str) -> bool,
    /// Links of the archive.
    pub links: &'a BTreeMap<String, String>,
    /// The source's name in messages.
    pub name: &'a str,
}

impl Documents for MemoryDocuments<'_> {
    fn read(&self, path: &str, limit: u64) -> Result<Option<Bytes>, OciError> {
        let path = resolve_link(self.links, path);
        match self.small.get(&path) {
            Some(bytes) if bytes.len() as u64 > limit => {
                Err(error(self.name, format!("`{path}` is {} bytes, more than the {limit} allowed", bytes.len())))
            }
            Some(bytes) => Ok(Some(bytes.clone())),
            None if (self.large)(&path) => Err(error(self.name, format!("`{path}` is too large for a document"))),
            None => Ok(None),
        }
    }

    fn has(&self, path: &str) -> bool {
        let path = resolve_link(self.links, path);
        self.small.contains_key(&path) || (self.large)(&path)
    }
}

/// One layer to push: where it is in the archive and what it must decompress to.
#[derive(Debug, Clone)]
pub struct LayerRef {
    /// Its path in the archive (links resolved by the reader).
    pub path: String,
    /// The diff id its config lists for it.
    pub diff_id: String,
    /// Its descriptor in the source's manifest (OCI side), when there is one.
    pub descriptor: Option<Descriptor>,
}

/// One image (one platform) of an archive.
#[derive(Debug, Clone)]
pub struct ImagePlan {
    /// The config's bytes (checked against its digest when the source gives one).
    pub config: Bytes,
    /// The config's media type in the source's manifest (OCI side).
    pub config_media_type: Option<String>,
    /// The layers, base first.
    pub layers: Vec<LayerRef>,
    /// The source's own manifest, pushed byte-exact when every layer goes up unchanged.
    pub manifest: Option<Document>,
}

/// What to push from an archive.
#[derive(Debug, Clone)]
pub enum Plan {
    /// One image.
    Image(ImagePlan),
    /// A multi-platform index, pushed whole: its manifests (each an image) and itself.
    Index {
        /// The index, pushed under the tag.
        top: Document,
        /// Its platform images, each with its manifest.
        images: Vec<ImagePlan>,
    },
}

/// How to choose an image among several.
#[derive(Debug, Clone, Copy, Default)]
pub struct Choice<'a> {
    /// The image's name (`RepoTags`, `io.containerd.image.name`, a layout reference).
    pub name: Option<&'a str>,
    /// `os/arch[/variant]` of a multi-platform image.
    pub platform: Option<&'a str>,
    /// The diff ids of the image wanted (the Engine's inspect), which choose a platform.
    pub diff_ids: Option<&'a [String]>,
}

/// `name` as Docker would store it: `docker.io/` and `library/` added, `:latest` when untagged.
fn canonical(name: &str) -> String {
    let (path, has_tag) = match name.rsplit_once('/') {
        Some((_, last)) => (name, last.contains(':') || last.contains('@')),
        None => (name, name.contains(':') || name.contains('@')),
    };
    let first = path.split('/').next().unwrap_or_default();
    let has_domain = path.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut full = if has_domain {
        path.to_string()
    } else if path.contains('/') {
        format!("docker.io/{path}")
    } else {
        format!("docker.io/library/{path}")
    };
    if !has_tag {
        full.push_str(":latest");
    }
    full
}

/// The last path component and tag of a canonical name (`app:1` of `host/team/app:1`).
fn short_name(canonical: &str) -> &str {
    canonical.rsplit('/').next().unwrap_or(canonical)
}

/// Which of `names` (per candidate) match `wanted`: the same canonical name, else (when that
/// finds none) the same last component and tag.
fn matching(candidates: &[Vec<String>], wanted: &str) -> Vec<usize> {
    let wanted = canonical(wanted);
    let exact: Vec<usize> = candidates
        .iter()
        .enumerate()
        .filter(|(_, names)| names.iter().any(|n| canonical(n) == wanted))
        .map(|(i, _)| i)
        .collect();
    if !exact.is_empty() {
        return exact;
    }
    candidates
        .iter()
        .enumerate()
        .filter(|(_, names)| names.iter().any(|n| short_name(&canonical(n)) == short_name(&wanted)))
        .map(|(i, _)| i)
        .collect()
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

/// Reads blob `descriptor` of the archive's layout, checking its digest.
fn read_blob(docs: &dyn Documents, descriptor: &Descriptor, limit: u64, name: &str) -> Result<Bytes, OciError> {
    if !is_sha256(&descriptor.digest) {
        return Err(error(name, format!("unsupported digest `{}`", descriptor.digest)));
    }
    let bytes = docs
        .read(&blob_path(&descriptor.digest), limit)?
        .ok_or_else(|| error(name, format!("blob {} is not in the archive", descriptor.digest)))?;
    if sha256(&bytes) != descriptor.digest {
        return Err(error(name, format!("blob {} does not match its digest", descriptor.digest)));
    }
    Ok(bytes)
}

fn config_diff_ids(config: &[u8], name: &str) -> Result<Vec<String>, OciError> {
    serde_json::from_slice::<ImageConfig>(config)
        .map(|c| c.rootfs.diff_ids)
        .map_err(|e| error(name, format!("the image config: {e}")))
}

fn dedup(ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    out
}

/// Reads what to push from an archive, choosing the image by `choice`.
pub fn plan(docs: &dyn Documents, choice: &Choice<'_>, name: &str) -> Result<Plan, OciError> {
    if docs.has("index.json") {
        plan_layout(docs, choice, name)
    } else {
        plan_manifest_json(docs, choice, name).map(Plan::Image)
    }
}

fn descriptor_names(descriptor: &Descriptor) -> Vec<String> {
    let Some(annotations) = &descriptor.annotations else { return Vec::new() };
    let mut names = Vec::new();
    if let Some(name) = annotations.get(CONTAINERD_NAME) {
        names.push(name.clone());
    }
    // A bare tag (what Docker writes beside the full name) names nothing on its own.
    if let Some(reference) = annotations.get(REF_NAME)
        && (reference.contains('/') || reference.contains(':'))
    {
        names.push(reference.clone());
    }
    names
}

fn plan_layout(docs: &dyn Documents, choice: &Choice<'_>, name: &str) -> Result<Plan, OciError> {
    let bytes = docs.read("index.json", MAX_MANIFEST)?.unwrap_or_default();
    let index: Index =
        serde_json::from_slice(&bytes).map_err(|e| error(name, format!("index.json is not an OCI index: {e}")))?;
    // One image may be listed once per name: candidates are distinct digests.
    let mut candidates: Vec<Descriptor> = Vec::new();
    let mut names: Vec<Vec<String>> = Vec::new();
    for descriptor in &index.manifests {
        match candidates.iter().position(|c| c.digest == descriptor.digest) {
            Some(at) => names.get_mut(at).into_iter().for_each(|n| n.extend(descriptor_names(descriptor))),
            None => {
                names.push(descriptor_names(descriptor));
                candidates.push(descriptor.clone());
            }
        }
    }
    let chosen = match candidates.as_slice() {
        [] => return Err(error(name, "index.json lists no image".into())),
        [one] => one.clone(),
        _ => {
            let by_name = choice.name.map(|wanted| matching(&names, wanted)).unwrap_or_default();
            match by_name.as_slice() {
                [one] => candidates.get(*one).cloned().ok_or_else(|| several(name, &names))?,
                _ => match choice.diff_ids {
                    // The Engine's image: the candidate whose config lists its layers.
                    Some(diff_ids) => candidates
                        .iter()
                        .find(|c| resolve(docs, c, choice, name, 0).is_ok_and(|p| plan_diff_ids(&p) == dedup(diff_ids)))
                        .cloned()
                        .ok_or_else(|| error(name, "no image of the archive has the layers inspected".into()))?,
                    None => return Err(several(name, &names)),
                },
            }
        }
    };
    resolve(docs, &chosen, choice, name, 0)
}

fn plan_diff_ids(plan: &Plan) -> Vec<String> {
    match plan {
        Plan::Image(image) => dedup(&image.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()),
        Plan::Index { .. } => Vec::new(),
    }
}

fn several(name: &str, names: &[Vec<String>]) -> OciError {
    let mut listed: Vec<String> = names.iter().flatten().cloned().collect();
    listed.sort();
    listed.dedup();
    let listed = if listed.is_empty() { "none is named".to_string() } else { listed.join(", ") };
    error(
        name,
        format!("the archive holds several images ({listed}); name the one to push: `docker-archive:FILE:NAME`"),
    )
}

/// `os/arch[/variant]` of an index entry.
fn platform_of(descriptor: &serde_json::Value) -> Option<String> {
    let platform = descriptor.get("platform")?;
    let os = platform.get("os")?.as_str()?;
    let arch = platform.get("architecture")?.as_str()?;
    Some(match platform.get("variant").and_then(|v| v.as_str()) {
        Some(variant) => format!("{os}/{arch}/{variant}"),
        None => format!("{os}/{arch}"),
    })
}

/// Whether platform `have` is what `wanted` asks (a variant left out matches any).
fn platform_matches(have: &str, wanted: &str) -> bool {
    have == wanted || (wanted.matches('/').count() == 1 && have.starts_with(&format!("{wanted}/")))
}

fn resolve(
    docs: &dyn Documents,
    descriptor: &Descriptor,
    choice: &Choice<'_>,
    name: &str,
    depth: u32,
) -> Result<Plan, OciError> {
    let bytes = read_blob(docs, descriptor, MAX_MANIFEST, name)?;
    let media_type = media::manifest_media_type(&bytes).unwrap_or_else(|| descriptor.media_type.clone());
    let document = Document { descriptor: descriptor.clone(), bytes: bytes.clone() };
    if !media::is_index(&media_type) {
        return image_of_manifest(docs, document, name).map(Plan::Image);
    }
    if depth > 2 {
        return Err(error(name, "indexes nest too deeply".into()));
    }
    let index: Index = serde_json::from_slice(&bytes)
        .map_err(|e| error(name, format!("{} is not an index: {e}", descriptor.digest)))?;
    let raw: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let raw_children: Vec<serde_json::Value> =
        raw.get("manifests").and_then(|m| m.as_array()).cloned().unwrap_or_default();
    let platforms: Vec<Option<String>> =
        (0..index.manifests.len()).map(|i| raw_children.get(i).and_then(platform_of)).collect();
    if let Some(wanted) = choice.platform {
        let found: Vec<&Descriptor> = index
            .manifests
            .iter()
            .zip(&platforms)
            .filter(|(_, p)| p.as_deref().is_some_and(|p| platform_matches(p, wanted)))
            .map(|(d, _)| d)
            .collect();
        return match found.as_slice() {
            [one] => resolve(docs, one, choice, name, depth + 1),
            [] => Err(error(
                name,
                format!("the image has no platform `{wanted}` (it has {})", listed_platforms(&platforms)),
            )),
            _ => Err(error(name, format!("the image lists platform `{wanted}` several times"))),
        };
    }
    let children: Vec<Result<Plan, OciError>> =
        index.manifests.iter().map(|child| resolve(docs, child, choice, name, depth + 1)).collect();
    if let Some(diff_ids) = choice.diff_ids {
        // The Engine's image: its platform is the one whose config lists the layers inspected.
        let wanted = dedup(diff_ids);
        return children
            .into_iter()
            .flatten()
            .find(|p| plan_diff_ids(p) == wanted)
            .ok_or_else(|| error(name, "no platform of the image has the layers inspected".into()));
    }
    let complete = children.iter().filter(|c| c.is_ok()).count();
    if complete == children.len() && complete > 0 {
        let mut images = Vec::new();
        for child in children.into_iter().flatten() {
            match child {
                Plan::Image(image) => images.push(image),
                Plan::Index { .. } => return Err(error(name, "an index inside an index's platforms".into())),
            }
        }
        return Ok(Plan::Index { top: document, images });
    }
    let present: Vec<Option<String>> =
        platforms.iter().zip(&children).filter(|(_, c)| c.is_ok()).map(|(p, _)| p.clone()).collect();
    Err(error(
        name,
        format!(
            "the archive holds only some platforms of its multi-platform image ({} of {}): choose one with `--platform` ({})",
            complete,
            children.len(),
            listed_platforms(&present)
        ),
    ))
}

fn listed_platforms(platforms: &[Option<String>]) -> String {
    let listed: Vec<String> = platforms.iter().flatten().cloned().collect();
    if listed.is_empty() { "none named".to_string() } else { listed.join(", ") }
}

fn image_of_manifest(docs: &dyn Documents, document: Document, name: &str) -> Result<ImagePlan, OciError> {
    let manifest: Manifest = serde_json::from_slice(&document.bytes)
        .map_err(|e| error(name, format!("{} is not an image manifest: {e}", document.descriptor.digest)))?;
    let config = read_blob(docs, &manifest.config, MAX_CONFIG, name)?;
    let diff_ids = config_diff_ids(&config, name)?;
    if diff_ids.len() != manifest.layers.len() {
        return Err(error(
            name,
            format!("the config lists {} diff ids for {} layers", diff_ids.len(), manifest.layers.len()),
        ));
    }
    let mut layers = Vec::new();
    for (layer, diff_id) in manifest.layers.into_iter().zip(diff_ids) {
        if !is_sha256(&layer.digest) {
            return Err(error(name, format!("unsupported digest `{}`", layer.digest)));
        }
        let path = blob_path(&layer.digest);
        if !docs.has(&path) {
            return Err(error(name, format!("layer {} is not in the archive", layer.digest)));
        }
        layers.push(LayerRef { path, diff_id, descriptor: Some(layer) });
    }
    Ok(ImagePlan { config, config_media_type: Some(manifest.config.media_type), layers, manifest: Some(document) })
}

/// One image of `manifest.json`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn plan_manifest_json(docs: &dyn Documents, choice: &Choice<'_>, name: &str) -> Result<ImagePlan, OciError> {
    let bytes = docs
        .read("manifest.json", MAX_MANIFEST)?
        .ok_or_else(|| error(name, "no manifest.json or index.json: not a `docker save` archive".into()))?;
    let entries: Vec<ArchiveEntry> =
        serde_json::from_slice(&bytes).map_err(|e| error(name, format!("manifest.json: {e}")))?;
    let names: Vec<Vec<String>> = entries.iter().map(|e| e.repo_tags.clone().unwrap_or_default()).collect();
    let entry = match entries.as_slice() {
        [] => return Err(error(name, "manifest.json lists no image".into())),
        [one] => one.clone(),
        _ => {
            let by_name = choice.name.map(|wanted| matching(&names, wanted)).unwrap_or_default();
            match by_name.as_slice() {
                [one] => entries.get(*one).cloned().ok_or_else(|| several(name, &names))?,
                _ => match choice.diff_ids {
                    Some(diff_ids) => {
                        let wanted = dedup(diff_ids);
                        let mut found = None;
                        for entry in &entries {
                            if let Some(config) = docs.read(&entry.config, MAX_CONFIG)?
                                && dedup(&config_diff_ids(&config, name)?) == wanted
                            {
                                found = Some(entry.clone());
                                break;
                            }
                        }
                        found.ok_or_else(|| error(name, "no image of the archive has the layers inspected".into()))?
                    }
                    None => return Err(several(name, &names)),
                },
            }
        }
    };
    let config = docs
        .read(&entry.config, MAX_CONFIG)?
        .ok_or_else(|| error(name, format!("the config `{}` is not in the archive", entry.config)))?;
    let diff_ids = config_diff_ids(&config, name)?;
    if diff_ids.len() != entry.layers.len() {
        return Err(error(
            name,
            format!("the config lists {} diff ids for {} layers", diff_ids.len(), entry.layers.len()),
        ));
    }
    let mut layers = Vec::new();
    for (path, diff_id) in entry.layers.iter().zip(diff_ids) {
        if !docs.has(path) {
            return Err(error(name, format!("manifest.json names `{path}`, which the archive does not hold")));
        }
        layers.push(LayerRef { path: normalize(path), diff_id, descriptor: None });
    }
    Ok(ImagePlan { config, config_media_type: None, layers, manifest: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_as_docker_stores_them() {
        assert_eq!(canonical("app"), "docker.io/library/app:latest");
        assert_eq!(canonical("me/app:1"), "docker.io/me/app:1");
        assert_eq!(canonical("127.0.0.1:5000/team/app:1"), "127.0.0.1:5000/team/app:1");
        assert_eq!(canonical("localhost/app"), "localhost/app:latest");
        let candidates = vec![vec!["docker.io/library/app:1".to_string()], vec!["other:1".to_string()]];
        assert_eq!(matching(&candidates, "app:1"), vec![0]);
        assert_eq!(matching(&candidates, "127.0.0.1:5000/team/app:1"), vec![0]);
        assert!(matching(&candidates, "app:2").is_empty());
        assert!(platform_matches("linux/arm64/v8", "linux/arm64"));
        assert!(!platform_matches("linux/arm64/v8", "linux/arm64/v7"));
        assert_eq!(normalize("./a/b/../c//d"), "a/c/d");
    }
}
